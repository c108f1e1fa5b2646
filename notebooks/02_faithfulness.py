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
# themselves may drift. This chapter measures both, each number with a 95% bootstrap interval
# over examples: how faithful each method is, against a random attribution on the same examples;
# how that changes when attention sub-layers are dropped; and how far the pruned model's
# explanations move away from the full model's.
#
# **Prerequisites.** Chapter 1 (which layers are dropped). For an example $x$ whose predicted
# label is $y$, with $p$ the probability normalised over the label set, ERASER
# {cite:p}`deyoung2020eraser` defines *comprehensiveness*
# $= p(y \mid x) - p(y \mid x \setminus r_k)$ (higher is more faithful) and *sufficiency*
# $= p(y \mid x) - p(y \mid r_k)$ (lower is more faithful), where $r_k$ are the top-$k\%$ tokens
# of the attribution; AOPC averages each over the fractions $k$.
#
# **Why normalised scores and a random control.** Both raw scores are differences of the
# label's probability, so they shrink when a pruned model merely becomes less confident, even if
# its attributions still point at the right tokens. The normalised forms of Carton, Rathore and
# Tan (2020, "Evaluating and characterizing human rationales") divide by what the full input
# allows, $d = p(y \mid x) - p(y \mid \text{empty text})$: normalised comprehensiveness is
# $\max(0, \text{comp.}) / d$ and normalised sufficiency $(d - \max(0, \text{suff.})) / d$, both
# in $[0, 1]$ and both *higher* = more faithful (undefined where $d < 0.01$: the text barely moves
# the label). Deleting *any* tokens changes a prediction somewhat, so a method is compared with
# a random attribution on the same examples: only the difference says that the method found
# the tokens that matter.
#
# **What is ours, not the paper's.** The attribution methods (gradient, input × gradient,
# integrated gradients with a zero-embedding baseline, leave-one-out occlusion, last-kept-layer
# attention, random), their target (the log-probability of the predicted label, normalised over
# the label set), and the perturbation: tokens are *deleted* from the example's own text while the
# instruction and demonstrations stay intact; at least one token is removed or kept at every
# fraction, with ties broken by position. Drift compares the two models' attributions of the
# *same* label: where the pruned model predicts another label, its attribution is recomputed for
# the full model's label. The intervals are percentile bootstraps over examples
# (`helpers.stats`); a change full → pruned resamples both with the same examples.

# %% tags=["parameters"]
profile = "params/default.yml"  # the profile of parameters this chapter runs with (params/*.yml)
overrides = {}  # values that replace the profile's, e.g. {"models": ["gemma3-270m"]}

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

from helpers import pages, plots, readouts, stats
from helpers.workload import open_chapter

pages.setup()
CHAPTER = "02_faithfulness"
run = open_chapter(CHAPTER, profile, overrides)
p = run.params
models = p['models']
tasks = p['tasks']
ratios = p['ratios']
criteria = p['criteria']
methods = p['methods']
n_examples = p['n_examples']
n_calibration = p['n_calibration']
n_faithfulness = p['n_faithfulness']
fractions = p['fractions']
ig_steps = p['ig_steps']
shots = p['shots']
seed = p['seed']
demo_seeds = p['demo_seeds']
importance_source = p['importance_source']
n_resamples = p['n_resamples']
criterion = criteria[0]  # this chapter follows the profile's first criterion
demo_seed = demo_seeds[0]  # and its first demonstration seed (chapter 4 varies it)
ratios_run = sorted({0.0, *(float(r) for r in ratios)})  # the unpruned model is the reference
worst = max(ratios_run)
explained = [m for m in methods if m != "random"]
run_methods = [*explained, "random"]  # the random control runs whether the profile names it or not
grid = run.configs(criteria_=[criterion], ratios=ratios_run, demo_seeds=[demo_seed])
pairs = [(m, t) for m in models for t in tasks]
boot = dict(n_resamples=n_resamples, seed=seed)
NAN = float("nan")
SCORES = {"aopc_comprehensiveness": "comprehensiveness ↑",
          "aopc_sufficiency": "sufficiency ↓",
          "aopc_norm_comprehensiveness": "normalised comprehensiveness ↑",
          "aopc_norm_sufficiency": "normalised sufficiency ↑"}












