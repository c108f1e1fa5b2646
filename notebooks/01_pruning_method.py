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
# each attention sub-layer changes the residual stream, decides which ones to drop under three
# criteria, and checks what dropping them does to accuracy, parameter count and latency.
#
# **Prerequisites.** A decoder block adds its attention output to the residual stream,
# $Y = X + \mathrm{Attn}(\mathrm{LN}(X))$. Dropping the attention sub-layer sets $Y = X$; the MLP
# half of the block still runs. The *importance* of a sub-layer (He et al., 2024) is
# $1 - \cos(X, Y)$, averaged over every token of a set of calibration texts.
#
# **What is ours, not the paper's.** The paper's pruning protocol is not public. We use three
# criteria as parameters: `similarity` (drop the least important sub-layers, He et al.), `last`
# (drop the deepest ones first, Tyukin et al.) and `random` (a seeded control). A ratio becomes a
# count as $\lfloor \text{ratio} \times L \rfloor$ for $L$ layers. The calibration texts are
# `importance_texts` BBC News articles from the offline `bbc_news` demonstration pool, cut to
# `importance_max_length` tokens (He et al. used 256 C4 samples of 2,048 tokens).

# %% tags=["parameters"]
models = ["smollm2-135m", "gemma3-270m"]
tasks = ["mr"]
ratios = [0.0, 1 / 6, 1 / 3, 0.5]
criteria = ["similarity", "last", "random"]
methods = ["input_x_gradient", "random"]
n_examples = 64
n_calibration = 32
shots = 1
seed = 0
criterion_seeds = [0, 1, 2, 3, 4]
importance_source = "bbc_news"
device = "auto"
batch_size = 16
results_dir = "results"
importance_texts = 32
importance_max_length = 128
latency_batch = 4
latency_tokens = 128

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from helpers import evaluation as ev
from helpers import plots
from helpers.pruning import select_layers

pd.set_option("display.max_colwidth", None)
from helpers.results import ResultStore

store = ResultStore(results_dir)
pool = ev.ModelPool(device, importance_texts=importance_texts,
                    importance_max_length=importance_max_length)
common = dict(shots=shots, n_examples=n_examples, n_calibration=n_calibration, seed=seed,
              importance_source=importance_source)

# %% [markdown]
# ## 1.1 Which attention sub-layers matter?
#
# We run each model over the calibration texts once, with hooks that read the residual stream
# before and after every attention sub-layer. The model itself is not changed.

# %%
importance = {m: ev.importance(store, pool, m, **pool.importance_options) for m in models}
plots.importance_profile(importance)
plt.show()

# %%
imp_table = pd.DataFrame(
    {m: pd.Series(s).describe()[["min", "50%", "max"]] for m, s in importance.items()}
).T.rename(columns={"50%": "median"})
imp_table["argmax layer"] = [int(np.argmax(importance[m])) for m in imp_table.index]
display(Markdown("**Table 1.1** Importance scores per model (1 − cosine similarity, averaged over tokens)."))
imp_table.round(4)

# %% [markdown]
# The first layers rewrite the residual stream far more than the middle ones, so a criterion
# that drops them (random can) risks breaking the model. Keeping them is not enough, though:
# section 1.3 shows that criteria which all keep the first layers still differ widely in
# accuracy. Note the logarithmic scale: the least important sub-layers change the stream by
# about one percent of its direction or less.
#
# ## 1.2 Which layers does each criterion drop?

# %%
rows = []
for m in models:
    for c in criteria:
        for r in ratios:
            scores_or_model = importance[m] if c == "similarity" else pool.full(m)[0]
            layers = [] if r == 0 else select_layers(scores_or_model, r, c, seed=seed)
            rows.append({"model": m, "criterion": c, "ratio": r, "n_dropped": len(layers), "layers": layers})
drops = pd.DataFrame(rows)
fig, axes = plt.subplots(len(models), 1, figsize=(9, 3.2 * len(models)), squeeze=False)
for ax, m in zip(axes[:, 0], models, strict=True):
    sub = drops[(drops.model == m) & (drops.ratio > 0)]
    plots.drop_map(sub, len(importance[m]), ax=ax, title=f"{m}: dropped attention layers (red)")
fig.tight_layout()
plt.show()

# %%
display(Markdown("**Table 1.2** The dropped attention layers (0 = first) of each criterion at each "
                 "ratio; the number dropped is ⌊ratio × layers⌋."))
shown_drops = drops[drops.ratio > 0].assign(layers=drops.layers.map(lambda x: ", ".join(map(str, x))))
drop_table = shown_drops.pivot(index=["model", "criterion"], columns="ratio", values="layers")
drop_table.columns = [f"ratio {r:.2f}" for r in drop_table.columns]
drop_table

# %% [markdown]
# ## 1.3 Does accuracy survive?
#
# Each point below is one configuration scored on the same seeded test sample of each task
# (error bars: 95% intervals, 1.96 binomial standard errors). The unpruned model is the point at
# ratio 0 of every line. The `random` criterion is not one draw: the grey band spans the
# accuracies of `len(criterion_seeds)` random permutations, its line their mean.

# %%
acc = ev.score_grid(store, pool, models=models, tasks=tasks, criteria=criteria, ratios=ratios,
                    batch_size=batch_size, criterion_seeds=criterion_seeds, **common)
acc = acc[acc.metric == "accuracy"].copy()
acc["ci95"] = 1.96 * np.sqrt(acc.value * (1 - acc.value) / n_examples)
fixed, rand = acc[acc.criterion != "random"], acc[acc.criterion == "random"]
band = rand.groupby(["model", "task", "ratio"]).value.agg(["mean", "min", "max"]).reset_index()
fig, axes = plt.subplots(len(tasks), len(models), figsize=(5.5 * len(models), 3.8 * len(tasks)),
                         squeeze=False)
