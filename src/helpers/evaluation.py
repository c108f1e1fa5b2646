"""One computation path: evaluate a (model, task, criterion, ratio, ...) configuration into the store.

Units, each stored once and reused by every chapter that needs it:
- `importance`: He et al. scores of a model's attention layers on offline texts (a task's demo
  pool: BBC News by default, or the evaluated task's own);
- `scores`: label logits on the test sample and on the calibration split, with accuracy and
  calibration metrics before and after temperature scaling (with the temperature's interval);
- `faithfulness`: one attribution method's token scores and, per example, every probability the
  ERASER metrics and their normalised forms are computed from; a pruned configuration also keeps
  the attributions of the FULL model's predicted label where its own prediction differs (drift);
- `latency`: parameters and the time of a forward pass, full vs pruned.

Every unit keeps its per-example values, so intervals and figures come from the store. The key of
every unit holds the device type and dtype and the model's revision (`models.model_revision`).

Seeds mean one thing each: `seed` draws the test and calibration samples, `demo_seed` the
demonstrations and their order, `criterion_seed` the `random` criterion's permutation.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
import torch

from . import calibration, pruning, scoring
from .models import default_dtype, load_model, model_revision, resolve_device
from .progress import progress
from .results import ResultStore
from .tasks import DEFAULT_SHOTS, get_task, load_task

N_CALIBRATION_TEXTS = 32
IMPORTANCE_MAX_LENGTH = 128
IMPORTANCE_SOURCES = ("bbc_news", "task")


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
    demo_seed: int = 0
    criterion_seed: int = 0
    importance_source: str = "bbc_news"
    n_bins: int = 15

    def __post_init__(self) -> None:
        if self.importance_source != "task":
            get_task(self.importance_source)  # a task whose demo pool gives the texts

    def params(self) -> dict:
        """The parameters that key this configuration (those the result does not depend on: None)."""
        p = asdict(self)
        if self.ratio == 0:
            p["criterion"] = "none"
        if p["criterion"] != "random":
            p["criterion_seed"] = None
        if p["criterion"] not in ("similarity", "relevance"):  # the two that read importance texts
            p["importance_source"] = None
        p["model_revision"] = model_revision(self.model)
        return p

    @property
    def importance_texts_from(self) -> str:
        """The task whose demo pool gives the importance texts."""
        return self.task if self.importance_source == "task" else self.importance_source

    def unpruned(self) -> Config:
        """The same configuration at ratio 0."""
        return replace(self, ratio=0.0)


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


def pool_context(pool: ModelPool) -> dict:
    """Device type and dtype a pool computes with: part of every unit's key."""
    dev = torch.device(pool.device)
    return {"device": dev.type, "dtype": str(default_dtype(dev)).removeprefix("torch.")}


def model_key(pool: ModelPool, name: str) -> dict:
    """What identifies a model's computations in a unit key: name, revision, device type, dtype."""
    return {"model": name, "model_revision": model_revision(name), **pool_context(pool)}


def _provenance(pool: ModelPool, model_name: str):
    def info() -> dict:
        model, _ = pool.full(model_name)
        return {
            "model": model_name,
            "model_revision": model_revision(model_name),
            "model_type": model.config.model_type,
            "device": pool.device,
            "dtype": str(model.dtype),
            "threads": torch.get_num_threads(),
        }

    return info


def _unit_params(pool: ModelPool, cfg: Config) -> dict:
    p = {**cfg.params(), **pool_context(pool)}
    if p["criterion"] in ("similarity", "relevance"):
        p["importance"] = dict(pool.importance_options)
    if p["criterion"] == "greedy_kl":  # its cost caps (criteria.set_greedy_options) pick the layers
        from . import criteria

        p["greedy"] = criteria.greedy_settings(pool, cfg)
    return p


def importance(
    store: ResultStore, pool: ModelPool, model_name: str, *, n_texts: int = N_CALIBRATION_TEXTS,
    max_length: int = IMPORTANCE_MAX_LENGTH, texts_from: str = "bbc_news",
) -> list[float]:
    """He et al. importance of each attention layer, on `n_texts` of a task's demo pool (stored)."""
    params = {**model_key(pool, model_name), "texts_from": texts_from, "n_texts": n_texts,
              "text_seed": 0, "max_length": max_length}

    def compute() -> dict:
        model, tok = pool.full(model_name)
        texts = pruning.calibration_texts(n_texts, seed=0, task=texts_from)
        return {"scores": pruning.attention_importance(model, tok, texts, max_length=max_length)}

    return store.get_or_compute("importance", params, compute, _provenance(pool, model_name))["scores"]


