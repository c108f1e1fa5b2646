"""Demonstration seeds as a random effect, and covariance matrices kept positive semidefinite.

A configuration evaluated with several demonstration seeds on the same examples is one
configuration: its change is the mean over its seeds, and its variance adds to the sampling part
the seed variance components, estimated by the method of moments and pooled over configurations.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np


def psd(matrix: Any) -> np.ndarray:
    """The nearest positive semidefinite matrix in Frobenius norm (Higham 1988).

    Negative eigenvalues are set to 0; for a 1 x 1 matrix this is max(value, 0)."""
    a = np.asarray(matrix, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"need a square matrix, got shape {a.shape}")
    if a.shape[0] == 1:
        return np.maximum(a, 0.0)
    lam, u = np.linalg.eigh((a + a.T) / 2)
    if lam.min() >= 0:
        return (a + a.T) / 2
    return (u * np.maximum(lam, 0.0)) @ u.T


class SeedMeans(NamedTuple):
    """Per unit (e.g. configuration): the mean over its seeds, the covariance of those means from
    sampling and from the seed effects, and the seed variance components."""

    estimate: np.ndarray  # (k,)
    cov_sampling: np.ndarray  # (k, k) A V A'
    cov_seed: np.ndarray  # (k, k) the seed effects' contribution
    seed_sd: np.ndarray  # (k,) each unit's own method-of-moments seed SD (NaN with one seed)
    var_shared: float  # seed variance shared by the units of a group
    var_own: float  # seed variance specific to a unit
    seeds: np.ndarray  # (k,) number of seeds
    weights: np.ndarray  # (k, r) A: the averaging of records into units
    shared: np.ndarray  # (k, k) cov_seed = var_shared * shared + var_own * own
    own: np.ndarray  # (k, k)
    df_shared: float  # degrees of freedom of the two variance estimates (inf when not estimated)
    df_own: float

    def seed_df(self, w: Any, sampling_var: float, sampling_df: float = np.inf) -> float:
        """Welch-Satterthwaite (Satterthwaite 1946) degrees of freedom of Var(w @ estimate).

        The sampling part has sampling_df, the two seed components their own."""
        w = np.asarray(w, dtype=np.float64)
        parts = [(sampling_var, sampling_df), (self.var_shared * (w @ self.shared @ w),
                                               self.df_shared),
                 (self.var_own * (w @ self.own @ w), self.df_own)]
        total = sum(v for v, _ in parts)
        denominator = sum(v * v / d for v, d in parts if v > 0 and np.isfinite(d))
        return float(total**2 / denominator) if denominator > 0 else float(sampling_df)

    @property
    def cov(self) -> np.ndarray:
        """Sampling plus seed covariance of the unit means."""
        return self.cov_sampling + self.cov_seed


def seed_means(values: Any, cov: Any, unit: Any, seed: Any, group: Any) -> SeedMeans:
    """Means over demonstration seeds, with the seeds as a random effect.

    Per unit, the mean of its seeds' values; its covariance adds to the sampling part the seed
    effects, with variance components (shared within a group, own per unit) from the method of
    moments, pooled over units. ``values`` (r,) one per (unit, seed) record with sampling covariance ``cov`` (r, r); ``unit``
    and ``seed`` (r,) label the records; ``group`` (k,) labels the units (k = number of units,
    numbered 0..k-1 in ``unit``). Model: value(unit j, seed s) = theta_j + a_{g(j), s} + b_{j,s} +
    sampling error, seed effects independent across seeds with variances ``var_shared`` and
    ``var_own``. The between-seed covariance of two units of a group over their common seeds,
    minus its sampling part, estimates ``var_shared``; a unit's between-seed variance minus its
    sampling part estimates ``var_shared + var_own`` (Searle, Casella and McCulloch 1992, the
    ANOVA estimators); both are averaged over units (pairs) and clipped at 0. With one seed per
    unit there is nothing to estimate and the result is the plain sampling analysis."""
    x = np.asarray(values, dtype=np.float64)
    v = np.asarray(cov, dtype=np.float64)
    unit, seed, group = np.asarray(unit), np.asarray(seed), np.asarray(group)
    k, r = len(group), len(x)
    labels, code = np.unique(seed, return_inverse=True)
    n_seed = len(labels)
    where = np.full((k, n_seed), -1)
    where[unit, code] = np.arange(r)
    if (np.bincount(unit * n_seed + code, minlength=k * n_seed) > 1).any():
        raise ValueError("one record per unit and seed")
    member = where >= 0
    counts = member.sum(axis=1)
    if (counts == 0).any():
        raise ValueError("every unit needs at least one record")
    a = np.zeros((k, r))
    a[unit, np.arange(r)] = 1.0 / counts[unit]
    estimate = a @ x
    cov_sampling = a @ v @ a.T
    same_group = group[:, None] == group[None, :]
    common = member.astype(float) @ member.T.astype(float)
    shared_m = np.where(same_group, common, 0.0) / np.outer(counts, counts)
    own_m = np.diag(1.0 / counts)
    own = np.full(k, np.nan)
    var_shared = var_own = 0.0
    df_shared = df_own = np.inf
    if counts.max() >= 2:
        idx = np.where(member, where, 0)
        dev = np.where(member, x[idx] - estimate[:, None], 0.0)  # (k, seeds)
        vr = v[np.ix_(idx.ravel(), idx.ravel())].reshape(k, n_seed, k, n_seed)
        vr = vr * member[:, :, None, None] * member[None, None, :, :]
        on_diag = np.einsum("isjs->ij", vr)  # sum over common seeds of Cov(j s, l s)
        total_sum = vr.sum(axis=(1, 3))
        c = np.maximum(np.minimum.outer(counts, counts), 2).astype(float)
        sampling = (on_diag - total_sum / c) / (c - 1)
        moments = dev @ dev.T / (c - 1) - sampling
        several = counts >= 2
        own[several] = np.diag(moments)[several]
        same_set = (member[:, None, :] == member[None, :, :]).all(axis=2)
        pairs = np.triu(same_group & same_set & several[:, None], 1)
        total = float(np.nanmean(own))
        var_shared = float(moments[pairs].mean()) if pairs.any() else 0.0
        var_shared = min(max(var_shared, 0.0), max(total, 0.0))
        var_own = max(total - var_shared, 0.0)
        df_total = float((counts - 1).sum())
        groups_used = [g for g in np.unique(group) if (several & (group == g)).sum() >= 2]
        df_shared = float(sum(counts[group == g].max() - 1 for g in groups_used))
        df_own = max(df_total - df_shared, 1.0)
        df_shared = df_shared if df_shared > 0 else np.inf
    seed_cov = var_shared * shared_m + var_own * own_m
    return SeedMeans(estimate, cov_sampling, seed_cov, np.sqrt(np.maximum(own, 0.0)),
                     var_shared, var_own, counts, a, shared_m, own_m, df_shared, df_own)
