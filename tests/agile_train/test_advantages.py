import pytest
import torch

from agile_train.advantages import compute_gae, token_rewards
from agile_train.losses import masked_mean, masked_whiten, policy_loss, value_loss


def test_gae_matches_a_hand_computed_case():
    rewards = torch.tensor([0.0, 0.0, 1.0])
    values = torch.tensor([0.5, 0.4, 0.2])
    gamma, lam = 0.9, 0.8
    advantages, returns = compute_gae(rewards, values, next_value=0.3, gamma=gamma, lam=lam)
    d2 = 1.0 + gamma * 0.3 - 0.2
    d1 = 0.0 + gamma * 0.2 - 0.4
    d0 = 0.0 + gamma * 0.4 - 0.5
    a2 = d2
    a1 = d1 + gamma * lam * a2
    a0 = d0 + gamma * lam * a1
    assert advantages.tolist() == pytest.approx([a0, a1, a2])
    assert returns.tolist() == pytest.approx([a0 + 0.5, a1 + 0.4, a2 + 0.2])


def test_gae_with_lambda_one_and_no_discount_is_return_minus_value():
    rewards = torch.tensor([0.0, 0.0, 0.0, 1.0])
    values = torch.tensor([0.1, 0.2, 0.3, 0.4])
    advantages, returns = compute_gae(rewards, values, next_value=0.0, gamma=1.0, lam=1.0)
    assert returns.tolist() == pytest.approx([1.0] * 4)
    assert advantages.tolist() == pytest.approx([0.9, 0.8, 0.7, 0.6])


def test_bootstrap_value_carries_the_next_session():
    """A segment cut before the end: its return includes V(S_next) (the paper's state advantage)."""
    rewards, values = torch.tensor([0.0, 0.5]), torch.zeros(2)
    _, cut = compute_gae(rewards, values, next_value=0.7, gamma=1.0, lam=1.0)
    _, terminal = compute_gae(rewards, values, next_value=0.0, gamma=1.0, lam=1.0)
    assert (cut - terminal).tolist() == pytest.approx([0.7, 0.7])


def test_token_rewards_put_the_env_reward_on_the_last_token_and_kl_everywhere():
    logprobs = torch.tensor([-1.0, -2.0, -0.5])
    ref = torch.tensor([-1.5, -2.0, -1.0])
    rewards = token_rewards(logprobs, ref, reward=1.0, kl_coef=0.1)
    assert rewards.tolist() == pytest.approx([-0.05, 0.0, -0.05 + 1.0])


def test_policy_loss_clips_large_ratios_and_ignores_masked_tokens():
    old = torch.zeros(1, 3)
    new = torch.log(torch.tensor([[2.0, 1.0, 5.0]]))
    advantages = torch.ones(1, 3)
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    loss, stats = policy_loss(new, old, advantages, mask, cliprange=0.2)
    # Token 0: ratio 2 clipped to 1.2; token 1: ratio 1; token 2 is masked out.
    assert loss.item() == pytest.approx(-(1.2 + 1.0) / 2)
    assert stats["clipfrac"].item() == pytest.approx(0.5)


def test_value_loss_takes_the_worse_of_clipped_and_unclipped():
    old, returns, mask = torch.zeros(1, 2), torch.ones(1, 2), torch.ones(1, 2)
    values = torch.tensor([[0.9, -0.5]])
    loss, stats = value_loss(values, old, returns, mask, cliprange_value=0.2)
    # Token 0: clipped prediction 0.2 is worse (0.64 vs 0.01); token 1: unclipped -0.5 is worse (2.25 vs 1.44).
    assert loss.item() == pytest.approx(0.5 * (0.64 + 2.25) / 2)
    assert stats["clipfrac"].item() == pytest.approx(0.5)


def test_masked_whiten_ignores_padding():
    values = torch.tensor([[1.0, 3.0, 100.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    whitened = masked_whiten(values, mask)
    assert whitened[0, :2].tolist() == pytest.approx([-1.0, 1.0], abs=1e-4)
    assert whitened[0, 2].item() == 0.0
    assert masked_mean(values, mask).item() == pytest.approx(2.0)
