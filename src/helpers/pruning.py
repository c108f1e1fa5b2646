"""Attention-layer pruning on stock transformers decoders: dropping, restoring, saving, loading.

Which layers to drop is `helpers.criteria`'s business; this module only carries it out.

Dropping follows He et al. (2024, "What Matters in Transformers? Not All Attention is Needed"):
the attention sub-layer of a dropped layer stops contributing, the residual stream passes through
and the MLP half still runs. The mechanism is generic: the attention module of each decoder layer
is found by name and replaced by a weightless stand-in that returns zeros, so any decoder family
whose layers hold a residual attention block works without custom modeling files.

Dropping is reversible without copying the model: the replaced module is kept on its stand-in,
outside the module tree (parameters(), state_dict() and saving do not see it), and
`restore_attention` / `with attention_dropped(model, layers):` put the very same module back
(moved/cast on restore if `model.to(...)` ran meanwhile). The kept modules still hold memory;
`drop_attention(..., keep_original=False)` frees them for good.

Saving: `save_pruned` writes a compact folder (dropped weights absent; reload with `load_pruned`;
stock `from_pretrained` refuses it) or a portable one (dropped attention weights saved as zeros, so
stock transformers computes the pruned model at the unpruned model's size and KV-cache cost).

Choices that are ours (the paper's are not public):
- The pre-attention norm is kept: in parallel-residual families (GPT-NeoX, Falcon) it also feeds
  the MLP, and its cost is negligible.
- A dropped layer writes a (batch, 1, seq, 1) placeholder into the KV cache, so the cache still
  knows the sequence length (generation needs it, also when layer 0 is dropped) while holding
  almost nothing.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

ATTENTION_NAMES = ("self_attn", "attn", "attention", "self_attention")
# the key/value cache reaches an attention module as `cache` (transformers >= 5.25) or under an
# older name (earlier 5.x releases and some families)
CACHE_KWARGS = ("cache", "past_key_values", "past_key_value", "layer_past")


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


# Forward-hook tables a stand-in shares with the module it replaces.
_HOOK_TABLES = ("_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called",
                "_forward_pre_hooks", "_forward_pre_hooks_with_kwargs")
_ORIGINAL = "_original_attention"  # attribute of a stand-in, set with object.__setattr__


@dataclass
class _KeptAside:
    """An attention module replaced by a stand-in, held outside the module tree for restoring."""

    module: nn.Module
    placement: tuple[torch.device, torch.dtype] | None  # of its decoder block when dropped
    hook_ids: frozenset[int]  # the hooks the stand-in inherited from it


def _placement(block: nn.Module) -> tuple[torch.device, torch.dtype] | None:
    # Device and dtype of the block's own floating weights (a stand-in has none): `model.to()`
    # moves these but not a kept-aside original, which follows them on restore.
    p = next((p for p in block.parameters() if p.is_floating_point()), None)
    return None if p is None else (p.device, p.dtype)


def _dropped_like(module: nn.Module, layer_idx: int, n_heads: int, config) -> nn.Module:
    # Subclass the original attention class so that transformers' output recorders, which find
    # attention modules with isinstance, still see one module per layer.
    cls = type(f"Dropped{type(module).__name__}", (DroppedAttention, type(module)), {})
    new = cls.__new__(cls)
    nn.Module.__init__(new)
    new._setup(layer_idx, n_heads, config)
    # hooks already installed on the old module (e.g. transformers' output capture) carry over
    for table in _HOOK_TABLES:
        getattr(new, table).update(getattr(module, table))
    return new


def is_dropped(module: nn.Module) -> bool:
    """Whether an attention module is a dropped stand-in."""
    return isinstance(module, DroppedAttention)


def _check_layers(blocks: nn.ModuleList, layers: Sequence[int]) -> list[int]:
    layers = [int(i) for i in layers]
    if len(set(layers)) != len(layers):
        raise ValueError(f"duplicate layer indices in {layers}")
    for i in layers:
        if not 0 <= i < len(blocks):
            raise IndexError(f"layer {i} is out of range: the model has {len(blocks)} layers (0..{len(blocks) - 1})")
    return layers


def drop_attention(model: nn.Module, layers: Sequence[int], *, keep_original: bool = True) -> nn.Module:
    """Drop the attention sub-layers of `layers` in place and record them in the config.

    With `keep_original` the replaced modules stay attached to their stand-ins, outside the module
    tree (invisible to parameters(), state_dict() and saving), so `restore_attention` can put them
    back; with `keep_original=False` their weights are freed for good.
    """
    blocks = decoder_layers(model)
    layers = _check_layers(blocks, layers)
    for i in layers:
        if is_dropped(attention_module(blocks[i])):
            raise ValueError(f"the attention of layer {i} is already dropped")
    config = model.config
    n_heads = getattr(config, "num_attention_heads", None) or getattr(config, "n_head", 1)
    for i in layers:
        old = attention_module(blocks[i])
        new = _dropped_like(old, getattr(old, "layer_idx", i), n_heads, config)
        setattr(blocks[i], _attention_name(blocks[i]), new)
        if keep_original:
            hook_ids = frozenset(old._forward_hooks) | frozenset(old._forward_pre_hooks)
            object.__setattr__(new, _ORIGINAL, _KeptAside(old, _placement(blocks[i]), hook_ids))
    config.dropped_attention_layers = sorted(set(dropped_layers(model)) | set(layers))
    return model


def restore_attention(model: nn.Module, layers: Sequence[int] | None = None) -> nn.Module:
    """Put back the original attention of `layers` (default: every dropped layer) kept by `drop_attention`.

    The originals are the same module objects, so their parameters are the very tensors the model
    had before dropping. If the model was moved or cast (`model.to(...)`) while dropped, each
    original is moved/cast the same way its decoder block was. Hooks the original had are kept as
    they were; hooks registered on the stand-in while dropped (e.g. transformers' output capture,
    installed on the first forward) move over to the original.
    """
    blocks = decoder_layers(model)
    dropped_now = [i for i, block in enumerate(blocks) if is_dropped(attention_module(block))]
    layers = dropped_now if layers is None else _check_layers(blocks, layers)
    not_dropped = [i for i in layers if i not in dropped_now]
    if not_dropped:
        raise ValueError(f"the attention of layers {not_dropped} is not dropped: nothing to restore")
    lost = [i for i in layers if getattr(attention_module(blocks[i]), _ORIGINAL, None) is None]
    if lost:
        raise ValueError(
            f"layers {lost} were dropped without keeping their original attention (a model loaded "
            "from a pruned save, or dropped with keep_original=False); reload the unpruned model "
            "to get them back"
        )
    for i in layers:
        block = blocks[i]
        stand_in = attention_module(block)
        kept: _KeptAside = getattr(stand_in, _ORIGINAL)
        original, now = kept.module, _placement(block)
        if kept.placement is not None and now is not None:
            if now[0] != kept.placement[0]:
                original.to(now[0])
            if now[1] != kept.placement[1]:
                original.to(now[1])
        original.train(block.training)
        for table in _HOOK_TABLES:
            added = {k: v for k, v in getattr(stand_in, table).items() if k not in kept.hook_ids}
            getattr(original, table).update(added)
        setattr(block, _attention_name(block), original)
        object.__delattr__(stand_in, _ORIGINAL)
    remaining = sorted(set(dropped_layers(model)) - set(layers))
    if remaining:
        model.config.dropped_attention_layers = remaining
    elif hasattr(model.config, "dropped_attention_layers"):
        del model.config.dropped_attention_layers
    return model


@contextmanager
def attention_dropped(model: nn.Module, layers: Sequence[int]) -> Iterator[nn.Module]:
    """Context manager: `layers` are dropped inside the block and restored on exit, also on error."""
    drop_attention(model, layers)
    try:
        yield model
    finally:
        restore_attention(model, layers)


def reapply_dropped_attention(model: nn.Module) -> nn.Module:
    """Re-drop the layers a saved config lists (after `from_pretrained` of a pruned model).

    The attention modules found there were freshly initialised or zeroed by the save, so they are
    not kept: `restore_attention` cannot bring such layers back.
    """
    listed = dropped_layers(model)
    if not listed:
        return model
    blocks = decoder_layers(model)
    todo = [i for i in listed if not is_dropped(attention_module(blocks[i]))]
    model.config.dropped_attention_layers = [i for i in listed if i not in todo]
    return drop_attention(model, todo, keep_original=False)


# --- saving and loading pruned models -----------------------------------------------------------

COMPACT_CONFIG = "pruned_config.json"  # the compact form's config.json, renamed (see save_pruned)
# Families whose attention output is exactly zero when all its parameters are zero (tested).
PORTABLE_FAMILIES = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text",
                     "phi3", "gpt2", "gpt_neox", "opt", "falcon")

_COMPACT_README = """# Pruned model, compact form: load it with `helpers.pruning.load_pruned`