def per_example(rec: dict, score: str) -> np.ndarray:
    """One AOPC score of a stored faithfulness unit, per example (NaN where undefined)."""
    return np.asarray(getattr(readouts.stored_faithfulness(rec), score), dtype=float)




def cfg_of(model: str, task: str, ratio: float):
    return next(c for c in grid if (c.model, c.task, c.ratio) == (model, task, ratio))


display(pages.parameter_table({
    "models": models, "tasks": tasks, "ratios": ratios_run, "criteria": [criterion],
    "methods": run_methods, "n_faithfulness": n_faithfulness, "fractions": fractions,
    "ig_steps": ig_steps, "shots": shots, "seed": seed, "demo_seeds": [demo_seed],
    "importance_source": importance_source, "n_resamples": n_resamples, "device": p["device"],
}, {"criteria": "how the layers to drop are chosen (the profile's first criterion)",
    "methods": "attribution methods (random: the control)",
    "demo_seeds": "demonstration seed (the profile's first; chapter 4 varies it)",
    "n_faithfulness": "test examples per task for faithfulness (the first of the test sample)",
    "n_resamples": "bootstrap resamples per interval"}))

# %% [markdown]
# ## 2.1 What the explanations look like
#
# Each heat map shows one test example (the shortest ones of the sample, for legibility): the
# top row explains the full model, the bottom row the most-pruned one, both for the full model's
# predicted label. Red tokens raise that label's probability, blue ones lower it (for
# `gradient`, which has no sign, colour is magnitude only).
#
# (fig-2-1)=
# **Figure 2.1** Attributions of the full and the most-pruned model on the first model and task,
# each row scaled to its largest absolute score.

# %% tags=["hide-input"]
records = {(cfg, m): run.faithfulness(cfg, m) for cfg in grid for m in run_methods}
MAX_TOKENS = 60
shown = explained[:2] or run_methods[:1]
full_cfg, pruned_cfg = cfg_of(*pairs[0], 0.0), cfg_of(*pairs[0], worst)
first = records[(full_cfg, shown[0])]["examples"]
order = list(np.argsort(first["n_tokens"], kind="stable")[:min(2, len(first["uid"]))])
fig, axes = plt.subplots(len(order) * len(shown), 1, figsize=(7.5, 2.3 * len(order) * len(shown)),
                         squeeze=False)
panels = iter(axes[:, 0])
for i in order:
    for m in shown:
        ax = next(panels)
        a_full = readouts.stored_attributions(records[(full_cfg, m)])[i]
        a_pruned = readouts.stored_attributions(records[(pruned_cfg, m)], full_target=True)[i]
        n = min(len(a_full.tokens), MAX_TOKENS)
        flipped = records[(pruned_cfg, m)]["examples"]["target"][i] != a_full.target
        plots.token_heatmap(a_full.tokens[:n], {"full": a_full.scores[:n],
                                                f"ratio {pages.ratio_label(worst)}":
                                                a_pruned.scores[:n]}, ax=ax,
                            title=f"{m}, example {a_full.uid}"
                                  + (" (the pruned model's prediction flipped)" if flipped else "")
                                  + (f" (first {n} tokens)" if n < len(a_full.tokens) else ""))
        for text in ax.texts:
            text.set_rotation(90)
            text.set_fontsize(8)
        fig.axes[-1].set_ylabel("score / max |score|", fontsize=9)  # the colour bar just added
plt.show()

