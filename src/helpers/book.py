"""Execute the chapter notebooks with papermill, on a profile of parameters, into the book's sources.

    python -m helpers.book run --profile params/default.yml
    python -m helpers.book chapter 02_faithfulness --profile params/default.yml --models gemma3-270m --tasks mr,trec
    python -m helpers.book html          # build _build/html (see helpers.site)
    python -m helpers.book notebooks     # write the Colab/Binder notebooks (see helpers.site)
    python -m helpers.book plan params/paper.yml   # units, tokens, predicted hours (helpers.plan)

Every unit the chapters read is computed first, in this process, models loaded once and in
`grid.reuse_order`; then the text notebooks in notebooks/ (jupytext percent format) are
converted, executed with the profile's parameters injected (they only read the store), and
written to book/chapters/ only when every cell succeeded
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
from pathlib import Path
from typing import Any

from traitlets.config import Config

from . import pagecheck, pages, profiles
from . import progress as prog
from .chapters import NAMES
from .profiles import ROOT

# The reader sees this run's values in the chapter's parameter table (helpers.pages), so the
# default and the injected parameter cells are dropped from the HTML (they stay in the .ipynb).
HIDDEN_CELL_TAGS = ("parameters", "injected-parameters")
UNITS = "00_units"  # the timings' entry for computing every chapter's units before they run
ENGINE = "pruning-book"


class ChapterFailed(Exception):
    """A chapter raised in one of its cells; nothing of it was written but a placeholder page."""

    def __init__(self, notebook: str, cell: int | None, error: str, notebook_path: Path) -> None:
        super().__init__(f"Chapter {notebook} failed in cell {cell}: {error}")
        self.notebook, self.cell, self.error, self.notebook_path = notebook, cell, error, notebook_path


def kernel_config(socket_dir: str | os.PathLike) -> Config:
    """IPC sockets for the kernel, in `socket_dir`: no TCP traffic, so no warning about it."""
    # a path of its own per kernel: two runs in one folder must not share sockets
    return Config({"KernelManager": {"transport": "ipc", "ip": str(Path(socket_dir) / "kernel")}})


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
    """Execute one chapter with its `profile` and `overrides` injected; write out_dir/notebook.ipynb
    only if every cell succeeds and its outputs pass helpers.pagecheck; return seconds."""
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
        unknown = set(parameters) - set(declared)
        if unknown:
            raise ValueError(f"{notebook}'s parameters cell lacks {sorted(unknown)}")
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
        problems = pagecheck.find_problems(executed)
        if problems:  # noise, a machine's path or raw MyST would reach the page: fail like a cell
            failed = ROOT / "_build" / "failed" / f"{notebook}.ipynb"
            failed.parent.mkdir(parents=True, exist_ok=True)
            os.replace(dst, failed)
            line.print(f"[book] {notebook}: {len(problems)} problem(s) in its outputs "
                       f"(see helpers.pagecheck)")
            first = problems[0]
            listed = "\n".join(f"- {p}" for p in problems)
            raise ChapterFailed(notebook, first.count if first.count is not None else first.index,
                                f"{first.kind}: {first.quote}\nAll problems of its outputs "
                                f"({len(problems)}):\n{listed}", failed)
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


def _return_freed_memory() -> None:
    import ctypes
    import gc

    gc.collect()
    # glibc keeps freed heap pages in the process (2 GB after the default's units) unless trimmed
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def findings_dir(out_dir: Path) -> Path:
    """Where the chapters executed into `out_dir` record their findings (see helpers.pages)."""
    return out_dir.parent / pages.GENERATED_DIR.name


def _relative(path: str | os.PathLike) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def run(profile_path: str, notebooks: tuple[str, ...] = NAMES, out_dir: str | None = None,
        **overrides: Any) -> dict[str, float]:
    """Compute the chapters' units, then execute the chapters in order; the wall time of each.

    The units (`workload.expand`) run first in this process (`grid.compute_here`), so the
    chapters only read the store; their time is the entry `UNITS` of the result.

    A chapter that fails leaves a placeholder page naming the command that re-runs it, the others
    still run, and the run ends with SystemExit listing the failures."""
    given = {k: v for k, v in overrides.items() if v is not None}
    profile = profiles.load_profile(profile_path)
    problems = profiles.check(profile, tuple(notebooks), given)
    if problems:  # fail before any model loads, naming every problem
        raise ValueError(f"{profile_path} has {len(problems)} problem(s):\n  - "
                         + "\n  - ".join(problems))
    out = Path(out_dir) if out_dir else ROOT / "book" / "chapters"
    generated = findings_dir(out)
    findings = generated / pages.FINDINGS_JSON
    if tuple(notebooks) == NAMES:
        for stale in [*out.glob("*.ipynb"), *out.glob("*.md")]:
            stale.unlink()
        findings.unlink(missing_ok=True)
    from . import grid, workload  # they import torch: not for `check` and `plan`

    line = prog.StatusLine()
    seconds = workload.prepare_models(profile, tuple(notebooks), given, line)
    if seconds > 1:
        line.print(f"[book] offline models converted and cached in {seconds:.0f} s")
    # every unit the chapters will read, in one process (models loaded once, depth reuse across
    # chapters); a unit that fails here is recorded, and its chapter, computing it again, fails
    line.print(f"[book] computing the units of {len(notebooks)} chapter(s) ...")
    summary = grid.compute_here(workload.expand(profile, tuple(notebooks), given),
                                profile=_relative(profile_path), line=line)
    line.print(f"[book] units: {len(summary.computed)} computed, {len(summary.stored)} stored, "
               f"{len(summary.failed)} failed, in {prog.clock(summary.wall_s)}")
    _return_freed_memory()  # the models are gone; the chapters' kernels load their own
    timings = {UNITS: summary.wall_s}
    shown = {k: v for k, v in given.items() if k != "results_dir"}
    failures = pages.load_failures(generated)
    for i, nb in enumerate(notebooks, 1):
        line.print(f"[book] executing {nb} ({i} of {len(notebooks)}) ...")
        pages.reset_findings(nb, {"profile": _relative(profile_path), "overrides": shown}, findings)
        try:
            with _environment(**{pages.FINDINGS_ENV: str(findings)}):
                timings[nb] = execute(nb, {"profile": str(profile_path), "overrides": given}, out,
                                      line)
        except ChapterFailed as err:  # the other chapters still run, and the site still builds
            failures[nb] = {"cell": err.cell, "error": err.error,
                            "notebook": _relative(err.notebook_path),
                            "rerun": rerun_command(nb, profile_path, shown)}
            _write_placeholder(out, nb, failures[nb])
            continue
        failures.pop(nb, None)
        line.print(f"[book] {nb} done in {prog.clock(timings[nb])}")
    pages.write_findings_page(generated)
    pages.write_failures(generated, failures)
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


def _write_placeholder(out: Path, notebook: str, failure: dict[str, Any]) -> None:
    """A page in place of a failed chapter: what failed and the command that re-runs it."""
    (out / f"{notebook}.ipynb").unlink(missing_ok=True)
    title = notebook.split("_", 1)[1].replace("_", " ").capitalize()
    pages.write_text_atomic(out / f"{notebook}.md", (
        f"# {title}: not built\n\n"
        ":::{error}\n"
        f"This chapter failed when the book was built, in code cell {failure['cell']}:\n\n"
        f"```text\n{failure['error']}\n```\n\n"
        f"The executed notebook with the traceback is `{failure['notebook']}`. Fix the cause, then "
        f"re-run only this chapter and rebuild the pages:\n\n```bash\n{failure['rerun']}\n```\n"
        ":::\n"))


def _list(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def main(argv: list[str] | None = None) -> None:
    """Command line: `run`, `chapter NAME`, `html` (build the site), `notebooks` (launch copies)."""
    parser = argparse.ArgumentParser(prog="python -m helpers.book", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="execute every chapter")
    p_one = sub.add_parser("chapter", help="re-execute one chapter")
    p_one.add_argument("notebook", choices=NAMES)
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
            problems = profiles.check(args.profile)
            if problems:
                sys.exit(f"error: {args.profile} has {len(problems)} problem(s):\n  - "
                         + "\n  - ".join(problems))
            print(f"{args.profile}: ok")
            return
        overrides = {"models": _list(args.models), "tasks": _list(args.tasks)}
        notebooks = NAMES if args.command == "run" else (args.notebook,)
        run(args.profile, notebooks, args.out, **overrides)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f"error: {err}")


if __name__ == "__main__":
    main()
