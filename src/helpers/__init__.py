"""Helpers for the companion book: models, pruning, tasks, scoring, attribution, metrics."""

__version__ = "0.1.0"
