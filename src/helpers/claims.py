"""The paper's claims as explicit rules on bootstrap intervals; verdicts yes / no / undetermined.

Input: one ``ConfigChange`` per pruned configuration, holding the unpruned (full) and pruned
model's label probabilities on the same test examples and, optionally, per-example faithfulness
scores (higher = more faithful) of both on a subset of them. ``verdicts`` returns a table of the
claims (claim, rule, evidence, verdict) and a table of the per-configuration changes.

Resampling (``helpers.stats``): examples are resampled once per ``example_set`` and the same rows
are applied to every configuration of that set and to both of its models; each faithfulness
subset (``faith_set``, default: the example set's name) is resampled on its own, independently of
the example sets. Every change is pruned minus full. Intervals are percentile intervals at
1 - 2 alpha (90% for alpha = 0.05), so each bound is a one-sided bound at level alpha; p-values
are one-sided (``stats.bootstrap_p``).

Per configuration (columns of the second table):

* accuracy: ``accuracy_kept`` when the lower bound of the change is above ``-acc_tolerance``
  (one-sided equivalence, i.e. non-inferiority: gains are fine), ``accuracy_lost`` when the upper
  bound is below ``-acc_tolerance``;
* calibration (``calibration``, default ``ece_debiased``), where a rise is a degradation. For
  ``ece_debiased`` every test (p-value, Spearman, fluctuation) uses the change of the squared
  estimate ``ece_debiased_sq``, which is unbiased, so a pruned model that is merely less confident
  but calibrated does not test as worse (the clipped square root does: its bias grows with the
  estimate's noise). ``ece_debiased_full``/``_pruned`` show the ECE-scale values; the margin is
  stated on that scale, pruned <= full + ``cal_margin``, and checked on the squared scale
  (``cal_limit`` = (full + margin)^2 - full^2, with the full model's estimate). Near zero the
  bootstrap overstates the noise of the squared estimate (it resamples a population whose plug-in
  gaps are inflated), so these tests are conservative;
* NLL, shown with its interval (a proper score: it also rises when a calibrated model becomes
  less informative, so it is not the calibration test);
* faithfulness: the mean over the subset of (pruned - full); a fall is a degradation.
  Configurations without faithfulness, or with NaN in it, are left out of the faithfulness rules.

Rules (the ``rule`` column states the parameter values used):

1. Accuracy is often kept: yes when at least half of the configurations are kept; no when at
   least half are lost; otherwise undetermined.
2. Faithfulness often degrades: yes when at least one configuration's fall is significant after
   Holm's correction across configurations; no when none is and every configuration's lower bound
   is above ``-faith_margin`` (each is shown not to fall by more than the margin: evidence of
   absence, not absence of evidence); else undetermined, also when no configuration has scores.
3. Calibration often degrades: as 2, for a rise of the calibration error, with ``cal_margin``.
4. Faithfulness and calibration degrade even where accuracy is kept: among the kept
   configurations, yes when at least one fall of faithfulness or rise of calibration error is
   significant after Holm's correction over all of their tests; no when none is and every kept
   configuration is shown within both margins; undetermined otherwise or without kept
   configurations.
5. Faithfulness and calibration fluctuate more than accuracy across ratios: for each model x task
   x criterion with at least two ratios, the excess variation of a metric's changes across ratios
   is ``H = S / E - 1``, where ``S`` is the sum of squared deviations of the changes from their
   mean and ``E`` its expected value under sampling noise alone (from the joint bootstrap
   covariance), so ``H`` has no units and is about 0 when the metric does not move with the
   ratio. ``H`` is averaged over groups and compared with accuracy's on the same configurations;
   the difference gets a bias-corrected percentile interval from the same resamples. yes when
   calibration's or faithfulness's difference has a lower bound above 0 (Bonferroni over the
   two); no when every available difference has an upper bound below ``fluct_margin``; else
   undetermined. Calibration's ``E`` is overstated near zero (see above), which makes its yes
   conservative.
6. Accuracy is a poor proxy for calibration change: Spearman's rho between the configurations'
   accuracy and calibration changes, with its interval from the joint resampling. yes when
   calibration changes are real (rule 3 finds a significant configuration) and the lower bound is
   above ``rho_threshold`` (-0.5: the coupling is at most moderate); no when the upper bound is
   below it; undetermined otherwise, with fewer than 4 configurations, or when rho is undefined.
   NaN never gives yes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers import stats as st
from helpers.calibration import _check_inputs

__all__ = ["CLAIMS", "VERDICTS", "ConfigChange", "verdicts"]

VERDICTS = ("yes", "no", "undetermined")
CLAIMS = (
    "Accuracy is often kept after pruning",
    "Faithfulness often degrades",
    "Calibration often degrades",
    "Faithfulness and calibration degrade even where accuracy is kept",
    "Faithfulness and calibration fluctuate more than accuracy across ratios",
    "Accuracy is a poor proxy for calibration change (misalignment)",
)
MIN_CONFIGS_RHO = 4
_TEST_SCALE = {"ece_debiased": "ece_debiased_sq"}


@dataclass(frozen=True, eq=False)
class ConfigChange:
    """One pruned configuration: full and pruned model outputs on the same examples."""

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

    def __post_init__(self) -> None:
        name = f"{self.model}/{self.task}/{self.criterion}/{self.ratio}"
        for field in ("model", "task", "criterion", "example_set"):
            if not isinstance(getattr(self, field), str):
                raise ValueError(f"{name}: {field} must be a string")
        if not np.isfinite(float(self.ratio)):
            raise ValueError(f"{name}: ratio must be a finite number")
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
        if len(labels) < 2:
            raise ValueError(f"{name}: need at least 2 test examples, got {len(labels)}")
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
    def has_faith(self) -> bool:
        """Whether usable (present, NaN-free) faithfulness scores are attached."""
        return (
            self.faith_full is not None
            and bool(np.isfinite(self.faith_full).all())
            and bool(np.isfinite(self.faith_pruned).all())
        )


# ------------------------------------------------------------------------------ per configuration


def _check_changes(changes: Sequence[ConfigChange]) -> list[ConfigChange]:
    out = list(changes)
    for c in out:
        if not isinstance(c, ConfigChange):
            raise ValueError(f"changes must be ConfigChange records, got {type(c).__name__}")
    sets: dict[str, np.ndarray] = {}
    faith_sizes: dict[str, int] = {}
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
    return out


class _Draws:
    """Per-configuration estimates and jointly resampled replicates of every change."""

    def __init__(
        self, changes: list[ConfigChange], metrics: list[str], n_resamples: int, seed: int
    ):
        sizes = {f"examples:{c.example_set}": len(c.labels) for c in changes}
        sizes |= {f"faith:{c.faith_set}": len(c.faith_full) for c in changes if c.has_faith}
        idx = st.grouped_indices(sizes, n_resamples, seed)
        n_configs = len(changes)
        self.n = np.array([len(c.labels) for c in changes])
        self.full: dict[str, np.ndarray] = {}
        self.pruned: dict[str, np.ndarray] = {}
        self.delta: dict[str, st.Boot] = {}
        cache: dict[tuple[int, str, str], st.Boot] = {}  # unpruned outputs shared by configurations
        self.root_delta: dict[str, np.ndarray] = {}  # squared metrics: replicates on the root scale
        for m in metrics:
            full, pruned = np.empty(n_configs), np.empty(n_configs)
            draws = np.empty((n_resamples, n_configs))
            roots = np.empty((n_resamples, n_configs)) if m.endswith("_sq") else None
            for i, c in enumerate(changes):
                rows = idx[f"examples:{c.example_set}"]
                key = (id(c.probs_full), m, c.example_set)
                if key not in cache:
                    cache[key] = st.metric_boot(m, c.probs_full, c.labels, rows)
                a, b = cache[key], st.metric_boot(m, c.probs_pruned, c.labels, rows)
                full[i], pruned[i], draws[:, i] = a.estimate, b.estimate, b.draws - a.draws
                if roots is not None:
                    roots[:, i] = np.sqrt(np.maximum(b.draws, 0)) - np.sqrt(np.maximum(a.draws, 0))
            self.full[m], self.pruned[m] = full, pruned
            if roots is not None:
                self.root_delta[m] = roots
            self.delta[m] = st.Boot(pruned - full, draws, self.n)
        self.has_faith = np.array([c.has_faith for c in changes])
        est, draws = np.full(n_configs, np.nan), np.full((n_resamples, n_configs), np.nan)
        m_faith = np.zeros(n_configs, dtype=int)
        for i, c in enumerate(changes):
            if c.has_faith:
                boot = st.paired_mean_delta_boot(
                    c.faith_full, c.faith_pruned, idx[f"faith:{c.faith_set}"]
                )
                est[i], draws[:, i], m_faith[i] = boot.estimate, boot.draws, boot.n
        self.m_faith = m_faith
        self.delta["faith"] = st.Boot(est, draws, m_faith)

    def estimates(self, metric: str, which: np.ndarray) -> np.ndarray:
        return self.delta[metric].estimate[which]

    def matrix(self, metric: str, which: np.ndarray) -> np.ndarray:
        return self.delta[metric].draws[:, which]

    def available(self, metric: str) -> np.ndarray:
        return self.has_faith if metric == "faith" else np.ones(len(self.n), dtype=bool)


def _holm_where(p: np.ndarray) -> np.ndarray:
    out = np.full(len(p), np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = st.holm(p[ok])
    return out


def _config_table(
    changes: list[ConfigChange],
    draws: _Draws,
    cal: str,
    test: str,
    *,
    acc_tolerance: float,
    alpha: float,
    cal_margin: float,
    faith_margin: float,
) -> pd.DataFrame:
    conf = 1 - 2 * alpha
    eq = st.equivalence(draws.delta["accuracy"], acc_tolerance, alpha)
    t = pd.DataFrame(
        {
            "model": [c.model for c in changes],
            "task": [c.task for c in changes],
            "criterion": [c.criterion for c in changes],
            "ratio": [float(c.ratio) for c in changes],
            "example_set": [c.example_set for c in changes],
            "n": draws.n,
            "accuracy_full": draws.full["accuracy"],
            "accuracy_pruned": draws.pruned["accuracy"],
            "d_accuracy": eq.estimate,
            "d_accuracy_low": eq.low,
            "d_accuracy_high": eq.high,
            "accuracy_kept": eq.kept,
            "accuracy_lost": eq.lost,
        }
    )
    if cal != test:  # ece_debiased is the root of the (clipped) squared estimate
        full, pruned = (
            np.sqrt(np.maximum(draws.full[test], 0)),
            np.sqrt(np.maximum(draws.pruned[test], 0)),
        )
        t[f"{cal}_full"], t[f"{cal}_pruned"], t[f"d_{cal}"] = full, pruned, pruned - full
        _, t[f"d_{cal}_low"], t[f"d_{cal}_high"] = st.percentile_interval(
            st.Boot(pruned - full, draws.root_delta[test], draws.n), conf)
    else:
        full = draws.full[test]
    for m in dict.fromkeys([test, "nll"]):
        e, lo, hi = st.percentile_interval(draws.delta[m], conf)
        p = st.bootstrap_p(draws.delta[m], alternative="greater")
        t[f"d_{m}"], t[f"d_{m}_low"], t[f"d_{m}_high"], t[f"p_{m}"] = e, lo, hi, p
        t[f"p_{m}_holm"] = _holm_where(p)
    # the margin on the ECE scale, cal_pruned <= cal_full + margin, on the squared scale
    t["cal_limit"] = (full + cal_margin) ** 2 - full**2 if cal != test else cal_margin
    t["cal_within"] = t[f"d_{test}_high"] < t["cal_limit"]
    has = draws.has_faith
    t["m_faith"] = draws.m_faith
    with np.errstate(invalid="ignore"):
        e, lo, hi = st.percentile_interval(draws.delta["faith"], conf)
        p = st.bootstrap_p(draws.delta["faith"], alternative="less")
    t["d_faith"], t["d_faith_low"], t["d_faith_high"] = e, lo, hi
    t["p_faith"] = np.where(has, p, np.nan)
    t["p_faith_holm"] = _holm_where(t["p_faith"].to_numpy(float))
    t["faith_within"] = pd.array(np.where(has, lo > -faith_margin, False), dtype="boolean")
    t.loc[~has, "faith_within"] = pd.NA
    t.attrs["interval"] = f"{conf:.0%} percentile bootstrap (one-sided {1 - alpha:.0%} bounds)"
    t.attrs["calibration"] = cal
    t.attrs["calibration_test"] = test
    return t


# ----------------------------------------------------------------------------------------- rules


def _num(x: float) -> str:
    return "NaN" if not np.isfinite(x) else f"{x:+.3g}" if abs(x) < 0.01 and x else f"{x:+.3f}"


def _ci(e: float, lo: float, hi: float) -> str:
    return f"{_num(e)} [{_num(lo)}, {_num(hi)}]"


def _name(r: pd.Series) -> str:
    from .pages import ratio_label

    return f"{r.model}/{r.task}/{r.criterion}/{ratio_label(r.ratio)}"


def _claim_kept(t: pd.DataFrame, tol: float) -> tuple[str, str]:
    k, kept, lost = len(t), int(t.accuracy_kept.sum()), int(t.accuracy_lost.sum())
    r = t.loc[t.d_accuracy.idxmin()]
    evidence = (
        f"{kept} of {k} configurations shown kept, {lost} shown to lose more than {tol:g};"
        f" largest drop {_name(r)}: {_ci(r.d_accuracy, r.d_accuracy_low, r.d_accuracy_high)}"
    )
    verdict = "yes" if kept >= k / 2 else "no" if lost >= k / 2 else "undetermined"
    return evidence, verdict


def _claim_degrades(
    t: pd.DataFrame, col: str, worse: str, alpha: float, what: str
) -> tuple[str, str]:
    """yes/no/undetermined for 'col degrades' from the rows' Holm p-values and margin flags."""
    if t.empty:
        return f"no configuration has {what} scores", "undetermined"
    p_holm = t[f"p_{col}_holm"].to_numpy(float)
    within = t[f"{'cal' if what == 'calibration' else 'faith'}_within"].astype(bool)
    sig = int((p_holm < alpha).sum())
    r = t.loc[t[f"d_{col}"].idxmax() if worse == "greater" else t[f"d_{col}"].idxmin()]
    evidence = (
        f"{sig} of {len(t)} configurations degrade significantly (smallest Holm-adjusted p"
        f" {p_holm.min():.3g}); {int(within.sum())} of {len(t)} shown within the margin; worst"
        f" {_name(r)}: d_{col} {_ci(r[f'd_{col}'], r[f'd_{col}_low'], r[f'd_{col}_high'])}"
    )
    verdict = "yes" if sig else "no" if within.all() else "undetermined"
    return evidence, verdict


