"""Scripted reference agents: baselines for benchmarks and fixtures for tests.

Every agent maps `(observation, info)` to an action string, reading `info` (which holds what the observation
shows); the oracle and the expert read gold answers through the env's documented expert hook.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import numpy as np

from agile_gym.actions import NO_INFORMATION, PREDICT_ANSWER, SEARCH_PRODUCT, SEEK_ADVICE
from agile_gym.answerer import MemoryAnswerer
from agile_gym.contract import AVAILABLE_ACTIONS, METRICS, PHASE, QUESTION, REFLECT_PHASE, SCOPE
from agile_gym.episodes import act_each, play_episodes
from agile_gym.visibility import judge


class Agent(Protocol):
    """A policy over one env: the next action text from the last observation and its agile/ `info`."""

    def act(self, observation: str, info: dict[str, Any]) -> str:
        """The next action; must accept every observation and info the env can return."""
        ...


class Reply(NamedTuple):
    """One action from a batched (model) agent: the text, the tokens it cost, and the error when the agent
    could not produce it (e.g. an endpoint that kept failing after its retries)."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None


class BatchAgent(Protocol):
    """An agent that acts for several sessions at once (one observation each), as LLM agents batch."""

    def act_batch(self, observations: list[str], infos: list[dict[str, Any]]) -> list[Reply]:
        """One `Reply` per observation, in order; a failure for one is that reply's `error`, not an exception."""
        ...


class AlwaysAdviceAgent:
    """Asks the expert on every question and reflects with the expert's own lesson-free summary."""

    def act(self, observation: str, info: dict[str, Any]) -> str:
        """`[SeekAdvice]` in the answer phase, `[NoInformation]` in the reflect phase."""
        return NO_INFORMATION if info[PHASE] == REFLECT_PHASE else SEEK_ADVICE


class OracleAgent:
    """Answers every question with the gold answer from `env.unwrapped.expert()`; never asks for advice."""

    def __init__(self, env) -> None:
        self.env = env.unwrapped

    def act(self, observation: str, info: dict[str, Any]) -> str:
        """The gold answer action, or the expert reflection in the reflect phase."""
        expert = self.env.expert()
        return expert.reflection_action if info[PHASE] == REFLECT_PHASE else expert.answer_action


class NeverAdviceAgent:
    """Never asks: writes what `MemoryAnswerer` proposes (history, then metadata, then 'yes'; 'none' for search
    requests; for multiple choice the option sharing most words with retrieved memory)."""

    def __init__(self, history_threshold: float = 1.2) -> None:
        self.answerer = MemoryAnswerer(history_threshold)

    def act(self, observation: str, info: dict[str, Any]) -> str:
        """`MemoryAnswerer`'s proposal; `[NoInformation]` in the reflect phase (`reflect_every_question`)."""
        if info[PHASE] == REFLECT_PHASE:
            return NO_INFORMATION
        return self.answerer.propose(observation, info).answer


class ExpertAgent:
    """The imitation teacher: decides from the observation what a good agent does, then takes the content of
    that action from gold data (`env.unwrapped.expert()`).

    The choice between answering, searching and asking is a function of the observation and the knobs only,
    through `agile_gym.visibility.judge` (so a policy shown the same prompt can learn it): a search request with
    the search tool offered is searched, with the question's reference SQL (one that returns nothing when the
    data has none); a question whose answer the prompt shows is answered with the gold answer, or, with
    probability `extra_advice_rate`, asked (a more cautious teacher); any other question is asked, or, with
    probability `answer_rate` or when advice is switched off, answered with `MemoryAnswerer`'s best guess from
    the prompt, never the gold (a bolder teacher). One draw from its own generator (`seed`) per question. After
    advice it reflects with the data's general lesson, or `[NoInformation]` when the data has none
    (`ExpertView.reflection_action`).
    """

    def __init__(self, env, extra_advice_rate: float = 0.0, answer_rate: float = 0.0, seed: int = 0) -> None:
        for name, value in (("extra_advice_rate", extra_advice_rate), ("answer_rate", answer_rate)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        self.env = env.unwrapped
        self.extra_advice_rate, self.answer_rate = extra_advice_rate, answer_rate
        self.rng = np.random.default_rng(seed)
        self.answerer = MemoryAnswerer()

    def act(self, observation: str, info: dict[str, Any]) -> str:
        """See the class docstring; reproducible from `seed`."""
        if info[PHASE] == REFLECT_PHASE:
            return self.env.expert().reflection_action
        choice = self.choose(observation, info)
        if choice == SEARCH_PRODUCT:
            fallback = f"SELECT product_id FROM `{info[QUESTION][SCOPE]}` LIMIT 0"
            sql = self.env.expert().question.reference_sql or fallback
            return f"{SEARCH_PRODUCT}\n[SQL]: {sql}"
        if choice == SEEK_ADVICE:
            return SEEK_ADVICE
        if judge(observation, info).visible:
            return self.env.expert().answer_action
        return self.answerer.propose(observation, info).answer

    def choose(self, observation: str, info: dict[str, Any]) -> str:
        """The answer-phase choice, as an action tag (`[PredictAnswer]`, `[SearchProduct]` or `[SeekAdvice]`),
        from the observation and the knobs alone; draws once from the generator."""
        draw = self.rng.random()
        available = info[AVAILABLE_ACTIONS]
        visibility = judge(observation, info)
        if visibility.search and SEARCH_PRODUCT in available:
            return SEARCH_PRODUCT
        cautious = visibility.visible and draw < self.extra_advice_rate
        unsure = not visibility.visible and draw >= self.answer_rate
        return SEEK_ADVICE if (cautious or unsure) and SEEK_ADVICE in available else PREDICT_ANSWER


AGENTS = {
    "always-advice": lambda env: AlwaysAdviceAgent(),
    "never-advice": lambda env: NeverAdviceAgent(),
    "oracle": OracleAgent,
    "expert": ExpertAgent,
}


def make_agent(name: str, env) -> Agent:
    """The scripted agent `name` (a key of AGENTS) for `env`; ValueError naming the choices otherwise."""
    if name not in AGENTS:
        raise ValueError(f"unknown agent {name!r}; choose one of {', '.join(AGENTS)}")
    return AGENTS[name](env)


def play_session(env, agent: Agent, seed: int | None = None) -> dict[str, Any]:
    """Run one whole session from `env.reset(seed=seed)` to its end; returns the final `info["metrics"]`."""
    (episode,) = play_episodes([env], act_each([agent]), seeds=[seed])
    return episode.info[METRICS]
