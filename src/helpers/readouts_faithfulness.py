"""Faithfulness read back for chapter 2: attribution methods against the random control, their
change under pruning, the lift of the label and the drift of attributions.

Nothing here computes or keys a unit (see helpers.readouts).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import stats
from .configs import Config
from .readouts import CONTROL, drift, faith_scores, label, stored_faithfulness

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
