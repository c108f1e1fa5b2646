"""What the chapters show readers: the parameter table, figure defaults and the run's findings.

A chapter calls `setup()` once, shows `parameter_table({...})` where its parameters matter,
`record_finding(...)` for each sentence the book's opening summary should carry, and ends with
`build_log()`: the Python warnings and library log warnings `setup()` captured while the chapter
ran, in one collapsed "Build log" block, instead of on stderr between the tables. Findings go to
a JSON file (PRUNING_BOOK_FINDINGS, else book/generated/findings.json); `write_findings_page`
turns it into book/generated/findings.md, which book/intro.md includes (the book runner and the
book's Sphinx extension in helpers.site call it, so a build never lacks the page).
"""

from __future__ import annotations

import html
import json
import logging
import math
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FAILURES_JSON = "failures.json"  # beside the findings: chapters that failed in the last run
FINDINGS_ENV = "PRUNING_BOOK_FINDINGS"
GENERATED_DIR = Path("book") / "generated"  # relative to the book's source folder
FINDINGS_JSON = "findings.json"
FINDINGS_MD = "findings.md"
_LABEL = re.compile(r"^[a-z0-9][a-z0-9_.:-]*$")

def ratio_label(ratio: float, max_denominator: int = 12, tol: float = 1e-3) -> str:
    """A pruning ratio as a reader writes it: 0.1666 -> "1/6", 0.5 -> "1/2", 0.34 -> "0.34"."""
    try:
        value = float(ratio)
    except (TypeError, ValueError):
        raise ValueError(f"ratio_label: {ratio!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"ratio_label: {ratio!r} is not a finite number")
    close = Fraction(value).limit_denominator(max_denominator)
    return str(close) if abs(float(close) - value) <= tol else f"{value:g}"


def _format(key: str, value: Any) -> str:
    values = list(value) if isinstance(value, list | tuple) else [value]
    if "ratio" in key:
        return ", ".join(ratio_label(v) for v in values)
    if key == "fractions":
        return ", ".join(f"{100 * float(v):g}%" for v in values)
    return ", ".join("—" if v is None else str(v) for v in values)


def interval_text(est: float, low: float, high: float, digits: int = 3, signed: bool = False) -> str:
    """'0.123 [0.100, 0.150]'; '–' for an undefined estimate; a note when the interval is."""
    if not math.isfinite(est):
        return "–"
    f = f"{{:{'+' if signed else ''}.{digits}f}}"
    bounds = (f"[{f.format(low)}, {f.format(high)}]" if math.isfinite(low) and math.isfinite(high)
              else "[too few examples for an interval]")
    return f"{f.format(est)} {bounds}"


def ci(est: float, low: float, high: float, digits: int = 2, signed: bool = True) -> str:
    """A compact interval for tables: '+0.05 [−0.01, +0.11]' (true minus signs, `digits` decimals)."""
    return interval_text(est, low, high, digits=digits, signed=signed).replace("-", "−")


def p_value(p: float) -> str:
    """A p-value for tables and prose: '<0.001' below 0.001, three decimals below 0.01, else two;
    '–' when it is missing."""
    if p is None or not math.isfinite(p):
        return "–"
    if p < 0.001:
        return "<0.001"
    return f"{p:.3f}" if p < 0.01 else f"{p:.2f}"


def yes_no(value: Any) -> str:
    """'yes' / 'no' for a truth value, '–' when it is missing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return "yes" if bool(value) else "no"


def table(frame: Any, *, caption: str | None = None, index: bool = True) -> Any:
    """A chapter's table as a compact Styler: left-aligned text, no index name clutter."""
    styler = frame.style
    if not index:
        styler = styler.hide(axis="index")
    if caption:
        styler = styler.set_caption(caption)
    return styler.set_table_styles([
        {"selector": "", "props": [("font-size", "0.85em")]},  # a grid's rows fit the column
        {"selector": "th", "props": [("text-align", "left"), ("font-weight", "600")]},
        {"selector": "td", "props": [("text-align", "left"), ("white-space", "nowrap")]},
    ])


def percent_text(est: float, low: float, high: float) -> str:
    """A share as '25% [10%, 40%]'; '–' for an undefined estimate."""
    if not math.isfinite(est):
        return "–"
    bounds = (f"[{100 * low:.0f}%, {100 * high:.0f}%]" if math.isfinite(low) and math.isfinite(high)
              else "[too few examples for an interval]")
    return f"{100 * est:.0f}% {bounds}"


def direction(low: float, high: float, up: str = "rose", down: str = "fell") -> str:
    """The chapters' rule for one change: `up` or `down` when its interval excludes 0, else
    "undetermined" (also when the interval is undefined)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "undetermined"
    return up if low > 0 else down if high < 0 else "undetermined"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """'0 configurations', '1 configuration', '3 configurations' (`plural` when not noun + s)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def listing(items: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'; 'none' for no items."""
    items = list(items)
    return "none" if not items else items[0] if len(items) == 1 else (
        ", ".join(items[:-1]) + " and " + items[-1])


def tally(verdicts: Sequence[str], words: Sequence[str]) -> str:
    """'rose in 2, fell in 0 and was undetermined in 1'."""
    verdicts = list(verdicts)
    return listing([f"{'was ' if w == 'undetermined' else ''}{w} in {verdicts.count(w)}" for w in words])


def parameter_table(params: Mapping[str, Any], descriptions: Mapping[str, str] | None = None):
    """This run's parameter values as a table (pandas Styler): parameter, value, what it sets."""
    import pandas as pd

    if not isinstance(params, Mapping) or not params:
        raise ValueError("parameter_table needs a non-empty mapping such as "
                         "{'models': models, 'ratios': ratios}")
    from .profiles import PARAMETERS

    meaning = {**{k: p.description for k, p in PARAMETERS.items()}, **(descriptions or {})}
    frame = pd.DataFrame(
        [(k, _format(k, v), meaning.get(k, "")) for k, v in params.items()],
        columns=["parameter", "value", "what it sets"],
    )
    return (frame.style.hide(axis="index")
            .set_caption("Parameters of this run")
            .set_properties(**{"text-align": "left"})
            .set_table_styles([{"selector": "th", "props": [("text-align", "left")]}]))


def setup() -> None:
    """Figure defaults for the book: sized for its content column, fonts legible unzoomed, SVG;
    warnings captured for the chapter's build log (see `capture_warnings`)."""
    capture_warnings()
    import matplotlib as mpl

    mpl.rcParams.update({
        "figure.figsize": (7.5, 4.2),  # inches; as SVG 7.5 in = 720 CSS px, the content width
        "figure.dpi": 96, "savefig.dpi": 192, "svg.fonttype": "path",
        "font.size": 12, "axes.titlesize": 13, "axes.labelsize": 12,
        "xtick.labelsize": 11, "ytick.labelsize": 11, "legend.fontsize": 11,
        "figure.titlesize": 14, "lines.linewidth": 2, "lines.markersize": 6,
        "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False,
        "axes.spines.right": False, "figure.constrained_layout.use": True,
    })
    try:  # inside a kernel: vector figures, sharp at any zoom
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("svg")
    except ImportError:
        pass


# ---- the build log: warnings of the chapter's run, collapsed at its end ----------------------

# Libraries that log to stderr through a handler of their own; their warnings join the log.
LIBRARY_LOGGERS = ("transformers", "huggingface_hub", "datasets", "accelerate")
_log: dict[str, int] = {}  # entry -> how many times it came


def _add_to_log(text: str) -> None:
    from .pagecheck import scrub_paths

    entry = scrub_paths(text.strip())
    _log[entry] = _log.get(entry, 0) + 1


_STDERR_SHOW = warnings.showwarning  # Python's own: writes to stderr, or to the file it is given


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    if file is not None and file not in (sys.stderr, sys.__stderr__):  # asked for a file: write it
        _STDERR_SHOW(message, category, filename, lineno, file, line)
        return
    _add_to_log(warnings.formatwarning(message, category, filename, lineno, line))


class _LogCapture(logging.Handler):
    """Log warnings go to the build log; errors still reach stderr, where they fail the page check."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            if record.levelno >= logging.ERROR:
                sys.stderr.write(text + "\n")
            else:
                _add_to_log(text)
        except Exception:  # a log call must never break the chapter
            self.handleError(record)


def _stderr_handler(handler: logging.Handler) -> bool:
    stream = getattr(handler, "stream", None)
    return type(handler) is logging.StreamHandler and (
        stream in (sys.stderr, sys.__stderr__) or getattr(stream, "name", "") in ("stderr", "<stderr>"))


def capture_warnings() -> None:
    """From now on, Python warnings and log warnings (the root logger's and those of
    LIBRARY_LOGGERS already imported) go to the build log, not stderr; errors are untouched."""
    warnings.showwarning = _show_warning
    root = logging.getLogger()
    if not any(isinstance(h, _LogCapture) for h in root.handlers):
        capture = _LogCapture(logging.WARNING)
        capture.setFormatter(logging.Formatter("[%(name)s] %(levelname)s: %(message)s"))
        root.addHandler(capture)
    for name in LIBRARY_LOGGERS:
        if name in sys.modules:
            logger = logging.getLogger(name)
            for handler in [h for h in logger.handlers if _stderr_handler(h)]:
                logger.removeHandler(handler)
            logger.propagate = True


def build_log_html(entries: Mapping[str, int]) -> str:
    """The build log as one collapsed <details> block (empty when there is nothing to show)."""
    if not entries:
        return ""
    items = "\n".join(html.escape(e if n == 1 else f"{e}\n  (× {n})") for e, n in entries.items())
    return ('<details class="build-log">\n'
            f"<summary>Build log: {len(entries)} warning{'s' if len(entries) != 1 else ''} "
            "while this page was computed</summary>\n"
            '<pre style="white-space: pre-wrap; font-size: 0.8em;">' + items + "</pre>\n"
            "</details>")


def build_log() -> None:
    """Show, collapsed, the warnings captured since `setup()` (nothing when there were none);
    a chapter calls it in its last cell."""
    from IPython.display import HTML, display

    from .pagecheck import BUILD_LOG

    block = build_log_html(_log)
    _log.clear()
    if block:
        display(HTML(block), metadata={BUILD_LOG: True})


def findings_path() -> Path:
    """Where findings are recorded: $PRUNING_BOOK_FINDINGS, else book/generated/findings.json."""
    env = os.environ.get(FINDINGS_ENV)
    return Path(env) if env else ROOT / GENERATED_DIR / FINDINGS_JSON


def load_findings(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The recorded findings: {"chapters": {chapter: {"run": {...}, "findings": {key: {...}}}}}."""
    path = Path(path) if path else findings_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {"chapters": {}}
    except ValueError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); delete it and re-run the chapters") from None
    data.setdefault("chapters", {})
    return data


def write_text_atomic(path: Path, text: str) -> None:
    """Write text to a temporary file beside `path`, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def reset_findings(chapter: str, run: Mapping[str, Any] | None = None,
                   path: str | os.PathLike | None = None) -> None:
    """Forget a chapter's findings before it runs again; `run` says how it runs (profile, ...)."""
    path = Path(path) if path else findings_path()
    data = load_findings(path)
    data["chapters"][chapter] = {"run": dict(run or {}), "findings": {}}
    write_text_atomic(path, json.dumps(data, indent=1, sort_keys=False))


def record_finding(chapter: str, key: str, sentence: str, anchor: str,
                   path: str | os.PathLike | None = None, *, grid: str | None = None,
                   headline: int | None = None) -> None:
    """Add (or replace) one sentence of the book's "What this run found", linked to `anchor`.

    `grid` says which configurations the sentence rests on; `headline` (1, 2, 3, ...) puts it,
    in that order, among the few sentences that open the book."""
    sentence = " ".join(sentence.split())
    if not sentence:
        raise ValueError(f"record_finding({chapter!r}, {key!r}): the sentence is empty")
    if not _LABEL.match(anchor or ""):
        raise ValueError(f"record_finding: anchor {anchor!r} must be a MyST label such as "
                         "'tab-4-3' (lower case, digits, '-', '_', '.'), defined in the chapter "
                         "by a markdown line '(tab-4-3)=' just above the table or figure")
    path = Path(path) if path else findings_path()
    data = load_findings(path)
    entry = data["chapters"].setdefault(chapter, {"run": {}, "findings": {}})
    entry["findings"][key] = {"sentence": sentence, "anchor": anchor, "grid": grid,
                              "headline": headline}
    write_text_atomic(path, json.dumps(data, indent=1, sort_keys=False))


PLACEHOLDER = (
    "*No chapter has been executed for this build yet, so there is nothing to summarise. "
    "Run `make book` (see {doc}`reproduce`) and this section lists what the run found, each "
    "sentence linked to the table or figure behind it.*\n"
)


def _link_text(anchor: str) -> str:
    return {"tab": "table", "fig": "figure", "eq": "equation"}.get(anchor.split("-")[0], "details")


def findings_markdown(data: Mapping[str, Any]) -> str:
    """MyST markdown for the findings: the headline sentences, then one bullet per sentence, each
    linking to its evidence and naming the grid it rests on."""
    chapters = {c: e for c, e in sorted((data.get("chapters") or {}).items()) if e.get("findings")}
    if not chapters:
        return PLACEHOLDER
    items = [item for entry in chapters.values() for item in entry["findings"].values()]

    def linked(item: Mapping[str, Any], grid_shown: bool = True) -> str:
        # "Sentence (table; grid)." : the link sits inside the sentence, before its full stop
        text = item["sentence"].rstrip()
        stop = text[-1] if text.endswith((".", "!", "?")) else ""
        grid = f"; {item['grid']}" if item.get("grid") and grid_shown else ""
        return (f"{text[:len(text) - len(stop)]} ({{ref}}`{_link_text(item['anchor'])} "
                f"<{item['anchor']}>`{grid}){stop}")

    heads = sorted((i for i in items if i.get("headline")), key=lambda i: i["headline"])
    lines = []
    if heads:  # a grid already named in the paragraph is not repeated
        said = [linked(h, k == 0 or h.get("grid") != heads[k - 1].get("grid"))
                for k, h in enumerate(heads)]
        lines += ["**In short.** " + " ".join(said), "", "**In detail.**", ""]
    lines += [f"- {linked(i)}" for i in items if not i.get("headline")]
    runs = {json.dumps(e.get("run") or {}, sort_keys=True) for e in chapters.values()}
    if len(runs) == 1 and (only := json.loads(runs.pop())).get("profile"):
        source = f"Computed by this build's run of the profile `{only['profile']}`"
        if only.get("overrides"):
            source += " with " + ", ".join(f"`{k}={v}`" for k, v in only["overrides"].items())
    else:
        source = ("Computed by this build's runs; the chapters ran with different settings, "
                  "each stated on its page")
    return "\n".join(lines) + f"\n\n*{source}. Small samples: read the error bars behind each link.*\n"


def build_info(root: str | os.PathLike = ROOT, repo_url: str | None = None) -> str:
    """One sentence: the repository and commit this book was built from (or 'a local clone')."""
    import subprocess

    def git(*args: str) -> str:
        try:
            out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                                 timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return out.stdout.strip() if out.returncode == 0 else ""

    commit = git("rev-parse", "--short=12", "HEAD")
    dirty = " with uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else ""
    where = f"[{repo_url}]({repo_url})" if repo_url else "a local clone"
    if not commit:
        return f"*Built from {where}, outside a git repository (no commit recorded).*\n"
    return f"*Built from {where} at commit `{commit}`{dirty}.*\n"


def write_findings_page(folder: str | os.PathLike = ROOT / GENERATED_DIR) -> Path:
    """Write folder/findings.md from folder/findings.json (the placeholder when there is none)."""
    folder = Path(folder)
    markdown = findings_markdown(load_findings(folder / FINDINGS_JSON))
    target = folder / FINDINGS_MD
    if not target.exists() or target.read_text(encoding="utf-8") != markdown:
        write_text_atomic(target, markdown)  # an unchanged page keeps its time stamp: no rebuild
    return target


def load_failures(generated: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Chapters that failed in the last run into this folder, with their error and re-run command."""
    path = Path(generated) / FAILURES_JSON
    return json.loads(path.read_text()) if path.exists() else {}


def write_failures(generated: str | os.PathLike, failures: dict[str, dict[str, Any]]) -> None:
    """Record the failed chapters (the file goes when none failed)."""
    path = Path(generated) / FAILURES_JSON
    if failures:
        write_text_atomic(path, json.dumps(failures, indent=1))
    else:
        path.unlink(missing_ok=True)
