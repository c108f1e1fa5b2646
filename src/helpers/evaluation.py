"""One computation path: evaluate a (model, task, criterion, ratio, ...) configuration into the store.

Units, each stored once and reused by every chapter that needs it:
- `importance`: He et al. scores of a model's attention layers on offline calibration texts;
- `scores`: label probabilities on the test sample and logits on the calibration split, with
  accuracy and calibration metrics before and after temperature scaling;
- `faithfulness`: one attribution method's token scores and ERASER metrics;
- `latency`: parameters and the time of a forward pass, full vs pruned.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch

from . import calibration, pruning, scoring
from .models import OFFLINE_MODELS, load_model, resolve_device
from .progress import progress
from .results import ResultStore
from .tasks import DEFAULT_SHOTS, get_task, load_task

N_CALIBRATION_TEXTS = 32
IMPORTANCE_MAX_LENGTH = 128


@dataclass(frozen=True)
class Config:
    """Everything that defines one evaluated configuration."""

    model: str
    task: str
    criterion: str = "similarity"
    ratio: float = 0.0
    shots: int = DEFAULT_SHOTS
    n_examples: int = 100
    n_calibration: int = 100
    seed: int = 0
    n_bins: int = 15

    def params(self) -> dict:
        """The parameters that key this configuration's scores (ratio 0 ignores the criterion)."""
        p = asdict(self)
        if self.ratio == 0:
            p["criterion"] = "none"
        p["model_fingerprint"] = model_fingerprint(self.model)
        return p


def model_fingerprint(name: str) -> str:
    """What identifies a model's weights: the pinned GGUF hash of an offline model, else its name."""
    return OFFLINE_MODELS[name].sha256 if name in OFFLINE_MODELS else name


class ModelPool:
    """Keeps one model loaded and prunes it in place, without copies, for the layer set asked for.

    `get` and `full` hand out the SAME model object, dropping and restoring attention layers on it
    (`pruning.drop_attention` / `restore_attention`): a model returned by an earlier call changes
    when `get` or `full` is called again, so finish using it first.
    """

    def __init__(self, device: str = "auto", *, importance_texts: int = N_CALIBRATION_TEXTS,
                 importance_max_length: int = IMPORTANCE_MAX_LENGTH) -> None:
        self.device = str(resolve_device(device))
        self.importance_options = {"n_texts": importance_texts, "max_length": importance_max_length}
        self._full: dict[str, tuple] = {}
        self._dropped: tuple[int, ...] = ()  # layers this pool has dropped on the loaded model

    def _set(self, name: str, layers: tuple[int, ...]) -> tuple:
        if name not in self._full:
            self._full.clear()  # one model at a time keeps memory flat across a long grid
            self._dropped = ()
            self._full[name] = load_model(name, device=self.device)
        model, tok = self._full[name]
        now, wanted = set(self._dropped), set(layers)
        if now - wanted:
            pruning.restore_attention(model, sorted(now - wanted))
            self._dropped = tuple(sorted(now & wanted))
        if wanted - now:
            pruning.drop_attention(model, sorted(wanted - now))
            self._dropped = layers
        return model, tok

    def full(self, name: str) -> tuple:
        """(model, tokenizer) of the unpruned model (restores any layers `get` dropped)."""
        return self._set(name, ())

    def get(self, name: str, layers: Sequence[int]) -> tuple:
        """(model, tokenizer) with exactly the attention of `layers` dropped (the full model if none)."""
        layers = tuple(sorted(int(i) for i in layers))
        if len(set(layers)) != len(layers):
            raise ValueError(f"duplicate layer indices in {list(layers)}")
        return self._set(name, layers)


def _provenance(pool: ModelPool, model_name: str) -> dict:
    model, _ = pool.full(model_name)
    return {
        "model": model_name,
        "model_fingerprint": model_fingerprint(model_name),
        "model_type": model.config.model_type,
        "device": pool.device,
        "dtype": str(model.dtype),
        "threads": torch.get_num_threads(),
    }


def importance(
    store: ResultStore, pool: ModelPool, model_name: str, *, n_texts: int = N_CALIBRATION_TEXTS,
    max_length: int = IMPORTANCE_MAX_LENGTH,
) -> list[float]:
    """He et al. importance of each attention layer of a model (stored)."""
    params = {
        "model": model_name,
        "model_fingerprint": model_fingerprint(model_name),
        "texts": f"bbc_news demo pool, {n_texts} articles, seed 0",
        "max_length": max_length,
    }

    def compute() -> dict:
        model, tok = pool.full(model_name)
        texts = pruning.calibration_texts(n_texts, seed=0)
        return {"scores": pruning.attention_importance(model, tok, texts, max_length=max_length)}

    return store.get_or_compute("importance", params, compute, _provenance(pool, model_name))["scores"]


