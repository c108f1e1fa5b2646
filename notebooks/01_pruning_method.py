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
# # 1. Dropping attention layers
#
# **Overview.** Attention sub-layers are the most expensive part of a decoder LLM at long
# contexts, and earlier work found that many of them can be removed with little loss of
# accuracy. This chapter builds the instrument the rest of the book uses: it measures how much
# each attention sub-layer changes the residual stream, decides which ones to drop under each
# criterion, and checks, with paired intervals, which pruned models *keep* their accuracy — the
# regime the paper's claims are about — and what the pruning saves.
#
# **Prerequisites.** A decoder block adds its attention output to the residual stream,
# $Y = X + \mathrm{Attn}(\mathrm{LN}(X))$. Dropping the attention sub-layer sets $Y = X$; the MLP
# half of the block still runs. The *importance* of a sub-layer (He et al., 2024) is
# $1 - \cos(X, Y)$, averaged over every token of a set of reference texts. A bootstrap interval
# resamples the test examples with replacement and recomputes the statistic; a *paired* interval
# of a change resamples the same examples for the full and the pruned model.
#
# **What is ours, not the paper's.** The paper's pruning protocol is not public. The criteria are
# parameters: `similarity` (drop the least important sub-layers, He et al.), `last` (drop the
# deepest first, Tyukin et al.), `random` (a control, drawn once per seed in
# `criterion_seeds`), and two that section 1.5 introduces: `relevance` (after Hatefi et al.,
# 2025) and `greedy_kl`, which chooses on the task's own calibration split. A ratio becomes a count as $\lfloor \text{ratio} \times L \rfloor$ for $L$
# layers. Importance is measured on `importance_texts` texts of the offline `bbc_news`
# demonstration pool, or of the evaluated task's own pool (`importance_source: task`), cut to
# `importance_max_length` tokens (He et al. used 256 C4 samples of 2,048 tokens). "Accuracy is
# kept" is our rule too: the one-sided lower bound of the paired accuracy change lies above
# $-$`acc_tolerance`.

# %% tags=["parameters"]
profile = "params/default.yml"  # the profile of parameters this chapter runs with (params/*.yml)
overrides = {}  # values that replace the profile's, e.g. {"models": ["gemma3-270m"]}

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

from helpers import claims, pages, plots, readouts
from helpers.tasks import get_task
from helpers.workload import open_chapter

pages.setup()
CHAPTER = "01_pruning_method"
pd.set_option("display.max_colwidth", None)
run = open_chapter(CHAPTER, profile, overrides)
p = run.params
models = p['models']
tasks = p['tasks']
ratios = p['ratios']
criteria = p['criteria']
n_examples = p['n_examples']
n_calibration = p['n_calibration']
shots = p['shots']
seed = p['seed']
demo_seeds = p['demo_seeds']
criterion_seeds = p['criterion_seeds']
importance_source = p['importance_source']
importance_texts = p['importance_texts']
latency_batch = p['latency_batch']
latency_tokens = p['latency_tokens']
methods = p['methods']
n_faithfulness = p['n_faithfulness']
greedy_examples = p['greedy_examples']
acc_tolerance = p['acc_tolerance']
alpha = p['alpha']
n_resamples = p['n_resamples']
demo_seed = demo_seeds[0]
rl = pages.ratio_label
level = f"{1 - 2 * alpha:.0%}"
pages.parameter_table({
    "models": models, "tasks": tasks, "ratios": ratios, "criteria": criteria,
    "criterion_seeds": criterion_seeds, "n_examples": n_examples, "shots": shots, "seed": seed,
    "demo_seeds": [demo_seed], "importance_source": importance_source,
    "importance_texts": importance_texts, "methods": methods[:1], "n_faithfulness": n_faithfulness,
    "greedy_examples": greedy_examples, "acc_tolerance": acc_tolerance, "alpha": alpha,
    "n_resamples": n_resamples,
}, {"greedy_examples": "calibration examples the greedy_kl criterion searches on",
    "methods": "attribution method of the faithfulness column (section 1.6)"})

