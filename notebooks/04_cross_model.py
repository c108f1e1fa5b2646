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
# # 4. Across models and tasks: is accuracy the whole story?
#
# **Overview.** The paper's central claim is a *misalignment*: pruned models often keep their
# accuracy while the faithfulness of their explanations and the calibration of their confidence
# degrade, and the latter two can swing widely even when accuracy is stable. This chapter
# expresses every pruned configuration of the profile as a change against its unpruned model *on
# the same test examples*, gives every change an interval, and decides each of the paper's claims
# by a stated rule on those intervals: **yes**, **no**, or **undetermined** when the data cannot
# tell.
#
# **Prerequisites.** Chapters 1–3. For a configuration $c$ (model, task, criterion, ratio) and its
# unpruned model $c_0$: $\Delta\mathrm{acc} = \mathrm{acc}(c) - \mathrm{acc}(c_0)$;
# $\Delta\mathrm{ECE}_{\mathrm{d}}$, the change of a *debiased* calibration error (Kumar, Liang
# and Ma 2019), which a model that merely became less confident does not inflate the way the plain
# binned ECE does at small $n$ (positive = worse); $\Delta\mathrm{NLL}$ likewise; and
# $\Delta\mathrm{faith}$, the change of a faithfulness score that a pure drop in confidence cannot
# move: per example, the normalised AOPC comprehensiveness (Carton, Rathore and Tan 2020: divided
# by what the full input allows) of the attribution method minus that of the random control on the
# same example (negative = less faithful).
#
# **What is ours, not the paper's.** Everything that turns the claims into checks: the metrics
# above, the tolerance for "accuracy kept" (`acc_tolerance`), the significance level (`alpha`),
# the margins that let a rule answer "no", and the rules themselves (Table 4.3 states each one).
# Intervals are paired percentile bootstraps over examples; configurations that share their test
# examples are resampled jointly.

# %% tags=["parameters"]
profile = "params/default.yml"  # the profile of parameters this chapter runs with (params/*.yml)
overrides = {}  # values that replace the profile's, e.g. {"models": ["gemma3-270m"]}

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

from helpers import claims, metrics, pages, plots, readouts, stats
from helpers.workload import open_chapter

pages.setup()
CHAPTER = "04_cross_model"
pd.set_option("display.max_colwidth", None)
run = open_chapter(CHAPTER, profile, overrides)
p = run.params
models = p['models']
tasks = p['tasks']
ratios = p['ratios']
criteria = p['criteria']
methods = p['methods']
n_examples = p['n_examples']
n_faithfulness = p['n_faithfulness']
shots = p['shots']
seed = p['seed']
demo_seeds = p['demo_seeds']
importance_source = p['importance_source']
acc_tolerance = p['acc_tolerance']
alpha = p['alpha']
n_resamples = p['n_resamples']
method = methods[0]
grid = run.configs(demo_seeds=demo_seeds[:1])
changes = readouts.config_changes(run, grid, method=method)
verdict, table = claims.verdicts(changes, acc_tolerance=acc_tolerance, alpha=alpha,
                                 n_resamples=n_resamples, seed=seed)


frac = pages.ratio_label
table["configuration"] = [f"{m} · {t} · {c} · {frac(r)}" for m, t, c, r in
                          zip(table.model, table.task, table.criterion, table.ratio, strict=True)]
level = f"{1 - 2 * alpha:.0%}"
glue("ch4-level", level, display=False)
pages.parameter_table({
    "models": models, "tasks": tasks, "ratios": ratios, "criteria": criteria,
    "methods": [method], "n_examples": n_examples, "n_faithfulness": n_faithfulness,
    "shots": shots, "seed": seed, "demo_seeds": demo_seeds, "importance_source": importance_source,
    "acc_tolerance": acc_tolerance, "alpha": alpha, "n_resamples": n_resamples,
})

# %% [markdown]
# ## 4.1 Every configuration, relative to its unpruned model
#
# Figure 4.1 shows each change with its interval (two-sided, at the level whose bounds are the
# one-sided tests of Table 4.3). A bar that crosses zero is a change this sample cannot tell from
# noise; red bars exclude zero.
#
# (fig-4-1)=
# **Figure 4.1** Changes against the unpruned model with their {glue:text}`ch4-level` paired
# bootstrap intervals (shaded: the worse side).

# %% tags=["hide-input"]
cal = table.attrs["calibration"]
axes = plots.interval_forest(
    table, {"d_accuracy": "Δ accuracy", f"d_{cal}": "Δ debiased ECE", "d_nll": "Δ NLL (nats)",
            "d_faith": "Δ faithfulness (vs random)"},
    label="configuration",
    worse={c: metrics.get(c).worse for c in ("d_accuracy", f"d_{cal}", "d_nll", "d_faith")},
    title="")