# %% [markdown]
# ## 2.2 Comprehensiveness and sufficiency against the pruning ratio
#
# Every method is computed on the same `n_faithfulness` test examples for every ratio.
# {ref}`Figure 2.2 <fig-2-2>` and {ref}`Table 2.1 <tab-2-1>` show the raw and the normalised
# scores; {ref}`Table 2.2 <tab-2-2>` compares each method with the random control on the same
# examples.
#
# (fig-2-2)=
# **Figure 2.2** Raw (top) and normalised (bottom) faithfulness of each attribution method as
# attention sub-layers are dropped, on the first model and task, with 95% bootstrap intervals
# over examples. The dashed grey line is the random control. Methods are nudged sideways so that
# their bars do not overlap.

# %% tags=["hide-input"]
rows = []
for (cfg, m), rec in records.items():
    for score in SCORES:
        est, low, high, n = stats.defined_mean_ci(per_example(rec, score), **boot)
        rows.append({"model": cfg.model, "task": cfg.task, "method": m, "ratio": cfg.ratio,
                     "score": score, "value": est, "low": low, "high": high, "n": n})
faith = pd.DataFrame(rows)


DODGE = 0.012 * max(worst, 0.1)  # methods nudged sideways so that their bars do not overlap


first_pair = faith[(faith.model == pairs[0][0]) & (faith.task == pairs[0][1])]
fig, axes = plt.subplots(2, 2, figsize=(7.5, 6.6), sharex=True)
for ax, (score, label) in zip(axes.flat, SCORES.items(), strict=True):
    plots.interval_lines(ax, first_pair[first_pair.score == score], ratios_run, hue="method",
                         baseline="random", dodge=DODGE)
    ax.set_title(label, fontsize=12)
for ax in axes[0]:
    ax.set_xlabel("")
handles, texts = axes[0, 0].get_legend_handles_labels()
fig.legend(handles, texts, loc="outside lower center", ncols=min(len(texts), 4), fontsize=10)
fig.suptitle(f"{pairs[0][0]} on {pairs[0][1]} (criterion: {criterion})")
plt.show()

# %% [markdown]
# (tab-2-1)=
# **Table 2.1** AOPC comprehensiveness (higher is more faithful), sufficiency (lower is more
# faithful) and their normalised forms (both higher is more faithful), by method and ratio: the
# mean over examples with its 95% bootstrap interval.

# %% tags=["hide-input"]
table1 = faith.assign(shown=[pages.interval_text(v, lo, hi) for v, lo, hi in
                             zip(faith.value, faith.low, faith.high, strict=True)])
table1 = (table1.pivot_table(index=["model", "task", "method", "ratio"], columns="score",
                             values="shown", aggfunc="first", sort=False)[list(SCORES)]
          .rename(columns=SCORES).reset_index())
n_norm = faith[faith.score == "aopc_norm_comprehensiveness"].set_index(
    ["model", "task", "method", "ratio"]).n
table1["n defined (normalised)"] = [int(n_norm[k]) for k in
                                    zip(table1.model, table1.task, table1.method, table1.ratio,
                                        strict=True)]
table1["ratio"] = table1.ratio.map(pages.ratio_label)
display(Markdown(f"n = {n_faithfulness} examples per row; the normalised scores are averaged over "
                 "the examples where they are defined (last column)."))
display(table1.style.hide(axis="index"))

# %% [markdown]
# (tab-2-2)=
# **Table 2.2** Each method minus the random control on the same examples (per example, then
# averaged), with 95% bootstrap intervals. For comprehensiveness and its normalised form a
# positive difference means more faithful than random; for sufficiency a negative one. The
# reading uses the normalised comprehensiveness (the score chapter 4 tests): *beats random* when
# the interval lies above 0, *worse than random* when it lies below, otherwise *undetermined*.

# %% tags=["hide-input"]
rows = []
for cfg in grid:
    control = records[(cfg, "random")]
    for m in explained:
        rec = records[(cfg, m)]
        row = {"cfg": cfg, "model": cfg.model, "task": cfg.task, "method": m, "ratio": cfg.ratio,
               "norm": stats.defined_mean_ci(readouts.faithfulness_vs_random(rec, control), **boot)}
        for score in ("aopc_comprehensiveness", "aopc_sufficiency"):
            row[score] = stats.defined_mean_ci(per_example(rec, score) - per_example(control, score), **boot)
        row["reading"] = pages.direction(*row["norm"][1:3], up="beats random", down="worse than random")
        rows.append(row)
