"""Simulated pruning grids with a known population value for every quantity the verdicts show.

Model of one task (its test examples are shared by every model, configuration and seed):

* per example: a latent difficulty ``zeta`` ~ N(0, 1), a correctness latent ``W`` ~ N(0, 1), a label
  drawn uniformly from the ``k`` labels and a faithfulness baseline;
* the full model's logit ``X = MEAN + SD * xi`` with ``xi = sqrt(RHO_EXAMPLE) zeta + sqrt(1 -
  RHO_EXAMPLE) e`` (both models of a task find the same examples hard), confidence ``C = 1 / k +
  (1 - 1 / k) sigmoid(X)``; it is right with probability ``phi(C) = 1 / k + (1 - kappa) (C - 1 /
  k)`` (``kappa`` > 0: over-confident, 0: calibrated), through a Gaussian copula on ``W`` so that
  the two models of a task tend to err on the same examples;
* a pruned model (one per configuration and seed) has the logit ``s * (MEAN + SD * xi_b)`` with
  ``xi_b = RHO_LOGIT xi + sqrt(1 - RHO_LOGIT^2) e_b`` (correlated with its full model per
  example; ``s`` < 1: less confident), its own ``kappa``, and errs where its full model errs
  through the copula (correlation ``RHO_ERROR``);
* a wrong prediction is a uniformly drawn other label; the label-set probabilities put ``C`` on
  the prediction and spread ``1 - C`` evenly over the other labels;
* faithfulness on the first ``m`` examples: the full model ``base + model offset + nu_s + noise``,
  the pruned one ``base + model offset + shift + eta_s + noise``; per example the paired change has
  SD ``sqrt(2) * faith_noise``;
* demonstration seeds: each seed draws fresh model noise ``e``, ``W``-copula noise and
  faithfulness noise on the same examples, multiplies every ``kappa`` by ``u ~ U(1 - w, 1 + w)``
  (one ``u`` per full model and seed, one per configuration and seed) and shifts faithfulness by
  ``nu_s, eta_s ~ N(0, seed_faith^2)``; the full model's draws are shared by its configurations,
  so seed effects on the changes are correlated within a model x task.

Population truth (``truth``): every quantity is an expectation over the confidence distribution,
a normal logit through a sigmoid, computed on a fine grid; the squared calibration error uses
the 15 uniform right-closed bins of ``helpers.calibration``. With seeds, the truth of a
configuration is the mean over the seed distribution (``E[u] = 1``, ``E[u^2] = 1 + w^2 / 3``):
accuracy, NLL and Brier are linear in ``kappa`` and the squared calibration error quadratic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import ndtr

from helpers.calibration import _bin_index
from helpers.claims import ConfigChange

N_BINS = 15
MEAN, SD = 0.3, 0.8  # the full model's log top-logit margin
RHO_EXAMPLE = 0.5  # share of the full models' logit variance common to the models of a task
RHO_LOGIT = 0.8  # correlation of a pruned model's logit with its full model's, per example
RHO_W = 0.5  # share of the full models' correctness latent common to the models of a task
RHO_ERROR = 0.9  # correlation of a pruned model's correctness latent with its full model's
FAITH_MEAN = 0.3


@dataclass(frozen=True)
class Grid:
    """Sizes of a simulated grid: models x tasks x criteria x ratios configurations."""

    models: int = 2
    tasks: int = 2
    criteria: int = 2
    ratios: tuple[float, ...] = (0.25, 0.5)
    n: int = 200
    m: int = 100
    n_labels: int = 2
    seeds: int = 1

    @property
    def size(self) -> int:
        """Number of configurations."""
        return self.models * self.tasks * self.criteria * len(self.ratios)

    def keys(self) -> list[tuple[int, int, int, float]]:
        """(model, task, criterion, ratio) of every configuration, in the order of the effects."""
        return [
            (g, t, c, r)
            for t in range(self.tasks)
            for g in range(self.models)
            for c in range(self.criteria)
            for r in self.ratios
        ]


@dataclass(frozen=True)
class Effects:
    """Population parameters; per-configuration ones are scalars or arrays of ``Grid.size``."""

    kappa_full: float = 0.2
    kappa: Any = None  # the pruned models' over-confidence; None: that of the full model
    sharpness: Any = 1.0  # the pruned models' logit scale
    faith_shift: Any = 0.0
    seed_kappa: float = 0.0  # w: every kappa is multiplied by U(1 - w, 1 + w) per seed
    seed_faith: float = 0.0  # SD of the per-seed faithfulness shifts
    faith_noise: float = 0.1

    def per_config(self, grid: Grid) -> dict[str, np.ndarray]:
        """The per-configuration parameters as arrays of length grid.size."""
        kappa = self.kappa_full if self.kappa is None else self.kappa
        out = {}
        for name, value in (("kappa", kappa), ("sharpness", self.sharpness),
                            ("faith_shift", self.faith_shift)):
            out[name] = np.broadcast_to(np.asarray(value, dtype=np.float64), (grid.size,)).copy()
        return out


# ------------------------------------------------------------------------------ population truth

_T = np.linspace(-9.0, 9.0, 24001)
_W = np.exp(-0.5 * _T**2)
_W /= _W.sum()


def _confidence(x: np.ndarray, k: int) -> np.ndarray:
    """Top-label confidence for a top logit exp(x) above the k - 1 others (at 0)."""
    c = 1.0 / (1.0 + (k - 1) * np.exp(-np.exp(np.clip(x, -30.0, 6.0))))
    return np.minimum(c, 1 - 1e-9)


def population(sharpness: float, kappa: float, n_labels: int = 2,
               seed_kappa: float = 0.0) -> dict[str, float]:
    """Population accuracy, ce2 (and its root ce), NLL and Brier of one model, seed-averaged.

    The model's log top-logit margin is log(sharpness) + N(MEAN, SD^2); kappa its
    over-confidence."""
    k = n_labels
    c = _confidence(np.log(sharpness) + MEAN + SD * _T, k)
    lift = c - 1 / k
    phi = 1 / k + (1 - kappa) * lift
    b = _bin_index(c, N_BINS, "uniform")
    mass = np.bincount(b, weights=_W, minlength=N_BINS)
    gap = np.bincount(b, weights=_W * lift, minlength=N_BINS)
    filled = mass > 0
    ce2 = kappa**2 * (1 + seed_kappa**2 / 3) * float((gap[filled] ** 2 / mass[filled]).sum())
    rest = (1 - c) / (k - 1)
    nll = -(phi * np.log(c) + (1 - phi) * np.log(rest))
    brier_right = (1 - c) ** 2 + (k - 1) * rest**2
    brier_wrong = c**2 + (1 - rest) ** 2 + (k - 2) * rest**2
    brier = phi * brier_right + (1 - phi) * brier_wrong
    return {
        "accuracy": float((_W * phi).sum()),
        "ce2": ce2,
        "ce": float(np.sqrt(ce2)),
        "nll": float((_W * nll).sum()),
        "brier": float((_W * brier).sum()),
    }


def truth(grid: Grid, effects: Effects) -> pd.DataFrame:
    """Per configuration: population values of the full and pruned model and of the change.

    Every quantity the tables show, averaged over the seed distribution."""
    p = effects.per_config(grid)
    full = population(1.0, effects.kappa_full, grid.n_labels, effects.seed_kappa)
    rows = []
    for j, key in enumerate(grid.keys()):
        pruned = population(p["sharpness"][j], p["kappa"][j], grid.n_labels, effects.seed_kappa)
        row = dict(zip(("model", "task", "criterion", "ratio"), _names(key), strict=True))
        for metric in ("accuracy", "ce2", "ce", "nll", "brier"):
            row[f"{metric}_full"], row[f"{metric}_pruned"] = full[metric], pruned[metric]
            row[f"d_{metric}"] = pruned[metric] - full[metric]
        row["faith_full"] = FAITH_MEAN
        row["faith_pruned"] = FAITH_MEAN + p["faith_shift"][j]
        row["d_faith"] = p["faith_shift"][j]
        rows.append(row)
    return pd.DataFrame(rows)


def kappa_for(sharpness: float, accuracy: float, n_labels: int = 2) -> float:
    """The over-confidence that gives a model of this sharpness this population accuracy."""
    c = _confidence(np.log(sharpness) + MEAN + SD * _T, n_labels)
    lift = float((_W * (c - 1 / n_labels)).sum())
    return 1 - (accuracy - 1 / n_labels) / lift


def pruned_for(d_accuracy: float, ce: float, kappa_full: float = 0.2,
               n_labels: int = 2) -> tuple[float, float]:
    """(sharpness, kappa) of a pruned model with this accuracy change and calibration error ce."""
    target = population(1.0, kappa_full, n_labels)["accuracy"] + d_accuracy

    def gap(log_s: float) -> float:
        s = float(np.exp(log_s))
        unit = population(s, 1.0, n_labels)["ce"]  # the root is proportional to kappa
        kappa = ce / unit
        return population(s, kappa, n_labels)["accuracy"] - target

    grid = np.linspace(np.log(0.1), np.log(10.0), 60)
    values = np.array([gap(x) for x in grid])
    change = np.flatnonzero(np.sign(values[:-1]) != np.sign(values[1:]))
    if not len(change):
        raise ValueError(f"no pruned model with accuracy change {d_accuracy} and ce {ce}")
    log_s = brentq(gap, grid[change[0]], grid[change[0] + 1], xtol=1e-10)
    s = float(np.exp(log_s))
    return s, ce / population(s, 1.0, n_labels)["ce"]


# ------------------------------------------------------------------------------------ sampling


def _names(key: tuple[int, int, int, float]) -> tuple[str, str, str, float]:
    g, t, c, r = key
    return f"m{g}", f"t{t}", f"c{c}", float(r)


def _probs(rng: np.random.Generator, conf: np.ndarray, right: np.ndarray, labels: np.ndarray,
           k: int) -> np.ndarray:
    n = len(labels)
    wrong = (labels + rng.integers(1, k, size=n)) % k if k > 2 else 1 - labels
    pred = np.where(right, labels, wrong)
    p = np.repeat(((1 - conf) / (k - 1))[:, None], k, axis=1)
    p[np.arange(n), pred] = conf
    return p


def _outputs(rng: np.random.Generator, xi: np.ndarray, omega: np.ndarray, sharpness: float,
             kappa: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    conf = _confidence(np.log(sharpness) + MEAN + SD * xi, k)
    right = ndtr(omega) < 1 / k + (1 - kappa) * (conf - 1 / k)
    return conf, right


def simulate(grid: Grid, effects: Effects, rng: np.random.Generator) -> list[ConfigChange]:
    """One simulated grid: a ConfigChange per configuration and seed."""
    p = effects.per_config(grid)
    k, n, m, w = grid.n_labels, grid.n, grid.m, effects.seed_kappa
    keys = grid.keys()
    out = []
    for t in range(grid.tasks):
        zeta, big_w = rng.normal(size=n), rng.normal(size=n)
        labels = rng.integers(0, k, size=n)
        base = FAITH_MEAN + 0.2 * zeta[:m]
        for g in range(grid.models):
            offset = 0.1 * rng.normal(size=m)
            configs = [j for j, key in enumerate(keys) if key[0] == g and key[1] == t]
            for s in range(grid.seeds):
                xi = np.sqrt(RHO_EXAMPLE) * zeta + np.sqrt(1 - RHO_EXAMPLE) * rng.normal(size=n)
                omega = np.sqrt(RHO_W) * big_w + np.sqrt(1 - RHO_W) * rng.normal(size=n)
                u = rng.uniform(1 - w, 1 + w) if w else 1.0
                conf, right = _outputs(rng, xi, omega, 1.0, effects.kappa_full * u, k)
                full = _probs(rng, conf, right, labels, k)
                nu = rng.normal(0, effects.seed_faith) if effects.seed_faith else 0.0
                faith_full = base + offset + nu + effects.faith_noise * rng.normal(size=m)
                for j in configs:
                    xi_b = RHO_LOGIT * xi + np.sqrt(1 - RHO_LOGIT**2) * rng.normal(size=n)
                    om_b = RHO_ERROR * omega + np.sqrt(1 - RHO_ERROR**2) * rng.normal(size=n)
                    u_b = rng.uniform(1 - w, 1 + w) if w else 1.0
                    conf_b, right_b = _outputs(rng, xi_b, om_b, p["sharpness"][j],
                                               p["kappa"][j] * u_b, k)
                    eta = rng.normal(0, effects.seed_faith) if effects.seed_faith else 0.0
                    faith_pruned = (base + offset + p["faith_shift"][j] + eta
                                    + effects.faith_noise * rng.normal(size=m))
                    model, task, criterion, ratio = _names(keys[j])
                    out.append(ConfigChange(
                        model=model, task=task, criterion=criterion, ratio=ratio,
                        example_set=task, labels=labels, probs_full=full,
                        probs_pruned=_probs(rng, conf_b, right_b, labels, k),
                        faith_full=faith_full, faith_pruned=faith_pruned,
                        faith_set=f"{model}/{task}", demo_seed=s,
                    ))
    return out


def simulate_pairs(rng: np.random.Generator, reps: int, n: int, full: tuple[float, float],
                   pruned: tuple[float, float], n_labels: int = 2
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Many independent (full, pruned) pairs on n examples: confidences and 0/1 correctness.

    Four arrays (reps, n); full and pruned are (sharpness, kappa)."""
    k = n_labels
    zeta = rng.normal(size=(reps, n))
    xi = np.sqrt(RHO_EXAMPLE) * zeta + np.sqrt(1 - RHO_EXAMPLE) * rng.normal(size=(reps, n))
    omega = rng.normal(size=(reps, n))
    conf_a, right_a = _outputs(rng, xi, omega, full[0], full[1], k)
    xi_b = RHO_LOGIT * xi + np.sqrt(1 - RHO_LOGIT**2) * rng.normal(size=(reps, n))
    om_b = RHO_ERROR * omega + np.sqrt(1 - RHO_ERROR**2) * rng.normal(size=(reps, n))
    conf_b, right_b = _outputs(rng, xi_b, om_b, pruned[0], pruned[1], k)
    return conf_a, right_a.astype(float), conf_b, right_b.astype(float)


