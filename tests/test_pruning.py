"""Attention dropping vs an independent reference: an unpruned copy whose attention outputs are zeroed by hooks."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from tiny_models import ARCHITECTURES, VOCAB, tiny_model
from transformers import AutoModelForCausalLM

from helpers.criteria import CRITERIA, n_to_drop, select_layers
from helpers.importance import attention_importance
from helpers.pruning import (
    attention_module,
    count_parameters,
    decoder_layers,
    drop_attention,
    n_layers,
    reapply_dropped_attention,
)

DROP = [0, 2]  # includes layer 0: the KV cache length must still be tracked


def zero_attention_outputs(model, layers):
    """Reference: forward hooks that replace the attention sub-layer's output by zeros."""

    def hook(_module, _args, out):
        return (torch.zeros_like(out[0]),) + tuple(out[1:])

    return [attention_module(decoder_layers(model)[i]).register_forward_hook(hook) for i in layers]


@pytest.fixture(params=ARCHITECTURES)
def pair(request):
    ref = tiny_model(request.param)
    pruned = drop_attention(copy.deepcopy(ref), DROP)
    zero_attention_outputs(ref, DROP)
    return request.param, ref, pruned


def padded_batch():
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, VOCAB - 1, (3, 12), generator=g)
    mask = torch.ones_like(ids)
    mask[0, :4] = 0  # left padding
    mask[1, -3:] = 0  # right padding
    return ids, mask


@torch.no_grad()
def test_forward_matches_reference(pair):
    arch, ref, pruned = pair
    ids, mask = padded_batch()
    a = ref(input_ids=ids, attention_mask=mask, output_hidden_states=True, output_attentions=True)
    b = pruned(input_ids=ids, attention_mask=mask, output_hidden_states=True, output_attentions=True)
    torch.testing.assert_close(b.logits, a.logits, atol=1e-5, rtol=0)
    assert len(b.hidden_states) == len(a.hidden_states)
    for x, y in zip(b.hidden_states, a.hidden_states, strict=True):
        torch.testing.assert_close(x, y, atol=1e-5, rtol=0)
    assert len(b.attentions) == len(a.attentions) == 4, arch
    for i, (x, y) in enumerate(zip(b.attentions, a.attentions, strict=True)):
        if i in DROP:
            assert x.shape == y.shape and not x.any()  # a dropped layer attends to nothing
        else:
            torch.testing.assert_close(x, y, atol=1e-5, rtol=0)


@torch.no_grad()
def test_greedy_generation_with_kv_cache_matches_reference(pair):
    _, ref, pruned = pair
    ids, mask = padded_batch()
    ids, mask = ids[[0, 2]], mask[[0, 2]]  # left-padded batch, as generate expects
    kw = dict(max_new_tokens=10, do_sample=False, pad_token_id=0, use_cache=True)
    expected = ref.generate(ids, attention_mask=mask, **kw)
    got = pruned.generate(ids, attention_mask=mask, **kw)
    assert torch.equal(got, expected)


def test_parameters_are_freed(pair):
    arch, ref, pruned = pair
    freed = sum(count_parameters(attention_module(decoder_layers(ref)[i])) for i in DROP)
    assert freed > 0
    assert count_parameters(pruned) <= count_parameters(ref) - freed, arch
    assert pruned.config.dropped_attention_layers == DROP


def test_save_and_reload_gives_identical_outputs(tmp_path):
    model = drop_attention(tiny_model("qwen2"), [3, 1])
    model.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path, attn_implementation="eager").eval()
    reapply_dropped_attention(loaded)
    assert loaded.config.dropped_attention_layers == [1, 3]
    ids, mask = padded_batch()
    with torch.no_grad():
        assert torch.equal(loaded(input_ids=ids, attention_mask=mask).logits,
                           model(input_ids=ids, attention_mask=mask).logits)


def test_dropping_twice_or_out_of_range_is_an_error():
    model = drop_attention(tiny_model("llama"), [1])
    with pytest.raises(ValueError, match="already dropped"):
        drop_attention(model, [1])
    with pytest.raises(IndexError, match="out of range"):
        drop_attention(model, [4])
    with pytest.raises(ValueError, match="duplicate"):
        drop_attention(model, [2, 2])
    drop_attention(model, [3])
    assert model.config.dropped_attention_layers == [1, 3]


def test_unsupported_architecture_is_named():
    class NoAttention(torch.nn.Module):
        config = type("C", (), {"model_type": "mystery", "num_hidden_layers": 2})()

        def __init__(self):
            super().__init__()
            self.blocks = torch.nn.ModuleList([torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)])

    with pytest.raises(NotImplementedError, match="mystery"):
        drop_attention(NoAttention(), [0])


