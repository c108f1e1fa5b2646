"""Text-classification tasks: prompts, verbalisers, and fixed seeded splits.

Offline tasks (helpers.offline_tasks) read real labelled data from pip packages at run time
(nothing is copied into the repository); ``hub:`` tasks (helpers.hub_tasks) load from the dataset
hub and only work online. The choices made for the offline data are stated in
helpers.offline_tasks.

Splits: the examples are sorted by uid, then, per label and with ``numpy.random.default_rng``
seeded by the constant ``SPLIT_SEED``, shuffled. ``demo`` takes ``DEMO_PER_LABEL`` (16) per label,
preferring texts of at most ``DEMO_MAX_WORDS`` (40) words to keep prompts short; ``calibration``
takes ``CALIBRATION_FRACTION`` (20%) of the rest, capped at ``CALIBRATION_MAX`` (500) and split
over the labels in proportion to their counts; ``test`` is everything else. Each split is listed
in a fixed shuffled order, so a prefix mixes labels. Hub tasks use the hub's own splits where it
has them and partition a shared hub split (usually ``train``) the same way.

Sampling: ``load_task(..., n=n, seed=s)`` returns the first n of a seeded order of the split whose
every prefix keeps the label proportions (``sample_order``), so samples nest: the sample of m < n
is the first m of the sample of n. ``demonstrations(name, shots, seed=s)`` draws ``shots`` per label from the
demo split, then lists them round by round, each round holding one example per label in an order
shuffled by ``s``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

import numpy as np

from .hub_tasks import HUB, HUB_PIP
from .offline_tasks import OFFLINE
from .taskdefs import Example, HubTask, Task, clean_text

__all__ = [
    "DEFAULT_SHOTS",
    "SPLITS",
    "Example",
    "HubTask",
    "Task",
    "clean_text",
    "demonstrations",
    "get_task",
    "hub_spec",
    "list_tasks",
    "load_task",
]

SPLITS = ("demo", "calibration", "test")
DEFAULT_SHOTS = 1  # demonstrations per label
SPLIT_SEED = 20240917
DEMO_PER_LABEL = 16
DEMO_MAX_WORDS = 40
CALIBRATION_FRACTION = 0.2
CALIBRATION_MAX = 500



# --------------------------------------------------------------------------- public API


def list_tasks(include_hub: bool = False) -> list[str]:
    """Names of the offline tasks, and of the hub tasks too if asked."""
    return list(OFFLINE) + (list(HUB) if include_hub else [])


def _unknown(name: str) -> ValueError:
    return ValueError(f"Unknown task {name!r}. Known tasks: {', '.join(list_tasks(True))}")


def get_task(name: str) -> Task:
    """The Task (labels, verbaliser, prompt template) registered under name."""
    if name in OFFLINE:
        return OFFLINE[name][0]
    if name in HUB:
        return HUB[name].task
    raise _unknown(name)


def hub_spec(name: str) -> HubTask:
    """Hub id, config, split mapping and record mapper of a 'hub:' task."""
    if name not in HUB:
        raise _unknown(name)
    return HUB[name]


def _dedupe(examples: Iterable[Example]) -> list[Example]:
    labels: dict[str, set[int]] = {}
    first: dict[str, Example] = {}
    for ex in examples:
        labels.setdefault(ex.text, set()).add(ex.label)
        first.setdefault(ex.text, ex)
    return [ex for text, ex in first.items() if len(labels[text]) == 1]


@functools.cache
def _raw_examples(name: str) -> tuple[Example, ...]:
    task, reader = OFFLINE[name]
    cleaned = (Example(task.clean(e.text), e.label, e.uid) for e in reader())
    return tuple(sorted(_dedupe(e for e in cleaned if e.text), key=lambda e: e.uid))


def _allocate(counts: Sequence[int], n: int) -> list[int]:
    """Split n over groups in proportion to counts (largest remainder, ties to the lower index)."""
    total = sum(counts)
    if total == 0:
        return [0] * len(counts)
    quotas = np.array(counts, dtype=float) * n / total
    base = np.floor(quotas).astype(int)
    order = sorted(range(len(counts)), key=lambda i: (-(quotas[i] - base[i]), i))
    for i in order[: n - int(base.sum())]:
        base[i] += 1
    return base.tolist()


def _n_words(text: str) -> int:
    return len(text.split())


def _partition(examples: Sequence[Example], n_labels: int) -> dict[str, tuple[Example, ...]]:
    rng = np.random.default_rng(SPLIT_SEED)
    demo: list[Example] = []
    rests: list[list[Example]] = []
    for y in range(n_labels):
        group = [e for e in examples if e.label == y]
        shuffled = [group[i] for i in rng.permutation(len(group))]
        # stable sort: short texts first, random order within each half
        chosen = sorted(shuffled, key=lambda e: _n_words(e.text) > DEMO_MAX_WORDS)
        chosen = chosen[:DEMO_PER_LABEL]
        taken = {e.uid for e in chosen}
        demo.extend(chosen)
        rests.append([e for e in shuffled if e.uid not in taken])
    n_rest = sum(len(r) for r in rests)
    n_cal = min(round(CALIBRATION_FRACTION * n_rest), CALIBRATION_MAX)
    quota = _allocate([len(r) for r in rests], n_cal)
    calibration = [e for r, k in zip(rests, quota, strict=True) for e in r[:k]]
    test = [e for r, k in zip(rests, quota, strict=True) for e in r[k:]]
    return {
        split: tuple(part[i] for i in rng.permutation(len(part)))
        for split, part in (("demo", demo), ("calibration", calibration), ("test", test))
    }


@functools.cache
def _offline_splits(name: str) -> dict[str, tuple[Example, ...]]:
    return _partition(_raw_examples(name), len(OFFLINE[name][0].labels))


@functools.cache
def _hub_records(name: str, hub_split: str) -> tuple[Example, ...]:
    spec = HUB[name]
    try:
        import datasets
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            f"Hub tasks need the 'datasets' package and a network connection: {HUB_PIP}"
        ) from err
    rows = datasets.load_dataset(spec.path, spec.config, split=hub_split, revision=spec.revision)
    return tuple(_dedupe(spec.records_to_examples(rows, hub_split)))


def _hub_split(name: str, split: str) -> tuple[Example, ...]:
    spec = HUB[name]
    hub_split = spec.splits[split]
    if sum(h == hub_split for h in spec.splits.values()) == 1:
        examples = _hub_records(name, hub_split)
        rng = np.random.default_rng(SPLIT_SEED)
        return tuple(examples[i] for i in rng.permutation(len(examples)))
    return _hub_partition(name, hub_split)[split]


@functools.cache
def _hub_partition(name: str, hub_split: str) -> dict[str, tuple[Example, ...]]:
    return _partition(_hub_records(name, hub_split), len(HUB[name].task.labels))


def _split_examples(name: str, split: str) -> tuple[Example, ...]:
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; choose one of {SPLITS}")
    if name in OFFLINE:
        return _offline_splits(name)[split]
    if name in HUB:
        return _hub_split(name, split)
    raise _unknown(name)


def sample_order(labels: Sequence[int], seed: int = 0) -> list[int]:
    """A seeded order of positions whose every prefix is label-stratified (nested samples).

    Each label's positions are shuffled; then, position by position, the label furthest below
    its share of the prefix comes next (ties: the lower label). The first n of this order are the
    sample of n, so a smaller sample is always part of a larger one drawn with the same seed.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    classes = sorted(set(labels.tolist()))
    queues = {y: list(rng.permutation(np.flatnonzero(labels == y))) for y in classes}
    share = {y: len(queues[y]) / len(labels) for y in classes}
    taken = dict.fromkeys(classes, 0)
    order = []
    for k in range(1, len(labels) + 1):
        y = min((y for y in classes if queues[y]), key=lambda y: (taken[y] - k * share[y], y))
        order.append(int(queues[y].pop(0)))
        taken[y] += 1
    return order


