"""Reversible dropping (restore, context manager, ModelPool without copies) and pruned-model saving.

References are independent of the code under test: fresh models built from the same seed (never
dropped), models pruned the former way (deep copy, then drop), and stock transformers loading in a
subprocess that never imports `helpers`.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors import safe_open
from tiny_models import ARCHITECTURES, VOCAB, TinyTokenizer, tiny_model

from helpers.pruning import (
    COMPACT_CONFIG,
    attention_dropped,
    attention_module,
    count_parameters,
    decoder_layers,
    drop_attention,
    dropped_layers,
    is_dropped,
    load_pruned,
    reapply_dropped_attention,
    restore_attention,
    save_pruned,
)
from helpers.scoring import cache_kwargs, output_cache

DROP = [0, 2]


def batch():
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(3, VOCAB - 1, (2, 9), generator=g)
    mask = torch.ones_like(ids)
    mask[0, :3] = 0  # left padding
    return ids, mask


@torch.no_grad()
def outputs(model) -> list[torch.Tensor]:
    """Logits without a cache, then prefix + one step through the KV cache, and attentions."""
    ids, mask = batch()
    full = model(input_ids=ids, attention_mask=mask, use_cache=False, output_attentions=True)
    prefix = model(input_ids=ids[:, :-1], attention_mask=mask[:, :-1], use_cache=True)
    step = model(input_ids=ids[:, -1:], attention_mask=mask,
                 **cache_kwargs(model, output_cache(prefix)), use_cache=True)
    return [full.logits, prefix.logits, step.logits, *full.attentions]


def assert_identical(got: list[torch.Tensor], expected: list[torch.Tensor]) -> None:
    assert len(got) == len(expected)  # a duplicated capture hook would add attentions
    for x, y in zip(got, expected, strict=True):  # bitwise (float64 gives NaN at padding)
        torch.testing.assert_close(x, y, rtol=0, atol=0, equal_nan=True)


# --- restore ----------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_drop_then_restore_gives_back_the_same_model(arch):
    model, reference = tiny_model(arch), tiny_model(arch)
    outputs(model)  # transformers installs its output-capture hooks on the first forward
    params = list(model.named_parameters())
    pointers = [p.data_ptr() for _, p in params]
    originals = [attention_module(b) for b in decoder_layers(model)]
    drop_attention(model, DROP)
    assert count_parameters(model) < count_parameters(reference)  # originals are not in the tree
    dropped_out = outputs(model)  # runs the stand-ins, with a cache
    assert not dropped_out[3 + DROP[0]].any()
    assert restore_attention(model) is model
    assert [attention_module(b) for b in decoder_layers(model)] == originals
    after = list(model.named_parameters())
    assert [n for n, _ in after] == [n for n, _ in params]
    assert all(p is q for (_, p), (_, q) in zip(after, params, strict=True))
    assert [p.data_ptr() for _, p in after] == pointers
    assert dropped_layers(model) == [] and not hasattr(model.config, "dropped_attention_layers")
    assert_identical(outputs(model), outputs(reference))


def test_restore_some_layers_then_the_rest():
    model, reference = tiny_model("qwen2"), tiny_model("qwen2")
    originals = [attention_module(b) for b in decoder_layers(model)]
    drop_attention(model, [0, 2, 3])
    restore_attention(model, [2])
    assert model.config.dropped_attention_layers == [0, 3]
    blocks = decoder_layers(model)
    assert attention_module(blocks[2]) is originals[2] and is_dropped(attention_module(blocks[3]))
    restore_attention(model, [3, 0])
    assert_identical(outputs(model), outputs(reference))


def test_context_manager_restores_also_after_an_exception():
    model, reference = tiny_model("gemma3_text"), tiny_model("gemma3_text")
    pruned_reference = drop_attention(tiny_model("gemma3_text"), [1, 3])
    with attention_dropped(model, [1, 3]) as inside:
        assert inside is model and dropped_layers(model) == [1, 3]
        assert_identical(outputs(model), outputs(pruned_reference))
    assert_identical(outputs(model), outputs(reference))
    with pytest.raises(RuntimeError, match="boom"), attention_dropped(model, [0]):
        assert is_dropped(attention_module(decoder_layers(model)[0]))
        raise RuntimeError("boom")
    assert dropped_layers(model) == []
    assert_identical(outputs(model), outputs(reference))


def test_bad_drops_and_restores_are_errors():
    model = tiny_model("llama")
    drop_attention(model, [1])
    with pytest.raises(ValueError, match="already dropped"):
        drop_attention(model, [1])
    with pytest.raises(ValueError, match="already dropped"), attention_dropped(model, [1]):
        pass
    assert dropped_layers(model) == [1]  # the failed context manager restored nothing
    with pytest.raises(ValueError, match="not dropped"):
        restore_attention(model, [2])
    with pytest.raises(IndexError, match="out of range"):
        restore_attention(model, [7])
    with pytest.raises(ValueError, match="duplicate"):
        restore_attention(model, [1, 1])
    restore_attention(model, [1])
    with pytest.raises(ValueError, match="not dropped"):
        restore_attention(model, [1])
    assert restore_attention(model) is model  # nothing dropped: nothing to do


def test_restore_without_originals_names_the_fix():
    model = tiny_model("llama")
    drop_attention(model, [1], keep_original=False)
    with pytest.raises(ValueError, match="reload the unpruned model"):
        restore_attention(model)
    loaded = tiny_model("llama")
    loaded.config.dropped_attention_layers = [0, 2]
    reapply_dropped_attention(loaded)  # as after from_pretrained of a pruned save
    with pytest.raises(ValueError, match=r"layers \[0, 2\] were dropped without"):
        restore_attention(loaded)
    assert dropped_layers(loaded) == [0, 2]  # the failed restore changed nothing


def test_restore_follows_dtype_and_mode_changes_made_while_dropped():
    model = tiny_model("llama")
    drop_attention(model, DROP)
    model.to(torch.float64).train()
    restore_attention(model)
    assert {p.dtype for p in model.parameters()} == {torch.float64}
    assert all(m.training for m in model.modules())
    reference = tiny_model("llama").to(torch.float64)
    model.eval()
    assert_identical(outputs(model), outputs(reference))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_restore_follows_a_device_move_made_while_dropped():
    model = drop_attention(tiny_model("llama"), DROP)
    model.to("cuda")
    restore_attention(model)
    assert {p.device.type for p in model.parameters()} == {"cuda"}
    ids, mask = batch()
    with torch.no_grad():
        got = model(input_ids=ids.cuda(), attention_mask=mask.cuda()).logits.cpu()
        expected = tiny_model("llama")(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_hooks_of_the_original_are_kept_and_hooks_added_while_dropped_move_over():
    model, reference = tiny_model("llama"), tiny_model("llama")
    attn = attention_module(decoder_layers(model)[1])
    calls = []
    handle = attn.register_forward_hook(lambda *_: calls.append(1))
    hooks_before = dict(attn._forward_hooks)
    drop_attention(model, [1])
    outputs(model)  # first forward while dropped: transformers hooks the stand-in
    n = len(calls)
    restore_attention(model)
    assert attention_module(decoder_layers(model)[1]) is attn
    assert all(attn._forward_hooks[k] is v for k, v in hooks_before.items())
    calls.clear()
    got = outputs(model)  # the capture hook moved over: the restored layer's attentions are there
    assert_identical(got, outputs(reference))
    assert len(calls) == n  # the user's hook fires once per forward, not twice
    handle.remove()
    calls.clear()
    outputs(model)
    assert calls == []


# --- ModelPool ----------------------------------------------------------------------------------


@pytest.fixture
def pool(monkeypatch):
    from helpers import pool as pool_module

    monkeypatch.setattr(pool_module, "load_model",
                        lambda name, device: (tiny_model(name), TinyTokenizer()))
    return pool_module.ModelPool("cpu")


@pytest.mark.parametrize("arch", ["llama", "gemma3_text", "gpt2"])
def test_pool_prunes_in_place_like_fresh_copies(pool, arch):
    full_reference = tiny_model(arch)
    a, b = [0, 2], [3, 1, 2]
    model, _ = pool.get(arch, a)
    pointers = {p.data_ptr() for p in model.parameters()}
    assert dropped_layers(model) == a
    assert_identical(outputs(model), outputs(drop_attention(copy.deepcopy(full_reference), a)))
    model_b, _ = pool.get(arch, b)
    assert model_b is model and dropped_layers(model) == [1, 2, 3]  # the earlier model changed
    assert_identical(outputs(model), outputs(drop_attention(copy.deepcopy(full_reference), b)))
    full, _ = pool.full(arch)
    assert full is model and dropped_layers(full) == []
    assert_identical(outputs(full), outputs(full_reference))
    assert pool.get(arch, [])[0] is full and dropped_layers(full) == []
    assert {p.data_ptr() for p in full.parameters()} >= pointers  # no copy was ever made
    with pytest.raises(ValueError, match="duplicate"):
        pool.get(arch, [1, 1])


def test_pool_switching_models_forgets_the_dropped_layers(pool):
    pool.get("llama", [1])
    qwen, _ = pool.get("qwen2", [0])
    assert dropped_layers(qwen) == [0]
    llama, _ = pool.get("llama", [2])  # a freshly loaded llama: only layer 2 dropped
    assert dropped_layers(llama) == [2]


MEMORY_SCRIPT = textwrap.dedent("""
    import copy, json
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    from helpers import criteria, pruning
    from helpers import pool as pool_module

    def build(name, device):
        config = AutoConfig.for_model(
            "llama", vocab_size=2048, hidden_size=512, num_hidden_layers=8, num_attention_heads=8,
            num_key_value_heads=8, intermediate_size=1024, max_position_embeddings=64)
        torch.manual_seed(0)
        return AutoModelForCausalLM.from_config(config).eval(), None

    class DeepcopyPool(pool_module.ModelPool):  # how ModelPool.get used to prune
        pruned = None

        def get(self, name, layers):
            model, tok = self.full(name)
            self.pruned = None
            self.pruned = pruning.drop_attention(copy.deepcopy(model), layers)
            return self.pruned, tok

    def peak():  # VmHWM: ru_maxrss would carry pytest's own peak across fork and exec
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmHWM:"))

    def sweep(pool):
        for ratio in (1 / 6, 1 / 3, 1 / 2):
            pool.get("m", criteria.select_layers(pruning.n_layers(model), ratio, "last"))[0](ids)
        pool.full("m")[0](ids)

    pool_module.load_model = build
    pool = pool_module.ModelPool("cpu")
    ids = torch.randint(0, 2048, (1, 16))
    with torch.no_grad():
        model, _ = pool.full("m")
        model(ids)
        loaded = peak()
        sweep(pool)
        in_place = peak()
        # peak RSS never goes down: the former way, measured second, adds to the first peak
        old = DeepcopyPool("cpu")
        old._full = pool._full
        sweep(old)
    size = sum(p.numel() * p.element_size() for p in model.parameters())
    print(json.dumps({"model_bytes": size, "loaded": loaded, "in_place": in_place,
                      "deepcopy": peak()}))
