"""Imitation data from the envs themselves: the expert plays whole sessions through the real env, so every
prompt is exactly what the policy will see. Saved as a Hugging Face `datasets.Dataset`."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from agile_gym.actions import action_name, parse_action
from agile_gym.agents import ExpertAgent

COLUMNS = ("prompt", "completion", "question_type", "action", "phase", "session")


def expert_trajectories(env_id: str, env_kwargs: dict[str, Any], sessions: int = 1, seed: int = 0,
                        extra_advice_rate: float = 0.0, answer_rate: float = 0.0):
    """One row per expert action: prompt (the observation), completion (the action text), question type,
    action name, phase and session index."""
    from datasets import Dataset

    rows: dict[str, list] = {column: [] for column in COLUMNS}
    for session in range(sessions):
        env = gym.make(env_id, **env_kwargs)
        if not callable(getattr(env.unwrapped, "expert", None)):
            raise TypeError(f"{env_id} has no expert() hook; imitation data needs an agile/ env")
        expert = ExpertAgent(env, extra_advice_rate, answer_rate, seed=seed + session)
        observation, info = env.reset(seed=seed + session)
        done = False
        while not done:
            action = expert.act(observation, info)
            rows["prompt"].append(observation)
            rows["completion"].append(action)
            rows["question_type"].append(info["question"]["type"])
            rows["action"].append(action_name(parse_action(action)))
            rows["phase"].append(info["phase"])
            rows["session"].append(session)
            observation, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
        env.close()
    return Dataset.from_dict(rows)
