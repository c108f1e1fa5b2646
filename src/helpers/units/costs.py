"""Token counts behind every unit's cost model: from the profile alone, no model loaded.

A forward pass over t tokens costs 2 x (linear weights) x t FLOPs plus the attention scores
(`models.Shape.forward_flops`); a backward pass about twice a forward. Prompts are estimated from
the tasks' mean text lengths (offline tasks: words x 1.35; hub tasks: the table below).
"""

from __future__ import annotations

import math
from functools import cache

from ..configs import Config
from ..models import Shape, model_shape

# Mean tokens of one example's text for hub tasks (their test splits, Llama-3 tokenizer, rounded).
HUB_BODY_TOKENS = {"hub:sst2": 25, "hub:imdb": 300, "hub:rotten_tomatoes": 27, "hub:ag_news": 55,
                   "hub:trec": 13, "hub:boolq": 150, "hub:tweet_eval_sentiment": 30,
                   "hub:yelp_polarity": 180}
TOKENS_PER_WORD = 1.35
PROMPT_OVERHEAD = 25  # instruction and answer cue around the demonstrations
LABEL_SUFFIX = 4  # "Sentiment:" after each body


@cache
def body_tokens(task: str) -> float:
    """Mean tokens of one example of a task (offline: its test texts' words x 1.35)."""
    if task in HUB_BODY_TOKENS:
        return float(HUB_BODY_TOKENS[task])
    from ..tasks import load_task

    texts = [e.text for e in load_task(task, split="test")]
    return TOKENS_PER_WORD * sum(len(t.split()) for t in texts) / max(1, len(texts))


def n_labels(task: str) -> int:
    """How many labels a task has."""
    from ..tasks import get_task

    return len(get_task(task).labels)


def prompt(cfg: Config) -> tuple[Shape, int, float, float, float]:
    """(shape, dropped layers, body + suffix tokens, prefix tokens, mean context) of a configuration."""
    shape = model_shape(cfg.model)
    dropped = int(math.floor(cfg.ratio * shape.layers + 1e-9))
    body = body_tokens(cfg.task) + LABEL_SUFFIX
    prefix = PROMPT_OVERHEAD + cfg.shots * n_labels(cfg.task) * (body + 2)
    return shape, dropped, body, prefix, prefix + body / 2  # bodies attend to the cached prefix
