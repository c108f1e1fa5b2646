"""The "Run on a GPU" page's generated tables, and the pages of the table of contents.

The generated page (helpers.plan.write_gpu_page) must hold a row for every model of every
profile whose memory and hours are what helpers.plan computes; here they are recomputed from
plan's building blocks (unit costs, memory_gb, the measured throughput), not from the functions
that write the page. No model is converted: the model cache is an empty folder throughout.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import yaml

from helpers import models, plan
from helpers.profiles import load_profile
from helpers.workload import expand

ROOT = Path(__file__).resolve().parents[1]
PROFILES = sorted((ROOT / "params").glob("*.yml"))
ROW = re.compile(r"^\| (?P<cells>.+) \|$")


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[str, Path]:
    """The page as the build writes it (every profile), with an empty model cache."""
    cache = tmp_path_factory.mktemp("model-cache")
    folder = tmp_path_factory.mktemp("generated")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(models.CACHE_ENV, str(cache))
        written = plan.write_gpu_page(folder)
    assert written == folder / plan.GPU_PAGE
    return written.read_text(encoding="utf-8"), cache


@pytest.fixture
def page(generated) -> str:
    return generated[0]


def section(text: str, profile: Path) -> str:
    """The part of the generated page about one profile."""
    label = f"(gpu-plan-{profile.stem})="
    assert label in text, f"no section for {profile.name}"
    return text.split(label, 1)[1].split("\n(gpu-plan-", 1)[0]


def rows(text: str, header_start: str) -> dict[str, list[str]]:
    """The rows of the Markdown table whose header begins with `header_start`, by first cell."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header_start} |"))
    out = {}
    for line in lines[start + 2:]:
        match = ROW.match(line)
        if not match:
            break
        cells = [c.strip() for c in match["cells"].split(" | ")]
        out[cells[0]] = cells[1:]
    return out


def two_digits(value: float) -> float:
    """`value` rounded to two significant digits, as a reader would check it."""
    return float(f"{value:.2g}")


def shown(cell: str) -> float:
    return float(cell.replace(",", "").replace("*", "").strip())


def expected_hours(profile: dict, measured: dict) -> dict[str, float]:
    """Hours per model on one H100: each unit's FLOPs at the H100's datasheet peak times the share
    of peak its unit kind reached on the measured reference machine."""
    reference = measured["devices"][measured["reference"]]
    peak = plan.GPU_PEAK_TFLOPS[plan.PAGE_GPU] * 1e12
    hours: dict[str, float] = {}
    for unit in expand(profile):
        cost = plan.unit_cost(unit)
        share = reference["kinds"][cost["rate"]]["gflops"] / reference["peak_gflops"]
        hours[unit.model] = hours.get(unit.model, 0.0) + cost["flops"] / (peak * share) / 3600
    return hours


@pytest.mark.parametrize("profile", PROFILES, ids=[p.stem for p in PROFILES])
def test_every_model_of_every_profile_has_its_memory_and_hours(generated, profile):
    page, cache = generated
    part = section(page, profile)
    table = rows(part, "model")
    loaded = load_profile(profile)
    wanted = sorted({u.model for u in expand(loaded)})
    assert sorted(m for m in table if m != "all models") == wanted
    unit = re.search(r"\| one H100 \((h|min|s)\) \|", part)[1]
    scale = {"h": 1, "min": 60, "s": 3600}[unit]
    measured = plan.load_throughput()
    hours = expected_hours(loaded, measured)
    for model in wanted:
        weights, forward, backward, time = table[model]
        full, fwd = plan.memory_gb(model), plan.memory_gb(model, backward=False)
        assert shown(weights) == pytest.approx(full["weights GB"], rel=0.006), model
        assert shown(forward) == pytest.approx(fwd["peak GB"], rel=0.006), model
        assert shown(backward) == pytest.approx(full["peak GB"], rel=0.006), model
        if time.startswith("<"):
            assert hours[model] * scale < 0.01
        else:
            assert shown(time) == two_digits(hours[model] * scale), model
    total = plan.plan(loaded, measured).loc["total", f"{plan.PAGE_GPU} h"]
    assert sum(hours.values()) == pytest.approx(total, rel=1e-9)
    if not table["all models"][-1].startswith("<"):
        assert shown(table["all models"][-1]) == two_digits(total * scale)
    assert list(cache.iterdir()) == []  # priced from shapes: nothing converted


