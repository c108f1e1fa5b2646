"""Calibration metrics against independent references (torchmetrics, scikit-learn, hand sums)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch
from sklearn.metrics import brier_score_loss, log_loss
from torchmetrics.classification import MulticlassCalibrationError

from helpers import calibration as cal


def _random_case(seed: int, n: int = 400, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    probs = cal.softmax(rng.normal(scale=2.0, size=(n, k)))
    labels = rng.integers(0, k, size=n)
    return probs, labels


def _torchmetrics(probs: np.ndarray, labels: np.ndarray, norm: str) -> float:
    metric = MulticlassCalibrationError(num_classes=probs.shape[1], n_bins=15, norm=norm)
    return float(metric(torch.from_numpy(probs), torch.from_numpy(labels)))


def _on_an_edge(conf: np.ndarray, n_bins: int = 15) -> bool:
    scaled = conf * n_bins
    return bool(np.any(np.abs(scaled - np.round(scaled)) < 1e-9))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_ece_and_mce_match_torchmetrics(seed: int) -> None:
    probs, labels = _random_case(seed)
    conf, _ = cal.confidence_and_prediction(probs)
    assert not _on_an_edge(conf)  # torchmetrics' bins are left-closed, ours right-closed
    assert cal.ece(probs, labels) == pytest.approx(_torchmetrics(probs, labels, "l1"), abs=1e-5)
    assert cal.mce(probs, labels) == pytest.approx(_torchmetrics(probs, labels, "max"), abs=1e-5)


def test_binary_ece_matches_torchmetrics() -> None:
    rng = np.random.default_rng(7)
    p1 = rng.uniform(0.01, 0.99, size=300)
    probs = np.stack([1 - p1, p1], axis=1)
    labels = (rng.uniform(size=300) < p1).astype(np.int64)
    assert cal.ece(probs, labels) == pytest.approx(_torchmetrics(probs, labels, "l1"), abs=1e-5)


def test_confidence_exactly_one_lands_in_last_bin() -> None:
    probs = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.3], [0.3, 0.7]])
    labels = np.array([0, 0, 0, 0])
    table = cal.reliability_bins(probs, labels, n_bins=5)
    assert table["count"].tolist() == [0, 0, 0, 2, 2]
    assert table.loc[4, "confidence"] == 1.0
    assert table.loc[4, "accuracy"] == 0.5
    assert table.loc[3, "accuracy"] == 0.5
    # bin (0.6, 0.8]: conf 0.7, acc 0.5; bin (0.8, 1]: conf 1.0, acc 0.5
    assert cal.ece(probs, labels, n_bins=5) == pytest.approx(0.5 * 0.2 + 0.5 * 0.5)
    assert cal.mce(probs, labels, n_bins=5) == pytest.approx(0.5)


def test_confidence_on_an_edge_goes_to_the_lower_bin() -> None:
    # with 5 bins, 0.6 is the edge between (0.4, 0.6] and (0.6, 0.8]
    probs = np.array([[0.6, 0.4], [0.6, 0.4], [0.61, 0.39]])
    labels = np.array([0, 1, 0])
    table = cal.reliability_bins(probs, labels, n_bins=5)
    assert table["count"].tolist() == [0, 0, 2, 1, 0]
    expected = (2 / 3) * abs(0.5 - 0.6) + (1 / 3) * abs(1.0 - 0.61)
    assert cal.ece(probs, labels, n_bins=5) == pytest.approx(expected)
    assert cal.mce(probs, labels, n_bins=5) == pytest.approx(0.39)


def test_uniform_bin_index_edges() -> None:
    # a top-label confidence is never below 1/k, so 0 is checked on the binning helper itself
    conf_bins = cal._bin_index(np.array([0.0, 1e-9, 1 / 3, 0.34, 1.0]), 3, "uniform")
    assert conf_bins.tolist() == [0, 0, 0, 1, 2]


def test_quantile_bins_hand_built() -> None:
    conf = np.array([0.95, 0.55, 0.65, 0.9, 0.6, 0.85, 0.7, 0.75])
    probs = np.stack([conf, 1 - conf], axis=1)
    labels = np.array([0, 1, 0, 0, 1, 0, 0, 1])  # correct where label 0
    table = cal.reliability_bins(probs, labels, n_bins=4, binning="quantile")
    assert table["count"].tolist() == [2, 2, 2, 2]
    assert table["lo"].tolist() == pytest.approx([0.55, 0.65, 0.75, 0.9])
    assert table["hi"].tolist() == pytest.approx([0.6, 0.7, 0.85, 0.95])
    assert table["confidence"].tolist() == pytest.approx([0.575, 0.675, 0.8, 0.925])
    assert table["accuracy"].tolist() == pytest.approx([0.0, 1.0, 0.5, 1.0])
    expected = (0.575 + 0.325 + 0.3 + 0.075) / 4
    assert cal.ece(probs, labels, n_bins=4, binning="quantile") == pytest.approx(expected)
    assert cal.mce(probs, labels, n_bins=4, binning="quantile") == pytest.approx(0.575)


def test_quantile_ties_stay_together_and_order_does_not_matter() -> None:
    conf = np.array([0.6, 0.6, 0.6, 0.9])
    probs = np.stack([conf, 1 - conf], axis=1)
    labels = np.array([0, 1, 0, 0])
    table = cal.reliability_bins(probs, labels, n_bins=2, binning="quantile")
    assert table["count"].tolist() == [3, 1]
    perm = np.array([3, 1, 0, 2])
    assert cal.ece(probs[perm], labels[perm], 2, "quantile") == pytest.approx(
        cal.ece(probs, labels, 2, "quantile")
    )


def test_quantile_bins_have_equal_mass_without_ties() -> None:
    probs, labels = _random_case(5, n=300)
    table = cal.reliability_bins(probs, labels, n_bins=10, binning="quantile")
    assert table["count"].tolist() == [30] * 10
    assert (table["lo"].to_numpy()[1:] > table["hi"].to_numpy()[:-1]).all()


def test_brier_against_formula_and_sklearn() -> None:
    probs, labels = _random_case(11, n=200, k=3)
    by_loop = np.mean(
        [sum((probs[i, j] - (labels[i] == j)) ** 2 for j in range(3)) for i in range(200)]
    )
    assert cal.brier(probs, labels) == pytest.approx(by_loop)
    rng = np.random.default_rng(3)
    p1 = rng.uniform(size=100)
    y = rng.integers(0, 2, size=100)
    # binary: the multiclass score counts both columns, i.e. twice sklearn's positive-class score
    binary = np.stack([1 - p1, p1], axis=1)
    assert cal.brier(binary, y) == pytest.approx(2 * brier_score_loss(y, p1))
    assert cal.brier(np.array([[1.0, 0.0]]), np.array([1])) == pytest.approx(2.0)
    assert cal.brier(np.array([[1.0, 0.0]]), np.array([0])) == 0.0


def test_nll_against_sklearn_and_clipping() -> None:
    probs, labels = _random_case(12, n=200, k=5)
    expected = log_loss(labels, probs, labels=list(range(5)))
    assert cal.nll(probs, labels) == pytest.approx(expected)
    assert cal.nll(np.array([[1.0, 0.0]]), np.array([1])) == pytest.approx(-np.log(cal.EPS))


def test_confidence_and_prediction_ties_go_to_lowest_index() -> None:
    conf, pred = cal.confidence_and_prediction(np.array([[0.4, 0.4, 0.2], [0.1, 0.45, 0.45]]))
    assert pred.tolist() == [0, 1]
    assert conf.tolist() == pytest.approx([0.4, 0.45])


def test_perfectly_calibrated_synthetic_case_has_small_ece() -> None:
    rng = np.random.default_rng(0)
    n = 20000
    probs = cal.softmax(rng.normal(scale=1.5, size=(n, 3)))
    labels = np.array([rng.choice(3, p=row) for row in probs])
    assert cal.ece(probs, labels) < 0.02
    assert cal.ece(probs, labels, binning="quantile") < 0.02
    # the same model made overconfident is clearly miscalibrated
    sharp = cal.softmax(np.log(probs) * 3)
    assert cal.ece(sharp, labels) > 0.1


def test_fit_temperature_recovers_known_temperature() -> None:
    rng = np.random.default_rng(1)
    t0 = 2.5
    logits = rng.normal(scale=4.0, size=(4000, 4))
    true_probs = cal.softmax(logits / t0)
    labels = (rng.uniform(size=(4000, 1)) > np.cumsum(true_probs, axis=1)).sum(axis=1)
    t = cal.fit_temperature(logits, labels)
    assert t == pytest.approx(t0, rel=0.08)
    assert cal.fit_temperature(logits, labels) == t  # deterministic
    fitted = cal.nll(cal.apply_temperature(logits, t), labels)
    for other in (t * 0.9, t * 1.1, 1.0):
        assert fitted <= cal.nll(cal.apply_temperature(logits, other), labels) + 1e-12
    # scaling the logits by 1/c scales the fitted temperature by 1/c
    assert cal.fit_temperature(logits / 2, labels) == pytest.approx(t / 2, rel=1e-4)


def test_softmax_is_stable_and_apply_temperature_checks() -> None:
    p = cal.softmax(np.array([[1000.0, 1000.0], [0.0, -1000.0]]))
    assert p.ravel().tolist() == pytest.approx([0.5, 0.5, 1.0, 0.0])
    z = np.array([[2.0, 0.0, -1.0]])
    assert cal.apply_temperature(z, 1.0) == pytest.approx(cal.softmax(z))
    assert cal.apply_temperature(z, 1e6).ravel() == pytest.approx([1 / 3] * 3, abs=1e-5)
    with pytest.raises(ValueError, match="temperature"):
        cal.apply_temperature(z, 0.0)
    with pytest.raises(ValueError, match="NaN or inf"):
        cal.softmax(np.array([[np.nan, 0.0]]))


def test_calibration_report_keys_and_values() -> None:
    probs, labels = _random_case(21)
    report = cal.calibration_report(probs, labels)
    assert set(report) == {
        "accuracy", "ece", "ece_quantile", "mce", "brier", "nll", "mean_confidence"
    }
    conf, pred = cal.confidence_and_prediction(probs)
    assert report["accuracy"] == pytest.approx((pred == labels).mean())
    assert report["mean_confidence"] == pytest.approx(conf.mean())
    assert report["ece"] == pytest.approx(cal.ece(probs, labels))
    assert all(isinstance(v, float) for v in report.values())


@pytest.mark.parametrize(
    ("probs", "labels", "match"),
    [
        (np.array([[0.5, np.nan]]), [0], "NaN or inf"),
        (np.array([[0.5, np.inf]]), [0], "NaN or inf"),
        (np.array([[0.5, 0.6]]), [0], "sum to 1"),
        (np.array([[1.2, -0.2]]), [0], r"\[0, 1\]"),
        (np.array([0.5, 0.5]), [0], "2-d"),
        (np.zeros((0, 2)), [], "empty"),
        (np.array([[0.5, 0.5]]), [0, 1], "entries"),
        (np.array([[0.5, 0.5]]), [2], "0..1"),
        (np.array([[0.5, 0.5]]), [-1], "0..1"),
        (np.array([[0.5, 0.5]]), [[0]], "1-d"),
        (np.array([[0.5, 0.5]]), [0.5], "integer"),
    ],
)
def test_invalid_inputs_raise(probs: np.ndarray, labels: list, match: str) -> None:
    for fn in (cal.ece, cal.mce, cal.brier, cal.nll, cal.calibration_report):
        with pytest.raises(ValueError, match=match):
            fn(probs, np.asarray(labels))


def test_invalid_bins_raise() -> None:
    probs, labels = _random_case(0, n=10)
    for bad in (0, -3, 2.5):
        with pytest.raises(ValueError, match="n_bins"):
            cal.ece(probs, labels, n_bins=bad)
    with pytest.raises(ValueError, match="binning"):
        cal.mce(probs, labels, binning="adaptive")
    with pytest.raises(ValueError, match="2-d"):
        cal.fit_temperature(np.zeros(3), np.zeros(3, dtype=int))


def test_rows_within_tolerance_are_accepted() -> None:
    probs = np.array([[0.5, 0.50005]])
    assert cal.brier(probs, np.array([1])) == pytest.approx(0.5**2 + 0.49995**2)


def test_reliability_diagram_overlay_and_side_by_side() -> None:
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    full, labels = _random_case(30)
    pruned = cal.softmax(np.log(full) * 2)
    fig, ax = plt.subplots()
    out = cal.reliability_diagram(full, labels, ax=ax, label="full", title="Overlay")
    assert out is ax
    cal.reliability_diagram(pruned, labels, ax=ax, label="pruned")
    assert ax.get_title() == "Overlay"
    assert ax.get_xlabel() and ax.get_ylabel()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(legend) == 2 and legend[0].startswith("full (ECE")
    diagonals = [ln for ln in ax.get_lines() if ln.get_gid() == "reliability-diagonal"]
    assert len(diagonals) == 1
    insets = [a for a in ax.child_axes if a.get_gid() == "reliability-counts"]
    assert len(insets) == 1 and len(insets[0].patches) == 2
    assert len(ax.patches) == 2 * 10  # one bar per bin per call
    plt.close(fig)

    fig, axes = plt.subplots(1, 2)
    for a, p, name in zip(axes, (full, pruned), ("full", "pruned"), strict=True):
        cal.reliability_diagram(p, labels, ax=a, n_bins=5, label=name)
    assert axes[1].get_title() == "Reliability diagram (5 bins)"
    plt.close(fig)
    new_ax = cal.reliability_diagram(full, labels)
    assert new_ax.figure is not None
    plt.close(new_ax.figure)


def test_temperature_interval_and_the_search_bound_guard():
    from helpers.calibration import fit_temperature, fit_temperature_ci

    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 3)) * 3
    y = np.array([rng.choice(3, p=np.exp(r / 2) / np.exp(r / 2).sum()) for r in z])  # true T = 2
    fit = fit_temperature_ci(z, y, n_resamples=100)
    assert fit.temperature == pytest.approx(fit_temperature(z, y))
    assert fit.low < fit.temperature < fit.high and fit.low < 2.0 < fit.high and not fit.at_bound
    separable = np.array([[5.0, 0.0], [0.0, 5.0]] * 10)
    with pytest.warns(UserWarning, match="search bound"):
        guarded = fit_temperature_ci(separable, [0, 1] * 10, n_resamples=20)
    assert guarded.at_bound and guarded.temperature < 0.1  # the NLL vanished: T is undetermined


def test_bin_index_agrees_with_the_reliability_bins_counts():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([1, 1, 1], size=300)
    labels = rng.integers(0, 3, size=300)
    idx = cal.bin_index(probs, 10)
    counts = cal.reliability_bins(probs, labels, n_bins=10)["count"].to_numpy()
    assert np.array_equal(np.bincount(idx, minlength=10), counts)
    conf = probs.max(axis=1)  # equal-width bins by hand: (k/10, (k+1)/10]
    assert np.array_equal(idx, np.clip(np.ceil(conf * 10).astype(int) - 1, 0, 9))
    low, high = cal.TEMPERATURE_BOUNDS
    assert 0 < low < 1 < high
