"""SkyRL-Gym (`skyrl-gym`) and GEM (`gem-llm`): registered agile/ ids made by their own `make` / `make_vec`, played
for 2 episodes through their APIs and GEM's episode tracking; neither adapter has a public route to the gold."""

from __future__ import annotations

import inspect

import pytest

SEEK, REFLECT = '{"name": "seek_advice", "arguments": {}}', '{"name": "reflect", "arguments": {}}'
ANSWER_A = '<tool_call>\n{"name": "answer", "arguments": {"answer": "A", "short_answer": "A"}}\n</tool_call>'
GOLD_ROUTES = {"expert", "similar_questions", "unwrapped_env", "env", "memory"}


def _public(cls: type) -> set[str]:
    return {name for name, _ in inspect.getmembers(cls) if not name.startswith("_")}


def test_skyrl_gym_make_and_two_episodes():
    skyrl_gym = pytest.importorskip("skyrl_gym", reason="the integrations extra is not installed")
    from agile_gym.integrations.skyrl_gym import register

    assert register() == ["agile/ProductQA-v2", "agile/MedMCQA-v2"]
    for episode in range(2):
        env = skyrl_gym.make("agile/MedMCQA-v2", env_config={"max_questions": 2}, extras={"seed": episode})
        messages, _ = env.init([{"role": "user", "content": "Answer the questions."}])
        assert [message["role"] for message in messages] == ["user", "user"]
        assert "[PredictAnswer]" not in messages[-1]["content"] and "answer, seek_advice" in messages[-1]["content"]
        outputs = [env.step(SEEK), env.step(REFLECT), env.step("[PredictAnswer] is not a tool call")]
        assert [output["reward"] for output in outputs] == [pytest.approx(0.6), 0.0, 0.0]
        assert [output["done"] for output in outputs] == [False, False, True] and outputs[-1]["observations"] == []
        assert outputs[0]["observations"][0]["content"].startswith("Question: ")
        assert env.get_metrics()["total_score"] == pytest.approx(0.3)
    tags = skyrl_gym.make("agile/ProductQA-v2", env_config={"max_questions": 1, "action_format": "tags"})
    tags.init([])
    assert tags.step("[SeekAdvice]")["reward"] == pytest.approx(0.7)
    assert not GOLD_ROUTES & _public(type(tags))


def test_gem_make_vec_with_episode_tracking_for_two_episodes():
    gem = pytest.importorskip("gem", reason="the integrations extra is not installed")
    from gem.wrappers.episode_tracking_wrapper import EpisodeTrackingWrapper

    from agile_gym.integrations.gem import register

    register()
    single = gem.make("agile/MedMCQA-v2", max_questions=1, seed=3)
    assert single.reset()[0] == gem.make("agile/MedMCQA-v2", max_questions=1, seed=3).reset()[0]
    # By default each seed has its own question order, so make_vec's copies (seeds seed + i) play other sessions.
    firsts = {gem.make("agile/MedMCQA-v2", seed=seed).reset()[0] for seed in range(4)}
    assert len(firsts) > 1
    # The data's order (shuffle=False): the built-in first question's gold option is A.
    envs = gem.make_vec(["agile/MedMCQA-v2"] * 2, max_questions=1, wrappers=[EpisodeTrackingWrapper], seed=0,
                        shuffle=False)
    envs.reset()
    ends = 0
    for _ in range(2):  # two episodes of each env: advice + reflection in env 0, one answer in env 1
        _, rewards, terminated, truncated, _ = envs.step([SEEK, ANSWER_A])
        assert list(rewards) == [pytest.approx(0.6), 1.0] and list(truncated) == [False, True]
        _, rewards, terminated, truncated, infos = envs.step({0: REFLECT})
        assert list(rewards) == [0.0] and list(truncated) == [True]
        assert infos[0]["prev_ep_cumulative_rewards"] == pytest.approx(0.6)  # tracked, then autoreset
        ends += 1
    assert ends == 2
    assert not GOLD_ROUTES & _public(type(single.unwrapped))