def test_the_device_table_and_the_fit_lines_follow_the_memory_estimate(page):
    part = section(page, ROOT / "params" / "paper.yml")
    devices = rows(part, "device (memory)")
    loaded = load_profile(ROOT / "params" / "paper.yml")
    names = sorted({u.model for u in expand(loaded)})
    peaks = {m: plan.memory_gb(m)["peak GB"] for m in names}  # faithfulness runs a backward
    flops = sum(plan.unit_cost(u)["flops"] for u in expand(loaded))
    unit = re.search(r"\| predicted \((h|min|s)\) \|", part)[1]
    scale = {"h": 1, "min": 60, "s": 3600}[unit]
    for gpu, gb in plan.GPU_MEMORY_GB.items():
        _, cautious, count, fit = devices[f"{gpu} ({gb:g} GB)"]
        hours = flops / (plan.GPU_PEAK_TFLOPS[gpu] * 1e12 * plan.CONSERVATIVE_SHARE) / 3600
        assert shown(cautious) == two_digits(hours * scale)
        assert int(count) == max(1, math.ceil(hours / plan.OVERNIGHT_H))
        assert fit == f"{sum(p <= gb for p in peaks.values())} of {len(names)}"
        too_big = [m for m, p in peaks.items() if p > gb]
        line = next((x for x in part.splitlines() if x.startswith(f"- does not fit a {gpu} ")), "")
        assert sorted(m for m in names if f" {m} (" in line or f": {m} (" in line) == sorted(too_big)


def test_without_a_measured_throughput_the_page_gives_memory_only(empty_cache, monkeypatch):
    monkeypatch.setattr(plan, "THROUGHPUT_FILE", empty_cache / "missing.json")
    text = plan.gpu_page_markdown([ROOT / "params" / "smoke.yml"])
    assert "No throughput has been measured" in text
    assert rows(text, "model")["smollm2-135m"][-1] == "–"


def test_an_unchanged_page_is_not_rewritten(empty_cache, tmp_path):
    first = plan.write_gpu_page(tmp_path, [ROOT / "params" / "smoke.yml"])
    stamp = first.stat().st_mtime_ns
    assert plan.write_gpu_page(tmp_path, [ROOT / "params" / "smoke.yml"]).stat().st_mtime_ns == stamp


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    found, todo = [toc["root"]], list(toc.get("parts", []))
    while todo:
        node = todo.pop()
        for entry in node.get("chapters", []) + node.get("sections", []):
            found.append(entry["file"])
            todo.append(entry)
    return found


def test_the_pages_the_toc_lists_exist():
    files = toc_files()
    assert "book/gpu" in files and "book/teach" in files
    for name in files:
        if name.startswith("book/chapters/"):  # executed from its notebook by `make book`
            assert (ROOT / "notebooks" / f"{Path(name).name}.py").is_file(), name
        else:
            assert (ROOT / f"{name}.md").is_file(), name


def test_the_gpu_page_includes_the_generated_tables():
    text = (ROOT / "book" / "gpu.md").read_text()
    assert f"```{{include}} generated/{plan.GPU_PAGE}" in text
    for profile in PROFILES:  # the labels the page may link to exist in the generated part
        assert f"gpu-plan-{profile.stem}" in plan.gpu_page_markdown([profile])


USING_PAGES = ("gpu.md", "teach.md", "reproduce.md")


def test_the_make_targets_on_the_using_pages_exist():
    targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), flags=re.M))
    for page in USING_PAGES:
        text = (ROOT / "book" / page).read_text()
        used = set(re.findall(r"(?:`|^)make ([a-z][\w-]*)", text, flags=re.M))
        assert used, page
        assert used <= targets, f"{page}: {sorted(used - targets)}"


@pytest.mark.parametrize("module", ["book", "inventory", "grid"])
def test_the_helpers_commands_on_the_using_pages_exist(module, capsys):
    import importlib

    main = importlib.import_module(f"helpers.{module}").main
    with pytest.raises(SystemExit):
        main(["--help"])
    usage = capsys.readouterr().out
    for page in USING_PAGES:
        text = (ROOT / "book" / page).read_text()
        for word in re.findall(rf"python -m helpers\.{module} ([\w-]+)", text):
            if not word.startswith("-") and module != "grid":  # grid's first word is a profile
                assert word in usage, f"{page}: helpers.{module} {word}"
        for option in re.findall(rf"python -m helpers\.{module} [^`\n]*?(--[\w-]+)", text):
            assert option in usage, f"{page}: helpers.{module} {option}"


def test_the_cost_page_shows_the_benchmark_command_without_paths():
    import sys

    from bench import report
    from helpers import pagecheck

    snapshot = report.load(ROOT / "bench" / "latest.json")
    shown = report.portable_command(snapshot["meta"]["command"])
    assert shown.startswith("python -m bench.run")
    assert pagecheck.scrub_paths(shown) == shown  # no folder of this machine
    recorded = (f"{sys.executable} -m bench.run --quick --out {ROOT}/_build/x.json "
                "--timings=/elsewhere/timings.json")
    assert report.portable_command(recorded) == (
        "python -m bench.run --quick --out _build/x.json --timings=.../timings.json")
    assert "sys.executable" not in (ROOT / "bench" / "run.py").read_text().split('"command"')[1][:200]
