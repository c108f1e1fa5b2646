"""Reader-facing helpers (parameter table, ratio labels, findings page) and the progress status."""

from __future__ import annotations

import io
import json
import re
from fractions import Fraction

import pytest

from helpers import pages, progress
from helpers.profiles import PARAMETERS


@pytest.mark.parametrize(("ratio", "label"), [
    (0.1666, "1/6"), (1 / 3, "1/3"), (0.3333, "1/3"), (0.5, "1/2"), (0.25, "1/4"), (0, "0"),
    (1, "1"), (2 / 12, "1/6"), (5 / 12, "5/12"), (0.34, "0.34"), (0.01, "0.01"), ("1/3", "1/3"),
])
def test_ratio_label_writes_simple_fractions_and_keeps_other_decimals(ratio, label):
    assert pages.ratio_label(float(Fraction(str(ratio)))) == label


def test_ratio_label_agrees_with_fractions_for_every_small_denominator():
    for den in range(1, 13):
        for num in range(den + 1):
            exact = Fraction(num, den)
            assert pages.ratio_label(round(float(exact), 4)) == str(exact)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "a third", None])
def test_ratio_label_refuses_what_is_not_a_finite_number(bad):
    with pytest.raises(ValueError, match="ratio_label"):
        pages.ratio_label(bad)


def test_parameter_table_shows_each_value_once_in_reading_form():
    styler = pages.parameter_table({"models": ["smollm2-135m", "gemma3-270m"], "ratios": [0, 1 / 6, 1 / 3],
                                    "fractions": [0.01, 0.5], "seed": 0, "custom": "x"},
                                   descriptions={"custom": "a setting of my own"})
    rows = styler.data.set_index("parameter")
    assert rows.loc["models", "value"] == "smollm2-135m, gemma3-270m"
    assert rows.loc["ratios", "value"] == "0, 1/6, 1/3"
    assert rows.loc["fractions", "value"] == "1%, 50%"
    assert rows.loc["seed", "value"] == "0"
    assert rows.loc["custom", "what it sets"] == "a setting of my own"
    assert rows.loc["ratios", "what it sets"] == PARAMETERS["ratios"].description
    html = styler.to_html()
    assert html.count("smollm2-135m") == 1 and "Parameters of this run" in html


def test_parameter_table_refuses_an_empty_mapping():
    with pytest.raises(ValueError, match="non-empty mapping"):
        pages.parameter_table({})


def test_setup_makes_figures_fit_the_column_and_fonts_legible():
    import matplotlib as mpl

    pages.setup()
    assert mpl.rcParams["font.size"] >= 12
    width_px = mpl.rcParams["figure.figsize"][0] * 96  # SVG: 1 in = 96 CSS px
    assert 600 <= width_px <= 760  # the theme's content column is about 720 px wide


def test_findings_become_linked_bullets_in_chapter_order(tmp_path):
    store = tmp_path / "generated" / "findings.json"
    pages.record_finding("03_calibration", "ece", "ECE rose from 0.05 to 0.12.", "tab-3-2", store)
    pages.record_finding("01_pruning_method", "acc", "Accuracy held   within\n 2 points.", "fig-1-1", store)
    pages.record_finding("01_pruning_method", "acc", "Accuracy held within 3 points.", "fig-1-1", store)
    page = pages.write_findings_page(store.parent).read_text()
    bullets = [line for line in page.splitlines() if line.startswith("- ")]
    assert bullets == [
        "- Accuracy held within 3 points ({ref}`figure <fig-1-1>`).",
        "- ECE rose from 0.05 to 0.12 ({ref}`table <tab-3-2>`).",
    ]
    assert not [p for p in store.parent.iterdir() if p.name.startswith(".")]  # no temp files left


def test_resetting_a_chapter_drops_only_its_findings_and_names_the_run(tmp_path):
    store = tmp_path / "findings.json"
    pages.record_finding("01_pruning_method", "a", "One.", "tab-1-1", store)
    pages.record_finding("02_faithfulness", "b", "Two.", "tab-2-1", store)
    pages.reset_findings("01_pruning_method", {"profile": "params/smoke.yml", "overrides": {}}, store)
    data = pages.load_findings(store)
    assert data["chapters"]["01_pruning_method"]["findings"] == {}
    assert list(data["chapters"]["02_faithfulness"]["findings"]) == ["b"]
    page = pages.findings_markdown(data)
    assert "One" not in page and "Two ({ref}`table <tab-2-1>`)." in page


def test_the_page_names_the_profile_when_all_chapters_share_it(tmp_path):
    store = tmp_path / "findings.json"
    for nb in ("01_pruning_method", "02_faithfulness"):
        pages.reset_findings(nb, {"profile": "params/default.yml", "overrides": {}}, store)
        pages.record_finding(nb, "k", f"From {nb}.", "tab-x", store)
    assert "`params/default.yml`" in pages.findings_markdown(pages.load_findings(store))
    pages.reset_findings("02_faithfulness", {"profile": "params/default.yml",
                                             "overrides": {"models": ["gemma3-270m"]}}, store)
    pages.record_finding("02_faithfulness", "k", "Other run.", "tab-x", store)
    assert "different settings" in pages.findings_markdown(pages.load_findings(store))


def test_no_findings_give_the_placeholder(tmp_path):
    assert pages.write_findings_page(tmp_path).read_text() == pages.PLACEHOLDER
    store = tmp_path / "findings.json"
    pages.reset_findings("01_pruning_method", {}, store)
    assert pages.findings_markdown(pages.load_findings(store)) == pages.PLACEHOLDER