for i, t in enumerate(tasks):
    for j, m in enumerate(models):
        ax = axes[i, j]
        b = band[(band.model == m) & (band.task == t)].sort_values("ratio")
        if len(b):
            ax.fill_between(b.ratio, b["min"], b["max"], color="0.85",
                            label=f"random ({len(criterion_seeds)} permutations)")
            ax.plot(b.ratio, b["mean"], color="grey", ls="--")
        plots.metric_vs_ratio(fixed[(fixed.model == m) & (fixed.task == t)], "accuracy",
                              hue="criterion", err="ci95", ax=ax, ylabel="accuracy",
                              title=f"{m} on {t}")
fig.tight_layout()
plt.show()

# %%
table = fixed.assign(shown=[f"{v:.3f} ± {e:.3f}" for v, e in zip(fixed.value, fixed.ci95, strict=True)])
table = table.pivot_table(index=["model", "task", "criterion"], columns="ratio", values="shown",
                          aggfunc="first")
if len(band):
    rand_rows = band.assign(criterion=f"random (mean [min, max] of {len(criterion_seeds)})",
                            shown=[f"{a:.3f} [{lo:.3f}, {hi:.3f}]" for a, lo, hi in
                                   zip(band["mean"], band["min"], band["max"], strict=True)])
    table = pd.concat([table, rand_rows.pivot_table(index=["model", "task", "criterion"],
                                                    columns="ratio", values="shown",
                                                    aggfunc="first")]).sort_index()
table.columns = [f"ratio {c:.2f}" for c in table.columns]
display(Markdown(f"**Table 1.3** Accuracy by criterion and ratio (n = {n_examples} test examples per "
                 "cell; ± half-width of the 95% interval)."))
table

# %% [markdown]
# ## 1.4 What does dropping save?
#
# Parameters fall by the attention projections of the dropped layers. Time is the median of three
# prefill passes (a forward over a batch of `latency_batch` × `latency_tokens` random tokens that,
# like the classifier, computes the logits of the last position only) on this machine, for the
# `similarity` criterion. The {doc}`05_cost` appendix has the full benchmark with a FLOP model.

# %%
lat = []
for m in models:
    for r in ratios:
        cfg = ev.Config(model=m, task=tasks[0], criterion="similarity", ratio=r, **common)
        rec = ev.latency(store, pool, cfg, batch=latency_batch, tokens=latency_tokens)
        lat += rec["metrics"]
lat = pd.DataFrame(lat).pivot_table(index=["model", "ratio"], columns="metric", values="value").reset_index()
base = lat[lat.ratio == 0].set_index("model")
lat["parameters (M)"] = lat.parameters / 1e6
lat["parameters saved"] = 1 - lat.parameters / lat.model.map(base.parameters)
lat["forward (ms)"] = lat.forward_s * 1e3
lat["speed-up"] = lat.model.map(base.forward_s) / lat.forward_s
display(Markdown(f"**Table 1.4** Parameters and prefill time ({latency_batch} × {latency_tokens} "
                 "tokens), criterion `similarity`."))
lat.set_index(["model", "ratio"])[["parameters (M)", "parameters saved", "forward (ms)", "speed-up"]].round(3)

# %%
pruned_ratios = sorted(r for r in ratios if r > 0)
r_third = min(pruned_ratios, key=lambda r: abs(r - 1 / 3)) if pruned_ratios else 0.0
lines = []
for (m, t), g in acc.groupby(["model", "task"]):
    full = g[g.ratio == 0].value.iloc[0]
    at = g[np.isclose(g.ratio, r_third) & (g.criterion != "random")]
    parts = ", ".join(f"`{c}` {v:.2f}" for c, v in zip(at.criterion, at.value, strict=True))
    lines.append(f"- **{m} on {t}**: {full:.2f} unpruned; at ratio {r_third:.2f}: {parts}.")
display(Markdown("**In this run** (accuracy, Table 1.3):\n\n" + "\n".join(lines)))

# %% [markdown]
# ## Summary
#
# - Attention importance is concentrated in the first layer or two of every model here; most of
#   the other sub-layers change the direction of the residual stream by one or a few percent.
# - Which sub-layers can go is a different question from which change the stream least. On these
#   small models the criteria disagree sharply, and the cosine criterion measured on news text
#   is not always the best for a sentiment or question task: compare the rows of Table 1.3 with
#   their intervals, and with the band of random permutations.
# - Parameter savings are small for small models (attention is a minority of their weights; the
#   embedding is a large share), and so are latency savings at short contexts: attention's share
#   of the work grows with the sequence length (see {doc}`05_cost`).
#
# Whether the *explanations* and the *confidence* of the pruned models survive as well as their
# accuracy is the subject of the next two chapters.
#
# ## Try it yourself
#
# 1. Add `"qwen2.5-coder-0.5b"` to `models` (or any hub id, if you are online) and compare its
#    importance profile with the others. Is the first layer always the most important?
# 2. Set `tasks = ["trec", "bbc_news"]`: do multi-class tasks lose more accuracy than binary
#    sentiment at the same `ratios`?
# 3. Give `criterion_seeds` ten values. How wide is the band of random permutations at ratio 1/3,
#    compared with one configuration's own 95% interval? What does that say about single-seed
#    comparisons?
# 4. Register your own criterion (see {doc}`../reproduce`), e.g. "drop the most important
#    layers first", and add it to `criteria` as an adversarial control.
