"""Chapter 2's readouts (methods against the random control, changes under pruning, the lift,
drift) against references written out example by example, and the token heat map's layout."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy.stats import spearmanr

from helpers import plots, readouts, readouts_faithfulness
from helpers.configs import Config
from helpers.faithfulness import NORM_MIN_GAP

FRACTIONS = (0.1, 0.5)
BOOT = {"n_resamples": 400, "seed": 3}


def record(method: str, p_full, p_empty, p_without, p_only, target, scores=None,
           full_target_scores=None) -> dict:
    """A stored faithfulness unit with the fields the readouts read."""
    n = len(p_full)
    scores = scores if scores is not None else [[0.3, 0.1, 0.2]] * n
    return {"params": {"method": method, "fractions": list(FRACTIONS)}, "examples": {
        "uid": [f"t:{i}" for i in range(n)], "tokens": [["a", "b", "c"]] * n,
        "token_ids": [[1, 2, 3]] * n, "scores": scores, "target": list(target),
        "scores_full_target": full_target_scores or [None] * n, "n_tokens": [3] * n,
        "k": [[1, 2]] * n, "p_full": list(p_full), "p_empty": list(p_empty),
        "p_without": [list(r) for r in p_without], "p_only": [list(r) for r in p_only]}}


def norm_comp_reference(rec: dict) -> tuple[list[float], int]:
    """Normalised AOPC comprehensiveness written out per example, 0 where the lift is too small."""
    ex, out, zero = rec["examples"], [], 0
    for pf, pe, pw in zip(ex["p_full"], ex["p_empty"], ex["p_without"], strict=True):
        lift = max(0.0, pf - pe)
        if lift < NORM_MIN_GAP:
            out.append(0.0)
            zero += 1
            continue
        out.append(sum(min(1.0, max(0.0, pf - w) / lift) for w in pw) / len(pw))
    return out, zero


def norm_suff_reference(rec: dict) -> list[float]:
    ex, out = rec["examples"], []
    for pf, pe, po in zip(ex["p_full"], ex["p_empty"], ex["p_only"], strict=True):
        lift = max(0.0, pf - pe)
        out.append(0.0 if lift < NORM_MIN_GAP else
                   sum(min(1.0, max(0.0, (lift - max(0.0, pf - o)) / lift)) for o in po) / len(po))
    return out


def percentile_reference(values, n_resamples: int, seed: int) -> tuple[float, float, float]:
    """Mean and equal-tailed 95% percentile interval, resampling with numpy directly."""
    v = np.asarray(values, dtype=float)
    idx = np.random.default_rng(seed).integers(0, len(v), size=(n_resamples, len(v)))
    draws = v[idx].mean(axis=1)
    return float(v.mean()), float(np.quantile(draws, 0.025)), float(np.quantile(draws, 0.975))


class FakeRun:
    """A chapter run over a dictionary of records."""

    def __init__(self, records: dict) -> None:
        self.records = records

    def faithfulness(self, cfg: Config, method: str) -> dict:
        return self.records[(cfg, method)]


rng = np.random.default_rng(0)
N = 6
FULL = Config("m", "t", ratio=0.0)
PRUNED = Config("m", "t", ratio=0.5)


def random_record(method: str, p_full, p_empty, target, scores=None, full_target_scores=None):
    p_without = rng.uniform(0.0, 1.0, size=(len(p_full), len(FRACTIONS)))
    p_only = rng.uniform(0.0, 1.0, size=(len(p_full), len(FRACTIONS)))
    return record(method, p_full, p_empty, p_without, p_only, target, scores, full_target_scores)


# example 2 of the full model and examples 1, 4 of the pruned one lift the label too little
PF_FULL, PE_FULL = [0.9, 0.8, 0.5, 0.7, 0.95, 0.6], [0.4, 0.3, 0.495, 0.2, 0.5, 0.1]
PF_PRUNED, PE_PRUNED = [0.7, 0.5, 0.6, 0.65, 0.51, 0.55], [0.3, 0.6, 0.2, 0.3, 0.505, 0.2]
TARGET_FULL, TARGET_PRUNED = [1, 0, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0]
SCORES_FULL = [list(rng.normal(size=3)) for _ in range(N)]
SCORES_PRUNED = [list(rng.normal(size=3)) for _ in range(N)]
FIXED = [None if a == b else list(rng.normal(size=3))
         for a, b in zip(TARGET_FULL, TARGET_PRUNED, strict=True)]
RECORDS = {
    (FULL, "lrp"): random_record("lrp", PF_FULL, PE_FULL, TARGET_FULL, SCORES_FULL),
    (FULL, "random"): random_record("random", PF_FULL, PE_FULL, TARGET_FULL),
    (PRUNED, "lrp"): random_record("lrp", PF_PRUNED, PE_PRUNED, TARGET_PRUNED, SCORES_PRUNED,
                                   FIXED),
    (PRUNED, "random"): random_record("random", PF_PRUNED, PE_PRUNED, TARGET_PRUNED),
}
RUN = FakeRun(RECORDS)
GRID = [FULL, PRUNED]


def test_rule_scores_match_the_written_out_definition():
    for rec in RECORDS.values():
        values, zero = readouts.faith_scores(rec)
        ref, ref_zero = norm_comp_reference(rec)
        np.testing.assert_allclose(values, ref)
        assert zero == ref_zero
        suff, suff_zero = readouts_faithfulness.norm_sufficiency_scores(rec)
        np.testing.assert_allclose(suff, norm_suff_reference(rec))
        assert suff_zero == ref_zero
    assert readouts.faith_scores(RECORDS[(FULL, "lrp")])[1] == 1
    assert readouts.faith_scores(RECORDS[(PRUNED, "lrp")])[1] == 2


def test_faith_vs_random_keeps_every_example():
    diff, zero = readouts_faithfulness.faith_vs_random(RECORDS[(PRUNED, "lrp")], RECORDS[(PRUNED, "random")])
    ref = [a - b for a, b in zip(norm_comp_reference(RECORDS[(PRUNED, "lrp")])[0],
                                 norm_comp_reference(RECORDS[(PRUNED, "random")])[0], strict=True)]
    assert len(diff) == N and np.isfinite(diff).all() and zero == 2
    np.testing.assert_allclose(diff, ref)
    assert diff[1] == 0 and diff[4] == 0  # undefined for the model: 0 for both
    other = {**RECORDS[(PRUNED, "random")]}
    other["examples"] = {**other["examples"], "uid": ["x"] * N}
    with pytest.raises(ValueError, match="different examples"):
        readouts_faithfulness.faith_vs_random(RECORDS[(PRUNED, "lrp")], other)


def test_against_random_is_a_paired_mean_with_its_interval():
    table = readouts_faithfulness.against_random(RUN, GRID, ["lrp", "random"], **BOOT)
    assert list(table.method) == ["lrp", "lrp"] and list(table.ratio) == [0.0, 0.5]
    for row, cfg in zip(table.itertuples(), GRID, strict=True):
        m, c = RECORDS[(cfg, "lrp")], RECORDS[(cfg, "random")]
        diff = np.subtract(norm_comp_reference(m)[0], norm_comp_reference(c)[0])
        est, low, high = percentile_reference(diff, **BOOT)
        assert (row.d_norm, row.d_norm_low, row.d_norm_high) == pytest.approx((est, low, high))
        assert row.n == N and row.set_to_0 == norm_comp_reference(m)[1]
        comp = lambda r: (np.asarray(r["examples"]["p_full"])[:, None]  # noqa: E731
                          - np.asarray(r["examples"]["p_without"])).mean(axis=1)
        assert row.d_comp == pytest.approx(percentile_reference(comp(m) - comp(c), **BOOT)[0])
        assert row.d_comp_low == pytest.approx(percentile_reference(comp(m) - comp(c), **BOOT)[1])


def test_faithfulness_table_means_and_counts():
    table = readouts_faithfulness.faithfulness_table(RUN, GRID, ["lrp", "random"], **BOOT)
    assert len(table) == 4
    for row in table.itertuples():
        cfg = FULL if row.ratio == 0 else PRUNED
        rec = RECORDS[(cfg, row.method)]
        ex = rec["examples"]
        suff = (np.asarray(ex["p_full"])[:, None] - np.asarray(ex["p_only"])).mean(axis=1)
        assert row.sufficiency == pytest.approx(suff.mean())
        assert (row.norm_comprehensiveness, row.norm_comprehensiveness_low,
                row.norm_comprehensiveness_high) == pytest.approx(
            percentile_reference(norm_comp_reference(rec)[0], **BOOT))
        assert row.norm_sufficiency == pytest.approx(np.mean(norm_suff_reference(rec)))
        assert row.set_to_0 == norm_comp_reference(rec)[1]
        assert row.criterion == ("full" if row.ratio == 0 else "similarity")


def test_changes_are_pruned_minus_full_under_the_rule():
    table = readouts_faithfulness.faithfulness_changes(RUN, GRID, ["lrp", "random"], **BOOT)
    assert len(table) == 1
    row = table.iloc[0]
    full, pruned = (norm_comp_reference(RECORDS[(c, "lrp")])[0] for c in GRID)
    est, low, high = percentile_reference(np.subtract(pruned, full), **BOOT)
    assert (row.d_faith, row.d_faith_low, row.d_faith_high) == pytest.approx((est, low, high))
    assert (row.set_to_0_full, row.set_to_0_pruned) == (1, 2)
    over = [np.subtract(norm_comp_reference(RECORDS[(c, "lrp")])[0],
                        norm_comp_reference(RECORDS[(c, "random")])[0]) for c in GRID]
    assert row.d_vs_random == pytest.approx(np.mean(over[1] - over[0]))


def test_lift_table_per_configuration():
    table = readouts_faithfulness.lift_table(RUN, GRID, **BOOT)
    assert list(table.ratio) == [0.0, 0.5] and "method" not in table
    full, pruned = table.iloc[0], table.iloc[1]
    assert full.lift == pytest.approx(np.mean(np.subtract(PF_FULL, PE_FULL)))
    assert np.isnan(full.d_lift) and np.isnan(full.flipped)
    d = np.subtract(PF_PRUNED, PE_PRUNED) - np.subtract(PF_FULL, PE_FULL)
    assert (pruned.d_lift, pruned.d_lift_low, pruned.d_lift_high) == pytest.approx(
        percentile_reference(d, **BOOT))
    assert pruned.flipped == pytest.approx(np.mean(np.not_equal(TARGET_FULL, TARGET_PRUNED)))
    assert (full.set_to_0, pruned.set_to_0) == (1, 2)


def test_drift_table_compares_the_same_label():
    table = readouts_faithfulness.drift_table(RUN, GRID, ["lrp", "random"], **BOOT)
    assert list(table.method) == ["lrp"]
    pruned_same_label = [f if f is not None else s for s, f in zip(SCORES_PRUNED, FIXED,
                                                                  strict=True)]
    rho = [spearmanr(a, b).statistic for a, b in zip(SCORES_FULL, pruned_same_label, strict=True)]
    assert table.iloc[0].spearman == pytest.approx(np.mean(rho))
    assert table.iloc[0].n_spearman == N


# --- the token heat map ---------------------------------------------------------------------------

TOKENS = ["ĠThe", "Ġfilm", "'s", "Ġa", "Ġbree", "zy", ",", "Ġesoteric", "Ġblend", "Ġof", "Ġart",
          "Ġand", "Ġcommerce", "Ġthat", "Ġmust", "Ġhave", "Ġbeen", "Ġhard", "Ġto", "Ġmake", "."]


def test_wrap_tokens_keeps_order_and_width():
    for width in (12, 25, 200):
        lines = plots.wrap_tokens(TOKENS, width)
        assert [i for line in lines for i, _, _ in line] == list(range(len(TOKENS)))
        for line in lines:
            assert line[0][1] == 0
            assert all(x + w <= width or len(line) == 1 for _, x, w in line)
            assert all(a[1] + a[2] <= b[1] for a, b in zip(line, line[1:], strict=False))
    assert len(plots.wrap_tokens(TOKENS, 12)) > len(plots.wrap_tokens(TOKENS, 200)) == 1
    assert plots.token_heatmap_lines(TOKENS, 2, 25) == 2 * len(plots.wrap_tokens(TOKENS, 25))
    assert plots.token_label("Ġfilm") == "film" and plots.token_label("▁") == "·"
    with pytest.raises(ValueError):
        plots.wrap_tokens(TOKENS, 0)


def test_text_colour_contrasts_with_the_box():
    cmap = plt.get_cmap(plots.TOKEN_CMAP)
    assert plots.text_colour(cmap(0.0)) == "white"  # dark blue
    assert plots.text_colour(cmap(1.0)) == "white"  # dark red
    assert plots.text_colour(cmap(0.5)) == "black"  # near white
    assert plots.text_colour((1.0, 1.0, 0.0, 1.0)) == "black"  # yellow
    assert plots.text_colour((0.0, 0.0, 0.0, 1.0)) == "white"


def test_token_heatmap_horizontal_legible_and_labelled_inside():
    scores = {"full": np.linspace(-1, 1, len(TOKENS)), "ratio 1/4": np.linspace(1, -2, len(TOKENS))}
    fig, ax = plt.subplots(figsize=(7.5, 3), layout="constrained")  # as the book draws it
    plots.token_heatmap(TOKENS, scores, ax=ax, title="an example", width=30)
    fig.canvas.draw()
    texts = [t for t in ax.texts if t.get_text()]
    assert len(texts) == 2 * len(TOKENS)
    assert all(t.get_rotation() == 0 for t in texts)
    for t, patch in zip(texts, [p for p in ax.patches], strict=True):
        assert t.get_color() == plots.text_colour(patch.get_facecolor())
    renderer = fig.canvas.get_renderer()
    figure_box = fig.bbox
    bar_label = fig.axes[-1].xaxis.label
    assert bar_label.get_text().startswith("attribution")
    box = bar_label.get_window_extent(renderer)
    assert box.x0 >= figure_box.x0 and box.y0 >= figure_box.y0 and box.x1 <= figure_box.x1
    # every token's text fits inside its box
    for t, patch in zip(texts, ax.patches, strict=True):
        tb, pb = t.get_window_extent(renderer), patch.get_window_extent(renderer)
        assert tb.x0 >= pb.x0 - 1 and tb.x1 <= pb.x1 + 1
    plt.close(fig)
    with pytest.raises(ValueError, match="tokens"):
        plots.token_heatmap(TOKENS, {"full": [0.1, 0.2]}, colorbar=False)