plt.show()


# %% [markdown]
# (tab-4-1)=
# **Table 4.1** Every pruned configuration against its unpruned model, with paired
# {glue:text}`ch4-level` intervals (*kept* = the one-sided lower bound of Δ accuracy lies above
# $-$`acc_tolerance`, *lost* = the upper bound lies below it).

# %% tags=["hide-input"]
def ci(row: pd.Series, col: str, digits: int = 3) -> str:
    return (f"{row[col]:+.{digits}f} [{row[f'{col}_low']:+.{digits}f}, {row[f'{col}_high']:+.{digits}f}]"
            if np.isfinite(row[col]) else "–")


shown = pd.DataFrame({
    "configuration": table.configuration,
    "accuracy (full → pruned)": [f"{a:.3f} → {b:.3f}" for a, b in
                                 zip(table.accuracy_full, table.accuracy_pruned, strict=True)],
    "Δ accuracy": [ci(r, "d_accuracy") for _, r in table.iterrows()],
    "kept?": np.where(table.accuracy_kept, "kept", np.where(table.accuracy_lost, "lost", "?")),
    "Δ debiased ECE": [ci(r, f"d_{cal}") for _, r in table.iterrows()],
    "Δ NLL": [ci(r, "d_nll") for _, r in table.iterrows()],
    "Δ faithfulness": [ci(r, "d_faith") for _, r in table.iterrows()],
}).set_index("configuration")
display(Markdown(f"n = {n_examples} test examples for accuracy and calibration; up to "
                 f"{n_faithfulness} for faithfulness (those where the normalised score is defined)."))
shown

# %% [markdown]
# ## 4.2 Does the accuracy change predict the others?
#
# If accuracy told the whole story, configurations that lose accuracy would lose calibration and
# faithfulness with it, and those that keep accuracy would keep them. Each point below is one
# configuration with its intervals on both axes. Note the directions: a lower accuracy and a
# *higher* calibration error are both worse, so a tight coupling shows as a *falling* line in the
# calibration panel and a rising one in the faithfulness panel.
#
# (fig-4-2)=
# **Figure 4.2** Accuracy change against the calibration and faithfulness changes, each with its
# {glue:text}`ch4-level` interval on both axes.

# %% tags=["hide-input"]
fig, axes = plt.subplots(2, 1, figsize=(7.5, 8))
for ax, col, name in ((axes[0], f"d_{cal}", "Δ debiased ECE (up = worse)"),
                      (axes[1], "d_faith", "Δ faithfulness (down = worse)")):
    for key, g in table.groupby(["model", "criterion"]):
        ax.errorbar(g.d_accuracy, g[col],
                    xerr=[g.d_accuracy - g.d_accuracy_low, g.d_accuracy_high - g.d_accuracy],
                    yerr=[g[col] - g[f"{col}_low"], g[f"{col}_high"] - g[col]],
                    fmt="o", capsize=2, alpha=0.8, label=" · ".join(key))
    ax.axhline(0, color="grey", lw=0.8)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xlabel("Δ accuracy")
    ax.set_ylabel(name)
axes[0].legend(fontsize=9)
plt.show()

# %% [markdown]
# ## 4.3 Fluctuation: which demonstrations, or which examples?
#
# With one demonstration per label, *which* demonstrations the prompt holds is itself a source of
# variation. The paper's "fluctuation" could come from it rather than from pruning. Figure 4.3
# repeats the configurations of the first model and task with other demonstration seeds: compare
# the spread of the points across seeds with the length of each point's own sampling interval.
#
# (fig-4-3)=
# **Figure 4.3** The first model on the first task: each demonstration seed's change with its
# 95% paired interval.

# %% tags=["hide-input"]
seed_grid = run.configs(models=models[:1], tasks=tasks[:1])
seed_changes = readouts.config_changes(run, seed_grid, method=None)
rows = []
for c in seed_changes:
    ds = c.example_set.split("/demo")[1].split("/")[0]
    for metric in ("accuracy", "ece_debiased", "nll"):
        e, lo, hi = stats.paired_delta_ci(metric, c.probs_full, c.probs_pruned, c.labels,
                                          n_resamples=n_resamples, seed=seed)
        rows.append({"configuration": f"{c.criterion} · {frac(c.ratio)}", "demo seed": ds,
                     "metric": metric, "d": e, "d_low": lo, "d_high": hi})
