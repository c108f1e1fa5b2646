# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 3. Confidence calibration after pruning
#
# **What this chapter shows.** A classifier is *calibrated* when its confidence matches its
# accuracy: of all answers given with 80% confidence, about 80% are right. Dropping attention
# sub-layers changes the logits, so it can move a model's confidence without changing which label
# wins, and accuracy alone would not show it. This chapter measures accuracy and the calibration
# error as sub-layers are dropped, compares every pruned model with its unpruned model on the same
# test examples, draws reliability diagrams of the full and the most-pruned model, and asks how
# much a one-parameter repair, temperature scaling, recovers.
#
# **Learning objectives.** After this chapter you can
# - read a reliability diagram, and tell over-confidence from under-confidence in it;
# - say why the calibration error is estimated and tested on its square, and why the plain binned
#   ECE is not used to compare models;
# - read a paired change of calibration against the unpruned model, with its interval;
# - fit a temperature on held-out examples, read its interval, and recognise a fit the data do
#   not determine.
#
# **Prerequisites.** Chapter 1 (which sub-layers are dropped). For predictions with confidence
# $c_i = \max_y p(y \mid x_i)$ and correctness $a_i \in \{0, 1\}$ (1 when that label is right),
# the squared calibration error over 15 equal-width confidence bins $b$ is
# $\mathrm{ce}^2 = \sum_b P(b)\,\bigl(E[a - c \mid b]\bigr)^2$, and $\mathrm{ce}$, its root, is on
# the scale of the familiar ECE; NLL is the mean negative log probability of the true label; the
# Brier score the mean squared distance between the probability vector and the one-hot label.
# Temperature scaling divides the logits by one scalar $T$ fitted to minimise NLL on held-out
# data {cite:p}`guo2017calibration`: $T > 1$ softens an over-confident model, $T < 1$ sharpens an
# under-confident one.
#
# **Time.** Reading: about 20 minutes. Re-running the chapter: about two minutes on
# `params/smoke.yml` when the results store is empty (its numbers are too noisy to decide
# anything), much less when earlier chapters have filled it.
#
# **What is ours, not the paper's.** Probabilities are the softmax of the next-token logits of
# the label words' first tokens, normalised over the label set. The calibration error is the
# unbiased U-statistic of $\mathrm{ce}^2$ (`helpers.calibration_change`, after Kumar, Liang and Ma
# 2019) with intervals from its variance, not a bootstrap; a model's $\mathrm{ce}$ is shown with
# the root of its $\mathrm{ce}^2$ interval, and a change of calibration is tested on
# $\mathrm{ce}^2$. The temperature is fitted on a seeded `calibration` split disjoint from the
# test sample, separately for every pruned model, by a bounded search over $\log T \in [-7, 7]$;
# its interval comes from refitting on bootstrap resamples of that split.

# %% tags=["parameters"]
profile = "params/default.yml"  # the profile of parameters this chapter runs with (params/*.yml)
overrides = {}  # values that replace the profile's, e.g. {"models": ["gemma3-270m"]}

# %% tags=["hide-input"]
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from matplotlib.ticker import MaxNLocator
from myst_nb import glue

from helpers import calibration, claims, metrics, pages, plots, readouts, readouts_calibration
from helpers.workload import open_chapter

pages.setup()
CHAPTER = "03_calibration"
run = open_chapter(CHAPTER, profile, overrides)
p = run.params
models, tasks, ratios, criteria = p["models"], p["tasks"], p["ratios"], p["criteria"]
n_examples, n_calibration, n_bins = p["n_examples"], p["n_calibration"], p["n_bins"]
shots, seed, demo_seeds, alpha = p["shots"], p["seed"], p["demo_seeds"], p["alpha"]
criterion = criteria[0]  # this chapter follows the profile's first criterion
demo_seed = demo_seeds[0]  # and its first demonstration seed (chapter 4 varies it)
ratios_run = sorted({0.0, *(float(r) for r in ratios)})  # the unpruned model is the reference
grid = run.configs(criteria_=[criterion], ratios=ratios_run, demo_seeds=[demo_seed])
worst = max(ratios_run)
LOW_T, HIGH_T = calibration.TEMPERATURE_BOUNDS  # the temperature search range
rl = pages.ratio_label

