"""Unit kind `scores`: label logits of a configuration on its test sample and calibration split.

Stored per example (so every interval and figure comes from the store): the test examples'
uids, labels, label-set logits and label-word mass (the probability the whole next-token
distribution puts on the label words' first tokens: what the label-set normalisation hides), and
the calibration split's labels and logits; with them the
configuration's accuracy and calibration metrics before and after temperature scaling (fitted on
the calibration split, with the temperature's interval). Pruned by the criterion's layers, which
come from its `layer_scores` dependency when it ranks scores.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import calibration, scoring
from ..configs import Config
from ..tasks import get_task, load_task
from . import costs
from .base import Cost, Job, Settings, Unit, UnitKind
from .layer_scores import pruning_dependency


def scores_unit(cfg: Config, settings: Settings) -> Unit:
    """The `scores` unit of a configuration."""
    return Unit("scores", cfg.model, cfg, (), settings)


def metric_rows(cfg: Config, layers: list[int], values: dict[str, float], **extra: Any) -> list[dict]:
    """Tidy rows (one per metric) describing a configuration's values."""
    base = {"model": cfg.model, "task": cfg.task, "criterion": cfg.criterion if cfg.ratio else "none",
            "ratio": cfg.ratio, "n_dropped": len(layers), "shots": cfg.shots, "seed": cfg.seed,
            "demo_seed": cfg.demo_seed, **extra}
    return [{**base, "metric": k, "value": float(v)} for k, v in values.items()]


def compute(job: Job) -> dict:
    """Label logits of the test sample and the calibration split, with their metrics."""
    cfg, s = job.unit.config, job.unit.settings
    layers = job.layers()
    model, tok = job.pool.get(cfg.model, layers)
    task = get_task(cfg.task)
    test = load_task(cfg.task, split="test", n=cfg.n_examples, seed=cfg.seed)
    held = load_task(cfg.task, split="calibration", n=cfg.n_calibration, seed=cfg.seed)
    kw = dict(shots=cfg.shots, seed=cfg.demo_seed, batch_size=s.batch_size, share=True)
    logits, log_mass = scoring.label_logits(model, tok, task, test, with_mass=True, **kw)
    cal_logits = scoring.label_logits(model, tok, task, held, **kw)
    y, y_cal = [e.label for e in test], [e.label for e in held]
    probs = calibration.softmax(logits)
    fit = calibration.fit_temperature_ci(cal_logits, y_cal)
    scaled = calibration.apply_temperature(logits, fit.temperature)
    before = calibration.calibration_report(probs, y, n_bins=cfg.n_bins)
    after = calibration.calibration_report(scaled, y, n_bins=cfg.n_bins)
    values = {**before, **{f"{k}_ts": v for k, v in after.items()},
              "temperature": fit.temperature, "temperature_low": fit.low,
              "temperature_high": fit.high, "temperature_at_bound": float(fit.at_bound)}
    return {
        "layers": layers,
        "metrics": metric_rows(cfg, layers, values),
        "examples": {"uid": [e.uid for e in test], "label": y, "logits": logits.tolist(),
                     "label_mass": np.exp(log_mass.astype(np.float64)).round(7).tolist(),
                     "calibration_label": y_cal, "calibration_logits": cal_logits.tolist()},
    }


def keyed_on(unit: Unit) -> dict:
    """The configuration (normalised) is all a `scores` unit depends on beyond its layers."""
    ident = unit.config.identity()
    ident.pop("model")
    return ident


def deps(unit: Unit) -> dict[str, Unit]:
    """The criterion's per-layer scores, when a pruned configuration's criterion ranks scores."""
    return pruning_dependency(unit)


def cost(unit: Unit) -> Cost:
    """One forward per test and calibration example (the shared prefix once)."""
    cfg = unit.config
    shape, dropped, body, prefix, context = costs.prompt(cfg)
    n = cfg.n_examples + cfg.n_calibration
    tokens = n * body + prefix
    return Cost(forward=n, backward=0, tokens=tokens,
                flops=shape.forward_flops(tokens, context, dropped), rate="scores")


KIND = UnitKind("scores", "label logits, accuracy and calibration of a configuration",
                compute, keyed_on, deps, cost)
