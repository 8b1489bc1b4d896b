import dataclasses
from collections import Counter

import gymnasium as gym
import pytest

import agile_gym  # noqa: F401
from agile_gym.agents import ExpertAgent, play_session
from agile_gym.answerer import MemoryAnswerer
from agile_gym.visibility import judge


@pytest.mark.parametrize("env_id, kwargs", [("agile/ProductQA-v2", {"split": "train"}), ("agile/MedMCQA-v2", {})])
def test_expert_is_always_right_and_asks_only_when_the_prompt_lacks_the_answer(env_id, kwargs):
    env = gym.make(env_id, **kwargs)
    metrics = play_session(env, ExpertAgent(env), seed=0)
    assert metrics["accuracy"] == 1.0 and metrics["invalid_action_rate"] == 0.0
    assert 0.0 < metrics["advice_rate"] < 1.0


def test_expert_searches_with_the_reference_sql_and_answers_known_questions():
    env = gym.make("agile/ProductQA-v2", split="train")
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
    env = gym.make("agile/ProductQA-v2", split="test")
    base = play_session(env, ExpertAgent(env), seed=0)["advice_rate"]
    cautious = play_session(env, ExpertAgent(env, extra_advice_rate=1.0), seed=0)["advice_rate"]
    bold = play_session(env, ExpertAgent(env, answer_rate=1.0), seed=0)["advice_rate"]
    assert bold == 0.0 < base < cautious
    with pytest.raises(ValueError, match="extra_advice_rate"):
        ExpertAgent(env, extra_advice_rate=1.5)


class _OtherRecord:
    """The env seen through a expert hook whose question record is another one: other id, extra data, gold
    answer, gold products, knowledge and reference SQL, and the opposite ground truth."""

    def __init__(self, env) -> None:
        self.unwrapped, self._env = self, env.unwrapped

    def expert(self):
        view = self._env.expert()
        other = dataclasses.replace(
            view.question, id="another-record", extra={"answer": "SELECT 1", "knowledge": "nothing"},
            gold_short="purple", gold_long="It is purple.", gold_products=("B0XX000000",),
            knowledge="another lesson", reference_sql="SELECT product_id FROM other",
        )
        return dataclasses.replace(view, question=other, answer_action="[PredictAnswer]\n[Answer]: purple",
                                   answer_visible=None if view.answer_visible is None else not view.answer_visible)


@pytest.mark.parametrize("env_id, kwargs", [("agile/ProductQA-v2", {"split": "train"}), ("agile/MedMCQA-v2", {})])
@pytest.mark.parametrize("knobs", [{}, {"extra_advice_rate": 0.3, "answer_rate": 0.3}])
def test_same_observation_with_another_question_record_gives_the_same_choice(env_id, kwargs, knobs):
    env = gym.make(env_id, **kwargs)
    expert, blind = ExpertAgent(env, seed=5, **knobs), ExpertAgent(_OtherRecord(env), seed=5, **knobs)
    observation, info = env.reset(seed=0)
    choices = Counter()
    while True:
        action = expert.act(observation, info)
        if info["phase"] == "answer":
            tag = action.split("\n")[0]
            assert blind.act(observation, info).split("\n")[0] == tag, info["question"]["text"]
            choices[tag] += 1
        observation, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    assert choices["[PredictAnswer]"] and choices["[SeekAdvice]"], choices


def test_a_bold_answer_without_visible_information_is_the_prompts_best_guess_not_the_gold():
    env = gym.make("agile/ProductQA-v2", split="train")
    expert, answerer = ExpertAgent(env, answer_rate=1.0), MemoryAnswerer()
    observation, info = env.reset(seed=0)
    guesses = wrong = 0
    while True:
        action = expert.act(observation, info)
        if info["phase"] == "answer" and not judge(observation, info).visible:
            assert action == answerer.propose(observation, info).answer
            guesses += 1
        observation, _, terminated, truncated, info = env.step(action)
        wrong += info["phase"] == "answer" and not info["result"]["correct"]
        if terminated or truncated:
            break
    assert guesses >= 20 and wrong >= 5, (guesses, wrong)


@pytest.mark.parametrize("env_id, kwargs", [
    ("agile/ProductQA-v2", {"split": "train"}), ("agile/ProductQA-v2", {"split": "test"}),
    ("agile/ProductQA-v2", {"split": "train", "tools": False}), ("agile/MedMCQA-v2", {}),
])
def test_expert_reflections_are_general_never_another_products_answer(env_id, kwargs):
    env = gym.make(env_id, **kwargs)
    expert = ExpertAgent(env, extra_advice_rate=0.5, seed=1)
    observation, info = env.reset(seed=0)
    stored, no_information, names = [], 0, set()
    for category in getattr(env.unwrapped, "categories", {}).values():
        names |= {asin.casefold() for asin in category.products}
        names |= {str(meta["title"]).casefold() for meta in category.products.values()}
        names |= {question.question.casefold() for question in category.questions}
    while True:
        action = expert.act(observation, info)
        if info["phase"] == "reflect":
            if action.startswith("[Reflection]:"):
                stored.append(action.removeprefix("[Reflection]:").strip())
            else:
                no_information += action == "[NoInformation]"
        observation, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    assert stored, "the expert stored no knowledge: the test checks nothing"
    for entry in stored:
        assert "the answer is" not in entry.casefold(), entry
        assert not [name for name in names if name in entry.casefold()], entry
    assert env.unwrapped.memory.knowledge_size() == len(stored)
    if env_id.startswith("agile/ProductQA"):
        assert no_information > 0  # hidden, product-specific facts stay in their product's history
