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
# **Overview.** A classifier is *calibrated* when its confidence matches its accuracy: of all
# answers given with 80% confidence, about 80% should be right. Pruning changes the logits a
# model produces, so it can change how confident the model is without changing which label
# wins. This chapter measures accuracy and calibration as attention sub-layers are dropped, each
# with a 95% bootstrap interval over test examples; compares every pruned model with its unpruned
# model on the same examples; shows reliability diagrams of the full and the most-pruned model;
# and asks how much of the damage a one-parameter fix, temperature scaling, undoes.
#
# **Prerequisites.** Chapter 1 (which layers are dropped). For predictions with confidence
# $c_i = \max_y p(y \mid x_i)$, the expected calibration error is
# $\mathrm{ECE} = \sum_b \frac{n_b}{n} |\mathrm{acc}_b - \mathrm{conf}_b|$ over confidence bins
# $b$; the Brier score is the mean squared distance between the probability vector and the
# one-hot label; NLL is the mean negative log probability of the true label. Temperature scaling
# divides the logits by one scalar $T$ fitted to minimise NLL on held-out data
# {cite:p}`guo2017calibration`: $T > 1$ softens an over-confident model, $T < 1$ sharpens an
# under-confident one.
#
# **Why a debiased ECE beside the plain one.** The plain binned ECE adds, in every bin, the
# sampling noise of the bin's accuracy, and an absolute value turns noise into error: with few
# examples per bin a perfectly calibrated model scores well above 0, and a model that only became
# *less confident* (confidences nearer the middle, where a bin's accuracy is noisiest) looks less
# calibrated. The debiased estimate of Kumar, Liang and Ma (2019, "Verified Uncertainty
# Calibration") subtracts each bin's estimated sampling variance from its squared gap and
# reports the root; it is the calibration measure this chapter decides changes on, and
# chapter 4 uses it too. Both use 15 equal-width bins.
#
# **What is ours, not the paper's.** Probabilities are the softmax of the next-token logits of
# the label words' first tokens, normalised over the label set only. The intervals are
# percentile bootstraps over test examples (`helpers.stats`); a change against the unpruned model
# resamples both models with the same examples. The temperature is fitted on a seeded
# `calibration` split disjoint from the test sample, separately for every pruned model (the
# "restore calibration after pruning" recipe), by a bounded search over $\log T \in [-7, 7]$;
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
from myst_nb import glue

from helpers import calibration, pages, plots, readouts, stats
from helpers.workload import open_chapter

pages.setup()
CHAPTER = "03_calibration"
run = open_chapter(CHAPTER, profile, overrides)
p = run.params
models = p['models']
tasks = p['tasks']
ratios = p['ratios']
criteria = p['criteria']
n_examples = p['n_examples']
n_calibration = p['n_calibration']
n_bins = p['n_bins']
shots = p['shots']
seed = p['seed']
demo_seeds = p['demo_seeds']
importance_source = p['importance_source']
n_resamples = p['n_resamples']
criterion = criteria[0]  # this chapter follows the profile's first criterion
demo_seed = demo_seeds[0]  # and its first demonstration seed (chapter 4 varies it)
ratios_run = sorted({0.0, *(float(r) for r in ratios)})  # the unpruned model is the reference
grid = run.configs(criteria_=[criterion], ratios=ratios_run, demo_seeds=[demo_seed])
boot = dict(n_resamples=n_resamples, seed=seed)
worst = max(ratios_run)
LOW_T, HIGH_T = calibration.TEMPERATURE_BOUNDS  # the temperature search range






def where(cfg) -> str:
    return f"{cfg.model} on {cfg.task}"