# %% [markdown]
# ## 1.1 Which attention sub-layers matter?
#
# We run each model over the reference texts once, with hooks that read the residual stream
# before and after every attention sub-layer. The model itself is not changed.
#
# (fig-1-1)=
# **Figure 1.1** Importance of each attention sub-layer against its relative depth (log scale).

# %% tags=["hide-input"]
importance = {m: run.layer_scores(run.config(m, tasks[0], criterion="similarity",
                                            demo_seed=demo_seed)) for m in models}
plots.importance_profile(importance)
plt.show()

# %% [markdown]
# (tab-1-1)=
# **Table 1.1** Importance per model (1 − cosine similarity, averaged over tokens); the share of
# the sub-layers whose importance is below a hundredth of the largest.

# %% tags=["hide-input"]
imp_table = pd.DataFrame(
    {m: pd.Series(s).describe()[["min", "50%", "max"]] for m, s in importance.items()}
).T.rename(columns={"50%": "median"})
imp_table["layers"] = [len(importance[m]) for m in imp_table.index]
imp_table["most important layer"] = [int(np.argmax(importance[m])) for m in imp_table.index]
imp_table["share below max/100"] = [float(np.mean(np.asarray(importance[m]) < max(importance[m]) / 100))
                                    for m in imp_table.index]
display(imp_table.style.format({"min": "{:.2e}", "median": "{:.2e}", "max": "{:.3f}",
                                "share below max/100": "{:.0%}"}))
depth = {m: int(np.argmax(s)) / max(len(s) - 1, 1) for m, s in importance.items()}
early = [m for m, d in depth.items() if d <= 0.1]
display(Markdown(
    "**In this run:** " + "; ".join(
        f"`{m}`'s most important sub-layer is layer {int(np.argmax(s))} of {len(s)}, and its median "
        f"sub-layer changes the stream {np.median(s) / max(s):.1%} as much" for m, s in importance.items())
    + ". " + (f"For {', '.join(f'`{m}`' for m in early)} the most important sub-layer lies in the "
              "first tenth of the depth, so a criterion that may drop it (`random` can) risks "
              "breaking the model." if early else
              "No model's most important sub-layer lies in the first tenth of its depth.")))

# %% [markdown]
# ## 1.2 Which layers does each criterion drop?
#
# (fig-1-2)=
# **Figure 1.2** The dropped attention layers (red) of each criterion at each ratio; for `random`,
# the permutation of the first criterion seed.

# %% tags=["hide-input"]
rows = []
for m in models:
    for c in criteria:
        for r in ratios:
            cfg = run.config(m, tasks[0], criterion=c, ratio=r, demo_seed=demo_seed,
                             criterion_seed=criterion_seeds[0])
            layers = run.layers(cfg)
            rows.append({"model": m, "criterion": c, "ratio": r, "n_dropped": len(layers), "layers": layers})
drops = pd.DataFrame(rows)
fig, axes = plt.subplots(len(models), 1, figsize=(7.5, 2.6 * len(models)), squeeze=False)
for ax, m in zip(axes[:, 0], models, strict=True):
    sub = drops[(drops.model == m) & (drops.ratio > 0)]
    plots.drop_map(sub, len(importance[m]), ax=ax, title=f"{m}")
plt.show()

# %% [markdown]
# (tab-1-2)=
# **Table 1.2** The dropped attention layers (0 = first); the number dropped is
# ⌊ratio × layers⌋.

# %% tags=["hide-input"]
shown_drops = drops[drops.ratio > 0].assign(layers=drops.layers.map(lambda x: ", ".join(map(str, x))))
drop_table = shown_drops.pivot(index=["model", "criterion"], columns="ratio", values="layers")
drop_table.columns = [f"ratio {rl(r)}" for r in drop_table.columns]
drop_table

# %% [markdown]
# ## 1.3 Does accuracy survive?
#
# Every configuration is scored on the same seeded test sample of each task. The unpruned model
# is the point at ratio 0 of every line; error bars are 95% bootstrap intervals over the test
# examples. The `random` criterion is not one draw: the grey band spans the accuracies of the
# permutations of `criterion_seeds`, its dashed line their mean.
#
# (fig-1-3)=
# **Figure 1.3** Accuracy against the share of attention sub-layers dropped.

