"""One model in memory at a time, pruned in place for whichever layer set a unit asks for."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from . import depth_reuse, pruning
from .models import default_dtype, load_model, model_revision, resolve_device


class ModelPool:
    """Keeps one model loaded and prunes it in place, without copies, for the layer set asked for.

    `get` and `full` hand out the SAME model object, dropping and restoring attention layers on it
    (`pruning.drop_attention` / `restore_attention`): a model returned by an earlier call changes
    when `get` or `full` is called again, so finish using it first.
    """

    def __init__(self, device: str = "auto",
                 reuse_bytes: int = depth_reuse.DEFAULT_MAX_BYTES) -> None:
        self.device = str(resolve_device(device))
        self.reuse_bytes = reuse_bytes
        self._full: dict[str, tuple] = {}
        self._dropped: tuple[int, ...] = ()  # layers this pool has dropped on the loaded model

    def _set(self, name: str, layers: tuple[int, ...]) -> tuple:
        if name not in self._full:
            self._full.clear()  # one model at a time keeps memory flat across a long grid
            self._dropped = ()
            self._full[name] = load_model(name, device=self.device)
            # only attention sub-layers change on a pooled model: its variants share depth
            depth_reuse.enable(self._full[name][0], self.reuse_bytes)
        model, tok = self._full[name]
        now, wanted = set(self._dropped), set(layers)
        if now - wanted:
            pruning.restore_attention(model, sorted(now - wanted))
            self._dropped = tuple(sorted(now & wanted))
        if wanted - now:
            pruning.drop_attention(model, sorted(wanted - now))
            self._dropped = layers
        return model, tok

    def full(self, name: str) -> tuple:
        """(model, tokenizer) of the unpruned model (restores any layers `get` dropped)."""
        return self._set(name, ())

    def get(self, name: str, layers: Sequence[int]) -> tuple:
        """(model, tokenizer) with exactly the attention of `layers` dropped (the full model if none)."""
        layers = tuple(sorted(int(i) for i in layers))
        if len(set(layers)) != len(layers):
            raise ValueError(f"duplicate layer indices in {list(layers)}")
        return self._set(name, layers)

    def forget_states(self) -> None:
        """Empty the loaded model's depth-reuse store (`helpers.depth_reuse`)."""
        for model, _ in self._full.values():
            store = depth_reuse.store_of(model)
            if store is not None:
                store.clear()

    def provenance(self, name: str) -> dict:
        """What ran a unit: model, revision, type, device, dtype, threads (stored outside the key)."""
        model, _ = self.full(name)
        return {"model": name, "model_revision": model_revision(name),
                "model_type": model.config.model_type, "device": self.device,
                "dtype": str(model.dtype), "threads": torch.get_num_threads()}


def device_context(device: str) -> dict[str, str]:
    """Device type and dtype a unit computes with on `device` ('auto' resolved): part of its key."""
    dev = resolve_device(device)
    return {"device": dev.type, "dtype": str(default_dtype(dev)).removeprefix("torch.")}