display(pages.parameter_table({
    "models": models, "tasks": tasks, "ratios": ratios_run, "criteria": [criterion],
    "n_examples": n_examples, "n_calibration": n_calibration, "n_bins": n_bins, "shots": shots,
    "seed": seed, "demo_seeds": [demo_seed], "importance_source": importance_source,
    "n_resamples": n_resamples, "device": p["device"],
}, {"criteria": "how the layers to drop are chosen (the profile's first criterion)",
    "demo_seeds": "demonstration seed (the profile's first; chapter 4 varies it)",
    "n_bins": "bins of the reliability diagrams (the ECEs of the tables use 15)",
    "n_resamples": "bootstrap resamples per interval"}))

# %% [markdown]
# ## 3.1 Calibration metrics against the pruning ratio
#
# Every configuration is read from the results store when an earlier chapter computed it (same
# model, task, criterion, ratio, sample and seeds), and computed otherwise.
# {ref}`Figure 3.1 <fig-3-1>` and {ref}`Table 3.1 <tab-3-1>` give each model's values;
# {ref}`Table 3.2 <tab-3-2>` gives what matters for the question of this chapter, the change
# against the unpruned model on the same examples.
#
# (fig-3-1)=
# **Figure 3.1** Accuracy and calibration as attention sub-layers are dropped, one line per model
# and task, with 95% bootstrap intervals over the test examples. Lower is better for every
# calibration metric.

# %% tags=["hide-input"]
records = {cfg: run.scores(cfg) for cfg in grid}
names = {"accuracy": "accuracy", "ece": "ECE", "ece_debiased": "debiased ECE",
         "brier": "Brier score", "nll": "NLL (nats)"}
ci = readouts.interval_frame(run, grid, list(names), **boot)
ci["series"] = ci.model + " / " + ci.task


fig, axes = plt.subplots(3, 2, figsize=(7.5, 9))
for ax, (metric, label) in zip(axes.flat, names.items(), strict=False):
    plots.interval_lines(ax, ci[ci.metric == metric], ratios_run)
    ax.set(ylabel=label, title=label)
axes.flat[-1].axis("off")
axes.flat[-1].legend(*axes.flat[0].get_legend_handles_labels(), title="model / task", loc="center")
plt.show()

# %% [markdown]
# (tab-3-1)=
# **Table 3.1** Accuracy and calibration on the test sample, each with its 95% bootstrap
# interval over examples.

# %% tags=["hide-input"]
table1 = ci.assign(ratio=ci.ratio.map(pages.ratio_label),
                   shown=[pages.interval_text(v, lo, hi) for v, lo, hi in zip(ci.value, ci.low, ci.high,
                                                                    strict=True)])
table1 = (table1.pivot_table(index=["model", "task", "ratio"], columns="metric", values="shown",
                             aggfunc="first", sort=False)[list(names)]
          .rename(columns=names).reset_index())
display(Markdown(f"n = {n_examples} test examples per configuration; criterion `{criterion}`."))
display(table1.style.hide(axis="index"))

# %% [markdown]
# (tab-3-2)=
# **Table 3.2** Each pruned model against its unpruned model on the same test examples: the
# change (pruned − full) with its paired 95% bootstrap interval. A change counts as a rise or a
# fall when its interval excludes 0; otherwise it is undetermined. For the debiased ECE the
# decision uses the interval of the change of its square, which is unbiased (the change of the
# clipped root leans towards "worse" when the pruned model's estimate is noisier).

# %% tags=["hide-input"]
rows = []
for cfg in (c for c in grid if c.ratio > 0):
    full, pruned = records[cfg.unpruned()], records[cfg]
    labels = full["examples"]["label"]
    pf, pp = readouts.stored_probs(full), readouts.stored_probs(pruned)
    row = {"cfg": cfg, "model": cfg.model, "task": cfg.task, "ratio": cfg.ratio}
    for metric in ("accuracy", "ece", "ece_debiased", "ece_debiased_sq", "brier", "nll"):
        row[metric] = stats.paired_delta_ci(metric, pf, pp, labels, **boot)
    row["acc_dir"] = pages.direction(*row["accuracy"][1:])
    row["ece_dir"] = pages.direction(*row["ece_debiased_sq"][1:])
    row["nll_dir"] = pages.direction(*row["nll"][1:])
    rows.append(row)
