"""Progress: text bars that the book build silences, and a status file the book runner shows.

Long work reports through `report(kind, done, total, desc)` (and every `progress()` loop does so
by itself). When the environment variable PRUNING_BOOK_STATUS names a file, as it does while
`python -m helpers.book` executes a chapter, the units in flight are written there as JSON
(replaced atomically, at most a few times a second) and the runner prints them on its terminal;
otherwise reporting costs nothing. The kernel's own tqdm bars stay off (TQDM_DISABLE=1) so that
they never reach the book's pages.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")
STATUS_ENV = "PRUNING_BOOK_STATUS"
MIN_INTERVAL_S = 0.5  # between two writes of the status file, except when a unit starts or ends

_units: dict[str, dict[str, Any]] = {}
_last_write = 0.0


def progress(items: Iterable[T], *, desc: str, enabled: bool = True, min_items: int = 4) -> Iterator[T]:
    """Iterate with a text progress bar (unless disabled, too short, or TQDM_DISABLE is set)."""
    items = list(items)
    off = not enabled or len(items) < min_items or os.environ.get("TQDM_DISABLE", "") not in ("", "0")
    bar = tqdm(items, desc=desc, disable=off, leave=False)
    if not os.environ.get(STATUS_ENV):
        return iter(bar)
    return _reporting(bar, desc, len(items))


def _reporting(bar: Iterable[T], desc: str, total: int) -> Iterator[T]:
    report(desc, 0, total)
    try:
        for done, item in enumerate(bar):
            yield item
            report(desc, done + 1, total)
    finally:
        clear(desc)  # an exception or an early break ends the unit too


def report(kind: str, done: int, total: int, desc: str = "") -> None:
    """Record that `done` of `total` units of `kind` are finished (no-op unless the runner asks)."""
    path = os.environ.get(STATUS_ENV)
    if not path:
        return
    if total < 0 or done < 0:
        raise ValueError(f"progress.report({kind!r}): done={done} and total={total} must be >= 0")
    new = kind not in _units
    unit = _units.setdefault(kind, {"kind": kind, "started": time.time()})
    unit.update(done=int(done), total=int(total), desc=desc or unit.get("desc", ""))
    if done >= total:
        del _units[kind]
    _write(path, force=new or done >= total)


def clear(kind: str) -> None:
    """Forget an unfinished unit (it was abandoned), so the runner stops showing it."""
    path = os.environ.get(STATUS_ENV)
    if path and _units.pop(kind, None) is not None:
        _write(path, force=True)


def _write(path: str, *, force: bool) -> None:
    global _last_write
    now = time.time()
    if not force and now - _last_write < MIN_INTERVAL_S:
        return
    _last_write = now
    target = Path(path)
    payload = {"pid": os.getpid(), "updated": now, "units": list(_units.values())}
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh)
        os.replace(tmp, target)
    except OSError:
        Path(tmp).unlink(missing_ok=True)  # a status line is not worth failing a chapter for


def read_status(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The units in flight recorded in a status file, outermost first ([] if none or unreadable)."""
    try:
        return list(json.loads(Path(path).read_text()).get("units") or [])
    except (OSError, ValueError):
        return []


def bar(done: int, total: int, width: int = 12) -> str:
    """A text bar such as `[#####.......] 5/12`."""
    filled = round(width * done / total) if total else 0
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"


def clock(seconds: float) -> str:
    """Seconds as m:ss or h:mm:ss."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class StatusLine:
    """One status line on the terminal: redrawn in place on a TTY, else printed now and then."""

    def __init__(self, stream: Any = None, interval: float | None = None) -> None:
        import sys

        self.stream = stream or sys.stdout
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if interval is not None else (1.0 if self.tty else 20.0)
        self._shown, self._when = "", 0.0

    def update(self, text: str) -> None:
        """Show `text` if it changed and the last line is at least `interval` seconds old."""
        now = time.monotonic()
        if text == self._shown or now - self._when < self.interval:
            return
        self._shown, self._when = text, now
        if self.tty:
            self.stream.write("\r\x1b[K" + text[: _columns() - 1])
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def print(self, text: str) -> None:
        """Print a permanent line (a message, a warning) above the status line."""
        erase = self.tty and self._shown
        self.stream.write(("\r\x1b[K" if erase else "") + text + "\n")
        self.stream.flush()
        if erase:  # the status line was wiped: draw it again at the next update
            self._shown, self._when = "", 0.0


def _columns() -> int:
    import shutil

    return shutil.get_terminal_size((120, 24)).columns
