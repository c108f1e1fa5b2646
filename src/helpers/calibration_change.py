"""The squared top-label calibration error of label-set probabilities as a U-statistic, with the
(co)variances of its estimates and of their changes from Hoeffding's decomposition.

Estimand, per model on a task's example population: the binned squared top-label l2 calibration
error ``CE2 = sum_b P(C in b) * (E[Y - C | C in b])**2``, where ``C`` is the confidence (largest
label-set probability), ``Y = 1[argmax == label]`` and ``b`` runs over the 15 uniform right-closed
bins of ``helpers.calibration``. Its root, ``CE = sqrt(CE2)``, is the binned l2 ECE: on the ECE
scale of the book's other pages, and at least as large as the binned (l1) ECE's population value.

Estimator: with ``r = y - c`` per example, in every bin the average of ``r_i * r_j`` over ordered
pairs of distinct members is unbiased for the bin's squared gap given its members (the exact
version, for ``r``, of the variance correction of Kumar, Liang and Ma 2019, "Verified Uncertainty
Calibration"), and the bins are weighted by ``n_b / n``::

    CE2_hat = (1 / n) sum_b 1 / (n_b - 1) sum_{i != j in b} r_i r_j
            = 1 / (n (n - 1)) sum_{i != j} H_ij,   H_ij = r_i r_j 1[b_i = b_j] (n - 1) / (n_b - 1).

It is a U-statistic of order 2 in the examples once the weights ``(n - 1) / (n_b - 1)`` (about
``1 / P(b)``) are held fixed; it can be negative, and it does not rise when a calibrated model
merely becomes less confident (plain ECE does).

Variance (Hoeffding 1948): ``Var(U) = [4 (n - 2) zeta_1 + 2 zeta_2] / (n (n - 1))`` with ``zeta_1
= Cov(H_12, H_13)`` and ``zeta_2 = Var(H_12)``. Both are estimated without bias from the row sums
``R_i = sum_j H_ij``, ``S = sum_i R_i`` and ``Q = sum_{i != j} H_ij**2`` (sums over distinct
indices), and the same sums of products of two kernels give the covariance of two estimates on the
same examples (a full and a pruned model, two configurations), so a paired change or any average
of changes gets its variance with no resampling. Near zero (calibrated models, or two equally
miscalibrated ones) the first term is about 0 but its unbiased estimate is noise of the size of
the whole variance and correlated with the estimate: used as it is, the one-sided test of a change
rejects 7-11% at level 5% (simulation at n = 200). Each term is therefore clipped at 0, and for
tests the first term's diagonal is taken at the pooled level of the compared models
(``null_first_term``, the variance at 'no change'): the test then rejects 2-4% where calibration
is unchanged, including a calibrated pruned model that is less confident; the interval of a change
(variance at the estimate) covers 0.98-0.99 where both models are equally calibrated and 0.92-0.97
elsewhere. The percentile bootstrap of the former debiased ECE adds the noise of the estimated
projection ``R_i / (n - 1)`` to the first term, which roughly doubles the variance near zero: its
test is valid but weak (per configuration, power 0.2 against 0.48 here when the error doubles;
``bench/verdicts.py`` compares the candidates, including the kernel SKCE of Widmann, Lindsten and
Zachariah 2019, which has more power but no ECE-scale meaning). Holding the bin weights fixed
leaves out the variation of the bin shares, a term of order ``Var(gap_B**2) / n``, negligible at
these sizes (the variance estimates match the simulated variances, ``tests/test_stats.py``).

A single model's level gets a score-type interval (``level_interval``): the variance is modelled
at the hypothesised value theta, ``zeta_1 = kappa theta - theta^2`` with the slope ``kappa =
E[r^2 gap^2] / E[gap^2]`` (``slopes``), which avoids the noisy first-term estimate and its
correlation with the estimate (coverage 0.95-0.97 from calibrated to ce = 0.13 in simulation).

Covariance with a sample mean ``a`` of per-example values on the same examples:
``Cov(a_bar, U) = (2 / n) (E[a_1 H_12] - E[a] theta)``, again estimated without bias.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from helpers.calibration import _bin_index, _check_inputs

__all__ = [
    "N_BINS",
    "ChangeTest",
    "KernelSums",
    "change_from_top_label",
    "kernel_sums",
    "level_interval",
    "mean_u_covariance",
    "null_first_term",
    "paired_change",
    "slopes",
    "squared_ce",
    "top_label",
    "u_covariance",
    "u_covariance_parts",
]

N_BINS = 15


class KernelSums(NamedTuple):
    """Sums of the calibration kernels of O model outputs on the same n examples."""

    n: int
    estimate: np.ndarray  # (O,) the squared calibration error of each output
    rows: np.ndarray  # (O, n) row sums R_i of each output's kernel
    total: np.ndarray  # (O,) S = sum of all entries
    pair_sq: np.ndarray  # (O, O) sum over i != j of H^k_ij H^l_ij


def top_label(probs: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Confidence (largest probability) and 0/1 correctness of the top label, per example."""
    p, y = _check_inputs(probs, labels)
    pred = p.argmax(axis=1)
    return p[np.arange(len(p)), pred], (pred == y).astype(np.float64)


