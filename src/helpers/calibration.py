"""Calibration metrics for label-set probabilities: ECE, MCE, Brier, NLL, temperature scaling.

Conventions:

* Top-label calibration: confidence = max probability, prediction = argmax (ties go to the lowest
  label index), correct = prediction equals the label.
* Uniform bins are right-closed, ``(lo, hi]``, with a confidence of exactly 0 put in the first
  bin, so a confidence of exactly 1.0 lands in the last bin (torchmetrics' left-closed bins put
  it in an extra bin instead). Edges are ``k / n_bins``, so a value such as 0.6 written in code
  sits exactly on its edge and falls in the bin below.
* Quantile (equal-mass) bins: the examples are ranked by confidence and rank ``r`` of ``n`` goes
  to bin ``floor(r * n_bins / n)``; examples with identical confidence all go to the bin of the
  first of them, so the result never depends on the order of the examples. Bins can therefore
  hold unequal counts (or none) when confidences tie.
* ``gap = accuracy - confidence`` per bin (negative = overconfident); ECE is the count-weighted
  mean of ``|gap|`` and MCE its maximum over non-empty bins.
* NLL clips the probability of the true label at ``EPS`` (1e-12), so a zero probability costs
  about 27.6 nats instead of infinity.
* ``reliability_bins`` lists every uniform bin (empty ones with NaN statistics) with its edges,
  and only the non-empty quantile bins, with lo/hi the smallest/largest confidence inside.
* ``fit_temperature`` runs a bounded Brent search over log T in [-7, 7] (deterministic). The NLL
  is convex in 1/T, hence unimodal in log T, so the search finds the global minimum; perfectly
  separable logits push T to the lower bound.
* ``reliability_diagram`` can be called again on the same Axes to overlay another model (each
  call takes the next colour and adds a legend entry with its ECE) or on separate Axes for
  side-by-side panels.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "apply_temperature",
    "brier",
    "calibration_report",
    "confidence_and_prediction",
    "ece",
    "fit_temperature",
    "fit_temperature_ci",
    "mce",
    "nll",
    "reliability_bins",
    "reliability_diagram",
    "softmax",
]

EPS = 1e-12
SUM_TOL = 1e-4
BINNINGS = ("uniform", "quantile")
_LOG_T_BOUNDS = (-7.0, 7.0)  # T in [~0.0009, ~1100]
TEMPERATURE_BOUNDS = (float(np.exp(_LOG_T_BOUNDS[0])), float(np.exp(_LOG_T_BOUNDS[1])))


def _check_probs(probs: Any) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"probs must be a 2-d array (n_examples, n_labels), got shape {p.shape}")
    if p.shape[0] == 0 or p.shape[1] == 0:
        raise ValueError(f"probs is empty (shape {p.shape}); pass at least one example and label")
    if not np.isfinite(p).all():
        raise ValueError("probs contains NaN or inf; check the model outputs before scoring")
    if (p < -SUM_TOL).any() or (p > 1 + SUM_TOL).any():
        raise ValueError("probs must lie in [0, 1]; pass probabilities (softmax the logits first)")
    worst = np.abs(p.sum(axis=1) - 1).max()
    if worst > SUM_TOL:
        raise ValueError(
            f"each row of probs must sum to 1 (tolerance {SUM_TOL}), worst is off by {worst:.3g};"
            " normalise over the label set (softmax of the label logits)"
        )
    return p


def _check_labels(labels: Any, n: int, k: int) -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"labels must be a 1-d array of label indices, got shape {y.shape}")
    if y.shape[0] != n:
        raise ValueError(f"labels has {y.shape[0]} entries but there are {n} rows of scores")
    if y.dtype.kind not in "iu":
        if y.dtype.kind == "f" and np.isfinite(y).all() and (y == np.round(y)).all():
            y = y.astype(np.int64)
        else:
            raise ValueError(f"labels must be integer label indices, got dtype {y.dtype}")
    if n and (y.min() < 0 or y.max() >= k):
        raise ValueError(
            f"labels must lie in 0..{k - 1} (one per column), got {y.min()}..{y.max()}"
        )
    return y.astype(np.int64)


def _check_inputs(probs: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    p = _check_probs(probs)
    return p, _check_labels(labels, *p.shape)


def _check_bins(n_bins: int, binning: str) -> None:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1, got {n_bins!r}")
    if binning not in BINNINGS:
        raise ValueError(f"unknown binning {binning!r}; use one of {BINNINGS}")


def confidence_and_prediction(probs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Top-label confidence (max probability) and prediction (argmax, ties to the lowest index)."""
    p = _check_probs(probs)
    pred = p.argmax(axis=1)  # numpy returns the first maximum
    return p[np.arange(len(p)), pred], pred


