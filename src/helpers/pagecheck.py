"""Checks of what the reader sees: executed chapter outputs, and the built pages' tables.

    python -m helpers.pagecheck book/chapters/*.ipynb     # problems of executed chapters
    python -m helpers.pagecheck --tables _build/html      # tables wider than their column

`check_notebook` reads an executed notebook's outputs and returns one line per problem, each
naming the cell (its position in the notebook, from 0, and its `In [n]`) and quoting the
offending text:

- noise: output on stderr, a Python warning ("FutureWarning: ...", a `[transformers]` line), a
  traceback or an `error` output;
- a path of the build machine: the repository root, the virtual environment and site-packages,
  the home folder, /tmp;
- MyST that MyST-NB leaves raw in an output: `{ref}`, `{doc}`, `{numref}`, `{glue...`,
  `{cite...` roles, directive fences, and `$...$` inline math (outputs are rendered as
  CommonMark or HTML, so these would show as typed).

The one output exempt from the noise check is the chapter's build log (helpers.pages.build_log,
marked by BUILD_LOG in its metadata), which shows captured warnings collapsed on purpose.

`table_widths` opens each built page in headless Chromium at a fixed window width and measures
every table of the page's article against the column it sits in.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BUILD_LOG = "pruning_book_build_log"  # output metadata key of the chapter's build log
QUOTE_CHARS = 160
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
SKIPPED_PAGES = {"genindex.html", "search.html", "py-modindex.html"}

_WARNING = re.compile(r"\b[A-Z]\w*Warning: |:\d+: Warning: |^\[transformers\]|^WARNING:", re.M)
_TRACEBACK = re.compile(r"Traceback \(most recent call last\)")
_ROLE = re.compile(r"\{(?:ref|doc|numref|eq|term|download|abbr|math)\}`|\{(?:glue|cite)\b")
_DIRECTIVE = re.compile(r"^\s*(?:`{3,}|:{3,})\{[\w-]+\}", re.M)
# TeX-like inline math: no space after the opening $, none before the closing one, no digit
# after it, on one line: "$d$" and "$x_i + 1$" are math, "costs $5 and $10" is not.
_DOLLAR_MATH = re.compile(r"(?<![\\$\w])\$(?![\s$])(?:[^$\n]*?[^\s$\\])?\$(?![\d$\w])")
_TAG = re.compile(r"<(style|script)\b.*?</\1>|<[^>]+>", re.S | re.I)
_SITE_PACKAGES = re.compile(r"/(?:site|dist)-packages(?![\w-])")
# a path up to its site-packages, bounded so that a long token cannot make the search quadratic
_SITE_PACKAGES_PATH = re.compile(r"[^\s'\"<>()=:]{0,400}/(?:site|dist)-packages(?![\w-])")


@dataclass(frozen=True)
class Problem:
    """One problem of an executed notebook's output."""

    index: int  # the cell's position in the notebook, from 0
    count: int | None  # its execution count, the `In [n]` the notebook shows
    kind: str
    quote: str

    def __str__(self) -> str:
        where = f"cell {self.index}" + (f" (In [{self.count}])" if self.count is not None else "")
        return f"{where}: {self.kind}: {self.quote!r}"


def _named_roots(extra: Iterable[str | os.PathLike] = ()) -> dict[str, str]:
    """{folder: placeholder} of this machine's folders, each also as its real path."""
    from .profiles import ROOT

    named = {str(e): "<path>" for e in extra}
    named.update({tempfile.gettempdir(): "<tmp>", "/tmp": "<tmp>", str(Path.home()): "~",
                  **{sysconfig.get_paths().get(k) or "": "<site-packages>"
                     for k in ("purelib", "platlib")},
                  sys.exec_prefix: "<venv>", sys.prefix: "<venv>", str(ROOT): "<repo>"})
    named.update({os.path.realpath(p): name for p, name in list(named.items()) if p})
    # "/" or a one-letter root would match every path
    return {p.rstrip("/"): name for p, name in named.items() if len(p.rstrip("/")) > 2}


def machine_roots(extra: Iterable[str | os.PathLike] = ()) -> list[str]:
    """Folders of this machine no page may show: the repository, the Python environment and its
    site-packages, the home folder and the temporary folder, plus `extra`; longest first."""
    return sorted(_named_roots(extra), key=len, reverse=True)


def _root_pattern(roots: Sequence[str]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(r) for r in roots)
    return re.compile(rf"(?<![\w.-])(?:{alternatives})(?![\w.-])")


