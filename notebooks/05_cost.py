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
# # Appendix: Cost
#
# **Overview.** Why prune attention at all? To save memory and time. This appendix shows the
# latest benchmark run (`make bench`, code in `bench/`): parameters, memory, prefill latency and
# generation throughput of every offline model with 0, 1/6, 1/3 and 1/2 of its attention
# sub-layers dropped, beside the speed-up a FLOP count predicts; the throughput of the batched
# attribution and faithfulness pipeline against a one-example-at-a-time Captum baseline; and the
# wall time of each chapter. Every number comes from one run on the machine named below. The
# book shows your latest `make bench` (`_build/bench/results.json`) when there is one, and
# otherwise the snapshot committed in `bench/latest.json`; `make bench` refreshes both.

# %% tags=["parameters"]
profile = "params/default.yml"  # the profile of parameters this chapter runs with (params/*.yml)
overrides = {}  # values that replace the profile's, e.g. {"models": ["gemma3-270m"]}

# %% tags=["hide-input"]
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

from bench import report
from helpers import pages
from helpers.tasks import get_task
from helpers.workload import open_chapter

pages.setup()
CHAPTER = "05_cost"
run = open_chapter(CHAPTER, profile, overrides)
p = run.params
bench_results = p['bench_results']

# the latest local run if there is one, else the snapshot committed with the book
path = next((f for f in (Path(bench_results), Path("bench/latest.json")) if f.exists()), None)
results = report.load(path) if path is not None else None
tables = report.tables(results) if results is not None else {}
if results is None:
    display(Markdown(f"*No benchmark results at `{bench_results}` or `bench/latest.json` yet: run "
                     "`make bench`, then rebuild the book.*"))
else:
    meta = results.get("meta", {})
    env = meta.get("environment") or results.get("environment") or {}
    done = "finished" if meta.get("finished") else "interrupted (the sections shown completed)"
    display(Markdown(f"**Source:** `{path}`, run {done}. **Command:** `{meta.get('command', '?')}`. "
                     "**Measured on:** " + ", ".join(f"{k} = {v}" for k, v in env.items())))


def show(name: str) -> None:
    """One benchmark table, rounded for reading (or a note that the section did not run)."""
    table = tables.get(name)
    if table is None or table.empty:
        display(Markdown("*Not measured in this run.*"))
        return
    if "ratio" in table:
        table = table.assign(ratio=table["ratio"].map(pages.ratio_label))
    display(table.style.hide(axis="index").format(number, na_rep="–"))


def number(value):
    """Three decimals, or two significant digits for the tiny differences of the agreement columns."""
    if isinstance(value, float):
        return f"{value:.1e}" if 0 < abs(value) < 1e-3 else f"{value:.3f}"
    return value


# %% [markdown]
# (tab-cost-targets)=
# **Table C.1. Targets.** Each performance target we set ourselves, with the measured value.

# %% tags=["hide-input"]
show("targets")

# %% [markdown]
# (tab-cost-pruning)=
# **Table C.2. Pruned against full models.** One row per model and share of attention sub-layers
# dropped: size, prefill latency and generation throughput, and the measured speed-ups beside the
# ones the FLOP count predicts.

# %% tags=["hide-input"]
show("pruning")

# %% [markdown]
# (fig-cost-speedup)=
# **Figure C.1.** Measured (solid) and FLOP-predicted (dashed) prefill speed-up against the share
# of attention sub-layers dropped.

# %% tags=["hide-input"]
if results is not None:
    report.plot_speedup(results)
    plt.show()

# %% [markdown]
# (tab-cost-attribution)=
# **Table C.3. Attribution and faithfulness.** The batched pipeline against the
# one-example-at-a-time Captum baseline: examples per second, speed-ups, and the agreement of
# their numbers.

# %% tags=["hide-input"]
show("attribution")

# %% [markdown]
# (tab-cost-batch)=
# **Table C.4. Scoring throughput against the batch size** (`label_probs`).

# %% tags=["hide-input"]
show("label_probs")

# %% [markdown]
# (tab-cost-notebooks)=
# **Table C.5. Wall time of each chapter** in the run the benchmark recorded.

# %% tags=["hide-input"]
show("notebooks")

