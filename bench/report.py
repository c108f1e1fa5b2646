"""Render benchmark results (the dict in _build/bench/results.json) as tables and a plot."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def load(path: str | Path = "_build/bench/results.json") -> dict:
    """Read a results JSON."""
    return json.loads(Path(path).read_text())


def _get(d: dict | None, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def pruning_table(results: dict) -> pd.DataFrame:
    """One row per model and ratio: size, latency, throughput, measured vs predicted speedups."""
    rows = []
    for model, res in (_get(results, "pruning", "models") or {}).items():
        for r in res.get("rows", []):
            sp = r.get("speedup", {})
            rows.append({
                "model": model,
                "ratio": r["ratio"],
                "dropped": r["n_dropped"],
                "params (M)": r["params"] / 1e6,
                "param MiB": r["param_bytes"] / 2**20,
                "prefill ms": r["prefill"]["median_s"] * 1e3,
                "prefill speedup": sp.get("prefill_measured"),
                "speedup (fastest runs)": sp.get("prefill_measured_best"),
                "predicted (FLOPs)": sp.get("prefill_predicted"),
                "measured / predicted": sp.get("prefill_measured_over_predicted"),
                "generation tok/s": r["generation"]["tokens_per_s"],
                "generation speedup": sp.get("generation_measured"),
                "gen predicted (FLOPs)": sp.get("generation_predicted"),
                "gen measured / predicted": sp.get("generation_measured_over_predicted"),
            })
    return pd.DataFrame(rows)


def pruning_errors(results: dict) -> pd.DataFrame:
    """Models whose benchmark failed, with the error."""
    rows = [
        {"model": m, "error": res["error"]}
        for m, res in (_get(results, "pruning", "models") or {}).items()
        if "error" in res
    ]
    return pd.DataFrame(rows, columns=["model", "error"])


def attribution_table(results: dict) -> pd.DataFrame:
    """One row per attribution method: pipeline vs baseline examples/s and their agreement."""
    sec = results.get("attribution") or {}
    rows = []
    for method, r in (sec.get("methods") or {}).items():
        agree = r.get("agreement") or {}
        rows.append({
            "method": method,
            "pipeline ex/s": _get(r, "pipeline", "examples_per_s"),
            "baseline ex/s": _get(r, "baseline", "examples_per_s"),
            "speedup": r.get("speedup"),
            "attribution speedup": r.get("speedup_attribution"),
            "faithfulness speedup": r.get("speedup_faithfulness"),
            "token ratio (bound)": _get(sec, "tokens_per_row", "ratio"),
            "max score diff (rel.)": agree.get("max_rel_diff"),
            "Spearman (mean)": agree.get("spearman_mean"),
            "same target": agree.get("same_target"),
            "max comp. diff": agree.get("max_comprehensiveness_diff"),
            "max suff. diff": agree.get("max_sufficiency_diff"),
        })
    return pd.DataFrame(rows)


TARGET_ATTRIBUTION_SPEEDUP = 5.0  # pipeline vs one-by-one baseline, per method
TARGET_PREFILL_SHARE = 0.8  # measured / FLOP-predicted prefill speed-up at ratio 1/3


def targets_table(results: dict) -> pd.DataFrame:
    """The performance targets, each with its measured value and whether it is met."""
    rows = []
    for method, r in (_get(results, "attribution", "methods") or {}).items():
        value = r.get("speedup")
        if value is not None:
            rows.append({
                "target": "attribution + faithfulness speed-up vs baseline",
                "for": method,
                "measured": value,
                "required": TARGET_ATTRIBUTION_SPEEDUP,
                "met": value >= TARGET_ATTRIBUTION_SPEEDUP,
            })
    df = pruning_table(results)
    third = df[(df["ratio"] - 1 / 3).abs() < 1e-6] if not df.empty else df
    for row in third.itertuples(index=False):
        value = row[df.columns.get_loc("measured / predicted")]
        if value is not None and not math.isnan(value):
            rows.append({
                "target": "prefill speed-up at 1/3 over FLOP-predicted",
                "for": row.model,
                "measured": value,
                "required": TARGET_PREFILL_SHARE,
                "met": value >= TARGET_PREFILL_SHARE,
            })
    return pd.DataFrame(rows, columns=["target", "for", "measured", "required", "met"])


def label_probs_table(results: dict) -> pd.DataFrame:
    """label_probs examples/s per batch size."""
    rows = [
        {
            "batch size": r["batch_size"],
            "examples/s": r["examples_per_s"],
            "speedup vs first": r["speedup_vs_first"],
            "max |Δp| vs first": r["max_abs_diff_vs_first"],
        }
        for r in (_get(results, "label_probs", "rows") or [])
    ]
    return pd.DataFrame(rows)


def notebooks_table(results: dict) -> pd.DataFrame:
    """Wall time per notebook (or 'not run')."""
    seconds = _get(results, "notebooks", "seconds") or {}
    return pd.DataFrame(
        [{"notebook": k, "wall time (s)": v} for k, v in seconds.items()],
        columns=["notebook", "wall time (s)"],
    )


def tables(results: dict) -> dict[str, pd.DataFrame]:
    """Every section's table, keyed by section name (empty frames for sections not run)."""
    return {
        "targets": targets_table(results),
        "pruning": pruning_table(results),
        "attribution": attribution_table(results),
        "label_probs": label_probs_table(results),
        "notebooks": notebooks_table(results),
    }


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float):
        if v == 0:
            return "0"
        if abs(v) >= 100:
            return f"{v:,.0f}"
        if abs(v) >= 0.01:
            return f"{v:.3g}" if abs(v) < 1 else f"{v:.2f}"
        return f"{v:.1e}"
    return str(v).replace("|", "\\|").replace("\n", " ")


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub-style markdown table (no extra dependency), numbers rounded for reading."""
    if df.empty:
        return "_(no rows)_"
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "|".join("---:" if pd.api.types.is_numeric_dtype(df[c]) else "---"
                          for c in df.columns) + "|"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def _status_line(results: dict, key: str) -> str | None:
    sec = results.get(key)
    if isinstance(sec, dict) and sec.get("status") not in (None, "ok"):
        return f"_{key}: {sec.get('status')}{' — ' + sec['reason'] if sec.get('reason') else ''}_"
    return None


def markdown(results: dict) -> str:
    """All tables as markdown, with a header naming the device and versions."""
    env = _get(results, "meta", "environment") or {}
    lines = [
        "# Benchmark results",
        "",
        f"Device: {env.get('device_name')} ({env.get('device_type')}), "
        f"{env.get('torch_threads')} threads; torch {env.get('torch')}, "
        f"transformers {env.get('transformers')}; {env.get('date')}",
        f"Command: `{_get(results, 'meta', 'command')}`",
    ]
    titles = {
        "targets": "Targets",
        "pruning": "Pruned vs full model",
        "attribution": "Attribution + faithfulness: pipeline vs one-by-one Captum baseline",
        "label_probs": "label_probs throughput vs batch size",
        "notebooks": "Notebook wall times",
    }
    for key, df in tables(results).items():
        lines += ["", f"## {titles[key]}", ""]
        status = _status_line(results, key)
        if status:
            lines.append(status)
            if df.empty:
                continue
            lines.append("")
        lines.append(to_markdown(df))
        if key == "pruning":
            errors = pruning_errors(results)
            if not errors.empty:
                lines += ["", to_markdown(errors)]
    return "\n".join(lines) + "\n"


def plot_speedup(results: dict, ax: Axes | None = None) -> Axes:
    """Measured (solid) vs FLOP-predicted (dashed) prefill speedup against the ratio, per model."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    df = pruning_table(results)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (model, g) in enumerate(df.groupby("model", sort=False) if not df.empty else []):
        g = g.sort_values("ratio")
        c = colors[i % len(colors)]
        ax.plot(g["ratio"], g["prefill speedup"], "o-", color=c, label=f"{model} measured")
        ax.plot(g["ratio"], g["predicted (FLOPs)"], "s--", color=c, alpha=0.7,
                label=f"{model} predicted (FLOPs)")
    ax.axhline(1.0, color="grey", lw=0.8, ls=":")
    env = _get(results, "meta", "environment") or {}
    shape = _get(results, "meta", "settings", "pruning") or {}
    ax.set_title(
        "Prefill speedup from dropping attention layers\n"
        f"batch {shape.get('prefill_batch')} x {shape.get('prefill_seq')} tokens, "
        f"{env.get('device_name', 'unknown device')}",
        fontsize=10,
    )
    ax.set_xlabel("share of attention layers dropped")
    ax.set_ylabel("speedup over the full model (x)")
    if ax.lines[1:]:
        ax.legend(fontsize=8)
    return ax
