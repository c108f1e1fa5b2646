"""Execute the chapter notebooks with papermill, on a profile of parameters, into the book's sources.

    python -m helpers.book run --profile params/default.yml
    python -m helpers.book chapter 02_faithfulness --profile params/default.yml --models gemma3-270m --tasks mr,trec
    python -m helpers.book html          # build _build/html (see helpers.site)
    python -m helpers.book notebooks     # write the Colab/Binder notebooks (see helpers.site)
    python -m helpers.book plan params/paper.yml   # units, tokens, predicted hours (helpers.plan)

The text notebooks in notebooks/ (jupytext percent format) are converted, executed with the
profile's parameters injected, and written to book/chapters/ only when every cell succeeded
(temporary file, then rename). A full run first removes every executed chapter and the recorded
findings, so nothing stale can be built. Wall times of runs into book/chapters go to
_build/timings.json. While a chapter runs, the terminal shows one status line: the chapter, the
cell, the units the kernel reports through helpers.progress, and the elapsed time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml
from traitlets.config import Config

from . import progress as prog

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ("01_pruning_method", "02_faithfulness", "03_calibration", "04_cross_model", "05_cost")
PARAMETER_KEYS = {"models", "tasks", "ratios", "criteria", "methods", "n_examples", "n_faithfulness",
                  "shots", "seed", "device", "batch_size", "results_dir", "fractions", "ig_steps",
                  "n_calibration", "n_bins", "importance_texts", "importance_max_length",
                  "latency_batch", "latency_tokens", "acc_tolerance", "bench_results",
                  "demo_seeds", "criterion_seeds", "importance_source", "alpha", "n_resamples",
                  "greedy_examples"}
# The reader sees this run's values in the chapter's parameter table (helpers.pages), so the
# default and the injected parameter cells are dropped from the HTML (they stay in the .ipynb).
HIDDEN_CELL_TAGS = ("parameters", "injected-parameters")
ENGINE = "pruning-book"
FAILURES_JSON = "failures.json"  # beside the findings: chapters that failed in the last run


class ChapterFailed(Exception):
    """A chapter raised in one of its cells; nothing of it was written but a placeholder page."""

    def __init__(self, notebook: str, cell: int | None, error: str, notebook_path: Path) -> None:
        super().__init__(f"Chapter {notebook} failed in cell {cell}: {error}")
        self.notebook, self.cell, self.error, self.notebook_path = notebook, cell, error, notebook_path


def kernel_config(socket_dir: str | os.PathLike) -> Config:
    """IPC sockets for the kernel, in `socket_dir`: no TCP traffic, so no warning about it."""
    # a path of its own per kernel: two runs in one folder must not share sockets
    return Config({"KernelManager": {"transport": "ipc", "ip": str(Path(socket_dir) / "kernel")}})


def load_profile(path: str | os.PathLike) -> dict[str, Any]:
    """Read a profile YAML: shared parameters plus optional per-chapter overrides under `chapters`."""
    path = Path(path)
    if not path.exists():
        known = ", ".join(str(p.relative_to(ROOT)) for p in sorted((ROOT / "params").glob("*.yml")))
        raise FileNotFoundError(f"No profile {path}. Known profiles: {known}")
    profile = yaml.safe_load(path.read_text()) or {}
    unknown = set(profile) - PARAMETER_KEYS - {"chapters", "description"}
    for nb, over in (profile.get("chapters") or {}).items():
        if nb not in NOTEBOOKS:
            raise ValueError(f"{path}: unknown chapter '{nb}' under chapters; known: {', '.join(NOTEBOOKS)}")
        unknown |= set(over or {}) - PARAMETER_KEYS
    if unknown:
        raise ValueError(f"{path}: unknown parameters {sorted(unknown)}; known: {sorted(PARAMETER_KEYS)}")
    for section in [profile, *(profile.get("chapters") or {}).values()]:
        if section and "ratios" in section:
            section["ratios"] = [_ratio(r, path) for r in section["ratios"]]
    return profile


def _ratio(value: Any, path: Path) -> float:
    # "1/3" is exact, where a decimal such as 0.3333 would floor 0.3333 * 30 layers to 9
    try:
        return float(Fraction(str(value)))
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{path}: ratio {value!r} is not a number or a fraction like 1/3") from None


def chapter_parameters(profile: dict[str, Any], notebook: str, **overrides: Any) -> dict[str, Any]:
    """The parameters injected into one chapter: shared ones, its overrides, then the caller's."""
    params = {k: v for k, v in profile.items() if k not in ("chapters", "description")}
    params.update((profile.get("chapters") or {}).get(notebook) or {})
    params.update({k: v for k, v in overrides.items() if v is not None})
    if "results_dir" in params:  # chapters run with the repository as working directory
        path = (ROOT / params["results_dir"]).resolve()
        params["results_dir"] = str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return params


