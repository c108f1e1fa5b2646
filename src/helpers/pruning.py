"""Attention-layer pruning on stock transformers decoders: importance scores, selection, dropping.

Dropping follows He et al. (2024, "What Matters in Transformers? Not All Attention is Needed"):
the attention sub-layer of a dropped layer stops contributing, the residual stream passes through
and the MLP half still runs. The mechanism is generic: the attention module of each decoder layer
is found by name and replaced by a weightless stand-in that returns zeros, so any decoder family
whose layers hold a residual attention block works without custom modeling files.

Choices that are ours (the paper's are not public):
- `ratio` becomes a layer count as floor(ratio * n_layers): never more than the ratio asks for.
- The pre-attention norm is kept: in parallel-residual families (GPT-NeoX, Falcon) it also feeds
  the MLP, and its cost is negligible.
- A dropped layer writes a (batch, 1, seq, 1) placeholder into the KV cache, so the cache still
  knows the sequence length (generation needs it, also when layer 0 is dropped) while holding
  almost nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from .progress import progress as progress_bar

ATTENTION_NAMES = ("self_attn", "attn", "attention", "self_attention")
CACHE_KWARGS = ("past_key_values", "past_key_value", "layer_past")


# --- locating the decoder layers and their attention sub-layers -------------------------------


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The model's list of decoder blocks (the ModuleList with one entry per hidden layer)."""
    config = getattr(model, "config", None)
    n = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None)
    candidates = [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, nn.ModuleList) and len(m) > 0 and (n is None or len(m) == n)
    ]
    candidates = [(name, m) for name, m in candidates if _attention_name(m[0]) is not None]
    if not candidates:
        kind = getattr(config, "model_type", type(model).__name__)
        raise NotImplementedError(
            f"Cannot find decoder layers with an attention sub-layer (one of {ATTENTION_NAMES}) in "
            f"model type '{kind}'; attention pruning does not support this architecture."
        )
    return min(candidates, key=lambda c: c[0].count("."))[1]


def _attention_name(layer: nn.Module) -> str | None:
    for name in ATTENTION_NAMES:
        if isinstance(getattr(layer, name, None), nn.Module):
            return name
    return None


def attention_module(layer: nn.Module) -> nn.Module:
    """The attention sub-layer of one decoder block."""
    name = _attention_name(layer)
    if name is None:
        raise NotImplementedError(f"{type(layer).__name__} has no attention sub-layer named {ATTENTION_NAMES}")
    return getattr(layer, name)


def _attention_branch_norm(layer: nn.Module) -> nn.Module | None:
    # Sandwich-norm blocks (Gemma 2/3) normalise the attention output before the residual add:
    # their `post_attention_layernorm` belongs to the attention branch, recognisable by the
    # separate `pre_feedforward_layernorm` that then feeds the MLP.
    if hasattr(layer, "pre_feedforward_layernorm") and hasattr(layer, "post_attention_layernorm"):
        return layer.post_attention_layernorm
    return None


def n_layers(model: nn.Module) -> int:
    """Number of decoder layers."""
    return len(decoder_layers(model))


def dropped_layers(model: nn.Module) -> list[int]:
    """Indices of the layers whose attention is dropped (sorted)."""
    return sorted(getattr(model.config, "dropped_attention_layers", None) or [])


# --- importance (He et al. 2024) ---------------------------------------------------------------


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


# --- selecting which layers to drop --------------------------------------------------------------

# A criterion ranks all layers from "drop first" to "drop last"; select_layers keeps the head.
Criterion = Callable[[int, "Sequence[float] | None", np.random.Generator], list[int]]
CRITERIA: dict[str, Criterion] = {}


def register_criterion(name: str) -> Callable[[Criterion], Criterion]:
    """Decorator adding a layer-ranking criterion under `name`."""

    def add(fn: Criterion) -> Criterion:
        CRITERIA[name] = fn
        return fn

    return add


@register_criterion("similarity")
def _rank_by_similarity(n: int, scores: Sequence[float] | None, rng: np.random.Generator) -> list[int]:
    if scores is None:
        raise ValueError("criterion 'similarity' needs importance scores: pass attention_importance(...)")
    return [int(i) for i in np.argsort(np.asarray(scores), kind="stable")]


@register_criterion("last")
def _rank_deepest_first(n: int, scores: Sequence[float] | None, rng: np.random.Generator) -> list[int]:
    return list(range(n - 1, -1, -1))


@register_criterion("random")
def _rank_randomly(n: int, scores: Sequence[float] | None, rng: np.random.Generator) -> list[int]:
    return [int(i) for i in rng.permutation(n)]


def n_to_drop(n_layers: int, ratio: float) -> int:
    """How many attention layers `ratio` drops: floor(ratio * n_layers), never more than asked."""
    if not 0 <= ratio < 1 or math.isnan(ratio):
        raise ValueError(f"ratio must be in [0, 1), got {ratio}")
    return int(math.floor(ratio * n_layers + 1e-9))


def select_layers(
    scores_or_model: Sequence[float] | nn.Module, ratio: float, criterion: str, *, seed: int = 0
) -> list[int]:
    """The sorted layer indices that `criterion` drops at `ratio`."""
    if criterion not in CRITERIA:
        raise ValueError(f"Unknown criterion '{criterion}'. Known: {', '.join(CRITERIA)}")
    if isinstance(scores_or_model, nn.Module):
        scores, n = None, n_layers(scores_or_model)
    else:
        scores = [float(s) for s in scores_or_model]
        n = len(scores)
        if not all(math.isfinite(s) for s in scores):
            raise ValueError("importance scores must be finite")
    k = n_to_drop(n, ratio)
    order = CRITERIA[criterion](n, scores, np.random.default_rng(seed))
    return sorted(order[:k])


