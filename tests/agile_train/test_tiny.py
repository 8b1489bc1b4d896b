"""The tiny model's tokenizer generalizes: text of categories it never saw is not cut into fragments."""

import gymnasium as gym
import pytest

import agile_gym  # noqa: F401  (registers the agile/ ids)
from agile_gym.agents import ExpertAgent
from agile_gym.data.builtin import builtin_productqa_root
from agile_train.tiny import train_tokenizer


def _prompts(split: str, category: str | None = None, steps: int = 60) -> list[str]:
    # Named explicitly: a module-scoped fixture runs before the autouse one that clears $AGILE_DATA_DIR.
    env = gym.make("agile/ProductQA-v2", data_dir=str(builtin_productqa_root()), split=split,
                   **({"category": category} if category else {}))
    observation, info = env.reset(seed=0)
    agent, seen = ExpertAgent(env), [observation]
    for _ in range(steps):
        observation, _, terminated, truncated, info = env.step(agent.act(observation, info))
        seen.append(observation)
        if terminated or truncated:
            break
    return seen


def _chars_per_token(tokenizer, texts: list[str]) -> float:
    return sum(map(len, texts)) / sum(len(tokenizer(t, add_special_tokens=False).input_ids) for t in texts)


@pytest.fixture(scope="module")
def texts():
    return _prompts("train", steps=300), _prompts("test", "tents") + _prompts("test", "kettles")


def test_held_out_prompts_tokenize_within_one_and_a_half_times_the_train_prompts(texts):
    train, held_out = texts  # the tokenizer learns from train text only; held-out text is only measured
    tokenizer = train_tokenizer(train, 2000)
    ratio = _chars_per_token(tokenizer, train) / _chars_per_token(tokenizer, held_out)
    assert ratio <= 1.5, f"held-out prompts take {ratio:.2f}x the tokens per character of train prompts"
    # The test can fail: without the general words the same tokenizer fragments held-out text more.
    narrow = train_tokenizer(train, 2000, general_words=0)
    assert _chars_per_token(narrow, train) / _chars_per_token(narrow, held_out) > ratio + 0.1
