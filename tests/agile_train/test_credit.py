"""Credit per action: a correct long action must not lose to a cheaper short one because of its length.

The toy bandit: one prompt, two actions. Long: a decision token X followed by 13 filler tokens, paying 1.
Short: a decision token Y and the end token, paying 0.8. The policy (the tiny Llama, fully fine-tuned) chooses
only the decision token; X and Y start with equal logits (their output rows are made equal), so P(long) = 0.5.
With GAE over tokens (lambda 0.95, a critic starting at zero) the decision token of the long action is credited
about 0.95^13 of its reward and the short one 0.95 x 0.8: the policy drifts to the short action. With one GAE
step per action it learns the long one. The critic is left untrained (vf_coef 0), as after SFT, which never
trains the value head. Measured (30 iterations, seeds 0-2): P(long) 0.999 / 0.999 / 0.998 with action-level
credit, 0.085 / 0.066 / 0.054 with token-level.
"""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import pytest
import torch

from agile_gym.spaces import FreeText
from agile_train.buffer import RolloutBuffer
from agile_train.config import PPOConfig
from agile_train.generation import Sampling, action_text
from agile_train.rollout import PromptEncoder, RolloutWorker
from agile_train.update import OptimizerStep, ppo_update
from tests.agile_train.conftest import toy_model

CPU = torch.device("cpu")
FILLER = 13


class ChoiceBandit(gym.Env):
    """One step per episode: 1.0 for the long action's text, 0.8 for the short one's, 0 otherwise."""

    observation_space, action_space = FreeText(64), FreeText(512)

    def __init__(self, long_text: str, short_text: str) -> None:
        self.payoff = {long_text: 1.0, short_text: 0.8}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return "Say: red", {}

    def step(self, action):
        return "Say: red", self.payoff.get(action, 0.0), True, False, {}


class DecisionEngine:
    """Samples the decision token from the policy's own logits over {X, Y}; the rest of the action is fixed."""

    def __init__(self, policy, long_ids: list[int], short_ids: list[int]) -> None:
        self.policy, self.long_ids, self.short_ids = policy, long_ids, short_ids

    def p_long(self, prompt: list[int]) -> float:
        with torch.no_grad():
            logits = self.policy.model(input_ids=torch.tensor([prompt])).logits[0, -1]
        pair = torch.stack([logits[self.long_ids[0]], logits[self.short_ids[0]]])
        return float(torch.softmax(pair, 0)[0])

    def generate(self, prompts, sampling, generator):
        self.policy.eval()
        out = []
        for prompt in prompts:
            draw = torch.rand((), generator=generator)
            out.append(list(self.long_ids if draw < self.p_long(prompt) else self.short_ids))
        return out

    def sync(self, policy) -> None:
        self.policy = policy


def train_bandit(credit: str, seed: int, iterations: int = 30) -> float:
    """P(long) after `iterations` PPO iterations of 16 actions each."""
    torch.manual_seed(seed)
    tokenizer, policy = toy_model(lora_r=0)
    decision_long, decision_short, filler = (tokenizer(word, add_special_tokens=False).input_ids[0]
                                             for word in ("red", "blue", "green"))
    with torch.no_grad():  # equal output rows: X and Y start equally likely after any context
        policy.model.lm_head.weight[decision_short] = policy.model.lm_head.weight[decision_long]
    long_ids = [decision_long] + [filler] * FILLER
    short_ids = [decision_short, tokenizer.eos_token_id]
    sampling = Sampling(FILLER + 1, end_ids=(tokenizer.eos_token_id,))
    texts = action_text(tokenizer, long_ids, sampling), action_text(tokenizer, short_ids, sampling)
    assert texts[0] != texts[1]
    engine = DecisionEngine(policy, long_ids, short_ids)
    envs = [ChoiceBandit(*texts) for _ in range(8)]
    worker = RolloutWorker(envs, PromptEncoder(tokenizer, "off", "last", 32), engine, sampling, seed=seed,
                           generator=torch.Generator().manual_seed(seed))
    config = PPOConfig(ppo_epochs=2, minibatch_size=16, micro_batch_size=16, kl_coef=0.0, lam=0.95, gamma=1.0,
                       vf_coef=0.0, credit_assignment=credit)  # the critic stays untrained (as after SFT)
    optimizer = OptimizerStep(torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=2e-3), 1.0)
    minibatches = torch.Generator().manual_seed(seed)
    try:
        for _ in range(iterations):
            segments, _, _ = worker.collect(2)
            buffer = RolloutBuffer.score(policy, segments, 16, tokenizer.pad_token_id, CPU)
            buffer.compute_advantages(config.kl_coef, config.gamma, config.lam, whiten=True, credit=credit)
            ppo_update(policy, optimizer, buffer, config, minibatches)
    finally:
        worker.close()
    return engine.p_long(tokenizer("Say: red\n").input_ids)


def test_the_bandit_starts_even():
    tokenizer, policy = toy_model(lora_r=0)
    ids = [tokenizer(word, add_special_tokens=False).input_ids[0] for word in ("red", "blue")]
    with torch.no_grad():
        policy.model.lm_head.weight[ids[1]] = policy.model.lm_head.weight[ids[0]]
    engine = DecisionEngine(policy, [ids[0]], [ids[1]])
    assert engine.p_long(tokenizer("Say: red\n").input_ids) == pytest.approx(0.5)


def test_action_level_credit_learns_the_long_correct_action():
    finals = [train_bandit("action", seed) for seed in range(3)]
    assert sum(p >= 0.8 for p in finals) >= 2, finals


def test_token_level_credit_with_an_untrained_critic_prefers_the_short_action():
    finals = [train_bandit("token", seed) for seed in range(3)]
    assert sum(p < 0.5 for p in finals) >= 2, finals


def test_value_warmup_moves_the_value_head_and_nothing_else(tmp_path):
    from safetensors.torch import load_file

    from agile_train.ppo import train_ppo
    from tests.agile_train.conftest import toy_config

    # An unreachable target keeps the warm-up on for its whole cap.
    history = train_ppo(*toy_config(tmp_path, iterations=3, value_warmup_iterations=2, value_warmup_target=2.0,
                                    checkpoint_every=2, env_kwargs='{"length": 4}'), progress=False)
    assert [record["val/warmup"] for record in history] == [1.0, 1.0, 0.0]
    checkpoint = tmp_path / "run" / "checkpoints" / "iteration-000002" / "policy"
    state = json.loads((tmp_path / "run" / "checkpoints" / "iteration-000002" / "trainer_state.json").read_text())
    base = load_file(str(Path(state["model_path"]) / "model.safetensors"))
    trained = load_file(str(checkpoint / "model.safetensors"))
    assert all(torch.equal(trained[name], base[name]) for name in base), "the policy moved during the warm-up"
    head = load_file(str(checkpoint / "value_head.safetensors"))
    assert any(tensor.abs().sum() > 0 for tensor in head.values()), "the value head did not train"
