"""The hub tasks (`hub:` names): datasets that load from the Hugging Face hub, for online users.

Each maps the hub's records to `Example`s and names the hub splits ours come from; they are
checked here on local files shaped like the hub's, and run wherever the hub is reachable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .taskdefs import (
    TREC_INSTRUCTION,
    TREC_LABELS,
    TREC_WORDS,
    Example,
    HubTask,
    Task,
    binary_sentiment,
    clean_text,
)

HUB_PREFIX = "hub:"
HUB_PIP = "pip install 'datasets>=3'"


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
        binary_sentiment("hub:sst2", "movie review", "Review",
                          "SST-2 (Socher et al. 2013), GLUE; its test split has no labels"),
        "stanfordnlp/sst2", None, _VALIDATION_AS_TEST, _column("sentence"), _column("label"),
    ),
    _hub(
        binary_sentiment("hub:imdb", "movie review", "Review", "IMDB reviews (Maas et al. 2011)",
                          max_words=_LONG_REVIEW_WORDS),
        "stanfordnlp/imdb", None, _TRAIN_ONLY, _column("text"), _column("label"),
    ),
    _hub(
        binary_sentiment("hub:rotten_tomatoes", "movie review", "Review",
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
            labels=TREC_LABELS,
            label_words=TREC_WORDS,
            instruction=TREC_INSTRUCTION,
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
        binary_sentiment("hub:yelp_polarity", "business review", "Review",
                          "Yelp review polarity (Zhang et al. 2015)",
                          max_words=_LONG_REVIEW_WORDS),
        "fancyzhx/yelp_polarity", None, _TRAIN_ONLY, _column("text"), _column("label"),
    ),
]
HUB: dict[str, HubTask] = {h.task.name: h for h in _HUB_LIST}


