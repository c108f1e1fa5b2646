"""How many of several configurations truly changed: Holm, and closed testing with Simes local
tests for simultaneous lower bounds on the number (share) of true changes.

Each configuration j carries a one-sided p-value for its hypothesis ``H_j`` (e.g. "faithfulness
does not fall"). Closed testing (Marcus, Peritz and Gabriel 1976) rejects an intersection
hypothesis ``H_J`` (every ``H_j``, j in J, true) when every superset of J is rejected by a local
test; here the local test is Simes' (1986): ``H_J`` is rejected locally when the i-th smallest
p-value in J is at most ``i alpha / |J|`` for some i. Goeman and Solari (2011, "Multiple testing
for exploratory research") show that closed testing then bounds the number of false hypotheses
(true changes) in every subset S at once: with probability at least ``1 - alpha``, S holds at
least ``d(S) = |S| - max{|J & S| : J not rejected locally}`` true changes, simultaneously for all
S, so S may be chosen after seeing the data (e.g. "the configurations shown to keep their
accuracy"). For Simes' test the hardest J of a given composition takes the largest p-values
inside and outside S, so ``d(S)`` is a search over at most ``m^2`` candidate sets; for S = all it
is ``m - h`` with Hommel's (1988) ``h`` (Goeman, Meijer, Krebs and Solari 2019 give an ``m log m``
shortcut; with a few dozen configurations the direct search is instant).

Dependence: Simes' test, hence these bounds, is valid when the p-values of the true hypotheses are
positively regression dependent on a subset (PRDS; Benjamini and Yekutieli 2001, Sarkar 2008),
which holds for one-sided tests from jointly normal statistics with non-negative correlations.
Configurations that share test examples and an unpruned model have positively correlated changes;
negatively correlated ones are not covered by that guarantee (Holm's bound needs no assumption).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["hommel_h", "holm", "simes_rejects", "true_discoveries"]


def _pvalues(p: Any) -> np.ndarray:
    a = np.asarray(p, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"p-values must be a 1-d array, got shape {a.shape}")
    if not np.isfinite(a).all() or (a < 0).any() or (a > 1).any():
        raise ValueError("p-values must lie in [0, 1] without NaN; drop the missing tests first")
    return a


def holm(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's (1979) step-down adjusted p-values, in the input order."""
    a = _pvalues(p)
    m = len(a)
    if m == 0:
        return a
    order = np.argsort(a, kind="stable")
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(np.maximum.accumulate((m - np.arange(m)) * a[order]), 1.0)
    return adjusted


def simes_rejects(p: Sequence[float] | np.ndarray, alpha: float) -> bool:
    """Simes' (1986) test of the intersection of all hypotheses: reject if p_(i) <= i alpha / m."""
    a = np.sort(_pvalues(p))
    m = len(a)
    return bool(m and (a <= alpha * np.arange(1, m + 1) / m).any())


def hommel_h(p: Any, alpha: float) -> np.ndarray:
    """Hommel's h: the size of the largest set of hypotheses that Simes' test does not reject.

    Row-wise for a 2-d array (rows: repetitions, columns: hypotheses)."""
    a = np.asarray(p, dtype=np.float64)
    rows = np.atleast_2d(np.sort(a, axis=-1))
    m = rows.shape[1]
    h = np.zeros(len(rows), dtype=int)
    for k in range(1, m + 1):
        top = rows[:, m - k :]  # the k largest p-values, ascending
        rejected = (top <= alpha * np.arange(1, k + 1) / k).any(axis=1)
        h = np.where(~rejected, k, h)
    return h if a.ndim == 2 else h[0]


def true_discoveries(p: Sequence[float] | np.ndarray, alpha: float,
                     subset: Sequence[int] | np.ndarray | None = None) -> int:
    """Lower (1 - alpha) bound on the number of true changes (false hypotheses) in `subset`.

    Closed testing with Simes local tests, simultaneous over all subsets (Goeman and Solari
    2011); `subset` holds indices, default all."""
    a = _pvalues(p)
    m = len(a)
    inside = np.zeros(m, dtype=bool)
    inside[np.arange(m) if subset is None else np.asarray(subset, dtype=int)] = True
    size = int(inside.sum())
    if size == 0:
        return 0
    p_in = np.sort(a[inside])[::-1]  # descending: the hardest members first
    p_out = np.sort(a[~inside])[::-1]
    best = 0  # largest |J & S| over J not rejected locally
    for k in range(size, 0, -1):
        if k <= best:
            break
        for t in range(len(p_out) + 1):
            j = np.sort(np.concatenate([p_in[:k], p_out[:t]]))
            if not (j <= alpha * np.arange(1, k + t + 1) / (k + t)).any():
                best = k
                break
    return size - best


def _check_pvalues(pvalues: Any) -> np.ndarray:
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"pvalues must be a 1-d array, got shape {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise ValueError("pvalues must lie in [0, 1] without NaN; drop the missing tests first")
    return p


def benjamini_hochberg(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (false discovery rate), in the input order."""
    p = _check_pvalues(pvalues)
    m = len(p)
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return adjusted
