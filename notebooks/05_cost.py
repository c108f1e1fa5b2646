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
bench_results = "_build/bench/results.json"

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from bench import report

# the latest local run if there is one, else the snapshot committed with the book
path = next((p for p in (Path(bench_results), Path("bench/latest.json")) if p.exists()), None)
results = report.load(path) if path is not None else None
if results is None:
    display(Markdown(f"*No benchmark results at `{bench_results}` or `bench/latest.json` yet: run "
                     "`make bench`, then rebuild the book.*"))
else:
    meta = results.get("meta", {})
    env = meta.get("environment") or results.get("environment") or {}
    done = "finished" if meta.get("finished") else "interrupted (the sections shown completed)"
    display(Markdown(f"**Source:** `{path}`, run {done}. **Command:** `{meta.get('command', '?')}`. "
                     "**Measured on:** " + ", ".join(f"{k} = {v}" for k, v in env.items())))

# %%
if results is not None:
    for name, table in report.tables(results).items():
        display(Markdown(f"**{name}**"))
        with pd.option_context("display.max_colwidth", None):
            display(table.round(3) if hasattr(table, "round") else table)

# %%
if results is not None:
    report.plot_speedup(results)
    plt.show()

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
#
# ## Summary
#
# Dropping attention sub-layers saves time roughly in proportion to the attention FLOPs it
# removes, and a little more on a CPU. The attribution pipeline's speed comes from never
# recomputing the shared prefix and from batching perturbations; for many-step methods such as
# integrated gradients the remaining cost is the model's own forward and backward on each
# example's tokens.
#
# ## Exercises
#
# 1. Run `make bench` on a GPU machine: the same command records the device and measures there.
#    Which targets change, and why?
# 2. Compare the prefill speed-up at 512 tokens with that at 4,096 tokens
#    (`python -m bench.run --help` lists the options). Does the FLOP prediction follow?
# 3. Raise the number of demonstrations (`--shots 4`) and re-run the attribution section. How do
#    the token ratio and the measured speed-up move?
# 4. Profile `input_x_gradient` with `python -m bench.profile --method input_x_gradient`. Where
#    does its time go, compared with integrated gradients?
