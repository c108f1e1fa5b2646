"""Claim verdicts on simulated pruning grids with known truth: null and planted rates, edges."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from helpers import claims as cl
from helpers.calibration import softmax

MODELS = ("m0", "m1")
TASKS = {"t2": 2, "t4": 4, "t6": 6}  # example set -> number of labels
PAIRS = (("similarity", 1 / 6), ("similarity", 1 / 3), ("similarity", 1 / 2), ("random", 1 / 3))
GRID = [(model, task, pair) for task in TASKS for model in MODELS for pair in PAIRS]
N_CONFIGS = len(GRID)
FAST = 400  # resamples per verdict in the rate tests


def _per_config(value: float | np.ndarray | list[float]) -> np.ndarray:
    v = np.broadcast_to(np.asarray(value, dtype=np.float64), (N_CONFIGS,))
    return v.copy()


def simulate(
    rng: np.random.Generator,
    *,
    temperature: float | np.ndarray = 1.0,
    full_temperature: float = 1.0,
    swap: float | np.ndarray = 0.0,
    blank: float | np.ndarray = 0.0,
    faith_shift: float | np.ndarray = 0.0,
    n: int = 200,
    m: int = 64,
    noise: float = 0.5,
) -> list[cl.ConfigChange]:
    """2 models x 3 tasks x 4 (criterion, ratio) pairs; knobs: a scalar or one value per GRID entry.

    Labels follow softmax(u) for a latent logit u per example. The full model sees u + noise; the
    pruned one u + fresh noise of the same size (exchangeable with the full model: no change at all
    unless a knob is set); both are divided by ``full_temperature`` and the pruned one also by
    ``temperature`` (< 1: sharper, more overconfident; the argmax is unchanged). Then,
    per example: with probability ``swap`` a correct pruned prediction turns confidently wrong
    (accuracy drops by ``swap`` x accuracy, calibration worsens), with probability ``blank`` the
    pruned model outputs the uniform distribution (accuracy drops, calibration is kept).
    Faithfulness: a latent per-example score plus independent noise for each model, shifted by
    ``faith_shift`` for the pruned one, on the first m examples.
    """
    knobs = {
        k: _per_config(v)
        for k, v in dict(
            temperature=temperature, swap=swap, blank=blank, faith_shift=faith_shift
        ).items()
    }
    changes = []
    for (model, task, (criterion, ratio)), j in zip(GRID, range(N_CONFIGS), strict=True):
        k = TASKS[task]
        if j % (len(MODELS) * len(PAIRS)) == 0:  # a new task: new examples
            u = rng.normal(scale=2.2, size=(n, k))
            labels = (rng.random(n)[:, None] > softmax(u).cumsum(axis=1)).sum(axis=1)
        if j % len(PAIRS) == 0:  # a new (model, task): its unpruned outputs
            full = softmax((u + noise * rng.normal(size=(n, k))) / full_temperature)
            faith_latent = rng.normal(0.3, 0.25, size=m)
            faith_full = faith_latent + rng.normal(0, 0.1, size=m)
        t = full_temperature * knobs["temperature"][j]
        pruned = softmax((u + noise * rng.normal(size=(n, k))) / t)
        flip = np.flatnonzero(
            (pruned.argmax(axis=1) == labels) & (rng.random(n) < knobs["swap"][j])
        )
        if len(flip):
            masked = pruned[flip].copy()
            masked[np.arange(len(flip)), labels[flip]] = -1
            other = masked.argmax(axis=1)
            top = pruned[flip, labels[flip]].copy()
            pruned[flip, labels[flip]] = pruned[flip, other]
            pruned[flip, other] = top
        pruned[rng.random(n) < knobs["blank"][j]] = 1 / k
        changes.append(
            cl.ConfigChange(
                model=model,
                task=task,
                criterion=criterion,
                ratio=ratio,
                example_set=task,
                labels=labels,
                probs_full=full,
                probs_pruned=pruned,
                faith_full=faith_full,
                faith_pruned=faith_latent + rng.normal(0, 0.1, size=m) + knobs["faith_shift"][j],
            )
        )
    return changes


def _rates(
    reps: int, seed: int, *, calibration: str = "ece_debiased", **knobs: object
) -> pd.DataFrame:
    """Share of yes / no / undetermined per claim (rows 1..6) over simulated grids."""
    verdicts = []
    for r in range(reps):
        changes = simulate(np.random.default_rng([seed, r]), **knobs)
        table, _ = cl.verdicts(changes, calibration=calibration, n_resamples=FAST, seed=r)
        verdicts.append(table.verdict.to_numpy())
    wide = np.array(verdicts)
    rates = pd.DataFrame(
        {v: (wide == v).mean(axis=0) for v in cl.VERDICTS}, index=pd.RangeIndex(1, 7, name="claim")
    )
    print(f"\n{sorted(knobs) or 'no effect'}, {reps} grids:\n{rates.round(3)}")
    return rates


def _population_accuracy(k: int, noise: float = 0.5, size: int = 200_000) -> float:
    """Accuracy of the simulated models for k labels, on a large sample (the truth)."""
    rng = np.random.default_rng(123)
    u = rng.normal(scale=2.2, size=(size, k))
    labels = (rng.random(size)[:, None] > softmax(u).cumsum(axis=1)).sum(axis=1)
    return float(((u + noise * rng.normal(size=(size, k))).argmax(axis=1) == labels).mean())


PAIR = np.array([PAIRS.index(pair) for _, _, pair in GRID])  # 0..3
MODEL_TASK = np.array([j // len(PAIRS) for j in range(N_CONFIGS)])  # 0..5
THIRD = np.arange(N_CONFIGS) % 3


# ------------------------------------------------------------------------------------- rates


def test_no_effect_gives_few_yes() -> None:
    rates = _rates(150, seed=1)
    assert (rates.loc[2:6, "yes"] <= 0.10).all()
    assert rates.loc[1, "yes"] >= 0.7  # no change at all: accuracy is kept


def test_accuracy_drop_of_twice_the_tolerance_is_not_kept() -> None:
    drop = 2 * 0.05
    swap = [drop / _population_accuracy(TASKS[task]) for _, task, _ in GRID]
    rates = _rates(80, seed=2, swap=swap)
    assert rates.loc[1, "yes"] <= 0.10
    assert rates.loc[1, "no"] >= 0.5


def test_planted_faithfulness_and_calibration_degradation() -> None:
    # a third of the configurations lose faithfulness, another third become overconfident;
    # the temperature leaves every prediction, hence accuracy, unchanged
    rates = _rates(
        80,
        seed=3,
        faith_shift=np.where(THIRD == 0, -0.15, 0.0),
        temperature=np.where(THIRD == 1, 0.33, 1.0),
    )
    assert (rates.loc[1:4, "yes"] >= 0.8).all()


def test_planted_fluctuation_of_calibration_across_ratios() -> None:
    # overconfident full models; pruning alternately fixes (T x 2) and worsens (T / 2) it
    rates = _rates(
        80, seed=4, full_temperature=0.5, temperature=np.array([2.0, 0.5, 2.0, 1.0])[PAIR]
    )
    assert rates.loc[5, "yes"] >= 0.8


def test_planted_misalignment() -> None:
    # accuracy falls with the pair (calibrated ignorance on a share of examples), calibration
    # worsens on every other model x task, independently of the accuracy change
    rates = _rates(
        80,
        seed=5,
        blank=np.array([0.0, 0.1, 0.2, 0.3])[PAIR],
        temperature=np.where(MODEL_TASK % 2 == 0, 0.33, 1.0),
    )
    assert rates.loc[6, "yes"] >= 0.8


def test_coupled_accuracy_and_calibration_is_not_misalignment() -> None:
    # confidently wrong predictions: the larger the accuracy drop, the worse the calibration
    rates = _rates(80, seed=6, swap=np.linspace(0.0, 0.4, N_CONFIGS))
    assert rates.loc[6, "yes"] <= 0.10
    assert rates.loc[6, "no"] >= 0.5


# ------------------------------------------------------------------------------- edge cases


def _small_grid(seed: int = 0, **knobs: object) -> list[cl.ConfigChange]:
    return simulate(np.random.default_rng(seed), **knobs)


def test_tables_have_one_row_per_claim_and_configuration() -> None:
    changes = _small_grid()
    table, configs = cl.verdicts(changes, n_resamples=200)
    assert list(table.columns) == ["claim", "rule", "evidence", "verdict"]
    assert list(table.claim) == list(cl.CLAIMS)
    assert set(table.verdict) <= set(cl.VERDICTS)
    assert table.rule.str.contains("0.05").all()  # alpha or tolerance is stated in every rule
    assert len(configs) == N_CONFIGS
    for col in ("d_accuracy", "d_ece_debiased_sq", "d_nll", "d_faith"):
        assert (configs[f"{col}_low"] <= configs[col]).all()
        assert (configs[col] <= configs[f"{col}_high"]).all()
    full = np.array([c.probs_full.argmax(axis=1) == c.labels for c in changes]).mean(axis=1)
    assert np.allclose(configs.accuracy_full, full)
    assert ((configs.p_faith_holm >= configs.p_faith) & (configs.p_faith_holm <= 1)).all()


def test_identical_models_keep_accuracy_and_change_nothing() -> None:
    changes = [
        cl.ConfigChange(
            c.model,
            c.task,
            c.criterion,
            c.ratio,
            c.example_set,
            c.labels,
            c.probs_full,
            c.probs_full.copy(),
            c.faith_full,
            c.faith_full.copy(),
        )
        for c in _small_grid()
    ]
    table, configs = cl.verdicts(changes, n_resamples=200)
    assert table.verdict.tolist()[:4] == ["yes", "no", "no", "no"]
    assert (configs[["d_accuracy", "d_ece_debiased_sq", "d_nll", "d_faith"]] == 0).all().all()
    assert table.verdict[5] == "undetermined"  # rho is undefined when nothing changes


def test_configurations_on_the_same_examples_are_resampled_jointly() -> None:
    base = _small_grid()[0]
    twin = cl.ConfigChange(
        "m9",
        base.task,
        "random",
        0.5,
        base.example_set,
        base.labels,
        base.probs_full.copy(),
        base.probs_pruned.copy(),
    )
    other = cl.ConfigChange(
        "m9",
        "elsewhere",
        "random",
        0.5,
        "another set",
        base.labels,
        base.probs_full.copy(),
        base.probs_pruned.copy(),
    )
    _, configs = cl.verdicts([base, twin, other], n_resamples=300)
    cols = ["d_accuracy_low", "d_accuracy_high", "d_nll_low", "d_nll_high"]
    assert np.allclose(configs.loc[0, cols].to_numpy(float), configs.loc[1, cols].to_numpy(float))
    assert not np.allclose(
        configs.loc[0, cols].to_numpy(float), configs.loc[2, cols].to_numpy(float)
    )


def test_missing_or_nan_faithfulness_is_undetermined_never_yes() -> None:
    changes = _small_grid(faith_shift=-1.0)  # a huge fall, but the scores are unusable
    nan = [replace(c, faith_pruned=np.full_like(c.faith_full, np.nan), faith_set=None) for c in changes]
    none = [replace(c, faith_full=None, faith_pruned=None, faith_set=None) for c in changes]
    for grid in (nan, none):
        table, configs = cl.verdicts(grid, n_resamples=200)
        assert table.verdict[1] == "undetermined"
        assert configs.d_faith.isna().all() and configs.p_faith_holm.isna().all()
        assert "faithfulness: no group" in table.evidence[4]


def test_too_few_configurations_are_undetermined() -> None:
    changes = _small_grid(temperature=0.33)[:3]  # one ratio each of one model x task
    table, _ = cl.verdicts(changes, n_resamples=200)
    assert table.verdict[5] == "undetermined"  # fewer than 4 configurations for rho
    single = [changes[0]]
    table, _ = cl.verdicts(single, n_resamples=200)
    assert table.verdict[4] == "undetermined" and table.verdict[5] == "undetermined"
    table, configs = cl.verdicts([], n_resamples=200)
    assert (table.verdict == "undetermined").all() and configs.empty


def test_bad_input_is_rejected_with_a_clear_message() -> None:
    c = _small_grid()[0]
    with pytest.raises(ValueError, match="same examples"):
        cl.ConfigChange("m", "t", "s", 0.5, "t", c.labels, c.probs_full, c.probs_full[:-1])
    with pytest.raises(ValueError, match="sum to 1"):
        cl.ConfigChange("m", "t", "s", 0.5, "t", c.labels, c.probs_full, c.probs_full * 0.9)
    with pytest.raises(ValueError, match="both faith_full and faith_pruned"):
        cl.ConfigChange(
            "m", "t", "s", 0.5, "t", c.labels, c.probs_full, c.probs_full, faith_full=np.zeros(5)
        )
    shuffled = cl.ConfigChange(
        "m", "t", "s", 0.5, c.example_set, c.labels[::-1].copy(), c.probs_full, c.probs_pruned
    )
    with pytest.raises(ValueError, match="different labels"):
        cl.verdicts([c, shuffled])
    with pytest.raises(ValueError, match="calibration metric"):
        cl.verdicts([c], calibration="accuracy")
    with pytest.raises(ValueError, match="alpha"):
        cl.verdicts([c], alpha=0.7)
