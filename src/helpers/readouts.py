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


def temperature_scaling(run: Any, grid: Sequence[Config], *, n_resamples: int = 2000,
                        seed: int = 0) -> list[dict]:
    """Per configuration: the stored temperature fit and, on the test sample, the debiased ECE,
    ECE and NLL before and after scaling with paired changes (95% bootstrap intervals; the
    intervals take T as fitted)."""
    boot = {"n_resamples": n_resamples, "seed": seed}
    out = []
    for cfg in grid:
        rec = run.scores(cfg)
        values = {r["metric"]: r["value"] for r in rec["metrics"]}
        logits = np.asarray(rec["examples"]["logits"], dtype=np.float64)
        labels = rec["examples"]["label"]
        before = calibration.softmax(logits)
        after = calibration.apply_temperature(logits, values["temperature"])
        row = {"cfg": cfg, "model": cfg.model, "task": cfg.task, "ratio": cfg.ratio,
               "T": values["temperature"], "T_low": values["temperature_low"],
               "T_high": values["temperature_high"],
               "at_bound": bool(values["temperature_at_bound"])}
        for name in ("ece", "ece_debiased", "nll"):
            row[f"{name}_before"] = stats.metric_ci(name, before, labels, **boot)
            row[f"{name}_after"] = stats.metric_ci(name, after, labels, **boot)
            row[f"{name}_delta"] = stats.paired_delta_ci(name, before, after, labels, **boot)
        row["ece_debiased_sq_delta"] = stats.paired_delta_ci("ece_debiased_sq", before, after,
                                                             labels, **boot)
        out.append(row)
    return out


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


# --- attribution methods against the random control and under pruning (chapter 2) -----------------

FAITH_COLUMNS = ("comprehensiveness", "sufficiency", "norm_comprehensiveness", "norm_sufficiency")


def norm_sufficiency_scores(record: dict) -> tuple[np.ndarray, int]:
    """Per example, the normalised AOPC sufficiency of a stored faithfulness unit under the rule of
    `faith_scores` (0 where the text lifts the label by less than `faithfulness.NORM_MIN_GAP`),
    and how many examples took that value."""
    values = stored_faithfulness(record).aopc_norm_sufficiency
    undefined = ~np.isfinite(values)
    return np.where(undefined, 0.0, values), int(undefined.sum())


def faith_vs_random(method_record: dict, random_record: dict) -> tuple[np.ndarray, int]:
    """Per example: `faith_scores` of a method minus the random control's on the same examples
    (no example dropped: both are 0 where the score is undefined), and how many examples were set
    to 0. Higher = more faithful than random."""
    if method_record["examples"]["uid"] != random_record["examples"]["uid"]:
        raise ValueError("the method and the random control were run on different examples")
    method, n_zero = faith_scores(method_record)
    control, _ = faith_scores(random_record)
    return method - control, n_zero


def _ci_columns(name: str, interval: tuple) -> dict[str, float]:
    est, low, high = interval[:3]
    return {name: est, f"{name}_low": low, f"{name}_high": high}


def _base(cfg: Config, method: str) -> dict[str, Any]:
    return {"model": cfg.model, "task": cfg.task, "criterion": label(cfg), "ratio": cfg.ratio,
            "method": method}


def faithfulness_table(run: Any, grid: Sequence[Config], methods: Sequence[str], *,
                       confidence: float = 0.95, n_resamples: int = 2000,
                       seed: int = 0) -> pd.DataFrame:
    """One row per configuration and method: the mean over the faithfulness examples of AOPC
    comprehensiveness, sufficiency and their normalised forms (undefined = 0, `faith_scores`),
    each with a percentile bootstrap interval (columns X, X_low, X_high for X in FAITH_COLUMNS),
    the number of examples `n` and `set_to_0`, how many normalised scores took the value 0."""
    boot = {"confidence": confidence, "n_resamples": n_resamples, "seed": seed}
    rows = []
    for cfg in grid:
        for m in methods:
            rec = run.faithfulness(cfg, m)
            f = stored_faithfulness(rec)
            norm_comp, n_zero = faith_scores(rec)
            values = {"comprehensiveness": f.aopc_comprehensiveness,
                      "sufficiency": f.aopc_sufficiency,
                      "norm_comprehensiveness": norm_comp,
                      "norm_sufficiency": norm_sufficiency_scores(rec)[0]}
            row = {**_base(cfg, m), "n": len(norm_comp), "set_to_0": n_zero}
            for name, v in values.items():
                row.update(_ci_columns(name, stats.defined_mean_ci(v, **boot)))
            rows.append(row)
    return pd.DataFrame(rows)


def against_random(run: Any, grid: Sequence[Config], methods: Sequence[str], *,
                   confidence: float = 0.95, n_resamples: int = 2000,
                   seed: int = 0) -> pd.DataFrame:
    """One row per configuration and method other than the control: the method minus the random
    control on the same examples, per example then averaged, with paired bootstrap intervals:
    `d_norm` (normalised AOPC comprehensiveness, undefined = 0: `faith_vs_random`), `d_comp` and
    `d_suff` (raw AOPC comprehensiveness and sufficiency); `n` examples, `set_to_0` of them."""
    boot = {"confidence": confidence, "n_resamples": n_resamples, "seed": seed}
    rows = []
    for cfg in grid:
        control = run.faithfulness(cfg, CONTROL)
        fc = stored_faithfulness(control)
        for m in (x for x in methods if x != CONTROL):
            rec = run.faithfulness(cfg, m)
            diff, n_zero = faith_vs_random(rec, control)
            fm = stored_faithfulness(rec)
            row = {**_base(cfg, m), "n": len(diff), "set_to_0": n_zero}
            row.update(_ci_columns("d_norm", stats.defined_mean_ci(diff, **boot)))
            row.update(_ci_columns("d_comp", stats.defined_paired_delta_ci(
                fc.aopc_comprehensiveness, fm.aopc_comprehensiveness, **boot)))
            row.update(_ci_columns("d_suff", stats.defined_paired_delta_ci(
                fc.aopc_sufficiency, fm.aopc_sufficiency, **boot)))
            rows.append(row)
    return pd.DataFrame(rows)


