"""Uncertainty for the book's numbers: bootstrap intervals, paired changes, equivalence, FWER/FDR.

Conventions:

* The resampling unit is the test example. One bootstrap index matrix ``idx`` of shape
  ``(n_resamples, n)`` is drawn once and applied to every metric; for a paired change the same row
  resamples the unpruned model (a) and the pruned model (b), so the change is ``metric(b) -
  metric(a)`` on the same examples. Configurations evaluated on the same examples share their
  rows (``grouped_indices``), different example sets are resampled independently.
* Metrics on label-set probabilities ``(n, k)`` and integer labels (``METRICS``): ``accuracy``;
  ``ece``, top-label with 15 uniform right-closed bins, the convention of
  ``helpers.calibration.ece`` (equal to it up to float rounding); ``brier``, the sum over labels
  of the squared error, averaged over examples; ``nll``, clipped at 1e-12 like
  ``helpers.calibration.nll``; ``ece_debiased`` and ``ece_debiased_sq`` below.
* ``ece_debiased_sq`` is the debiased estimator of the squared top-label l2 calibration error of
  Kumar, Liang & Ma (2019, "Verified Uncertainty Calibration", NeurIPS, Sec. 5), on the same
  uniform bins: ``sum_b (n_b / n) * [(acc_b - conf_b)**2 - acc_b (1 - acc_b) / (n_b - 1)]``, where
  the subtracted term is the unbiased estimate of the sampling variance of ``acc_b``; bins with
  fewer than two examples contribute 0 (as in the authors' reference code). Given the bins'
  members it is unbiased for ``sum_b (n_b / n) (E[acc_b] - conf_b)**2`` and can be negative.
  ``ece_debiased`` reports it on the ECE scale as ``sqrt(max(0, ece_debiased_sq))`` (the
  authors' "debiased l2 calibration error"). Plain ECE adds, per bin, the noise of ``acc_b``, so
  it grows when confidence falls towards the middle or bins thin out, even for a calibrated model;
  the debiased estimate does not.
* Intervals are percentile bootstrap intervals. For the binned metrics (``BINNED``) the
  replicates are first shifted so that their mean equals the full-sample estimate (bootstrap bias
  correction, Efron & Tibshirani 1993, Sec. 10): resampling with replacement changes a binned
  error's bias, and a debiased estimate's replicates centre on the biased plug-in value, so the
  plain percentile interval would undo the debiasing. Sample means (accuracy, Brier, NLL,
  ``mean_ci``) use the plain percentile interval. ``Boot.draws`` already carry this shift.
  ``metric_ci`` clips the bounds of ``ece`` and ``ece_debiased`` (never negative) at 0.
* Near zero the bootstrap still overstates the spread of ``ece_debiased_sq`` (the resampled
  population has the inflated plug-in gaps), so its intervals over-cover and its tests are
  conservative; its changes are nevertheless the right scale to test on: the change of the
  clipped root is biased towards "worse" for a model whose estimate is noisier, e.g. a calibrated
  model that became less confident.
* Spearman's rho across configurations (``rank_correlation_ci``) is recomputed on every row of
  jointly resampled per-configuration changes (ranks along axis 1), percentile interval.
* One-sided p-values (``bootstrap_p``) come from the bootstrap standard error: with ``n``
  examples, ``z = (estimate - null) / (se * sqrt(n / (n - 1)))`` referred to Student's t with
  ``n - 1`` degrees of freedom (for a mean this is the one-sample t-test; the normal tail alone is
  too thin at n = 64 once Holm asks for p < 0.002). Unlike the share of replicates beyond the
  null, they have no floor of ``1 / n_resamples``, so Holm's correction over dozens of tests stays
  usable.
* Equivalence (``equivalence``, ``accuracy_equivalence``) uses the (1 - 2 alpha) interval of the
  change b - a, i.e. two one-sided tests at level alpha: ``equivalent`` when the interval lies
  inside ``(-tolerance, tolerance)``; ``kept`` (non-inferiority, what the book calls "accuracy
  kept": an improvement is fine) when its lower bound is above ``-tolerance``; ``lost`` when its
  upper bound is below ``-tolerance`` (a drop larger than the tolerance is shown).
* The claim verdicts (``helpers.claims``) no longer resample: they use analytic covariances
  (``helpers.calibration_change`` for the squared calibration error, whose bootstrap overstates
  the noise near zero, see above), ``psd`` to keep estimated covariance matrices positive
  semidefinite, and ``seed_means`` for demonstration seeds as a random effect (method-of-moments
  variance components, Welch-Satterthwaite degrees of freedom). The bootstrap functions here stay
  for the book's per-model intervals.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from helpers.calibration import EPS, _bin_index, _check_inputs

__all__ = [
    "BINNED",
    "METRICS",
    "N_BINS",
    "Boot",
    "DeltaTest",
    "Equivalence",
    "Interval",
    "accuracy_equivalence",
    "bootstrap_indices",
    "bootstrap_p",
    "equivalence",
    "grouped_indices",
    "mean_boot",
    "mean_ci",
    "metric_boot",
    "metric_ci",
    "metric_value",
    "paired_delta_boot",
    "paired_delta_ci",
    "paired_delta_test",
    "paired_mean_delta_boot",
    "paired_mean_delta_ci",
    "percentile_interval",
    "rank_correlation_ci",
    "spearman_rows",
]

METRICS = ("accuracy", "ece", "ece_debiased", "ece_debiased_sq", "brier", "nll")
BINNED = frozenset({"ece", "ece_debiased", "ece_debiased_sq"})
N_BINS = 15
ALTERNATIVES = ("greater", "less")


class Interval(NamedTuple):
    """A point estimate with the bounds of its interval; unpacks as (estimate, low, high).
    Arrays (one entry per quantity) when computed column-wise."""

    estimate: float
    low: float
    high: float


class Boot(NamedTuple):
    """A full-sample estimate, its bootstrap replicates (bias-shifted for binned metrics) and the
    number of examples each replicate resamples (0 when not from examples). Several quantities at
    once: estimate (m,), draws (n_resamples, m), n an int or (m,)."""

    estimate: Any
    draws: np.ndarray
    n: Any = 0


class DeltaTest(NamedTuple):
    """A paired change b - a, its interval and the one-sided p-value of the chosen direction."""

    estimate: float
    low: float
    high: float
    p_value: float


class Equivalence(NamedTuple):
    """A change b - a, its (1 - 2 alpha) interval and the equivalence decisions it supports
    (arrays when computed column-wise)."""

    estimate: float
    low: float
    high: float
    tolerance: float
    alpha: float
    equivalent: bool
    kept: bool
    lost: bool


# ----------------------------------------------------------------------------------- validation


def _check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; use one of {METRICS}")
    return metric


def _check_confidence(confidence: float, name: str = "confidence") -> float:
    c = float(confidence)
    if not 0 < c < 1:
        raise ValueError(
            f"{name} must lie strictly between 0 and 1 (e.g. 0.95), got {confidence!r}"
        )
    return c


def _check_alpha(alpha: float) -> float:
    a = float(alpha)
    if not 0 < a < 0.5:
        raise ValueError(f"alpha must lie strictly between 0 and 0.5 (e.g. 0.05), got {alpha!r}")
    return a


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_pair(probs: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    p, y = _check_inputs(probs, labels)
    if len(p) < 2:
        raise ValueError(f"need at least 2 examples to resample, got {len(p)}; pass more examples")
    return p, y


def _check_values(values: Any, name: str = "values") -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-d array with one value per example, got shape {v.shape}"
        )
    if len(v) < 2:
        raise ValueError(f"{name} needs at least 2 examples to resample, got {len(v)}")
    if not np.isfinite(v).all():
        raise ValueError(f"{name} contains NaN or inf; drop those examples (in both arrays) first")
    return v


def _check_idx(idx: Any, n: int) -> np.ndarray:
    i = np.asarray(idx)
    if i.ndim != 2 or i.shape[1] != n or i.shape[0] < 2 or i.dtype.kind not in "iu":
        raise ValueError(
            f"idx must be an integer array (n_resamples >= 2, {n}) from bootstrap_indices(n={n}),"
            f" got shape {i.shape} and dtype {i.dtype}"
        )
    if i.min() < 0 or i.max() >= n:
        raise ValueError(f"idx entries must lie in 0..{n - 1}; draw it with bootstrap_indices({n})")
    return i


def _check_same_shape(a: np.ndarray, b: np.ndarray, what: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{what} have shapes {a.shape} and {b.shape}; pass both models' outputs on the same"
            " examples, in the same order"
        )


# -------------------------------------------------------------------------------------- kernels


def _per_example(metric: str, p: np.ndarray, y: np.ndarray) -> np.ndarray:
    rows = np.arange(len(p))
    if metric == "accuracy":
        return (p.argmax(axis=1) == y).astype(np.float64)
    if metric == "brier":
        sq = (p**2).sum(axis=1)
        return sq - 2 * p[rows, y] + 1
    return -np.log(np.clip(p[rows, y], EPS, None))  # nll


def _binned(metric: str, p: np.ndarray, y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The binned metric on every row of idx, with two bincounts over all rows at once."""
    pred = p.argmax(axis=1)
    conf = p[np.arange(len(p)), pred]
    correct = (pred == y).astype(np.int64)
    rows, n = idx.shape
    # key per example: 2 * bin + correct; per resample row, offset by the row's 2 * N_BINS keys
    key = 2 * _bin_index(conf, N_BINS, "uniform") + correct
    flat = (key[idx] + 2 * N_BINS * np.arange(rows)[:, None]).ravel()
    by_key = np.bincount(flat, minlength=2 * N_BINS * rows).reshape(rows, N_BINS, 2)
    conf_sum = np.bincount(flat // 2, weights=conf[idx].ravel(), minlength=N_BINS * rows)
    count, hits = by_key.sum(axis=2).astype(np.float64), by_key[..., 1].astype(np.float64)
    gap_sum = hits - conf_sum.reshape(rows, N_BINS)
    if metric == "ece":  # n_b * |acc_b - conf_b| = |sum over the bin of (correct - conf)|
        return np.abs(gap_sum).sum(axis=1) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        acc = hits / count
        term = count * ((gap_sum / count) ** 2 - acc * (1 - acc) / (count - 1))
    squared = np.where(count >= 2, term, 0.0).sum(axis=1) / n
    if metric == "ece_debiased_sq":
        return squared
    return np.sqrt(np.maximum(squared, 0.0))


def _boot(metric: str, p: np.ndarray, y: np.ndarray, idx: np.ndarray) -> Boot:
    if metric in BINNED:
        estimate = float(_binned(metric, p, y, np.arange(len(p))[None, :])[0])
        draws = _binned(metric, p, y, idx)
        return Boot(estimate, draws - (draws.mean() - estimate), idx.shape[1])
    values = _per_example(metric, p, y)
    return Boot(float(values.mean()), values[idx].mean(axis=1), idx.shape[1])


# ----------------------------------------------------------------------------------- public API


def metric_value(metric: str, probs: Any, labels: Any) -> float:
    """One metric of METRICS on the full sample."""
    p, y = _check_inputs(probs, labels)
    metric = _check_metric(metric)
    if metric in BINNED:
        return float(_binned(metric, p, y, np.arange(len(p))[None, :])[0])
    return float(_per_example(metric, p, y).mean())


def bootstrap_indices(n: int, n_resamples: int = 2000, seed: int = 0) -> np.ndarray:
    """Index matrix (n_resamples, n): each row resamples n examples with replacement."""
    n = _check_int(n, "n (examples)", 2)
    n_resamples = _check_int(n_resamples, "n_resamples", 2)
    seed = _check_int(seed, "seed", 0)
    return np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))


