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
# **What this chapter shows.** Attention sub-layers are the most expensive part of a decoder LLM
# at long contexts, and earlier work found that many of them can be removed with little loss of
# accuracy. This chapter builds the instrument the rest of the book uses: it measures how much
# each attention sub-layer changes the residual stream, decides which ones to drop under each
# criterion, checks with paired intervals which pruned models *keep* their accuracy (the regime
# the paper's claims are about), asks which criterion finds the sub-layers that matter, and
# measures what the pruning saves.
#
# **Learning objectives.** After this chapter you can
# - drop an attention sub-layer of a stock transformers model and put it back;
# - compare pruning criteria by what they drop and by what the pruned model still gets right;
# - decide "accuracy kept" by a one-sided interval, not by a point estimate;
# - tell a change of answers from a change of confidence (label-word mass, predicted shares).
#
# **Prerequisites.** A decoder block adds its attention output to the residual stream,
# $Y = X + \mathrm{Attn}(\mathrm{LN}(X))$. Dropping the attention sub-layer sets $Y = X$; the MLP
# half of the block still runs. The *importance* of a sub-layer (He et al., 2024) is
# $1 - \cos(X, Y)$, averaged over every token of a set of reference texts. A bootstrap interval
# resamples the test examples with replacement and recomputes the statistic; a *paired* interval
# of a change resamples the same examples for the full and the pruned model.
#
# **Time.** Reading: about 30 minutes. Re-running the chapter on `params/smoke.yml`: about a
# minute.
#
# **What is ours, not the paper's.** The paper's pruning protocol is not public. The criteria are
# parameters (`helpers.criteria`): `similarity` (drop the least important sub-layers, He et al.),
# `last` (drop the deepest first, Tyukin et al.), `random` (a control, drawn once per seed in
# `criterion_seeds`), and two that section 1.6 introduces: `relevance` (after Hatefi et al.,
# 2025) and `greedy_kl`, which chooses on the task's own calibration split. A ratio becomes a
# count as $\lfloor \text{ratio} \times L \rfloor$ for $L$ layers. Importance is measured on
# `importance_texts` texts of the offline `bbc_news` demonstration pool, or of the evaluated
# task's own pool (`importance_source: task`), cut to `importance_max_length` tokens (He et al.
# used 256 C4 samples of 2,048 tokens). "Accuracy is kept" is our rule too: the one-sided lower
# bound of the paired accuracy change lies above $-$`acc_tolerance`.

# %% tags=["parameters"]
profile = "params/default.yml"  # the profile of parameters this chapter runs with (params/*.yml)
overrides = {}  # values that replace the profile's, e.g. {"models": ["gemma3-270m"]}

# %% tags=["hide-input"]
from dataclasses import replace

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
run = open_chapter(CHAPTER, profile, overrides)
p = run.params
models, tasks, ratios, criteria = p["models"], p["tasks"], p["ratios"], p["criteria"]
criterion_seeds, demo_seed = p["criterion_seeds"], p["demo_seeds"][0]
n_examples, alpha, acc_tolerance = p["n_examples"], p["alpha"], p["acc_tolerance"]
n_resamples, seed, method = p["n_resamples"], p["seed"], p["methods"][0]
rule_options = dict(acc_tolerance=acc_tolerance, alpha=alpha, often_share=p["often_share"],
                    n_resamples=n_resamples, seed=seed, mde=False)
rl = pages.ratio_label
display(pages.parameter_table({
    "models": models, "tasks": tasks, "ratios": ratios, "criteria": criteria,
    "criterion_seeds": criterion_seeds, "n_examples": n_examples, "demo_seeds": [demo_seed],
    "importance_source": p["importance_source"], "importance_texts": p["importance_texts"],
    "methods": [method], "n_faithfulness": p["n_faithfulness"],
    "greedy_examples": p["greedy_examples"], "oracle_examples": p["oracle_examples"],
    "acc_tolerance": acc_tolerance, "alpha": alpha,
}, {"methods": "attribution method of the faithfulness column (section 1.7)"}))