@pytest.mark.parametrize("anchor", ["", "Tab 4.3", "(tab-4-3)=", "tab-4-3)"])
def test_record_finding_refuses_anchors_that_are_not_labels(tmp_path, anchor):
    with pytest.raises(ValueError, match="MyST label"):
        pages.record_finding("01_pruning_method", "k", "A sentence.", anchor, tmp_path / "f.json")


def test_findings_file_location_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(pages.FINDINGS_ENV, str(tmp_path / "x.json"))
    pages.record_finding("05_cost", "k", "A sentence.", "tab-cost-pruning")
    assert json.loads((tmp_path / "x.json").read_text())["chapters"]["05_cost"]["findings"]["k"]


# ---- progress ----------------------------------------------------------------------------------

@pytest.fixture
def status(tmp_path, monkeypatch):
    path = tmp_path / "status.json"
    monkeypatch.setenv(progress.STATUS_ENV, str(path))
    monkeypatch.setattr(progress, "_units", {})
    monkeypatch.setattr(progress, "MIN_INTERVAL_S", 0.0)
    return path


def test_report_writes_the_units_in_flight_outermost_first(status):
    progress.report("grid", 0, 12, "configurations")
    progress.report("batches", 3, 8)
    progress.report("grid", 5, 12)
    units = progress.read_status(status)
    assert [(u["kind"], u["done"], u["total"]) for u in units] == [("grid", 5, 12), ("batches", 3, 8)]
    assert units[0]["desc"] == "configurations"  # kept when a later report omits it
    progress.report("batches", 8, 8)
    assert [u["kind"] for u in progress.read_status(status)] == ["grid"]


def test_progress_loops_report_each_item_and_clear_when_done(status):
    seen = []
    for i, _ in enumerate(progress.progress(range(5), desc="examples")):
        seen.append([(u["kind"], u["done"], u["total"]) for u in progress.read_status(status)])
        if i == 4:
            break
    assert seen == [[("examples", i, 5)] for i in range(5)]
    assert list(progress.progress([1, 2], desc="short")) == [1, 2]
    assert progress.read_status(status) == []


def test_an_abandoned_loop_leaves_no_unit_behind(status):
    with pytest.raises(RuntimeError):
        for _ in progress.progress(range(5), desc="examples"):
            raise RuntimeError("boom")
    assert progress.read_status(status) == []


def test_report_without_the_runner_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv(progress.STATUS_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    progress.report("grid", 1, 2)
    assert list(progress.progress(range(4), desc="x", enabled=False)) == [0, 1, 2, 3]
    assert list(tmp_path.iterdir()) == []


def test_report_refuses_negative_counts(status):
    with pytest.raises(ValueError, match="must be >= 0"):
        progress.report("grid", -1, 3)


def test_status_line_prints_changes_only_and_redraws_on_a_terminal():
    log = io.StringIO()
    line = progress.StatusLine(log, interval=0)
    line.update("a")
    line.update("a")
    line.update("b")
    line.print("warning")
    assert log.getvalue() == "a\nb\nwarning\n"

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    line = progress.StatusLine(term, interval=0)
    line.update("cell 1/3")
    line.update("cell 2/3")
    assert term.getvalue().count("\r\x1b[K") == 2 and "\n" not in term.getvalue()


def test_bar_and_clock():
    assert progress.bar(5, 12) == "[#####.......] 5/12"
    assert progress.bar(0, 0) == "[............] 0/0"
    assert progress.clock(75) == "1:15" and progress.clock(3725) == "1:02:05"
    assert re.fullmatch(r"\[#{12}\] 3/3", progress.bar(3, 3))


def test_wording_helpers_follow_the_stated_rule():
    assert pages.interval_text(0.5, 0.25, 0.75) == "0.500 [0.250, 0.750]"
    assert pages.interval_text(0.1, -0.2, 0.3, digits=2, signed=True) == "+0.10 [-0.20, +0.30]"
    assert pages.interval_text(float("nan"), 0, 1) == "–"
    assert "too few" in pages.interval_text(0.5, float("nan"), float("nan"))
    assert pages.percent_text(0.25, 0.1, 0.4) == "25% [10%, 40%]"
    assert pages.direction(0.01, 0.2) == "rose" and pages.direction(-0.2, -0.01) == "fell"
    assert pages.direction(-0.1, 0.1) == "undetermined"
    assert pages.direction(float("nan"), 0.1) == "undetermined"
    assert pages.listing([]) == "none" and pages.listing(["a", "b", "c"]) == "a, b and c"
    assert pages.tally(["rose", "rose", "undetermined"], ("rose", "fell", "undetermined")) == \
        "rose in 2, fell in 0 and was undetermined in 1"


def test_p_values_are_shown_with_a_floor_and_fixed_decimals():
    assert [pages.p_value(p) for p in (2.5e-10, 0.00081, 0.0084, 0.043, 0.66, 1.0)] == [
        "<0.001", "<0.001", "0.008", "0.04", "0.66", "1.00"]
    assert pages.p_value(float("nan")) == "–" and pages.p_value(None) == "–"


def test_findings_links_sit_inside_their_sentence_and_a_shared_grid_is_named_once():
    item = {"sentence": "Accuracy is kept.", "anchor": "tab-4-5", "grid": "16 configurations"}
    data = {"chapters": {"04_cross_model": {"findings": {
        "a": item | {"headline": 1}, "b": item | {"sentence": "Faith falls.", "headline": 2},
        "c": item | {"sentence": "Detail here."}}}}}
    page = pages.findings_markdown(data)
    assert "Accuracy is kept ({ref}`table <tab-4-5>`; 16 configurations)." in page
    assert "Faith falls ({ref}`table <tab-4-5>`)." in page
    assert "- Detail here ({ref}`table <tab-4-5>`; 16 configurations)." in page
