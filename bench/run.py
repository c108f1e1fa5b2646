"""Run the benchmarks and write _build/bench/results.json (``make bench``).

    python -m bench.run                       # everything, default sizes
    python -m bench.run --quick               # smoke test: smollm2 only, tiny sizes, 1 repeat
    python -m bench.run --sections pruning --models smollm2-135m,gemma3-270m --ratios 0,1/3

Sections: ``pruning`` (pruned vs full: parameters, memory, prefill latency, generation
throughput, with FLOP-predicted speedups), ``attribution`` (attribution + faithfulness pipeline
vs a one-by-one Captum baseline), ``label_probs`` (throughput vs batch size) and ``notebooks``
(wall times read from the book runner's _build/timings.json). The same command runs on CUDA
(``--device auto`` picks it) and records the device. The JSON is rewritten (atomically) after
each section, so an interrupted run keeps what finished.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shlex
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import SCHEMA_VERSION
from .attrib import METHODS, AttributionSettings, bench_attribution
from .notebooks import notebook_timings
from .pruned import PruningSettings, bench_model, calibration_texts
from .report import portable_command
from .scoring import bench_label_probs
from .timing import environment

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("pruning", "attribution", "label_probs", "notebooks")
DEFAULT_MODELS = ("smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b")
Loader = Callable[[str, torch.device], tuple[Any, Any]]


def default_loader(name: str, device: torch.device) -> tuple[Any, Any]:
    """Load a model and tokenizer with helpers.models.load_model."""
    from helpers.models import load_model

    return load_model(name, device=device)


class ModelCache:
    """Keeps the most recently loaded model, so consecutive sections reuse it."""

    def __init__(self, loader: Loader, device: torch.device) -> None:
        self.loader, self.device = loader, device
        self.name: str | None = None
        self.pair: tuple[Any, Any] | None = None
        self.load_seconds: dict[str, float] = {}

    def get(self, name: str, *, fresh: bool = False) -> tuple[Any, Any]:
        """The (model, tokenizer) of `name`, loading it unless it is the cached one (or `fresh`)."""
        if fresh or self.name != name or self.pair is None:
            self.pair = None  # free the previous model before loading the next
            start = time.perf_counter()
            self.pair = self.loader(name, self.device)
            self.load_seconds[name] = time.perf_counter() - start
            self.name = name
        return self.pair


# --- command line -------------------------------------------------------------------------------


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(Fraction(t.strip())) for t in text.split(",") if t.strip())


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(t) for t in text.split(",") if t.strip())


def _names(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


CUDA_REPEATS = 10  # GPU runs are short and noisier relative to their length

# full-size defaults, then what --quick changes; explicit options override both
FULL = dict(
    models=DEFAULT_MODELS, ratios=(0.0, 1 / 6, 1 / 3, 1 / 2), prefill_batch=8, prefill_seq=512,
    gen_batch=1, gen_prompt=64, gen_new_tokens=32, repeats=5, warmup=1, calib_texts=32,
    calib_max_length=256, attr_n=16, ig_steps=16, lp_n=64,
)
QUICK = dict(
    models=("smollm2-135m",), prefill_batch=2, prefill_seq=64, gen_prompt=16, gen_new_tokens=8,
    repeats=1, calib_texts=4, calib_max_length=64, attr_n=2, ig_steps=4, lp_n=8,
)


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    a = p.add_argument
    a("--quick", action="store_true", help="smoke test: smollm2 only, tiny sizes, 1 repeat")
    a("--sections", type=_names, default=SECTIONS, help=f"comma list of {', '.join(SECTIONS)}")
    a("--out", type=Path, default=ROOT / "_build" / "bench" / "results.json",
      help="results JSON (default: _build/bench/results.json)")
    a("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
    a("--threads", type=int, help="torch.set_num_threads (default: torch's own choice)")
    a("--seed", type=int, default=0)
    a("--shots", type=int, help="demonstrations per label in the attribution and label_probs "
      "prompts (default: the prompt's own default)")
    g = p.add_argument_group("pruned vs full")
    g.add_argument("--models", type=_names, help=f"default {','.join(DEFAULT_MODELS)}")
    g.add_argument("--ratios", type=_floats, help="comma list, fractions allowed: 0,1/6,1/3,1/2")
    g.add_argument("--criterion", default="similarity")
    g.add_argument("--prefill-batch", type=int)
    g.add_argument("--prefill-seq", type=int)
    g.add_argument("--all-logits", action="store_true",
                   help="prefill computes logits at every position (default: last only)")
    g.add_argument("--gen-batch", type=int)
    g.add_argument("--gen-prompt", type=int)
    g.add_argument("--gen-new-tokens", type=int)
    g.add_argument("--repeats", type=int, help="timed runs per measurement, median reported "
                   f"(default {FULL['repeats']}; {CUDA_REPEATS} on CUDA; --quick: 1)")
    g.add_argument("--warmup", type=int, help="untimed runs before the timed ones")
    g.add_argument("--calib-texts", type=int, help="bbc_news demo texts for importance")
    g.add_argument("--calib-max-length", type=int)
    g.add_argument("--sequential", action="store_true",
                   help="time one ratio's model at a time (less memory) instead of round-robin")
    g.add_argument("--no-count-flops", action="store_true",
                   help="skip the FlopCounterMode cross-check forward")
    g = p.add_argument_group("attribution")
    g.add_argument("--attr-model", default="smollm2-135m")
    g.add_argument("--attr-task", default="mr")
    g.add_argument("--attr-n", type=int, help="examples")
    g.add_argument("--attr-methods", type=_names, default=METHODS)
    g.add_argument("--attr-batch-size", type=int, default=8)
    g.add_argument("--ig-steps", type=int)
    g.add_argument("--no-baseline", action="store_true", help="skip the Captum baseline")
    g = p.add_argument_group("label_probs")
    g.add_argument("--lp-model", default="smollm2-135m")
    g.add_argument("--lp-task", default="mr")
    g.add_argument("--lp-n", type=int, help="examples")
    g.add_argument("--lp-batch-sizes", type=_ints, default=(1, 4, 16))
    g = p.add_argument_group("notebooks")
    g.add_argument("--timings", type=Path, default=ROOT / "_build" / "timings.json")
    return p


def resolve(args: argparse.Namespace, device: torch.device | None = None) -> dict[str, Any]:
    """Fill unset options from the full or quick presets (more repeats on CUDA)."""
    preset = {**FULL, **(QUICK if args.quick else {})}
    if device is not None and device.type == "cuda" and not args.quick:
        preset["repeats"] = CUDA_REPEATS
    values = dict(preset)
    for key in preset:
        if getattr(args, key, None) is not None:
            values[key] = getattr(args, key)
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    return values


# --- writing ------------------------------------------------------------------------------------


def _clean(obj: Any) -> Any:
    """JSON-safe: NaN/inf become null, tuples lists, paths strings, numpy scalars Python ones."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(path: Path, data: dict) -> None:
    """Write JSON to a temporary file beside `path`, then os.replace it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(_clean(data), f, indent=1, allow_nan=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# --- running ------------------------------------------------------------------------------------


def _error(err: BaseException) -> dict:
    return {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}


def run(
    argv: Sequence[str] | None = None,
    *,
    loader: Loader | None = None,
    texts: Sequence[str] | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Run the selected sections, writing the results JSON after each; returns the results.

    `loader(name, device) -> (model, tokenizer)` replaces helpers.models.load_model (tests pass
    tiny models); `texts` replaces the bbc_news importance calibration texts.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return _run(args, argv, loader=loader, texts=texts, log=log)
    finally:
        torch.set_num_threads(threads)


def _run(
    args: argparse.Namespace,
    argv: list[str],
    *,
    loader: Loader | None,
    texts: Sequence[str] | None,
    log: Callable[[str], None],
) -> dict:
    from helpers.models import resolve_device

    device = resolve_device(args.device)
    v = resolve(args, device)
    cache = ModelCache(loader or default_loader, device)
    pruning = PruningSettings(
        ratios=tuple(v["ratios"]), criterion=args.criterion, prefill_batch=v["prefill_batch"],
        prefill_seq=v["prefill_seq"], prefill_logits=None if args.all_logits else 1,
        gen_batch=v["gen_batch"], gen_prompt=v["gen_prompt"], gen_new_tokens=v["gen_new_tokens"],
        repeats=v["repeats"], warmup=v["warmup"], count_flops=not args.no_count_flops,
        interleave=not args.sequential, seed=args.seed,
    )
    attribution = AttributionSettings(
        task=args.attr_task, n_examples=v["attr_n"], methods=tuple(args.attr_methods),
        batch_size=args.attr_batch_size, ig_steps=v["ig_steps"], baseline=not args.no_baseline,
        shots=args.shots, seed=args.seed,
    )
    start = time.perf_counter()
    results: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "meta": {
            # no paths: the page that shows it must not show a machine's folders
            "command": portable_command(shlex.join(["python", "-m", "bench.run", *argv]), ROOT),
            "argv": argv,
            "quick": args.quick,
            "sections": list(args.sections),
            "environment": environment(device),
            "settings": {
                "pruning": {**dataclasses.asdict(pruning), "models": list(v["models"]),
                            "calib_texts": v["calib_texts"],
                            "calib_max_length": v["calib_max_length"]},
                "attribution": {**dataclasses.asdict(attribution), "model": args.attr_model},
                "label_probs": {"model": args.lp_model, "task": args.lp_task, "n": v["lp_n"],
                                "batch_sizes": list(args.lp_batch_sizes), "shots": args.shots},
            },
        },
    }
    for key in SECTIONS:
        if key not in args.sections:
            results[key] = {"status": "not selected"}

    def save() -> None:
        results["meta"]["wall_s"] = time.perf_counter() - start
        results["meta"]["load_seconds"] = dict(cache.load_seconds)
        write_json(args.out, results)

    # cheap sections first, all on smollm2 by default, so one loaded model serves them
    if "label_probs" in args.sections:
        log(f"[bench] label_probs on {args.lp_model} / {args.lp_task}")
        try:
            model, tok = cache.get(args.lp_model)
            sec = bench_label_probs(
                model, tok, task=args.lp_task, n_examples=v["lp_n"],
                batch_sizes=args.lp_batch_sizes, repeats=v["repeats"], warmup=v["warmup"],
                shots=args.shots, seed=args.seed,
            )
            results["label_probs"] = {"status": "ok", "model": args.lp_model, **sec}
        except Exception as err:
            log(f"[bench] label_probs failed: {err}")
            results["label_probs"] = {"status": "error", "model": args.lp_model, **_error(err)}
        save()
    if "attribution" in args.sections:
        log(f"[bench] attribution on {args.attr_model} / {args.attr_task}")
        try:
            model, tok = cache.get(args.attr_model)
            sec = bench_attribution(model, tok, attribution)
            results["attribution"] = {"model": args.attr_model, **sec}
            if sec["status"] != "ok":
                log(f"[bench] attribution {sec['status']}: {sec.get('reason')}")
        except Exception as err:
            log(f"[bench] attribution failed: {err}")
            results["attribution"] = {"status": "error", "model": args.attr_model, **_error(err)}
        save()
    if "pruning" in args.sections:
        results["pruning"] = {"status": "ok", "models": {}}
        calib = list(texts) if texts is not None else None
        for name in v["models"]:
            log(f"[bench] pruned vs full: {name}")
            try:
                # a freshly loaded model: nothing an earlier section did to it can affect timings
                model, tok = cache.get(name, fresh=True)
                if calib is None:
                    calib = calibration_texts(v["calib_texts"])
                results["pruning"]["models"][name] = bench_model(
                    model, tok, pruning, texts=calib[: v["calib_texts"]],
                    calib_max_length=v["calib_max_length"], log=log,
                )
            except Exception as err:
                log(f"[bench] {name} failed: {err}")
                results["pruning"]["models"][name] = _error(err)
                results["pruning"]["status"] = "error"
            save()
    if "notebooks" in args.sections:
        results["notebooks"] = notebook_timings(args.timings, ROOT)
    results["meta"]["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    save()
    return results


def failed(results: dict) -> bool:
    """Whether any section recorded an error."""
    return any(
        isinstance(sec, dict) and sec.get("status") == "error" for sec in results.values()
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run, print the tables, return the exit status (1 if a section failed)."""
    from .report import markdown

    results = run(argv)
    print()
    print(markdown(results))
    out = parser().parse_args(list(sys.argv[1:] if argv is None else argv)).out
    print(f"[bench] results written to {out}")
    return 1 if failed(results) else 0


if __name__ == "__main__":
    sys.exit(main())
