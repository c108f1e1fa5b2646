"""Stored units read back as what the chapters show: probabilities, attributions, paired changes.

Nothing here computes a unit or keys one: every function reads records through a chapter's run
(helpers.workload.ChapterRun) and turns them into arrays, `claims.ConfigChange` records and tidy
frames with intervals. Editing this module leaves every stored unit valid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from . import calibration, metrics, stats
from .attribution import Attribution
from .claims import ConfigChange
from .configs import Config
from .faithfulness import Faithfulness, agreement_frame

CONTROL = "random"


# --- one record ---------------------------------------------------------------------------------


def stored_probs(record: dict) -> np.ndarray:
    """Label-set probabilities of a stored scores unit's test examples."""
    return calibration.softmax(np.asarray(record["examples"]["logits"], dtype=np.float64))


def stored_attributions(record: dict, *, full_target: bool = False) -> list[Attribution]:
    """The Attribution objects of a stored faithfulness unit (optionally: of the full model's label)."""
    ex = record["examples"]
    fixed = ex.get("scores_full_target") or [None] * len(ex["uid"])
    out = []
    for t, i, s, y, u, f in zip(ex["tokens"], ex["token_ids"], ex["scores"], ex["target"],
                                ex["uid"], fixed, strict=True):
        scores_ = f if full_target and f is not None else s
        out.append(Attribution(tokens=t, token_ids=i, scores=np.asarray(scores_), target=y,
                               method=record["params"]["method"], uid=u))
    return out


def stored_faithfulness(record: dict) -> Faithfulness:
    """The per-example `faithfulness.Faithfulness` of a stored unit (every metric, every example)."""
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
    frame = agreement_frame(stored_attributions(full), stored_attributions(pruned, full_target=True),
                            k=k)
    frame["flipped"] = np.asarray(full["examples"]["target"]) != np.asarray(pruned["examples"]["target"])
    return frame


def faithfulness_vs_random(method_record: dict, random_record: dict) -> np.ndarray:
    """Per example: normalised AOPC comprehensiveness of a method minus the random control's on
    the same examples (NaN where the normalisation is undefined); higher = more faithful."""
    if method_record["examples"]["uid"] != random_record["examples"]["uid"]:
        raise ValueError("the method and the random control were run on different examples")
    method = stored_faithfulness(method_record).aopc_norm_comprehensiveness
    control = stored_faithfulness(random_record).aopc_norm_comprehensiveness
    return method - control


def label(cfg: Config) -> str:
    """How a configuration's criterion is named in tables ('full' at ratio 0)."""
    if cfg.ratio == 0:
        return "full"
    return f"random#{cfg.criterion_seed}" if cfg.criterion == "random" else cfg.criterion


# --- configurations against their unpruned model --------------------------------------------------


def faith_scores(record: dict) -> tuple[np.ndarray, int]:
    """Per example, the normalised AOPC comprehensiveness of a stored faithfulness unit, and how
    many examples took the defined value 0.

    The rule is fixed before any pruned output is seen and never drops an example: where the text
    lifts the label's probability over the empty frame by less than `faithfulness.NORM_MIN_GAP`,
    there is nothing an attribution can explain, and the score is 0 (the full and the pruned
    model alike)."""
    values = stored_faithfulness(record).aopc_norm_comprehensiveness
    undefined = ~np.isfinite(values)
    return np.where(undefined, 0.0, values), int(undefined.sum())