display(pages.parameter_table({
    "models": models, "tasks": tasks, "ratios": ratios_run, "criteria": [criterion],
    "n_examples": n_examples, "n_calibration": n_calibration, "n_bins": n_bins, "shots": shots,
    "seed": seed, "demo_seeds": [demo_seed], "alpha": alpha,
}, {"criteria": "how the layers to drop are chosen (the profile's first criterion)",
    "demo_seeds": "demonstration seed (the profile's first; chapter 4 varies it)",
    "n_bins": "bins of the reliability diagrams (the calibration error uses 15)",
    "alpha": "level of the one-sided test of a rise of ce² (p column)"}))

# %% [markdown]
# ## 3.1 The idea in a few lines
#
# The cell below shows the chapter's idea with the library's own functions on a handful of
# examples: score 16 test examples with the full model and with the deepest quarter of its
# attention sub-layers dropped, compare each model's mean confidence with its accuracy, then fit
# a temperature for the pruned model on 16 *calibration* examples and look again. It runs in well
# under a minute on a laptop.

# %%
from helpers.criteria import select_layers
from helpers.models import load_model
from helpers.pruning import attention_dropped, n_layers
from helpers.scoring import label_logits
from helpers.tasks import get_task, load_task

model, tokenizer = load_model(models[0])
task = get_task(tasks[0])
test = load_task(tasks[0], n=16)
held = load_task(tasks[0], split="calibration", n=16)
truth = np.array([e.label for e in test])


def scored(examples):
    return label_logits(model, tokenizer, task, examples, progress=False)


full_logits = scored(test)
deepest = select_layers(n_layers(model), 1 / 4, "last")
with attention_dropped(model, deepest):
    pruned_logits = scored(test)
    held_logits = scored(held)
t_demo = calibration.fit_temperature(held_logits, [e.label for e in held])
demo = {"full": calibration.softmax(full_logits),
        "pruned": calibration.softmax(pruned_logits),
        "pruned, scaled": calibration.apply_temperature(pruned_logits, t_demo)}
print(f"{models[0]}, {len(test)} {tasks[0]} test examples:")
for name, probs in demo.items():
    acc, conf = np.mean(probs.argmax(1) == truth), probs.max(1).mean()
    print(f"  {name:<15} accuracy {acc:.2f}  mean confidence {conf:.2f}")
bound = t_demo <= LOW_T * 1.01 or t_demo >= HIGH_T / 1.01
print(f"T fitted on {len(held)} calibration examples: {t_demo:.2g}"
      + (" (at a search bound: not determined)" if bound else ""))

# %% [markdown]
# The first two lines compare the two models on the *same* examples; the third keeps the pruned
# model's answers (dividing every logit by the same $T > 0$ keeps their order, so the accuracy
# cannot change) and moves only its confidence. Sixteen examples cannot say whether the gap between
# confidence and accuracy is real: the rest of the chapter does the same on `n_examples` test
# examples per configuration, from the results store, with intervals.
#
# ## 3.2 Accuracy and calibration against the pruning ratio
#
# Every configuration is read from the results store when an earlier chapter computed it (same
# model, task, criterion, ratio, sample and seeds), and computed otherwise. The calibration error
# is shown as $\mathrm{ce}$, on the ECE scale; the plain binned ECE is not shown, because the
# sampling noise of every bin's accuracy adds to its absolute gap, so it is biased upwards by an
# amount that differs between models, and an interval of its change then misses the true change
# far more often than its stated level.
#
# (fig-3-1)=
# **Figure 3.1** Accuracy, calibration error ce, NLL and Brier score as attention sub-layers are
# dropped, one line per model and task, with 95% intervals over the test examples (for ce: the
# roots of the ce² interval's bounds). Lower is better for all but accuracy.

# %% tags=["hide-input"]
changes = readouts.config_changes(run, grid, method=None)
_, table = claims.verdicts(changes, alpha=alpha, mde=False) if changes else (None, pd.DataFrame())
levels = readouts_calibration.config_levels(table)
names = {"accuracy": metrics.get("accuracy").display, "ce": "calibration error ce",
         "nll": f"{metrics.get('nll').display} (nats)", "brier": metrics.get("brier").display}
if levels.empty:
    display(Markdown("*This profile has no pruned configuration (`ratios` holds only 0): there "
                     "is nothing to compare, and this section is empty.*"))