def scrub_paths(text: str, extra: Iterable[str | os.PathLike] = ()) -> str:
    """`text` with this machine's folders replaced by placeholders: <site-packages>, <venv>,
    <repo>, ~, <tmp> (and <path> for `extra`)."""
    if "-packages" in text:
        text = _SITE_PACKAGES_PATH.sub("<site-packages>", text)
    named = _named_roots(extra)
    pattern = _root_pattern(sorted(named, key=len, reverse=True))
    return pattern.sub(lambda m: named[m.group(0)], text)


def _line_at(text: str, start: int, end: int) -> str:
    """The line around text[start:end], cut to QUOTE_CHARS around the match."""
    lo = text.rfind("\n", 0, start) + 1
    hi = text.find("\n", end)
    hi = len(text) if hi < 0 else hi
    lo, hi = max(lo, start - QUOTE_CHARS // 2), min(hi, max(end, start + QUOTE_CHARS // 2))
    return ("…" if lo > 0 and text[lo - 1] != "\n" else "") + text[lo:hi].strip() + (
        "…" if hi < len(text) and text[hi] != "\n" else "")


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _plain_html(text: str) -> str:
    """What a reader reads of an HTML output: tags (and style, script) gone, entities decoded."""
    return html.unescape(_TAG.sub(" ", text))


def _texts(output: Any) -> list[tuple[str, str]]:
    """(mime type or stream name, text) of every textual part of one output."""
    kind = output.get("output_type")
    if kind == "stream":
        return [(output.get("name", "stdout"), _text(output.get("text", "")))]
    if kind == "error":
        return [("error", "\n".join(output.get("traceback") or []))]
    data = output.get("data") or {}
    return [(mime, _text(value)) for mime, value in data.items()
            if mime.split("/")[-1] in ("plain", "markdown", "html", "latex")
            and mime.rsplit("/", 2)[-2] == "text" and isinstance(value, str | list)]


def find_problems(nb: Any, *, roots: Iterable[str | os.PathLike] = ()) -> list[Problem]:
    """The problems of an executed notebook's outputs (see the module docstring), in cell order."""
    path_re = _root_pattern(machine_roots(roots))
    found: list[Problem] = []
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        count = cell.get("execution_count")

        def add(kind: str, text: str, match: re.Match[str] | None = None,
                index: int = index, count: int | None = count) -> None:
            quote = _line_at(text, match.start(), match.end()) if match else text.strip()
            found.append(Problem(index, count, kind, quote[: QUOTE_CHARS + 2]))

        for output in cell.get("outputs", []):
            build_log = bool((output.get("metadata") or {}).get(BUILD_LOG))
            if output.get("output_type") == "error":
                add("error output", f"{output.get('ename', '')}: {output.get('evalue', '')}")
                continue
            for mime, text in _texts(output):
                lines = [line for line in text.splitlines() if line.strip()]
                if mime == "stderr" and lines:
                    add("output on stderr", lines[0])
                elif not build_log and (m := _WARNING.search(text) or _TRACEBACK.search(text)):
                    add("a warning in the output" if m.re is _WARNING
                        else "a traceback in the output", text, m)
                if m := (path_re.search(text) or _SITE_PACKAGES.search(text)):
                    add("a path of the build machine", text, m)
                if mime.startswith("application/papermill.record/"):
                    continue  # glued for {glue:md} and friends, which do parse MyST
                shown = _plain_html(text) if mime.endswith("html") else text
                if mime.endswith("markdown") and markdown_renders_myst():
                    continue  # parsed as MyST by the build: roles and math render
                if mime.endswith(("plain", "markdown", "html")) or mime == "stdout":
                    for pattern, what in ((_ROLE, "a MyST role left raw"),
                                          (_DIRECTIVE, "a MyST directive left raw"),
                                          (_DOLLAR_MATH, "$...$ math left raw")):
                        if m := pattern.search(shown):
                            add(what, shown, m)
    return found


def markdown_renders_myst(config: str | os.PathLike | None = None) -> bool:
    """Whether the book renders Markdown outputs as MyST (`nb_render_markdown_format: myst`)."""
    import yaml

    from .profiles import ROOT

    path = Path(config) if config else ROOT / "_config.yml"
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError:
        return False
    sphinx = (data.get("sphinx") or {}).get("config") or {}
    return sphinx.get("nb_render_markdown_format") == "myst"


def check_notebook(nb: Any, *, roots: Iterable[str | os.PathLike] = ()) -> list[str]:
    """One line per problem of an executed notebook's outputs, naming its cell and quoting it."""
    return [str(p) for p in find_problems(nb, roots=roots)]


def check_file(path: str | os.PathLike) -> list[str]:
    """check_notebook of the executed notebook at `path`."""
    import nbformat

    return check_notebook(nbformat.read(str(path), as_version=4))


# ---- tables in the built pages ------------------------------------------------------------------

MEASURE_ID = "pagecheck-measurements"
_MEASURE_JS = """
<script>
window.addEventListener("load", function () {
  setTimeout(function () {
    var article = document.querySelector("article") || document.querySelector("main")
      || document.body;
    var found = [];
    article.querySelectorAll("table").forEach(function (table, index) {
      var column = table.parentElement, style = getComputedStyle(column);
      var inner = column.clientWidth - parseFloat(style.paddingLeft || 0)
        - parseFloat(style.paddingRight || 0);
      var caption = table.caption ? table.caption.textContent.trim() : "";
      var heads = Array.prototype.slice.call(table.querySelectorAll("th"), 0, 4)
        .map(function (th) { return th.textContent.trim(); })
        .filter(function (text) { return text; });
      found.push({index: index, caption: caption, headers: heads,
                  table_width: table.scrollWidth, column_width: Math.round(inner)});
    });
    var pre = document.createElement("pre");
    pre.id = "__ID__";
    pre.textContent = JSON.stringify(found);
    document.body.appendChild(pre);
  }, 300);
});
</script>
""".replace("__ID__", MEASURE_ID)


def find_browser() -> str | None:
    """The headless-capable Chromium on this machine, or None."""
    for name in BROWSERS:
        if path := shutil.which(name):
            return path
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


def _measure(page: Path, browser: str, width: int) -> list[dict[str, Any]]:
    """Measure the tables of one page in a temporary copy of it (its links resolve to the site)."""
    text = page.read_text(encoding="utf-8")
    base = f'<base href="{page.parent.resolve().as_uri()}/">'
    text = re.sub(r"<head([^>]*)>", lambda m: f"<head{m.group(1)}>{base}", text, count=1)
    text = text.replace("</body>", _MEASURE_JS + "</body>", 1)
    with tempfile.TemporaryDirectory(prefix="pagecheck-") as tmp:
        copy = Path(tmp) / page.name
        copy.write_text(text, encoding="utf-8")
        proc = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", "--hide-scrollbars", f"--user-data-dir={Path(tmp) / 'profile'}",
             "--host-resolver-rules=MAP * ~NOTFOUND", f"--window-size={width},900",
             "--virtual-time-budget=5000", "--dump-dom", copy.as_uri()],
            capture_output=True, text=True, timeout=180)
    match = re.search(rf'<pre id="{MEASURE_ID}"[^>]*>(.*?)</pre>', proc.stdout, re.S)
    if not match:
        raise RuntimeError(f"{browser} measured nothing on {page} (exit {proc.returncode}): "
                           f"{proc.stderr[-1000:]}")
    return json.loads(html.unescape(match.group(1)))