def grouped(frame: pd.DataFrame, columns: dict, second: str = "criterion",
            first: str = "model · task") -> pd.DataFrame:
    """Rows per (model · task, or model alone, then the second level); the given columns."""
    out = pd.DataFrame({name: frame[col] if isinstance(col, str) else col
                        for name, col in columns.items()})
    inner = frame[second].map(rl) if second == "ratio" else frame[second].astype(str)
    if second == "criterion" and "ratio" in frame:
        inner = inner + " · " + frame.ratio.map(rl)
    outer = frame.model if first == "model" else frame.model + " · " + frame.task
    out.index = pd.MultiIndex.from_arrays([outer, inner], names=[first, second])
    return out


# %% [markdown]
# ## 1.1 The idea in a few lines
#
# Everything this chapter does with a grid of models, criteria and ratios fits in one cell for
# one model: measure each attention sub-layer's importance on four texts, drop the quarter that
# matters least, and score a handful of test examples before and after. It runs in a few seconds
# on a laptop.

# %%
from helpers.criteria import select_layers
from helpers.importance import attention_importance
from helpers.models import load_model
from helpers.pruning import attention_dropped
from helpers.scoring import label_probs
from helpers.tasks import demo_texts, load_task

model, tokenizer = load_model(models[0])
scores = attention_importance(model, tokenizer, demo_texts("bbc_news", 4), max_length=64,
                              progress=False)
dropped = select_layers(scores, 1 / 4, "similarity")
task, sample = get_task(tasks[0]), load_task(tasks[0], n=16)
truth = np.array([e.label for e in sample])
before = label_probs(model, tokenizer, task, sample, progress=False)
with attention_dropped(model, dropped):  # put back on leaving the block
    after = label_probs(model, tokenizer, task, sample, progress=False)
print(f"{models[0]}: dropping the attention of layers {dropped}")
print(f"accuracy on {len(sample)} {tasks[0]} examples: {np.mean(before.argmax(1) == truth):.2f} "
      f"-> {np.mean(after.argmax(1) == truth):.2f}; mean confidence "
      f"{before.max(1).mean():.2f} -> {after.max(1).mean():.2f}")

# %% [markdown]
# ## 1.2 Which attention sub-layers matter?
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
# **Table 1.1** Importance per model (1 − cosine similarity, averaged over tokens): the median
# and the largest, the most important layer (0 = first), and the share of the sub-layers whose
# importance is below a hundredth of the largest.

# %% tags=["hide-input"]
imp_table = pd.DataFrame({
    "layers": [len(s) for s in importance.values()],
    "median": [f"{np.median(s):.1e}" for s in importance.values()],
    "largest": [f"{max(s):.3f}" for s in importance.values()],
    "most important layer": [int(np.argmax(s)) for s in importance.values()],
    "share below largest/100": [f"{np.mean(np.asarray(s) < max(s) / 100):.0%}"
                                for s in importance.values()],
}, index=pd.Index(list(importance), name="model"))
display(pages.table(imp_table))
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
# ## 1.3 Which layers does each criterion drop?
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
            rows.append({"model": m, "task": tasks[0], "criterion": c, "ratio": r,
                         "n_dropped": len(layers), "layers": layers})
drops = pd.DataFrame(rows)
fig, axes = plt.subplots(len(models), 1, figsize=(7.5, 2.6 * len(models)), squeeze=False)
for ax, m in zip(axes[:, 0], models, strict=True):
    sub = drops[(drops.model == m) & (drops.ratio > 0)]
    plots.drop_map(sub, len(importance[m]), ax=ax, title=f"{m}")
plt.show()


# %% [markdown]
# (tab-1-2)=
# **Table 1.2** The dropped attention layers (0 = first; runs of neighbours as ranges); the
# number dropped is ⌊ratio × layers⌋.

