"""Answering without a model: the text an agent would write, read from what the env puts in `info`.

Used by the never-advice baseline and as the default answering component of `AdviceDecisionWrapper`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Protocol

from agile_gym.actions import ANSWER, NO_INFORMATION, PREDICT_ANSWER, REFLECTION, SHORT_ANSWER
from agile_gym.contract import ANSWER as ANSWER_KEY
from agile_gym.contract import (
    FEEDBACK,
    HISTORY,
    KNOWLEDGE,
    MEMORY,
    OPTIONS,
    PRODUCT,
    QUESTION,
    RESULT,
    SCORE,
    TEXT,
    TYPE,
)
from agile_gym.data.types import SEARCH
from agile_gym.memory.retrieval import tokenize

# History answers are stored as "<long answer> (<short answer>)".
_SHORT_IN_MEMORY = re.compile(r"\(([^()]*)\)\s*$")


@dataclass(frozen=True)
class Proposal:
    """What the answering component would do now: the action text and how sure it is (0..1)."""

    answer: str
    confidence: float
    search: str | None = None  # an action text for the search macro action; None: it cannot search


class Answerer(Protocol):
    """The answering component of `AdviceDecisionWrapper`: writes action texts from what the env shows."""

    def propose(self, observation: str, info: dict[str, Any]) -> Proposal:
        """The answer (and, if it can search, the search) for the open question; `info` is an agile/ `Info`."""
        ...

    def reflect(self, observation: str, info: dict[str, Any]) -> str:
        """A reflect-phase action (`[Reflection]: ...` or `[NoInformation]`) after the advice in `info`."""
        ...


class MemoryAnswerer:
    """Answers without a model, from what the env shows in `info`.

    ProductQA: a retrieved history answer whose score reaches `history_threshold` (confidence grows with the
    score), else the product metadata value whose feature name the question mentions (confidence 0.5), else
    'yes' (0.0); search questions get 'none' (0.0). Multiple choice: the option sharing most words with
    retrieved memory, the first option when none does (confidence = its share of the overlap). It cannot
    write SQL.
    Its reflection after advice stores the question with the expert's answer as knowledge.
    """

    def __init__(self, history_threshold: float = 1.2) -> None:
        self.history_threshold = history_threshold

    def propose(self, observation: str, info: dict[str, Any]) -> Proposal:
        """See the class docstring; needs an open question (`info["question"]` not empty)."""
        question = info[QUESTION]
        if OPTIONS in question:
            letter, confidence = self._option(info, question[OPTIONS])
            return Proposal(_answer_text(letter), confidence)
        if question[TYPE] == SEARCH:
            return Proposal(f"{PREDICT_ANSWER}\n{ANSWER} none", 0.0)
        remembered = self._from_history(info)
        if remembered is not None:
            answer, score = remembered
            return Proposal(_answer_text(answer), 1.0 - math.exp(-score / 4.0))
        feature_value = self._from_metadata(question)
        if feature_value is not None:
            return Proposal(_answer_text(feature_value), 0.5)
        return Proposal(_answer_text("yes"), 0.0)

    def reflect(self, observation: str, info: dict[str, Any]) -> str:
        """`[Reflection]: For '<question>': <advice>` (advice cut at 400 characters), or `[NoInformation]` when the
        feedback holds no expert advice."""
        feedback = (info.get(RESULT) or {}).get(FEEDBACK, "")
        advice = feedback.removeprefix("Expert advice:").strip()
        if not advice:
            return NO_INFORMATION
        return f"{REFLECTION}: For '{info[QUESTION][TEXT]}': {advice[:400]}"

    def _from_history(self, info: dict[str, Any]) -> tuple[str, float] | None:
        for entry in info[MEMORY][HISTORY]:
            if entry[SCORE] >= self.history_threshold:
                match = _SHORT_IN_MEMORY.search(entry[ANSWER_KEY])
                return (match.group(1) if match else entry[ANSWER_KEY]), float(entry[SCORE])
        return None

    @staticmethod
    def _from_metadata(question: dict[str, Any]) -> str | None:
        words = set(tokenize(question[TEXT]))
        best, best_overlap = None, 0
        for feature, value in question.get(PRODUCT, {}).items():
            overlap = len(words & set(tokenize(feature.replace("_", " "))))
            if overlap > best_overlap and feature != "title":
                best, best_overlap = str(value), overlap
        return best

    @staticmethod
    def _option(info: dict[str, Any], options: dict[str, str]) -> tuple[str, float]:
        remembered: set[str] = set()
        for entry in info[MEMORY][HISTORY]:
            remembered |= set(tokenize(entry[ANSWER_KEY]))
        for entry in info[MEMORY][KNOWLEDGE]:
            remembered |= set(tokenize(entry[TEXT]))
        overlaps = {letter: len(set(tokenize(text)) & remembered) for letter, text in options.items()}
        best = max(options, key=lambda letter: (overlaps[letter], -ord(letter[0])))
        total = sum(overlaps.values())
        return best, (overlaps[best] / total if total else 0.0)


def _answer_text(answer: str) -> str:
    return f"{PREDICT_ANSWER}\n{ANSWER} {answer}\n{SHORT_ANSWER} {answer}"
