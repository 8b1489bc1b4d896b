"""Atomic writes: a reader sees the old file (or folder) or the new one, never half of one.

Everything is written under a temporary name beside its target and put in place with one `os.replace`, which
is atomic within a file system. A writer killed before that rename leaves the target as it was, plus at most a
stray `<name>.tmp-*` sibling (removed whenever the writer fails by an exception). Finished files and folders get
the permissions a plain `open()` or `mkdir()` would give them, not `tempfile`'s private ones.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

TEMPORARY = ".tmp-"  # in every staging name, so a cleaner can tell staging from finished siblings


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once: os.umask can only be read by setting it, which would race with threads creating files.
_UMASK = _umask()


@contextlib.contextmanager
def staged_file(path: str | os.PathLike) -> Iterator[Path]:
    """A fresh empty file beside `path` to write (by any means: a stream, sqlite3, a library's `save`).

    When the block ends normally the file replaces `path` in one rename; when it raises the file is removed and
    `path` is untouched. The parent folder is created if missing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=path.name + TEMPORARY, dir=path.parent)
    os.close(handle)
    try:
        yield Path(temporary)
        os.chmod(temporary, 0o666 & ~_UMASK)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def atomic_write(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write `data` (text as UTF-8, or bytes) to `path` atomically and flushed to disk; returns `path`."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with staged_file(path) as temporary, open(temporary, "wb") as out:
        out.write(payload)
        out.flush()
        os.fsync(out.fileno())
    return Path(path)


def publish_folder(target: str | os.PathLike, write: Callable[[Path], None], *, replace: bool = False,
                   marker: str = "config.json") -> Path:
    """Run `write(staging)` on a fresh folder beside `target`, then rename it to `target`; returns `target`.

    Any failure (an exception or an interrupt) removes the staging folder. When `target` already exists:
    `replace=True` removes it first (a checkpoint written again); `replace=False` keeps it if it is complete
    (its `marker` file exists), dropping ours without an error, as when two processes build the same model
    folder at once; an incomplete one makes the rename fail and the error is raised.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=target.name + TEMPORARY, dir=target.parent))
    try:
        write(staging)
        os.chmod(staging, 0o777 & ~_UMASK)
        if replace and target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if replace or not (target / marker).exists():
            raise
    return target


def load_saved(path: str | os.PathLike, key: str, expected: object) -> dict | None:
    """The JSON object saved at `path` when its `key` entry equals `expected` (compared as JSON, so tuples and
    lists match), else None: no file, unreadable JSON, or saved for other settings. The read side of a cache
    whose entries record what they were computed for."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        saved = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    if not isinstance(saved, dict):
        return None
    return saved if saved.get(key) == json.loads(json.dumps(expected)) else None
