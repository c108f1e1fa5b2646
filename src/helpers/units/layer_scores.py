"""Unit kind `layer_scores`: a criterion's per-layer scores for one model (and inputs).

One unit per criterion that ranks scores (`criteria.Criterion.scores`), computed on the full
model and shared by every configuration the criterion prunes: `similarity` and `relevance` on the
importance texts (whatever the task and ratio), `greedy_kl` on the task's calibration split (one
order for every ratio up to `greedy_max_ratio`). The unit is keyed by the sources of this module
and of the criterion's own score module, so editing one criterion's code recomputes only its
units (and, through their keys, the configurations it pruned).
"""

from __future__ import annotations

from dataclasses import replace

from .. import criteria
from ..configs import Config
from ..models import model_shape
from ..tasks import demo_texts, load_task
from . import costs
from .base import Cost, Job, Settings, Unit, UnitKind, no_deps

TEXT_SEED = 0  # which importance texts are drawn from the demonstration pool


def layer_scores_unit(cfg: Config, settings: Settings) -> Unit | None:
    """The per-layer scores a configuration's criterion ranks (None: it ranks without scores)."""
    if criteria.get(cfg.criterion).scores is None:
        return None
    return Unit("layer_scores", cfg.model, cfg, (("criterion", cfg.criterion),), settings)


def greedy_steps(unit: Unit) -> int:
    """Layers a calibration-split search drops: enough for every ratio up to the cap."""
    cap = max(unit.settings.greedy_max_ratio, unit.config.ratio)
    return criteria.n_to_drop(model_shape(unit.model).layers, cap)


def keyed_on(unit: Unit) -> dict:
    """The criterion and exactly the inputs its scores are computed on."""
    cfg, s = unit.config, unit.settings
    record = criteria.get(unit.arg("criterion"))
    if record.inputs == "texts":
        return {"criterion": record.name, "inputs": "texts", "texts_from": cfg.importance_texts_from,
                "n_texts": s.importance_texts, "text_seed": TEXT_SEED,
                "max_length": s.importance_max_length}
    return {"criterion": record.name, "inputs": "calibration", "task": cfg.task,
            "split": "calibration", "seed": cfg.seed, "shots": cfg.shots,
            "demo_seed": cfg.demo_seed, "n_examples": min(cfg.n_calibration, s.greedy_examples),
            "steps": greedy_steps(unit)}


def inputs(unit: Unit) -> criteria.ScoreInputs:
    """What the criterion's score function receives."""
    key = keyed_on(unit)
    if key["inputs"] == "texts":
        return criteria.ScoreInputs(texts=demo_texts(key["texts_from"], key["n_texts"], TEXT_SEED),
                                    max_length=key["max_length"])
    examples = load_task(key["task"], split="calibration", n=key["n_examples"], seed=key["seed"])
    return criteria.ScoreInputs(task=key["task"], examples=examples, shots=key["shots"],
                                demo_seed=key["demo_seed"], options={"steps": key["steps"]})


def compute(job: Job) -> dict:
    """Run the criterion's score function on the full model."""
    model, tok = job.pool.full(job.unit.model)
    found = criteria.get(job.unit.arg("criterion")).score_function()(model, tok, inputs(job.unit))
    record = dict(found) if isinstance(found, dict) else {"scores": list(found)}
    record["scores"] = [float(v) for v in record["scores"]]
    return record


def cost(unit: Unit) -> Cost:
    """Texts: a forward (and for `relevance` a backward) over them; calibration: the greedy passes."""
    record = criteria.get(unit.arg("criterion"))
    key = keyed_on(unit)
    shape = model_shape(unit.model)
    if key["inputs"] == "texts":
        n, length = key["n_texts"], key["max_length"]
        back = n if record.cost == "backward" else 0
        return Cost(forward=n, backward=back, tokens=n * length,
                    flops=shape.forward_flops((n + 2 * back) * length, length / 2),
                    rate="faithfulness" if back else "importance")
    _, _, body, _, context = costs.prompt(replace(unit.config, ratio=0.0))
    n, steps = key["n_examples"], key["steps"]
    passes = 1 + sum(shape.layers - k for k in range(max(steps, 1))) if record.cost == "greedy" else 1
    tokens = passes * n * body
    return Cost(forward=passes * n, backward=0, tokens=tokens,
                flops=shape.forward_flops(tokens, context), rate="scores")


def code(keyed: dict) -> tuple[str, ...]:
    """This module and the criterion's score module."""
    return (__name__, criteria.get(keyed["criterion"]).score_module())


KIND = UnitKind("layer_scores", "a criterion's per-layer scores on the full model", compute,
                keyed_on, no_deps, cost, code)


def pruning_dependency(unit: Unit) -> dict[str, Unit]:
    """{"layer_scores": ...} for a pruned configuration whose criterion ranks scores, else {}."""
    cfg = unit.config
    dep = layer_scores_unit(cfg, unit.settings) if cfg.pruned else None
    return {"layer_scores": dep} if dep is not None else {}
