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
# **What this chapter shows.** A token attribution says which words of the input a prediction
# rests on; it is *faithful* when deleting the tokens it ranks highest changes the prediction
# most. Pruning changes the computation, so a method that was faithful for the full model may not
# be for the pruned one, and the explanations themselves may move. This chapter measures how
# faithful each method is against a random attribution on the same examples, how that changes
# when attention sub-layers are dropped, and how far the pruned model's explanations drift from
# the full model's; chapter 4 relies on it for whether its one method beats random.
#
# **Learning objectives.** After this chapter you can
# - compute comprehensiveness and sufficiency, raw and normalised, and say why the normalised form
#   is needed when pruning changes a model's confidence;
# - decide from a paired interval whether an attribution method beats a random attribution;
# - tell a change of faithfulness under pruning from a mere loss of confidence (the lift $d$);
# - measure how far a pruned model's explanations of the same label drift from the full model's.
#
# **Prerequisites.** Chapter 1 (which attention sub-layers a criterion drops). For an example $x$
# whose predicted label is $y$, with $p$ the probability normalised over the label set, ERASER
# {cite:p}`deyoung2020eraser` defines *comprehensiveness* $= p(y \mid x) - p(y \mid x \setminus
# r_k)$ (higher is more faithful) and *sufficiency* $= p(y \mid x) - p(y \mid r_k)$ (lower is more
# faithful), where $r_k$ are the top-$k\%$ tokens of the attribution; AOPC averages each over the
# fractions $k$. Both are differences of the label's probability, so they shrink when a pruned
# model merely becomes less confident. The normalised forms of Carton, Rathore and Tan (2020,
# "Evaluating and characterizing human rationales") divide by what the full input allows, the
# lift $d = p(y \mid x) - p(y \mid \text{empty text})$: normalised comprehensiveness is
# $\max(0, \text{comp.}) / d$ and normalised sufficiency $(d - \max(0, \text{suff.})) / d$, both
# in $[0, 1]$ and both *higher* = more faithful. Deleting *any* tokens changes a prediction
# somewhat, so each method is compared with a random attribution on the same examples.
#
# **Time.** Reading: about 25 minutes. Re-running the chapter: about three minutes on
# `params/smoke.yml` with an empty results store, under a minute with a filled one (too few
# examples to decide anything); the default profile compares six methods on more examples and
# takes several times longer (`make plan` prices a profile before you run it).
#
# **What is ours, not the paper's.** The attribution methods (gradient, input × gradient,
# integrated gradients with a zero-embedding baseline, AttnLRP, leave-one-out occlusion,
# last-kept-layer attention, random), their target (the predicted label, normalised over the
# label set), and the perturbation: tokens are *deleted* from the example's own text while the
# instruction and demonstrations stay intact; at least one token is removed or kept at every
# fraction. A normalised score is undefined where the text lifts the label by less than
# `faithfulness.NORM_MIN_GAP` over the empty prompt; by a rule fixed before any result was seen,
# such a score is 0 (there is nothing to explain) and no example is ever dropped. The rule that a
# method *beats random* when the 95% interval of its paired difference lies above 0 is ours too.
# Drift compares
# the two models' attributions of the *same* label, the full model's prediction. Intervals are
# percentile bootstraps over examples; a change resamples both models with the same examples.

# %% tags=["parameters"]
profile = "params/default.yml"  # the profile of parameters this chapter runs with (params/*.yml)
overrides = {}  # values that replace the profile's, e.g. {"models": ["gemma3-270m"]}

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

from helpers import faithfulness, pages, plots, profiles, readouts, readouts_faithfulness
from helpers.workload import open_chapter

pages.setup()
CHAPTER = "02_faithfulness"
run = open_chapter(CHAPTER, profile, overrides)
p = run.params
models, tasks, ratios, criteria, methods = (p["models"], p["tasks"], p["ratios"], p["criteria"],
                                            p["methods"])
n_faithfulness, fractions, ig_steps, shots = (p["n_faithfulness"], p["fractions"], p["ig_steps"],
                                              p["shots"])
seed, demo_seed, n_resamples = p["seed"], p["demo_seeds"][0], p["n_resamples"]
criterion = criteria[0]  # this chapter follows the profile's first criterion
ratios_run = sorted({0.0, *(float(r) for r in ratios)})  # the unpruned model is the reference
worst = max(ratios_run)
CONTROL = readouts.CONTROL
explained = [m for m in methods if m != CONTROL]
run_methods = [*explained, CONTROL]  # the random control runs whether the profile names it or not
grid = run.configs(criteria_=[criterion], ratios=ratios_run, demo_seeds=[demo_seed])
pairs = list(dict.fromkeys((c.model, c.task) for c in grid))
boot = dict(n_resamples=n_resamples, seed=seed)
# the method chapter 4 tests faithfulness with, on the same profile and overrides
ch4_method = profiles.chapter_parameters(profile, "04_cross_model", overrides)["methods"][0]
rl = pages.ratio_label


