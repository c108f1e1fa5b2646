"""The package's shape: no import cycles, modules of one idea, registries with every field."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from helpers import fingerprint

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 560  # "about 500": one idea that runs a little longer is fine
# Modules longer than that because their one idea is that long, and why.
LONG_IDEAS = {"lrp.py": "AttnLRP: the rules, the modes that install them and the relevance readers",
              "stats.py": "bootstrap intervals and tests of the metrics, and their validation"}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module, or a module importing itself
    (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1 or node in graph.get(node, ()):
                    found.append(sorted(comp))
    return found


def test_cycle_finder_finds_a_planted_cycle_and_passes_a_tree():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"a"}}) == [["a"]]


def test_helpers_has_no_import_cycles():
    """Every import counts, also one inside a function: a lazy import does not untie a knot."""
    found = cycles(fingerprint.import_graph())
    assert found == [], "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_a_planted_cycle_is_caught(tmp_path):
    """A copy of the package with one import added that closes a loop fails the check."""
    import shutil

    copy = tmp_path / "helpers"
    shutil.copytree(fingerprint.HELPERS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / "criteria.py"
    target.write_text(target.read_text() + "\n\ndef _planted():\n    from . import readouts\n")
    found = cycles(fingerprint.import_graph(copy))
    assert any("helpers.criteria" in c and "helpers.readouts" in c for c in found), found


@pytest.mark.parametrize("path", sorted((ROOT / "src" / "helpers").rglob("*.py")),
                         ids=lambda p: str(p.relative_to(ROOT / "src")))
def test_modules_hold_one_idea(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES or path.name in LONG_IDEAS, f"{path.name}: {lines} lines, split it"
    tree = ast.parse(path.read_text())
    assert ast.get_docstring(tree), f"{path.name} has no module docstring"


def test_every_unit_kind_record_has_every_field():
    from helpers import units

    assert set(units.KINDS) == {"scores", "faithfulness", "latency", "layer_scores", "oracle"}
    for name, kind in units.KINDS.items():
        for f in dataclasses.fields(kind):
            if f.name != "code":  # optional: the computation's module by default
                assert getattr(kind, f.name) is not None, (name, f.name)
        assert kind.description and callable(kind.compute) and callable(kind.cost)


def test_every_criterion_record_is_complete():
    from helpers import criteria

    for name, c in criteria.CRITERIA.items():
        assert c.description and callable(c.rank), name
        if c.scores is not None:
            assert callable(c.score_function()), name  # its import path resolves
            assert c.inputs in criteria.INPUTS, name


def test_every_metric_record_is_complete():
    from helpers import metrics

    for name, m in metrics.METRICS.items():
        assert m.display and m.scale and m.description, name
        assert m.worse in ("up", "down")