vs_random = pd.DataFrame(rows)
if vs_random.empty:
    display(Markdown("*No attribution method besides the random control in this run.*"))
else:
    display(pd.DataFrame({
        "model": vs_random.model, "task": vs_random.task, "method": vs_random.method,
        "ratio": vs_random.ratio.map(pages.ratio_label),
        "Δ normalised comp. [95%]": [pages.interval_text(*v[:3], signed=True) for v in vs_random.norm],
        "n": [v[3] for v in vs_random.norm], "reading": vs_random.reading,
        "Δ comprehensiveness": [pages.interval_text(*v[:3], signed=True)
                                for v in vs_random.aopc_comprehensiveness],
        "Δ sufficiency": [pages.interval_text(*v[:3], signed=True) for v in vs_random.aopc_sufficiency],
    }).style.hide(axis="index"))

# %% tags=["hide-input"]
sentences_random = []
for m_, t_ in pairs:
    at0 = [r for r in rows if (r["model"], r["task"], r["ratio"]) == (m_, t_, 0.0)]
    if not at0:
        continue

    groups = {reading: [f"`{r['method']}` {pages.interval_text(*r['norm'][:3], signed=True)}" for r in at0
                        if r["reading"] == reading]
              for reading in ("beats random", "worse than random", "undetermined")}
    words = {"beats random": "beat the random control", "worse than random": "did worse than it",
             "undetermined": "were undetermined"}
    said = [f"{len(items)} {words[reading]} ({pages.listing(items)})"
            for reading, items in groups.items() if items]
    sentences_random.append(
        f"On the unpruned {m_} on {t_}, of {len(at0)} attribution method(s) compared with a random "
        f"attribution on normalised comprehensiveness (up to {n_faithfulness} examples; a method "
        f"beats random when the 95% bootstrap interval of the per-example difference lies above "
        f"0), {pages.listing(said)}.")
if sentences_random:
    display(Markdown("**In this run.** " + " ".join(sentences_random)))
    pages.record_finding(CHAPTER, "beats-random", " ".join(sentences_random), "tab-2-2")

# %% [markdown]
# ## 2.3 Does pruning change faithfulness?
#
# {ref}`Table 2.3 <tab-2-3>` gives, for each method, the change from the full to the pruned
# model on the same examples of the normalised comprehensiveness over the random control (the
# faithfulness change chapter 4 tests), beside the change of the raw comprehensiveness and of
# $d = p(y \mid x) - p(y \mid \text{empty text})$, how far the text lifts the label's
# probability. If $d$ falls while the normalised score holds, the raw score fell because the
# model became less confident, not because its attributions got worse.
#
# (tab-2-3)=
# **Table 2.3** Changes pruned − full on the same examples, each with its paired 95% bootstrap
# interval. The reading uses the first column: *more faithful* when its interval lies above 0,
# *less faithful* when below, otherwise *undetermined*.

# %% tags=["hide-input"]
rows = []
for cfg in (c for c in grid if c.ratio > 0):
    full_cfg = cfg.unpruned()
    for m in explained:
        rec_f, rec_p = records[(full_cfg, m)], records[(cfg, m)]
        sf, sp = readouts.stored_faithfulness(rec_f), readouts.stored_faithfulness(rec_p)
        row = {"cfg": cfg, "model": cfg.model, "task": cfg.task, "method": m, "ratio": cfg.ratio,
               "faith": stats.defined_paired_delta_ci(readouts.faithfulness_vs_random(rec_f, records[(full_cfg, "random")]),
                                        readouts.faithfulness_vs_random(rec_p, records[(cfg, "random")]), **boot),
               "comp": stats.defined_paired_delta_ci(sf.aopc_comprehensiveness, sp.aopc_comprehensiveness, **boot),
               "gap": stats.defined_paired_delta_ci(sf.p_full - sf.p_empty, sp.p_full - sp.p_empty, **boot)}
        row["reading"] = pages.direction(*row["faith"][1:3], up="more faithful", down="less faithful")
        rows.append(row)
