"""Hostile tool-call actions, as an RL policy writes them, against `action_format="tools"` / `observation="delta"`
(the env options, the `ToolCalls` wrapper and `ToolSession`): every one is feedback and a defined reward, never an
exception, and the limits hold (observation length, action length, what memory stores)."""

from __future__ import annotations

import json
import re

import gymnasium as gym
import numpy as np
import pytest

import agile_gym  # noqa: F401  (registers the ids)
from agile_gym.executor import MAX_ACTION_LENGTH, MAX_OBSERVATION_LENGTH
from agile_gym.integrations.tool_session import ToolCalls, ToolSession, action_text, parse_tool_call

ENVS = ["agile/ProductQA-v2", "agile/MedMCQA-v2"]
OVER = MAX_ACTION_LENGTH + 10


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def _answer(value) -> dict:
    return {"name": "answer", "arguments": {"answer": value}}


# (case id, action, invalid): `invalid` is whether the executor must read it as no action (`result["action"]` is
# "invalid", a wrong answer); else it is a tool call the task grades or runs.
CASES = [
    ("deep JSON list text", "[" * 100_000, True),
    ("deep JSON object text", '{"a":' * 100_000, True),
    ("deep JSON as bytes", b"[" * 100_000, True),
    ("deep JSON in arguments text", json.dumps({"name": "answer", "arguments": "[" * 100_000}), True),
    ("integer of 10000 digits", '{"name": "answer", "arguments": {"answer": ' + "9" * 10_000 + "}}", True),
    ("arguments text with a huge integer", {"name": "answer", "arguments": '{"answer": ' + "9" * 10_000 + "}"}, True),
    ("argument nested deeper than json writes", _answer(_nested(5000)), True),
    ("argument of bytes", _answer(b"yes"), False),
    ("argument that is a set", _answer({"A"}), False),
    ("argument that is an object", _answer(object()), False),
    ("argument that is a numpy array", _answer(np.array([1, 2])), True),
    ("arguments that are a numpy array", {"name": "answer", "arguments": np.array([1, 2])}, True),
    ("arguments that are a list", {"name": "answer", "arguments": ["a"]}, True),
    ("arguments that are a number", {"name": "answer", "arguments": 3}, True),
    ("arguments that are None", {"name": "answer", "arguments": None}, True),
    ("argument that is a nested dict", _answer({"a": {"b": [1, 2]}}), False),
    ("NaN and Infinity JSON", '{"name": "answer", "arguments": {"answer": NaN, "short_answer": Infinity}}', False),
    ("duplicate keys: the last wins", '{"name": "answer", "name": "seek_advice"}', False),
    ("extra keys", {"name": "seek_advice", "arguments": {}, "id": "call_1", "type": "function", "x": [1]}, False),
    ("name that is an int", {"name": 3}, True),
    ("name that is a list", {"name": ["answer"]}, True),
    ("name that is None", {"name": None}, True),
    ("name with a lone surrogate", {"name": "\ud800answer"}, True),
    ("argument with lone surrogates", _answer("\udc80yes\ud800"), False),
    ("valid UTF-8 bytes", json.dumps(_answer("é")).encode(), False),
    ("invalid UTF-8 bytes: U+FFFD, as the action space says", b'{"name": "answer", "arguments": {"answer": "\xff"}}',
     False),
    ("tags inside arguments", _answer("[SeekAdvice] [Reflection]: x [SQL]: y"), False),
    ("reflect in the answer phase", {"name": "reflect", "arguments": {"knowledge": "k"}}, True),
    ("int action", 5, True),
    ("None action", None, True),
    ("list action", [{"name": "answer"}], True),
    ("action text over MAX_ACTION_LENGTH", json.dumps(_answer("x" * OVER)), True),
    ("argument over MAX_ACTION_LENGTH", _answer("x" * OVER), True),
    ("short answer over MAX_ACTION_LENGTH",
     {"name": "answer", "arguments": {"answer": "a", "short_answer": "b" * OVER}}, True),
    ("tool name of 5 million characters", {"name": "z" * 5_000_000}, True),
]
IDS = [case[0] for case in CASES]


