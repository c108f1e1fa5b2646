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


# ---- the book's "Run on a GPU" page: memory and predicted time of every profile ---------------

GPU_PAGE = "gpu_plan.md"  # written into book/generated/, included by book/gpu.md
PROFILES_DIR = ROOT / "params"
MEMORY_BATCH, MEMORY_TOKENS = 16, 512  # what `make plan` prices peak memory at (memory_gb's defaults)
PAGE_GPU = "H100-SXM"  # the GPU the per-model hours are given for


def significant(value: float | None, digits: int = 2) -> str:
    """`value` to `digits` significant digits, without an exponent: 70312 -> '70,000',
    8.51 -> '8.5', 0.0372 -> '0.037'; '< 0.01' below that, '–' when missing."""
    if value is None or not math.isfinite(value):
        return "–"
    if value == 0:
        return "0"
    if abs(value) < 0.01:
        return "< 0.01"
    decimals = digits - 1 - math.floor(math.log10(abs(value)))
    return f"{round(value, decimals):,.{max(decimals, 0)}f}"


def _units_frame(profile: dict) -> pd.DataFrame:
    todo = expand(profile)
    return pd.DataFrame([{"kind": u.kind, "model": u.model, **unit_cost(u)} for u in todo],
                        columns=["kind", "model", "forward", "backward", "tokens", "flops", "rate"])


def _seconds(frame: pd.DataFrame, rates: dict[str, tuple[float, str]]) -> pd.Series:
    return frame.flops / frame.rate.map(lambda r: rates[r][0] * 1e9)


def model_summary(profile: dict, measured: dict[str, Any] | None = None,
                  gpu: str = PAGE_GPU) -> pd.DataFrame:
    """Per model of a profile: bf16 weights and peak memory (GB, `make plan`'s estimate at
    16 x 512 tokens, forward only and with a backward pass), whether any of its units runs a
    backward pass, the memory it therefore needs, and its predicted hours on one `gpu` at the
    throughput `plan` uses (None without a measured throughput)."""
    frame = _units_frame(profile)
    rates = _rates(measured)[gpu] if measured else None
    rows = {}
    for model in sorted(set(frame.model)):
        own = frame[frame.model == model]
        backward = bool((own.backward > 0).any())
        full, forward = memory_gb(model), memory_gb(model, backward=False)
        rows[model] = {"weights GB": full["weights GB"], "forward peak GB": forward["peak GB"],
                       "backward peak GB": full["peak GB"], "backward": backward,
                       "needs GB": full["peak GB"] if backward else forward["peak GB"],
                       "hours": float(_seconds(own, rates).sum() / 3600) if rates else None}
    return pd.DataFrame.from_dict(rows, orient="index")


def largest_batch(model: str, gb: float, *, backward: bool = True, limit: int = MEMORY_BATCH) -> int:
    """The largest batch (at most `limit`) of 512-token rows whose estimated peak fits `gb`; 0
    when not even one row fits."""
    fitting = [b for b in range(1, limit + 1)
               if memory_gb(model, batch=b, backward=backward)["peak GB"] <= gb]
    return max(fitting, default=0)


