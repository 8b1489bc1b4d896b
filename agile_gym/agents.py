"""Scripted reference agents: baselines for benchmarks and fixtures for tests.

Every agent maps `(observation, info)` to an action string. None of them parses the observation:
they read `info`, and the oracle reads gold answers through the env's documented expert hook.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple, Protocol

import numpy as np

from agile_gym.actions import NO_INFORMATION, SEARCH_PRODUCT, SEEK_ADVICE
from agile_gym.answerer import MemoryAnswerer
from agile_gym.contract import ANSWER as ANSWER_KEY
from agile_gym.contract import (
    AVAILABLE_ACTIONS,
    HISTORY,
    KNOWLEDGE,
    MEMORY,
    METRICS,
    PHASE,
    PRODUCT,
    QUESTION,
    REFLECT_PHASE,
    SCORE,
    TEXT,
)
from agile_gym.data.types import Question
from agile_gym.episodes import act_each, play_episodes
from agile_gym.grading import normalize_answer
from agile_gym.memory.retrieval import tokenize


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
    """What a good agent does, decided from gold data through `env.unwrapped.expert()`: the imitation teacher.

    Per question: answer (with the gold answer) when the prompt already holds it (a retrieved history or
    knowledge entry, or the product metadata, contains the gold short answer); for search questions with
    reference SQL, search with that SQL; otherwise seek advice, then reflect with the data's lesson (or a
    generalization built from the answer). `extra_advice_rate` asks for advice even when the prompt holds
    the answer (a more cautious teacher); `answer_rate` answers some questions it could not know (a bolder one).
    """

    def __init__(self, env, extra_advice_rate: float = 0.0, answer_rate: float = 0.0, seed: int = 0,
                 match_score: float = 1.2) -> None:
        for name, value in (("extra_advice_rate", extra_advice_rate), ("answer_rate", answer_rate)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        self.env = env.unwrapped
        self.extra_advice_rate, self.answer_rate, self.match_score = extra_advice_rate, answer_rate, match_score
        self.rng = np.random.default_rng(seed)

    def act(self, observation: str, info: dict[str, Any]) -> str:
        """See the class docstring; draws from its own generator (`seed`), so its choices are reproducible."""
        expert = self.env.expert()
        if info[PHASE] == REFLECT_PHASE:
            return expert.reflection_action
        question = expert.question
        if question.reference_sql and getattr(self.env, "use_tools", False):
            return f"{SEARCH_PRODUCT}\n[SQL]: {question.reference_sql}"
        known = self.prompt_holds_answer(info, question)
        if known and self.rng.random() >= self.extra_advice_rate:
            return expert.answer_action
        if not known and self.rng.random() < self.answer_rate:
            return expert.answer_action
        return expert.advice_action if expert.advice_action in info[AVAILABLE_ACTIONS] else expert.answer_action

    def prompt_holds_answer(self, info: dict[str, Any], question: Question) -> bool:
        """Whether the prompt already answers the question: a closely retrieved history or knowledge entry
        (BM25 score >= `match_score`) contains the gold short answer (for multiple choice, the gold option's
        text) as a whole word or phrase, or the product metadata value of a feature the question names equals it."""
        gold = normalize_answer(
            dict(question.options)[question.gold_short] if question.options else question.gold_short
        )
        if not gold:
            return False
        pattern = re.compile(rf"(?<!\w){re.escape(gold)}(?!\w)")
        memory = info[MEMORY]
        close = [e[ANSWER_KEY] for e in memory[HISTORY] if e[SCORE] >= self.match_score]
        close += [e[TEXT] for e in memory[KNOWLEDGE] if e[SCORE] >= self.match_score]
        if any(pattern.search(normalize_answer(text)) for text in close):
            return True
        shown = info[QUESTION]
        words = set(tokenize(shown[TEXT]))
        return any(normalize_answer(str(value)) == gold for feature, value in shown.get(PRODUCT, {}).items()
                   if feature != "title" and words & set(tokenize(feature.replace("_", " "))))


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
