"""Tool-call actions and tool-worded, delta observations (`agile_gym.integrations.tool_session`): no library
beyond gymnasium, so these run without the integrations extra."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import agile_gym  # noqa: F401
from agile_gym.actions import PredictAnswer, Reflect, SearchProduct, SeekAdvice, parse_action
from agile_gym.integrations.tool_session import ToolCalls, ToolSession, action_text, parse_tool_call, tool_schemas

ENVS = ["agile/ProductQA-v2", "agile/MedMCQA-v2"]


@pytest.mark.parametrize("env_id", ENVS)
@pytest.mark.parametrize("observation", ["delta", "state"])
def test_check_env_passes_on_the_wrapper(env_id, observation):
    check_env(ToolCalls(gym.make(env_id, max_questions=3), observation), skip_render_check=True)


@pytest.mark.parametrize("env_id", ENVS)
@pytest.mark.parametrize("action_format", ["tags", "tools"])
@pytest.mark.parametrize("observation", ["delta", "state"])
def test_check_env_passes_with_every_format_option(env_id, action_format, observation):
    env = gym.make(env_id, max_questions=3, action_format=action_format, observation=observation)
    check_env(env.unwrapped, skip_render_check=True)
    again = gym.make(env.spec)  # the options round-trip through the spec
    assert (again.unwrapped.action_format, again.unwrapped.observation_mode) == (action_format, observation)


def _play(env, calls):
    observations = [env.reset(seed=3)[0]]
    for call in calls:
        observation, reward, terminated, truncated, _ = env.step(call)
        observations.append((observation, reward))
        if terminated or truncated:
            break
    return observations


@pytest.mark.parametrize("env_id", ENVS)
@pytest.mark.parametrize("observation", ["delta", "state"])
def test_env_options_and_the_wrapper_show_the_same(env_id, observation):
    calls = [{"name": "seek_advice"}, {"name": "reflect", "arguments": {"knowledge": "k"}}, '{"name": "expert"}',
             {"name": "answer", "arguments": {"answer": "A"}}, "[SeekAdvice]", {"name": "reflect"}]
    native = _play(gym.make(env_id, max_questions=4, action_format="tools", observation=observation), calls)
    wrapped = _play(ToolCalls(gym.make(env_id, max_questions=4), observation), calls)
    assert native == wrapped
    assert any("Unknown tool 'expert'" in text for text, _ in native[1:])


def test_tag_actions_with_delta_observations_keep_the_tag_wording():
    env = gym.make("agile/ProductQA-v2", max_questions=3, observation="delta")
    first, _ = env.reset(seed=0)
    second, *_ = env.step("[PredictAnswer]\n[Answer]: no idea")
    assert "[PredictAnswer]" in first and "Table kettles:" in first
    assert "Table kettles:" not in second and "Question:" in second  # the schema is not repeated


def test_the_wrapper_refuses_an_env_that_already_takes_tool_calls():
    with pytest.raises(ValueError, match="already takes tool calls"):
        ToolCalls(gym.make("agile/MedMCQA-v2", action_format="tools"))


@pytest.mark.parametrize("kwargs, message", [({"action_format": "json"}, "action_format must be one of"),
                                             ({"observation": "diff"}, "observation must be one of")])
def test_an_unknown_format_option_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make("agile/MedMCQA-v2", **kwargs)


@pytest.mark.parametrize("name, arguments, parsed", [
    ("answer", {"answer": "The kettle", "short_answer": "B0KE000001"}, PredictAnswer("The kettle", "B0KE000001")),
    ("answer", {"answer": "yes [SeekAdvice]"}, PredictAnswer("yes (SeekAdvice)")),  # an argument stays an argument
    ("search_products", {"sql": "SELECT product_id FROM kettles"}, SearchProduct("SELECT product_id FROM kettles")),
    ("seek_advice", {"ignored": 1}, SeekAdvice()),
    ("reflect", {"knowledge": "Steel kettles last"}, Reflect("Steel kettles last")),
    ("reflect", {}, Reflect(None)),
])
def test_a_tool_call_is_the_envs_action(name, arguments, parsed):
    assert parse_action(action_text(name, arguments)) == parsed
    assert parse_action(action_text(name, json.dumps(arguments))) == parsed


@pytest.mark.parametrize("action, expected", [
    ('{"name": "answer", "arguments": {"answer": "A"}}', ("answer", {"answer": "A"})),
    ({"function": {"name": "reflect", "arguments": '{"knowledge": "k"}'}}, ("reflect", {"knowledge": "k"})),
    ("[PredictAnswer]\n[Answer]: A", ("", {})), ("{", ("", {})), (["answer"], ("", {})), ({"name": 3}, ("", {})),
])
def test_parse_tool_call(action, expected):
    assert parse_tool_call(action) == expected


def test_schemas_are_json_function_tools():
    schemas = tool_schemas()
    assert [schema["function"]["name"] for schema in schemas] == ["answer", "search_products", "seek_advice",
                                                                  "reflect"]
    assert schemas[0]["function"]["parameters"]["required"] == ["answer"]
    json.dumps(schemas)


def test_delta_observations_show_instructions_once_and_feedback_first():
    session = ToolSession("agile/ProductQA-v2", max_questions=3)
    first = session.reset(seed=0)
    assert "[PredictAnswer]" not in first and "answer, search_products, seek_advice" in first
    assert first.count("Table kettles:") == 1
    after = session.call("answer", {"answer": "no idea"})
    assert after.startswith("Your answer was submitted; it names no product of this category.\n\nProduct B0KE")
    assert "Table kettles:" not in after and "You are a customer-service agent" not in after
    assert "Question:" in after
    full = ToolSession("agile/ProductQA-v2", max_questions=3, observation="state")
    full.reset(seed=0)
    assert "Table kettles:" in full.call("answer", {"answer": "no idea"})


def test_rewards_and_score_are_the_envs_and_nothing_runs_after_the_end():
    session = ToolSession("agile/MedMCQA-v2", max_questions=2)
    session.reset(seed=0)
    advice = session.call("seek_advice")  # the reflection request, holding the advice once, tool-worded
    assert advice.startswith("Question: ") and advice.count("Expert advice: The correct option is A)") == 1
    assert advice.endswith("call reflect with that knowledge; otherwise call reflect with empty knowledge.")
    session.call("reflect", {"knowledge": ""})
    unknown = session.call("expert", {})
    assert unknown.startswith("Unknown tool 'expert'")
    assert session.done and session.rewards == [pytest.approx(0.6), 0.0, 0.0]
    assert session.score == pytest.approx(0.3) and session.metrics["invalid_action_rate"] == pytest.approx(0.5)
    assert session.call("answer", {"answer": "A"}) == "The session is over: no more actions are taken."
    assert session.steps == 3


def test_a_session_offers_only_its_envs_tools():
    assert ToolSession("agile/MedMCQA-v2").tools == ("answer", "seek_advice", "reflect")
    assert ToolSession("agile/ProductQA-v2", advice=False).tools == ("answer", "search_products")
    with pytest.raises(ValueError, match="observation must be"):
        ToolSession("agile/MedMCQA-v2", observation="messages")


def test_single_turn_rows_are_questions_and_rewards_are_the_envs():
    from agile_gym.integrations.trl import single_turn

    dataset, reward = single_turn("agile/ProductQA-v2", max_questions=4)
    assert dataset["question_index"] == [0, 1, 2, 3]
    env = gym.make("agile/ProductQA-v2", max_questions=4).unwrapped
    observation, _ = env.reset(seed=0)
    assert dataset[0]["prompt"] == [{"role": "user", "content": observation}]
    gold = env.expert()
    assert gold.question.gold_short not in observation  # the row's own gold is not in its prompt
    assert reward([gold.answer_action, "no action", "[SeekAdvice]"], [0, 0, 0]) == [1.0, 0.0, pytest.approx(0.7)]
    assert reward([[{"role": "assistant", "content": gold.answer_action}]], [0]) == [1.0]  # chat completions
