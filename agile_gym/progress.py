"""One progress bar for every long stage (training iterations, SFT steps, evaluation, benchmark sessions)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def progress_bar(stage: str, total: int | None = None, *, initial: int = 0, unit: str = "it",
                 enabled: bool = True, iterable: Iterable[Any] | None = None):
    """A tqdm bar named `stage`, counting `unit`s towards `total` (it shows the ETA when `total` is known).

    `initial` starts the count (a resumed run's finished iterations); `iterable`, when given, is what iterating
    the bar yields. Disabled (`enabled=False`, e.g. `--quiet` or a non-main process) it prints nothing but still
    iterates, updates and closes, so callers need no `if bar is not None`. `total` may grow while it runs:
    `bar.total += n; bar.refresh()`.
    """
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=stage, total=total, initial=initial, unit=unit, disable=not enabled)
