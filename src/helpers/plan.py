"""What a profile's grid costs: passes, tokens and FLOPs of every unit, and the time they predict.

    python -m helpers.book plan params/paper.yml

Counts come from the profile alone (`helpers.units.expand`, the models' shapes, the tasks' mean
lengths): no model is loaded. A forward pass over t tokens costs 2 x (linear weights) x t FLOPs
plus the attention scores; a backward pass twice that. Time = FLOPs / throughput, where each unit
kind's throughput is measured by `python -m bench.throughput` on the machine it runs on
(bench/throughput.json): the achieved FLOP/s of that kind and, beside it, the share of the same
machine's measured matmul peak it reaches. A device kind without its own measurement is predicted
from its datasheet peak times the share measured here: an assumption, named as such in the table.
"""

from __future__ import annotations

import json
import math
import os
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

from . import models as models_
from .book import ROOT, load_profile
from .models import Shape
from .units import Unit, expand

THROUGHPUT_FILE = ROOT / "bench" / "throughput.json"
OVERNIGHT_H = 12.0
# The share of peak the appendix also plans with: a GPU running these small-batch, eager-mode
# passes is unlikely to reach the share a CPU core reaches, so the GPU count rests on this one.
CONSERVATIVE_SHARE = 0.3
# Dense bf16 datasheet peaks (TFLOP/s, no sparsity) of the GPUs a reader is likely to rent.
GPU_PEAK_TFLOPS = {"H100-SXM": 989.0, "A100-80GB": 312.0, "L40S": 362.0, "L4": 121.0}
GPU_MEMORY_GB = {"H100-SXM": 80, "A100-80GB": 80, "L40S": 48, "L4": 24}

# Mean tokens of one example's text for hub tasks (their test splits, Llama-3 tokenizer, rounded).
HUB_BODY_TOKENS = {"hub:sst2": 25, "hub:imdb": 300, "hub:rotten_tomatoes": 27, "hub:ag_news": 55,
                   "hub:trec": 13, "hub:boolq": 150, "hub:tweet_eval_sentiment": 30,
                   "hub:yelp_polarity": 180}
TOKENS_PER_WORD = 1.35
PROMPT_OVERHEAD = 25  # instruction and answer cue around the demonstrations
LABEL_SUFFIX = 4  # "Sentiment:" after each body


def model_shape(name: str) -> Shape:
    """A model's shape (helpers.models: the offline specs, the hub table, a folder's config)."""
    return models_.model_shape(name)


@cache
def body_tokens(task: str) -> float:
    """Mean tokens of one example of a task (offline: its test texts' words x 1.35)."""
    if task in HUB_BODY_TOKENS:
        return float(HUB_BODY_TOKENS[task])
    from .tasks import load_task

    texts = [e.text for e in load_task(task, split="test")]
    return TOKENS_PER_WORD * sum(len(t.split()) for t in texts) / max(1, len(texts))


def _n_labels(task: str) -> int:
    from .tasks import get_task

    return len(get_task(task).labels)


def _method_passes(method: str, options: dict, body: float, ig_steps: int) -> tuple[float, float]:
    """(forward, backward) passes over one example's body for one attribution method."""
    if method in ("gradient", "input_x_gradient", "lrp", "lrp_cp"):
        return 1, 1
    if method == "integrated_gradients":
        steps = options.get("n_steps", ig_steps)
        return steps, steps
    if method == "occlusion":
        return 1 + body, 0  # one row per deleted token
    if method == "attention":
        return 1, 0
    return 0, 0  # random


