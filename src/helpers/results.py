"""The results store: one JSON file per computed unit, keyed by a hash of everything it depends on.

A unit is a `kind` (see helpers.units) and its parameters. The key hashes the kind, the parameters
(the caller includes device, dtype and the model's revision), the library versions and a
fingerprint of the code that computes that kind: changing any of them recomputes, re-running with
the same ones reuses, and a unit computed by other code can never be read back. The store does not
know how any kind is computed: each kind registers, with `register_code`, the function that gives
its current code fingerprint (helpers.units does, for every kind), and a store can be given one
fixed fingerprint instead (`code=`). Files are written
to a temporary name and renamed: an interrupted run loses at most the unit in flight and never
leaves a partial file.

Many processes (grid workers on several machines, say) may share one store. Before computing a
unit a process creates its claim, `kind/key.claim` (exclusive create), and refreshes it every
`heartbeat_s` while it computes; another process that needs the unit waits for the result instead
of computing it too. A claim whose heartbeat has not moved for `claim_timeout_s` (as the waiter's
own clock measures it, so the hosts' clocks need not agree), or whose owner is a dead process of
the same host, is broken and the unit computed again. Every computation is logged to
`_log/computations.jsonl`; a grid records failed units under `_failures/`.

A shared filesystem (NFS, Lustre, a cloud file share) works when it gives: exclusive create
(O_CREAT|O_EXCL) and rename within a folder that are atomic across clients (NFSv3 and later,
Lustre, GPFS, CephFS; not object-store mounts such as s3fs or gcsfuse), and modification times
that other clients see within `claim_timeout_s` (NFS caches attributes for up to `actimeo`, 60 s
by default: keep the timeout well above it).

`python -m helpers.inventory list|prune` lists a store's units and deletes stale or unused ones.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd

_VERSIONED = ("torch", "transformers", "captum", "numpy", "scipy")
HEARTBEAT_S = 20.0
CLAIM_TIMEOUT_S = 180.0
POLL_S = 0.5
HOST = socket.gethostname()
# kind -> function(kind, params) giving the current code fingerprint of a unit of that kind
CODE_OF: dict[str, Callable[[str, Mapping[str, Any]], str]] = {}


def register_code(kind: str, code: Callable[[str, Mapping[str, Any]], str]) -> None:
    """Tell stores how to find the current code fingerprint of a unit kind."""
    CODE_OF[kind] = code


def current_code(kind: str, params: Mapping[str, Any]) -> str:
    """The current code fingerprint of a unit (its kind must be registered)."""
    code = CODE_OF.get(kind)
    if code is None:
        raise ValueError(f"unit kind {kind!r} has no registered code fingerprint: import "
                         "helpers.units (which registers every kind), or give the store a "
                         "fixed one with ResultStore(root, code=...)")
    return code(kind, params)


class UnitBusy(Exception):
    """Another live process is computing this unit (raised only by a store with `skip_busy`)."""


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


def unit_key(
    kind: str, params: Mapping[str, Any], versions: Mapping[str, str] | None = None,
    code: str | None = None,
) -> str:
    """A stable hash of a unit's kind, parameters, library versions and code fingerprint."""
    versions = library_versions() if versions is None else versions
    code = current_code(kind, params) if code is None else code
    blob = json.dumps(_canonical({"kind": kind, "params": params, "versions": versions, "code": code}),
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _temp_prefix(path: Path, host: str = HOST, pid: int | None = None) -> str:
    # the writer's host and pid in the name: a broken claim removes only its dead owner's leftovers
    return f".{path.name}.{host}.{os.getpid() if pid is None else pid}."


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temporary file beside `path`, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path), suffix=".tmp")
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

    def __init__(
        self, root: str | os.PathLike, *, code: str | None = None, heartbeat_s: float = HEARTBEAT_S,
        claim_timeout_s: float = CLAIM_TIMEOUT_S, skip_busy: bool = False,
    ) -> None:
        if claim_timeout_s <= heartbeat_s:
            raise ValueError(f"claim_timeout_s={claim_timeout_s} must exceed heartbeat_s={heartbeat_s}: "
                             "a live worker's claim would look dead between two heartbeats")
        self.root = Path(root)
        self.versions = library_versions()
        self.code = code  # None: each kind's registered fingerprint
        self.heartbeat_s, self.claim_timeout_s = heartbeat_s, claim_timeout_s
        # a grid runner sets skip_busy: a unit another process computes is deferred, not awaited
        # (only at the outermost level: a dependency inside a computation is always awaited)
        self.skip_busy = skip_busy
        self.computed: list[tuple[str, str]] = []  # (kind, key) computed by this object
        self._depth = 0

    def code_of(self, kind: str, params: Mapping[str, Any]) -> str:
        """The code fingerprint that keys a unit of `kind` with these parameters."""
        return self.code if self.code is not None else current_code(kind, params)

    def path(self, kind: str, params: Mapping[str, Any]) -> Path:
        """Where the unit with these parameters lives."""
        code = self.code_of(kind, params)
        return self.root / kind / f"{unit_key(kind, params, self.versions, code)}.json"

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
        path = self.path(kind, params)
        with self._claim(path):
            found = self.load(kind, params)  # finished by another process while we waited
            if found is not None:
                return found
            return self._compute(kind, params, path, compute, provenance)

    def _compute(self, kind: str, params: Mapping[str, Any], path: Path, compute: Callable[[], dict],
                 provenance: Any) -> dict:
        start = time.perf_counter()
        self._depth += 1
        try:
            record = compute()
        finally:
            self._depth -= 1
        if callable(provenance):
            provenance = provenance()
        record = {
            "kind": kind,
            "params": _canonical(dict(params)),
            "provenance": {
                **(provenance or {}),
                "versions": self.versions,
                "code": self.code_of(kind, params),
                "python": platform.python_version(),
                "machine": platform.machine(),
                "wall_time_s": round(time.perf_counter() - start, 3),
                "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
            **record,
        }
        write_json_atomic(path, record)
        self.computed.append((kind, path.stem))
        self._log({"kind": kind, "key": path.stem, "host": HOST, "pid": os.getpid(),
                   "wall_time_s": record["provenance"]["wall_time_s"], "finished": time.time()})
        return record

    # --- claims: one computing process per unit -------------------------------------------------

    @contextlib.contextmanager
    def _claim(self, path: Path) -> Iterator[None]:
        """Hold the unit's claim while the body runs (waiting for, or breaking, another's)."""
        claim = path.with_suffix(".claim")
        claim.parent.mkdir(parents=True, exist_ok=True)
        token = f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        seen: tuple[Any, float] | None = None  # the other claim's state and when it last changed
        while True:
            try:
                fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w") as f:
                    json.dump({"owner": token, "host": HOST, "pid": os.getpid(),
                               "since": time.time()}, f)
                break
            state = _file_state(claim)
            if state is None:  # released meanwhile: try again
                continue
            now = time.monotonic()
            if seen is None or seen[0] != state:
                seen = (state, now)
            if self._dead_owner(claim) or now - seen[1] > self.claim_timeout_s:
                self._break(claim, state)
                seen = None
                continue
            if path.exists():  # the owner has written the result and is about to release
                time.sleep(POLL_S / 10)
                continue
            if self.skip_busy and self._depth == 0:
                raise UnitBusy(f"{path.parent.name}/{path.stem} is being computed by "
                               f"{_claim_owner(claim) or 'another process'}")
            time.sleep(POLL_S)
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(claim, token, stop), daemon=True)
        beat.start()
        try:
            yield
        finally:
            stop.set()
            beat.join()
            if _claim_owner(claim) == token:
                claim.unlink(missing_ok=True)

    def _heartbeat(self, claim: Path, token: str, stop: threading.Event) -> None:
        while not stop.wait(self.heartbeat_s):
            if _claim_owner(claim) != token:  # broken by another process: it computes now
                return
            with contextlib.suppress(OSError):
                os.utime(claim)

    def _dead_owner(self, claim: Path) -> bool:
        try:
            info = json.loads(claim.read_text())
        except (OSError, ValueError):
            return False  # being written: not known dead
        if info.get("host") != HOST:
            return False
        try:
            os.kill(int(info["pid"]), 0)
        except ProcessLookupError:
            return True
        except (PermissionError, KeyError, ValueError):
            return False
        return False

    def _break(self, claim: Path, state: Any) -> None:
        """Remove a dead claim (and its owner's temporary files), unless it changed meanwhile."""
        breaker = claim.with_suffix(".break")
        try:
            fd = os.open(breaker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:  # another process is breaking it; a breaker left by a crash expires
            old = _file_state(breaker)
            if old is not None and time.time() - old[0] / 1e9 > self.claim_timeout_s:
                breaker.unlink(missing_ok=True)
            time.sleep(POLL_S / 10)
            return
        os.close(fd)
        try:
            if _file_state(claim) == state:
                with contextlib.suppress(OSError, ValueError):
                    info = json.loads(claim.read_text())
                    unit = claim.with_suffix(".json")
                    for tmp in claim.parent.glob(_temp_prefix(unit, info["host"], info["pid"]) + "*"):
                        tmp.unlink(missing_ok=True)
                claim.unlink(missing_ok=True)
        finally:
            breaker.unlink(missing_ok=True)

    # --- the computation log and recorded failures ---------------------------------------------

    def _log(self, entry: dict) -> None:
        folder = self.root / "_log"
        folder.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(entry) + "\n").encode()
        # one write() in append mode: lines of writers on one machine never interleave (NFS does
        # not promise that across machines: the log counts computations, no unit depends on it)
        fd = os.open(folder / "computations.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def computations(self) -> list[dict]:
        """Every computation logged in this store, by any process (kind, key, host, pid, time)."""
        path = self.root / "_log" / "computations.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def record_failure(self, name: str, info: Mapping[str, Any]) -> Path:
        """Store what made the unit `name` fail (kind, parameters, traceback, host)."""
        path = self.root / "_failures" / f"{name}.json"
        write_json_atomic(path, {**info, "host": HOST, "pid": os.getpid(),
                                 "failed": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        return path

    def clear_failure(self, name: str) -> None:
        """Forget a recorded failure (the unit has been computed since)."""
        (self.root / "_failures" / f"{name}.json").unlink(missing_ok=True)

    def failures(self) -> dict[str, dict]:
        """The recorded failures, by unit name."""
        folder = self.root / "_failures"
        return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}

    def records(self, kind: str) -> list[dict]:
        """Every current record of a kind (any parameters; stale ones from other code skipped)."""
        return [rec for path, rec in self._files(kind) if not self._stale(path, rec)]

    def _files(self, kind: str | None = None) -> list[tuple[Path, dict]]:
        folders = [self.root / kind] if kind else [
            p for p in sorted(self.root.glob("*")) if p.is_dir() and p.name[0] not in "_."]
        out = []
        for folder in folders:
            for p in sorted(folder.glob("*.json")):
                with open(p) as f:
                    out.append((p, json.load(f)))
        return out

    def _stale(self, path: Path, record: dict) -> bool:
        kind = record.get("kind", path.parent.name)
        if self.code is None and kind not in CODE_OF:
            return True  # a kind no current code computes
        return path != self.path(kind, record.get("params", {}))

    def inventory(self) -> pd.DataFrame:
        """Units per kind: how many are current (this code and these libraries) and how many stale."""
        rows = [{"kind": path.parent.name, "stale": self._stale(path, rec), "bytes": path.stat().st_size}
                for path, rec in self._files()]
        frame = pd.DataFrame(rows, columns=["kind", "stale", "bytes"])
        return frame.groupby("kind").agg(units=("stale", "size"), stale=("stale", "sum"),
                                         megabytes=("bytes", lambda b: round(b.sum() / 2**20, 2)))

    def prune(self, *, dry_run: bool = False, keep: set[Path] | None = None) -> list[Path]:
        """Delete units no current run can read (other code, other libraries) and, given `keep`,
        also every current unit not in it (e.g. the units the profiles in use read);
        returns their paths."""
        stale = [path for path, rec in self._files()
                 if self._stale(path, rec) or (keep is not None and path not in keep)]
        if not dry_run:
            for path in stale:
                path.unlink()
        return stale


def _file_state(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size


def _claim_owner(claim: Path) -> str | None:
    try:
        return json.loads(claim.read_text()).get("owner")
    except (OSError, ValueError):
        return None


def metrics_frame(records: list[dict]) -> pd.DataFrame:
    """The tidy metric rows of many records as one DataFrame (one row per unit x metric)."""
    rows = [row for r in records for row in r.get("metrics", [])]
    return pd.DataFrame(rows)
