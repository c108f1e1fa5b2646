"""The benchmark runs end to end on a tiny model, writes valid JSON, and its FLOP model is right."""

from __future__ import annotations

import importlib
import json
import string
import sys
from pathlib import Path

import matplotlib
import pytest
import torch
from tiny_models import VOCAB, tiny_model

from helpers.pruning import drop_attention

matplotlib.use("Agg")

# bench/ sits at the repository root, which plain `pytest` (unlike `python -m pytest`) does not
# put on the import path
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
flops = importlib.import_module("bench.flops")
pruned = importlib.import_module("bench.pruned")
report = importlib.import_module("bench.report")
bench_run = importlib.import_module("bench.run")
notebooks = importlib.import_module("bench.notebooks")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """On a busy machine the OpenMP threads of tiny ops mostly wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_tokenizer():
    """A character-level fast tokenizer (lower-cased) whose ids fit the tiny models' vocabulary."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<unk>": 1, "<s>": 2, "▁": 3, "\n": 4}
    for c in string.ascii_lowercase + string.digits + string.punctuation:
        vocab[c] = len(vocab)
    merges = [("▁", c) for c in "abcdefghijklmnopqrst"]  # distinct first tokens for label words
    for a, b in merges:
        vocab[a + b] = len(vocab)
    assert len(vocab) <= VOCAB
    tk = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>"))
    tk.normalizer = normalizers.Sequence(
        [normalizers.NFKD(), normalizers.StripAccents(), normalizers.Lowercase()]
    )
    tk.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never")
    tk.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="never")
    return PreTrainedTokenizerFast(
        tokenizer_object=tk, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
        eos_token="<s>",
    )


def tiny_loader(name, device):
    return tiny_model("llama").to(device), tiny_tokenizer()


# --- the FLOP model ------------------------------------------------------------------------------

# tiny llama: hidden 32, 4 layers, 4 heads of 8, 2 kv heads, MLP 48 (gated), vocab 96
# one row of 10 tokens, logits everywhere; a multiply-add is 2 FLOPs:
#   q 2*10*32*32 = 20480, k 2*10*32*16 = 10240, v 10240, o 20480     -> projections 61440
#   scores 2*10*10*8*4 = 6400, weights x values 6400                 -> 12800
#   MLP gate, up, down 3 * 2*10*32*48                                 -> 92160
#   per layer 166400, 4 layers 665600; LM head 2*10*32*96 = 61440     -> total 727040
HAND_COUNT = 727040
HAND_DROPPED_0_2 = HAND_COUNT - 2 * (61440 + 12800)


def test_flop_model_matches_hand_count():
    dims = flops.dims_from_config(tiny_model("llama").config)
    assert (dims.heads, dims.kv_heads, dims.head_dim, dims.gated_mlp) == (4, 2, 8, True)
    parts = flops.forward_flops(dims, batch=1, n_tokens=10)
    assert parts["attention_projections"] == 4 * 61440
    assert parts["attention_scores"] == 4 * 12800
    assert parts["mlp"] == 4 * 92160
    assert parts["lm_head"] == 61440
    assert parts["total"] == HAND_COUNT
    assert flops.forward_flops(dims, batch=1, n_tokens=10, n_dropped=2)["total"] == HAND_DROPPED_0_2
    assert flops.forward_flops(dims, batch=3, n_tokens=10)["total"] == 3 * HAND_COUNT
    # logits at the last position only
    assert flops.prefill_flops(dims, batch=1, seq=10) == HAND_COUNT - 61440 + 2 * 32 * 96


def test_generation_flops_sum_steps():
    dims = flops.dims_from_config(tiny_model("llama").config)
    step = flops.forward_flops(dims, batch=2, n_tokens=1, kv_len=7)["total"]
    assert flops.generation_flops(dims, batch=2, prompt=6, new_tokens=2) == (
        flops.prefill_flops(dims, batch=2, seq=6) + step
    )


