"""Figures for the chapters: every one titled, with labelled axes (units) and a legend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm

plt.rcParams.update({"figure.dpi": 110, "axes.grid": True, "grid.alpha": 0.3,
                     "axes.spines.top": False, "axes.spines.right": False})


def importance_profile(scores: Mapping[str, Sequence[float]], ax=None):
    """Attention importance against relative depth, one line per model."""
    ax = ax or plt.subplots(figsize=(7, 3.5))[1]
    for name, s in scores.items():
        s = np.asarray(s)
        depth = np.arange(len(s)) / max(len(s) - 1, 1)
        ax.plot(depth, s, marker="o", ms=3, label=f"{name} ({len(s)} layers)")
    ax.set_yscale("log")
    ax.set_xlabel("relative depth of the layer (0 = first, 1 = last)")
    ax.set_ylabel("importance 1 − cos(X, Y) (log scale)")
    ax.set_title("How much each attention sub-layer changes the residual stream")
    ax.legend()
    return ax


def drop_map(layers: pd.DataFrame, n_layers: int, ax=None, title: str = ""):
    """Which layers each (criterion, ratio) drops: a grid of rows x layer index."""
    ax = ax or plt.subplots(figsize=(8, 0.35 * len(layers) + 1.2))[1]
    grid = np.zeros((len(layers), n_layers))
    for r, dropped in enumerate(layers["layers"]):
        grid[r, list(dropped)] = 1
    ax.imshow(grid, aspect="auto", cmap="Reds", vmin=0, vmax=1.3, interpolation="nearest")
    ax.set_yticks(range(len(layers)))
    ax.set_yticklabels([f"{c}, {r:.2f}" for c, r in zip(layers["criterion"], layers["ratio"], strict=True)])
    ax.set_xticks(range(0, n_layers, max(1, n_layers // 15)))
    ax.set_xlabel("layer index")
    ax.set_ylabel("criterion, ratio")
    ax.grid(False)
    ax.set_title(title or "Dropped attention layers (red)")
    return ax


def metric_vs_ratio(
    df: pd.DataFrame, metric: str, *, hue: str, ax=None, ylabel: str | None = None, title: str | None = None,
    err: str | None = None, baseline: str | None = None,
):
    """A metric against the pruning ratio, one line per value of `hue` (optional error bars)."""
    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    for key, g in df[df["metric"] == metric].groupby(hue, sort=False):
        g = g.sort_values("ratio")
        style = dict(ls="--", color="grey") if baseline is not None and key == baseline else {}
        yerr = g[err] if err and err in g else None
        ax.errorbar(g["ratio"], g["value"], yerr=yerr, marker="o", capsize=3, label=str(key), **style)
    ax.set_xlabel("share of attention layers dropped")
    ax.set_ylabel(ylabel or metric)
    ax.set_title(title or f"{metric} vs pruning ratio")
    ax.legend(title=hue, fontsize=8)
    return ax


def token_heatmap(tokens: Sequence[str], rows: Mapping[str, Sequence[float]], ax=None, title: str = ""):
    """Tokens coloured by attribution (each row normalised to its max |score|), one row per model."""
    labels = [t.replace("Ġ", " ").replace("▁", " ").strip() or "·" for t in tokens]
    names = list(rows)
    width = max(6.0, 0.55 * len(tokens))
    ax = ax or plt.subplots(figsize=(min(width, 16), 0.6 * len(names) + 1.0))[1]
    values = np.array([np.asarray(rows[n], dtype=float) for n in names])
    scale = np.abs(values).max(axis=1, keepdims=True)
    values = values / np.where(scale == 0, 1, scale)
    im = ax.imshow(values, aspect="auto", cmap="RdBu_r", norm=TwoSlopeNorm(0, -1, 1))
    for r in range(len(names)):
        for c, text in enumerate(labels):
            ax.text(c, r, text, ha="center", va="center", fontsize=7, rotation=90 if len(text) > 6 else 0)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names)
    ax.set_xticks([])
    ax.set_xlabel("the example's tokens, in order")
    ax.grid(False)
    ax.set_title(title)
    ax.figure.colorbar(im, ax=ax, fraction=0.02, label="attribution / max |attribution|")
    return ax


def grid_heatmap(table: pd.DataFrame, ax=None, title: str = "", label: str = "", fmt: str = "{:+.3f}"):
    """A (rows x columns) table as an annotated diverging heat map centred at zero."""
    ax = ax or plt.subplots(figsize=(1.2 * table.shape[1] + 2, 0.6 * table.shape[0] + 1.2))[1]
    values = table.to_numpy(dtype=float)
    bound = np.nanmax(np.abs(values)) or 1.0
    im = ax.imshow(values, cmap="RdBu_r", vmin=-bound, vmax=bound, aspect="auto")
    for (r, c), v in np.ndenumerate(values):
        ax.text(c, r, "–" if np.isnan(v) else fmt.format(v), ha="center", va="center", fontsize=10,
                color="white" if abs(v) > 0.6 * bound else "black")
    ax.set_xticks(range(table.shape[1]))
    ax.set_xticklabels(table.columns, rotation=30, ha="right")
    ax.set_yticks(range(table.shape[0]))
    ax.set_yticklabels(table.index)
    ax.grid(False)
    ax.set_title(title)
    ax.figure.colorbar(im, ax=ax, label=label)
    return ax


def delta_scatter(df: pd.DataFrame, x: str, y: str, *, hue: str = "model", style: str | None = "task",
                  ax=None, xlabel: str = "", ylabel: str = "", title: str = ""):
    """Change in one metric against change in another: colour by `hue`, marker by `style`."""
    ax = ax or plt.subplots(figsize=(5, 4))[1]
    markers = "osD^vP*X"
    colours = {k: f"C{i}" for i, k in enumerate(sorted(df[hue].unique()))}
    styles = {k: markers[i % len(markers)] for i, k in enumerate(sorted(df[style].unique()))} if style else {}
    for keys, g in df.groupby([hue, style] if style else [hue]):
        colour = colours[keys[0]]
        marker = styles[keys[1]] if style else "o"
        ax.scatter(g[x], g[y], color=colour, marker=marker, alpha=0.85, s=36)
    ax.axhline(0, color="grey", lw=0.8)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    ax.set_title(title)
    handles = [plt.Line2D([], [], ls="", marker="o", color=c, label=str(k)) for k, c in colours.items()]
    handles += [plt.Line2D([], [], ls="", marker=m, color="grey", label=str(k)) for k, m in styles.items()]
    ax.legend(handles=handles, fontsize=8)
    return ax
