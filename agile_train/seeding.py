"""Seeding every global random number generator a run touches (python, numpy, torch)."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed python's `random`, numpy's global generator and torch's default generator with `seed`."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