# --- dropping --------------------------------------------------------------------------------------


class DroppedAttention(nn.Module):
    """A weightless attention stand-in: adds nothing to the residual stream."""

    dropped = True

    def _setup(self, layer_idx: int, n_heads: int, config) -> None:
        self.layer_idx = layer_idx
        self.n_heads = n_heads
        self.config = config

    def forward(self, hidden_states: torch.Tensor, *args, **kwargs):
        bsz, q_len = hidden_states.shape[:2]
        cache = next((kwargs[k] for k in CACHE_KWARGS if kwargs.get(k) is not None), None)
        kv_len = q_len
        if cache is not None:
            cache = getattr(cache, "self_attention_cache", cache)
            placeholder = hidden_states.new_zeros(bsz, 1, q_len, 1)
            keys, _ = cache.update(placeholder, placeholder, self.layer_idx)
            kv_len = keys.shape[-2]
        weights = None
        if getattr(self.config, "_attn_implementation", None) == "eager":
            # eager attention returns weights (output_attentions): a dropped layer attends to nothing
            weights = hidden_states.new_zeros(bsz, self.n_heads, q_len, kv_len)
        return torch.zeros_like(hidden_states), weights


def _dropped_like(module: nn.Module, layer_idx: int, n_heads: int, config) -> nn.Module:
    # Subclass the original attention class so that transformers' output recorders, which find
    # attention modules with isinstance, still see one module per layer.
    cls = type(f"Dropped{type(module).__name__}", (DroppedAttention, type(module)), {})
    new = cls.__new__(cls)
    nn.Module.__init__(new)
    new._setup(layer_idx, n_heads, config)
    # hooks already installed on the old module (e.g. transformers' output capture) carry over
    new._forward_hooks.update(module._forward_hooks)
    new._forward_hooks_with_kwargs.update(module._forward_hooks_with_kwargs)
    new._forward_pre_hooks.update(module._forward_pre_hooks)
    new._forward_pre_hooks_with_kwargs.update(module._forward_pre_hooks_with_kwargs)
    return new


def is_dropped(module: nn.Module) -> bool:
    """Whether an attention module is a dropped stand-in."""
    return isinstance(module, DroppedAttention)


def drop_attention(model: nn.Module, layers: Sequence[int]) -> nn.Module:
    """Drop the attention sub-layers of `layers` in place (weights freed) and record them in the config."""
    blocks = decoder_layers(model)
    layers = [int(i) for i in layers]
    if len(set(layers)) != len(layers):
        raise ValueError(f"duplicate layer indices in {layers}")
    for i in layers:
        if not 0 <= i < len(blocks):
            raise IndexError(f"layer {i} is out of range: the model has {len(blocks)} layers (0..{len(blocks) - 1})")
        if is_dropped(attention_module(blocks[i])):
            raise ValueError(f"the attention of layer {i} is already dropped")
    config = model.config
    n_heads = getattr(config, "num_attention_heads", None) or getattr(config, "n_head", 1)
    for i in layers:
        old = attention_module(blocks[i])
        new = _dropped_like(old, getattr(old, "layer_idx", i), n_heads, config)
        setattr(blocks[i], _attention_name(blocks[i]), new)
    config.dropped_attention_layers = sorted(set(dropped_layers(model)) | set(layers))
    return model


def reapply_dropped_attention(model: nn.Module) -> nn.Module:
    """Re-drop the layers a saved config lists (after `from_pretrained` of a pruned model)."""
    listed = dropped_layers(model)
    if not listed:
        return model
    blocks = decoder_layers(model)
    todo = [i for i in listed if not is_dropped(attention_module(blocks[i]))]
    model.config.dropped_attention_layers = [i for i in listed if i not in todo]
    return drop_attention(model, todo)


def prune(
    model: nn.Module,
    tokenizer,
    ratio: float,
    criterion: str,
    *,
    calibration_texts: Sequence[str] | None = None,
    scores: Sequence[float] | None = None,
    seed: int = 0,
) -> list[int]:
    """Select with `criterion` at `ratio` and drop; returns the dropped layers."""
    if criterion == "similarity" and scores is None:
        if calibration_texts is None:
            raise ValueError("criterion 'similarity' needs `scores` or `calibration_texts`")
        scores = attention_importance(model, tokenizer, calibration_texts)
    layers = select_layers(scores if scores is not None else model, ratio, criterion, seed=seed)
    drop_attention(model, layers)
    return layers


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (shared tensors counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def calibration_texts(n: int = 32, *, seed: int = 0) -> list[str]:
    """Offline calibration texts for importance: BBC News articles from the `bbc_news` demo pool.

    News prose stands in for the C4 web text of He et al.; the demo pool is disjoint from every
    evaluation split, and no label is used.
    """
    from .tasks import load_task

    pool = load_task("bbc_news", split="demo")
    if n > len(pool):
        raise ValueError(f"at most {len(pool)} calibration texts are available, asked for {n}")
    rng = np.random.default_rng(seed)
    return [pool[i].text for i in sorted(rng.choice(len(pool), size=n, replace=False))]