def kernel_sums(conf: Any, correct: Any, n_bins: int = N_BINS) -> KernelSums:
    """Row sums, totals and pairwise kernel products of O outputs (arrays (O, n)) on n examples."""
    c = np.atleast_2d(np.asarray(conf, dtype=np.float64))
    y = np.atleast_2d(np.asarray(correct, dtype=np.float64))
    if c.shape != y.shape:
        raise ValueError(f"conf {c.shape} and correct {y.shape} must have the same shape (O, n)")
    n_out, n = c.shape
    if n < 4:
        raise ValueError(f"need at least 4 examples for the calibration error's variance, got {n}")
    b = _bin_index(c.ravel(), n_bins, "uniform").reshape(n_out, n)
    r = y - c
    key = b + n_bins * np.arange(n_out)[:, None]
    count = np.bincount(key.ravel(), minlength=n_out * n_bins).reshape(n_out, n_bins)
    tot = np.bincount(key.ravel(), weights=r.ravel(), minlength=n_out * n_bins)
    tot = tot.reshape(n_out, n_bins)
    w = np.where(count >= 2, (n - 1) / np.maximum(count - 1, 1), 0.0)
    wi = np.take_along_axis(w, b, axis=1)
    rows = wi * r * (np.take_along_axis(tot, b, axis=1) - r)
    total = rows.sum(axis=1)
    # Q_kl: pairs in the same bin under both outputs; per joint cell (b_k, b_l) with x = r_k r_l,
    # sum over i != j in the cell of x_i x_j is (sum x)^2 - sum x^2
    x = r[:, None, :] * r[None, :, :]
    cell = (b[:, None, :] * n_bins + b[None, :, :]) + (n_bins * n_bins) * np.arange(
        n_out * n_out
    ).reshape(n_out, n_out, 1)
    cell_sum = np.bincount(cell.ravel(), weights=x.ravel(), minlength=n_out**2 * n_bins**2)
    same = cell_sum[cell] - x
    pair_sq = (wi[:, None, :] * wi[None, :, :] * x * same).sum(axis=2)
    return KernelSums(n, total / (n * (n - 1)), rows, total, pair_sq)


def _counts(n: int) -> tuple[float, float, float]:
    n2 = float(n) * (n - 1)
    return n2, n2 * (n - 2), n2 * (n - 2) * (n - 3)


