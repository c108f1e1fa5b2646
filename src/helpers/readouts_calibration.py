"""Calibration read back for chapter 3: levels on the ECE scale, reliability bins over the
confidence range a model uses, and temperature scaling on the claims' estimators.

Nothing here computes or keys a unit (see helpers.readouts).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import calibration
from .claims import ConfigChange
from .configs import Config
from .readouts import label


def temperature_scaling(run: Any, grid: Sequence[Config], *, confidence: float = 0.95,
                        alpha: float = 0.05) -> pd.DataFrame:
    """Per configuration of `grid` (ratio 0 included): its temperature fit and what scaling does
    to the test sample, on the estimators of `helpers.claims`.

    From the scores unit: the temperature ``T`` fitted on the calibration split, its percentile
    bootstrap interval over that split (``T_low``, ``T_high``), ``at_bound`` (the fit sits at a
    search bound, so the split does not determine it) and ``n_calibration``. On the test sample,
    the same logits before and after division by ``T`` compared like a full and a pruned model in
    `claims.verdicts`' configuration table: ``ce_before``/``ce_after`` with intervals (roots of
    the ce2 intervals), ``d_ce`` (a point estimate), ``d_ce2`` with its interval and ``p_ce2_fall``
    (one-sided p-value of a fall of ce2), and accuracy, NLL and Brier before and after, with their
    changes (level bounds clipped to each metric's range, `clip_to_range`). These intervals take T as fitted: they leave out the uncertainty of T itself."""
    from .claims import verdicts

    changes, fits, seen = [], [], set()
    for cfg in grid:
        key = (cfg.model, cfg.task, label(cfg), cfg.ratio, cfg.seed, cfg.n_examples, cfg.demo_seed)
        if key in seen:  # the unpruned model of several criteria: one fit
            continue
        seen.add(key)
        rec = run.scores(cfg)
        values = {r["metric"]: r["value"] for r in rec["metrics"]}
        logits = np.asarray(rec["examples"]["logits"], dtype=np.float64)
        changes.append(ConfigChange(
            model=cfg.model, task=cfg.task, criterion=label(cfg), ratio=cfg.ratio,
            example_set=f"{cfg.task}/seed{cfg.seed}/n{cfg.n_examples}",
            labels=np.asarray(rec["examples"]["label"]), probs_full=calibration.softmax(logits),
            probs_pruned=calibration.apply_temperature(logits, values["temperature"]),
            demo_seed=cfg.demo_seed))
        fits.append({"T": values["temperature"], "T_low": values["temperature_low"],
                     "T_high": values["temperature_high"],
                     "at_bound": bool(values["temperature_at_bound"]),
                     "n_calibration": len(rec["examples"]["calibration_label"])})
    if not changes:
        return pd.DataFrame()
    _, table = verdicts(changes, alpha=alpha, confidence=confidence, mde=False)
    table = table.rename(columns=lambda c: c.replace("_full", "_before").replace("_pruned", "_after"))
    table["p_ce2_fall"] = 1.0 - table["p_ce2"]  # the same normal test, the other side
    keep = ["model", "task", "criterion", "ratio", "n", "d_ce", "d_ce2", "d_ce2_low", "d_ce2_high",
            "p_ce2_fall"]
    for m in ("accuracy", "ce", "ce2", "nll", "brier"):
        keep += [f"{m}_{side}{end}" for side in ("before", "after") for end in ("", "_low", "_high")]
        if m != "ce":
            keep += [f"d_{m}", f"d_{m}_low", f"d_{m}_high"]
    out = clip_to_range(table[list(dict.fromkeys(keep))].reset_index(drop=True))
    return pd.concat([out, pd.DataFrame(fits)], axis=1)


# --- calibration levels on the ECE scale (chapter 3) ----------------------------------------------

RANGES = {"accuracy": (0.0, 1.0), "ce": (0.0, 1.0), "nll": (0.0, np.inf), "brier": (0.0, 2.0)}
"""The values each level can take: a bound of its interval outside them is moved onto them (the
true level lies inside, so an interval covers after the move whenever it did before)."""


def clip_to_range(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of a table of levels whose interval bounds (columns ``<metric>_<side>_low`` and
    ``_high``, for the metrics of `RANGES`) are clipped to the metric's range; changes untouched."""
    out = frame.copy()
    for col in out.columns:
        metric, _, rest = col.partition("_")
        if metric in RANGES and rest.endswith(("_low", "_high")):
            out[col] = out[col].clip(*RANGES[metric])
    return out


def config_levels(table: pd.DataFrame, metrics_: Sequence[str] = ("accuracy", "ce", "nll",
                                                                   "brier")) -> pd.DataFrame:
    """The levels of `claims.verdicts`' configuration table as tidy rows against the ratio.

    One row per (model, task, ratio, metric): the unpruned model once per model and task at ratio 0
    (its columns ``*_full``), every pruned configuration at its ratio (``*_pruned``); columns
    model, task, criterion ('full' at ratio 0), ratio, metric, value, low, high, with the bounds
    clipped to the metric's range (`clip_to_range`). ``ce`` is the calibration error on the ECE
    scale, its bounds the roots of the ce2 interval's."""
    if table.empty:
        return pd.DataFrame(columns=["model", "task", "criterion", "ratio", "metric", "value",
                                     "low", "high"])
    table = clip_to_range(table)
    rows = []
    seen = set()
    for r in table.itertuples(index=False):
        sides = [("pruned", r.criterion, r.ratio)]
        if (r.model, r.task) not in seen:
            seen.add((r.model, r.task))
            sides.insert(0, ("full", "full", 0.0))
        for side, criterion, ratio in sides:
            for m in metrics_:
                rows.append({"model": r.model, "task": r.task, "criterion": criterion,
                             "ratio": float(ratio), "metric": m,
                             "value": getattr(r, f"{m}_{side}"),
                             "low": getattr(r, f"{m}_{side}_low"),
                             "high": getattr(r, f"{m}_{side}_high")})
    return pd.DataFrame(rows)


# --- reliability bins over the confidence range a model uses (chapter 3) -------------------------


def wilson_interval(successes: Any, count: Any, confidence: float = 0.95
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Wilson (1927) score interval of a binomial proportion, elementwise (NaN where count is 0).

    It stays inside [0, 1] and keeps its coverage near 0 and 1 and for a handful of trials, where
    the normal (Wald) interval and a bootstrap of the bin's examples collapse to a point."""
    from scipy.stats import norm

    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(count, dtype=np.float64)
    z = float(norm.ppf((1 + confidence) / 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    # At k = 0 or k = n the bounds are 0 and 1 exactly; rounding must not leave p outside them.
    low = np.where(k <= 0, 0.0, np.clip(np.minimum(centre - half, p), 0, 1))
    high = np.where(k >= n, 1.0, np.clip(np.maximum(centre + half, p), 0, 1))
    empty = n <= 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def range_bins(probs: Any, labels: Any, n_bins: int = 10, lowest: float | None = None,
               confidence: float = 0.95) -> pd.DataFrame:
    """Reliability bins over the confidences a model can give: ``n_bins`` equal-width,
    right-closed bins from ``lowest`` (default 1 / number of labels: a top-label confidence is
    never below it, so a binary task uses [0.5, 1]) to 1. Per bin: lo, hi, count, mean
    confidence, accuracy and its Wilson interval (acc_low, acc_high); empty bins hold NaN."""
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1, got {n_bins!r}")
    p, y = np.asarray(probs, dtype=np.float64), np.asarray(labels)
    calibration.reliability_bins(p, y, 1)  # checks the probabilities and the labels
    conf, pred = calibration.confidence_and_prediction(p)
    start = 1.0 / p.shape[1] if lowest is None else float(lowest)
    if not 0 <= start < 1:
        raise ValueError(f"lowest must lie in [0, 1), got {lowest!r}")
    edges = start + (1 - start) * np.arange(n_bins + 1) / n_bins
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    right = np.bincount(idx, weights=(pred == y).astype(np.float64), minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(idx, weights=conf, minlength=n_bins) / count
        accuracy = right / count
    low, high = wilson_interval(right, count, confidence)
    return pd.DataFrame({"lo": edges[:-1], "hi": edges[1:], "count": count,
                         "confidence": mean_conf, "accuracy": accuracy, "acc_low": low,
                         "acc_high": high})
