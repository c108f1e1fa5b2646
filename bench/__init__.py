"""Benchmarks of the book's code: pruned vs full models, attribution, scoring, notebook wall times.

Run with ``python -m bench.run`` (``make bench``); see ``bench/run.py`` for the options and
``bench/report.py`` for turning the results JSON into tables and a plot.
"""

SCHEMA_VERSION = 1