def layers_to_drop(store: ResultStore, pool: ModelPool, cfg: Config) -> list[int]:
    """The layers `cfg.criterion` drops at `cfg.ratio`."""
    if cfg.ratio == 0:
        return []
    if cfg.criterion == "similarity":
        scores = importance(store, pool, cfg.model, **pool.importance_options)
        return pruning.select_layers(scores, cfg.ratio, "similarity")
    model, _ = pool.full(cfg.model)
    return pruning.select_layers(model, cfg.ratio, cfg.criterion, seed=cfg.seed)


def _metric_rows(cfg: Config, layers: list[int], values: dict, **extra) -> list[dict]:
    base = {
        "model": cfg.model, "task": cfg.task, "criterion": cfg.criterion if cfg.ratio else "none",
        "ratio": cfg.ratio, "n_dropped": len(layers), "shots": cfg.shots, "seed": cfg.seed, **extra,
    }
    return [{**base, "metric": k, "value": float(v)} for k, v in values.items()]


def scores(store: ResultStore, pool: ModelPool, cfg: Config, *, batch_size: int = 16) -> dict:
    """Probabilities, accuracy and calibration (before/after temperature scaling) of a configuration."""

    def compute() -> dict:
        layers = layers_to_drop(store, pool, cfg)
        model, tok = pool.get(cfg.model, layers)
        task = get_task(cfg.task)
        test = load_task(cfg.task, split="test", n=cfg.n_examples, seed=cfg.seed)
        held = load_task(cfg.task, split="calibration", n=cfg.n_calibration, seed=cfg.seed)
        kw = dict(shots=cfg.shots, seed=cfg.seed, batch_size=batch_size)
        logits = scoring.label_logits(model, tok, task, test, **kw)
        cal_logits = scoring.label_logits(model, tok, task, held, **kw)
        y, y_cal = [e.label for e in test], [e.label for e in held]
        probs = calibration.softmax(logits)
        temperature = calibration.fit_temperature(cal_logits, y_cal)
        scaled = calibration.apply_temperature(logits, temperature)
        before = calibration.calibration_report(probs, y, n_bins=cfg.n_bins)
        after = calibration.calibration_report(scaled, y, n_bins=cfg.n_bins)
        values = {**before, **{f"{k}_ts": v for k, v in after.items()}, "temperature": temperature}
        return {
            "layers": layers,
            "metrics": _metric_rows(cfg, layers, values),
            "examples": {
                "uid": [e.uid for e in test],
                "label": y,
                "logits": logits.tolist(),
                "calibration_label": y_cal,
                "calibration_logits": cal_logits.tolist(),
            },
        }

    return store.get_or_compute("scores", cfg.params(), compute, _provenance(pool, cfg.model))


def faithfulness(
    store: ResultStore,
    pool: ModelPool,
    cfg: Config,
    method: str,
    *,
    n_examples: int,
    fractions: Sequence[float] | None = None,
    batch_size: int = 8,
    options: dict | None = None,
) -> dict:
    """Token attributions of one method and their ERASER comprehensiveness / sufficiency."""
    from . import attribution as attr
    from . import faithfulness as faith

    fractions = tuple(fractions or faith.DEFAULT_FRACTIONS)
    options = dict(options or {})
    params = {**cfg.params(), "method": method, "n_faithfulness": n_examples,
              "fractions": list(fractions), "options": options}

    def compute() -> dict:
        layers = layers_to_drop(store, pool, cfg)
        model, tok = pool.get(cfg.model, layers)
        task = get_task(cfg.task)
        examples = load_task(cfg.task, split="test", n=n_examples, seed=cfg.seed)
        start = time.perf_counter()
        attributions = attr.attribute(model, tok, task, examples, method=method, shots=cfg.shots,
                                      seed=cfg.seed, batch_size=batch_size, **options)
        seconds = time.perf_counter() - start
        result = faith.comprehensiveness_sufficiency(
            model, tok, task, examples, attributions, fractions=fractions, shots=cfg.shots,
            seed=cfg.seed, batch_size=max(batch_size, 16))
        summary = faith.summarize([result])
        rows = []
        for r in summary.itertuples():
            frac = None if pd.isna(r.fraction) else float(r.fraction)
            rows += _metric_rows(cfg, layers, {r.metric: r.value}, method=method, fraction=frac,
                                 sem=None if pd.isna(r.sem) else float(r.sem))
        rows += _metric_rows(cfg, layers, {"examples_per_second": len(examples) / seconds}, method=method)
        return {
            "layers": layers,
            "metrics": rows,
            "examples": {
                "uid": [e.uid for e in examples],
                "tokens": [a.tokens for a in attributions],
                "token_ids": [list(map(int, a.token_ids)) for a in attributions],
                "scores": [np.asarray(a.scores, dtype=float).round(7).tolist() for a in attributions],
                "target": [int(a.target) for a in attributions],
            },
        }

    return store.get_or_compute("faithfulness", params, compute, _provenance(pool, cfg.model))