""")


def test_pool_ratio_sweep_keeps_peak_memory_flat():
    if not os.path.exists("/proc/self/status"):
        pytest.skip("needs /proc (Linux)")
    done = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["model_bytes"] > 60e6
    # the sweep's peak stays within 0.3 model sizes of the peak with one model loaded
    assert got["in_place"] - got["loaded"] < 0.3 * got["model_bytes"], got
    # the check can fail: pruning deep copies (the former ModelPool) adds about one model
    assert got["deepcopy"] - got["in_place"] > 0.6 * got["model_bytes"], got


# --- saving ---------------------------------------------------------------------------------------

STOCK_SCRIPT = textwrap.dedent("""
    import json, sys
    import torch
    from transformers import AutoModelForCausalLM

    jobs = json.load(open(sys.argv[1]))
    ids, mask = torch.load(jobs["inputs"])
    report = {}
    for name, folder in jobs["portable"].items():
        model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").eval()
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask).logits
            tokens = model.generate(ids, attention_mask=mask, max_new_tokens=4, do_sample=False,
                                    pad_token_id=0, use_cache=True)
        torch.save({"logits": logits, "tokens": tokens}, f"{folder}.stock.pt")
    for name, folder in jobs["compact"].items():
        try:
            AutoModelForCausalLM.from_pretrained(folder)
            report[name] = "loaded"
        except Exception as e:
            report[name] = f"{type(e).__name__}: {e}"
    report["helpers imported"] = any(m == "helpers" or m.startswith("helpers.") for m in sys.modules)
    print(json.dumps(report))