# %% tags=["hide-input"]
grid = run.configs(demo_seeds=[demo_seed])
acc = readouts.interval_frame(run, grid, ("accuracy",), n_resamples=n_resamples, seed=seed)
acc.loc[acc.ratio == 0, "criterion"] = "none"
full_rows = acc[acc.ratio == 0].drop_duplicates(["model", "task"])
fixed = pd.concat([acc[(acc.criterion != "random") & (acc.ratio > 0)]]
                  + [full_rows.assign(criterion=c) for c in criteria if c != "random"])
rand = pd.concat([acc[(acc.criterion == "random")], full_rows.assign(criterion="random")])
band = rand.groupby(["model", "task", "ratio"]).value.agg(["mean", "min", "max"]).reset_index()
fig, axes = plt.subplots(len(tasks) * len(models), 1, figsize=(7.5, 3.4 * len(tasks) * len(models)),
                         squeeze=False)
for ax, (t, m) in zip(axes[:, 0], [(t, m) for t in tasks for m in models], strict=True):
    b = band[(band.model == m) & (band.task == t)].sort_values("ratio")
    if "random" in criteria and len(b):
        ax.fill_between(b.ratio, b["min"], b["max"], color="0.85",
                        label=f"random ({len(criterion_seeds)} permutations)")
        ax.plot(b.ratio, b["mean"], color="grey", ls="--")
    plots.metric_vs_ratio(fixed[(fixed.model == m) & (fixed.task == t)], "accuracy",
                          hue="criterion", bounds=("low", "high"), ax=ax, ylabel="accuracy",
                          title=f"{m} on {t}")
    ax.legend(fontsize=9)
plt.show()

# %% [markdown]
# (tab-1-3)=
# **Table 1.3** Accuracy by criterion and ratio with its 95% bootstrap interval; for `random`,
# the mean and the range over permutations.

# %% tags=["hide-input"]
cell = fixed.assign(shown=[f"{v:.3f} [{lo:.3f}, {hi:.3f}]" for v, lo, hi in
                           zip(fixed.value, fixed.low, fixed.high, strict=True)])
table = cell.pivot_table(index=["model", "task", "criterion"], columns="ratio", values="shown",
                         aggfunc="first")
if "random" in criteria and len(band):
    rand_rows = band.assign(criterion=f"random (mean [min, max] of {len(criterion_seeds)})",
                            shown=[f"{a:.3f} [{lo:.3f}, {hi:.3f}]" for a, lo, hi in
                                   zip(band["mean"], band["min"], band["max"], strict=True)])
    table = pd.concat([table, rand_rows.pivot_table(index=["model", "task", "criterion"],
                                                    columns="ratio", values="shown",
                                                    aggfunc="first")]).sort_index()
table.columns = [f"ratio {rl(c)}" for c in table.columns]
table

# %% [markdown]
# ## 1.4 Which pruned models keep their accuracy?
#
# The paper's claims are about pruned models that stay accurate, so we decide, for every pruned
# configuration, whether it is in that regime. The change of accuracy is paired (the same test
# examples for the full and the pruned model) and gets a {glue:text}`ch1-level` bootstrap
# interval, whose bounds are one-sided tests at level `alpha`. **Kept**: the lower bound lies
# above $-$`acc_tolerance` (the drop is shown to be smaller than the tolerance); **lost**: the
# upper bound lies below it; otherwise **undetermined** (the sample cannot tell).
#
# (tab-1-4)=
# **Table 1.4** Paired accuracy change against the unpruned model, with its interval and verdict.

# %% tags=["hide-input"]
changes = readouts.config_changes(run, grid, method=None)
_, kept_table = claims.verdicts(changes, acc_tolerance=acc_tolerance, alpha=alpha,
                                n_resamples=n_resamples, seed=seed)
kept_table["verdict"] = np.where(kept_table.accuracy_kept, "kept",
                                 np.where(kept_table.accuracy_lost, "lost", "undetermined"))