def layers_to_drop(store: ResultStore, pool: ModelPool, cfg: Config) -> list[int]:
    """The layers `cfg.criterion` drops at `cfg.ratio`."""
    if cfg.ratio == 0:
        return []
    if cfg.criterion == "similarity":
        scores = importance(store, pool, cfg.model, texts_from=cfg.importance_texts_from,
                            **pool.importance_options)
        return pruning.select_layers(scores, cfg.ratio, "similarity")
    if cfg.criterion in ("relevance", "greedy_kl"):  # stored per-layer scores: helpers.criteria
        from . import criteria

        return pruning.select_layers(criteria.layer_scores(store, pool, cfg), cfg.ratio, cfg.criterion)
    model, _ = pool.full(cfg.model)
    return pruning.select_layers(model, cfg.ratio, cfg.criterion, seed=cfg.criterion_seed)


def _metric_rows(cfg: Config, layers: list[int], values: dict, **extra) -> list[dict]:
    base = {
        "model": cfg.model, "task": cfg.task, "criterion": cfg.criterion if cfg.ratio else "none",
        "ratio": cfg.ratio, "n_dropped": len(layers), "shots": cfg.shots, "seed": cfg.seed,
        "demo_seed": cfg.demo_seed,
        "criterion_seed": cfg.criterion_seed if cfg.criterion == "random" and cfg.ratio else None,
        "importance_source": cfg.importance_source
        if cfg.criterion in ("similarity", "relevance") and cfg.ratio else None,
        **extra,
    }
    return [{**base, "metric": k, "value": float(v)} for k, v in values.items()]


def scores(store: ResultStore, pool: ModelPool, cfg: Config, *, batch_size: int = 16) -> dict:
    """Logits, accuracy and calibration (before/after temperature scaling) of a configuration."""

    def compute() -> dict:
        layers = layers_to_drop(store, pool, cfg)
        model, tok = pool.get(cfg.model, layers)
        task = get_task(cfg.task)
        test = load_task(cfg.task, split="test", n=cfg.n_examples, seed=cfg.seed)
        held = load_task(cfg.task, split="calibration", n=cfg.n_calibration, seed=cfg.seed)
        kw = dict(shots=cfg.shots, seed=cfg.demo_seed, batch_size=batch_size)
        logits = scoring.label_logits(model, tok, task, test, **kw)
        cal_logits = scoring.label_logits(model, tok, task, held, **kw)
        y, y_cal = [e.label for e in test], [e.label for e in held]
        probs = calibration.softmax(logits)
        fit = calibration.fit_temperature_ci(cal_logits, y_cal)
        scaled = calibration.apply_temperature(logits, fit.temperature)
        before = calibration.calibration_report(probs, y, n_bins=cfg.n_bins)
        after = calibration.calibration_report(scaled, y, n_bins=cfg.n_bins)
        values = {**before, **{f"{k}_ts": v for k, v in after.items()},
                  "temperature": fit.temperature, "temperature_low": fit.low,
                  "temperature_high": fit.high, "temperature_at_bound": float(fit.at_bound)}
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

    return store.get_or_compute("scores", _unit_params(pool, cfg), compute,
                                _provenance(pool, cfg.model))