def _memory_sizes(env) -> list[int]:
    memory = env.unwrapped.memory
    sizes = [len(entry.answer) for space in memory._history.values() for entry in space.entries]
    return sizes + [len(text) for space in memory._knowledge.values() for text in space.entries]


def _check_step(env, outcome, invalid: bool) -> None:
    observation, reward, terminated, truncated, info = outcome
    assert isinstance(observation, str) and len(observation) <= MAX_OBSERVATION_LENGTH
    assert env.observation_space.contains(observation)
    observation.encode("utf-8")  # no lone surrogate comes back
    assert (info["result"]["action"] == "invalid") == invalid  # a task may also flag a graded answer as invalid
    assert isinstance(reward, float) and (reward == 0.0 if invalid else 0.0 <= reward <= 1.0)
    assert len(observation) < 5000, "the next prompt is shown, not pushed out by an echo of the action"
    assert all(size <= MAX_ACTION_LENGTH for size in _memory_sizes(env))


@pytest.fixture(scope="module", params=ENVS)
def tools_env(request):
    env = gym.make(request.param, max_questions=3, action_format="tools", observation="delta")
    yield env
    env.close()


@pytest.mark.parametrize(("case", "action", "invalid"), CASES, ids=IDS)
def test_env_options_answer_every_hostile_call(tools_env, case, action, invalid):
    tools_env.reset(seed=0)
    _check_step(tools_env, tools_env.step(action), invalid)


@pytest.mark.parametrize(("case", "action", "invalid"), CASES[::3], ids=IDS[::3])
def test_the_wrapper_answers_them_too(case, action, invalid):
    env = ToolCalls(gym.make("agile/MedMCQA-v2", max_questions=3))
    env.reset(seed=0)
    _check_step(env, env.step(action), invalid)


@pytest.mark.parametrize(("name", "arguments"), [
    (None, None), (3, "[" * 100_000), ("answer", '{"answer": ' + "9" * 10_000 + "}"), ("answer", {"answer": {1}}),
    ("answer", {"answer": _nested(5000)}), ("\ud800", {"\ud800": "\udc00"}), ("z" * 5_000_000, {}),
], ids=["none", "deep-json", "huge-int", "set", "deep-list", "surrogates", "long-name"])
def test_tool_session_calls_never_raise(name, arguments):
    session = ToolSession("agile/MedMCQA-v2", max_questions=1)
    session.reset(seed=0)
    shown = session.call(name, arguments)
    assert isinstance(shown, str) and len(shown) < 5000
    assert session.done and session.rewards == [0.0]
    assert session.call("answer", {"answer": "A"}) == "The session is over: no more actions are taken."
    session.close()


@pytest.mark.parametrize("value", [_nested(5000), {1, 2}, b"\xff", np.array([1, 2]), object(), 10**5000, "[" * 10**5],
                         ids=["deep-list", "set", "bad-bytes", "array", "object", "huge-int", "deep-json"])
def test_parsing_never_raises(value):
    name, arguments = parse_tool_call(value)
    assert isinstance(name, str) and isinstance(arguments, dict)
    for tool in ("answer", "search_products", "reflect", "nope"):
        assert isinstance(action_text(tool, {"answer": value, "sql": value, "knowledge": value}), str)


def test_tag_actions_over_the_limit_are_invalid_and_not_stored():
    env = gym.make("agile/ProductQA-v2", max_questions=3)
    env.reset(seed=0)
    _check_step(env, env.step("[PredictAnswer]\n[Answer]: " + "x" * OVER), invalid=True)
    env.reset(seed=0)
    env.step("[SeekAdvice]")
    *_, info = env.step("[Reflection]: " + "k" * OVER)
    assert info["result"]["invalid_action"] and _memory_sizes(env) and max(_memory_sizes(env)) < 10_000