# %% tags=["hide-input"]
def ranges(layers: list[int]) -> str:
    """'0, 3–7, 9': consecutive layers as ranges."""
    out, start = [], None
    for i, layer in enumerate(layers):
        if start is None:
            start = layer
        if i + 1 == len(layers) or layers[i + 1] != layer + 1:
            out.append(str(start) if start == layer else f"{start}–{layer}")
            start = None
    return ", ".join(out) or "–"


shown_drops = drops[drops.ratio > 0].assign(layers=drops.layers.map(ranges))
drop_table = shown_drops.pivot(index=["model", "criterion"], columns="ratio", values="layers")
drop_table.columns = [f"ratio {rl(r)}" for r in drop_table.columns]
display(pages.table(drop_table))

# %% [markdown]
# ## 1.4 Does accuracy survive?
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
                        label=f"random ({pages.count(len(criterion_seeds), 'permutation')})")
        ax.plot(b.ratio, b["mean"], color="grey", ls="--")
    plots.metric_vs_ratio(fixed[(fixed.model == m) & (fixed.task == t)], "accuracy",
                          hue="criterion", bounds=("low", "high"), ax=ax, ylabel="accuracy",
                          title=f"{m} on {t}")
    ax.legend(fontsize=9)
plt.show()

# %% [markdown]
# (tab-1-3)=
# **Table 1.3** Accuracy by criterion and ratio with its 95% bootstrap interval; for `random`,
# the mean and, in brackets, the range over permutations.

# %% tags=["hide-input"]
cell = fixed.assign(shown=[pages.ci(v, lo, hi, signed=False) for v, lo, hi in
                           zip(fixed.value, fixed.low, fixed.high, strict=True)])
acc_table = cell.pivot_table(index=["model", "task", "criterion"], columns="ratio", values="shown",
                             aggfunc="first")
if "random" in criteria and len(band):
    rand_rows = band.assign(criterion="random (mean [range])",
                            shown=[pages.ci(a, lo, hi, signed=False) for a, lo, hi in
                                   zip(band["mean"], band["min"], band["max"], strict=True)])
    acc_table = pd.concat([acc_table, rand_rows.pivot_table(index=["model", "task", "criterion"],
                                                            columns="ratio", values="shown",
                                                            aggfunc="first")]).sort_index()
acc_table.columns = [f"ratio {rl(c)}" for c in acc_table.columns]
acc_table.index = pd.MultiIndex.from_arrays(
    [acc_table.index.get_level_values(0) + " · " + acc_table.index.get_level_values(1),
     acc_table.index.get_level_values(2)], names=["model · task", "criterion"])
display(pages.table(acc_table))

# %% [markdown]
# ## 1.5 Which pruned models keep their accuracy?
#
# The paper's claims are about pruned models that stay accurate, so we decide, for every pruned
# configuration, whether it is in that regime. The change of accuracy is paired (the same test
# examples for the full and the pruned model) and gets a 95% interval; the decisions are
# one-sided tests at level `alpha`. **Kept**: the change is shown to be above $-$`acc_tolerance`
# (the drop is smaller than the tolerance); **lost**: it is shown to be below; otherwise the
# sample cannot tell (–).
#
# (tab-1-4)=
# **Table 1.4** Paired accuracy change against the unpruned model, with its interval and verdict.

# %% tags=["hide-input"]
changes = readouts.config_changes(run, grid, method=None)
_, kept_table = claims.verdicts(changes, **rule_options)
kept_table["verdict"] = np.where(kept_table.accuracy_kept, "kept",
                                 np.where(kept_table.accuracy_lost, "lost", "–"))
