"""Tiny random-weight decoders, one per supported architecture, built from configs (no download)."""

from __future__ import annotations

import torch
from transformers import AutoConfig, AutoModelForCausalLM

VOCAB = 96
COMMON = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
              intermediate_size=48, max_position_embeddings=128)
CONFIGS: dict[str, dict] = {
    "llama": dict(COMMON, num_key_value_heads=2),
    "mistral": dict(COMMON, num_key_value_heads=2, sliding_window=None),
    "qwen2": dict(COMMON, num_key_value_heads=2),
    "qwen3": dict(COMMON, num_key_value_heads=2, head_dim=8),
    "gemma": dict(COMMON, num_key_value_heads=1, head_dim=8),
    "gemma2": dict(COMMON, num_key_value_heads=2, head_dim=8, sliding_window=16),
    "gemma3_text": dict(COMMON, num_key_value_heads=1, head_dim=8, sliding_window=16,
                        layer_types=["sliding_attention", "sliding_attention", "sliding_attention",
                                     "full_attention"]),
    "phi3": dict(COMMON, num_key_value_heads=2, pad_token_id=0),
    "gpt2": dict(vocab_size=VOCAB, n_embd=32, n_layer=4, n_head=4, n_positions=128),
    "gpt_neox": dict(COMMON, rotary_pct=0.5),
    "opt": dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
                ffn_dim=48, word_embed_proj_dim=32, max_position_embeddings=128, pad_token_id=1),
    "falcon": dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
                   new_decoder_architecture=True, num_kv_heads=2, parallel_attn=True, alibi=False),
}
ARCHITECTURES = sorted(CONFIGS)


def tiny_model(model_type: str, seed: int = 0, attn_implementation: str = "eager"):
    """A tiny, randomly initialised causal LM of `model_type`, in eval mode, float32."""
    config = AutoConfig.for_model(model_type, **CONFIGS[model_type])
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, attn_implementation=attn_implementation)
    return model.eval()


class TinyTokenizer:
    """A word-level tokenizer over a closed vocabulary, shaped like the parts of a HF tokenizer we use.

    Words map to ids by a stable hash into [3, VOCAB); a leading space is part of the token, as in
    byte-level BPE, so " positive" and "positive" differ. id 0 pads, id 1 is BOS.
    """

    pad_token_id = 0
    bos_token_id = 1
    eos_token_id = 2
    padding_side = "right"

    def __init__(self):
        self.vocab: dict[str, int] = {}

    def _id(self, piece: str) -> int:
        if piece not in self.vocab:
            self.vocab[piece] = 3 + len(self.vocab) % (VOCAB - 3)
        return self.vocab[piece]

    def _pieces(self, text: str) -> list[str]:
        import re

        return re.findall(r"\s?[^\s]+|\s", text)

    def __call__(self, text, add_special_tokens=True, **_):
        ids = [self._id(p) for p in self._pieces(text)]
        return {"input_ids": ([self.bos_token_id] if add_special_tokens else []) + ids}

    def convert_ids_to_tokens(self, ids):
        inv = {v: k for k, v in self.vocab.items()}
        if isinstance(ids, int):
            return inv.get(ids, f"<{ids}>")
        return [inv.get(i, f"<{i}>") for i in ids]


def serve_tiny_models(monkeypatch, factory) -> None:
    """Let the model pool, the shape table and the revision lookup see tiny models by name.

    `factory(name)` builds the model for a name such as "tiny0"; every such name gets the tiny
    llama's shape (4 layers) and a fixed revision, so units can be keyed and computed."""
    from helpers import models, pool
    from helpers.models import Shape

    shape = Shape(layers=4, hidden=32, intermediate=48, heads=4, kv_heads=2, head_dim=8, vocab=VOCAB)

    def load(name, device="cpu"):
        return factory(name), TinyTokenizer()

    monkeypatch.setattr(pool, "load_model", load)
    for name in ("tiny0", "tiny1", "tiny2"):
        monkeypatch.setitem(models.HUB_SHAPES, name, shape)
        monkeypatch.setitem(models._REVISIONS, name, f"rev-{name}")
