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
by the method of moments and pooled over configurations (``seed_effects.seed_means``), with
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

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2

from helpers import heterogeneity as het
from helpers import multiplicity as mt
from helpers import stats as st
from helpers.changes import ConfigChange, check_changes, check_fraction, check_margin
from helpers.claim_estimates import (
    SCALE,
    Metric,
    ci,
    config_table,
    estimate,
    fmt_ratio,
    interval,
    num,
    sf,
    share,
    z,
)
from helpers.claim_power import (
    corr_draws,
    mde,
    no_margin_needed,
    share_power_mde,
    tau_mdes,
    z_alpha_power,
)

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


# ------------------------------------------------------------------------------------ claims


def _holm_count(p: np.ndarray, alpha: float, subset: np.ndarray) -> tuple[int, float]:
    adjusted = mt.holm(p)[subset]
    if len(adjusted) == 0:
        return 0, float("nan")
    return int((adjusted < alpha).sum()), float(adjusted.min())


class _Claims:
    """The rows of the claims table, from the configuration-level estimates."""

    def __init__(self, est: dict[str, Metric], x_cov: np.ndarray, t: pd.DataFrame,
                 o: dict[str, Any]):
        self.est, self.x_cov, self.t, self.o = est, x_cov, t, o
        self.zp = z_alpha_power(o["alpha"], o["power"])
        self.rng = np.random.default_rng([o["seed"], 7])

    def _name(self, j: int) -> str:
        r = self.t.iloc[j]
        return f"{r.model}/{r.task}/{r.criterion}/{fmt_ratio(r.ratio)}"

    def _mean(self, m: Metric, which: np.ndarray, sign: float, null: float) -> dict[str, float]:
        """Mean change over `which`, interval, one-sided p of 'mean on the claimed side of null'
        (sign +1: above, -1: below) and its MDE."""
        w = np.zeros(len(m.est))
        w[which] = 1.0 / len(which)
        est = float(w[which] @ m.est[which])
        se = float(np.sqrt(max(m.change.contrast_var(w), 0.0)))
        df = m.change.contrast_df(w)
        lo, hi = interval(np.array(est), np.array(se), np.array(df), self.o["confidence"])
        se_test = se if null else float(np.sqrt(max(m.change.test_var(w), 0.0)))
        p = float(sf(z(np.array(sign * (est - null)), np.array(se_test)), np.array(df)))
        return {"mean": est, "mean_low": float(lo), "mean_high": float(hi), "mean_p": p,
                "mde_mean": float(mde(se, self.zp, 0.0 if m.slope is None
                                       else float(np.mean(m.slope[which])) / len(which)))}

    def often(self, metric: str, subset: np.ndarray, *, p_yes: np.ndarray, p_no: np.ndarray,
              sign: float, null: float, what: str, no_limit=None) -> dict[str, Any]:
        """An 'often' claim over `subset`: share bounds, Holm, mean, MDEs; sign is the claimed
        direction of the change (+1 up, -1 down) and null the boundary of a change."""
        o, m = self.o, self.est[metric]
        row: dict[str, Any] = {"metric": what, "measure": metric, "test_scale": SCALE[metric],
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
                "mde_config": null + sign * float(np.median(mde(m.se[subset], self.zp, slope)))}
        if o["mde"]:
            se, cov = m.se[subset], m.cov[np.ix_(subset, subset)]
            row["mde_share"] = null + sign * share_power_mde(
                se, cov, o["alpha"], o["often_share"], o["power"], self.rng,
                None if m.slope is None else m.slope[subset])
            if no_limit is not None:
                row["margin_for_no"] = no_margin_needed(
                    se, cov, o["alpha"], o["often_share"], o["power"], self.rng,
                    lambda margin: no_limit(margin, subset),
                    None if m.slope is None else m.slope[subset])
            else:  # accuracy: the common change below -tolerance that gives "no"
                row["mde_no"] = null - share_power_mde(
                    se, cov, o["alpha"], 1 - o["often_share"] + 1e-9, o["power"], self.rng)
        worse = m.est[subset] if metric == "ce2" else -m.est[subset]
        bad = subset[np.argmax(worse)]
        noun = "kept" if metric == "accuracy" else "degrading"
        row["evidence"] = (
            f"share {noun} in [{share(low)}, {share(high)}] ({1 - o['alpha']:.0%} bounds,"
            f" {len(subset)} configurations); at least one (Holm): {count}; mean"
            f" {ci(mean['mean'], mean['mean_low'], mean['mean_high'])} (p {mean['mean_p']:.2g});"
            f" worst {self._name(bad)} {num(float(m.est[bad]))}"
        )
        row["verdict"] = verdict
        return row

    def fluctuation(self, metric: str, subset: np.ndarray, margin: float, what: str
                    ) -> dict[str, Any]:
        """Heterogeneity of the true changes over `subset` against tau_margin."""
        o, m = self.o, self.est[metric]
        row: dict[str, Any] = {"metric": what, "measure": metric, "test_scale": SCALE[metric],
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
                "mean": h.mean, "mde_config": float(np.median(mde(
                    m.se[subset], self.zp, 0.0 if m.slope is None else m.slope[subset])))}
        if o["mde"]:
            row["mde_tau"], row["margin_for_no"] = tau_mdes(v, margin, o["alpha"], o["power"],
                                                             self.rng)
        row["evidence"] = (
            f"tau {num(h.tau)} [{num(h.tau_low)}, {num(h.tau_high)}] ({o['confidence']:.0%},"
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
        row: dict[str, Any] = {"metric": "accuracy vs calibration", "measure": "accuracy, ce2",
                               "test_scale": SCALE["ce2"],
                               "configs": k}
        if k < MIN_CONFIGS_RHO:
            row["evidence"] = f"only {k} configurations (need {MIN_CONFIGS_RHO})"
            row["verdict"] = "undetermined"
            return row
        wald = float(ce2.est @ np.linalg.pinv(ce2.cov, rcond=1e-10, hermitian=True) @ ce2.est)
        p_wald = float(chi2.sf(wald, k))
        joint = np.block([[acc.cov, self.x_cov], [self.x_cov.T, ce2.cov]])
        mean = np.concatenate([acc.est, ce2.est])
        draws = mean + corr_draws(joint, o["n_resamples"], self.rng)
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
            f"Spearman rho(d_accuracy, d_ce2) = {ci(rho, lo, hi)} ({1 - 2 * o['alpha']:.0%}) over"
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
    a, s = o["alpha"], fmt_ratio(o["often_share"])
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
    "claim", "verdict", "rule", "evidence", "metric", "measure", "test_scale", "configs", "often_share",
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
    check_fraction(often_share, "often_share")
    check_fraction(confidence, "confidence")
    check_fraction(power, "power")
    for name, value in (("cal_margin", cal_margin), ("faith_margin", faith_margin),
                        ("tau_margin_cal", tau_margin_cal),
                        ("tau_margin_faith", tau_margin_faith)):
        check_margin(value, name)
    if not -1 <= rho_threshold <= 1:
        raise ValueError(f"rho_threshold must lie in [-1, 1], got {rho_threshold!r}")
    st._check_int(n_resamples, "n_resamples", 2)
    st._check_int(seed, "seed", 0)
    o = dict(acc_tolerance=acc_tolerance, alpha=alpha, often_share=often_share,
             cal_margin=cal_margin, faith_margin=faith_margin, tau_margin_cal=tau_margin_cal,
             tau_margin_faith=tau_margin_faith, rho_threshold=rho_threshold,
             confidence=confidence, power=power, mde=mde, n_resamples=n_resamples, seed=seed)
    records = check_changes(changes)
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
    est, x_cov = estimate(records, config_of, groups, confidence)
    t = config_table(keys, records, config_of, est, o)
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
    "measure": "the stem of the per-configuration columns the claim tests (d_<measure>, "
               "p_<measure>): accuracy, faith or ce2",
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
