"""Estimates behind the claims: every configuration's changes, their covariances and intervals.

Means (accuracy, NLL, Brier, faithfulness) from the per-example values; the calibration error ce2
from its U-statistic (helpers.calibration_change); covariances of everything computed on the same
examples, without resampling; demonstration seeds as a random effect (seed_effects.seed_means). See
helpers.claims for what the rules do with them.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy.special import stdtr, stdtrit

from helpers import calibration_change as cc
from helpers import multiplicity as mt
from helpers import seed_effects as se
from helpers.changes import ConfigChange
from helpers.claim_power import mde, z_alpha_power

SCALE = {
    "accuracy": "change of accuracy",
    "faith": "change of mean faithfulness",
    "ce2": "change of the squared l2 calibration error ce2 (ECE scale: ce = sqrt(ce2))",
}
MEANS = ("accuracy", "nll", "brier")


# ---------------------------------------------------------------------------------- estimation


class _Part(NamedTuple):
    """One quantity per configuration (a level or a change): seed means and their uncertainty."""

    estimate: np.ndarray  # (K,)
    cov: np.ndarray  # (K, K) positive semidefinite: sampling + seed effects
    var: np.ndarray  # (K,) per configuration: sampling (each term clipped at 0) + seeds
    var_sampling: np.ndarray  # (K,)
    seed_sd: np.ndarray  # (K,) each configuration's own method-of-moments seed SD
    seeds: np.ndarray  # (K,)
    contrast_var: Callable[[np.ndarray], float]  # variance of w @ estimate
    df: np.ndarray  # (K,) degrees of freedom of each configuration's t reference (inf: normal)
    contrast_df: Callable[[np.ndarray], float]  # the same for w @ estimate
    low: np.ndarray | None = None  # score-type intervals of a ce2 level
    high: np.ndarray | None = None
    null_var: Callable[[np.ndarray], float] | None = None  # variance of w @ estimate at "no
    # change" (score-type, for the tests of ce2 changes); None: contrast_var

    def test_var(self, w: np.ndarray) -> float:
        """The variance a one-sided test of w @ estimate = 0 uses."""
        return (self.null_var or self.contrast_var)(w)


class Metric(NamedTuple):
    full: _Part
    pruned: _Part
    change: _Part
    available: np.ndarray  # configurations with this metric
    slope: np.ndarray | None = None  # ce2: growth of the change's variance with its value

    @property
    def df(self) -> np.ndarray:
        return self.change.df

    @property
    def est(self) -> np.ndarray:
        return self.change.estimate

    @property
    def cov(self) -> np.ndarray:
        return self.change.cov

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(self.change.var)


class _Outputs:
    """The distinct model outputs of the records, per example set or faithfulness set."""

    def __init__(self) -> None:
        self.sets: dict[str, list[Any]] = {}
        self.ids: dict[tuple[str, int], int] = {}

    def add(self, name: str, array: Any) -> tuple[str, int]:
        key = (name, id(array))
        if key not in self.ids:
            self.ids[key] = len(self.sets.setdefault(name, []))
            self.sets[name].append(array)
        return name, self.ids[key]

    def contrasts(self, terms: list[list[tuple[tuple[str, int], float]]]) -> dict[str, np.ndarray]:
        """Per set, the (records, outputs) weights: record r's value is the sum of w * output."""
        mats = {name: np.zeros((len(terms), len(a))) for name, a in self.sets.items()}
        for r, record in enumerate(terms):
            for (name, o), w in record:
                mats[name][r, o] += w
        return mats


def _sides(full_at: list, pruned_at: list) -> dict[str, list]:
    return {
        "full": [[(f, 1.0)] for f in full_at],
        "pruned": [[(p, 1.0)] for p in pruned_at],
        "change": [[(p, 1.0), (f, -1.0)] for f, p in zip(full_at, pruned_at, strict=True)],
    }


def _finish(sm: se.SeedMeans, cov: np.ndarray, var_sampling: np.ndarray,
            sampling: Callable[[np.ndarray], float], sampling_df: float) -> _Part:
    """A part from seed means and its sampling variances (per configuration and per contrast)."""
    eye = np.eye(len(sm.estimate))

    def contrast_var(w: np.ndarray) -> float:
        return sampling(w) + float(w @ sm.cov_seed @ w)

    def contrast_df(w: np.ndarray) -> float:
        return sm.seed_df(w, sampling(w), sampling_df)

    df = np.array([sm.seed_df(row, v, sampling_df) for row, v in zip(eye, var_sampling,
                                                                       strict=True)])
    return _Part(sm.estimate, cov, var_sampling + np.diag(sm.cov_seed), var_sampling,
                 sm.seed_sd, sm.seeds, contrast_var, df, contrast_df)