changes = pd.DataFrame(rows)
if changes.empty:
    display(Markdown("*This profile has no pruned configuration (`ratios` holds only 0): nothing "
                     "to compare.*"))
else:
    shown = pd.DataFrame({
        "model": changes.model, "task": changes.task,
        "ratio": changes.ratio.map(pages.ratio_label),
        **{f"Δ {names[m]}": [pages.interval_text(*v, signed=True) for v in changes[m]]
           for m in ("accuracy", "ece", "ece_debiased", "brier", "nll")},
        "accuracy": changes.acc_dir, "debiased ECE": changes.ece_dir, "NLL": changes.nll_dir,
    })
    display(shown.style.hide(axis="index"))

# %% tags=["hide-input"]
if not changes.empty:
    n_cfg = len(changes)
    worst_rise = max(rows, key=lambda r: abs(r["ece_debiased"][0]))
    sentence_change = (
        f"Against the unpruned model on the same {n_examples} test examples, in the {n_cfg} "
        f"configuration(s) pruned by the `{criterion}` criterion accuracy "
        f"{pages.tally(list(changes.acc_dir), ('rose', 'fell', 'undetermined'))}; the debiased ECE "
        f"{pages.tally(list(changes.ece_dir), ('rose', 'fell', 'undetermined'))}; and NLL "
        f"{pages.tally(list(changes.nll_dir), ('rose', 'fell', 'undetermined'))} (a change counts when "
        "its paired 95% bootstrap interval excludes 0).")
    sentence_worst = (
        f"The largest change of the debiased ECE in absolute value was "
        f"{pages.interval_text(*worst_rise['ece_debiased'], signed=True)} ({where(worst_rise['cfg'])}, ratio "
        f"{pages.ratio_label(worst_rise['ratio'])}), with accuracy changing by "
        f"{pages.interval_text(*worst_rise['accuracy'], signed=True)}.")
    both = changes[(changes.acc_dir == "undetermined") & (changes.ece_dir == "rose")]
    sentence_mis = (
        f"In {len(both)} of {n_cfg} configuration(s) the debiased ECE rose while the accuracy "
        "change was undetermined: there, calibration moved where accuracy did not show a change."
        if len(both) else
        f"In none of the {n_cfg} configuration(s) did the debiased ECE rise while the accuracy "
        "change stayed undetermined.")
    display(Markdown(f"**In this run.** {sentence_change} {sentence_worst} {sentence_mis}"))
    pages.record_finding(CHAPTER, "calibration-change", f"{sentence_change} {sentence_worst}",
                         "tab-3-2")

# %% [markdown]
# ## 3.2 Reliability diagrams: full against most-pruned model
#
# A reliability diagram bins the test predictions by confidence and plots each bin's accuracy
# against its mean confidence; a calibrated model follows the diagonal. Points below the diagonal
# mean over-confidence, points above it under-confidence. The inset counts the examples per bin:
# a bin with few examples says little, and its interval shows how little.
#
# (fig-3-2)=
# **Figure 3.2** Reliability diagrams of the full and the most-pruned model (`n_bins` equal-width
# bins). Bars on the points are 95% bootstrap intervals of each bin's accuracy over the examples
# in the bin (bins with a single example have none); the ECEs with their intervals are in
# {ref}`Table 3.1 <tab-3-1>`.