def _claim_kept_degrades(t: pd.DataFrame, test: str, alpha: float) -> tuple[str, str]:
    kept = t[t.accuracy_kept]
    if kept.empty:
        return "no configuration is shown accuracy-kept", "undetermined"
    p_cal = kept[f"p_{test}"].to_numpy(float)
    p_faith = kept.p_faith.to_numpy(float)
    p_faith = p_faith[np.isfinite(p_faith)]
    adjusted = st.holm(np.concatenate([p_cal, p_faith]))
    sig_cal = int((adjusted[: len(p_cal)] < alpha).sum())
    sig_faith = int((adjusted[len(p_cal) :] < alpha).sum())
    faith_ok = kept.faith_within[kept.p_faith.notna()].astype(bool)
    within = bool(kept.cal_within.all()) and bool(faith_ok.all())
    evidence = (
        f"{len(kept)} kept configurations: calibration degrades significantly in {sig_cal},"
        f" faithfulness in {sig_faith} of {len(p_faith)} with scores (Holm over"
        f" {len(adjusted)} tests); {'all' if within else 'not all'} shown within the margins"
    )
    verdict = "yes" if sig_cal + sig_faith else "no" if within else "undetermined"
    return evidence, verdict


def _excess_variation(
    draws: _Draws, metric: str, groups: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Per group: H = S / E - 1 on the estimates (groups,) and on every resample (R, groups)."""
    est, boot = [], []
    for g in groups:
        d, b = draws.estimates(metric, g), draws.matrix(metric, g)
        centred = b - b.mean(axis=1, keepdims=True)
        noise = centred.var(axis=0, ddof=1).sum()
        if not np.isfinite(noise) or noise <= 1e-300:
            est.append(np.nan)
            boot.append(np.full(len(b), np.nan))
            continue
        est.append(((d - d.mean()) ** 2).sum() / noise - 1)
        boot.append((centred**2).sum(axis=1) / noise - 1)
    return np.array(est), np.stack(boot, axis=1)


def _claim_fluctuation(
    changes: list[ConfigChange], draws: _Draws, test: str, alpha: float, margin: float
) -> tuple[str, str]:
    keys: dict[tuple[str, str, str], list[int]] = {}
    for i, c in enumerate(changes):
        keys.setdefault((c.model, c.task, c.criterion), []).append(i)
    groups = [np.array(v) for v in keys.values() if len(v) >= 2]
    if not groups:
        return "no model x task x criterion has two or more ratios", "undetermined"
    parts, usable = [], []
    for label, metric in (("calibration", test), ("faithfulness", "faith")):
        gs = [g[draws.available(metric)[g]] for g in groups]
        gs = [g for g in gs if len(g) >= 2]
        if not gs:
            parts.append(f"{label}: no group with two or more ratios")
            continue
        m_est, m_boot = _excess_variation(draws, metric, gs)
        a_est, a_boot = _excess_variation(draws, "accuracy", gs)
        ok = np.isfinite(m_est) & np.isfinite(a_est)
        if not ok.any():
            parts.append(f"{label}: no sampling noise, H undefined")
            continue
        usable.append((label, m_est[ok], m_boot[:, ok], a_est[ok], a_boot[:, ok]))
    lows, highs = [], []
    conf = 1 - 2 * alpha / max(len(usable), 1)  # Bonferroni over the metrics compared
    for label, m_est, m_boot, a_est, a_boot in usable:
        diff = float(m_est.mean() - a_est.mean())
        boot = m_boot.mean(axis=1) - a_boot.mean(axis=1)
        _, lo, hi = st.percentile_interval(st.Boot(diff, boot - (boot.mean() - diff)), conf)
        lows.append(lo)
        highs.append(hi)
        parts.append(
            f"{label}: H {m_est.mean():.2f} vs accuracy {a_est.mean():.2f} over {len(m_est)}"
            f" groups, difference {_ci(diff, lo, hi)}"
        )
    if not usable:
        return "; ".join(parts), "undetermined"
    verdict = "yes" if max(lows) > 0 else "no" if max(highs) < margin else "undetermined"
    return "; ".join(parts), verdict


def _claim_proxy(
    draws: _Draws, n_configs: int, test: str, alpha: float, threshold: float, cal_real: bool
) -> tuple[str, str]:
    if n_configs < MIN_CONFIGS_RHO:
        return f"only {n_configs} configurations (need {MIN_CONFIGS_RHO})", "undetermined"
    which = np.arange(n_configs)
    x_hat, y_hat = draws.estimates("accuracy", which), draws.estimates(test, which)
    x_boot, y_boot = draws.matrix("accuracy", which), draws.matrix(test, which)
    if not all(np.isfinite(v).all() for v in (x_hat, y_hat, x_boot, y_boot)):
        return "changes contain NaN", "undetermined"
    rho, lo, hi = st.rank_correlation_ci(x_boot, y_boot, x_hat, y_hat, confidence=1 - 2 * alpha)
    evidence = (
        f"Spearman rho(d_accuracy, d_{test}) = {_ci(rho, lo, hi)} over {n_configs}"
        f" configurations; calibration changes {'are' if cal_real else 'are not'} shown anywhere"
    )
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return evidence, "undetermined"
    if lo > threshold and cal_real:
        return evidence, "yes"
    return evidence, "no" if hi < threshold else "undetermined"


def _rules(
    cal: str,
    test: str,
    *,
    acc_tolerance: float,
    alpha: float,
    cal_margin: float,
    faith_margin: float,
    fluct_margin: float,
    rho_threshold: float,
) -> list[str]:
    one = f"one-sided {1 - alpha:.0%}"
    test_note = "" if cal == test else f" (tested on {test}, unbiased)"
    margin = (
        f"{cal} of the pruned model at most {cal_margin:g} above the full model's"
        if cal != test
        else f"rise of {cal} at most {cal_margin:g}"
    )
    return [
        f"Per configuration, accuracy is kept when the {one} lower bound of its change is above"
        f" -{acc_tolerance:g} (non-inferiority); yes if at least half are kept, no if at least"
        f" half have a {one} upper bound below -{acc_tolerance:g}.",
        f"yes if at least one configuration's fall of faithfulness is significant (one-sided"
        f" bootstrap test, Holm across configurations, alpha {alpha:g}); no if none is and every"
        f" {one} lower bound is above -{faith_margin:g}.",
        f"yes if at least one configuration's rise of {cal}{test_note} is significant (one-sided"
        f" bootstrap test, Holm across configurations, alpha {alpha:g}); no if none is and every"
        f" {one} upper bound shows the {margin}.",
        f"Among the accuracy-kept configurations of rule 1: yes if any fall of faithfulness or rise"
        f" of {cal} is significant (Holm over all their tests, alpha {alpha:g}); no if none is and"
        f" all are shown within the margins of rules 2 and 3.",
        f"Per model x task x criterion with >= 2 ratios, excess variation H = (sum of squared"
        f" deviations of the changes across ratios) / (its expectation from sampling noise) - 1;"
        f" yes if the mean H of {test} or of faithfulness exceeds accuracy's (lower bound > 0,"
        f" Bonferroni over the two at alpha {alpha:g}); no if every upper bound of the difference"
        f" is below {fluct_margin:g}.",
        f"yes if rule 3 finds a significant rise (alpha {alpha:g}) and the {one} lower bound of"
        f" Spearman"
        f" rho(d_accuracy, d_{test}) across configurations (joint bootstrap) is above"
        f" {rho_threshold:g}; no if its upper bound is below {rho_threshold:g}; undetermined with"
        f" fewer than {MIN_CONFIGS_RHO} configurations.",
    ]


def verdicts(
    changes: Sequence[ConfigChange],
    *,
    acc_tolerance: float = 0.05,
    alpha: float = 0.05,
    calibration: str = "ece_debiased",
    cal_margin: float = 0.03,
    faith_margin: float = 0.05,
    fluct_margin: float = 0.5,
    rho_threshold: float = -0.5,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Verdict table (claim, rule, evidence, verdict) and per-configuration table of changes."""
    st._check_alpha(alpha)
    st._check_tolerance(acc_tolerance)
    for name, value in (
        ("cal_margin", cal_margin),
        ("faith_margin", faith_margin),
        ("fluct_margin", fluct_margin),
    ):
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if not -1 <= rho_threshold <= 1:
        raise ValueError(f"rho_threshold must lie in [-1, 1], got {rho_threshold!r}")
    options = [m for m in st.METRICS if m not in ("accuracy", "ece_debiased_sq")]
    if calibration not in options:
        raise ValueError(f"unknown calibration metric {calibration!r}; use one of {options}")
    changes = _check_changes(changes)
    test = _TEST_SCALE.get(calibration, calibration)
    rules = _rules(
        calibration,
        test,
        acc_tolerance=acc_tolerance,
        alpha=alpha,
        cal_margin=cal_margin,
        faith_margin=faith_margin,
        fluct_margin=fluct_margin,
        rho_threshold=rho_threshold,
    )
    if not changes:
        table = pd.DataFrame(
            {
                "claim": CLAIMS,
                "rule": rules,
                "evidence": ["no configurations"] * len(CLAIMS),
                "verdict": ["undetermined"] * len(CLAIMS),
            }
        )
        return table, pd.DataFrame()
    draws = _Draws(changes, list(dict.fromkeys(["accuracy", test, "nll"])), n_resamples, seed)
    t = _config_table(
        changes,
        draws,
        calibration,
        test,
        acc_tolerance=acc_tolerance,
        alpha=alpha,
        cal_margin=cal_margin,
        faith_margin=faith_margin,
    )
    found = [
        _claim_kept(t, acc_tolerance),
        _claim_degrades(t[t.p_faith.notna()], "faith", "less", alpha, "faithfulness"),
        _claim_degrades(t, test, "greater", alpha, "calibration"),
        _claim_kept_degrades(t, test, alpha),
        _claim_fluctuation(changes, draws, test, alpha, fluct_margin),
        _claim_proxy(
            draws,
            len(changes),
            test,
            alpha,
            rho_threshold,
            bool((t[f"p_{test}_holm"] < alpha).any()),
        ),
    ]
    table = pd.DataFrame(
        [(c, r, e, v) for c, r, (e, v) in zip(CLAIMS, rules, found, strict=True)],
        columns=["claim", "rule", "evidence", "verdict"],
    )
    return table, t
