"""The claims tables: columns, rules, joint uncertainty, demonstration seeds, edge cases and errors.
Verdict rates and coverage on simulated grids are in test_verdict_simulation.py."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import simulated_changes as sim

from helpers import claims as cl

ROOT = Path(__file__).resolve().parents[1]


def _grid(seed: int = 0, **effects: object) -> list[cl.ConfigChange]:
    return sim.simulate(sim.Grid(), sim.Effects(**effects), np.random.default_rng(seed))


@pytest.fixture(scope="module")
def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    return cl.verdicts(_grid(), n_resamples=300)


def test_tables_have_one_row_per_claim_and_configuration(tables) -> None:
    table, configs = tables
    assert list(table.claim) == list(cl.CLAIMS)
    assert list(table.columns[:4]) == ["claim", "verdict", "rule", "evidence"]
    assert set(table.verdict) <= set(cl.VERDICTS)
    assert len(configs) == 16 and (configs.seeds == 1).all()
    for col in ("share_low", "share_high", "mean", "mean_low", "mean_high", "mean_p",
                "mde_config", "mde_mean", "mde_share", "tau", "tau_low", "tau_high", "rho"):
        assert pd.api.types.is_float_dtype(table[col]), col
    often = table.iloc[:5]
    assert (often.share_low <= often.share_high).all()
    assert ((often.mean_low <= often["mean"]) & (often["mean"] <= often.mean_high)).all()
    assert often.mde_share.notna().all()
    # MDEs are true changes in the claimed direction: faithfulness falls, ce2 rises, accuracy
    # stays above -tolerance
    assert (often.mde_config.iloc[[1, 3]] < 0).all() and (often.mde_config.iloc[[2, 4]] > 0).all()
    assert often.mde_config.iloc[0] > -0.05
    assert table.iloc[5:7].tau_high.notna().all()
    assert table.test_scale.str.contains("ce2").sum() >= 4  # calibration rows name their scale


def test_rules_state_their_parameters() -> None:
    table, _ = cl.verdicts(_grid(), alpha=0.1, often_share=2 / 3, cal_margin=0.04,
                           faith_margin=0.07, tau_margin_faith=0.06, mde=False, n_resamples=100)
    rules = table.set_index("claim").rule
    assert all("0.1" in r for r in rules)
    assert "2/3" in rules[cl.CLAIMS[1]] and "0.07" in rules[cl.CLAIMS[1]]
    assert "0.04" in rules[cl.CLAIMS[2]] and "0.06" in rules[cl.CLAIMS[5]]
    assert (table.often_share.iloc[:5] == 2 / 3).all()


def test_configuration_columns_show_both_scales(tables) -> None:
    _, t = tables
    for col in ("accuracy", "nll", "brier", "faith", "ce2"):
        assert ((t[f"d_{col}_low"] <= t[f"d_{col}"]) & (t[f"d_{col}"] <= t[f"d_{col}_high"])).all()
        assert (t[f"se_{col}"] > 0).all() and (t[f"mde_{col}"] > t[f"se_{col}"]).all()
    # ECE scale: root of the squared estimate, bounds mapped monotonically, never negative
    assert np.allclose(t.ce_full, np.sqrt(np.maximum(t.ce2_full, 0)))
    assert (t.ce_full_low >= 0).all()
    assert ((t.ce_full_low <= t.ce_full) & (t.ce_full <= t.ce_full_high)).all()
    assert np.allclose(t.d_ce, t.ce_pruned - t.ce_full)
    assert "d_ce_low" not in t  # no interval of a difference of roots
    assert t.attrs["calibration"] == "ce2"
    full = np.array([c.probs_full.argmax(axis=1) == c.labels for c in _grid()]).mean(axis=1)
    assert np.allclose(t.accuracy_full, full)
    assert ((t.p_faith_holm >= t.p_faith) & (t.p_faith_holm <= 1)).all()


def test_identical_models_keep_accuracy_and_change_nothing() -> None:
    changes = [replace(c, probs_pruned=c.probs_full.copy(), faith_pruned=c.faith_full.copy())
               for c in _grid()]
    table, configs = cl.verdicts(changes, n_resamples=200)
    v = table.set_index("claim").verdict
    assert v[cl.CLAIMS[0]] == "yes"  # every change is exactly 0: kept
    assert v[cl.CLAIMS[1]] == "no"  # shown within the faithfulness margin
    # calibration: a zero change with zero variance, but the within-margin test takes the variance
    # at the margin (where the pruned model would be worse calibrated), so it does not say "no"
    assert v[cl.CLAIMS[2]] != "yes"
    assert v[cl.CLAIMS[7]] == "undetermined"  # rho is undefined when nothing changes
    assert (configs[["d_accuracy", "d_ce2", "d_nll", "d_faith", "d_brier"]] == 0).all().all()


def test_configurations_on_the_same_examples_are_correlated() -> None:
    base = _grid()[0]
    twin = replace(base, model="m9")  # the same outputs on the same examples
    elsewhere = replace(base, model="m9", task="t9", example_set="another set",
                        faith_set="another faith set")
    widths = {}
    for name, pair in (("same", [base, twin]), ("independent", [base, elsewhere])):
        table, configs = cl.verdicts(pair, mde=False, n_resamples=100)
        assert np.allclose(configs.se_accuracy.iloc[0], configs.se_accuracy.iloc[1])
        widths[name] = table.mean_high.iloc[0] - table.mean_low.iloc[0]
    # the mean of two perfectly correlated changes is as uncertain as one; of two independent
    # ones, 1/sqrt(2) as much
    assert widths["same"] / widths["independent"] == pytest.approx(np.sqrt(2), rel=0.01)


def test_one_seed_is_the_plain_analysis_and_seeds_are_averaged() -> None:
    changes = sim.simulate(sim.Grid(seeds=3), sim.Effects(seed_kappa=0.5, seed_faith=0.05),
                           np.random.default_rng(4))
    first = [c for c in changes if c.demo_seed == 0]
    plain, plain_t = cl.verdicts([replace(c, demo_seed=7) for c in first], mde=False,
                                 n_resamples=100)
    again, again_t = cl.verdicts(first, mde=False, n_resamples=100)
    pd.testing.assert_frame_equal(plain_t, again_t)
    assert plain_t.seed_sd_accuracy.isna().all()
    assert np.allclose(plain_t.se_accuracy, plain_t.se_sampling_accuracy)
    _, t = cl.verdicts(changes, mde=False, n_resamples=100)
    assert (t.seeds == 3).all() and len(t) == 16
    per_seed = {}
    for c in changes:
        right = [(p.argmax(1) == c.labels).mean() for p in (c.probs_full, c.probs_pruned)]
        d = right[1] - right[0]
        per_seed.setdefault(c.key, []).append(d)
    assert np.allclose(t.d_accuracy, [np.mean(per_seed[k]) for k in zip(
        t.model, t.task, t.criterion, t.ratio, strict=True)])
    for m in ("accuracy", "ce2", "faith"):
        assert t[f"seed_sd_{m}"].notna().all()
        assert (t[f"se_{m}"] >= t[f"se_sampling_{m}"] - 1e-12).all()


def test_multiclass_labels_work() -> None:
    changes = sim.simulate(sim.Grid(n_labels=4), sim.Effects(), np.random.default_rng(5))
    table, t = cl.verdicts(changes, mde=False, n_resamples=100)
    assert set(table.verdict) <= set(cl.VERDICTS) and t.d_ce2.notna().all()


def test_missing_or_nan_faithfulness_is_undetermined_never_yes() -> None:
    changes = _grid(faith_shift=-1.0)  # a huge fall, but the scores are unusable
    nan = [replace(c, faith_pruned=np.full_like(c.faith_full, np.nan)) for c in changes]
    none = [replace(c, faith_full=None, faith_pruned=None, faith_set=None) for c in changes]
    for grid in (nan, none):
        table, configs = cl.verdicts(grid, n_resamples=100)
        for i in (1, 3, 5):
            assert table.verdict[i] == "undetermined"
        assert configs.d_faith.isna().all() and configs.p_faith_holm.isna().all()


def test_too_few_configurations_are_undetermined() -> None:
    changes = _grid(kappa=0.6)[:3]
    table, _ = cl.verdicts(changes, n_resamples=100)
    assert table.verdict[7] == "undetermined"  # fewer than 4 configurations for rho
    table, _ = cl.verdicts(changes[:1], n_resamples=100)
    assert table.verdict[5] == table.verdict[6] == table.verdict[7] == "undetermined"
    table, configs = cl.verdicts([], n_resamples=100)
    assert (table.verdict == "undetermined").all() and configs.empty


def test_bad_input_is_rejected_with_a_clear_message() -> None:
    c = _grid()[0]
    with pytest.raises(ValueError, match="same examples"):
        cl.ConfigChange("m", "t", "s", 0.5, "t", c.labels, c.probs_full, c.probs_full[:-1])
    with pytest.raises(ValueError, match="sum to 1"):
        cl.ConfigChange("m", "t", "s", 0.5, "t", c.labels, c.probs_full, c.probs_full * 0.9)
    with pytest.raises(ValueError, match="both faith_full and faith_pruned"):
        cl.ConfigChange("m", "t", "s", 0.5, "t", c.labels, c.probs_full, c.probs_full,
                        faith_full=np.zeros(5))
    with pytest.raises(ValueError, match="demo_seed"):
        cl.ConfigChange("m", "t", "s", 0.5, "t", c.labels, c.probs_full, c.probs_full,
                        demo_seed=1.5)
    shuffled = replace(c, labels=c.labels[::-1].copy(), model="x")
    with pytest.raises(ValueError, match="different labels"):
        cl.verdicts([c, shuffled])
    with pytest.raises(ValueError, match="demo_seed 0"):
        cl.verdicts([c, replace(c)])
    with pytest.raises(ValueError, match="alpha"):
        cl.verdicts([c], alpha=0.7)
    with pytest.raises(ValueError, match="often_share"):
        cl.verdicts([c], often_share=1.0)
    with pytest.raises(ValueError, match="tau_margin_cal"):
        cl.verdicts([c], tau_margin_cal=-1)


def test_claims_depend_on_the_statistics_modules_only() -> None:
    from helpers.fingerprint import closure

    reached = {m.removeprefix("helpers.") for m in closure(["helpers.claims"])}
    assert reached <= {"claims", "changes", "claim_estimates", "claim_power", "calibration",
                       "calibration_change", "heterogeneity", "multiplicity", "seed_effects",
                       "stats"}, reached


def test_each_claim_names_the_per_configuration_columns_it_tests():
    """Pages look up a claim's configurations by `measure` (d_<measure>, p_<measure>)."""
    verdict, table = cl.verdicts(_grid(), mde=False, n_resamples=200)
    single = [m for m in verdict.measure if "," not in m]
    assert set(single) == {"accuracy", "faith", "ce2"}
    assert all(f"d_{m}" in table.columns for m in single)
    assert all(f"p_{m}" in table.columns for m in single if m != "accuracy")
