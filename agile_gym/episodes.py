"""Playing env copies, each to the end of its episode, with one batched act function.

The one loop behind evaluation (a model's prompts generated as one batch), scripted play, expert recording,
benchmark sessions (many sessions, a few side by side, a failure ending only its own) and env timing. What
differs between those callers is a parameter or a callback here, not another copy of the loop.

In the agile/ envs an episode is a session: every question of a category, memory persisting through it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import gymnasium as gym

# act(episodes, observations, infos) -> one action per episode: a reply with a `text` attribute, such as
# `agile_gym.agents.Reply` (its text is stepped; its `prompt_tokens`, `completion_tokens` are added to the
# episode, its `error` ends it), or the action itself (a string, or an int for a discrete wrapper).
ActFunction = Callable[[list[int], list[Any], list[dict]], Sequence[Any]]


class Agent(Protocol):
    """`agile_gym.agents.Agent`, restated: that module plays its sessions through this one."""

    def act(self, observation: Any, info: dict) -> Any: ...


class Step(NamedTuple):
    """One env step, as `on_step` sees it: `observation` and `info` are what `action` answered."""

    episode: int
    observation: Any
    info: dict
    action: Any
    reward: float
    next_observation: Any
    next_info: dict
    seconds: float  # the env's `step` call alone


@dataclass
class Episode:
    """What one episode came to. `info` is the last info seen: the final one when the episode ended."""

    index: int
    total_reward: float = 0.0
    steps: int = 0
    info: dict | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_s: float = 0.0  # its own env steps plus an equal share of every batched act call it was part of
    error: str | None = None  # why it stopped early (only with catch_errors=True); None when it ended

    @property
    def finished(self) -> bool:
        return self.error is None


def act_each(agents: Sequence[Agent] | Mapping[int, Agent]) -> ActFunction:
    """An act function over one `act(observation, info)` agent per episode (`agents[episode]`)."""

    def act(episodes: list[int], observations: list[Any], infos: list[dict]) -> list[Any]:
        return [agents[i].act(observation, info) for i, observation, info in zip(episodes, observations, infos)]

    return act


@dataclass
class _Live:
    index: int
    env: Any
    observation: Any
    info: dict


def play_episodes(
    envs: Sequence[gym.Env | Callable[[], gym.Env]],
    act: ActFunction,
    *,
    seeds: Sequence[int | None] | None = None,
    max_parallel: int | None = None,
    catch_errors: bool = False,
    close: bool = False,
    on_start: Callable[[int, gym.Env, dict], None] | None = None,
    on_step: Callable[[Step], None] | None = None,
    on_end: Callable[[Episode], None] | None = None,
) -> list[Episode]:
    """Play episode `i` on `envs[i]` from `reset(seed=seeds[i])` until it terminates or truncates.

    - `envs[i]`: a `gym.Env`, or a function making one when episode `i` starts (so only `max_parallel` exist at
      once, and a failure to make one is that episode's failure).
    - `act` is called once per round with every running episode, in index order, and must return one action
      each; the episodes then step one after another.
    - `max_parallel`: at most this many episodes run at once (default: all); the next starts as one ends.
    - `catch_errors=False`: any exception (making, resetting, acting, stepping) or a reply carrying an
      `error` is raised. `True`: it ends the episode(s) concerned with `Episode.error` set ("could not start
      the session: ...", "agent failed: ...", "env step failed: ...") and the others go on; an exception
      from `act` fails every episode of that call. Interrupts (KeyboardInterrupt) always propagate.
    - `close=True` closes each env when its episode ends (after `on_end`); by default the caller owns them.
    - Callbacks: `on_start(i, env, reset_info)` after the reset (an exception there counts as a start
      failure), `on_step(step)` after every step, `on_end(episode)` when an episode ends or fails, in that order.

    Returns one `Episode` per env, in the order of `envs`.
    """
    count = len(envs)
    seeds = [None] * count if seeds is None else list(seeds)
    if len(seeds) != count:
        raise ValueError(f"seeds has {len(seeds)} entries for {count} envs; give one per env or none")
    limit = count if max_parallel is None else max_parallel
    if limit < 1:
        raise ValueError(f"max_parallel must be >= 1, got {max_parallel}")
    episodes = [Episode(i) for i in range(count)]
    pending, running = deque(range(count)), []

    def end(index: int, env: gym.Env | None, error: str | None = None) -> None:
        episodes[index].error = error
        if on_end is not None:
            on_end(episodes[index])
        if close and env is not None:
            env.close()

    while pending or running:
        while pending and len(running) < limit:
            index, env = pending.popleft(), None
            try:
                env = envs[index] if isinstance(envs[index], gym.Env) else envs[index]()
                observation, info = env.reset(seed=seeds[index])
                episodes[index].info = info
                if on_start is not None:
                    on_start(index, env, info)
            except Exception as error:  # whatever fails ends only this episode
                if not catch_errors:
                    raise
                end(index, env, f"could not start the session: {type(error).__name__}: {error}")
                continue
            running.append(_Live(index, env, observation, info))
        if not running:
            break
        began = time.perf_counter()
        try:
            replies = list(act([live.index for live in running], [live.observation for live in running],
                               [live.info for live in running]))
            if len(replies) != len(running):
                raise ValueError(f"act returned {len(replies)} actions for {len(running)} episodes")
        except Exception as error:  # the agent's failure ends the episodes it acted for
            if not catch_errors:
                raise
            for live in running:
                end(live.index, live.env, f"agent failed: {type(error).__name__}: {error}")
            running = []
            continue
        share = (time.perf_counter() - began) / len(running)
        still_running = []
        for live, reply in zip(running, replies):
            episode = episodes[live.index]
            episode.wall_s += share
            action = reply
            if hasattr(reply, "text"):
                error = getattr(reply, "error", None)
                if error is not None:
                    if not catch_errors:
                        raise RuntimeError(f"agent failed on episode {live.index}: {error}")
                    end(live.index, live.env, f"agent failed: {error}")
                    continue
                episode.prompt_tokens += getattr(reply, "prompt_tokens", 0)
                episode.completion_tokens += getattr(reply, "completion_tokens", 0)
                action = reply.text
            step_began = time.perf_counter()
            try:
                observation, reward, terminated, truncated, info = live.env.step(action)
            except Exception as error:  # an env failing ends only its own episode
                if not catch_errors:
                    raise
                end(live.index, live.env, f"env step failed: {type(error).__name__}: {error}")
                continue
            seconds = time.perf_counter() - step_began
            episode.wall_s += seconds
            episode.total_reward += float(reward)
            episode.steps += 1
            episode.info = info
            if on_step is not None:
                on_step(Step(live.index, live.observation, live.info, action, float(reward), observation, info,
                             seconds))
            live.observation, live.info = observation, info
            if terminated or truncated:
                end(live.index, live.env)
            else:
                still_running.append(live)
        running = still_running
    return episodes
