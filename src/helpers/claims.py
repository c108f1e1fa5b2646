"""The paper's claims as stated rules on per-configuration tests; verdicts yes / no / undetermined.

Input: one ``ConfigChange`` per pruned configuration and demonstration seed: the unpruned (full)
and pruned model's label-set probabilities on the same test examples and, optionally, per-example
faithfulness scores (higher = more faithful) of both on a subset of them. Records with equal
(model, task, criterion, ratio) and different ``demo_seed`` are one configuration; give records
evaluated on the same test examples the same ``example_set`` (and the same ``faith_set`` for the
same faithfulness examples), so they are treated as paired. ``verdicts`` returns the claims table
(one row per claim) and the configuration table (one row per configuration, seeds averaged).

Estimates (every change is pruned minus full):

* accuracy, NLL, Brier: means over the test examples; faithfulness: the mean over its subset;
* calibration: ``ce2``, the squared binned top-label l2 calibration error (15 bins), estimated by
  the U-statistic of ``helpers.calibration_change`` (unbiased; it does not rise when a calibrated
  model only becomes less confident). Every calibration test runs on ce2. The ECE scale of the
  book is its root ``ce``: each model's ``ce`` is shown with the root of its ce2 interval (a
  monotone map, so it covers when that interval does); the change of ``ce`` (``d_ce``) is a point
  estimate only, because near zero no interval of a difference of roots covers; its interval and
  tests are those of ``d_ce2``.

Uncertainty, without resampling: sampling covariances of all estimates on the same examples from
the per-example values (means) and from Hoeffding's decomposition (ce2: each of its two terms is
clipped at 0, or projected onto the positive semidefinite cone for a covariance matrix, which
keeps the ce2 tests at or below their level where a term's estimate is noise around 0, e.g. when
both models are calibrated; the d_ce2 intervals are then conservative, covering up to 0.99 in
simulation, and cover 0.92-0.97 elsewhere); example sets and faithfulness sets are independent
samples. The one-sided tests of ce2 changes (per configuration and on average) take the variance
at "no change" (score-type): each model's first-term estimate moves with its own level estimate,
so a shared full model whose estimate is low by chance would make the changes look large and their
variance small at once; its diagonal first term is moved to the pooled level of the full model and
its pruned models (``calibration_change.null_first_term``). In simulation this keeps the
per-configuration test at 1.6-4.2% and the 'on average' test at 0.7-2.7% where calibration does
not change (5-9% without it). A ce2 level gets a score-type (Wilson 1927) interval, with its
variance taken at the hypothesised value. Demonstration seeds are a random effect: a
configuration's change is the mean over its seeds, and its variance adds to the sampling part the
seed variance components (one shared by the configurations of a model x task, one own), estimated
by the method of moments and pooled over configurations (``stats.seed_means``), with
Welch-Satterthwaite degrees of freedom; the table shows the sampling SE (``se_sampling_*``) beside
each configuration's own seed SD (``seed_sd_*``). With one seed everything is the plain analysis.
Intervals (``confidence``, default 0.95) are Student t for means and normal for ce2;
per-configuration tests are one-sided at ``alpha``.

"Often" has one meaning, the same for every such claim: with probability at least 1 - alpha, the
share of configurations whose true change is in the claimed direction is at least ``share_low``,
a lower bound from closed testing with Simes local tests of the per-configuration one-sided
hypotheses (Goeman and Solari 2011; ``helpers.multiplicity``; valid when the p-values are
positively dependent, PRDS, as changes sharing examples and unpruned models are). "Often" is
``share_low >= often_share`` (default 1/2). "No" uses the opposite hypotheses on the metric's own
scale: configurations shown to change by less than a margin bound from above the share that
changes by more than it (``share_high``); "no" is ``share_high < often_share``. Beside each
"often" verdict, two weaker statements in their own columns: "in at least one configuration"
(Holm 1979: ``at_least_one_count``, ``at_least_one_p``) and "on average over configurations" (the
mean change with its interval and one-sided p-value, ``mean*``).

Rules (the ``rule`` column states them with the parameter values):

1. Accuracy is often kept: kept is a change above -acc_tolerance (non-inferiority). yes when the
   share kept is often; no when more than 1 - often_share are shown to lose more than
   acc_tolerance.
2. Faithfulness often degrades: share of configurations whose faithfulness falls; no when more
   than 1 - often_share are shown to fall by less than faith_margin.
3. Calibration often degrades: share whose ce2 rises; no when more than 1 - often_share are shown
   within cal_margin on the ECE scale (pruned ce < full ce + cal_margin, tested as ce2 change <
   (full ce + cal_margin)^2 - full ce^2 with the full model's estimate, the variance taken midway
   between the estimate and that limit: a score-type correction that keeps this test at its
   level where the pruned model's error, hence the variance, would be larger).
4., 5. Faithfulness (calibration) often degrades even where accuracy is kept: rules 2 (3) over
   the configurations shown accuracy-kept (one-sided test at alpha); the closed-testing bound
   holds for every subset at once, so a subset chosen from the data is allowed.
6., 7. Faithfulness (calibration) fluctuates across configurations even where accuracy is kept:
   among the kept configurations, tau, the SD of the true changes (random effects; generalised
   Cochran Q with the full covariance and its Q-profile interval, Viechtbauer 2007;
   ``helpers.heterogeneity``): yes when tau > tau_margin is shown at alpha, no when tau <
   tau_margin is shown, else undetermined. Equal true changes give yes at most alpha, whatever
   the sample sizes. Defaults: tau_margin_faith = 0.05, the faithfulness margin (changes that
   differ across configurations by about what counts as a change); tau_margin_cal = 0.005 in ce2
   units, about an SD of 0.025 on the ECE scale around a level of 0.1 (``tau_ece_approx``
   translates tau).
8. Accuracy is a poor proxy for calibration change: calibration changes exist (Wald test of all
   ce2 changes = 0 at alpha) and Spearman's rho between the configurations' accuracy and ce2
   changes has a lower bound above rho_threshold (the alpha quantile of rho over normal draws of
   both change vectors with their joint covariance, shifted so that the draws' median is the
   estimate); no when the upper bound is below rho_threshold; undetermined with fewer than 4
   configurations or an undefined rho.

Minimum detectable effects (columns; from the run's own variances, at power ``power``): the true
change a configuration's own test detects (``mde_*`` in the configuration table; the variance
of a ce2 change grows with the change, which is included); in the claims table, as true changes
in the claimed direction: ``mde_config`` (median over configurations), ``mde_mean`` (the 'on
average' test), ``mde_share`` (the common change of every configuration that gives "yes" with
probability ``power``: normal draws with the run's covariance through the same closed testing);
``mde_no`` (accuracy: the common change below -acc_tolerance that gives "no") and
``margin_for_no`` (the smallest margin, on the display scale, that gives "no" with that
probability when nothing changes; for tau rows, the smallest tau_margin); ``mde_tau`` (the true
tau that gives "yes"). An "undetermined" where these exceed the plausible effects says the sample
is too small, not that there is no effect.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy.special import stdtr, stdtrit
from scipy.stats import chi2, norm

from helpers import calibration_change as cc
from helpers import heterogeneity as het
from helpers import multiplicity as mt
from helpers import stats as st
from helpers.calibration import _check_inputs

__all__ = ["CLAIMS", "VERDICTS", "ConfigChange", "verdicts"]

VERDICTS = ("yes", "no", "undetermined")
CLAIMS = (
    "Accuracy is often kept after pruning",
    "Faithfulness often degrades",
    "Calibration often degrades",
    "Faithfulness often degrades even where accuracy is kept",
    "Calibration often degrades even where accuracy is kept",
    "Faithfulness fluctuates across configurations even where accuracy is kept",
    "Calibration fluctuates across configurations even where accuracy is kept",
    "Accuracy is a poor proxy for calibration change (misalignment)",
)
MIN_CONFIGS_RHO = 4
MEANS = ("accuracy", "nll", "brier")
SCALE = {
    "accuracy": "change of accuracy",
    "faith": "change of mean faithfulness",
    "ce2": "change of the squared l2 calibration error ce2 (ECE scale: ce = sqrt(ce2))",
}
_DRAWS = 1000  # normal draws for the power of share and tau rules


@dataclass(frozen=True, eq=False)
class ConfigChange:
    """One pruned configuration (and demonstration seed): full and pruned model outputs on the
    same examples, optional faithfulness scores of both on a subset."""

    model: str
    task: str
    criterion: str
    ratio: float
    example_set: str
    labels: np.ndarray
    probs_full: np.ndarray
    probs_pruned: np.ndarray
    faith_full: np.ndarray | None = None
    faith_pruned: np.ndarray | None = None
    faith_set: str | None = None
    demo_seed: int = 0

    def __post_init__(self) -> None:
        name = f"{self.model}/{self.task}/{self.criterion}/{self.ratio}"
        for field in ("model", "task", "criterion", "example_set"):
            if not isinstance(getattr(self, field), str):
                raise ValueError(f"{name}: {field} must be a string")
        if not np.isfinite(float(self.ratio)):
            raise ValueError(f"{name}: ratio must be a finite number")
        if isinstance(self.demo_seed, bool) or not isinstance(self.demo_seed, (int, np.integer)):
            raise ValueError(f"{name}: demo_seed must be an integer, got {self.demo_seed!r}")
        if np.shape(self.probs_full) != np.shape(self.probs_pruned):
            raise ValueError(
                f"{name}: probs_full {np.shape(self.probs_full)} and probs_pruned"
                f" {np.shape(self.probs_pruned)} differ; pass both models' label probabilities on"
                " the same examples, in the same order"
            )
        try:
            full, labels = _check_inputs(self.probs_full, self.labels)
            pruned, _ = _check_inputs(self.probs_pruned, labels)
        except ValueError as err:
            raise ValueError(f"{name}: {err}") from None
        if len(labels) < 4:
            raise ValueError(f"{name}: need at least 4 test examples, got {len(labels)}")
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "probs_full", full)
        object.__setattr__(self, "probs_pruned", pruned)
        if (self.faith_full is None) != (self.faith_pruned is None):
            raise ValueError(f"{name}: pass both faith_full and faith_pruned, or neither")
        if self.faith_full is not None:
            a = np.asarray(self.faith_full, dtype=np.float64)
            b = np.asarray(self.faith_pruned, dtype=np.float64)
            if a.ndim != 1 or a.shape != b.shape or len(a) < 2:
                raise ValueError(
                    f"{name}: faith_full {a.shape} and faith_pruned {b.shape} must be 1-d arrays of"
                    " the same length >= 2 (one score per example of the faithfulness subset)"
                )
            object.__setattr__(self, "faith_full", a)
            object.__setattr__(self, "faith_pruned", b)
            if self.faith_set is None:
                object.__setattr__(self, "faith_set", self.example_set)

    @property
    def key(self) -> tuple[str, str, str, float]:
        """The configuration this record belongs to: (model, task, criterion, ratio)."""
        return self.model, self.task, self.criterion, float(self.ratio)

    @property
    def has_faith(self) -> bool:
        """Whether usable (present, NaN-free) faithfulness scores are attached."""
        return (
            self.faith_full is not None
            and bool(np.isfinite(self.faith_full).all())
            and bool(np.isfinite(self.faith_pruned).all())
        )


# ------------------------------------------------------------------------------------- checks


def _check_changes(changes: Sequence[ConfigChange]) -> list[ConfigChange]:
    out = list(changes)
    for c in out:
        if not isinstance(c, ConfigChange):
            raise ValueError(f"changes must be ConfigChange records, got {type(c).__name__}")
    sets: dict[str, np.ndarray] = {}
    faith_sizes: dict[str, int] = {}
    seen: set[tuple] = set()
    for c in out:
        first = sets.setdefault(c.example_set, c.labels)
        if not np.array_equal(first, c.labels):
            raise ValueError(
                f"configurations sharing example_set {c.example_set!r} have different labels;"
                " give configurations evaluated on different examples different example_set names"
            )
        if c.faith_full is not None:
            m = faith_sizes.setdefault(c.faith_set, len(c.faith_full))
            if m != len(c.faith_full):
                raise ValueError(
                    f"configurations sharing faith_set {c.faith_set!r} have {m} and"
                    f" {len(c.faith_full)} faithfulness scores; name different subsets differently"
                )
        record = (*c.key, int(c.demo_seed))
        if record in seen:
            raise ValueError(f"two records for configuration {c.key} with demo_seed {c.demo_seed}")
        seen.add(record)
    return out


def _check_fraction(value: float, name: str, low_open: bool = True) -> float:
    v = float(value)
    if not (0 < v < 1 if low_open else 0 <= v < 1):
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {value!r}")
    return v


def _check_margin(value: float, name: str) -> float:
    v = float(value)
    if not np.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


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


class _Metric(NamedTuple):
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


def _finish(sm: st.SeedMeans, cov: np.ndarray, var_sampling: np.ndarray,
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
    sm = st.seed_means(values, v, unit, seeds, groups)
    cs = sm.cov_sampling
    return _finish(sm, sm.cov, np.diag(cs).copy(), lambda w: float(w @ cs @ w), sampling_df)


def _u_part(values: np.ndarray, mats: dict[str, np.ndarray], z: dict[str, tuple],
            unit: np.ndarray, seeds: np.ndarray, groups: np.ndarray,
            null: dict[str, tuple] | None = None) -> tuple[_Part, dict[str, np.ndarray]]:
    """A ce2 quantity. The method of moments for the seeds subtracts the unbiased sampling
    covariance; every variance shown or tested clips each Hoeffding term of each example set at 0
    (scalars) or projects it onto the positive semidefinite cone (the covariance matrix)."""
    raw = sum(mats[e] @ (z1 + z2) @ mats[e].T for e, (z1, z2) in z.items())
    sm = st.seed_means(values, raw, unit, seeds, groups)
    per_config = {e: sm.weights @ mats[e] for e in z}  # (K, outputs of e)

    def sampling(w: np.ndarray) -> float:
        total = 0.0
        for e, (z1, z2) in z.items():
            u = w @ per_config[e]
            total += max(float(u @ z1 @ u), 0.0) + max(float(u @ z2 @ u), 0.0)
        return total

    cov_sampling = sum(st.psd(per_config[e] @ term @ per_config[e].T)
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


def _estimate(records: list[ConfigChange], config_of: np.ndarray, groups: np.ndarray,
              confidence: float) -> tuple[dict[str, _Metric], np.ndarray]:
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
    out: dict[str, _Metric] = {}
    for m in MEANS:
        parts = []
        for side in ("full", "pruned", "change"):
            mats = contrasts[side]
            values = sum(mats[e] @ level[m][e] for e in mats)
            v = sum(mats[e] @ cov[m][e] @ mats[e].T for e in mats)
            parts.append(_mean_part(values, v, config_of, seeds, groups, sampling_df))
        out[m] = _Metric(*parts, everywhere)
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
    out["ce2"] = _Metric(*parts, everywhere, slope)
    mats = contrasts["change"]
    a = st.seed_means(np.zeros(len(records)), np.eye(len(records)), config_of, seeds,
                      groups).weights
    x_cov = a @ sum(mats[e] @ cross[e] @ mats[e].T for e in mats) @ a.T
    out["faith"] = _faith(records, config_of, seeds, groups)
    return out, x_cov


def _faith(records: list[ConfigChange], config_of: np.ndarray, seeds: np.ndarray,
           groups: np.ndarray) -> _Metric:
    """Faithfulness levels and changes per configuration (records without scores left out)."""
    k = len(groups)
    use = np.flatnonzero([c.has_faith for c in records])
    available = np.zeros(k, dtype=bool)
    available[np.unique(config_of[use])] = True
    nan = np.full(k, np.nan)
    if len(use) == 0:
        empty = _Part(nan, np.full((k, k), np.nan), nan, nan, nan, np.zeros(k, dtype=int),
                      lambda w: float("nan"), nan, lambda w: float("nan"))
        return _Metric(empty, empty, empty, available)
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
    return _Metric(*parts, available)


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


def _sf(z: Any, df: Any) -> np.ndarray:
    """Upper tail of Student's t with df degrees of freedom (normal where df is inf)."""
    z = np.asarray(z, dtype=np.float64)
    return np.where(np.isnan(z), np.nan, stdtr(np.asarray(df, dtype=np.float64), -z))


