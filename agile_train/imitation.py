"""Imitation data from the envs themselves: the expert plays whole sessions through the real env, so every
prompt is exactly what the policy will see. Saved as a Hugging Face `datasets.Dataset`."""

from __future__ import annotations

import functools
from typing import Any

import gymnasium as gym

from agile_gym.actions import action_name, parse_action
from agile_gym.agents import ExpertAgent
from agile_gym.episodes import Step, act_each, play_episodes

COLUMNS = ("prompt", "completion", "question_type", "action", "phase", "session")


def expert_trajectories(env_id: str, env_kwargs: dict[str, Any], sessions: int = 1, seed: int = 0,
                        extra_advice_rate: float = 0.0, answer_rate: float = 0.0):
    """One row per expert action: prompt (the observation), completion (the action text), question type,
    action name, phase and session index."""
    from datasets import Dataset

    rows: dict[str, list] = {column: [] for column in COLUMNS}
    experts: dict[int, ExpertAgent] = {}

    def start(session: int, env: gym.Env, info: dict) -> None:
        if not callable(getattr(env.unwrapped, "expert", None)):
            raise TypeError(f"{env_id} has no expert() hook; imitation data needs an agile/ env")
        experts[session] = ExpertAgent(env, extra_advice_rate, answer_rate, seed=seed + session)

    def record(step: Step) -> None:
        rows["prompt"].append(step.observation)
        rows["completion"].append(step.action)
        rows["question_type"].append(step.info["question"]["type"])
        rows["action"].append(action_name(parse_action(step.action)))
        rows["phase"].append(step.info["phase"])
        rows["session"].append(step.episode)

    # One session after another, each on a fresh env, so the rows come session by session.
    play_episodes([functools.partial(gym.make, env_id, **env_kwargs)] * sessions, act_each(experts),
                  seeds=[seed + session for session in range(sessions)], max_parallel=1, close=True,
                  on_start=start, on_step=record)
    return Dataset.from_dict(rows)
