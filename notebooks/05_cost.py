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
        display(table.round(3) if hasattr(table, "round") else table)

# %%
if results is not None:
    report.plot_speedup(results)
    plt.show()

# %% [markdown]
# ## Reading the numbers
#
# The predicted speed-up counts only arithmetic: the attention projections and the attention
# scores of the dropped layers disappear, everything else stays. A measured speed-up close to the
# prediction means the implementation spends its time where the FLOPs are; one far below it
# means fixed costs (embedding, LM head, memory traffic, Python overhead) dominate, as they do
# for small models on a CPU. Attention's share of the FLOPs grows with the sequence length, so
# the savings of attention dropping grow with it too.
#
# ## Try it yourself
#
# 1. Run `make bench` on a GPU machine: the same command records the device and measures there.
# 2. Compare the prefill speed-up at 512 tokens with that at 4,096 tokens
#    (`python -m bench.run --help` lists the options).