def u_covariance_parts(ks: KernelSums) -> tuple[np.ndarray, np.ndarray]:
    """Unbiased estimates of the two Hoeffding (1948) terms of the (O, O) covariance.

    ``4 (n - 2) zeta_1 / (n (n - 1))`` and ``2 zeta_2 / (n (n - 1))``; their sum is the
    covariance. Both are covariance matrices in the population; the estimates are not (the first
    is noisy near zero), so callers clip each at 0 or project it onto the positive semidefinite
    cone before adding them (``helpers.claims``)."""
    n = ks.n
    n2, n3, n4 = _counts(n)
    p = ks.rows @ ks.rows.T
    tt = (np.outer(ks.total, ks.total) + 2 * ks.pair_sq - 4 * p) / n4  # theta_k theta_l
    zeta1 = (p - ks.pair_sq) / n3 - tt
    zeta2 = ks.pair_sq / n2 - tt
    return 4 * (n - 2) * zeta1 / n2, 2 * zeta2 / n2


def u_covariance(ks: KernelSums) -> np.ndarray:
    """Unbiased estimate of the (O, O) covariance of the O squared calibration errors."""
    first, second = u_covariance_parts(ks)
    return first + second


def mean_u_covariance(values: Any, ks: KernelSums) -> np.ndarray:
    """Unbiased estimate of Cov(mean of values[m], estimate[o]), shape (M, O).

    ``values`` (M, n) are per-example values on the same examples as the kernels."""
    a = np.atleast_2d(np.asarray(values, dtype=np.float64))
    n = ks.n
    n2, n3, _ = _counts(n)
    ar = a @ ks.rows.T  # sum_i a_i R_i
    e_ah = ar / n2
    e_a_theta = (np.outer(a.sum(axis=1), ks.total) - 2 * ar) / n3
    return 2 * (e_ah - e_a_theta) / n


def squared_ce(probs: Any, labels: Any, n_bins: int = N_BINS) -> tuple[float, float]:
    """The squared top-label calibration error of one model and its SE (terms clipped at 0)."""
    conf, correct = top_label(probs, labels)
    ks = kernel_sums(conf[None], correct[None], n_bins)
    first, second = u_covariance_parts(ks)
    var = max(float(first[0, 0]), 0.0) + max(float(second[0, 0]), 0.0)
    return float(ks.estimate[0]), float(np.sqrt(var))


def slopes(conf: Any, correct: Any, n_bins: int = N_BINS, noise: bool = False) -> np.ndarray:
    """Per output, the slope kappa of the first Hoeffding term: zeta_1 = kappa theta - theta^2.

    kappa = E[r^2 gap_B^2] / E[gap_B^2] (a weighted mean of the bins' E[r^2], weights
    P(b) * gap_b^2 estimated by the unbiased within-bin squares, clipped at 0; the overall mean of
    r^2 when no bin has a positive one)."""
    c = np.atleast_2d(np.asarray(conf, dtype=np.float64))
    y = np.atleast_2d(np.asarray(correct, dtype=np.float64))
    n_out, n = c.shape
    b = _bin_index(c.ravel(), n_bins, "uniform").reshape(n_out, n)
    r = y - c
    key = (b + n_bins * np.arange(n_out)[:, None]).ravel()
    size = n_out * n_bins
    count = np.bincount(key, minlength=size).reshape(n_out, n_bins)
    s1 = np.bincount(key, weights=r.ravel(), minlength=size).reshape(n_out, n_bins)
    s2 = np.bincount(key, weights=(r**2).ravel(), minlength=size).reshape(n_out, n_bins)
    with np.errstate(divide="ignore", invalid="ignore"):
        gap2 = np.where(count >= 2, (s1**2 - s2) / (count * (count - 1)), 0.0)
        m2 = np.where(count > 0, s2 / count, 0.0)
    if noise:  # the slope of the first term's estimate against the estimate's own noise
        w = np.where(count >= 2, m2**2, 0.0)
        total = w.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(total > 0, (w * m2).sum(axis=1) / np.where(total > 0, total, 1),
                            (r**2).mean(axis=1))
    w = count * np.maximum(gap2, 0.0)
    total = w.sum(axis=1)
    fallback = (r**2).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, (w * m2).sum(axis=1) / np.where(total > 0, total, 1), fallback)


