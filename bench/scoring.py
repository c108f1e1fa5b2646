"""Section 3: `label_probs` throughput (examples per second) against the batch size."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import nn
from transformers import PreTrainedTokenizerBase

from helpers.scoring import label_probs
from helpers.tasks import get_task, load_task

from .timing import summary, time_calls


def bench_label_probs(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    *,
    task: str = "mr",
    n_examples: int = 64,
    batch_sizes: Sequence[int] = (1, 4, 16),
    repeats: int = 3,
    warmup: int = 1,
    shots: int | None = None,
    seed: int = 0,
) -> dict:
    """Time label_probs on the same n_examples at each batch size; check the outputs agree."""
    device = next(model.parameters()).device
    spec = get_task(task)
    examples = load_task(task, n=n_examples, seed=seed)
    extra = {} if shots is None else {"shots": shots}
    rows = []
    reference = None
    for bs in batch_sizes:
        result: dict[str, np.ndarray] = {}

        def run(bs=bs, result=result):
            result["p"] = label_probs(
                model, tokenizer, spec, examples, batch_size=bs, **extra, progress=False
            )

        times = time_calls(run, device=device, repeats=repeats, warmup=warmup)
        if reference is None:
            reference = result["p"]
        row = {"batch_size": int(bs), **summary(times)}
        row["examples_per_s"] = len(examples) / row["median_s"]
        row["max_abs_diff_vs_first"] = float(np.abs(result["p"] - reference).max())
        rows.append(row)
    base = rows[0]["examples_per_s"]
    for row in rows:
        row["speedup_vs_first"] = row["examples_per_s"] / base
    return {"task": task, "n_examples": len(examples), "shots": shots, "rows": rows}