def config_changes(run: Any, grid: Sequence[Config], *, method: str | None) -> list[ConfigChange]:
    """One `claims.ConfigChange` per pruned configuration of `grid` (units computed if missing).

    Every demonstration seed of a configuration is its own change on the same test examples
    (`example_set` names the task, the sample seed and its size, so all models and seeds of a task
    are resampled together). Faithfulness (with `method`) is `faith_scores` on the first
    `n_faithfulness` test examples, the same for every model and seed of a task (`faith_set`).
    """
    out = []
    m_faith = run.params.get("n_faithfulness", 0)
    for cfg in (c for c in grid if c.ratio > 0):
        full, pruned = run.scores(cfg.unpruned()), run.scores(cfg)
        faith = {}
        if method and m_faith:
            faith = {"faith_full": faith_scores(run.faithfulness(cfg.unpruned(), method))[0],
                     "faith_pruned": faith_scores(run.faithfulness(cfg, method))[0],
                     "faith_set": f"{cfg.task}/seed{cfg.seed}/m{m_faith}"}
        out.append(ConfigChange(
            model=cfg.model, task=cfg.task,
            criterion=cfg.criterion if cfg.criterion != "random" else f"random#{cfg.criterion_seed}",
            ratio=cfg.ratio, example_set=f"{cfg.task}/seed{cfg.seed}/n{cfg.n_examples}",
            labels=np.asarray(full["examples"]["label"]), probs_full=stored_probs(full),
            probs_pruned=stored_probs(pruned), demo_seed=cfg.demo_seed, **faith,
        ))
    return out


def contrast_changes(run: Any, pairs: Sequence[tuple[Config, Config]], *,
                     method: str | None) -> list[ConfigChange]:
    """Two configurations on the same examples as one `ConfigChange`: `a` in the role of the full
    model, `b` in the pruned one's, so that the claims' estimates give b - a with its intervals
    (e.g. one criterion against another at equal ratio)."""
    out = []
    m_faith = run.params.get("n_faithfulness", 0)
    for a, b in pairs:
        if (a.model, a.task, a.seed, a.n_examples, a.demo_seed) != (b.model, b.task, b.seed,
                                                                    b.n_examples, b.demo_seed):
            raise ValueError(f"{a} and {b} are not evaluated on the same examples")
        ra, rb = run.scores(a), run.scores(b)
        faith = {}
        if method and m_faith:
            faith = {"faith_full": faith_scores(run.faithfulness(a, method))[0],
                     "faith_pruned": faith_scores(run.faithfulness(b, method))[0],
                     "faith_set": f"{a.task}/seed{a.seed}/m{m_faith}"}
        out.append(ConfigChange(
            model=b.model, task=b.task, criterion=f"{label(b)} − {label(a)}", ratio=b.ratio,
            example_set=f"{b.task}/seed{b.seed}/n{b.n_examples}",
            labels=np.asarray(ra["examples"]["label"]), probs_full=stored_probs(ra),
            probs_pruned=stored_probs(rb), demo_seed=b.demo_seed, **faith))
    return out


def undefined_faithfulness(run: Any, grid: Sequence[Config], method: str) -> pd.DataFrame:
    """Per configuration (full and pruned), how many faithfulness examples took the defined value."""
    rows = []
    for cfg in grid:
        values, n_undefined = faith_scores(run.faithfulness(cfg, method))
        rows.append({"model": cfg.model, "task": cfg.task, "criterion": label(cfg),
                     "ratio": cfg.ratio, "demo_seed": cfg.demo_seed, "examples": len(values),
                     "set to 0": n_undefined})
    return pd.DataFrame(rows).drop_duplicates()


def interval_frame(
    run: Any, grid: Sequence[Config],
    names: Sequence[str] = ("accuracy", "ece", "ece_debiased", "brier", "nll"), *,
    confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0,
) -> pd.DataFrame:
    """Each configuration's test metrics with bootstrap intervals, as tidy rows (value, low, high)."""
    rows = []
    for cfg in grid:
        rec = run.scores(cfg)
        probs, labels = stored_probs(rec), rec["examples"]["label"]
        base = {"model": cfg.model, "task": cfg.task, "criterion": cfg.criterion, "ratio": cfg.ratio,
                "demo_seed": cfg.demo_seed, "criterion_seed": cfg.criterion_seed}
        for m in names:
            e, lo, hi = stats.metric_ci(m, probs, labels, confidence=confidence,
                                        n_resamples=n_resamples, seed=seed)
            rows.append({**base, "metric": m, "value": e, "low": lo, "high": hi,
                         "err": (hi - lo) / 2})
    return pd.DataFrame(rows)


