"""Throughput of each unit kind against this machine's own matmul peak, for `helpers.plan`.

    python -m bench.throughput                 # merge this device into bench/throughput.json
    python -m bench.throughput --device cuda   # on a GPU machine: adds its own figures

The peak is the best of several large square matmuls (float32 on CPU, bfloat16 on CUDA: the dtype
units compute in). Each unit kind is then run once, for real, through `helpers.units.compute` on
an offline model into a scratch store, and its achieved FLOP/s is the cost model's FLOPs
(`helpers.plan.unit_cost`) over the measured seconds (the model is loaded before the clock starts).
Each figure is the best of `--repeats` runs, and the peak is measured again before every kind
(best kept). On a CPU everything runs on one thread and is timed in the process's CPU seconds,
so other work on the machine does not distort the figures: they are per core (the share of peak
is the same for a machine's cores together, as long as they scale alike).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from helpers import plan
from helpers.results import ResultStore, write_json_atomic

OUT = Path(__file__).resolve().parent / "throughput.json"


def clock(device: torch.device) -> float:
    """Seconds: the process's CPU time on a CPU (one thread), wall time after a sync on CUDA."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        return time.perf_counter()
    return time.process_time()


def matmul_peak_gflops(device: torch.device, n: int | None = None, repeats: int = 5) -> float:
    """Best GFLOP/s of an n x n matmul in the dtype units compute in on `device`."""
    from helpers.models import default_dtype

    dtype = default_dtype(device)
    n = n or (8192 if device.type == "cuda" else 1024)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(repeats + 1):
        t = clock(device)
        a @ b
        best = min(best, clock(device) - t)
    return 2 * n**3 / best / 1e9


def unit_throughput(device: str, model: str = "smollm2-135m", repeats: int = 3,
                    peaks: list[float] | None = None) -> dict[str, dict]:
    """Achieved GFLOP/s of each unit kind on `model` (best of `repeats`; scratch store).

    `peaks`, when given, receives a matmul peak measured before each kind."""
    from helpers import units
    from helpers.pool import ModelPool
    from helpers.units.base import RATES
    from helpers.workload import expand

    with tempfile.TemporaryDirectory() as tmp:
        profile = {"models": [model], "tasks": ["mr"], "ratios": [0.0], "criteria": ["similarity"],
                   "methods": ["input_x_gradient"], "n_examples": 48, "n_calibration": 16,
                   "n_faithfulness": 4, "shots": 1, "demo_seeds": [0], "criterion_seeds": [0],
                   "device": device, "batch_size": 16, "results_dir": tmp,
                   "importance_texts": 8, "importance_max_length": 128, "latency_batch": 4,
                   "latency_tokens": 128}
        todo = expand(profile)
        pool = ModelPool(device)
        pool.full(model)
        store = ResultStore(tmp)
        out = {}
        for rate in RATES:  # one unit priced at each measured throughput (the kinds' cost models)
            unit = next(u for u in todo if units.cost(u).rate == rate)
            if peaks is not None:
                peaks.append(matmul_peak_gflops(torch.device(pool.device)))
            units.compute(unit, store, pool)  # warm-up
            seconds = float("inf")
            dev = torch.device(pool.device)
            for _ in range(repeats):
                for p in Path(tmp).glob(f"{unit.kind}/*.json"):
                    p.unlink()
                start = clock(dev)
                units.compute(unit, store, pool)
                seconds = min(seconds, clock(dev) - start)
            cost = plan.unit_cost(unit)
            out[rate] = {"gflops": cost["flops"] / seconds / 1e9, "seconds": round(seconds, 3),
                         "flops": cost["flops"], "model": model, "what": unit.label()}
    return out


def main(argv: list[str] | None = None) -> None:
    """Measure this device and merge it into bench/throughput.json."""
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=main.__doc__)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    from helpers.models import resolve_device

    device = resolve_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(1)
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"cpu {platform.processor() or platform.machine()}, one core")
    peaks = [matmul_peak_gflops(device)]
    kinds = unit_throughput(str(device), args.model, args.repeats, peaks)
    peak = max(peaks)
    out = Path(args.out)
    data = json.loads(out.read_text()) if out.exists() else {"devices": {}}
    key = "this-cpu" if device.type == "cpu" else name
    data["devices"][key] = {"name": name, "peak_gflops": peak, "kinds": kinds,
                            "torch": torch.__version__}
    data.setdefault("reference", key)
    data["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    write_json_atomic(out, data)
    print(plan.throughput_frame(data).to_string(index=False, float_format=lambda v: f"{v:,.3g}"))


if __name__ == "__main__":
    main()