def grouped_indices(
    group_sizes: Mapping[str, int], n_resamples: int = 2000, seed: int = 0
) -> dict[str, np.ndarray]:
    """One index matrix per example set; a set's rows depend only on its name, size and seed."""
    n_resamples = _check_int(n_resamples, "n_resamples", 2)
    seed = _check_int(seed, "seed", 0)
    out = {}
    for name, size in group_sizes.items():
        n = _check_int(size, f"size of example set {name!r}", 2)
        rng = np.random.default_rng([seed, zlib.crc32(str(name).encode())])
        out[name] = rng.integers(0, n, size=(n_resamples, n))
    return out


def metric_boot(metric: str, probs: Any, labels: Any, idx: Any) -> Boot:
    """A metric on the full sample and on every row of idx."""
    metric = _check_metric(metric)
    p, y = _check_pair(probs, labels)
    return _boot(metric, p, y, _check_idx(idx, len(p)))


def paired_delta_boot(metric: str, probs_a: Any, probs_b: Any, labels: Any, idx: Any) -> Boot:
    """The change metric(b) - metric(a), with both models resampled by the same rows of idx."""
    metric = _check_metric(metric)
    _check_same_shape(np.asarray(probs_a), np.asarray(probs_b), "probs_a and probs_b")
    pa, y = _check_pair(probs_a, labels)
    pb, _ = _check_pair(probs_b, labels)
    idx = _check_idx(idx, len(pa))
    a, b = _boot(metric, pa, y, idx), _boot(metric, pb, y, idx)
    return Boot(b.estimate - a.estimate, b.draws - a.draws, len(pa))


