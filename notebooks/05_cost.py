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
# # 5. Appendix: Cost
#
# **What this chapter shows.** Why prune attention at all? To save time and memory. This appendix
# times a forward pass of a full and a pruned model in front of you, then reads one recorded run
# of the book's benchmark (`make bench`): what dropping attention sub-layers saved on the offline
# models against what a FLOP count predicts, what the batched attribution and faithfulness
# pipeline saves over a one-example-at-a-time baseline, and what the larger profiles would cost
# on rented GPUs. It is an appendix because it is about the book's machinery, not about the
# paper's question.
#
# **Learning objectives.** After this chapter you can
# - time a forward pass of a full and a pruned model and set the speed-up beside the one the FLOP
#   count predicts;
# - say why a measured speed-up falls short of the prediction or exceeds it (fixed costs, memory
#   traffic, timing noise), and when a run cannot tell;
# - explain where the batched attribution pipeline saves time, and what bounds that saving;
# - read `make plan`: the GPU-hours and the GPU memory a profile needs, and where each number
#   comes from.
#
# **Prerequisites.** Chapter 1 (what dropping an attention sub-layer means). A forward pass over
# $n$ tokens costs about $2n$ FLOPs (floating-point operations) per weight of the linear layers,
# plus the attention scores, whose cost grows with the square of the sequence length; a
# backward pass costs about twice a forward.
#
# **Time.** Reading: about 15 minutes. Re-running the chapter takes under a minute on any
# profile, for instance `make chapter NB=05_cost PROFILE=params/smoke.yml` (plus 15 to 80 seconds
# the first time its model is converted): it times one small forward and reads the benchmark's
# recorded results. The benchmark itself is not re-run; the run shown here took
# {glue:md}`cost-bench-wall`.
#
# **What is ours, not the paper's.** Everything on this page. The paper's abstract motivates
# pruning by cost but reports no measurement; the benchmark, the FLOP model, the performance
# targets of Table C.1, the 10% band we call "close to the prediction", and the GPU predictions
# are ours.

# %% tags=["parameters"]
profile = "params/default.yml"  # the profile of parameters this chapter runs with (params/*.yml)
overrides = {}  # values that replace the profile's, e.g. {"models": ["gemma3-270m"]}

# %% tags=["hide-input"]
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display
from matplotlib.lines import Line2D
from myst_nb import glue

from bench import report
from helpers import pages, plan
from helpers.criteria import n_to_drop
from helpers.models import OFFLINE_MODELS
from helpers.profiles import load_profile
from helpers.tasks import get_task
from helpers.workload import open_chapter

pages.setup()
CHAPTER = "05_cost"
run = open_chapter(CHAPTER, profile, overrides)
p = run.params
models, bench_results = p["models"], p["bench_results"]
CLOSE = 0.10  # a measured speed-up within 10% of the FLOP prediction counts as close (our band)

# the latest local run if there is one, else the snapshot committed with the book
path = next((f for f in (Path(bench_results), Path("bench/latest.json")) if f.exists()), None)
results = report.load(path) if path is not None else None
meta = (results or {}).get("meta") or {}
env = meta.get("environment") or (results or {}).get("environment") or {}
source = report.portable_path(path) if path is not None else None
display(pages.parameter_table(
    {"models": models[:1], "bench_results": report.portable_path(bench_results)},
    {"models": "the model section 5.1 times (the first of the profile's)",
     "bench_results": "the benchmark results shown when present, else bench/latest.json"}))

# %% [markdown]
# ## 5.1 The idea in a few lines
#
# Dropping a third of the attention sub-layers removes their projections and attention scores
# from every forward pass; the MLP halves and the embeddings stay. The cell below times a forward
# pass of the profile's first model over a batch of 4 sequences of 64 random tokens, full and
# with the deepest third of its attention sub-layers dropped (the `last` criterion), and sets
# the speed-up beside the one the FLOP count of `helpers.models` predicts. Three untimed forwards
# come first: the first forwards after loading read the weights in and are much slower. It
# takes a few seconds.

# %%
from helpers.criteria import select_layers
from helpers.models import load_model, model_shape
from helpers.pruning import attention_dropped, n_layers

model, tokenizer = load_model(models[0])
batch, length = 4, 64
ids = torch.randint(10, model.config.vocab_size - 10, (batch, length),
                    generator=torch.Generator().manual_seed(0))
ids = ids.to(model.device)
dropped = select_layers(n_layers(model), 1 / 3, "last")


def forward_seconds() -> float:
    """Wall time of one forward over the batch (last logits only)."""
    cuda = model.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.inference_mode():
        model(input_ids=ids, logits_to_keep=1)
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start


for _ in range(3):  # warm-up: the first forwards page the weights in
    forward_seconds()
full, pruned = [], []
for _ in range(5):  # alternate, so that other work hits both alike
    full.append(forward_seconds())
    with attention_dropped(model, dropped):
        pruned.append(forward_seconds())
full_s, pruned_s = float(np.median(full)), float(np.median(pruned))

