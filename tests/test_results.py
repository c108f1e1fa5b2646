"""The results store: reuse on equal parameters, recompute on changed ones, never a partial file."""

from __future__ import annotations

import json

import pytest

from helpers.results import ResultStore, metrics_frame, unit_key, write_json_atomic


def test_same_parameters_reuse_changed_parameters_recompute(tmp_path):
    store = ResultStore(tmp_path, code="test")
    calls = []

    def compute(value):
        def run():
            calls.append(value)
            return {"metrics": [{"metric": "accuracy", "value": value}]}

        return run

    a = store.get_or_compute("scores", {"model": "m", "ratio": 0.5}, compute(1.0), {"device": "cpu"})
    b = store.get_or_compute("scores", {"ratio": 0.5, "model": "m"}, compute(2.0))  # key order irrelevant
    assert calls == [1.0] and a == b
    assert a["provenance"]["device"] == "cpu" and "versions" in a["provenance"]
    assert a["provenance"]["wall_time_s"] >= 0
    c = store.get_or_compute("scores", {"model": "m", "ratio": 1 / 3}, compute(3.0))
    assert calls == [1.0, 3.0] and c["metrics"][0]["value"] == 3.0
    assert len(store.records("scores")) == 2
    assert set(metrics_frame(store.records("scores")).value) == {1.0, 3.0}


def test_versions_are_part_of_the_key():
    params = {"model": "m"}
    assert unit_key("scores", params, {"torch": "1"}, "c") != unit_key("scores", params, {"torch": "2"}, "c")
    assert unit_key("scores", params, {"torch": "1"}, "c") != unit_key("faithfulness", params,
                                                                       {"torch": "1"}, "c")


def test_interrupted_computation_leaves_nothing(tmp_path):
    store = ResultStore(tmp_path, code="test")

    def boom():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.get_or_compute("scores", {"model": "m"}, boom)
    assert not any(tmp_path.rglob("*.json")) and not any(tmp_path.rglob("*.tmp"))


def test_interrupted_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "unit.json"
    write_json_atomic(path, {"ok": 1})

    def broken_dump(obj, f):
        f.write('{"partial": ')
        raise OSError("disk full")

    monkeypatch.setattr(json, "dump", broken_dump)
    with pytest.raises(OSError):
        write_json_atomic(path, {"ok": 2})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"ok": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["unit.json"]


def test_code_fingerprint_is_part_of_the_key():
    params = {"model": "m"}
    versions = {"torch": "1"}
    assert unit_key("scores", params, versions, "code-a") != unit_key("scores", params, versions, "code-b")


def test_a_kind_without_a_registered_fingerprint_is_named(tmp_path, monkeypatch):
    from helpers import results

    monkeypatch.delitem(results.CODE_OF, "scores", raising=False)
    with pytest.raises(ValueError, match="import helpers.units"):
        ResultStore(tmp_path).path("scores", {"model": "m"})


_KEYS_SCRIPT = """
import json, sys
import helpers
from helpers import units
from helpers.workload import expand
assert helpers.__file__.startswith(sys.argv[1]), helpers.__file__
out = {}
for u in expand(sys.argv[2]):
    what = u.arg("criterion") or (u.config.criterion if u.config and u.config.pruned else "full")
    out[u.id] = {"kind": u.kind, "criterion": what, "key": units.key(u)}
print(json.dumps(out))
"""


def test_a_unit_is_keyed_by_the_code_its_computation_imports(tmp_path):
    """A scratch copy of `helpers`, keys printed by subprocesses (nothing is computed): editing a
    readout leaves every unit's key; editing lrp.py changes only units that LRP computes or that
    were pruned by its scores; editing scoring.py changes every `scores` unit."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import helpers

    src = tmp_path / "src"
    shutil.copytree(Path(helpers.__file__).parent, src / "helpers",
                    ignore=shutil.ignore_patterns("__pycache__"))
    profile = Path(__file__).resolve().parents[1] / "params" / "smoke.yml"

    def keys() -> dict:
        out = subprocess.run([sys.executable, "-c", _KEYS_SCRIPT, str(src), str(profile)],
                             env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin",
                                  "HF_HUB_OFFLINE": "1"},
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    def edit(name: str) -> None:
        path = src / "helpers" / name
        path.write_text(path.read_text() + "\n# an edit\n")

    before = keys()
    assert {v["kind"] for v in before.values()} >= {"scores", "layer_scores", "faithfulness"}
    edit("readouts.py")
    edit("plots.py")
    assert keys() == before
    edit("lrp.py")
    after = keys()
    changed = {uid for uid in before if before[uid]["key"] != after[uid]["key"]}
    relevance = {uid for uid, v in before.items() if v["criterion"] == "relevance"}
    faithfulness = {uid for uid, v in before.items() if v["kind"] == "faithfulness"}
    assert relevance and changed == relevance | faithfulness  # attribution imports lrp
    kept = [v for uid, v in before.items() if v["kind"] == "scores" and uid not in relevance]
    assert kept and all(after[uid]["key"] == v["key"] for uid, v in before.items()
                        if v["kind"] == "scores" and uid not in relevance)
    edit("scoring.py")
    final = keys()
    assert all(final[uid]["key"] != after[uid]["key"] for uid, v in before.items()
               if v["kind"] == "scores")