changes = pd.DataFrame(rows)
if changes.empty:
    display(Markdown("*No pruned configuration with an attribution method in this run.*"))
else:
    display(pd.DataFrame({
        "model": changes.model, "task": changes.task, "method": changes.method,
        "ratio": changes.ratio.map(pages.ratio_label),
        "Δ (normalised comp. − random)": [pages.interval_text(*v[:3], signed=True) for v in changes.faith],
        "n": [v[3] for v in changes.faith], "reading": changes.reading,
        "Δ comprehensiveness": [pages.interval_text(*v[:3], signed=True) for v in changes.comp],
        "Δ d": [pages.interval_text(*v[:3], signed=True) for v in changes.gap],
    }).style.hide(axis="index"))

# %% tags=["hide-input"]
if not changes.empty:
    readings = list(changes.reading)
    biggest = max(rows, key=lambda r: abs(r["faith"][0]) if np.isfinite(r["faith"][0]) else -1)
    gap_fell = sum(pages.direction(*r["gap"][1:3]) == "fell" for r in rows)
    sentence_change = (
        f"Across {len(rows)} pruned (configuration, method) pair(s), the normalised "
        f"comprehensiveness over the random control became more faithful in "
        f"{readings.count('more faithful')}, less faithful in {readings.count('less faithful')} "
        f"and was undetermined in {readings.count('undetermined')} (paired 95% bootstrap "
        f"intervals over up to {n_faithfulness} examples; a change counts when its interval "
        "excludes 0)"
        + (f"; the largest change was {pages.interval_text(*biggest['faith'][:3], signed=True)} "
           f"(`{biggest['method']}`, {biggest['model']} on {biggest['task']}, ratio "
           f"{pages.ratio_label(biggest['ratio'])})." if np.isfinite(biggest["faith"][0]) else "."))
    sentence_gap = (f"The lift $d$ of the label's probability fell in {gap_fell} of the "
                    f"{len(rows)} pair(s): there the pruned model was less sure of the label "
                    "on the full text, which lowers the raw scores by itself.")
    display(Markdown(f"**In this run.** {sentence_change} {sentence_gap}"))
    pages.record_finding(CHAPTER, "faithfulness-change", sentence_change, "tab-2-3")

# %% [markdown]
# ## 2.4 Do explanations drift?
#
# For each method we compare the attribution of the full model with that of each pruned model on
# the same examples and for the same label, the full model's prediction: where the pruned model
# predicts another label, its attribution is recomputed for the full model's label (a signed
# method would otherwise flip sign and look like total disagreement). The agreement is the
# Spearman correlation of the token scores and the overlap of their top 20% tokens (1 =
# unchanged); the share of examples whose prediction flipped stands beside them. The random
# control is left out: it is seeded by the example, so its two attributions are identical.
#
# (fig-2-3)=
# **Figure 2.3** Agreement of the pruned model's attributions with the full model's, and the
# share of flipped predictions, on the first model and task, with 95% bootstrap intervals over
# examples.

# %% tags=["hide-input"]
rows = []
for cfg in (c for c in grid if c.ratio > 0):
    for m in explained:
        d = readouts.drift(records[(cfg.unpruned(), m)], records[(cfg, m)])
        rows.append({"cfg": cfg, "model": cfg.model, "task": cfg.task, "method": m,
                     "ratio": cfg.ratio, "spearman": stats.defined_mean_ci(d.spearman, **boot),
                     "top_k_overlap": stats.defined_mean_ci(d.top_k_overlap, **boot),
                     "flipped": stats.defined_mean_ci(d.flipped.astype(float), **boot)})
drift = pd.DataFrame(rows)
if drift.empty:
    display(Markdown("*No pruned configuration with an attribution method in this run.*"))
