"""Depth reuse against the same pruned model run without it (an independent forward, no store)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_scoring import DEMOS, EXAMPLES, TASK
from tiny_models import TinyTokenizer, tiny_model

from helpers import depth_reuse, greedy, oracle, pruning
from helpers.scoring import body_logits, build_prompt, encode_bodies

DROP_SETS = [[3], [2, 3], [1], [0], [0, 2], [1, 3]]


def _rows(tok):
    return build_prompt(tok, TASK, demos=DEMOS), encode_bodies(tok, TASK, EXAMPLES)


def _plain(model, tok, layers):
    """The pruned model's logits with depth reuse off (its store set aside, then put back)."""
    prompt, bodies = _rows(tok)
    store = depth_reuse._stores.pop(model, None)
    try:
        with pruning.attention_dropped(model, layers):
            return body_logits(model, tok, prompt, bodies, batch_size=3, progress=False)
    finally:
        if store is not None:
            depth_reuse._stores[model] = store


def _warmed(arch: str, batch_size: int, **store_kw):
    """A tiny model with depth reuse on, after its full model scored (and stored) the toy rows."""
    model, tok = tiny_model(arch), TinyTokenizer()
    prompt, bodies = _rows(tok)
    store = depth_reuse.enable(model, **store_kw)
    body_logits(model, tok, prompt, bodies, batch_size=batch_size, progress=False, share=True)
    return model, tok, prompt, bodies, store


@pytest.mark.parametrize("arch", ["llama", "gemma3_text", "qwen3", "gpt2", "opt"])
def test_pruned_variants_reusing_depth_match_plain_forwards(arch):
    model, tok = tiny_model(arch), TinyTokenizer()
    prompt, bodies = _rows(tok)
    store = depth_reuse.enable(model)
    try:
        body_logits(model, tok, prompt, bodies, batch_size=3, progress=False, share=True)
        assert len(store) > 0
        for layers in DROP_SETS:
            with pruning.attention_dropped(model, layers):
                reused = body_logits(model, tok, prompt, bodies, batch_size=3, progress=False,
                                     share=True)
            np.testing.assert_allclose(reused, _plain(model, tok, layers), rtol=0, atol=1e-6)
        # every batch of [3] and [1, 3] starts above layer 2 (stored by the full model / by [1])
        assert store.hits > 0 and store.layers_skipped >= 3 * 3
    finally:
        depth_reuse.disable(model)


def test_full_model_repeating_the_same_rows_skips_every_layer():
    model, tok = tiny_model("llama"), TinyTokenizer()
    prompt, bodies = _rows(tok)
    store = depth_reuse.enable(model)
    first = body_logits(model, tok, prompt, bodies, batch_size=4, progress=False, share=True)
    hits = store.hits
    again = body_logits(model, tok, prompt, bodies, batch_size=4, progress=False)
    np.testing.assert_array_equal(first, again)
    assert store.hits - hits == 2  # both batches, all 4 layers each
    depth_reuse.disable(model)


def test_other_prefix_or_unshared_rows_are_computed_in_full():
    model, tok, prompt, bodies, store = _warmed("llama", 4)
    other = build_prompt(tok, TASK, demos=DEMOS[::-1])
    hits = store.hits
    with pruning.attention_dropped(model, [3]):
        got = body_logits(model, tok, other, bodies, batch_size=4, progress=False)
        changed = body_logits(model, tok, prompt, [b + [5] for b in bodies], batch_size=4,
                              progress=False)
    assert store.hits == hits
    depth_reuse.disable(model)
    with pruning.attention_dropped(model, [3]):
        np.testing.assert_array_equal(got, body_logits(model, tok, other, bodies, batch_size=4,
                                                       progress=False))
        np.testing.assert_array_equal(changed, body_logits(
            model, tok, prompt, [b + [5] for b in bodies], batch_size=4, progress=False))


def test_a_store_smaller_than_one_batch_keeps_results_exact():
    model, tok, prompt, bodies, store = _warmed("gemma3_text", 3, max_bytes=2_000)
    assert store.bytes <= 2_000
    with pruning.attention_dropped(model, [2, 3]):
        got = body_logits(model, tok, prompt, bodies, batch_size=3, progress=False, share=True)
    np.testing.assert_allclose(got, _plain(model, tok, [2, 3]), rtol=0, atol=1e-6)
    depth_reuse.disable(model)