shown = pd.DataFrame({
    "model": kept_table.model, "task": kept_table.task, "criterion": kept_table.criterion,
    "ratio": kept_table.ratio.map(rl),
    "accuracy full → pruned": [f"{a:.3f} → {b:.3f}" for a, b in
                               zip(kept_table.accuracy_full, kept_table.accuracy_pruned, strict=True)],
    f"Δ accuracy [{level}]": [f"{e:+.3f} [{lo:+.3f}, {hi:+.3f}]" for e, lo, hi in
                              zip(kept_table.d_accuracy, kept_table.d_accuracy_low,
                                  kept_table.d_accuracy_high, strict=True)],
    "verdict": kept_table.verdict,
})
glue("ch1-level", level, display=False)
display(shown.style.hide(axis="index"))

base_criterion = kept_table.criterion.str.split("#").str[0]
count = kept_table.assign(base=base_criterion).groupby("base").verdict.value_counts().unstack(fill_value=0)
parts = []
for c, row in count.iterrows():
    n_c = int(row.sum())
    parts.append(f"`{c}` {int(row.get('kept', 0))} of {n_c} kept, {int(row.get('lost', 0))} lost")
summary = (f"At a tolerance of {acc_tolerance:g} and {level} intervals, "
           f"{int((kept_table.verdict == 'kept').sum())} of {len(kept_table)} pruned configurations keep "
           f"their accuracy ({'; '.join(parts)}).")
display(Markdown(f"**In this run:** {summary}"))
pages.record_finding(CHAPTER, "kept", summary, "tab-1-4")

# %% [markdown]
# Does a pruned model answer differently, or only more or less surely? Two numbers tell a
# change of *behaviour* from a change of *confidence*. The **label-word mass** is the probability
# the whole next-token distribution puts on the label words' first tokens: the classifier reads
# only those tokens and renormalises over them, which hides mass that moves elsewhere (a pruned
# model that starts to answer with other words). The **predicted-label shares** beside the true
# ones show whether pruning removed, or added, a bias towards one label: a model that answered
# one label too often gains accuracy when pruning evens its answers out.
#
# (tab-1-5)=
# **Table 1.5** For every pruned configuration: the mean label-word mass of the full and the
# pruned model with the paired 95% interval of its change, and the share of test examples
# predicted as each label (full → pruned) beside the true share.

# %% tags=["hide-input"]
use = readouts.label_use(run, grid, n_resamples=n_resamples, seed=seed)
label_names = {t: get_task(t).labels for t in tasks}
use_shown = pd.DataFrame({
    "model": use.model, "task": use.task, "criterion": use.criterion,
    "ratio": use.ratio.map(rl),
    "label-word mass": [f"{a:.2f} → {b:.2f}" for a, b in zip(use.mass_full, use.mass_pruned,
                                                             strict=True)],
    "Δ mass [95%]": [pages.interval_text(e, lo, hi, digits=3, signed=True) for e, lo, hi in
                     zip(use.d_mass, use.d_mass_low, use.d_mass_high, strict=True)],
    "predicted (full → pruned; true)": [
        "; ".join(f"{name} {r[f'full_{y}']:.2f} → {r[f'pruned_{y}']:.2f} ({r[f'true_{y}']:.2f})"
                  for y, name in enumerate(label_names[r.task]))
        for _, r in use.iterrows()],
})
display(use_shown.style.hide(axis="index"))
gain = kept_table[kept_table.d_accuracy_low > 0]
bias = []
for r in use.itertuples():
    true = [getattr(r, f"true_{y}") for y in range(len(label_names[r.task]))]
    full_gap = max(abs(getattr(r, f"full_{y}") - t) for y, t in enumerate(true))
    pruned_gap = max(abs(getattr(r, f"pruned_{y}") - t) for y, t in enumerate(true))
    bias.append(pruned_gap < full_gap)
glue("ch1-n-gain", len(gain), display=False)
sentence = (
    f"{pages.count(len(gain), 'pruned configuration')} raised accuracy (the paired interval of "
    "the change lies above 0); in "
    f"{pages.count(int(np.sum(bias)), 'configuration')} of {len(use)} the pruned model's predicted "
    "label shares were closer to the true ones than the full model's (a removed label bias).")
display(Markdown(f"**In this run:** {sentence}"))