display(pages.table(grouped(kept_table, {
    "full": [f"{v:.2f}" for v in kept_table.accuracy_full],
    "pruned": [f"{v:.2f}" for v in kept_table.accuracy_pruned],
    "Δ accuracy [95%]": [pages.ci(e, lo, hi) for e, lo, hi in
                         zip(kept_table.d_accuracy, kept_table.d_accuracy_low,
                             kept_table.d_accuracy_high, strict=True)],
    "verdict": kept_table.verdict,
})))
base_criterion = kept_table.criterion.str.split("#").str[0]
count = kept_table.assign(base=base_criterion).groupby("base").verdict.value_counts().unstack(
    fill_value=0)
parts = [f"`{c}` {int(row.get('kept', 0))} of {int(row.sum())} kept, "
         f"{int(row.get('lost', 0))} lost" for c, row in count.iterrows()]
summary = (f"At a tolerance of {acc_tolerance:g}, {int((kept_table.verdict == 'kept').sum())} of "
           f"{len(kept_table)} pruned configurations keep their accuracy ({'; '.join(parts)}).")
display(Markdown(f"**In this run:** {summary}"))
ch1_grid = (f"chapter 1's grid: {pages.count(len(kept_table), 'pruned configuration')} on "
            f"{', '.join(tasks)} ({', '.join(criteria)} at {', '.join(rl(r) for r in ratios if r)}; "
            f"{pages.count(len(criterion_seeds), 'permutation')} of random), one demonstration "
            f"seed, n = {n_examples}")
pages.record_finding(CHAPTER, "kept", summary, "tab-1-4", grid=ch1_grid)

# %% [markdown]
# Does a pruned model answer differently, or only more or less surely? Two numbers tell a
# change of *behaviour* from a change of *confidence*. The **label-word mass** is the probability
# the whole next-token distribution puts on the label words' first tokens: the classifier reads
# only those tokens and renormalises over them, which hides mass that moves elsewhere (a pruned
# model that starts to answer with other words). The **predicted share** of a label beside its
# true share shows whether pruning removed, or added, a bias towards one label: a model that
# answered one label too often gains accuracy when pruning evens its answers out.
#
# (tab-1-5)=
# **Table 1.5** For every pruned configuration: the mean label-word mass (full → pruned) and the
# paired 95% interval of its change; the share of test examples predicted as the first label
# (full → pruned), with its true share in brackets.

# %% tags=["hide-input"]
use = readouts.label_use(run, grid, n_resamples=n_resamples, seed=seed)
first_label = {t: get_task(t).labels[0] for t in tasks}
display(pages.table(grouped(use, {
    "mass": [f"{a:.2f} → {b:.2f}" for a, b in zip(use.mass_full, use.mass_pruned, strict=True)],
    "Δ mass [95%]": [pages.ci(e, lo, hi) for e, lo, hi in
                     zip(use.d_mass, use.d_mass_low, use.d_mass_high, strict=True)],
    "first label (true)": [f"{a:.2f} → {b:.2f} ({t:.2f})" for a, b, t in
                                     zip(use.full_0, use.pruned_0, use.true_0, strict=True)],
})))
gain = kept_table[kept_table.d_accuracy_low > 0]
closer = [max(abs(getattr(r, f"pruned_{y}") - getattr(r, f"true_{y}"))
              for y in range(len(get_task(r.task).labels)))
          < max(abs(getattr(r, f"full_{y}") - getattr(r, f"true_{y}"))
                for y in range(len(get_task(r.task).labels))) for r in use.itertuples()]
sentence = (
    f"The first label is {', '.join(f'“{w}” on {t}' for t, w in first_label.items())}. "
    f"Accuracy rose (the interval of the change lies above 0) in "
    f"{pages.count(len(gain), 'pruned configuration')}; in {int(np.sum(closer))} of {len(use)} the "
    f"pruned model's predicted label shares were closer to the true ones than the full model's.")
display(Markdown(f"**In this run:** {sentence}"))