else:
    levels["series"] = levels.model + " · " + levels.task
    fig, axes = plt.subplots(2, 2, figsize=(7.5, 6.4), sharex=True)
    for ax, (metric, name) in zip(axes.flat, names.items(), strict=True):
        plots.interval_lines(ax, levels[levels.metric == metric], ratios_run,
                             dodge=0.004 * max(worst, 0.1))
        ax.set(ylabel=name, xlabel="")
    for ax in axes[1]:
        ax.set_xlabel("share of sub-layers dropped")
    fig.legend(*axes.flat[0].get_legend_handles_labels(), loc="outside lower center",
               ncols=min(3, levels.series.nunique()), title="model · task")
    plt.show()

# %% [markdown]
# (tab-3-1)=
# **Table 3.1** Accuracy, calibration error ce and NLL of each model on the test sample, with 95%
# intervals (ratio 0: the unpruned model); the Brier scores are in {ref}`Figure 3.1 <fig-3-1>`.

# %% tags=["hide-input"]
def grouped(frame: pd.DataFrame, columns: dict, ratio: str = "ratio") -> pd.DataFrame:
    """Rows per (model · task, ratio); the given columns."""
    out = pd.DataFrame({name: list(col) for name, col in columns.items()})
    out.index = pd.MultiIndex.from_arrays(
        [list(frame.model + " · " + frame.task), [rl(r) for r in frame[ratio]]],
        names=["model · task", "ratio"])
    return out


def level_text(frame: pd.DataFrame, metric: str) -> list[str]:
    """'0.12 [0.05, 0.20]' for each row of a wide table of levels."""
    return [pages.ci(e, lo, hi, signed=False) for e, lo, hi in
            zip(frame[metric], frame[f"{metric}_low"], frame[f"{metric}_high"], strict=True)]


if not levels.empty:
    wide = levels.pivot_table(index=["model", "task", "ratio"], columns="metric",
                              values=["value", "low", "high"], sort=False)
    wide.columns = [m if stat == "value" else f"{m}_{stat}" for stat, m in wide.columns]
    wide = wide.reset_index()
    display(pages.table(grouped(wide, {
        "accuracy [95%]": level_text(wide, "accuracy"),
        "ce [95%]": level_text(wide, "ce"),
        "NLL (nats) [95%]": level_text(wide, "nll"),
    })))
    display(Markdown(f"n = {n_examples} test examples per configuration; criterion "
                     f"`{criterion}`, demonstration seed {demo_seed}. An estimate of ce² below 0 "
                     "(possible for an unbiased estimate of a small error) is shown as ce 0."))

# %% [markdown]
# ## 3.3 Each pruned model against its unpruned model
#
# The question of this chapter is a *change*: did dropping sub-layers make this model worse
# calibrated on these examples? {ref}`Table 3.2 <tab-3-2>` gives each change of calibration and
# accuracy with its paired 95% interval (the same examples answered by both models, so the noise
# they share cancels), {ref}`Table 3.3 <tab-3-3>` those of NLL and the Brier score. The
# calibration change is estimated and tested on $\mathrm{ce}^2$, where its estimate is unbiased;
# on the ECE scale, the change of $\mathrm{ce}$ (the difference of the levels in
# {ref}`Table 3.1 <tab-3-1>`) is a point estimate only, because near zero no interval of a
# difference of roots keeps its coverage. A change counts as a rise or a fall when its interval
# excludes 0, and is *undetermined* otherwise; the *p* column is the one-sided test of a rise of
# $\mathrm{ce}^2$ that chapter 4's claims count.
#
# (tab-3-2)=
# **Table 3.2** Calibration and accuracy against the unpruned model (pruned − full) on the same
# test examples: the change of ce² (×1000) with its 95% interval and the one-sided p-value of a
# rise of ce², and the change of accuracy with its 95% interval. The levels of ce before and after
# pruning are in {ref}`Table 3.1 <tab-3-1>`.

# %% tags=["hide-input"]
def decimals(*columns) -> int:
    """Decimals that give the largest finite value of the columns two significant digits."""
    values = np.abs(np.concatenate([np.asarray(c, dtype=float) for c in columns]))
    values = values[np.isfinite(values) & (values > 0)]
    return max(1 - math.floor(math.log10(values.max())), 0) if len(values) else 2


def change_text(frame: pd.DataFrame, col: str, scale: float = 1.0,
                digits: int | None = None) -> list[str]:
    """'+0.05 [−0.01, +0.11]' for each row's change `col` (times `scale`); `digits` decimals,
    by default two significant digits on the column's largest bound."""
    e, lo, hi = (scale * frame[c].astype(float) for c in (col, f"{col}_low", f"{col}_high"))
    digits = decimals(lo, hi) if digits is None else digits
    return [pages.ci(*v, digits=digits) for v in zip(e, lo, hi, strict=True)]


