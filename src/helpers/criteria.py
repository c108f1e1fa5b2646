"""Pruning criteria: which attention sub-layers to drop first. One record per criterion.

A criterion ranks every layer from "drop first" to "drop last"; at a ratio r the first
floor(r * n_layers) of that order are dropped (`select`). Most criteria rank per-layer SCORES,
lowest first; the scores are computed once per model (and inputs) and stored as a
`layer_scores` unit (helpers.units.layer_scores), which is why a record names its score function
by its import path: the modules that compute other units never import it, so editing one
criterion's scoring code leaves every other stored unit valid.

Adding a criterion is one `Criterion` record passed to `register` (plus its score function when
it has one); profiles, chapters, the grid and the cost plan find it here. Fields:

- ``rank(n_layers, scores, rng) -> order``: the drop order (a permutation of range(n_layers));
- ``scores``: "module:function" (or the function itself) computing per-layer scores, called as
  ``fn(model, tokenizer, inputs)`` with a `ScoreInputs`; None for criteria that rank without
  scores (`last`, `random`);
- ``inputs``: what the scores are computed on: "texts" (the profile's importance texts: a task's
  demonstration pool, BBC News by default, cut to ``importance_max_length`` tokens) or
  "calibration" (the evaluated task's calibration split, in its classification prompt);
- ``seeded``: the configuration's ``criterion_seed`` changes the order (only `random`);
- ``cost``: the passes of its score computation, for `make plan` ("forward", "backward" or
  "greedy": one forward per live layer per step).

Criteria here (the paper's own are not public; every one is ours to choose):
- ``similarity`` (He et al. 2024): 1 - cos(X, X + Attn(LN(X))) on the importance texts;
- ``last``: the deepest layers first (Tyukin et al. 2024 drop the deepest third);
- ``random``: a seeded permutation, the control;
- ``relevance`` (after Hatefi et al. 2025): AttnLRP relevance entering the residual stream
  through each attention output on the importance texts, L1-normalised per text, absolute values
  averaged (helpers.lrp.attention_relevance);
- ``greedy_kl``: on the task's calibration split, repeatedly drop the live sub-layer whose removal
  least changes the label-set distribution (mean KL to the full model); scores are the steps.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Rank = Callable[[int, "Sequence[float] | None", np.random.Generator], list[int]]
INPUTS = ("texts", "calibration")
COSTS = ("forward", "backward", "greedy")


@dataclass(frozen=True)
class ScoreInputs:
    """What a score function computes on: importance texts, or a task's calibration examples."""

    texts: list[str] | None = None  # inputs == "texts"
    max_length: int = 128
    task: str | None = None  # inputs == "calibration": the task, its examples and prompt
    examples: list | None = None
    shots: int = 1
    demo_seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)  # e.g. greedy_kl's steps


@dataclass(frozen=True)
class Criterion:
    """One way to choose the attention sub-layers to drop (see the module docstring)."""

    name: str
    rank: Rank
    description: str
    scores: str | Callable[..., Any] | None = None
    inputs: str | None = None
    seeded: bool = False
    cost: str = "forward"

    def __post_init__(self) -> None:
        if (self.scores is None) != (self.inputs is None):
            raise ValueError(f"criterion {self.name!r}: give both `scores` and `inputs`, or neither")
        if self.inputs is not None and self.inputs not in INPUTS:
            raise ValueError(f"criterion {self.name!r}: inputs must be one of {INPUTS}")
        if self.cost not in COSTS:
            raise ValueError(f"criterion {self.name!r}: cost must be one of {COSTS}")

    @property
    def reads_texts(self) -> bool:
        """Whether its scores are computed on the importance texts."""
        return self.inputs == "texts"

    def score_function(self) -> Callable[..., Any]:
        """The function computing its per-layer scores (imported on first use)."""
        if self.scores is None:
            raise ValueError(f"criterion {self.name!r} ranks without scores")
        if callable(self.scores):
            return self.scores
        module, _, name = self.scores.partition(":")
        return getattr(importlib.import_module(module), name)

    def score_module(self) -> str | None:
        """The module that holds its score function (its source keys the stored scores)."""
        if self.scores is None:
            return None
        return self.scores.__module__ if callable(self.scores) else self.scores.partition(":")[0]


