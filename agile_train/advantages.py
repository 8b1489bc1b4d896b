"""Token-level rewards and generalized advantage estimation over a segment's actions (pure functions)."""

from __future__ import annotations

import torch


def token_rewards(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, reward: float, kl_coef: float) -> torch.Tensor:
    """Per-token reward of one action, `[tokens]`: -kl_coef * (log pi - log pi_ref) on every token, plus the
    env's reward on the last token (AGILE section 3.2; Ziegler et al. 2019). `logprobs`, `ref_logprobs`: `[tokens]`."""
    rewards = -kl_coef * (logprobs - ref_logprobs)
    rewards[-1] = rewards[-1] + reward
    return rewards


def compute_gae(rewards: torch.Tensor, values: torch.Tensor, next_value: float, gamma: float, lam: float
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages and returns of one segment, its tokens laid end to end across all its actions.

    `rewards`, `values`: `[tokens]`. `values[t]` estimates the state before token t; `next_value` is the value
    after the last token (0 for a terminal segment, else the bootstrap). Returns (advantages, returns =
    advantages + values), each `[tokens]`: delta_t = r_t + gamma V_t+1 - V_t, A_t = delta_t + gamma lam A_t+1
    (Schulman et al. 2016, eq. 16).

    >>> advantages, returns = compute_gae(torch.tensor([0.0, 1.0]), torch.tensor([0.5, 0.5]), 0.0, 1.0, 0.5)
    >>> advantages.tolist(), returns.tolist()
    ([0.25, 0.5], [0.75, 1.0])
    """
    length = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    running = 0.0
    for t in reversed(range(length)):
        following = values[t + 1] if t + 1 < length else next_value
        delta = rewards[t] + gamma * following - values[t]
        running = delta + gamma * lam * running
        advantages[t] = running
    return advantages, advantages + values


def action_gae(rewards: torch.Tensor, values: torch.Tensor, next_value: float, gamma: float, lam: float
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE with one step per env action: advantages and returns of a segment's actions, each `[actions]`.

    `rewards[j]`: action j's env reward plus the summed per-token KL penalty of its tokens; `values[j]`: V(s_j),
    the value head at the last context position before action j (where its first token is predicted: the value
    of the state, not of a half-written action); `next_value`: V after the segment (0 when terminal). Then
    delta_j = r_j + gamma V(s_j+1) - V(s_j), A_j = delta_j + gamma lam A_j+1, as Schulman et al. 2016 (eq. 16)
    over env steps: an action's length no longer discounts its own reward (token-level GAE gives the decision
    token of a 14-token answer lam^13 of its reward, and a 2-token one lam). Each token of action j then takes
    A_j, as verl-agent and GiGPO assign credit per step.

    >>> advantages, returns = action_gae(torch.tensor([0.8, 1.0]), torch.tensor([0.0, 0.0]), 0.0, 1.0, 0.95)
    >>> [round(a, 3) for a in advantages.tolist()]
    [1.75, 1.0]
    """
    return compute_gae(rewards, values, next_value, gamma, lam)


class KLController:
    """The KL coefficient: fixed, or the adaptive controller of Ziegler et al. (2019, section 2.2) when
    `target` > 0, which moves it by at most 20% of `actions / horizon` per update toward KL per action = target."""

    def __init__(self, coef: float, target: float, horizon: int) -> None:
        self.coef, self.target, self.horizon = coef, target, horizon

    def update(self, kl: float, actions: int) -> None:
        """After an iteration whose mean KL per action was `kl` over `actions` actions."""
        if self.target <= 0:
            return
        error = min(max(kl / self.target - 1.0, -0.2), 0.2)
        self.coef *= 1.0 + error * actions / self.horizon
