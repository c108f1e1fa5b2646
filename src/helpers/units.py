"""The units of work a profile asks for: what the chapters request, with their dependencies.

`expand(profile)` mirrors the calls of the chapter notebooks (ev.importance, ev.score_grid,
ev.latency, ev.faithfulness_record / faithfulness_grid, ev.config_changes), each on the chapter's
own parameters: the defaults of its `parameters` cell, then the profile's shared values, then its
`chapters:` overrides (the merge `helpers.book` injects). Both grid runners compute exactly this
list, so the chapters executed afterwards only read the store. A pruned unit depends on the
importance unit its criterion needs, and a pruned faithfulness unit on the full model's (its
predicted labels fix the drift targets); dependencies come before their dependents.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from . import evaluation as ev
from .book import NOTEBOOKS, ROOT, chapter_parameters

KINDS = ("importance", "scores", "faithfulness", "latency", "relevance", "greedy_kl", "oracle")
IMPORTANCE_DEFAULT_SOURCE = "bbc_news"  # a profile without importance_source
# criteria whose layer ranking is a stored unit of its own (helpers.criteria), a dependency of
# every configuration they prune; those two that read importance texts key on the pool's options
SCORED_CRITERIA = ("relevance", "greedy_kl")
TEXT_CRITERIA = ("similarity", "relevance")


@dataclass(frozen=True)
class Unit:
    """One stored computation: its kind, model, configuration and the keyword arguments it runs with."""

    kind: str
    model: str
    config: ev.Config | None  # None for importance
    args: tuple[tuple[str, Any], ...]  # kind-specific keywords (method, n_examples, batch, ...)
    settings: tuple[tuple[str, Any], ...]  # device, importance options, results_dir
    deps: tuple[str, ...] = ()
    chapter: str = ""  # the first chapter that asks for it
    batch_size: int = field(default=16, compare=False)

    @property
    def id(self) -> str:
        """A short stable name: the hash of what identifies the stored unit."""
        blob = json.dumps(_identity(self), sort_keys=True, default=str)
        return f"{self.kind[:4]}-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"

    @property
    def setting(self) -> dict[str, Any]:
        """device, importance_texts, importance_max_length and results_dir as a dict."""
        return dict(self.settings)

    def describe(self) -> dict[str, Any]:
        """The unit as plain data (for failure records and summaries)."""
        return {"id": self.id, "kind": self.kind, "model": self.model, "chapter": self.chapter,
                "config": asdict(self.config) if self.config else None, "args": dict(self.args),
                **self.setting}

    def label(self) -> str:
        """A one-line human name."""
        c = self.config
        if c is None:
            return f"{self.kind} {self.model} ({dict(self.args)['texts_from']})"
        extra = dict(self.args).get("method", "")
        return (f"{self.kind} {self.model} {c.task} {c.criterion}@{c.ratio:.3g} demo{c.demo_seed}"
                f"{' ' + extra if extra else ''}")


def _identity(unit: Unit) -> dict[str, Any]:
    # the parameters the store keys on, without the model revision (it may need the hub) or the
    # resolved device: within one grid run these map one-to-one onto store keys
    ident: dict[str, Any] = {"kind": unit.kind, "model": unit.model, "args": dict(unit.args),
                             "device": unit.setting["device"],
                             "results_dir": unit.setting["results_dir"]}
    if unit.config is not None:
        p = asdict(unit.config)
        if p["ratio"] == 0:
            p["criterion"] = "none"
        if p["criterion"] != "random":
            p["criterion_seed"] = None
        if p["criterion"] not in TEXT_CRITERIA:
            p["importance_source"] = None
        else:
            ident["importance"] = [unit.setting["importance_texts"],
                                   unit.setting["importance_max_length"]]
        ident["config"] = p
    return ident


def notebook_defaults(notebook: str) -> dict[str, Any]:
    """The values of a chapter's `parameters` cell (what it uses where the profile is silent)."""
    lines = (ROOT / "notebooks" / f"{notebook}.py").read_text().splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("# %%")
                     and "parameters" in line)
    except StopIteration:
        return {}
    body = []
    for line in lines[start + 1:]:
        if line.startswith("# %%"):
            break
        body.append(line)
    values: dict[str, Any] = {}
    exec(compile("\n".join(body), f"{notebook} parameters", "exec"), {"__builtins__": {}}, values)
    return values


def chapter_values(profile: dict[str, Any], notebook: str) -> dict[str, Any]:
    """A chapter's effective parameters: its defaults, updated with what the profile injects."""
    return {**notebook_defaults(notebook), **chapter_parameters(profile, notebook)}


