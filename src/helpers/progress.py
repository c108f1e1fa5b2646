"""Progress bars that the book build can silence (TQDM_DISABLE=1) without touching call sites."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(items: Iterable[T], *, desc: str, enabled: bool = True, min_items: int = 4) -> Iterator[T]:
    """Iterate with a text progress bar, unless disabled, too short, or TQDM_DISABLE is set."""
    items = list(items)
    off = not enabled or len(items) < min_items or os.environ.get("TQDM_DISABLE", "") not in ("", "0")
    return iter(tqdm(items, desc=desc, disable=off, leave=False))