# %% [markdown]
# ## 1.6 Which criterion finds the sub-layers that matter?
#
# Two more criteria join the anchors when the profile lists them. `relevance` (after Hatefi et
# al., 2025) drops the sub-layers through which the least AttnLRP relevance
# (Achtibat et al., 2024) enters the residual stream: per reference sample, the relevance
# $\sum a \odot \partial f / \partial a$ of each attention output $a$, divided by the sample's L1
# norm over layers, with absolute values averaged over samples. Its samples are the texts
# `similarity` reads (`importance_source`), and it explains each next token's logit minus the
# vocabulary mean. `greedy_kl` uses the task's own calibration split: it drops, one at a time,
# the sub-layer whose removal changes the label-set distribution least (mean KL divergence to
# the full model), recomputing after every drop; `greedy_examples` caps the examples it searches
# on, because its cost grows with the square of the number of layers.
#
# Which criterion is right? A **single-layer ablation oracle** answers for one sub-layer at a
# time: the change in the mean label NLL on the first `oracle_examples` calibration examples
# (never the test sample) when only that sub-layer is dropped. A criterion agrees with it when
# the sub-layers it keeps longest are those whose removal costs most: Spearman's $\rho$ between a
# layer's position in the criterion's drop order and its oracle cost (positive = agrees). The
# interval resamples the oracle's examples with the criterion's ranking fixed. `greedy_kl` reads
# the same calibration examples and its first step is a single-layer ablation, so its agreement
# is partly by construction.
#
# (tab-1-6)=
# **Table 1.6** Spearman's $\rho$ of each criterion's drop order with the single-layer ablation
# oracle (95% bootstrap interval over the oracle's examples; `random` per permutation and
# averaged).

# %% tags=["hide-input"]
oracle_cfgs = {m: run.config(m, tasks[0], demo_seed=demo_seed) for m in models}
oracle_rho = pd.concat([readouts.oracle_comparison(run, c, criteria, criterion_seeds=criterion_seeds,
                                                   n_resamples=n_resamples, seed=seed)
                        for c in oracle_cfgs.values()], ignore_index=True)
oracle_rho["name"] = [f"random#{int(s)}" if c == "random" and np.isfinite(s) else c
                      for c, s in zip(oracle_rho.criterion, oracle_rho.criterion_seed.astype(float),
                                      strict=True)]
rho_table = oracle_rho.assign(shown=[pages.ci(e, lo, hi) for e, lo, hi in
                                     zip(oracle_rho.spearman, oracle_rho.low, oracle_rho.high,
                                         strict=True)])
display(pages.table(rho_table.pivot_table(index="name", columns="model", values="shown",
                                          aggfunc="first", sort=False)))
named = oracle_rho[~oracle_rho.criterion.str.startswith("random")]
best = named.sort_values("spearman").groupby("model").tail(1)
agree = {m: sorted(g[g.low > 0].name) for m, g in named.groupby("model")}
sentence = "; ".join(
    f"on `{r.model}` on {tasks[0]}, `{r.name}` agreed most with the single-layer ablation "
    f"oracle (ρ = {pages.ci(r.spearman, r.low, r.high)}); criteria whose interval lies above 0: "
    + (", ".join(f"`{c}`" for c in agree[r.model]) or "none")
    for r in best.itertuples()) + "."
display(Markdown(f"**In this run:** {sentence[0].upper() + sentence[1:]}"))
pages.record_finding(CHAPTER, "oracle", sentence[0].upper() + sentence[1:], "tab-1-6",
                     grid=f"the first {p['oracle_examples']} calibration examples of {tasks[0]}")

# %% [markdown]
# The oracle drops one sub-layer at a time, while a criterion drops a set of them together, and
# sub-layers can stand in for one another. Table 1.7 measures the set each criterion actually
# drops: the mean KL divergence of the pruned model's label-set distribution from the full
# model's on the calibration examples (0 = the set changes nothing).
#
# (tab-1-7)=
# **Table 1.7** KL(full ‖ pruned) of the label-set distribution, in nats, for the whole set of
# sub-layers each criterion drops, on the calibration split, with a 95% bootstrap interval over
# examples.