shape = model_shape(models[0])
tokens = batch * length
context = (length + 1) / 2  # a causal token sees itself and those before
predicted = (shape.forward_flops(tokens, context)
             / shape.forward_flops(tokens, context, dropped=len(dropped)))
print(f"{models[0]}, {batch} x {length} tokens, "
      f"{len(dropped)} of {n_layers(model)} attention sub-layers dropped")
print(f"full {1e3 * full_s:.0f} ms, pruned {1e3 * pruned_s:.0f} ms: "
      f"{full_s / pruned_s:.2f}x faster; FLOPs predict {predicted:.2f}x")

# %% tags=["hide-input"]
demo_ratio = (full_s / pruned_s) / predicted
demo_word = ("within 10% of" if abs(demo_ratio - 1) <= CLOSE else
             "more than 10% below" if demo_ratio < 1 else "more than 10% above")
glue("cost-demo", Markdown(f"{full_s / pruned_s:.2f}× against a predicted {predicted:.2f}× "
                           f"for {models[0]}"), display=False)
display(Markdown(
    f"Here the measured speed-up came out {demo_word} the prediction, from the medians of five "
    f"alternating runs; those of the full model spread over {1e3 * min(full):.0f}–"
    f"{1e3 * max(full):.0f} ms. Forwards this short are easily disturbed by other work on the "
    "machine, so run the cell again before reading much into one difference: the benchmark below "
    "times longer forwards and records the spread of its runs."))

# %% [markdown]
# ## 5.2 The benchmark run
#
# The rest of the page reads the benchmark's recorded results: the source, the command that
# produced them and the machine they were measured on are these.

# %% tags=["hide-input"]
if results is None:
    display(Markdown(f"*No benchmark results at `{report.portable_path(bench_results)}` or "
                     "`bench/latest.json` yet: run `make bench`, then rebuild the book.*"))
else:
    done = "finished" if meta.get("finished") else "interrupted (the sections shown completed)"
    machine = ", ".join(str(v) for v in (
        env.get("device_name"), env.get("device_type"),
        f"{env['cpu_count']} cores" if env.get("cpu_count") else None,
        f"{env['torch_threads']} torch threads" if env.get("torch_threads") else None,
        f"torch {env['torch']}" if env.get("torch") else None,
        f"transformers {env['transformers']}" if env.get("transformers") else None) if v)
    display(Markdown(
        f"**Source:** `{source}`, run {done} on {str(env.get('date', '?'))[:10]}. "
        f"**Command:** `{report.portable_command(meta.get('command'))}`. "
        f"**Measured on:** {machine}."))
wall = meta.get("wall_s")
glue("cost-bench-wall", Markdown(
    f"{wall / 60:.0f} minutes on {env.get('device_name', 'the machine named below')}"
    if wall else "an unrecorded time"), display=False)


def show(view: pd.DataFrame) -> None:
    """A benchmark table, or a note that its section did not run."""
    if view is None or view.empty:
        display(Markdown("*Not measured in this run.*"))
    else:
        display(pages.table(view))


# %% [markdown]
# (tab-cost-targets)=
# **Table C.1. Targets.** Each performance target we set ourselves, with the measured value: the
# batched attribution and faithfulness pipeline against the one-example-at-a-time Captum baseline
# (examples per second, ratio), and the measured prefill speed-up at 1/3 over the FLOP
# prediction.

# %% tags=["hide-input"]
targets = report.targets_table(results) if results else pd.DataFrame()
show(report.targets_view(results) if results else None)
if not targets.empty:
    missed = targets[~targets["met"].astype(bool)]
    display(Markdown(
        f"We asked the pipeline for at least {report.TARGET_ATTRIBUTION_SPEEDUP:g} times the "
        "baseline's examples per second with the same numbers, and every model's prefill "
        f"speed-up at 1/3 for at least {report.TARGET_PREFILL_SHARE:.0%} of the FLOP prediction. "
        f"In this run {len(targets) - len(missed)} of {len(targets)} targets were met"
        + ("; missed: " + pages.listing([f"{report.TARGET_NAMES.get(t, t)} for {report.METHOD_NAMES.get(who, who)}" for t, who in
                                          zip(missed["target"], missed["for"], strict=True)]) + "."
           if len(missed) else ".")))

# %% [markdown]
# (tab-cost-pruning)=
# **Table C.2a. Prefill: pruned against full models.** Per model and share of attention
# sub-layers dropped (the number of layers in brackets): the parameters left, the median time of
# one prefill forward, the speed-up over the full model (median, and between the fastest runs)
# and the speed-up the FLOP count predicts.

# %% tags=["hide-input"]
show(report.prefill_view(results) if results else None)
settings = meta.get("settings") or {}
shape_note = settings.get("pruning") or {}
if shape_note:
    display(Markdown(
        f"Each prefill is a batch of {shape_note.get('prefill_batch')} × "
        f"{shape_note.get('prefill_seq')} random tokens with the logits of the last position "
        f"only, timed {pages.count(shape_note.get('repeats', 0), 'time')} after "
        f"{pages.count(shape_note.get('warmup', 0), 'warm-up run')}; layers chosen by the "
        f"`{shape_note.get('criterion')}` criterion."))