spread = pd.DataFrame(rows)
fig, axes = plt.subplots(3, 1, figsize=(7.5, 9))
for ax, (metric, name) in zip(axes, [("accuracy", "Δ accuracy"), ("ece_debiased", "Δ debiased ECE"),
                                     ("nll", "Δ NLL")], strict=True):
    plots.seed_spread(spread[spread.metric == metric], x="configuration", y="d", hue="demo seed",
                      ax=ax, ylabel=name, title=name)
fig.suptitle(f"{models[0]} on {tasks[0]}")
plt.show()

# %% [markdown]
# (tab-4-2)=
# **Table 4.2** Range of the change across demonstration seeds against the median width of one
# seed's 95% interval. Where the range is larger, which demonstrations were drawn matters more than
# which test examples were.

# %% tags=["hide-input"]
summary = spread.groupby(["metric", "configuration"]).agg(
    across_seeds=("d", lambda d: d.max() - d.min()),
    interval_width=("d_low", lambda _: np.nan))
summary["interval_width"] = spread.assign(w=spread.d_high - spread.d_low).groupby(
    ["metric", "configuration"]).w.median()
summary["dominates"] = np.where(summary.across_seeds > summary.interval_width,
                                "demonstrations", "sampling")
n_demo = int((summary.dominates == "demonstrations").sum())
glue("ch4-demo-dominates", f"{n_demo} of {len(summary)}", display=False)
display(summary.round(3))
if len(demo_seeds) > 1:
    sentence = (f"For {models[0]} on {tasks[0]}, the spread of a change across {len(demo_seeds)} "
                f"demonstration seeds exceeded the median width of one seed's 95% interval in "
                f"{n_demo} of {len(summary)} (metric, configuration) pairs.")
    display(Markdown(f"**In this run:** {sentence}"))
    pages.record_finding(CHAPTER, "demo-seeds", sentence, "tab-4-2")

# %% [markdown]
# ## 4.4 Which of the paper's claims hold here?
#
# Table 4.3 decides each claim of the paper's abstract by the rule stated beside it, on all
# configurations together; Table 4.4 repeats the verdicts for each pruning criterion alone, so the
# claims can be read where the paper made them: where accuracy is kept. "Undetermined" is an
# answer: it says the intervals are too wide for this profile's sample sizes to decide.
#
# (tab-4-3)=
# **Table 4.3** The paper's claims, each decided by the rule beside it on all pruned
# configurations together.

# %% tags=["hide-input"]
display(Markdown(f"{len(models)} models × {len(tasks)} tasks × {len(criteria)} criteria × "
                 f"{len([r for r in ratios if r > 0])} ratios ({len(changes)} pruned configurations, "
                 f"faithfulness by `{method}`)."))
verdict.set_index("claim")[["verdict", "evidence", "rule"]]

# %% [markdown]
# (tab-4-4)=
# **Table 4.4** The same verdicts for each pruning criterion alone.

# %% tags=["hide-input"]
per_criterion = {}
for crit in criteria:
    subset = [c for c in changes if c.criterion == crit]
    v, _ = claims.verdicts(subset, acc_tolerance=acc_tolerance, alpha=alpha,
                           n_resamples=n_resamples, seed=seed)
    per_criterion[crit] = v.set_index("claim").verdict
by_criterion = pd.DataFrame(per_criterion)
by_criterion["all configurations"] = verdict.set_index("claim").verdict
kept = table.groupby("criterion").accuracy_kept.agg(["sum", "size"])
display(Markdown("Configurations shown accuracy-kept: "
                 + "; ".join(f"`{c}` {int(k['sum'])} of {int(k['size'])}" for c, k in kept.iterrows())
                 + "."))
by_criterion

# %% [markdown]
# ## Summary
#
# The sentences below are computed from this run's tables; they change when the profile does.

# %% tags=["hide-input"]
half = {}
for metric in ("accuracy", "ece", "ece_debiased"):
    widths = [(hi - lo) / 2 for c in changes
              for _, lo, hi in [stats.paired_delta_ci(metric, c.probs_full, c.probs_pruned, c.labels,
                                                       n_resamples=n_resamples, seed=seed)]]
    half[metric] = float(np.median(widths))
v = verdict.set_index("claim").verdict
lines = [f"- {claim}: **{v[claim]}** (Table 4.3)." for claim in claims.CLAIMS]
kept_rows = table[table.accuracy_kept]
lines.append(f"- Accuracy is shown kept (within {acc_tolerance:g}) in {len(kept_rows)} of "
             f"{len(table)} pruned configurations"
             + (": " + ", ".join(kept_rows.configuration) if len(kept_rows) else "") + ".")
