"""Which `helpers` modules a computation depends on, and a hash of their sources.

`import_graph()` reads every module's imports with `ast` (those inside functions too, so a lazy
import counts), keeping the edges between `helpers` modules. A stored unit is keyed by
`code_fingerprint` of the modules its computation imports, directly or through others: editing a
module outside that closure (a table, a plot, a chapter, another kind's computation) leaves the
unit valid; editing one inside it recomputes the unit. The same graph lets a test forbid import
cycles.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable
from functools import cache
from pathlib import Path

PACKAGE = "helpers"
HELPERS_DIR = Path(__file__).resolve().parent


def module_path(name: str, root: Path = HELPERS_DIR) -> Path | None:
    """The source file of a `helpers` module ('helpers.units.scores'), or None if there is none."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = root.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def modules(root: Path = HELPERS_DIR) -> list[str]:
    """Every module of the package under `root`, by dotted name."""
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        out.append(".".join([PACKAGE, *parts]))
    return out


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module: str, root: Path = HELPERS_DIR) -> set[str]:
    """The `helpers` modules that `module` imports anywhere in its source."""
    path = module_path(module, root)
    if path is None:
        return set()
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node, path.name == "__init__.py")
            for a in node.names:  # `from . import x` imports module x; `from .m import f`, m
                sub = f"{target}.{a.name}"
                found.add(sub if module_path(sub, root) is not None else target)
    return {m for m in found if m != module and module_path(m, root) is not None}


def import_graph(root: Path = HELPERS_DIR) -> dict[str, set[str]]:
    """Every module -> the `helpers` modules it imports."""
    return {m: imports_of(m, root) for m in modules(root)}


def closure(start: Iterable[str], root: Path = HELPERS_DIR) -> set[str]:
    """`start` and every `helpers` module it imports, directly or through others."""
    todo, seen = list(start), set()
    while todo:
        m = todo.pop()
        if m in seen or module_path(m, root) is None:
            continue
        seen.add(m)
        todo += imports_of(m, root)
    return seen


def _outside(name: str) -> Path | None:
    """The source file of a module outside `helpers` (a reader's plugin), if it has one."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    origin = getattr(spec, "origin", None) if spec else None
    return Path(origin) if origin and origin.endswith(".py") else None


@cache
def code_fingerprint(start: tuple[str, ...], root: Path = HELPERS_DIR) -> str:
    """A short hash of the sources of `start` and everything it imports within `helpers` (a
    module of `start` outside the package, such as a plugin, counts with its own source)."""
    h = hashlib.sha256()
    for m in sorted(closure(start, root)):
        h.update(m.encode() + b"\0" + module_path(m, root).read_bytes() + b"\0")
    for m in sorted(set(start)):
        path = None if module_path(m, root) else _outside(m)
        if path is not None:
            h.update(m.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]
