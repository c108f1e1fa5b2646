"""Pruning criteria, the ablation oracle and their stored units, on planted tiny models against
independent references (full-sequence forwards of deep copies, no prefix cache, brute force over
layer subsets), and the keys of their units (built without computing anything)."""

from __future__ import annotations

import copy
import itertools
from dataclasses import replace

import numpy as np
import pytest
import torch
from tiny_models import TinyTokenizer, serve_tiny_models, tiny_model

from helpers import criteria, greedy, lrp, pruning, readouts
from helpers.chapters import Requests
from helpers.configs import Config
from helpers.oracle import ablation_deltas
from helpers.profiles import chapter_parameters
from helpers.scoring import build_prompt, encode_bodies
from helpers.tasks import Example, Task
from helpers.workload import ChapterRun

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
    order = criteria.drop_order("relevance", 4, scores)
    assert order[-1] == 2 and order[:2] == [0, 3]  # dead first, then the faint, the live one last
    assert criteria.select_layers(scores, 0.75, "relevance") == [0, 1, 3]
    deltas = ablation_deltas(model, tok, TASK, ex, shots=0, progress=False)
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

    assert spearman_rows(readouts.keep_rank(order), mean)[0] > 0.9


def test_criteria_that_rank_scores_refuse_to_rank_without_them():
    for name in ("similarity", "relevance", "greedy_kl"):
        with pytest.raises(ValueError, match="ranks per-layer scores"):
            criteria.select_layers(4, 0.5, name)
    assert criteria.select_layers(4, 0.5, "last") == [2, 3]
    assert criteria.select_layers(30, 1 / 3, "last") == list(range(20, 30))  # floor(10.0)


# --- greedy KL -------------------------------------------------------------------------------------


