"""What a new user's first commands read about the models works on a machine that converted none.

The Cost chapter once failed on every fresh machine: it priced a model by reading the config of a
converted copy that only a warm cache held. Here the model cache is a new empty folder, and every
code path that lists or prices models (profile checks, `make plan`, the Cost chapter) must work
and must leave the cache empty: knowing a model's size needs no conversion.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import book, plan

ROOT = Path(__file__).resolve().parents[1]
PROFILES = sorted((ROOT / "params").glob("*.yml"))


@pytest.mark.parametrize("profile", PROFILES, ids=[p.stem for p in PROFILES])
def test_plan_prices_every_model_of_every_profile_without_a_converted_copy(profile, empty_cache):
    text = plan.report(profile)
    assert "units" in text and "Memory per model" in text
    assert list(empty_cache.iterdir()) == []


def test_the_cost_chapter_prices_its_profiles_on_an_empty_cache(empty_cache, tmp_path):
    table = plan.gpu_hours(("params/paper.yml", "params/offline-full.yml"))
    assert (table["largest model peak GB"] > 0).all()
    assert list(empty_cache.iterdir()) == []
    profile = tmp_path / "cost.yml"
    profile.write_text("bench_results: bench/latest.json\nmodels: [smollm2-135m]\n")
    book.run(str(profile), ("05_cost",), out_dir=str(tmp_path / "book" / "chapters"))
    assert (tmp_path / "book" / "chapters" / "05_cost.ipynb").exists()
    # its visible cell times the first model, which the runner converted before the chapter ran
    assert sorted(p.name for p in empty_cache.iterdir()) == ["smollm2-135m"]