@pytest.mark.parametrize("dropped", [[], [0, 2]])
def test_flop_model_matches_flop_counter(dropped):
    model = drop_attention(tiny_model("llama"), dropped)  # eager attention: scores are matmuls
    dims = flops.dims_from_config(model.config)
    ids = torch.randint(0, VOCAB, (2, 10))
    with torch.inference_mode():
        counted = flops.counted_flops(lambda: model(input_ids=ids, use_cache=False))
        last = flops.counted_flops(lambda: model(input_ids=ids, use_cache=False, logits_to_keep=1))
    n = len(dropped)
    assert counted == flops.forward_flops(dims, batch=2, n_tokens=10, n_dropped=n)["total"]
    assert last == flops.prefill_flops(dims, batch=2, seq=10, n_dropped=n)


def test_two_matrix_mlp():
    dims = flops.dims_from_config(tiny_model("gpt2").config)
    assert not dims.gated_mlp and dims.intermediate == 4 * 32 and dims.kv_heads == 4
    model = tiny_model("gpt2")
    ids = torch.randint(0, VOCAB, (1, 6))
    with torch.inference_mode():
        counted = flops.counted_flops(lambda: model(input_ids=ids, use_cache=False))
    assert counted == flops.forward_flops(dims, batch=1, n_tokens=6)["total"]


# --- end to end ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "results.json"
    texts = ["the quick brown fox jumps over the lazy dog"] * 3
    argv = ["--quick", "--device", "cpu", "--threads", "1", "--out", str(out),
            "--models", "tiny-a,tiny-b", "--ratios", "0,1/4,1/2", "--prefill-seq", "16",
            "--gen-new-tokens", "3", "--lp-n", "4", "--lp-batch-sizes", "1,4",
            "--attr-n", "2", "--ig-steps", "2", "--shots", "0",
            "--timings", str(out.parent / "missing-timings.json")]
    threads = torch.get_num_threads()
    res = bench_run.run(argv, loader=tiny_loader, texts=texts, log=lambda _msg: None)
    assert torch.get_num_threads() == threads  # restored
    return out, res


def test_end_to_end_writes_valid_json(results):
    out, res = results
    data = json.loads(out.read_text())
    assert data == json.loads(json.dumps(data))
    assert data["schema_version"] == 1
    meta = data["meta"]
    for key in ("device_name", "device_type", "torch", "transformers", "torch_threads", "date"):
        assert meta["environment"][key] is not None
    assert "bench.run" in meta["command"] and "--quick" in meta["command"]
    assert not list(out.parent.glob(".*.tmp"))  # temp files renamed away
    models = data["pruning"]["models"]
    assert set(models) == {"tiny-a", "tiny-b"}, models
    rows = models["tiny-a"]["rows"]
    assert [r["ratio"] for r in rows] == [0.0, 0.25, 0.5]
    assert [r["n_dropped"] for r in rows] == [0, 1, 2]
    assert rows[0]["speedup"]["prefill_measured"] == pytest.approx(1.0)
    assert rows[0]["speedup"]["prefill_predicted"] == 1.0
    assert rows[2]["speedup"]["prefill_predicted"] > rows[1]["speedup"]["prefill_predicted"] > 1
    assert rows[2]["params"] < rows[0]["params"]
    assert rows[2]["param_bytes"] == 4 * rows[2]["params"]
    for r in rows:
        assert r["prefill"]["median_s"] > 0 and r["generation"]["tokens_per_s"] > 0
        # eager tiny model: FlopCounterMode sees exactly what the analytic model predicts
        assert r["prefill"]["counted_flops"] == r["flops"]["prefill"]
        assert r["flops"]["counted_matches"] == "total"
    lp = data["label_probs"]
    assert lp["status"] == "ok" and [r["batch_size"] for r in lp["rows"]] == [1, 4]
    assert lp["rows"][1]["max_abs_diff_vs_first"] < 1e-4
    assert data["notebooks"]["status"] == "not run"
    attr = data["attribution"]
    assert attr["status"] in ("ok", "skipped"), attr
    if attr["status"] == "ok":
        for method, row in attr["methods"].items():
            agree = row["agreement"]
            assert agree["same_target"] == 1.0, method
            assert agree["max_rel_diff"] < 1e-3, (method, agree)
            assert agree["max_comprehensiveness_diff"] < 1e-5, (method, agree)
            assert agree["max_sufficiency_diff"] < 1e-5, (method, agree)