CRITERIA: dict[str, Criterion] = {}


def register(criterion: Criterion) -> Criterion:
    """Add a criterion (replacing one of the same name)."""
    CRITERIA[criterion.name] = criterion
    return criterion


def get(name: str) -> Criterion:
    """The criterion called `name`, or an error listing the known ones."""
    try:
        return CRITERIA[name]
    except KeyError:
        raise ValueError(f"unknown criterion {name!r}; known: {', '.join(CRITERIA)}") from None


def ascending(n: int, scores: Sequence[float] | None, rng: np.random.Generator) -> list[int]:
    """Lowest score first (ties: the lower index first)."""
    if scores is None:
        raise ValueError("this criterion ranks per-layer scores: none were given")
    values = np.asarray(scores, dtype=float)
    if values.shape != (n,) or not np.isfinite(values).all():
        raise ValueError(f"need {n} finite per-layer scores, got {values.tolist()}")
    return [int(i) for i in np.argsort(values, kind="stable")]


def deepest_first(n: int, scores: Sequence[float] | None, rng: np.random.Generator) -> list[int]:
    """The last layer first."""
    return list(range(n - 1, -1, -1))


def permutation(n: int, scores: Sequence[float] | None, rng: np.random.Generator) -> list[int]:
    """A permutation drawn from `rng` (the criterion seed)."""
    return [int(i) for i in rng.permutation(n)]


for _record in (
    Criterion("similarity", ascending, "He et al. (2024): least change of the residual stream "
              "(1 - cos) on the importance texts", scores="helpers.importance:attention_importance_scores",
              inputs="texts"),
    Criterion("last", deepest_first, "the deepest layers first"),
    Criterion("random", permutation, "a seeded random permutation (the control)", seeded=True),
    Criterion("relevance", ascending, "after Hatefi et al. (2025): least AttnLRP relevance "
              "through the attention output on the importance texts",
              scores="helpers.lrp:relevance_scores", inputs="texts", cost="backward"),
    Criterion("greedy_kl", ascending, "greedy: the sub-layer whose removal least changes the "
              "label-set distribution on the task's calibration split, again after each drop",
              scores="helpers.greedy:greedy_scores", inputs="calibration", cost="greedy"),
):
    register(_record)


def n_to_drop(n_layers: int, ratio: float) -> int:
    """How many attention layers `ratio` drops: floor(ratio * n_layers), never more than asked."""
    if not 0 <= ratio < 1 or math.isnan(ratio):
        raise ValueError(f"ratio must be in [0, 1), got {ratio}")
    return int(math.floor(ratio * n_layers + 1e-9))


def drop_order(name: str, n_layers: int, scores: Sequence[float] | None = None,
               seed: int = 0) -> list[int]:
    """Every layer, from first to last dropped by criterion `name`."""
    return get(name).rank(n_layers, scores, np.random.default_rng(seed))


def select(name: str, n_layers: int, ratio: float, scores: Sequence[float] | None = None,
           seed: int = 0) -> list[int]:
    """The sorted layers criterion `name` drops at `ratio` (a prefix of its drop order)."""
    return sorted(drop_order(name, n_layers, scores, seed)[: n_to_drop(n_layers, ratio)])


def select_layers(scores_or_n: Sequence[float] | int, ratio: float, criterion: str, *,
                  seed: int = 0) -> list[int]:
    """The layers `criterion` drops at `ratio`, given its per-layer scores (or the layer count)."""
    if isinstance(scores_or_n, int):
        return select(criterion, scores_or_n, ratio, None, seed)
    scores = [float(s) for s in scores_or_n]
    return select(criterion, len(scores), ratio, scores, seed)
