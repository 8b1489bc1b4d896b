"""The judgement "is this question's answer shown by the prompt" against the built-in generator's ground truth."""

import copy
from collections import Counter

import gymnasium as gym
import pytest

import agile_gym  # noqa: F401
from agile_gym.agents import ExpertAgent, NeverAdviceAgent
from agile_gym.data.builtin import BUILTIN_CATEGORIES
from agile_gym.visibility import is_search_request, judge, prompt_view, same_word


def judged_sessions(agent_name: str, split: str, seed: int = 0, shuffle: bool = False):
    """(observation, info, ground truth) at every answer-phase step of one whole session of `split`."""
    env = gym.make("agile/ProductQA-v2", split=split, shuffle=shuffle)
    agent = ExpertAgent(env, seed=seed) if agent_name == "expert" else NeverAdviceAgent()
    observation, info = env.reset(seed=seed)
    while True:
        if info["phase"] == "answer":
            yield observation, info, env.unwrapped.expert().answer_visible
        observation, _, terminated, truncated, info = env.step(agent.act(observation, info))
        if terminated or truncated:
            return


def test_judgement_agrees_with_the_generators_ground_truth_on_95_percent_of_builtin_questions():
    agree, total, truths = Counter(), Counter(), Counter()
    for agent_name in ("expert", "never-advice"):
        for split in ("train", "test"):
            for observation, info, truth in judged_sessions(agent_name, split):
                category = info["question"]["scope"]
                agree[agent_name, category] += judge(observation, info).visible == truth
                total[agent_name, category] += 1
                truths[truth] += 1
    categories = {category for _, category in total}
    assert categories == set(BUILTIN_CATEGORIES["train"] + BUILTIN_CATEGORIES["test"])
    assert truths[None] == 0 and truths[True] > 200 and truths[False] > 50, truths
    by_agent = {name: sum(agree[k] for k in agree if k[0] == name) / sum(total[k] for k in total if k[0] == name)
                for name in ("expert", "never-advice")}
    overall = sum(agree.values()) / sum(total.values())
    assert overall >= 0.95, (overall, by_agent)
    assert by_agent["expert"] >= 0.95, by_agent
    assert min(agree[k] / total[k] for k in total) >= 0.85, {k: agree[k] / total[k] for k in total}


def test_judgement_reads_only_what_the_prompt_shows():
    sessions = list(judged_sessions("expert", "train", seed=1, shuffle=True))
    for observation, info, _ in sessions[:80]:
        scrambled = copy.deepcopy(info)
        scrambled["question"].update(id="other-id", type="reasoning_qa", index=999)
        for part in ("history", "knowledge"):
            for entry in scrambled["memory"][part]:
                entry["score"] = -1.0
        scrambled["metrics"] = {}
        assert judge(observation, scrambled) == judge(observation, info)
        assert prompt_view(scrambled) == prompt_view(info)
        assert "id" not in prompt_view(info)["question"]
    with pytest.raises(ValueError, match="no question is open"):
        judge("", {"question": {}, "memory": {"history": [], "knowledge": []}, "available_actions": []})


@pytest.mark.parametrize("shown, visible, reason", [
    ("brand", True, "metadata"),
    ("history", True, "history"),
    ("knowledge", True, "knowledge"),
    ("nothing", False, ""),
])
def test_each_rule_on_a_hand_built_prompt(shown, visible, reason):
    product = {"title": "Campora Dome 1 Tent", "brand": "Campora", "Vestibule": "yes", "Aluminum Poles": "no"}
    questions = {"brand": "Which brand makes this tent?", "history": "Will the fly droop in the rain?",
                 "knowledge": "Is this tent a good pick for windy mountain camping?",
                 "nothing": "Will the fly droop in the rain?"}
    history = [{"question": "Does the rain fly sag when it gets wet?", "answer": "Yes, reviewers report it.",
                "score": 2.0}] if shown == "history" else []
    knowledge = [{"text": "tents with aluminum poles stand up to strong wind better than fiberglass ones",
                  "score": 1.0}] if shown == "knowledge" else []
    info = {"question": {"text": questions[shown], "asin": "B0TE000000", "scope": "tents", "product": product},
            "memory": {"history": history, "knowledge": knowledge}, "available_actions": ["[PredictAnswer]"]}
    judgement = judge("", info)
    assert (judgement.visible, judgement.reason.split(":")[0]) == (visible, reason)


def test_search_requests_and_word_matching():
    assert is_search_request("I want a Steamly kettle under $113. What do you have?")
    assert is_search_request("Any water bottle that is not glass and costs at most $30?")
    assert not is_search_request("Is there any flicker when the brightness is turned all the way down?")
    assert same_word("zip", "zipper") and same_word("wind", "windi") and not same_word("ho", "hot")
    info = {"question": {"text": "Show me a steel kettle with at least 1200 watts of power.", "product": {}},
            "memory": {"history": [], "knowledge": []}, "available_actions": ["[PredictAnswer]", "[SeekAdvice]"]}
    assert judge("", info).search and not judge("", info).visible  # no tool offered: the answer is not shown
    info["available_actions"].append("[SearchProduct]")
    assert judge("", info).visible


def test_ground_truth_is_none_where_the_data_does_not_know():
    env = gym.make("agile/MedMCQA-v2")
    env.reset(seed=0)
    assert env.unwrapped.expert().answer_visible is None
    env = gym.make("agile/ProductQA-v2", split="test", category="tents", memory=False)
    _, info = env.reset(seed=0)
    truths = set()
    while True:
        truths.add(env.unwrapped.expert().answer_visible)
        _, _, terminated, _, info = env.step("[SeekAdvice]" if info["phase"] == "answer" else "[NoInformation]")
        if terminated:
            break
    assert truths == {True, False}  # metadata and search questions stay visible without memory; the rest do not


def test_builtin_data_named_explicitly_keeps_its_ground_truth():
    from agile_gym.data.builtin import builtin_productqa_root

    named = gym.make("agile/ProductQA-v2", data_dir=str(builtin_productqa_root()), split="test", category="tents")
    implicit = gym.make("agile/ProductQA-v2", split="test", category="tents")
    named.reset(seed=0)
    implicit.reset(seed=0)
    assert named.unwrapped.expert().answer_visible is not None
    assert named.unwrapped.expert().answer_visible == implicit.unwrapped.expert().answer_visible


def test_an_option_text_inside_a_longer_one_is_not_a_second_option():
    from agile_gym.visibility import _names_one_option

    options = {"A": "2", "B": "2.5", "C": "3", "D": "Vitamin C"}
    assert _names_one_option("The dose is D) 2.5 mg daily", options)  # "2" only inside "2.5"
    assert not _names_one_option("either 2 or 3", options)
    assert _names_one_option("Vitamin C deficiency", options)  # "C" alone is not an option text here
    assert not _names_one_option("2", {"A": "2", "B": "2", "C": "3"})  # a text two options share
