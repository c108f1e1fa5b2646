"""Execute the chapter notebooks with papermill, on a profile of parameters, into the book's sources.

    python -m helpers.book run --profile params/default.yml
    python -m helpers.book chapter 02_faithfulness --profile params/default.yml --models gemma3-270m --tasks mr,trec

The text notebooks in notebooks/ (jupytext percent format) are converted, executed with the
profile's parameters injected, and written to book/chapters/ only when every cell succeeded
(temporary file, then rename). A full run first removes every executed chapter, so no stale
notebook can be built. Wall times of runs into book/chapters go to _build/timings.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ("01_pruning_method", "02_faithfulness", "03_calibration", "04_cross_model", "05_cost")
PARAMETER_KEYS = {"models", "tasks", "ratios", "criteria", "methods", "n_examples", "n_faithfulness",
                  "shots", "seed", "device", "batch_size", "results_dir", "fractions", "ig_steps",
                  "n_calibration", "n_bins", "importance_texts", "importance_max_length",
                  "latency_batch", "latency_tokens", "acc_tolerance", "bench_results"}


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


def execute(notebook: str, parameters: dict[str, Any], out_dir: str | os.PathLike) -> float:
    """Execute one chapter; write out_dir/notebook.ipynb only if it succeeds; return seconds."""
    import jupytext
    import papermill

    source = ROOT / "notebooks" / f"{notebook}.py"
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    nb = jupytext.read(source)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=f".{notebook}-") as tmp:
        src, dst = Path(tmp) / "in.ipynb", Path(tmp) / "out.ipynb"
        jupytext.write(nb, src, fmt="ipynb")
        declared = papermill.inspect_notebook(str(src))
        parameters = {k: v for k, v in parameters.items() if k in declared}
        try:
            papermill.execute_notebook(
                str(src), str(dst), parameters=parameters, kernel_name="python3", cwd=str(ROOT),
                progress_bar=False, log_output=False, report_mode=False,
            )
        except papermill.PapermillExecutionError as err:
            failed = ROOT / "_build" / "failed" / f"{notebook}.ipynb"
            failed.parent.mkdir(parents=True, exist_ok=True)
            os.replace(dst, failed)
            raise SystemExit(
                f"Chapter {notebook} failed in cell {err.exec_count}: {err.ename}: {err.evalue}\n"
                f"The failed notebook is {failed}; nothing was written to {out_dir}."
            ) from None
        os.replace(dst, out_dir / f"{notebook}.ipynb")
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


def prepare_models(profile: dict[str, Any], models: list[str] | None = None) -> float:
    """Convert the profile's offline models to the cache before any chapter runs; returns seconds."""
    from .models import OFFLINE_MODELS, offline_model_path

    names = set(models or profile.get("models") or [])
    if not models:
        for over in (profile.get("chapters") or {}).values():
            names |= set((over or {}).get("models") or [])
    start = time.perf_counter()
    for name in sorted(n for n in names if n in OFFLINE_MODELS):
        offline_model_path(name)
    return time.perf_counter() - start


def run(profile_path: str, notebooks: tuple[str, ...] = NOTEBOOKS, out_dir: str | None = None,
        **overrides: Any) -> dict[str, float]:
    """Execute chapters in order on a profile; returns the wall time of each."""
    profile = load_profile(profile_path)
    out = Path(out_dir) if out_dir else ROOT / "book" / "chapters"
    if tuple(notebooks) == NOTEBOOKS:
        for stale in out.glob("*.ipynb"):
            stale.unlink()
    os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars would clutter the book's pages
    seconds = prepare_models(profile, overrides.get("models"))
    if seconds > 1:
        print(f"[book] offline models converted and cached in {seconds:.0f} s", flush=True)
    timings = {}
    for nb in notebooks:
        print(f"[book] executing {nb} ...", flush=True)
        timings[nb] = execute(nb, chapter_parameters(profile, nb, **overrides), out)
        print(f"[book] {nb} done in {timings[nb]:.0f} s", flush=True)
    if out == ROOT / "book" / "chapters":  # only the book's own run feeds the Cost appendix
        _write_timings(timings, str(profile_path))
    return timings


def _list(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def main(argv: list[str] | None = None) -> None:
    """Command line: `run` (every chapter) or `chapter NAME` (one chapter, with overrides)."""
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
    args = parser.parse_args(argv)
    overrides = {"models": _list(args.models), "tasks": _list(args.tasks)}
    notebooks = NOTEBOOKS if args.command == "run" else (args.notebook,)
    try:
        run(args.profile, notebooks, args.out, **overrides)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f"error: {err}")


if __name__ == "__main__":
    main()
