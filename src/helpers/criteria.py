"""Pruning criteria beyond the anchors, and the ablation oracle every criterion is judged against.

Stored units (each keyed by what it depends on, plus device, dtype and the model's revision):

- `relevance` (criterion "relevance", after Hatefi et al. 2025, arXiv:2506.13727): per layer, the
  AttnLRP relevance entering the residual stream through the attention output
  (`lrp.attention_relevance`), per sample divided by its L1 norm over layers, absolute values
  averaged over the samples. Samples follow `Config.importance_source`, as for `similarity`:
  with "task", `n_texts` examples of the task's demonstration pool (the prompt's own
  demonstrations left out), each inside the task's classification prompt (`shots`, `demo_seed`),
  explaining the predicted label's log-odds, the quantity the study's attributions explain; with
  a task name ("bbc_news" by default), `n_texts` texts of that task's demo pool cut to
  `max_length` tokens, explaining each actual next token's logit (minus the vocabulary mean),
  summed over positions. `n_texts` and `max_length` are the pool's `importance_options`. No test
  or calibration example is used. Lowest relevance is dropped first.
- `greedy_kl` (criterion "greedy_kl"): on the task's calibration split (prompts built exactly as
  `evaluation.scores` builds them), drop, one at a time, the live sub-layer whose removal gives
  the smallest mean KL(full || pruned) of the label-set distributions, recomputed after every
  drop. Cost: sum_{k<K} (L - k) batched scoring passes of the examples used, for L layers and K
  steps (K = floor(max_ratio * L), max_ratio = the larger of GREEDY_MAX_RATIO, or the cap that
  `set_greedy_options` puts on the pool, and the configuration's ratio);
  at most `max_examples` calibration examples are used (a label-stratified sample of that size).
  Every ratio up to max_ratio uses a prefix of the one stored order; the layers never dropped
  follow in the order of their KL at the last step.
- `oracle`: per layer, the change in mean label NLL on the task's calibration split when only
  that attention sub-layer is dropped, with every per-example change kept. The calibration split,
  not the test sample: criteria are compared without looking at test data (it is also what
  `greedy_kl` reads, so its agreement with the oracle is partly by construction).

`oracle_comparison` gives each criterion's Spearman correlation with the oracle (bootstrap over
the oracle's examples; the criterion's ranking is held fixed); `criterion_table` and
`paired_changes` give accuracy, debiased ECE and AOPC comprehensiveness per criterion with
paired intervals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from . import evaluation as ev
from . import pruning, scoring, stats
from .evaluation import Config, ModelPool
from .results import ResultStore
from .tasks import Example, Task, get_task, load_task

RELEVANCE_VARIANT = "attnlrp"
GREEDY_MAX_RATIO = 0.5
GREEDY_MAX_EXAMPLES = 32
SCORED = ("similarity", "relevance", "greedy_kl")  # criteria that rank stored per-layer scores
GREEDY_OPTIONS = "greedy_options"  # pool attribute that `set_greedy_options` sets


def set_greedy_options(pool: ModelPool, *, max_examples: int = GREEDY_MAX_EXAMPLES,
                       max_ratio: float | None = None) -> ModelPool:
    """Make every `greedy_kl` configuration evaluated with `pool` use these options (cost caps)."""
    setattr(pool, GREEDY_OPTIONS, {"max_examples": int(max_examples), "max_ratio": max_ratio})
    return pool


# --- relevance -----------------------------------------------------------------------------------


def relevance_samples(pool: ModelPool, cfg: Config) -> dict:
    """What the `relevance` scores of `cfg` are computed on (part of the unit's key)."""
    opts = pool.importance_options
    if cfg.importance_source == "task":
        return {"kind": "task_prompts", "task": cfg.task, "n": opts["n_texts"], "shots": cfg.shots,
                "demo_seed": cfg.demo_seed, "target": "predicted label log-odds"}
    return {"kind": "texts", "task": cfg.importance_texts_from, "n": opts["n_texts"], "text_seed": 0,
            "max_length": opts["max_length"], "target": "next-token logit minus vocabulary mean"}


def relevance(
    store: ResultStore, pool: ModelPool, cfg: Config, *, variant: str = RELEVANCE_VARIANT,
    batch_size: int = 4,
) -> list[float]:
    """AttnLRP relevance of each attention sub-layer, on the samples `relevance_samples` names (stored)."""
    from . import lrp

    samples = relevance_samples(pool, cfg)
    params = {**ev.model_key(pool, cfg.model), "samples": samples, "variant": variant,
              "normalisation": "L1 per sample", "aggregate": "mean of absolute values"}

    def compute() -> dict:
        model, tok = pool.full(cfg.model)
        if samples["kind"] == "task_prompts":
            scores = lrp.attention_relevance(model, tok, cfg.task, n=samples["n"], shots=cfg.shots,
                                             seed=cfg.demo_seed, variant=variant,
                                             batch_size=batch_size)
        else:
            texts = pruning.calibration_texts(samples["n"], seed=0, task=samples["task"])
            scores = lrp.attention_relevance(model, tok, texts, variant=variant, batch_size=batch_size,
                                             max_length=samples["max_length"])
        return {"scores": scores}

    return store.get_or_compute("relevance", params, compute, ev._provenance(pool, cfg.model))["scores"]


# --- greedy KL -------------------------------------------------------------------------------------


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def mean_kl(logits_p: np.ndarray, logits_q: np.ndarray) -> float:
    """Mean over rows of KL(softmax(p) || softmax(q)), in nats."""
    lp, lq = _log_softmax(logits_p), _log_softmax(logits_q)
    return float((np.exp(lp) * (lp - lq)).sum(axis=1).mean())


def greedy_kl_order(
    model, tokenizer, task: Task, examples: Sequence[Example], *, steps: int, shots: int,
    seed: int = 0, batch_size: int = 16, progress: bool = True,
) -> dict:
    """Greedy drop order: `steps` times, drop the live sub-layer whose removal least changes the label-set distribution (mean KL to the full model)."""
    from .progress import progress as progress_bar

    blocks = pruning.decoder_layers(model)
    if pruning.dropped_layers(model):
        raise ValueError("greedy_kl_order needs the full model (no attention dropped)")
    if not 0 <= steps < len(blocks):
        raise ValueError(f"steps must be in [0, {len(blocks) - 1}], got {steps}")
    prompt = scoring.build_prompt(tokenizer, task, shots=shots, seed=seed)
    bodies = scoring.encode_bodies(tokenizer, task, examples)

    def logits() -> np.ndarray:
        return scoring.body_logits(model, tokenizer, prompt, bodies, batch_size=batch_size,
                                   progress=False)

    full = logits()
    order: list[int] = []
    kl: list[list[float]] = []  # per step, every layer's KL if dropped next (NaN: already dropped)
    for _ in progress_bar(range(max(steps, 1)), desc="greedy KL", enabled=progress):
        row = [float("nan")] * len(blocks)
        with pruning.attention_dropped(model, order):
            for layer in range(len(blocks)):
                if layer not in order:
                    with pruning.attention_dropped(model, [layer]):
                        row[layer] = mean_kl(full, logits())
        kl.append(row)
        if len(order) == steps:
            break
        order.append(int(np.nanargmin(row)))  # ties: the lowest index
    last = np.asarray(kl[-1])
    rest = sorted((i for i in range(len(blocks)) if i not in order), key=lambda i: (last[i], i))
    ranking = order + rest
    scores = [0.0] * len(blocks)
    for position, layer in enumerate(ranking):
        scores[layer] = float(position)
    return {"order": order, "ranking": ranking, "scores": scores, "kl": kl}


def greedy_settings(pool: ModelPool, cfg: Config, *, max_examples: int | None = None,
                    max_ratio: float | None = None) -> dict:
    """The examples used and the ratio reached by `cfg`'s greedy order (arguments, else the pool's options, else the defaults)."""
    opts = getattr(pool, GREEDY_OPTIONS, {})
    if max_examples is None:
        max_examples = opts.get("max_examples") or GREEDY_MAX_EXAMPLES
    if max_ratio is None:
        max_ratio = opts.get("max_ratio") or GREEDY_MAX_RATIO
    return {"n_examples": min(cfg.n_calibration, int(max_examples)),
            "max_ratio": max(float(max_ratio), cfg.ratio)}


def greedy_kl(
    store: ResultStore, pool: ModelPool, cfg: Config, *, max_examples: int | None = None,
    max_ratio: float | None = None, batch_size: int = 16,
) -> dict:
    """The stored greedy KL order of `cfg`'s model on its task's calibration split (scores: step of each layer)."""
    settings = greedy_settings(pool, cfg, max_examples=max_examples, max_ratio=max_ratio)
    n_used, max_ratio = settings["n_examples"], settings["max_ratio"]
    params = {**ev.model_key(pool, cfg.model), "task": cfg.task, "shots": cfg.shots,
              "demo_seed": cfg.demo_seed, "seed": cfg.seed, "split": "calibration", **settings}

    def compute() -> dict:
        model, tok = pool.full(cfg.model)
        held = load_task(cfg.task, split="calibration", n=n_used, seed=cfg.seed)
        steps = pruning.n_to_drop(pruning.n_layers(model), max_ratio)
        return greedy_kl_order(model, tok, get_task(cfg.task), held, steps=steps, shots=cfg.shots,
                               seed=cfg.demo_seed, batch_size=batch_size)

    return store.get_or_compute("greedy_kl", params, compute, ev._provenance(pool, cfg.model))


# --- scores and rankings of every criterion ---------------------------------------------------------


def layer_scores(store: ResultStore, pool: ModelPool, cfg: Config) -> list[float] | None:
    """The per-layer scores `pruning.CRITERIA[cfg.criterion]` ranks (None for criteria without scores)."""
    if cfg.criterion == "similarity":
        return ev.importance(store, pool, cfg.model, texts_from=cfg.importance_texts_from,
                             **pool.importance_options)
    if cfg.criterion == "relevance":
        return relevance(store, pool, cfg)
    if cfg.criterion == "greedy_kl":
        return greedy_kl(store, pool, cfg)["scores"]
    return None


def drop_order(store: ResultStore, pool: ModelPool, cfg: Config) -> list[int]:
    """Every layer, from first to last dropped by `cfg.criterion` (its layers at a ratio are a prefix)."""
    scores = layer_scores(store, pool, cfg)
    n = len(scores) if scores is not None else pruning.n_layers(pool.full(cfg.model)[0])
    rng = np.random.default_rng(cfg.criterion_seed)
    return pruning.CRITERIA[cfg.criterion](n, scores, rng)


# --- the ablation oracle -----------------------------------------------------------------------------


def _label_nll(logits: np.ndarray, labels: Sequence[int]) -> np.ndarray:
    return -_log_softmax(logits)[np.arange(len(labels)), np.asarray(labels)]


def ablation_deltas(
    model, tokenizer, task: Task, examples: Sequence[Example], *, shots: int, seed: int = 0,
    batch_size: int = 16, progress: bool = True,
) -> np.ndarray:
    """(layers, examples): each example's label NLL with only that layer's attention dropped, minus the full model's."""
    from .progress import progress as progress_bar

    if pruning.dropped_layers(model):
        raise ValueError("ablation_deltas needs the full model (no attention dropped)")
    prompt = scoring.build_prompt(tokenizer, task, shots=shots, seed=seed)
    bodies = scoring.encode_bodies(tokenizer, task, examples)
    labels = [e.label for e in examples]

    def nll() -> np.ndarray:
        return _label_nll(scoring.body_logits(model, tokenizer, prompt, bodies, batch_size=batch_size,
                                              progress=False), labels)

    full = nll()
    n = pruning.n_layers(model)
    out = np.zeros((n, len(examples)))
    for layer in progress_bar(range(n), desc="ablation oracle", enabled=progress):
        with pruning.attention_dropped(model, [layer]):
            out[layer] = nll() - full
    return out


def oracle(store: ResultStore, pool: ModelPool, cfg: Config, *, batch_size: int = 16) -> dict:
    """Per layer, the change in mean label NLL on the calibration split when only its attention is dropped (stored)."""
    params = {**ev.model_key(pool, cfg.model), "task": cfg.task, "shots": cfg.shots,
              "demo_seed": cfg.demo_seed, "seed": cfg.seed, "split": "calibration",
              "n_examples": cfg.n_calibration}

    def compute() -> dict:
        model, tok = pool.full(cfg.model)
        held = load_task(cfg.task, split="calibration", n=cfg.n_calibration, seed=cfg.seed)
        deltas = ablation_deltas(model, tok, get_task(cfg.task), held, shots=cfg.shots,
                                 seed=cfg.demo_seed, batch_size=batch_size)
        return {"uid": [e.uid for e in held], "label": [e.label for e in held],
                "delta": deltas.mean(axis=1).tolist(), "deltas": deltas.round(7).tolist()}

    return store.get_or_compute("oracle", params, compute, ev._provenance(pool, cfg.model))


def keep_rank(order: Sequence[int]) -> np.ndarray:
    """Per layer, its position in a drop order: 0 = dropped first; higher = judged more important."""
    rank = np.empty(len(order))
    rank[np.asarray(order, dtype=int)] = np.arange(len(order))
    return rank


def oracle_comparison(
    store: ResultStore, pool: ModelPool, cfg: Config, criteria: Sequence[str], *,
    criterion_seeds: Sequence[int] = (0,), n_resamples: int = 2000, confidence: float = 0.95,
    seed: int = 0, batch_size: int = 16,
) -> pd.DataFrame:
    """Each criterion's Spearman correlation with the ablation oracle, with a bootstrap interval over the oracle's examples.

    Positive = the criterion keeps the layers whose removal costs most. The criterion's ranking is
    fixed; only the oracle is resampled. `random` gets one row per seed and a row "random (mean)"
    with the mean over seeds (its draws averaged per resample).
    """
    orc = oracle(store, pool, cfg, batch_size=batch_size)
    deltas = np.asarray(orc["deltas"], dtype=np.float64)
    idx = stats.bootstrap_indices(deltas.shape[1], n_resamples, seed)
    truth = deltas.mean(axis=1)
    truth_boot = deltas[:, idx].mean(axis=2).T  # (n_resamples, layers)
    rows, random_draws, random_hats = [], [], []
    base = {"model": cfg.model, "task": cfg.task, "n_oracle": deltas.shape[1],
            "n_layers": deltas.shape[0]}
    for criterion in criteria:
        for s in criterion_seeds if criterion == "random" else criterion_seeds[:1]:
            c = replace(cfg, criterion=criterion, criterion_seed=s)
            rank = keep_rank(drop_order(store, pool, c))
            hat = float(stats.spearman_rows(rank, truth)[0])
            draws = stats.spearman_rows(np.broadcast_to(rank, truth_boot.shape), truth_boot)
            e, lo, hi = stats.percentile_interval(stats.Boot(hat, draws, deltas.shape[1]), confidence)
            rows.append({**base, "criterion": criterion,
                         "criterion_seed": s if criterion == "random" else None,
                         "spearman": e, "low": lo, "high": hi})
            if criterion == "random":
                random_draws.append(draws)
                random_hats.append(hat)
    if len(random_hats) > 1:
        e, lo, hi = stats.percentile_interval(
            stats.Boot(float(np.mean(random_hats)), np.mean(random_draws, axis=0), deltas.shape[1]),
            confidence)
        rows.append({**base, "criterion": "random (mean)", "criterion_seed": None, "spearman": e,
                     "low": lo, "high": hi})
    return pd.DataFrame(rows)


def oracle_frame(store: ResultStore, pool: ModelPool, cfg: Config, criteria: Sequence[str], *,
                 criterion_seeds: Sequence[int] = (0,), batch_size: int = 16) -> pd.DataFrame:
    """Tidy per-layer table: the oracle's NLL change and each criterion's drop position (for a figure)."""
    orc = oracle(store, pool, cfg, batch_size=batch_size)
    frame = pd.DataFrame({"layer": np.arange(len(orc["delta"])), "oracle_delta_nll": orc["delta"]})
    for criterion in criteria:
        for s in criterion_seeds if criterion == "random" else criterion_seeds[:1]:
            name = f"random#{s}" if criterion == "random" else criterion
            c = replace(cfg, criterion=criterion, criterion_seed=s)
            frame[name] = keep_rank(drop_order(store, pool, c)).astype(int)
    return frame.assign(model=cfg.model, task=cfg.task)


# --- accuracy, calibration and faithfulness per criterion, with paired intervals ---------------


def _faith_values(store, pool, cfg: Config, method: str, n_faithfulness: int, batch_size: int,
                  ig_steps: int) -> np.ndarray:
    rec = ev.faithfulness(store, pool, cfg, method, n_examples=n_faithfulness,
                          batch_size=batch_size, options=ev.method_options(method, ig_steps))
    return ev.stored_faithfulness(rec).aopc_norm_comprehensiveness


def paired_changes(
    store: ResultStore, pool: ModelPool, pairs: Sequence[tuple[Config, Config]], *,
    metrics: Sequence[str] = ("accuracy", "ece_debiased"), method: str | None = None,
    n_faithfulness: int = 0, ig_steps: int = 8, confidence: float = 0.95, n_resamples: int = 2000,
    seed: int = 0, batch_size: int = 16,
) -> pd.DataFrame:
    """Per pair (a, b) on the same examples: each metric of a and b and the change b - a with a paired bootstrap interval.

    Faithfulness (with `method`): normalised AOPC comprehensiveness of `method` (Carton et al.
    2020; a pure loss of confidence cannot move it), on the examples where both are defined.
    """
    rows = []
    for a, b in pairs:
        if (a.model, a.task, a.seed, a.n_examples, a.demo_seed) != (b.model, b.task, b.seed,
                                                                    b.n_examples, b.demo_seed):
            raise ValueError(f"{a} and {b} are not evaluated on the same examples")
        ra, rb = (ev.scores(store, pool, c, batch_size=batch_size) for c in (a, b))
        pa, pb, y = ev.stored_probs(ra), ev.stored_probs(rb), ra["examples"]["label"]
        base = {"model": a.model, "task": a.task, "ratio": b.ratio,
                "a": _label(a), "b": _label(b), "layers_a": ra["layers"], "layers_b": rb["layers"]}
        for m in metrics:
            va = stats.metric_value(m, pa, y)
            vb = stats.metric_value(m, pb, y)
            d = stats.paired_delta_ci(m, pa, pb, y, confidence=confidence, n_resamples=n_resamples,
                                      seed=seed)
            rows.append({**base, "metric": m, "value_a": va, "value_b": vb, "delta": d.estimate,
                         "low": d.low, "high": d.high, "n": len(y)})
        if method:
            fa, fb = (_faith_values(store, pool, c, method, n_faithfulness, max(1, batch_size // 2),
                                    ig_steps) for c in (a, b))
            est, low, high, n = stats.defined_paired_delta_ci(
                fa, fb, confidence=confidence, n_resamples=n_resamples, seed=seed)
            ok = np.isfinite(fa) & np.isfinite(fb)
            rows.append({**base, "metric": f"normalised comprehensiveness ({method})",
                         "value_a": float(fa[ok].mean()) if n else np.nan,
                         "value_b": float(fb[ok].mean()) if n else np.nan,
                         "delta": est, "low": low, "high": high, "n": n})
    return pd.DataFrame(rows)


def _label(cfg: Config) -> str:
    if cfg.ratio == 0:
        return "full"
    return f"random#{cfg.criterion_seed}" if cfg.criterion == "random" else cfg.criterion


def criterion_table(
    store: ResultStore, pool: ModelPool, grid: Sequence[Config], **kw,
) -> pd.DataFrame:
    """Every pruned configuration of `grid` against its full model: metrics and paired changes (see `paired_changes`)."""
    pairs = [(c.unpruned(), c) for c in grid if c.ratio > 0]
    frame = paired_changes(store, pool, pairs, **kw)
    return frame.rename(columns={"b": "criterion", "value_a": "full", "value_b": "pruned"}).drop(
        columns=["a", "layers_a"])
