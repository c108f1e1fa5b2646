"""Section 4: wall time of each chapter notebook, as the book runner recorded it."""

from __future__ import annotations

import json
from pathlib import Path

NOT_RUN = "not run"


def known_notebooks(root: Path) -> list[str]:
    """The chapter notebooks: the book runner's list, else the stems of notebooks/*.py|ipynb."""
    try:
        from helpers.chapters import NAMES

        return list(NAMES)
    except Exception:  # the runner may be absent or broken; the folder is a fine fallback
        folder = root / "notebooks"
        stems = {p.stem for p in folder.glob("*.py")} | {p.stem for p in folder.glob("*.ipynb")}
        return sorted(stems)


def notebook_timings(path: Path, root: Path) -> dict:
    """Seconds per notebook from the runner's timings JSON; notebooks it lacks are 'not run'."""
    names = known_notebooks(root)
    if not path.exists():
        return {
            "status": NOT_RUN,
            "path": str(path),
            "seconds": dict.fromkeys(names, NOT_RUN),
        }
    data = json.loads(path.read_text())
    timed = {str(k): float(v) for k, v in (data.get("notebooks") or {}).items()}
    seconds: dict[str, float | str] = {name: timed.get(name, NOT_RUN) for name in names}
    seconds.update(timed)
    numbers = [v for v in seconds.values() if not isinstance(v, str)]
    return {
        "status": "ok",
        "path": str(path),
        "profile": data.get("profile"),
        "finished": data.get("finished"),
        "seconds": seconds,
        "total_s": sum(numbers) if numbers else None,
    }