# %% tags=["hide-input"]
pairs = [(m, t) for m in models for t in tasks]
ncols = min(2, len(pairs))
nrows = math.ceil(len(pairs) / ncols)
fig, axes = plt.subplots(nrows, ncols, figsize=(3.75 * ncols, 3.9 * nrows), squeeze=False)
for ax, (m, t) in zip(axes.flat, pairs, strict=False):
    for r in sorted({0.0, worst}):
        cfg = next(c for c in grid if (c.model, c.task, c.ratio) == (m, t, r))
        probs = readouts.stored_probs(records[cfg])
        labels = np.asarray(records[cfg]["examples"]["label"])
        calibration.reliability_diagram(probs, labels, n_bins=n_bins, ax=ax,
                                        label="full" if r == 0 else f"ratio {pages.ratio_label(r)}")
        conf, correct = probs.max(axis=1), (probs.argmax(axis=1) == labels).astype(float)
        bins = calibration.bin_index(probs, n_bins)
        colour = ax.get_lines()[-1].get_color()
        for b in np.unique(bins):
            inside = bins == b
            if inside.sum() >= 2:
                est, lo, hi = stats.mean_ci(correct[inside], **boot)
                ax.errorbar(conf[inside].mean(), est, yerr=[[max(est - lo, 0)], [max(hi - est, 0)]],
                            color=colour, capsize=2, lw=1)
    handles, texts = ax.get_legend_handles_labels()
    ax.legend(handles, [s.split(" (ECE")[0] for s in texts], loc="lower right", fontsize=9)
    ax.set_title(f"{m} on {t}", fontsize=11)
for ax in list(axes.flat)[len(pairs):]:
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 3.3 How much does temperature scaling recover?
#
# Temperature scaling cannot change which label wins (dividing every logit by the same $T > 0$
# keeps their order), so accuracy is unchanged by construction; it can only move the confidence.
# A fit whose temperature sits at a bound of the search range is *not determined* by the
# calibration split (for example, every example is right and the NLL keeps falling as $T$
# shrinks): such rows are marked and left out of every count below.
#
# (fig-3-3)=
# **Figure 3.3** Top: debiased ECE before (solid) and after (dashed) temperature scaling, with
# 95% bootstrap intervals over test examples. Bottom: the fitted temperature with its 95%
# interval (log scale); a red × marks a fit at a search bound, a red triangle an interval that
# reaches one.

# %% tags=["hide-input"]
fits = readouts.temperature_scaling(run, grid, **boot)
for row in fits:
    row["series"] = f"{row['model']} / {row['task']}"
    row["interval_at_bound"] = row["T_low"] <= LOW_T * 1.01 or row["T_high"] >= HIGH_T / 1.01
    row["T_dir"] = ("not determined (search bound)" if row["at_bound"] else
                    "over-confident (T above 1)" if row["T_low"] > 1 else
                    "under-confident (T below 1)" if row["T_high"] < 1 else "undetermined")
    row["ts_ece_dir"] = pages.direction(*row["ece_debiased_sq_delta"][1:])
    row["ts_nll_dir"] = pages.direction(*row["nll_delta"][1:])
ts = pd.DataFrame(fits)
long = pd.DataFrame([{"series": r["series"], "ratio": r["ratio"], "when": when,
                      "value": r[f"ece_debiased_{when}"][0], "low": r[f"ece_debiased_{when}"][1],
                      "high": r[f"ece_debiased_{when}"][2]}
                     for r in fits for when in ("before", "after")])

fig, axes = plt.subplots(2, 1, figsize=(7.5, 7.6))
colours = {s: f"C{i}" for i, s in enumerate(dict.fromkeys(ts.series))}
for s, colour in colours.items():
    plots.interval_lines(axes[0], long[(long.series == s) & (long.when == "before")], ratios_run,
                         color=colour)
    after = long[(long.series == s) & (long.when == "after")]
    plots.interval_lines(axes[0], after.assign(ratio=after.ratio + 0.01 * max(worst, 0.1)),
                         ratios_run, color=colour, ls="--", alpha=0.8)  # nudged right so that the bars do not overlap
    g = ts[ts.series == s].sort_values("ratio")
    axes[1].errorbar(g.ratio, g["T"], yerr=[np.maximum(g["T"] - g.T_low, 0),
                                            np.maximum(g.T_high - g["T"], 0)], marker="o",
                     capsize=3, color=colour, label=s)
    bound = g[g.at_bound]
    axes[1].scatter(bound.ratio, bound["T"], marker="x", s=90, color="red", zorder=5)
    reach = g[g.interval_at_bound & ~g.at_bound]
    axes[1].scatter(reach.ratio, reach["T"], marker="^", s=60, color="red", zorder=5)
