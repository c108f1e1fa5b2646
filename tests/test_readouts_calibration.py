"""Chapter 3's readouts: calibration levels against the ratio, temperature scaling on the claims'
estimators, and reliability bins over the confidence range, each against an independent
reference (hand-computed means and t intervals, calibration_change, scipy's Wilson interval)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from helpers import calibration as cal
from helpers import calibration_change as cc
from helpers import claims, readouts_calibration
from helpers.configs import Config


class _Run:
    """A chapter run whose scores units are given records."""

    def __init__(self, records: dict[Config, dict]):
        self.records = records
        self.params: dict = {}

    def scores(self, cfg: Config) -> dict:
        return self.records[cfg]


def _record(logits: np.ndarray, labels: np.ndarray, t: float, at_bound: bool = False) -> dict:
    values = {"temperature": t, "temperature_low": t / 2, "temperature_high": t * 2,
              "temperature_at_bound": float(at_bound)}
    return {"metrics": [{"metric": k, "value": v} for k, v in values.items()],
            "examples": {"label": labels.tolist(), "logits": logits.tolist(),
                         "calibration_label": [0, 1] * 5}}


def _case(n: int = 80, seed: int = 0, scale: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, 2)) * scale
    p = cal.softmax(logits / 2.5)  # the truth is softer than the logits: T near 2.5 fits
    labels = (rng.random(n) < p[:, 1]).astype(int)
    return logits, labels


@pytest.fixture(scope="module")
def scaled() -> tuple[pd.DataFrame, dict]:
    full = Config("m", "mr", ratio=0.0, n_examples=80, n_calibration=10)
    other = Config("m", "mr", criterion="last", ratio=0.0, n_examples=80, n_calibration=10)
    pruned = Config("m", "mr", ratio=0.25, n_examples=80, n_calibration=10)
    z0, y = _case()
    z1 = z0 * 1.7 + np.random.default_rng(1).normal(size=z0.shape)
    records = {full: _record(z0, y, 2.0), other: _record(z0, y, 2.0),
               pruned: _record(z1, y, 1100.0, at_bound=True)}
    frame = readouts_calibration.temperature_scaling(_Run(records), [full, other, pruned])
    return frame, {"z": (z0, z1), "y": y}


def test_temperature_scaling_rows_and_the_stored_fit(scaled) -> None:
    frame, _ = scaled
    assert len(frame) == 2  # the unpruned model of two criteria is one fit
    assert list(frame.ratio) == [0.0, 0.25] and list(frame.criterion) == ["full", "similarity"]
    assert list(frame["T"]) == [2.0, 1100.0] and list(frame.T_low) == [1.0, 550.0]
    assert list(frame.at_bound) == [False, True] and (frame.n_calibration == 10).all()
    assert (frame.d_accuracy == 0).all()  # scaling never changes the winning label


def test_temperature_scaling_matches_the_estimators(scaled) -> None:
    frame, case = scaled
    y = case["y"]
    for row, z, t in zip(frame.itertuples(), case["z"], (2.0, 1100.0), strict=True):
        before, after = cal.softmax(z), cal.apply_temperature(z, t)
        assert row.ce_before == pytest.approx(np.sqrt(max(cc.squared_ce(before, y)[0], 0)))
        assert row.ce_after == pytest.approx(np.sqrt(max(cc.squared_ce(after, y)[0], 0)))
        assert row.d_ce == pytest.approx(row.ce_after - row.ce_before)
        change = cc.paired_change(before, after, y)
        assert row.d_ce2 == pytest.approx(change.estimate)
        assert row.p_ce2_fall == pytest.approx(1 - change.p_value, abs=1e-9)
        assert row.d_ce2_low < row.d_ce2 < row.d_ce2_high
        # NLL: the mean of the per-example values, a Student t interval, the paired change
        nll_b = -np.log(before[np.arange(len(y)), y])
        nll_a = -np.log(np.clip(after[np.arange(len(y)), y], 1e-12, None))
        q = sps.t.ppf(0.975, len(y) - 1)
        half = q * nll_b.std(ddof=1) / np.sqrt(len(y))
        assert row.nll_before == pytest.approx(cal.nll(before, y))
        assert row.nll_before_low == pytest.approx(max(nll_b.mean() - half, 0))
        assert row.nll_before_high == pytest.approx(nll_b.mean() + half)
        d = nll_a - nll_b
        half_d = q * d.std(ddof=1) / np.sqrt(len(y))
        assert row.d_nll == pytest.approx(d.mean())
        assert (row.d_nll_low, row.d_nll_high) == pytest.approx((d.mean() - half_d,
                                                                  d.mean() + half_d))
        for m in ("accuracy", "ce", "nll", "brier"):
            lo, hi = readouts_calibration.RANGES[m]
            for side in ("before", "after"):
                assert lo <= getattr(row, f"{m}_{side}_low") <= getattr(row, f"{m}_{side}_high")
                assert getattr(row, f"{m}_{side}_high") <= hi


def test_temperature_scaling_lowers_the_error_of_an_overconfident_model() -> None:
    """On a large sample whose truth is the logits / 2.5, scaling by 2.5 lowers ce2 and NLL."""
    cfg = Config("m", "mr", ratio=0.0, n_examples=3000, n_calibration=10)
    z, y = _case(3000, seed=3, scale=5.0)
    frame = readouts_calibration.temperature_scaling(_Run({cfg: _record(z, y, 2.5)}), [cfg])
    row = frame.iloc[0]
    assert row.d_ce2_high < 0 and row.p_ce2_fall < 0.01 and row.d_nll_high < 0
    assert row.ce_after_low <= 0.03  # calibrated after scaling: its interval reaches near 0


def test_config_levels_unpruned_once_and_pruned_at_their_ratios() -> None:
    rng = np.random.default_rng(0)
    z, y = _case(60)
    changes = [claims.ConfigChange(model="m", task="mr", criterion="last", ratio=r,
                                   example_set="mr/60", labels=y, probs_full=cal.softmax(z),
                                   probs_pruned=cal.softmax(z * f + rng.normal(size=z.shape)))
               for r, f in ((0.125, 1.2), (0.25, 2.0))]
    _, table = claims.verdicts(changes, mde=False)
    levels = readouts_calibration.config_levels(table)
    assert len(levels) == 3 * 4
    assert list(levels.ratio.unique()) == [0.0, 0.125, 0.25]
    assert list(levels[levels.ratio == 0].criterion.unique()) == ["full"]
    at = levels.set_index(["ratio", "metric"])
    assert at.loc[(0.0, "ce"), "value"] == pytest.approx(table.ce_full.iloc[0])
    assert at.loc[(0.25, "nll"), "value"] == pytest.approx(table.nll_pruned.iloc[1])
    assert at.loc[(0.125, "ce"), "high"] == pytest.approx(table.ce_pruned_high.iloc[0])
    assert at.loc[(0.25, "accuracy"), "high"] == pytest.approx(
        min(table.accuracy_pruned_high.iloc[1], 1.0))
    assert (levels.low >= 0).all() and (levels[levels.metric == "accuracy"].high <= 1).all()
    assert readouts_calibration.config_levels(pd.DataFrame()).empty


def test_wilson_interval_matches_scipy() -> None:
    for k, n in ((0, 1), (1, 1), (3, 7), (19, 20), (50, 100)):
        ref = sps.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        low, high = readouts_calibration.wilson_interval(k, n)
        assert (float(low), float(high)) == pytest.approx((ref.low, ref.high))
    low, high = readouts_calibration.wilson_interval([2, 0], [4, 0])
    assert np.isnan(low[1]) and np.isnan(high[1]) and 0 < low[0] < 0.5 < high[0] < 1


def test_wilson_interval_contains_the_proportion_at_zero_and_all_successes() -> None:
    """Rounding once left 1 - 1e-16 above a bin's accuracy of 1 and broke the error bars."""
    n = np.arange(1, 500)
    for k in (np.zeros_like(n), n):
        low, high = readouts_calibration.wilson_interval(k, n)
        assert (low <= k / n).all() and (k / n <= high).all()
    assert (readouts_calibration.wilson_interval(0, n)[0] == 0).all()
    assert (readouts_calibration.wilson_interval(n, n)[1] == 1).all()