class _Builder:
    """Collects units in request order, each once, with its dependencies first."""

    def __init__(self) -> None:
        self.units: dict[str, Unit] = {}

    def add(self, unit: Unit) -> str:
        uid = unit.id
        if uid not in self.units:
            self.units[uid] = replace(unit, deps=tuple(self._deps(unit)))
        return uid

    def _deps(self, unit: Unit) -> list[str]:
        cfg = unit.config
        if cfg is None or cfg.ratio == 0 or unit.kind in SCORED_CRITERIA:
            return []
        deps = []
        if cfg.criterion == "similarity":
            s = unit.setting
            deps.append(self.add(_importance(unit.model, cfg.importance_texts_from, s,
                                             unit.chapter)))
        if cfg.criterion in SCORED_CRITERIA:
            # one ranking per model and task: relevance ignores the ratio, and the greedy order
            # serves every ratio up to the cap it is searched to
            cap = float(dict(unit.settings).get("greedy_max_ratio") or 0.5)
            rank_cfg = replace(cfg, ratio=0.0) if cfg.criterion == "relevance" or cfg.ratio <= cap \
                else cfg
            deps.append(self.add(Unit(cfg.criterion, unit.model, rank_cfg, (), unit.settings,
                                      chapter=unit.chapter, batch_size=unit.batch_size)))
        if unit.kind == "faithfulness":
            deps.append(self.add(replace(unit, config=cfg.unpruned())))
        return deps


def _importance(model: str, texts_from: str, settings: dict, chapter: str) -> Unit:
    args = {"n_texts": settings["importance_texts"], "max_length": settings["importance_max_length"],
            "texts_from": texts_from}
    return Unit("importance", model, None, tuple(sorted(args.items())),
                tuple(sorted(settings.items())), chapter=chapter)


def _unit(kind: str, cfg: ev.Config, settings: dict, chapter: str, batch_size: int,
          **args: Any) -> Unit:
    return Unit(kind, cfg.model, cfg, tuple(sorted(args.items())), tuple(sorted(settings.items())),
                chapter=chapter, batch_size=batch_size)


def _faith_args(p: dict, method: str) -> dict:
    from .faithfulness import DEFAULT_FRACTIONS

    return {"method": method, "n_examples": p["n_faithfulness"],
            "fractions": tuple(p.get("fractions") or DEFAULT_FRACTIONS),
            "options": tuple(sorted(ev.method_options(method, p["ig_steps"]).items()))}


def _with_zero(ratios: list[float]) -> list[float]:
    # chapters 2 and 3 always run the unpruned model, their reference
    return sorted({0.0, *(float(r) for r in ratios)})


