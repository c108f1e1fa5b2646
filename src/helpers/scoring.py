"""Classification by prompting: batched label-set probabilities from next-token logits.

A prompt is `prefix + body + suffix` where the prefix (instruction and in-context
demonstrations) is shared by every example, the body is the example's own text and the suffix
asks for the answer. The three are tokenised separately and concatenated, so the body's tokens
are exactly the example's tokens (what attributions explain and perturbations delete).

Speed: the prefix is run once and its key/value cache is reused for every row of every batch.
Rows (body + suffix) are right-padded after the prefix, which keeps every real token at the
position it has when run alone: batched and one-by-one scores agree. Only the last real position
of each row is projected onto the vocabulary.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache as memoize

import numpy as np
import torch
from transformers import Cache

from . import depth_reuse
from . import stems as body_stems
from .calibration import softmax
from .progress import progress as progress_bar
from .stems import BodyStates, StemBatch
from .tasks import DEFAULT_SHOTS, Example, Task, demonstrations


@dataclass(frozen=True)
class Prompt:
    """Token ids of a task's prompt frame: shared prefix, answer suffix, and label-word tokens."""

    prefix_ids: tuple[int, ...]
    suffix_ids: tuple[int, ...]
    label_ids: tuple[int, ...]
    prefix_text: str
    suffix_text: str


def _leading_special_ids(tokenizer) -> list[int]:
    with_special = tokenizer("a", add_special_tokens=True)["input_ids"]
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    return list(with_special[: with_special.index(plain[0])]) if plain[0] in with_special else []


