"""Depth reuse: a pruned model starts above the layers it shares with a variant that already ran.

Dropping the attention of layers D changes nothing below min(D): there the pruned model computes
exactly what the full model computes. More generally, the hidden states a decoder layer j hands
to the next depend only on the input row (the prompt prefix and the row's tokens) and on which
layers up to j are dropped. The store keeps, for each forward that records, its layers' outputs
as they are (no copy) with the rows they belong to and the layers that model dropped; a row
that another model ran can start after any layer j below the first layer where the two models'
dropped sets differ. A batch whose rows all have states after some j starts at layer j + 1:
layers 0..j return at once, the last of them the stored states. Pruned configurations scoring
the test and calibration rows their full model scored, their perturbed inputs that coincide
with the full model's (faithfulness), the oracle's single-layer ablations and every candidate of
the greedy-KL search skip what they share with a model that ran before them.

Conditions, which is why it is opt-in per model (`enable`): the weights must not change while a
store is enabled (`helpers.pool.ModelPool` enables it: it only drops and restores attention
sub-layers); no layer changes its input in place (outputs are kept by reference; transformers'
modeling code does not, and the tests compare against forwards without reuse); the decoder
layers return their hidden states alone (transformers 5 families do;
where one returns a tuple, as Falcon's, nothing is ever skipped); rows are right-padded and
attention is causal, so a row's states at its own positions do not depend on the rows after it.
`scoring.body_logits` batches rows with the same start together, in order of length: where the
same rows are scored again (the test sample of each pruned configuration) the batches are the
same, so a reused forward repeats the very arithmetic it skips and its outputs are
bit-identical; where only some rows were seen before (a pruned configuration's perturbed inputs
that its full model also scored) they are batched apart, which moves results by float rounding.
Memory: least-recently-used entries go first once the store holds more than `max_bytes` (1 GiB,
and at most a tenth of a GPU's free memory); a row without an entry is computed in full. The
budget is small on purpose: on the 2-core CPU, 1.5-2 GB of held states slowed the other work of
the same process by 10-12% (integrated gradients on 32 `mr` examples: 22.5 s, then 25 s with
1.5 GB held), 1 GB did not; the grid forgets the states between units that cannot share rows.
"""

from __future__ import annotations

import contextlib
import itertools
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .pruning import decoder_layers, dropped_layers

DEFAULT_MAX_BYTES = 2**30
GPU_SHARE = 0.1  # on an accelerator, at most this share of its free memory

_RowKey = tuple  # (prefix, row): the tokens a row's states depend on besides the weights


@dataclass
class _Batch:
    """One forward's outputs of the layers it ran, kept whole (no copy): layer first + k -> [k]."""

    dropped: frozenset[int]  # the model's dropped layers when it ran
    first: int  # the first layer it ran (the ones below were skipped)
    outputs: list[torch.Tensor]  # (batch, width, hidden) per layer run
    keys: list[_RowKey]
    nbytes: int

    def deepest(self, dropped: frozenset[int], n: int) -> int:
        """The deepest layer whose output a model dropping `dropped` shares with it (-1: none)."""
        differ = min(self.dropped ^ dropped, default=n)  # layers below this agree
        last = min(n, differ) - 1
        return last if last >= self.first else -1


class DepthStore:
    """Hidden states after each decoder layer, per forward batch, least-recently-used out past
    `max_bytes`; looked up per row."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = int(max_bytes)
        self.bytes = 0
        self.hits = 0  # batches that started above layer 0
        self.layers_skipped = 0  # decoder layers skipped, summed over such batches
        self.supported = True  # False once a decoder layer returned more than its hidden states
        self._batches: OrderedDict[int, _Batch] = OrderedDict()
        self._rows: dict[_RowKey, list[tuple[int, int]]] = {}  # row -> [(batch id, row index)]
        self._ids = itertools.count()

    def __len__(self) -> int:
        return len(self._batches)

    def put(self, batch: _Batch) -> None:
        """Keep one forward's layer outputs, dropping the least recently used past the budget."""
        bid = next(self._ids)
        self._batches[bid] = batch
        self.bytes += batch.nbytes
        for i, key in enumerate(batch.keys):
            self._rows.setdefault(key, []).append((bid, i))
        while self.bytes > self.max_bytes and self._batches:
            old_id, old = self._batches.popitem(last=False)
            self.bytes -= old.nbytes
            for key in old.keys:
                left = [e for e in self._rows.get(key, []) if e[0] != old_id]
                if left:
                    self._rows[key] = left
                else:
                    self._rows.pop(key, None)

    def best(self, key: _RowKey, dropped: frozenset[int], n: int) -> tuple[int, int, int]:
        """(layer, batch id, row index) of the deepest stored state of a row for a model dropping
        `dropped`; layer -1 when there is none."""
        found = (-1, -1, -1)
        for bid, i in self._rows.get(key, ()):
            layer = self._batches[bid].deepest(dropped, n)
            if layer > found[0]:
                found = (layer, bid, i)
        return found

    def holding(self, key: _RowKey, dropped: frozenset[int], n: int,
                layer: int) -> tuple[int, int] | None:
        """(batch id, row index) of a stored state of the row after `layer`, or None."""
        for bid, i in self._rows.get(key, ()):
            batch = self._batches[bid]
            if batch.first <= layer <= batch.deepest(dropped, n):
                return bid, i
        return None

    def states(self, bid: int, i: int, layer: int, length: int) -> torch.Tensor:
        """Row i's states after `layer` in a stored batch (the batch becomes the most recent)."""
        self._batches.move_to_end(bid)
        batch = self._batches[bid]
        return batch.outputs[layer - batch.first][i, :length]

    def clear(self) -> None:
        """Forget every entry."""
        self._batches.clear()
        self._rows.clear()
        self.bytes = 0


