"""Modules of the reader's own that extend the registries, named in a profile's `plugins`.

A profile may list importable modules (`plugins: [my_criteria]`); each is imported before the
profile is checked, in the notebook kernel that runs a chapter and in every grid worker before
it computes a unit, so a criterion, metric or unit kind registered there works everywhere
without editing `helpers`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable


def load(names: Iterable[str]) -> list[str]:
    """Import each named module (once); an import error names the module and the fix."""
    loaded = []
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise ValueError(f"plugin {name!r} cannot be imported ({err}): put its folder on "
                             "PYTHONPATH or install it") from None
        loaded.append(name)
    return loaded