def method_options(method: str, ig_steps: int) -> dict:
    """The options a grid passes to one attribution method."""
    return {"n_steps": ig_steps} if method == "integrated_gradients" else {}


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
    """Token attributions of one method, their ERASER metrics and every per-example probability."""
    from . import attribution as attr
    from . import faithfulness as faith

    fractions = tuple(fractions or faith.DEFAULT_FRACTIONS)
    options = dict(options or {})
    params = {**_unit_params(pool, cfg), "method": method, "n_faithfulness": n_examples,
              "fractions": list(fractions), "options": options}

    def compute() -> dict:
        layers = layers_to_drop(store, pool, cfg)
        full = None
        if layers:  # the full model's unit first: its predicted labels fix the drift targets
            full = faithfulness(store, pool, cfg.unpruned(), method, n_examples=n_examples,
                                fractions=fractions, batch_size=batch_size, options=options)
        model, tok = pool.get(cfg.model, layers)
        task = get_task(cfg.task)
        examples = load_task(cfg.task, split="test", n=n_examples, seed=cfg.seed)
        kw = dict(shots=cfg.shots, seed=cfg.demo_seed, batch_size=batch_size)
        start = time.perf_counter()
        attributions = attr.attribute(model, tok, task, examples, method=method, **kw, **options)
        seconds = time.perf_counter() - start
        result = faith.comprehensiveness_sufficiency(
            model, tok, task, examples, attributions, fractions=fractions, shots=cfg.shots,
            seed=cfg.demo_seed, batch_size=max(batch_size, 16))
        fixed_scores: list = [None] * len(examples)
        if full is not None:
            full_targets = full["examples"]["target"]
            flipped = [i for i, a in enumerate(attributions) if a.target != full_targets[i]]
            if flipped:
                again = attr.attribute(model, tok, task, [examples[i] for i in flipped], method=method,
                                       targets=[full_targets[i] for i in flipped], **kw, **options)
                for i, a in zip(flipped, again, strict=True):
                    fixed_scores[i] = np.asarray(a.scores, dtype=float).round(7).tolist()
        summary = faith.summarize([result])
        rows = []
        for r in summary.itertuples():
            frac = None if pd.isna(r.fraction) else float(r.fraction)
            rows += _metric_rows(cfg, layers, {r.metric: r.value}, method=method, fraction=frac,
                                 sem=None if pd.isna(r.sem) else float(r.sem))
        rows += _metric_rows(cfg, layers, {"examples_per_second": len(examples) / seconds},
                             method=method)
        deltas = [a.details.get("delta") for a in attributions]
        return {
            "layers": layers,
            "metrics": rows,
            "examples": {
                "uid": [e.uid for e in examples],
                "tokens": [a.tokens for a in attributions],
                "token_ids": [list(map(int, a.token_ids)) for a in attributions],
                "scores": [np.asarray(a.scores, dtype=float).round(7).tolist() for a in attributions],
                "target": [int(a.target) for a in attributions],
                "scores_full_target": fixed_scores,
                "n_tokens": result.n_tokens.tolist(),
                "k": result.k.tolist(),
                "p_full": result.p_full.tolist(),
                "p_empty": result.p_empty.tolist(),
                "p_without": result.p_without.tolist(),
                "p_only": result.p_only.tolist(),
                "completeness_error": deltas if any(d is not None for d in deltas) else None,
                "layer": next((a.layer for a in attributions if a.layer is not None), None),
            },
        }

    return store.get_or_compute("faithfulness", params, compute, _provenance(pool, cfg.model))


@torch.inference_mode()
def latency(
    store: ResultStore, pool: ModelPool, cfg: Config, *, batch: int = 8, tokens: int = 128,
    repeats: int = 3,
) -> dict:
    """Parameter count and median prefill time (last-position logits only) over a random batch."""
    params = {**_unit_params(pool, cfg), "batch": batch, "tokens": tokens, "repeats": repeats}

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
        values = {"parameters": pruning.count_parameters(model), "forward_s": float(np.median(times)),
                  "forward_s_min": float(np.min(times)), "forward_s_max": float(np.max(times))}
        return {"layers": layers, "metrics": _metric_rows(cfg, layers, values)}

    return store.get_or_compute("latency", params, compute, _provenance(pool, cfg.model))



def configs(
    models: Sequence[str], tasks: Sequence[str], criteria: Sequence[str], ratios: Sequence[float],
    *, demo_seeds: Sequence[int] = (0,), criterion_seeds: Sequence[int] = (0,), **common,
) -> list[Config]:
    """Every configuration of a grid (the `random` criterion once per criterion seed)."""
    out = []
    for model in models:
        for task in tasks:
            for demo_seed in demo_seeds:
                for criterion in criteria:
                    seeds = criterion_seeds if criterion == "random" else criterion_seeds[:1]
                    for criterion_seed in seeds:
                        for ratio in ratios:
                            out.append(Config(model=model, task=task, criterion=criterion,
                                              ratio=float(ratio), demo_seed=demo_seed,
                                              criterion_seed=criterion_seed, **common))
    return out


def _labelled(rows: list[dict], cfg: Config) -> list[dict]:
    # the unpruned model (ratio 0) is the same unit for every criterion; label it for each line
    return [{**r, "criterion": cfg.criterion,
             "criterion_seed": cfg.criterion_seed if cfg.criterion == "random" else None}
            for r in rows]


