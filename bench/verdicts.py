"""How the claim rules of ``helpers.claims`` behave on simulated grids with a known truth.

Prints Markdown tables:

(a) verdict rates (yes / no / undetermined) per scenario and claim, with the rates of the weaker
    statements ("in at least one configuration", "on average") of the "often" claims;
(b) coverage of every displayed interval kind at nominal 0.95, per scenario;
(c) the calibration change test: false rejections and power per configuration for the candidate
    estimators, and the size and power of the "on average over configurations" statement;
(d) the minimum detectable effects the tables report at the default sizes.

Scenarios and the data generator are in ``tests/simulated_changes.py`` (16 configurations = 2
models x 2 tasks x 2 criteria x 2 ratios, n test examples shared per task, m faithfulness
examples per model x task, demonstration seeds on the same examples).

    python -m bench.verdicts                 # about 10-15 minutes on 2 cores
    python -m bench.verdicts --reps 60 --pairs 400   # a quick look
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import simulated_changes as sim  # noqa: E402

from helpers import claims as cl  # noqa: E402
from helpers import stats as st  # noqa: E402

SHORT = ["1 acc kept", "2 faith degr", "3 cal degr", "4 faith degr|kept", "5 cal degr|kept",
         "6 faith fluct", "7 cal fluct", "8 misalign"]


def markdown(frame: pd.DataFrame, digits: int = 2) -> str:
    """A DataFrame as a Markdown table (index as the first column)."""
    cols = [frame.index.name or ""] + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for idx, row in frame.iterrows():
        cells = [str(idx)]
        for v in row:
            if isinstance(v, (float, np.floating)):
                cells.append("" if not np.isfinite(v) else f"{v:.{digits}f}")
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _rows() -> list[tuple[str, sim.Scenario]]:
    base = sim.scenarios()
    rows = [(name, base[name]) for name in (
        "no effect", "effect in one configuration", "effect in most configurations",
        "calibration doubles everywhere", "accuracy drops 0.10 everywhere",
        "accuracy kept in one configuration only", "less confident but calibrated",
        "equal changes everywhere", "fluctuation", "misalignment",
        "accuracy and calibration coupled", "full calibrated, pruned miscalibrated",
        "full miscalibrated, pruned calibrated")]
    for m in (24, 96, 200):
        rows.append((f"effect in most configurations, m = {m}",
                     sim.scenarios(m=m)["effect in most configurations"]))
    rows.append(("effect in most configurations, n = 400",
                 sim.scenarios(n=400)["effect in most configurations"]))
    rows.append(("no effect, n = 400", sim.scenarios(n=400)["no effect"]))
    for m in (24, 200):
        rows.append((f"equal changes everywhere, m = {m}",
                     sim.scenarios(m=m)["equal changes everywhere"]))
    rows.append(("equal changes everywhere, n = 400",
                 sim.scenarios(n=400)["equal changes everywhere"]))
    for name in ("no effect", "effect in most configurations", "calibration doubles everywhere"):
        rows.append((f"{name}, 3 seeds", sim.scenarios(seeds=3)[name]))
    return rows


def verdict_tables(reps: int) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, sim.Runs]]:
    """(a): verdict rates as 'yes/no/undetermined' per scenario x claim, and the rates of the
    weaker statements of claims 2 and 3."""
    table, weaker, runs = {}, {}, {}
    for name, scenario in _rows():
        start = time.perf_counter()
        r = sim.run(scenario, reps, seed=101)
        runs[name] = r
        cells = []
        for j in range(len(cl.CLAIMS)):
            v = r.verdict[:, j]
            cells.append("/".join(f"{np.mean(v == x):.2f}" for x in cl.VERDICTS))
        table[name] = cells
        weaker[name] = {
            "2 faith: any (Holm)": r.any_holm[:, 1].mean(),
            "2 faith: mean (p<0.05)": np.mean(r.mean_p[:, 1] < 0.05),
            "3 cal: any (Holm)": r.any_holm[:, 2].mean(),
            "3 cal: mean (p<0.05)": np.mean(r.mean_p[:, 2] < 0.05),
            "cal: per-config rejections": r.rejected.mean(),
        }
        print(f"  {name}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    a = pd.DataFrame(table, index=SHORT).T
    a.index.name = "scenario (yes/no/undetermined)"
    b = pd.DataFrame(weaker).T
    b.index.name = "scenario"
    return a, b, runs


COVERAGE_ROWS = ["no effect", "effect in most configurations", "calibration doubles everywhere",
                 "full calibrated, pruned miscalibrated", "full miscalibrated, pruned calibrated",
                 "less confident but calibrated", "effect in most configurations, m = 24",
                 "no effect, 3 seeds", "calibration doubles everywhere, 3 seeds"]


def coverage_table(runs: dict[str, sim.Runs]) -> pd.DataFrame:
    """(b): share of intervals covering the population value, interval kind x scenario."""
    out = {name: {k: float(np.mean(v)) for k, v in runs[name].covered.items()}
           for name in COVERAGE_ROWS}
    frame = pd.DataFrame(out)
    frame.index.name = "interval (nominal 0.95)"
    return frame


def _bootstrap_mean_test(changes: list, n_resamples: int, seed: int) -> float:
    """The former approach for the on-average statement: the mean over configurations of the
    change of the debiased squared ECE, one-sided p from the joint bootstrap SE."""
    from scipy.stats import norm

    sizes = {c.example_set: len(c.labels) for c in changes}
    idx = st.grouped_indices(sizes, n_resamples, seed)
    est, draws = [], []
    for c in changes:
        boot = st.paired_delta_boot("ece_debiased_sq", c.probs_full, c.probs_pruned, c.labels,
                                    idx[c.example_set])
        est.append(boot.estimate)
        draws.append(boot.draws)
    mean, se = float(np.mean(est)), float(np.std(np.mean(draws, axis=0), ddof=1))
    return float(norm.sf(mean / se))


def calibration_tables(pairs: int, reps: int, runs: dict[str, sim.Runs]) -> tuple[pd.DataFrame,
                                                                                   pd.DataFrame]:
    """(c): per-configuration rejection rates of each candidate (pairs at n = 200), and the
    on-average statement over 16 configurations (chosen test vs the bootstrap)."""
    per_config = {}
    for cand in sim.CANDIDATES:
        start = time.perf_counter()
        reps_c = pairs if "bootstrap" not in cand else max(pairs // 4, 100)
        per_config[cand] = {sc: sim.pair_rejections(cand, sc, reps_c) for sc in sim.PAIR_SCENARIOS}
        per_config[cand]["pairs"] = reps_c
        print(f"  {cand}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    a = pd.DataFrame(per_config).T
    a.index.name = "candidate (n = 200, one-sided alpha 0.05)"
    average = {}
    for name in ("no effect", "less confident but calibrated", "calibration doubles everywhere"):
        chosen = float(np.mean(runs[name].mean_p[:, 2] < 0.05))
        scenario = sim.scenarios()[name]
        boot = [
            _bootstrap_mean_test(sim.simulate(scenario.grid, scenario.effects,
                                              np.random.default_rng([101, r])), 400, r) < 0.05
            for r in range(min(reps, 150))
        ]
        average[name] = {"ce2 U-statistic (chosen)": chosen,
                         "debiased ECE^2, joint bootstrap": float(np.mean(boot))}
    b = pd.DataFrame(average).T
    b.index.name = "'on average' (16 configurations): rejection rate"
    return a, b


def mde_table(reps: int) -> pd.DataFrame:
    """(d): medians over simulated 'no effect' grids of the MDE columns of the claims table."""
    out = {}
    sizes = (("n 200, m 100", {}), ("n 200, m 24", {"m": 24}), ("n 400, m 100", {"n": 400}))
    for label, kw in sizes:
        scenario = sim.scenarios(**kw)["no effect"]
        tables = []
        for r in range(reps):
            changes = sim.simulate(scenario.grid, scenario.effects, np.random.default_rng([7, r]))
            table, _ = cl.verdicts(changes, n_resamples=200, seed=r)
            tables.append(table[["mde_config", "mde_mean", "mde_share", "mde_no",
                                 "margin_for_no", "mde_tau"]].to_numpy(float))
        med = np.nanmedian(np.array(tables), axis=0)
        for j, short in enumerate(SHORT[:7]):
            out[(label, short)] = med[j]
    frame = pd.DataFrame(out, index=["mde_config", "mde_mean", "mde_share", "mde_no",
                                     "margin_for_no", "mde_tau"]).T
    frame.index = [f"{a}: {b}" for a, b in frame.index]
    frame.index.name = "sizes: claim"
    return frame


def main(argv: Sequence[str] | None = None) -> None:
    """Run the simulations and print the Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=300, help="grids per scenario")
    parser.add_argument("--pairs", type=int, default=2000, help="pairs per calibration scenario")
    parser.add_argument("--mde-reps", type=int, default=20)
    args = parser.parse_args(argv)
    try:  # small eigendecompositions are faster single-threaded
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1)
    except ImportError:  # pragma: no cover
        pass
    start = time.perf_counter()
    a, weaker, runs = verdict_tables(args.reps)
    print(f"## (a) Verdict rates ({args.reps} simulated grids per scenario; 16 configurations, "
          "n = 200, m = 100, one seed unless stated)\n")
    print("Each cell: share of grids with yes / no / undetermined.\n")
    print(markdown(a))
    notes = {s.name: s.note for s in sim.scenarios().values()}
    print("\nScenarios:\n")
    for name, note in notes.items():
        print(f"- {name}: {note}")
    print("\nThe weaker statements beside claims 2 and 3 (share of grids where shown), and the"
          " per-configuration calibration test's rejection rate:\n")
    print(markdown(weaker))
    print("\n## (b) Coverage of the displayed intervals (nominal 0.95)\n")
    print(markdown(coverage_table(runs), 3))
    per_config, average = calibration_tables(args.pairs, args.reps, runs)
    print("\n## (c) The calibration change test\n")
    print("Per configuration: share of (full, pruned) pairs at n = 200 where the one-sided test"
          " says 'pruned worse calibrated' (size where unchanged, power where the error doubles);"
          f" Monte-Carlo SE at most {0.5 / np.sqrt(args.pairs):.3f} ({args.pairs} pairs; the"
          " bootstrap candidate used a quarter).\n")
    print(markdown(per_config, 3))
    print("\nThe 'on average over configurations' statement (claim 3's mean change):\n")
    print(markdown(average, 3))
    print("\n## (d) Minimum detectable effects at 80% power (medians over 'no effect' grids)\n")
    print(markdown(mde_table(args.mde_reps), 4))
    print(f"\n(total {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