def _ids(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def label_token_ids(tokenizer, task: Task) -> list[int]:
    """First token of each label word; refuses verbalisers whose first tokens collide."""
    ids = [_ids(tokenizer, w)[0] for w in task.label_words]
    if len(set(ids)) != len(ids):
        pieces = [tokenizer.convert_ids_to_tokens(i) for i in ids]
        raise ValueError(
            f"Task '{task.name}': label words {task.label_words} share first tokens {pieces} under "
            f"this tokenizer; choose label words whose first tokens differ."
        )
    return ids


def build_prompt(
    tokenizer,
    task: Task,
    *,
    shots: int = DEFAULT_SHOTS,
    seed: int = 0,
    demos: Sequence[Example] | None = None,
) -> Prompt:
    """The prompt frame for `task`: `shots` demonstrations per label drawn with `seed`, or `demos`."""
    if demos is None:
        demos = demonstrations(task.name, shots, seed=seed)
    prefix = task.prompt_prefix(demos)
    suffix = task.prompt_suffix()
    return Prompt(
        prefix_ids=tuple(_leading_special_ids(tokenizer) + _ids(tokenizer, prefix)),
        suffix_ids=tuple(_ids(tokenizer, suffix)),
        label_ids=tuple(label_token_ids(tokenizer, task)),
        prefix_text=prefix,
        suffix_text=suffix,
    )


def encode_bodies(tokenizer, task: Task, examples: Sequence[Example]) -> list[list[int]]:
    """Each example's own tokens, as they appear inside the prompt."""
    return [_ids(tokenizer, task.body(ex.text)) for ex in examples]


# --- the shared batched forward --------------------------------------------------------------------


def _device(model) -> torch.device:
    return next(model.parameters()).device


@memoize
def _cache_name(forward_type: type) -> str:
    # transformers 5.25 renamed the forward's `past_key_values` to `cache` (the old name warns,
    # and goes in 5.40); earlier 5.x releases only know `past_key_values`
    params = inspect.signature(forward_type.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def cache_kwargs(model, kv: Cache | None) -> dict:
    """The keyword that hands a key/value cache to `model`'s forward, in this transformers release."""
    return {_cache_name(type(model)): kv}


def output_cache(out) -> Cache:
    """The key/value cache a forward returned (`cache`, or `past_key_values` before 5.25)."""
    found = out.get("cache") if hasattr(out, "get") else None
    return found if found is not None else out["past_key_values"]


@torch.no_grad()
def prefix_cache(model, prompt: Prompt) -> Cache:
    """The key/value cache of the shared prefix (batch 1), computed once per model and prompt."""
    ids = torch.tensor([prompt.prefix_ids], device=_device(model))
    return output_cache(model(input_ids=ids, use_cache=True, logits_to_keep=1))


def _expand(cache: Cache, batch: int) -> Cache:
    # A fresh shallow copy per forward (the model appends to its cache), with each layer's
    # tensors broadcast along the batch; sliding-window bookkeeping is copied as it is.
    new = copy.copy(cache)
    new.layers = [copy.copy(layer) for layer in cache.layers]
    for layer in new.layers:
        if layer.is_initialized:
            layer.keys = layer.keys.expand(batch, *layer.keys.shape[1:])
            layer.values = layer.values.expand(batch, *layer.values.shape[1:])
    return new


def frame_logits(
    model,
    prompt: Prompt,
    kv: Cache,
    *,
    input_ids: torch.Tensor | None = None,
    inputs_embeds: torch.Tensor | None = None,
    lengths: torch.Tensor,
    with_mass: bool = False,
    stems: StemBatch | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Label-set logits (batch, n_labels) for right-padded rows of body + suffix after the prefix.

    Differentiable with respect to `inputs_embeds` (attribution uses this path). With
    `with_mass`, also the log of the probability mass the whole vocabulary puts on the label
    words' first tokens (batch,): how much of the next-token distribution the label set holds.
    With `stems` (`stems.batch`), the rows run after the prefix and each one's stem.
    """
    labels, vocab, _ = frame_forward(model, prompt, kv, input_ids=input_ids,
                                     inputs_embeds=inputs_embeds, lengths=lengths, stems=stems)
    if not with_mass:
        return labels
    return labels, torch.logsumexp(labels, -1) - torch.logsumexp(vocab, -1)


def frame_forward(
    model,
    prompt: Prompt,
    kv: Cache,
    *,
    input_ids: torch.Tensor | None = None,
    inputs_embeds: torch.Tensor | None = None,
    lengths: torch.Tensor,
    stems: StemBatch | None = None,
) -> tuple[torch.Tensor, torch.Tensor, Cache]:
    """`frame_logits`' forward: label-set logits, the whole vocabulary's logits at each row's last
    position, and the cache it leaves (prefix, then the rows)."""
    x = input_ids if input_ids is not None else inputs_embeds
    batch, width = x.shape[:2]
    device = x.device
    row_mask = (torch.arange(width, device=device)[None, :] < lengths[:, None]).long()
    extra = {}
    if stems is None:
        n_prefix = len(prompt.prefix_ids)
        past = torch.ones(batch, n_prefix, dtype=torch.long, device=device)
        cache = _expand(kv, batch)
    else:
        past, cache = stems.mask, stems.cache
        extra["position_ids"] = stems.offsets[:, None] + torch.arange(width, device=device)[None, :]
    out = model(
        input_ids=input_ids,
        inputs_embeds=inputs_embeds,
        attention_mask=torch.cat([past, row_mask], dim=1),
        **cache_kwargs(model, cache),
        **extra,
        use_cache=True,
        logits_to_keep=(lengths - 1)[:, None],
    )
    label_ids = torch.tensor(prompt.label_ids, device=device)
    vocab = out.logits[:, 0, :].float()
    return vocab.index_select(-1, label_ids), vocab, output_cache(out)


def rows_to_batch(
    rows: Sequence[Sequence[int]], pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded id tensor and lengths for token rows."""
    lengths = torch.tensor([len(r) for r in rows], device=device)
    ids = torch.full((len(rows), int(lengths.max())), pad_id, dtype=torch.long, device=device)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return ids, lengths


def pad_id(tokenizer) -> int:
    """The id used for padding (never attended to)."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0


@torch.no_grad()
def body_logits(
    model,
    tokenizer,
    prompt: Prompt,
    bodies: Sequence[Sequence[int]],
    *,
    batch_size: int = 16,
    progress: bool = True,
    desc: str = "scoring",
    with_mass: bool = False,
    share: bool = False,
    stems: Sequence[tuple[Sequence[int], BodyStates] | None] | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Label-set logits (n, n_labels) for each body inside the prompt frame, in batches (with
    `with_mass`, also each row's log label-word mass, see `frame_logits`).

    Where depth reuse is on for the model (`depth_reuse.enable`), a batch starts above the
    layers whose states are stored for all its rows; `share` stores this call's states for
    other pruned variants scoring the same bodies (leave it off for one-off rows). `stems` gives
    per body the full body it was cut from and that body's states (`helpers.stems`), or None:
    a body runs from its first token that differs from its source.
    """
    if len(bodies) == 0:
        empty = np.zeros((0, len(prompt.label_ids)), dtype=np.float32)
        return (empty, np.zeros(0, dtype=np.float32)) if with_mass else empty
    if stems is not None and len(stems) != len(bodies):
        raise ValueError(f"{len(stems)} stems for {len(bodies)} bodies")
    kv = prefix_cache(model, prompt)
    suffix = list(prompt.suffix_ids)
    rows = [list(b) + suffix for b in bodies]
    shared = [0] * len(rows)
    if stems is not None and body_stems.usable(kv, 2 * max(len(r) for r in rows)):
        for i, (body, stem) in enumerate(zip(bodies, stems, strict=True)):
            if stem is not None:
                source, states = stem
                shared[i] = min(body_stems.shared_length(body, source, len(suffix)),
                                states.length)
    heads = [r[:s] for r, s in zip(rows, shared, strict=True)]
    rows = [r[s:] for r, s in zip(rows, shared, strict=True)]
    # rows that can start at the same depth together, then similar lengths together (less
    # padding, fewer distinct positions to project), then similar stems (fewer masked slots)
    depth = np.asarray(depth_reuse.start_layers(model, prompt.prefix_ids, rows, stems=heads))
    order = np.lexsort((shared, [len(r) for r in rows], -depth))
    out = np.zeros((len(rows), len(prompt.label_ids)), dtype=np.float32)
    mass = np.zeros(len(rows), dtype=np.float32)
    device = _device(model)
    batches = []
    for d in np.unique(depth)[::-1]:
        group = order[depth[order] == d]
        batches += [group[i : i + batch_size] for i in range(0, len(group), batch_size)]
    for idx in progress_bar(batches, desc=desc, enabled=progress):
        batch = [rows[i] for i in idx]
        ids, lengths = rows_to_batch(batch, pad_id(tokenizer), device)
        stem_batch = None
        if any(shared[i] for i in idx):
            stem_batch = body_stems.batch(
                kv, [stems[i][1] if shared[i] else None for i in idx],
                [shared[i] for i in idx], len(prompt.prefix_ids))
        with depth_reuse.reusing(model, prompt.prefix_ids, batch, record=share,
                                 stems=[heads[i] for i in idx]):
            logits, log_mass = frame_logits(model, prompt, kv, input_ids=ids, lengths=lengths,
                                            with_mass=True, stems=stem_batch)
        out[idx], mass[idx] = logits.cpu().numpy(), log_mass.cpu().numpy()
    return (out, mass) if with_mass else out


def label_logits(
    model,
    tokenizer,
    task: Task,
    examples: Sequence[Example],
    *,
    shots: int = DEFAULT_SHOTS,
    seed: int = 0,
    batch_size: int = 16,
    progress: bool = True,
    with_mass: bool = False,
    share: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Next-token logits of each label word's first token, shape (n, n_labels) (with `with_mass`,
    also each example's log label-word mass; `share` as in `body_logits`)."""
    prompt = build_prompt(tokenizer, task, shots=shots, seed=seed)
    return body_logits(
        model, tokenizer, prompt, encode_bodies(tokenizer, task, examples),
        batch_size=batch_size, progress=progress, desc=f"scoring {task.name}", with_mass=with_mass,
        share=share,
    )


def label_probs(
    model,
    tokenizer,
    task: Task,
    examples: Sequence[Example],
    *,
    shots: int = DEFAULT_SHOTS,
    seed: int = 0,
    batch_size: int = 16,
    progress: bool = True,
) -> np.ndarray:
    """Probabilities over the label set (softmax of `label_logits`), shape (n, n_labels)."""
    logits = label_logits(
        model, tokenizer, task, examples, shots=shots, seed=seed, batch_size=batch_size, progress=progress
    )
    return softmax(logits)


def accuracy(probs: np.ndarray, labels: Sequence[int]) -> float:
    """Share of examples whose argmax label (ties: lowest index) is the true one."""
    probs = np.asarray(probs)
    labels = np.asarray(labels)
    if probs.ndim != 2 or len(probs) != len(labels):
        raise ValueError(f"probs must be (n, k) with n = len(labels); got {probs.shape} and {labels.shape}")
    if len(labels) == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return float((probs.argmax(axis=1) == labels).mean())