def load_task(
    name: str, *, split: str = "test", n: int | None = None, seed: int = 0
) -> list[Example]:
    """All examples of a split, or the first n of its seeded, label-stratified order.

    Samples nest: with the same seed, the sample of m < n examples is the first m of the sample
    of n (the faithfulness examples are the first ones of the test sample).
    """
    pool = _split_examples(name, split)
    if n is None:
        return list(pool)
    if n < 0 or n > len(pool):
        raise ValueError(
            f"n={n} is out of range: the {split!r} split of {name!r} has {len(pool)} examples"
        )
    return [pool[i] for i in _order(name, split, seed)[:n]]


@functools.cache
def _order(name: str, split: str, seed: int) -> tuple[int, ...]:
    return tuple(sample_order([e.label for e in _split_examples(name, split)], seed))


def demo_texts(task: str, n: int, seed: int = 0) -> list[str]:
    """`n` texts of a task's demonstration pool (the importance texts; no label is read).

    BBC News articles by default stand in for the C4 web text of He et al.; the pool is disjoint
    from every evaluation split.
    """
    pool = load_task(task, split="demo")
    if n > len(pool):
        raise ValueError(f"at most {len(pool)} texts are available in the demo pool of {task!r}, "
                         f"asked for {n}; lower importance_texts")
    rng = np.random.default_rng(seed)
    return [pool[i].text for i in sorted(rng.choice(len(pool), size=n, replace=False))]


def demonstrations(name: str, shots: int, *, seed: int = 0) -> list[Example]:
    """shots examples per label from the demo split, interleaved in a seed-shuffled label order."""
    if shots < 0:
        raise ValueError(f"shots must be >= 0, got {shots}")
    if shots == 0:
        return []
    pool = _split_examples(name, "demo")
    n_labels = len(get_task(name).labels)
    groups = [[e for e in pool if e.label == y] for y in range(n_labels)]
    if min(len(g) for g in groups) < shots:
        raise ValueError(
            f"shots={shots} per label exceeds the demo pool of {name!r} "
            f"({min(len(g) for g in groups)} for its rarest label)"
        )
    rng = np.random.default_rng(seed)
    picked = [[g[i] for i in rng.choice(len(g), size=shots, replace=False)] for g in groups]
    return [picked[y][r] for r in range(shots) for y in rng.permutation(n_labels)]
