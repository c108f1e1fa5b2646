"""The record of a unit kind, one unit of work, and what its computation receives.

A `Unit` names one stored computation: its kind, model, configuration and kind-specific
arguments, and the settings it runs with. A `UnitKind` is the record that says everything about
a kind in one place: how a unit is computed, the parameters it is keyed on, the units it needs
first, what it costs (for `make plan` and the grid's shards) and which measured throughput prices
it. The store is handed a kind's code fingerprint, never the kind's code.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .. import criteria
from ..configs import Config

# The measured throughputs a unit can be priced at (bench/throughput.json holds one per name).
RATES = ("importance", "scores", "faithfulness", "latency")


@dataclass(frozen=True)
class Settings:
    """How units run, from a chapter's parameters: device, store, importance and greedy options."""

    device: str = "auto"
    results_dir: str = "results"
    importance_texts: int = 32
    importance_max_length: int = 128
    greedy_examples: int = 32
    greedy_max_ratio: float = 0.5
    batch_size: int = field(default=16, compare=False)  # speed only: never in a key
    plugins: tuple[str, ...] = field(default=(), compare=False)  # imported before computing

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Settings:
        """The settings a chapter's parameters give (defaults where they are silent)."""
        names = {f.name for f in fields(cls)}
        given = {k: params[k] for k in names if params.get(k) is not None}
        given["plugins"] = tuple(given.get("plugins") or ())
        return cls(**given)


@dataclass(frozen=True, eq=False)
class Unit:
    """One stored computation."""

    kind: str
    model: str
    config: Config | None
    args: tuple[tuple[str, Any], ...] = ()
    settings: Settings = Settings()

    def arg(self, name: str, default: Any = None) -> Any:
        """One kind-specific argument."""
        return dict(self.args).get(name, default)

    @property
    def record(self) -> UnitKind:
        """Its kind's record."""
        try:
            return KINDS[self.kind]
        except KeyError:
            raise ValueError(f"unknown unit kind {self.kind!r}; known: {', '.join(KINDS)}") from None

    def deps(self) -> dict[str, Unit]:
        """The units computed before this one, by role."""
        return self.record.deps(self)

    def identity(self) -> dict[str, Any]:
        """What tells two units apart: exactly what keys them in a store (ids for dependencies)."""
        return {"kind": self.kind, "model": self.model, "on": self.record.keyed_on(self),
                "deps": {role: d.id for role, d in self.deps().items()},
                "device": self.settings.device, "results_dir": self.settings.results_dir}

    @property
    def id(self) -> str:
        """A short stable name: a hash of its identity."""
        blob = json.dumps(self.identity(), sort_keys=True, default=str)
        return f"{self.kind[:5]}-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unit) and self.id == other.id

    def __hash__(self) -> int:
        return hash(self.id)

    def label(self) -> str:
        """A one-line human name."""
        extra = " ".join(f"{v}" for k, v in self.args if k in ("method", "criterion"))
        where = self.config.label() if self.config else self.model
        return f"{self.kind} {where}{' ' + extra if extra else ''}"

    def describe(self) -> dict[str, Any]:
        """The unit as plain data (failure records, listings)."""
        return {"id": self.id, "kind": self.kind, "model": self.model,
                "config": asdict(self.config) if self.config else None, "args": dict(self.args),
                "settings": asdict(self.settings)}


@dataclass
class Job:
    """What a computation receives: its unit, the model pool, and its dependencies' records."""

    unit: Unit
    pool: Any  # helpers.pool.ModelPool
    deps: dict[str, dict] = field(default_factory=dict)

    def layers(self) -> list[int]:
        """The layers the unit's configuration drops (from its `layer_scores` dependency if any)."""
        cfg = self.unit.config
        if cfg is None or not cfg.pruned:
            return []
        from ..models import model_shape

        record = self.deps.get("layer_scores")
        scores = record["scores"] if record is not None else None
        n = len(scores) if scores is not None else model_shape(self.unit.model).layers
        return criteria.select(cfg.criterion, n, cfg.ratio, scores, cfg.criterion_seed)


@dataclass(frozen=True)
class Cost:
    """Passes, tokens and FLOPs of one unit, and the throughput that prices it."""

    forward: float
    backward: float
    tokens: float
    flops: float
    rate: str

    def __post_init__(self) -> None:
        if self.rate not in RATES:
            raise ValueError(f"rate {self.rate!r} is not a measured throughput; use one of {RATES}")


@dataclass(frozen=True)
class UnitKind:
    """Everything about one kind of unit (see the module docstring)."""

    name: str
    description: str
    compute: Callable[[Job], dict]
    keyed_on: Callable[[Unit], dict]  # its parameters, beyond the model key and its dependencies
    deps: Callable[[Unit], dict[str, Unit]]  # role -> unit computed first
    cost: Callable[[Unit], Cost]
    code: Callable[[Mapping[str, Any]], tuple[str, ...]] | None = None  # from its keyed_on values

    def modules(self, keyed: Mapping[str, Any]) -> tuple[str, ...]:
        """The modules whose sources (and imports) key a unit with these `keyed_on` values: its
        computation's module by default."""
        return self.code(keyed) if self.code else (self.compute.__module__,)


KINDS: dict[str, UnitKind] = {}  # filled by helpers.units


def register(kind: UnitKind) -> UnitKind:
    """Add a unit kind to the registry every runner, planner and chapter reads."""
    KINDS[kind.name] = kind
    return kind


def no_deps(unit: Unit) -> dict[str, Unit]:
    """For kinds that need nothing computed first."""
    return {}
