"""He et al. (2024) importance of each attention sub-layer, and the texts it is measured on.

The score of criterion `similarity`: per layer, 1 - cos(X, X + Attn(LN(X))) with X the residual
stream entering the layer, averaged over every non-padding token of some texts. The texts are a
task's demonstration pool (BBC News articles by default: news prose stands in for the C4 web
text He et al. used), never an evaluation split, and no label is read.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .criteria import ScoreInputs
from .progress import progress as progress_bar
from .pruning import _attention_branch_norm, attention_module, decoder_layers


def _layer_input(args: tuple, kwargs: dict) -> torch.Tensor:
    return args[0] if args else kwargs["hidden_states"]


@torch.no_grad()
def attention_importance(
    model: nn.Module,
    tokenizer,
    texts: Sequence[str],
    *,
    batch_size: int = 8,
    max_length: int = 256,
    progress: bool = True,
) -> list[float]:
    """Per layer, 1 - cos(X, X + Attn(LN(X))) averaged over every non-padding token of `texts`."""
    if len(texts) == 0:
        raise ValueError("attention_importance needs at least one calibration text")
    layers = decoder_layers(model)
    device = next(model.parameters()).device
    sums = torch.zeros(len(layers), dtype=torch.float64)
    count = 0
    state: dict[str, torch.Tensor] = {}
    handles = []

    def pre_hook(i):
        def hook(_module, args, kwargs):
            state[f"x{i}"] = _layer_input(args, kwargs)

        return hook

    def attn_hook(i, layer):
        norm = _attention_branch_norm(layer)

        def hook(_module, _args, output):
            branch = output[0] if isinstance(output, tuple) else output
            if norm is not None:
                branch = norm(branch)
            x = state.pop(f"x{i}").float()
            y = x + branch.float()
            cos = torch.nn.functional.cosine_similarity(x, y, dim=-1)  # (batch, seq)
            # clamp: cos(X, X) can exceed 1 by rounding, and a distance is never negative
            sums[i] += ((1.0 - cos).clamp_min(0) * state["mask"]).sum().double().cpu()

        return hook

    for i, layer in enumerate(layers):
        handles.append(layer.register_forward_pre_hook(pre_hook(i), with_kwargs=True))
        handles.append(attention_module(layer).register_forward_hook(attn_hook(i, layer)))
    padding_side = tokenizer.padding_side
    try:
        tokenizer.padding_side = "right"
        starts = range(0, len(texts), batch_size)
        for start in progress_bar(starts, desc="attention importance", enabled=progress):
            enc = tokenizer(
                list(texts[start : start + batch_size]),
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=max_length,
            ).to(device)
            state["mask"] = enc["attention_mask"].float()
            count += int(enc["attention_mask"].sum())
            model(**enc, use_cache=False)
    finally:
        tokenizer.padding_side = padding_side
        for h in handles:
            h.remove()
    return (sums / count).tolist()


def attention_importance_scores(model: nn.Module, tokenizer, inputs: ScoreInputs) -> list[float]:
    """The `similarity` criterion's score function: `attention_importance` on the inputs' texts."""
    return attention_importance(model, tokenizer, inputs.texts, max_length=inputs.max_length)