class _Watch:
    """What the status line shows: chapter, cell n of N, the kernel's units, elapsed time."""

    def __init__(self, notebook: str, status_file: Path) -> None:
        self.notebook, self.status_file = notebook, status_file
        self.cell, self.cells = 0, 0
        self.start = time.monotonic()

    def text(self) -> str:
        parts = [f"[book] {self.notebook}"]
        if self.cells:
            parts.append(f"cell {self.cell}/{self.cells}")
        for unit in prog.read_status(self.status_file)[:3]:
            parts.append(f"{unit.get('desc') or unit['kind']} {prog.bar(unit['done'], unit['total'])}")
        parts.append(prog.clock(time.monotonic() - self.start))
        return "  ".join(parts)


_watch: _Watch | None = None  # the chapter in flight, for the papermill engine below


def _tracking_engine() -> str:
    """Register the papermill engine that tells the status line which code cell is running."""
    from papermill.engines import NBClientEngine, papermill_engines

    class TrackingEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
            code = [i for i, c in enumerate(nb_man.nb.cells) if c.cell_type == "code"]
            cell_start = nb_man.cell_start

            def start(cell, cell_index=None, **kw):
                if _watch is not None and cell_index in code:
                    _watch.cell, _watch.cells = code.index(cell_index) + 1, len(code)
                return cell_start(cell, cell_index, **kw)

            nb_man.cell_start = start
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    papermill_engines.register(ENGINE, TrackingEngine)
    return ENGINE


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables for the kernel papermill starts, and restore them after."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _status(watch: _Watch, line: prog.StatusLine) -> Iterator[None]:
    """Redraw the status line from a background thread while the chapter runs."""
    global _watch
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(0.5):
            line.update(watch.text())

    _watch = watch
    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        _watch = None


def hide_parameter_cells(nb: Any) -> None:
    """Tag the default and the injected parameter cells `remove-cell` (hidden in the HTML)."""
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if any(t in tags for t in HIDDEN_CELL_TAGS) and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]


def execute(notebook: str, parameters: dict[str, Any], out_dir: str | os.PathLike,
            line: prog.StatusLine | None = None) -> float:
    """Execute one chapter; write out_dir/notebook.ipynb only if it succeeds; return seconds."""
    import jupytext
    import nbformat
    import papermill

    source = ROOT / "notebooks" / f"{notebook}.py"
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    nb = jupytext.read(source)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    line = line or prog.StatusLine()
    for stale in out_dir.glob(f".{notebook}-*"):  # left by a run that was killed outright
        shutil.rmtree(stale, ignore_errors=True)
    start = time.perf_counter()
    with (tempfile.TemporaryDirectory(dir=out_dir, prefix=f".{notebook}-") as tmp,
          tempfile.TemporaryDirectory(prefix="pb-") as sockets):  # short: sockets allow 107 bytes
        src, dst = Path(tmp) / "in.ipynb", Path(tmp) / "out.ipynb"
        status_file = Path(tmp) / "status.json"
        jupytext.write(nb, src, fmt="ipynb")
        declared = papermill.inspect_notebook(str(src))
        parameters = {k: v for k, v in parameters.items() if k in declared}
        watch = _Watch(notebook, status_file)
        env = {"TQDM_DISABLE": "1", prog.STATUS_ENV: str(status_file)}
        try:
            with _environment(**env), _status(watch, line):
                papermill.execute_notebook(
                    str(src), str(dst), parameters=parameters, kernel_name="python3", cwd=str(ROOT),
                    progress_bar=False, log_output=False, report_mode=False,
                    engine_name=_tracking_engine(), config=kernel_config(sockets),
                )
        except papermill.PapermillExecutionError as err:
            failed = ROOT / "_build" / "failed" / f"{notebook}.ipynb"
            failed.parent.mkdir(parents=True, exist_ok=True)
            os.replace(dst, failed)
            line.print(f"[book] {notebook} failed after {prog.clock(time.perf_counter() - start)}")
            raise ChapterFailed(notebook, err.exec_count, f"{err.ename}: {err.evalue}",
                                failed) from None
        executed = nbformat.read(dst, as_version=4)
        hide_parameter_cells(executed)
        nbformat.write(executed, dst)
        os.replace(dst, out_dir / f"{notebook}.ipynb")
    (out_dir / f"{notebook}.md").unlink(missing_ok=True)  # a failed run's placeholder page
    return time.perf_counter() - start


def _write_timings(timings: dict[str, float], profile_path: str) -> None:
    from .results import write_json_atomic

    path = ROOT / "_build" / "timings.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    if old.get("profile") != profile_path:
        old = {}
    merged = {**(old.get("notebooks") or {}), **{k: round(v, 1) for k, v in timings.items()}}
    write_json_atomic(path, {"profile": profile_path, "notebooks": merged,
                             "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")})