if table.empty:
    display(Markdown("*No pruned configuration in this run: nothing to compare.*"))
else:
    display(pages.table(grouped(table, {
        "Δ ce² ×1000 [95%]": change_text(table, "d_ce2", 1000),
        "p (rise)": [pages.p_value(v) for v in table.p_ce2],
        "Δ accuracy [95%]": change_text(table, "d_accuracy", digits=2),
    })))

# %% [markdown]
# (tab-3-3)=
# **Table 3.3** The proper scores against the unpruned model (pruned − full) on the same test
# examples, with 95% intervals: NLL (nats) and Brier score. Both mix accuracy and calibration.

# %% tags=["hide-input"]
if not table.empty:
    display(pages.table(grouped(table, {
        "Δ NLL (nats) [95%]": change_text(table, "d_nll", digits=2),
        "Δ Brier [95%]": change_text(table, "d_brier", digits=2),
    })))
    display(Markdown(f"n = {n_examples} test examples per configuration."))

# %% tags=["hide-input"]
def way(low, high) -> list[str]:
    """'rose', 'fell' or 'undetermined' for each interval (the chapter's rule)."""
    return [pages.direction(lo, hi) for lo, hi in zip(low, high, strict=True)]


def tally_text(ways: list[str]) -> str:
    """'was undetermined' for one change; 'rose in 2, fell in 0 and was undetermined in 1'."""
    if len(ways) == 1:
        return "was undetermined" if ways[0] == "undetermined" else ways[0]
    return pages.tally(ways, ("rose", "fell", "undetermined"))


def where(row) -> str:
    return f"{row.model} on {row.task}, ratio {rl(row.ratio)}"


if not table.empty:
    n_cfg = len(table)
    table["acc_way"] = way(table.d_accuracy_low, table.d_accuracy_high)
    table["ce_way"] = way(table.d_ce2_low, table.d_ce2_high)
    table["nll_way"] = way(table.d_nll_low, table.d_nll_high)
    n_p = int((table.p_ce2 < alpha).sum())
    p_first = pages.p_value(table.p_ce2.iloc[0])
    p_said = "< 0.001" if p_first == "<0.001" else f"= {p_first}"
    sentence_change = (
        f"Against the unpruned model on the same {n_examples} test examples, in the "
        f"{pages.count(n_cfg, 'configuration')} pruned by the `{criterion}` criterion, accuracy "
        f"{tally_text(list(table.acc_way))}; the calibration error (ce²) "
        f"{tally_text(list(table.ce_way))}; and NLL {tally_text(list(table.nll_way))} (a "
        "change counts when its 95% interval excludes 0). The one-sided test of a rise of ce² "
        + (f"gave p {p_said}." if n_cfg == 1 else
           f"gave p < {alpha:g} in {n_p} of {n_cfg}."))
    big = table.loc[table.d_ce2.abs().idxmax()]
    sentence_worst = (
        ("The change of ce², " if n_cfg == 1 else "The largest change of ce² in absolute value, ")
        + f"{change_text(big.to_frame().T, 'd_ce2', 1000)[0]} (×1000), was at "
        f"{where(big)}: ce went from {big.ce_full:.3f} to {big.ce_pruned:.3f}, with accuracy "
        f"changing by {change_text(big.to_frame().T, 'd_accuracy', digits=2)[0]}.")
    both = table[(table.acc_way == "undetermined") & (table.ce_way == "rose")]
    sentence_mis = (
        f"In {len(both)} of {n_cfg} the calibration error rose while the accuracy change was "
        "undetermined: there, calibration moved where accuracy showed no change." if len(both)
        else "No configuration showed a rise of the calibration error beside an undetermined "
        "accuracy change.")
    display(Markdown(f"**In this run.** {sentence_change} {sentence_worst} {sentence_mis}"))
    pages.record_finding(CHAPTER, "calibration-change", f"{sentence_change} {sentence_worst}",
                         "tab-3-2")

