"""Profiles of parameters: the book-wide defaults, loading and merging a profile, checking it.

A chapter's parameters are, in order of precedence (later wins): the book-wide defaults
(`PARAMETERS`), the chapter's own defaults (helpers.chapters), the profile's shared values, the
profile's `chapters:` section for that chapter, and the caller's overrides (`make chapter
MODEL=...`, a notebook's `overrides`). `chapter_parameters` is the one function that merges
them: the notebook (through helpers.workload.open_chapter) and the grid's unit expansion both
call it. `check` finds every problem of a profile at once, without loading a model: known models,
tasks, criteria and methods; ratios in [0, 1); sample sizes the tasks' splits can supply;
importance texts the chosen pool holds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from . import chapters as chapters_
from . import plugins

ROOT = Path(__file__).resolve().parents[2]
PROFILES_DIR = ROOT / "params"
DEFAULT_PROFILE = PROFILES_DIR / "default.yml"


@dataclass(frozen=True)
class Parameter:
    """One parameter a profile may set: its book-wide default and what it means."""

    name: str
    default: Any
    description: str

    @property
    def is_list(self) -> bool:
        """Whether the parameter takes a list."""
        return isinstance(self.default, list)


PARAMETERS: dict[str, Parameter] = {p.name: p for p in (
    Parameter("models", ["smollm2-135m", "gemma3-270m"], "models evaluated"),
    Parameter("tasks", ["mr", "amazon"], "datasets (tasks) evaluated"),
    Parameter("ratios", [0.0, 1 / 8, 1 / 4], "shares of attention sub-layers dropped"),
    Parameter("criteria", ["similarity", "last"], "how the layers to drop are chosen"),
    Parameter("methods", ["input_x_gradient"], "attribution methods"),
    Parameter("n_examples", 200, "test examples per task"),
    Parameter("n_faithfulness", 24, "examples per task for faithfulness (the first of the test "
              "sample)"),
    Parameter("n_calibration", 48, "calibration-split examples (temperature scaling)"),
    Parameter("fractions", [0.01, 0.05, 0.1, 0.2, 0.5], "shares of the example's tokens deleted"),
    Parameter("ig_steps", 8, "integrated-gradients steps"),
    Parameter("shots", 1, "demonstrations per label in each prompt"),
    Parameter("seed", 0, "seed of the test and calibration samples"),
    Parameter("demo_seeds", [0, 1, 2], "seeds of the demonstrations and their order"),
    Parameter("criterion_seeds", [0, 1, 2], "seeds of the random criterion's permutation"),
    Parameter("importance_source", "bbc_news", "texts the layer scores are measured on (a task's "
              "demonstration pool, or 'task' for the evaluated task's)"),
    Parameter("importance_texts", 32, "texts the layer scores are measured on"),
    Parameter("importance_max_length", 128, "tokens per importance text"),
    Parameter("greedy_examples", 32, "calibration examples the greedy_kl criterion searches on"),
    Parameter("n_bins", 15, "bins of the calibration error"),
    Parameter("device", "auto", "where the models run"),
    Parameter("batch_size", 16, "examples per forward pass"),
    Parameter("results_dir", "results", "the results store"),
    Parameter("latency_batch", 4, "batch size of the latency measurement"),
    Parameter("latency_tokens", 128, "tokens per latency prompt"),
    Parameter("faith_seeds", 1, "how many of demo_seeds chapter 4 measures faithfulness with (the "
              "first ones; each costs a faithfulness unit per configuration)"),
    Parameter("often_share", 0.5, "share of configurations that makes a change 'often' (a lower "
              "confidence bound on the share must reach it)"),
    Parameter("oracle_examples", 24, "calibration examples the single-layer ablation oracle "
              "reads (the first of the calibration sample)"),
    Parameter("acc_tolerance", 0.05, "accuracy loss tolerated"),
    Parameter("alpha", 0.05, "one-sided test level (intervals at 1 − 2·alpha)"),
    Parameter("n_resamples", 2000, "bootstrap resamples per interval"),
    Parameter("bench_results", "_build/bench/results.json", "benchmark results file"),
    Parameter("plugins", [], "modules of your own imported first (criteria, metrics, unit kinds "
              "they register)"),
)}
LIST_KEYS = tuple(n for n, p in PARAMETERS.items() if p.is_list)
# Examples in the split each hub task uses for testing, and the most its calibration split can
# hold (our splits: see helpers.tasks; calibration is capped at tasks.CALIBRATION_MAX).
HUB_SPLIT_SIZES: dict[str, dict[str, int]] = {
    "hub:sst2": {"test": 872, "calibration": 500, "demo": 32},
    "hub:imdb": {"test": 25000, "calibration": 500, "demo": 32},
    "hub:rotten_tomatoes": {"test": 1066, "calibration": 500, "demo": 32},
    "hub:ag_news": {"test": 7600, "calibration": 500, "demo": 64},
    "hub:trec": {"test": 500, "calibration": 500, "demo": 96},
    "hub:boolq": {"test": 3270, "calibration": 500, "demo": 32},
    "hub:tweet_eval_sentiment": {"test": 12284, "calibration": 500, "demo": 48},
    "hub:yelp_polarity": {"test": 38000, "calibration": 500, "demo": 32},
}


def _ratio(value: Any, where: str) -> float:
    # "1/3" is exact, where a decimal such as 0.3333 would floor 0.3333 * 30 layers to 9
    try:
        return float(Fraction(str(value)))
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{where}: ratio {value!r} is not a number or a fraction like 1/3") from None


def known_profiles() -> list[str]:
    """The profiles shipped in params/."""
    return [str(p.relative_to(ROOT)) for p in sorted(PROFILES_DIR.glob("*.yml"))]


def load_profile(path: str | os.PathLike) -> dict[str, Any]:
    """Read a profile YAML (shared values plus optional per-chapter overrides under `chapters`)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No profile {path}. Known profiles: {', '.join(known_profiles())}")
    profile = yaml.safe_load(path.read_text()) or {}
    if not isinstance(profile, dict):
        raise ValueError(f"{path}: a profile is a mapping of parameter: value")
    unknown = set(profile) - set(PARAMETERS) - {"chapters", "description"}
    for nb, over in (profile.get("chapters") or {}).items():
        if nb not in chapters_.CHAPTERS:
            raise ValueError(f"{path}: unknown chapter '{nb}' under chapters; known: "
                             f"{', '.join(chapters_.CHAPTERS)}")
        unknown |= set(over or {}) - set(PARAMETERS)
    if unknown:
        raise ValueError(f"{path}: unknown parameters {sorted(unknown)}; known: {sorted(PARAMETERS)}")
    plugins.load(profile.get("plugins") or [])  # before any check reads the registries
    for section in [profile, *(profile.get("chapters") or {}).values()]:
        if section and isinstance(section.get("ratios"), list):
            section["ratios"] = [_ratio(r, str(path)) for r in section["ratios"]]
    return profile


