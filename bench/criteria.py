"""Pruning criteria against the ablation oracle, per-criterion accuracy / ECE / faithfulness, and
LRP's faithfulness and speed beside the other attribution methods (issue 13, parts 3-6).

Every figure comes from stored units (`helpers.criteria`, `helpers.evaluation`) in a scratch
store, so a re-run with the same arguments only reads them back. Each part prints a table and
writes it as CSV under --out.

    python -m bench.criteria oracle --models gemma3-270m smollm2-135m
    python -m bench.criteria table --models gemma3-270m --n-examples 200 --n-faithfulness 32
    python -m bench.criteria lrp --model smollm2-135m --n-faithfulness 100
    python -m bench.criteria speed --model gemma3-270m --methods lrp input_x_gradient
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch

from helpers import criteria as cr
from helpers import evaluation as ev
from helpers import stats
from helpers.results import ResultStore

CRITERIA = ("similarity", "last", "random", "relevance", "greedy_kl")
LRP_METHODS = ("lrp", "input_x_gradient", "gradient", "occlusion", "random")


_SESSION: dict = {}


def _setup(args) -> tuple[ResultStore, ev.ModelPool]:
    if "store" not in _SESSION:  # one store and pool per process: parts share loaded models
        torch.set_num_threads(args.threads)
        pool = ev.ModelPool(args.device, importance_texts=args.importance_texts,
                            importance_max_length=args.importance_max_length)
        cr.set_greedy_options(pool, max_examples=args.greedy_examples, max_ratio=args.greedy_ratio)
        _SESSION.update(store=ResultStore(args.results), pool=pool)
    return _SESSION["store"], _SESSION["pool"]


def _base(args, model: str) -> ev.Config:
    return ev.Config(model=model, task=args.task, n_examples=args.n_examples,
                     n_calibration=args.n_calibration, importance_source=args.importance_source,
                     shots=args.shots)


def _save(frame: pd.DataFrame, args, name: str) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / f"{name}.csv", index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(frame.round(4).to_string(index=False), flush=True)


def oracle(args) -> pd.DataFrame:
    """Spearman of every criterion with the ablation oracle, per model."""
    store, pool = _setup(args)
    frames = []
    for model in args.models:
        t = time.perf_counter()
        cfg = _base(args, model)
        frames.append(cr.oracle_comparison(store, pool, cfg, args.criteria,
                                           criterion_seeds=args.criterion_seeds,
                                           n_resamples=args.n_resamples))
        layers = cr.oracle_frame(store, pool, cfg, args.criteria, criterion_seeds=args.criterion_seeds)
        _save(layers, args, f"oracle_layers_{model}")
        print(f"{model}: {time.perf_counter() - t:.0f} s", flush=True)
    frame = pd.concat(frames, ignore_index=True)
    _save(frame, args, "oracle_spearman")
    return frame


def table(args) -> pd.DataFrame:
    """Accuracy, debiased ECE and AOPC comprehensiveness per criterion and ratio, vs the full model
    and greedy_kl vs similarity, with paired intervals."""
    store, pool = _setup(args)
    kw = dict(method=args.method if args.n_faithfulness else None,
              n_faithfulness=args.n_faithfulness, n_resamples=args.n_resamples)
    frames, pairs = [], []
    for model in args.models:
        t = time.perf_counter()
        grid = ev.configs([model], [args.task], args.criteria, args.ratios,
                          criterion_seeds=args.criterion_seeds[: args.table_seeds],
                          n_examples=args.n_examples,
                          n_calibration=args.n_calibration, importance_source=args.importance_source,
                          shots=args.shots)
        frames.append(cr.criterion_table(store, pool, grid, **kw))
        base = _base(args, model)
        if not {"similarity", "greedy_kl"} <= set(args.criteria):
            continue
        pairs.append(cr.paired_changes(store, pool, [
            (replace(base, criterion="similarity", ratio=r), replace(base, criterion="greedy_kl", ratio=r))
            for r in args.ratios if r > 0], **kw))
        print(f"{model}: {time.perf_counter() - t:.0f} s", flush=True)
    frame = pd.concat(frames, ignore_index=True)
    _save(frame.drop(columns=["layers_b"]), args, f"criterion_table{args.tag}")
    if pairs:
        _save(pd.concat(pairs, ignore_index=True).drop(columns=["layers_a", "layers_b"]), args,
              f"greedy_vs_similarity{args.tag}")
    return frame


def lrp(args) -> pd.DataFrame:
    """AOPC comprehensiveness (raw and normalised) and examples per second of each method on the
    full and one pruned model, with intervals; the difference to LRP paired by example."""
    store, pool = _setup(args)
    rows = []
    full = _base(args, args.model)
    for cfg in (full, replace(full, criterion=args.pruned_criterion, ratio=args.pruned_ratio)):
        recs = {}
        for m in args.methods:
            recs[m] = ev.faithfulness(store, pool, cfg, m, n_examples=args.n_faithfulness,
                                      batch_size=args.batch_size,
                                      options=ev.method_options(m, args.ig_steps))
        ref = ev.stored_faithfulness(recs["lrp"]).aopc_comprehensiveness if "lrp" in recs else None
        for m, rec in recs.items():
            f = ev.stored_faithfulness(rec)
            speed = next(r["value"] for r in rec["metrics"] if r["metric"] == "examples_per_second")
            row = {"model": args.model, "pruned": cfg.ratio > 0, "criterion": cfg.criterion,
                   "ratio": cfg.ratio, "layers": rec["layers"], "method": m, "n": len(f.uids),
                   "examples_per_second": speed}
            for name in ("aopc_comprehensiveness", "aopc_norm_comprehensiveness"):
                v = getattr(f, name)
                ok = v[~pd.isna(v)]
                e, lo, hi = stats.mean_ci(ok, n_resamples=args.n_resamples)
                row.update({name: e, f"{name}_low": lo, f"{name}_high": hi})
            if ref is not None and m != "lrp":
                d = stats.paired_mean_delta_ci(f.aopc_comprehensiveness, ref,
                                               n_resamples=args.n_resamples)
                row.update({"lrp_minus_method": d.estimate, "lrp_minus_low": d.low,
                            "lrp_minus_high": d.high})
            rows.append(row)
    frame = pd.DataFrame(rows)
    _save(frame, args, f"lrp_{args.model}")
    return frame


def speed(args) -> pd.DataFrame:
    """Examples per second of each method's attributions alone (no faithfulness scoring),
    interleaved over `--repeats` rounds on the same examples, full model."""
    from helpers.attribution import attribute
    from helpers.tasks import get_task, load_task

    store, pool = _setup(args)
    model, tok = pool.full(args.model)
    task = get_task(args.task)
    examples = load_task(args.task, split="test", n=args.n_faithfulness, seed=0)
    kw = dict(shots=args.shots, seed=0, batch_size=args.batch_size, progress=False)
    attribute(model, tok, task, examples[: args.batch_size], method=args.methods[0], **kw)  # warm-up
    times: dict[str, list[float]] = {m: [] for m in args.methods}
    for _ in range(args.repeats):
        for m in args.methods:
            t = time.perf_counter()
            attribute(model, tok, task, examples, method=m, **kw,
                      **ev.method_options(m, args.ig_steps))
            times[m].append(time.perf_counter() - t)
    frame = pd.DataFrame([{"model": args.model, "method": m, "n": len(examples),
                           "median_s": float(pd.Series(t).median()),
                           "examples_per_second": len(examples) / float(pd.Series(t).median())}
                          for m, t in times.items()])
    _save(frame, args, f"speed_{args.model}")
    return frame


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: one of the parts `oracle`, `table`, `lrp`."""
    p = argparse.ArgumentParser(prog="python -m bench.criteria", description=__doc__.split("\n")[0])
    p.add_argument("part", choices=("oracle", "table", "lrp", "all", "speed"),
                   help="all: oracle then table in one process (a store reuses units within a "
                        "process; a new process after a code edit recomputes them)")
    p.add_argument("--models", nargs="+", default=["gemma3-270m", "smollm2-135m"])
    p.add_argument("--model", default="smollm2-135m", help="lrp: the model")
    p.add_argument("--task", default="mr")
    p.add_argument("--criteria", nargs="+", default=list(CRITERIA))
    p.add_argument("--criterion-seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--ratios", nargs="+", type=float, default=[1 / 6, 1 / 3])
    p.add_argument("--n-examples", type=int, default=200)
    p.add_argument("--n-calibration", type=int, default=32)
    p.add_argument("--n-faithfulness", type=int, default=32)
    p.add_argument("--method", default="input_x_gradient")
    p.add_argument("--methods", nargs="+", default=list(LRP_METHODS))
    p.add_argument("--pruned-criterion", default="similarity")
    p.add_argument("--pruned-ratio", type=float, default=1 / 3)
    p.add_argument("--ig-steps", type=int, default=8)
    p.add_argument("--importance-source", default="bbc_news")
    p.add_argument("--importance-texts", type=int, default=32)
    p.add_argument("--importance-max-length", type=int, default=128)
    p.add_argument("--greedy-examples", type=int, default=cr.GREEDY_MAX_EXAMPLES)
    p.add_argument("--greedy-ratio", type=float, default=None)
    p.add_argument("--shots", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--n-resamples", type=int, default=2000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--results", default="/tmp/crit-results")
    p.add_argument("--out", default="/tmp/crit-out")
    p.add_argument("--table-seeds", type=int, default=None,
                   help="table: use only the first this many criterion seeds of `random`")
    p.add_argument("--repeats", type=int, default=3, help="speed: interleaved rounds")
    p.add_argument("--tag", default="", help="suffix of the output files' names")
    args = p.parse_args(argv)
    parts = {"oracle": [oracle], "table": [table], "lrp": [lrp], "all": [oracle, table],
             "speed": [speed]}
    for part in parts[args.part]:
        part(args)


if __name__ == "__main__":
    main()
