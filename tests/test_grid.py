"""The grid: units as the chapters ask for them, a store many workers share, local and Ray runners.

Counts, not timings: every check counts computations in the store's log or compares stored values.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from helpers import grid
from helpers.results import ResultStore, UnitBusy

ROOT = Path(__file__).resolve().parents[1]


# --- tiny models on disk, so that separate processes (Ray workers) can load them -----------------

@pytest.fixture(scope="module")
def tiny_folders(tmp_path_factory):
    """Two tiny random llamas with smollm2's tokenizer, saved as local model folders."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from helpers.models import offline_model_path

    tok = AutoTokenizer.from_pretrained(offline_model_path("smollm2-135m"))
    out = []
    for seed in (0, 1):
        folder = tmp_path_factory.mktemp(f"tiny{seed}")
        torch.manual_seed(seed)
        cfg = LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32,
                          num_hidden_layers=4, num_attention_heads=2, num_key_value_heads=1,
                          max_position_embeddings=512, tie_word_embeddings=True)
        LlamaForCausalLM(cfg).save_pretrained(folder)
        tok.save_pretrained(folder)
        out.append(str(folder))
    return out


def tiny_profile(path: Path, models: list[str], store: Path, **extra) -> Path:
    """A small grid profile on tiny models (every chapter's unit kinds, two ratios)."""
    profile = {"models": models, "tasks": ["mr"], "ratios": [0, 0.5], "criteria": ["similarity", "last"],
               "methods": ["input_x_gradient", "random"], "n_examples": 4, "n_calibration": 4,
               "n_faithfulness": 2, "shots": 1, "seed": 0, "demo_seeds": [0, 1], "criterion_seeds": [0],
               "ig_steps": 2, "device": "cpu", "batch_size": 4, "results_dir": str(store),
               "importance_texts": 2, "importance_max_length": 16, "latency_batch": 1,
               "latency_tokens": 8, "n_resamples": 50, **extra}
    path.write_text(yaml.safe_dump(profile))
    return path


def stored(store: Path) -> dict[str, dict]:
    """Every unit file of a store, by kind/key, without what legitimately differs between runs."""
    out = {}
    for p in sorted(store.glob("*/*.json")):
        if p.parent.name.startswith("_"):
            continue
        rec = json.loads(p.read_text())
        rec.pop("provenance")
        for row in rec.get("metrics", []):
            if row["metric"].startswith("forward_s") or row["metric"] == "examples_per_second":
                row["value"] = None  # measured times
        out[f"{p.parent.name}/{p.stem}"] = rec
    return out