def _mean_part(values: np.ndarray, v: np.ndarray, unit: np.ndarray, seeds: np.ndarray,
               groups: np.ndarray, sampling_df: float) -> _Part:
    sm = se.seed_means(values, v, unit, seeds, groups)
    cs = sm.cov_sampling
    return _finish(sm, sm.cov, np.diag(cs).copy(), lambda w: float(w @ cs @ w), sampling_df)


def _u_part(values: np.ndarray, mats: dict[str, np.ndarray], z: dict[str, tuple],
            unit: np.ndarray, seeds: np.ndarray, groups: np.ndarray,
            null: dict[str, tuple] | None = None) -> tuple[_Part, dict[str, np.ndarray]]:
    """A ce2 quantity. The method of moments for the seeds subtracts the unbiased sampling
    covariance; every variance shown or tested clips each Hoeffding term of each example set at 0
    (scalars) or projects it onto the positive semidefinite cone (the covariance matrix)."""
    raw = sum(mats[e] @ (z1 + z2) @ mats[e].T for e, (z1, z2) in z.items())
    sm = se.seed_means(values, raw, unit, seeds, groups)
    per_config = {e: sm.weights @ mats[e] for e in z}  # (K, outputs of e)

    def sampling(w: np.ndarray) -> float:
        total = 0.0
        for e, (z1, z2) in z.items():
            u = w @ per_config[e]
            total += max(float(u @ z1 @ u), 0.0) + max(float(u @ z2 @ u), 0.0)
        return total

    cov_sampling = sum(se.psd(per_config[e] @ term @ per_config[e].T)
                       for e, pair in z.items() for term in pair)
    var_sampling = np.array([sampling(row) for row in np.eye(len(groups))])
    part = _finish(sm, cov_sampling + sm.cov_seed, var_sampling, sampling, np.inf)
    if null is None:
        return part, per_config

    def sampling_at_null(w: np.ndarray) -> float:
        """Each output's first-term diagonal moved to the pooled level of its family (a full
        output and its pruned outputs): the variance at 'no change'
        (``calibration_change.null_first_term``); without it the variance is small exactly when
        the shared full model's estimate is small, i.e. when the changes look large."""
        total = 0.0
        for e, (z1, z2) in z.items():
            u = w @ per_config[e]
            if not u.any():
                continue
            level, family, noise_slope, n = null[e]
            shift = sum(cc.null_first_term(level[family == f], noise_slope[family == f],
                                           u[family == f], n)
                        for f in np.unique(family[u != 0]))
            total += max(float(u @ z1 @ u) + shift, 0.0) + max(float(u @ z2 @ u), 0.0)
        return total

    return part._replace(null_var=lambda w: sampling_at_null(w) + float(w @ sm.cov_seed @ w)), \
        per_config


def _level_intervals(part: _Part, per_config: dict[str, np.ndarray],
                     terms: dict[str, tuple[np.ndarray, np.ndarray, int]],
                     confidence: float) -> _Part:
    """Score-type intervals of a ce2 level per configuration: variance at theta of the seed mean,
    c0 + c1 theta - c2 theta^2, from the second Hoeffding term (E[H H'] per pair of outputs), the
    slope of the first (kappa, with the outputs' residual correlation) and the seed variance."""
    k = len(part.estimate)
    low, high = np.empty(k), np.empty(k)
    for j in range(k):
        c0, c1, c2 = float(part.var[j] - part.var_sampling[j]), 0.0, 0.0
        for e, (b2, slope, n) in terms.items():
            u = per_config[e][j]
            if not u.any():
                continue
            n2 = n * (n - 1.0)
            c0 += 2 * float(u @ b2 @ u) / n2
            c1 += 4 * (n - 2) * float(u @ slope @ u) / n2
            c2 += (4 * (n - 2) + 2) * float(u.sum()) ** 2 / n2
        low[j], high[j] = cc.level_interval(float(part.estimate[j]), max(c0, 0.0), max(c1, 0.0),
                                            c2, confidence)
    return part._replace(low=low, high=high)