def level_interval(estimate: float, c0: float, c1: float, c2: float,
                   confidence: float = 0.95) -> tuple[float, float]:
    """Score-type (Wilson 1927) interval for a squared calibration error.

    The theta with (estimate - theta)^2 <= z^2 V(theta), V(theta) = c0 + c1 theta - c2 theta^2
    the variance of the estimate at theta (``c0`` from the second Hoeffding term and any seed
    variance, ``c1`` from the slope of the first, ``c2`` the terms in theta^2). The variance at the
    hypothesised
    value, not at the estimate, is what keeps the interval honest on both sides: the estimate's
    own variance estimate is noisy near zero and correlated with it elsewhere."""
    from scipy.stats import norm

    z2 = float(norm.ppf((1 + confidence) / 2)) ** 2
    a = 1 + z2 * c2
    b = -(2 * estimate + z2 * c1)
    c = estimate**2 - z2 * c0
    disc = max(b * b - 4 * a * c, 0.0)
    return (-b - np.sqrt(disc)) / (2 * a), (-b + np.sqrt(disc)) / (2 * a)


def null_first_term(levels: Any, noise_slopes: Any, weights: Any, n: int) -> float:
    """Shift of the first Hoeffding term of ``weights @ levels`` to the pooled level.

    For a test of 'no change', each output's diagonal first-term estimate, which moves with its
    own level estimate (slope ``4 (n - 2) kappa_noise / (n (n - 1))`` with ``kappa_noise`` from
    ``slopes(..., noise=True)``), is moved to the mean level of the outputs in the contrast:
    without this the variance is small exactly when the full model's estimate is small, i.e. when
    the change looks large (a score-type correction: the variance at the null)."""
    levels = np.asarray(levels, dtype=np.float64)
    u = np.asarray(weights, dtype=np.float64)
    used = u != 0
    pooled = levels[used].mean()
    grad = 4 * (n - 2) / (n * (n - 1.0)) * u**2 * np.asarray(noise_slopes, dtype=np.float64)
    return float(grad[used] @ (pooled - levels[used]))


class ChangeTest(NamedTuple):
    """A change of ce2 (pruned - full) on the same examples, its standard error (each Hoeffding
    term clipped at 0) and the one-sided p-value of 'the pruned model is worse calibrated'."""

    estimate: float
    se: float
    p_value: float


def paired_change(probs_full: Any, probs_pruned: Any, labels: Any,
                  n_bins: int = N_BINS) -> ChangeTest:
    """The ce2 change of one configuration and its one-sided test (as in ``helpers.claims``)."""
    ca, ya = top_label(probs_full, labels)
    cb, yb = top_label(probs_pruned, labels)
    return change_from_top_label(ca, ya, cb, yb, n_bins)


def change_from_top_label(conf_full: Any, correct_full: Any, conf_pruned: Any,
                          correct_pruned: Any, n_bins: int = N_BINS) -> ChangeTest:
    """`paired_change` from top-label confidences and 0/1 correctness."""
    from scipy.stats import norm

    conf = np.stack([conf_full, conf_pruned])
    correct = np.stack([correct_full, correct_pruned])
    ks = kernel_sums(conf, correct, n_bins)
    first, second = u_covariance_parts(ks)
    c = np.array([-1.0, 1.0])
    estimate = float(c @ ks.estimate)
    n = ks.n
    # the first term's diagonal moved to the pooled level ("no change"), see null_first_term
    shift = null_first_term(ks.estimate, slopes(conf, correct, n_bins, noise=True), c, n)
    first_null = float(c @ first @ c) + shift
    se = float(np.sqrt(max(first_null, 0.0) + max(float(c @ second @ c), 0.0)))
    p = float(norm.sf(estimate / se)) if se > 0 else (0.0 if estimate > 0 else 1.0)
    return ChangeTest(estimate, se, p)
