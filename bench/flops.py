"""An analytic count of the matrix-multiply FLOPs of a decoder forward pass, from its config.

What is counted (a multiply-add is 2 FLOPs), per decoder layer and token:

* attention projections q, k, v, o with grouped-query dimensions
  (q and o: hidden x heads*head_dim, k and v: hidden x kv_heads*head_dim);
* attention scores Q K^T and the weighted sum of values, each 2 * kv_len * head_dim * heads;
* the MLP: gate, up and down (gated families) or up and down (GPT-2, GPT-NeoX, OPT, Falcon...);
* the LM head (hidden x vocab) for every position whose logits are computed.

A dropped attention layer removes its projections and its scores; its MLP still runs.

Not counted: norms, activations, rotary embeddings, softmax, residual adds, embedding lookups and
biases (all linear in the hidden size, small next to the matrix products). Attention is counted
dense (every query against every key, kv_len keys), which is what eager and SDPA kernels compute
for a causal mask; kernels that skip masked blocks do about half the score work. Sliding windows
are not modelled (Gemma 3's window of 512 covers the benchmark's sequences anyway).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from torch.utils.flop_counter import FlopCounterMode
from transformers import PretrainedConfig

# families whose MLP has two matrices (up, down) rather than three (gate, up, down)
TWO_MATRIX_MLP = frozenset(
    {"gpt2", "gpt_neox", "gptj", "opt", "falcon", "bloom", "phi", "gpt_bigcode", "starcoder2"}
)


@dataclass(frozen=True)
class ModelDims:
    """The dimensions of a decoder that the FLOP count needs."""

    model_type: str
    hidden: int
    n_layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    gated_mlp: bool

    def as_dict(self) -> dict:
        """The dimensions as a plain dict (for JSON)."""
        return asdict(self)


def _first(config, *names: str):
    for name in names:
        value = getattr(config, name, None)
        if value is not None:
            return value
    return None


def dims_from_config(config: PretrainedConfig) -> ModelDims:
    """Read a transformers config (llama-like, GPT-2-like, OPT, Falcon, ...) into ModelDims."""
    if hasattr(config, "get_text_config"):
        config = config.get_text_config()
    model_type = str(getattr(config, "model_type", "unknown"))
    hidden = int(_first(config, "hidden_size", "n_embd", "d_model"))
    n_layers = int(_first(config, "num_hidden_layers", "n_layer"))
    heads = int(_first(config, "num_attention_heads", "n_head"))
    kv_heads = _first(config, "num_key_value_heads", "num_kv_heads")
    if model_type == "falcon" and not getattr(config, "new_decoder_architecture", False):
        kv_heads = 1 if getattr(config, "multi_query", False) else heads
    head_dim = _first(config, "head_dim") or hidden // heads
    intermediate = _first(config, "intermediate_size", "ffn_dim", "n_inner", "ffn_hidden_size")
    return ModelDims(
        model_type=model_type,
        hidden=hidden,
        n_layers=n_layers,
        heads=heads,
        kv_heads=int(kv_heads or heads),
        head_dim=int(head_dim),
        intermediate=int(intermediate or 4 * hidden),
        vocab=int(config.vocab_size),
        gated_mlp=model_type not in TWO_MATRIX_MLP,
    )


def forward_flops(
    dims: ModelDims,
    *,
    batch: int,
    n_tokens: int,
    kv_len: int | None = None,
    n_dropped: int = 0,
    lm_head_tokens: int | None = None,
) -> dict[str, int]:
    """FLOPs of one forward of `batch` rows of `n_tokens` new tokens attending to `kv_len` keys.

    `kv_len` defaults to `n_tokens` (a prefill without cache); `lm_head_tokens` is the number of
    positions per row projected onto the vocabulary (default all `n_tokens`).
    """
    if not 0 <= n_dropped <= dims.n_layers:
        raise ValueError(f"n_dropped={n_dropped} is outside 0..{dims.n_layers}")
    kv_len = n_tokens if kv_len is None else kv_len
    lm_head_tokens = n_tokens if lm_head_tokens is None else lm_head_tokens
    rows = batch * n_tokens
    h, d = dims.hidden, dims.head_dim
    q_width, kv_width = dims.heads * d, dims.kv_heads * d
    kept = dims.n_layers - n_dropped
    projections = 2 * rows * h * (2 * q_width + 2 * kv_width)
    scores = 2 * 2 * rows * kv_len * d * dims.heads  # Q K^T and weights x V
    mlp = 2 * rows * h * dims.intermediate * (3 if dims.gated_mlp else 2)
    out = {
        "attention_projections": kept * projections,
        "attention_scores": kept * scores,
        "mlp": dims.n_layers * mlp,
        "lm_head": 2 * batch * lm_head_tokens * h * dims.vocab,
    }
    out["total"] = sum(out.values())
    return out


def prefill_flops(
    dims: ModelDims, *, batch: int, seq: int, n_dropped: int = 0, logits: int | None = 1
) -> int:
    """Total FLOPs of a cache-free forward of batch x seq tokens (logits at `logits` positions)."""
    return forward_flops(
        dims, batch=batch, n_tokens=seq, n_dropped=n_dropped, lm_head_tokens=logits
    )["total"]


def generation_flops(
    dims: ModelDims, *, batch: int, prompt: int, new_tokens: int, n_dropped: int = 0
) -> int:
    """Total FLOPs of greedy generation with a KV cache: the prompt's prefill, then a token a step.

    The prefill yields the first new token; each of the other `new_tokens - 1` steps feeds one
    token that attends to the prompt and every token generated so far. Logits: last position only.
    """
    total = prefill_flops(dims, batch=batch, seq=prompt, n_dropped=n_dropped, logits=1)
    for step in range(1, new_tokens):
        total += forward_flops(
            dims, batch=batch, n_tokens=1, kv_len=prompt + step, n_dropped=n_dropped
        )["total"]
    return total


def kv_cache_bytes_per_token(dims: ModelDims, *, n_dropped: int = 0, bytes_per_value: int) -> int:
    """Bytes of keys and values cached per token (dropped layers cache nothing)."""
    return 2 * (dims.n_layers - n_dropped) * dims.kv_heads * dims.head_dim * bytes_per_value


def counted_flops(fn: Callable[[], object]) -> int:
    """FLOPs that torch's FlopCounterMode sees while `fn` runs.

    It counts matrix products (mm, bmm, addmm, ...) and the fused attention kernels it knows
    (flash/efficient/cuDNN on CUDA); on CPU the fused SDPA kernel is not counted, so there the
    score FLOPs are missing unless the model runs eager attention.
    """
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())