# %% [markdown]
# ## 1.5 Which criterion finds the sub-layers that matter?
#
# Two more criteria join the anchors when the profile lists them. `relevance` (after Hatefi et
# al., 2025) drops the sub-layers through which the least AttnLRP relevance
# (Achtibat et al., 2024) enters the residual stream: per reference sample, the relevance
# $\sum a \odot \partial f / \partial a$ of each attention output $a$, divided by the sample's L1
# norm over layers, with absolute values averaged over samples. Its samples are the texts
# `similarity` reads (`importance_source`: BBC News by default, or the task's demonstration
# pool), and it explains each next token's logit minus the vocabulary mean. `greedy_kl` uses the task's own calibration split:
# it drops, one at a time, the sub-layer whose removal changes the label-set distribution least
# (mean KL divergence to the full model), recomputing after every drop; `greedy_examples` caps
# the examples it searches on, because its cost grows with the square of the number of layers.
#
# Which criterion is right? A **single-layer ablation oracle** answers for one sub-layer at a time: the
# change in the mean label NLL on the calibration split (never the test sample) when only that
# sub-layer is dropped. A criterion agrees with it when the sub-layers it keeps longest are those
# whose removal costs most: Spearman's $\rho$ between a layer's position in the criterion's drop
# order and its oracle cost (positive = agrees). The interval resamples the oracle's examples
# with the criterion's ranking fixed. `greedy_kl` reads the same calibration examples as the
# oracle and its first step is a single-layer ablation, so its agreement is partly by
# construction.
#
# (tab-1-6)=
# **Table 1.6** Spearman's $\rho$ of each criterion's drop order with the single-layer ablation oracle
# (95% bootstrap interval over the oracle's examples; `random` per permutation and averaged).

# %% tags=["hide-input"]
oracle_cfgs = {m: run.config(m, tasks[0], demo_seed=demo_seed) for m in models}
oracle_rho = pd.concat([readouts.oracle_comparison(run, c, criteria, criterion_seeds=criterion_seeds,
                                                   n_resamples=n_resamples, seed=seed)
                        for c in oracle_cfgs.values()], ignore_index=True)
oracle_rho["name"] = [f"random#{int(s)}" if c == "random" and np.isfinite(s) else c
                      for c, s in zip(oracle_rho.criterion, oracle_rho.criterion_seed.astype(float),
                                      strict=True)]
rho_table = oracle_rho.assign(shown=[f"{e:+.2f} [{lo:+.2f}, {hi:+.2f}]" for e, lo, hi in
                                     zip(oracle_rho.spearman, oracle_rho.low, oracle_rho.high,
                                         strict=True)])
display(rho_table.pivot_table(index="name", columns="model", values="shown", aggfunc="first",
                              sort=False))
named = oracle_rho[~oracle_rho.criterion.str.startswith("random")]
best = named.sort_values("spearman").groupby("model").tail(1)
agree = {m: sorted(g[g.low > 0].name) for m, g in named.groupby("model")}
sentence = "; ".join(
    f"on `{r.model}` on {tasks[0]}, `{r.name}` agreed most with the ablation oracle "
    f"(ρ = {r.spearman:+.2f} [{r.low:+.2f}, {r.high:+.2f}]); criteria whose interval lies above 0: "
    + (", ".join(f"`{c}`" for c in agree[r.model]) or "none")
    for r in best.itertuples()) + "."
display(Markdown(f"**In this run:** {sentence[0].upper() + sentence[1:]}"))
pages.record_finding(CHAPTER, "oracle", sentence[0].upper() + sentence[1:], "tab-1-6")

# %% [markdown]
# The oracle drops one sub-layer at a time, while a criterion drops a set of them together, and
# sub-layers can stand in for one another. Table 1.7 measures the set each criterion actually
# drops: the mean KL divergence of the pruned model's label-set distribution from the full
# model's on the same calibration examples the oracle reads (0 = the set changes nothing).
#
# (tab-1-7)=
# **Table 1.7** KL(full ‖ pruned) of the label-set distribution for the whole set of sub-layers
# each criterion drops, on the calibration split, with a 95% bootstrap interval over examples.