def prepare_models(profile: dict[str, Any], models: list[str] | None = None,
                   line: prog.StatusLine | None = None) -> float:
    """Convert the profile's offline models to the cache before any chapter runs; returns seconds."""
    from .models import OFFLINE_MODELS, offline_model_path

    names = set(models or profile.get("models") or [])
    if not models:
        for over in (profile.get("chapters") or {}).values():
            names |= set((over or {}).get("models") or [])
    todo = sorted(n for n in names if n in OFFLINE_MODELS)
    line = line or prog.StatusLine()
    start = time.perf_counter()
    stop = threading.Event()
    current = {"name": "", "i": 0}

    def loop() -> None:  # conversion is one long call: show that it is alive
        while not stop.wait(0.5):
            line.update(f"[book] preparing model {current['name']} "
                        f"{prog.bar(current['i'], len(todo))}  {prog.clock(time.perf_counter() - start)}")

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        for i, name in enumerate(todo):
            current.update(name=name, i=i)
            offline_model_path(name)
    finally:
        stop.set()
        thread.join()
    return time.perf_counter() - start


def findings_dir(out_dir: Path) -> Path:
    """Where the chapters executed into `out_dir` record their findings (see helpers.pages)."""
    from .pages import GENERATED_DIR

    return out_dir.parent / GENERATED_DIR.name


def _relative(path: str | os.PathLike) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def run(profile_path: str, notebooks: tuple[str, ...] = NOTEBOOKS, out_dir: str | None = None,
        **overrides: Any) -> dict[str, float]:
    """Execute chapters in order on a profile; returns the wall time of each."""
    from . import pages

    profile = load_profile(profile_path)
    problems = check(profile_path, tuple(notebooks), **{k: v for k, v in overrides.items()
                                                       if k in ("models", "tasks")})
    if problems:  # fail before any model loads, naming every problem
        raise ValueError(f"{profile_path} has {len(problems)} problem(s):\n  - "
                         + "\n  - ".join(problems))
    out = Path(out_dir) if out_dir else ROOT / "book" / "chapters"
    generated = findings_dir(out)
    findings = generated / pages.FINDINGS_JSON
    if tuple(notebooks) == NOTEBOOKS:
        for stale in [*out.glob("*.ipynb"), *out.glob("*.md")]:
            stale.unlink()
        findings.unlink(missing_ok=True)
    line = prog.StatusLine()
    seconds = prepare_models(profile, overrides.get("models"), line)
    if seconds > 1:
        line.print(f"[book] offline models converted and cached in {seconds:.0f} s")
    timings = {}
    given = {k: v for k, v in overrides.items() if v is not None and k != "results_dir"}
    failures = load_failures(generated)
    for i, nb in enumerate(notebooks, 1):
        line.print(f"[book] executing {nb} ({i} of {len(notebooks)}) ...")
        pages.reset_findings(nb, {"profile": _relative(profile_path), "overrides": given}, findings)
        try:
            with _environment(**{pages.FINDINGS_ENV: str(findings)}):
                timings[nb] = execute(nb, chapter_parameters(profile, nb, **overrides), out, line)
        except ChapterFailed as err:  # the other chapters still run, and the site still builds
            failures[nb] = {"cell": err.cell, "error": err.error,
                            "notebook": _relative(err.notebook_path),
                            "rerun": rerun_command(nb, profile_path, given)}
            _write_placeholder(out, nb, failures[nb])
            continue
        failures.pop(nb, None)
        line.print(f"[book] {nb} done in {prog.clock(timings[nb])}")
    pages.write_findings_page(generated)
    write_failures(generated, failures)
    if out == ROOT / "book" / "chapters":  # only the book's own run feeds the Cost appendix
        _write_timings(timings, str(profile_path))
    failed = [nb for nb in notebooks if nb in failures]
    if failed:
        raise SystemExit("\n".join(
            [f"{len(failed)} of {len(notebooks)} chapter(s) failed; the others were written."]
            + [f"  {nb}: cell {failures[nb]['cell']}: {failures[nb]['error']}\n"
               f"    the failed notebook: {failures[nb]['notebook']}\n"
               f"    re-run it with: {failures[nb]['rerun']}" for nb in failed]))
    return timings


def rerun_command(notebook: str, profile_path: str | os.PathLike, given: dict[str, Any]) -> str:
    """The command that re-executes one chapter as this run did, then rebuilds the HTML."""
    extra = "".join(f" {'MODEL' if k == 'models' else 'TASKS'}={','.join(v)}"
                    for k, v in given.items() if k in ("models", "tasks") and v)
    return f"make chapter NB={notebook} PROFILE={_relative(profile_path)}{extra} && make html"


