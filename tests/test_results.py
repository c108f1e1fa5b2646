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


def test_code_fingerprint_is_part_of_the_key():
    params = {"model": "m"}
    versions = {"torch": "1"}
    assert unit_key("scores", params, versions, "code-a") != unit_key("scores", params, versions, "code-b")


_UNIT_SCRIPT = """
import json, sys
import helpers
from helpers import calibration
from helpers.results import ResultStore
assert helpers.__file__.startswith(sys.argv[2]), helpers.__file__
store = ResultStore(sys.argv[1])
rec = store.get_or_compute("scores", {"model": "m"},
                           lambda: {"ece": calibration.ece([[0.8, 0.2], [0.3, 0.7]], [0, 0])})
print(json.dumps({"ece": rec["ece"], "finished": rec["provenance"]["finished"],
                  "wall": rec["provenance"]["wall_time_s"]}))
"""


def test_editing_a_helper_recomputes_the_unit(tmp_path):
    """A scratch copy of `helpers`, run in subprocesses: an edit to a computing module recomputes,
    an edit to a presentation module (plots) reuses."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import helpers

    src = tmp_path / "src"
    shutil.copytree(Path(helpers.__file__).parent, src / "helpers",
                    ignore=shutil.ignore_patterns("__pycache__"))
    store = tmp_path / "store"

    def run() -> dict:
        out = subprocess.run([sys.executable, "-c", _UNIT_SCRIPT, str(store), str(src)],
                             env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    first = run()
    assert first["ece"] == pytest.approx((0.2 + 0.7) / 2)  # 0.8 right and 0.7 wrong, own bins
    assert run() == first  # reused: same record, same finish time
    plots = src / "helpers" / "plots.py"
    plots.write_text(plots.read_text() + "\n# a presentation edit\n")
    assert run() == first
    calib = src / "helpers" / "calibration.py"
    calib.write_text(calib.read_text().replace(
        'return float((filled["count"] * filled["gap"].abs()).sum() / filled["count"].sum())',
        'return 2 * float((filled["count"] * filled["gap"].abs()).sum() / filled["count"].sum())'))
    second = run()
    assert second["ece"] == pytest.approx(0.9)  # recomputed with the edited metric
    assert len(list((store / "scores").glob("*.json"))) == 2
    from helpers.results import ResultStore

    fresh = ResultStore(store, code=__import__("helpers.results").results.code_fingerprint(src / "helpers"))
    assert fresh.inventory().loc["scores"].to_dict() == {"units": 2, "stale": 1, "megabytes": 0.0}
    assert len(fresh.prune()) == 1 and fresh.inventory().loc["scores", "stale"] == 0
