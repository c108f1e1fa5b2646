"""The unit kinds: one record each (helpers.units.base.UnitKind), and how a unit is stored.

Kinds, one module each: `scores`, `faithfulness`, `latency`, `layer_scores` (a criterion's
per-layer scores) and `oracle`. Everything that lists, prices, computes or reads units (the
chapters, the grid, the cost plan, the benchmarks) reads `KINDS`; a new kind is a module with a
`KIND` record, added to the tuple below.

A unit's store parameters (`params`) are its kind's `keyed_on`, the model's key (name, revision,
device type, dtype) and the store keys of its dependencies, so a unit whose inputs were
recomputed is recomputed too. Its code fingerprint (`fingerprint`) hashes the sources of the
modules its computation imports (`helpers.fingerprint`), registered with the store per kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from .. import plugins, results
from ..fingerprint import code_fingerprint
from ..models import model_revision
from ..pool import ModelPool, device_context
from . import faithfulness, latency, layer_scores, oracle, scores
from .base import KINDS, Cost, Job, Settings, Unit, UnitKind, register

__all__ = ["KINDS", "Cost", "Job", "Settings", "Unit", "UnitKind", "compute", "fingerprint",
           "params", "path", "record_of"]

for _module in (scores, faithfulness, latency, layer_scores, oracle):
    register(_module.KIND)


def model_key(model: str, device: str) -> dict[str, str]:
    """What identifies a model's computations: name, revision, device type and dtype."""
    return {"model": model, "model_revision": model_revision(model), **device_context(device)}


@cache
def params(unit: Unit) -> dict[str, Any]:
    """The parameters a unit is stored under (its dependencies by their store keys)."""
    kind = unit.record
    out = {**model_key(unit.model, unit.settings.device), **kind.keyed_on(unit)}
    deps = unit.deps()
    if deps:
        out["deps"] = {role: key(dep) for role, dep in sorted(deps.items())}
    return out


@cache
def fingerprint(unit: Unit) -> str:
    """The code fingerprint of a unit: its kind's modules and everything they import."""
    return _code_of(unit.kind, unit.record.keyed_on(unit))


def key(unit: Unit) -> str:
    """The unit's key in any store (kind, parameters, library versions, code)."""
    return results.unit_key(unit.kind, params(unit), results.library_versions(), fingerprint(unit))


def _code_of(kind: str, keyed: Mapping[str, Any]) -> str:
    return code_fingerprint(tuple(m for m in KINDS[kind].modules(keyed) if m))


for _name in KINDS:
    results.register_code(_name, _code_of)


def path(store: results.ResultStore, unit: Unit):
    """Where a unit lives in a store."""
    return store.path(unit.kind, params(unit))


def record_of(store: results.ResultStore, unit: Unit) -> dict | None:
    """The stored record of a unit, or None when it has not been computed."""
    return store.load(unit.kind, params(unit))


def compute(unit: Unit, store: results.ResultStore, pool: ModelPool) -> dict:
    """A unit's record: read from the store, or computed (its dependencies first) and stored."""
    plugins.load(unit.settings.plugins)  # a grid worker learns the profile's criteria here
    found = record_of(store, unit)
    if found is not None:
        return found
    deps = {role: compute(dep, store, pool) for role, dep in unit.deps().items()}
    job = Job(unit, pool, deps)
    return store.get_or_compute(unit.kind, params(unit), lambda: unit.record.compute(job),
                                lambda: pool.provenance(unit.model))


def cost(unit: Unit) -> Cost:
    """Passes, tokens and FLOPs of one unit (no model loaded)."""
    return unit.record.cost(unit)
