"""Argument checks shared by the benchmarks' entry points, run before any work: each raises ValueError with one
line that names the flag, the bad value and what would be right (the entry point prints it and exits with 2).
Light on purpose (no torch, no env construction), so a typo costs no time."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import gymnasium as gym

import agile_gym


def check_env_id(env_id: str, flag: str = "--env") -> str:
    """`env_id` when Gymnasium knows it (or it is a `module:id` Gymnasium imports first); ValueError naming the
    current agile ids otherwise."""
    if ":" not in env_id and env_id not in gym.registry:
        raise ValueError(f"{flag} {env_id}: not a registered env; choose from {', '.join(agile_gym.ENVIRONMENTS)}")
    return env_id


def check_model(name: str, flag: str = "--model") -> str:
    """`name` when it can name a model: empty (the default), an existing folder saved with save_pretrained (or a
    LoRA adapter or run folder), or a hub id ('name' or 'owner/name'). ValueError for a path that does not exist,
    as `agile_train.models.resolve_base` reads names: one starting with '.', '/' or '~', or with two slashes."""
    if not name:
        return name
    shown = f"{flag}{name}" if flag.endswith(":") else f"{flag} {name}"  # "--model x", "--agent hf:x"
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"{shown}: a file, not a model folder (one saved with save_pretrained)")
        return name
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ValueError(f"{shown}: no such folder; pass an existing model, adapter or run folder, a hub name "
                         "such as Qwen/Qwen2.5-0.5B-Instruct, or 'tiny'")
    return name


def check_choice(flag: str, value: str, choices: Iterable[str]) -> str:
    """`value` when it is one of `choices`; ValueError listing them otherwise."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"{flag} {value}: choose from {', '.join(choices)}")
    return value