axes[0].set(ylabel="debiased ECE", title="Debiased ECE before (solid) and after (dashed) scaling")
handles, texts = axes[0].get_legend_handles_labels()
axes[0].legend(handles[::2], texts[::2], fontsize=9)
axes[1].axhline(1, color="grey", lw=0.8)
axes[1].set_xticks(ratios_run, [pages.ratio_label(r) for r in ratios_run])
axes[1].set(xlabel="share of attention sub-layers dropped", ylabel="fitted temperature T",
            title="Fitted temperature (T > 1: the model was over-confident)", yscale="log")
plt.show()

# %% [markdown]
# (tab-3-3)=
# **Table 3.3** Temperature scaling, fitted on the calibration split and applied to the test
# sample. T with its 95% interval (⚠: the fit sits at a search bound; †: the interval reaches
# one); the debiased ECE and NLL after scaling, and the paired changes (after − before) of the
# debiased ECE, the plain ECE and NLL, with 95% intervals over test examples. A change counts
# when its interval excludes 0 (for the debiased ECE: the interval of the change of its square).
# These intervals take T as fitted: they do not include the uncertainty of T itself.

# %% tags=["hide-input"]
table3 = pd.DataFrame({
    "model": ts.model, "task": ts.task, "ratio": ts.ratio.map(pages.ratio_label),
    "T [95%]": [pages.interval_text(t, lo, hi, digits=2) + (" ⚠" if b else " †" if ib else "")
                for t, lo, hi, b, ib in zip(ts["T"], ts.T_low, ts.T_high, ts.at_bound,
                                            ts.interval_at_bound, strict=True)],
    "reading of T": ts.T_dir,
    "debiased ECE after": [pages.interval_text(*a) for a in ts.ece_debiased_after],
    "Δ debiased ECE": [pages.interval_text(*d, signed=True) for d in ts.ece_debiased_delta],
    "Δ ECE": [pages.interval_text(*d, signed=True) for d in ts.ece_delta],
    "NLL after": [pages.interval_text(*a) for a in ts.nll_after],
    "Δ NLL": [pages.interval_text(*d, signed=True) for d in ts.nll_delta],
})
display(Markdown(f"n = {n_calibration} calibration examples for each fit, n = {n_examples} test "
                 "examples for each value and change; the values before scaling are those of "
                 "Table 3.1."))
display(table3.style.hide(axis="index"))

# %% tags=["hide-input"]
fitted = ts[~ts.at_bound]
pruned_fits = fitted[fitted.ratio > 0]
n_bound = int(ts.at_bound.sum())
reading = list(pruned_fits.T_dir)
sentence_t = (
    f"Of the {len(pruned_fits)} pruned model(s) whose temperature the {n_calibration} calibration "
    f"examples determine, the fitted T lay above 1 with its whole 95% interval (over-confident) "
    f"in {reading.count('over-confident (T above 1)')}, below 1 (under-confident) in "
    f"{reading.count('under-confident (T below 1)')}, and its interval contained 1 in "
    f"{reading.count('undetermined')}"
    + (f"; {n_bound} fit(s) of the {len(ts)} sat at a search bound and are not counted." if n_bound
       else "; no fit sat at a search bound.")
    + (" For the unpruned model(s): "
       + "; ".join(f"{where(r.cfg)} T = {pages.interval_text(r.T, r.T_low, r.T_high, digits=2)}"
                   + (" (at a search bound)" if r.at_bound else "")
                   for r in ts[ts.ratio == 0].itertuples()) + "."))
