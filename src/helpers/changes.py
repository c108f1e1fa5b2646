"""One pruned configuration's outputs beside its unpruned model's, the input of the claims.

A `ConfigChange` holds, for one pruned configuration and demonstration seed, the full and the
pruned model's label-set probabilities on the same test examples and, optionally, both models'
per-example faithfulness on a subset of them (`faith_set`). Records with equal (model, task,
criterion, ratio) and different `demo_seed` are one configuration; records on the same examples
share `example_set` (and `faith_set`), so they are treated as paired.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from helpers.calibration import _check_inputs


@dataclass(frozen=True, eq=False)
class ConfigChange:
    """One pruned configuration (and demonstration seed): full and pruned model outputs on the
    same examples, optional faithfulness scores of both on a subset."""

    model: str
    task: str
    criterion: str
    ratio: float
    example_set: str
    labels: np.ndarray
    probs_full: np.ndarray
    probs_pruned: np.ndarray
    faith_full: np.ndarray | None = None
    faith_pruned: np.ndarray | None = None
    faith_set: str | None = None
    demo_seed: int = 0

    def __post_init__(self) -> None:
        name = f"{self.model}/{self.task}/{self.criterion}/{self.ratio}"
        for field in ("model", "task", "criterion", "example_set"):
            if not isinstance(getattr(self, field), str):
                raise ValueError(f"{name}: {field} must be a string")
        if not np.isfinite(float(self.ratio)):
            raise ValueError(f"{name}: ratio must be a finite number")
        if isinstance(self.demo_seed, bool) or not isinstance(self.demo_seed, (int, np.integer)):
            raise ValueError(f"{name}: demo_seed must be an integer, got {self.demo_seed!r}")
        if np.shape(self.probs_full) != np.shape(self.probs_pruned):
            raise ValueError(
                f"{name}: probs_full {np.shape(self.probs_full)} and probs_pruned"
                f" {np.shape(self.probs_pruned)} differ; pass both models' label probabilities on"
                " the same examples, in the same order"
            )
        try:
            full, labels = _check_inputs(self.probs_full, self.labels)
            pruned, _ = _check_inputs(self.probs_pruned, labels)
        except ValueError as err:
            raise ValueError(f"{name}: {err}") from None
        if len(labels) < 4:
            raise ValueError(f"{name}: need at least 4 test examples, got {len(labels)}")
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "probs_full", full)
        object.__setattr__(self, "probs_pruned", pruned)
        if (self.faith_full is None) != (self.faith_pruned is None):
            raise ValueError(f"{name}: pass both faith_full and faith_pruned, or neither")
        if self.faith_full is not None:
            a = np.asarray(self.faith_full, dtype=np.float64)
            b = np.asarray(self.faith_pruned, dtype=np.float64)
            if a.ndim != 1 or a.shape != b.shape or len(a) < 2:
                raise ValueError(
                    f"{name}: faith_full {a.shape} and faith_pruned {b.shape} must be 1-d arrays of"
                    " the same length >= 2 (one score per example of the faithfulness subset)"
                )
            object.__setattr__(self, "faith_full", a)
            object.__setattr__(self, "faith_pruned", b)
            if self.faith_set is None:
                object.__setattr__(self, "faith_set", self.example_set)

    @property
    def key(self) -> tuple[str, str, str, float]:
        """The configuration this record belongs to: (model, task, criterion, ratio)."""
        return self.model, self.task, self.criterion, float(self.ratio)

    @property
    def has_faith(self) -> bool:
        """Whether usable (present, NaN-free) faithfulness scores are attached."""
        return (
            self.faith_full is not None
            and bool(np.isfinite(self.faith_full).all())
            and bool(np.isfinite(self.faith_pruned).all())
        )


# ------------------------------------------------------------------------------------- checks


def check_changes(changes: Sequence[ConfigChange]) -> list[ConfigChange]:
    out = list(changes)
    for c in out:
        if not isinstance(c, ConfigChange):
            raise ValueError(f"changes must be ConfigChange records, got {type(c).__name__}")
    sets: dict[str, np.ndarray] = {}
    faith_sizes: dict[str, int] = {}
    seen: set[tuple] = set()
    for c in out:
        first = sets.setdefault(c.example_set, c.labels)
        if not np.array_equal(first, c.labels):
            raise ValueError(
                f"configurations sharing example_set {c.example_set!r} have different labels;"
                " give configurations evaluated on different examples different example_set names"
            )
        if c.faith_full is not None:
            m = faith_sizes.setdefault(c.faith_set, len(c.faith_full))
            if m != len(c.faith_full):
                raise ValueError(
                    f"configurations sharing faith_set {c.faith_set!r} have {m} and"
                    f" {len(c.faith_full)} faithfulness scores; name different subsets differently"
                )
        record = (*c.key, int(c.demo_seed))
        if record in seen:
            raise ValueError(f"two records for configuration {c.key} with demo_seed {c.demo_seed}")
        seen.add(record)
    return out


def check_fraction(value: float, name: str, low_open: bool = True) -> float:
    v = float(value)
    if not (0 < v < 1 if low_open else 0 <= v < 1):
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {value!r}")
    return v


def check_margin(value: float, name: str) -> float:
    v = float(value)
    if not np.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return v