else:
    panels = {"spearman": "Spearman ρ with the full model", "top_k_overlap": "top-20% overlap",
              "flipped": "share of flipped predictions"}
    fig, axes = plt.subplots(3, 1, figsize=(7.5, 8.4), sharex=True)
    for ax, (key, label) in zip(axes, panels.items(), strict=True):
        g = drift[(drift.model == pairs[0][0]) & (drift.task == pairs[0][1])]
        if key == "flipped":  # one prediction per example and model: the same for every method
            g = g[g.method == g.method.iloc[0]].assign(method="every method")
        frame = pd.DataFrame({"method": g.method, "ratio": g.ratio,
                              "value": [v[0] for v in g[key]], "low": [v[1] for v in g[key]],
                              "high": [v[2] for v in g[key]]})
        plots.interval_lines(ax, frame, ratios_run, hue="method", dodge=DODGE)
        ax.set_ylabel(label)
        ax.legend(fontsize=9)
        bottom = min(-0.05, float(np.nanmin(frame.low.to_numpy(dtype=float), initial=0)) - 0.05)
        ax.set_ylim(bottom if key == "spearman" else -0.05, 1.05)
    pruned_ratios = [r for r in ratios_run if r > 0]
    axes[-1].set_xticks(pruned_ratios, [pages.ratio_label(r) for r in pruned_ratios])
    axes[-1].set_xlim(min(pruned_ratios) - 0.05, max(pruned_ratios) + 0.05)
    for ax in axes[:-1]:
        ax.set_xlabel("")
    plt.show()

# %% [markdown]
# (tab-2-4)=
# **Table 2.4** Agreement between the full and the pruned model's attributions of the same label,
# and the share of examples whose prediction flipped, each with its 95% bootstrap interval over
# examples (n: the examples where Spearman's ρ is defined; it is not for a constant attribution).

# %% tags=["hide-input"]
if not drift.empty:
    display(pd.DataFrame({
        "model": drift.model, "task": drift.task, "method": drift.method,
        "ratio": drift.ratio.map(pages.ratio_label),
        "Spearman ρ": [pages.interval_text(*v[:3]) for v in drift.spearman], "n": [v[3] for v in drift.spearman],
        "top-20% overlap": [pages.interval_text(*v[:3]) for v in drift.top_k_overlap],
        "flipped": [pages.percent_text(*v[:3]) for v in drift.flipped],
    }).style.hide(axis="index"))
    sentences_drift = []
    for m_, t_ in pairs:
        at = [r for r in rows if (r["model"], r["task"], r["ratio"]) == (m_, t_, worst)]
        if not at:
            continue
        rho = sorted((r for r in at if np.isfinite(r["spearman"][0])), key=lambda r: r["spearman"][0])
        span = (f"Spearman ρ between the two models' attributions of the same label was "
                f"{pages.interval_text(*rho[0]['spearman'][:3])} (`{rho[0]['method']}`)"
                + (f" to {pages.interval_text(*rho[-1]['spearman'][:3])} (`{rho[-1]['method']}`)"
                   if len(rho) > 1 else "") if rho else "Spearman ρ was undefined")
        sentences_drift.append(
            f"With {pages.ratio_label(worst)} of the attention sub-layers of {m_} dropped "
            f"(`{criterion}`), on {t_}, {span}; the prediction flipped on "
            f"{pages.percent_text(*at[0]['flipped'][:3])} of the {n_faithfulness} examples (95% bootstrap "
            "intervals).")
    if sentences_drift:
        display(Markdown("**In this run.** " + " ".join(sentences_drift)))
        pages.record_finding(CHAPTER, "drift", " ".join(sentences_drift), "tab-2-4")