lines.append(f"- Median half-width of the 95% paired interval of a change (n = {n_examples}): "
             f"accuracy {half['accuracy']:.3f}, plain ECE {half['ece']:.3f}, debiased ECE "
             f"{half['ece_debiased']:.3f}.")
display(Markdown("\n".join(lines)))
decided = {claim: v[claim] for claim in claims.CLAIMS}
pages.record_finding(
    CHAPTER, "claims",
    f"Of the paper's six claims, decided on {len(changes)} pruned configurations by rules on "
    f"{level} intervals: " + "; ".join(f"“{c}” {d}" for c, d in decided.items()) + ".",
    "tab-4-3")
for key, value in (("ch4-half-acc", half["accuracy"]), ("ch4-half-ece", half["ece_debiased"])):
    glue(key, float(value), display=False)
glue("ch4-n-kept", f"{len(kept_rows)} of {len(table)}", display=False)
glue("ch4-n", int(n_examples), display=False)

# %% [markdown]
# Two cautions. A verdict is about *these* models, tasks and sample sizes: small models are fragile
# and the samples are small, so "undetermined" is common and honest. And a "yes" on "degrades"
# needs only one configuration with a significant change after correction for multiple
# comparisons: read Table 4.1 to see how many and which.
#
# ## Exercises
#
# :::{exercise} Another attribution method
# :label: ch4-ex-method
#
# Set `methods: [integrated_gradients]` for this chapter. Does the faithfulness verdict of
# {ref}`Table 4.3 <tab-4-3>` depend on which method stands for "faithfulness"?
# :::
#
# :::{solution} ch4-ex-method
# :class: dropdown
#
# **What to change:** in your profile, `chapters: {04_cross_model: {methods: [integrated_gradients]}}`.
# **What to expect:** the Δ faithfulness column of Table 4.1 and the claims that use it
# (2, 4 and 5) are recomputed; accuracy and calibration are reused from the store. Integrated
# gradients costs about `ig_steps` times as much as input × gradient per example (see
# {doc}`05_cost`). If the verdicts differ between methods, the claim is about the method as much
# as about the pruned model — chapter 2 shows how the methods compare on one model.
# :::
#
# :::{exercise} A stricter tolerance
# :label: ch4-ex-tolerance
#
# Tighten `acc_tolerance` to 0.02. How many configurations are still shown kept, and does claim 4
# ("degrades even where accuracy is kept") change?
# :::
#
# :::{solution} ch4-ex-tolerance
# :class: dropdown
#
# **What to change:** `acc_tolerance: 0.02`; nothing is recomputed but the verdicts. **What to
# expect:** in this run {glue:text}`ch4-n-kept` configurations were shown kept at the profile's
# tolerance, with a median half-width of the accuracy interval of
# {glue:text}`ch4-half-acc:.3f`. A configuration is kept only if its lower bound clears the
# tolerance, so with intervals about that wide a tolerance of 0.02 keeps few or none, and claim 4,
# which needs kept configurations, tends to become undetermined: a tighter claim needs more
# examples, not a different rule.
# :::
#
# :::{exercise} More examples
# :label: ch4-ex-n
#
# Double `n_examples`. Which "undetermined" verdicts become decided?
# :::
#
# :::{solution} ch4-ex-n
# :class: dropdown
#
# **What to change:** `n_examples: 400` (and, for faithfulness, `n_faithfulness`). **What to
# expect:** interval half-widths shrink by about $1/\sqrt{2}$: from
# {glue:text}`ch4-half-acc:.3f` to about 0.7 times that for accuracy, and from
# {glue:text}`ch4-half-ece:.3f` for the debiased ECE, at n = {glue:text}`ch4-n`. Verdicts that
# were undetermined because an interval straddled zero or a margin can become decided in either
# direction; the run time of chapters 3 and 4 roughly doubles.
# :::
#
# :::{exercise} Which demonstrations?
# :label: ch4-ex-demos
#
# Give `demo_seeds` five values. Does the spread across demonstration seeds in
# {ref}`Table 4.2 <tab-4-2>` still dominate (or not) the sampling interval?
# :::
#
# :::{solution} ch4-ex-demos
# :class: dropdown
#
# **What to change:** `demo_seeds: [0, 1, 2, 3, 4]`. **What to expect:** in this run the spread
# across demonstration seeds was larger than one seed's interval in
# {glue:text}`ch4-demo-dominates` (metric, configuration) pairs. The range over more seeds can
# only grow, while each seed's interval stays as wide; if demonstrations dominate, a study that
# fixes one prompt reports a property of that prompt as much as of the pruned model.
# :::