def table_widths(html_dir: str | os.PathLike, width: int = 1280,
                 browser: str | None = None) -> list[dict[str, Any]]:
    """Every table of the built site's articles at a `width` px window: its scroll width, its
    column's width and whether it fits; one dict per table (page, index, caption, ...)."""
    html_dir = Path(html_dir)
    browser = browser or find_browser()
    if browser is None:
        raise RuntimeError("Chromium is not installed (apt-get install chromium)")
    pages = sorted(p for p in html_dir.rglob("*.html")
                   if p.name not in SKIPPED_PAGES
                   and not any(part.startswith("_") for part in p.relative_to(html_dir).parts)
                   and "<table" in p.read_text(encoding="utf-8", errors="replace"))
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        measured = list(pool.map(lambda p: _measure(p, browser, width), pages))
    rows = []
    for page, tables in zip(pages, measured, strict=True):
        for t in tables:
            rows.append({"page": page.relative_to(html_dir).as_posix(), "index": t["index"],
                         "caption": t["caption"] or " | ".join(t["headers"]),
                         "table_width": t["table_width"], "column_width": t["column_width"],
                         "fits": t["table_width"] <= t["column_width"] + 1})
    return rows


def main(argv: list[str] | None = None) -> None:
    """Command line: the problems of executed notebooks, or (--tables) the tables too wide."""
    parser = argparse.ArgumentParser(prog="python -m helpers.pagecheck",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="+", help="executed notebooks, or the site's html folder")
    parser.add_argument("--tables", action="store_true", help="measure the built pages' tables")
    args = parser.parse_args(argv)
    bad = 0
    for path in args.paths:
        if args.tables:
            for row in table_widths(path):
                if not row["fits"]:
                    bad += 1
                    print(f"{row['page']}: table {row['index']} ({row['caption']}) is "
                          f"{row['table_width']} px wide in a {row['column_width']} px column")
        else:
            for problem in check_file(path):
                bad += 1
                print(f"{path}: {problem}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