# %% tags=["hide-input"]
kl = readouts.dropped_set_kl(run, grid, n_resamples=n_resamples, seed=seed)
kl_shown = kl.assign(ratio=kl.ratio.map(lambda r: f"ratio {rl(r)}"),
                     shown=[pages.ci(e, lo, hi, digits=3, signed=False) for e, lo, hi in
                            zip(kl.kl, kl.low, kl.high, strict=True)])
display(pages.table(kl_shown.pivot_table(index=["model", "criterion"], columns="ratio",
                                         values="shown", aggfunc="first", sort=False)))

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
# ## 1.7 Do the criteria keep what the study measures?
#
# The paper recommends pruning strategies that keep faithfulness and calibration, not only
# accuracy. For every criterion except `random` (whose faithfulness would need every
# permutation), Table 1.8 gives the paired change against the full model of accuracy, of the
# calibration error ce (the root of the unbiased squared error ce², on which a rise is tested:
# chapter 3) and of the normalised AOPC comprehensiveness of the first method in `methods`
# (Carton et al., 2020; a pure loss of confidence cannot move it) on the first `n_faithfulness`
# test examples.
# Table 1.9 compares `greedy_kl` with `similarity` directly, at equal ratio on the same examples.
#
# (tab-1-8)=
# **Table 1.8** The change against the full model on the first task, per model, criterion and
# ratio: accuracy and faithfulness with 95% intervals, and the calibration error ce (full →
# pruned) with, in parentheses, the one-sided p-value of a rise of ce².

# %% tags=["hide-input"]
named_criteria = [c for c in criteria if c != "random"]
crit_grid = run.configs(tasks=tasks[:1], criteria_=named_criteria,
                        ratios=[r for r in ratios if r > 0], demo_seeds=[demo_seed])
_, crit_table = claims.verdicts(readouts.config_changes(run, crit_grid, method=method),
                                **rule_options)
display(pages.table(grouped(crit_table, {
    "Δ accuracy [95%]": [pages.ci(e, lo, hi) for e, lo, hi in
                         zip(crit_table.d_accuracy, crit_table.d_accuracy_low,
                             crit_table.d_accuracy_high, strict=True)],
    "ce (p of a rise)": [f"{a:.2f}→{b:.2f} ({pages.p_value(p)})" for a, b, p in
                         zip(crit_table.ce_full, crit_table.ce_pruned, crit_table.p_ce2,
                             strict=True)],
    "Δ faithfulness [95%]": [pages.ci(e, lo, hi) for e, lo, hi in
                             zip(crit_table.d_faith, crit_table.d_faith_low,
                                 crit_table.d_faith_high, strict=True)],
}, first="model")))

# %% [markdown]
# (tab-1-9)=
# **Table 1.9** `greedy_kl` − `similarity` at equal ratio on the first task, paired over the
# same test examples (95% intervals); ce of `similarity` → `greedy_kl`. A positive accuracy or
# faithfulness difference favours `greedy_kl`; for calibration, the p-value in brackets is of
# `greedy_kl`'s ce² being the higher.

