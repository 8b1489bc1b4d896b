"""PPO scores the policy that sampled: log-probabilities of the distribution tokens were drawn from, a first
ratio of exactly 1, generation ending where the model says, text cut for the env but ids kept for training,
no bootstrap from a state the policy never acts in, and run folders that work from any directory."""

from __future__ import annotations

import itertools
import json
import types

import gymnasium as gym
import pytest
import torch

from agile_gym.spaces import FreeText
from agile_train.buffer import RolloutBuffer
from agile_train.config import EnvConfig, EvalConfig, ModelConfig, PPOConfig
from agile_train.env_factory import make_envs
from agile_train.generation import Sampling, action_text, end_token_ids, sample_actions
from agile_train.rollout import PromptEncoder, RolloutWorker, Segment, Turn
from agile_train.update import OptimizerStep, ppo_update
from tests.agile_train.conftest import TOY_ENV, collect, toy_config, toy_model

CPU = torch.device("cpu")


def _sampled_segments(tokenizer, policy, sampling: Sampling, seed: int = 0):
    prompts = [tokenizer(text).input_ids for text in ("Say: red", "Say: blue and green", "Say:")]
    drawn: list[list[float]] = []
    responses = sample_actions(policy.model, tokenizer, prompts, sampling, CPU, torch.Generator().manual_seed(seed),
                               logprobs=drawn)
    segments = [Segment(i, [Turn(p, r, 0.0)], terminal=True) for i, (p, r) in enumerate(zip(prompts, responses))]
    return segments, drawn


@pytest.mark.parametrize("temperature, top_p", [(0.5, 1.0), (0.5, 0.9), (1.0, 0.9), (1.3, 1.0), (0.0, 1.0)])
def test_stored_logprobs_are_those_of_the_distribution_sampled_from(toy_policy, temperature, top_p):
    tokenizer, policy = toy_policy
    sampling = Sampling(12, temperature, top_p)
    segments, drawn = _sampled_segments(tokenizer, policy, sampling)
    buffer = RolloutBuffer.score(policy, segments, 4, tokenizer.pad_token_id, CPU, temperature=temperature)
    for (sample,), expected in zip(buffer.segments, drawn):
        assert len(expected) == len(sample.response_ids) > 0
        # The sampler's own log softmax(logits / T) (untruncated under top-p; T = 1 when greedy), computed with
        # the KV cache, equals what the trainer stores, computed with a full forward pass.
        torch.testing.assert_close(sample.old_logprobs, torch.tensor(expected), atol=1e-5, rtol=0)
    if temperature not in (0.0, 1.0):  # the test can fail: the raw logits give other numbers
        raw = RolloutBuffer.score(policy, segments, 4, tokenizer.pad_token_id, CPU, temperature=1.0)
        assert (raw.segments[0][0].old_logprobs - buffer.segments[0][0].old_logprobs).abs().max() > 1e-3


def _policy_with_dropout(mode: str, dropout: float):
    """The toy tiny model, LoRA (B drawn from N(0, 0.05), so the adapter is not a no-op) or fully fine-tuned,
    with dropout on the LoRA path or in attention."""
    if mode == "lora":
        from agile_train.env_factory import env_text
        from agile_train.models import load_model, plan_model

        model = ModelConfig(tiny_vocab_size=64, tiny_hidden_size=64, tiny_general_words=0, lora_r=4,
                            lora_dropout=dropout, device="cpu")
        tokenizer, policy = load_model(model, plan_model(""), CPU, lambda: env_text(TOY_ENV, {}, 0))[1:]
        draw = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for name, parameter in policy.named_parameters():
                if "lora_B" in name:
                    parameter.copy_(torch.randn(parameter.shape, generator=draw) * 0.05)
        return tokenizer, policy
    tokenizer, policy = toy_model(lora_r=0)
    touched = 0
    for module in policy.model.modules():
        if hasattr(module, "attention_dropout"):
            module.attention_dropout, touched = dropout, touched + 1
    assert touched, "the tiny Llama has no attention dropout to switch on"
    return tokenizer, policy


CASES = list(itertools.product((1.0, 0.5), (1.0, 0.9), (0.0, 0.1), ("lora", "full"), ("last", "concat")))