def mean_boot(values: Any, idx: Any) -> Boot:
    """The mean of per-example values on the full sample and on every row of idx."""
    v = _check_values(values)
    return Boot(float(v.mean()), v[_check_idx(idx, len(v))].mean(axis=1), len(v))


def paired_mean_delta_boot(values_a: Any, values_b: Any, idx: Any) -> Boot:
    """The change mean(values_b) - mean(values_a) over the same examples, paired by idx."""
    a, b = _check_values(values_a, "values_a"), _check_values(values_b, "values_b")
    _check_same_shape(a, b, "values_a and values_b")
    return mean_boot(b - a, idx)


def _scalar_or_array(x: Any) -> Any:
    a = np.asarray(x)
    return a.item() if a.ndim == 0 else a


def percentile_interval(boot: Boot, confidence: float = 0.95) -> Interval:
    """The equal-tailed percentile interval of the replicates around the full-sample estimate;
    with draws of shape (n_resamples, m) and m estimates, one interval per column."""
    c = _check_confidence(confidence)
    low, high = np.quantile(boot.draws, [(1 - c) / 2, (1 + c) / 2], axis=0)
    estimate = np.asarray(boot.estimate, dtype=np.float64)
    return Interval(_scalar_or_array(estimate), _scalar_or_array(low), _scalar_or_array(high))