# %% [markdown]
# ## 3.4 Reliability diagrams: full against most-pruned model
#
# A reliability diagram bins the test predictions by confidence and plots each bin's accuracy
# against its mean confidence; a calibrated model follows the diagonal. Points below the diagonal
# mean over-confidence, points above it under-confidence. A top-label confidence is never below
# one over the number of labels (0.5 for a binary task), so the diagrams start there. The strip
# below each diagram counts the examples per bin: a bin with few examples says little, and its
# interval shows how little.
#
# (fig-3-2)=
# **Figure 3.2** Reliability diagrams of the full and the most-pruned model (`n_bins`
# equal-width bins over the confidences a model can give). Bars are 95% Wilson intervals of each
# bin's accuracy; the strip below gives the examples per bin, the two models side by side. The
# calibration errors with their intervals are in {ref}`Table 3.1 <tab-3-1>`.

# %% tags=["hide-input"]
def reliability_panel(ax, counts_ax, shown: dict, truth) -> None:
    """Each model's bins (`readouts_calibration.range_bins`): accuracy with its interval against mean
    confidence above, the examples per bin below (the models' bars side by side)."""
    for j, (name, probs) in enumerate(shown.items()):
        bins = readouts_calibration.range_bins(probs, truth, n_bins)
        filled = bins[bins["count"] > 0]
        ax.errorbar(filled.confidence, filled.accuracy,
                    yerr=[filled.accuracy - filled.acc_low, filled.acc_high - filled.accuracy],
                    marker="o", ms=5, lw=1.5, capsize=3, color=f"C{j}", label=name, zorder=3)
        slot = (bins.hi.iloc[0] - bins.lo.iloc[0]) / (len(shown) + 1)
        counts_ax.bar(bins.lo + slot * (j + 0.5), bins["count"], width=slot, align="edge",
                      color=f"C{j}")
    start = float(bins.lo.iloc[0])
    ax.plot([start, 1], [start, 1], ls="--", color="0.5", lw=1, zorder=1)
    ax.set(xlim=(start, 1), ylim=(0, 1.02), ylabel="accuracy in the bin")
    ax.tick_params(labelbottom=False)
    counts_ax.set(xlim=(start, 1), xlabel="confidence", ylabel="examples")
    counts_ax.yaxis.set_major_locator(MaxNLocator(nbins=3, integer=True))


pairs = [(m, t) for m in models for t in tasks]
ncols = min(2, len(pairs))
nrows = math.ceil(len(pairs) / ncols)
fig = plt.figure(figsize=(7.5 if ncols > 1 else 5.0, 4.6 * nrows))
outer = fig.add_gridspec(nrows, ncols)
for k, (m, t) in enumerate(pairs):
    inner = outer[k // ncols, k % ncols].subgridspec(2, 1, height_ratios=[3, 1])
    ax, counts_ax = fig.add_subplot(inner[0]), fig.add_subplot(inner[1])
    shown = {}
    for r in sorted({0.0, worst}):
        record = run.scores(next(c for c in grid if (c.model, c.task, c.ratio) == (m, t, r)))
        shown["full" if r == 0 else f"ratio {rl(r)}"] = readouts.stored_probs(record)
    reliability_panel(ax, counts_ax, shown, np.asarray(record["examples"]["label"]))
    ax.set_title(f"{m} on {t}", fontsize=12)
    if k % ncols:
        ax.set_ylabel("")
        counts_ax.set_ylabel("")
fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=len(shown))
plt.show()

# %% [markdown]
# ## 3.5 How much does temperature scaling recover?
#
# Temperature scaling cannot change which label wins, so accuracy is unchanged by construction; it
# can only move the confidence. Each model's temperature is fitted on `n_calibration` examples of
# the calibration split and applied to its test sample, where the calibration error and NLL are
# compared before and after, on the same estimators as above. A fit whose temperature sits at a
# search bound is *not determined* by the calibration split (for example, every example is right
# and the NLL keeps falling as $T$ shrinks): such rows say so and are left out of every count
# below.
#
# (fig-3-3)=
# **Figure 3.3** Top: calibration error ce before (solid) and after (dashed) temperature scaling,
# with 95% intervals over the test examples. Bottom: the fitted temperature with its 95% bootstrap
# interval over the calibration split (log scale); a red × marks a fit at a search bound, a red
# triangle an interval that reaches one.

# %% tags=["hide-input"]
ts = readouts_calibration.temperature_scaling(run, grid, alpha=alpha)
ts["series"] = ts.model + " · " + ts.task
ts["low_open"] = ts.T_low <= LOW_T * 1.01
ts["high_open"] = ts.T_high >= HIGH_T / 1.01
ts["reading"] = np.where(ts.at_bound, "at search bound",
                         np.where(ts.T_low > 1, "over-confident",
                                  np.where(ts.T_high < 1, "under-confident",
                                           "undetermined")))