# %% tags=["hide-input"]
kl = readouts.dropped_set_kl(run, grid, n_resamples=n_resamples, seed=seed)
kl_shown = kl.assign(ratio=kl.ratio.map(rl),
                     shown=[pages.interval_text(e, lo, hi) for e, lo, hi in
                            zip(kl.kl, kl.low, kl.high, strict=True)])
display(kl_shown.pivot_table(index=["model", "criterion"], columns="ratio", values="shown",
                             aggfunc="first", sort=False))

# %% [markdown]
# (fig-1-4)=
# **Figure 1.4** What the oracle measures: for the first model, the label NLL change when each
# attention sub-layer alone is dropped (bars), and where the criteria that rank by a score put each
# layer in their drop order (lines; higher = kept longer).

# %% tags=["hide-input"]
ranked = [c for c in ("similarity", "relevance", "greedy_kl") if c in criteria]
per_layer = readouts.oracle_frame(run, oracle_cfgs[models[0]], ranked)
fig, (ax, ax2) = plt.subplots(2, 1, figsize=(7.5, 6), sharex=True)
ax.bar(per_layer.layer, per_layer.oracle_delta_nll, color="0.6")
ax.set_ylabel("Δ label NLL (nats)")
ax.set_title(f"{models[0]} on {tasks[0]}: dropping one attention sub-layer")
for c in ranked:
    ax2.plot(per_layer.layer, per_layer[c], "o-", ms=3, label=c)
ax2.set_xlabel("layer")
ax2.set_ylabel("position in the drop order")
if ranked:
    ax2.legend()
plt.show()

# %% [markdown]
# ## 1.6 Do the criteria keep what the study measures?
#
# The paper recommends pruning strategies that keep faithfulness and calibration, not only
# accuracy. For every criterion except `random` (whose faithfulness would need every
# permutation), Table 1.8 gives the paired change against the full model of accuracy, the
# debiased calibration error (Kumar et al., 2019; up = worse) and the normalised AOPC
# comprehensiveness of `methods[0]` (Carton et al., 2020; a pure loss of confidence cannot move
# it; down = less faithful) on the first `n_faithfulness` test examples. Table 1.9 compares
# `greedy_kl` with `similarity` directly, at equal ratio and on the same examples.
#
# (tab-1-8)=
# **Table 1.8** Full and pruned value and the paired change (95% bootstrap interval), per
# criterion and ratio.

# %% tags=["hide-input"]
named_criteria = [c for c in criteria if c != "random"]
crit_grid = run.configs(tasks=tasks[:1], criteria_=named_criteria,
                        ratios=[r for r in ratios if r > 0], demo_seeds=[demo_seed])
crit_table = readouts.criterion_table(run, crit_grid, names=("accuracy", "ece_debiased"),
                                      method=methods[0], n_resamples=n_resamples, seed=seed)
crit_shown = crit_table.assign(
    ratio=crit_table.ratio.map(rl),
    change=[pages.interval_text(e, lo, hi, signed=True) for e, lo, hi in
            zip(crit_table.delta, crit_table.low, crit_table.high, strict=True)],
    values=[f"{a:.3f} → {b:.3f}" for a, b in zip(crit_table.full, crit_table.pruned, strict=True)])
display(crit_shown.pivot_table(index=["model", "criterion", "ratio"], columns="metric",
                               values="change", aggfunc="first", sort=False))

# %% [markdown]
# (tab-1-9)=
# **Table 1.9** `greedy_kl` − `similarity` at equal ratio, paired over the same test examples
# (95% intervals). A positive accuracy or comprehensiveness change and a negative ECE change
# favour `greedy_kl`.

# %% tags=["hide-input"]
from dataclasses import replace