The attention sub-layers of layers {layers} are dropped and their weights are not in this folder.
Stock `AutoModelForCausalLM.from_pretrained` would give those layers freshly initialised
attention, so the config is stored as `{config}` instead of `config.json` and stock loading fails.

    from helpers.pruning import load_pruned
    model = load_pruned("{name}")

For a folder that stock transformers loads, save with `save_pruned(model, folder, portable=True)`.
"""

_PORTABLE_README = """# Pruned model, portable form

The attention sub-layers of layers {layers} are dropped: all their weights are zeros, so each
adds exactly zero to the residual stream. Stock `AutoModelForCausalLM.from_pretrained("{name}")`
computes the pruned model (it still runs those layers, and their KV cache costs memory);
`helpers.pruning.load_pruned` drops them again (faster, no cache for them).
"""


def _attention_prefixes(model: nn.Module, layers: Sequence[int]) -> dict[int, str]:
    names = {id(m): name for name, m in model.named_modules()}
    blocks = decoder_layers(model)
    return {i: f"{names[id(blocks[i])]}.{_attention_name(blocks[i])}." for i in layers}


def _portable_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    # The full architecture's state dict with every parameter of a dropped attention set to zero:
    # the output projection (and its bias) is zero, so the branch adds exactly 0, also through a
    # sandwich norm (RMSNorm(0) = 0, Gemma's (1 + weight) form included) or a parallel residual.
    kind = getattr(model.config, "model_type", type(model).__name__)
    if kind not in PORTABLE_FAMILIES:
        raise NotImplementedError(
            f"portable saving is not supported for model type '{kind}' (supported: "
            f"{', '.join(PORTABLE_FAMILIES)}); save with portable=False and load with load_pruned"
        )
    blocks = decoder_layers(model)
    dropped = [i for i, b in enumerate(blocks) if is_dropped(attention_module(b))]
    live = [attention_module(b) for b in blocks if not is_dropped(attention_module(b))]
    state = model.state_dict()
    for i, prefix in _attention_prefixes(model, dropped).items():
        kept = getattr(attention_module(blocks[i]), _ORIGINAL, None)
        # shapes come from the kept original, else from any live layer (layers are alike)
        template = kept.module if kept is not None else (live[0] if live else None)
        if template is None:
            raise ValueError("every attention layer is dropped and none was kept aside: "
                             "no attention shapes to save; save with portable=False")
        params = dict(template.named_parameters())
        device, dtype = _placement(blocks[i]) or (None, None)
        for key, value in template.state_dict().items():
            if key in params:
                state[prefix + key] = torch.zeros(
                    value.shape, device=device or value.device,
                    dtype=dtype if dtype is not None and value.is_floating_point() else value.dtype)
            else:  # a persistent buffer (not a weight): keep it as the module defines it
                state[prefix + key] = value.clone()
    return state


def save_pruned(
    model: nn.Module, folder: str | os.PathLike, *, portable: bool = False, tokenizer=None
) -> Path:
    """Save a pruned model atomically: compact (reload with `load_pruned`) or `portable` (stock transformers).

    Compact: the dropped attention weights are absent and `config.json` is stored as
    `pruned_config.json`, so stock `from_pretrained` fails loudly instead of silently giving those
    layers fresh random attention. Portable: the full architecture with every weight of a dropped
    attention set to zero (the file is as large as the unpruned model's; zeros compress well), so
    stock `from_pretrained` computes the same function, running (and caching KV for) those layers.
    A model with nothing dropped is saved as a plain `save_pretrained` folder either way.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder} is a file; pass a folder path to save_pruned")
    dropped = dropped_layers(model)
    state = _portable_state_dict(model) if portable and dropped else None
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    try:
        model.save_pretrained(tmp, state_dict=state)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        if dropped:
            fmt = dict(layers=dropped, config=COMPACT_CONFIG, name=folder)
            if portable:
                (tmp / "README.md").write_text(_PORTABLE_README.format(**fmt))
            else:
                os.replace(tmp / "config.json", tmp / COMPACT_CONFIG)
                (tmp / "README.md").write_text(_COMPACT_README.format(**fmt))
        old = None
        if folder.exists():  # a folder cannot be renamed over a non-empty one: move it aside
            old = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-old-"))
            os.replace(folder, old / folder.name)
        try:
            os.replace(tmp, folder)
        except BaseException:
            if old is not None:
                os.replace(old / folder.name, folder)
            raise
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def load_pruned(folder: str | os.PathLike, **kw) -> nn.Module:
    """Load a `save_pruned` folder (either form) with its dropped layers dropped again, in eval mode.

    Keyword arguments go to `AutoModelForCausalLM.from_pretrained` (e.g. `dtype`, `device_map`).
    The tokenizer, if one was saved, loads with `AutoTokenizer.from_pretrained(folder)`.
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    folder = Path(folder)
    compact = (folder / COMPACT_CONFIG).is_file()
    if compact:
        kw.setdefault("config", AutoConfig.from_pretrained(folder / COMPACT_CONFIG))
    elif not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} holds neither {COMPACT_CONFIG} nor config.json: "
                                "pass a folder written by save_pruned")
    # The compact form lacks the dropped weights by design: transformers' missing-weights report
    # would call them "newly initialized"; it is silenced and replaced by the check below.
    log = logging.getLogger("transformers.modeling_utils")
    level = log.level
    if compact:
        log.setLevel(logging.ERROR)
    try:
        model, info = AutoModelForCausalLM.from_pretrained(folder, output_loading_info=True, **kw)
    finally:
        log.setLevel(level)
    prefixes = tuple(_attention_prefixes(model, dropped_layers(model)).values())
    missing = sorted(k for k in info["missing_keys"] if not k.startswith(prefixes))
    if missing:
        raise ValueError(f"{folder} lacks {len(missing)} weights outside the dropped attention "
                         f"layers ({', '.join(missing[:5])}): the folder is incomplete or not a "
                         "pruned save")
    return reapply_dropped_attention(model).eval()


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (shared tensors counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