""")


def generate(model, ids, mask):
    with torch.no_grad():
        return model.generate(ids, attention_mask=mask, max_new_tokens=4, do_sample=False,
                              pad_token_id=0, use_cache=True)


@pytest.fixture(scope="module")
def stock_run(tmp_path_factory):
    """Pruned tiny models saved both ways, then loaded by stock transformers in a subprocess."""
    root = tmp_path_factory.mktemp("saved")
    ids, mask = batch()
    torch.save((ids, mask), root / "inputs.pt")
    pruned, jobs = {}, {"inputs": str(root / "inputs.pt"), "portable": {}, "compact": {}}
    for arch in ARCHITECTURES:
        pruned[arch] = drop_attention(tiny_model(arch), DROP)
        jobs["portable"][arch] = str(save_pruned(pruned[arch], root / f"{arch}-portable", portable=True))
        jobs["compact"][arch] = str(save_pruned(pruned[arch], root / f"{arch}-compact"))
    # no kept-aside originals: shapes come from a live layer
    reloaded = load_pruned(root / "llama-compact", attn_implementation="eager")
    pruned["llama-reloaded"] = reloaded
    jobs["portable"]["llama-reloaded"] = str(save_pruned(reloaded, root / "llama-reloaded", portable=True))
    (root / "jobs.json").write_text(json.dumps(jobs))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", STOCK_SCRIPT, str(root / "jobs.json")],
                          capture_output=True, text=True, timeout=300, env=env, cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    return root, pruned, jobs, json.loads(done.stdout.strip().splitlines()[-1])


def test_stock_transformers_reproduces_portable_saves(stock_run):
    _, pruned, jobs, report = stock_run
    assert report["helpers imported"] is False
    ids, mask = batch()
    for name, model in pruned.items():
        stock = torch.load(jobs["portable"][name] + ".stock.pt")
        with torch.no_grad():
            expected = model(input_ids=ids, attention_mask=mask).logits
        torch.testing.assert_close(stock["logits"], expected, atol=1e-5, rtol=0, msg=name)
        assert torch.equal(stock["tokens"], generate(model, ids, mask)), name


def test_stock_transformers_refuses_compact_saves(stock_run):
    root, _, _, report = stock_run
    for arch in ARCHITECTURES:
        assert report[arch] != "loaded" and "config.json" in report[arch], report[arch]
        folder = root / f"{arch}-compact"
        assert (folder / COMPACT_CONFIG).exists() and not (folder / "config.json").exists()
        assert "load_pruned" in (folder / "README.md").read_text()


def test_portable_save_holds_zeros_exactly_for_dropped_attention(stock_run):
    root = stock_run[0]
    with safe_open(root / "qwen2-portable" / "model.safetensors", "pt") as f:
        keys = list(f.keys())
        for i in range(4):
            attn = [k for k in keys if k.startswith(f"model.layers.{i}.self_attn.")]
            assert len(attn) == 7  # q, k, v (weights and biases) and o_proj
            if i in DROP:
                assert not any(f.get_tensor(k).any() for k in attn), attn
            else:  # (biases are initialised to zero)
                assert all(f.get_tensor(k).any() for k in attn if k.endswith("weight")), attn


@pytest.mark.parametrize("arch", ["gemma2", "gemma3_text"])
def test_sandwich_norm_of_a_zero_branch_is_exactly_zero(arch):
    layer = decoder_layers(tiny_model(arch))[0]
    norm = layer.post_attention_layernorm  # Gemma RMSNorm: x / rms(x) * (1 + weight)
    with torch.no_grad():
        norm.weight.copy_(torch.randn(norm.weight.shape) * 3)  # (1 + w) of both signs
        out = norm(torch.zeros(2, 5, norm.weight.shape[0]))
    assert torch.equal(out, torch.zeros_like(out))


@pytest.mark.parametrize("portable", [False, True])
def test_load_pruned_round_trip(stock_run, portable):
    root, pruned = stock_run[:2]
    for arch in ("qwen2", "gpt2", "falcon"):
        folder = root / f"{arch}-{'portable' if portable else 'compact'}"
        loaded = load_pruned(folder, attn_implementation="eager")
        assert dropped_layers(loaded) == DROP
        assert all(is_dropped(attention_module(decoder_layers(loaded)[i])) for i in DROP)
        assert count_parameters(loaded) == count_parameters(pruned[arch])
        assert_identical(outputs(loaded), outputs(pruned[arch]))
        with pytest.raises(ValueError, match="without keeping"):
            restore_attention(loaded)


def test_save_pruned_with_tokenizer_writes_atomically(tmp_path):
    from tokenizers import Tokenizer, models
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    vocab = {"[PAD]": 0, "[UNK]": 1, **{f"w{i}": i + 2 for i in range(20)}}
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="[UNK]")),
                                  pad_token="[PAD]", unk_token="[UNK]")
    model = drop_attention(tiny_model("llama"), [1])
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "stale.txt").write_text("from an earlier save")
    save_pruned(model, folder, tokenizer=tok)
    assert not (folder / "stale.txt").exists()  # replaced as a whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary folders left
    assert AutoTokenizer.from_pretrained(folder).convert_tokens_to_ids("w3") == 5

    class Broken:
        def save_pretrained(self, _folder):
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        save_pruned(model, folder, portable=True, tokenizer=Broken())
    assert (folder / COMPACT_CONFIG).exists()  # the earlier save is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_unsupported_or_incomplete_saves_are_named(tmp_path):
    model = drop_attention(tiny_model("llama"), [1])
    model.config.model_type = "mystery"
    with pytest.raises(NotImplementedError, match="portable=False"):
        save_pruned(model, tmp_path / "p", portable=True)
    assert list(tmp_path.iterdir()) == []
    model.config.model_type = "llama"
    folder = save_pruned(model, tmp_path / "c")
    from safetensors.torch import load_file, save_file

    state = load_file(folder / "model.safetensors")
    del state["model.norm.weight"]
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match="model.norm.weight"):
        load_pruned(folder)
    with pytest.raises(FileNotFoundError, match="save_pruned"):
        load_pruned(tmp_path)
