"""Contract tests run on every registered agile/ environment."""

import pickle
import warnings

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import agile_gym

ENV_IDS = sorted(agile_gym.ENVIRONMENTS)


def rollout(env_id: str, seed: int, steps: int = 60):
    env = gym.make(env_id)
    env.action_space.seed(seed)
    obs, info = env.reset(seed=seed)
    trace = [(obs, info["question"]["id"])]
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        trace.append((obs, reward, terminated, truncated, info["result"], info["metrics"]))
        if terminated or truncated:
            break
    env.close()
    return trace


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_check_env_passes_without_warnings(env_id):
    env = gym.make(env_id).unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env, skip_render_check=False)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_same_seed_same_rollout_and_other_seed_differs_when_shuffled(env_id):
    assert rollout(env_id, 7) == rollout(env_id, 7)
    shuffled_a = gym.make(env_id, shuffle=True).reset(seed=1)[1]["question"]["id"]
    ids_b = {gym.make(env_id, shuffle=True).reset(seed=s)[1]["question"]["id"] for s in range(2, 8)}
    assert ids_b - {shuffled_a}, "shuffling with different seeds never changed the first question"


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_pickle_render_and_double_close(env_id):
    env = gym.make(env_id, render_mode="ansi")
    obs, info = env.reset(seed=0)
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
