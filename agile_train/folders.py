"""Publishing a folder of files in one rename, so a killed or concurrent writer never leaves half of one."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable


def publish_folder(target: str | os.PathLike, write: Callable[[Path], None], marker: str = "config.json") -> Path:
    """Run `write(staging)` on a fresh folder beside `target`, then rename it to `target`.

    If another writer published `target` first (its `marker` file exists), that copy is kept and ours is
    dropped; any failure removes the staging folder.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        write(staging)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if not (target / marker).exists():
            raise
    return target
