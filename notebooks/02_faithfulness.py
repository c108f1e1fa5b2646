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
# # 2. Faithfulness of token attributions after pruning
#
# **Overview.** A token attribution says which words of the input a prediction rests on. It is
# *faithful* when it reflects what the model actually uses: deleting the tokens it ranks highest
# should change the prediction most. Pruning changes the computation, so an attribution method
# that was faithful for the full model may not be for the pruned one, and the explanations
# themselves may drift. This chapter measures both.
#
# **Prerequisites.** For an example $x$ whose predicted label is $y$, with $p$ the probability
# normalised over the label set, ERASER (DeYoung et al., 2020) defines
# *comprehensiveness* $= p(y \mid x) - p(y \mid x \setminus r_k)$ (higher is more faithful) and
# *sufficiency* $= p(y \mid x) - p(y \mid r_k)$ (lower is more faithful), where $r_k$ are the
# top-$k\%$ tokens of the attribution; AOPC averages each over $k \in \{1, 5, 10, 20, 50\}\%$.
# A random attribution is the control every method must beat.
#
# **What is ours, not the paper's.** The attribution methods (gradient, input × gradient,
# integrated gradients with a zero-embedding baseline, leave-one-out occlusion, last-kept-layer
# attention, random), their target (the log-probability of the predicted label, normalised over
# the label set), and the perturbation: tokens are *deleted* from the example's own text while the
# instruction and demonstrations stay intact; at least one token is removed or kept at every
# fraction, with ties broken by position.

# %% tags=["parameters"]
models = ["smollm2-135m"]
tasks = ["mr"]
ratios = [0.0, 1 / 6, 1 / 3, 0.5]
criteria = ["similarity"]
methods = ["gradient", "input_x_gradient", "integrated_gradients", "occlusion", "attention", "random"]
n_examples = 64
n_calibration = 32
n_faithfulness = 12
fractions = [0.01, 0.05, 0.1, 0.2, 0.5]
ig_steps = 8
shots = 1
seed = 0
importance_source = "bbc_news"
device = "auto"
batch_size = 16
results_dir = "results"
importance_texts = 32
importance_max_length = 128

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from helpers import evaluation as ev
from helpers import plots, stats
from helpers.results import ResultStore

store = ResultStore(results_dir)
pool = ev.ModelPool(device, importance_texts=importance_texts,
                    importance_max_length=importance_max_length)
common = dict(shots=shots, n_examples=n_examples, n_calibration=n_calibration, seed=seed,
              importance_source=importance_source)
criterion = criteria[0]
faith_kw = dict(n_faithfulness=n_faithfulness, fractions=fractions, ig_steps=ig_steps)


def record(model: str, task: str, ratio: float, method: str) -> dict:
    cfg = ev.Config(model=model, task=task, criterion=criterion, ratio=ratio, **common)
    return ev.faithfulness_record(store, pool, cfg, method, **faith_kw)


# %% [markdown]
# ## 2.1 What the explanations look like
#
# Each heat map shows one test example: the top row explains the full model, the bottom row the
# most-pruned one. Red tokens raise the predicted label's probability, blue ones lower it
# (for `gradient`, which has no sign, colour is magnitude only).

# %%
worst = max(ratios)
shown = [m for m in methods if m != "random"][:2] or methods[:1]
full_rec = {m: record(models[0], tasks[0], 0.0, m) for m in shown}
pruned_rec = {m: record(models[0], tasks[0], worst, m) for m in shown}
for i in range(min(3, n_faithfulness)):
    fig, axes = plt.subplots(len(shown), 1, figsize=(12, 1.7 * len(shown) + 0.6), squeeze=False)
    for ax, m in zip(axes[:, 0], shown, strict=True):
        ex_full, ex_pruned = full_rec[m]["examples"], pruned_rec[m]["examples"]
        plots.token_heatmap(ex_full["tokens"][i], {"full": ex_full["scores"][i],
                                                   f"ratio {worst:.2f}": ex_pruned["scores"][i]},
                            ax=ax, title=f"{m}: example {ex_full['uid'][i]}")
    fig.suptitle(f"{models[0]} on {tasks[0]}: attributions of the full and the pruned model", y=1.02)
    fig.tight_layout()
    plt.show()

# %% [markdown]
# ## 2.2 Comprehensiveness and sufficiency against the pruning ratio
#
# Every method is computed on the same `n_faithfulness` test examples for every ratio. Error
# bars are 95% intervals of the mean over examples (1.96 standard errors). The dashed grey line
# is the random control. The right panel shows the *normalised* comprehensiveness (Carton et al.
# 2020): divided by how far the full input lifts the label's probability above an empty input,
# so that a pruned model that has merely become less confident does not look less faithful.

# %%
grid = ev.faithfulness_grid(store, pool, models=models, tasks=tasks, criteria=[criterion],
                            ratios=ratios, methods=methods, batch_size=batch_size, **faith_kw, **common)
grid["ci95"] = 1.96 * grid["sem"]
panels = [("aopc_comprehensiveness", "AOPC comprehensiveness (↑ more faithful)", "Comprehensiveness"),
          ("aopc_sufficiency", "AOPC sufficiency (↓ more faithful)", "Sufficiency"),
          ("aopc_norm_comprehensiveness", "normalised comprehensiveness (↑)",
           "Normalised comprehensiveness")]
