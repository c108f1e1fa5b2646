"""Render benchmark results (the dict in _build/bench/results.json) as tables and a plot."""

from __future__ import annotations

import json
import math
import re
import shlex
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
        f"Command: `{portable_command(_get(results, 'meta', 'command'))}`",
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


# --- for the book's Cost appendix: commands without paths, tables that fit a page ---------------

_INTERPRETER = re.compile(r"^python[\d.]*$")


def portable_path(path: str | Path, root: str | Path | None = None) -> str:
    """A path as a page may show it: relative to `root` (the repository) when inside it, else
    only its last component after ".../" (a page must not show a machine's folders)."""
    root = Path(root) if root is not None else Path(__file__).resolve().parents[1]
    p = Path(path)
    if not p.is_absolute():
        return p.as_posix()
    for base in (root, root.resolve()):
        if p.is_relative_to(base):
            return p.relative_to(base).as_posix()
    return f".../{p.name}"


def portable_command(command: str | None, root: str | Path | None = None) -> str:
    """A recorded command without paths: the interpreter as `python`, every absolute path as
    `portable_path` writes it ('/x/.venv/bin/python -m bench.run' -> 'python -m bench.run').
    Snapshots recorded before commands were written this way are shown the same way."""
    if not command:
        return "?"
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    out = []
    for i, word in enumerate(words):
        if i == 0 and _INTERPRETER.match(Path(word).name):
            out.append("python")
            continue
        key, eq, value = word.partition("=") if word.startswith("--") else ("", "", word)
        if value.startswith("/"):
            value = portable_path(value, root)
        out.append(f"{key}{eq}{value}")
    return shlex.join(out)


