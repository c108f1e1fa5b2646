"""The `greedy_kl` criterion's search: drop, one at a time, what changes the classifier least.

On a task's calibration split (prompts built as the classification builds them), the live
attention sub-layer whose removal gives the smallest mean KL(full || pruned) of the label-set
distributions is dropped, and the search repeats on the model with it dropped. Cost: sum over
k < K of (L - k) batched scoring passes of the examples, for L layers and K steps. Every ratio up
to K / L uses a prefix of the one stored order; the layers never dropped follow in the order of
their KL at the last step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import pruning, scoring
from .criteria import ScoreInputs
from .progress import progress as progress_bar
from .tasks import Example, Task, get_task


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def mean_kl(logits_p: np.ndarray, logits_q: np.ndarray) -> float:
    """Mean over rows of KL(softmax(p) || softmax(q)), in nats."""
    lp, lq = log_softmax(logits_p), log_softmax(logits_q)
    return float((np.exp(lp) * (lp - lq)).sum(axis=1).mean())


def greedy_kl_order(
    model, tokenizer, task: Task, examples: Sequence[Example], *, steps: int, shots: int,
    seed: int = 0, batch_size: int = 16, progress: bool = True,
) -> dict:
    """Greedy drop order: `steps` times, drop the live sub-layer whose removal least changes the label-set distribution (mean KL to the full model)."""
    blocks = pruning.decoder_layers(model)
    if pruning.dropped_layers(model):
        raise ValueError("greedy_kl_order needs the full model (no attention dropped)")
    if not 0 <= steps < len(blocks):
        raise ValueError(f"steps must be in [0, {len(blocks) - 1}], got {steps}")
    prompt = scoring.build_prompt(tokenizer, task, shots=shots, seed=seed)
    bodies = scoring.encode_bodies(tokenizer, task, examples)

    def logits() -> np.ndarray:
        return scoring.body_logits(model, tokenizer, prompt, bodies, batch_size=batch_size,
                                   progress=False, share=True)

    full = logits()
    order: list[int] = []
    kl: list[list[float]] = []  # per step, every layer's KL if dropped next (NaN: already dropped)
    for _ in progress_bar(range(max(steps, 1)), desc="greedy KL", enabled=progress):
        row = [float("nan")] * len(blocks)
        with pruning.attention_dropped(model, order):
            for layer in range(len(blocks)):
                if layer not in order:
                    with pruning.attention_dropped(model, [layer]):
                        row[layer] = mean_kl(full, logits())
        kl.append(row)
        if len(order) == steps:
            break
        order.append(int(np.nanargmin(row)))  # ties: the lowest index
    last = np.asarray(kl[-1])
    rest = sorted((i for i in range(len(blocks)) if i not in order), key=lambda i: (last[i], i))
    ranking = order + rest
    scores = [0.0] * len(blocks)
    for position, layer in enumerate(ranking):
        scores[layer] = float(position)
    return {"order": order, "ranking": ranking, "scores": scores, "kl": kl}


def greedy_scores(model, tokenizer, inputs: ScoreInputs) -> dict:
    """The `greedy_kl` criterion's score function (scores: each layer's step in the order)."""
    return greedy_kl_order(model, tokenizer, get_task(inputs.task), inputs.examples,
                           steps=int(inputs.options["steps"]), shots=inputs.shots,
                           seed=inputs.demo_seed)
