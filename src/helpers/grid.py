"""Compute every unit of a profile into its store: in this process, or as tasks on a Ray cluster.

    python -m helpers.grid params/default.yml                      # in-process (RUNNER=local)
    python -m helpers.grid params/paper.yml --runner ray           # $RAY_ADDRESS, else a local cluster
    python -m helpers.grid params/paper.yml --runner ray --gpus-per-task 0.5
    python -m helpers.grid params/default.yml --only scor-1a2b3c4d5e,faith-...   # retry some units
    make grid PROFILE=params/paper.yml RUNNER=ray

The units are `helpers.workload.expand(profile)`: exactly those the chapters declare, so that
`make book` afterwards only reads the store (`make book` itself runs the local runner over its
chapters' units before it executes them). A runner works through units grouped by model, so a
worker loads each model once and runs all of its units before the next, those that run the same
rows one after another (`reuse_order`). On Ray a group (or, with
more workers than models, a shard of one model's units) is one task that asks for `num_gpus` GPUs
(default: 1 on a cluster with GPUs, else 0) and `num_cpus` CPUs; Ray places the tasks. Workers
share the store through its claims (`helpers.results`), so two runners, or a task Ray retried,
never compute a unit twice at once. A unit that raises is recorded in the store with its
traceback and host, and the grid goes on; the summary names the command that retries only those.
"""

from __future__ import annotations

import argparse
import math
import os
import socket
import sys
import time
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import profiles
from . import progress as prog
from . import units as unit_kinds
from .results import CLAIM_TIMEOUT_S, HEARTBEAT_S, HOST, ResultStore, UnitBusy
from .units import Unit
from .workload import expand, prepare_models, store_root

RUNNERS = ("local", "ray")


def weight(unit: Unit) -> float:
    """A unit's relative cost for balancing shards: its FLOPs (the kind's cost model)."""
    return max(unit_kinds.cost(unit).flops, 1.0)


@dataclass
class GridSummary:
    """What a grid run did: units computed now, found stored, failed (id -> error), wall time."""

    profile: str
    runner: str
    total: int = 0
    computed: list[str] = field(default_factory=list)
    stored: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    computations: int = 0  # store computations, dependencies computed inside a unit included
    wall_s: float = 0.0

    def retry_command(self) -> str:
        """The command that recomputes only the failed units."""
        ids = ",".join(sorted(self.failed))
        return f"make grid PROFILE={self.profile} RUNNER={self.runner} UNITS={ids}"

    def text(self) -> str:
        """A human summary, with the failures and how to retry them."""
        lines = [f"[grid] {self.total} units in {prog.clock(self.wall_s)} ({self.runner}): "
                 f"{len(self.computed)} computed, {len(self.stored)} already stored, "
                 f"{len(self.failed)} failed"]
        for uid, err in sorted(self.failed.items()):
            lines.append(f"  failed {uid}: {err}")
        if self.failed:
            lines.append(f"Details (traceback, host) are under the store's _failures/. Retry only "
                         f"those with:\n  {self.retry_command()}")
        return "\n".join(lines)


# --- working through units in one process (the local runner, and each Ray task) ---------------

def run_units(units: list[Unit], *, heartbeat_s: float = HEARTBEAT_S,
              claim_timeout_s: float = CLAIM_TIMEOUT_S, threads: int | None = None) -> Iterator[dict]:
    """Compute `units` in order in this process, yielding an event as each starts and ends.

    A unit that another process is computing is put off until the others are done (then
    awaited); a unit that raises is recorded in the store and skipped, with its dependents."""
    import torch

    from .pool import ModelPool

    if threads:
        torch.set_num_threads(threads)
    os.environ["TQDM_DISABLE"] = "1"  # the grid's own bar is the only one
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    stores: dict[str, ResultStore] = {}
    pools: dict[str, ModelPool] = {}
    family: dict[str, tuple] = {}  # per device: the `_family` of the unit before
    failed: set[str] = set()
    deferred: list[Unit] = []
    for final in (False, True):
        for unit in deferred if final else units:
            device = unit.settings.device
            root = str(store_root(unit))
            if root not in stores:
                stores[root] = ResultStore(root, heartbeat_s=heartbeat_s, claim_timeout_s=claim_timeout_s)
            store = stores[root]
            store.skip_busy = not final
            pool = pools.get(device) or pools.setdefault(device, ModelPool(device))
            this = _family(unit)
            if family.get(device, this) != this:
                pool.forget_states()  # few later units run those rows; held, they slow the rest
            family[device] = this
            yield {"unit": unit.id, "event": "start", "host": HOST}
            before, start = len(store.computed), time.perf_counter()
            event: dict[str, Any] = {"unit": unit.id, "host": HOST}
            try:
                lost = [d.id for d in unit.deps().values() if d.id in failed]
                if lost:
                    raise RuntimeError(f"its dependency {', '.join(lost)} failed")
                unit_kinds.compute(unit, store, pool)
            except UnitBusy:
                deferred.append(unit)
                yield {**event, "event": "busy"}
                continue
            except Exception as err:
                failed.add(unit.id)
                error = f"{type(err).__name__}: {err}"
                store.record_failure(unit.id, {"unit": unit.describe(), "error": error,
                                               "traceback": traceback.format_exc()})
                yield {**event, "event": "failed", "error": error,
                       "seconds": time.perf_counter() - start}
                continue
            store.clear_failure(unit.id)
            done = len(store.computed) - before
            yield {**event, "event": "computed" if done else "stored", "computations": done,
                   "seconds": time.perf_counter() - start}


