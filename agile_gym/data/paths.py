"""Where data and caches live: explicit argument first, then environment variables."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "AGILE_DATA_DIR"
CACHE_DIR_ENV = "AGILE_CACHE_DIR"


def task_data_dir(task: str, data_dir: str | os.PathLike | None) -> Path | None:
    """`data_dir` if given (the task's folder, or a release root holding `<task>/`), else `$AGILE_DATA_DIR/<task>`
    when that variable is set, else None (built-in data)."""
    if data_dir is not None:
        path = Path(data_dir)
        return path / task if (path / task).is_dir() else path
    root = os.environ.get(DATA_DIR_ENV)
    return Path(root) / task if root else None


def cache_dir() -> Path:
    """Directory for derived files (product databases, built-in data): `$AGILE_CACHE_DIR` or ~/.cache/agile."""
    root = os.environ.get(CACHE_DIR_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "agile"
    )
    # Absolute, because the paths of what is built here (the tiny model) are saved in run folders.
    path = Path(root).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path