def test_tables_and_plot(results):
    out, _ = results
    data = json.loads(out.read_text())
    t = report.tables(data)
    assert len(t["pruning"]) == 6 and len(t["label_probs"]) == 2
    assert list(t["notebooks"]["wall time (s)"].unique()) in ([], ["not run"])
    md = report.markdown(data)
    assert "| model | ratio |" in md and "Notebook wall times" in md
    ax = report.plot_speedup(data)
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    assert len(ax.get_legend().get_texts()) == 4  # two models, measured and predicted
    matplotlib.pyplot.close(ax.figure)


def test_sequential_mode_and_clean_generation():
    model, tok = tiny_loader("tiny", "cpu")
    model.generation_config.repetition_penalty = 5.0  # must not leak into the benchmark
    s = pruned.PruningSettings(ratios=(0.5,), prefill_batch=1, prefill_seq=8, gen_prompt=4,
                               gen_new_tokens=3, repeats=2, warmup=0, interleave=False)
    res = pruned.bench_model(model, tok, s, texts=["a b c d"], log=lambda _m: None)
    assert [r["n_dropped"] for r in res["rows"]] == [0, 2]
    assert all(len(r["prefill"]["times_s"]) == 2 for r in res["rows"])
    assert model.generation_config.repetition_penalty == 5.0  # restored
    with torch.inference_mode():
        got = pruned.generation_call(model, tok, s)()[0, 4:]
        ids = pruned.random_ids(VOCAB, 1, 4, torch.device("cpu"), seed=1)  # its prompt: seed + 1
        for _ in range(3):  # plain greedy decoding by hand; min_new_tokens forbids the eos
            logits = model(input_ids=ids).logits[:, -1]
            logits[:, model.generation_config.eos_token_id] = -float("inf")
            nxt = logits.argmax(-1, keepdim=True)
            ids = torch.cat([ids, nxt], dim=1)
    assert got.tolist() == ids[0, 4:].tolist()


def test_notebook_timings_read(tmp_path):
    path = tmp_path / "timings.json"
    timings = {"notebooks": {"01_pruning_method": 12.5}, "profile": "params/x.yml"}
    bench_run.write_json(path, timings)
    sec = notebooks.notebook_timings(path, tmp_path)
    assert sec["status"] == "ok" and sec["seconds"]["01_pruning_method"] == 12.5
    assert sec["total_s"] == 12.5 and sec["profile"] == "params/x.yml"


def test_attribution_skipped_without_modules(monkeypatch):
    attrib = importlib.import_module("bench.attrib")
    monkeypatch.setitem(sys.modules, "helpers.faithfulness", None)  # import now fails
    model, tok = tiny_loader("tiny", "cpu")
    sec = attrib.bench_attribution(model, tok, attrib.AttributionSettings(n_examples=1))
    assert sec["status"] == "skipped" and "not available" in sec["reason"]


def test_targets_table_reads_the_thresholds():
    def row(ratio, share):
        return {"ratio": ratio, "n_dropped": 0, "params": 1, "param_bytes": 4,
                "prefill": {"median_s": 1.0}, "generation": {"tokens_per_s": 1.0},
                "speedup": {"prefill_measured_over_predicted": share}}

    data = {
        "attribution": {"methods": {"a": {"speedup": 5.2}, "b": {"speedup": 4.9}, "c": {}}},
        "pruning": {"models": {
            "m1": {"rows": [row(0.0, 1.0), row(1 / 3, 0.79)]},
            "m2": {"rows": [row(1 / 3, 0.8), row(0.5, 0.1)]},
        }},
    }
    t = report.targets_table(data)
    assert list(t["met"]) == [True, False, False, True]
    assert list(t["measured"]) == [5.2, 4.9, 0.79, 0.8]
    assert list(t["for"]) == ["a", "b", "m1", "m2"]
    assert report.targets_table({}).empty
