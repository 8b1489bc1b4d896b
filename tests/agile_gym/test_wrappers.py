import gymnasium as gym
import pytest

import agile_gym  # noqa: F401
from agile_gym.wrappers import SessionAdvantage


def _run(env, actions_per_question):
    env.reset(seed=0)
    steps = []
    for _ in range(actions_per_question):
        steps.append(env.step("[SeekAdvice]"))
        steps.append(env.step("[Reflection]: remember this"))
    return steps


def test_env_marks_session_ends_and_scored_steps():
    env = gym.make("agile/ProductQA-v2", split="train", category="desk_lamps")
    steps = _run(env, 3)
    assert [info["segment_end"] for *_, info in steps] == [False, True] * 3
    assert [info["result"]["scored"] for *_, info in steps] == [True, False] * 3


def test_session_advantage_follows_the_paper_formula_and_keeps_the_task_reward():
    inner = gym.make("agile/ProductQA-v2", split="train", category="desk_lamps")
    env = SessionAdvantage(inner, beta=0.1)
    _, info = env.reset(seed=0)
    seen = []
    for _ in range(54):
        later, earlier = env.unwrapped.similar_questions(0.5)
        expected = 0.1 * (later > 0) / (earlier + 1)
        _, reward, terminated, truncated, info = env.step("[SeekAdvice]")
        assert reward == info["task_reward"] == pytest.approx(0.7)
        _, reward, terminated, truncated, info = env.step("[NoInformation]")
        assert info["session_advantage"] == pytest.approx(expected)
        assert reward == pytest.approx(info["task_reward"] + expected)
        seen.append(expected)
        if terminated or truncated:
            break
    assert len(set(seen)) > 1, "the advantage never varied along the session"
    assert seen[-1] == 0.0, "the last question has no later similar ones"


def test_session_advantage_is_paid_only_after_advice_by_default():
    env = SessionAdvantage(gym.make("agile/ProductQA-v2", split="train", category="desk_lamps"))
    env.reset(seed=0)
    _, reward, *_, info = env.step("[PredictAnswer]\n[Answer]: no idea")
    assert info["segment_end"] and info["session_advantage"] == 0.0 and reward == info["task_reward"]


def test_session_advantage_refuses_envs_without_the_hook():
    with pytest.raises(TypeError, match="similar_questions"):
        SessionAdvantage(gym.make("CartPole-v1"))


def test_similar_question_counts_match_a_pairwise_count():
    from agile_gym.memory.similarity import word_set

    env = gym.make("agile/ProductQA-v2", split="train", shuffle=True)
    env.reset(seed=4)
    core = env.unwrapped
    items = core._items
    expected = []
    def similar(item, other):
        words, other_words = word_set(item.question.question), word_set(other.question.question)
        return other.scope == item.scope and len(words & other_words) / len(words | other_words) >= 0.4

    for i, item in enumerate(items):
        expected.append((sum(similar(item, o) for o in items[i + 1:]), sum(similar(item, o) for o in items[:i])))
    counted = []
    for _ in items:
        counted.append(core.similar_questions(0.4))
        env.step("[PredictAnswer]\n[Answer]: yes")
    assert counted == expected
    assert any(later for later, _ in counted) and any(earlier for _, earlier in counted)