def by_model(units: Iterable[Unit]) -> list[Unit]:
    """Units grouped by model (in order of first appearance), request order kept within a model."""
    order: dict[str, list[Unit]] = {}
    for u in units:
        order.setdefault(u.model, []).append(u)
    return [u for group in order.values() for u in group]


def _rows(unit: Unit) -> tuple:
    c = unit.config
    return () if c is None else (c.task, c.seed, c.n_examples, c.n_calibration, c.shots,
                                 c.demo_seed)


def reuse_order(units: Iterable[Unit]) -> list[Unit]:
    """Units by model, then by the rows they run, each kind's unpruned and largest units first.

    A model's units that run the same rows (task, sample, demonstrations) follow one another;
    within them, by kind, then by method, the full model's unit comes before its pruned ones
    (and a larger faithfulness sample before a smaller), so that depth reuse
    (`helpers.depth_reuse`) finds the states it can start from before its least-recently-used
    budget lets them go. `run_units` forgets the stored states between such families."""
    groups: dict[tuple, list[Unit]] = {}
    for u in by_model(units):
        groups.setdefault((u.model, _rows(u)), []).append(u)
    out: list[Unit] = []
    for group in groups.values():
        kinds = {k: i for i, k in enumerate(dict.fromkeys(u.kind for u in group))}
        ways = {w: i for i, w in enumerate(dict.fromkeys(_way(u) for u in group))}
        out += sorted(group, key=lambda u: (kinds[u.kind], ways[_way(u)],
                                            u.config is not None and u.config.pruned,
                                            -int(u.arg("n_examples") or 0)))
    return out


def _family(unit: Unit) -> tuple:
    # the units whose rows coincide: one model, rows, kind and method, at any ratio and size
    return unit.model, _rows(unit), unit.kind, _way(unit)


def _way(unit: Unit) -> tuple:
    # a unit's arguments but its sample size: a faithfulness method and its options
    return tuple(a for a in unit.args if a[0] != "n_examples")


def shards(units: list[Unit], per_model: int = 1) -> list[list[Unit]]:
    """Split each model's units into up to `per_model` shards of about equal cost.

    Units tied by a dependency other than a criterion's layer scores (a pruned faithfulness unit
    and its full model's) stay in one shard; layer scores, needed by many, are computed by
    whichever shard asks first while the others wait for them."""
    out = []
    for group in _groups(reuse_order(units)):
        comps = _components(group)
        k = max(1, min(per_model, len(comps)))
        bins: list[list[Unit]] = [[] for _ in range(k)]
        cost = [0.0] * k
        for comp in sorted(comps, key=lambda c: -sum(weight(u) for u in c)):
            i = cost.index(min(cost))
            bins[i] += comp
            cost[i] += sum(weight(u) for u in comp)
        rank = {u.id: i for i, u in enumerate(group)}
        out += [sorted(b, key=lambda u: rank[u.id]) for b in bins if b]
    return out


def _groups(units: list[Unit]) -> list[list[Unit]]:
    groups: dict[str, list[Unit]] = {}
    for u in units:
        groups.setdefault(u.model, []).append(u)
    return list(groups.values())


def _components(units: list[Unit]) -> list[list[Unit]]:
    parent = {u.id: u.id for u in units}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    kinds = {u.id: u.kind for u in units}
    for u in units:
        for d in u.deps().values():
            if d.id in parent and kinds[d.id] != "layer_scores":
                parent[find(u.id)] = find(d.id)
    comps: dict[str, list[Unit]] = {}
    for u in units:
        comps.setdefault(find(u.id), []).append(u)
    return list(comps.values())


# --- progress ----------------------------------------------------------------------------------

