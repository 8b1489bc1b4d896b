"""Torch's CPU threads sized to the cores this process may run on, so training does not oversubscribe them."""

from __future__ import annotations

import os

# Set by the user, these win: torch reads them itself when it starts its thread pools.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def available_cores() -> int:
    """Cores this process may run on (`os.sched_getaffinity`, which honours taskset and container CPU sets;
    `os.cpu_count()` where the platform lacks it), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def use_available_cores() -> int:
    """Set torch's intra-op threads to `available_cores()` unless one of `THREAD_VARIABLES` is set; returns the
    number of threads torch uses afterwards. Torch's own default counts the machine's cores, which starts more
    threads than the process may run when it is pinned to fewer (a shared machine, a container, taskset)."""
    import torch

    if not any(os.environ.get(name) for name in THREAD_VARIABLES):
        torch.set_num_threads(available_cores())
    return torch.get_num_threads()