# %% [markdown]
# ## Reading the numbers
#
# **Targets.** The first table checks two goals we set ourselves: the batched attribution +
# faithfulness pipeline should run at least 5 times as many examples per second as the
# one-example-at-a-time Captum baseline, with the same numbers (the agreement columns of the
# attribution table); and with a third of the attention sub-layers dropped, the measured prefill
# speed-up should reach at least 80% of the speed-up the FLOP count predicts, for every model.
#
# **Pruning.** The predicted speed-up counts only arithmetic: the attention projections and the
# attention scores of the dropped layers disappear, everything else stays. A measured speed-up
# close to the prediction means the implementation spends its time where the FLOPs are; one far
# below it means fixed costs (embedding, LM head, memory traffic, Python overhead) dominate. A
# measured speed-up *above* the prediction is common on a CPU: attention's softmax, masking and
# key/value copies cost more time than their FLOPs suggest, and they go with the layer.
# Attention's share of the FLOPs grows with the sequence length, so the savings grow with it.
# On a shared 2-core machine repeated runs of the same forward differ by 10-25%, about as much as
# the predicted saving for Qwen (6% at 1/3): the table gives the median speed-up (the targets use
# it) and, beside it, the speed-up between the fastest runs, which other work on the machine
# disturbs least.
#
# **Attribution.** The pipeline saves work in two places: the shared prompt prefix (the
# demonstrations) runs once and is reused from a key/value cache, and every perturbation of the
# faithfulness metrics is scored in batches instead of one forward each. The first saving has a
# ceiling: an attribution step still runs the example's own tokens and the answer suffix through
# the model, forward and backward, just as the baseline does, so with equal cost per token the
# attribution speed-up cannot exceed the ratio of tokens per row, (prefix + body + suffix) /
# (body + suffix), the *token ratio (bound)* column. Gradient-times-input needs one step per
# example, so scoring the perturbations dominates and the batching pays off fully; integrated
# gradients needs a forward and a backward per step (16 here), so its attribution speed-up stays
# below that bound, and the whole pipeline's speed-up with it: on this prompt a 5-fold target is
# out of reach unless the cost per token falls below the baseline's. Longer prompts (more
# demonstrations) raise the bound.
#
# ## Where the time goes
#
# `python -m bench.profile` runs one attribution method under `torch.profiler` and prints the
# operators that took the time. On the 2-core CPU of the snapshot, integrated gradients on
# smollm2-135m spends about 70% of its time in `aten::mm` (the linear layers), 10-15% in
# scaled-dot-product attention forward and backward, and the rest in element-wise operations:
# it is compute-bound, and per token it costs what the baseline costs (a 92-token cached prefix
# adds about 17% per token, for attention over the prefix). What the profile led to, and what it
# ruled out:
#
# - *Padding.* Examples were batched in the order given, each chunk padded to its longest body:
#   with a mean of 28 tokens per row against 42 padded, a third of the compute went to padding.
#   Taking examples shortest first, and padding each forward only to its own longest body, cut
#   the attribution time for 16 examples from 62 s to 39 s.
# - *Extra forwards.* Captum's convergence delta runs the model at the input and at the
#   baseline once more; the pipeline now takes both from the forwards it already makes.
# - *Not a cost:* weight gradients (Captum differentiates with respect to the inputs only), so
#   freezing the parameters changes nothing.
# - *Not faster:* larger forwards (64 or 128 rows per forward took 51 s and 68 s against 40 s:
#   the activations kept for the backward outgrow the caches), the math attention backend
#   instead of the fused CPU kernel, and grouped-query attention inside the kernel instead of
#   repeated key/value heads (a few per cent faster for SmolLM2's integrated gradients, a third
#   slower for Gemma's forward).

# %% [markdown]
# ## What the grids cost: measured throughput and predicted hours
#
# `python -m helpers.book plan PROFILE` (or `make plan`) counts the forward and backward passes
# and the tokens of every unit a profile's chapters ask for, from the profile alone (model
# shapes, the tasks' mean lengths), and divides their FLOPs by the throughput of each unit kind
# measured by `python -m bench.throughput` (`bench/throughput.json`). Beside each throughput
# stands the share of the same machine's measured matmul peak it reaches. A GPU without a
# measurement of its own is predicted from its datasheet bf16 peak times the share measured here
# (an assumption until `bench.throughput` runs on that GPU), and at 30% of peak beside it. An
# overnight run is 12 hours on as many GPUs as the last column says (`make grid RUNNER=ray`
# spreads the units over them).
#
# (tab-cost-throughput)=
# **Table C.6. Throughput of each unit kind** on the machine that ran `bench.throughput`, against
# its own measured matmul peak (one core, timed in CPU seconds).

# %% tags=["hide-input"]
from helpers import plan

measured_rates = plan.load_throughput() if plan.THROUGHPUT_FILE.exists() else None
if measured_rates is None:
    display(Markdown("*No throughput measured yet: run `python -m bench.throughput`.*"))
else:
    display(plan.throughput_frame(measured_rates).style.hide(axis="index").format(
        {"achieved GFLOP/s": "{:.1f}", "matmul peak GFLOP/s": "{:.1f}", "share of peak": "{:.0%}"}))

