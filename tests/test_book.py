"""Every chapter executes under papermill on the smoke profile, and the book builds from them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import book

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = [nb for nb in book.NOTEBOOKS if nb != "05_cost"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, site / name)
    shutil.copytree(ROOT / "book", site / "book", ignore=shutil.ignore_patterns("chapters"))
    results = tmp_path_factory.mktemp("results")
    book.run(str(ROOT / "params" / "smoke.yml"), out_dir=str(site / "book" / "chapters"),
             results_dir=str(results))
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "jupyter-book"), "build", str(site), "-W", "-n", "--keep-going"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return site


def test_executed_notebooks_have_no_errors_and_show_parameters(built):
    for nb in CHAPTERS:
        data = json.loads((built / "book" / "chapters" / f"{nb}.ipynb").read_text())
        outputs = [o for c in data["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
        assert not [o for o in outputs if o["output_type"] == "error"], nb
        injected = [c for c in data["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
        assert injected, f"{nb} has no injected parameters cell"


def test_every_chapter_page_has_a_figure_and_a_table(built):
    for nb in CHAPTERS:
        html = (built / "_build" / "html" / "book" / "chapters" / f"{nb}.html").read_text()
        assert re.search(r"<img[^>]+(png|svg)", html), f"{nb}: no figure"
        assert "<table" in html, f"{nb}: no table"
        assert "Traceback" not in html and "Error" not in re.sub(r"<[^>]+>", "", html).split("Parameters")[0]
        assert "smollm2-135m" in html  # the injected parameters are shown
        assert "Try it yourself" in html


def test_failing_chapter_stops_the_run_and_writes_nothing(tmp_path, monkeypatch):
    out = tmp_path / "chapters"
    with pytest.raises(SystemExit, match="failed"):
        book.run(str(ROOT / "params" / "smoke.yml"), ("03_calibration",), out_dir=str(out),
                 tasks=["no-such-task"], results_dir=str(tmp_path / "r"))
    assert not list(out.glob("*.ipynb"))


def test_unknown_profile_key_is_refused(tmp_path):
    bad = tmp_path / "p.yml"
    bad.write_text("models: [smollm2-135m]\nmodel_typo: 1\n")
    with pytest.raises(ValueError, match="model_typo"):
        book.load_profile(bad)


def test_profile_ratios_accept_exact_fractions(tmp_path):
    prof = tmp_path / "p.yml"
    prof.write_text("ratios: [0, 1/3, 0.5]\nchapters:\n  02_faithfulness:\n    ratios: [1/6]\n")
    loaded = book.load_profile(prof)
    assert loaded["ratios"] == [0.0, 1 / 3, 0.5]
    assert loaded["chapters"]["02_faithfulness"]["ratios"] == [1 / 6]
    prof.write_text("ratios: [one third]\n")
    with pytest.raises(ValueError, match="fraction like 1/3"):
        book.load_profile(prof)
