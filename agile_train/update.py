"""The PPO update: clipped surrogate and value losses over the rollout buffer's minibatches (CleanRL's loop)."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import torch

from agile_train.batching import response_logprobs
from agile_train.buffer import RolloutBuffer
from agile_train.distributed import SINGLE, Distributed
from agile_train.generation import score_temperature
from agile_train.losses import entropy_from_logits, masked_mean, policy_loss, value_loss
from agile_train.models import PolicyWithValue
from agile_train.sharding import idle_backward

if TYPE_CHECKING:
    from agile_train.config import PPOConfig


class OptimizerStep:
    """One optimizer step of a possibly data-parallel run: gradients summed over processes, clipped to
    `max_grad_norm`, applied. `step()` returns the gradient norm before clipping."""

    def __init__(self, optimizer: torch.optim.Optimizer, max_grad_norm: float, dist: Distributed = SINGLE) -> None:
        self.optimizer, self.max_grad_norm, self.dist = optimizer, max_grad_norm, dist
        self.parameters = [p for group in optimizer.param_groups for p in group["params"]]

    def zero_grad(self) -> None:
        """Drop the gradients of the last step."""
        self.optimizer.zero_grad(set_to_none=True)

    def step(self) -> float:
        """Sum gradients over processes, clip them to `max_grad_norm`, step; returns the norm before clipping."""
        self.dist.sync_gradients(self.parameters)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.parameters, self.max_grad_norm)
        if hasattr(grad_norm, "full_tensor"):  # sharded gradients give a distributed tensor
            grad_norm = grad_norm.full_tensor()
        self.optimizer.step()
        return float(grad_norm)


def ppo_update(policy: PolicyWithValue, optimizer: OptimizerStep, buffer: RolloutBuffer, config: PPOConfig,
               generator: torch.Generator) -> dict[str, float]:
    """Clipped PPO (Schulman et al. 2017, eq. 7 and 9) for `config.ppo_epochs` passes over `buffer`. Dropout is
    off and logits are at the sampling temperature, as in scoring (TRL's disable_dropout), so the first ratio is
    1. Each micro-batch's loss is weighted by its share of the minibatch's tokens (across processes): the summed
    gradient is a per-token mean. Returns micro-batch means (`*_avg`), the gradient norm per step and
    `loss/total`, this process's share of the first epoch's per-token loss (summed over processes: the whole)."""
    policy.eval()
    temperature = score_temperature(config.temperature)
    history: dict[str, list[float]] = defaultdict(list)
    total_loss = 0.0
    for minibatch in buffer.minibatches(config.ppo_epochs, config.minibatch_size, config.micro_batch_size,
                                        generator):
        optimizer.zero_grad()
        for micro in minibatch.micro_batches:
            if micro is None:  # a pass with no data, joined because the other processes' passes are collectives
                idle_backward(policy, buffer.device)
                continue
            mask, width = micro.response_mask, micro.response_ids.shape[1]
            logits, values = policy(micro.input_ids, micro.attention_mask, micro.keep)
            pg_loss, pg_stats = policy_loss(response_logprobs(logits, micro, temperature), micro.old_logprobs,
                                            micro.advantages, mask, config.cliprange)
            vf_loss, vf_stats = value_loss(values[:, :width].float(), micro.old_values, micro.returns, mask,
                                           config.cliprange_value)
            entropy = masked_mean(entropy_from_logits(logits[:, :width] / temperature), mask)
            loss = pg_loss + config.vf_coef * vf_loss - config.entropy_coef * entropy
            (loss * mask.sum() / minibatch.tokens).backward()
            if minibatch.epoch == 0:
                total_loss += float(loss.detach()) * float(mask.sum())
            for name, value in (("loss/policy_avg", pg_loss), ("loss/value_avg", vf_loss),
                                ("policy/clipfrac_avg", pg_stats["clipfrac"]),
                                ("policy/approxkl_avg", pg_stats["approxkl"]), ("val/ratio", pg_stats["ratio"]),
                                ("val/clipfrac_avg", vf_stats["clipfrac"]), ("policy/entropy_avg", entropy)):
                history[name].append(float(value.detach()))
        history["policy/grad_norm"].append(optimizer.step())
    metrics = {name: sum(values) / len(values) for name, values in history.items()}
    metrics["loss/total"] = total_loss / buffer.global_tokens()
    return metrics
