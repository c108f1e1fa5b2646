"""Body stems: an example's key/value states over its own tokens, kept from a forward that ran it.

A perturbed input that deletes tokens from a body begins with the body's tokens up to the first
deleted one (its stem); in a causal decoder their keys and values are the ones the full body
had. Faithfulness scores about ten such rows per example, each from its first deleted token on:
the stem comes from the states the attribution's own forward already computed (LRP and the
gradient methods keep them when asked), so about a fifth of the scored tokens are not run again
on the default profile. The rows of one batch carry stems of different lengths: each row's cache
is the shared prompt prefix, its stem, then masked slots up to the batch's longest stem, and its
own tokens take the positions they have in the unpadded prompt (explicit position ids).

Where this is not exact, it is not used: a sliding-window layer whose window the prompt could
reach (the slots of masked padding would shift what the window sees), a cache the forward
truncated, or a model whose cache layers are not transformers' dynamic layers.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import Cache

STATES_MAX_BYTES = 2**30  # one attribution call keeps at most this much (7-9B models: ~1000
                          # examples of 100 tokens in bf16); the examples past it keep none


@dataclass(frozen=True)
class BodyStates:
    """Per decoder layer, the keys and values of one body's tokens: (kv_heads, length, head_dim)."""

    keys: tuple[torch.Tensor, ...]
    values: tuple[torch.Tensor, ...]

    @property
    def nbytes(self) -> int:
        """Memory the states hold."""
        return sum(t.nbytes for t in (*self.keys, *self.values))

    @property
    def length(self) -> int:
        """How many body tokens the states cover."""
        return int(self.keys[0].shape[-2]) if self.keys else 0


@dataclass(frozen=True)
class StemBatch:
    """What a batch of stemmed rows runs after: the cache, its padding mask, each row's offset."""

    cache: Cache
    mask: torch.Tensor  # (batch, prefix + longest stem), 1 where a slot is real
    offsets: torch.Tensor  # (batch,) the position of each row's first token of its own


def shared_length(row: Sequence[int], body: Sequence[int], suffix_length: int) -> int:
    """How many leading tokens `row` shares with `body` and may take from its states: at least
    one token of the row (or of the suffix after it) must still run to give the next-token logits."""
    n = 0
    for a, b in zip(row, body, strict=False):
        if a != b:
            break
        n += 1
    return n if suffix_length > 0 else max(0, min(n, len(row) - 1))


def _sliding_windows(cache: Cache) -> list[int]:
    return [int(layer.sliding_window) for layer in cache.layers
            if getattr(layer, "is_sliding", False)]


def usable(cache: Cache, longest: int) -> bool:
    """Whether stems are exact for a prompt cache whose rows reach at most `longest` positions
    past its prefix: dynamic layers only, and no sliding window the prompt could reach."""
    if any(type(layer).__name__ not in ("DynamicLayer", "DynamicSlidingWindowLayer")
           for layer in cache.layers):
        return False
    n_prefix = cache.get_seq_length()
    return all(n_prefix + longest < window - 1 for window in _sliding_windows(cache))


def from_cache(cache: Cache, n_prefix: int, body_lengths: Sequence[int]) -> list[BodyStates] | None:
    """Each row's body states from the cache of a forward over prefix + right-padded rows (copies,
    detached), or None where the cache does not hold every position (a truncating window)."""
    layers = cache.layers
    if not layers or not usable(cache, 0):
        return None
    width = cache.get_seq_length()
    if any(not layer.is_initialized or layer.keys.shape[-2] != width for layer in layers):
        return None
    out = []
    for j, n in enumerate(body_lengths):
        span = slice(n_prefix, n_prefix + n)
        out.append(BodyStates(
            keys=tuple(layer.keys[j, :, span].detach().clone() for layer in layers),
            values=tuple(layer.values[j, :, span].detach().clone() for layer in layers),
        ))
    return out


def batch(prefix: Cache, states: Sequence[BodyStates | None], lengths: Sequence[int],
          n_prefix: int) -> StemBatch:
    """The cache a batch of rows runs after: the prefix, then each row's first `lengths[i]` body
    tokens from `states[i]` (None where the length is 0), masked slots up to the longest."""
    batch_size, longest = len(lengths), max(lengths)
    new = copy.copy(prefix)
    new.layers = [copy.copy(layer) for layer in prefix.layers]
    for li, layer in enumerate(new.layers):
        keys, values = layer.keys, layer.values
        heads, dim = keys.shape[1], keys.shape[-1]
        k = keys.new_zeros(batch_size, heads, longest, dim)
        v = values.new_zeros(batch_size, heads, longest, values.shape[-1])
        for i, (s, n) in enumerate(zip(states, lengths, strict=True)):
            if n:
                k[i, :, :n] = s.keys[li][:, :n]
                v[i, :, :n] = s.values[li][:, :n]
        layer.keys = torch.cat([keys.expand(batch_size, -1, -1, -1), k], dim=2)
        layer.values = torch.cat([values.expand(batch_size, -1, -1, -1), v], dim=2)
        if hasattr(layer, "cumulative_length"):
            layer.cumulative_length = n_prefix + longest
    device = prefix.layers[0].keys.device
    span = torch.arange(longest, device=device)[None, :]
    stem_mask = (span < torch.tensor(list(lengths), device=device)[:, None]).long()
    mask = torch.cat([torch.ones(batch_size, n_prefix, dtype=torch.long, device=device),
                      stem_mask], dim=1)
    offsets = n_prefix + torch.tensor(list(lengths), device=device)
    return StemBatch(new, mask, offsets)
