import gymnasium as gym
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import agile_gym  # noqa: F401
from agile_gym.actions import InvalidAction, PredictAnswer, Reflect, SearchProduct, SeekAdvice, parse_action


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[SeekAdvice]", SeekAdvice()),
        ("I am unsure. [SeekAdvice]", SeekAdvice("I am unsure.")),
        ("[PredictAnswer]\n[Answer]: Yes it is.\n[Short Answer]: yes", PredictAnswer("Yes it is.", "yes")),
        ("[PredictAnswer] [Answer]: 184", PredictAnswer("184")),
        ("[PredictAnswer]\n[Answer]: yes</s>", PredictAnswer("yes</s>")),
        ("[SearchProduct]\n[SQL]: SELECT product_id FROM t;", SearchProduct("SELECT product_id FROM t;")),
        ("[Reflection]: warm light helps sleep", Reflect("warm light helps sleep")),
        ("[NoInformation]", Reflect(None)),
        ("[SeekAdvice][PredictAnswer]\n[Answer]: no", SeekAdvice()),
        ("[PredictAnswer]\n[Answer]: no [SeekAdvice]", PredictAnswer("no")),
    ],
)
def test_parse_action_table(text, expected):
    assert parse_action(text) == expected


@pytest.mark.parametrize("text", ["", "hello", "[PredictAnswer]", "[PredictAnswer]\n[Answer]:   ", "[SearchProduct]",
                                  "[SearchProduct] [SQL]:", "[Reflection]", "[Reflection]:  ", "[predictanswer] x"])
def test_malformed_actions_are_invalid_with_a_reason(text):
    action = parse_action(text)
    assert isinstance(action, InvalidAction) and action.reason


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.text(max_size=300), st.sampled_from(
    ["[SeekAdvice]", "[PredictAnswer]\n[Answer]: yes", "[SearchProduct]\n[SQL]: SELECT product_id FROM kettles",
     "[Reflection]: x", "[NoInformation]", "[SQL]:", "[Answer]:", "[SearchProduct]\n[SQL]: WITH RECURSIVE"])),
    min_size=1, max_size=12))
def test_step_never_raises_and_rewards_are_defined(actions):
    env = gym.make("agile/ProductQA-v2", max_questions=5)
    obs, info = env.reset(seed=0)
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        assert reward in (0.0, 1.0, pytest.approx(0.7))
        assert env.observation_space.contains(obs)
        if info["result"]["invalid_action"]:
            assert reward == 0.0 and "Expected" in obs
        if terminated or truncated:
            break


def test_megabyte_and_binary_like_actions_are_invalid_not_errors():
    env = gym.make("agile/ProductQA-v2")
    env.reset(seed=0)
    for action in ["x" * 3_000_000, bytes(range(256)).decode("latin-1"), "\x00\ud800"]:
        obs, reward, _, _, info = env.step(action)
        assert info["result"]["invalid_action"] and reward == 0.0
        assert len(obs) < 10_000
