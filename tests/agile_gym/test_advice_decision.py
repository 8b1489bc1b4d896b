import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import agile_gym  # noqa: F401
from agile_gym.wrappers import FEATURES, AdviceDecisionWrapper, MemoryAnswerer, Proposal
from agile_gym.wrappers.advice_decision import ANSWER_NOW, ASK_ADVICE, SEARCH


def _wrapped(env_id="agile/ProductQA-v2", **kwargs):
    kwargs.setdefault("split", "test") if env_id == "agile/ProductQA-v2" else None
    return AdviceDecisionWrapper(gym.make(env_id, **kwargs))


@pytest.mark.parametrize("env_id", ["agile/ProductQA-v2", "agile/MedMCQA-v2"])
def test_spaces_shapes_and_checkers(env_id):
    env = _wrapped(env_id)
    assert env.action_space == gym.spaces.Discrete(3)
    assert env.observation_space.shape == (len(FEATURES),)
    check_env(env, skip_render_check=True)
    sb3_checker = pytest.importorskip("stable_baselines3.common.env_checker")
    sb3_checker.check_env(_wrapped(env_id))


def test_vectorized_with_make_vec_env():
    sb3 = pytest.importorskip("stable_baselines3.common.env_util")
    vec = sb3.make_vec_env(lambda: _wrapped(), n_envs=3, seed=0)
    observations = vec.reset()
    assert observations.shape == (3, len(FEATURES))
    observations, rewards, _, _ = vec.step(np.array([ANSWER_NOW, SEARCH, ASK_ADVICE]))
    assert observations.shape == (3, len(FEATURES)) and rewards[2] == pytest.approx(0.7)
    vec.close()


@pytest.mark.parametrize("env_id", ["agile/ProductQA-v2", "agile/MedMCQA-v2"])
def test_reward_and_metrics_equal_the_inner_env_played_by_hand(env_id):
    """The wrapper's choices replayed as text on a bare env give the same rewards and final metrics."""
    wrapped = _wrapped(env_id)
    bare = gym.make(env_id, **({"split": "test"} if env_id == "agile/ProductQA-v2" else {}))
    answerer = MemoryAnswerer()
    rng = np.random.default_rng(0)
    _, info = wrapped.reset(seed=3)
    text, bare_info = bare.reset(seed=3)
    done = False
    while not done:
        action = int(rng.integers(3))
        proposal = answerer.propose(text, bare_info)
        _, reward, terminated, truncated, info = wrapped.step(action)
        text, bare_reward, t2, tr2, bare_info = bare.step("[SeekAdvice]" if action == ASK_ADVICE else proposal.answer)
        if bare_info["phase"] == "reflect":
            text, extra, t2, tr2, bare_info = bare.step(answerer.reflect(text, bare_info))
            bare_reward += extra
        assert reward == pytest.approx(bare_reward)
        assert (terminated, truncated) == (t2, tr2)
        done = terminated or truncated
    assert info["metrics"] == bare_info["metrics"]


def test_features_are_finite_for_every_builtin_question():
    for env in (_wrapped(), _wrapped(split="train"), _wrapped("agile/MedMCQA-v2")):
        observation, _ = env.reset(seed=0)
        done, rng = False, np.random.default_rng(1)
        while not done:
            assert np.isfinite(observation).all() and env.observation_space.contains(observation)
            observation, _, terminated, truncated, _ = env.step(int(rng.integers(3)))
            done = terminated or truncated


@pytest.mark.real_data
def test_features_are_finite_for_every_question_of_the_real_data(productqa_root, medmcqa_root):
    envs = [AdviceDecisionWrapper(gym.make("agile/ProductQA-v2", data_dir=productqa_root, split=split))
            for split in ("train", "test")]
    envs.append(AdviceDecisionWrapper(gym.make("agile/MedMCQA-v2", data_files=medmcqa_root / "medmcqa_dev_part.jsonl",
                                               memory_init=medmcqa_root / "agile_med_ref.jsonl")))
    for env in envs:
        observation, _ = env.reset(seed=0)
        done, count = False, 0
        while not done:
            assert np.isfinite(observation).all() and env.observation_space.contains(observation)
            observation, _, terminated, truncated, _ = env.step(ANSWER_NOW)
            done, count = terminated or truncated, count + 1
        assert count == len(env.unwrapped._all_items)


def test_a_plugged_in_answerer_writes_the_action_text():
    class Fixed:
        def __init__(self):
            self.seen = []

        def propose(self, observation, info):
            self.seen.append(info["question"]["id"])
            return Proposal("[PredictAnswer]\n[Answer]: purple", 0.25, search="[SearchProduct]\n[SQL]: SELECT 1")

        def reflect(self, observation, info):
            return "[NoInformation]"

    answerer = Fixed()
    env = AdviceDecisionWrapper(gym.make("agile/ProductQA-v2", split="test"), answerer)
    observation, _ = env.reset(seed=0)
    assert observation[FEATURES.index("answerer_confidence")] == pytest.approx(0.25)
    assert observation[FEATURES.index("answerer_can_search")] == 1.0
    _, _, _, _, info = env.step(ANSWER_NOW)
    assert info["result"]["action"] == "PredictAnswer" and not info["result"]["correct"]
    _, _, _, _, info = env.step(SEARCH)
    assert info["result"]["action"] == "SearchProduct"
    _, reward, _, _, info = env.step(ASK_ADVICE)
    assert info["result"]["advised"] and reward == pytest.approx(0.7)
    assert info["phase"] == "answer", "the reflection step was not taken"


def test_invalid_macro_action_is_refused():
    env = _wrapped()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action must be"):
        env.step(7)