ts["ce_way"] = way(ts.d_ce2_low, ts.d_ce2_high)
ts["nll_way"] = way(ts.d_nll_low, ts.d_nll_high)
long = pd.concat([ts.assign(when=when, value=ts[f"ce_{when}"], low=ts[f"ce_{when}_low"],
                            high=ts[f"ce_{when}_high"]) for when in ("before", "after")])

fig, axes = plt.subplots(2, 1, figsize=(7.5, 7.4), sharex=True)
for j, series in enumerate(dict.fromkeys(ts.series)):
    colour = f"C{j}"
    before = long[(long.series == series) & (long.when == "before")]
    after = long[(long.series == series) & (long.when == "after")]
    plots.interval_lines(axes[0], before, ratios_run, color=colour)
    plots.interval_lines(axes[0], after.assign(ratio=after.ratio + 0.015 * max(worst, 0.1)),
                         ratios_run, color=colour, ls="--", alpha=0.8)  # nudged: bars apart
    g = ts[ts.series == series].sort_values("ratio")
    axes[1].errorbar(g.ratio, g["T"], yerr=[np.maximum(g["T"] - g.T_low, 0),
                                            np.maximum(g.T_high - g["T"], 0)], marker="o",
                     capsize=3, color=colour, label=series)
    axes[1].scatter(g.ratio[g.at_bound], g["T"][g.at_bound], marker="x", s=90, color="red",
                    zorder=5)
    reach = g[(g.low_open | g.high_open) & ~g.at_bound]
    axes[1].scatter(reach.ratio, reach["T"], marker="^", s=60, color="red", zorder=5)
axes[0].set(ylabel="calibration error ce", xlabel="",
            title="ce before (solid) and after (dashed) scaling")
handles, texts = axes[0].get_legend_handles_labels()
axes[0].legend(handles[::2], texts[::2], fontsize=10, title="model · task")
axes[1].axhline(1, color="grey", lw=0.8)
axes[1].set(ylabel="fitted temperature T", yscale="log", xlabel="share of sub-layers dropped",
            title="Fitted temperature (T > 1: the model was over-confident)")
plt.show()

# %% [markdown]
# (tab-3-4)=
# **Table 3.4** The fitted temperature with its 95% bootstrap interval over the calibration split
# (∞ or 0: the interval reaches a search bound, so the split does not bound T on that side), what
# it says about the model, and the change of the test sample's NLL (after − before) with its 95%
# interval.

# %% tags=["hide-input"]
def sig(x: float, digits: int = 2) -> str:
    """A positive number to `digits` significant digits: 3.22 -> '3.2', 1096.6 -> '1100'."""
    if not (np.isfinite(x) and x > 0):
        return "–"
    rounded = float(f"{x:.{digits}g}")
    places = max(digits - 1 - math.floor(math.log10(rounded)), 0)
    return f"{rounded:.{places}f}"


def t_text(row) -> str:
    """'3.2 [0.80, ∞)': the temperature and its interval, an open side at a search bound."""
    low = "(0" if row.low_open else f"[{sig(row.T_low)}"
    high = "∞)" if row.high_open else f"{sig(row.T_high)}]"
    return f"{sig(row['T'])} {low}, {high}"


display(pages.table(grouped(ts, {
    "T [95%]": [t_text(r) for _, r in ts.iterrows()],
    "reading of T": ts.reading,
    "Δ NLL (nats) [95%]": change_text(ts, "d_nll", digits=2),
})))
display(Markdown(f"n = {n_calibration} calibration examples for each fit, n = {n_examples} "
                 "test examples for each change. *Reading of T*: over-confident when the whole "
                 "interval lies above 1, under-confident when it lies below 1, undetermined when "
                 "it holds 1; *at search bound*: the fit sits at a bound of the search, so the "
                 "split does not determine T."))

# %% [markdown]
# (tab-3-5)=
# **Table 3.5** The calibration error ce of the test sample before and after temperature scaling,
# with 95% intervals, and the change of ce² (after − before, ×1000) with its 95% interval, on which
# a change is decided. These intervals take T as fitted: they leave out the uncertainty of T
# itself.

# %% tags=["hide-input"]
display(pages.table(grouped(ts, {
    "ce before [95%]": level_text(ts, "ce_before"),
    "ce after [95%]": level_text(ts, "ce_after"),
    "Δ ce² ×1000 [95%]": change_text(ts, "d_ce2", 1000),
})))