# %% [markdown]
# (tab-cost-generation)=
# **Table C.2b. Generation: pruned against full models.** Per model and share dropped: greedy
# generation throughput, its speed-up over the full model, the FLOP prediction and their ratio.

# %% tags=["hide-input"]
show(report.generation_view(results) if results else None)

# %% [markdown]
# (fig-cost-speedup)=
# **Figure C.1.** Measured (solid) and FLOP-predicted (dashed) prefill speed-up against the share
# of attention sub-layers dropped.

# %% tags=["hide-input"]
if results is not None and not report.pruning_table(results).empty:
    fig, ax = plt.subplots()
    report.plot_speedup(results, ax=ax)
    ax.get_legend().remove()
    handles = [Line2D([], [], color=line.get_color(), label=line.get_label().split(" ")[0])
               for line in ax.lines[:-1:2]]  # one colour per model (the last line is y = 1)
    handles += [Line2D([], [], color="grey", marker="o", label="measured"),
                Line2D([], [], color="grey", marker="s", ls="--", label="FLOP prediction")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    ax.set_title(f"Prefill, {shape_note.get('prefill_batch')} × {shape_note.get('prefill_seq')} "
                 f"tokens, {env.get('device_name', 'unknown device')}")
    ax.set_ylabel("speed-up over the full model (×)")
    plt.show()

# %% [markdown]
# ## 5.3 Reading the numbers
#
# **What the prediction counts.** The predicted speed-up counts arithmetic only: the attention
# projections and attention scores of the dropped layers disappear, everything else stays. A
# measured speed-up close to the prediction means the implementation spends its time where the
# FLOPs are; one well below it means fixed costs (embedding, LM head, memory traffic, Python
# overhead) weigh more than their FLOPs; one above it is possible on a CPU, where attention's
# softmax, masking and key/value copies cost more time than their FLOPs suggest, and they go with
# the layer. Attention's share of the FLOPs grows with the sequence length, so the predicted
# saving grows with it too ({ref}`cost-ex-seq`).

# %% tags=["hide-input"]
pruning = report.pruning_table(results) if results else pd.DataFrame()
pruned_rows = pruning[pruning["ratio"] > 0] if not pruning.empty else pruning
rl = pages.ratio_label


def named(rows: pd.DataFrame) -> str:
    """'none', or '2: a at 1/2 (0.945× against 1.10×) and b at ...'."""
    if rows.empty:
        return "none"
    return f"{len(rows)}: " + pages.listing([
        f"{r.model} at {rl(r.ratio)} ({report.sig(r['prefill speedup'])}× against "
        f"{report.sig(r['predicted (FLOPs)'])}×)" for _, r in rows.iterrows()])


if not pruned_rows.empty:
    share = pruned_rows["measured / predicted"].astype(float)
    close = pruned_rows[(share - 1).abs() <= CLOSE]
    below = pruned_rows[share < 1 - CLOSE]
    above = pruned_rows[share > 1 + CLOSE]
    slower = pruned_rows[pruned_rows["prefill speedup"].astype(float) < 1]
    spread = report.timing_spread(results)
    saving = spread.loc[spread["ratio"] > 0, "predicted saving"]
    noisy = bool(spread["spread"].max() >= saving.max())
    display(Markdown(
        f"**Pruning, in this run.** Of {pages.count(len(pruned_rows), 'pruned configuration')} "
        f"(model × share dropped), the median prefill speed-up came within {CLOSE:.0%} of the FLOP "
        f"prediction in {len(close)}. It fell short by more than that in {named(below)}. It "
        f"exceeded it by more than that in {named(above)}. The pruned model was slower than the full one in "
        f"{named(slower)}. "
        f"The timed runs of one prefill spread over {100 * spread['spread'].min():.0f}–"
        f"{100 * spread['spread'].max():.0f}% of their median (slowest minus fastest), while the "
        f"FLOP count predicts savings of {100 * saving.min():.0f}–{100 * saving.max():.0f}%"
        + (": the noise of this machine is as large as the savings, so a single median can land "
           "on either side of the prediction, and the speed-up between the fastest runs, which "
           "other work on the machine disturbs least, is the steadier reading."
           if noisy else ", so the noise is smaller than the savings it measures.")))

# %% [markdown]
# (tab-cost-attribution)=
# **Table C.3a. Attribution and faithfulness: speed.** The batched pipeline against the
# one-example-at-a-time Captum baseline, per attribution method: examples (ex) per second, and
# the speed-up of the whole, of the attribution step and of the faithfulness metrics.

# %% tags=["hide-input"]
show(report.attribution_speed_view(results) if results else None)
attribution = (results or {}).get("attribution") or {}
row_tokens = attribution.get("tokens_per_row") or {}
if row_tokens:
    display(Markdown(
        f"Measured on {attribution.get('n_examples')} `{attribution.get('task')}` examples of "
        f"`{attribution.get('model')}`. Tokens per row: a shared prefix of {row_tokens['prefix']:.0f}, "
        f"an example body of {row_tokens['body_mean']:.1f} on average and an answer suffix of "
        f"{row_tokens['suffix']:.0f}; token ratio (baseline / pipeline, the bound below) "
        f"{row_tokens['ratio']:.2f}."))

# %% [markdown]
# (tab-cost-agreement)=
# **Table C.3b. Attribution and faithfulness: agreement.** How closely the pipeline's numbers
# match the baseline's: the largest relative difference of a token score, the mean Spearman
# correlation of the two rankings, the share of examples explained for the same label, and the
# largest differences of comprehensiveness and sufficiency.

# %% tags=["hide-input"]
show(report.agreement_view(results) if results else None)
methods = attribution.get("methods") or {}
if methods and row_tokens:
    bound = row_tokens["ratio"]
    parts = []
    for name, r in methods.items():
        sp = r.get("speedup_attribution")
        if sp is not None:
            label = report.METHOD_NAMES.get(name, name)
            parts.append(f"{label} {sp:.2f}× ({'below' if sp < bound else 'above'} it)")
    worst = max(((r.get("agreement") or {}).get("max_rel_diff") or 0) for r in methods.values())
    display(Markdown(
        "**Attribution, in this run.** The pipeline saves work in two places: the shared prompt "
        "prefix (the demonstrations) runs once and is reused from a key/value cache, and the "
        "perturbations of the faithfulness metrics are scored in batches instead of one forward "
        "each. The first saving has a ceiling: an attribution step still runs the example's own "
        "tokens and the answer through the model, forward and backward, as the baseline does, "
        "so at equal cost per token the attribution speed-up cannot exceed the token ratio, "
        f"{bound:.2f} here. The attribution speed-ups were {pages.listing(parts)}"
        + (". A speed-up above the bound means the pipeline spent less time per token than the "
           "baseline (it batches examples of similar length, and bigger matrix products run "
           "closer to the machine's peak)" if any(" (above it)" in x for x in parts) else "")
        + ". The largest "
        f"relative difference of a token score between the two was {worst:.1e}: the same "
        "numbers, up to floating-point rounding."))

# %% [markdown]
# (tab-cost-batch)=
# **Table C.4. Scoring throughput against the batch size** (`label_probs`): examples per second,
# speed-up over batch 1, and the largest difference of a label probability from batch 1's.

# %% tags=["hide-input"]
show(report.label_probs_view(results) if results else None)

# %% [markdown]
# (tab-cost-notebooks)=
# **Table C.5. Wall time of each chapter** in the book run the benchmark recorded (a run that
# computed every chapter's units first lists them on a line of their own).

# %% tags=["hide-input"]
show(report.notebooks_view(results) if results else None)
notebooks_run = (results or {}).get("notebooks") or {}
if notebooks_run.get("profile"):
    display(Markdown(f"The chapters ran with `{notebooks_run['profile']}` on the benchmark's "
                     "machine, with the models already converted."))

# %% [markdown]
# ## 5.4 Where the time goes
#
# `python -m bench.profile` runs one attribution method under `torch.profiler` and prints the
# operators that took the time, sorted by their own time. Read it this way: if `aten::mm` and
# `aten::addmm` (the linear layers) lead, the method is compute-bound and costs, per token, what
# the baseline costs; if scaled-dot-product attention or element-wise operations lead, the
# attention over the cached prefix or memory traffic dominates. What profiling led to, and what
# it ruled out, in the pipeline as it stands:
#
# - *Padding.* Examples are taken shortest first, and each forward is padded only to its own
#   longest body, so little compute goes to padding.
# - *Extra forwards.* Captum's convergence delta would run the model at the input and at the
#   baseline once more; the pipeline takes both from the forwards it already makes.
# - *Layers that pruned variants share.* Below its first dropped layer a pruned configuration
#   computes exactly what its full model computes. Where a model in the same process already
#   ran the same inputs (a configuration's test and calibration rows, the perturbed inputs that
#   coincide with its full model's, each greedy-KL candidate, each single-layer ablation of the
#   oracle), the pruned forward starts above the shared layers (`helpers.depth_reuse`); where
#   the batches are the same, its results are bit-identical to a forward from the first layer.
#   Scoring with the last quarter of the layers dropped then costs a fifth to a quarter of a
#   full forward.
# - *One forward fewer per example.* The faithfulness metrics take p(y|x) from the forward
#   that computed the attribution instead of scoring the full input again.
# - *Perturbed inputs start at their first deleted token.* An input with some tokens deleted
#   begins with the example's own tokens up to the first deleted one, whose keys and values the
#   attribution's forward already computed (every method that runs the full input keeps them,
#   `helpers.stems`). On `smollm2-135m`, `mr`, 100 examples, that removes 19% of the tokens the
#   faithfulness metrics run and 11% of their time (21.0 s to 18.7 s: the rows are shorter, so
#   the linear layers run a little less efficiently per token). Occlusion's leave-one-out rows
#   gain most: on 32 examples its attribution went from 44 s to 30 s.
# - *No second LRP pass for the full model's label.* Where a pruned model predicts the other
#   label, its faithfulness also explains the full model's label. With two labels LRP explains
#   a log-odds that only changes sign, through rules linear in what they explain, so those
#   scores are the negated ones (`attribution.other_label_scores`; a test checks them against
#   a second pass): one pass fewer for every example whose label drifted.
# - *Every chapter's units in one process, in an order that shares.* `make book` computes all
#   units before the chapters run (`helpers.grid.reuse_order`): each model is loaded once, and
#   the units that run the same rows follow one another, the full model first, so the shared
#   layers above are found whichever chapter asks for a configuration.
# - *Holding less.* The shared layers' states are kept within a 1 GiB budget and forgotten
#   between units that cannot share rows: on this CPU, 1.5-2 GB of held states slowed every
#   other computation of the process by 10-12%.
# - *Not a cost:* weight gradients (Captum differentiates with respect to the inputs only), so
#   freezing the parameters changes nothing.
# - *Not faster, on the CPU we tried:* larger forwards (the activations kept for the backward
#   outgrow the caches), the math attention backend instead of the fused kernel,
#   grouped-query attention inside the kernel instead of repeated key/value heads, and an
#   attention function that reads one copy of the cached prefix instead of a copy per row (it
#   removed the copies from the profile but saved under 5% on rows of real length, where the
#   linear layers dominate).
#
# ## 5.5 What the grids cost: measured throughput and predicted hours
#
# `make plan PROFILE=...` (`python -m helpers.book plan PROFILE`) counts the forward and
# backward passes and the tokens of every unit a profile's chapters ask for, from the profile
# alone (model shapes, the tasks' mean lengths; no model is loaded), and divides their FLOPs by
# the throughput of each unit kind measured by `python -m bench.throughput`
# (`bench/throughput.json`). A GPU without a measurement of its own is predicted from its
# datasheet bf16 peak times the share of peak measured here (an assumption until
# `bench.throughput` runs on that GPU), and at 30% of peak beside it. {doc}`../gpu` gives the
# same numbers for every model of every profile, and what to do when a model does not fit.
# The count runs every layer of every forward: for pruned configurations that start above the
# layers they share with their full model (5.4) it is an upper bound.
#
# (tab-cost-throughput)=
# **Table C.6. Throughput of each unit kind** on the machine that ran `bench.throughput`, and the
# share of its own measured matmul peak it reaches.

# %% tags=["hide-input"]
measured_rates = plan.load_throughput() if plan.THROUGHPUT_FILE.exists() else None
if measured_rates is None:
    display(Markdown("*No throughput measured yet: run `python -m bench.throughput`.*"))
else:
    tp = plan.throughput_frame(measured_rates)
    display(pages.table(pd.DataFrame({
        "achieved (GFLOP/s)": [report.sig(v) for v in tp["achieved GFLOP/s"]],
        "share of matmul peak (%)": [report.sig(100 * v, 2) for v in tp["share of peak"]],
    }, index=pd.MultiIndex.from_arrays([tp["device"], tp["kind"]], names=["device", "unit kind"]))))
    peaks = ", ".join(f"`{d}` ({v.get('name', d)}): {v['peak_gflops']:.0f} GFLOP/s"
                      for d, v in measured_rates["devices"].items())
    on = sorted({m.split(",")[0] for m in tp["measured on"]})
    display(Markdown(f"Matmul peak measured on {peaks}; every kind measured on "
                     f"{pages.listing(on)}. On a CPU the figures are per core, timed in CPU "
                     "seconds."))

# %% [markdown]
# (tab-cost-gpu-hours)=
# **Table C.7. Predicted cost of the larger profiles** on H100 GPUs (bf16): units, PFLOP,
# GPU-hours at the measured shares of peak and at 30% of peak, and the GPUs a 12-hour run needs
# at 30% of peak.

# %% tags=["hide-input"]
LARGE = ("params/paper.yml", "params/offline-full.yml")
if measured_rates is not None:
    hours = plan.gpu_hours(LARGE, measured=measured_rates)
    gpu = plan.PAGE_GPU
    display(pages.table(pd.DataFrame({
        "units": [f"{v:,}" for v in hours["units"]],
        "PFLOP": [report.sig(v, 2) for v in hours["PFLOP"]],
        "GPU-hours, measured shares": [report.sig(v, 2) for v in
                                       hours[f"{gpu} GPU-hours (measured shares)"]],
        "GPU-hours, 30% of peak": [report.sig(v, 2) for v in
                                   hours[f"{gpu} GPU-hours ({plan.CONSERVATIVE_SHARE:.0%} of peak)"]],
        f"GPUs for {plan.OVERNIGHT_H:g} h": hours[f"GPUs for a {plan.OVERNIGHT_H:g} h run"],
    }, index=pd.Index(hours.index, name="profile"))))
memory = []
for name in LARGE:
    summary = plan.model_summary(load_profile(name))
    big = summary["backward peak GB"].idxmax()
    memory.append(
        f"the largest model of `{name}`, {big}, needs {summary.loc[big, 'weights GB']:.1f} GB for "
        f"its bf16 weights, {summary.loc[big, 'forward peak GB']:.1f} GB at the peak of a "
        f"forward-only unit and {summary.loc[big, 'backward peak GB']:.1f} GB at the peak of a "
        f"unit with a backward pass (faithfulness), all at {plan.MEMORY_BATCH} × "
        f"{plan.MEMORY_TOKENS} tokens")
display(Markdown(
    "**Memory.** By `make plan`'s estimate, " + "; ".join(memory) + ". The weights decide "
    "whether a model loads at all; the peak with a backward pass decides whether every unit of "
    "the profile runs at that batch. {doc}`../gpu` lists every model, which GPU each kind of "
    "unit needs, and the largest batch that fits a smaller GPU."))

# %% [markdown]
# ## Summary

# %% tags=["hide-input"]
summary = []
if not pruned_rows.empty:
    if len(close) == len(pruned_rows):
        summary.append(
            "In this run, dropping attention sub-layers saved prefill time in proportion to the "
            f"attention FLOPs it removes: every pruned configuration came within {CLOSE:.0%} of "
            "the FLOP prediction.")
    else:
        summary.append(
            f"In this run, {len(close)} of {pages.count(len(pruned_rows), 'pruned configuration')} "
            f"came within {CLOSE:.0%} of the FLOP prediction "
            f"({len(below)} fell short, {len(above)} exceeded it), with timing noise of "
            f"{100 * spread['spread'].min():.0f}–{100 * spread['spread'].max():.0f}% between "
            "repeated runs: this run does not show that pruning saves time in proportion to the "
            "attention FLOPs it removes. A quieter machine, more repeats or longer sequences "
            "(where attention's share of the FLOPs, and the saving, is larger) can.")
if methods:
    speedups = {report.METHOD_NAMES.get(n, n): r.get("speedup") for n, r in methods.items()
                if r.get("speedup") is not None}
    if speedups:
        summary.append(
            "The batched attribution and faithfulness pipeline processed "
            + pages.listing([f"{v:.1f} times as many examples per second as the baseline with "
                             f"{n}" if i == 0 else f"{v:.1f} times as many with {n}"
                             for i, (n, v) in enumerate(speedups.items())])
            + ", with the same numbers; its saving comes from "
            "never recomputing the shared prefix and from batching the perturbations, and for "
            "many-step methods such as integrated gradients the model's own forward and backward "
            "passes on each example's tokens remain.")
summary.append(
    "What a larger grid would cost, in GPU-hours and in GPU memory, is predicted from the "
    "profile alone by `make plan`, before any GPU is rented.")
display(Markdown(" ".join(summary)))

# %% [markdown]
# ## Exercises
#
# The solutions quote the benchmark run shown above and say what to look at in yours.

# %% tags=["hide-input"]
# What the solutions quote: predictions from the FLOP breakdown, run times, shares of time.
seq = shape_note.get("prefill_seq") or 512
LONG = 4096


def predicted_speedup(model: str, ratio: float, scale: float) -> float:
    """FLOP-predicted prefill speed-up with every prompt `scale` times longer.

    Per row, projections and MLP grow with the tokens, attention scores with their square, and
    the LM head stays (one logit per row): the benchmark's FLOP breakdown rescales exactly.
    """
    rows = results["pruning"]["models"][model].get("rows", [])

    def flops(r: dict) -> float:
        b = r["flops"]["prefill_breakdown"]
        return (scale * (b["attention_projections"] + b["mlp"])
                + scale**2 * b["attention_scores"] + b["lm_head"])

    full = next(r for r in rows if r["ratio"] == 0)
    pruned = next(r for r in rows if abs(r["ratio"] - ratio) < 1e-6)
    return flops(full) / flops(pruned)


def listing(values: dict) -> str:
    """'a 1.10×, b 1.20×' for the solutions."""
    return ", ".join(f"{k} {v:.2f}×" for k, v in values.items())


def minutes(seconds: float) -> str:
    """'about 12 minutes' (or 'under a minute')."""
    return "under a minute" if seconds < 60 else f"about {seconds / 60:.0f} minutes"


third = pruning[(pruning["ratio"] - 1 / 3).abs() < 1e-6] if not pruning.empty else pruning
with_flops = [m for m in third.get("model", [])
              if all("flops" in r for r in results["pruning"]["models"][m].get("rows", []))]
if with_flops:
    glue("cost-pred-short", Markdown(listing({m: predicted_speedup(m, 1 / 3, 1)
                                              for m in with_flops})), display=False)
    glue("cost-pred-long", Markdown(listing({m: predicted_speedup(m, 1 / 3, LONG / seq)
                                             for m in with_flops})), display=False)
    glue("cost-measured-share", Markdown(", ".join(
        f"{m} {v:.2f}" for m, v in zip(third["model"], third["measured / predicted"], strict=True))),
        display=False)
else:
    for key in ("cost-pred-short", "cost-pred-long", "cost-measured-share"):
        glue(key, Markdown("*(not measured in this run)*"), display=False)
glue("cost-seq", Markdown(f"{seq:,}"), display=False)

# run times of the exercises' commands, from the recorded run
first = (results or {}).get("pruning", {}).get("models", {}).get("smollm2-135m") or {}
section_s = sum(sum(r[k].get("times_s") or []) + r[k].get("median_s", 0) * shape_note.get("warmup", 1)
                for r in first.get("rows", []) for k in ("prefill", "generation"))
section_s += first.get("importance_seconds") or 0
glue("cost-time-pruning", Markdown(minutes(section_s) if first else "*(not measured)*"),
     display=False)
attr_s = sum((r.get("pipeline") or {}).get("total_s", 0) + (r.get("baseline") or {}).get("total_s", 0)
             for r in methods.values())
glue("cost-time-attribution", Markdown(minutes(attr_s) if methods else "*(not measured)*"),
     display=False)
ixg = (methods.get("input_x_gradient") or {}).get("pipeline") or {}
if ixg.get("attribution_s") and attribution.get("n_examples"):
    per_example = ixg["attribution_s"] / attribution["n_examples"]
    glue("cost-time-profile", Markdown(minutes(3 * 8 * per_example)), display=False)
else:
    glue("cost-time-profile", Markdown("*(not measured)*"), display=False)

if row_tokens:
    shots = attribution.get("shots") or 1  # None: the prompt's default, one per label
    n_labels = len(get_task(attribution.get("task", "mr")).labels)
    body = row_tokens["body_mean"] + row_tokens["suffix"]  # a demonstration is an example and its answer
    longer_prefix = row_tokens["prefix"] + (4 - shots) * n_labels * body
    glue("cost-bound", Markdown(f"{row_tokens['ratio']:.1f}"), display=False)
    glue("cost-bound-4", Markdown(f"{(longer_prefix + body) / body:.0f}"), display=False)
    glue("cost-prefix", Markdown(f"{row_tokens['prefix']:.0f} tokens at {shots} per label"),
         display=False)
else:
    for key in ("cost-bound", "cost-bound-4", "cost-prefix"):
        glue(key, Markdown("*(not measured)*"), display=False)

share = {m: r["pipeline"]["attribution_s"] / r["pipeline"]["total_s"]
         for m, r in methods.items() if (r.get("pipeline") or {}).get("total_s")}
for key, method in (("cost-ixg-share", "input_x_gradient"), ("cost-ig-share", "integrated_gradients")):
    glue(key, Markdown(f"{100 * share[method]:.0f}%" if method in share else "*(not measured)*"),
         display=False)

def demo_prediction(name: str) -> float:
    """Section 5.1's FLOP-predicted speed-up for another model (its shape, no weights)."""
    s = model_shape(name)
    k = n_to_drop(s.layers, 1 / 3)
    return s.forward_flops(batch * length, context) / s.forward_flops(batch * length, context,
                                                                     dropped=k)


glue("cost-demo-predictions", Markdown(listing({m: demo_prediction(m) for m in OFFLINE_MODELS})),
     display=False)

gemma = "google/gemma-2-9b-it"
glue("cost-l40s-batch", Markdown(
    f"{plan.largest_batch(gemma, plan.GPU_MEMORY_GB['L40S'])} (and "
    f"{plan.largest_batch(gemma, plan.GPU_MEMORY_GB['L4'])} on a "
    f"{plan.GPU_MEMORY_GB['L4']} GB L4)"), display=False)

if not third.empty:
    measured = third["prefill speedup"].astype(float)
    predicted_third = third["predicted (FLOPs)"].astype(float)
    device = env.get("device_name") or env.get("device_type") or "this machine"
    pages.record_finding(
        CHAPTER, "prefill-speedup",
        f"In the benchmark run shown in the Cost appendix (`{source}`), dropping a third of the "
        f"attention sub-layers made prefill {measured.min():.2f}× to {measured.max():.2f}× as "
        f"fast on {device}, where the FLOP count predicts {predicted_third.min():.2f}× to "
        f"{predicted_third.max():.2f}×.",
        "tab-cost-pruning")

# %% [markdown]
# :::{exercise} Time another model
# :label: cost-ex-model
#
# Re-run this chapter with another model, `make chapter NB=05_cost MODEL=gemma3-270m
# PROFILE=params/smoke.yml` (under a minute, plus up to 80 seconds the first time the model is
# converted). Does the printed speed-up of section 5.1 follow the FLOP prediction more closely
# than for the first model?
# :::
#
# :::{solution} cost-ex-model
# :class: dropdown
#
# **What to change:** only `MODEL`; section 5.1 times the first model of the run.
#
# **What to look at:** the printed line of section 5.1. This build measured
# {glue:md}`cost-demo`. From the models' shapes alone, the FLOP count predicts for this batch
# {glue:md}`cost-demo-predictions`: compare the predictions first, then whether each measured
# speed-up lies within the spread you see when you run the cell twice.
# :::
#
# :::{exercise} The same benchmark on a GPU
# :label: cost-ex-gpu
#
# Run `make bench` on a machine with a CUDA GPU (no profile: `bench.run` takes its own options;
# on the CPU shown above it took {glue:md}`cost-bench-wall`). Which targets of
# {ref}`Table C.1 <tab-cost-targets>` change, and why?
# :::
#
# :::{solution} cost-ex-gpu
# :class: dropdown
#
# **What to change:** nothing but the machine; `--device auto` picks the GPU, and the models run
# in bfloat16 there.
#
# **What to look at:** the FLOP predictions of {ref}`Table C.2a <tab-cost-pruning>` stay as they
# are (they count arithmetic only), while the measured speed-ups move. In this run the measured
# prefill speed-up at 1/3 reached these shares of the prediction: {glue:md}`cost-measured-share`.
# If on your GPU a share falls well below 0.8, fixed costs that do not shrink with the dropped
# layers (kernel launches, the embedding and LM head, Python overhead) dominate these small
# models; if it stays near 1, the GPU spends its time where the FLOPs are. In
# {ref}`Table C.3a <tab-cost-attribution>`, compare the baseline's examples per second with the
# pipeline's: a GPU that runs a batch of small forwards in about the time of one favours the
# batched pipeline.
# :::
#
# :::{exercise} Longer prompts
# :label: cost-ex-seq
#
# Compare the prefill speed-up at {glue:md}`cost-seq` tokens with that at 4,096 tokens:
# `python -m bench.run --sections pruning --models smollm2-135m --prefill-seq 4096
# --prefill-batch 1` (no profile; the same section took {glue:md}`cost-time-pruning` for
# smollm2-135m in the run above). Does the measured speed-up follow the prediction?
# :::
#
# :::{solution} cost-ex-seq
# :class: dropdown
#
# **What to change:** the sequence length, and a batch of one to keep the memory in check (the
# tokens per forward stay the same).
#
# **What to look at:** the *FLOP prediction* and *speed-up* columns of the new run's prefill
# table. Attention scores grow with the square of the length and everything else linearly, so
# attention's share of the FLOPs, and the predicted saving, grow: rescaling this run's FLOP
# breakdown, the predicted speed-up at 1/3 goes from {glue:md}`cost-pred-short` to
# {glue:md}`cost-pred-long`. If your measured speed-up rises by more than the prediction, the
# attention kernels cost more per FLOP than the linear layers on your machine; if it rises by
# less, fixed costs still dominate.
# :::
#
# :::{exercise} More demonstrations
# :label: cost-ex-shots
#
# Raise the number of demonstrations, `python -m bench.run --sections attribution --shots 4`
# (no profile; the section took {glue:md}`cost-time-attribution` in the run above, and longer
# prompts take longer). How do the token ratio and the speed-ups of
# {ref}`Table C.3a <tab-cost-attribution>` move?
# :::
#
# :::{solution} cost-ex-shots
# :class: dropdown
#
# **What to change:** `--shots 4` (demonstrations per label).
#
# **What to look at:** the token ratio printed under Table C.3a and the *attribution* column.
# The shared prefix ({glue:md}`cost-prefix` in this run) grows by one example and its answer per
# extra demonstration and label, while each example's own tokens stay, so the token ratio, the
# bound on the attribution speed-up, rises from {glue:md}`cost-bound` to roughly
# {glue:md}`cost-bound-4` (an estimate that takes each demonstration to be as long as the average
# test example). The baseline pays for the longer prefix in every forward and the pipeline once,
# so both speed-ups can grow; check whether integrated gradients' attribution speed-up stays
# further below the bound than input × gradient's, as its steps on the example's own tokens do
# not get cheaper.
# :::
#
# :::{exercise} Where input × gradient spends its time
# :label: cost-ex-profile
#
# Profile `input_x_gradient` with `python -m bench.profile --method input_x_gradient` (no
# profile; 8 examples, run three times: {glue:md}`cost-time-profile` on the benchmark's
# machine). Where does its time go, compared with integrated gradients?
# :::
#
# :::{solution} cost-ex-profile
# :class: dropdown
#
# **What to change:** only the `--method` argument; run it once more without it for integrated
# gradients.
#
# **What to look at:** the operators at the top of each table. In this run the attribution step
# took {glue:md}`cost-ixg-share` of the input × gradient pipeline's time and
# {glue:md}`cost-ig-share` of the integrated-gradients pipeline's; the rest is the batched
# forwards that score the deleted tokens. So look for forward-only matrix products (`aten::mm`,
# `aten::addmm`) at the top of input × gradient's table, and for backward operators in
# integrated gradients', which runs a backward at every step.
# :::
#
# :::{exercise} A batch that fits a smaller GPU
# :label: cost-ex-batch
#
# The faithfulness units of `params/paper.yml` run a backward pass. With
# `helpers.plan.memory_gb("google/gemma-2-9b-it", batch=b)`, find the largest batch `b` whose
# estimated peak fits a 48 GB L40S (seconds, no model loaded; no profile needed).
# :::
#
# :::{solution} cost-ex-batch
# :class: dropdown
#
# **What to change:** nothing; call `plan.memory_gb` for `b = 1, 2, ...` (or
# `plan.largest_batch("google/gemma-2-9b-it", 48)`).
#
# **What to look at:** the *peak GB* it returns against 48. By `make plan`'s estimate the answer
# is {glue:md}`cost-l40s-batch`. Since the batch size is not part of a unit's key, a profile of
# your own with `batch_size` set to it computes the same units as `params/paper.yml`
# ({doc}`../gpu` shows how to retry failed units that way).
# :::

# %% tags=["remove-input"]
pages.build_log()
