"""List a results store, and delete what no current run reads.

    python -m helpers.inventory list [--results results]
    python -m helpers.inventory prune [--results results] [--dry-run] [--unused PROFILE ...]

`list` counts each kind's units: current (this code and these libraries) and stale. `prune`
deletes the stale ones (computed by other code, never read again), and with `--unused` also every
current unit that none of the given profiles' chapters read (found from their declarations: no
model runs).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable
from pathlib import Path

from . import units
from .results import ResultStore
from .workload import expand


def needed_paths(profiles: Iterable[str | os.PathLike], store: ResultStore) -> set[Path]:
    """The store files the chapters of these profiles read (their units and dependencies)."""
    return {units.path(store, u) for p in profiles for u in expand(p)}


def main(argv: list[str] | None = None) -> None:
    """Command line: `list` the units of a store, or `prune` the stale (and unused) ones."""
    parser = argparse.ArgumentParser(prog="python -m helpers.inventory", description=main.__doc__)
    parser.add_argument("command", choices=["list", "prune"])
    parser.add_argument("--results", default="results", help="the store's folder (default results)")
    parser.add_argument("--dry-run", action="store_true", help="prune: only list what would go")
    parser.add_argument("--unused", nargs="+", metavar="PROFILE",
                        help="prune: also delete current units that none of these profiles reads")
    args = parser.parse_args(argv)
    store = ResultStore(args.results)
    if args.command == "list":
        print(store.inventory().to_string() if store.root.exists() else f"{store.root}: no store")
        return
    keep = needed_paths(args.unused, store) if args.unused else None
    gone = store.prune(dry_run=args.dry_run, keep=keep)
    verb = "would delete" if args.dry_run else "deleted"
    what = "stale or unused" if keep is not None else "stale"
    print(f"{verb} {len(gone)} {what} unit(s) under {store.root}")


if __name__ == "__main__":
    main()