# %% tags=["hide-input"]
if {"similarity", "greedy_kl"} <= set(criteria):
    pairs = [(replace(c, criterion="similarity"), replace(c, criterion="greedy_kl"))
             for c in crit_grid if c.criterion == "similarity"]
    _, contrast = claims.verdicts(readouts.contrast_changes(run, pairs, method=method),
                                  **rule_options)
    display(pages.table(grouped(contrast, {
        "Δ accuracy [95%]": [pages.ci(e, lo, hi) for e, lo, hi in
                             zip(contrast.d_accuracy, contrast.d_accuracy_low,
                                 contrast.d_accuracy_high, strict=True)],
        "ce (p of greedy_kl higher)": [f"{a:.2f}→{b:.2f} ({pages.p_value(p)})" for a, b, p in
                                       zip(contrast.ce_full, contrast.ce_pruned, contrast.p_ce2,
                                           strict=True)],
        "Δ faithfulness [95%]": [pages.ci(e, lo, hi) for e, lo, hi in
                                 zip(contrast.d_faith, contrast.d_faith_low, contrast.d_faith_high,
                                     strict=True)],
    }, first="model", second="ratio")))
    better = {
        "accuracy": (int((contrast.d_accuracy_low > 0).sum()), int((contrast.d_accuracy_high < 0).sum())),
        "faithfulness": (int((contrast.d_faith_low > 0).sum()), int((contrast.d_faith_high < 0).sum())),
    }
    sentence = ("Against `similarity` at equal ratio (a difference counts when its 95% interval "
                "excludes 0), `greedy_kl` was better / worse in: "
                + "; ".join(f"{k} {a} / {b}" for k, (a, b) in better.items())
                + f" of {pages.count(len(pairs), '(model, ratio) pair')}.")
    display(Markdown(f"**In this run:** {sentence}"))
    pages.record_finding(CHAPTER, "greedy", sentence, "tab-1-9",
                         grid=f"{tasks[0]}, n = {n_examples}, one demonstration seed")
else:
    display(Markdown("*Add both `similarity` and `greedy_kl` to `criteria` to compare them.*"))

# %% [markdown]
# ## 1.8 What does dropping save?
#
# Parameters fall by the attention projections of the dropped layers. Time is the median of three
# prefill passes (a forward over a batch of `latency_batch` × `latency_tokens` random tokens that,
# like the classifier, computes the logits of the last position only) on this machine, for the
# `similarity` criterion, with the fastest and slowest of the three beside it. The
# {doc}`05_cost` appendix has the full benchmark with a FLOP model.
#
# (tab-1-10)=
# **Table 1.10** Parameters and prefill time, criterion `similarity`, on a batch of
# `latency_batch` × `latency_tokens` random tokens.

# %% tags=["hide-input"]
lat = []
for m in models:
    for r in ratios:
        lat += run.latency(run.config(m, tasks[0], criterion="similarity", ratio=r))["metrics"]
lat = pd.DataFrame(lat).pivot_table(index=["model", "ratio"], columns="metric",
                                    values="value").reset_index()
base = lat[lat.ratio == 0].set_index("model")
lat_shown = pd.DataFrame({
    "parameters (M)": [f"{v / 1e6:.1f}" for v in lat.parameters],
    "saved": [f"{1 - v / base.parameters[m]:.1%}" for m, v in zip(lat.model, lat.parameters,
                                                                   strict=True)],
    "forward ms [min, max]": [f"{a * 1e3:.0f} [{lo * 1e3:.0f}, {hi * 1e3:.0f}]" for a, lo, hi in
                              zip(lat.forward_s, lat.forward_s_min, lat.forward_s_max,
                                  strict=True)],
    "speed-up": [f"{base.forward_s[m] / v:.2f}×" for m, v in zip(lat.model, lat.forward_s,
                                                                 strict=True)],
}, index=pd.MultiIndex.from_arrays([lat.model, lat.ratio.map(rl)], names=["model", "ratio"]))
display(pages.table(lat_shown))
saved = lat[lat.ratio == max(ratios)]
display(Markdown("**In this run:** at ratio " + rl(max(ratios)) + ", " + "; ".join(
    f"`{r.model}` had {1 - r.parameters / base.parameters[r.model]:.1%} fewer parameters and "
    f"ran the prefill {base.forward_s[r.model] / r.forward_s:.2f}× as fast"
    for r in saved.itertuples()) + " (Table 1.10; the gains grow with the context length, see "
    "{doc}`05_cost`)."))

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

