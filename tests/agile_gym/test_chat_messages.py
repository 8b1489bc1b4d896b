"""ChatMessages: observations as role/content messages for chat templates."""

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import agile_gym  # noqa: F401
from agile_gym.data.builtin import builtin_productqa_root
from agile_gym.wrappers import ChatMessages

ENV_IDS = ["agile/ProductQA-v2", "agile/MedMCQA-v2"]


def _env(env_id, **kwargs):
    extra = {"data_dir": builtin_productqa_root()} if "ProductQA" in env_id else {}
    return gym.make(env_id, max_questions=4, **extra), kwargs


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("history", [False, True])
def test_check_env_passes(env_id, history):
    env, _ = _env(env_id)
    check_env(ChatMessages(env, system_prompt="You are a shopping assistant.", history=history), skip_render_check=True)


def test_messages_without_history_are_system_and_the_latest_observation():
    env, _ = _env("agile/ProductQA-v2")
    chat = ChatMessages(env, system_prompt="Be brief.")
    messages, _ = chat.reset(seed=0)
    assert [m["role"] for m in messages] == ["system", "user"] and messages[0]["content"] == "Be brief."
    raw, _ = env.reset(seed=0)
    assert messages[1]["content"] == raw
    messages, reward, *_ = chat.step({"role": "assistant", "content": "[SeekAdvice]"})
    assert [m["role"] for m in messages] == ["system", "user"] and reward == pytest.approx(0.7)
    assert chat.observation_space.contains(messages)


def test_history_alternates_roles_and_drops_the_oldest_pairs():
    env, _ = _env("agile/ProductQA-v2")
    chat = ChatMessages(env, history=True, max_messages=5)
    messages, _ = chat.reset(seed=0)
    for step in range(4):
        messages, *_ = chat.step("[SeekAdvice]" if step % 2 == 0 else "[NoInformation]")
        assert len(messages) <= 5
        roles = [m["role"] for m in messages]
        assert roles[0] == "user" and all(a != b for a, b in zip(roles, roles[1:]))
    assert messages[-2] == {"role": "assistant", "content": "[NoInformation]"}


def test_async_vector_env_without_shared_memory():
    envs = gym.vector.AsyncVectorEnv(
        [lambda: ChatMessages(gym.make("agile/MedMCQA-v2", max_questions=2), history=True)] * 2,
        shared_memory=False,
    )
    try:
        observations, _ = envs.reset(seed=[0, 1])
        observations, *_ = envs.step(["[SeekAdvice]", "[SeekAdvice]"])
        assert all(len(messages) == 3 for messages in observations)
    finally:
        envs.close()


def test_bad_max_messages_is_refused():
    env, _ = _env("agile/MedMCQA-v2")
    with pytest.raises(ValueError, match="max_messages"):
        ChatMessages(env, max_messages=0)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_tool_calls_as_openai_messages_or_bare_calls(env_id):
    env = gym.make(env_id, max_questions=4, action_format="tools", observation="delta")
    chat = ChatMessages(env, history=True)
    chat.reset(seed=0)
    advice = {"role": "assistant", "content": None,
              "tool_calls": [{"id": "c1", "type": "function",
                              "function": {"name": "seek_advice", "arguments": "{}"}},
                             {"id": "c2", "type": "function", "function": {"name": "answer", "arguments": "{}"}}]}
    messages, reward, *_ = chat.step(advice)  # the first call is the step; content None is no action text
    assert reward == pytest.approx(1 - env.unwrapped.advice_cost)
    assert '"seek_advice"' in messages[-2]["content"] and messages[-2]["role"] == "assistant"
    messages, reward, *_ = chat.step({"name": "reflect", "arguments": {"knowledge": ""}})  # a bare call, as a dict
    assert reward == 0.0 and "Invalid" not in messages[-1]["content"]
    _, reward, *_ = chat.step({"role": "assistant", "content": None})  # no call and no text: the invalid action
    assert reward == 0.0
    assert chat.observation_space.contains(messages)
