"""Unit kind `oracle`: the single-layer ablation oracle on a task's calibration split.

Per layer, every calibration example's change in label NLL when only that attention sub-layer is
dropped (helpers.oracle); the mean per layer is what criteria are compared with.
"""

from __future__ import annotations

from ..configs import Config
from ..models import model_shape
from ..oracle import ablation_deltas
from ..tasks import get_task, load_task
from . import costs
from .base import Cost, Job, Settings, Unit, UnitKind, no_deps


def oracle_unit(cfg: Config, settings: Settings) -> Unit:
    """The oracle of a configuration's model and task (its criterion and ratio do not matter)."""
    return Unit("oracle", cfg.model, cfg.unpruned(), (), settings)


def keyed_on(unit: Unit) -> dict:
    """The task, its prompt and the calibration examples."""
    c = unit.config
    return {"task": c.task, "shots": c.shots, "demo_seed": c.demo_seed, "seed": c.seed,
            "split": "calibration", "n_examples": c.n_calibration}


def compute(job: Job) -> dict:
    """Every layer dropped alone, every calibration example's NLL change kept."""
    c = job.unit.config
    model, tok = job.pool.full(c.model)
    held = load_task(c.task, split="calibration", n=c.n_calibration, seed=c.seed)
    deltas = ablation_deltas(model, tok, get_task(c.task), held, shots=c.shots, seed=c.demo_seed,
                             batch_size=job.unit.settings.batch_size)
    return {"uid": [e.uid for e in held], "label": [e.label for e in held],
            "delta": deltas.mean(axis=1).tolist(), "deltas": deltas.round(7).tolist()}


def cost(unit: Unit) -> Cost:
    """One scoring pass of the calibration examples per layer, and one of the full model."""
    shape = model_shape(unit.model)
    _, _, body, _, context = costs.prompt(unit.config)
    n, passes = unit.config.n_calibration, shape.layers + 1
    tokens = passes * n * body
    return Cost(forward=passes * n, backward=0, tokens=tokens,
                flops=shape.forward_flops(tokens, context), rate="scores")


KIND = UnitKind("oracle", "single-layer ablation oracle on the calibration split", compute,
                keyed_on, no_deps, cost)