@pytest.mark.parametrize("temperature, top_p, dropout, mode, context", CASES)
def test_first_update_at_learning_rate_zero_sees_ratio_one(temperature, top_p, dropout, mode, context):
    torch.manual_seed(0)
    tokenizer, policy = _policy_with_dropout(mode, dropout)
    config = PPOConfig(temperature=temperature, top_p=top_p, context=context, ppo_epochs=1, minibatch_size=4,
                       micro_batch_size=2, learning_rate=0.0)
    envs = make_envs(TOY_ENV, {"length": 6, "segment_every": 3}, 2)
    segments, _, _ = collect(tokenizer, policy, envs, 4, new_tokens=4, context=context, prompt_tokens=256,
                             temperature=temperature, top_p=top_p, bootstrap_terminal_segments=True)
    buffer = RolloutBuffer.score(policy, segments, 2, tokenizer.pad_token_id, CPU, temperature=temperature)
    buffer.compute_advantages(kl_coef=0.05, gamma=1.0, lam=0.95, whiten=True)
    optimizer = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=0.0)
    metrics = ppo_update(policy, OptimizerStep(optimizer, 1.0), buffer, config, torch.Generator().manual_seed(0))
    assert metrics["val/ratio"] == pytest.approx(1.0, abs=1e-5)
    assert metrics["policy/approxkl_avg"] < 1e-10 and metrics["policy/clipfrac_avg"] == 0.0


def test_every_end_id_of_the_generation_config_ends_a_row(toy_policy):
    tokenizer, policy = toy_policy
    prompt = tokenizer("Say: red").input_ids
    (free,) = sample_actions(policy.model, tokenizer, [prompt], Sampling(6, 0.0), CPU)
    turn_end = free[0]
    assert turn_end != tokenizer.eos_token_id
    saved = policy.model.generation_config.eos_token_id
    policy.model.generation_config.eos_token_id = [tokenizer.eos_token_id, turn_end]
    try:
        ends = end_token_ids(policy.model, tokenizer)
        assert set(ends) == {tokenizer.eos_token_id, turn_end}
        (stopped,) = sample_actions(policy.model, tokenizer, [prompt], Sampling(6, 0.0, end_ids=ends), CPU)
    finally:
        policy.model.generation_config.eos_token_id = saved
    assert stopped == [turn_end], "generation ran past an end id of the generation config"


class _CharTokenizer:
    """One id per character (ids 3..), EOS 2 and an end-of-turn id 1 that decode to nothing when skipped."""

    eos_token_id, pad_token_id, chat_template = 2, 0, None

    def __call__(self, text, add_special_tokens=True):
        return types.SimpleNamespace(input_ids=[ord(c) + 3 for c in text])

    def encode(self, text):
        return self(text).input_ids

    def decode(self, ids, skip_special_tokens=False):
        return "".join("" if i < 3 and skip_special_tokens else chr(i - 3) if i >= 3 else f"<{i}>" for i in ids)


def test_env_text_is_cut_before_the_stop_string_and_the_end_id():
    tokenizer = _CharTokenizer()
    sampling = Sampling(64, stop_strings=["\nQuestion:"], end_ids=(2, 1))
    ids = tokenizer.encode("[PredictAnswer]\n[Answer]: yes\nQuestion: is it black???")
    assert action_text(tokenizer, ids, sampling) == "[PredictAnswer]\n[Answer]: yes"
    # A non-special end-of-turn id: the text before it, nothing after.
    assert action_text(tokenizer, tokenizer.encode("[Answer]: yes") + [1], sampling) == "[Answer]: yes"
    assert PPOConfig(stop_strings="\\nQuestion:,\\t").stop_list() == ["\nQuestion:", "\t"]


class _ScriptedEngine:
    def __init__(self, replies):
        self.replies = iter(replies)

    def generate(self, prompts, sampling, generator):
        return [next(self.replies) for _ in prompts]

    def sync(self, policy):
        pass


class _RecordingEnv(gym.Env):
    observation_space, action_space = FreeText(64), FreeText(256)

    def __init__(self):
        self.actions = []

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return "Question: does it have a warranty?", {}

    def step(self, action):
        self.actions.append(action)
        return "Question: next", float(action == "yes"), False, False, {}


