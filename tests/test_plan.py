"""The cost model: counts from the profile alone, time from measured throughput."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from helpers import models, plan
from helpers.profiles import load_profile
from helpers.workload import expand

ROOT = Path(__file__).resolve().parents[1]
MEASURED = {"reference": "cpu", "devices": {"cpu": {"peak_gflops": 100.0, "kinds": {
    k: {"gflops": g, "model": "m", "what": "w"} for k, g in
    {"importance": 50.0, "scores": 80.0, "faithfulness": 40.0, "latency": 60.0}.items()}}}}
# every unit is priced at one of these measured throughputs (units.base.RATES)


def _unit(kind: str, **args):
    units = expand(ROOT / "params" / "smoke.yml")
    u = next(u for u in units if u.kind == kind and (u.config is None or u.config.ratio == 0)
             and u.arg("method", "input_x_gradient") == "input_x_gradient")
    return replace(u, args=tuple(sorted({**dict(u.args), **args}.items())))


def test_faithfulness_cost_follows_examples_and_integration_steps():
    one = plan.unit_cost(_unit("faithfulness", n_examples=3))
    two = plan.unit_cost(_unit("faithfulness", n_examples=6))
    assert two["flops"] == pytest.approx(2 * one["flops"]) and two["backward"] == 6
    ig = plan.unit_cost(_unit("faithfulness", n_examples=3, method="integrated_gradients",
                              options=(("n_steps", 10),)))
    assert ig["backward"] == 30  # 10 steps, each a forward and a backward, plus the erasures
    # 11 erasures: without / only the top tokens at 5 fractions, and the empty body
    assert ig["flops"] == pytest.approx(one["flops"] * (11 + 10 + 2 * 10) / (11 + 1 + 2 * 1))


def test_dropping_attention_lowers_the_flops():
    u = _unit("scores")
    full = plan.unit_cost(u)["flops"]
    pruned = plan.unit_cost(replace(u, config=replace(u.config, ratio=0.5)))["flops"]
    assert pruned < full


def test_predicted_hours_are_flops_over_measured_throughput():
    table = plan.plan(load_profile(ROOT / "params" / "smoke.yml"), MEASURED)
    row = table.loc["scores"]  # every scores unit is priced at the scores throughput
    assert row["cpu h"] == pytest.approx(row["PFLOP"] * 1e15 / 80e9 / 3600)
    # a GPU without its own figure: datasheet peak x the share measured on the reference device
    assert row["H100-SXM h"] == pytest.approx(row["PFLOP"] * 1e15 / (989e12 * 0.8) / 3600)
    assert table.loc["total", "units"] == len(expand(ROOT / "params" / "smoke.yml"))


def test_paper_profiles_plan_offline():
    table = plan.gpu_hours(measured=MEASURED)
    assert list(table.index) == ["params/paper.yml", "params/offline-full.yml"]
    paper = table.loc["params/paper.yml"]
    col = "H100-SXM GPU-hours (30% of peak)"
    assert paper[col] > 100 * table.loc["params/offline-full.yml", col]
    assert paper["GPUs for a 12 h run"] == max(1, -(-paper[col] // 12))
    assert paper["largest model peak GB"] > 18  # gemma-2-9b's bf16 weights alone


def test_an_unknown_model_names_the_table_to_extend():
    with pytest.raises(ValueError, match="HUB_SHAPES"):
        models.model_shape("someone/unknown-model")


def test_every_unit_of_every_profile_has_a_cost_and_a_measured_rate():
    from helpers import units
    from helpers.units.base import RATES

    for profile in sorted((ROOT / "params").glob("*.yml")):
        for u in expand(profile):
            c = units.cost(u)
            assert c.rate in RATES and c.flops > 0 and c.tokens > 0, u.label()
