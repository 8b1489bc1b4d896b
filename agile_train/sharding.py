"""Fully sharded data parallelism (PyTorch FSDP2, `fully_shard`) for policies whose trainable state does not fit
one device: every process keeps 1/N of the weights, gradients and optimizer state.

Training steps run sharded: each decoder layer is all-gathered for its forward and backward and its gradients
are reduce-scattered (summed: each rank's loss already carries its share of the global token count). Rollout
generation and scoring run on gathered weights (`gathered`): every process all-gathers the model once,
generates on its own schedule without per-step collectives (ranks sample different numbers of tokens), and
frees the copy afterwards, as the hybrid engines of verl and OpenRLHF do.
Checkpoints hold full (unsharded) weights and optimizer state keyed by parameter name, written by the main
process, so they load anywhere: plain transformers + peft, another process count, or without sharding.

Because every sharded forward and backward is a collective, every process must run the same number of them:
a process with fewer actions in a minibatch runs `idle_backward` (a zero-loss pass) for the missing ones.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from agile_train.distributed import Distributed


def shard_policy(policy: nn.Module, dist: Distributed) -> None:
    """Shard every decoder layer, the value head, then the rest (embeddings, final norm, LM head) across `dist`.

    The decoder layer classes are the model's own `_no_split_modules` (what transformers never splits across
    devices), so any causal LM that transformers can shard by device map shards here.
    """
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    base = policy.model.get_base_model() if hasattr(policy.model, "get_base_model") else policy.model
    layer_classes = set(getattr(base, "_no_split_modules", None) or [])
    layers = [module for module in base.modules() if type(module).__name__ in layer_classes]
    if not layers:
        raise ValueError(f"--fsdp: {type(base).__name__} names no decoder layer classes (_no_split_modules), so "
                         "there is nothing to shard layer by layer; train it without --fsdp")
    mesh = init_device_mesh(dist.device.type, (dist.world_size,))
    for layer in layers:
        fully_shard(layer, mesh=mesh)
    # Its own group: the value head stays fp32 when the model is bf16, and FSDP wants one dtype per group.
    fully_shard(policy.value_head, mesh=mesh)
    fully_shard(policy, mesh=mesh)
    # The trainer weights each rank's loss by the global token count, so gradients must be summed, not
    # averaged; a plain sum also works on every backend (gloo has no pre-multiplied sum).
    for module in policy.modules():
        if is_sharded(module):
            module.set_gradient_divide_factor(1.0)
            module.set_force_sum_reduction_for_comms(True)
    # FSDP sets itself up on the first forward through the root; generation calls the inner model directly,
    # which would make each layer a root of its own.
    ids = torch.zeros((1, 1), dtype=torch.long, device=dist.device)
    with torch.no_grad():
        policy(ids, torch.ones_like(ids), 1)
    for module in policy.modules():  # the root keeps its weights gathered after a forward that had no backward
        if is_sharded(module):
            module.reshard()


def held_parameters(module: nn.Module) -> int:
    """Parameter elements this process stores (its shards, when sharded)."""
    return sum(p.to_local().numel() if hasattr(p, "to_local") else p.numel() for p in module.parameters())


def is_sharded(module: nn.Module) -> bool:
    """Whether `module` (or any submodule) was wrapped by FSDP2's `fully_shard`."""
    from torch.distributed.fsdp import FSDPModule

    return isinstance(module, FSDPModule)


@contextlib.contextmanager
def gathered(policy: nn.Module) -> Iterator[None]:
    """Full weights on every process for the duration (all processes must enter together); a no-op unsharded."""
    from torch.distributed.fsdp import FSDPModule

    sharded = [module for module in policy.modules() if isinstance(module, FSDPModule)]
    for module in sharded:
        module.set_reshard_after_forward(False)
        module.unshard()
    try:
        yield
    finally:
        for module in sharded:
            module.reshard()
            # FSDP's defaults: the root keeps its weights from forward to backward, the layers free theirs.
            module.set_reshard_after_forward(module is not policy)


def idle_backward(policy: nn.Module, device: torch.device, with_values: bool = True) -> None:
    """A forward and backward with zero loss: joins the collectives of a step this process has no data for,
    touching the same parameters a real step touches."""
    ids = torch.zeros((1, 1), dtype=torch.long, device=device)
    logits, values = policy(ids, torch.ones_like(ids), 1, with_values=with_values)
    zero = logits.float().sum() * 0.0
    if values is not None:
        zero = zero + values.float().sum() * 0.0
    zero.backward()


def full_state(policy: nn.Module, optimizer: torch.optim.Optimizer | None = None
               ) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """Unsharded model and optimizer state on the main process (empty elsewhere); every process must call it."""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
        get_optimizer_state_dict,
    )

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    model_state = get_model_state_dict(policy, options=options)
    optimizer_state = get_optimizer_state_dict(policy, optimizer, options=options) if optimizer is not None else None
    return model_state, optimizer_state


def load_full_optimizer_state(policy: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Put a name-keyed full optimizer state (from `full_state`) into a sharded or unsharded optimizer."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    set_optimizer_state_dict(policy, optimizer, optim_state_dict=state, options=StateDictOptions(full_state_dict=True))


def is_name_keyed(optimizer_state: dict[str, Any]) -> bool:
    """True for `full_state`'s format (parameter names), False for `optimizer.state_dict()` (parameter ids)."""
    return any(isinstance(key, str) for key in optimizer_state.get("state", {}))
