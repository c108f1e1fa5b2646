"""Power of the claims' rules: the smallest true changes the run could detect, from its variances.

Per configuration, the change its one-sided test detects with probability `power`; for the share
rules, the common change that gives "yes" (normal draws with the run's covariance through the same
closed testing); for "no", the margin it would need; for tau, the true tau that gives "yes".
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import chi2, norm

from helpers import multiplicity as mt

_DRAWS = 1000  # normal draws for the power of share and tau rules


def z_alpha_power(alpha: float, power: float) -> float:
    return float(norm.ppf(1 - alpha) + norm.ppf(power))


def corr_draws(cov: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """Normal draws (draws, k) with covariance cov."""
    lam, u = np.linalg.eigh((cov + cov.T) / 2)
    root = u * np.sqrt(np.maximum(lam, 0.0))
    return rng.standard_normal((draws, len(cov))) @ root.T


def _bisect(f, lo: float, hi: float, iters: int = 24) -> float:
    """Smallest x in [lo, hi] with f(x) true, for f monotone (NaN if f(hi) is false)."""
    if not f(hi):
        return float("nan")
    if f(lo):
        return lo
    for _ in range(iters):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if f(mid) else (mid, hi)
    return hi


def mde(se: Any, z: float, slope: Any = 0.0) -> Any:
    """Smallest change delta with delta = z * sqrt(se^2 + slope * delta): the MDE of a one-sided
    test whose variance grows by `slope` per unit of change (ce2; 0 for means)."""
    se, slope = np.asarray(se, dtype=np.float64), np.asarray(slope, dtype=np.float64)
    return (z * z * slope + np.sqrt((z * z * slope) ** 2 + 4 * z * z * se**2)) / 2


def share_power_mde(se: np.ndarray, cov: np.ndarray, alpha: float, share: float, power: float,
                     rng: np.random.Generator, slope: np.ndarray | None = None) -> float:
    """Common change (in the metric's units, in the claimed direction) of every configuration
    that makes the share bound reach `share` with probability `power` (for ce2 the variance
    grows with the change by `slope` per unit)."""
    k = len(se)
    if not (np.all(se > 0) and np.isfinite(cov).all()):
        return float("nan")
    need = int(np.ceil(share * k - 1e-9))
    noise = corr_draws(cov, _DRAWS, rng)

    grow = np.zeros(k) if slope is None else slope

    def reached(delta: float) -> bool:
        sd = np.sqrt(se**2 + grow * delta)
        z = (delta + noise * sd / se) / sd
        h = mt.hommel_h(norm.sf(z), alpha)
        return bool(np.mean(k - h >= need) >= power)

    return _bisect(reached, 0.0, 20 * float(se.max()) + 40 * float(grow.max()))


def no_margin_needed(se: np.ndarray, cov: np.ndarray, alpha: float, share: float,
                      power: float, rng: np.random.Generator, to_test_scale=None,
                      slope: np.ndarray | None = None) -> float:
    """Smallest margin (display scale) for which, with no true change anywhere, the share shown
    within the margin exceeds 1 - share with probability `power`."""
    k = len(se)
    if not (np.all(se > 0) and np.isfinite(cov).all()):
        return float("nan")
    need = int(np.floor((1 - share) * k + 1e-9)) + 1
    noise = corr_draws(cov, _DRAWS, rng)

    def reached(margin: float) -> bool:
        limit = to_test_scale(margin) if to_test_scale else margin
        gap = limit - noise  # H': change >= limit, rejected for small changes
        extra = 0.0 if slope is None else 0.5 * slope * np.maximum(gap, 0.0)
        z = gap / np.sqrt(se**2 + extra)
        h = mt.hommel_h(norm.sf(z), alpha)
        return bool(np.mean(k - h >= need) >= power)

    hi = 20 * float(se.max())
    if to_test_scale is not None:  # search on the display scale
        hi = 1.0
    return _bisect(reached, 0.0, hi)


def tau_mdes(cov: np.ndarray, margin: float, alpha: float, power: float,
              rng: np.random.Generator) -> tuple[float, float]:
    """True tau giving 'yes' (tau > margin shown) with probability power, and the margin giving
    'no' (tau < margin shown) with that probability when tau = 0."""
    k = len(cov)
    df = k - 1
    if not (np.isfinite(cov).all() and np.trace(cov) > 0):
        return float("nan"), float("nan")
    noise = corr_draws(cov, _DRAWS // 2, rng)
    extra = rng.standard_normal((_DRAWS // 2, k))
    lam, u = np.linalg.eigh((cov + cov.T) / 2)
    lam = np.maximum(lam, 1e-12 * max(float(np.abs(lam).max()), 1e-300))
    ones = u.T @ np.ones(k)

    def q(y: np.ndarray, tau2: float) -> np.ndarray:
        yu = y @ u
        w = 1.0 / (lam + tau2)
        return (w * yu**2).sum(axis=1) - (yu * ones * w).sum(axis=1) ** 2 / (w * ones**2).sum()

    crit_hi, crit_lo = chi2.ppf(1 - alpha, df), chi2.ppf(alpha, df)
    q_margin = lambda y: q(y, margin**2)  # noqa: E731
    scale = float(np.sqrt(np.mean(lam)))
    yes = _bisect(lambda tau: bool(np.mean(q_margin(noise + tau * extra) > crit_hi) >= power),
                  0.0, 50 * scale + 10 * margin)
    no = _bisect(lambda mg: bool(np.mean(q(noise, mg**2) < crit_lo) >= power), 0.0, 50 * scale)
    return yes, no


