"""Helpers for the companion book: models, pruning, tasks, scoring, attribution, metrics."""

import warnings

# Libraries import tqdm.auto, which warns inside Jupyter when ipywidgets is absent; the text bars
# it falls back to work, and the warning would otherwise sit in every executed chapter.
warnings.filterwarnings("ignore", message="IProgress not found")

__version__ = "0.1.0"
