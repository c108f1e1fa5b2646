"""Peak memory (RSS) of a pruning-ratio sweep: in-place drop/restore vs a deep copy per configuration.

    python -m bench.memory                                # qwen2.5-coder-0.5b on CPU
    python -m bench.memory --model smollm2-135m --ratios 0.25,0.5

Each variant runs in a fresh subprocess (peak RSS never goes down within a process):
- `load`: load the model and run one short forward pass;
- `in-place`: then `ModelPool.get` for each ratio ("last" criterion) and `full`, one forward each;
- `deepcopy`: the same sweep, pruning a deep copy of the full model per ratio (the former
  `ModelPool.get`).
Prints one row per variant (MB) and writes them as JSON to --out (default _build/bench/memory.json).
"""

from __future__ import annotations

import argparse
import copy
import json
import resource
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

VARIANTS = ("load", "in-place", "deepcopy")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _peak() -> int:
    # VmHWM belongs to this address space; ru_maxrss keeps the parent's peak across fork and exec
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


def measure(variant: str, model_name: str, ratios: Sequence[float]) -> dict:
    """Run one variant in this process; returns its memory figures in bytes."""
    import torch

    from helpers import criteria, pruning
    from helpers.pool import ModelPool

    class DeepcopyPool(ModelPool):
        """The pool as it was: the full model stays loaded, each pruned configuration is a copy."""

        pruned = None

        def get(self, name: str, layers: Sequence[int]) -> tuple:
            model, tok = self.full(name)
            self.pruned = None
            self.pruned = pruning.drop_attention(copy.deepcopy(model), layers)
            return self.pruned, tok

    start = _rss()
    pool = (DeepcopyPool if variant == "deepcopy" else ModelPool)("cpu")
    ids = torch.randint(10, 1000, (1, 32), generator=torch.Generator().manual_seed(0))
    model, _ = pool.full(model_name)
    with torch.inference_mode():
        model(input_ids=ids)
    out = {"variant": variant, "model": model_name,
           "model_bytes": sum(p.numel() * p.element_size() for p in model.parameters()),
           "rss_start": start, "rss_loaded": _rss(), "peak_loaded": _peak()}
    if variant != "load":
        for ratio in ratios:
            pruned, _ = pool.get(model_name,
                                 criteria.select_layers(pruning.n_layers(model), ratio, "last"))
            with torch.inference_mode():
                pruned(input_ids=ids)
            del pruned  # as in evaluation.scores: no reference outlives the configuration
        with torch.inference_mode():
            pool.full(model_name)[0](input_ids=ids)
    out.update(rss_end=_rss(), peak=_peak())
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """Command line (see the module docstring)."""
    p = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.split("\n")[0])
    p.add_argument("--model", default="qwen2.5-coder-0.5b")
    p.add_argument("--ratios", default=f"{1 / 6},{1 / 3},{1 / 2}")
    p.add_argument("--out", type=Path, default=Path("_build/bench/memory.json"))
    p.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)  # one subprocess's job
    args = p.parse_args(argv)
    ratios = [float(r) for r in args.ratios.split(",")]
    if args.variant:
        print(json.dumps(measure(args.variant, args.model, ratios)))
        return
    from helpers.models import load_model
    from helpers.results import write_json_atomic

    load_model(args.model, device="cpu")  # converts on first use, outside the measured runs
    rows = []
    for variant in VARIANTS:
        cmd = [sys.executable, "-m", "bench.memory", "--model", args.model, "--ratios", args.ratios,
               "--variant", variant]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    frame = pd.DataFrame(rows)
    mb = frame.drop(columns=["variant", "model"]) / 2**20
    mb.insert(0, "variant", frame.variant)
    mb["peak - start"] = mb.peak - mb.rss_start
    mb["(peak - start) / model"] = mb["peak - start"] / mb.model_bytes
    print(f"{args.model}, CPU, ratios {args.ratios} ('last' criterion); MiB:")
    print(mb.round(2).to_string(index=False))
    write_json_atomic(args.out, {"ratios": ratios, "rows": rows})


if __name__ == "__main__":
    main()