def test_greedy_kl_drops_what_changes_nothing_first_like_brute_force():
    tok = TinyTokenizer()
    model = tiny_model("llama", seed=1)
    with torch.no_grad():  # layers 0 and 2 write nothing: dropping them changes nothing
        for i in (0, 2):
            model.model.layers[i].self_attn.o_proj.weight.zero_()
    ex = examples()
    got = greedy.greedy_kl_order(model, tok, TASK, ex, steps=2, shots=0, batch_size=4,
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
    got = greedy.greedy_kl_order(model, tok, TASK, ex, steps=2, shots=0, batch_size=4,
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
    brute = min(reference_kl(full, reference_logits(model, tok, ex, p))
                for p in itertools.combinations(range(4), 2))
    assert second[got["order"][1]] >= brute - 1e-9


# --- units: keyed by exactly what they depend on (no computation) ---------------------------------


def requests(**over) -> Requests:
    params = {"models": ["tiny0"], "tasks": ["mr"], "ratios": [0.0, 0.5], "criteria": ["last"],
              "demo_seeds": [0], "n_examples": 8, "n_calibration": 8, "shots": 1, "seed": 0,
              "importance_texts": 4, "importance_max_length": 32, "greedy_examples": 32,
              "results_dir": "results", "device": "cpu", **over}
    return Requests(params)


def test_layer_score_units_are_keyed_by_what_they_depend_on(monkeypatch):
    serve_tiny_models(monkeypatch, lambda name: planted())
    r = requests()
    base = Config(model="tiny0", task="mr", n_examples=8, n_calibration=8, shots=1)

    def ids(cfgs, req=r):
        return [req.layer_scores(c).id for c in cfgs]

    g = replace(base, criterion="greedy_kl")
    changed = [g, replace(g, shots=2), replace(g, demo_seed=1), replace(g, seed=1),
               replace(g, n_calibration=6), replace(g, task="amazon"), replace(g, model="tiny1"),
               replace(g, ratio=0.75)]  # deeper than the search cap (0.5): a longer search
    assert len(set(ids(changed))) == len(changed)
    same = [replace(g, ratio=0.25), replace(g, n_examples=4), replace(g, criterion_seed=5),
            replace(g, importance_source="task"), replace(g, n_calibration=100)]
    assert set(ids(same[:4])) == {r.layer_scores(g).id}
    assert r.layer_scores(same[4]).id != r.layer_scores(g).id  # 8 -> min(100, 32) examples
    rel = replace(base, criterion="relevance")
    changed = [rel, replace(rel, importance_source="task"), replace(rel, model="tiny1"),
               replace(rel, importance_source="amazon")]
    assert len(set(ids(changed))) == len(changed)
    assert r.layer_scores(rel).id != requests(importance_texts=2).layer_scores(rel).id
    # texts do not depend on the task's prompt, the sample or the ratio
    same = [replace(rel, demo_seed=1), replace(rel, shots=2), replace(rel, task="amazon"),
            replace(rel, seed=4), replace(rel, n_calibration=4), replace(rel, ratio=0.5)]
    assert set(ids(same)) == {r.layer_scores(rel).id}
    assert r.layer_scores(replace(base, criterion="last")) is None


def test_oracle_and_scores_units_are_keyed_by_what_they_depend_on(monkeypatch):
    serve_tiny_models(monkeypatch, lambda name: planted())
    r = requests()
    base = Config(model="tiny0", task="mr", n_examples=8, n_calibration=8, shots=1)
    changed = [base, replace(base, n_calibration=6), replace(base, seed=1),
               replace(base, demo_seed=1), replace(base, shots=2)]
    assert len({r.oracle(c).id for c in changed}) == len(changed)
    same = [replace(base, criterion="last", ratio=0.5), replace(base, n_examples=4)]
    assert {r.oracle(c).id for c in same} == {r.oracle(base).id}
    # the unpruned model is one unit whatever the criterion; a seed counts only for `random`
    full = [replace(base, criterion=c) for c in criteria.CRITERIA]
    assert len({r.scores(c).id for c in full}) == 1
    last = replace(base, criterion="last", ratio=0.5)
    assert r.scores(replace(last, criterion_seed=3)).id == r.scores(last).id
    rnd = replace(last, criterion="random")
    assert r.scores(replace(rnd, criterion_seed=3)).id != r.scores(rnd).id
    # a pruned configuration depends on its criterion's scores: their options key it too
    sim = replace(last, criterion="similarity")
    assert r.scores(sim).id != requests(importance_texts=2).scores(sim).id
    assert r.scores(last).id == requests(importance_texts=2).scores(last).id


# --- computed through the store on the planted model ------------------------------------------------


@pytest.fixture
def planted_run(tmp_path, monkeypatch):
    serve_tiny_models(monkeypatch, lambda name: planted(seed=int(name[-1])))
    # He et al. importance batches texts through a real tokenizer: fixed scores stand in for it
    import helpers.importance

    monkeypatch.setattr(helpers.importance, "attention_importance",
                        lambda *a, **kw: [0.3, 0.1, 0.4, 0.2])
    params = chapter_parameters({}, "01_pruning_method", {
        "models": ["tiny0"], "tasks": ["mr"], "ratios": [0.0, 0.25, 0.5],
        "criteria": ["similarity", "last", "random", "relevance", "greedy_kl"],
        "criterion_seeds": [0, 1], "n_examples": 8, "n_calibration": 8, "n_faithfulness": 0,
        "demo_seeds": [0], "importance_texts": 4, "importance_max_length": 32,
        "greedy_examples": 4, "device": "cpu", "batch_size": 4, "results_dir": str(tmp_path),
        "n_resamples": 200})
    return ChapterRun("01_pruning_method", params)


def test_selected_layers_are_a_prefix_of_each_criterion_drop_order(planted_run):
    run = planted_run
    base = run.config("tiny0", "mr", criterion_seed=1)
    for name in ("similarity", "last", "random", "relevance", "greedy_kl"):
        cfg = replace(base, criterion=name)
        order = run.drop_order(cfg)
        assert sorted(order) == [0, 1, 2, 3]
        for ratio in (0.25, 0.5):
            assert run.layers(replace(cfg, ratio=ratio)) == sorted(order[: int(4 * ratio)]), name
            stored = run.scores(replace(cfg, ratio=ratio))["layers"]
            assert stored == run.layers(replace(cfg, ratio=ratio)), name
    # the planted model's relevance on texts: dead layers 0 and 3 first, the live layer 2 last
    order = run.drop_order(replace(base, criterion="relevance"))
    assert sorted(order[:2]) == [0, 3] and order[-1] == 2


def test_oracle_comparison_on_the_planted_model(planted_run):
    run = planted_run
    cfg = run.config("tiny0", "mr")
    frame = readouts.oracle_comparison(run, cfg, ["relevance", "last", "random"],
                                       criterion_seeds=[0, 1], n_resamples=200)
    assert list(frame.criterion) == ["relevance", "last", "random", "random", "random (mean)"]
    from helpers.stats import spearman_rows

    orc = run.oracle(cfg)
    np.testing.assert_allclose(np.asarray(orc["deltas"])[[0, 3]], 0.0, atol=1e-6)
    rank = readouts.keep_rank(run.drop_order(replace(cfg, criterion="relevance")))
    assert frame.spearman[0] == pytest.approx(spearman_rows(rank, orc["delta"])[0])
    seeds = frame[frame.criterion == "random"].spearman
    assert frame.spearman.iloc[-1] == pytest.approx(seeds.mean())
    ok = frame.dropna()
    assert ((ok.low <= ok.spearman + 1e-12) & (ok.spearman <= ok.high + 1e-12)).all()
    table = readouts.oracle_frame(run, cfg, ["relevance", "last"])
    assert list(table.columns[:4]) == ["layer", "oracle_delta_nll", "relevance", "last"]
