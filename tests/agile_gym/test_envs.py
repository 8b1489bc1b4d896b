"""Contract tests run on every registered agile/ environment."""

import pickle
import warnings

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env, data_equivalence

import agile_gym

ENV_IDS = sorted(agile_gym.ENVIRONMENTS)


def rollout(env_id: str, seed: int, steps: int = 60, **kwargs):
    """Every (obs, info) and (obs, reward, terminated, truncated, info) of one seeded rollout, whole."""
    env = gym.make(env_id, **kwargs)
    env.action_space.seed(seed)
    trace = [env.reset(seed=seed)]
    for _ in range(steps):
        trace.append(env.step(env.action_space.sample()))
        if trace[-1][2] or trace[-1][3]:
            break
    env.close()
    return trace


def scripted_action(env, step: int, info: dict) -> str:
    """A sampled action (valid or invalid), then advice, a reflection on the question and an answer, repeated:
    memory fills with history and with knowledge that later, similar questions retrieve."""
    fixed = ["[SeekAdvice]", f"[Reflection]: {info['question'].get('text')}", "[PredictAnswer]\n[Answer]: yes"]
    return fixed[step % 4 - 1] if step % 4 else env.action_space.sample()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_check_env_passes_without_warnings(env_id):
    env = gym.make(env_id).unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env, skip_render_check=False)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_same_seed_same_rollout_and_other_seed_differs_when_shuffled(env_id):
    first, second = rollout(env_id, 7, shuffle=True), rollout(env_id, 7, shuffle=True)
    assert len(first) > 10 and all(len(step) == 5 for step in first[1:])
    # The whole info at every step, not selected keys: a new key that is not deterministic fails here.
    assert data_equivalence(first, second, exact=True)
    assert not data_equivalence(first, rollout(env_id, 8, shuffle=True), exact=True)
    shuffled_a = gym.make(env_id, shuffle=True).reset(seed=1)[1]["question"]["id"]
    ids_b = {gym.make(env_id, shuffle=True).reset(seed=s)[1]["question"]["id"] for s in range(2, 8)}
    assert ids_b - {shuffled_a}, "shuffling with different seeds never changed the first question"


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_a_copy_pickled_mid_session_continues_exactly_like_the_original(env_id):
    env = gym.make(env_id, shuffle=True)
    env.action_space.seed(3)
    _, info = env.reset(seed=3)
    for step in range(20):
        *_, terminated, truncated, info = env.step(scripted_action(env, step, info))
        assert not (terminated or truncated)
    memory = env.unwrapped.memory
    assert memory.history_size() and memory.knowledge_size(), "memory is still empty when pickled"
    clone = pickle.loads(pickle.dumps(env))
    assert clone.unwrapped.memory is not memory
    retrieved = {"history": 0, "knowledge": 0}
    for step in range(20, 60):
        action = scripted_action(env, step, info)
        original, copied = env.step(action), clone.step(action)
        assert data_equivalence(original, copied, exact=True), f"the copy diverged at step {step}: {action!r}"
        info = original[4]
        for part in retrieved:
            retrieved[part] += bool(info["memory"][part])
        if original[2] or original[3]:
            break
    assert all(retrieved.values()), f"steps after pickling that showed memory: {retrieved}; compare more steps"
    env.close()
    clone.close()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_pickle_render_and_double_close(env_id):
    env = gym.make(env_id, render_mode="ansi")
    _, info = env.reset(seed=0)
    env.step("[SeekAdvice]")
    clone = pickle.loads(pickle.dumps(env.unwrapped))
    assert clone.step("[NoInformation]")[4]["result"]["action"] == "NoInformation"
    assert info["question"]["text"] in env.render()
    env.close()
    env.close()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_observations_are_in_space_and_accept_unicode(env_id):
    env = gym.make(env_id)
    obs, _ = env.reset(seed=0)
    obs, *_ = env.step("[PredictAnswer]\n[Answer]: naïve 中文 °C ✓")
    assert env.observation_space.contains(obs)
    assert env.action_space.contains("中文 text with emoji \U0001f600")
    assert not env.action_space.contains(b"bytes")


@pytest.mark.parametrize("old_id", sorted(agile_gym.DEPRECATED_ENVIRONMENTS))
def test_deprecated_ids_still_make_the_current_env_and_warn(old_id):
    new_id = agile_gym.DEPRECATED_ENVIRONMENTS[old_id]
    assert new_id in agile_gym.ENVIRONMENTS
    with pytest.warns(DeprecationWarning, match="out of date"):
        old = gym.make(old_id)
    assert type(old.unwrapped) is type(gym.make(new_id).unwrapped)
