"""Readouts: stored records to changes and tables, against hand-built records and direct
computations (no model runs)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.special import softmax

from helpers import pages, readouts
from helpers.configs import Config

RNG = np.random.default_rng(0)
N = 40


def scores_record(logits: np.ndarray, labels: np.ndarray, mass: np.ndarray, cal: np.ndarray,
                  layers=()) -> dict:
    return {"layers": list(layers), "metrics": [],
            "examples": {"uid": [f"u{i}" for i in range(len(labels))], "label": labels.tolist(),
                         "logits": logits.tolist(), "label_mass": mass.tolist(),
                         "calibration_label": [0] * len(cal),
                         "calibration_logits": cal.tolist()}}


def faith_record(p_full, p_empty, p_without) -> dict:
    n = len(p_full)
    return {"params": {"method": "m", "fractions": [0.1, 0.5]},
            "examples": {"uid": [f"u{i}" for i in range(n)], "n_tokens": [10] * n,
                         "k": [[1, 5]] * n, "target": [0] * n, "p_full": list(p_full),
                         "p_empty": list(p_empty), "p_without": [list(r) for r in p_without],
                         "p_only": [list(r) for r in p_without]}}


class FakeRun:
    """A chapter run whose units are hand-built records."""

    def __init__(self) -> None:
        self.params = {"n_faithfulness": 6}
        self.labels = RNG.integers(0, 2, N)
        self.records, self.faith = {}, {}

    def add(self, cfg: Config, shift: float) -> None:
        logits = RNG.normal(0, 1, (N, 2)) + shift * np.eye(2)[self.labels]
        cal = RNG.normal(0, 1, (8, 2))
        self.records[self.key(cfg)] = scores_record(logits, self.labels, RNG.uniform(0.2, 0.9, N),
                                                    cal)

    @staticmethod
    def key(cfg: Config) -> str:
        """As the store keys them: an unpruned model is one unit whatever its criterion."""
        return str(sorted(cfg.identity().items()))

    def scores(self, cfg: Config) -> dict:
        return self.records[self.key(cfg)]

    def faithfulness(self, cfg: Config, method: str) -> dict:
        return self.faith[cfg]


def test_faith_scores_set_undefined_examples_to_zero_by_a_fixed_rule():
    # gaps: 0.5 (defined), 0.005 (below NORM_MIN_GAP: undefined), 0.3 (defined)
    rec = faith_record([0.9, 0.6, 0.8], [0.4, 0.595, 0.5], [[0.7, 0.4], [0.6, 0.6], [0.8, 0.5]])
    values, n_undefined = readouts.faith_scores(rec)
    # by hand: example 0 -> mean(0.2/0.5, 0.5/0.5) = 0.7; example 2 -> mean(0, 0.3/0.3) = 0.5
    np.testing.assert_allclose(values, [0.7, 0.0, 0.5])
    assert n_undefined == 1


def test_label_use_and_dropped_set_kl_against_direct_computations():
    run = FakeRun()
    full = Config("m", "mr", ratio=0.0)
    pruned = replace(full, criterion="last", ratio=0.5)
    run.add(full, 2.0)
    run.add(pruned, 0.5)
    use = readouts.label_use(run, [full, pruned], n_resamples=200)
    assert len(use) == 1
    mf = np.asarray(run.scores(full)["examples"]["label_mass"])
    mp = np.asarray(run.scores(pruned)["examples"]["label_mass"])
    assert use.d_mass[0] == pytest.approx(mp.mean() - mf.mean())
    assert use.d_mass_low[0] < use.d_mass[0] < use.d_mass_high[0]
    pred = softmax(np.asarray(run.scores(pruned)["examples"]["logits"]), axis=1).argmax(1)
    assert use.pruned_0[0] == pytest.approx(np.mean(pred == 0))
    assert use.true_0[0] == pytest.approx(np.mean(run.labels == 0))
    kl = readouts.dropped_set_kl(run, [full, pruned], n_resamples=200)
    p = softmax(np.asarray(run.scores(full)["examples"]["calibration_logits"]), axis=1)
    q = softmax(np.asarray(run.scores(pruned)["examples"]["calibration_logits"]), axis=1)
    assert kl.kl[0] == pytest.approx(np.mean(np.sum(p * np.log(p / q), axis=1)))


def test_contrast_changes_put_the_first_configuration_in_the_full_models_role():
    run = FakeRun()
    a = Config("m", "mr", criterion="similarity", ratio=0.5)
    b = replace(a, criterion="greedy_kl")
    run.add(a, 1.0)
    run.add(b, 2.0)
    (change,) = readouts.contrast_changes(run, [(a, b)], method=None)
    np.testing.assert_allclose(change.probs_full, readouts.stored_probs(run.scores(a)))
    np.testing.assert_allclose(change.probs_pruned, readouts.stored_probs(run.scores(b)))
    assert change.criterion == "greedy_kl − similarity"
    with pytest.raises(ValueError, match="not evaluated on the same examples"):
        readouts.contrast_changes(run, [(a, replace(b, demo_seed=1))], method=None)


@pytest.mark.parametrize(("n", "text"), [(0, "0 configurations"), (1, "1 configuration"),
                                         (3, "3 configurations")])
def test_counts_read_correctly_for_zero_one_and_many(n, text):
    assert pages.count(n, "configuration") == text
    assert pages.count(2, "criterion", "criteria") == "2 criteria"
