"""The metrics the book reports: one record each, with which way is better and how it is shown.

As lm-evaluation-harness keeps `higher_is_better` beside each metric, every fact a chapter, a claim
or a plot needs about a metric is here: its display name, its scale (and unit), whether higher is
better, what a change in the bad direction is called, and the function that computes it. Tables
and figures read `get(name).worse` ("up" or "down") instead of writing their own dictionaries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def _on_probs(name: str) -> Callable[[Any, Any], float]:
    def value(probs: Any, labels: Any) -> float:
        from .stats import metric_value

        return metric_value(name, probs, labels)

    value.__name__ = f"{name}_value"
    return value


@dataclass(frozen=True)
class Metric:
    """One reported metric."""

    name: str
    display: str  # how tables and axes name it
    higher_is_better: bool
    scale: str  # what its numbers are: "share", "nats", "ECE", ...
    description: str
    compute: Callable[..., float] | None = None  # (probs, labels) -> value, where it has one

    @property
    def worse(self) -> str:
        """'down' when a fall is a degradation, 'up' when a rise is."""
        return "down" if self.higher_is_better else "up"

    @property
    def bad_change(self) -> str:
        """The word for a change in the bad direction."""
        return "fall" if self.higher_is_better else "rise"


METRICS: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    """Add a metric (replacing one of the same name)."""
    METRICS[metric.name] = metric
    return metric


def get(name: str) -> Metric:
    """The metric called `name` (a leading 'd_' for a change is accepted), or an error."""
    key = name[2:] if name.startswith("d_") and name[2:] in METRICS else name
    try:
        return METRICS[key]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; known: {', '.join(METRICS)}") from None


for _m in (
    Metric("accuracy", "accuracy", True, "share", "share of test examples whose predicted label "
           "is right", _on_probs("accuracy")),
    Metric("ece", "ECE", False, "ECE", "top-label expected calibration error, 15 equal-width "
           "bins (biased upwards at small n)", _on_probs("ece")),
    Metric("ece_debiased", "debiased ECE", False, "ECE", "root of the debiased squared binned "
           "calibration error (Kumar, Liang and Ma 2019)", _on_probs("ece_debiased")),
    Metric("ece_debiased_sq", "debiased ECE²", False, "ECE²", "the debiased squared binned "
           "calibration error (unbiased; can be negative)", _on_probs("ece_debiased_sq")),
    Metric("brier", "Brier score", False, "squared error", "mean squared error of the "
           "label-set probabilities against the one-hot label", _on_probs("brier")),
    Metric("nll", "NLL", False, "nats", "negative log-likelihood of the true label",
           _on_probs("nll")),
    Metric("faith", "faithfulness (vs random)", True, "normalised comprehensiveness",
           "per example, the normalised AOPC comprehensiveness of the attribution method minus "
           "the random control's (Carton, Rathore and Tan 2020)"),
    Metric("comprehensiveness", "comprehensiveness", True, "probability", "ERASER AOPC "
           "comprehensiveness: the drop of the label's probability when the top tokens go"),
    Metric("sufficiency", "sufficiency", False, "probability", "ERASER AOPC sufficiency: the drop "
           "of the label's probability when only the top tokens stay"),
):
    register(_m)
