"""Figures for the chapters: every one titled, with labelled axes (units) and a legend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm


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
    err: str | None = None, baseline: str | None = None, bounds: tuple[str, str] | None = None,
):
    """A metric against the pruning ratio, one line per value of `hue` (error bars: a symmetric
    half-width column `err`, or interval columns `bounds` = (low, high))."""
    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    for key, g in df[df["metric"] == metric].groupby(hue, sort=False):
        g = g.sort_values("ratio")
        style = dict(ls="--", color="grey") if baseline is not None and key == baseline else {}
        yerr = g[err] if err and err in g else None
        if bounds is not None:
            yerr = np.vstack([g["value"] - g[bounds[0]], g[bounds[1]] - g["value"]])
        ax.errorbar(g["ratio"], g["value"], yerr=yerr, marker="o", capsize=3, label=str(key), **style)
    ax.set_xlabel("share of attention layers dropped")
    ax.set_ylabel(ylabel or metric)
    ax.set_title(title or f"{metric} vs pruning ratio")
    ax.legend(title=hue, fontsize=8)
    return ax


def interval_lines(ax, frame: pd.DataFrame, ratios: Sequence[float], *, y: str = "value",
                   low: str = "low", high: str = "high", hue: str = "series",
                   baseline: str | None = None, dodge: float = 0.0, **style):
    """One line per `hue` against the pruning ratio, with asymmetric interval bars.

    `baseline` names a line drawn dashed grey (a control); `dodge` shifts the lines sideways by
    that much each, so that their bars do not overlap."""
    from .pages import ratio_label

    keys = list(dict.fromkeys(frame[hue]))
    for j, key in enumerate(keys):
        g = frame[frame[hue] == key].sort_values("ratio")
        err = np.vstack([np.maximum(g[y] - g[low], 0).fillna(0),
                         np.maximum(g[high] - g[y], 0).fillna(0)])
        own = dict(ls="--", color="grey") if baseline is not None and key == baseline else {}
        ax.errorbar(g.ratio + dodge * (j - (len(keys) - 1) / 2), g[y], yerr=err, marker="o",
                    capsize=3, label=str(key), **{**style, **own})
    ax.set_xticks(list(ratios), [ratio_label(r) for r in ratios])
    ax.set_xlabel("share of attention sub-layers dropped")
    return ax


TOKEN_CMAP = "RdBu_r"  # diverging: red supports the explained label, blue argues against it
_MONO_WIDTH = 0.6  # a monospace character's advance, in units of the font size


def token_label(token: str) -> str:
    """A tokenizer's token as a reader sees it: the word-start markers (Ġ, ▁) dropped, line breaks
    shown as ↵, an empty token as ·."""
    text = token.replace("Ġ", " ").replace("▁", " ").replace("Ċ", "↵").replace("\n", "↵").strip()
    return text or "·"


def starts_word(token: str) -> bool:
    """Whether a token begins a new word (a leading space or word-start marker)."""
    return token[:1] in ("Ġ", "▁", " ", "Ċ", "\n")


def wrap_tokens(tokens: Sequence[str], width: int) -> list[list[tuple[int, float, float]]]:
    """Tokens laid out as wrapped text, `width` characters a line: per line, (token index, x, box
    width) in character units. A token that starts a word is set one character after the previous
    one, a word piece 0.25 after; a line breaks before a token that would pass `width`."""
    if width < 1:
        raise ValueError(f"width must be at least 1 character, got {width}")
    lines: list[list[tuple[int, float, float]]] = [[]]
    x = 0.0
    for i, tok in enumerate(tokens):
        w = len(token_label(tok)) + 0.6
        gap = 0.0 if not lines[-1] else (1.0 if starts_word(tok) else 0.25)
        if lines[-1] and x + gap + w > width:
            lines.append([])
            x, gap = 0.0, 0.0
        lines[-1].append((i, x + gap, w))
        x += gap + w
    return lines


def text_colour(rgba: Sequence[float]) -> str:
    """Black or white, whichever reads better on a background colour (WCAG relative luminance)."""
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(float(c)) for c in rgba[:3])
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    # contrast against white (1.05 / (L + 0.05)) beats contrast against black ((L + 0.05) / 0.05)
    return "white" if 1.05 / (luminance + 0.05) > (luminance + 0.05) / 0.05 else "black"


def token_heatmap_lines(tokens: Sequence[str], n_rows: int, width: int) -> int:
    """How many strips (token lines times rows) `token_heatmap` draws: for sizing figures."""
    return len(wrap_tokens(tokens, width)) * n_rows


def attribution_colorbar(fig, axes, label: str = "attribution / max |attribution| of its row"):
    """One horizontal colour bar for token heat maps, under `axes`, its label inside the figure."""
    from matplotlib.cm import ScalarMappable

    mappable = ScalarMappable(norm=TwoSlopeNorm(0, -1, 1), cmap=TOKEN_CMAP)
    bar = fig.colorbar(mappable, ax=axes, orientation="horizontal", fraction=0.05, aspect=40,
                       pad=0.02, shrink=0.8)
    bar.set_label(label, fontsize=10)
    bar.ax.tick_params(labelsize=9)
    return bar


def token_heatmap(tokens: Sequence[str], rows: Mapping[str, Sequence[float]], ax=None,
                  title: str = "", *, width: int | None = None, fontsize: float = 10,
                  colorbar: bool = True):
    """Tokens as wrapped text, each on a box coloured by its attribution, one strip per row of
    `rows` (e.g. the full and a pruned model) under each line of text, so that the same token of
    each row stands in one column. Each row is scaled to its own max |score| on a diverging map
    centred at 0; each token's text is black or white, whichever contrasts more with its box.

    `width`: characters per line (default: what fits the axes at `fontsize` in a monospace font);
    `colorbar`: add `attribution_colorbar` under this axes (pass False and call it once for a
    figure of several heat maps)."""
    from matplotlib.patches import Rectangle

    labels = [token_label(t) for t in tokens]
    names = list(rows)
    values = np.array([np.asarray(rows[n], dtype=float) for n in names]).reshape(len(names), -1)
    if values.shape[1] != len(labels):
        raise ValueError(f"{len(labels)} tokens but rows of {values.shape[1]} scores")
    if ax is None:
        width = width or 64
        n_strips = token_heatmap_lines(tokens, len(names), width)
        ax = plt.subplots(figsize=(7.5, 0.32 * n_strips + 0.5 * len(names) + 1.6))[1]
    fig = ax.figure
    if width is None:
        axes_inches = ax.get_position().width * fig.get_size_inches()[0]
        width = max(10, int(axes_inches * 72 / (_MONO_WIDTH * fontsize)))
    scale = np.abs(values).max(axis=1, keepdims=True)
    values = values / np.where(scale == 0, 1, scale)
    norm, cmap = TwoSlopeNorm(0, -1, 1), plt.get_cmap(TOKEN_CMAP)
    lines = wrap_tokens(tokens, width)
    step = len(names) + 0.5  # strips per line of text, and a gap between lines
    ticks, tick_labels = [], []
    for li, line in enumerate(lines):
        for r, name in enumerate(names):
            y = li * step + r
            ticks.append(y + 0.5)
            tick_labels.append(name)
            for i, x, w in line:
                colour = cmap(norm(values[r, i]))
                ax.add_patch(Rectangle((x, y + 0.06), w, 0.88, facecolor=colour,
                                       edgecolor="none"))
                ax.text(x + w / 2, y + 0.5, labels[i], ha="center", va="center",
                        fontsize=fontsize, family="monospace", color=text_colour(colour))
    ax.set_xlim(0, width)
    ax.set_ylim(len(lines) * step - 0.5, 0)
    ax.set_yticks(ticks, tick_labels, fontsize=fontsize)
    ax.tick_params(axis="y", length=0)
    ax.set_xticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    ax.grid(False)
    if title:
        ax.set_title(title, fontsize=fontsize + 1, loc="left")
    if colorbar:
        attribution_colorbar(fig, ax)
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


def interval_forest(table: pd.DataFrame, columns: Mapping[str, str], *, label: str = "label",
                    worse: Mapping[str, str] | None = None, axes=None, title: str = ""):
    """Per configuration (rows of `table`), each change in `columns` with its interval: one panel
    per change, a point and a bar per row; `table` holds `c`, `c_low`, `c_high` for each column c.
    `worse` maps a column to "up" or "down" (the bad direction, shaded)."""
    n = len(table)
    if axes is None:  # two panels a row keep the figure inside the book's content column
        cols = min(2, len(columns))
        rows = -(-len(columns) // cols)
        fig, grid = plt.subplots(rows, cols, figsize=(7.5, rows * (0.24 * n + 1.4)),
                                 sharey=True, squeeze=False)
        for extra in grid.flat[len(columns):]:
            extra.set_visible(False)
        axes = list(grid.flat[: len(columns)])
        for ax in grid[:, 1:].flat:
            ax.tick_params(labelleft=False)
    y = np.arange(n)[::-1]
    for ax, (col, name) in zip(axes, columns.items(), strict=True):
        est, lo, hi = (table[c].to_numpy(dtype=float) for c in (col, f"{col}_low", f"{col}_high"))
        clear = (lo > 0) | (hi < 0)
        colours = np.where(clear, "C3", "C0")
        for yi, e, a, b, c in zip(y, est, lo, hi, colours, strict=True):
            ax.plot([a, b], [yi, yi], color=c, lw=2, alpha=0.8)
            ax.plot([e], [yi], marker="o", color=c, ms=4)
        ax.axvline(0, color="grey", lw=0.8)
        side = (worse or {}).get(col)
        if side:
            left, right = ax.get_xlim()
            left, right = min(left, -0.02 * (right - left)), max(right, 0.02 * (right - left))
            if side == "up":
                ax.axvspan(0, right, color="0.9", zorder=0, lw=0)
            else:
                ax.axvspan(left, 0, color="0.9", zorder=0, lw=0)
            ax.set_xlim(left, right)
        ax.set_xlabel(name)
        ax.grid(axis="y", alpha=0)
    for ax in axes:
        ax.set_yticks(y)
        ax.set_yticklabels(table[label], fontsize=8)
    axes[0].figure.suptitle(title or "Changes with their intervals (red: the interval excludes 0; "
                            "shaded: the worse side)")
    return axes


def seed_spread(frame: pd.DataFrame, *, x: str, y: str, hue: str, ax=None, ylabel: str = "",
                title: str = ""):
    """Estimates with their intervals for each value of `hue` side by side at each `x` (rows of
    `frame` hold y, y_low, y_high)."""
    ax = ax or plt.subplots(figsize=(7, 3.6))[1]
    xs = list(dict.fromkeys(frame[x]))
    keys = list(dict.fromkeys(frame[hue]))
    width = 0.7 / max(len(keys), 1)
    for j, key in enumerate(keys):
        g = frame[frame[hue] == key].set_index(x).reindex(xs)
        pos = np.arange(len(xs)) - 0.35 + width * (j + 0.5)
        e = g[y].to_numpy(dtype=float)
        err = np.vstack([e - g[f"{y}_low"].to_numpy(dtype=float), g[f"{y}_high"].to_numpy(dtype=float) - e])
        ax.errorbar(pos, e, yerr=err, fmt="o", capsize=3, label=f"{hue} {key}")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(range(len(xs)))
    ax.set_xticklabels(xs, rotation=20, ha="right")
    ax.set_ylabel(ylabel or y)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax
