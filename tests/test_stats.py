"""Bootstrap intervals, debiased calibration error, equivalence and multiplicity against references:
scipy.stats, helpers.calibration, hand computations and simulations with known truth."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from helpers import calibration as cal
from helpers import calibration_change as cc
from helpers import heterogeneity as het
from helpers import multiplicity as mt
from helpers import seed_effects as se
from helpers import stats as st


def _calibrated(rng: np.random.Generator, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and labels drawn from them: top-label calibrated by construction."""
    p = cal.softmax(rng.normal(scale=2.0, size=(n, k)))
    labels = (rng.random(n)[:, None] > p.cumsum(axis=1)).sum(axis=1)
    return p, np.minimum(labels, k - 1)


def _binary(conf: np.ndarray, correct: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Two-label probabilities whose top label has confidence conf and is right where correct."""
    pred = np.where(correct, labels, 1 - labels)
    p = np.empty((len(labels), 2))
    p[np.arange(len(labels)), pred] = conf
    p[np.arange(len(labels)), 1 - pred] = 1 - conf
    return p


# ------------------------------------------------------------------------------------ metrics


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_equal_the_calibration_module(seed: int) -> None:
    rng = np.random.default_rng(seed)
    probs = cal.softmax(rng.normal(scale=2.0, size=(300, 4)))
    labels = rng.integers(0, 4, size=300)
    assert st.metric_value("ece", probs, labels) == pytest.approx(cal.ece(probs, labels), abs=1e-12)
    assert st.metric_value("brier", probs, labels) == pytest.approx(
        cal.brier(probs, labels), abs=1e-12
    )
    assert st.metric_value("nll", probs, labels) == pytest.approx(cal.nll(probs, labels), abs=1e-12)
    accuracy = float((probs.argmax(axis=1) == labels).mean())
    assert st.metric_value("accuracy", probs, labels) == accuracy


def test_ece_bins_on_edges_follow_the_calibration_convention() -> None:
    conf = np.array([0.0, 1 / 15, 2 / 15, 0.6, 1.0, 0.5, 0.8, 14 / 15]) * 0.5 + 0.5
    conf[-1] = 1.0
    labels = np.array([0, 1, 0, 0, 1, 0, 1, 0])
    probs = np.stack([conf, 1 - conf], axis=1)
    assert st.metric_value("ece", probs, labels) == pytest.approx(cal.ece(probs, labels), abs=1e-12)


def test_debiased_ece_is_unbiased_for_a_calibrated_model() -> None:
    rng = np.random.default_rng(11)
    values = np.array(
        [
            [st.metric_value(m, p, y) for m in ("ece", "ece_debiased", "ece_debiased_sq")]
            for p, y in (_calibrated(rng, 64, 2) for _ in range(2000))
        ]
    )
    plain, root, squared = values.mean(axis=0)
    assert 0.04 < plain < 0.15  # plain ECE of a perfectly calibrated model at n = 64
    # the squared estimate is unbiased for 0 (SE of this mean ~0.0003); without the correction it
    # is ~0.02, and dividing the correction by n_b instead of n_b - 1 leaves ~0.004
    assert abs(squared) < 0.0015
    assert root < 0.5 * plain  # the clipped root keeps a little bias, far less than plain ECE


def test_debiased_ece_recovers_a_known_miscalibration() -> None:
    rng = np.random.default_rng(12)
    values = []
    for _ in range(500):
        labels = rng.integers(0, 2, size=200)
        conf = rng.uniform(0.65, 1.0, size=200)
        probs = _binary(conf, rng.random(200) < conf - 0.15, labels)  # accuracy = confidence - 0.15
        values.append(
            [st.metric_value(m, probs, labels) for m in ("ece_debiased", "ece_debiased_sq")]
        )
    root, squared = np.mean(values, axis=0)
    assert squared == pytest.approx(0.15**2, abs=0.001)
    assert root == pytest.approx(0.15, abs=0.01)


def test_a_calibrated_but_less_confident_model_is_not_worse_calibrated() -> None:
    """Plain ECE 'degrades' when a calibrated model loses confidence; the debiased test does not."""
    rng = np.random.default_rng(13)
    worse = {"ece": 0, "ece_debiased_sq": 0}
    reps = 150
    for r in range(reps):
        labels = rng.integers(0, 2, size=200)
        conf_a = np.full(200, 0.97)  # both calibrated: P(correct | confidence) = confidence
        conf_b = rng.uniform(0.5, 0.9, size=200)
        pa = _binary(conf_a, rng.random(200) < conf_a, labels)
        pb = _binary(conf_b, rng.random(200) < conf_b, labels)
        for m in worse:
            test = st.paired_delta_test(m, pa, pb, labels, n_resamples=400, seed=r)
            worse[m] += test.p_value < 0.05
    assert worse["ece"] / reps >= 0.5
    assert worse["ece_debiased_sq"] / reps <= 0.10


# ------------------------------------------------------------------------- bootstrap intervals


def _correlated_pair(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    labels = rng.integers(0, 3, size=n)
    logits = rng.normal(size=(n, 3)) + 2.0 * np.eye(3)[labels]
    pa = cal.softmax(logits + 0.5 * rng.normal(size=(n, 3)))
    pb = cal.softmax(1.3 * (logits + 0.8 * rng.normal(size=(n, 3))))
    return pa, pb, labels


def _per_example(metric: str, p: np.ndarray, y: np.ndarray) -> np.ndarray:
    if metric == "accuracy":
        return (p.argmax(axis=1) == y).astype(float)
    if metric == "brier":
        return ((p - np.eye(p.shape[1])[y]) ** 2).sum(axis=1)
    return -np.log(p[np.arange(len(y)), y])


@pytest.mark.parametrize("metric", ["accuracy", "brier", "nll"])
def test_paired_delta_ci_matches_scipy_paired_bootstrap(metric: str) -> None:
    pa, pb, y = _correlated_pair(np.random.default_rng(21), 150)
    va, vb = _per_example(metric, pa, y), _per_example(metric, pb, y)
    ref = sps.bootstrap(
        (va, vb),
        lambda a, b, axis: b.mean(axis=axis) - a.mean(axis=axis),
        paired=True,
        vectorized=True,
        method="percentile",
        n_resamples=5000,
        rng=np.random.default_rng(1),
    ).confidence_interval
    est, low, high = st.paired_delta_ci(metric, pa, pb, y, n_resamples=5000, seed=3)
    assert est == pytest.approx(vb.mean() - va.mean(), abs=1e-12)
    width = ref.high - ref.low
    assert low == pytest.approx(ref.low, abs=0.08 * width)
    assert high == pytest.approx(ref.high, abs=0.08 * width)


def test_mean_ci_matches_scipy_bootstrap() -> None:
    values = np.random.default_rng(22).exponential(size=80)
    ref = sps.bootstrap(
        (values,), np.mean, method="percentile", n_resamples=5000, rng=np.random.default_rng(2)
    ).confidence_interval
    est, low, high = st.mean_ci(values, n_resamples=5000, seed=4)
    assert est == pytest.approx(values.mean())
    assert low == pytest.approx(ref.low, abs=0.08 * (ref.high - ref.low))
    assert high == pytest.approx(ref.high, abs=0.08 * (ref.high - ref.low))
    a, b = values[:40], values[40:]
    d_est, d_low, d_high = st.paired_mean_delta_ci(a, b, n_resamples=2000)
    assert d_est == pytest.approx(b.mean() - a.mean()) and d_low < d_est < d_high


def test_bootstrap_p_is_the_one_sample_t_test_for_a_mean() -> None:
    rng = np.random.default_rng(23)
    for shift in (0.1, 0.25, 0.4):
        values = rng.normal(shift, 1.0, size=64)
        boot = st.mean_boot(values, st.bootstrap_indices(64, 20000, seed=5))
        for alternative in ("greater", "less"):
            ref = sps.ttest_1samp(values, 0.0, alternative=alternative).pvalue
            assert st.bootstrap_p(boot, alternative=alternative) == pytest.approx(
                ref, rel=0.1, abs=1e-4
            )


def _coverage_population() -> dict[str, float]:
    """Truth of the coverage simulation below: pruned minus full, from population quantities."""
    cells = {"both": 0.70, "a_only": 0.10, "b_only": 0.04, "neither": 0.16}
    conf_a, conf_b = (0.6, 0.9), (0.7, 0.95)  # each with probability 1/2, independent of the rest

    def brier(c: float, right: bool) -> float:
        rest = (1 - c) / 2
        return 1.5 * (1 - c) ** 2 if right else c**2 + (1 - rest) ** 2 + rest**2

    def nll(c: float, right: bool) -> float:
        return -np.log(c) if right else -np.log((1 - c) / 2)

    acc_a, acc_b = cells["both"] + cells["a_only"], cells["both"] + cells["b_only"]

    def mean(f, confs: tuple[float, float], acc: float) -> float:
        return float(np.mean([acc * f(c, True) + (1 - acc) * f(c, False) for c in confs]))

    return {
        "accuracy": acc_b - acc_a,
        "brier": mean(brier, conf_b, acc_b) - mean(brier, conf_a, acc_a),
        "nll": mean(nll, conf_b, acc_b) - mean(nll, conf_a, acc_a),
    }


def _coverage_sample(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cell = rng.choice(4, size=n, p=[0.70, 0.10, 0.04, 0.16])
    right_a, right_b = np.isin(cell, (0, 1)), np.isin(cell, (0, 2))
    labels = rng.integers(0, 3, size=n)

    def probs(conf_values: tuple[float, float], right: np.ndarray) -> np.ndarray:
        conf = rng.choice(conf_values, size=n)
        pred = np.where(right, labels, (labels + rng.integers(1, 3, size=n)) % 3)
        p = np.repeat(((1 - conf) / 2)[:, None], 3, axis=1)
        p[np.arange(n), pred] = conf
        return p

    return probs((0.6, 0.9), right_a), probs((0.7, 0.95), right_b), labels


def test_paired_intervals_cover_the_true_change() -> None:
    truth = _coverage_population()
    rng = np.random.default_rng(24)
    reps, covered = 400, dict.fromkeys(truth, 0)
    for r in range(reps):
        pa, pb, y = _coverage_sample(rng, 200)
        idx = st.bootstrap_indices(200, 1000, seed=r)
        for m, true in truth.items():
            _, low, high = st.percentile_interval(st.paired_delta_boot(m, pa, pb, y, idx))
            covered[m] += low <= true <= high
    rates = {m: c / reps for m, c in covered.items()}
    print("\ncoverage of 95% paired intervals (n = 200, 400 simulations):", rates)
    assert all(0.90 <= v <= 0.98 for v in rates.values()), rates


def test_debiased_calibration_change_interval_covers_the_truth() -> None:
    # a calibrated (true squared error 0) vs accuracy = confidence - 0.15 (true 0.15^2) in every bin
    rng = np.random.default_rng(25)
    reps, covered = 200, 0
    for r in range(reps):
        labels = rng.integers(0, 2, size=200)
        conf_a, conf_b = rng.uniform(0.5, 1.0, size=200), rng.uniform(0.65, 1.0, size=200)
        pa = _binary(conf_a, rng.random(200) < conf_a, labels)
        pb = _binary(conf_b, rng.random(200) < conf_b - 0.15, labels)
        _, low, high = st.paired_delta_ci(
            "ece_debiased_sq", pa, pb, labels, n_resamples=1000, seed=r
        )
        covered += low <= 0.15**2 <= high
    print(f"\ncoverage of the 95% interval of the change of ece_debiased_sq: {covered / reps:.3f}")
    assert covered / reps >= 0.90  # may over-cover: conservative near zero (see helpers.stats)


def test_metric_ci_brackets_the_full_sample_estimate() -> None:
    p, y = _calibrated(np.random.default_rng(26), 200, 4)
    for m in st.METRICS:
        est, low, high = st.metric_ci(m, p, y, n_resamples=500)
        assert est == pytest.approx(st.metric_value(m, p, y))
        assert low <= est <= high


def test_percentile_interval_is_column_wise() -> None:
    draws = np.random.default_rng(27).normal(size=(1000, 3))
    together = st.percentile_interval(st.Boot(np.zeros(3), draws), 0.9)
    for j in range(3):
        alone = st.percentile_interval(st.Boot(0.0, draws[:, j]), 0.9)
        assert together.low[j] == alone.low and together.high[j] == alone.high


# --------------------------------------------------------------------------------- equivalence


def _paired_correct(rng: np.random.Generator, n: int, drop: float, discordant: float = 0.12):
    """0/1 correctness of a (accuracy 0.8) and b (accuracy 0.8 - drop), mostly the same examples."""
    a_only, b_only = (discordant + drop) / 2, (discordant - drop) / 2
    cell = rng.choice(4, size=n, p=[0.8 - a_only, a_only, b_only, 0.2 - b_only])
    return np.isin(cell, (0, 1)).astype(float), np.isin(cell, (0, 2)).astype(float)


@pytest.mark.parametrize(
    ("n", "drop", "kept_low", "kept_high"),
    [(200, 0.10, 0.0, 0.05), (200, 0.05, 0.0, 0.10), (1000, 0.0, 0.90, 1.0)],
)
def test_accuracy_kept_rates(n: int, drop: float, kept_low: float, kept_high: float) -> None:
    rng = np.random.default_rng(int(drop * 100) + n)
    reps = 300
    results = [
        st.accuracy_equivalence(*_paired_correct(rng, n, drop), 0.05, n_resamples=500, seed=r)
        for r in range(reps)
    ]
    kept = np.mean([res.kept for res in results])
    print(f"\nkept rate, true drop {drop} (tolerance 0.05), n = {n}: {kept:.3f}")
    assert kept_low <= kept <= kept_high
    if drop == 0:
        assert np.mean([res.equivalent for res in results]) >= 0.9
    if drop == 0.10:
        assert np.mean([res.lost for res in results]) >= 0.3


def test_equivalence_uses_the_one_minus_two_alpha_interval() -> None:
    a, b = _paired_correct(np.random.default_rng(28), 300, 0.02)
    res = st.accuracy_equivalence(a, b, 0.05, alpha=0.05, n_resamples=1000, seed=1)
    interval = st.paired_mean_delta_ci(a, b, confidence=0.90, n_resamples=1000, seed=1)
    assert (res.estimate, res.low, res.high) == pytest.approx(tuple(interval))
    assert res.kept == (res.low > -0.05) and res.equivalent == (res.low > -0.05 and res.high < 0.05)


# ---------------------------------------------------------------------------- multiplicity


def test_holm_on_a_hand_computed_example() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> running max
    adjusted = mt.holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert mt.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_benjamini_hochberg_matches_scipy() -> None:
    rng = np.random.default_rng(29)
    for p in (
        rng.uniform(size=30),
        np.r_[rng.uniform(0, 0.01, 5), rng.uniform(size=10), [0.2, 0.2]],
    ):
        assert mt.benjamini_hochberg(p) == pytest.approx(sps.false_discovery_control(p))


# ---------------------------------------------------------------------- joint resampling, rho


def test_grouped_indices_depend_only_on_the_group() -> None:
    one = st.grouped_indices({"mr": 50, "trec": 30}, n_resamples=20, seed=3)
    two = st.grouped_indices({"trec": 30}, n_resamples=20, seed=3)
    assert one["mr"].shape == (20, 50) and one["trec"].shape == (20, 30)
    assert np.array_equal(one["trec"], two["trec"])
    assert not np.array_equal(one["mr"][:, :30], one["trec"])
    assert not np.array_equal(st.grouped_indices({"trec": 30}, 20, seed=4)["trec"], two["trec"])


def test_spearman_rows_match_scipy_with_ties() -> None:
    rng = np.random.default_rng(30)
    x, y = rng.integers(0, 5, size=(50, 12)), rng.normal(size=(50, 12))
    y[:, :3] = y[:, [0]]
    ours = st.spearman_rows(x, y)
    ref = [sps.spearmanr(a, b).statistic for a, b in zip(x, y, strict=True)]
    assert ours == pytest.approx(ref)
    assert np.isnan(st.spearman_rows(np.ones(5), np.arange(5.0))[0])


def test_rank_correlation_ci_from_jointly_resampled_changes() -> None:
    # 8 configurations on one example set; the change of y is minus the change of x plus noise
    rng = np.random.default_rng(31)
    n, n_configs = 200, 8
    rows = st.grouped_indices({"set": n}, n_resamples=1000, seed=0)["set"]
    x_values = rng.normal(np.linspace(-0.5, 0.5, n_configs)[:, None], 1.0, size=(n_configs, n))
    y_values = -x_values + rng.normal(0, 0.3, size=(n_configs, n))
    x_boot = np.stack([st.mean_boot(v, rows).draws for v in x_values], axis=1)
    y_boot = np.stack([st.mean_boot(v, rows).draws for v in y_values], axis=1)
    x_hat, y_hat = x_values.mean(axis=1), y_values.mean(axis=1)
    rho, low, high = st.rank_correlation_ci(x_boot, y_boot, x_hat, y_hat)
    assert rho == pytest.approx(sps.spearmanr(x_hat, y_hat).statistic)
    assert low <= rho <= high and high < -0.5
    flat = st.rank_correlation_ci(x_boot, y_boot, np.zeros(n_configs), y_hat)
    assert np.isnan(flat.estimate) and np.isnan(flat.low)


# ----------------------------------------------------------------------------------- bad input


def test_bad_input_gets_a_clear_error() -> None:
    p, y = _calibrated(np.random.default_rng(32), 20, 3)
    with pytest.raises(ValueError, match="same examples"):
        st.paired_delta_ci("accuracy", p, p[:, :2] / p[:, :2].sum(axis=1, keepdims=True), y)
    with pytest.raises(ValueError, match="labels has"):
        st.paired_delta_ci("accuracy", p, p, y[:-1])
    bad = p.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        st.metric_ci("nll", bad, y)
    with pytest.raises(ValueError, match="sum to 1"):
        st.metric_ci("brier", p * 0.9, y)
    with pytest.raises(ValueError, match="at least 2"):
        st.metric_ci("accuracy", p[:1], y[:1])
    with pytest.raises(ValueError, match="unknown metric"):
        st.metric_ci("f1", p, y)
    for confidence in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="strictly between 0 and 1"):
            st.metric_ci("accuracy", p, y, confidence=confidence)
    with pytest.raises(ValueError, match="NaN"):
        st.mean_ci([1.0, np.nan, 2.0])
    with pytest.raises(ValueError, match="same examples"):
        st.paired_mean_delta_ci([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="0/1"):
        st.accuracy_equivalence([0, 1, 0.5], [1, 1, 0], 0.05)
    with pytest.raises(ValueError, match="idx"):
        st.metric_boot("accuracy", p, y, np.zeros((10, 5), dtype=int))
    with pytest.raises(ValueError, match="drop the missing"):
        mt.holm([0.1, np.nan])
    with pytest.raises(ValueError, match="n_resamples"):
        st.metric_ci("accuracy", p, y, n_resamples=1)


def test_defined_intervals_drop_missing_values_and_match_the_plain_ones():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=40), rng.normal(0.3, 1, size=40)
    a_nan, b_nan = a.copy(), b.copy()
    a_nan[[1, 5]] = np.nan
    b_nan[7] = np.nan
    keep = np.ones(40, bool)
    keep[[1, 5, 7]] = False
    est, low, high, n = st.defined_paired_delta_ci(a_nan, b_nan, n_resamples=500, seed=1)
    ref = st.paired_mean_delta_ci(a[keep], b[keep], n_resamples=500, seed=1)
    assert n == 37 and np.allclose((est, low, high), ref)
    assert np.isclose(est, np.mean(b[keep] - a[keep]))
    est, low, high, n = st.defined_mean_ci([np.nan, 2.0], n_resamples=50)
    assert (est, n) == (2.0, 1) and np.isnan(low) and np.isnan(high)
    with pytest.raises(ValueError):
        st.defined_paired_delta_ci([1.0, 2.0], [1.0, 2.0, 3.0])


# ------------------------------------------------------ covariances, seeds as a random effect


def test_psd_clips_negative_eigenvalues_only() -> None:
    a = np.array([[2.0, 0.0], [0.0, -1.0]])
    assert se.psd(a) == pytest.approx(np.diag([2.0, 0.0]))
    b = np.array([[2.0, 1.0], [1.0, 2.0]])
    assert np.array_equal(se.psd(b), b)
    assert se.psd([[-3.0]])[0, 0] == 0.0


def test_seed_means_with_one_seed_is_the_sampling_analysis() -> None:
    rng = np.random.default_rng(40)
    x, v = rng.normal(size=4), np.cov(rng.normal(size=(4, 30)))
    sm = se.seed_means(x, v, np.arange(4), np.zeros(4, dtype=int), np.array([0, 0, 1, 1]))
    assert np.allclose(sm.estimate, x) and np.allclose(sm.cov, v)
    assert np.isnan(sm.seed_sd).all() and sm.var_shared == sm.var_own == 0.0


def test_seed_means_recovers_the_variance_components() -> None:
    # 4 groups x 4 units x 5 seeds, independent sampling errors (SD 0.1); seed effects shared by a
    # group (SD 0.2) and own (SD 0.3)
    rng = np.random.default_rng(41)
    groups, units, seeds = 4, 4, 5
    k = groups * units
    unit = np.repeat(np.arange(k), seeds)
    seed = np.tile(np.arange(seeds), k)
    group = np.repeat(np.arange(groups), units)
    est = []
    for _ in range(400):
        shared = rng.normal(0, 0.2, size=(groups, seeds))[group[unit], seed]
        x = shared + rng.normal(0, 0.3, size=k * seeds) + rng.normal(0, 0.1, size=k * seeds)
        sm = se.seed_means(x, 0.01 * np.eye(k * seeds), unit, seed, group)
        est.append((sm.var_shared, sm.var_own))
    shared_hat, own_hat = np.mean(est, axis=0)
    assert shared_hat == pytest.approx(0.04, rel=0.15)
    assert own_hat == pytest.approx(0.09, rel=0.1)
    # the covariance of the means: shared within a group, own on the diagonal
    assert sm.cov[0, 1] == pytest.approx(sm.var_shared / seeds)
    assert sm.cov[0, 0] == pytest.approx(0.01 / seeds + (sm.var_shared + sm.var_own) / seeds)
    assert sm.cov[0, units] == 0.0
    assert sm.df_shared == groups * (seeds - 1) and sm.df_own == k * (seeds - 1) - sm.df_shared


# ---------------------------------------------------------------- closed testing, Simes, Holm


def _closed_testing_brute(p: np.ndarray, alpha: float, subset: np.ndarray) -> int:
    """The definition: min over intersections not rejected by closed testing of |S minus I|."""
    from itertools import combinations

    m = len(p)

    def simes(idx: tuple[int, ...]) -> bool:
        q = np.sort(p[list(idx)])
        return bool((q <= alpha * np.arange(1, len(q) + 1) / len(q)).any())

    sets = [frozenset(c) for r in range(1, m + 1) for c in combinations(range(m), r)]
    local = {s: simes(tuple(s)) for s in sets}
    rejected = {s for s in sets if all(local[t] for t in sets if s <= t)}
    not_rejected = [s for s in sets if s not in rejected] + [frozenset()]
    return min(len(set(subset) - s) for s in not_rejected)


def test_true_discoveries_match_closed_testing_by_brute_force() -> None:
    rng = np.random.default_rng(42)
    for _ in range(60):
        m = int(rng.integers(1, 7))
        p = np.where(rng.random(m) < 0.5, rng.uniform(0, 0.03, m), rng.uniform(0, 1, m))
        subset = np.flatnonzero(rng.random(m) < 0.6)
        expected = _closed_testing_brute(p, 0.05, subset)
        assert mt.true_discoveries(p, 0.05, subset) == expected
        assert mt.true_discoveries(p, 0.05) == len(p) - mt.hommel_h(p, 0.05)


def test_hommel_h_is_row_wise_and_holm_matches_stats() -> None:
    rng = np.random.default_rng(43)
    p = rng.uniform(0, 0.2, size=(50, 8))
    assert np.array_equal(mt.hommel_h(p, 0.05), [mt.hommel_h(row, 0.05) for row in p])
    q = rng.uniform(size=12)
    assert np.allclose(mt.holm(q), mt.holm(q))
    assert mt.simes_rejects([0.01, 0.5], 0.05) and not mt.simes_rejects([0.03, 0.5], 0.05)


def test_share_bound_controls_the_error_under_positive_dependence() -> None:
    # 16 equicorrelated one-sided z-tests (rho 0.5), 4 true changes: P(bound > 4) <= alpha
    rng = np.random.default_rng(44)
    shift = np.r_[np.full(4, 3.0), np.zeros(12)]
    z = np.sqrt(0.5) * rng.normal(size=(2000, 1)) + np.sqrt(0.5) * rng.normal(size=(2000, 16))
    p = sps.norm.sf(z + shift)
    d = 16 - mt.hommel_h(p, 0.05)
    assert np.mean(d > 4) <= 0.05 + 0.01  # SE 0.005


# -------------------------------------------------------------------------- heterogeneity


def test_generalized_q_is_cochrans_q_for_independent_estimates() -> None:
    rng = np.random.default_rng(45)
    y, var = rng.normal(size=7), rng.uniform(0.5, 2, size=7)
    w = 1 / var
    cochran = float((w * (y - (w * y).sum() / w.sum()) ** 2).sum())
    assert het.generalized_q(y, np.diag(var)) == pytest.approx(cochran)
    tau2 = 0.3
    w = 1 / (var + tau2)
    q_tau = float((w * (y - (w * y).sum() / w.sum()) ** 2).sum())
    assert het.generalized_q(y, np.diag(var), tau2) == pytest.approx(q_tau)


def test_tau_estimate_is_paule_mandel_for_independent_estimates() -> None:
    rng = np.random.default_rng(46)
    y, var = rng.normal(0, 1.5, size=9), rng.uniform(0.2, 1, size=9)
    tau2 = 0.0
    for _ in range(200):  # Paule and Mandel's iteration: solve Q(tau^2) = k - 1
        w = 1 / (var + tau2)
        q = float((w * (y - (w * y).sum() / w.sum()) ** 2).sum())
        tau2 = max(0.0, tau2 + (q - 8) / float((w**2 * (y - (w * y).sum() / w.sum()) ** 2).sum()))
    assert het.heterogeneity(y, np.diag(var)).tau == pytest.approx(np.sqrt(tau2), rel=1e-4)


def test_q_profile_interval_covers_tau_with_correlated_estimates() -> None:
    rng = np.random.default_rng(47)
    k, tau = 10, 0.5
    a = rng.normal(size=(k, k))
    v = 0.3 * (a @ a.T) / k + 0.2 * np.eye(k)
    root = np.linalg.cholesky(v)
    covered, above = 0, 0
    for _ in range(500):
        y = 1.0 + root @ rng.normal(size=k) + tau * rng.normal(size=k)
        h = het.heterogeneity(y, v, margin=tau)
        covered += h.tau_low <= tau <= h.tau_high
        above += h.p_above < 0.05
    assert 0.92 <= covered / 500 <= 0.98  # SE 0.01
    assert above / 500 <= 0.05 + 0.02


# ---------------------------------------------------------------- the calibration U-statistic


def test_kernel_sums_match_the_kernel_matrix() -> None:
    from helpers.calibration import _bin_index

    rng = np.random.default_rng(48)
    o, n = 3, 40
    conf = rng.uniform(0.5, 1, size=(o, n))
    correct = (rng.random((o, n)) < conf).astype(float)
    ks = cc.kernel_sums(conf, correct)
    kernels = []
    for c, y in zip(conf, correct, strict=True):
        b = _bin_index(c, 15, "uniform")
        count = np.bincount(b, minlength=15)
        h = np.outer(y - c, y - c) * (b[:, None] == b[None, :])
        h *= ((n - 1) / np.maximum(count[b] - 1, 1))[:, None]
        np.fill_diagonal(h, 0)
        kernels.append(h)
    kernels = np.array(kernels)
    assert np.allclose(ks.rows, kernels.sum(axis=2))
    assert np.allclose(ks.estimate, kernels.sum(axis=(1, 2)) / (n * (n - 1)))
    assert np.allclose(ks.pair_sq, np.einsum("kij,lij->kl", kernels, kernels))
    # the estimator is the within-bin version of Kumar et al.'s debiased squared ECE
    p = np.stack([conf[0], 1 - conf[0]], axis=1)
    labels = np.where(correct[0] > 0, 0, 1)
    assert ks.estimate[0] == pytest.approx(st.metric_value("ece_debiased_sq", p, labels), abs=0.01)


def test_squared_ce_is_unbiased_and_its_variance_estimate_too() -> None:
    import simulated_changes as sim

    rng = np.random.default_rng(49)
    ca, ya, cb, yb = sim.simulate_pairs(rng, 3000, 200, (1.0, 0.2), (1.0, 0.4))
    truth = [sim.population(1.0, 0.2)["ce2"], sim.population(1.0, 0.4)["ce2"]]
    est, var, cross = [], [], []
    for r in range(len(ca)):
        ks = cc.kernel_sums(np.stack([ca[r], cb[r]]), np.stack([ya[r], yb[r]]))
        est.append(ks.estimate)
        var.append(cc.u_covariance(ks))
        cross.append(cc.mean_u_covariance(np.stack([ya[r], yb[r]]), ks))
    est = np.array(est)
    assert est.mean(axis=0) == pytest.approx(truth, abs=3 * est.std(axis=0).max() / np.sqrt(3000))
    assert np.mean(var, axis=0) == pytest.approx(np.cov(est.T), rel=0.1)
    acc = np.stack([ya.mean(axis=1), yb.mean(axis=1)], axis=1)
    empirical = np.cov(np.c_[acc, est].T)[:2, 2:]
    assert np.mean(cross, axis=0) == pytest.approx(empirical, rel=0.15, abs=2e-6)


def test_level_interval_is_the_score_interval() -> None:
    lo, hi = cc.level_interval(0.01, 1e-5, 0.0, 0.0, 0.95)
    assert (lo, hi) == pytest.approx((0.01 - 1.96 * np.sqrt(1e-5), 0.01 + 1.96 * np.sqrt(1e-5)),
                                     rel=1e-3)
    lo2, hi2 = cc.level_interval(0.01, 1e-5, 1e-3, 0.0, 0.95)
    assert hi2 - 0.01 > 0.01 - lo2  # the variance grows with theta: longer upwards
    est, se = cc.squared_ce(np.array([[0.9, 0.1]] * 50 + [[0.6, 0.4]] * 50), [0] * 80 + [1] * 20)
    assert np.isfinite(est) and se > 0