def ordered(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows by model and task, then method in the profile's order, then ratio."""
    if frame.empty:
        return frame
    rank = {m: i for i, m in enumerate(run_methods)}
    keys = frame.assign(_method=frame.method.map(rank) if "method" in frame else 0)
    return frame.loc[keys.sort_values(["model", "task", "_method", "ratio"]).index]


def k_of(k: int, n: int, noun: str) -> str:
    """'no method', 'the one method', 'none of the 3 methods', '2 of the 3 methods', 'all 3 methods'."""
    if n == 1:
        return f"the one {noun}" if k else f"no {noun}"
    if k == 0:
        return f"none of the {n} {noun}s"
    return f"all {n} {noun}s" if k == n else f"{k} of the {n} {noun}s"


display(pages.parameter_table({
    "models": models, "tasks": tasks, "ratios": ratios_run, "criteria": [criterion],
    "methods": run_methods, "n_faithfulness": n_faithfulness, "fractions": fractions,
    "ig_steps": ig_steps, "shots": shots, "demo_seeds": [demo_seed], "n_resamples": n_resamples,
}, {"criteria": "how the layers to drop are chosen (the profile's first criterion)",
    "methods": "attribution methods (random: the control)",
    "demo_seeds": "demonstration seed (the profile's first; chapter 4 varies it)",
    "n_faithfulness": "test examples per task (the first of the test sample)",
    "n_resamples": "bootstrap resamples per interval"}))

# %% [markdown]
# ## 2.1 The idea in a few lines
#
# An attribution ranks an example's tokens; the model is then asked again with the top-ranked
# tokens deleted. The cell below shows it on four examples with the library's own functions:
# attribute the full model's label with input × gradient and with AttnLRP, then drop the deepest
# quarter of the attention sub-layers and attribute the *same* label again. It prints the three
# tokens each attribution ranks highest, and the mean comprehensiveness at one fraction: how much
# deleting the top 20% of the tokens lowers the label's probability. The random control shows
# what deleting *any* 20% does. Each line reads full model -> deepest quarter dropped. It runs in
# well under a minute on a laptop.

# %%
from helpers.attribution import attribute
from helpers.criteria import select_layers
from helpers.faithfulness import comprehensiveness_sufficiency, top_k
from helpers.models import load_model
from helpers.pruning import attention_dropped, n_layers
from helpers.tasks import get_task, load_task

model, tok = load_model(models[0])
task, sample = get_task(tasks[0]), load_task(tasks[0], n=4, seed=seed)
deepest = select_layers(n_layers(model), 1 / 4, "last")
prompt = dict(shots=shots, seed=demo_seed, progress=False)


def top3(a):
    """The three tokens an attribution ranks highest."""
    best = top_k(a.scores, 3)
    return " | ".join(plots.token_label(a.tokens[j]) for j in best)


def comp20(attributions):
    """Mean drop of the label's probability, top 20% of tokens deleted."""
    f = comprehensiveness_sufficiency(model, tok, task, sample, attributions,
                                      fractions=[0.2], **prompt)
    return f.comprehensiveness.mean()


for method in ("input_x_gradient", "lrp", "random"):
    full = attribute(model, tok, task, sample, method=method, **prompt)
    same_label = [a.target for a in full]
    with attention_dropped(model, deepest):
        pruned = attribute(model, tok, task, sample, method=method,
                           targets=same_label, **prompt)
        c_pruned = comp20(pruned)
    c_full = comp20(full)
    print(f"{method}: comp. at 20% {c_full:.3f} -> {c_pruned:.3f}")
    for a, b in zip(full, pruned, strict=True):
        label = task.labels[a.target]
        print(f"  {a.uid} {label}: {top3(a)}  ->  {top3(b)}")

# %% [markdown]
# The pruned model's label is not always the full model's, so both models are asked about the
# full model's label: otherwise a signed method would flip sign and look like total
# disagreement. Each attribution is tested on its own model: the pruned model's by deleting
# tokens from the pruned model's input. The rest of the chapter does the same on
# `n_faithfulness` test examples, for every method and ratio of the profile, from the results
# store, and averages over the fractions `fractions` (AOPC).
#
# ## 2.2 What the explanations look like
#
# Each heat map shows one test example as text: under each line, one strip explains the full
# model and one the most-pruned model, both for the full model's predicted label, so that the
# same token of the two models stands in one column. Red tokens raise that label's probability,
# blue ones lower it (for `gradient`, which has no sign, colour is magnitude only).
#
# (fig-2-1)=
# **Figure 2.1** Attributions of the full and the most-pruned model on the first model and task,
# for the first two test examples, each strip scaled to its largest absolute score.

# %% tags=["hide-input"]
MAX_TOKENS, WIDTH = 160, 68  # tokens shown per example; characters per line of text
shown = ([ch4_method] if ch4_method in explained else []) + [
    m for m in explained if m != ch4_method]
shown = shown[:2] or [CONTROL]
full_cfg = next(c for c in grid if (c.model, c.task, c.ratio) == (*pairs[0], 0.0))
pruned_cfg = next(c for c in grid if (c.model, c.task, c.ratio) == (*pairs[0], worst))
panels = []
for i in range(min(2, n_faithfulness)):
    for m in shown:
        a_full = readouts.stored_attributions(run.faithfulness(full_cfg, m))[i]
        a_pruned = readouts.stored_attributions(run.faithfulness(pruned_cfg, m), full_target=True)[i]
        n = min(len(a_full.tokens), MAX_TOKENS)
        flipped = run.faithfulness(pruned_cfg, m)["examples"]["target"][i] != a_full.target
        rows = {"full": a_full.scores[:n]}
        if worst > 0:
            rows[f"ratio {rl(worst)}"] = a_pruned.scores[:n]
        title = (f"{m}, example {a_full.uid}" + (" (pruned prediction flipped)" if flipped else "")
                 + (f" (first {n} tokens)" if n < len(a_full.tokens) else ""))
        panels.append((a_full.tokens[:n], rows, title))
strips = [plots.token_heatmap_lines(toks, len(rows), WIDTH) for toks, rows, _ in panels]
fig, axes = plt.subplots(len(panels), 1, figsize=(7.5, 0.3 * sum(strips) + 0.6 * len(panels)
                                                  + 1.0), height_ratios=strips, squeeze=False)
for ax, (toks, rows, title) in zip(axes[:, 0], panels, strict=True):
    plots.token_heatmap(toks, rows, ax=ax, title=title, width=WIDTH, colorbar=False)
plots.attribution_colorbar(fig, list(axes[:, 0]))
plt.show()

# %% [markdown]
# ## 2.3 Comprehensiveness and sufficiency against the pruning ratio
#
# Every method is computed on the same `n_faithfulness` test examples at every ratio.
# {ref}`Figure 2.2 <fig-2-2>` shows the raw and the normalised scores of the first model and
# task; {ref}`Table 2.1 <tab-2-1>` and {ref}`Table 2.2 <tab-2-2>` give them for every model and
# task, one table each.
#
# (fig-2-2)=
# **Figure 2.2** Raw (top) and normalised (bottom) faithfulness of each attribution method as
# attention sub-layers are dropped, on the first model and task, with 95% bootstrap intervals
# over examples (normalised: undefined scores count as 0). The dashed grey line is the random
# control. Methods are nudged sideways so that their bars do not overlap.

# %% tags=["hide-input"]
faith = ordered(readouts_faithfulness.faithfulness_table(run, grid, run_methods, **boot))
SCORES = {"comprehensiveness": "comprehensiveness ↑", "sufficiency": "sufficiency ↓",
          "norm_comprehensiveness": "normalised comp. ↑",
          "norm_sufficiency": "normalised suff. ↑"}
DODGE = 0.012 * max(worst, 0.1)
first_pair = faith[(faith.model == pairs[0][0]) & (faith.task == pairs[0][1])]
fig, axes = plt.subplots(2, 2, figsize=(7.5, 6.6), sharex=True)
for ax, (score, name) in zip(axes.flat, SCORES.items(), strict=True):
    frame = pd.DataFrame({"method": first_pair.method, "ratio": first_pair.ratio,
                          "value": first_pair[score], "low": first_pair[f"{score}_low"],
                          "high": first_pair[f"{score}_high"]})
    plots.interval_lines(ax, frame, ratios_run, hue="method", baseline=CONTROL, dodge=DODGE)
    ax.set_title(name, fontsize=12)
    ax.set_xlabel("share of attention sub-layers dropped" if ax in axes[1] else "",
                  fontsize=10)
handles, texts = axes[0, 0].get_legend_handles_labels()
fig.legend(handles, texts, loc="outside lower center", ncols=min(len(texts), 3), fontsize=10)
fig.suptitle(f"{pairs[0][0]} on {pairs[0][1]} (criterion: {criterion})")
plt.show()


# %% tags=["hide-input"]
def show(frame: pd.DataFrame, columns, levels=("method", "ratio")) -> None:
    """One table per model and task (named in its caption), rows by `levels`; `columns(rows)`
    gives the table's columns from that model and task's rows."""
    for (m_, t_), rows in frame.groupby(["model", "task"], sort=False):
        out = pd.DataFrame({name: list(col) for name, col in columns(rows).items()})
        out.index = pd.MultiIndex.from_arrays(
            [rows[level].map(rl) if level == "ratio"  # a method's name may wrap after "_"
             else rows[level].str.replace("_", "_\u200b") for level in levels], names=levels)
        display(pages.table(out, caption=f"{m_} on {t_} · criterion {criterion} · "
                                         f"n = {n_faithfulness}"))


def cis(frame: pd.DataFrame, name: str, **kw) -> list[str]:
    """A column of compact intervals from the columns name, name_low, name_high."""
    return [pages.ci(e, lo, hi, **kw) for e, lo, hi in
            zip(frame[name], frame[f"{name}_low"], frame[f"{name}_high"], strict=True)]


# %% [markdown]
# (tab-2-1)=
# **Table 2.1** AOPC comprehensiveness (higher is more faithful) and sufficiency (lower is more
# faithful) by method and ratio: the mean over the examples with its 95% bootstrap interval.

# %% tags=["hide-input"]
show(faith, lambda f: {"comprehensiveness ↑ [95%]": cis(f, "comprehensiveness", signed=False),
                       "sufficiency ↓ [95%]": cis(f, "sufficiency")})

# %% [markdown]
# (tab-2-2)=
# **Table 2.2** Normalised AOPC comprehensiveness and sufficiency (both higher is more
# faithful), by method and ratio, with 95% bootstrap intervals; an undefined score counts as 0
# ({ref}`Table 2.3 <tab-2-3>` says how many there were).

# %% tags=["hide-input"]
show(faith, lambda f: {
    "normalised comp. ↑ [95%]": cis(f, "norm_comprehensiveness", signed=False),
    "normalised suff. ↑ [95%]": cis(f, "norm_sufficiency", signed=False)})

# %% [markdown]
# The normalisation divides by the lift $d$, which the method does not change: it depends only on
# the model and the example. {ref}`Table 2.3 <tab-2-3>` gives, per configuration, how many
# examples have a lift too small to normalise (their scores are 0 for every method) and the mean
# lift.
#
# (tab-2-3)=
# **Table 2.3** Per configuration: the examples whose normalised scores are set to 0, and the
# mean lift $d = p(y \mid x) - p(y \mid \text{empty text})$ of the explained label with its 95%
# bootstrap interval.

# %% tags=["hide-input"]
lift = ordered(readouts_faithfulness.lift_table(run, grid, **boot))
show(lift, lambda f: {"set to 0": [f"{z} of {n}" for z, n in zip(f.set_to_0, f.n, strict=True)],
                      "lift d [95%]": cis(f, "lift")}, levels=("ratio",))
n_zero, n_all = int(lift.set_to_0.sum()), int(lift.n.sum())
zero_configs = [f"{m} on {t} at ratio {rl(r)}: {z}" for m, t, r, z in
                zip(lift.model, lift.task, lift.ratio, lift.set_to_0, strict=True) if z]
pairs_noun = "(configuration, example) pair"
if n_zero:
    sentence_zero = (f"{n_zero} of the {pages.count(n_all, pairs_noun)} had a lift below "
                     f"{faithfulness.NORM_MIN_GAP:g} and count as 0 in every normalised score "
                     f"({pages.listing(zero_configs)}).")
else:
    sentence_zero = ((f"The one {pairs_noun}" if n_all == 1 else f"All {n_all} {pairs_noun}s")
                     + f" had a lift of at least {faithfulness.NORM_MIN_GAP:g}: no normalised "
                     "score was set to 0.")
display(Markdown(f"**In this run.** {sentence_zero}"))

# %% [markdown]
# ## 2.4 Which methods beat the random control?
#
# A method *beats random* when its normalised comprehensiveness minus that of the random
# control, computed per example on the same examples and then averaged, has a 95% paired
# bootstrap interval above 0; it is *worse* when the interval lies below 0, and otherwise
# *undetermined*. Chapter 4 uses one method for its faithfulness verdicts and cites this section
# for whether that method beats random. {ref}`Table 2.5 <tab-2-5>` adds the raw differences: for
# comprehensiveness a positive difference is better than random, for sufficiency a negative one.
#
# (tab-2-4)=
# **Table 2.4** Normalised AOPC comprehensiveness of each method minus the random control's on
# the same examples, with its paired 95% bootstrap interval, and whether the method beats random.

# %% tags=["hide-input"]
vs_random = ordered(readouts_faithfulness.against_random(run, grid, run_methods, **boot))
VERDICTS = {"beats random": "yes", "worse than random": "worse", "undetermined": "undetermined"}
if vs_random.empty:
    display(Markdown("*No attribution method besides the random control in this run.*"))
else:
    vs_random["verdict"] = [pages.direction(lo, hi, up="beats random", down="worse than random")
                            for lo, hi in zip(vs_random.d_norm_low, vs_random.d_norm_high,
                                              strict=True)]
    show(vs_random, lambda f: {"Δ normalised comp. [95%]": cis(f, "d_norm"),
                               "beats random": f.verdict.map(VERDICTS)})

# %% [markdown]
# (tab-2-5)=
# **Table 2.5** Raw AOPC comprehensiveness and sufficiency of each method minus the random
# control's on the same examples, with paired 95% bootstrap intervals.

# %% tags=["hide-input"]
if not vs_random.empty:
    show(vs_random, lambda f: {"Δ comp. ↑ [95%]": cis(f, "d_comp"),
                               "Δ suff. ↓ [95%]": cis(f, "d_suff")})


# %% tags=["hide-input"]
def verdict_sentence(rows: pd.DataFrame) -> str:
    """Which methods beat, lost to, or could not be told from the control, with their intervals."""
    groups = {"beats random": "beat the random control", "worse than random": "did worse than it",
              "undetermined": "could not be told from it"}
    said = []
    for verdict, words in groups.items():
        items = [f"`{r.method}` ({pages.ci(r.d_norm, r.d_norm_low, r.d_norm_high)})"
                 for r in rows.itertuples() if r.verdict == verdict]
        if items:
            said.append(f"{pages.listing(items)} {words}")
    return pages.listing(said)


sentences_random, ch4_sentence = [], ""
if not vs_random.empty:
    for m_, t_ in pairs:
        at0 = vs_random[(vs_random.model == m_) & (vs_random.task == t_) & (vs_random.ratio == 0)]
        n_beat = int((at0.verdict == "beats random").sum())
        sentences_random.append(
            f"On the unpruned {m_} on {t_} ({pages.count(n_faithfulness, 'example')}), "
            f"{k_of(n_beat, len(at0), 'method')} beat the random control on normalised "
            f"comprehensiveness: {verdict_sentence(at0)}.")
    mine = vs_random[vs_random.method == ch4_method]
    if len(mine):
        words = {"beats random": "beats random", "worse than random": "does worse than random",
                 "undetermined": "cannot be told from random"}
        parts = []
        for verdict, word in words.items():
            items = [(f"{r.model} on {r.task}, " if len(pairs) > 1 else "")
                     + f"ratio {rl(r.ratio)} ({pages.ci(r.d_norm, r.d_norm_low, r.d_norm_high)})"
                     for r in mine.itertuples() if r.verdict == verdict]
            if items:
                parts.append(f"{word} at {pages.listing(items)}")
        on = f" on {pairs[0][0]} on {pairs[0][1]}" if len(pairs) == 1 else ""
        ch4_sentence = (f"`{ch4_method}`, the method chapter 4 tests faithfulness with,{on} "
                        f"{pages.listing(parts)} (normalised comprehensiveness minus random, "
                        "paired 95% intervals).")
    else:
        ch4_sentence = (f"`{ch4_method}`, the method chapter 4 tests faithfulness with, is not "
                        "among this chapter's methods in this run: whether it beats random is "
                        "not measured here (add it to `methods`).")
    display(Markdown("**In this run.** " + " ".join(sentences_random) + f"\n\n{ch4_sentence}"))
    pages.record_finding(CHAPTER, "beats-random", " ".join([*sentences_random, ch4_sentence]),
                         "tab-2-4")
glue("ch2-ch4-verdict", Markdown(ch4_sentence or "No method besides the control ran."),
     display=False)

# %% [markdown]
# ## 2.5 Does pruning change faithfulness?
#
# {ref}`Table 2.6 <tab-2-6>` gives, for each method, the change from the full to the pruned
# model on the same examples of its normalised comprehensiveness (undefined = 0): the change
# chapter 4 tests. {ref}`Table 2.7 <tab-2-7>` gives the change of the same score over the random
# control, and of the raw comprehensiveness; {ref}`Table 2.8 <tab-2-8>` what pruning did to the
# model on these examples, whatever the method: the change of the lift $d$ and the share of
# predictions that flipped. If the raw score falls while the normalised one holds, and $d$ fell,
# the raw score fell because the model became less sure of the label, not because its
# attributions got worse.
#
# (tab-2-6)=
# **Table 2.6** Change pruned − full of each method's normalised AOPC comprehensiveness on the
# same examples, with its paired 95% bootstrap interval: *more faithful* when the interval lies
# above 0, *less faithful* when below, otherwise *undetermined*.

# %% tags=["hide-input"]
changes = ordered(readouts_faithfulness.faithfulness_changes(run, grid, run_methods, **boot))
if changes.empty:
    display(Markdown("*No pruned configuration with an attribution method in this run.*"))
else:
    changes["verdict"] = [pages.direction(lo, hi, up="more faithful", down="less faithful")
                          for lo, hi in zip(changes.d_faith_low, changes.d_faith_high,
                                            strict=True)]
    show(changes, lambda f: {"Δ normalised comp. [95%]": cis(f, "d_faith"),
                             "verdict": f.verdict})

# %% [markdown]
# (tab-2-7)=
# **Table 2.7** Changes pruned − full on the same examples of the normalised comprehensiveness
# over the random control, and of the raw AOPC comprehensiveness, with paired 95% bootstrap
# intervals.

# %% tags=["hide-input"]
if not changes.empty:
    show(changes, lambda f: {"Δ over random [95%]": cis(f, "d_vs_random"),
                             "Δ raw comp. [95%]": cis(f, "d_comp")})

# %% [markdown]
# (tab-2-8)=
# **Table 2.8** Per pruned configuration, on the faithfulness examples: the paired change of the
# lift $d$ against the full model (each model's own predicted label), and the share of examples
# whose predicted label differs from the full model's, with 95% bootstrap intervals.

# %% tags=["hide-input"]
pruned_lift = lift[lift.ratio > 0]
if len(pruned_lift):
    show(pruned_lift, lambda f: {
        "Δ d vs full [95%]": cis(f, "d_lift"),
        "flipped [95%]": [pages.percent_text(e, lo, hi) for e, lo, hi in
                          zip(f.flipped, f.flipped_low, f.flipped_high, strict=True)]},
         levels=("ratio",))
else:
    display(Markdown("*No pruned configuration in this run.*"))

# %% tags=["hide-input"]
sentence_change = sentence_lift = ""
if not changes.empty:
    verdicts = list(changes.verdict)
    noun, n_pairs = "pruned (configuration, method) pair", len(verdicts)
    tally = [(said, verdicts.count(w)) for w, said in (
        ("more faithful", "rose"), ("less faithful", "fell"), ("undetermined", "was undetermined"))
        if verdicts.count(w)]
    if len(tally) == 1:
        tally_text = f"{tally[0][0]} in {k_of(tally[0][1], n_pairs, noun)}"
    else:
        tally_text = (pages.listing([f"{said} in {k}" for said, k in tally])
                      + f" of the {pages.count(n_pairs, noun)}")
    finite = changes[np.isfinite(changes.d_faith)]
    biggest = finite.loc[finite.d_faith.abs().idxmax()] if len(finite) > 1 else None
    sentence_change = (
        f"Under pruning, a method's normalised comprehensiveness {tally_text} (paired 95% "
        f"intervals over {pages.count(n_faithfulness, 'example')}; a change counts when its "
        "interval excludes 0)"
        + (f"; the largest change was "
           f"{pages.ci(biggest.d_faith, biggest.d_faith_low, biggest.d_faith_high)} "
           f"(`{biggest.method}`, {biggest.model} on {biggest.task}, ratio {rl(biggest.ratio)})."
           if biggest is not None else "."))
    fell = pruned_lift[pruned_lift.d_lift_high < 0]
    rose = pruned_lift[pruned_lift.d_lift_low > 0]
    n_cfg, noun = len(pruned_lift), "pruned configuration"
    if len(fell):
        names = pages.listing([f"{r.model} on {r.task} at ratio {rl(r.ratio)}"
                               for r in fell.itertuples()])
        sentence_lift = (f"The lift $d$ clearly fell (95% interval below 0) in "
                         f"{k_of(len(fell), n_cfg, noun)} ({names}): there the pruned model is "
                         "less sure of the label on the full text, which lowers the raw scores "
                         "by itself.")
    else:
        where_ = f"the one {noun}" if n_cfg == 1 else f"any of the {n_cfg} {noun}s"
        sentence_lift = (f"The lift $d$ did not clearly fall (95% interval below 0) in {where_}"
                         + (f"; it rose in {k_of(len(rose), n_cfg, noun)}" if len(rose) else "")
                         + ": a loss of confidence is not shown to explain a change of the raw "
                         "scores here.")
    display(Markdown(f"**In this run.** {sentence_change} {sentence_lift}"))
    pages.record_finding(CHAPTER, "faithfulness-change", sentence_change, "tab-2-6")

# %% [markdown]
# ## 2.6 Do explanations drift?
#
# For each method we compare the attribution of the full model with that of each pruned model on
# the same examples and for the same label, the full model's prediction: where the pruned model
# predicts another label, its attribution is recomputed for the full model's label. The agreement
# is the Spearman correlation of the token scores and the overlap of their top 20% tokens
# (1 = unchanged); the share of flipped predictions ({ref}`Table 2.8 <tab-2-8>`) stands beside
# them. The random control is left out: it is seeded by the example, so its two attributions are
# identical.
#
# (fig-2-3)=
# **Figure 2.3** Agreement of the pruned model's attributions with the full model's, and the
# share of flipped predictions, on the first model and task, with 95% bootstrap intervals over
# examples.

# %% tags=["hide-input"]
drift = ordered(readouts_faithfulness.drift_table(run, grid, run_methods, **boot))
pruned_ratios = [r for r in ratios_run if r > 0]
if drift.empty:
    display(Markdown("*No pruned configuration with an attribution method in this run.*"))
else:
    g = drift[(drift.model == pairs[0][0]) & (drift.task == pairs[0][1])]
    flips = pruned_lift[(pruned_lift.model == pairs[0][0]) & (pruned_lift.task == pairs[0][1])]
    frames = {
        "Spearman ρ with the full model": pd.DataFrame(
            {"method": g.method, "ratio": g.ratio, "value": g.spearman, "low": g.spearman_low,
             "high": g.spearman_high}),
        "top-20% overlap": pd.DataFrame(
            {"method": g.method, "ratio": g.ratio, "value": g.top_k_overlap,
             "low": g.top_k_overlap_low, "high": g.top_k_overlap_high}),
        "share of flipped predictions": pd.DataFrame(
            {"method": "every method", "ratio": flips.ratio, "value": flips.flipped,
             "low": flips.flipped_low, "high": flips.flipped_high}),
    }
    fig, axes = plt.subplots(3, 1, figsize=(7.5, 8.4), sharex=True)
    for ax, (name, frame) in zip(axes, frames.items(), strict=True):
        plots.interval_lines(ax, frame, pruned_ratios, hue="method", dodge=DODGE)
        ax.set_ylabel(name, fontsize=11)
        ax.legend(fontsize=9)
        bottom = min(-0.05, float(np.nanmin(frame.low.to_numpy(dtype=float), initial=0)) - 0.05)
        ax.set_ylim(bottom if name.startswith("Spearman") else -0.05, 1.05)
        ax.set_xlabel("")
    axes[-1].set_xlim(min(pruned_ratios) - 0.05, max(pruned_ratios) + 0.05)
    axes[-1].set_xlabel("share of attention sub-layers dropped")
    plt.show()

# %% [markdown]
# (tab-2-9)=
# **Table 2.9** Agreement between the full and the pruned model's attributions of the same label,
# with 95% bootstrap intervals over examples (Spearman's ρ over the examples where it is defined;
# it is not for a constant attribution).

# %% tags=["hide-input"]
sentences_drift = []
if not drift.empty:
    show(drift, lambda f: {"Spearman ρ [95%]": cis(f, "spearman"),
                           "top-20% overlap [95%]": cis(f, "top_k_overlap", signed=False)})
    undefined_rho = drift[drift.n_spearman < drift.n]
    if len(undefined_rho):
        display(Markdown("Spearman's ρ was undefined (a constant attribution) on " + pages.listing(
            [f"{r.n - r.n_spearman} of the {r.n} examples of `{r.method}` at ratio {rl(r.ratio)}"
             + (f" ({r.model} on {r.task})" if len(pairs) > 1 else "")
             for r in undefined_rho.itertuples()]) + "."))
    for m_, t_ in pairs:
        at = drift[(drift.model == m_) & (drift.task == t_) & (drift.ratio == worst)]
        flip = lift[(lift.model == m_) & (lift.task == t_) & (lift.ratio == worst)].iloc[0]
        rho = at[np.isfinite(at.spearman)].sort_values("spearman")
        if len(rho) == 0:
            span = "Spearman's ρ was undefined for every method"
        elif len(rho) == 1:
            r = rho.iloc[0]
            span = (f"Spearman's ρ between the two models' attributions of the same label was "
                    f"{pages.ci(r.spearman, r.spearman_low, r.spearman_high)} (`{r.method}`)")
        else:
            lo_, hi_ = rho.iloc[0], rho.iloc[-1]
            span = (f"Spearman's ρ between the two models' attributions of the same label ranged "
                    f"from {pages.ci(lo_.spearman, lo_.spearman_low, lo_.spearman_high)} "
                    f"(`{lo_.method}`) to "
                    f"{pages.ci(hi_.spearman, hi_.spearman_low, hi_.spearman_high)} "
                    f"(`{hi_.method}`)")
        sentences_drift.append(
            f"With {rl(worst)} of the attention sub-layers of {m_} dropped (`{criterion}`), on "
            f"{t_}, {span}; the prediction flipped on "
            f"{pages.percent_text(flip.flipped, flip.flipped_low, flip.flipped_high)} of the "
            f"{pages.count(n_faithfulness, 'example')} (95% bootstrap intervals).")
    display(Markdown("**In this run.** " + " ".join(sentences_drift)))
    pages.record_finding(CHAPTER, "drift", " ".join(sentences_drift), "tab-2-9")

# %% [markdown]
# ## Summary
#
# What this chapter's figures and tables support in general:
#
# - Faithfulness is a property of a method *and* a model, and it has to be measured against a
#   control: a method only counts as faithful where it beats a random attribution on the same
#   examples.
# - The raw scores fall when a pruned model merely becomes less confident; the normalised scores
#   and the lift $d$ beside them separate that from attributions that got worse. Scores that
#   cannot be normalised count as 0 by a rule fixed in advance, never dropped after the fact.
# - An explanation computed on the full model should not be reused for a pruned one without a
#   check: where the agreement of the two models' attributions is clearly below 1, recompute and
#   re-evaluate it.
#
# What this run found, by the rule "a difference counts when its 95% interval excludes 0":

# %% tags=["hide-input"]
summary = [f"- Undefined normalised scores ({{ref}}`Table 2.3 <tab-2-3>`): {sentence_zero}"]
if sentences_random:
    summary.append("- Against the random control ({ref}`Table 2.4 <tab-2-4>`): "
                   + " ".join([*sentences_random, ch4_sentence]))
if sentence_change:
    summary.append(f"- Pruning ({{ref}}`Table 2.6 <tab-2-6>`): {sentence_change} {sentence_lift}")
if sentences_drift:
    summary.append("- Drift ({ref}`Table 2.9 <tab-2-9>`): " + " ".join(sentences_drift))
display(Markdown("\n".join(summary)))

# %% tags=["remove-cell"]
# values the exercise solutions quote
focus = ch4_method if ch4_method in explained else (explained[0] if explained else CONTROL)
full0 = next(c for c in grid if (c.model, c.task, c.ratio) == (*pairs[0], 0.0))
glue("ch2-igsteps", str(ig_steps), display=False)
glue("ch2-focus", focus, display=False)
glue("ch2-nfaith", str(n_faithfulness), display=False)
if "integrated_gradients" in explained:
    err = run.faithfulness(full0, "integrated_gradients")["examples"].get("completeness_error")
    err = np.abs(np.asarray(err, dtype=float)) if err is not None else np.array([np.nan])
    row = vs_random[(vs_random.method == "integrated_gradients") & (vs_random.ratio == 0)].iloc[0]
    glue("ch2-ig-now", f"in this run, on the unpruned {pairs[0][0]}, the mean absolute "
         f"completeness error of integrated gradients was {np.nanmean(err):.4f} (log-probability "
         f"units) and its normalised comprehensiveness over random "
         f"{pages.ci(row.d_norm, row.d_norm_low, row.d_norm_high)}", display=False)
else:
    glue("ch2-ig-now", "this run has no integrated gradients to compare with (its methods "
         "lack it)", display=False)

per_fraction = []
for m in dict.fromkeys([focus, CONTROL]):
    comp = readouts.stored_faithfulness(run.faithfulness(full0, m)).comprehensiveness
    per_fraction.append(f"{m}: " + ", ".join(
        f"{100 * f:g}%: {comp[:, j].mean():.3f}" for j, f in enumerate(fractions)))
glue("ch2-fractions", "; ".join(per_fraction), display=False)

ref = vs_random[(vs_random.method == focus) & (vs_random.ratio == 0)] if len(vs_random) else []
glue("ch2-half", f"{(ref.d_norm_high.iloc[0] - ref.d_norm_low.iloc[0]) / 2:.3f}"
     if len(ref) and np.isfinite(ref.d_norm_low.iloc[0]) else "not defined in this run",
     display=False)
glue("ch2-n-undetermined", str(int((vs_random.verdict == "undetermined").sum()))
     if len(vs_random) else "0", display=False)

at_worst = drift[(drift.ratio == worst) & (drift.model == pairs[0][0]) & (drift.task == pairs[0][1])
                 & (drift.method == focus)] if len(drift) else []
flip0 = lift[(lift.ratio == worst) & (lift.model == pairs[0][0]) & (lift.task == pairs[0][1])]
glue("ch2-criterion", criterion, display=False)
glue("ch2-worst", rl(worst), display=False)
glue("ch2-rho", pages.ci(*at_worst[["spearman", "spearman_low", "spearman_high"]].iloc[0])
     if len(at_worst) else "not measured (no pruned ratio or method in this run)", display=False)
glue("ch2-flip", pages.percent_text(*flip0[["flipped", "flipped_low", "flipped_high"]].iloc[0])
     if worst > 0 else "not measured (no pruned ratio in this run)", display=False)

# %% [markdown]
# ## Exercises
#
# Each exercise runs on the smoke profile: copy `params/smoke.yml` to a profile of your own, put
# the change under `chapters: 02_faithfulness:` and run
# `make chapter NB=02_faithfulness PROFILE=params/mine.yml`. The smoke profile's three examples
# are far too few to decide anything: use it to see *which* columns move, then run the default
# profile for an answer. The run times below are for a two-core laptop with an empty store.
#
# :::{exercise} Which method should chapter 4 use?
# :label: ch2-ex-method
#
# Chapter 4 decides the paper's faithfulness claims with one method, the first of its `methods`.
# Is that method faithful at all on this run's model? Add `lrp` and `occlusion` to `methods`
# (about five minutes on the smoke profile) and compare them in {ref}`Table 2.4 <tab-2-4>`.
# :::
#
# :::{solution} ch2-ex-method
# :class: dropdown
#
# **What to change:** `methods: [input_x_gradient, lrp, occlusion, random]`. **What to look
# at:** the *beats random* column of {ref}`Table 2.4 <tab-2-4>` at ratio 0 and at the pruned
# ratios. In this run, {glue:md}`ch2-ch4-verdict` A faithfulness verdict measured with a method
# that is not shown to beat random may be a verdict about noise: for chapter 4, prefer a method
# that beats random on the full *and* the pruned models.
# :::
#
# :::{exercise} More integration steps
# :label: ch2-ex-ig
#
# Add `integrated_gradients` to `methods` and raise `ig_steps` from
# {glue:text}`ch2-igsteps` to four times that (about five minutes on the smoke profile). How much
# of the faithfulness of integrated gradients in {ref}`Table 2.4 <tab-2-4>` depends on the
# accuracy of the integral?
# :::
#
# :::{solution} ch2-ex-ig
# :class: dropdown
#
# **What to change:** `methods: [input_x_gradient, integrated_gradients, random]` and `ig_steps`.
# **What to look at:** the completeness error, how far the attributions' sum misses the change
# of the model's output between the input and the zero baseline, and the method's row in
# {ref}`Table 2.4 <tab-2-4>`: {glue:text}`ch2-ig-now`. If the normalised comprehensiveness over
# random moves by less than its interval's half-width, the method's faithfulness did not hinge
# on the integration. The attribution time grows about in proportion to the steps.
# :::
#
# :::{exercise} Larger deletions
# :label: ch2-ex-fractions
#
# Set `fractions: [0.1, 0.2, 0.3]` (about three minutes on the smoke profile). Do the raw scores
# of {ref}`Table 2.1 <tab-2-1>` and the differences to random of {ref}`Table 2.5 <tab-2-5>` move
# the same way?
# :::
#
# :::{solution} ch2-ex-fractions
# :class: dropdown
#
# **What to change:** `fractions` under `chapters: 02_faithfulness:`. **What to look at:** the
# mean comprehensiveness at each fraction, which on the unpruned model of this run was
# {glue:text}`ch2-fractions`. AOPC averages over the fractions, so deleting larger shares raises
# the raw comprehensiveness of every method, the random control included: deleting more tokens
# changes any prediction more. Compare the *differences to random* instead: a method's lead over
# random grows only if its top tokens keep mattering more than random ones at larger fractions.
# :::
#
# :::{exercise} More examples
# :label: ch2-ex-n
#
# Raise `n_faithfulness` from {glue:text}`ch2-nfaith` to four times that (on the smoke profile
# about four times the chapter's three minutes, since every method is computed on every example
# at every ratio). Which "undetermined" verdicts of {ref}`Table 2.4 <tab-2-4>` and
# {ref}`Table 2.6 <tab-2-6>` become decided?
# :::
#
# :::{solution} ch2-ex-n
# :class: dropdown
#
# **What to change:** `n_faithfulness` under `chapters: 02_faithfulness:`. **What to look at:**
# the half-width of the interval of {glue:text}`ch2-focus` against random on the unpruned model,
# {glue:text}`ch2-half` in this run, which falls about as $1/\sqrt{n}$ (by about half with four
# times the examples). This run had {glue:text}`ch2-n-undetermined` undetermined verdicts in
# {ref}`Table 2.4 <tab-2-4>`; one whose estimate lies farther from 0 than the new half-width is
# decided, one whose estimate stays near 0 says that the difference, if any, is small.
# :::
#
# :::{exercise} Another pruning criterion
# :label: ch2-ex-criterion
#
# Put another criterion first in `criteria` (this chapter follows the first, in this run
# {glue:text}`ch2-criterion`); about three minutes on the smoke profile. Which criterion
# preserves the explanations better?
# :::
#
# :::{solution} ch2-ex-criterion
# :class: dropdown
#
# **What to change:** e.g. `criteria: [last, similarity]` under `chapters: 02_faithfulness:`.
# **What to look at:** {ref}`Table 2.9 <tab-2-9>` and the *flipped* column of
# {ref}`Table 2.8 <tab-2-8>` at the largest ratio. In this run, at ratio
# {glue:text}`ch2-worst`, Spearman's ρ of {glue:text}`ch2-focus` with the full model was
# {glue:text}`ch2-rho` and the prediction flipped on {glue:text}`ch2-flip` of the examples. A
# criterion preserves the explanations better where ρ is higher and fewer predictions flip, with
# intervals that do not overlap those of the other criterion.
# :::

# %% tags=["remove-input"]
pages.build_log()
