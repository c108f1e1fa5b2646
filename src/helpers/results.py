"""The results store: one JSON file per computed unit, keyed by a hash of everything it depends on.

A unit is a `kind` ("importance", "scores", "faithfulness", "latency") and its parameters. The key
hashes the kind, the parameters (the caller includes device, dtype and the model's revision), the
library versions and a fingerprint of the code that computes units (every `helpers` module except
the presentation ones in `PRESENTATION_MODULES`): changing any of them recomputes, re-running with
the same ones reuses, and a unit computed by other code can never be read back. Files are written
to a temporary name and renamed: an interrupted run loses at most the unit in flight and never
leaves a partial file.

    python -m helpers.results list [--results results]    # units per kind: current / stale
    python -m helpers.results prune [--results results]   # delete the stale ones
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd

_VERSIONED = ("torch", "transformers", "captum", "numpy", "scipy")
# Modules that only present or orchestrate stored results: editing them never changes a unit.
PRESENTATION_MODULES = frozenset({"__init__", "book", "claims", "pages", "plots", "profiles", "progress",
                                  "results", "stats"})
HELPERS_DIR = Path(__file__).resolve().parent


def library_versions() -> dict[str, str]:
    """Versions of the libraries whose change may change results."""
    out = {}
    for pkg in _VERSIONED:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "absent"
    return out


def code_fingerprint(folder: str | os.PathLike = HELPERS_DIR) -> str:
    """A hash of the sources of the modules that compute units (all but the presentation ones)."""
    h = hashlib.sha256()
    for path in sorted(Path(folder).glob("*.py")):
        if path.stem not in PRESENTATION_MODULES:
            h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _canonical(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(obj.items())}
    if isinstance(obj, list | tuple):
        return [_canonical(v) for v in obj]
    if isinstance(obj, float):
        return round(obj, 12)
    return obj


def unit_key(
    kind: str, params: Mapping[str, Any], versions: Mapping[str, str] | None = None,
    code: str | None = None,
) -> str:
    """A stable hash of a unit's kind, parameters, library versions and code fingerprint."""
    versions = library_versions() if versions is None else versions
    code = code_fingerprint() if code is None else code
    blob = json.dumps(_canonical({"kind": kind, "params": params, "versions": versions, "code": code}),
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temporary file beside `path`, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class ResultStore:
    """A folder of computed units, one JSON file each, under `root/kind/key.json`."""

    def __init__(self, root: str | os.PathLike, *, code: str | None = None) -> None:
        self.root = Path(root)
        self.versions = library_versions()
        self.code = code_fingerprint() if code is None else code

    def path(self, kind: str, params: Mapping[str, Any]) -> Path:
        """Where the unit with these parameters lives."""
        return self.root / kind / f"{unit_key(kind, params, self.versions, self.code)}.json"

    def load(self, kind: str, params: Mapping[str, Any]) -> dict | None:
        """The stored record, or None when it has not been computed."""
        path = self.path(kind, params)
        if not path.exists():
            return None
        with open(path) as f:
            return json.load(f)

    def get_or_compute(
        self,
        kind: str,
        params: Mapping[str, Any],
        compute: Callable[[], dict],
        provenance: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None,
    ) -> dict:
        """The stored record for these parameters, computing and storing it first if needed.

        `provenance` (or a function returning it, called only after a computation) is stored beside
        the result, outside the key."""
        found = self.load(kind, params)
        if found is not None:
            return found
        start = time.perf_counter()
        record = compute()
        if callable(provenance):
            provenance = provenance()
        record = {
            "kind": kind,
            "params": _canonical(dict(params)),
            "provenance": {
                **(provenance or {}),
                "versions": self.versions,
                "code": self.code,
                "python": platform.python_version(),
                "machine": platform.machine(),
                "wall_time_s": round(time.perf_counter() - start, 3),
                "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
            **record,
        }
        write_json_atomic(self.path(kind, params), record)
        return record

    def records(self, kind: str) -> list[dict]:
        """Every current record of a kind (any parameters; stale ones from other code skipped)."""
        return [rec for path, rec in self._files(kind) if not self._stale(path, rec)]

    def _files(self, kind: str | None = None) -> list[tuple[Path, dict]]:
        folders = [self.root / kind] if kind else [p for p in sorted(self.root.glob("*")) if p.is_dir()]
        out = []
        for folder in folders:
            for p in sorted(folder.glob("*.json")):
                with open(p) as f:
                    out.append((p, json.load(f)))
        return out

    def _stale(self, path: Path, record: dict) -> bool:
        return path != self.path(record.get("kind", path.parent.name), record.get("params", {}))

    def inventory(self) -> pd.DataFrame:
        """Units per kind: how many are current (this code and these libraries) and how many stale."""
        rows = [{"kind": path.parent.name, "stale": self._stale(path, rec), "bytes": path.stat().st_size}
                for path, rec in self._files()]
        frame = pd.DataFrame(rows, columns=["kind", "stale", "bytes"])
        return frame.groupby("kind").agg(units=("stale", "size"), stale=("stale", "sum"),
                                         megabytes=("bytes", lambda b: round(b.sum() / 2**20, 2)))

    def prune(self, *, dry_run: bool = False) -> list[Path]:
        """Delete units no current run can read (other code, other libraries); returns their paths."""
        stale = [path for path, rec in self._files() if self._stale(path, rec)]
        if not dry_run:
            for path in stale:
                path.unlink()
        return stale


def metrics_frame(records: list[dict]) -> pd.DataFrame:
    """The tidy metric rows of many records as one DataFrame (one row per unit x metric)."""
    rows = [row for r in records for row in r.get("metrics", [])]
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    """Command line: `list` the units of a store, or `prune` the stale ones."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m helpers.results", description=main.__doc__)
    parser.add_argument("command", choices=["list", "prune"])
    parser.add_argument("--results", default="results", help="the store's folder (default results)")
    parser.add_argument("--dry-run", action="store_true", help="prune: only list what would go")
    args = parser.parse_args(argv)
    store = ResultStore(args.results)
    if args.command == "list":
        print(store.inventory().to_string() if store.root.exists() else f"{store.root}: no store")
        return
    gone = store.prune(dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    print(f"{verb} {len(gone)} stale unit(s) under {store.root}")


if __name__ == "__main__":
    main()