def paired_changes(
    run: Any, pairs: Sequence[tuple[Config, Config]], *,
    names: Sequence[str] = ("accuracy", "ece_debiased"), method: str | None = None,
    confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0,
) -> pd.DataFrame:
    """Per pair (a, b) on the same examples: each metric of a and b and the change b - a with a
    paired bootstrap interval; `method` adds its normalised AOPC comprehensiveness (Carton et al.
    2020), on the examples where both are defined."""
    rows = []
    for a, b in pairs:
        if (a.model, a.task, a.seed, a.n_examples, a.demo_seed) != (b.model, b.task, b.seed,
                                                                    b.n_examples, b.demo_seed):
            raise ValueError(f"{a} and {b} are not evaluated on the same examples")
        ra, rb = run.scores(a), run.scores(b)
        pa, pb, y = stored_probs(ra), stored_probs(rb), ra["examples"]["label"]
        base = {"model": a.model, "task": a.task, "ratio": b.ratio, "a": label(a), "b": label(b),
                "layers_a": ra["layers"], "layers_b": rb["layers"]}
        for m in names:
            d = stats.paired_delta_ci(m, pa, pb, y, confidence=confidence, n_resamples=n_resamples,
                                      seed=seed)
            rows.append({**base, "metric": m, "value_a": stats.metric_value(m, pa, y),
                         "value_b": stats.metric_value(m, pb, y), "delta": d.estimate,
                         "low": d.low, "high": d.high, "n": len(y)})
        if method:
            fa, fb = (stored_faithfulness(run.faithfulness(c, method)).aopc_norm_comprehensiveness
                      for c in (a, b))
            est, low, high, n = stats.defined_paired_delta_ci(
                fa, fb, confidence=confidence, n_resamples=n_resamples, seed=seed)
            ok = np.isfinite(fa) & np.isfinite(fb)
            rows.append({**base, "metric": "normalised comprehensiveness",
                         "value_a": float(fa[ok].mean()) if n else np.nan,
                         "value_b": float(fb[ok].mean()) if n else np.nan,
                         "delta": est, "low": low, "high": high, "n": n})
    return pd.DataFrame(rows)


def criterion_table(run: Any, grid: Sequence[Config], **kw: Any) -> pd.DataFrame:
    """Every pruned configuration of `grid` against its full model (see `paired_changes`)."""
    pairs = [(c.unpruned(), c) for c in grid if c.ratio > 0]
    frame = paired_changes(run, pairs, **kw)
    return frame.rename(columns={"b": "criterion", "value_a": "full", "value_b": "pruned"}).drop(
        columns=["a", "layers_a"])


def worse_side(name: str) -> str:
    """'up' or 'down': which way a change of metric `name` is a degradation (metrics registry)."""
    return metrics.get(name).worse


# --- criteria against the ablation oracle ---------------------------------------------------------


def keep_rank(order: Sequence[int]) -> np.ndarray:
    """Per layer, its position in a drop order: 0 = dropped first; higher = judged more important."""
    rank = np.empty(len(order))
    rank[np.asarray(order, dtype=int)] = np.arange(len(order))
    return rank


