"""What each chapter reads from the results store, declared once for the notebook and the grid.

A `Chapter` record holds a chapter's name, title, its own parameter defaults (over the book-wide
ones in helpers.profiles) and `requests(r)`: the units the chapter reads, built with a `Requests`
factory from the chapter's merged parameters. The grid computes exactly these units (and their
dependencies); a chapter's notebook reads through `helpers.workload.open_chapter`, which refuses a
unit not declared here, so a unit a chapter reads is always one the grid computes.

A new chapter is a record here, a notebook in notebooks/ and a line in _toc.yml.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from . import criteria
from .configs import Config, configs
from .units import Settings, Unit
from .units.faithfulness import faithfulness_unit
from .units.latency import latency_unit
from .units.layer_scores import layer_scores_unit
from .units.oracle import oracle_unit
from .units.scores import scores_unit

CONTROL_METHOD = "random"  # the attribution every method is compared with
FAITHFULNESS_FRACTIONS = (0.01, 0.05, 0.1, 0.2, 0.5)


class Requests:
    """Builds the units a chapter reads from its parameters (the notebook and the grid alike)."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.p = dict(params)
        p = self.p
        ratios = [float(r) for r in p.get("ratios") or [0.0]]
        self.settings = Settings.from_params(
            {**p, "greedy_max_ratio": p.get("greedy_max_ratio") or max(ratios) or 0.5})
        self.common = {k: p[k] for k in ("shots", "n_examples", "n_calibration", "seed",
                                         "importance_source", "n_bins") if k in p}

    def configs(self, *, models: Sequence[str] | None = None, tasks: Sequence[str] | None = None,
                criteria_: Sequence[str] | None = None, ratios: Sequence[float] | None = None,
                demo_seeds: Sequence[int] | None = None,
                criterion_seeds: Sequence[int] | None = None) -> list[Config]:
        """A grid of configurations; every argument not given is the chapter's parameter."""
        p = self.p
        return configs(models if models is not None else p["models"],
                       tasks if tasks is not None else p["tasks"],
                       criteria_ if criteria_ is not None else p["criteria"],
                       ratios if ratios is not None else p["ratios"],
                       demo_seeds=demo_seeds if demo_seeds is not None else p["demo_seeds"],
                       criterion_seeds=criterion_seeds if criterion_seeds is not None
                       else p.get("criterion_seeds", [0]), **self.common)

    def config(self, model: str, task: str, **fields_: Any) -> Config:
        """One configuration with the chapter's shared settings."""
        return Config(model=model, task=task, **{**self.common, **fields_})

    def scores(self, cfg: Config) -> Unit:
        """The `scores` unit of a configuration."""
        return scores_unit(cfg, self.settings)

    def faithfulness(self, cfg: Config, method: str) -> Unit:
        """The `faithfulness` unit of a configuration and attribution method."""
        p = self.p
        return faithfulness_unit(cfg, self.settings, method, p["n_faithfulness"],
                                 p.get("fractions") or FAITHFULNESS_FRACTIONS, p.get("ig_steps", 8))

    def latency(self, cfg: Config) -> Unit:
        """The `latency` unit of a configuration."""
        return latency_unit(cfg, self.settings, batch=self.p["latency_batch"],
                            tokens=self.p["latency_tokens"])

    def oracle(self, cfg: Config) -> Unit:
        """The ablation oracle of a configuration's model and task, on its first
        `oracle_examples` calibration examples."""
        n = min(cfg.n_calibration, self.p.get("oracle_examples") or cfg.n_calibration)
        return oracle_unit(replace(cfg, n_calibration=n), self.settings)

    def layer_scores(self, cfg: Config) -> Unit | None:
        """The per-layer scores of a configuration's criterion (None: it ranks without scores)."""
        return layer_scores_unit(cfg, self.settings)


@dataclass(frozen=True)
class Chapter:
    """One chapter: its defaults and the units it reads."""

    name: str
    title: str
    requests: Callable[[Requests], list[Unit]]
    defaults: Mapping[str, Any] = field(default_factory=dict)


def _with_zero(ratios: Sequence[float]) -> list[float]:
    return sorted({0.0, *(float(r) for r in ratios)})


