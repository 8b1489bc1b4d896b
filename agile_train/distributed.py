"""Data parallelism across processes started by `accelerate launch` (or `torchrun`): which env copies are this
process's, gradient and metric reductions, and who writes files. One process (the default) makes every
operation a no-op, so the single-process trainer runs exactly as before.

The process group comes from Hugging Face accelerate (`PartialState`: gloo on CPU, NCCL on GPUs, the rank and
world size from the launcher's environment). Gradients are summed with one all-reduce per optimizer step over a
flat buffer, each rank's loss already weighted by its share of the global token count, so the update equals
the single-process update on the same global minibatch however unevenly the ranks' actions are split.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class Distributed:
    """This process's place among the processes of a run (rank, world size, device), and the few
    collectives training needs; a single process (`SINGLE`) makes each of them a no-op."""

    rank: int = 0
    world_size: int = 1
    device: torch.device | None = None
    sharded: bool = False  # FSDP (agile_train.sharding): gradients arrive summed, in shards

    @classmethod
    def from_environment(cls, device: str = "auto", fsdp: bool = False) -> Distributed:
        """The launcher's process group when started with more than one process, else a single process.

        `fsdp`, or an accelerate config with `distributed_type: FSDP` (ACCELERATE_USE_FSDP in the environment),
        asks for sharded training; it needs more than one process.
        """
        fsdp = fsdp or os.environ.get("ACCELERATE_USE_FSDP", "").lower() in ("1", "true")
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            if fsdp:
                raise ValueError("--fsdp shards the model across processes: start with accelerate launch "
                                 "--num_processes N (N > 1), or drop --fsdp")
            return cls()
        from accelerate import PartialState

        # Without cpu=True accelerate leaves a GPU-less machine undistributed; gloo serves CPU processes.
        state = PartialState(cpu=device == "cpu" or (device == "auto" and not torch.cuda.is_available()))
        return cls(state.process_index, state.num_processes, state.device, sharded=fsdp)

    @property
    def enabled(self) -> bool:
        """More than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that logs and writes checkpoints."""
        return self.rank == 0

    def shard(self, total: int, what: str = "--num-envs") -> range:
        """This rank's contiguous share of `total` items (env copies)."""
        if total % self.world_size:
            raise ValueError(f"{what} {total} does not split evenly over {self.world_size} processes; use a multiple")
        size = total // self.world_size
        return range(self.rank * size, (self.rank + 1) * size)

    def all_reduce(self, tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
        """`tensor` reduced in place over every process (`op`: sum or max); returned for chaining."""
        if self.enabled:
            import torch.distributed as dist

            dist.all_reduce(tensor, op={"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX}[op])
        return tensor

    def sum(self, *values: float) -> list[float]:
        """Each value summed over every process (float64 on the way)."""
        return self.all_reduce(torch.tensor(values, dtype=torch.float64, device=self._comm_device())).tolist()

    def max(self, value: int) -> int:
        """The largest `value` of any process."""
        return int(self.all_reduce(torch.tensor([value], dtype=torch.long, device=self._comm_device()), "max").item())

    def sync_gradients(self, parameters: list[torch.nn.Parameter]) -> None:
        """Sum every rank's gradients (missing ones count as zero) with one all-reduce."""
        if not self.enabled:
            return
        if self.sharded:  # FSDP has already summed them into each rank's shard during backward
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in parameters]
        flat = torch.cat([g.reshape(-1).float() for g in grads])
        self.all_reduce(flat)
        offset = 0
        for parameter, grad in zip(parameters, grads):
            count = grad.numel()
            parameter.grad = flat[offset:offset + count].view_as(grad).to(grad.dtype)
            offset += count

    def broadcast_parameters(self, module: torch.nn.Module) -> None:
        """Rank 0's weights everywhere, so every rank starts from the same model."""
        if self.enabled:
            import torch.distributed as dist

            for tensor in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(tensor.data, src=0)

    def gather(self, value: Any) -> list[Any]:
        """Every rank's `value` (any picklable object), in rank order, on every rank."""
        if not self.enabled:
            return [value]
        import torch.distributed as dist

        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered

    def mean_metrics(self, metrics: dict[str, float]) -> dict[str, float]:
        """Each metric averaged over the ranks that report it (ranks hold equal numbers of env copies)."""
        if not self.enabled:
            return metrics
        reported = self.gather(metrics)
        keys = dict.fromkeys(key for ranked in reported for key in ranked)
        return {key: sum(r[key] for r in reported if key in r) / sum(key in r for r in reported) for key in keys}

    def barrier(self) -> None:
        """Wait until every process gets here."""
        if self.enabled:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        """Tear down the process group (when one was started)."""
        if self.enabled:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()

    def _comm_device(self) -> torch.device:
        # gloo reduces CPU tensors; NCCL needs them on this rank's GPU.
        return self.device if self.device is not None and self.device.type == "cuda" else torch.device("cpu")


SINGLE = Distributed()