ece_dirs, nll_dirs = list(fitted.ts_ece_dir), list(fitted.ts_nll_dir)
sentence_ts = (
    f"On the test examples, temperature scaling lowered the debiased ECE (paired 95% interval of "
    f"the change below 0) in {ece_dirs.count('fell')} of the {len(fitted)} determined fit(s), "
    f"raised it in {ece_dirs.count('rose')} and left it undetermined in "
    f"{ece_dirs.count('undetermined')}; it lowered NLL in {nll_dirs.count('fell')}, raised it in "
    f"{nll_dirs.count('rose')} and left it undetermined in {nll_dirs.count('undetermined')}.")
display(Markdown(f"**In this run.** {sentence_t} {sentence_ts}"))
if len(pruned_fits):
    pages.record_finding(CHAPTER, "temperature", sentence_t, "tab-3-3")
if len(fitted):
    pages.record_finding(CHAPTER, "temperature-scaling", sentence_ts, "tab-3-3")

# %% [markdown]
# ## Summary
#
# What this chapter's figures and tables support in general:
#
# - Calibration has to be measured beside accuracy: a model can keep its ranking of the labels
#   (its accuracy) while its confidence moves, and temperature scaling shows this directly, as it
#   changes the calibration and never the accuracy.
# - A pruned model can become more *or* less confident; the fitted temperature says which, but
#   only when its interval excludes 1 and the fit is not at a search bound.
# - With small test samples the plain ECE is biased upwards and rises for a model that merely
#   became less confident; read it beside its interval and the debiased ECE, and compare
#   changes on the same examples rather than absolute values.
#
# What this run found, by the rule "a change counts when its 95% interval excludes 0":

# %% tags=["hide-input"]
summary = []
if not changes.empty:
    summary.append(f"- Pruning against the full model ({{ref}}`Table 3.2 <tab-3-2>`): "
                   f"{sentence_change}")
if len(fits):
    summary.append(f"- The fitted temperatures ({{ref}}`Table 3.3 <tab-3-3>`): {sentence_t}")
    summary.append(f"- Temperature scaling ({{ref}}`Table 3.3 <tab-3-3>`): {sentence_ts}")
display(Markdown("\n".join(summary) or "*No pruned configuration in this run.*"))

# %% [markdown]
# ## Exercises
#
# The numbers in the solutions are computed from this run. To change a parameter, edit the
# profile (`params/*.yml`, under `chapters: 03_calibration:` for this chapter alone) and run
# `python -m helpers.book chapter 03_calibration --profile <profile>`.

# %% tags=["hide-input"]
ref = ts[ts.ratio == 0].iloc[0]
glue("ch3-ncal", int(n_calibration), display=False)
glue("ch3-ncal4", int(4 * n_calibration), display=False)
glue("ch3-t-full", pages.interval_text(float(ref["T"]), float(ref.T_low), float(ref.T_high), digits=2)
     + (" (at a search bound)" if ref.at_bound else ""), display=False)
t_span = (float(np.log(ref.T_high / ref.T_low))
          if ref.T_low > 0 and np.isfinite(ref.T_high / ref.T_low) else float("nan"))
glue("ch3-t-factor", f"{math.exp(t_span):.2f}" if np.isfinite(t_span) else "undefined",
     display=False)
glue("ch3-t-factor4", f"{math.exp(t_span / 2):.2f}" if np.isfinite(t_span) else "undefined",
     display=False)

glue("ch3-nex", int(n_examples), display=False)
glue("ch3-nex4", int(4 * n_examples), display=False)
widths = [(d[2] - d[1]) / 2 for d in changes.get("ece_debiased", [])
          if np.isfinite(d[1]) and np.isfinite(d[2])]