def _bin_index(conf: np.ndarray, n_bins: int, binning: str) -> np.ndarray:
    if binning == "uniform":
        edges = np.arange(n_bins + 1) / n_bins
        return np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    _, inverse, counts = np.unique(conf, return_inverse=True, return_counts=True)
    first_rank = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return (first_rank * n_bins // len(conf))[inverse]


def bin_index(probs: Any, n_bins: int = 15, binning: str = "uniform") -> np.ndarray:
    """The confidence bin of each example, as `reliability_bins` and `ece` assign them."""
    _check_bins(n_bins, binning)
    conf, _ = confidence_and_prediction(probs)
    return _bin_index(conf, n_bins, binning)


def reliability_bins(
    probs: Any, labels: Any, n_bins: int = 15, binning: str = "uniform"
) -> pd.DataFrame:
    """Per-bin lo, hi, count, mean confidence, accuracy and gap (accuracy - confidence)."""
    _check_bins(n_bins, binning)
    p, y = _check_inputs(probs, labels)
    conf, pred = confidence_and_prediction(p)
    correct = (pred == y).astype(np.float64)
    idx = _bin_index(conf, n_bins, binning)
    count = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(idx, weights=conf, minlength=n_bins) / count
        accuracy = np.bincount(idx, weights=correct, minlength=n_bins) / count
    if binning == "uniform":
        lo, hi = np.arange(n_bins) / n_bins, np.arange(1, n_bins + 1) / n_bins
    else:
        lo, hi = np.full(n_bins, np.inf), np.full(n_bins, -np.inf)
        np.minimum.at(lo, idx, conf)
        np.maximum.at(hi, idx, conf)
    table = pd.DataFrame(
        {
            "lo": lo,
            "hi": hi,
            "count": count,
            "confidence": mean_conf,
            "accuracy": accuracy,
            "gap": accuracy - mean_conf,
        }
    )
    if binning == "quantile":
        table = table[table["count"] > 0].reset_index(drop=True)
    return table


def ece(probs: Any, labels: Any, n_bins: int = 15, binning: str = "uniform") -> float:
    """Expected calibration error: sum over bins of (n_b / n) * |accuracy_b - confidence_b|."""
    table = reliability_bins(probs, labels, n_bins, binning)
    filled = table[table["count"] > 0]
    return float((filled["count"] * filled["gap"].abs()).sum() / filled["count"].sum())


def mce(probs: Any, labels: Any, n_bins: int = 15, binning: str = "uniform") -> float:
    """Maximum calibration error: the largest |accuracy_b - confidence_b| over non-empty bins."""
    table = reliability_bins(probs, labels, n_bins, binning)
    return float(table.loc[table["count"] > 0, "gap"].abs().max())


def brier(probs: Any, labels: Any) -> float:
    """Mean squared L2 distance between the probability vector and the one-hot label (0..2)."""
    p, y = _check_inputs(probs, labels)
    onehot = np.eye(p.shape[1])[y]
    return float(((p - onehot) ** 2).sum(axis=1).mean())


def nll(probs: Any, labels: Any) -> float:
    """Mean negative log-probability of the true label, clipped at EPS."""
    p, y = _check_inputs(probs, labels)
    return float(-np.log(np.clip(p[np.arange(len(p)), y], EPS, None)).mean())


def _check_logits(logits: Any) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim == 0 or z.size == 0:
        raise ValueError(f"logits must be a non-empty array, got shape {z.shape}")
    if not np.isfinite(z).all():
        raise ValueError("logits contain NaN or inf; check the model outputs")
    return z


def softmax(logits: Any, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax along axis."""
    z = _check_logits(logits)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _check_temperature(temperature: float) -> float:
    t = float(temperature)
    if not np.isfinite(t) or t <= 0:
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    return t


def apply_temperature(logits: Any, temperature: float) -> np.ndarray:
    """Probabilities softmax(logits / temperature) over the last axis."""
    return softmax(_check_logits(logits) / _check_temperature(temperature))


def _nll_at(z: np.ndarray, y: np.ndarray, log_t: float) -> float:
    s = z / np.exp(log_t)
    m = s.max(axis=1)
    lse = m + np.log(np.exp(s - m[:, None]).sum(axis=1))
    return float((lse - s[np.arange(len(s)), y]).mean())


def fit_temperature(logits: Any, labels: Any) -> float:
    """The temperature T > 0 minimising the NLL of softmax(logits / T) (Guo et al. 2017)."""
    from scipy.optimize import minimize_scalar

    z = _check_logits(logits)
    if z.ndim != 2:
        raise ValueError(f"logits must be 2-d (n_examples, n_labels), got shape {z.shape}")
    y = _check_labels(labels, *z.shape)
    result = minimize_scalar(
        lambda log_t: _nll_at(z, y, log_t),
        bounds=_LOG_T_BOUNDS,
        method="bounded",
        options={"xatol": 1e-8},
    )
    return float(np.exp(result.x))


@dataclass(frozen=True)
class TemperatureFit:
    """A fitted temperature with its bootstrap interval and whether it sits at a search bound."""

    temperature: float
    low: float
    high: float
    at_bound: bool
    n: int


def _at_bound(z: np.ndarray, y: np.ndarray, temperature: float) -> bool:
    # at a bound, or no better than one: separable logits make the NLL vanish in floating point
    # long before the lower bound, so the optimum is not determined there either
    log_t = float(np.log(temperature))
    best = _nll_at(z, y, log_t)
    near = min(abs(log_t - b) for b in _LOG_T_BOUNDS) < 1e-3
    return near or best >= min(_nll_at(z, y, b) for b in _LOG_T_BOUNDS) - 1e-12


def fit_temperature_ci(
    logits: Any, labels: Any, *, confidence: float = 0.95, n_resamples: int = 200, seed: int = 0
) -> TemperatureFit:
    """`fit_temperature` with a percentile bootstrap interval (refit per resample) and a bound check.

    A fit at a search bound means the split cannot pin the temperature down (e.g. every example
    correct, so the NLL keeps falling as T shrinks): the result warns, and the caller should mark
    it; the "recalibrated" probabilities would otherwise be one-hot.
    """
    z = _check_logits(logits)
    if z.ndim != 2 or len(z) < 2:
        raise ValueError(f"need at least 2 calibration examples as (n, n_labels) logits, got {z.shape}")
    y = _check_labels(labels, *z.shape)
    t = fit_temperature(z, y)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(z), size=(n_resamples, len(z)))
    boot = np.array([fit_temperature(z[i], y[i]) for i in idx])
    alpha = (1 - confidence) / 2
    low, high = np.quantile(boot, [alpha, 1 - alpha])
    at_bound = _at_bound(z, y, t)
    if at_bound:
        warnings.warn(
            f"the fitted temperature {t:.3g} sits at a search bound: the {len(z)} calibration "
            "examples cannot determine it (e.g. all correct); use a larger calibration split",
            stacklevel=2,
        )
    return TemperatureFit(t, float(low), float(high), at_bound, len(z))


def calibration_report(probs: Any, labels: Any, n_bins: int = 15) -> dict[str, float]:
    """Accuracy, ECE (uniform and quantile bins), MCE, Brier, NLL and mean confidence."""
    p, y = _check_inputs(probs, labels)
    conf, pred = confidence_and_prediction(p)
    return {
        "accuracy": float((pred == y).mean()),
        "ece": ece(p, y, n_bins),
        "ece_quantile": ece(p, y, n_bins, "quantile"),
        "mce": mce(p, y, n_bins),
        "brier": brier(p, y),
        "nll": nll(p, y),
        "mean_confidence": float(conf.mean()),
    }


_COUNTS_GID = "reliability-counts"
_DIAGONAL_GID = "reliability-diagonal"


def reliability_diagram(
    probs: Any,
    labels: Any,
    *,
    n_bins: int = 10,
    ax: Axes | None = None,
    title: str | None = None,
    label: str | None = None,
) -> Axes:
    """Per-bin accuracy against confidence, with the diagonal and an inset histogram of counts."""
    import matplotlib.pyplot as plt

    table = reliability_bins(probs, labels, n_bins)
    score = ece(probs, labels, n_bins)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    if not any(line.get_gid() == _DIAGONAL_GID for line in ax.get_lines()):
        ax.plot([0, 1], [0, 1], ls="--", color="0.5", lw=1, gid=_DIAGONAL_GID, zorder=1)
    filled = table[table["count"] > 0]
    name = label or "model"
    (line,) = ax.plot(
        filled["confidence"], filled["accuracy"], marker="o", ms=4, lw=1.2, zorder=3,
        label=f"{name} (ECE {score:.3f})",
    )
    color = line.get_color()
    width = 1.0 / n_bins
    ax.bar(
        table["lo"], table["accuracy"].fillna(0), width=width, align="edge", color=color,
        alpha=0.25, edgecolor=color, linewidth=0.8, zorder=2,
    )
    counts_ax = next((a for a in ax.child_axes if a.get_gid() == _COUNTS_GID), None)
    if counts_ax is None:
        counts_ax = ax.inset_axes((0.06, 0.66, 0.38, 0.28))
        counts_ax.set_gid(_COUNTS_GID)
        counts_ax.set_xlim(0, 1)
        counts_ax.set_title("examples per bin", fontsize=7)
        counts_ax.tick_params(labelsize=6)
        counts_ax.patch.set_alpha(0.85)
    counts_ax.stairs(table["count"].to_numpy(), np.arange(n_bins + 1) / n_bins, color=color)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("Confidence (max label probability)")
    ax.set_ylabel("Accuracy")
    if title is not None:
        ax.set_title(title)
    elif not ax.get_title():
        ax.set_title(f"Reliability diagram ({n_bins} bins)")
    ax.legend(loc="lower right", fontsize=8)
    return ax
