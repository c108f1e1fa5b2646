"""Unit kind `faithfulness`: one attribution method's token scores and their ERASER probabilities.

Per example of the first `n_examples` of the test sample (samples nest, so these are test
examples): the attributed tokens and scores, the explained (predicted) label, and every
probability the ERASER metrics and their normalised forms are computed from. A pruned
configuration depends on its full model's unit: where its own prediction differs, it also keeps
the attributions of the FULL model's predicted label (drift: the same label explained by both).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .. import attribution as attr
from .. import faithfulness as faith
from ..configs import Config
from ..tasks import get_task, load_task
from . import costs
from .base import Cost, Job, Settings, Unit, UnitKind
from .layer_scores import pruning_dependency
from .scores import metric_rows


def method_options(method: str, ig_steps: int) -> dict:
    """The options a profile passes to one attribution method."""
    return {"n_steps": ig_steps} if method == "integrated_gradients" else {}


def faithfulness_unit(cfg: Config, settings: Settings, method: str, n_examples: int,
                      fractions: Sequence[float], ig_steps: int) -> Unit:
    """The `faithfulness` unit of a configuration and method."""
    args = {"method": method, "n_examples": int(n_examples),
            "fractions": tuple(float(f) for f in fractions),
            "options": tuple(sorted(method_options(method, ig_steps).items()))}
    return Unit("faithfulness", cfg.model, cfg, tuple(sorted(args.items())), settings)


def keyed_on(unit: Unit) -> dict:
    """The configuration, the method and its options, the examples and the fractions."""
    ident = unit.config.identity()
    ident.pop("model")
    return {**ident, "method": unit.arg("method"), "n_faithfulness": unit.arg("n_examples"),
            "fractions": list(unit.arg("fractions")), "options": dict(unit.arg("options"))}


def deps(unit: Unit) -> dict[str, Unit]:
    """The criterion's layer scores and, for a pruned configuration, the full model's unit."""
    out = pruning_dependency(unit)
    if unit.config.pruned:
        out["full"] = Unit("faithfulness", unit.model, unit.config.unpruned(), unit.args,
                           unit.settings)
    return out


def compute(job: Job) -> dict:
    """Attribute, then delete and keep the top tokens at every fraction, and store it all."""
    unit, cfg = job.unit, job.unit.config
    method, n, fractions = unit.arg("method"), unit.arg("n_examples"), unit.arg("fractions")
    options = dict(unit.arg("options"))
    batch = max(1, unit.settings.batch_size // 2)  # attribution keeps activations for a backward
    layers = job.layers()
    model, tok = job.pool.get(cfg.model, layers)
    task = get_task(cfg.task)
    examples = load_task(cfg.task, split="test", n=cfg.n_examples, seed=cfg.seed)[:n]
    kw = dict(shots=cfg.shots, seed=cfg.demo_seed, batch_size=batch)
    start = time.perf_counter()
    attributions = attr.attribute(model, tok, task, examples, method=method, keep_states=True,
                                  **kw, **options)
    seconds = time.perf_counter() - start
    result = faith.comprehensiveness_sufficiency(
        model, tok, task, examples, attributions, fractions=fractions, shots=cfg.shots,
        seed=cfg.demo_seed, batch_size=2 * unit.settings.batch_size, recorded_full=True,
        share=not cfg.pruned)  # a pruned variant reuses the full model's perturbed inputs
    fixed_scores: list = [None] * len(examples)
    full = job.deps.get("full")
    if full is not None:
        full_targets = full["examples"]["target"]
        flipped = [i for i, a in enumerate(attributions) if a.target != full_targets[i]]
        others = {i: attr.other_label_scores(method, len(task.labels), attributions[i].scores)
                  for i in flipped}
        for i, other in others.items():
            if other is not None:
                fixed_scores[i] = other.round(7).tolist()
        flipped = [i for i in flipped if others[i] is None]
        if flipped:
            again = attr.attribute(model, tok, task, [examples[i] for i in flipped], method=method,
                                   targets=[full_targets[i] for i in flipped], **kw, **options)
            for i, a in zip(flipped, again, strict=True):
                fixed_scores[i] = np.asarray(a.scores, dtype=float).round(7).tolist()
    rows = []
    for r in faith.summarize([result]).itertuples():
        frac = None if pd.isna(r.fraction) else float(r.fraction)
        rows += metric_rows(cfg, layers, {r.metric: r.value}, method=method, fraction=frac,
                            sem=None if pd.isna(r.sem) else float(r.sem))
    rows += metric_rows(cfg, layers, {"examples_per_second": len(examples) / seconds},
                        method=method)
    deltas = [a.details.get("delta") for a in attributions]
    return {
        "layers": layers,
        "metrics": rows,
        "examples": {
            "uid": [e.uid for e in examples],
            "tokens": [a.tokens for a in attributions],
            "token_ids": [list(map(int, a.token_ids)) for a in attributions],
            "scores": [np.asarray(a.scores, dtype=float).round(7).tolist() for a in attributions],
            "target": [int(a.target) for a in attributions],
            "scores_full_target": fixed_scores,
            "n_tokens": result.n_tokens.tolist(),
            "k": result.k.tolist(),
            "p_full": result.p_full.tolist(),
            "p_empty": result.p_empty.tolist(),
            "p_without": result.p_without.tolist(),
            "p_only": result.p_only.tolist(),
            "completeness_error": deltas if any(d is not None for d in deltas) else None,
            "layer": next((a.layer for a in attributions if a.layer is not None), None),
        },
    }


def method_passes(method: str, options: dict, body: float) -> tuple[float, float]:
    """(forward, backward) passes over one example's body for one attribution method."""
    if method in ("gradient", "input_x_gradient", "lrp", "lrp_cp"):
        return 1, 1
    if method == "integrated_gradients":
        steps = options.get("n_steps", 16)
        return steps, steps
    if method == "occlusion":
        return 1 + body, 0  # one row per deleted token
    if method == "attention":
        return 1, 0
    return 0, 0  # random


def cost(unit: Unit) -> Cost:
    """The method's passes plus the erasures: without / only the top tokens per fraction."""
    shape, dropped, body, _, context = costs.prompt(unit.config)
    n, fractions = unit.arg("n_examples"), unit.arg("fractions")
    fwd, bwd = method_passes(unit.arg("method"), dict(unit.arg("options")), body)
    erase = 2 * len(fractions) + 1  # without / only top-k per fraction, empty (p(y|x) recorded)
    as_forward = n * body * (fwd + erase + 2 * bwd)  # a backward costs two forwards
    return Cost(forward=n * (fwd + erase), backward=n * bwd, tokens=n * body * (fwd + erase + bwd),
                flops=shape.forward_flops(as_forward, context, dropped), rate="faithfulness")


KIND = UnitKind("faithfulness", "token attributions of one method and their ERASER probabilities",
                compute, keyed_on, deps, cost)