@pytest.mark.parametrize("env_id", ENVS)
def test_crossed_phases_and_the_end(env_id):
    env = gym.make(env_id, max_questions=1, action_format="tools", observation="delta")
    env.reset(seed=0)
    env.step({"name": "seek_advice"})
    observation, reward, terminated, truncated, info = env.step(_answer("A"))  # an answer where a reflection is asked
    assert info["result"]["invalid_action"] and not info["result"]["scored"] and reward == 0.0
    assert (terminated or truncated) and "Invalid reflection" in observation and "session is over" in observation
    with pytest.raises(RuntimeError, match="reset"):  # documented: the episode is over
        env.step({"name": "seek_advice"})


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_vector_envs_take_hostile_calls(mode):
    envs = gym.make_vec("agile/ProductQA-v2", num_envs=2, vectorization_mode=mode, action_format="tools",
                        observation="delta", max_questions=5)
    try:
        envs.reset(seed=0)
        batches = [("[" * 100_000, '{"name": "answer", "arguments": {"answer": ' + "9" * 10_000 + "}}"),
                   (b'{"name": "answer", "arguments": {"answer": "\xff"}}', '{"name": "' + "z" * 100_000 + '"}'),
                   (json.dumps(_answer("x" * OVER)), "\ud800")]
        for actions in batches:
            observations, rewards, *_ = envs.step(actions)
            assert all(len(text) <= MAX_OBSERVATION_LENGTH and len(text) < 5000 for text in observations)
            assert rewards.tolist() == [0.0, 0.0]
    finally:
        envs.close()


WRAPPED = {"over the limit": json.dumps(_answer("x" * OVER)), "over the limit, bytes": json.dumps(_answer("x" * OVER))
           .encode(), "long name": {"name": "z" * 100_000}, "invalid UTF-8": b"\xff" * 10}


@pytest.mark.parametrize("action", list(WRAPPED.values()), ids=list(WRAPPED))
def test_the_wrapper_shows_what_the_option_shows(action):
    native = gym.make("agile/MedMCQA-v2", max_questions=3, action_format="tools", observation="delta")
    wrapped = ToolCalls(gym.make("agile/MedMCQA-v2", max_questions=3))
    assert native.reset(seed=0)[0] == wrapped.reset(seed=0)[0]
    (a, ra, *_, info_a), (b, rb, *_, info_b) = native.step(action), wrapped.step(action)
    assert (a, ra, info_a["result"]) == (b, rb, info_b["result"])


TAG = re.compile(r"\[(?:PredictAnswer|SearchProduct|SeekAdvice|Reflection|NoInformation|Answer|Short Answer|SQL)\]")
MISUSES = [{"name": "answer"}, {"name": "search_products", "arguments": {"sql": " "}}, {"name": "reflect"},
           {"name": "nope"}, {"name": "seek_advice"}, _answer("A"), {"name": "seek_advice"},
           {"name": "search_products"}, {"name": "seek_advice"}, {"name": "seek_advice"}]


@pytest.mark.parametrize("env_id", ENVS)
@pytest.mark.parametrize("observation", ["state", "delta"])
@pytest.mark.parametrize("advice", [True, False])
def test_invalid_call_feedback_names_tools_not_tags(env_id, observation, advice):
    env = gym.make(env_id, max_questions=9, action_format="tools", observation=observation, advice=advice)
    shown, _ = env.reset(seed=0)
    assert not TAG.search(shown)
    invalid = 0
    for call in MISUSES:  # missing arguments, reflect in the answer phase, answer and search where a reflection is due
        shown, _, terminated, truncated, info = env.step(call)
        invalid += info["result"]["invalid_action"]
        assert not TAG.search(shown), (call, shown[:300])
        assert "action tag" not in shown
        if terminated or truncated:
            break
    assert invalid >= 5
