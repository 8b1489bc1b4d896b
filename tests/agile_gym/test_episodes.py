import gymnasium as gym
import pytest

from agile_gym.agents import Reply
from agile_gym.episodes import act_each, play_episodes


class Countdown(gym.Env):
    """`length` steps; reward 1 for the action "right", else 0; the observation is the steps left."""

    def __init__(self, length: int, fail_at: int | None = None) -> None:
        self.length, self.fail_at, self.closed = length, fail_at, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.left = self.length
        return self.left, {"seed": seed}

    def step(self, action):
        if self.left == self.fail_at:
            raise RuntimeError("broken env")
        self.left -= 1
        return self.left, float(action == "right"), self.left == 0, False, {"left": self.left, "last": action}

    def close(self):
        self.closed += 1


def test_every_episode_plays_to_its_end_with_returns_infos_and_tokens():
    envs = [Countdown(2), Countdown(4), Countdown(3)]
    calls = []

    def act(episodes, observations, infos):
        calls.append(list(episodes))
        return [Reply("right" if i != 1 else "wrong", prompt_tokens=10, completion_tokens=i + 1) for i in episodes]

    episodes = play_episodes(envs, act, seeds=[7, 8, 9])
    # One batched call per round, over the episodes still running, in index order.
    assert calls == [[0, 1, 2], [0, 1, 2], [1, 2], [1]]
    assert [e.total_reward for e in episodes] == [2.0, 0.0, 3.0]
    assert [e.steps for e in episodes] == [2, 4, 3]
    assert [e.info for e in episodes] == [{"left": 0, "last": "right"}, {"left": 0, "last": "wrong"},
                                          {"left": 0, "last": "right"}]
    assert [(e.prompt_tokens, e.completion_tokens) for e in episodes] == [(20, 2), (40, 8), (30, 9)]
    assert all(e.finished for e in episodes) and [env.closed for env in envs] == [0, 0, 0]


def test_steps_pair_each_action_with_the_observation_it_answered():
    steps = []
    play_episodes([Countdown(2)], act_each([type("A", (), {"act": lambda self, o, i: f"saw {o}"})()]),
                  seeds=[3], on_step=steps.append)
    assert [(s.observation, s.info, s.action, s.next_observation) for s in steps] == [
        (2, {"seed": 3}, "saw 2", 1), (1, {"left": 1, "last": "saw 2"}, "saw 1", 0)]
    assert all(s.seconds >= 0 for s in steps)


def test_max_parallel_starts_the_next_episode_when_one_ends_and_factories_are_made_late():
    made, started, ended = [], [], []

    def factory(length):
        def make():
            made.append(length)
            return Countdown(length)
        return make

    play_episodes([factory(1), factory(3), factory(2)], lambda episodes, obs, infos: ["right"] * len(episodes),
                  max_parallel=2, close=True, on_start=lambda i, env, info: started.append((i, list(made))),
                  on_end=lambda episode: ended.append(episode.index))
    assert started == [(0, [1]), (1, [1, 3]), (2, [1, 3, 2])]
    assert ended == [0, 1, 2]


def test_caught_failures_end_only_their_own_episode():
    def make_broken():
        raise OSError("no data")

    envs = [Countdown(3), Countdown(3, fail_at=2), make_broken, Countdown(2)]

    def act(episodes, observations, infos):
        return [Reply("", error="endpoint down") if i == 3 else Reply("right") for i in episodes]

    ended = []
    episodes = play_episodes(envs, act, catch_errors=True, close=True, on_end=ended.append)
    assert [e.error for e in episodes] == [
        None,
        "env step failed: RuntimeError: broken env",
        "could not start the session: OSError: no data",
        "agent failed: endpoint down",
    ]
    assert episodes[0].total_reward == 3.0 and episodes[1].steps == 1
    assert [e.index for e in ended] == [2, 3, 1, 0]  # in the order they ended
    assert [envs[i].closed for i in (0, 1, 3)] == [1, 1, 1]


def test_an_act_that_raises_fails_every_episode_of_the_call_or_propagates():
    def act(episodes, observations, infos):
        raise ValueError("model crashed")

    episodes = play_episodes([Countdown(2), Countdown(2)], act, catch_errors=True)
    assert [e.error for e in episodes] == ["agent failed: ValueError: model crashed"] * 2
    with pytest.raises(ValueError, match="model crashed"):
        play_episodes([Countdown(2)], act)
    with pytest.raises(RuntimeError, match="endpoint down"):
        play_episodes([Countdown(2)], lambda *_: [Reply("", error="endpoint down")])
    with pytest.raises(ValueError, match="1 actions for 2 episodes"):
        play_episodes([Countdown(2), Countdown(2)], lambda *_: ["right"])


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="seeds has 1 entries for 2 envs"):
        play_episodes([Countdown(1), Countdown(1)], lambda *_: [], seeds=[0])
    with pytest.raises(ValueError, match="max_parallel must be >= 1, got 0"):
        play_episodes([Countdown(1)], lambda *_: [], max_parallel=0)