def test_trained_ids_are_the_sampled_ids_and_the_env_gets_the_cut_text():
    tokenizer, env = _CharTokenizer(), _RecordingEnv()
    sampled = tokenizer.encode("yes\nQuestion: is it black") + [1]
    sampling = Sampling(64, stop_strings=["\nQuestion:"], end_ids=(2, 1))
    worker = RolloutWorker([env], PromptEncoder(tokenizer, "off", "last", 128), _ScriptedEngine([sampled]), sampling,
                           seed=0)
    try:
        segments, stats, _ = worker.collect(1)
    finally:
        worker.close()
    assert env.actions == ["yes"] and stats.rewards == [1.0]
    assert segments[0].turns[0].response_ids == sampled


def _capped_session_segments(bootstrap: bool, heuristic: bool):
    """One ProductQA question (max_questions=1): seek advice, reflect; the cap ends the session (truncated)."""
    from agile_gym.wrappers import SessionAdvantage

    tokenizer = _CharTokenizer()
    env = gym.make("agile/ProductQA-v2", split="train", category="desk_lamps", max_questions=1)
    env = SessionAdvantage(env) if heuristic else env
    replies = [tokenizer.encode("[SeekAdvice]"), tokenizer.encode("[NoInformation]")] * 4
    worker = RolloutWorker([env], PromptEncoder(tokenizer, "off", "last", 4096), _ScriptedEngine(replies),
                           Sampling(64), seed=0, bootstrap_terminal_segments=bootstrap)
    try:
        return worker.collect(2)
    finally:
        worker.close()


@pytest.mark.parametrize("bootstrap, heuristic", [(True, False), (False, False), (False, True)],
                         ids=["value", "none", "heuristic"])
def test_a_question_capped_by_max_questions_is_terminal_in_every_mode(bootstrap, heuristic):
    segments, stats, _ = _capped_session_segments(bootstrap, heuristic)
    assert stats.episodes == 1 and stats.questions == 1
    (segment,) = [s for s in segments if len(s.turns) == 2]
    assert segment.terminal and segment.bootstrap_ids is None, "bootstrapped from 'The session is over'"


def test_a_time_limit_with_a_real_next_state_still_bootstraps():
    tokenizer, policy = toy_model(lora_r=0)
    envs = [gym.wrappers.TimeLimit(env, max_episode_steps=2) for env in make_envs(TOY_ENV, {"length": 9}, 1)]
    segments, _, _ = collect(tokenizer, policy, envs, 2, new_tokens=1)
    (segment,) = segments
    assert not segment.terminal and segment.bootstrap_ids, "Gymnasium's truncation: the future still counts"


def test_a_run_folder_works_from_any_directory(tmp_path, monkeypatch):
    from agile_train.evaluate import evaluate
    from agile_train.ppo import train_ppo
    from agile_train.sft import main as sft_main

    launch, elsewhere = tmp_path / "launch", tmp_path / "elsewhere"
    launch.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(launch)
    small = '{"split": "train", "category": "desk_lamps", "max_questions": 2}'
    with pytest.warns(UserWarning, match="were cut"):
        assert sft_main(["--env-kwargs", small, "--output-dir", "runs/sft", "--epochs", "1", "--lora-r", "4",
                         "--tiny-hidden-size", "64", "--max-new-tokens", "8"]) == 0
    env, model, ppo = toy_config(launch, env="agile/ProductQA-v2", env_kwargs=small, lora_r=4, max_new_tokens=8,
                                 tiny_hidden_size=64, tiny_vocab_size=2000, iterations=1, num_envs=2,
                                 steps_per_env=2, checkpoint_every=1)
    ppo.output_dir = "runs/ppo"
    ppo.init_adapter = "runs/sft"
    ppo.__post_init__()
    train_ppo(env, model, ppo, progress=False)
    saved = json.loads((launch / "runs" / "ppo" / "config.json").read_text())
    assert saved["ppo"]["init_adapter"] == str(launch / "runs" / "sft")
    monkeypatch.chdir(elsewhere)
    report = evaluate(EnvConfig(env_kwargs=small), ModelConfig(max_new_tokens=8),
                      EvalConfig(adapter=str(launch / "runs" / "ppo")), progress=False)
    assert report["questions"] == 2 and report["merged_adapter"] == str(launch / "runs" / "sft")
    (resumed,) = train_ppo(EnvConfig(), ModelConfig(device="cpu"),
                           PPOConfig(output_dir=str(launch / "runs" / "ppo"), iterations=2, resume=True),
                           progress=False)
    assert resumed["iteration"] == 2