def estimate(records: list[ConfigChange], config_of: np.ndarray, groups: np.ndarray,
              confidence: float) -> tuple[dict[str, Metric], np.ndarray]:
    """Seed-mean estimates of every metric per configuration, and the sampling cross-covariance
    of the accuracy and ce2 changes."""
    k = len(groups)
    seeds = np.array([int(c.demo_seed) for c in records])
    outputs = _Outputs()
    full_at = [outputs.add(c.example_set, c.probs_full) for c in records]
    pruned_at = [outputs.add(c.example_set, c.probs_pruned) for c in records]
    contrasts = {side: outputs.contrasts(t) for side, t in _sides(full_at, pruned_at).items()}
    labels = {c.example_set: c.labels for c in records}
    level: dict[str, dict[str, np.ndarray]] = {m: {} for m in (*MEANS, "ce2")}
    cov: dict[str, dict[str, np.ndarray]] = {m: {} for m in MEANS}
    z: dict[str, tuple] = {}
    terms: dict[str, tuple] = {}
    slope_terms: dict[str, np.ndarray] = {}
    null: dict[str, tuple] = {}
    cross: dict[str, np.ndarray] = {}
    for name, arrays in outputs.sets.items():
        y = labels[name]
        n = len(y)
        probs = np.stack(arrays)  # (O, n, labels)
        pred = probs.argmax(axis=2)
        conf = np.take_along_axis(probs, pred[..., None], axis=2)[..., 0]
        correct = (pred == y).astype(np.float64)
        p_true = probs[:, np.arange(n), y]
        values = {
            "accuracy": correct,
            "nll": -np.log(np.clip(p_true, 1e-12, None)),
            "brier": (probs**2).sum(axis=2) - 2 * p_true + 1,
        }
        for m, v in values.items():
            level[m][name] = v.mean(axis=1)
            cov[m][name] = np.atleast_2d(np.cov(v, ddof=1)) / n
        ks = cc.kernel_sums(conf, correct)
        level["ce2"][name] = ks.estimate
        z[name] = cc.u_covariance_parts(ks)
        resid = correct - conf
        sd = resid.std(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            rho = np.where(np.outer(sd, sd) > 0, np.cov(resid, ddof=0) / np.outer(sd, sd), 0.0)
        np.fill_diagonal(rho, 1.0)
        kappa = cc.slopes(conf, correct)
        terms[name] = (ks.pair_sq / (n * (n - 1.0)), rho * np.sqrt(np.outer(kappa, kappa)), n)
        slope_terms[name] = 4 * (n - 2) / (n * (n - 1.0)) * kappa
        family = np.arange(len(arrays))
        for (f_set, f), (_, p) in zip(full_at, pruned_at, strict=True):
            if f_set == name:
                family[p] = f
        null[name] = (ks.estimate, family, cc.slopes(conf, correct, noise=True), n)
        cross[name] = cc.mean_u_covariance(correct, ks)
    sampling_df = float(min(len(c.labels) for c in records) - 1)
    everywhere = np.ones(k, dtype=bool)
    out: dict[str, Metric] = {}
    for m in MEANS:
        parts = []
        for side in ("full", "pruned", "change"):
            mats = contrasts[side]
            values = sum(mats[e] @ level[m][e] for e in mats)
            v = sum(mats[e] @ cov[m][e] @ mats[e].T for e in mats)
            parts.append(_mean_part(values, v, config_of, seeds, groups, sampling_df))
        out[m] = Metric(*parts, everywhere)
    parts = []
    for side in ("full", "pruned", "change"):
        mats = contrasts[side]
        values = sum(mats[e] @ level["ce2"][e] for e in mats)
        part, per_config = _u_part(values, mats, z, config_of, seeds, groups,
                                   null if side == "change" else None)
        if side != "change":
            part = _level_intervals(part, per_config, terms, confidence)
        if side == "pruned":  # d Var(estimate) / d theta of the pruned level, per configuration
            slope = sum(per_config[e] @ slope_terms[e] for e in per_config)
        parts.append(part)
    out["ce2"] = Metric(*parts, everywhere, slope)
    mats = contrasts["change"]
    a = se.seed_means(np.zeros(len(records)), np.eye(len(records)), config_of, seeds,
                      groups).weights
    x_cov = a @ sum(mats[e] @ cross[e] @ mats[e].T for e in mats) @ a.T
    out["faith"] = _faith(records, config_of, seeds, groups)
    return out, x_cov


def _faith(records: list[ConfigChange], config_of: np.ndarray, seeds: np.ndarray,
           groups: np.ndarray) -> Metric:
    """Faithfulness levels and changes per configuration (records without scores left out)."""
    k = len(groups)
    use = np.flatnonzero([c.has_faith for c in records])
    available = np.zeros(k, dtype=bool)
    available[np.unique(config_of[use])] = True
    nan = np.full(k, np.nan)
    if len(use) == 0:
        empty = _Part(nan, np.full((k, k), np.nan), nan, nan, nan, np.zeros(k, dtype=int),
                      lambda w: float("nan"), nan, lambda w: float("nan"))
        return Metric(empty, empty, empty, available)
    outputs = _Outputs()
    full_at = [outputs.add(records[r].faith_set, records[r].faith_full) for r in use]
    pruned_at = [outputs.add(records[r].faith_set, records[r].faith_pruned) for r in use]
    level, cov = {}, {}
    for name, arrays in outputs.sets.items():
        v = np.stack(arrays)
        level[name] = v.mean(axis=1)
        cov[name] = np.atleast_2d(np.cov(v, ddof=1)) / v.shape[1]
    kept = np.flatnonzero(available)
    index = {j: i for i, j in enumerate(kept)}
    unit = np.array([index[j] for j in config_of[use]])
    sampling_df = float(min(len(records[r].faith_full) for r in use) - 1)
    parts = []
    for t in _sides(full_at, pruned_at).values():
        mats = outputs.contrasts(t)
        values = sum(mats[e] @ level[e] for e in mats)
        v = sum(mats[e] @ cov[e] @ mats[e].T for e in mats)
        part = _mean_part(values, v, unit, seeds[use], groups[kept], sampling_df)
        parts.append(_expand(part, kept, k))
    return Metric(*parts, available)


def _expand(part: _Part, kept: np.ndarray, k: int) -> _Part:
    """A part over a subset of the configurations, padded with NaN to all k."""

    def vec(x: np.ndarray) -> np.ndarray:
        out = np.full(k, np.nan)
        out[kept] = x
        return out

    cov = np.full((k, k), np.nan)
    cov[np.ix_(kept, kept)] = part.cov
    seeds = np.zeros(k, dtype=int)
    seeds[kept] = part.seeds

    return _Part(vec(part.estimate), cov, vec(part.var), vec(part.var_sampling),
                 vec(part.seed_sd), seeds, lambda w: part.contrast_var(w[kept]), vec(part.df),
                 lambda w: part.contrast_df(w[kept]))


# ------------------------------------------------------------------------------- small helpers


def _tq(df: Any, q: float) -> np.ndarray:
    """Quantile q of Student's t with df degrees of freedom (normal where df is inf)."""
    return stdtrit(np.asarray(df, dtype=np.float64), q)


def sf(z: Any, df: Any) -> np.ndarray:
    """Upper tail of Student's t with df degrees of freedom (normal where df is inf)."""
    z = np.asarray(z, dtype=np.float64)
    return np.where(np.isnan(z), np.nan, stdtr(np.asarray(df, dtype=np.float64), -z))


def z(diff: np.ndarray, se: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        z = diff / se
    return np.where(se > 0, z, np.where(diff > 0, np.inf, np.where(diff < 0, -np.inf, 0.0)))


def interval(est: np.ndarray, se: np.ndarray, df: np.ndarray, confidence: float
              ) -> tuple[np.ndarray, np.ndarray]:
    q = _tq(df, (1 + confidence) / 2)
    return est - q * se, est + q * se


def fmt_ratio(r: float) -> str:
    f = Fraction(float(r)).limit_denominator(12)
    return str(f) if abs(float(f) - r) < 1e-9 else f"{r:g}"


def num(x: float) -> str:
    if not np.isfinite(x):
        return "NaN"
    return f"{x:+.2g}" if abs(x) < 0.001 and x else f"{x:+.3f}" if abs(x) < 10 else f"{x:+.3g}"


def ci(e: float, lo: float, hi: float) -> str:
    return f"{num(e)} [{num(lo)}, {num(hi)}]"


def share(x: float) -> str:
    return "NaN" if not np.isfinite(x) else f"{x:.2f}"


# ------------------------------------------------------------------------- configuration table


def config_table(keys: list[tuple], records: list[ConfigChange], config_of: np.ndarray,
                  est: dict[str, Metric], o: dict[str, Any]) -> pd.DataFrame:
    k = len(keys)
    conf, alpha = o["confidence"], o["alpha"]
    zp = z_alpha_power(alpha, o["power"])
    sets = [sorted({records[r].example_set for r in np.flatnonzero(config_of == j)})
            for j in range(k)]
    m_faith = np.zeros(k, dtype=int)
    for r, c in enumerate(records):
        if c.has_faith:
            m_faith[config_of[r]] = len(c.faith_full)
    cols: dict[str, Any] = {
        "model": [key[0] for key in keys],
        "task": [key[1] for key in keys],
        "criterion": [key[2] for key in keys],
        "ratio": [key[3] for key in keys],
        "example_set": [" + ".join(s) for s in sets],
        "n": [len(records[np.flatnonzero(config_of == j)[0]].labels) for j in range(k)],
        "m_faith": m_faith,
        "seeds": est["accuracy"].change.seeds,
    }
    root = lambda x: np.sqrt(np.maximum(x, 0.0))  # noqa: E731
    for m in (*MEANS, "ce2", "faith"):
        e = est[m]
        for side, part in (("full", e.full), ("pruned", e.pruned)):
            if part.low is not None:
                lo, hi = part.low, part.high
            else:
                lo, hi = interval(part.estimate, np.sqrt(part.var), part.df, conf)
            cols[f"{m}_{side}"], cols[f"{m}_{side}_low"], cols[f"{m}_{side}_high"] = (
                part.estimate, lo, hi)
            if m == "ce2":  # the ECE scale: root of the squared scale, bounds mapped monotonically
                cols[f"ce_{side}"], cols[f"ce_{side}_low"], cols[f"ce_{side}_high"] = (
                    root(part.estimate), root(lo), root(hi))
        lo, hi = interval(e.est, e.se, e.df, conf)
        cols[f"d_{m}"], cols[f"d_{m}_low"], cols[f"d_{m}_high"] = e.est, lo, hi
        cols[f"se_{m}"] = e.se
        cols[f"se_sampling_{m}"] = np.sqrt(e.change.var_sampling)
        cols[f"seed_sd_{m}"] = e.change.seed_sd
        cols[f"mde_{m}"] = mde(e.se, zp, 0.0 if e.slope is None else e.slope)
    cols["d_ce"] = cols["ce_pruned"] - cols["ce_full"]  # ECE scale, point estimate only
    acc, ce2, faith = est["accuracy"], est["ce2"], est["faith"]
    tol = o["acc_tolerance"]
    cols["p_kept"] = sf(z(acc.est + tol, acc.se), acc.df)
    cols["p_lost"] = sf(z(-(acc.est + tol), acc.se), acc.df)
    cols["accuracy_kept"] = cols["p_kept"] < alpha
    cols["accuracy_lost"] = cols["p_lost"] < alpha
    eye = np.eye(k)
    se_null = np.sqrt([max(ce2.change.test_var(row), 0.0) for row in eye])
    cols["p_ce2"] = sf(z(ce2.est, se_null), ce2.df)
    limit = (cols["ce_full"] + o["cal_margin"]) ** 2 - cols["ce_full"] ** 2
    cols["cal_limit"] = limit
    # within the margin (H': change >= limit): the variance taken midway between the estimate and
    # the limit, where the pruned model's squared error is larger (a score-type correction; in
    # simulation the plain test rejects 7-9% at the limit, this one 2-5%)
    gap = np.maximum(limit - ce2.est, 0.0)
    cols["p_ce2_within"] = sf(z(limit - ce2.est, np.sqrt(ce2.change.var + 0.5 * ce2.slope * gap)),
                               ce2.df)
    cols["p_nll"] = sf(z(est["nll"].est, est["nll"].se), est["nll"].df)
    cols["p_faith"] = sf(z(-faith.est, faith.se), faith.df)
    cols["p_faith_within"] = sf(z(faith.est + o["faith_margin"], faith.se), faith.df)
    cols["p_ce2_holm"] = mt.holm(cols["p_ce2"])
    holm_faith = np.full(k, np.nan)
    if faith.available.any():
        holm_faith[faith.available] = mt.holm(cols["p_faith"][faith.available])
    cols["p_faith_holm"] = holm_faith
    t = pd.DataFrame(cols)
    t.attrs["confidence"] = conf
    t.attrs["calibration"] = "ce2"
    t.attrs["calibration_test_scale"] = SCALE["ce2"]
    t.attrs["interval"] = (
        f"{conf:.0%} normal (t for means) intervals with seeds as a random effect; ce intervals"
        " are roots of ce2 intervals; d_ce has no interval (tested as d_ce2)"
    )
    return t