def score_grid(
    store: ResultStore, pool: ModelPool, *, models: Sequence[str], tasks: Sequence[str],
    criteria: Sequence[str], ratios: Sequence[float], batch_size: int = 16, **common,
) -> pd.DataFrame:
    """Scores units for every configuration of a grid, as tidy metric rows."""
    rows = []
    grid = configs(models, tasks, criteria, ratios, **common)
    for cfg in progress(grid, desc="configurations", min_items=2):
        rows += _labelled(scores(store, pool, cfg, batch_size=batch_size)["metrics"], cfg)
    return pd.DataFrame(rows)


def faithfulness_grid(
    store: ResultStore, pool: ModelPool, *, models: Sequence[str], tasks: Sequence[str],
    criteria: Sequence[str], ratios: Sequence[float], methods: Sequence[str], n_faithfulness: int,
    fractions: Sequence[float] | None = None, ig_steps: int = 8, batch_size: int = 8, **common,
) -> pd.DataFrame:
    """Faithfulness units for every configuration x method of a grid, as tidy metric rows."""
    rows = []
    grid = configs(models, tasks, criteria, ratios, **common)
    for cfg in progress(grid, desc="configurations", min_items=2):
        for method in methods:
            rec = faithfulness(store, pool, cfg, method, n_examples=n_faithfulness,
                               fractions=fractions, batch_size=batch_size,
                               options=method_options(method, ig_steps))
            rows += _labelled(rec["metrics"], cfg)
    return pd.DataFrame(rows)


def faithfulness_record(
    store: ResultStore, pool: ModelPool, cfg: Config, method: str, *, n_faithfulness: int,
    fractions: Sequence[float] | None = None, ig_steps: int = 8, batch_size: int = 8,
) -> dict:
    """One faithfulness unit with the grid's options (stored; computed only if missing)."""
    return faithfulness(store, pool, cfg, method, n_examples=n_faithfulness, fractions=fractions,
                        batch_size=batch_size, options=method_options(method, ig_steps))


def stored_attributions(record: dict, *, full_target: bool = False) -> list:
    """The Attribution objects of a stored faithfulness unit (optionally: of the full model's label)."""
    from .attribution import Attribution

    ex = record["examples"]
    fixed = ex.get("scores_full_target") or [None] * len(ex["uid"])
    out = []
    for t, i, s, y, u, f in zip(ex["tokens"], ex["token_ids"], ex["scores"], ex["target"],
                                ex["uid"], fixed, strict=True):
        scores_ = f if full_target and f is not None else s
        out.append(Attribution(tokens=t, token_ids=i, scores=np.asarray(scores_), target=y,
                               method=record["params"]["method"], uid=u))
    return out


def stored_faithfulness(record: dict):
    """The per-example `faithfulness.Faithfulness` of a stored unit (every metric, every example)."""
    from .faithfulness import Faithfulness

    ex = record["examples"]
    return Faithfulness(
        method=record["params"]["method"], fractions=tuple(record["params"]["fractions"]),
        uids=list(ex["uid"]), n_tokens=np.asarray(ex["n_tokens"]), k=np.asarray(ex["k"]),
        target=np.asarray(ex["target"]), p_full=np.asarray(ex["p_full"]),
        p_without=np.asarray(ex["p_without"]), p_only=np.asarray(ex["p_only"]),
        p_empty=np.asarray(ex["p_empty"]),
    )


def drift(full: dict, pruned: dict, k: float = 0.2) -> pd.DataFrame:
    """Per example: agreement (Spearman, top-k overlap) of the full and the pruned model's
    attributions of the SAME label (the full model's prediction), and whether the prediction flipped."""
    from .faithfulness import agreement_frame

    frame = agreement_frame(stored_attributions(full),
                            stored_attributions(pruned, full_target=True), k=k)
    frame["flipped"] = np.asarray(full["examples"]["target"]) != np.asarray(pruned["examples"]["target"])
    return frame


def stored_probs(record: dict) -> np.ndarray:
    """Label-set probabilities of a stored scores unit's test examples."""
    return calibration.softmax(np.asarray(record["examples"]["logits"], dtype=np.float64))


