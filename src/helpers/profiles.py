"""Check a profile of parameters before anything runs: every problem named at once, no model loaded.

A profile is the YAML that `make book` / `make chapter` inject into the chapters (shared values
plus per-chapter overrides). `check_profile` validates each chapter's effective parameters:
known models, tasks, criteria and methods; ratios in [0, 1); sample sizes that the tasks' splits
can supply (test, calibration, demonstration pools); importance texts that the chosen demo pool
holds; seeds that are lists where a list is expected. Offline tasks are measured from their data;
hub tasks from the split sizes listed in `HUB_SPLIT_SIZES` (the hub is not contacted).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

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
LIST_KEYS = ("models", "tasks", "ratios", "criteria", "methods", "fractions", "demo_seeds",
             "criterion_seeds")


def split_sizes(task: str) -> dict[str, int]:
    """Examples in a task's demo, calibration and test splits (hub tasks: from HUB_SPLIT_SIZES)."""
    from .tasks import load_task

    if task in HUB_SPLIT_SIZES:
        return dict(HUB_SPLIT_SIZES[task])
    return {split: len(load_task(task, split=split)) for split in ("demo", "calibration", "test")}


def _known_model(name: str) -> bool:
    from .models import OFFLINE_MODELS

    return name in OFFLINE_MODELS or os.path.isdir(name) or name.count("/") == 1


def check_parameters(params: Mapping[str, Any], where: str = "profile") -> list[str]:
    """Every problem of one chapter's effective parameters, as sentences naming the fix."""
    from .attribution import METHODS
    from .pruning import CRITERIA
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
    tasks = []
    for t in as_list["tasks"]:
        try:
            get_task(t)
            tasks.append(t)
        except ValueError:
            say(f"{where}: unknown task {t!r}; known: {', '.join(list_tasks(True))}")
    for c in as_list["criteria"]:
        if c not in CRITERIA:
            say(f"{where}: unknown criterion {c!r}; known: {', '.join(CRITERIA)}")
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
    n_texts = params.get("importance_texts")
    if n_texts is not None and {"similarity", "relevance"} & set(as_list["criteria"]):
        pools = tasks if source == "task" else [source] if source else []
        for t in pools:
            if t in sizes and n_texts > sizes[t]["demo"]:
                say(f"{where}: importance_texts={n_texts} > the {sizes[t]['demo']} texts of the "
                    f"demo pool of {t!r} (importance_source {params.get('importance_source', 'bbc_news')!r}); "
                    f"lower importance_texts to at most {sizes[t]['demo']}")
    return problems


def check_profile(profile: Mapping[str, Any], chapters: tuple[str, ...]) -> list[str]:
    """Every problem of every chapter's effective parameters in a loaded profile (deduplicated)."""
    from .book import chapter_parameters

    problems: list[str] = []
    for nb in chapters:
        for p in check_parameters(chapter_parameters(dict(profile), nb), where=nb):
            text = p.split(": ", 1)[1]
            if not any(q.endswith(text) for q in problems):
                problems.append(p)
    return problems