def _z(diff: np.ndarray, se: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        z = diff / se
    return np.where(se > 0, z, np.where(diff > 0, np.inf, np.where(diff < 0, -np.inf, 0.0)))


def _interval(est: np.ndarray, se: np.ndarray, df: np.ndarray, confidence: float
              ) -> tuple[np.ndarray, np.ndarray]:
    q = _tq(df, (1 + confidence) / 2)
    return est - q * se, est + q * se


def _fmt_ratio(r: float) -> str:
    f = Fraction(float(r)).limit_denominator(12)
    return str(f) if abs(float(f) - r) < 1e-9 else f"{r:g}"


def _num(x: float) -> str:
    if not np.isfinite(x):
        return "NaN"
    return f"{x:+.2g}" if abs(x) < 0.001 and x else f"{x:+.3f}" if abs(x) < 10 else f"{x:+.3g}"


def _ci(e: float, lo: float, hi: float) -> str:
    return f"{_num(e)} [{_num(lo)}, {_num(hi)}]"


def _share(x: float) -> str:
    return "NaN" if not np.isfinite(x) else f"{x:.2f}"


# ------------------------------------------------------------------------------ power and MDE


def _z_alpha_power(alpha: float, power: float) -> float:
    return float(norm.ppf(1 - alpha) + norm.ppf(power))


def _corr_draws(cov: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
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


def _mde(se: Any, z: float, slope: Any = 0.0) -> Any:
    """Smallest change delta with delta = z * sqrt(se^2 + slope * delta): the MDE of a one-sided
    test whose variance grows by `slope` per unit of change (ce2; 0 for means)."""
    se, slope = np.asarray(se, dtype=np.float64), np.asarray(slope, dtype=np.float64)
    return (z * z * slope + np.sqrt((z * z * slope) ** 2 + 4 * z * z * se**2)) / 2


def _share_power_mde(se: np.ndarray, cov: np.ndarray, alpha: float, share: float, power: float,
                     rng: np.random.Generator, slope: np.ndarray | None = None) -> float:
    """Common change (in the metric's units, in the claimed direction) of every configuration
    that makes the share bound reach `share` with probability `power` (for ce2 the variance
    grows with the change by `slope` per unit)."""
    k = len(se)
    if not (np.all(se > 0) and np.isfinite(cov).all()):
        return float("nan")
    need = int(np.ceil(share * k - 1e-9))
    noise = _corr_draws(cov, _DRAWS, rng)

    grow = np.zeros(k) if slope is None else slope

    def reached(delta: float) -> bool:
        sd = np.sqrt(se**2 + grow * delta)
        z = (delta + noise * sd / se) / sd
        h = mt.hommel_h(norm.sf(z), alpha)
        return bool(np.mean(k - h >= need) >= power)

    return _bisect(reached, 0.0, 20 * float(se.max()) + 40 * float(grow.max()))


def _no_margin_needed(se: np.ndarray, cov: np.ndarray, alpha: float, share: float,
                      power: float, rng: np.random.Generator, to_test_scale=None,
                      slope: np.ndarray | None = None) -> float:
    """Smallest margin (display scale) for which, with no true change anywhere, the share shown
    within the margin exceeds 1 - share with probability `power`."""
    k = len(se)
    if not (np.all(se > 0) and np.isfinite(cov).all()):
        return float("nan")
    need = int(np.floor((1 - share) * k + 1e-9)) + 1
    noise = _corr_draws(cov, _DRAWS, rng)

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


def _tau_mdes(cov: np.ndarray, margin: float, alpha: float, power: float,
              rng: np.random.Generator) -> tuple[float, float]:
    """True tau giving 'yes' (tau > margin shown) with probability power, and the margin giving
    'no' (tau < margin shown) with that probability when tau = 0."""
    k = len(cov)
    df = k - 1
    if not (np.isfinite(cov).all() and np.trace(cov) > 0):
        return float("nan"), float("nan")
    noise = _corr_draws(cov, _DRAWS // 2, rng)
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


# ------------------------------------------------------------------------- configuration table


def _config_table(keys: list[tuple], records: list[ConfigChange], config_of: np.ndarray,
                  est: dict[str, _Metric], o: dict[str, Any]) -> pd.DataFrame:
    k = len(keys)
    conf, alpha = o["confidence"], o["alpha"]
    zp = _z_alpha_power(alpha, o["power"])
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
                lo, hi = _interval(part.estimate, np.sqrt(part.var), part.df, conf)
            cols[f"{m}_{side}"], cols[f"{m}_{side}_low"], cols[f"{m}_{side}_high"] = (
                part.estimate, lo, hi)
            if m == "ce2":  # the ECE scale: root of the squared scale, bounds mapped monotonically
                cols[f"ce_{side}"], cols[f"ce_{side}_low"], cols[f"ce_{side}_high"] = (
                    root(part.estimate), root(lo), root(hi))
        lo, hi = _interval(e.est, e.se, e.df, conf)
        cols[f"d_{m}"], cols[f"d_{m}_low"], cols[f"d_{m}_high"] = e.est, lo, hi
        cols[f"se_{m}"] = e.se
        cols[f"se_sampling_{m}"] = np.sqrt(e.change.var_sampling)
        cols[f"seed_sd_{m}"] = e.change.seed_sd
        cols[f"mde_{m}"] = _mde(e.se, zp, 0.0 if e.slope is None else e.slope)
    cols["d_ce"] = cols["ce_pruned"] - cols["ce_full"]  # ECE scale, point estimate only
    acc, ce2, faith = est["accuracy"], est["ce2"], est["faith"]
    tol = o["acc_tolerance"]
    cols["p_kept"] = _sf(_z(acc.est + tol, acc.se), acc.df)
    cols["p_lost"] = _sf(_z(-(acc.est + tol), acc.se), acc.df)
    cols["accuracy_kept"] = cols["p_kept"] < alpha
    cols["accuracy_lost"] = cols["p_lost"] < alpha
    eye = np.eye(k)
    se_null = np.sqrt([max(ce2.change.test_var(row), 0.0) for row in eye])
    cols["p_ce2"] = _sf(_z(ce2.est, se_null), ce2.df)
    limit = (cols["ce_full"] + o["cal_margin"]) ** 2 - cols["ce_full"] ** 2
    cols["cal_limit"] = limit
    # within the margin (H': change >= limit): the variance taken midway between the estimate and
    # the limit, where the pruned model's squared error is larger (a score-type correction; in
    # simulation the plain test rejects 7-9% at the limit, this one 2-5%)
    gap = np.maximum(limit - ce2.est, 0.0)
    cols["p_ce2_within"] = _sf(_z(limit - ce2.est, np.sqrt(ce2.change.var + 0.5 * ce2.slope * gap)),
                               ce2.df)
    cols["p_nll"] = _sf(_z(est["nll"].est, est["nll"].se), est["nll"].df)
    cols["p_faith"] = _sf(_z(-faith.est, faith.se), faith.df)
    cols["p_faith_within"] = _sf(_z(faith.est + o["faith_margin"], faith.se), faith.df)
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


# ------------------------------------------------------------------------------------ claims


def _holm_count(p: np.ndarray, alpha: float, subset: np.ndarray) -> tuple[int, float]:
    adjusted = mt.holm(p)[subset]
    if len(adjusted) == 0:
        return 0, float("nan")
    return int((adjusted < alpha).sum()), float(adjusted.min())


class _Claims:
    """The rows of the claims table, from the configuration-level estimates."""

    def __init__(self, est: dict[str, _Metric], x_cov: np.ndarray, t: pd.DataFrame,
                 o: dict[str, Any]):
        self.est, self.x_cov, self.t, self.o = est, x_cov, t, o
        self.zp = _z_alpha_power(o["alpha"], o["power"])
        self.rng = np.random.default_rng([o["seed"], 7])

    def _name(self, j: int) -> str:
        r = self.t.iloc[j]
        return f"{r.model}/{r.task}/{r.criterion}/{_fmt_ratio(r.ratio)}"

    def _mean(self, m: _Metric, which: np.ndarray, sign: float, null: float) -> dict[str, float]:
        """Mean change over `which`, interval, one-sided p of 'mean on the claimed side of null'
        (sign +1: above, -1: below) and its MDE."""
        w = np.zeros(len(m.est))
        w[which] = 1.0 / len(which)
        est = float(w[which] @ m.est[which])
        se = float(np.sqrt(max(m.change.contrast_var(w), 0.0)))
        df = m.change.contrast_df(w)
        lo, hi = _interval(np.array(est), np.array(se), np.array(df), self.o["confidence"])
        se_test = se if null else float(np.sqrt(max(m.change.test_var(w), 0.0)))
        p = float(_sf(_z(np.array(sign * (est - null)), np.array(se_test)), np.array(df)))
        return {"mean": est, "mean_low": float(lo), "mean_high": float(hi), "mean_p": p,
                "mde_mean": float(_mde(se, self.zp, 0.0 if m.slope is None
                                       else float(np.mean(m.slope[which])) / len(which)))}

    def often(self, metric: str, subset: np.ndarray, *, p_yes: np.ndarray, p_no: np.ndarray,
              sign: float, null: float, what: str, no_limit=None) -> dict[str, Any]:
        """An 'often' claim over `subset`: share bounds, Holm, mean, MDEs; sign is the claimed
        direction of the change (+1 up, -1 down) and null the boundary of a change."""
        o, m = self.o, self.est[metric]
        row: dict[str, Any] = {"metric": what, "test_scale": SCALE[metric],
                               "configs": int(len(subset)), "often_share": o["often_share"]}
        slope = 0.0 if m.slope is None else m.slope[subset]
        if len(subset) == 0:
            row["evidence"] = f"no configuration with {what} in scope"
            row["verdict"] = "undetermined"
            return row
        family = np.flatnonzero(m.available)  # hypotheses: every configuration with the metric
        pos = np.searchsorted(family, subset)
        low, high, verdict = _share_statement(p_yes[family], p_no[family], pos, o["alpha"],
                                              o["often_share"])
        count, p_holm = _holm_count(p_yes[family], o["alpha"], pos)
        mean = self._mean(m, subset, sign, null)
        mean["mde_mean"] = null + sign * mean["mde_mean"]  # as a true change, like mde_share
        row |= {"share_low": low, "share_high": high, "at_least_one_count": count,
                "at_least_one_p": p_holm, **mean,
                "mde_config": null + sign * float(np.median(_mde(m.se[subset], self.zp, slope)))}
        if o["mde"]:
            se, cov = m.se[subset], m.cov[np.ix_(subset, subset)]
            row["mde_share"] = null + sign * _share_power_mde(
                se, cov, o["alpha"], o["often_share"], o["power"], self.rng,
                None if m.slope is None else m.slope[subset])
            if no_limit is not None:
                row["margin_for_no"] = _no_margin_needed(
                    se, cov, o["alpha"], o["often_share"], o["power"], self.rng,
                    lambda margin: no_limit(margin, subset),
                    None if m.slope is None else m.slope[subset])
            else:  # accuracy: the common change below -tolerance that gives "no"
                row["mde_no"] = null - _share_power_mde(
                    se, cov, o["alpha"], 1 - o["often_share"] + 1e-9, o["power"], self.rng)
        worse = m.est[subset] if metric == "ce2" else -m.est[subset]
        bad = subset[np.argmax(worse)]
        noun = "kept" if metric == "accuracy" else "degrading"
        row["evidence"] = (
            f"share {noun} in [{_share(low)}, {_share(high)}] ({1 - o['alpha']:.0%} bounds,"
            f" {len(subset)} configurations); at least one (Holm): {count}; mean"
            f" {_ci(mean['mean'], mean['mean_low'], mean['mean_high'])} (p {mean['mean_p']:.2g});"
            f" worst {self._name(bad)} {_num(float(m.est[bad]))}"
        )
        row["verdict"] = verdict
        return row

    def fluctuation(self, metric: str, subset: np.ndarray, margin: float, what: str
                    ) -> dict[str, Any]:
        """Heterogeneity of the true changes over `subset` against tau_margin."""
        o, m = self.o, self.est[metric]
        row: dict[str, Any] = {"metric": what, "test_scale": SCALE[metric],
                               "configs": int(len(subset)), "tau_margin": margin}
        if len(subset) < 2:
            row["evidence"] = f"{len(subset)} accuracy-kept configurations with {what} (need 2)"
            row["verdict"] = "undetermined"
            return row
        y, v = m.est[subset], m.cov[np.ix_(subset, subset)]
        h = het.heterogeneity(y, v, margin=margin, confidence=o["confidence"])
        verdict = ("yes" if h.p_above < o["alpha"] else "no" if h.p_below < o["alpha"]
                   else "undetermined")
        if metric == "ce2":  # tau is on the squared scale; near a level c, d(c^2) = 2 c dc
            t = self.t.iloc[subset]
            level = float(np.mean((t.ce_full + t.ce_pruned) / 2))
            row["tau_ece_approx"] = h.tau / (2 * level) if level > 0 else np.nan
            row["scale_note"] = (
                f"tau in ce2 units; near the kept configurations' mean ce level {level:.3f} an SD"
                f" of tau in ce2 is about tau / (2 * {level:.3f}) on the ECE scale"
                " (tau_ece_approx)")
        row |= {"tau": h.tau, "tau_low": h.tau_low, "tau_high": h.tau_high, "q": h.q,
                "q_p": h.p_q, "tau_p_above": h.p_above, "tau_p_below": h.p_below,
                "mean": h.mean, "mde_config": float(np.median(_mde(
                    m.se[subset], self.zp, 0.0 if m.slope is None else m.slope[subset])))}
        if o["mde"]:
            row["mde_tau"], row["margin_for_no"] = _tau_mdes(v, margin, o["alpha"], o["power"],
                                                             self.rng)
        row["evidence"] = (
            f"tau {_num(h.tau)} [{_num(h.tau_low)}, {_num(h.tau_high)}] ({o['confidence']:.0%},"
            f" Q-profile) over {len(subset)} kept configurations; Q {h.q:.1f} on {len(subset) - 1}"
            f" df (p {h.p_q:.2g}); p(tau <= {margin:g}) {h.p_above:.2g}, p(tau >= {margin:g})"
            f" {h.p_below:.2g}"
        )
        row["verdict"] = verdict
        return row

    def proxy(self) -> dict[str, Any]:
        """Misalignment: rank correlation of accuracy and ce2 changes, gated by a Wald test."""
        o = self.o
        acc, ce2 = self.est["accuracy"], self.est["ce2"]
        k = len(acc.est)
        row: dict[str, Any] = {"metric": "accuracy vs calibration", "test_scale": SCALE["ce2"],
                               "configs": k}
        if k < MIN_CONFIGS_RHO:
            row["evidence"] = f"only {k} configurations (need {MIN_CONFIGS_RHO})"
            row["verdict"] = "undetermined"
            return row
        wald = float(ce2.est @ np.linalg.pinv(ce2.cov, rcond=1e-10, hermitian=True) @ ce2.est)
        p_wald = float(chi2.sf(wald, k))
        joint = np.block([[acc.cov, self.x_cov], [self.x_cov.T, ce2.cov]])
        mean = np.concatenate([acc.est, ce2.est])
        draws = mean + _corr_draws(joint, o["n_resamples"], self.rng)
        rho = float(st.spearman_rows(acc.est, ce2.est)[0])
        boot = st.spearman_rows(draws[:, :k], draws[:, k:])
        boot = boot[np.isfinite(boot)]
        lo = hi = float("nan")
        if np.isfinite(rho) and len(boot) >= max(2, o["n_resamples"] // 2):
            # the draws add noise to already noisy changes, so their rho is pulled towards 0:
            # take their spread, centred on the estimate (median bias shifted out), within [-1, 1]
            q_lo, q_mid, q_hi = np.quantile(boot, [o["alpha"], 0.5, 1 - o["alpha"]])
            lo, hi = max(rho + q_lo - q_mid, -1.0), min(rho + q_hi - q_mid, 1.0)
        row |= {"rho": rho, "rho_low": float(lo), "rho_high": float(hi), "wald_p": p_wald}
        row["evidence"] = (
            f"Spearman rho(d_accuracy, d_ce2) = {_ci(rho, lo, hi)} ({1 - 2 * o['alpha']:.0%}) over"
            f" {k} configurations; calibration changes"
            f" {'shown' if p_wald < o['alpha'] else 'not shown'}"
            f" (Wald p {p_wald:.2g})"
        )
        if not (np.isfinite(lo) and np.isfinite(hi)):
            row["verdict"] = "undetermined"
        elif lo > o["rho_threshold"] and p_wald < o["alpha"]:
            row["verdict"] = "yes"
        else:
            row["verdict"] = "no" if hi < o["rho_threshold"] else "undetermined"
        return row


def _share_statement(p_yes: np.ndarray, p_no: np.ndarray, subset: np.ndarray, alpha: float,
                     often: float) -> tuple[float, float, str]:
    k = len(subset)
    low = mt.true_discoveries(p_yes, alpha, subset) / k
    high = 1 - mt.true_discoveries(p_no, alpha, subset) / k
    verdict = "yes" if low >= often else "no" if high < often else "undetermined"
    return low, high, verdict


def _rules(o: dict[str, Any]) -> list[str]:
    a, s = o["alpha"], _fmt_ratio(o["often_share"])
    bound = (f"the {1 - a:.0%} lower confidence bound (closed testing with Simes local tests at"
             f" alpha {a:g}; PRDS) on the share of")
    no = f"no if the {1 - a:.0%} upper bound on the share of configurations that"
    kept = f"over the configurations shown accuracy-kept (one-sided test at alpha {a:g})"
    return [
        f"Kept: change of accuracy > -{o['acc_tolerance']:g}. yes if {bound} configurations kept"
        f" is >= {s}; {no} are kept is below {s} (from the configurations shown to lose more than"
        f" {o['acc_tolerance']:g}).",
        f"yes if {bound} configurations whose faithfulness falls is >= {s}; {no} fall by more"
        f" than {o['faith_margin']:g} is below {s}.",
        f"Tested on ce2 (squared l2 calibration error, 15 bins; ECE scale: its root ce). yes if"
        f" {bound} configurations whose ce2 rises is >= {s}; {no} get worse by more than the"
        f" margin is below {s} (margin: pruned ce {o['cal_margin']:g} above the full model's ce,"
        " ECE scale).",
        f"Rule 2 {kept}; the bound holds for any subset, even one chosen from the data.",
        f"Rule 3 {kept}; the bound holds for any subset, even one chosen from the data.",
        f"Over the configurations shown accuracy-kept, tau = SD of the true faithfulness changes"
        f" (generalised Q with the full covariance, Q-profile): yes if tau >"
        f" {o['tau_margin_faith']:g} is shown at alpha {a:g}; no if tau <"
        f" {o['tau_margin_faith']:g} is shown at alpha {a:g}.",
        f"Over the configurations shown accuracy-kept, tau = SD of the true ce2 changes (squared"
        f" scale): yes if tau > {o['tau_margin_cal']:g} is shown at alpha {a:g}; no if tau <"
        f" {o['tau_margin_cal']:g} is shown at alpha {a:g}.",
        f"yes if the ce2 changes are not all zero (Wald test at alpha {a:g}) and the {1 - a:.0%}"
        f" lower bound of Spearman's rho(change of accuracy, change of ce2) across configurations"
        f" is above {o['rho_threshold']:g}; no if its upper bound is below"
        f" {o['rho_threshold']:g}; undetermined with fewer than {MIN_CONFIGS_RHO} configurations.",
    ]


COLUMNS = [
    "claim", "verdict", "rule", "evidence", "metric", "test_scale", "configs", "often_share",
    "share_low", "share_high", "at_least_one_count", "at_least_one_p", "mean", "mean_low",
    "mean_high", "mean_p", "mde_config", "mde_mean", "mde_share", "mde_no", "margin_for_no",
    "tau", "tau_low", "tau_high", "tau_margin", "tau_ece_approx", "q", "q_p", "tau_p_above",
    "tau_p_below", "mde_tau", "rho", "rho_low", "rho_high", "wald_p", "scale_note",
]


def verdicts(
    changes: Sequence[ConfigChange],
    *,
    acc_tolerance: float = 0.05,
    alpha: float = 0.05,
    often_share: float = 0.5,
    cal_margin: float = 0.03,
    faith_margin: float = 0.05,
    tau_margin_cal: float = 0.005,
    tau_margin_faith: float = 0.05,
    rho_threshold: float = -0.5,
    confidence: float = 0.95,
    power: float = 0.8,
    mde: bool = True,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Claims table (claim, verdict, rule, evidence, numeric columns) and configuration table.

    The configuration table has one row per configuration, its demonstration seeds averaged;
    the module docstring states the rules and estimators."""
    st._check_alpha(alpha)
    st._check_tolerance(acc_tolerance)
    _check_fraction(often_share, "often_share")
    _check_fraction(confidence, "confidence")
    _check_fraction(power, "power")
    for name, value in (("cal_margin", cal_margin), ("faith_margin", faith_margin),
                        ("tau_margin_cal", tau_margin_cal),
                        ("tau_margin_faith", tau_margin_faith)):
        _check_margin(value, name)
    if not -1 <= rho_threshold <= 1:
        raise ValueError(f"rho_threshold must lie in [-1, 1], got {rho_threshold!r}")
    st._check_int(n_resamples, "n_resamples", 2)
    st._check_int(seed, "seed", 0)
    o = dict(acc_tolerance=acc_tolerance, alpha=alpha, often_share=often_share,
             cal_margin=cal_margin, faith_margin=faith_margin, tau_margin_cal=tau_margin_cal,
             tau_margin_faith=tau_margin_faith, rho_threshold=rho_threshold,
             confidence=confidence, power=power, mde=mde, n_resamples=n_resamples, seed=seed)
    records = _check_changes(changes)
    rules = _rules(o)
    if not records:
        table = pd.DataFrame({"claim": CLAIMS, "verdict": "undetermined", "rule": rules,
                              "evidence": "no configurations"}).reindex(columns=COLUMNS)
        return table, pd.DataFrame()
    keys = list(dict.fromkeys(c.key for c in records))
    index = {key: j for j, key in enumerate(keys)}
    config_of = np.array([index[c.key] for c in records])
    group_names = list(dict.fromkeys((key[0], key[1]) for key in keys))
    groups = np.array([group_names.index((key[0], key[1])) for key in keys])
    est, x_cov = _estimate(records, config_of, groups, confidence)
    t = _config_table(keys, records, config_of, est, o)
    c = _Claims(est, x_cov, t, o)
    every = np.arange(len(keys))
    kept = np.flatnonzero(t.accuracy_kept.to_numpy())
    faith_ok = est["faith"].available
    kept_faith = kept[faith_ok[kept]]
    ce_full = t.ce_full.to_numpy()

    def cal_limit(margin: float, which: np.ndarray) -> np.ndarray:
        return (ce_full[which] + margin) ** 2 - ce_full[which] ** 2

    p = {col: t[col].to_numpy(float) for col in
         ("p_kept", "p_lost", "p_faith", "p_faith_within", "p_ce2", "p_ce2_within")}
    faith_kw = dict(p_yes=p["p_faith"], p_no=p["p_faith_within"], sign=-1.0, null=0.0,
                    what="faithfulness", no_limit=lambda margin, which: margin)
    cal_kw = dict(p_yes=p["p_ce2"], p_no=p["p_ce2_within"], sign=1.0, null=0.0,
                  what="calibration", no_limit=cal_limit)
    rows = [
        c.often("accuracy", every, p_yes=p["p_kept"], p_no=p["p_lost"], sign=1.0,
                null=-acc_tolerance, what="accuracy"),
        c.often("faith", np.flatnonzero(faith_ok), **faith_kw),
        c.often("ce2", every, **cal_kw),
        c.often("faith", kept_faith, **faith_kw),
        c.often("ce2", kept, **cal_kw),
        c.fluctuation("faith", kept_faith, tau_margin_faith, "faithfulness"),
        c.fluctuation("ce2", kept, tau_margin_cal, "calibration"),
        c.proxy(),
    ]
    for row, claim, rule in zip(rows, CLAIMS, rules, strict=True):
        row["claim"], row["rule"] = claim, rule
        if "ce2" in row.get("test_scale", "") and "scale_note" not in row:
            row["scale_note"] = (
                "tested on ce2, the squared calibration error (unbiased); the book's ECE scale is"
                " its root: ce_full / ce_pruned with intervals in the configuration table")
    table = pd.DataFrame(rows).reindex(columns=COLUMNS)
    table.attrs["options"] = o
    table.attrs["columns"] = COLUMN_NOTES
    return table, t


COLUMN_NOTES = {
    "share_low": "lower bound on the share of configurations truly changed in the claimed"
                 " direction (kept, for accuracy)",
    "share_high": "upper bound on that share, from the configurations shown within the margin",
    "at_least_one_count": "configurations significant after Holm's correction",
    "at_least_one_p": "smallest Holm-adjusted p-value (at least one configuration)",
    "mean": "mean change over the configurations in scope (GLS mean for tau rows)",
    "mean_p": "one-sided p-value of the mean being on the claimed side (accuracy: of > -tol)",
    "mde_config": "the true change of a configuration its own test detects with the power at"
                  " alpha (median over configurations; a change value: accuracy -tol + MDE)",
    "mde_mean": "the true mean change the 'on average' test detects with the power",
    "mde_share": "common change of every configuration giving 'yes' with the power",
    "mde_no": "accuracy: common change giving 'no' (shown lost) with the power",
    "margin_for_no": "smallest margin (display scale; tau rows: tau_margin) giving 'no' with"
                     " the power if nothing changes",
    "mde_tau": "true tau giving 'yes' with the power",
}
