"""Scripted reference agents: baselines for benchmarks and fixtures for tests.

Every agent maps `(observation, info)` to an action string. None of them parses the observation:
they read `info`, and the oracle reads gold answers through the env's documented expert hook.
"""

from __future__ import annotations

from typing import Any, Protocol

from agile_gym.actions import NO_INFORMATION, SEEK_ADVICE
from agile_gym.answerer import MemoryAnswerer
from agile_gym.core import REFLECT_PHASE


class Agent(Protocol):
    def act(self, observation: str, info: dict[str, Any]) -> str: ...


class AlwaysAdviceAgent:
    """Asks the expert on every question and reflects with the expert's own lesson-free summary."""

    def act(self, observation: str, info: dict[str, Any]) -> str:
        return NO_INFORMATION if info["phase"] == REFLECT_PHASE else SEEK_ADVICE


class OracleAgent:
    """Answers every question with the gold answer from `env.unwrapped.expert()`; never asks for advice."""

    def __init__(self, env) -> None:
        self.env = env.unwrapped

    def act(self, observation: str, info: dict[str, Any]) -> str:
        expert = self.env.expert()
        return expert.reflection_action if info["phase"] == REFLECT_PHASE else expert.answer_action


class NeverAdviceAgent:
    """Never asks: writes what `MemoryAnswerer` proposes (history, then metadata, then 'yes'; 'none' for search
    requests; for multiple choice the option sharing most words with retrieved memory)."""

    def __init__(self, history_threshold: float = 1.2) -> None:
        self.answerer = MemoryAnswerer(history_threshold)

    def act(self, observation: str, info: dict[str, Any]) -> str:
        if info["phase"] == REFLECT_PHASE:
            return NO_INFORMATION
        return self.answerer.propose(observation, info).answer


AGENTS = {
    "always-advice": lambda env: AlwaysAdviceAgent(),
    "never-advice": lambda env: NeverAdviceAgent(),
    "oracle": OracleAgent,
}


def make_agent(name: str, env) -> Agent:
    if name not in AGENTS:
        raise ValueError(f"unknown agent {name!r}; choose one of {', '.join(AGENTS)}")
    return AGENTS[name](env)


def play_session(env, agent: Agent, seed: int | None = None) -> dict[str, Any]:
    """Run one whole session; returns the final `info["metrics"]`."""
    observation, info = env.reset(seed=seed)
    done = False
    while not done:
        observation, _, terminated, truncated, info = env.step(agent.act(observation, info))
        done = terminated or truncated
    return info["metrics"]