def test_layers_are_restored_and_a_wrapper_already_there_is_kept():
    model, tok = tiny_model("llama"), TinyTokenizer()
    prompt, bodies = _rows(tok)
    blocks = pruning.decoder_layers(model)
    calls = []
    original = blocks[0].forward

    def wrapper(*args, **kwargs):  # as accelerate's offloading hooks install one
        calls.append(1)
        return original(*args, **kwargs)

    blocks[0].forward = wrapper
    depth_reuse.enable(model)
    body_logits(model, tok, prompt, bodies, batch_size=8, progress=False, share=True)
    with pruning.attention_dropped(model, [3]):
        body_logits(model, tok, prompt, bodies, batch_size=8, progress=False)
    assert blocks[0].__dict__["forward"] is wrapper
    assert "forward" not in blocks[1].__dict__ and "forward" not in blocks[2].__dict__
    assert not any(b._forward_hooks for b in blocks)
    depth_reuse.disable(model)


def test_layers_returning_tuples_are_never_skipped():
    model, tok, prompt, bodies, store = _warmed("falcon", 4)
    assert not store.supported and len(store) == 0
    with pruning.attention_dropped(model, [3]):
        got = body_logits(model, tok, prompt, bodies, batch_size=4, progress=False)
    np.testing.assert_allclose(got, _plain(model, tok, [3]), rtol=0, atol=1e-6)
    depth_reuse.disable(model)


def test_greedy_search_and_oracle_agree_with_and_without_reuse():
    model, tok = tiny_model("llama", seed=3), TinyTokenizer()
    kw = dict(shots=0, progress=False, batch_size=4)
    plain = greedy.greedy_kl_order(model, tok, TASK, EXAMPLES, steps=2, **kw)
    plain_oracle = oracle.ablation_deltas(model, tok, TASK, EXAMPLES, **kw)
    store = depth_reuse.enable(model)
    reused = greedy.greedy_kl_order(model, tok, TASK, EXAMPLES, steps=2, **kw)
    reused_oracle = oracle.ablation_deltas(model, tok, TASK, EXAMPLES, **kw)
    assert store.hits > 0
    depth_reuse.disable(model)
    assert reused["order"] == plain["order"]
    np.testing.assert_allclose(np.array(reused["kl"]), np.array(plain["kl"]), rtol=0, atol=1e-9)
    np.testing.assert_allclose(reused_oracle, plain_oracle, rtol=0, atol=1e-6)


def test_store_bounds_and_validation():
    from helpers.depth_reuse import _Batch

    def batch(key, first=0):
        out = [torch.zeros(1, 2, 5)]  # 40 bytes
        return _Batch(frozenset(), first, out, [key], 40)

    store = depth_reuse.DepthStore(max_bytes=100)
    store.put(batch(("a",)))
    store.put(batch(("b",)))
    assert store.best(("a",), frozenset(), 1)[0] == 0
    store.states(0, 0, 0, 2)  # a is now the most recent
    store.put(batch(("c",)))  # b goes
    assert store.best(("b",), frozenset(), 1)[0] == -1 and store.bytes == 80
    assert store.best(("a",), frozenset(), 1)[0] == 0
    assert store.best(("a",), frozenset({0}), 1)[0] == -1  # layer 0 dropped: nothing shared
    with pytest.raises(ValueError, match="max_bytes"):
        depth_reuse.DepthStore(-1)


def test_rows_seen_before_start_deep_and_new_rows_are_computed_in_full():
    model, tok = tiny_model("qwen3"), TinyTokenizer()
    prompt, bodies = _rows(tok)
    seen, new = bodies[:4], [b + [7] for b in bodies] + bodies[4:]
    store = depth_reuse.enable(model)
    body_logits(model, tok, prompt, seen, batch_size=3, progress=False, share=True)
    with pruning.attention_dropped(model, [2]):
        rows = [list(b) + list(prompt.suffix_ids) for b in seen + new]  # as body_logits keys them
        assert depth_reuse.start_layers(model, prompt.prefix_ids, rows) == (
            [1] * len(seen) + [-1] * len(new))
        got = body_logits(model, tok, prompt, seen + new, batch_size=3, progress=False)
    assert store.hits == 2  # the four seen rows: two batches of their own, from layer 2 on
    depth_reuse._stores.pop(model)
    with pruning.attention_dropped(model, [2]):
        plain = body_logits(model, tok, prompt, seen + new, batch_size=3, progress=False)
    np.testing.assert_allclose(got, plain, rtol=0, atol=1e-6)