if {"similarity", "greedy_kl"} <= set(criteria):
    pairs = [(replace(c, criterion="similarity"), replace(c, criterion="greedy_kl"))
             for c in crit_grid if c.criterion == "similarity"]
    greedy_vs_sim = readouts.paired_changes(run, pairs, names=("accuracy", "ece_debiased"),
                                            method=methods[0], n_resamples=n_resamples, seed=seed)
    greedy_vs_sim["better"] = [
        pages.direction(lo, hi, *(("greedy_kl", "similarity") if m != "ece_debiased"
                                  else ("similarity", "greedy_kl")))
        for m, lo, hi in zip(greedy_vs_sim.metric, greedy_vs_sim.low, greedy_vs_sim.high, strict=True)]
    display(greedy_vs_sim.assign(
        ratio=greedy_vs_sim.ratio.map(rl),
        change=[pages.interval_text(e, lo, hi, signed=True) for e, lo, hi in
                zip(greedy_vs_sim.delta, greedy_vs_sim.low, greedy_vs_sim.high, strict=True)])
        .pivot_table(index=["model", "ratio"], columns="metric", values=["change", "better"],
                     aggfunc="first", sort=False))
    wins = greedy_vs_sim.groupby("metric").better.apply(list)
    sentence = ("Against `similarity` at equal ratio (paired 95% intervals; a difference counts "
                "when its interval excludes 0), `greedy_kl` was better / worse / undetermined in: "
                + "; ".join(f"{m} {v.count('greedy_kl')} / {v.count('similarity')} / "
                            f"{v.count('undetermined')}" for m, v in wins.items())
                + f" of {len(pairs)} (model, ratio) pairs.")
    display(Markdown(f"**In this run:** {sentence}"))
    pages.record_finding(CHAPTER, "greedy", sentence, "tab-1-9")
else:
    display(Markdown("*Add both `similarity` and `greedy_kl` to `criteria` to compare them.*"))

# %% [markdown]
# ## 1.7 What does dropping save?
#
# Parameters fall by the attention projections of the dropped layers. Time is the median of three
# prefill passes (a forward over a batch of `latency_batch` × `latency_tokens` random tokens that,
# like the classifier, computes the logits of the last position only) on this machine, for the
# `similarity` criterion, with the fastest and slowest of the three beside it. The
# {doc}`05_cost` appendix has the full benchmark with a FLOP model.
#
# (tab-1-10)=
# **Table 1.10** Parameters and prefill time, criterion `similarity`.

# %% tags=["hide-input"]
lat = []
for m in models:
    for r in ratios:
        cfg = run.config(m, tasks[0], criterion="similarity", ratio=r)
        lat += run.latency(cfg)["metrics"]
lat = pd.DataFrame(lat).pivot_table(index=["model", "ratio"], columns="metric", values="value").reset_index()
base = lat[lat.ratio == 0].set_index("model")
lat["parameters (M)"] = lat.parameters / 1e6
lat["parameters saved"] = 1 - lat.parameters / lat.model.map(base.parameters)
lat["forward (ms) [min, max]"] = [
    f"{a * 1e3:.1f} [{lo * 1e3:.1f}, {hi * 1e3:.1f}]" if "forward_s_min" in lat else f"{a * 1e3:.1f}"
    for a, lo, hi in zip(lat.forward_s, lat.get("forward_s_min", lat.forward_s),
                         lat.get("forward_s_max", lat.forward_s), strict=True)]
lat["speed-up"] = lat.model.map(base.forward_s) / lat.forward_s
lat["ratio"] = lat.ratio.map(rl)
display(lat.set_index(["model", "ratio"])[["parameters (M)", "parameters saved",
                                           "forward (ms) [min, max]", "speed-up"]]
        .style.format({"parameters (M)": "{:.1f}", "parameters saved": "{:.1%}", "speed-up": "{:.2f}×"}))
print(f"batch {latency_batch} × {latency_tokens} tokens")

# %% [markdown]
# ## Summary
#
# - Importance (Figure 1.1) tells how much a sub-layer rewrites the residual stream on the
#   reference texts, not how much the task needs it: which sub-layers can go is decided by
#   measuring accuracy with intervals (Tables 1.3 and 1.4), criterion by criterion.
# - A single random permutation is one draw from a wide distribution: compare the band of
#   permutations in Figure 1.3 with one configuration's own interval before reading anything into
#   a single-seed comparison.
# - The configurations marked *kept* in Table 1.4 are the regime the paper's claims are about;
#   chapters 2–4 ask what happens there to explanations and confidence.
# - Parameter savings are small for small models (attention is a minority of their weights; the
#   embedding is a large share), and so are latency savings at short contexts: attention's share
#   of the work grows with the sequence length (see {doc}`05_cost`).

