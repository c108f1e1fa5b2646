"""What a classification task is: labelled examples, the prompt template and the verbaliser.

A prompt is the instruction, the demonstrations (each an input and its answer word), then the
example's input name and its text (the body) and the answer cue after which the next token is
read. Label words start with a space and have distinct first tokens (checked per tokenizer in
the tests).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

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


def binary_sentiment(
    name: str, what: str, input_name: str, source: str, max_words: int | None = None
) -> Task:
    """A positive/negative sentiment task on texts of one kind."""
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


# Coarse classes in the order of the hub's CogComp/trec, so both TREC tasks share label indices.
TREC_LABELS = ("ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM")
TREC_WORDS = (" abbreviation", " entity", " description", " person", " location", " number")
TREC_INSTRUCTION = (
    "Classify each question by the type of answer it asks for: abbreviation, entity, "
    "description, person, location or number."
)