# %% tags=["hide-input"]
def said(row) -> str:
    """What a fit's reading says, as words in a sentence."""
    return ("at a search bound, so not determined" if row.at_bound
            else f"read as {row.reading}")


fitted = ts[~ts.at_bound]
pruned_fits = fitted[fitted.ratio > 0]
n_bound = int(ts.at_bound.sum())
reading = list(pruned_fits.reading)
over, under = reading.count("over-confident"), reading.count("under-confident")
sentence_t = (
    (f"Of the {pages.count(len(pruned_fits), 'pruned model')} whose temperature the "
     f"{n_calibration} calibration examples determine, the whole 95% interval of T lay above 1 "
     f"(over-confident) in {over}, below 1 (under-confident) in {under}, and it held 1 in "
     f"{len(reading) - over - under}" if len(pruned_fits) else
     f"The {n_calibration} calibration examples determine the temperature of no pruned model"
     if (ts.ratio > 0).any() else "This run has no pruned model")
    + (f"; {n_bound} of the {pages.count(len(ts), 'fit')} sat at a search bound and "
       f"{'is' if n_bound == 1 else 'are'} not counted." if n_bound
       else "; no fit sat at a search bound.")
    + " Unpruned: " + "; ".join(f"{r.model} on {r.task}, T = {t_text(r)}, {said(r)}"
                               for _, r in ts[ts.ratio == 0].iterrows()) + ".")
sentence_ts = (
    f"On the test examples, after scaling against before, over the "
    f"{pages.count(len(fitted), 'determined fit')}, the calibration error (ce²) "
    f"{tally_text(list(fitted.ce_way))} and NLL {tally_text(list(fitted.nll_way))} (a change "
    "counts when its 95% interval excludes 0)." if len(fitted) else
    "No fit was determined by its calibration split, so no change of scaling is counted.")
display(Markdown(f"**In this run.** {sentence_t} {sentence_ts}"))
if len(pruned_fits):
    pages.record_finding(CHAPTER, "temperature", sentence_t, "tab-3-4")
if len(fitted):
    pages.record_finding(CHAPTER, "temperature-scaling", sentence_ts, "tab-3-5")

# %% [markdown]
# ## Summary
#
# What this chapter's figures and tables support in general:
#
# - Calibration has to be measured beside accuracy: a model can keep its ranking of the labels
#   (its accuracy) while its confidence moves, and temperature scaling shows it directly, as it
#   changes the calibration and never the accuracy.
# - A pruned model can become more *or* less confident; the fitted temperature says which, but
#   only when its interval excludes 1 and the fit is not at a search bound.
# - A calibration error estimated from a small sample needs an estimator without bias and an
#   interval that covers; a change is read on the same examples, on the squared scale.
#
# What this run found, by the rule "a change counts when its 95% interval excludes 0":

# %% tags=["hide-input"]
summary = []
if not table.empty:
    summary.append(f"- Pruning against the full model ({{ref}}`Table 3.2 <tab-3-2>`): "
                   f"{sentence_change}")
summary.append(f"- The fitted temperatures ({{ref}}`Table 3.4 <tab-3-4>`): {sentence_t}")
summary.append(f"- Temperature scaling ({{ref}}`Tables 3.4 <tab-3-4>` and "
               f"{{ref}}`3.5 <tab-3-5>`): {sentence_ts}")
display(Markdown("\n".join(summary)))

# %% [markdown]
# ## Exercises
#
# Each exercise changes one parameter in a profile of your own: copy `params/smoke.yml` to
# `my.yml`, put the change under `chapters: 03_calibration:` and run
# `make chapter NB=03_calibration PROFILE=my.yml`. On the smoke profile every exercise takes
# about two minutes, its numbers too noisy to decide anything: look at *which* columns
# move, then run the same change on `params/default.yml` for an answer (about ten minutes for this
# chapter alone when the store is empty).

# %% tags=["remove-cell"]
# values the exercise solutions quote
ref = ts[ts.ratio == 0].iloc[0]
glue("ch3-ncal", str(n_calibration), display=False)
glue("ch3-ncal4", str(4 * n_calibration), display=False)
glue("ch3-t-full", f"{t_text(ref)}, {said(ref)}", display=False)
glue("ch3-n-bound", f"{n_bound} of the {pages.count(len(ts), 'fit')}", display=False)
glue("ch3-nex", str(n_examples), display=False)
glue("ch3-nex4", str(4 * n_examples), display=False)
if table.empty:
    glue("ch3-halfwidth", "not defined (no pruned configuration)", display=False)
    glue("ch3-undetermined", "none of the configurations", display=False)
    glue("ch3-worst-changes", "no pruned configuration in this run", display=False)
