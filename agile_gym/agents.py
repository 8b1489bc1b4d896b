"""Scripted reference agents: baselines for benchmarks and fixtures for tests.

Every agent maps `(observation, info)` to an action string. None of them parses the observation:
they read `info`, and the oracle reads gold answers through the env's documented expert hook.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from agile_gym.actions import ANSWER, NO_INFORMATION, PREDICT_ANSWER, SEEK_ADVICE, SHORT_ANSWER
from agile_gym.core import REFLECT_PHASE
from agile_gym.memory.retrieval import tokenize


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


_SHORT_IN_MEMORY = re.compile(r"\(([^()]*)\)\s*$")


class NeverAdviceAgent:
    """Never asks. ProductQA: answers from retrieved history when a stored question is close, else from the
    product metadata when a feature is named in the question, else 'yes'; search requests get 'none'.
    Multiple choice: the option sharing most words with the retrieved memory, else the first option."""

    def __init__(self, history_threshold: float = 1.2) -> None:
        self.history_threshold = history_threshold

    def act(self, observation: str, info: dict[str, Any]) -> str:
        if info["phase"] == REFLECT_PHASE:
            return NO_INFORMATION
        question = info["question"]
        if "options" in question:
            letter = self._option_from_memory(info, question["options"])
            return f"{PREDICT_ANSWER}\n{ANSWER} {letter}\n{SHORT_ANSWER} {letter}"
        if question["type"] == "search_qa":
            return f"{PREDICT_ANSWER}\n{ANSWER} none"
        answer = self._from_history(info) or self._from_metadata(question) or "yes"
        return f"{PREDICT_ANSWER}\n{ANSWER} {answer}\n{SHORT_ANSWER} {answer}"

    def _from_history(self, info: dict[str, Any]) -> str | None:
        for entry in info["memory"]["history"]:
            if entry["score"] >= self.history_threshold:
                match = _SHORT_IN_MEMORY.search(entry["answer"])
                return match.group(1) if match else entry["answer"]
        return None

    @staticmethod
    def _option_from_memory(info: dict[str, Any], options: dict[str, str]) -> str:
        """The option whose words overlap most with the retrieved memory; the first option when none does."""
        remembered = set()
        for entry in info["memory"]["history"]:
            remembered |= set(tokenize(entry["answer"]))
        for entry in info["memory"]["knowledge"]:
            remembered |= set(tokenize(entry["text"]))
        overlaps = {letter: len(set(tokenize(text)) & remembered) for letter, text in options.items()}
        return max(options, key=lambda letter: (overlaps[letter], -ord(letter[0])))

    @staticmethod
    def _from_metadata(question: dict[str, Any]) -> str | None:
        words = set(tokenize(question["text"]))
        best, best_overlap = None, 0
        for feature, value in question.get("product", {}).items():
            overlap = len(words & set(tokenize(feature.replace("_", " "))))
            if overlap > best_overlap and feature != "title":
                best, best_overlap = str(value), overlap
        return best


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