def chapter_parameters(profile: str | os.PathLike | Mapping[str, Any], chapter: str,
                       overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A chapter's merged parameters (see the module docstring); `profile` is a path or loaded."""
    loaded = dict(profile) if isinstance(profile, Mapping) else load_profile(profile)
    record = chapters_.chapter(chapter)
    params = {name: p.default for name, p in PARAMETERS.items()}
    params.update(record.defaults)
    params.update({k: v for k, v in loaded.items() if k not in ("chapters", "description")})
    params.update((loaded.get("chapters") or {}).get(chapter) or {})
    params.update({k: v for k, v in (overrides or {}).items() if v is not None})
    if isinstance(params.get("ratios"), list):
        params["ratios"] = [_ratio(r, "overrides") for r in params["ratios"]]
    plugins.load(params.get("plugins") or [])
    results = Path(params["results_dir"])  # the chapters run with the repository as working folder
    path = (ROOT / results).resolve() if not results.is_absolute() else results
    params["results_dir"] = str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return params


def with_overrides(profile: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A loaded profile whose shared values and every chapter section take `overrides`."""
    out = {k: v for k, v in profile.items()}
    sections = {nb: dict(over or {}) for nb, over in (profile.get("chapters") or {}).items()}
    for key, value in overrides.items():
        if value is None:
            continue
        out[key] = value
        for over in sections.values():
            over.pop(key, None)
    out["chapters"] = sections
    return out


# --- checks -------------------------------------------------------------------------------------


def split_sizes(task: str) -> dict[str, int]:
    """Examples in a task's demo, calibration and test splits (hub tasks: from HUB_SPLIT_SIZES)."""
    from .tasks import load_task

    if task in HUB_SPLIT_SIZES:
        return dict(HUB_SPLIT_SIZES[task])
    return {split: len(load_task(task, split=split)) for split in ("demo", "calibration", "test")}


def _known_model(name: str) -> bool:
    from .models import OFFLINE_MODELS

    return name in OFFLINE_MODELS or os.path.isdir(name) or name.count("/") == 1


def _not_installed(name: str) -> bool:
    from .models import OFFLINE_MODELS

    return name in OFFLINE_MODELS and not OFFLINE_MODELS[name].installed()


def _install_command(name: str) -> str:
    from .models import OFFLINE_MODELS

    return OFFLINE_MODELS[name].pip_install


def check_parameters(params: Mapping[str, Any], where: str = "profile") -> list[str]:
    """Every problem of one chapter's merged parameters, as sentences naming the fix."""
    from . import criteria
    from .attribution import METHODS
    from .tasks import get_task, list_tasks

    problems: list[str] = []
    say = problems.append
    for key in LIST_KEYS:
        if key in params and not isinstance(params[key], list | tuple):
            say(f"{where}: {key} must be a list, e.g. {key}: [{params[key]}]")
    as_list = {k: list(params.get(k) or []) if isinstance(params.get(k), list | tuple) else []
               for k in LIST_KEYS}
    for m in as_list["models"]:
        if not _known_model(str(m)):
            say(f"{where}: unknown model {m!r}: use an offline short name, a hub id 'org/name' or "
                "a local folder")
        elif _not_installed(str(m)):
            say(f"{where}: the offline model {m!r} is not installed: "
                f"{_install_command(str(m))}")
    tasks = []
    for t in as_list["tasks"]:
        try:
            get_task(t)
            tasks.append(t)
        except ValueError:
            say(f"{where}: unknown task {t!r}; known: {', '.join(list_tasks(True))}")
    for c in as_list["criteria"]:
        if c not in criteria.CRITERIA:
            say(f"{where}: unknown criterion {c!r}; known: {', '.join(criteria.CRITERIA)}")
    for m in as_list["methods"]:
        if m not in METHODS:
            say(f"{where}: unknown attribution method {m!r}; known: {', '.join(METHODS)}")
    for r in as_list["ratios"]:
        if not isinstance(r, int | float) or not 0 <= r < 1:
            say(f"{where}: ratio {r!r} is outside [0, 1): a ratio is the fraction of attention "
                "layers dropped")
    for f in as_list["fractions"]:
        if not isinstance(f, int | float) or not 0 < f <= 1:
            say(f"{where}: fraction {f!r} is outside (0, 1]")
    for key in ("demo_seeds", "criterion_seeds"):
        if key in params and not as_list[key]:
            say(f"{where}: {key} is empty; give at least one seed")
    source = params.get("importance_source", "bbc_news")
    if source != "task":
        try:
            get_task(source)
        except ValueError:
            say(f"{where}: importance_source {source!r} is neither 'task' nor a task name")
            source = None
    sizes = {}
    for t in tasks + ([source] if source not in (None, "task") else []):
        try:
            sizes[t] = split_sizes(t)
        except Exception as err:  # a missing data package, say
            say(f"{where}: cannot read the splits of task {t!r}: {err}")
    shots = int(params.get("shots", 1) or 0)
    for t in tasks:
        if t not in sizes:
            continue
        s = sizes[t]
        for key, split in (("n_examples", "test"), ("n_faithfulness", "test"),
                           ("n_calibration", "calibration")):
            n = params.get(key)
            if n is not None and n > s[split]:
                say(f"{where}: {key}={n} > the {s[split]} examples of the {split} split of {t!r}; "
                    f"lower {key} to at most {s[split]}")
        n_labels = len(get_task(t).labels)
        if shots * n_labels > s["demo"]:
            say(f"{where}: shots={shots} per label needs {shots * n_labels} demonstrations; the "
                f"demo pool of {t!r} holds {s['demo']}")
    n_faith, n_test = params.get("n_faithfulness"), params.get("n_examples")
    if n_faith is not None and n_test is not None and n_faith > n_test:
        say(f"{where}: n_faithfulness={n_faith} > n_examples={n_test}: the faithfulness examples "
            "are the first of the test sample; lower n_faithfulness or raise n_examples")
    n_texts = params.get("importance_texts")
    reads_texts = any(criteria.CRITERIA[c].reads_texts for c in as_list["criteria"]
                      if c in criteria.CRITERIA)
    if n_texts is not None and reads_texts:
        pools = tasks if source == "task" else [source] if source else []
        for t in pools:
            if t in sizes and n_texts > sizes[t]["demo"]:
                say(f"{where}: importance_texts={n_texts} > the {sizes[t]['demo']} texts of the "
                    f"demo pool of {t!r} (importance_source {params.get('importance_source')!r}); "
                    f"lower importance_texts to at most {sizes[t]['demo']}")
    return problems


def check(profile: str | os.PathLike | Mapping[str, Any],
          chapters: tuple[str, ...] = chapters_.NAMES,
          overrides: Mapping[str, Any] | None = None) -> list[str]:
    """Every problem of every chapter's merged parameters (deduplicated), no model loaded."""
    loaded = dict(profile) if isinstance(profile, Mapping) else load_profile(profile)
    if overrides:
        loaded = with_overrides(loaded, overrides)
    problems: list[str] = []
    for nb in chapters:
        for p in check_parameters(chapter_parameters(loaded, nb), where=nb):
            text = p.split(": ", 1)[1]
            if not any(q.endswith(text) for q in problems):
                problems.append(p)
    return problems
