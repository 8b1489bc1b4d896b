"""AGILE's central decision as an ordinary RL problem: per question, answer now, search, or ask the expert.

    env = AdviceDecisionWrapper(gym.make("agile/ProductQA-v2", split="train"))
    stable_baselines3.PPO("MlpPolicy", env).learn(50_000)

One wrapper step is one question. The agent picks a macro action; an answering component writes the action
text; after advice the wrapper also writes the reflection, so memory fills exactly as with an LLM agent.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from agile_gym.actions import SEEK_ADVICE
from agile_gym.answerer import Answerer, MemoryAnswerer, Proposal
from agile_gym.contract import (
    ADVICE_RATE,
    HISTORY,
    INDEX,
    KNOWLEDGE,
    MEMORY,
    METRICS,
    PHASE,
    PRODUCT,
    QUESTION,
    REFLECT_PHASE,
    RESULT,
    SCORE,
    SESSION_LENGTH,
    TEXT,
    TYPE,
)
from agile_gym.memory.retrieval import tokenize

ANSWER_NOW, SEARCH, ASK_ADVICE = 0, 1, 2
ACTION_NAMES = ("answer now", "search", "seek advice")
QUESTION_TYPES = ("fact_qa", "search_qa", "reasoning_qa", "mcq")


FEATURES = (
    "history_top_score", "history_count", "knowledge_top_score", "knowledge_count",
    *(f"type_{name}" for name in QUESTION_TYPES), "type_other",
    "session_position", "metadata_covers_question", "answerer_confidence", "answerer_can_search",
    "similar_earlier_questions", "advice_rate_so_far", "advice_cost",
)


FEATURE_MAX = 100.0  # log-scaled scores and shares stay far below this; values are clipped to it


class AdviceDecisionWrapper(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """`Discrete(3)` macro actions and a `Box` of numeric features for one question at a time.

    ## Action Space
    `Discrete(3)`: 0 answer now (the answerer's proposal), 1 search (the answerer's search action; an
    answerer that cannot search, such as the built-in `MemoryAnswerer`, answers instead), 2 seek advice
    (then the answerer's reflection is stored, as an LLM agent would write one).

    ## Observation Space
    `Box(0, FEATURE_MAX, (len(FEATURES),))` float32, every entry finite: `FEATURES` names them. Retrieval scores are
    log1p(BM25 score) of the best retrieved history / knowledge entry and counts are retrieved entries / k;
    the question type one-hot; position in the session (0..1); whether a product metadata feature is named
    in the question; the answerer's confidence and whether it can search; log1p(similar questions earlier in
    the session, which memory holds); the advice rate so far; the advice cost. All zeros after the last
    question.

    ## Rewards
    The inner env's, unchanged: 1 correct, 0 wrong, 1 - advice_cost for advice (reflection steps add 0), so
    totals compare with LLM runs. `info` is the inner env's info after the question is settled.

    ## Episode End
    When the inner session ends (terminated) or is cut (truncated).
    """

    def __init__(self, env: gym.Env, answerer: Answerer | None = None) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, answerer=answerer)
        super().__init__(env)
        self.answerer = answerer or MemoryAnswerer()
        self.action_space = gym.spaces.Discrete(3)
        self.observation_space = gym.spaces.Box(0.0, FEATURE_MAX, shape=(len(FEATURES),), dtype=np.float32)
        core = env.unwrapped
        self._history_k = max(1, getattr(core, "history_k", 1))
        self._knowledge_k = max(1, getattr(core, "knowledge_k", 1))
        self._text = ""
        self._info: dict[str, Any] = {}
        self._proposal: Proposal | None = None

    def reset(self, **kwargs) -> tuple[np.ndarray, dict]:
        """Reset the inner env; returns the first question's features and the inner info."""
        self._text, self._info = self.env.reset(**kwargs)
        return self._features(), self._info

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Settle one question with macro `action` (0, 1 or 2; ValueError otherwise), reflecting after advice.
        The reward is the sum of the inner steps' rewards; `info["result"]` is the question's outcome."""
        if not self.action_space.contains(action):
            raise ValueError(f"action must be 0 (answer), 1 (search) or 2 (advice), got {action!r}")
        proposal = self._proposal or self.answerer.propose(self._text, self._info)
        if int(action) == ASK_ADVICE:
            text = SEEK_ADVICE
        elif int(action) == SEARCH and proposal.search is not None:
            text = proposal.search
        else:
            text = proposal.answer
        self._text, reward, terminated, truncated, self._info = self.env.step(text)
        result = self._info.get(RESULT)
        if self._info.get(PHASE) == REFLECT_PHASE and not (terminated or truncated):
            reflection = self.answerer.reflect(self._text, self._info)
            self._text, extra, terminated, truncated, self._info = self.env.step(reflection)
            reward += extra
            self._info[RESULT] = result  # the question's outcome, not the reflection's
        return self._features(), float(reward), terminated, truncated, self._info

    def _features(self) -> np.ndarray:
        self._proposal = None
        features = np.zeros(len(FEATURES), dtype=np.float32)
        question = self._info.get(QUESTION)
        if not question:
            return features
        self._proposal = self.answerer.propose(self._text, self._info)
        history, knowledge = self._info[MEMORY][HISTORY], self._info[MEMORY][KNOWLEDGE]
        types = [float(question[TYPE] == name) for name in QUESTION_TYPES]
        words = set(tokenize(question[TEXT]))
        covered = any(words & set(tokenize(feature.replace("_", " "))) for feature in question.get(PRODUCT, {})
                      if feature != "title")
        core = self.env.unwrapped
        earlier = core.similar_questions()[1] if callable(getattr(core, "similar_questions", None)) else 0
        metrics = self._info.get(METRICS, {})
        values = [
            math.log1p(max((e[SCORE] for e in history), default=0.0)), len(history) / self._history_k,
            math.log1p(max((e[SCORE] for e in knowledge), default=0.0)), len(knowledge) / self._knowledge_k,
            *types, float(not any(types)),
            question[INDEX] / max(1, question[SESSION_LENGTH]), float(covered),
            self._proposal.confidence, float(self._proposal.search is not None),
            math.log1p(earlier), float(metrics.get(ADVICE_RATE, 0.0)), float(getattr(core, "advice_cost", 0.0)),
        ]
        values = np.nan_to_num(np.asarray(values, dtype=np.float32), nan=0.0, posinf=FEATURE_MAX, neginf=0.0)
        features[:] = np.clip(values, 0.0, FEATURE_MAX)
        return features