class _Progress:
    """One bar over units: done, running, failed, and the time left at the rate so far."""

    def __init__(self, total: int, summary: GridSummary, line: prog.StatusLine) -> None:
        self.total, self.summary, self.line = total, summary, line
        self.running: set[str] = set()
        self.finished: set[str] = set()  # a task Ray retried reports its units again: count once
        self.start = time.monotonic()

    def handle(self, ev: dict) -> None:
        uid, kind = ev["unit"], ev["event"]
        if uid in self.finished:
            return
        if kind == "start":
            self.running.add(uid)
            self.draw()
            return
        self.running.discard(uid)
        if kind != "busy":
            self.finished.add(uid)
        s = self.summary
        if kind == "computed":
            s.computed.append(uid)
            s.computations += ev.get("computations", 1)
        elif kind == "stored":
            s.stored.append(uid)
        elif kind == "failed":
            s.failed[uid] = ev["error"]
            self.line.print(f"[grid] unit {uid} failed on {ev.get('host', '?')}: {ev['error']}")
        self.draw()

    def draw(self) -> None:
        s = self.summary
        done = len(s.computed) + len(s.stored) + len(s.failed)
        elapsed = time.monotonic() - self.start
        left = f"~{prog.clock(elapsed / done * (self.total - done))} left" if done else "-"
        self.line.update(f"[grid] units {prog.bar(done, self.total)}  {len(self.running)} running  "
                         f"{len(s.failed)} failed  {prog.clock(elapsed)} elapsed  {left}")


# --- the runners ------------------------------------------------------------------------------

def run_grid(
    profile: str | os.PathLike, *, runner: str = "local", only: Iterable[str] | None = None,
    address: str | None = None, workers: int | None = None, gpus_per_task: float | None = None,
    cpus_per_task: float = 1.0, shards_per_model: int | None = None,
    heartbeat_s: float = HEARTBEAT_S, claim_timeout_s: float = CLAIM_TIMEOUT_S,
    threads: int | None = None, line: prog.StatusLine | None = None,
) -> GridSummary:
    """Compute every unit of a profile (or only the `only` ids) with the chosen runner.

    `threads`: torch threads of the local runner (default: torch's own choice)."""
    if runner not in RUNNERS:
        raise ValueError(f"unknown runner {runner!r}; use one of {', '.join(RUNNERS)}")
    problems = profiles.check(profile)
    if problems:
        raise ValueError(f"{profile} has {len(problems)} problem(s); fix them before a grid run "
                         "(python -m helpers.book check):\n  - " + "\n  - ".join(problems))
    todo = expand(profile)
    if only is not None:
        wanted = [u.strip() for u in only if u.strip()]
        known = {u.id for u in todo}
        unknown = sorted(set(wanted) - known)
        if unknown:
            raise ValueError(f"no unit {', '.join(unknown)} in {profile}: the ids come from a grid "
                             "summary of the same profile and code")
        todo = [u for u in todo if u.id in set(wanted)]
    line = line or prog.StatusLine()
    opts = {"heartbeat_s": heartbeat_s, "claim_timeout_s": claim_timeout_s}
    if runner == "local":
        # convert offline models once, not per worker
        prepare_models(profiles.load_profile(profile), line=line)
        return compute_here(todo, profile=str(profile), threads=threads, line=line, **opts)
    summary = GridSummary(profile=str(profile), runner=runner, total=len(todo))
    bar = _Progress(len(todo), summary, line)
    start = time.perf_counter()
    prepare_models(profiles.load_profile(profile), line=line)  # once, not per worker
    _run_ray(todo, bar, address=address, workers=workers, gpus_per_task=gpus_per_task,
             cpus_per_task=cpus_per_task, shards_per_model=shards_per_model, **opts)
    summary.wall_s = time.perf_counter() - start
    return summary


def compute_here(units: list[Unit], *, profile: str = "", threads: int | None = None,
                 line: prog.StatusLine | None = None, **opts: Any) -> GridSummary:
    """Compute `units` in this process, in `reuse_order`, with the grid's bar; the summary."""
    line = line or prog.StatusLine()
    summary = GridSummary(profile=profile, runner="local", total=len(units))
    bar = _Progress(len(units), summary, line)
    start = time.perf_counter()
    for ev in run_units(reuse_order(units), threads=threads, **opts):
        bar.handle(ev)
    summary.wall_s = time.perf_counter() - start
    return summary


def check_address(address: str, timeout: float = 5.0) -> None:
    """Fail at once, with the fix, when a Ray address (host:port or ray://host:port) is unreachable."""
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"RAY_ADDRESS={address!r} is not host:port or ray://host:port")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as err:
        raise ConnectionError(
            f"no Ray cluster answers at {address} ({err}). Start one there with `ray start --head` "
            "(workers: `ray start --address HEAD:6379`), or unset RAY_ADDRESS to start a local "
            "cluster on this machine") from None


