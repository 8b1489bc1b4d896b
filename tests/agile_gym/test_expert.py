import gymnasium as gym
import pytest

import agile_gym  # noqa: F401
from agile_gym.agents import ExpertAgent, play_session


@pytest.mark.parametrize("env_id, kwargs", [("agile/ProductQA-v0", {"split": "train"}), ("agile/MedMCQA-v0", {})])
def test_expert_is_always_right_and_asks_only_when_the_prompt_lacks_the_answer(env_id, kwargs):
    env = gym.make(env_id, **kwargs)
    metrics = play_session(env, ExpertAgent(env), seed=0)
    assert metrics["accuracy"] == 1.0 and metrics["invalid_action_rate"] == 0.0
    assert 0.0 < metrics["advice_rate"] < 1.0


def test_expert_searches_with_the_reference_sql_and_answers_known_questions():
    env = gym.make("agile/ProductQA-v0", split="train")
    expert = ExpertAgent(env)
    observation, info = env.reset(seed=0)
    actions = {}
    for _ in range(60):
        action = expert.act(observation, info)
        if info["phase"] == "answer":
            actions.setdefault(info["question"]["type"], set()).add(action.split("\n")[0])
        observation, *_, info = env.step(action)
    assert actions["search_qa"] == {"[SearchProduct]"}
    assert {"[PredictAnswer]", "[SeekAdvice]"} <= actions["fact_qa"]


def test_caution_knobs_move_the_advice_rate():
    env = gym.make("agile/ProductQA-v0", split="test")
    base = play_session(env, ExpertAgent(env), seed=0)["advice_rate"]
    cautious = play_session(env, ExpertAgent(env, extra_advice_rate=1.0), seed=0)["advice_rate"]
    bold = play_session(env, ExpertAgent(env, answer_rate=1.0), seed=0)["advice_rate"]
    assert bold == 0.0 < base < cautious
    with pytest.raises(ValueError, match="extra_advice_rate"):
        ExpertAgent(env, extra_advice_rate=1.5)