def faithfulness_changes(run: Any, grid: Sequence[Config], methods: Sequence[str], *,
                         confidence: float = 0.95, n_resamples: int = 2000,
                         seed: int = 0) -> pd.DataFrame:
    """One row per pruned configuration of `grid` and method other than the control: changes
    pruned - full on the same examples with paired bootstrap intervals. `d_faith`: normalised AOPC
    comprehensiveness (`faith_scores`, the change chapter 4 tests); `d_vs_random`: the same over
    the random control (`faith_vs_random`); `d_comp`: raw AOPC comprehensiveness.
    `set_to_0_full` / `set_to_0_pruned`: examples whose normalised score took the value 0."""
    boot = {"confidence": confidence, "n_resamples": n_resamples, "seed": seed}
    rows = []
    for cfg in (c for c in grid if c.ratio > 0):
        full_cfg = cfg.unpruned()
        ctrl_f, ctrl_p = run.faithfulness(full_cfg, CONTROL), run.faithfulness(cfg, CONTROL)
        for m in (x for x in methods if x != CONTROL):
            rec_f, rec_p = run.faithfulness(full_cfg, m), run.faithfulness(cfg, m)
            (nf, zf), (np_, zp) = faith_scores(rec_f), faith_scores(rec_p)
            sf, sp = stored_faithfulness(rec_f), stored_faithfulness(rec_p)
            row = {**_base(cfg, m), "n": len(nf), "set_to_0_full": zf, "set_to_0_pruned": zp}
            row.update(_ci_columns("d_faith", stats.defined_paired_delta_ci(nf, np_, **boot)))
            row.update(_ci_columns("d_vs_random", stats.defined_paired_delta_ci(
                faith_vs_random(rec_f, ctrl_f)[0], faith_vs_random(rec_p, ctrl_p)[0], **boot)))
            row.update(_ci_columns("d_comp", stats.defined_paired_delta_ci(
                sf.aopc_comprehensiveness, sp.aopc_comprehensiveness, **boot)))
            rows.append(row)
    return pd.DataFrame(rows)


def drift_table(run: Any, grid: Sequence[Config], methods: Sequence[str], *, k: float = 0.2,
                confidence: float = 0.95, n_resamples: int = 2000,
                seed: int = 0) -> pd.DataFrame:
    """One row per pruned configuration of `grid` and method other than the control: the mean
    agreement of the full and the pruned model's attributions of the same label (`drift`:
    `spearman`, `top_k_overlap`), each with a bootstrap interval; `n_spearman` counts the examples
    where Spearman's rho is defined (it is not for a constant attribution), `n` all examples.
    The share of flipped predictions is the same for every method: see `lift_table`."""
    boot = {"confidence": confidence, "n_resamples": n_resamples, "seed": seed}
    rows = []
    for cfg in (c for c in grid if c.ratio > 0):
        for m in (x for x in methods if x != CONTROL):
            d = drift(run.faithfulness(cfg.unpruned(), m), run.faithfulness(cfg, m), k=k)
            rho = stats.defined_mean_ci(d.spearman, **boot)
            row = {**_base(cfg, m), "n": len(d), "n_spearman": rho[3]}
            row.update(_ci_columns("spearman", rho))
            row.update(_ci_columns("top_k_overlap", stats.defined_mean_ci(d.top_k_overlap, **boot)))
            rows.append(row)
    return pd.DataFrame(rows)


def lift_table(run: Any, grid: Sequence[Config], *, method: str = CONTROL,
               confidence: float = 0.95, n_resamples: int = 2000,
               seed: int = 0) -> pd.DataFrame:
    """One row per configuration: what its faithfulness examples share whatever the method,
    read from `method`'s unit. `n` examples; `set_to_0`, how many normalised scores take the value
    0 (`faith_scores`); `lift`, the mean of p(y|x) - p(y|empty body) for the explained label y
    (the model's prediction) with a bootstrap interval; for a pruned configuration, `d_lift`, its
    paired change against the full model (each model's own label), and `flipped`, the share of
    examples whose prediction differs from the full model's (NaN at ratio 0)."""
    boot = {"confidence": confidence, "n_resamples": n_resamples, "seed": seed}
    nan = (np.nan, np.nan, np.nan)
    rows = []
    for cfg in grid:
        rec = run.faithfulness(cfg, method)
        f = stored_faithfulness(rec)
        lift = f.p_full - f.p_empty
        row = {**_base(cfg, method), "n": len(lift), "set_to_0": faith_scores(rec)[1]}
        row.update(_ci_columns("lift", stats.defined_mean_ci(lift, **boot)))
        d_lift, flipped = nan, nan
        if cfg.ratio > 0:
            full = stored_faithfulness(run.faithfulness(cfg.unpruned(), method))
            d_lift = stats.defined_paired_delta_ci(full.p_full - full.p_empty, lift, **boot)
            flipped = stats.defined_mean_ci((full.target != f.target).astype(float), **boot)
        row.update(_ci_columns("d_lift", d_lift))
        row.update(_ci_columns("flipped", flipped))
        rows.append(row)
    return pd.DataFrame(rows).drop(columns="method")