def bootstrap_p(boot: Boot, *, alternative: str = "greater", null: float = 0.0) -> Any:
    """One-sided p-value against `null` (greater: H1 estimate > null) from the bootstrap SE;
    column-wise (an array) for draws of shape (n_resamples, m)."""
    from scipy.stats import norm, t

    if alternative not in ALTERNATIVES:
        raise ValueError(f"unknown alternative {alternative!r}; use one of {ALTERNATIVES}")
    estimate = np.asarray(boot.estimate, dtype=np.float64)
    se = np.std(boot.draws, axis=0, ddof=1)
    diff = (estimate - null) if alternative == "greater" else (null - estimate)
    n = np.broadcast_to(np.asarray(boot.n), diff.shape).astype(np.float64)
    # the bootstrap variance of a mean is (n - 1) / n times the usual one; with n - 1 degrees of
    # freedom this is the one-sample t-test for means
    with np.errstate(divide="ignore", invalid="ignore"):
        z = diff / (se * np.sqrt(np.where(n >= 2, n / (n - 1), 1.0)))
        p = np.where(n >= 2, t.sf(z, np.maximum(n - 1, 1)), norm.sf(z))
    p = np.where(se == 0, np.where(diff > 0, 0.0, 1.0), p)
    p = np.where(np.isfinite(diff) & np.isfinite(se), p, np.nan)
    return _scalar_or_array(p)


