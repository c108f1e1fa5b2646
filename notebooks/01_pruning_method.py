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
# deepest first, Tyukin et al.) and `random` (a control, drawn once per seed in
# `criterion_seeds`). A ratio becomes a count as $\lfloor \text{ratio} \times L \rfloor$ for $L$
# layers. Importance is measured on `importance_texts` texts of the offline `bbc_news`
# demonstration pool, or of the evaluated task's own pool (`importance_source: task`), cut to
# `importance_max_length` tokens (He et al. used 256 C4 samples of 2,048 tokens). "Accuracy is
# kept" is our rule too: the one-sided lower bound of the paired accuracy change lies above
# $-$`acc_tolerance`.

# %% tags=["parameters"]
models = ["smollm2-135m", "gemma3-270m"]
tasks = ["mr"]
ratios = [0.0, 1 / 8, 1 / 4, 1 / 2]
criteria = ["similarity", "last", "random"]
n_examples = 200
n_calibration = 64
shots = 1
seed = 0
demo_seeds = [0]
criterion_seeds = [0, 1, 2]
importance_source = "bbc_news"
device = "auto"
batch_size = 16
results_dir = "results"
importance_texts = 32
importance_max_length = 128
latency_batch = 4
latency_tokens = 128
acc_tolerance = 0.05
alpha = 0.05
n_resamples = 2000

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

from helpers import claims, pages, plots
from helpers import evaluation as ev
from helpers.pruning import select_layers
from helpers.results import ResultStore

pages.setup()
CHAPTER = "01_pruning_method"
pd.set_option("display.max_colwidth", None)
store = ResultStore(results_dir)
pool = ev.ModelPool(device, importance_texts=importance_texts,
                    importance_max_length=importance_max_length)
demo_seed = demo_seeds[0]
common = dict(shots=shots, n_examples=n_examples, n_calibration=n_calibration, seed=seed,
              importance_source=importance_source)
rl = pages.ratio_label
level = f"{1 - 2 * alpha:.0%}"
pages.parameter_table({
    "models": models, "tasks": tasks, "ratios": ratios, "criteria": criteria,
    "criterion_seeds": criterion_seeds, "n_examples": n_examples, "shots": shots, "seed": seed,
    "demo_seeds": [demo_seed], "importance_source": importance_source,
    "importance_texts": importance_texts, "acc_tolerance": acc_tolerance, "alpha": alpha,
    "n_resamples": n_resamples,
})

# %% [markdown]
# ## 1.1 Which attention sub-layers matter?
#
# We run each model over the reference texts once, with hooks that read the residual stream
# before and after every attention sub-layer. The model itself is not changed.
#
# (fig-1-1)=
# **Figure 1.1** Importance of each attention sub-layer against its relative depth (log scale).

# %% tags=["hide-input"]
texts_from = {m: (tasks[0] if importance_source == "task" else importance_source) for m in models}
importance = {m: ev.importance(store, pool, m, texts_from=texts_from[m], **pool.importance_options)
              for m in models}
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
            scores_or_model = importance[m] if c == "similarity" else pool.full(m)[0]
            layers = [] if r == 0 else select_layers(scores_or_model, r, c, seed=criterion_seeds[0])
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
grid = ev.configs(models, tasks, criteria, ratios, demo_seeds=[demo_seed],
                  criterion_seeds=criterion_seeds, **common)
acc = ev.interval_frame(store, pool, grid, metrics=("accuracy",), n_resamples=n_resamples,
                        seed=seed, batch_size=batch_size)
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
changes = ev.config_changes(store, pool, grid, method=None, batch_size=batch_size)
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
# ## 1.5 What does dropping save?
#
# Parameters fall by the attention projections of the dropped layers. Time is the median of three
# prefill passes (a forward over a batch of `latency_batch` × `latency_tokens` random tokens that,
# like the classifier, computes the logits of the last position only) on this machine, for the
# `similarity` criterion, with the fastest and slowest of the three beside it. The
# {doc}`05_cost` appendix has the full benchmark with a FLOP model.
#
# (tab-1-5)=
# **Table 1.5** Parameters and prefill time, criterion `similarity`.

# %% tags=["hide-input"]
lat = []
for m in models:
    for r in ratios:
        cfg = ev.Config(model=m, task=tasks[0], criterion="similarity", ratio=r, **common)
        lat += ev.latency(store, pool, cfg, batch=latency_batch, tokens=latency_tokens)["metrics"]
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
glue("ch1-worst", f"`{worst.criterion}` at {rl(worst.ratio)} on `{worst.model}` "
     f"({worst.d_accuracy:+.3f})", display=False)
glue("ch1-band", float((band["max"] - band["min"]).max()) if len(band) else float("nan"),
     display=False)
glue("ch1-halfwidth", float(np.median((fixed["high"] - fixed["low"]) / 2)), display=False)
glue("ch1-n", int(n_examples), display=False)
glue("ch1-argmax", ", ".join(f"`{m}`: layer {int(np.argmax(s))}" for m, s in importance.items()),
     display=False)

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
