"""From collected segments to a PPO update: score the sampled tokens, compute advantages, optimize.

The rollout side (`rollout.py`) never touches gradients; this side never touches an env.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from agile_train.advantages import compute_gae, token_rewards
from agile_train.distributed import SINGLE, Distributed
from agile_train.losses import (
    entropy_from_logits, explained_variance, masked_mean, masked_whiten, policy_loss, value_loss,
)
from agile_train.models import PolicyWithValue
from agile_train.rollout import Segment
from agile_train.sharding import idle_backward


@dataclass
class Sample:
    """One action ready for training: context, sampled ids, and per-token rollout statistics."""

    prompt_ids: list[int]
    response_ids: list[int]
    old_logprobs: torch.Tensor
    ref_logprobs: torch.Tensor
    old_values: torch.Tensor
    advantages: torch.Tensor | None = None
    returns: torch.Tensor | None = None


@dataclass
class Batch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    response_ids: torch.Tensor
    response_mask: torch.Tensor

    @property
    def keep(self) -> int:
        # The last prompt position predicts the first response token, hence one more than the response width.
        return self.response_ids.shape[1] + 1


def collate(prompts: list[list[int]], responses: list[list[int]], pad_id: int, device: torch.device) -> Batch:
    """Prompts left-padded and responses right-padded, so every row's response starts at the same column."""
    prompt_width = max(len(p) for p in prompts)
    response_width = max(1, max(len(r) for r in responses))
    rows = len(prompts)
    input_ids = torch.full((rows, prompt_width + response_width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros_like(input_ids)
    response_ids = torch.full((rows, response_width), pad_id, dtype=torch.long)
    response_mask = torch.zeros((rows, response_width))
    for i, (prompt, response) in enumerate(zip(prompts, responses)):
        start = prompt_width - len(prompt)
        input_ids[i, start:prompt_width] = torch.tensor(prompt)
        attention_mask[i, start:prompt_width + len(response)] = 1
        if response:
            input_ids[i, prompt_width:prompt_width + len(response)] = torch.tensor(response)
            response_ids[i, :len(response)] = torch.tensor(response)
            response_mask[i, :len(response)] = 1
    return Batch(input_ids.to(device), attention_mask.to(device), response_ids.to(device), response_mask.to(device))


def response_logprobs(logits: torch.Tensor, batch: Batch) -> torch.Tensor:
    logits = logits[:, : batch.response_ids.shape[1]].float()
    return torch.log_softmax(logits, dim=-1).gather(-1, batch.response_ids[..., None]).squeeze(-1)


@torch.no_grad()
def score_segments(policy: PolicyWithValue, segments: list[Segment], micro_batch_size: int, pad_id: int,
                   device: torch.device) -> tuple[list[list[Sample]], list[float]]:
    """Rollout-time log-probs, reference log-probs and values of every sampled token, computed with the same
    forward pass the update uses (so the first PPO ratio is 1), and each segment's bootstrap value."""
    policy.eval()
    turns = [turn for segment in segments for turn in segment.turns]
    scored: list[Sample] = []
    for start in range(0, len(turns), micro_batch_size):
        chunk = turns[start:start + micro_batch_size]
        batch = collate([t.prompt_ids for t in chunk], [t.response_ids for t in chunk], pad_id, device)
        logits, values = policy(batch.input_ids, batch.attention_mask, batch.keep)
        logprobs = response_logprobs(logits, batch)
        ref_logprobs = response_logprobs(policy.reference_logits(batch.input_ids, batch.attention_mask, batch.keep),
                                         batch)
        for row, turn in enumerate(chunk):
            n = len(turn.response_ids)
            scored.append(Sample(turn.prompt_ids, turn.response_ids, logprobs[row, :n].cpu(),
                                 ref_logprobs[row, :n].cpu(), values[row, :n].float().cpu()))
    bootstrap_prompts = [s.bootstrap_ids for s in segments if not s.terminal and s.bootstrap_ids is not None]
    bootstrap_values = iter(state_values(policy, bootstrap_prompts, micro_batch_size, pad_id, device))
    per_segment, cursor, next_values = [], 0, []
    for segment in segments:
        per_segment.append(scored[cursor:cursor + len(segment.turns)])
        cursor += len(segment.turns)
        bootstrapped = not segment.terminal and segment.bootstrap_ids is not None
        next_values.append(next(bootstrap_values) if bootstrapped else 0.0)
    return per_segment, next_values


@torch.no_grad()
def state_values(policy: PolicyWithValue, prompts: list[list[int]], micro_batch_size: int, pad_id: int,
                 device: torch.device) -> list[float]:
    """V(context): the value head at the last context token, where the next action would start."""
    values: list[float] = []
    for start in range(0, len(prompts), micro_batch_size):
        chunk = prompts[start:start + micro_batch_size]
        batch = collate(chunk, [[] for _ in chunk], pad_id, device)
        _, head = policy(batch.input_ids[:, :-1], batch.attention_mask[:, :-1], 1)
        values.extend(head[:, -1].float().cpu().tolist())
    return values


def assign_advantages(segments: list[list[Sample]], rewards: list[list[float]], next_values: list[float],
                      kl_coef: float, gamma: float, lam: float) -> list[Sample]:
    """GAE over each segment's tokens laid end to end; returns every sample with advantages and returns set."""
    samples: list[Sample] = []
    for segment, segment_rewards, next_value in zip(segments, rewards, next_values):
        if not segment:
            continue
        token_level = [
            token_rewards(s.old_logprobs, s.ref_logprobs, reward, kl_coef) if len(s.response_ids)
            else torch.zeros(0) for s, reward in zip(segment, segment_rewards)
        ]
        lengths = [len(s.response_ids) for s in segment]
        advantages, returns = compute_gae(torch.cat(token_level), torch.cat([s.old_values for s in segment]),
                                          next_value, gamma, lam)
        for sample, adv, ret in zip(segment, advantages.split(lengths), returns.split(lengths)):
            sample.advantages, sample.returns = adv, ret
            samples.append(sample)
    return [s for s in samples if len(s.response_ids)]


def pad_rows(rows: list[torch.Tensor], width: int, device: torch.device) -> torch.Tensor:
    out = torch.zeros((len(rows), width))
    for i, row in enumerate(rows):
        out[i, : row.shape[0]] = row
    return out.to(device)


def ppo_update(policy: PolicyWithValue, optimizer, scheduler, samples: list[Sample], *, epochs: int,
               minibatch_size: int, micro_batch_size: int, cliprange: float, cliprange_value: float,
               vf_coef: float, entropy_coef: float, max_grad_norm: float, whiten: bool, pad_id: int,
               device: torch.device, generator: torch.Generator, dist: Distributed = SINGLE) -> dict[str, float]:
    """Clipped PPO over `samples` for `epochs` passes, minibatches of whole actions, gradient accumulation.

    With several processes `samples` are this rank's and `minibatch_size` is global: each rank takes its
    share of every minibatch, losses are weighted by the global token count and gradients summed, so the step
    equals one process's step on the union. `loss/total` is that global per-token loss of the first epoch.
    """
    if whiten:
        _whiten_advantages(samples, dist)
    history: dict[str, list[float]] = {}
    policy.train()
    trainable = [p for p in policy.parameters() if p.requires_grad]
    local_minibatch = max(1, minibatch_size // dist.world_size)
    # Every rank must take part in every optimizer step: a rank with fewer actions runs empty minibatches.
    steps_per_epoch = dist.max(-(-len(samples) // local_minibatch))
    total_loss = total_tokens = 0.0
    for epoch in range(epochs):
        order = torch.randperm(len(samples), generator=generator).tolist()
        for step in range(steps_per_epoch):
            minibatch = [samples[i] for i in order[step * local_minibatch:(step + 1) * local_minibatch]]
            (tokens_in_minibatch,) = dist.sum(sum(len(s.response_ids) for s in minibatch))
            optimizer.zero_grad(set_to_none=True)
            micro_batches = [minibatch[i:i + micro_batch_size] for i in range(0, len(minibatch), micro_batch_size)]
            if dist.sharded:  # every sharded forward is a collective: all ranks run as many as the busiest
                micro_batches += [[]] * (dist.max(len(micro_batches)) - len(micro_batches))
            for micro in micro_batches:
                if not micro:
                    idle_backward(policy, device)
                    continue
                batch = collate([s.prompt_ids for s in micro], [s.response_ids for s in micro], pad_id, device)
                width = batch.response_ids.shape[1]
                mask = batch.response_mask
                logits, values = policy(batch.input_ids, batch.attention_mask, batch.keep)
                logprobs = response_logprobs(logits, batch)
                values = values[:, :width].float()
                old_logprobs = pad_rows([s.old_logprobs for s in micro], width, device)
                old_values = pad_rows([s.old_values for s in micro], width, device)
                advantages = pad_rows([s.advantages for s in micro], width, device)
                returns = pad_rows([s.returns for s in micro], width, device)
                pg_loss, pg_stats = policy_loss(logprobs, old_logprobs, advantages, mask, cliprange)
                vf_loss, vf_stats = value_loss(values, old_values, returns, mask, cliprange_value)
                entropy = masked_mean(entropy_from_logits(logits[:, :width]), mask)
                loss = pg_loss + vf_coef * vf_loss - entropy_coef * entropy
                # Weight each micro-batch by its share of the (global) minibatch's tokens: the sum over
                # micro-batches and ranks is a per-token mean.
                (loss * mask.sum() / max(1.0, tokens_in_minibatch)).backward()
                if epoch == 0:
                    total_loss += float(loss.detach()) * float(mask.sum())
                    total_tokens += float(mask.sum())
                for name, value in (("loss/policy_avg", pg_loss), ("loss/value_avg", vf_loss),
                                    ("policy/clipfrac_avg", pg_stats["clipfrac"]),
                                    ("policy/approxkl_avg", pg_stats["approxkl"]),
                                    ("val/clipfrac_avg", vf_stats["clipfrac"]), ("policy/entropy_avg", entropy)):
                    history.setdefault(name, []).append(float(value.detach()))
            dist.sync_gradients(trainable)
            grad_norm = torch.nn.utils.clip_grad_norm_(trainable, max_grad_norm)
            if hasattr(grad_norm, "full_tensor"):  # sharded gradients give a distributed tensor
                grad_norm = grad_norm.full_tensor()
            history.setdefault("policy/grad_norm", []).append(float(grad_norm))
            optimizer.step()
    scheduler.step()
    metrics = {name: sum(values) / len(values) for name, values in history.items()}
    total_loss, total_tokens = dist.sum(total_loss, total_tokens)
    metrics["loss/total"] = total_loss / max(1.0, total_tokens)
    return metrics


def _whiten_advantages(samples: list[Sample], dist: Distributed) -> None:
    """Zero mean, unit variance over every rank's advantage tokens (as one process would over all of them)."""
    flat = torch.cat([s.advantages for s in samples]) if samples else torch.zeros(0)
    if not dist.enabled:
        whitened = masked_whiten(flat, torch.ones_like(flat)).split([len(s.response_ids) for s in samples])
        for sample, advantages in zip(samples, whitened):
            sample.advantages = advantages
        return
    count, total = dist.sum(float(flat.numel()), float(flat.sum()))
    mean = total / max(1.0, count)
    (squares,) = dist.sum(float(((flat - mean) ** 2).sum()))
    scale = 1.0 / math.sqrt(squares / max(1.0, count) + 1e-8)
    offset = 0
    for sample in samples:
        n = len(sample.response_ids)
        sample.advantages = (flat[offset:offset + n] - mean) * scale
        offset += n


def rollout_statistics(samples: list[Sample], kl_coef: float) -> dict[str, float]:
    kl_per_action = [float((s.old_logprobs - s.ref_logprobs).sum()) for s in samples]
    values = torch.cat([s.old_values for s in samples])
    returns = torch.cat([s.returns for s in samples])
    mask = torch.ones_like(values)
    return {
        "objective/kl": sum(kl_per_action) / max(1, len(kl_per_action)),
        "objective/kl_coef": kl_coef,
        "val/explained_variance": explained_variance(values, returns, mask),
        "val/value_mean": float(values.mean()),
        "tokens/response_length_mean": sum(len(s.response_ids) for s in samples) / max(1, len(samples)),
    }


class KLController:
    """Fixed coefficient, or the adaptive controller of Ziegler et al. (2019) when `target` > 0."""

    def __init__(self, coef: float, target: float, horizon: int) -> None:
        self.coef, self.target, self.horizon = coef, target, horizon

    def update(self, kl: float, actions: int) -> None:
        if self.target <= 0:
            return
        error = min(max(kl / self.target - 1.0, -0.2), 0.2)
        self.coef *= 1.0 + error * actions / self.horizon
