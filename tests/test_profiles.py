"""Profiles are checked before anything runs: every problem named at once, with its fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.book import NOTEBOOKS, load_profile
from helpers.profiles import check_parameters, check_profile

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["default", "smoke", "offline-full", "paper"])
def test_shipped_profiles_pass(name):
    assert check_profile(load_profile(ROOT / "params" / f"{name}.yml"), NOTEBOOKS) == []


def test_every_problem_is_named_at_once():
    params = {
        "models": ["smollm2-135m", "no-such-model"], "tasks": ["mr", "hub:trec", "nope"],
        "criteria": ["similarity", "psychic"], "methods": ["input_x_gradient", "vibes"],
        "ratios": [0, 0.5, 1.0], "n_examples": 1000, "n_calibration": 600,
        "importance_texts": 256, "demo_seeds": [], "fractions": [0.1, 0], "shots": 20,
    }
    problems = check_parameters(params)
    text = "\n".join(problems)
    for needle in ("no-such-model", "'nope'", "psychic", "vibes", "ratio 1.0", "fraction 0",
                   "demo_seeds is empty", "n_examples=1000 > the 500 examples of the test split of "
                   "'hub:trec'", "n_calibration=600", "importance_texts=256 > the 80 texts",
                   "shots=20"):
        assert needle in text, needle
    assert "n_examples=1000 > the 8639" not in text  # mr's test split is large enough


def test_importance_from_the_tasks_own_pool_is_checked_against_each_pool():
    params = {"tasks": ["mr", "trec"], "criteria": ["similarity"], "importance_source": "task",
              "importance_texts": 64}
    problems = check_parameters(params)
    assert len(problems) == 1 and "'mr'" in problems[0] and "32" in problems[0]  # trec holds 96