# %% [markdown]
# ## Summary
#
# What this chapter's figures and tables support in general:
#
# - Faithfulness is a property of a method *and* a model, and it has to be measured against a
#   control: a method only counts as faithful where it beats a random attribution on the same
#   examples.
# - The raw scores fall when a pruned model merely becomes less confident; the normalised scores
#   and the lift $d$ beside them separate that from attributions that got worse.
# - An explanation computed on the full model should not be reused for a pruned one without a
#   check: where the agreement of the two models' attributions is clearly below 1, recompute and
#   re-evaluate it.
#
# What this run found, by the rule "a difference counts when its 95% interval excludes 0":

# %% tags=["hide-input"]
summary = []
if sentences_random:
    summary.append("- Against the random control ({ref}`Table 2.2 <tab-2-2>`): "
                   + " ".join(sentences_random))
if not changes.empty:
    summary.append(f"- Pruning ({{ref}}`Table 2.3 <tab-2-3>`): {sentence_change}")
if not drift.empty and sentences_drift:
    summary.append("- Drift ({ref}`Table 2.4 <tab-2-4>`): " + " ".join(sentences_drift))
display(Markdown("\n".join(summary) or "*Nothing to compare in this run.*"))

# %% [markdown]
# ## Exercises
#
# The numbers in the solutions are computed from this run. To change a parameter, edit the
# profile (`params/*.yml`, under `chapters: 02_faithfulness:` for this chapter alone) and run
# `python -m helpers.book chapter 02_faithfulness --profile <profile>`.

# %% tags=["hide-input"]
focus = explained[0] if explained else "random"
full0 = cfg_of(*pairs[0], 0.0)
glue("ch2-igsteps", int(ig_steps), display=False)
glue("ch2-igsteps4", int(4 * ig_steps), display=False)
if "integrated_gradients" in explained:
    err = records[(full0, "integrated_gradients")]["examples"].get("completeness_error")
    err = np.abs(np.asarray(err, dtype=float)) if err is not None else np.array([])
    e = stats.defined_mean_ci(err, **boot)
    ig_norm = vs_random[(vs_random.method == "integrated_gradients") & (vs_random.ratio == 0)]
    glue("ch2-ig-now", (f"In this run the mean absolute completeness error of integrated gradients on the "
                        f"unpruned {pairs[0][0]} was {pages.interval_text(*e[:3], digits=4)} (in log-probability "
                        f"units) and its normalised comprehensiveness over random "
                        f"{pages.interval_text(*ig_norm.norm.iloc[0][:3], signed=True)}")
         if len(ig_norm) else "In this run integrated gradients recorded no completeness error",
         display=False)
else:
    glue("ch2-ig-now", "This run has no integrated gradients to compare with: add "
                       "integrated_gradients to methods first", display=False)

per_fraction = []
for m in dict.fromkeys([focus, "random"]):
    comp = readouts.stored_faithfulness(records[(full0, m)]).comprehensiveness
    per_fraction.append(f"{m}: " + ", ".join(
        f"{100 * f:g}%: {pages.interval_text(*stats.defined_mean_ci(comp[:, j], **boot)[:3])}" for j, f in enumerate(fractions)))
glue("ch2-fractions", "; ".join(per_fraction), display=False)

ref = vs_random[(vs_random.method == focus) & (vs_random.ratio == 0)] if not vs_random.empty else []
half = ((ref.norm.iloc[0][2] - ref.norm.iloc[0][1]) / 2) if len(ref) else NAN
glue("ch2-focus", focus, display=False)
glue("ch2-nfaith", int(n_faithfulness), display=False)
glue("ch2-nfaith4", int(4 * n_faithfulness), display=False)
glue("ch2-half", float(half), display=False)
glue("ch2-half4", float(half / 2), display=False)

flip = drift[(drift.ratio == worst) & (drift.model == pairs[0][0]) & (drift.task == pairs[0][1])] \
    if not drift.empty else []
glue("ch2-criterion", criterion, display=False)
glue("ch2-worst", pages.ratio_label(worst), display=False)
glue("ch2-flip", pages.percent_text(*flip.flipped.iloc[0][:3]) if len(flip) else "not measured (no pruned "
     "ratio in this run)", display=False)
