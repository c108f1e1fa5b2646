"""What defines one evaluated configuration, and grids of them.

Seeds mean one thing each: `seed` draws the test and calibration samples, `demo_seed` the
demonstrations and their order, `criterion_seed` the `random` criterion's permutation. A field a
configuration's results cannot depend on is normalised away in `identity` (the criterion of an
unpruned model, the seed of a criterion that draws nothing, the importance texts of a criterion
that reads none), so equal computations get equal keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from . import criteria
from .tasks import DEFAULT_SHOTS, get_task

IMPORTANCE_SOURCE = "bbc_news"  # whose demonstration pool gives the importance texts


@dataclass(frozen=True)
class Config:
    """Everything that defines one evaluated configuration."""

    model: str
    task: str
    criterion: str = "similarity"
    ratio: float = 0.0
    shots: int = DEFAULT_SHOTS
    n_examples: int = 100
    n_calibration: int = 100
    seed: int = 0
    demo_seed: int = 0
    criterion_seed: int = 0
    importance_source: str = IMPORTANCE_SOURCE
    n_bins: int = 15

    def __post_init__(self) -> None:
        if self.importance_source != "task":
            get_task(self.importance_source)  # a task whose demo pool gives the texts

    @property
    def pruned(self) -> bool:
        """Whether any attention is dropped (ratio > 0)."""
        return self.ratio > 0

    @property
    def importance_texts_from(self) -> str:
        """The task whose demo pool gives the importance texts."""
        return self.task if self.importance_source == "task" else self.importance_source

    def unpruned(self) -> Config:
        """The same configuration at ratio 0."""
        return replace(self, ratio=0.0)

    def identity(self) -> dict[str, Any]:
        """The fields its results depend on (the others normalised to None or 'none')."""
        p = asdict(self)
        if self.ratio == 0:
            p["criterion"] = "none"
        record = criteria.CRITERIA.get(p["criterion"])
        if record is None or not record.seeded:
            p["criterion_seed"] = None
        if record is None or not record.reads_texts:
            p["importance_source"] = None
        return p

    def label(self) -> str:
        """model/task/criterion/ratio, the way tables name a configuration."""
        from fractions import Fraction

        crit = (f"random#{self.criterion_seed}" if self.criterion == "random"
                else self.criterion) if self.ratio else "full"
        ratio = str(Fraction(self.ratio).limit_denominator(12)) if self.ratio else "0"
        return f"{self.model}/{self.task}/{crit}/{ratio}"


def configs(
    models: Sequence[str], tasks: Sequence[str], criteria_: Sequence[str], ratios: Sequence[float],
    *, demo_seeds: Sequence[int] = (0,), criterion_seeds: Sequence[int] = (0,), **common: Any,
) -> list[Config]:
    """Every configuration of a grid (a seeded criterion once per criterion seed)."""
    out = []
    for model in models:
        for task in tasks:
            for demo_seed in demo_seeds:
                for name in criteria_:
                    seeds = criterion_seeds if criteria.get(name).seeded else criterion_seeds[:1]
                    for criterion_seed in seeds:
                        for ratio in ratios:
                            out.append(Config(model=model, task=task, criterion=name,
                                              ratio=float(ratio), demo_seed=demo_seed,
                                              criterion_seed=criterion_seed, **common))
    return out