_stores: weakref.WeakKeyDictionary[nn.Module, DepthStore] = weakref.WeakKeyDictionary()


def enable(model: nn.Module, max_bytes: int = DEFAULT_MAX_BYTES) -> DepthStore:
    """Turn depth reuse on for `model` (its weights must stay fixed while it is on)."""
    store = _stores.get(model)
    if store is None:
        device = next(model.parameters()).device
        if device.type == "cuda":
            max_bytes = min(max_bytes, int(GPU_SHARE * torch.cuda.mem_get_info(device)[0]))
        store = _stores[model] = DepthStore(max_bytes)
    return store


def disable(model: nn.Module) -> None:
    """Turn depth reuse off for `model` and free its store."""
    store = _stores.pop(model, None)
    if store is not None:
        store.clear()


def store_of(model: nn.Module) -> DepthStore | None:
    """The model's store, or None when depth reuse is off for it."""
    return _stores.get(model)


def start_layers(model: nn.Module, prefix: Sequence[int], rows: Sequence[Sequence[int]],
                 stems: Sequence[Sequence[int]] | None = None) -> list[int]:
    """Per row, the deepest layer after which its states are stored for the model's current
    dropped layers (-1: none, or depth reuse off): batch rows of equal start together. A row
    with a stem (`helpers.stems`) runs after prefix + stem, which is part of its key."""
    store = store_of(model)
    if store is None or not store.supported or not store._batches:
        return [-1] * len(rows)
    dropped = frozenset(dropped_layers(model))
    n = len(decoder_layers(model))
    return [store.best(k, dropped, n)[0] for k in _keys(prefix, rows, stems)]


def _keys(prefix: Sequence[int], rows: Sequence[Sequence[int]],
          stems: Sequence[Sequence[int]] | None) -> list[_RowKey]:
    heads = stems if stems is not None else [()] * len(rows)
    return [(tuple(prefix) + tuple(h), tuple(r)) for h, r in zip(heads, rows, strict=True)]


def _patch_forward(block: nn.Module, forward: Callable) -> Callable[[], None]:
    # an instance attribute shadows the class's forward; another wrapper there (accelerate's
    # offloading hooks put one) is put back afterwards
    had = "forward" in block.__dict__
    before = block.__dict__.get("forward")
    block.forward = forward

    def undo() -> None:
        if had:
            block.forward = before
        else:
            del block.__dict__["forward"]

    return undo


@contextlib.contextmanager
def reusing(model: nn.Module, prefix: Sequence[int], rows: Sequence[Sequence[int]],
            *, record: bool, stems: Sequence[Sequence[int]] | None = None) -> Iterator[None]:
    """Inside: one forward of `model` over right-padded `rows` after the cached `prefix` (and
    each row's stem) skips the layers every row has stored states for, and (with `record`)
    stores the layers it runs."""
    store = store_of(model)
    if store is None or not store.supported:
        yield
        return
    blocks = decoder_layers(model)
    n = len(blocks)
    dropped = frozenset(dropped_layers(model))
    keys = _keys(prefix, rows, stems)
    lengths = [len(r) for r in rows]
    start = min(store.best(k, dropped, n)[0] for k in keys)
    held = [store.holding(k, dropped, n, start) for k in keys] if start >= 0 else []
    if None in held:
        start = -1
    undo = []
    if start >= 0:
        parts = [store.states(bid, row, start, length)
                 for (bid, row), length in zip(held, lengths, strict=True)]
        states = parts[0].new_zeros(len(rows), max(lengths), parts[0].shape[-1])
        for i, part in enumerate(parts):
            states[i, : lengths[i]] = part

        def skip(*args, **kwargs):
            return args[0] if args else kwargs["hidden_states"]

        def resume(*args, **kwargs):
            return states

        for j in range(start + 1):
            undo.append(_patch_forward(blocks[j], resume if j == start else skip))
        store.hits += 1
        store.layers_skipped += start + 1
    outputs: list[torch.Tensor] = []
    if record:
        def keep(_module, _args, output):
            if not isinstance(output, torch.Tensor):
                store.supported = False  # its loop unpacks more than the states: never skip
            else:
                outputs.append(output.detach())

        undo += [blocks[j].register_forward_hook(keep).remove for j in range(start + 1, n)]
    try:
        yield
    finally:
        for fn in undo:
            fn()
    if record and store.supported and len(outputs) == n - start - 1 and outputs:
        store.put(_Batch(dropped, start + 1, outputs, keys, sum(o.nbytes for o in outputs)))