@torch.inference_mode()
def latency(
    store: ResultStore, pool: ModelPool, cfg: Config, *, batch: int = 8, tokens: int = 128, repeats: int = 3
) -> dict:
    """Parameter count and median prefill time (last-position logits only) over a random batch."""
    params = {**cfg.params(), "batch": batch, "tokens": tokens, "repeats": repeats, "device": pool.device}

    def compute() -> dict:
        layers = layers_to_drop(store, pool, cfg)
        model, _ = pool.get(cfg.model, layers)
        dev = next(model.parameters()).device
        ids = torch.randint(10, model.config.vocab_size - 10, (batch, tokens),
                            generator=torch.Generator().manual_seed(0)).to(dev)
        # a classifier reads one position's logits: computing all of them would time the LM head
        model(input_ids=ids, use_cache=False, logits_to_keep=1)  # warm-up
        times = []
        for _ in range(repeats):
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            model(input_ids=ids, use_cache=False, logits_to_keep=1)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
        values = {"parameters": pruning.count_parameters(model), "forward_s": float(np.median(times))}
        return {"layers": layers, "metrics": _metric_rows(cfg, layers, values)}

    return store.get_or_compute("latency", params, compute, _provenance(pool, cfg.model))


def _configs(models, tasks, criteria, ratios, **common) -> list[Config]:
    out = []
    for model in models:
        for task in tasks:
            for criterion in criteria:
                for ratio in ratios:
                    out.append(Config(model=model, task=task, criterion=criterion, ratio=float(ratio), **common))
    return out


def _with_criterion(rows: list[dict], criterion: str) -> list[dict]:
    # the unpruned model (ratio 0) is the same unit for every criterion; label it for each line
    return [{**r, "criterion": criterion} for r in rows]


def score_grid(
    store: ResultStore, pool: ModelPool, *, models: Sequence[str], tasks: Sequence[str],
    criteria: Sequence[str], ratios: Sequence[float], batch_size: int = 16, **common,
) -> pd.DataFrame:
    """Scores units for every model x task x criterion x ratio, as tidy metric rows."""
    rows = []
    configs = _configs(models, tasks, criteria, ratios, **common)
    for cfg in progress(configs, desc="configurations", min_items=2):
        rows += _with_criterion(scores(store, pool, cfg, batch_size=batch_size)["metrics"], cfg.criterion)
    return pd.DataFrame(rows)


def faithfulness_grid(
    store: ResultStore, pool: ModelPool, *, models: Sequence[str], tasks: Sequence[str],
    criteria: Sequence[str], ratios: Sequence[float], methods: Sequence[str], n_faithfulness: int,
    fractions: Sequence[float] | None = None, ig_steps: int = 8, batch_size: int = 8, **common,
) -> pd.DataFrame:
    """Faithfulness units for every model x task x criterion x ratio x method, as tidy metric rows."""
    rows = []
    configs = _configs(models, tasks, criteria, ratios, **common)
    for cfg in progress(configs, desc="configurations", min_items=2):
        for method in methods:
            options = {"n_steps": ig_steps} if method == "integrated_gradients" else {}
            rec = faithfulness(store, pool, cfg, method, n_examples=n_faithfulness, fractions=fractions,
                               batch_size=batch_size, options=options)
            rows += _with_criterion(rec["metrics"], cfg.criterion)
    return pd.DataFrame(rows)


def faithfulness_record(
    store: ResultStore, pool: ModelPool, cfg: Config, method: str, *, n_faithfulness: int,
    fractions: Sequence[float] | None = None, ig_steps: int = 8, batch_size: int = 8,
) -> dict:
    """One faithfulness unit with the grid's options (stored; computed only if missing)."""
    options = {"n_steps": ig_steps} if method == "integrated_gradients" else {}
    return faithfulness(store, pool, cfg, method, n_examples=n_faithfulness, fractions=fractions,
                        batch_size=batch_size, options=options)


def stored_attributions(record: dict) -> list:
    """The Attribution objects of a stored faithfulness unit."""
    from .attribution import Attribution

    ex = record["examples"]
    return [
        Attribution(tokens=t, token_ids=i, scores=np.asarray(s), target=y, method=record["params"]["method"], uid=u)
        for t, i, s, y, u in zip(ex["tokens"], ex["token_ids"], ex["scores"], ex["target"], ex["uid"], strict=True)
    ]


def drift(full: dict, pruned: dict, k: float = 0.2) -> dict[str, float]:
    """Mean agreement (Spearman, top-k overlap) of full and pruned attributions on the same examples."""
    from .faithfulness import agreement_frame

    frame = agreement_frame(stored_attributions(full), stored_attributions(pruned), k=k)
    return {"spearman": float(frame.spearman.mean()), "top_k_overlap": float(frame.top_k_overlap.mean())}