# %% tags=["remove-cell"]
# values the exercise solutions quote
worst = kept_table.loc[kept_table.d_accuracy.idxmin()]
glue("ch1-worst", Markdown(f"`{worst.criterion}` at {rl(worst.ratio)} on `{worst.model}` "
                           f"({worst.d_accuracy:+.3f})"), display=False)
glue("ch1-band", f"{float((band['max'] - band['min']).max()):.3f}" if len(band) else "–",
     display=False)
glue("ch1-halfwidth", f"{float(np.median((fixed['high'] - fixed['low']) / 2)):.3f}", display=False)
glue("ch1-n", str(n_examples), display=False)
glue("ch1-argmax", Markdown(", ".join(f"`{m}`: layer {int(np.argmax(s))}"
                                     for m, s in importance.items())), display=False)

# %% [markdown]
# ## Exercises
#
# Each exercise runs on the smoke profile in about a minute: copy `params/smoke.yml`, make the
# change under `chapters: {01_pruning_method: {...}}`, and run `make chapter
# NB=01_pruning_method PROFILE=your.yml`. The smoke profile's numbers are far too noisy to
# decide anything: check what moves, then run the default profile (`make book`) for the answer.
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
# **What to change:** `models: [smollm2-135m, qwen2.5-coder-0.5b]` (the first run converts the
# model: about a minute more). **What to look at:** a third line in Figure 1.1 and a row in
# Table 1.1. In this run the most important sub-layers were {glue:md}`ch1-argmax`; whether a new
# model follows the same pattern is what the figure answers.
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
# **What to change:** `criterion_seeds: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]`. **What to look at:**
# in this run the widest band (largest minus smallest accuracy across the permutations at one
# ratio) was {glue:text}`ch1-band`, while the median half-width of one configuration's 95%
# interval was {glue:text}`ch1-halfwidth` at n = {glue:text}`ch1-n`. More seeds can only widen
# the range. Where the band is wider than an interval, *which* layers are dropped matters more
# than sampling noise, and a criterion that beats one random draw has not yet beaten `random`.
# :::
#
# :::{exercise} Importance on the task's own text
# :label: ch1-ex-source
#
# Set `importance_source: task`, so that the `similarity` and `relevance` criteria score the
# sub-layers on the evaluated task's own demonstration pool instead of BBC News. Does it keep
# accuracy in more configurations of {ref}`Table 1.4 <tab-1-4>`?
# :::
#
# :::{solution} ch1-ex-source
# :class: dropdown
#
# **What to change:** `importance_source: task` (the results store keeps both variants apart).
# **What to look at:** the rows of `similarity` and `relevance` in Table 1.2 and their verdicts
# in Table 1.4. In this run the largest accuracy drop was {glue:md}`ch1-worst`. Decide by the
# verdicts, not by the point estimates: two configurations whose intervals overlap widely are not
# shown to differ.
# :::
#
# :::{exercise} An adversarial criterion
# :label: ch1-ex-criterion
#
# Write a criterion that drops the *most* important sub-layers first and add it to `criteria`.
# Where does it fall in Figure 1.3?
# :::
#
# :::{solution} ch1-ex-criterion
# :class: dropdown
#
# **What to change:** a module of your own, say `my_criteria.py` on your `PYTHONPATH`:
#
# ```python
# from helpers import criteria
#
#
# def most_important_first(n, scores, rng):
#     return sorted(range(n), key=lambda i: -scores[i])
#
#
# criteria.register(criteria.Criterion(
#     "most_important", most_important_first, "the most important sub-layers first",
#     scores="helpers.importance:attention_importance_scores", inputs="texts"))
# ```
#
# and in your profile `plugins: [my_criteria]` and `criteria: [similarity, most_important]`.
# It reuses `similarity`'s score function (its scores are stored under its own name). **What to
# look at:** its line in Figure 1.3 against `similarity`'s: the further apart the two, the more
# the importance score says about which sub-layers the task needs.
# :::

# %% tags=["remove-input"]
pages.build_log()