def metric_ci(
    metric: str,
    probs: Any,
    labels: Any,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """A metric with its percentile bootstrap interval over examples (ECE bounds clipped at 0)."""
    p, y = _check_pair(probs, labels)
    _check_confidence(confidence)
    boot = metric_boot(metric, p, y, bootstrap_indices(len(p), n_resamples, seed))
    est, low, high = percentile_interval(boot, confidence)
    if metric in ("ece", "ece_debiased"):  # the bias shift can push draws of a root below 0
        low, high = max(low, 0.0), max(high, 0.0)
    return Interval(est, low, high)


def paired_delta_ci(
    metric: str,
    probs_a: Any,
    probs_b: Any,
    labels: Any,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """The change metric(b) - metric(a) on the same examples, with a paired bootstrap interval."""
    test = paired_delta_test(
        metric, probs_a, probs_b, labels, confidence=confidence, n_resamples=n_resamples, seed=seed
    )
    return Interval(test.estimate, test.low, test.high)


def paired_delta_test(
    metric: str,
    probs_a: Any,
    probs_b: Any,
    labels: Any,
    *,
    alternative: str = "greater",
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> DeltaTest:
    """The paired change b - a, its interval and the one-sided p-value (greater: b - a > 0)."""
    pa, y = _check_pair(probs_a, labels)
    _check_confidence(confidence)
    boot = paired_delta_boot(metric, pa, probs_b, y, bootstrap_indices(len(pa), n_resamples, seed))
    return DeltaTest(
        *percentile_interval(boot, confidence), bootstrap_p(boot, alternative=alternative)
    )


def mean_ci(
    values: Any, *, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> Interval:
    """The mean of per-example values with its percentile bootstrap interval."""
    v = _check_values(values)
    _check_confidence(confidence)
    return percentile_interval(
        mean_boot(v, bootstrap_indices(len(v), n_resamples, seed)), confidence
    )


def defined_mean_ci(values: Any, *, confidence: float = 0.95, n_resamples: int = 2000,
                    seed: int = 0) -> tuple[float, float, float, int]:
    """`mean_ci` over the finite values only, and how many there are (NaN bounds below 2)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return (float(v[0]) if len(v) else np.nan), np.nan, np.nan, len(v)
    est, low, high = mean_ci(v, confidence=confidence, n_resamples=n_resamples, seed=seed)
    return float(est), float(low), float(high), len(v)


def defined_paired_delta_ci(values_a: Any, values_b: Any, *, confidence: float = 0.95,
                            n_resamples: int = 2000, seed: int = 0) -> tuple[float, float, float, int]:
    """`paired_mean_delta_ci` on the examples where both values are finite, and how many."""
    a = np.asarray(values_a, dtype=np.float64).ravel()
    b = np.asarray(values_b, dtype=np.float64).ravel()
    _check_same_shape(a, b, "values_a and values_b")
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 2:
        return (float(b[ok][0] - a[ok][0]) if ok.any() else np.nan), np.nan, np.nan, int(ok.sum())
    est, low, high = paired_mean_delta_ci(a[ok], b[ok], confidence=confidence,
                                          n_resamples=n_resamples, seed=seed)
    return float(est), float(low), float(high), int(ok.sum())


def paired_mean_delta_ci(
    values_a: Any,
    values_b: Any,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """The change mean(b) - mean(a) of per-example values, with a paired bootstrap interval."""
    a = _check_values(values_a, "values_a")
    _check_confidence(confidence)
    boot = paired_mean_delta_boot(a, values_b, bootstrap_indices(len(a), n_resamples, seed))
    return percentile_interval(boot, confidence)


def _check_tolerance(tolerance: float) -> float:
    t = float(tolerance)
    if not np.isfinite(t) or t < 0:
        raise ValueError(f"tolerance must be a finite number >= 0 (e.g. 0.05), got {tolerance!r}")
    return t


def equivalence(boot: Boot, tolerance: float, alpha: float = 0.05) -> Equivalence:
    """Two one-sided tests on the change b - a: equivalent, kept (no large drop), lost
    (column-wise for draws of shape (n_resamples, m))."""
    t, a = _check_tolerance(tolerance), _check_alpha(alpha)
    est, low, high = percentile_interval(boot, 1 - 2 * a)
    kept, lost = np.greater(low, -t), np.less(high, -t)
    return Equivalence(
        est,
        low,
        high,
        t,
        a,
        equivalent=_scalar_or_array(kept & np.less(high, t)),
        kept=_scalar_or_array(kept),
        lost=_scalar_or_array(lost),
    )


def _check_correct(values: Any, name: str) -> np.ndarray:
    v = _check_values(values, name)
    if not np.isin(v, (0.0, 1.0)).all():
        raise ValueError(f"{name} must hold 0/1 correctness per example (e.g. pred == label)")
    return v


def accuracy_equivalence(
    correct_a: Any,
    correct_b: Any,
    tolerance: float,
    *,
    alpha: float = 0.05,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Equivalence:
    """Paired TOST on 0/1 correctness: is accuracy(b) - accuracy(a) within the tolerance?"""
    a, b = _check_correct(correct_a, "correct_a"), _check_correct(correct_b, "correct_b")
    _check_same_shape(a, b, "correct_a and correct_b")
    boot = paired_mean_delta_boot(a, b, bootstrap_indices(len(a), n_resamples, seed))
    return equivalence(boot, tolerance, alpha)


def spearman_rows(x: Any, y: Any) -> np.ndarray:
    """Spearman's rho of x[i] and y[i] for every row i (average ranks for ties; NaN if flat)."""
    from scipy.stats import rankdata

    a, b = (
        np.atleast_2d(np.asarray(x, dtype=np.float64)),
        np.atleast_2d(np.asarray(y, dtype=np.float64)),
    )
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(
            f"x and y must have the same 2-d shape (rows, items), got {a.shape}, {b.shape}"
        )
    ra, rb = rankdata(a, axis=1), rankdata(b, axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    denom = np.sqrt((ra**2).sum(axis=1) * (rb**2).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, (ra * rb).sum(axis=1) / denom, np.nan)


def rank_correlation_ci(
    x_boot: Any, y_boot: Any, x_hat: Any, y_hat: Any, *, confidence: float = 0.95
) -> Interval:
    """Spearman's rho between two per-configuration vectors, with a percentile interval over
    jointly resampled replicates (rows: resamples, columns: configurations); NaN if undefined."""
    c = _check_confidence(confidence)
    xh, yh = np.asarray(x_hat, dtype=np.float64), np.asarray(y_hat, dtype=np.float64)
    xb, yb = np.asarray(x_boot, dtype=np.float64), np.asarray(y_boot, dtype=np.float64)
    if xh.ndim != 1 or xh.shape != yh.shape or len(xh) < 3:
        raise ValueError(
            f"x_hat and y_hat must be 1-d of equal length >= 3, got {xh.shape}, {yh.shape}"
        )
    if xb.ndim != 2 or xb.shape != yb.shape or xb.shape[1] != len(xh):
        raise ValueError(
            f"x_boot and y_boot must be (n_resamples, {len(xh)}) like the estimates, got"
            f" {xb.shape}, {yb.shape}"
        )
    if not (
        np.isfinite(xh).all()
        and np.isfinite(yh).all()
        and np.isfinite(xb).all()
        and np.isfinite(yb).all()
    ):
        raise ValueError("changes contain NaN or inf; drop those configurations first")
    estimate = float(spearman_rows(xh, yh)[0])
    draws = spearman_rows(xb, yb)
    draws = draws[np.isfinite(draws)]
    if not np.isfinite(estimate) or len(draws) < max(2, len(xb) // 2):
        return Interval(estimate, float("nan"), float("nan"))
    return percentile_interval(Boot(estimate, draws), c)
