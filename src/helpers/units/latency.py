"""Unit kind `latency`: parameters and the median prefill time of a configuration, full vs pruned."""

from __future__ import annotations

import time

import numpy as np
import torch

from .. import pruning
from ..configs import Config
from ..criteria import n_to_drop
from ..models import model_shape
from .base import Cost, Job, Settings, Unit, UnitKind
from .layer_scores import pruning_dependency
from .scores import metric_rows


def latency_unit(cfg: Config, settings: Settings, *, batch: int, tokens: int,
                 repeats: int = 3) -> Unit:
    """The `latency` unit of a configuration: `repeats` timed forwards of batch x tokens."""
    args = {"batch": int(batch), "tokens": int(tokens), "repeats": int(repeats)}
    return Unit("latency", cfg.model, cfg, tuple(sorted(args.items())), settings)


def keyed_on(unit: Unit) -> dict:
    """The configuration and the timed shape."""
    ident = unit.config.identity()
    ident.pop("model")
    return {**ident, **dict(unit.args)}


def deps(unit: Unit) -> dict[str, Unit]:
    """The criterion's layer scores, when it ranks scores."""
    return pruning_dependency(unit)


@torch.inference_mode()
def compute(job: Job) -> dict:
    """Parameter count and median prefill time (last-position logits only) over a random batch."""
    cfg = job.unit.config
    batch, tokens, repeats = (job.unit.arg(k) for k in ("batch", "tokens", "repeats"))
    layers = job.layers()
    model, _ = job.pool.get(cfg.model, layers)
    dev = next(model.parameters()).device
    ids = torch.randint(10, model.config.vocab_size - 10, (batch, tokens),
                        generator=torch.Generator().manual_seed(0)).to(dev)
    # a classifier reads one position's logits: computing all of them would time the LM head
    model(input_ids=ids, use_cache=False, logits_to_keep=1)  # warm-up
    times = []
    for _ in range(repeats):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        model(input_ids=ids, use_cache=False, logits_to_keep=1)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    values = {"parameters": pruning.count_parameters(model), "forward_s": float(np.median(times)),
              "forward_s_min": float(np.min(times)), "forward_s_max": float(np.max(times))}
    return {"layers": layers, "metrics": metric_rows(cfg, layers, values)}


def cost(unit: Unit) -> Cost:
    """A warm-up and `repeats` forwards over batch x tokens."""
    shape = model_shape(unit.model)
    dropped = n_to_drop(shape.layers, unit.config.ratio)
    a = dict(unit.args)
    tokens = (1 + a["repeats"]) * a["batch"] * a["tokens"]
    return Cost(forward=1 + a["repeats"], backward=0, tokens=tokens,
                flops=shape.forward_flops(tokens, a["tokens"] / 2, dropped), rate="latency")


KIND = UnitKind("latency", "parameters and prefill time of a configuration", compute, keyed_on,
                deps, cost)
