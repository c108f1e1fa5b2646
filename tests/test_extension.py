"""Extending the book: a new pruning criterion is one record and its score function, in a module
of the reader's own named by the profile, and it runs through the grid and a chapter."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml

from helpers import criteria, units
from helpers.results import ResultStore
from helpers.workload import expand

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = '''\
"""A criterion of my own: drop the attention sub-layers whose output is smallest."""

import torch

from helpers import criteria
from helpers.pruning import attention_module, decoder_layers


@torch.no_grad()
def output_norm(model, tokenizer, inputs):
    """Per layer, the mean L2 norm of the attention output over the importance texts' tokens."""
    norms = [0.0] * len(decoder_layers(model))
    hooks = []
    for i, layer in enumerate(decoder_layers(model)):
        def keep(_module, _args, output, i=i):
            out = output[0] if isinstance(output, tuple) else output
            norms[i] += float(out.float().norm(dim=-1).mean())
        hooks.append(attention_module(layer).register_forward_hook(keep))
    try:
        for text in inputs.texts:
            ids = tokenizer(text, return_tensors="pt", truncation=True,
                            max_length=inputs.max_length)
            model(**ids, use_cache=False)
    finally:
        for h in hooks:
            h.remove()
    return [n / len(inputs.texts) for n in norms]


criteria.register(criteria.Criterion(
    "attn_norm", criteria.ascending, "the smallest attention-output norm on the importance texts",
    scores=output_norm, inputs="texts"))
'''


def test_a_new_criterion_runs_through_the_grid_and_a_chapter(tmp_path, monkeypatch):
    from helpers import book, grid

    (tmp_path / "my_criteria.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), *sys.path]))
    monkeypatch.delitem(criteria.CRITERIA, "attn_norm", raising=False)
    profile = yaml.safe_load((ROOT / "params" / "smoke.yml").read_text())
    profile.update(plugins=["my_criteria"], criteria=["attn_norm", "last"],
                   results_dir=str(tmp_path / "store"), chapters={})
    path = tmp_path / "mine.yml"
    path.write_text(yaml.safe_dump(profile))

    chapter = [u.id for u in expand(path, chapters=("03_calibration",))]
    summary = grid.run_grid(path, only=chapter)  # the grid learns the criterion from the profile
    assert not summary.failed, summary.text()
    scored = [u for u in expand(path, chapters=("03_calibration",))
              if u.kind == "layer_scores" and u.arg("criterion") == "attn_norm"]
    assert scored and all(units.path(ResultStore(tmp_path / "store"), u).exists() for u in scored)
    scores = units.record_of(ResultStore(tmp_path / "store"), scored[0])["scores"]
    assert len(scores) == 30 and all(s >= 0 for s in scores)
    n = len(ResultStore(tmp_path / "store").computations())

    book.run(str(path), ("03_calibration",), out_dir=str(tmp_path / "book" / "chapters"))
    assert (tmp_path / "book" / "chapters" / "03_calibration.ipynb").exists()
    assert len(ResultStore(tmp_path / "store").computations()) == n  # the grid had it all
    text = (tmp_path / "book" / "chapters" / "03_calibration.ipynb").read_text()
    assert "attn_norm" in text
