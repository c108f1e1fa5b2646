"""What a profile's grid costs: passes, tokens and FLOPs of every unit, and the time they predict.

    python -m helpers.book plan params/paper.yml

Counts come from the profile alone (`helpers.workload.expand`, each unit kind's cost model in
helpers.units, the models' shapes, the tasks' mean lengths): no model is loaded. Time = FLOPs /
throughput, where the throughput each unit is priced at (its cost's `rate`) is measured by `python -m bench.throughput` on the machine it runs on
(bench/throughput.json): the achieved FLOP/s of that kind and, beside it, the share of the same
machine's measured matmul peak it reaches. A device kind without its own measurement is predicted
from its datasheet peak times the share measured here: an assumption, named as such in the table.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from . import models as models_
from . import units
from .profiles import ROOT, load_profile
from .units import Unit
from .workload import expand

THROUGHPUT_FILE = ROOT / "bench" / "throughput.json"
OVERNIGHT_H = 12.0
# The share of peak the appendix also plans with: a GPU running these small-batch, eager-mode
# passes is unlikely to reach the share a CPU core reaches, so the GPU count rests on this one.
CONSERVATIVE_SHARE = 0.3
# Dense bf16 datasheet peaks (TFLOP/s, no sparsity) of the GPUs a reader is likely to rent.
GPU_PEAK_TFLOPS = {"H100-SXM": 989.0, "A100-80GB": 312.0, "L40S": 362.0, "L4": 121.0}
GPU_MEMORY_GB = {"H100-SXM": 80, "A100-80GB": 80, "L40S": 48, "L4": 24}

def unit_cost(unit: Unit) -> dict[str, float]:
    """Forward and backward passes, tokens and FLOPs of one unit (its kind's cost model)."""
    c = units.cost(unit)
    return {"forward": c.forward, "backward": c.backward, "tokens": c.tokens, "flops": c.flops,
            "rate": c.rate}


def load_throughput(path: str | os.PathLike = THROUGHPUT_FILE) -> dict[str, Any]:
    """Measured throughput per device: its matmul peak and each unit kind's achieved FLOP/s."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no measured throughput; run `python -m bench.throughput`")
    return json.loads(path.read_text())


def throughput_frame(measured: dict[str, Any]) -> pd.DataFrame:
    """Per device and unit kind: achieved GFLOP/s, the measured matmul peak, and the share."""
    rows = []
    for device, d in measured["devices"].items():
        for kind, k in d["kinds"].items():
            rows.append({"device": device, "kind": kind, "achieved GFLOP/s": k["gflops"],
                         "matmul peak GFLOP/s": d["peak_gflops"],
                         "share of peak": k["gflops"] / d["peak_gflops"],
                         "measured on": f"{k['model']}, {k['what']}"})
    return pd.DataFrame(rows)


def _rates(measured: dict[str, Any]) -> dict[str, dict[str, tuple[float, str]]]:
    """GFLOP/s per device kind and unit kind, with where the figure comes from."""
    out: dict[str, dict[str, tuple[float, str]]] = {}
    for device, d in measured["devices"].items():
        out[device] = {k: (v["gflops"], "measured") for k, v in d["kinds"].items()}
    base = measured["devices"][measured["reference"]]
    for gpu, tflops in GPU_PEAK_TFLOPS.items():
        if gpu not in out:
            out[gpu] = {k: (tflops * 1e3 * v["gflops"] / base["peak_gflops"],
                            f"datasheet peak x share measured on {measured['reference']}")
                        for k, v in base["kinds"].items()}
    return out


def memory_gb(name: str, *, batch: int = 16, backward: bool = True, bytes_per: int = 2,
              tokens: float = 512) -> dict[str, float]:
    """Weights and an estimate of peak memory (weights + activations kept for a backward pass)."""
    s = models_.model_shape(name)
    weights = s.params * bytes_per
    per_layer = batch * tokens * (s.hidden * 10 + s.intermediate * 3) * bytes_per
    logits = batch * s.vocab * 4  # float32 logits of the last position
    acts = per_layer * (s.layers if backward else 2) + logits
    return {"weights GB": weights / 1e9, "peak GB": (weights + acts) / 1e9}


def plan(profile: str | os.PathLike | dict, measured: dict[str, Any] | None = None) -> pd.DataFrame:
    """Per unit kind: units, passes, tokens, PFLOPs and predicted hours on each device kind."""
    todo = expand(profile if isinstance(profile, dict) else load_profile(profile))
    measured = measured or load_throughput()
    rates = _rates(measured)
    frame = pd.DataFrame([{"kind": u.kind, "model": u.model, **unit_cost(u)} for u in todo])
    table = frame.groupby("kind").agg(units=("kind", "size"), forward=("forward", "sum"),
                                      backward=("backward", "sum"), tokens=("tokens", "sum"),
                                      flops=("flops", "sum"))
    for device, per_rate in rates.items():  # each unit at the throughput of its rate
        seconds = frame.flops / frame.rate.map(lambda r, d=per_rate: d[r][0] * 1e9)
        table[f"{device} h"] = seconds.groupby(frame.kind).sum() / 3600
    table.loc["total"] = table.sum(numeric_only=True)
    table["PFLOP"] = table.pop("flops") / 1e15
    return table


def gpu_hours(profiles: tuple[str, ...] = ("params/paper.yml", "params/offline-full.yml"),
              gpu: str = "H100-SXM", measured: dict[str, Any] | None = None) -> pd.DataFrame:
    """For the Cost appendix: each profile's predicted GPU-hours and GPUs for an overnight run."""
    measured = measured or load_throughput()
    rows = []
    for p in profiles:
        path = ROOT / p if not Path(p).is_absolute() else Path(p)
        t = plan(load_profile(path), measured)
        total = t.loc["total"]
        hours = float(total[f"{gpu} h"])
        conservative = float(total["PFLOP"]) * 1e15 / (GPU_PEAK_TFLOPS[gpu] * 1e12 * CONSERVATIVE_SHARE) / 3600
        models = sorted({u.model for u in expand(path)})
        mem = max(memory_gb(m)["peak GB"] for m in models)
        absent = [m for m in models if models_.availability(m) == "not installed"]
        rows.append({"profile": p, "units": int(total["units"]), "PFLOP": round(float(total["PFLOP"]), 1),
                     f"{gpu} GPU-hours (measured shares)": round(hours, 2),
                     f"{gpu} GPU-hours ({CONSERVATIVE_SHARE:.0%} of peak)": round(conservative, 2),
                     f"GPUs for a {OVERNIGHT_H:g} h run": max(1, math.ceil(conservative / OVERNIGHT_H)),
                     "largest model peak GB": round(mem, 1),
                     "not installed here": ", ".join(absent) or "–"})
    return pd.DataFrame(rows).set_index("profile")


def report(profile: str | os.PathLike) -> str:
    """The text `python -m helpers.book plan PROFILE` prints."""
    measured = load_throughput()
    profile_dict = load_profile(profile)
    table = plan(profile_dict, measured)
    models = sorted({u.model for u in expand(profile_dict)})
    mem = pd.DataFrame({m: memory_gb(m) for m in models}).T
    mem["here"] = [models_.availability(m) for m in models]  # priced either way
    hours = [c for c in table.columns if c.endswith(" h")]
    shown = table[["units", "forward", "backward", "tokens", "PFLOP", *hours]]
    lines = [f"{profile}: {int(table.loc['total', 'units'])} units", "",
             shown.to_string(float_format=lambda v: f"{v:,.3g}"), "",
             "Throughput it rests on (bench/throughput.json, measured "
             f"{measured.get('finished', '?')}):",
             throughput_frame(measured).to_string(index=False, float_format=lambda v: f"{v:,.3g}"),
             "", "GPU kinds without a measurement of their own: datasheet bf16 peak x the share of "
             f"peak measured on {measured['reference']} (an assumption; run bench.throughput on the GPU "
             "to replace it).", "", "Memory per model (bf16 weights; peak with a backward pass over "
             "16 x 512 tokens):", mem.round(2).to_string()]
    mem = mem.drop(columns="here")
    for gpu, gb in GPU_MEMORY_GB.items():
        too_big = [m for m in models if mem.loc[m, "peak GB"] > gb]
        if too_big:
            lines.append(f"  does not fit a {gpu} ({gb} GB) at that batch: {', '.join(too_big)}")
    return "\n".join(lines)
