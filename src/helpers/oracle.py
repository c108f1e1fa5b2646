"""The single-layer ablation oracle every criterion is judged against.

Per attention sub-layer, each calibration example's label NLL with ONLY that sub-layer dropped,
minus the full model's. One layer at a time: it says which layers matter alone, not which set of
a quarter of the layers matters together (criteria drop sets; `readouts` pairs the oracle with the
KL of the set each criterion actually drops). The calibration split, not the test sample: criteria
are compared without looking at test data (`greedy_kl` reads the same split, so its agreement
with the oracle is partly by construction).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import pruning, scoring
from .greedy import log_softmax
from .progress import progress as progress_bar
from .tasks import Example, Task


def label_nll(logits: np.ndarray, labels: Sequence[int]) -> np.ndarray:
    """Per row, the negative log of the label's label-set probability."""
    return -log_softmax(logits)[np.arange(len(labels)), np.asarray(labels)]


def ablation_deltas(
    model, tokenizer, task: Task, examples: Sequence[Example], *, shots: int, seed: int = 0,
    batch_size: int = 16, progress: bool = True,
) -> np.ndarray:
    """(layers, examples): each example's label NLL with only that layer's attention dropped, minus the full model's."""
    if pruning.dropped_layers(model):
        raise ValueError("ablation_deltas needs the full model (no attention dropped)")
    prompt = scoring.build_prompt(tokenizer, task, shots=shots, seed=seed)
    bodies = scoring.encode_bodies(tokenizer, task, examples)
    labels = [e.label for e in examples]

    def nll() -> np.ndarray:
        return label_nll(scoring.body_logits(model, tokenizer, prompt, bodies,
                                             batch_size=batch_size, progress=False, share=True),
                         labels)

    full = nll()
    n = pruning.n_layers(model)
    out = np.zeros((n, len(examples)))
    for layer in progress_bar(range(n), desc="ablation oracle", enabled=progress):
        with pruning.attention_dropped(model, [layer]):
            out[layer] = nll() - full
    return out
