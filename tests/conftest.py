"""Every test session starts from what a new user has: an empty model cache and no results.

A warm `~/.cache/llm-pruning-book` once hid a chapter that only worked where a model had been
converted before, so the session points `PRUNING_BOOK_CACHE` at a new temporary folder: every
model a test loads is converted inside it, as on a fresh machine. Set
`PRUNING_BOOK_TEST_CACHE=/path` to reuse a folder of converted models on purpose (a developer's
shortcut; CI never sets it). Results stores are temporary folders of each test (`tmp_path`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

TEST_CACHE_ENV = "PRUNING_BOOK_TEST_CACHE"
_made: list[str] = []


def pytest_configure(config) -> None:
    """Point the model cache at an empty folder for the whole session (workers included)."""
    from helpers.models import CACHE_ENV

    chosen = os.environ.get(TEST_CACHE_ENV)
    if chosen:
        os.environ[CACHE_ENV] = chosen
        return
    folder = tempfile.mkdtemp(prefix="pruning-book-cache-")
    _made.append(folder)
    os.environ[CACHE_ENV] = folder


def pytest_report_header(config) -> str:
    """Say which model cache the session uses."""
    from helpers.models import CACHE_ENV

    origin = "given by " + TEST_CACHE_ENV if os.environ.get(TEST_CACHE_ENV) else "new and empty"
    return f"model cache: {os.environ.get(CACHE_ENV)} ({origin})"


def pytest_unconfigure(config) -> None:
    """Remove the session's temporary model cache."""
    for folder in _made:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def empty_cache(tmp_path, monkeypatch) -> Path:
    """A model cache with nothing converted in it, for this test only (even under
    PRUNING_BOOK_TEST_CACHE)."""
    from helpers.models import CACHE_ENV

    folder = tmp_path / "model-cache"
    folder.mkdir()
    monkeypatch.setenv(CACHE_ENV, str(folder))
    return folder