def test_range_bins_intervals_contain_each_bins_accuracy() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        probs = rng.dirichlet([0.3, 0.3], size=int(rng.integers(5, 300)))
        labels = rng.integers(0, 2, len(probs))
        bins = readouts_calibration.range_bins(probs, labels, 10).dropna()
        assert (bins.acc_low <= bins.accuracy).all() and (bins.accuracy <= bins.acc_high).all()


def test_range_bins_cover_the_confidences_a_model_can_give() -> None:
    probs = np.array([[0.5, 0.5], [0.3, 0.7], [0.2, 0.8], [0.0, 1.0], [0.9, 0.1], [0.6, 0.4]])
    labels = np.array([0, 1, 0, 1, 0, 1])
    table = readouts_calibration.range_bins(probs, labels, n_bins=5)
    assert table.lo.iloc[0] == 0.5 and table.hi.iloc[-1] == pytest.approx(1.0)
    assert table["count"].sum() == 6
    assert list(table["count"]) == [2, 1, 1, 1, 1]  # right-closed: 0.6 ends the first bin
    assert table.accuracy.iloc[0] == 0.5 and table.accuracy.iloc[-1] == 1.0
    finer = readouts_calibration.range_bins(probs, labels, n_bins=10)
    assert np.isnan(finer.accuracy.iloc[2]) and finer["count"].iloc[2] == 0
    assert readouts_calibration.range_bins(np.full((3, 4), 0.25), [0, 1, 2], n_bins=3).lo.iloc[0] == 0.25
    with pytest.raises(ValueError, match="lowest"):
        readouts_calibration.range_bins(probs, labels, lowest=1.0)