# ------------------------------------------------------------------------------------ scenarios


@dataclass(frozen=True)
class Scenario:
    """A named simulated grid with its population parameters and what it plants."""

    name: str
    grid: Grid
    effects: Effects
    note: str


def _pattern(kind: str, size: int = 16) -> np.ndarray:
    """0/1 masks over the configurations: 'one' (the first), 'most' (12 of 16, fixed), 'alt'."""
    if kind == "one":
        return np.r_[1.0, np.zeros(size - 1)]
    if kind == "most":
        return np.r_[np.ones(12), np.zeros(size - 12)][np.random.default_rng(0).permutation(size)]
    return np.tile([1.0, 0.0], size // 2)


def scenarios(n: int = 200, m: int = 100, seeds: int = 1) -> dict[str, Scenario]:
    """The scenarios of the tests and of bench/verdicts.py (16 configurations each)."""
    g = Grid(n=n, m=m, seeds=seeds)
    sw = dict(seed_kappa=0.5, seed_faith=0.03) if seeds > 1 else {}
    hot = pruned_for(0.0, 0.25)  # ce 0.064 -> 0.25, accuracy unchanged (sharper, over-confident)
    cool = pruned_for(0.0, 0.0)  # calibrated at the full model's accuracy
    equal = pruned_for(0.0, 0.13)
    drop = pruned_for(-0.10, 0.0, kappa_full=0.0)  # calibrated, less confident: accuracy -0.10
    one, most, alt = _pattern("one"), _pattern("most"), _pattern("alt")
    acc_pat, cal_pat = np.tile([0, 0, 1, 1], 4), np.tile([0, 1], 8)
    mis = [pruned_for(-0.1 * a, 0.2 if c else population(1.0, 0.2)["ce"])
           for a, c in zip(acc_pat, cal_pat, strict=True)]

    def mixed(mask: np.ndarray, faith: float) -> Effects:
        return Effects(faith_shift=faith * mask, sharpness=np.where(mask > 0, hot[0], 1.0),
                       kappa=np.where(mask > 0, hot[1], 0.2), **sw)

    out = [
        Scenario("no effect", g, Effects(**sw), "nothing changes"),
        Scenario("effect in one configuration", g, mixed(one, -0.3),
                 "configuration 1 of 16: faithfulness -0.3, ce 0.064 -> 0.25 (accuracy kept)"),
        Scenario("effect in most configurations", g, mixed(most, -0.1),
                 "12 of 16: faithfulness -0.10, ce 0.064 -> 0.25 (accuracy kept)"),
        Scenario("calibration doubles everywhere", g, Effects(kappa=0.4, **sw),
                 "all 16: ce 0.064 -> 0.129 (accuracy -0.06)"),
        Scenario("accuracy drops 0.10 everywhere", g,
                 Effects(kappa_full=0.0, kappa=0.0, sharpness=drop[0], **sw),
                 "all 16: accuracy -0.10 (calibrated, less confident)"),
        Scenario("accuracy kept in one configuration only", g,
                 Effects(kappa_full=0.0, kappa=0.0, sharpness=np.where(one > 0, 1.0, drop[0]),
                         **sw),
                 "15 of 16: accuracy -0.10; configuration 1 unchanged"),
        Scenario("less confident but calibrated", g,
                 Effects(kappa_full=0.0, kappa=0.0, sharpness=0.5, **sw),
                 "all 16: calibrated full and pruned models, pruned less confident (accuracy"
                 " -0.11)"),
        Scenario("equal changes everywhere", g,
                 Effects(faith_shift=-0.1, sharpness=equal[0], kappa=equal[1], **sw),
                 "all 16 alike: faithfulness -0.10, ce 0.064 -> 0.13 (accuracy kept); tau = 0"),
        Scenario("fluctuation", g,
                 Effects(faith_shift=0.1 * (2 * alt - 1),
                         sharpness=np.where(alt > 0, hot[0], cool[0]),
                         kappa=np.where(alt > 0, hot[1], cool[1]), **sw),
                 "alternating: faithfulness +-0.10 (tau 0.10); ce 0.25 / 0 (accuracy kept)"),
        Scenario("misalignment", g,
                 Effects(sharpness=[s for s, _ in mis], kappa=[k for _, k in mis], **sw),
                 "accuracy -0.10 in half, ce 0.064 -> 0.20 in an independent half"),
        Scenario("accuracy and calibration coupled", g,
                 Effects(kappa=np.linspace(0.2, 0.6, 16), **sw),
                 "over-confidence rising over the grid: accuracy falls as ce rises"),
        Scenario("full calibrated, pruned miscalibrated", g,
                 Effects(kappa_full=0.0, kappa=0.3, **sw),
                 "ce 0 -> 0.097"),
        Scenario("full miscalibrated, pruned calibrated", g,
                 Effects(kappa_full=0.3, kappa=0.0, **sw),
                 "ce 0.097 -> 0"),
    ]
    return {s.name: s for s in out}


# --------------------------------------------------------------------------------- runners

INTERVALS = ("accuracy_full", "accuracy_pruned", "d_accuracy", "ce_full", "ce_pruned", "d_ce2",
             "nll_full", "nll_pruned", "d_nll", "brier_full", "brier_pruned", "d_brier",
             "faith_full", "faith_pruned", "d_faith")
MEAN_INTERVALS = {"mean d_accuracy": (0, "d_accuracy"), "mean d_faith": (1, "d_faith"),
                  "mean d_ce2": (2, "d_ce2")}


@dataclass(frozen=True)
class Runs:
    """Results of `run` over independent simulated grids."""

    verdict: np.ndarray  # (reps, claims) yes / no / undetermined
    mean_p: np.ndarray  # (reps, claims) p-value of the 'on average' statement
    any_holm: np.ndarray  # (reps, claims) 'in at least one configuration' (Holm) shown
    covered: dict[str, np.ndarray]  # interval kind -> (reps, configurations) or (reps,)
    rejected: np.ndarray  # (reps, configurations) per-configuration 'pruned worse calibrated'


def run(scenario: Scenario, reps: int, seed: int = 0, **options: Any) -> Runs:
    """Verdicts, weaker statements, calibration tests and interval coverage over `reps` grids."""
    from helpers.claims import verdicts

    options = {"mde": False, "n_resamples": 400} | options
    alpha = options.get("alpha", 0.05)
    truth_t = truth(scenario.grid, scenario.effects)
    verdict, mean_p, any_holm, rejected = [], [], [], []
    covered: dict[str, list] = {k: [] for k in (*INTERVALS, *MEAN_INTERVALS)}
    for r in range(reps):
        changes = simulate(scenario.grid, scenario.effects, np.random.default_rng([seed, r]))
        table, configs = verdicts(changes, seed=r, **options)
        verdict.append(table.verdict.to_numpy())
        mean_p.append(table.mean_p.to_numpy(float))
        any_holm.append(table.at_least_one_count.to_numpy(float) > 0)
        rejected.append(configs.p_ce2.to_numpy() < alpha)
        for col in INTERVALS:
            true = truth_t[col].to_numpy()
            covered[col].append((configs[f"{col}_low"].to_numpy() <= true)
                                & (true <= configs[f"{col}_high"].to_numpy()))
        for name, (row, col) in MEAN_INTERVALS.items():
            true = truth_t[col].mean()
            covered[name].append(table.mean_low[row] <= true <= table.mean_high[row])
    return Runs(np.array(verdict), np.array(mean_p), np.array(any_holm),
                {k: np.array(v) for k, v in covered.items()}, np.array(rejected))


# ----------------------------------------------------------- calibration test candidates (pairs)


def _bootstrap_candidate(ca, ya, cb, yb, n_resamples: int = 400, seed: int = 0):
    """The former rule: change of the debiased squared ECE, one-sided p from its bootstrap SE."""
    from helpers import stats as st

    def probs(conf: np.ndarray, right: np.ndarray) -> np.ndarray:  # label 0 for every example
        top = np.stack([conf, 1 - conf], axis=1)
        return np.where((right > 0)[:, None], top, top[:, ::-1])

    test = st.paired_delta_test("ece_debiased_sq", probs(ca, ya), probs(cb, yb),
                                np.zeros(len(ca), dtype=int), n_resamples=n_resamples, seed=seed)
    return test.estimate, np.nan, test.p_value


def _u_candidate(ca, ya, cb, yb, clip: bool = True):
    from scipy.stats import norm

    from helpers import calibration_change as cc

    if clip:
        t = cc.change_from_top_label(ca, ya, cb, yb)
        return t.estimate, t.se, t.p_value
    ks = cc.kernel_sums(np.stack([ca, cb]), np.stack([ya, yb]))
    c = np.array([-1.0, 1.0])
    var = float(c @ cc.u_covariance(ks) @ c)
    est = float(c @ ks.estimate)
    se = np.sqrt(var) if var > 0 else np.nan
    return est, se, float(norm.sf(est / se)) if var > 0 else float(est <= 0)


def _skce_candidate(ca, ya, cb, yb, bandwidth: float = 0.1):
    """SKCE (Widmann, Lindsten and Zachariah 2019) with a Gaussian kernel on the confidence,
    h(i, j) = r_i r_j k(c_i, c_j), as a U-statistic with the same clipped Hoeffding variance."""
    from scipy.stats import norm

    n = len(ca)
    kernels = []
    for c, y in ((ca, ya), (cb, yb)):
        r = y - c
        h = np.outer(r, r) * np.exp(-0.5 * ((c[:, None] - c[None, :]) / bandwidth) ** 2)
        np.fill_diagonal(h, 0.0)
        kernels.append(h)
    h = kernels[1] - kernels[0]
    n2, n3, n4 = n * (n - 1.0), n * (n - 1.0) * (n - 2), n * (n - 1.0) * (n - 2) * (n - 3)
    rows = h.sum(axis=1)
    s, q, p = rows.sum(), (h**2).sum(), rows @ rows
    tt = (s**2 + 2 * q - 4 * p) / n4
    var = (4 * (n - 2) * max((p - q) / n3 - tt, 0.0) + 2 * max(q / n2 - tt, 0.0)) / n2
    est = s / n2
    return est, np.sqrt(var), float(norm.sf(est / np.sqrt(var))) if var > 0 else float(est <= 0)


CANDIDATES = {
    "debiased ECE^2 (Kumar et al. 2019), bootstrap SE": _bootstrap_candidate,
    "ce2 U-statistic, unbiased Hoeffding variance": lambda *a: _u_candidate(*a, clip=False),
    "ce2 U-statistic, clipped Hoeffding variance (chosen)": _u_candidate,
    "SKCE, Gaussian kernel h = 0.1, clipped variance": _skce_candidate,
}
PAIR_SCENARIOS = {
    "unchanged, both over-confident (ce 0.064)": ((1.0, 0.2), (1.0, 0.2)),
    "unchanged, both calibrated": ((1.0, 0.0), (1.0, 0.0)),
    "pruned calibrated but less confident": ((1.0, 0.0), (0.5, 0.0)),
    "pruned calibrated but more confident": ((0.5, 0.0), (1.0, 0.0)),
    "pruned sharper, same accuracy and ce": ((1.0, 0.2), pruned_for(0.0, 0.0644)),
    "ce doubles (0.064 -> 0.129)": ((1.0, 0.2), (1.0, 0.4)),
}


def pair_rejections(candidate: str, scenario: str, reps: int, n: int = 200, seed: int = 0,
                    alpha: float = 0.05) -> float:
    """Share of independent (full, pruned) pairs whose one-sided test says 'pruned worse'."""
    full, pruned = PAIR_SCENARIOS[scenario]
    rng = np.random.default_rng([seed, n, list(PAIR_SCENARIOS).index(scenario)])
    ca, ya, cb, yb = simulate_pairs(rng, reps, n, full, pruned)
    test = CANDIDATES[candidate]
    return float(np.mean([test(ca[r], ya[r], cb[r], yb[r])[2] < alpha for r in range(reps)]))
