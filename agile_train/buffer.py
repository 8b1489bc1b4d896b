"""The rollout buffer: the scored actions of one rollout, their advantages, and the minibatches the update reads.

As in stable-baselines3, collection fills the buffer (`RolloutBuffer.score`), the buffer computes advantages and
returns (`compute_advantages`: GAE, Schulman et al. 2016, eq. 16, over each segment's actions or its tokens,
with AGILE's token-level rewards, paper section 3.2), and the update loops over `minibatches`. With several
processes the buffer holds this process's actions and hides what data parallelism needs: advantages whitened over every
process's tokens, minibatches of the global size split across processes with global token counts, and the
empty passes a process joins when it has run out of actions. The PPO update itself never sees a process.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch

from agile_train.advantages import action_gae, compute_gae, token_rewards
from agile_train.batching import Batch, collate, pad_rows, response_logprobs
from agile_train.config import CreditAssignment
from agile_train.distributed import SINGLE, Distributed
from agile_train.generation import score_temperature
from agile_train.losses import explained_variance, masked_whiten
from agile_train.models import PolicyWithValue
from agile_train.rollout import Segment


@dataclass
class Sample:
    """One action ready for training. Every tensor is `[action_tokens]`, on the CPU.

    `old_logprobs` / `ref_logprobs`: log-probabilities of the sampled tokens under the policy that sampled them
    and under the reference policy; `old_values`: the value head at each token; `advantages` / `returns`: set by
    `RolloutBuffer.compute_advantages`.
    """

    prompt_ids: list[int]
    response_ids: list[int]
    old_logprobs: torch.Tensor
    ref_logprobs: torch.Tensor
    old_values: torch.Tensor
    advantages: torch.Tensor | None = None
    returns: torch.Tensor | None = None


@dataclass
class MicroBatch(Batch):
    """A `Batch` with the rollout statistics of its actions, each `[rows, action_width]` (zero-padded)."""

    old_logprobs: torch.Tensor
    old_values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor


@dataclass
class Minibatch:
    """The actions of one optimizer step, in forward-sized micro-batches (collated one at a time, as iterated).

    `tokens`: action tokens in the whole minibatch across every process (at least 1), so that weighting each
    micro-batch's per-token loss by `its tokens / tokens` makes the summed gradient a per-token mean.
    A `None` micro-batch is a pass with no data: the other processes of a sharded run have one here.
    """

    epoch: int
    tokens: float
    micro_batches: Iterable[MicroBatch | None]


class RolloutBuffer:
    """Scored actions grouped in segments (each optimized as one episode), on `device` when batched."""

    def __init__(self, segments: list[list[Sample]], rewards: list[list[float]], next_values: list[float],
                 pad_id: int, device: torch.device, dist: Distributed = SINGLE) -> None:
        """`segments[i][j]`: action j of segment i; `rewards[i][j]` its env reward; `next_values[i]`: the value
        after segment i's last token (0 when terminal)."""
        self.segments, self.rewards, self.next_values = segments, rewards, next_values
        self.pad_id, self.device, self.dist = pad_id, device, dist
        self.samples: list[Sample] = []

    @classmethod
    @torch.no_grad()
    def score(cls, policy: PolicyWithValue, segments: list[Segment], micro_batch_size: int, pad_id: int,
              device: torch.device, dist: Distributed = SINGLE, temperature: float = 1.0) -> RolloutBuffer:
        """Rollout-time log-probs, reference log-probs and values of every sampled token, computed with the same
        forward pass the update uses (dropout off, logits divided by the sampling `temperature`, so the first
        PPO ratio is 1 and the KL compares the distributions tokens were drawn from), and each segment's
        bootstrap value. `temperature` 0 (greedy) scores at 1 (`agile_train.generation.score_temperature`)."""
        temperature = score_temperature(temperature)
        policy.eval()
        turns = [turn for segment in segments for turn in segment.turns]
        scored: list[Sample] = []
        for start in range(0, len(turns), micro_batch_size):
            chunk = turns[start:start + micro_batch_size]
            batch = collate([t.prompt_ids for t in chunk], [t.response_ids for t in chunk], pad_id, device)
            logits, values = policy(batch.input_ids, batch.attention_mask, batch.keep)
            logprobs = response_logprobs(logits, batch, temperature)
            reference = policy.reference_logits(batch.input_ids, batch.attention_mask, batch.keep)
            ref_logprobs = response_logprobs(reference, batch, temperature)
            for row, turn in enumerate(chunk):
                n = len(turn.response_ids)
                scored.append(Sample(turn.prompt_ids, turn.response_ids, logprobs[row, :n].cpu(),
                                     ref_logprobs[row, :n].cpu(), values[row, :n].float().cpu()))
        bootstrapped = [not s.terminal and s.bootstrap_ids is not None for s in segments]
        bootstrap_prompts = [s.bootstrap_ids for s, b in zip(segments, bootstrapped) if b]
        bootstrap_values = iter(state_values(policy, bootstrap_prompts, micro_batch_size, pad_id, device))
        per_segment, cursor, next_values = [], 0, []
        for segment, bootstraps in zip(segments, bootstrapped):
            per_segment.append(scored[cursor:cursor + len(segment.turns)])
            cursor += len(segment.turns)
            next_values.append(next(bootstrap_values) if bootstraps else 0.0)
        rewards = [[turn.reward for turn in segment.turns] for segment in segments]
        return cls(per_segment, rewards, next_values, pad_id, device, dist)

    def compute_advantages(self, kl_coef: float, gamma: float, lam: float, whiten: bool,
                           credit: CreditAssignment = "action") -> None:
        """Advantages and returns of every action, with the env reward on an action's last token and
        -kl_coef * (log pi - log pi_ref) on every token; then, with `whiten`, advantages normalized to zero mean
        and unit variance over every process's tokens. Fills `self.samples` (actions with at least one token).

        `credit`: "token" runs GAE over each segment's tokens laid end to end (`gamma`, `lam` per token);
        "action" runs it over the segment's actions (`action_gae`: one step per env action, `gamma`, `lam` per
        action), every token of an action taking the action's advantage and return."""
        if credit == "action":
            self._action_advantages(kl_coef, gamma, lam)
        else:
            self._token_advantages(kl_coef, gamma, lam)
        if whiten:
            self._whiten()

    def _action_advantages(self, kl_coef: float, gamma: float, lam: float) -> None:
        samples: list[Sample] = []
        for segment, segment_rewards, next_value in zip(self.segments, self.rewards, self.next_values):
            acted = [(s, r) for s, r in zip(segment, segment_rewards) if len(s.response_ids)]
            if not acted:
                continue
            rewards = torch.tensor([float(token_rewards(s.old_logprobs, s.ref_logprobs, r, kl_coef).sum())
                                    for s, r in acted])
            values = torch.stack([s.old_values[0] for s, _ in acted])
            advantages, returns = action_gae(rewards, values, next_value, gamma, lam)
            for (sample, _), adv, ret in zip(acted, advantages, returns):
                n = len(sample.response_ids)
                sample.advantages, sample.returns = adv.repeat(n), ret.repeat(n)
                samples.append(sample)
        self.samples = samples

    def _token_advantages(self, kl_coef: float, gamma: float, lam: float) -> None:
        samples: list[Sample] = []
        for segment, segment_rewards, next_value in zip(self.segments, self.rewards, self.next_values):
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
        self.samples = [s for s in samples if len(s.response_ids)]

    def _whiten(self) -> None:
        """Zero mean, unit variance over every process's advantage tokens (as one process would over all)."""
        samples, dist = self.samples, self.dist
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

    def statistics(self, kl_coef: float) -> dict[str, float]:
        """Rollout-time metrics of this process's actions (`objective/kl`, `val/explained_variance`, ...)."""
        samples = self.samples
        kl_per_action = [float((s.old_logprobs - s.ref_logprobs).sum()) for s in samples]
        values = torch.cat([s.old_values for s in samples]) if samples else torch.zeros(0)
        returns = torch.cat([s.returns for s in samples]) if samples else torch.zeros(0)
        mask = torch.ones_like(values)
        return {
            "objective/kl": sum(kl_per_action) / max(1, len(kl_per_action)),
            "objective/kl_coef": kl_coef,
            "val/explained_variance": explained_variance(values, returns, mask),
            "val/value_mean": float(values.mean()),
            "tokens/response_length_mean": sum(len(s.response_ids) for s in samples) / max(1, len(samples)),
        }

    def global_tokens(self) -> float:
        """Action tokens in the buffer across every process (at least 1)."""
        (tokens,) = self.dist.sum(sum(len(s.response_ids) for s in self.samples))
        return max(1.0, tokens)

    def minibatches(self, epochs: int, minibatch_size: int, micro_batch_size: int, generator: torch.Generator
                    ) -> Iterator[Minibatch]:
        """`epochs` passes over the buffer in a fresh random order each, `minibatch_size` actions per step
        (global: each process takes its share), `micro_batch_size` actions per forward pass.

        Every process yields the same number of minibatches (and, sharded, of micro-batches), padding with
        empty ones, because every optimizer step (and every sharded forward) is a collective."""
        samples, dist = self.samples, self.dist
        local_minibatch = max(1, minibatch_size // dist.world_size)
        steps_per_epoch = dist.max(-(-len(samples) // local_minibatch))
        for epoch in range(epochs):
            order = torch.randperm(len(samples), generator=generator).tolist()
            for step in range(steps_per_epoch):
                chosen = [samples[i] for i in order[step * local_minibatch:(step + 1) * local_minibatch]]
                (tokens,) = dist.sum(sum(len(s.response_ids) for s in chosen))
                chunks: list[list[Sample] | None] = [chosen[i:i + micro_batch_size]
                                                     for i in range(0, len(chosen), micro_batch_size)]
                if dist.sharded:
                    chunks += [None] * (dist.max(len(chunks)) - len(chunks))
                micro = (self._micro_batch(chunk) if chunk else None for chunk in chunks)
                yield Minibatch(epoch, max(1.0, tokens), micro)

    def _micro_batch(self, samples: list[Sample]) -> MicroBatch:
        batch = collate([s.prompt_ids for s in samples], [s.response_ids for s in samples], self.pad_id, self.device)
        width = batch.response_ids.shape[1]
        columns = [pad_rows([getattr(s, name) for s in samples], width, self.device)
                   for name in ("old_logprobs", "old_values", "advantages", "returns")]
        return MicroBatch(batch.input_ids, batch.attention_mask, batch.response_ids, batch.response_mask, *columns)

    @classmethod
    def from_samples(cls, samples: list[Sample], pad_id: int, device: torch.device, dist: Distributed = SINGLE,
                     whiten: bool = False) -> RolloutBuffer:
        """A buffer of actions whose advantages and returns are already set (benchmarks, tests)."""
        buffer = cls([], [], [], pad_id, device, dist)
        buffer.samples = list(samples)
        if whiten:
            buffer._whiten()
        return buffer


@torch.no_grad()
def state_values(policy: PolicyWithValue, prompts: list[list[int]], micro_batch_size: int, pad_id: int,
                 device: torch.device) -> list[float]:
    """V(context) per prompt: the value head at the last context token, where the next action would start."""
    values: list[float] = []
    for start in range(0, len(prompts), micro_batch_size):
        chunk = prompts[start:start + micro_batch_size]
        batch = collate(chunk, [[] for _ in chunk], pad_id, device)
        _, head = policy(batch.input_ids[:, :-1], batch.attention_mask[:, :-1], 1)
        values.extend(head[:, -1].float().cpu().tolist())
    return values