# %% [markdown]
# (tab-cost-gpu-hours)=
# **Table C.7. Predicted cost of the larger profiles** on H100 GPUs (bf16): units, PFLOP,
# GPU-hours at the measured shares of peak and at 30% of peak, GPUs for a 12-hour run, and the
# peak memory of the largest model.

# %% tags=["hide-input"]
if measured_rates is not None:
    display(plan.gpu_hours(("params/paper.yml", "params/offline-full.yml"), measured=measured_rates)
            .round(2))

# %% [markdown]
# ## Summary
#
# Dropping attention sub-layers saves time roughly in proportion to the attention FLOPs it
# removes, and a little more on a CPU. The attribution pipeline's speed comes from never
# recomputing the shared prefix and from batching perturbations; for many-step methods such as
# integrated gradients the remaining cost is the model's own forward and backward on each
# example's tokens.

# %% [markdown]
# ## Exercises
#
# The numbers in the solutions are computed from the benchmark run shown above.

# %% tags=["hide-input"]
# What the solutions quote: predictions from the FLOP breakdown, shares of time, token counts.
pruning = tables.get("pruning", pd.DataFrame())
settings = ((results or {}).get("meta") or {}).get("settings") or {}
seq = (settings.get("pruning") or {}).get("prefill_seq") or 512
LONG = 4096


def predicted_speedup(model: str, ratio: float, scale: float) -> float:
    """FLOP-predicted prefill speed-up with every prompt `scale` times longer.

    Per row, projections and MLP grow with the tokens, attention scores with their square, and
    the LM head stays (one logit per row): the breakdown of the benchmark rescales exactly.
    """
    rows = (results["pruning"]["models"][model]).get("rows", [])

    def flops(r: dict) -> float:
        b = r["flops"]["prefill_breakdown"]
        return (scale * (b["attention_projections"] + b["mlp"])
                + scale**2 * b["attention_scores"] + b["lm_head"])

    full = next(r for r in rows if r["ratio"] == 0)
    pruned = next(r for r in rows if abs(r["ratio"] - ratio) < 1e-6)
    return flops(full) / flops(pruned)


def listing(values: dict) -> str:
    """'a: 1.10×, b: 1.20×' for the solutions."""
    return ", ".join(f"{k} {v:.2f}×" for k, v in values.items())


third = pruning[(pruning["ratio"] - 1 / 3).abs() < 1e-6] if not pruning.empty else pruning
models = [m for m in third.get("model", [])
          if all("flops" in r for r in results["pruning"]["models"][m].get("rows", []))]
if models:
    glue("cost-pred-short", Markdown(listing({m: predicted_speedup(m, 1 / 3, 1) for m in models})),
         display=False)
    glue("cost-pred-long", Markdown(listing({m: predicted_speedup(m, 1 / 3, LONG / seq)
                                              for m in models})), display=False)
    glue("cost-measured-share", Markdown(", ".join(
        f"{m} {v:.2f}" for m, v in zip(third["model"], third["measured / predicted"], strict=True))),
        display=False)
else:
    for key in ("cost-pred-short", "cost-pred-long", "cost-measured-share"):
        glue(key, Markdown("*(not measured in this run)*"), display=False)
glue("cost-seq", Markdown(f"{seq:,}"), display=False)

attribution = (results or {}).get("attribution") or {}
tokens = attribution.get("tokens_per_row") or {}
if tokens:
    shots = attribution.get("shots") or 1  # None: the prompt's default, one per label
    n_labels = len(get_task(attribution.get("task", "mr")).labels)
    per_demo = tokens["body_mean"] + tokens["suffix"]  # a demonstration is an example and its answer
    longer_prefix = tokens["prefix"] + (4 - shots) * n_labels * per_demo
    body = tokens["body_mean"] + tokens["suffix"]
    glue("cost-bound", Markdown(f"{tokens['ratio']:.1f}"), display=False)
    glue("cost-bound-4", Markdown(f"{(longer_prefix + body) / body:.0f}"), display=False)
    glue("cost-prefix", Markdown(f"{tokens['prefix']:.0f} tokens at {shots} per label"),
         display=False)
else:
    for key in ("cost-bound", "cost-bound-4", "cost-prefix"):
        glue(key, Markdown("*(not measured)*"), display=False)

methods = attribution.get("methods") or {}
share = {m: r["pipeline"]["attribution_s"] / r["pipeline"]["total_s"]
         for m, r in methods.items() if (r.get("pipeline") or {}).get("total_s")}
glue("cost-ixg-share", Markdown(f"{100 * share['input_x_gradient']:.0f}%"
                                if "input_x_gradient" in share else "*(not measured)*"), display=False)
glue("cost-ig-share", Markdown(f"{100 * share['integrated_gradients']:.0f}%"
                               if "integrated_gradients" in share else "*(not measured)*"),
     display=False)