def texts():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(40)]
    return [" ".join(rng.choice(words, size=rng.integers(3, 15))) for _ in range(6)]


class WordTokenizer:
    """A minimal tokenizer (word -> id) so importance runs on tiny models without downloads."""

    padding_side = "right"

    def __call__(self, batch, return_tensors, padding, truncation, max_length):
        ids = [[1 + int(w[1:]) % (VOCAB - 2) for w in t.split()][:max_length] for t in batch]
        width = max(map(len, ids))
        pad = [row + [0] * (width - len(row)) for row in ids]
        mask = [[1] * len(row) + [0] * (width - len(row)) for row in ids]

        class Enc(dict):
            def to(self, device):
                return self

        return Enc(input_ids=torch.tensor(pad), attention_mask=torch.tensor(mask))


def manual_importance(model, text_batch):
    """Independent reference: run each text alone (no padding) and compare residual streams by hand."""
    tok = WordTokenizer()
    layers = decoder_layers(model)
    out = np.zeros(len(layers))
    count = 0
    for text in text_batch:
        enc = tok([text], return_tensors="pt", padding=True, truncation=True, max_length=256)
        with torch.no_grad():
            hs = model(**enc, output_hidden_states=True, use_cache=False).hidden_states
        for i in range(len(layers)):
            x = hs[i][0]
            # Y = X + attention branch, recomputed from the layer's own modules via a hook
            captured = {}

            def keep(_m, _a, o, c=captured):
                c["a"] = o[0]

            h = attention_module(layers[i]).register_forward_hook(keep)
            with torch.no_grad():
                model(**enc, use_cache=False)
            h.remove()
            branch = captured["a"][0]
            norm = getattr(layers[i], "post_attention_layernorm", None)
            if hasattr(layers[i], "pre_feedforward_layernorm"):
                branch = norm(branch)
            y = x + branch
            cos = torch.nn.functional.cosine_similarity(x, y, dim=-1)
            out[i] += (1 - cos).clamp_min(0).sum().item()
        count += enc["attention_mask"].sum().item()
    return out / count


@pytest.mark.parametrize("arch", ["llama", "gemma3_text", "gpt2", "gpt_neox"])
def test_importance_matches_unbatched_reference(arch):
    model = tiny_model(arch)
    ones = torch.ones(1, 2, dtype=torch.long)
    model(ones, output_hidden_states=True, output_attentions=True)  # transformers adds its own hooks

    def n_hooks():
        return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())

    hooks = n_hooks()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    scores = attention_importance(model, WordTokenizer(), texts(), batch_size=4)
    np.testing.assert_allclose(scores, manual_importance(model, texts()), rtol=1e-4, atol=1e-6)
    assert all(np.isfinite(scores)) and min(scores) >= 0
    assert scores == attention_importance(model, WordTokenizer(), texts(), batch_size=4)
    # model unchanged and hooks removed
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert n_hooks() == hooks


def test_importance_of_dropped_layer_is_zero():
    model = drop_attention(tiny_model("llama"), [2])
    scores = attention_importance(model, WordTokenizer(), texts())
    assert scores[2] < 1e-6 < min(scores[:2] + scores[3:])  # cos(X, X) = 1 up to rounding


def test_ratio_to_count():
    assert [n_to_drop(30, r) for r in (0, 1 / 6, 1 / 3, 0.5)] == [0, 5, 10, 15]
    assert [n_to_drop(18, r) for r in (1 / 6, 1 / 3, 0.5)] == [3, 6, 9]
    assert n_to_drop(24, 0.3) == 7  # floor, never more than asked
    for bad in (-0.1, 1.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="ratio"):
            n_to_drop(10, bad)


def test_select_layers_criteria():
    scores = [0.5, 0.1, 0.3, 0.05, 0.2, 0.4]
    assert select_layers(scores, 0.5, "similarity") == [1, 3, 4]
    assert select_layers(scores, 0.5, "last") == [3, 4, 5]
    r = select_layers(scores, 0.5, "random", seed=3)
    assert r == select_layers(scores, 0.5, "random", seed=3) and len(r) == 3
    assert {tuple(select_layers(scores, 0.5, "random", seed=s)) for s in range(10)} != {tuple(r)}
    assert select_layers(n_layers(tiny_model("llama")), 0.5, "last") == [2, 3]
    assert set(CRITERIA) >= {"similarity", "last", "random"}
    with pytest.raises(ValueError, match="unknown criterion"):
        select_layers(scores, 0.5, "magic")
    with pytest.raises(ValueError, match="ranks per-layer scores"):
        select_layers(4, 0.5, "similarity")
    with pytest.raises(ValueError, match="finite"):
        select_layers([0.1, float("nan")], 0.5, "similarity")