def unit_cost(unit: Unit) -> dict[str, float]:
    """Forward and backward passes, tokens and FLOPs of one unit."""
    shape = model_shape(unit.model)
    a = dict(unit.args)
    if unit.kind == "importance":
        tokens = a["n_texts"] * a["max_length"]  # news articles fill the window
        return {"forward": a["n_texts"], "backward": 0, "tokens": tokens,
                "flops": shape.forward_flops(tokens, a["max_length"] / 2)}
    cfg = unit.config
    dropped = int(math.floor(cfg.ratio * shape.layers + 1e-9))
    body = body_tokens(cfg.task) + LABEL_SUFFIX
    prefix = PROMPT_OVERHEAD + cfg.shots * _n_labels(cfg.task) * (body + 2)
    context = prefix + body / 2  # the prefix's keys are cached; bodies attend to them
    if unit.kind == "latency":
        tokens = (1 + a["repeats"]) * a["batch"] * a["tokens"]
        return {"forward": (1 + a["repeats"]), "backward": 0, "tokens": tokens,
                "flops": shape.forward_flops(tokens, a["tokens"] / 2, dropped)}
    if unit.kind == "scores":
        n = cfg.n_examples + cfg.n_calibration
        tokens = n * body + prefix
        return {"forward": n, "backward": 0, "tokens": tokens,
                "flops": shape.forward_flops(tokens, context, dropped)}
    if unit.kind == "faithfulness":
        n, fractions = a["n_examples"], a["fractions"]
        fwd, bwd = _method_passes(a["method"], dict(a["options"]), body, 8)
        erase = 2 * len(fractions) + 2  # without / only top-k per fraction, full, empty
        as_forward = n * body * (fwd + erase + 2 * bwd)  # a backward costs two forwards
        return {"forward": n * (fwd + erase), "backward": n * bwd,
                "tokens": n * body * (fwd + erase + bwd),
                "flops": shape.forward_flops(as_forward, context, dropped)}
    if unit.kind in ("oracle", "greedy_kl"):  # label scoring of the calibration split, repeated
        n = cfg.n_calibration
        if unit.kind == "oracle":
            passes = shape.layers  # each sub-layer dropped alone
        else:
            s = dict(unit.settings)
            n = min(n, int(s.get("greedy_examples") or 32))
            steps = int(math.floor(max(float(s.get("greedy_max_ratio") or 0.5), cfg.ratio)
                                   * shape.layers + 1e-9))
            passes = 1 + sum(shape.layers - k for k in range(steps))
        tokens = passes * n * body
        return {"forward": passes * n, "backward": 0, "tokens": tokens,
                "flops": shape.forward_flops(tokens, context)}
    if unit.kind == "relevance":  # one forward and one backward over the reference texts
        s = dict(unit.settings)
        n, length = int(s.get("importance_texts") or 32), int(s.get("importance_max_length") or 128)
        return {"forward": n, "backward": n, "tokens": n * length,
                "flops": shape.forward_flops(3 * n * length, length / 2)}
    nan = float("nan")  # a kind without a cost model
    return {"forward": nan, "backward": nan, "tokens": nan, "flops": nan}


# kinds priced at the measured throughput of the kind whose passes they repeat
RATE_OF = {"oracle": "scores", "greedy_kl": "scores", "relevance": "faithfulness"}


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
    s = model_shape(name)
    weights = s.params * bytes_per
    per_layer = batch * tokens * (s.hidden * 10 + s.intermediate * 3) * bytes_per
    logits = batch * s.vocab * 4  # float32 logits of the last position
    acts = per_layer * (s.layers if backward else 2) + logits
    return {"weights GB": weights / 1e9, "peak GB": (weights + acts) / 1e9}


def plan(profile: str | os.PathLike | dict, measured: dict[str, Any] | None = None) -> pd.DataFrame:
    """Per unit kind: units, passes, tokens, PFLOPs and predicted hours on each device kind."""
    units = expand(profile if isinstance(profile, dict) else load_profile(profile))
    measured = measured or load_throughput()
    rates = _rates(measured)
    rows = []
    for u in units:
        rows.append({"kind": u.kind, "model": u.model, **unit_cost(u)})
    frame = pd.DataFrame(rows)
    table = frame.groupby("kind").agg(units=("kind", "size"), forward=("forward", "sum"),
                                      backward=("backward", "sum"), tokens=("tokens", "sum"),
                                      flops=("flops", "sum"))
    for device, per_kind in rates.items():
        table[f"{device} h"] = [row.flops / (per_kind[RATE_OF.get(k, k)][0] * 1e9) / 3600
                                for k, row in table.iterrows()]
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
        models = sorted({u.model for u in expand(load_profile(path))})
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