aopc = grid[grid.metric.isin([p[0] for p in panels])]
for (m, t), g in aopc.groupby(["model", "task"]):
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    for ax, (metric, ylabel, title) in zip(axes, panels, strict=True):
        plots.metric_vs_ratio(g, metric, hue="method", err="ci95", ax=ax, baseline="random",
                              ylabel=ylabel, title=title)
    fig.suptitle(f"{m} on {t}: faithfulness as attention layers are dropped ({criterion})")
    fig.tight_layout()
    plt.show()

# %%
table = aopc.assign(metric=aopc.metric.map({"aopc_comprehensiveness": "comprehensiveness ↑",
                                             "aopc_sufficiency": "sufficiency ↓",
                                             "aopc_norm_comprehensiveness": "normalised comp. ↑"}),
                    shown=[f"{v:.3f} ± {e:.3f}" for v, e in zip(aopc.value, aopc.ci95, strict=True)])
table = table.pivot_table(index=["model", "task", "metric", "method"], columns="ratio",
                          values="shown", aggfunc="first")
table.columns = [f"ratio {r:.2f}" for r in table.columns]
display(Markdown(f"**Table 2.1** AOPC comprehensiveness (higher is more faithful), sufficiency "
                 f"(lower is more faithful) and normalised comprehensiveness by method and ratio "
                 f"(mean ± half-width of the 95% interval, n = {n_faithfulness} examples)."))
table.round(3)

# %%
speed = grid[grid.metric == "examples_per_second"].pivot_table(index="method", columns="ratio", values="value")
speed.columns = [f"ratio {r:.2f}" for r in speed.columns]
display(Markdown("**Table 2.2** Attribution throughput on this machine (examples per second)."))
speed.round(2)

# %% [markdown]
# ## 2.3 Do explanations drift?
#
# For each method we compare the attribution of the full model with that of each pruned model on
# the same examples and for the same label: where the pruned model predicts another label than
# the full one, its attribution is recomputed for the full model's label (signed methods would
# otherwise flip sign and look like total disagreement). The agreement is the Spearman
# correlation of the token scores and the overlap of their top 20% tokens (1 = unchanged), each
# with a 95% bootstrap interval over examples; the share of flipped predictions stands beside it.

# %%
rows = []
for m in models:
    for t in tasks:
        for method in methods:
            if method == "random":
                continue
            base = record(m, t, 0.0, method)
            for r in ratios:
                d = ev.drift(base, record(m, t, r, method))
                for k in ("spearman", "top_k_overlap", "flipped"):
                    values = d[k].dropna().to_numpy(dtype=float)
                    est, lo, hi = (stats.mean_ci(values, seed=seed) if len(values) > 1
                                   else (float(np.mean(values)) if len(values) else np.nan,) * 3)
                    rows.append({"model": m, "task": t, "method": method, "ratio": r, "metric": k,
                                 "value": est, "err": (hi - lo) / 2})
agree = pd.DataFrame(rows)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
plots.metric_vs_ratio(agree, "spearman", hue="method", ax=axes[0], err="err",
                      ylabel="Spearman ρ with the full model", title="Rank agreement of token scores")
plots.metric_vs_ratio(agree, "top_k_overlap", hue="method", ax=axes[1], err="err",
                      ylabel="top-20% overlap", title="Overlap of the most important tokens")
fig.suptitle("Explanation drift: pruned vs full model attributions")
fig.tight_layout()
plt.show()

# %%
agree["value ± 95%"] = [f"{v:.3f} ± {e:.3f}" for v, e in zip(agree.value, agree.err, strict=True)]
drift_table = agree.pivot_table(index=["model", "task", "metric", "method"], columns="ratio",
                                values="value ± 95%", aggfunc="first")
drift_table.columns = [f"ratio {r:.2f}" for r in drift_table.columns]
display(Markdown("**Table 2.3** Agreement between full-model and pruned-model attributions of the "
                 "same label, and the share of examples whose prediction flipped (mean ± half-width "
                 "of the 95% bootstrap interval)."))
drift_table.round(3)

# %% [markdown]
# ## Summary
#
# - Not every attribution method beats the random control even on the full model; faithfulness
#   is a property of a method *and* a model, and it has to be measured.
# - As attention layers are dropped, comprehensiveness and sufficiency move — sometimes in the
#   faithful direction, sometimes not — while the explanations themselves drift away from those
#   of the full model (falling rank agreement and top-token overlap).
# - An explanation computed on the full model should therefore not be reused for a pruned one:
#   recompute and re-evaluate it.
#
# ## Try it yourself
#
# 1. Set `ig_steps = 32` and compare integrated gradients with `ig_steps = 8`. How much of its
#    faithfulness depends on the integration accuracy?
# 2. Change `fractions` to `[0.1, 0.2, 0.3]`: does the ranking of the methods change?
# 3. Set `criteria = ["last"]` or `["random"]`: which criterion preserves the explanations best?
# 4. Run the chapter on `trec` (six classes) or `bbc_news` (long texts):
#    `make chapter NB=02_faithfulness TASKS=trec`.
