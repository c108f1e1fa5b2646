"""The results store: one JSON file per computed unit, keyed by a hash of everything it depends on.

A unit is a `kind` ("importance", "scores", "faithfulness", "latency") and its parameters. The key
hashes the kind, the parameters and the library versions, so changing any of them recomputes
while re-running with the same ones reuses. Files are written to a temporary name and renamed:
an interrupted run loses at most the unit in flight and never leaves a partial file.
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

_VERSIONED = ("torch", "transformers", "captum", "numpy", "llm-attention-pruning-book")


def library_versions() -> dict[str, str]:
    """Versions of the libraries whose change may change results."""
    out = {}
    for pkg in _VERSIONED:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "absent"
    return out


def _canonical(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(obj.items())}
    if isinstance(obj, list | tuple):
        return [_canonical(v) for v in obj]
    if isinstance(obj, float):
        return round(obj, 12)
    return obj


def unit_key(kind: str, params: Mapping[str, Any], versions: Mapping[str, str] | None = None) -> str:
    """A stable hash of a unit's kind, parameters and library versions."""
    versions = library_versions() if versions is None else versions
    blob = json.dumps(_canonical({"kind": kind, "params": params, "versions": versions}), sort_keys=True)
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

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.versions = library_versions()

    def path(self, kind: str, params: Mapping[str, Any]) -> Path:
        """Where the unit with these parameters lives."""
        return self.root / kind / f"{unit_key(kind, params, self.versions)}.json"

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
        provenance: Mapping[str, Any] | None = None,
    ) -> dict:
        """The stored record for these parameters, computing and storing it first if needed."""
        found = self.load(kind, params)
        if found is not None:
            return found
        start = time.perf_counter()
        record = compute()
        record = {
            "kind": kind,
            "params": _canonical(dict(params)),
            "provenance": {
                **(provenance or {}),
                "versions": self.versions,
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
        """Every stored record of a kind (any parameters)."""
        folder = self.root / kind
        if not folder.exists():
            return []
        out = []
        for p in sorted(folder.glob("*.json")):
            with open(p) as f:
                out.append(json.load(f))
        return out


def metrics_frame(records: list[dict]) -> pd.DataFrame:
    """The tidy metric rows of many records as one DataFrame (one row per unit x metric)."""
    rows = [row for r in records for row in r.get("metrics", [])]
    return pd.DataFrame(rows)