def sig(value: Any, digits: int = 3) -> str:
    """A number to `digits` significant digits, without exponent for ordinary sizes
    (8786.777 -> '8,790', 1.0951 -> '1.10', 1.8e-05 -> '1.8e-05'); '–' when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    v = float(value)
    if v == 0:
        return "0"
    if abs(v) < 1e-3:
        return f"{v:.{max(digits - 2, 1)}e}"
    decimals = digits - 1 - math.floor(math.log10(abs(v)))
    v = round(v, decimals)
    return f"{v:,.{max(decimals, 0)}f}"


def _ratio(value: float) -> str:
    from helpers.pages import ratio_label

    return ratio_label(value)


def _yes_no(value: Any) -> str:
    from helpers.pages import yes_no

    return yes_no(value)


METHOD_NAMES = {"input_x_gradient": "input × gradient", "integrated_gradients": "integrated gradients"}
TARGET_NAMES = {
    "attribution + faithfulness speed-up vs baseline": "pipeline speed-up over the baseline",
    "prefill speed-up at 1/3 over FLOP-predicted": "prefill speed-up at 1/3 / FLOP prediction",
}


def targets_view(results: dict) -> pd.DataFrame:
    """Table C.1 for a page: target and subject as the row index; measured, required, met."""
    t = targets_table(results)
    if t.empty:
        return t
    return pd.DataFrame({
        "measured": [sig(v) for v in t["measured"]],
        "required": [sig(v, 2) for v in t["required"]],
        "met": [_yes_no(v) for v in t["met"]],
    }, index=pd.MultiIndex.from_arrays([t["target"].map(lambda s: TARGET_NAMES.get(s, s)),
                                        t["for"].map(lambda m: METHOD_NAMES.get(m, m))],
                                       names=["target", "for"]))


def _by_model_ratio(df: pd.DataFrame, layers: bool = False) -> pd.MultiIndex:
    shares = df["ratio"].map(_ratio)
    if layers:  # '1/6 (5)': the share and the number of layers it drops
        shares = [f"{r} ({int(n)})" if n else r for r, n in zip(shares, df["dropped"], strict=True)]
    return pd.MultiIndex.from_arrays([df["model"], shares],
                                     names=["model", "dropped (layers)" if layers else "dropped"])


def prefill_view(results: dict) -> pd.DataFrame:
    """Table C.2a: per model and share dropped (layers in brackets), parameters, prefill time,
    measured speed-up (median, fastest runs) and the FLOP prediction."""
    df = pruning_table(results)
    if df.empty:
        return df
    return pd.DataFrame({
        "params (M)": [sig(v) for v in df["params (M)"]],
        "prefill (s)": [sig(v / 1e3) for v in df["prefill ms"]],
        "speed-up (×)": [sig(v) for v in df["prefill speedup"]],
        "fastest runs (×)": [sig(v) for v in df["speedup (fastest runs)"]],
        "predicted (×)": [sig(v) for v in df["predicted (FLOPs)"]],
    }, index=_by_model_ratio(df, layers=True))


def generation_view(results: dict) -> pd.DataFrame:
    """Table C.2b: per model and share dropped, generation throughput and its speed-ups."""
    df = pruning_table(results)
    if df.empty:
        return df
    return pd.DataFrame({
        "generation (tokens/s)": [sig(v) for v in df["generation tok/s"]],
        "speed-up (×)": [sig(v) for v in df["generation speedup"]],
        "predicted (×)": [sig(v) for v in df["gen predicted (FLOPs)"]],
        "measured / predicted": [sig(v) for v in df["gen measured / predicted"]],
    }, index=_by_model_ratio(df))


def timing_spread(results: dict) -> pd.DataFrame:
    """Per model and ratio: the spread of the timed prefill runs, (slowest - fastest) / median,
    and the saving the FLOP count predicts, 1 - 1 / predicted speed-up."""
    rows = []
    for model, res in (_get(results, "pruning", "models") or {}).items():
        for r in res.get("rows", []):
            times = _get(r, "prefill", "times_s") or []
            median = _get(r, "prefill", "median_s")
            predicted = _get(r, "speedup", "prefill_predicted")
            rows.append({"model": model, "ratio": r["ratio"],
                         "spread": (max(times) - min(times)) / median if times and median else None,
                         "predicted saving": 1 - 1 / predicted if predicted else None})
    return pd.DataFrame(rows, columns=["model", "ratio", "spread", "predicted saving"])


def _methods(df: pd.DataFrame) -> pd.Index:
    return pd.Index([METHOD_NAMES.get(m, m.replace("_", " ")) for m in df["method"]], name="method")


def attribution_speed_view(results: dict) -> pd.DataFrame:
    """Table C.3a: per method, examples per second of pipeline and baseline, and the speed-ups of
    the whole, of the attribution step and of the faithfulness metrics."""
    df = attribution_table(results)
    if df.empty:
        return df
    return pd.DataFrame({
        "pipeline (ex/s)": [sig(v) for v in df["pipeline ex/s"]],
        "baseline (ex/s)": [sig(v) for v in df["baseline ex/s"]],
        "speed-up (×)": [sig(v) for v in df["speedup"]],
        "attribution (×)": [sig(v) for v in df["attribution speedup"]],
        "metrics (×)": [sig(v) for v in df["faithfulness speedup"]],
    }, index=_methods(df))


def agreement_view(results: dict) -> pd.DataFrame:
    """Table C.3b: per method, how closely the pipeline's numbers match the baseline's."""
    df = attribution_table(results)
    if df.empty:
        return df
    return pd.DataFrame({
        "max score diff (rel.)": [sig(v, 2) for v in df["max score diff (rel.)"]],
        "Spearman (mean)": [sig(v) for v in df["Spearman (mean)"]],
        "same target (share)": [sig(v) for v in df["same target"]],
        "max comp. diff": [sig(v, 2) for v in df["max comp. diff"]],
        "max suff. diff": [sig(v, 2) for v in df["max suff. diff"]],
    }, index=_methods(df))


def label_probs_view(results: dict) -> pd.DataFrame:
    """Table C.4: examples per second and agreement per batch size."""
    df = label_probs_table(results)
    if df.empty:
        return df
    return pd.DataFrame({
        "examples/s": [sig(v) for v in df["examples/s"]],
        "speed-up over batch 1 (×)": [sig(v) for v in df["speedup vs first"]],
        "max |Δp| vs batch 1": [sig(v, 2) for v in df["max |Δp| vs first"]],
    }, index=pd.Index(df["batch size"], name="batch size"))


def notebooks_view(results: dict) -> pd.DataFrame:
    """Table C.5: wall time of each chapter in minutes, and their total."""
    seconds = _get(results, "notebooks", "seconds") or {}
    if not seconds:
        return pd.DataFrame()
    from helpers.book import UNITS

    names = {UNITS: "units of every chapter (computed first)"}
    minutes = {names.get(k, k): v / 60 for k, v in seconds.items()}
    minutes["all chapters"] = sum(minutes.values())
    return pd.DataFrame({"wall time (min)": [sig(v, 2) for v in minutes.values()]},
                        index=pd.Index(list(minutes), name="chapter"))