def run_in_subprocess(code: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


# --- the store's claims ----------------------------------------------------------------------

def test_a_busy_unit_is_awaited_not_recomputed(tmp_path):
    owner = ResultStore(tmp_path, heartbeat_s=0.05, claim_timeout_s=0.5)
    waiter = ResultStore(tmp_path, heartbeat_s=0.05, claim_timeout_s=0.5)
    calls, started = [], threading.Event()

    def slow():
        calls.append("owner")
        started.set()
        time.sleep(1.5)  # three claim timeouts: only the heartbeat keeps the claim alive
        return {"v": 1}

    t = threading.Thread(target=owner.get_or_compute, args=("scores", {"a": 1}, slow))
    t.start()
    started.wait()
    waiter.skip_busy = True
    with pytest.raises(UnitBusy):
        waiter.get_or_compute("scores", {"a": 1}, lambda: calls.append("waiter") or {"v": 2})
    waiter.skip_busy = False
    rec = waiter.get_or_compute("scores", {"a": 1}, lambda: calls.append("waiter") or {"v": 2})
    t.join()
    assert calls == ["owner"] and rec["v"] == 1
    assert [c["kind"] for c in waiter.computations()] == ["scores"]
    assert not list(tmp_path.rglob("*.claim"))


def test_a_claim_without_heartbeat_is_taken_over(tmp_path):
    store = ResultStore(tmp_path, heartbeat_s=0.05, claim_timeout_s=0.3)
    claim = store.path("scores", {"a": 1}).with_suffix(".claim")
    claim.parent.mkdir(parents=True)
    claim.write_text(json.dumps({"owner": "elsewhere:1:x", "host": "another-host", "pid": 1}))
    (claim.parent / f".{claim.stem}.json.another-host.1.abc.tmp").write_text('{"half": ')
    rec = store.get_or_compute("scores", {"a": 1}, lambda: {"v": 3})
    assert rec["v"] == 3 and not claim.exists()
    assert not list(tmp_path.rglob("*.tmp"))  # the dead owner's half-written file went with it


def test_claim_timeout_must_exceed_heartbeat(tmp_path):
    with pytest.raises(ValueError, match="must exceed heartbeat_s"):
        ResultStore(tmp_path, heartbeat_s=5, claim_timeout_s=5)


# --- the units match the chapters --------------------------------------------------------------

def test_expansion_has_dependencies_first_and_no_duplicates():
    from helpers.workload import expand

    todo = expand(ROOT / "params" / "default.yml")
    ids = [u.id for u in todo]
    assert len(ids) == len(set(ids))
    position = {uid: i for i, uid in enumerate(ids)}
    for u in todo:
        deps = u.deps()
        assert all(position[d.id] < position[u.id] for d in deps.values()), u.label()
        if u.config is not None and u.config.ratio > 0 and u.config.criterion == "similarity":
            assert deps["layer_scores"].kind == "layer_scores"
    kinds = {u.kind for u in todo}
    assert kinds == {"layer_scores", "scores", "faithfulness", "latency", "oracle"}
    scored = {u.arg("criterion") for u in todo if u.kind == "layer_scores"}
    assert scored == {"similarity", "relevance", "greedy_kl"}
    # chapter 4's seed study: the first model and task over every demonstration seed
    seeds = {u.config.demo_seed for u in todo if u.kind == "scores"}
    assert seeds == {0, 1, 2}


def test_reuse_order_puts_a_full_model_before_its_pruned_variants_on_the_same_rows():
    """A permutation of the expansion; each model's units in one run, and each pruned scores or
    faithfulness unit after the full model's unit of its kind on the same rows (depth reuse)."""
    from helpers.workload import expand

    todo = expand(ROOT / "params" / "default.yml")
    order = grid.reuse_order(todo)
    assert sorted(u.id for u in order) == sorted(u.id for u in todo)
    models = [u.model for u in order]
    assert all(models.index(m) + models.count(m) - 1 == len(models) - 1 - models[::-1].index(m)
               for m in set(models))  # contiguous
    position = {u.id: i for i, u in enumerate(order)}
    checked = 0
    for u in order:
        if u.kind in ("scores", "faithfulness") and u.config.pruned:
            full = next(f for f in order if f.kind == u.kind and f.model == u.model
                        and f.config.identity() == u.config.unpruned().identity()
                        and f.args == u.args)
            assert position[full.id] < position[u.id], u.label()
            checked += 1
    assert checked > 40
    # a smaller faithfulness sample on the same rows comes after the larger one
    faith = [u for u in order if u.kind == "faithfulness" and not u.config.pruned
             and u.arg("method") == "lrp" and u.model == "smollm2-135m" and u.config.task == "mr"
             and u.config.demo_seed == 0]
    assert [u.arg("n_examples") for u in faith] == [100, 32]


def test_the_pool_forgets_stored_states_when_asked(tiny_folders):
    from helpers import depth_reuse
    from helpers.pool import ModelPool
    from helpers.scoring import body_logits, build_prompt
    from helpers.tasks import get_task

    pool = ModelPool("cpu")
    model, tok = pool.full(tiny_folders[0])
    prompt = build_prompt(tok, get_task("mr"), shots=1)
    body_logits(model, tok, prompt, [[5, 6, 7], [8, 9]], batch_size=2, progress=False, share=True)
    store = depth_reuse.store_of(model)
    assert len(store) > 0 and store.bytes > 0
    pool.forget_states()
    assert len(store) == 0 and store.bytes == 0


def test_shards_keep_a_model_and_its_faithfulness_chains_together(tiny_folders, tmp_path):
    from helpers.workload import expand

    todo = expand(tiny_profile(tmp_path / "p.yml", tiny_folders, tmp_path / "s"))
    parts = grid.shards(todo, per_model=2)
    assert sorted(u.id for p in parts for u in p) == sorted(u.id for u in todo)
    assert all(len({u.model for u in p}) == 1 for p in parts) and len(parts) == 4
    where = {u.id: i for i, p in enumerate(parts) for u in p}
    for u in todo:
        for d in u.deps().values():
            if d.kind != "layer_scores":
                assert where[d.id] == where[u.id]


# --- runners ---------------------------------------------------------------------------------

_RUN = ("from helpers import grid; import sys; s = grid.run_grid(sys.argv[1] if len(sys.argv) > 1 "
        "else {path!r}, heartbeat_s=0.2, claim_timeout_s=2); print(s.text())")


def test_two_runners_at_once_compute_every_unit_once(tiny_folders, tmp_path):
    path = tiny_profile(tmp_path / "p.yml", tiny_folders, tmp_path / "store")
    procs = [run_in_subprocess(_RUN.format(path=str(path))) for _ in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    log = ResultStore(tmp_path / "store").computations()
    keys = [c["key"] for c in log]
    files = list((tmp_path / "store").glob("[!_]*/*.json"))
    assert len(keys) == len(set(keys)) == len(files)  # each unit computed exactly once
    print(f"two runners: {len(keys)} computations, {len(files)} units, per runner "
          f"{ {pid: sum(c['pid'] == pid for c in log) for pid in {c['pid'] for c in log}} }")


def test_a_worker_killed_mid_unit_is_recomputed_and_nothing_else(tiny_folders, tmp_path):
    path = tiny_profile(tmp_path / "p.yml", tiny_folders[:1], tmp_path / "store")
    flag = tmp_path / "in-latency"
    hang = ("import time, pathlib, helpers.pruning as p\n"
            "def hang(model):\n"
            f"    pathlib.Path({str(flag)!r}).touch(); time.sleep(600)\n"
            "p.count_parameters = hang\n")  # inside the first latency unit, after its claim
    proc = run_in_subprocess(hang + _RUN.format(path=str(path)))
    deadline = time.monotonic() + 300
    while not flag.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = tmp_path / "store"
    claims = list(store.glob("latency/*.claim"))
    assert len(claims) == 1 and not list(store.glob("latency/*.json"))  # claimed, nothing written
    before = {c["key"] for c in ResultStore(store).computations()}
    summary = grid.run_grid(path, heartbeat_s=0.2, claim_timeout_s=2)
    assert not summary.failed
    log = ResultStore(store).computations()
    keys = [c["key"] for c in log]
    assert len(keys) == len(set(keys))  # nothing computed twice: the first run's units were kept
    assert claims[0].stem in set(keys) - before  # the killed unit was computed by the second run
    assert not list(store.rglob("*.claim")) and not list(store.rglob("*.tmp"))


def test_a_failing_unit_is_recorded_and_the_grid_goes_on(tiny_folders, tmp_path, monkeypatch):
    import dataclasses

    from helpers import units

    path = tiny_profile(tmp_path / "p.yml", tiny_folders[:1], tmp_path / "store")
    real = units.KINDS["latency"]

    def broken(job):
        if job.unit.config.ratio > 0:
            raise RuntimeError("simulated out of memory")
        return real.compute(job)

    # the same code fingerprint as the real kind: only the computation misbehaves
    monkeypatch.setitem(units.KINDS, "latency", dataclasses.replace(
        real, compute=broken, code=lambda keyed: (real.compute.__module__,)))
    summary = grid.run_grid(path)
    assert len(summary.failed) == 1 and "simulated out of memory" in next(iter(summary.failed.values()))
    assert len(summary.computed) == summary.total - 1
    text = summary.text()
    uid = next(iter(summary.failed))
    assert f"UNITS={uid}" in text
    record = ResultStore(tmp_path / "store").failures()[uid]
    assert record["unit"]["kind"] == "latency" and "Traceback" in record["traceback"] and record["host"]
    inventory = ResultStore(tmp_path / "store").inventory()
    assert "_failures" not in inventory.index and inventory.stale.sum() == 0  # prune keeps them
    monkeypatch.setitem(units.KINDS, "latency", real)
    n = len(ResultStore(tmp_path / "store").computations())
    again = grid.run_grid(path, only=[uid])
    assert again.total == 1 and not again.failed
    assert len(ResultStore(tmp_path / "store").computations()) == n + 1  # only that one
    assert ResultStore(tmp_path / "store").failures() == {}


def test_a_profile_that_fails_check_computes_nothing(tmp_path):
    path = tiny_profile(tmp_path / "p.yml", ["smollm2-135m"], tmp_path / "store", ratios=[0, 1.5],
                        tasks=["no-such-task"])
    with pytest.raises(ValueError, match=r"(?s)2 problem\(s\).*no-such-task.*1.5") as err:
        grid.run_grid(path)
    assert "fix them before a grid run" in str(err.value)
    assert not (tmp_path / "store").exists()


def test_an_unreachable_ray_address_fails_at_once_with_the_fix(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    pytest.importorskip("ray")
    start = time.monotonic()
    with pytest.raises(ConnectionError, match="no Ray cluster answers at .*ray start --head"):
        grid.connect()
    assert time.monotonic() - start < 30


def test_an_unknown_unit_id_is_named(tmp_path, tiny_folders):
    path = tiny_profile(tmp_path / "p.yml", tiny_folders[:1], tmp_path / "store")
    with pytest.raises(ValueError, match="no unit scor-0000000000"):
        grid.run_grid(path, only=["scor-0000000000"])


@pytest.mark.slow
def test_ray_runner_stores_what_the_local_runner_stores(tiny_folders, tmp_path):
    ray = pytest.importorskip("ray")
    local = tiny_profile(tmp_path / "local.yml", tiny_folders, tmp_path / "local")
    remote = tiny_profile(tmp_path / "ray.yml", tiny_folders, tmp_path / "ray")
    a = grid.run_grid(local, threads=1)  # the Ray tasks run one thread each: same arithmetic
    try:
        b = grid.run_grid(remote, runner="ray", workers=2, cpus_per_task=1)
    finally:
        ray.shutdown()
    assert not a.failed and not b.failed and b.total == a.total
    left, right = stored(tmp_path / "local"), stored(tmp_path / "ray")
    assert sorted(left) == sorted(right) and len(left) >= a.total
    assert left == right
    hosts = {c["pid"] for c in ResultStore(tmp_path / "ray").computations()}
    assert len(hosts) == 2  # two Ray workers shared the grid


def test_prune_unused_keeps_exactly_the_units_a_profile_reads(tmp_path):
    from helpers import units
    from helpers.inventory import needed_paths
    from helpers.workload import expand

    store = ResultStore(tmp_path / "store")
    profile = str(ROOT / "params" / "smoke.yml")
    needed = needed_paths([profile], store)
    kinds = {p.parent.name for p in needed}
    assert kinds == {"layer_scores", "scores", "faithfulness", "latency", "oracle"}
    assert len(needed) == len(expand(profile))
    # fill the store with two needed units (at their keys) and one no profile reads
    for unit in expand(profile)[:2]:
        store.get_or_compute(unit.kind, units.params(unit), lambda: {"x": 1})
    extra = store.get_or_compute("scores", {"model": "nobody"}, lambda: {"x": 2})
    assert extra and len(list(store.root.glob("*/*.json"))) == 3
    gone = store.prune(keep=needed)
    assert [p.parent.name for p in gone] == ["scores"] and len(gone) == 1
    assert all(units.path(store, u).exists() for u in expand(profile)[:2])
