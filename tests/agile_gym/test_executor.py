"""Reward, memory, advice and reflection behaviour of the shared executor (through ProductQA's built-in data)."""

import gymnasium as gym
import pytest

import agile_gym  # noqa: F401
from agile_gym.agents import AlwaysAdviceAgent, NeverAdviceAgent, OracleAgent, play_session


@pytest.mark.parametrize("split", ["train", "test"])
def test_oracle_scores_accuracy_one(split):
    env = gym.make("agile/ProductQA-v2", split=split)
    metrics = play_session(env, OracleAgent(env), seed=0)
    assert metrics["accuracy"] == 1.0 and metrics["advice_rate"] == 0.0
    assert set(metrics["per_type"]) == {"fact_qa", "search_qa", "reasoning_qa"}


@pytest.mark.parametrize("cost", [0.0, 0.3, 0.55, 1.0])
def test_always_advice_scores_exactly_one_minus_cost(cost):
    env = gym.make("agile/ProductQA-v2", advice_cost=cost)
    metrics = play_session(env, AlwaysAdviceAgent(), seed=0)
    assert metrics["total_score"] == pytest.approx(1.0 - cost, abs=1e-12)
    assert metrics["advice_rate"] == 1.0


@pytest.mark.parametrize("cost", [-0.1, 1.5, float("nan")])
def test_advice_cost_outside_unit_interval_is_rejected(cost):
    with pytest.raises(ValueError, match="advice_cost must be in"):
        gym.make("agile/ProductQA-v2", advice_cost=cost)


def test_total_score_is_accuracy_minus_cost_times_advice_rate():
    env = gym.make("agile/ProductQA-v2", advice_cost=0.3)
    _, info = env.reset(seed=0)
    rewards, step = [], 0
    while True:
        action = "[SeekAdvice]" if step % 3 == 0 else "[PredictAnswer]\n[Answer]: yes"
        if info["phase"] == "reflect":
            action = "[NoInformation]"
        _, reward, terminated, truncated, info = env.step(action)
        if info["result"]["action"] != "NoInformation":
            rewards.append(reward)
        step += 1
        if terminated or truncated:
            break
    m = info["metrics"]
    assert m["questions"] == len(rewards)
    assert m["total_score"] == pytest.approx(sum(rewards) / len(rewards))
    assert m["total_score"] == pytest.approx(m["accuracy"] - 0.3 * m["advice_rate"])


def _first_repeated_question(env):
    """Seek advice on every question until a question's history shows the earlier advice."""
    _, info = env.reset(seed=0)
    seen = {}
    while True:
        q = info["question"]
        if info["phase"] == "answer" and info["memory"]["history"]:
            return info, seen
        seen[(q["asin"], q["text"])] = True
        _, _, terminated, truncated, info = env.step("[SeekAdvice]" if info["phase"] == "answer" else "[NoInformation]")
        assert not (terminated or truncated), "no question ever retrieved history"


def test_advice_enters_history_of_that_product_and_memory_resets_between_sessions():
    env = gym.make("agile/ProductQA-v2")
    info, _ = _first_repeated_question(env)
    assert info["question"]["index"] > 0
    _, info = env.reset(seed=0)
    assert info["memory"] == {"history": [], "knowledge": []}
    assert env.unwrapped.memory.history_size() == 0


def test_reflection_is_stored_as_knowledge_and_retrieved_later():
    env = gym.make("agile/ProductQA-v2")
    obs, info = env.reset(seed=0)
    lesson = "kettles with automatic shutoff are safe when you forget them"
    while info["phase"] == "answer":
        obs, _, _, _, info = env.step("[SeekAdvice]")
    assert "[Reflection]" in obs
    obs, *_, info = env.step(f"[Reflection]: {lesson}")
    found = False
    for _ in range(60):
        if any(k["text"] == lesson for k in info["memory"]["knowledge"]):
            found = lesson in obs
            break
        obs, *_, info = env.step("[PredictAnswer]\n[Answer]: no")
    assert found


def test_memory_ablation_retrieves_nothing_and_advice_ablation_rejects_advice():
    env = gym.make("agile/ProductQA-v2", memory=False)
    env.reset(seed=0)
    for _ in range(10):
        *_, info = env.step("[SeekAdvice]")
        if info["phase"] == "reflect":
            *_, info = env.step("[Reflection]: something general")
        assert info["memory"] == {"history": [], "knowledge": []}
    env = gym.make("agile/ProductQA-v2", advice=False, tools=False)
    _, info = env.reset(seed=0)
    assert info["available_actions"] == ["[PredictAnswer]"]
    for action in ("[SeekAdvice]", "[SearchProduct]\n[SQL]: SELECT product_id FROM kettles"):
        _, reward, _, _, info = env.step(action)
        assert info["result"]["invalid_action"] and reward == 0.0


def test_reflection_ablation_skips_the_reflect_phase():
    env = gym.make("agile/ProductQA-v2", reflection=False)
    env.reset(seed=0)
    for _ in range(5):
        *_, info = env.step("[SeekAdvice]")
        assert info["phase"] == "answer"


def test_max_questions_truncates_and_full_session_terminates():
    env = gym.make("agile/ProductQA-v2", max_questions=3)
    env.reset(seed=0)
    flags = [env.step("[PredictAnswer]\n[Answer]: yes")[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (False, True)]
    with pytest.raises(RuntimeError, match="reset"):
        env.step("[SeekAdvice]")
    env = gym.make("agile/ProductQA-v2")
    metrics = play_session(env, NeverAdviceAgent(), seed=0)
    assert metrics["questions"] == env.unwrapped._items.__len__()


def test_search_tool_grades_sql_results_and_reports_them():
    env = gym.make("agile/ProductQA-v2")
    _, info = env.reset(seed=0)
    while info["question"]["type"] != "search_qa":
        *_, info = env.step("[PredictAnswer]\n[Answer]: yes")
    question = env.unwrapped.expert().question
    sql = question.reference_sql
    _, reward, _, _, info = env.step(f"Let me query.\n[SearchProduct]\n[SQL]: {sql}")
    assert info["result"]["action"] == "SearchProduct"
    assert set(info["result"]["search_results"]) == set(question.gold_products)
    assert reward == 1.0


def test_category_none_runs_every_category_in_turn():
    env = gym.make("agile/ProductQA-v2", split="train")
    _, info = env.reset(seed=0)
    scopes = []
    done = False
    while not done:
        scopes.append(info["question"]["scope"])
        *_, terminated, truncated, info = env.step("[PredictAnswer]\n[Answer]: yes")
        done = terminated or truncated
    order = list(dict.fromkeys(scopes))
    assert order == sorted(order) and len(order) == 4
    assert scopes == sorted(scopes, key=order.index)


def test_reflect_every_question_asks_for_a_reflection_after_answers_too():
    env = gym.make("agile/ProductQA-v2", reflect_every_question=True)
    env.reset(seed=0)
    *_, info = env.step("[PredictAnswer]\n[Answer]: yes")
    assert info["phase"] == "reflect" and info["available_actions"] == ["[Reflection]", "[NoInformation]"]
    _, reward, *_, info = env.step("[PredictAnswer]\n[Answer]: yes")
    assert reward == 0.0 and info["result"]["invalid_action"] and info["phase"] == "answer"
    assert info["metrics"]["questions"] == 1