else:
    half = float(np.median(table.d_ce2_high - table.d_ce2_low) / 2 * 1000)
    glue("ch3-halfwidth", sig(half), display=False)
    glue("ch3-undetermined", f"{list(table.ce_way).count('undetermined')} of the "
         f"{pages.count(len(table), 'configuration')}", display=False)
    at_worst = table[table.ratio == worst]
    glue("ch3-worst-changes", "; ".join(
        f"{r.model} on {r.task}: Δ ce² ×1000 {change_text(r.to_frame().T, 'd_ce2', 1000)[0]}, "
        f"Δ accuracy {change_text(r.to_frame().T, 'd_accuracy', digits=2)[0]}"
        for _, r in at_worst.iterrows()), display=False)
glue("ch3-worst-ratio", rl(worst), display=False)
glue("ch3-criterion", criterion, display=False)

# %% [markdown]
# :::{exercise} A larger calibration split
# :label: ch3-ex-1
#
# Raise `n_calibration` from {glue:text}`ch3-ncal` to {glue:text}`ch3-ncal4`. What happens to the
# intervals of the fitted temperatures in {ref}`Table 3.4 <tab-3-4>`, and to the fits at a search
# bound? (About two minutes on the smoke profile: only the scores units are recomputed.)
# :::
#
# :::{solution} ch3-ex-1
# :class: dropdown
#
# **What to change:** set `n_calibration` to {glue:text}`ch3-ncal4` under
# `chapters: 03_calibration:`. **What to look at:** the *T [95%]* column of Table 3.4, as the
# ratio of its upper to its lower bound, and the fits marked *at search bound*. In this run the
# unpruned model's temperature was {glue:text}`ch3-t-full`, and {glue:text}`ch3-n-bound` sat
# at a search bound. A fit at a bound comes from a split in which the model is never wrong, or
# never confidently wrong, and a larger split makes that less likely; an open side (∞ or 0) means
# some bootstrap resamples of the split were such splits. The intervals of Table 3.5 and of the
# NLL changes do not narrow: they are measured on the test sample.
# :::
#
# :::{exercise} More test examples
# :label: ch3-ex-2
#
# Raise `n_examples` from {glue:text}`ch3-nex` to {glue:text}`ch3-nex4`. Which "undetermined"
# calibration changes of {ref}`Table 3.2 <tab-3-2>` become a rise or a fall? (About two minutes on
# the smoke profile: every model is scored on the larger sample.)
# :::
#
# :::{solution} ch3-ex-2
# :class: dropdown
#
# **What to change:** set `n_examples` to {glue:text}`ch3-nex4`. **What to look at:**
# the *Δ ce² ×1000* column of Table 3.2. In this run the median half-width of its intervals was
# {glue:text}`ch3-halfwidth` (×1000), and the calibration change was undetermined in
# {glue:text}`ch3-undetermined`. Compare each undetermined estimate with the new half-width: one well beyond it is
# a change the larger sample can show; one near 0 stays undetermined however many examples you
# add, which then says that the change, if any, is small.
# :::
#
# :::{exercise} Drop the deepest layers instead
# :label: ch3-ex-3
#
# Put `last` first in `criteria` (this chapter follows the first criterion, in this run
# {glue:text}`ch3-criterion`). Does dropping the deepest attention sub-layers hurt calibration
# more than dropping those chosen by this run's criterion? (About two minutes on the smoke
# profile.)
# :::
#
# :::{solution} ch3-ex-3
# :class: dropdown
#
# **What to change:** `criteria: [last, similarity]` under `chapters: 03_calibration:`.
# **What to look at:** Table 3.2 at the largest ratio, {glue:text}`ch3-worst-ratio`, where this
# run's changes against the full model were: {glue:text}`ch3-worst-changes`. The `last` criterion
# hurts calibration more where its ce² changes lie above these with intervals that do not overlap
# them; the reliability diagram of Figure 3.2 then shows on which side of the diagonal the pruned
# model moved. Chapter 4 compares the two criteria side by side.
# :::

# %% tags=["remove-input"]
pages.build_log()