glue("ch2-rho", pages.interval_text(*flip.spearman.iloc[0][:3]) if len(flip) else "not measured",
     display=False)

# %% [markdown]
# :::{exercise} More integration steps
# :label: ch2-ex-1
#
# Raise `ig_steps` from {glue:text}`ch2-igsteps` to {glue:text}`ch2-igsteps4`. How much of the
# faithfulness of integrated gradients in {ref}`Table 2.2 <tab-2-2>` depends on the accuracy of
# the integral?
# :::
#
# :::{solution} ch2-ex-1
# :class: dropdown
#
# **What to change:** `ig_steps` (and `integrated_gradients` in `methods`, if it is not there).
#
# **What to expect:** {glue:text}`ch2-ig-now`. The completeness error, how far the
# attributions' sum misses the difference of the model's output between the input and the
# baseline, falls quickly with more Gauss–Legendre steps. If the normalised comprehensiveness
# stays inside its interval, the method's faithfulness did not hinge on the integration; if it
# rises beyond it, the coarse integral was costing faithfulness. The attribution time grows about
# in proportion to the steps.
# :::
#
# :::{exercise} Larger deletions
# :label: ch2-ex-2
#
# Set `fractions: [0.1, 0.2, 0.3]`. Do the raw scores of {ref}`Table 2.1 <tab-2-1>` and the
# differences to random of {ref}`Table 2.2 <tab-2-2>` move the same way?
# :::
#
# :::{solution} ch2-ex-2
# :class: dropdown
#
# **What to change:** `fractions` under `chapters: 02_faithfulness:`.
#
# **What to expect:** in this run, on the unpruned model, comprehensiveness at each fraction
# was {glue:text}`ch2-fractions`. AOPC averages over the fractions, so dropping the 1% and 5%
# deletions and adding 30% raises the raw comprehensiveness of every method, the random control
# included: deleting more tokens changes any prediction more. The difference to random is what
# to compare; it grows only if the method's top tokens keep mattering more than random ones at
# the larger fractions.
# :::
#
# :::{exercise} More examples
# :label: ch2-ex-3
#
# Raise `n_faithfulness` from {glue:text}`ch2-nfaith` to {glue:text}`ch2-nfaith4`. Which
# "undetermined" readings of {ref}`Table 2.2 <tab-2-2>` and {ref}`Table 2.3 <tab-2-3>` would you
# expect to be decided?
# :::
#
# :::{solution} ch2-ex-3
# :class: dropdown
#
# **What to change:** `n_faithfulness` under `chapters: 02_faithfulness:` (the attributions of
# every method are computed for every example and ratio, so the chapter takes about four times
# as long).
#
# **What to expect:** the half-width of the 95% interval of the normalised comprehensiveness
# over random of {glue:text}`ch2-focus` on the unpruned model was
# {glue:text}`ch2-half:.3f`; with four times the examples it should fall to about
# {glue:text}`ch2-half4:.3f`. A reading whose estimate lies farther from 0 than that is likely to
# be decided; one whose estimate is near 0 stays undetermined, which then says the difference,
# if any, is small.
# :::
#
# :::{exercise} Another pruning criterion
# :label: ch2-ex-4
#
# Put `last` first in `criteria` (this chapter follows the first criterion, in this run
# {glue:text}`ch2-criterion`). Which criterion preserves the explanations better?
# :::
#
# :::{solution} ch2-ex-4
# :class: dropdown
#
# **What to change:** `criteria: [last, similarity]` under `chapters: 02_faithfulness:`.
#
# **What to expect:** at ratio {glue:text}`ch2-worst`, the first method's Spearman ρ with the
# full model was {glue:text}`ch2-rho` and the prediction flipped on {glue:text}`ch2-flip` of the
# examples ({ref}`Table 2.4 <tab-2-4>`). The `last` criterion drops the deepest attention
# sub-layers, which read the context just before the label is produced; if they matter more for
# this task than the layers `similarity` picks, more predictions flip and ρ falls, with intervals
# that exclude the values above.
# :::