def device_summary(profile: dict, measured: dict[str, Any] | None = None) -> pd.DataFrame:
    """Per device kind: its memory (GB, GPUs only), the profile's predicted hours at the
    throughput `plan` uses and, for GPUs, at 30% of the datasheet peak, the GPUs an overnight
    run needs, and how many of the profile's models fit its memory (`model_summary`'s needs)."""
    frame = _units_frame(profile)
    needs = model_summary(profile)["needs GB"]
    rates = _rates(measured) if measured else {}
    rows = {}
    for device in [*GPU_PEAK_TFLOPS, *(d for d in rates if d not in GPU_PEAK_TFLOPS)]:
        gpu = device in GPU_PEAK_TFLOPS
        hours = float(_seconds(frame, rates[device]).sum() / 3600) if device in rates else None
        conservative = (float(frame.flops.sum()) / (GPU_PEAK_TFLOPS[device] * 1e12
                                                    * CONSERVATIVE_SHARE) / 3600 if gpu else None)
        rows[device] = {
            "memory GB": GPU_MEMORY_GB.get(device),
            "hours": hours,
            "source": ("measured" if device in (measured or {}).get("devices", {}) else
                       "assumed" if device in rates else "not priced"),
            "hours at 30%": conservative,
            "GPUs for overnight": max(1, math.ceil(conservative / OVERNIGHT_H)) if gpu else None,
            "models that fit": int((needs <= GPU_MEMORY_GB[device]).sum()) if gpu else None,
            "models": len(needs),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def smallest_gpu(gb: float) -> str:
    """The GPU kinds of GPU_MEMORY_GB with the least memory that still holds `gb` ('none of
    those listed' when none does)."""
    fitting = {g: m for g, m in GPU_MEMORY_GB.items() if gb <= m}
    if not fitting:
        return "none of those listed"
    least = min(fitting.values())
    return " or ".join(g for g, m in fitting.items() if m == least) + f" ({least:g} GB)"


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def time_unit(hours: float) -> tuple[str, float]:
    """The unit a table of durations up to `hours` reads best in, and the factor from hours."""
    return ("h", 1.0) if hours >= 1 else ("min", 60.0) if hours >= 1 / 60 else ("s", 3600.0)


def _scaled(hours: Any, scale: float) -> str:
    return significant(None if hours is None or pd.isna(hours) else float(hours) * scale)


def profile_markdown(path: str | os.PathLike, measured: dict[str, Any] | None) -> str:
    """The "Run on a GPU" section of one profile (MyST Markdown): memory and hours per model,
    hours per device kind, and which GPU memory its unit kinds need."""
    path = Path(path)
    path = path if path.is_absolute() else ROOT / path
    profile = load_profile(path)
    frame = _units_frame(profile)
    models = model_summary(profile, measured)
    models = models.loc[list(dict.fromkeys(frame.model))]  # the profile's order
    devices = device_summary(profile, measured)
    kinds = frame.groupby("kind").agg(units=("kind", "size"), backward=("backward", "sum"))
    with_backward = [k for k in kinds.index if kinds.loc[k, "backward"] > 0]
    forward_only = [k for k in kinds.index if kinds.loc[k, "backward"] == 0]
    lines = [f"(gpu-plan-{path.stem})=", f"### `{_relative(path)}`", "",
             f"{len(models)} model{'s' if len(models) != 1 else ''}, {len(frame):,} units, "
             f"{significant(float(frame.flops.sum()) / 1e15)} PFLOP. Unit kinds with a backward "
             "pass: " + (", ".join(f"{k} ({kinds.loc[k, 'units']:,} units)" for k in with_backward)
                         or "none") + ".", ""]
    unit, scale = time_unit(float(models.hours.sum()) if measured else 1.0)
    gpu_short = PAGE_GPU.split("-")[0]
    lines += [_row(["model", "weights (GB)", "peak, forward only (GB)", "peak with backward (GB)",
                    f"one {gpu_short} ({unit})"]), "|---|---:|---:|---:|---:|"]
    for model, r in models.iterrows():
        lines.append(_row([model, significant(r["weights GB"], 3),
                           significant(r["forward peak GB"], 3),
                           significant(r["backward peak GB"], 3), _scaled(r.hours, scale)]))
    total = float(models.hours.sum()) if measured else None
    lines += [_row(["all models", "", "", "", _scaled(total, scale)]), ""]
    unit, scale = time_unit(float(devices.hours.max()) if measured else 1.0)
    lines += [_row(["device (memory)", f"predicted ({unit})", f"at 30% of peak ({unit})",
                    f"GPUs for a {OVERNIGHT_H:g} h run", "models that fit"]),
              "|---|---:|---:|---:|---:|"]
    for device, r in devices.iterrows():
        gpu = device in GPU_MEMORY_GB
        label = (f"{device} ({r['memory GB']:g} GB)" if gpu else
                 f"{device} ({'one core, ' if device == 'this-cpu' else ''}measured)")
        mark = " *" if r.source == "assumed" else ""
        lines.append(_row([
            label, _scaled(r.hours, scale) + mark, _scaled(r["hours at 30%"], scale),
            f"{int(r['GPUs for overnight'])}" if gpu else "–",
            f"{int(r['models that fit'])} of {int(r.models)}" if gpu else "–"]))
    weights = models["weights GB"]
    parts = [f"The bf16 weights take at most {significant(weights.max(), 3)} GB "
             f"({weights.idxmax()})"]
    if forward_only:
        forward = models["forward peak GB"]
        parts.append(f"the forward-only units ({', '.join(forward_only)}) peak at up to "
                     f"{significant(forward.max(), 3)} GB ({forward.idxmax()})")
    if with_backward:
        back = models.loc[models.backward, "backward peak GB"]
        parts.append(f"the units with a backward pass ({', '.join(with_backward)}) at up to "
                     f"{significant(back.max(), 3)} GB ({back.idxmax()})")
    lines += ["", "; ".join(parts) + f", all at {MEMORY_BATCH} × {MEMORY_TOKENS} tokens."]
    smallest = []
    for what, kinds_, needed in (
            ("forward-only units", forward_only, models["forward peak GB"].max()),
            ("units with a backward pass", with_backward,
             models.loc[models.backward, "backward peak GB"].max() if with_backward else 0)):
        if kinds_:
            smallest.append(f"{what}: {smallest_gpu(needed)}")
    lines.append("Smallest GPU kind listed that holds every one of them at that batch: "
                 + "; ".join(smallest) + ".")
    misfits = []
    for gpu, gb in GPU_MEMORY_GB.items():
        too_big = [m for m in models.index if models.loc[m, "needs GB"] > gb]
        if too_big:
            fits = []
            for m in too_big:
                b = largest_batch(m, gb, backward=bool(models.loc[m, "backward"]))
                fits.append(f"{m} ({f'batch ≤ {b} fits' if b else 'not even batch 1 fits'})")
            misfits.append(f"- does not fit a {gpu} ({gb} GB) at that batch: {', '.join(fits)}")
    lines += ["", *misfits] if misfits else [
        "", f"Every model fits every GPU kind listed at {MEMORY_BATCH} × {MEMORY_TOKENS} tokens."]
    return "\n".join(lines) + "\n"


def gpu_page_markdown(profiles: list[str | os.PathLike] | None = None,
                      measured: dict[str, Any] | None = None) -> str:
    """The generated part of the "Run on a GPU" page: every profile's section (`profile_markdown`),
    after a note on what the numbers rest on. Without `measured`, bench/throughput.json when it
    exists; without it the page gives memory only."""
    profiles = [Path(p) for p in (profiles or sorted(PROFILES_DIR.glob("*.yml")))]
    if measured is None and THROUGHPUT_FILE.exists():
        measured = load_throughput()
    if measured:
        reference = measured["reference"]
        device = measured["devices"][reference]
        source = (f"The hours rest on the throughput `python -m bench.throughput` measured on "
                  f"`{reference}` ({device.get('name', reference)}), finished "
                  f"{str(measured.get('finished', '?'))[:10]}. GPU kinds marked * have no "
                  f"measurement of their own: their prediction is the datasheet bf16 peak times "
                  f"the share of peak measured on `{reference}`, an assumption; the column at "
                  f"{CONSERVATIVE_SHARE:.0%} of peak, the one the GPU count rests on, is the "
                  "cautious alternative.")
    else:
        source = ("No throughput has been measured (`bench/throughput.json` is missing: run "
                  "`python -m bench.throughput`), so the tables give memory only.")
    header = ("<!-- Generated by helpers.plan.write_gpu_page when the book is built, from "
              "params/*.yml, helpers.models and bench/throughput.json: do not edit. -->\n\n")
    sections = [profile_markdown(p, measured) for p in profiles]
    return header + source + "\n\n" + "\n".join(sections)


def write_gpu_page(folder: str | os.PathLike = ROOT / "book" / "generated",
                   profiles: list[str | os.PathLike] | None = None) -> Path:
    """Write folder/gpu_plan.md (`gpu_page_markdown`), which book/gpu.md includes; an unchanged
    page is left alone, so that it triggers no rebuild."""
    from .pages import write_text_atomic

    target = Path(folder) / GPU_PAGE
    markdown = gpu_page_markdown(profiles)
    if not target.exists() or target.read_text(encoding="utf-8") != markdown:
        write_text_atomic(target, markdown)
    return target
