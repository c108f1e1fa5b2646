"""Criteria `relevance` and `greedy_kl` and the ablation oracle, on planted tiny models, against
independent references (full-sequence forwards of deep copies, no prefix cache, brute force over
layer subsets); and the store keys of their units."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import torch
from tiny_models import TinyTokenizer, tiny_model

from helpers import criteria, evaluation, lrp, pruning
from helpers.evaluation import Config, ModelPool
from helpers.results import ResultStore
from helpers.scoring import build_prompt, encode_bodies
from helpers.tasks import Example, Task

TASK = Task(name="toy", labels=("negative", "positive"), label_words=(" bad", " good"),
            instruction="Rate each text .", input_name="Text", answer_name="Answer",
            source="hand-written")
TEXTS = ["the film was great", "a long dull plot and weak acting", "fine", "great cast thin story",
         "not good at all", "superb"]


def planted(live: int = 2, faint: int | None = 1, seed: int = 0):
    """A tiny llama whose attention output is zero in every layer but `live` (and a faint `faint`)."""
    model = tiny_model("llama", seed=seed)
    with torch.no_grad():
        for i, layer in enumerate(model.model.layers):
            if i != live:
                layer.self_attn.o_proj.weight.zero_()
        if faint is not None:
            model.model.layers[faint].self_attn.o_proj.weight.normal_(0, 1e-4)
        model.model.layers[live].self_attn.o_proj.weight.mul_(8.0)  # the output hangs on it
    return model


@torch.no_grad()
def reference_logits(model, tok, examples, dropped=()) -> np.ndarray:
    """Label logits of a deep copy with `dropped` removed, one full forward per example, no cache."""
    copy_ = pruning.drop_attention(copy.deepcopy(model), list(dropped)) if dropped else model
    prompt = build_prompt(tok, TASK, shots=0)
    rows = []
    for body in encode_bodies(tok, TASK, examples):
        ids = torch.tensor([list(prompt.prefix_ids) + body + list(prompt.suffix_ids)])
        rows.append(copy_(input_ids=ids).logits[0, -1, list(prompt.label_ids)].double().numpy())
    return np.stack(rows)


def reference_kl(p: np.ndarray, q: np.ndarray) -> float:
    lp = torch.log_softmax(torch.tensor(p), -1)
    lq = torch.log_softmax(torch.tensor(q), -1)
    return float(torch.nn.functional.kl_div(lq, lp, log_target=True, reduction="batchmean"))


def examples(labels=None):
    labels = labels or [0] * len(TEXTS)
    return [Example(t, y, f"e{i}") for i, (t, y) in enumerate(zip(TEXTS, labels, strict=True))]


def supported_examples(model, tok, live: int):
    """The texts labelled with the label that the `live` layer pushes up (two labels: dropping it
    then raises each example's label NLL), from independent reference forwards."""
    push = reference_logits(model, tok, examples()) - reference_logits(model, tok, examples(), (live,))
    return examples(push.argmax(1).tolist())


# --- relevance and the oracle on a model whose output depends on one sub-layer only -----------------


def test_relevance_criterion_and_oracle_find_the_only_live_layer():
    tok, model = TinyTokenizer(), planted(live=2, faint=1)
    ex = supported_examples(model, tok, 2)
    scores = lrp.attention_relevance(model, tok, TASK, examples=ex, demos=[], progress=False)
    assert int(np.argmax(scores)) == 2
    order = pruning.CRITERIA["relevance"](4, scores, np.random.default_rng(0))
    assert order[-1] == 2 and order[:2] == [0, 3]  # dead first, then the faint, the live one last
    assert pruning.select_layers(scores, 0.75, "relevance") == [0, 1, 3]
    deltas = criteria.ablation_deltas(model, tok, TASK, ex, shots=0, progress=False)
    assert deltas.shape == (4, len(ex))
    np.testing.assert_allclose(deltas[[0, 3]], 0.0, atol=1e-6)  # dead layers: nothing changes
    assert abs(deltas[1]).max() < 1e-3  # faint
    mean = deltas.mean(axis=1)
    assert int(np.argmax(mean)) == 2 and mean[2] > 0.01 and (deltas[2] > 0).all()
    # against the independent reference: NLL of full-sequence forwards of a pruned copy
    y = [e.label for e in ex]
    nll = [-torch.log_softmax(torch.tensor(reference_logits(model, tok, ex, d)), -1).numpy()[
        np.arange(len(y)), y] for d in ((), (2,))]
    np.testing.assert_allclose(deltas[2], nll[1] - nll[0], atol=1e-5)
    # the criterion's ranking agrees with the oracle's (Spearman 1 up to the ties of dead layers)
    from helpers.stats import spearman_rows

    assert spearman_rows(criteria.keep_rank(order), mean)[0] > 0.9


def test_select_layers_refuses_relevance_and_greedy_without_scores():
    for name in ("relevance", "greedy_kl"):
        with pytest.raises(ValueError, match="needs per-layer scores"):
            pruning.select_layers(tiny_model("llama"), 0.5, name)


# --- greedy KL -------------------------------------------------------------------------------------


def test_greedy_kl_drops_what_changes_nothing_first_like_brute_force():
    tok = TinyTokenizer()
    model = tiny_model("llama", seed=1)
    with torch.no_grad():  # layers 0 and 2 write nothing: dropping them changes nothing
        for i in (0, 2):
            model.model.layers[i].self_attn.o_proj.weight.zero_()
    ex = examples()
    got = criteria.greedy_kl_order(model, tok, TASK, ex, steps=2, shots=0, batch_size=4,
                                   progress=False)
    assert sorted(got["order"]) == [0, 2]
    assert pruning.dropped_layers(model) == []  # restored
    full = reference_logits(model, tok, ex)
    brute = {pair: reference_kl(full, reference_logits(model, tok, ex, pair))
             for pair in itertools.combinations(range(4), 2)}
    best = min(brute, key=brute.get)
    assert best == (0, 2) and brute[best] < 1e-10
    assert min(v for k, v in brute.items() if k != best) > 1e-7  # the planted pair is the only one
    # every later layer is ranked after the two, and the scores are the positions
    assert got["ranking"][:2] == got["order"] and sorted(got["ranking"]) == [0, 1, 2, 3]
    assert [got["scores"][i] for i in got["ranking"]] == [0.0, 1.0, 2.0, 3.0]


def test_greedy_kl_recomputes_after_each_drop_against_a_reference():
    tok = TinyTokenizer()
    model = tiny_model("llama", seed=2)
    ex = examples()
    got = criteria.greedy_kl_order(model, tok, TASK, ex, steps=2, shots=0, batch_size=4,
                                   progress=False)
    full = reference_logits(model, tok, ex)
    first = [reference_kl(full, reference_logits(model, tok, ex, (i,))) for i in range(4)]
    np.testing.assert_allclose(got["kl"][0], first, rtol=1e-4, atol=1e-7)
    assert got["order"][0] == int(np.argmin(first))
    a = got["order"][0]
    second = [np.nan if i == a else reference_kl(full, reference_logits(model, tok, ex, (a, i)))
              for i in range(4)]
    np.testing.assert_allclose(got["kl"][1], second, rtol=1e-4, atol=1e-7)
    assert got["order"][1] == int(np.nanargmin(second))
    # greedy two steps never beat the brute-force best pair, and here match it or come close
    brute = min(reference_kl(full, reference_logits(model, tok, ex, p))
                for p in itertools.combinations(range(4), 2))
    assert second[got["order"][1]] >= brute - 1e-9


# --- the store: units, keys, and layers_to_drop as a prefix of drop_order -------------------------


@pytest.fixture
def store_pool(tmp_path, monkeypatch):
    monkeypatch.setattr(evaluation, "load_model",
                        lambda name, device: (planted(seed=int(name[-1])), TinyTokenizer()))
    monkeypatch.setattr(evaluation, "model_revision", lambda name: f"rev-{name}")
    return ResultStore(tmp_path), ModelPool("cpu", importance_texts=4, importance_max_length=32)


def test_layers_to_drop_is_a_prefix_of_drop_order_for_every_criterion(store_pool, monkeypatch):
    store, pool = store_pool
    # He et al. importance batches texts through a real tokenizer: fixed scores stand in for it
    monkeypatch.setattr(pruning, "attention_importance", lambda *a, **kw: [0.3, 0.1, 0.4, 0.2])
    base = Config(model="tiny0", task="mr", n_examples=8, n_calibration=8, shots=1)
    for name in ("similarity", "last", "random", "relevance", "greedy_kl"):
        cfg = replace_(base, criterion=name, criterion_seed=3)
        order = criteria.drop_order(store, pool, cfg)
        assert sorted(order) == [0, 1, 2, 3]
        for ratio in (0.25, 0.5):
            layers = evaluation.layers_to_drop(store, pool, replace_(cfg, ratio=ratio))
            assert layers == sorted(order[: pruning.n_to_drop(4, ratio)]), name
    # the planted model's relevance on texts: dead layers 0 and 3 first, the live layer 2 last
    order = criteria.drop_order(store, pool, replace_(base, criterion="relevance"))
    assert sorted(order[:2]) == [0, 3] and order[-1] == 2


def replace_(cfg: Config, **kw) -> Config:
    from dataclasses import replace

    return replace(cfg, **kw)


def test_units_are_keyed_by_what_they_depend_on(store_pool, monkeypatch):
    store, pool = store_pool
    calls = {"greedy": 0, "relevance": 0, "oracle": 0}

    def fake_greedy(model, tok, task, ex, *, steps, **kw):
        calls["greedy"] += 1
        return {"order": [], "ranking": [0, 1, 2, 3], "scores": [0.0, 1.0, 2.0, 3.0], "kl": []}

    def fake_relevance(*a, **kw):
        calls["relevance"] += 1
        return [0.25] * 4

    def fake_deltas(model, tok, task, ex, **kw):
        calls["oracle"] += 1
        return np.zeros((4, len(ex)))

    monkeypatch.setattr(criteria, "greedy_kl_order", fake_greedy)
    monkeypatch.setattr(lrp, "attention_relevance", fake_relevance)
    monkeypatch.setattr(criteria, "ablation_deltas", fake_deltas)
    base = Config(model="tiny0", task="mr", n_examples=8, n_calibration=8, shots=1)

    def count(kind, fn, cfgs):
        before = calls[kind]
        for c in cfgs:
            fn(store, pool, c)
        return calls[kind] - before

    g = replace_(base, criterion="greedy_kl")
    changed = [g, replace_(g, shots=2), replace_(g, demo_seed=1), replace_(g, seed=1),
               replace_(g, n_calibration=6), replace_(g, task="amazon"), replace_(g, model="tiny1"),
               replace_(g, ratio=0.75)]
    assert count("greedy", criteria.greedy_kl, changed) == len(changed)
    same = [replace_(g, ratio=0.25), replace_(g, n_examples=4), replace_(g, criterion_seed=5),
            replace_(g, importance_source="task"), replace_(g, n_calibration=100)]  # capped at 32?
    assert count("greedy", criteria.greedy_kl, same[:4]) == 0
    assert count("greedy", criteria.greedy_kl, same[4:]) == 1  # 8 -> min(100, 32) examples

    r = replace_(base, criterion="relevance")
    rt = replace_(r, importance_source="task")
    changed = [r, rt, replace_(rt, demo_seed=1), replace_(rt, shots=2), replace_(r, model="tiny1"),
               replace_(r, importance_source="amazon")]
    assert count("relevance", criteria.relevance, changed) == len(changed)
    # texts do not depend on the task's prompt; task prompts do not depend on the test sample
    same = [replace_(r, demo_seed=1), replace_(r, shots=2), replace_(r, task="amazon"),
            replace_(rt, seed=4), replace_(rt, n_calibration=4), replace_(rt, ratio=0.5)]
    assert count("relevance", criteria.relevance, same) == 0
    other = ModelPool("cpu", importance_texts=2, importance_max_length=32)
    before = calls["relevance"]
    criteria.relevance(store, other, r)
    assert calls["relevance"] == before + 1

    changed = [base, replace_(base, n_calibration=6), replace_(base, seed=1),
               replace_(base, demo_seed=1), replace_(base, shots=2)]
    assert count("oracle", criteria.oracle, changed) == len(changed)
    same = [replace_(base, criterion="last", ratio=0.5), replace_(base, n_examples=4)]
    assert count("oracle", criteria.oracle, same) == 0

    # the pool's cost caps pick the greedy order: they key its unit and every unit pruned by it
    g5 = replace_(g, ratio=0.25)
    key = evaluation._unit_params(pool, g5)["greedy"]
    criteria.set_greedy_options(pool, max_examples=4, max_ratio=0.25)
    assert evaluation._unit_params(pool, g5)["greedy"] != key
    assert count("greedy", criteria.greedy_kl, [g5]) == 1
    # a scores unit of a relevance configuration keeps its importance source; greedy_kl drops it
    assert Config("m", "mr", criterion="relevance", ratio=0.5,
                  importance_source="task").params()["importance_source"] == "task"
    with monkeypatch.context() as m:
        m.setattr(evaluation, "model_revision", lambda name: "r")
        assert Config("m", "mr", criterion="greedy_kl", ratio=0.5,
                      importance_source="task").params()["importance_source"] is None


def test_oracle_comparison_on_the_planted_model(store_pool):
    store, pool = store_pool
    cfg = Config(model="tiny0", task="mr", n_examples=8, n_calibration=8, shots=1)
    frame = criteria.oracle_comparison(store, pool, cfg, ["relevance", "last", "random"],
                                       criterion_seeds=[0, 1], n_resamples=200)
    assert list(frame.criterion) == ["relevance", "last", "random", "random", "random (mean)"]
    # mr labels are not planted: check the wiring against a direct computation instead of a sign
    from helpers.stats import spearman_rows

    orc = criteria.oracle(store, pool, cfg)
    np.testing.assert_allclose(np.asarray(orc["deltas"])[[0, 3]], 0.0, atol=1e-6)
    rank = criteria.keep_rank(criteria.drop_order(store, pool, replace_(cfg, criterion="relevance")))
    assert frame.spearman[0] == pytest.approx(spearman_rows(rank, orc["delta"])[0])
    seeds = frame[frame.criterion == "random"].spearman
    assert frame.spearman.iloc[-1] == pytest.approx(seeds.mean())
    ok = frame.dropna()
    assert ((ok.low <= ok.spearman + 1e-12) & (ok.spearman <= ok.high + 1e-12)).all()
    table = criteria.oracle_frame(store, pool, cfg, ["relevance", "random"], criterion_seeds=[0])
    assert list(table.columns[:4]) == ["layer", "oracle_delta_nll", "relevance", "random#0"]
