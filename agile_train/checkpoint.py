"""Atomic checkpoints: a killed write never damages the last good checkpoint.

Layout of `<run>/checkpoints/iteration-000010/`:
  policy/            save_pretrained folder (LoRA adapter or full model), tokenizer, value_head.safetensors
  optimizer.pt, scheduler.pt, rng.pt, trainer_state.json, envs.pkl (the env copies, where they pickle)
`<run>/checkpoints/latest` names the newest complete one; it is replaced only after that folder is in place.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agile_gym.files import TEMPORARY, atomic_write, publish_folder

LATEST = "latest"


def rng_state(generators: dict[str, torch.Generator]) -> dict[str, Any]:
    """Every random state a run depends on: python, numpy, torch (and CUDA) and the named generators."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
             "generators": {name: generator.get_state() for name, generator in generators.items()}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any], generators: dict[str, torch.Generator]) -> None:
    """Restore what `rng_state` saved, into the global generators and `generators`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    for name, generator in generators.items():
        generator.set_state(state["generators"][name])


def save_checkpoint(run_dir: str | os.PathLike, iteration: int, policy, tokenizer, optimizer, scheduler,
                    generators: dict[str, torch.Generator], trainer_state: dict[str, Any],
                    worker_state: dict[str, Any] | None, keep: int = 2,
                    full_state: tuple[dict[str, Any], dict[str, Any] | None] | None = None) -> Path:
    """`full_state`: (model, optimizer) state gathered from a sharded policy (agile_train.sharding.full_state),
    saved instead of the policy's and optimizer's own, which are shards."""
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"iteration-{iteration:06d}"
    model_state, optimizer_state = full_state if full_state is not None else (None, None)

    def write(staging: Path) -> None:
        policy.save_pretrained(staging / "policy", state_dict=model_state)
        tokenizer.save_pretrained(staging / "policy")
        torch.save(optimizer_state if optimizer_state is not None else optimizer.state_dict(), staging / "optimizer.pt")
        torch.save(scheduler.state_dict(), staging / "scheduler.pt")
        torch.save(rng_state(generators), staging / "rng.pt")
        if worker_state is not None:
            try:
                (staging / "envs.pkl").write_bytes(pickle.dumps(worker_state))
            except Exception as error:  # noqa: BLE001 (an env holding a socket or a handle: resume will reset the envs)
                warnings.warn(f"the env copies do not pickle ({error}); a resumed run restarts their episodes",
                              stacklevel=2)
        (staging / "trainer_state.json").write_text(json.dumps({**trainer_state, "iteration": iteration}, indent=2))

    publish_folder(final, write, replace=True)
    atomic_write(root / LATEST, final.name)
    for old in sorted(path for path in root.glob("iteration-*") if TEMPORARY not in path.name)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    for stale in root.glob(f"*{TEMPORARY}*"):
        shutil.rmtree(stale, ignore_errors=True)
    return final


def latest_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint folder of a run (what `checkpoints/latest` names), or None."""
    pointer = Path(run_dir) / "checkpoints" / LATEST
    if not pointer.exists():
        return None
    path = pointer.parent / pointer.read_text().strip()
    return path if (path / "trainer_state.json").exists() else None


def load_policy_weights(policy, checkpoint: Path) -> None:
    """Put the checkpoint's trainable weights (adapter or full model) and value head into `policy`."""
    from safetensors.torch import load_file

    folder = checkpoint / "policy"
    if policy.is_peft:
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(policy.model, load_file(str(folder / "adapter_model.safetensors")))
    else:
        from transformers import AutoModelForCausalLM

        saved = AutoModelForCausalLM.from_pretrained(folder, dtype=next(policy.model.parameters()).dtype)
        policy.model.load_state_dict(saved.state_dict())
    policy.load_value_head(folder)


def load_training_state(checkpoint: Path, optimizer, scheduler, generators: dict[str, torch.Generator],
                        policy=None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Restore optimizer, scheduler and RNGs; return (trainer_state, worker_state or None).

    A sharded run's optimizer state is saved by parameter name and loads into `policy`'s optimizer whether or
    not that is sharded; an unsharded run's is saved by parameter position and loads only unsharded.
    """
    from agile_train.sharding import is_name_keyed, is_sharded, load_full_optimizer_state

    optimizer_state = torch.load(checkpoint / "optimizer.pt", weights_only=False)
    if is_name_keyed(optimizer_state):
        load_full_optimizer_state(policy, optimizer, optimizer_state)
    elif policy is not None and is_sharded(policy):
        raise ValueError(f"{checkpoint} was written by a run without --fsdp; resume it without --fsdp")
    else:
        optimizer.load_state_dict(optimizer_state)
    scheduler.load_state_dict(torch.load(checkpoint / "scheduler.pt", weights_only=False))
    set_rng_state(torch.load(checkpoint / "rng.pt", weights_only=False), generators)
    envs = checkpoint / "envs.pkl"
    worker_state = pickle.loads(envs.read_bytes()) if envs.exists() else None
    return json.loads((checkpoint / "trainer_state.json").read_text()), worker_state
