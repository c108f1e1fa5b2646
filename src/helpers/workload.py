"""The units a profile's chapters read: expanded for the grid, guarded for the notebooks.

`expand(profile)` lists every unit the chapters declare (helpers.chapters), each once, with its
dependencies before it: what `make grid` computes and `make plan` prices. `open_chapter(name,
profile, overrides)` is how a chapter's notebook reaches the store: its `ChapterRun` holds the
merged parameters, the store, the model pool and the chapter's declared units, computes a missing
unit on demand, and refuses to read a unit the chapter did not declare (so the grid can never
miss one). Setting PRUNING_BOOK_READS to a file logs every read unit's id there (a test compares
them with the expansion).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from . import chapters as chapters_
from . import criteria, profiles, units
from . import progress as prog
from .configs import Config
from .pool import ModelPool
from .results import ResultStore
from .units import Unit

READS_ENV = "PRUNING_BOOK_READS"


class UndeclaredUnit(LookupError):
    """A chapter read a unit its declaration in helpers.chapters does not list."""


def with_dependencies(wanted: Iterable[Unit]) -> list[Unit]:
    """The units and everything they depend on, each once, dependencies first."""
    seen: dict[str, Unit] = {}

    def visit(unit: Unit) -> None:
        if unit.id in seen:
            return
        for dep in unit.deps().values():
            visit(dep)
        seen[unit.id] = unit

    for u in wanted:
        visit(u)
    return list(seen.values())


def chapter_units(params: Mapping[str, Any], chapter: str) -> list[Unit]:
    """The units one chapter declares on its merged parameters (with their dependencies)."""
    return with_dependencies(chapters_.chapter(chapter).requests(chapters_.Requests(params)))


def expand(profile: str | os.PathLike | Mapping[str, Any],
           chapters: Sequence[str] = chapters_.NAMES,
           overrides: Mapping[str, Any] | None = None) -> list[Unit]:
    """Every unit a profile's chapters read, each once, dependencies first."""
    loaded = dict(profile) if isinstance(profile, Mapping) else profiles.load_profile(profile)
    out: dict[str, Unit] = {}
    for name in chapters:
        for u in chapter_units(profiles.chapter_parameters(loaded, name, overrides), name):
            out.setdefault(u.id, u)
    return list(out.values())


class ChapterRun:
    """A chapter's access to the store: its parameters, declared units, store and model pool."""

    def __init__(self, chapter: str, params: Mapping[str, Any], *,
                 pool: ModelPool | None = None) -> None:
        self.chapter = chapter
        self.params = dict(params)
        self.requests = chapters_.Requests(self.params)
        self.declared = {u.id: u for u in chapter_units(self.params, chapter)}
        self.store = ResultStore(profiles.ROOT / self.params["results_dir"])
        self._pool = pool
        self._log = os.environ.get(READS_ENV)

    @property
    def pool(self) -> ModelPool:
        """The model pool (created on the first unit that must be computed)."""
        if self._pool is None:
            self._pool = ModelPool(self.params["device"])
        return self._pool

    def get(self, unit: Unit) -> dict:
        """A declared unit's record, computed first if the store lacks it."""
        if unit.id not in self.declared:
            raise UndeclaredUnit(
                f"chapter {self.chapter} reads {unit.label()} ({unit.id}), which its declaration "
                f"does not list: add it to the chapter's requests in helpers/chapters.py")
        if self._log:
            with open(self._log, "a") as f:
                f.write(json.dumps({"chapter": self.chapter, "unit": unit.id}) + "\n")
        found = units.record_of(self.store, unit)
        return found if found is not None else units.compute(unit, self.store, self.pool)

    # the units a chapter reads, by kind
    def scores(self, cfg: Config) -> dict:
        """The `scores` record of a configuration."""
        return self.get(self.requests.scores(cfg))

    def faithfulness(self, cfg: Config, method: str) -> dict:
        """The `faithfulness` record of a configuration and method."""
        return self.get(self.requests.faithfulness(cfg, method))

    def latency(self, cfg: Config) -> dict:
        """The `latency` record of a configuration."""
        return self.get(self.requests.latency(cfg))

    def oracle(self, cfg: Config) -> dict:
        """The ablation oracle of a configuration's model and task."""
        return self.get(self.requests.oracle(cfg))

    def layer_scores(self, cfg: Config) -> list[float] | None:
        """The per-layer scores of a configuration's criterion (None: it ranks without scores)."""
        unit = self.requests.layer_scores(cfg)
        return None if unit is None else self.get(unit)["scores"]

    def drop_order(self, cfg: Config) -> list[int]:
        """Every layer, from first to last dropped by the configuration's criterion."""
        from .models import model_shape

        scores = self.layer_scores(cfg)
        n = len(scores) if scores is not None else model_shape(cfg.model).layers
        return criteria.drop_order(cfg.criterion, n, scores, cfg.criterion_seed)

    def layers(self, cfg: Config) -> list[int]:
        """The layers the configuration drops."""
        from .models import model_shape

        if not cfg.pruned:
            return []
        return criteria.select(cfg.criterion, model_shape(cfg.model).layers, cfg.ratio,
                               self.layer_scores(cfg), cfg.criterion_seed)

    def configs(self, **kw: Any) -> list[Config]:
        """A grid of configurations on the chapter's parameters (see chapters.Requests.configs)."""
        return self.requests.configs(**kw)

    def config(self, model: str, task: str, **fields_: Any) -> Config:
        """One configuration with the chapter's shared settings."""
        return self.requests.config(model, task, **fields_)


def open_chapter(chapter: str, profile: str | os.PathLike | Mapping[str, Any] | None = None,
                 overrides: Mapping[str, Any] | None = None) -> ChapterRun:
    """A chapter's run on a profile (default: params/default.yml) with the caller's overrides."""
    return ChapterRun(chapter, profiles.chapter_parameters(
        profile if profile is not None else profiles.DEFAULT_PROFILE, chapter, overrides))


def store_root(unit: Unit) -> Path:
    """A unit's store folder; a relative one is under the repository, as the chapters see it."""
    return (profiles.ROOT / unit.settings.results_dir).resolve()


def prepare_models(profile: Mapping[str, Any], notebooks: Sequence[str] = chapters_.NAMES,
                   overrides: Mapping[str, Any] | None = None,
                   line: prog.StatusLine | None = None) -> float:
    """Convert the offline models the chapters will load, before any runs; returns seconds."""
    from .models import OFFLINE_MODELS, offline_model_path

    names = {m for nb in notebooks
             for m in profiles.chapter_parameters(profile, nb, overrides)["models"]}
    todo = sorted(n for n in names if n in OFFLINE_MODELS)
    line = line or prog.StatusLine()
    start = time.perf_counter()
    stop = threading.Event()
    current = {"name": "", "i": 0}

    def loop() -> None:  # conversion is one long call: show that it is alive
        while not stop.wait(0.5):
            line.update(f"[book] preparing model {current['name']} "
                        f"{prog.bar(current['i'], len(todo))}  {prog.clock(time.perf_counter() - start)}")

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        for i, name in enumerate(todo):
            current.update(name=name, i=i)
            offline_model_path(name)
    finally:
        stop.set()
        thread.join()
    return time.perf_counter() - start
