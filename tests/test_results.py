"""The results store: reuse on equal parameters, recompute on changed ones, never a partial file."""

from __future__ import annotations

import json

import pytest

from helpers.results import ResultStore, metrics_frame, unit_key, write_json_atomic


def test_same_parameters_reuse_changed_parameters_recompute(tmp_path):
    store = ResultStore(tmp_path)
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
    assert unit_key("scores", params, {"torch": "1"}) != unit_key("scores", params, {"torch": "2"})
    assert unit_key("scores", params, {"torch": "1"}) != unit_key("faithfulness", params, {"torch": "1"})


def test_interrupted_computation_leaves_nothing(tmp_path):
    store = ResultStore(tmp_path)

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