def chapter_units(profile: dict[str, Any], notebook: str, into: _Builder | None = None) -> list[Unit]:
    """The units one chapter requests (and their dependencies), in the order it requests them."""
    b = into or _Builder()
    before = set(b.units)
    p = chapter_values(profile, notebook)
    settings = {"device": p.get("device", "auto"), "results_dir": p.get("results_dir", "results"),
                # chapter 1 caps the greedy criterion's search (criteria.set_greedy_options)
                **({"greedy_examples": p.get("greedy_examples"),
                    "greedy_max_ratio": max(p.get("ratios") or [0.0])}
                   if notebook == "01_pruning_method" else {}),
                "importance_texts": p.get("importance_texts", ev.N_CALIBRATION_TEXTS),
                "importance_max_length": p.get("importance_max_length", ev.IMPORTANCE_MAX_LENGTH)}
    common = {k: p[k] for k in ("shots", "n_examples", "n_calibration", "seed", "importance_source")
              if k in p}
    bs = p.get("batch_size", 16)
    models, tasks, ratios, criteria = p.get("models", []), p.get("tasks", []), p.get("ratios", []), \
        p.get("criteria", [])

    def scores(cfg: ev.Config, batch_size: int = bs) -> None:
        b.add(_unit("scores", cfg, settings, notebook, batch_size))

    def faith(cfg: ev.Config, method: str, batch_size: int) -> None:
        b.add(_unit("faithfulness", cfg, settings, notebook, batch_size, **_faith_args(p, method)))

    if notebook == "01_pruning_method":
        source = p.get("importance_source", IMPORTANCE_DEFAULT_SOURCE)
        for m in models:
            b.add(_importance(m, tasks[0] if source == "task" else source, settings, notebook))
        grid = ev.configs(models, tasks, criteria, ratios, demo_seeds=list(p["demo_seeds"])[:1],
                          criterion_seeds=p.get("criterion_seeds", (0,)), **common)
        for cfg in grid:  # interval_frame, then config_changes (the same units)
            scores(cfg)
        demo = list(p["demo_seeds"])[:1][0]
        for m in models:  # section 1.5: the oracle, then each criterion's drop order
            cfg = ev.Config(model=m, task=tasks[0], demo_seed=demo, **common)
            b.add(_unit("oracle", cfg, settings, notebook, bs))
            for c in criteria:
                if c in SCORED_CRITERIA:
                    b.add(_unit(c, replace(cfg, criterion=c), settings, notebook, bs))
        named = [c for c in criteria if c != "random"]  # section 1.6: faithfulness per criterion
        if p.get("methods") and p.get("n_faithfulness"):
            for cfg in ev.configs(models, tasks[:1], named, [r for r in ratios if r > 0],
                                  demo_seeds=[demo], **common):
                for c in (cfg.unpruned(), cfg):
                    faith(c, p["methods"][0], max(1, bs // 2))
        for m in models:
            for r in ratios:
                cfg = ev.Config(model=m, task=tasks[0], criterion="similarity", ratio=r, **common)
                b.add(_unit("latency", cfg, settings, notebook, bs, batch=p["latency_batch"],
                            tokens=p["latency_tokens"], repeats=3))
    elif notebook == "02_faithfulness":
        methods = p.get("methods", [])
        run_methods = [*(m for m in methods if m != "random"), "random"]
        for cfg in ev.configs(models, tasks, criteria[:1], _with_zero(ratios),
                              demo_seeds=list(p["demo_seeds"])[:1], **common):
            for method in run_methods:
                faith(cfg, method, bs)
    elif notebook == "03_calibration":
        common3 = {**common, **({"n_bins": p["n_bins"]} if "n_bins" in p else {})}
        for cfg in ev.configs(models, tasks, criteria[:1], _with_zero(ratios),
                              demo_seeds=list(p["demo_seeds"])[:1], **common3):
            scores(cfg)
    elif notebook == "04_cross_model":
        method, demo_seeds = p["methods"][0], list(p.get("demo_seeds", [0]))
        for cfg in ev.configs(models, tasks, criteria, ratios, demo_seeds=demo_seeds[:1], **common):
            if cfg.ratio > 0:  # config_changes: scores of both, then faithfulness of both
                scores(cfg.unpruned())
                scores(cfg)
                for c in (cfg.unpruned(), cfg):
                    for m in (method, "random"):
                        faith(c, m, max(1, bs // 2))
        for cfg in ev.configs(models[:1], tasks[:1], criteria, ratios, demo_seeds=demo_seeds,
                              **common):
            if cfg.ratio > 0:
                scores(cfg.unpruned())
                scores(cfg)
    return [u for uid, u in b.units.items() if uid not in before]


def expand(profile: dict[str, Any] | str | Path, notebooks: tuple[str, ...] = NOTEBOOKS) -> list[Unit]:
    """Every unit the chapters will ask for on a profile (a loaded one or its path), each once."""
    from .book import load_profile

    if not isinstance(profile, dict):
        profile = load_profile(profile)
    b = _Builder()
    for nb in notebooks:
        chapter_units(profile, nb, into=b)
    return list(b.units.values())


def compute(unit: Unit, store, pool: ev.ModelPool) -> dict:
    """Run one unit through the same evaluation function the chapters call (stored; reused if there)."""
    s, a = unit.setting, dict(unit.args)
    pool.importance_options = {"n_texts": s["importance_texts"],
                               "max_length": s["importance_max_length"]}
    from . import criteria

    if s.get("greedy_examples"):
        criteria.set_greedy_options(pool, max_examples=s["greedy_examples"],
                                    max_ratio=s["greedy_max_ratio"])
    else:
        criteria.set_greedy_options(pool)
    if unit.kind == "importance":
        return {"scores": ev.importance(store, pool, unit.model, **a)}
    if unit.kind == "oracle":
        return criteria.oracle(store, pool, unit.config, batch_size=unit.batch_size)
    if unit.kind == "scores":
        return ev.scores(store, pool, unit.config, batch_size=unit.batch_size)
    if unit.kind == "faithfulness":
        return ev.faithfulness(store, pool, unit.config, a["method"], n_examples=a["n_examples"],
                               fractions=a["fractions"], batch_size=unit.batch_size,
                               options=dict(a["options"]))
    if unit.kind == "latency":
        return ev.latency(store, pool, unit.config, batch=a["batch"], tokens=a["tokens"],
                          repeats=a["repeats"])
    if unit.kind in SCORED_CRITERIA:
        return {"scores": criteria.layer_scores(store, pool, unit.config)}
    raise ValueError(f"unknown unit kind {unit.kind!r}; known: {', '.join(KINDS)}")


class _AnyRecord(dict):
    """What a dry run hands back for a unit: every field reads as None."""

    def __missing__(self, key: str) -> None:
        return None


def needed_paths(profile: dict[str, Any] | str | Path, store, device: str = "auto") -> set[Path]:
    """The store files a profile's chapters read, found without computing anything (no model runs:
    each unit's key is built as the chapters build it, then the computation is skipped)."""
    from .results import ResultStore

    class _Dry(ResultStore):
        def get_or_compute(self, kind, params, compute, provenance=None):
            seen.add(self.path(kind, params))
            return _AnyRecord()

    seen: set[Path] = set()
    dry = _Dry(store.root)
    pool = ev.ModelPool(device)
    for unit in expand(profile):
        compute(unit, dry, pool)
    return seen