def _pruning_method(r: Requests) -> list[Unit]:
    p, out = r.p, []
    demo = p["demo_seeds"][0]
    first = p["tasks"][0]
    for m in p["models"]:  # 1.1: importance profiles; 1.5: each scored criterion's drop order
        for c in dict.fromkeys(["similarity", *p["criteria"]]):
            if criteria.get(c).scores is not None:
                out.append(r.layer_scores(r.config(m, first, criterion=c, demo_seed=demo)))
    out += [r.scores(c) for c in r.configs(demo_seeds=[demo])]  # 1.2-1.4
    out += [r.oracle(r.config(m, first, demo_seed=demo)) for m in p["models"]]  # 1.5
    named = [c for c in p["criteria"] if not criteria.get(c).seeded]
    if p.get("methods") and p.get("n_faithfulness"):  # 1.6: faithfulness per criterion
        pruned = r.configs(tasks=[first], criteria_=named,
                           ratios=[x for x in p["ratios"] if x > 0], demo_seeds=[demo])
        for cfg in pruned:
            out += [r.scores(cfg.unpruned()), r.scores(cfg)]
            out += [r.faithfulness(c, p["methods"][0]) for c in (cfg.unpruned(), cfg)]
    for m in p["models"]:  # 1.7: latency
        out += [r.latency(r.config(m, first, criterion="similarity", ratio=x)) for x in p["ratios"]]
    return out


def _faithfulness(r: Requests) -> list[Unit]:
    p = r.p
    methods = [*(m for m in p["methods"] if m != CONTROL_METHOD), CONTROL_METHOD]
    grid = r.configs(criteria_=p["criteria"][:1], ratios=_with_zero(p["ratios"]),
                     demo_seeds=p["demo_seeds"][:1])
    return [r.faithfulness(cfg, m) for cfg in grid for m in methods]


def _calibration(r: Requests) -> list[Unit]:
    p = r.p
    grid = r.configs(criteria_=p["criteria"][:1], ratios=_with_zero(p["ratios"]),
                     demo_seeds=p["demo_seeds"][:1])
    return [r.scores(cfg) for cfg in grid]


def _cross_model(r: Requests) -> list[Unit]:
    p, out = r.p, []
    method, faith_seeds = p["methods"][0], p["demo_seeds"][: p["faith_seeds"]]
    for cfg in r.configs():  # every demonstration seed: the claims average over them
        if cfg.pruned:
            out += [r.scores(cfg.unpruned()), r.scores(cfg)]
            if cfg.demo_seed in faith_seeds and p["n_faithfulness"]:
                out += [r.faithfulness(c, method) for c in (cfg.unpruned(), cfg)]
    return out


def _cost(r: Requests) -> list[Unit]:
    return []


CHAPTERS: dict[str, Chapter] = {c.name: c for c in (
    Chapter("01_pruning_method", "How attention sub-layers are chosen and dropped",
            _pruning_method, {"tasks": ["mr"], "ratios": [0.0, 1 / 8, 1 / 4, 1 / 2],
                              "criteria": ["similarity", "last", "random"], "demo_seeds": [0]}),
    Chapter("02_faithfulness", "Faithfulness of token attributions", _faithfulness,
            {"models": ["smollm2-135m"], "tasks": ["mr"], "ratios": [0.0, 1 / 6, 1 / 3, 1 / 2],
             "criteria": ["similarity"],
             "methods": ["gradient", "input_x_gradient", "integrated_gradients", "occlusion",
                         "attention", "random"]}),
    Chapter("03_calibration", "Confidence calibration", _calibration,
            {"tasks": ["mr", "amazon", "trec"], "ratios": [0.0, 1 / 6, 1 / 3, 1 / 2],
             "criteria": ["similarity"]}),
    Chapter("04_cross_model", "Across models and tasks: is accuracy the whole story?",
            _cross_model),
    Chapter("05_cost", "Cost", _cost),
)}
NAMES: tuple[str, ...] = tuple(CHAPTERS)


def chapter(name: str) -> Chapter:
    """The chapter called `name`, or an error listing them."""
    try:
        return CHAPTERS[name]
    except KeyError:
        raise ValueError(f"unknown chapter {name!r}; known: {', '.join(CHAPTERS)}") from None