# %% tags=["hide-input"]
worst = kept_table.loc[kept_table.d_accuracy.idxmin()]
glue("ch1-worst", Markdown(f"`{worst.criterion}` at {rl(worst.ratio)} on `{worst.model}` "
                           f"({worst.d_accuracy:+.3f})"), display=False)
glue("ch1-band", float((band["max"] - band["min"]).max()) if len(band) else float("nan"),
     display=False)
glue("ch1-halfwidth", float(np.median((fixed["high"] - fixed["low"]) / 2)), display=False)
glue("ch1-n", int(n_examples), display=False)
glue("ch1-argmax", Markdown(", ".join(f"`{m}`: layer {int(np.argmax(s))}"
                                     for m, s in importance.items())), display=False)

# %% [markdown]
# ## Exercises
#
# :::{exercise} A third model
# :label: ch1-ex-model
#
# Add `qwen2.5-coder-0.5b` to `models` (or any hub id, if you are online) and compare its
# importance profile with the others in {ref}`Figure 1.1 <fig-1-1>`. Is the most important
# sub-layer always among the first?
# :::
#
# :::{solution} ch1-ex-model
# :class: dropdown
#
# **What to change:** `models: [smollm2-135m, gemma3-270m, qwen2.5-coder-0.5b]` in a copy of
# `params/default.yml`, then `python -m helpers.book chapter 01_pruning_method --profile
# your.yml`. **What to expect:** a third line in Figure 1.1 and a third row in Table 1.1. In this
# run the most important sub-layers were {glue:md}`ch1-argmax`; whether a new model follows the
# same pattern is exactly what the figure answers — do not assume it.
# :::
#
# :::{exercise} How wide is the random band?
# :label: ch1-ex-seeds
#
# Give `criterion_seeds` ten values. How wide is the band of random permutations in
# {ref}`Figure 1.3 <fig-1-3>` compared with one configuration's own 95% interval? What does that
# say about comparing criteria on a single seed?
# :::
#
# :::{solution} ch1-ex-seeds
# :class: dropdown
#
# **What to change:** `criterion_seeds: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]`. **What to expect:** in
# this run the widest band (largest minus smallest accuracy across the permutations at one ratio)
# was {glue:text}`ch1-band:.3f`, while the median half-width of one configuration's 95% interval
# was {glue:text}`ch1-halfwidth:.3f` at n = {glue:text}`ch1-n`. More seeds can only widen the
# range. If the band is much wider than an interval, *which* layers are dropped matters more than
# sampling noise, and a criterion that beats one random draw has not yet beaten `random`.
# :::
#
# :::{exercise} Importance on the task's own text
# :label: ch1-ex-source
#
# Set `importance_source: task`, so that the `similarity` criterion measures importance on the
# evaluated task's own demonstration pool instead of BBC News. Does it keep accuracy in more
# configurations of {ref}`Table 1.4 <tab-1-4>`?
# :::
#
# :::{solution} ch1-ex-source
# :class: dropdown
#
# **What to change:** `importance_source: task` (the results store keeps both variants apart).
# **What to expect:** other layers in Table 1.2 for `similarity` only. In this run the largest
# accuracy drop was {glue:md}`ch1-worst`. Decide by the verdicts of Table 1.4, not by the point
# estimates: two configurations whose intervals overlap widely are not shown to differ.
# :::
#
# :::{exercise} An adversarial criterion
# :label: ch1-ex-criterion
#
# Register a criterion that drops the *most* important sub-layers first and add it to
# `criteria`. Where does it fall in Figure 1.3?
# :::
#
# :::{solution} ch1-ex-criterion
# :class: dropdown
#
# **What to change:** in a cell before the grid (or in your own module),
#
# ```python
# from helpers.pruning import register_criterion
#
# @register_criterion("most_important")
# def most_important(n, scores, rng):
#     return sorted(range(n), key=lambda i: -scores[i])
# ```
#
# and note that `helpers.evaluation.layers_to_drop` hands importance scores only to criteria that
# need them, so add the new name where `similarity` gets its scores. **What to expect:** accuracy
# near chance from the first ratio on when the most important sub-layer is among the first
# dropped: an adversarial control that shows the importance score carries information.
# :::