glue("ch3-halfwidth", float(np.median(widths)) if widths else float("nan"), display=False)
glue("ch3-halfwidth4", float(np.median(widths)) / 2 if widths else float("nan"), display=False)

at_worst = [r for r in rows if r["ratio"] == worst]
glue("ch3-worst-ratio", pages.ratio_label(worst), display=False)
glue("ch3-criterion", criterion, display=False)
glue("ch3-worst-changes",
     "; ".join(f"{where(r['cfg'])}: Δ debiased ECE {pages.interval_text(*r['ece_debiased'], signed=True)}, "
               f"Δ accuracy {pages.interval_text(*r['accuracy'], signed=True)}" for r in at_worst)
     or "no pruned configuration in this run", display=False)

# %% [markdown]
# :::{exercise} A larger calibration split
# :label: ch3-ex-1
#
# Raise `n_calibration` from {glue:text}`ch3-ncal` to {glue:text}`ch3-ncal4`. What happens to the
# intervals of the fitted temperature in {ref}`Table 3.3 <tab-3-3>`, and to the fits at a search
# bound?
# :::
#
# :::{solution} ch3-ex-1
# :class: dropdown
#
# **What to change:** set `n_calibration` to four times its value (no split of the offline tasks is
# too small for a few hundred; `python -m helpers.book check` says when one is).
#
# **What to expect:** in this run the unpruned model's temperature was {glue:text}`ch3-t-full`,
# an interval whose upper bound is {glue:text}`ch3-t-factor` times its lower one. A bootstrap
# interval shrinks roughly with the square root of the sample size, so with four times the
# examples that factor should fall to about {glue:text}`ch3-t-factor4` (on the log scale the
# interval halves). Fits at a search bound come from splits in which the model is never wrong,
# or never confidently wrong; a larger split makes them rarer. The ECE changes of the table do
# not narrow: they are measured on the test sample.
# :::
#
# :::{exercise} More test examples
# :label: ch3-ex-2
#
# Raise `n_examples` from {glue:text}`ch3-nex` to {glue:text}`ch3-nex4`. How many of the
# "undetermined" entries of {ref}`Table 3.2 <tab-3-2>` would you expect to turn into a rise or a
# fall?
# :::
#
# :::{solution} ch3-ex-2
# :class: dropdown
#
# **What to change:** set `n_examples` to four times its value (every model is then scored on the
# larger sample, so this chapter and chapter 4 take four times as long).
#
# **What to expect:** the median half-width of the paired interval of the change of the
# debiased ECE was {glue:text}`ch3-halfwidth:.3f` in this run; with four times the examples it
# should fall to about {glue:text}`ch3-halfwidth4:.3f`. An undetermined change whose estimate is
# larger than that new half-width is likely to become a rise or a fall; one whose estimate is near
# 0 stays undetermined however many examples you add, which is then evidence that the change,
# if any, is small. The binned metrics also lose part of their small-sample bias, so the plain
# ECE falls towards the debiased one.
# :::
#
# :::{exercise} Drop the deepest layers instead
# :label: ch3-ex-3
#
# Put `last` first in `criteria` (this chapter follows the first criterion, in this run
# {glue:text}`ch3-criterion`). Does dropping the deepest attention sub-layers hurt calibration
# more than dropping the least important ones?
# :::
#
# :::{solution} ch3-ex-3
# :class: dropdown
#
# **What to change:** `criteria: [last, similarity]` under `chapters: 03_calibration:`.
#
# **What to expect:** at ratio {glue:text}`ch3-worst-ratio` this run's changes against the full
# model were: {glue:text}`ch3-worst-changes`. If the `last` criterion hurts calibration more, its
# changes of the debiased ECE lie above these, with intervals that exclude the values here; the
# deepest layers carry much of the mapping from the residual stream to the label words, so both
# accuracy and confidence may move more than with the `similarity` criterion, which drops the
# layers that change the residual stream least. Chapter 4 compares the two criteria side by
# side.
# :::