def faithfulness_vs_random(method_record: dict, random_record: dict) -> np.ndarray:
    """Per example: normalised AOPC comprehensiveness of a method minus the random control's on
    the same examples (NaN where the normalisation is undefined); higher = more faithful."""
    if method_record["examples"]["uid"] != random_record["examples"]["uid"]:
        raise ValueError("the method and the random control were run on different examples")
    method = stored_faithfulness(method_record).aopc_norm_comprehensiveness
    control = stored_faithfulness(random_record).aopc_norm_comprehensiveness
    return method - control


def config_changes(
    store: ResultStore, pool: ModelPool, grid: Sequence[Config], *, method: str | None,
    n_faithfulness: int = 0, fractions: Sequence[float] | None = None, ig_steps: int = 8,
    batch_size: int = 16,
) -> list:
    """One `claims.ConfigChange` per pruned configuration of `grid` (units computed if missing).

    Faithfulness (when `method` is given) is `faithfulness_vs_random`, kept on the examples where
    it is defined for every model of the same example set (so they can be resampled jointly).
    """
    from .claims import ConfigChange

    pruned_grid = [c for c in grid if c.ratio > 0]
    raw = []
    for cfg in progress(pruned_grid, desc="configuration changes", min_items=2):
        full, pruned = (scores(store, pool, c, batch_size=batch_size) for c in (cfg.unpruned(), cfg))
        faith = {}
        if method:
            for c, name in ((cfg.unpruned(), "full"), (cfg, "pruned")):
                recs = [faithfulness(store, pool, c, m, n_examples=n_faithfulness, fractions=fractions,
                                     batch_size=max(1, batch_size // 2),
                                     options=method_options(m, ig_steps))
                        for m in (method, "random")]
                faith[name] = faithfulness_vs_random(*recs)
        raw.append((cfg, full, pruned, faith))
    faith_set = {id(cfg): f"{cfg.model}/{cfg.task}/seed{cfg.seed}/demo{cfg.demo_seed}/"
                          f"m{n_faithfulness}/{method}" for cfg, *_ in raw}
    defined: dict[str, np.ndarray] = {}
    for cfg, _, _, faith in raw:
        if faith:
            ok = np.isfinite(faith["full"]) & np.isfinite(faith["pruned"])
            key = faith_set[id(cfg)]
            defined[key] = defined[key] & ok if key in defined else ok
    out = []
    for cfg, full, pruned, faith in raw:
        ok = defined.get(faith_set[id(cfg)])
        if faith and ok.sum() < 2:  # too few examples with a defined score: no faithfulness claim
            warnings.warn(f"{faith_set[id(cfg)]}: normalised faithfulness is defined on only "
                          f"{int(ok.sum())} of {ok.size} examples; raise n_faithfulness", stacklevel=2)
            faith = {}
        out.append(ConfigChange(
            model=cfg.model, task=cfg.task,
            criterion=cfg.criterion if cfg.criterion != "random" else f"random#{cfg.criterion_seed}",
            ratio=cfg.ratio,
            example_set=f"{cfg.task}/seed{cfg.seed}/demo{cfg.demo_seed}/n{cfg.n_examples}",
            labels=np.asarray(full["examples"]["label"]), probs_full=stored_probs(full),
            probs_pruned=stored_probs(pruned),
            faith_full=faith["full"][ok] if faith else None,
            faith_pruned=faith["pruned"][ok] if faith else None,
            faith_set=faith_set[id(cfg)] if faith else None,
        ))
    return out


def interval_frame(
    store: ResultStore, pool: ModelPool, grid: Sequence[Config],
    metrics: Sequence[str] = ("accuracy", "ece", "ece_debiased", "brier", "nll"), *,
    confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0, batch_size: int = 16,
) -> pd.DataFrame:
    """Each configuration's test metrics with bootstrap intervals, as tidy rows (value, low, high)."""
    from . import stats

    rows = []
    for cfg in grid:
        rec = scores(store, pool, cfg, batch_size=batch_size)
        probs, labels = stored_probs(rec), rec["examples"]["label"]
        base = {"model": cfg.model, "task": cfg.task, "criterion": cfg.criterion, "ratio": cfg.ratio,
                "demo_seed": cfg.demo_seed, "criterion_seed": cfg.criterion_seed}
        for m in metrics:
            e, lo, hi = stats.metric_ci(m, probs, labels, confidence=confidence,
                                        n_resamples=n_resamples, seed=seed)
            rows.append({**base, "metric": m, "value": e, "low": lo, "high": hi,
                         "err": (hi - lo) / 2})
    return pd.DataFrame(rows)
