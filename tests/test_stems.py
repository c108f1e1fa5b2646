"""Body stems against forwards that run every token (an independent full-prompt forward, no cache)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_attribution import EXAMPLES, TASK, run
from test_faithfulness import evaluate
from tiny_models import CONFIGS, TinyTokenizer, tiny_model
from transformers import AutoConfig, AutoModelForCausalLM

import helpers.scoring as scoring
from helpers import depth_reuse, pruning, stems
from helpers.scoring import body_logits, build_prompt, encode_bodies


def _model(arch: str):
    if arch == "gemma3_wide":  # sliding layers whose window the toy prompts never reach
        config = AutoConfig.for_model("gemma3_text", **{**CONFIGS["gemma3_text"],
                                                         "sliding_window": 100})
        torch.manual_seed(0)
        return AutoModelForCausalLM.from_config(config, attn_implementation="eager").eval()
    return tiny_model(arch)


def _cut(bodies: list[list[int]]) -> tuple[list[list[int]], list[int]]:
    """Every body with one token deleted, with two deleted, and the body itself; their sources."""
    rows, sources = [], []
    for i, b in enumerate(bodies):
        cuts = [b] + [b[:p] + b[p + 1:] for p in range(len(b))] + [b[:p] + b[p + 2:]
                                                                     for p in range(len(b) - 1)]
        for r in cuts:
            rows.append(r)
            sources.append(i)
    return rows, sources


def _reference(model, prompt, rows) -> np.ndarray:
    """Label-set logits of each row run whole: prefix + row + suffix, one at a time, no cache."""
    out = []
    for r in rows:
        ids = torch.tensor([list(prompt.prefix_ids) + list(r) + list(prompt.suffix_ids)])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, -1]
        out.append(logits[list(prompt.label_ids)].numpy())
    return np.array(out)


def _tokens_run(monkeypatch) -> list[int]:
    seen: list[int] = []
    real = scoring.rows_to_batch

    def counting(rows, pad, device):
        seen.append(sum(len(r) for r in rows))
        return real(rows, pad, device)

    monkeypatch.setattr(scoring, "rows_to_batch", counting)
    return seen


@pytest.mark.parametrize("arch", ["llama", "qwen3", "gemma3_wide", "gpt2", "opt"])
def test_stemmed_rows_match_whole_forwards_and_run_fewer_tokens(arch, monkeypatch):
    model, tok = _model(arch), TinyTokenizer()
    attrs = run(model, tok, "input_x_gradient", keep_states=True)
    assert all(a.states is not None for a in attrs)
    prompt = build_prompt(tok, TASK, demos=[])
    bodies = encode_bodies(tok, TASK, EXAMPLES)
    rows, sources = _cut(bodies)
    given = [(bodies[i], attrs[i].states) for i in sources]
    ran = _tokens_run(monkeypatch)
    stemmed = body_logits(model, tok, prompt, rows, batch_size=5, progress=False, stems=given)
    suffix = len(prompt.suffix_ids)
    assert sum(ran) < sum(len(r) + suffix for r in rows) * 0.8  # the stems were used
    np.testing.assert_allclose(stemmed, _reference(model, prompt, rows), rtol=0, atol=2e-5)


def test_a_window_the_prompt_can_reach_turns_stems_off_and_stays_exact(monkeypatch):
    model, tok = tiny_model("gemma3_text"), TinyTokenizer()  # 16-token sliding window
    attrs = run(model, tok, "input_x_gradient", keep_states=True)
    prompt = build_prompt(tok, TASK, demos=[])
    bodies = encode_bodies(tok, TASK, EXAMPLES)
    rows, sources = _cut(bodies)
    given = [(bodies[i], a.states) if a.states is not None else None
             for i, a in ((i, attrs[i]) for i in sources)]
    ran = _tokens_run(monkeypatch)
    out = body_logits(model, tok, prompt, rows, batch_size=5, progress=False, stems=given)
    assert sum(ran) == sum(len(r) + len(prompt.suffix_ids) for r in rows)
    np.testing.assert_allclose(out, _reference(model, prompt, rows), rtol=0, atol=2e-5)


@pytest.mark.parametrize("method", ["lrp", "input_x_gradient", "occlusion", "attention"])
def test_faithfulness_with_kept_states_equals_faithfulness_without(method, monkeypatch):
    model, tok = tiny_model("llama"), TinyTokenizer()
    kept = run(model, tok, method, keep_states=True)
    plain = run(model, tok, method)
    assert all(a.states is None for a in plain)
    ran = _tokens_run(monkeypatch)
    with_stems = evaluate(model, tok, kept, recorded_full=True)
    fewer = sum(ran)
    ran.clear()
    without = evaluate(model, tok, plain, recorded_full=True)
    assert fewer < sum(ran)
    np.testing.assert_allclose(with_stems.p_without, without.p_without, rtol=0, atol=1e-5)
    np.testing.assert_allclose(with_stems.p_only, without.p_only, rtol=0, atol=1e-5)


def test_a_pruned_model_reusing_depth_on_stemmed_rows_matches_its_whole_forwards():
    model, tok = tiny_model("llama"), TinyTokenizer()
    prompt = build_prompt(tok, TASK, demos=[])
    bodies = encode_bodies(tok, TASK, EXAMPLES)
    rows, sources = _cut(bodies)
    store = depth_reuse.enable(model)
    try:
        full = run(model, tok, "input_x_gradient", keep_states=True)
        body_logits(model, tok, prompt, rows, batch_size=4, progress=False, share=True,
                    stems=[(bodies[i], full[i].states) for i in sources])
        with pruning.attention_dropped(model, [2, 3]):
            pruned = run(model, tok, "input_x_gradient", keep_states=True)
            reused = body_logits(model, tok, prompt, rows, batch_size=4, progress=False,
                                 stems=[(bodies[i], pruned[i].states) for i in sources])
            assert store.hits > 0 and store.layers_skipped > 0
            depth_reuse.disable(model)
            reference = _reference(model, prompt, rows)
        np.testing.assert_allclose(reused, reference, rtol=0, atol=2e-5)
    finally:
        depth_reuse.disable(model)


def test_shared_length_leaves_a_token_to_run():
    assert stems.shared_length([5, 6, 7], [5, 6, 8, 9], suffix_length=2) == 2
    assert stems.shared_length([5, 6], [5, 6, 8], suffix_length=2) == 2  # the suffix runs
    assert stems.shared_length([5, 6], [5, 6, 8], suffix_length=0) == 1  # no suffix: keep one
    assert stems.shared_length([], [5], suffix_length=3) == 0
    assert stems.shared_length([], [5], suffix_length=0) == 0  # nothing to run: no stem either
    assert stems.shared_length([9, 5], [5, 9], suffix_length=1) == 0


def test_kept_states_stop_at_the_byte_budget(monkeypatch):
    import helpers.attribution as attribution

    model, tok = tiny_model("llama"), TinyTokenizer()
    monkeypatch.setattr(attribution, "STATES_MAX_BYTES", 1)  # spent by the first batch
    attrs = run(model, tok, "lrp", keep_states=True, batch_size=2)
    assert sum(a.states is not None for a in attrs) == 2


def test_occlusion_runs_each_deletion_from_the_deleted_token_and_matches_whole_forwards(
        monkeypatch):
    model, tok = tiny_model("llama"), TinyTokenizer()
    prompt = build_prompt(tok, TASK, demos=[])
    bodies = encode_bodies(tok, TASK, EXAMPLES)
    ran = _tokens_run(monkeypatch)
    attrs = run(model, tok, "occlusion")
    suffix = len(prompt.suffix_ids)
    whole = sum(len(b) + suffix for b in bodies) + sum(len(b) * (len(b) - 1 + suffix)
                                                        for b in bodies)
    assert sum(ran) < 0.85 * whole
    for a, b in zip(attrs, bodies, strict=True):
        deleted = [b[:p] + b[p + 1:] for p in range(len(b))]
        ref = _reference(model, prompt, [b, *deleted])
        logp = ref - np.log(np.exp(ref).sum(axis=1, keepdims=True))
        np.testing.assert_allclose(a.scores, logp[0, a.target] - logp[1:, a.target],
                                   rtol=0, atol=2e-5)