def load_failures(generated: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Chapters that failed in the last run into this folder, with their error and re-run command."""
    path = Path(generated) / FAILURES_JSON
    return json.loads(path.read_text()) if path.exists() else {}


def write_failures(generated: str | os.PathLike, failures: dict[str, dict[str, Any]]) -> None:
    """Record the failed chapters (the file goes when none failed)."""
    from .results import write_json_atomic

    path = Path(generated) / FAILURES_JSON
    if failures:
        write_json_atomic(path, failures)
    else:
        path.unlink(missing_ok=True)


def _write_placeholder(out: Path, notebook: str, failure: dict[str, Any]) -> None:
    """A page in place of a failed chapter: what failed and the command that re-runs it."""
    from .pages import _write_text_atomic

    (out / f"{notebook}.ipynb").unlink(missing_ok=True)
    title = notebook.split("_", 1)[1].replace("_", " ").capitalize()
    _write_text_atomic(out / f"{notebook}.md", (
        f"# {title}: not built\n\n"
        ":::{error}\n"
        f"This chapter failed when the book was built, in code cell {failure['cell']}:\n\n"
        f"```text\n{failure['error']}\n```\n\n"
        f"The executed notebook with the traceback is `{failure['notebook']}`. Fix the cause, then "
        f"re-run only this chapter and rebuild the pages:\n\n```bash\n{failure['rerun']}\n```\n"
        ":::\n"))


def check(profile_path: str | os.PathLike, notebooks: tuple[str, ...] = NOTEBOOKS,
          **overrides: Any) -> list[str]:
    """Every problem of a profile (with overrides), found without loading a model."""
    from .profiles import check_profile

    profile = load_profile(profile_path)
    for key, value in overrides.items():
        if value is not None:
            profile[key] = value
            for over in (profile.get("chapters") or {}).values():
                (over or {}).pop(key, None)
    return check_profile(profile, notebooks)


def _list(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def main(argv: list[str] | None = None) -> None:
    """Command line: `run`, `chapter NAME`, `html` (build the site), `notebooks` (launch copies)."""
    parser = argparse.ArgumentParser(prog="python -m helpers.book", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="execute every chapter")
    p_one = sub.add_parser("chapter", help="re-execute one chapter")
    p_one.add_argument("notebook", choices=NOTEBOOKS)
    for p in (p_run, p_one):
        p.add_argument("--profile", default=str(ROOT / "params" / "default.yml"))
        p.add_argument("--out", default=None, help="folder for executed notebooks (default book/chapters)")
        p.add_argument("--models", default=None, help="comma-separated model names")
        p.add_argument("--tasks", default=None, help="comma-separated task names")
    p_check = sub.add_parser("check", help="validate a profile without loading a model")
    p_check.add_argument("profile", nargs="?", default=str(ROOT / "params" / "default.yml"))
    p_plan = sub.add_parser("plan", help="units, tokens and predicted hours of a profile's grid")
    p_plan.add_argument("profile", nargs="?", default=str(ROOT / "params" / "default.yml"))
    p_html = sub.add_parser("html", help="build the HTML from the executed chapters")
    p_nbs = sub.add_parser("notebooks", help="write the notebooks Colab and Binder open")
    for p in (p_html, p_nbs):
        p.add_argument("--repo-url", default=None,
                       help="public https URL of the repository (default: $BOOK_REPO_URL, else the "
                            "git remote 'origin'); 'none' turns the repository buttons off")
        p.add_argument("--branch", default=None, help="branch the links use (default: the current one)")
    p_html.add_argument("--source", default=str(ROOT), help="the book's source folder")
    args = parser.parse_args(argv)
    # `kill` (SIGTERM) unwinds like Ctrl-C: the kernel is shut down, temporary files removed
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        if args.command in ("html", "notebooks"):
            from . import site

            url = site.repository_url(args.repo_url)
            branch = args.branch or site.repository_branch()
            if args.command == "html":
                site.build_html(args.source, repo_url=url, branch=branch)
            else:
                site.write_launch_notebooks(url, branch)
            return
        if args.command == "plan":
            from .plan import report

            print(report(args.profile))
            return
        if args.command == "check":
            problems = check(args.profile)
            if problems:
                sys.exit(f"error: {args.profile} has {len(problems)} problem(s):\n  - "
                         + "\n  - ".join(problems))
            print(f"{args.profile}: ok")
            return
        overrides = {"models": _list(args.models), "tasks": _list(args.tasks)}
        notebooks = NOTEBOOKS if args.command == "run" else (args.notebook,)
        run(args.profile, notebooks, args.out, **overrides)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f"error: {err}")


if __name__ == "__main__":
    main()