if not third.empty:
    measured = third["prefill speedup"].astype(float)
    predicted = third["predicted (FLOPs)"].astype(float)
    device = (env.get("device_name") or env.get("device_type") or "this machine")
    pages.record_finding(
        CHAPTER, "prefill-speedup",
        f"In the benchmark run shown in the Cost appendix (`{path}`), dropping a third of the "
        f"attention sub-layers made prefill {measured.min():.2f}× to {measured.max():.2f}× faster "
        f"on {device}, where the FLOP count predicts {predicted.min():.2f}× to "
        f"{predicted.max():.2f}×.",
        "tab-cost-pruning")

# %% [markdown]
# :::{exercise} The same benchmark on a GPU
# :label: cost-ex-gpu
#
# Run `make bench` on a machine with a CUDA GPU: the same command records the device and measures
# there. Which targets of {ref}`Table C.1 <tab-cost-targets>` change, and why?
# :::
#
# :::{solution} cost-ex-gpu
# :class: dropdown
#
# **What to change:** nothing but the machine; `device: auto` picks the GPU, and the models run
# in bfloat16 there.
#
# **What to expect:** the FLOP predictions stay as they are (they count arithmetic only), while
# the measured speed-ups move. On this run the measured prefill speed-up at 1/3 reached these
# shares of the prediction: {glue:md}`cost-measured-share`. If on the GPU a share falls well
# below 0.8, fixed costs that do not shrink with the dropped layers (kernel launches, the
# embedding and LM head, Python overhead) dominate these small models; if it stays near 1, the
# GPU spends its time where the FLOPs are. The speed-ups of {ref}`Table C.3 <tab-cost-attribution>`
# are likely to grow: a GPU runs a batch of small forwards in about the time of one, so the
# one-example-at-a-time baseline gains little from the faster device and the batched pipeline
# gains much.
# :::
#
# :::{exercise} Longer prompts
# :label: cost-ex-seq
#
# Compare the prefill speed-up at {glue:md}`cost-seq` tokens with that at 4,096 tokens
# (`python -m bench.run --help` lists the options). Does the FLOP prediction follow?
# :::
#
# :::{solution} cost-ex-seq
# :class: dropdown
#
# **What to change:** `python -m bench.run --sections pruning --prefill-seq 4096 --prefill-batch 1`
# (a smaller batch keeps the memory in check).
#
# **What to expect:** attention scores grow with the square of the length and everything else
# linearly, so attention's share of the FLOPs, and the predicted saving, grow. Rescaling this
# run's FLOP breakdown, the predicted speed-up at 1/3 goes from {glue:md}`cost-pred-short` to
# {glue:md}`cost-pred-long`. The measured speed-ups should rise too; if they rise more than
# predicted, the attention kernels cost more per FLOP than the linear layers on your machine.
# :::
#
# :::{exercise} More demonstrations
# :label: cost-ex-shots
#
# Raise the number of demonstrations (`--shots 4`) and re-run the attribution section. How do
# the token ratio and the measured speed-up of {ref}`Table C.3 <tab-cost-attribution>` move?
# :::
#
# :::{solution} cost-ex-shots
# :class: dropdown
#
# **What to change:** `python -m bench.run --sections attribution --shots 4`.
#
# **What to expect:** the shared prefix ({glue:md}`cost-prefix` in this run) grows by one
# example and its answer per extra demonstration and label, while each example's own tokens
# stay. So the token ratio, the bound on the attribution speed-up, rises from
# {glue:md}`cost-bound` to roughly {glue:md}`cost-bound-4` (an estimate that takes each
# demonstration to be as long as the average test example). The baseline pays for the longer
# prefix in every forward, the pipeline once, so both speed-ups should grow; integrated
# gradients' attribution speed-up stays further below the bound than input × gradient's, as its
# forward and backward steps on the example's own tokens do not get cheaper.
# :::
#
# :::{exercise} Where input × gradient spends its time
# :label: cost-ex-profile
#
# Profile `input_x_gradient` with `python -m bench.profile --method input_x_gradient`. Where
# does its time go, compared with integrated gradients?
# :::
#
# :::{solution} cost-ex-profile
# :class: dropdown
#
# **What to change:** only the `--method` argument.
#
# **What to expect:** in this run the attribution step took {glue:md}`cost-ixg-share` of the
# input × gradient pipeline's time and {glue:md}`cost-ig-share` of the integrated-gradients
# pipeline's; the rest is the batched forwards that score the deleted tokens. So the profile of
# input × gradient should be dominated by forward-only matrix products (`aten::mm`,
# `aten::addmm`) with few backward operators, where integrated gradients shows the backward
# of every step.
# :::