def oracle_comparison(run: Any, cfg: Config, names: Sequence[str], *,
                      criterion_seeds: Sequence[int] = (0,), n_resamples: int = 2000,
                      confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Each criterion's Spearman correlation with the single-layer ablation oracle, with a
    bootstrap interval over the oracle's examples (the criterion's ranking held fixed).

    Positive = the criterion keeps the layers whose removal costs most. `random` gets one row per
    seed and a row "random (mean)" with the mean over seeds (its draws averaged per resample).
    """
    orc = run.oracle(cfg)
    deltas = np.asarray(orc["deltas"], dtype=np.float64)
    idx = stats.bootstrap_indices(deltas.shape[1], n_resamples, seed)
    truth = deltas.mean(axis=1)
    truth_boot = deltas[:, idx].mean(axis=2).T  # (n_resamples, layers)
    rows, random_draws, random_hats = [], [], []
    base = {"model": cfg.model, "task": cfg.task, "n_oracle": deltas.shape[1],
            "n_layers": deltas.shape[0]}
    for name in names:
        seeded = name == "random"
        for s in criterion_seeds if seeded else criterion_seeds[:1]:
            c = replace(cfg, criterion=name, criterion_seed=s)
            rank = keep_rank(run.drop_order(c))
            hat = float(stats.spearman_rows(rank, truth)[0])
            draws = stats.spearman_rows(np.broadcast_to(rank, truth_boot.shape), truth_boot)
            e, lo, hi = stats.percentile_interval(stats.Boot(hat, draws, deltas.shape[1]), confidence)
            rows.append({**base, "criterion": name, "criterion_seed": s if seeded else None,
                         "spearman": e, "low": lo, "high": hi})
            if seeded:
                random_draws.append(draws)
                random_hats.append(hat)
    if len(random_hats) > 1:
        e, lo, hi = stats.percentile_interval(
            stats.Boot(float(np.mean(random_hats)), np.mean(random_draws, axis=0), deltas.shape[1]),
            confidence)
        rows.append({**base, "criterion": "random (mean)", "criterion_seed": None, "spearman": e,
                     "low": lo, "high": hi})
    return pd.DataFrame(rows)


def oracle_frame(run: Any, cfg: Config, names: Sequence[str]) -> pd.DataFrame:
    """Per layer: the oracle's NLL change and each criterion's position in its drop order."""
    orc = run.oracle(cfg)
    frame = pd.DataFrame({"layer": np.arange(len(orc["delta"])), "oracle_delta_nll": orc["delta"]})
    for name in names:
        frame[name] = keep_rank(run.drop_order(replace(cfg, criterion=name))).astype(int)
    return frame.assign(model=cfg.model, task=cfg.task)


def dropped_set_kl(run: Any, grid: Sequence[Config], *, n_resamples: int = 2000,
                   seed: int = 0) -> pd.DataFrame:
    """Per pruned configuration: the mean KL(full || pruned) of the label-set distributions on the
    calibration split, for the whole SET of layers the criterion drops (what the single-layer
    oracle does not measure), with a 95% bootstrap interval over the examples."""
    from .greedy import log_softmax

    rows = []
    for cfg in (c for c in grid if c.ratio > 0):
        full, pruned = run.scores(cfg.unpruned()), run.scores(cfg)
        lp = log_softmax(np.asarray(full["examples"]["calibration_logits"]))
        lq = log_softmax(np.asarray(pruned["examples"]["calibration_logits"]))
        per_example = (np.exp(lp) * (lp - lq)).sum(axis=1)
        e, lo, hi = stats.mean_ci(per_example, n_resamples=n_resamples, seed=seed)
        rows.append({"model": cfg.model, "task": cfg.task, "criterion": label(cfg),
                     "ratio": cfg.ratio, "layers": pruned["layers"], "kl": e, "low": lo,
                     "high": hi, "n": len(per_example)})
    return pd.DataFrame(rows)


def label_use(run: Any, grid: Sequence[Config], *, n_resamples: int = 2000,
              seed: int = 0) -> pd.DataFrame:
    """Per pruned configuration against its full model: the probability mass the whole vocabulary
    puts on the label words (mean, paired 95% interval of the change), and the share of test
    examples predicted as each label beside the true share."""
    rows = []
    for cfg in (c for c in grid if c.ratio > 0):
        full, pruned = run.scores(cfg.unpruned()), run.scores(cfg)
        mf = np.asarray(full["examples"]["label_mass"])
        mp = np.asarray(pruned["examples"]["label_mass"])
        d = stats.paired_mean_delta_ci(mf, mp, n_resamples=n_resamples, seed=seed)
        labels = np.asarray(full["examples"]["label"])
        k = stored_probs(full).shape[1]
        row = {"model": cfg.model, "task": cfg.task, "criterion": label(cfg), "ratio": cfg.ratio,
               "mass_full": float(mf.mean()), "mass_pruned": float(mp.mean()),
               "d_mass": d.estimate, "d_mass_low": d.low, "d_mass_high": d.high}
        for y in range(k):
            row[f"true_{y}"] = float(np.mean(labels == y))
            row[f"full_{y}"] = float(np.mean(stored_probs(full).argmax(1) == y))
            row[f"pruned_{y}"] = float(np.mean(stored_probs(pruned).argmax(1) == y))
        rows.append(row)
    return pd.DataFrame(rows)