def connect(address: str | None = None, *, num_cpus: int | None = None) -> Any:
    """Connect to the Ray cluster at `address` (else $RAY_ADDRESS), or start a local one."""
    try:
        import ray
    except ImportError:
        raise ImportError("RUNNER=ray needs Ray: pip install -e '.[dist]'") from None
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        check_address(address)
    if not ray.is_initialized():
        kw: dict[str, Any] = {"num_cpus": num_cpus} if not address else {}
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 configure_logging=False, **kw)
    return ray


def _shard_task(units: list[Unit], opts: dict, threads: int | None) -> Iterator[dict]:
    yield from run_units(units, threads=threads, **opts)


def _run_ray(units: list[Unit], bar: _Progress, *, address: str | None, workers: int | None,
             gpus_per_task: float | None, cpus_per_task: float, shards_per_model: int | None,
             **opts: Any) -> None:
    ray = connect(address, num_cpus=math.ceil(workers * cpus_per_task) if workers else None)
    resources = ray.cluster_resources()
    if gpus_per_task is None:
        gpus_per_task = 1.0 if resources.get("GPU", 0) > 0 else 0.0
    if gpus_per_task > 0 and resources.get("GPU", 0) < gpus_per_task:
        raise ValueError(f"gpus_per_task={gpus_per_task} but the cluster has "
                         f"{resources.get('GPU', 0):g} GPU(s); use --gpus-per-task 0 for CPU workers")
    slots = workers or int(resources.get("GPU", 0) / gpus_per_task if gpus_per_task
                           else resources.get("CPU", 1) / cpus_per_task) or 1
    n_models = len({u.model for u in units}) or 1
    parts = shards(units, shards_per_model or max(1, math.ceil(slots / n_models)))
    task = ray.remote(num_cpus=cpus_per_task, num_gpus=gpus_per_task, max_retries=2)(_shard_task)
    threads = max(1, int(cpus_per_task))
    pending = {task.remote(part, opts, threads): part for part in parts}
    seen: dict[Any, set[str]] = {gen: set() for gen in pending}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
        for gen in ready:
            try:
                ev = ray.get(next(gen))
            except StopIteration:
                del pending[gen]
                continue
            except Exception as err:  # the task itself died (worker lost, out of memory, ...)
                error = f"Ray task failed: {type(err).__name__}: {str(err).splitlines()[0]}"
                for u in pending.pop(gen):
                    if u.id not in seen[gen]:
                        _record_lost(u, error)
                        bar.handle({"unit": u.id, "event": "failed", "error": error})
                continue
            if ev["event"] not in ("start", "busy"):
                seen[gen].add(ev["unit"])
            bar.handle(ev)
        bar.draw()


def _record_lost(unit: Unit, error: str) -> None:
    store = ResultStore(store_root(unit))
    store.record_failure(unit.id, {"unit": unit.describe(), "error": error, "traceback": None})


def main(argv: list[str] | None = None) -> None:
    """Command line: compute a profile's units with the local or the Ray runner."""
    parser = argparse.ArgumentParser(prog="python -m helpers.grid", description=main.__doc__)
    parser.add_argument("profile", nargs="?", default="params/default.yml")
    parser.add_argument("--runner", choices=RUNNERS, default=os.environ.get("RUNNER") or "local")
    parser.add_argument("--only", default=None, help="comma-separated unit ids (from a summary)")
    parser.add_argument("--address", default=None, help="Ray cluster (default: $RAY_ADDRESS, else "
                                                        "start a local one)")
    parser.add_argument("--workers", type=int, default=None, help="parallel tasks (default: "
                                                                  "as many as the cluster fits)")
    parser.add_argument("--gpus-per-task", type=float, default=None,
                        help="GPUs per task, fractions allowed (default 1 with GPUs, else 0)")
    parser.add_argument("--cpus-per-task", type=float, default=1.0)
    parser.add_argument("--shards-per-model", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads of the local runner (default: torch's choice)")
    parser.add_argument("--list", action="store_true", help="print the units and exit")
    args = parser.parse_args(argv)
    try:
        if args.list:
            for u in expand(args.profile):
                deps = u.deps()
                after = f"  <- {', '.join(d.id for d in deps.values())}" if deps else ""
                print(f"{u.id}  {u.label()}{after}")
            return
        summary = run_grid(args.profile, runner=args.runner,
                           only=args.only.split(",") if args.only else None, address=args.address,
                           workers=args.workers, gpus_per_task=args.gpus_per_task,
                           cpus_per_task=args.cpus_per_task, shards_per_model=args.shards_per_model,
                           threads=args.threads)
    except (FileNotFoundError, ValueError, ConnectionError, ImportError) as err:
        sys.exit(f"error: {err}")
    print(summary.text())
    if summary.failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
