"""Between-configuration heterogeneity of correlated changes: a generalised Cochran Q and the
Q-profile interval of the random-effects SD tau, with the full covariance of the estimates.

Model: the estimated changes ``y`` (k,) of k configurations are ``N(mu 1, V + tau^2 I)``, where V
is the sampling covariance of the estimates (configurations that share test examples or an
unpruned model are correlated, so V is not diagonal) and tau the SD of the true changes around
their mean. With ``W = (V + tau^2 I)^-1`` and the GLS mean ``mu_hat = 1'W y / 1'W 1``, the
generalised Q statistic ``Q(tau^2) = (y - mu_hat 1)' W (y - mu_hat 1)`` is chi-square with k - 1
degrees of freedom at the true tau^2 (for known V) and decreases in tau^2 (its derivative is
``-y' P^2 y`` with P the GLS residual operator), so ``{tau^2: Q(tau^2) between the chi-square
quantiles}`` is an exact confidence set (the Q-profile method of Viechtbauer 2007, here with a
full V; Cochran 1954 for Q(0)). One-sided: tau > t0 is shown at level alpha when
``Q(t0^2) > chi2_{k-1}(1 - alpha)``, tau < t0 when ``Q(t0^2) < chi2_{k-1}(alpha)``. The point
estimate solves ``Q(tau^2) = k - 1`` (a generalised Paule-Mandel estimator; 0 when Q(0) < k - 1).
Everything is on the scale of y. V is an estimate: with few examples per configuration Q(0) runs
somewhat above its chi-square law (as Hotelling's statistic does), which makes a test of tau > 0
liberal but hardly affects a test of tau > t0 for a margin t0 well above the standard errors.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from scipy.optimize import brentq
from scipy.stats import chi2

__all__ = ["Heterogeneity", "generalized_q", "heterogeneity"]


class Heterogeneity(NamedTuple):
    """tau (SD of the true changes), its interval, Cochran's Q test and the margin tests."""

    k: int
    mean: float  # GLS mean at tau_hat
    tau: float
    tau_low: float
    tau_high: float
    q: float  # Q(0)
    p_q: float  # P(chi2_{k-1} >= Q(0)): any heterogeneity
    p_above: float  # one-sided p-value of tau <= margin (small: tau > margin)
    p_below: float  # one-sided p-value of tau >= margin (small: tau < margin)


def _prepared(y: Any, v: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    if y.ndim != 1 or v.shape != (len(y), len(y)):
        raise ValueError(f"need y (k,) and V (k, k), got {y.shape} and {v.shape}")
    if not (np.isfinite(y).all() and np.isfinite(v).all()):
        raise ValueError("y and V must be finite")
    lam, u = np.linalg.eigh((v + v.T) / 2)
    floor = 1e-12 * max(float(np.abs(lam).max()), 1e-300)
    return u.T @ y, u.T @ np.ones(len(y)), np.maximum(lam, floor)


def _q(yu: np.ndarray, ou: np.ndarray, lam: np.ndarray, tau2: float) -> float:
    w = 1.0 / (lam + tau2)
    return float((w * yu**2).sum() - (w * yu * ou).sum() ** 2 / (w * ou**2).sum())


def generalized_q(y: Any, v: Any, tau2: float = 0.0) -> float:
    """The generalised Cochran Q of estimates y with sampling covariance V, at tau^2."""
    yu, ou, lam = _prepared(y, v)
    return _q(yu, ou, lam, float(tau2))


def _root(yu: np.ndarray, ou: np.ndarray, lam: np.ndarray, target: float) -> float:
    """The tau^2 where Q(tau^2) = target (0 when Q(0) <= target)."""
    if _q(yu, ou, lam, 0.0) <= target:
        return 0.0
    hi = max(float(lam.max()), float(np.var(yu)) + 1e-300)
    while _q(yu, ou, lam, hi) > target:
        hi *= 4
    return float(brentq(lambda t: _q(yu, ou, lam, t) - target, 0.0, hi, xtol=1e-14 * hi,
                        rtol=1e-10))


def heterogeneity(y: Any, v: Any, *, margin: float = 0.0,
                  confidence: float = 0.95) -> Heterogeneity:
    """Generalised Q test, Q-profile interval for tau and one-sided tests of tau against margin."""
    yu, ou, lam = _prepared(y, v)
    k = len(yu)
    if k < 2:
        nan = float("nan")
        return Heterogeneity(k, nan, nan, nan, nan, nan, nan, nan, nan)
    if lam.max() <= 1e-290:  # no sampling noise at all: the changes are the true ones
        values = np.asarray(y, dtype=np.float64)
        tau = float(values.std(ddof=1))
        spread = tau > 0
        return Heterogeneity(k, float(values.mean()), tau, tau, tau, np.inf if spread else 0.0,
                             0.0 if spread else 1.0, float(tau <= margin), float(tau >= margin))
    df = k - 1
    lo_q, hi_q = chi2.ppf([(1 + confidence) / 2, (1 - confidence) / 2], df)
    tau2 = _root(yu, ou, lam, df)
    w = 1.0 / (lam + tau2)
    mean = float((w * yu * ou).sum() / (w * ou**2).sum())
    q0 = _q(yu, ou, lam, 0.0)
    qm = _q(yu, ou, lam, margin**2)
    return Heterogeneity(
        k, mean, float(np.sqrt(tau2)),
        float(np.sqrt(_root(yu, ou, lam, lo_q))), float(np.sqrt(_root(yu, ou, lam, hi_q))),
        q0, float(chi2.sf(q0, df)), float(chi2.sf(qm, df)), float(chi2.cdf(qm, df)),
    )
