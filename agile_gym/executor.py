"""The AGILE executor shared by every task: session lifecycle, action dispatch, advice, reflection,
memory, reward and metrics. A task subclass supplies only what is its own: data, prompt, grading, tools."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from agile_gym.actions import ANSWER as ANSWER_TAG
from agile_gym.actions import (
    NO_INFORMATION,
    PREDICT_ANSWER,
    REFLECTION,
    SEARCH_PRODUCT,
    SEEK_ADVICE,
    SHORT_ANSWER,
    Action,
    InvalidAction,
    PredictAnswer,
    Reflect,
    SearchProduct,
    SeekAdvice,
    action_name,
    parse_action,
)
from agile_gym.contract import (
    ACTION,
    ADVISED,
    ANSWER,
    ANSWER_PHASE,
    ASIN,
    AVAILABLE_ACTIONS,
    CORRECT,
    EXPECTED_FORMAT,
    FEEDBACK,
    HISTORY,
    ID,
    INDEX,
    INVALID_ACTION,
    KNOWLEDGE,
    MEMORY,
    METRICS,
    PHASE,
    QUESTION,
    QUESTION_ID,
    QUESTION_TYPE,
    REFLECT_PHASE,
    RESULT,
    REWARD,
    SCOPE,
    SCORE,
    SCORED,
    SEARCH_RESULTS,
    SEGMENT_END,
    SESSION_LENGTH,
    TEXT,
    TYPE,
    Info,
    QuestionInfo,
    ResultInfo,
    StepInfo,
)
from agile_gym.data.types import Question
from agile_gym.memory.retrieval import Retriever
from agile_gym.memory.similarity import similarity_counts
from agile_gym.memory.store import Memory, Retrieved
from agile_gym.rewards import SessionMetrics, check_advice_cost, question_reward
from agile_gym.spaces import FreeText

MAX_OBSERVATION_LENGTH = 1 << 20
MAX_ACTION_LENGTH = 1 << 24


@dataclass(frozen=True)
class SessionItem:
    """A question and the scope it belongs to (its category: knowledge and tools are per scope)."""

    question: Question
    scope: str


@dataclass(frozen=True)
class Outcome:
    """What an answer-phase action did. `memory_answer` is stored with the question in history (None: nothing)."""

    action: str
    correct: bool = False
    advised: bool = False
    invalid_action: bool = False
    feedback: str = ""
    search_results: tuple[str, ...] = ()
    memory_answer: str | None = None


@dataclass(frozen=True)
class ExpertView:
    """The expert hook (`env.unwrapped.expert()`): gold knowledge of the question now in the observation.

    `answer_action` is a correct action in the env's exact format, `advice_action` asks for advice and
    `reflection_action` is what a good reflection after advice would write. `retrieved` is what the
    observation showed from memory. Imitation data and oracle baselines use this; evaluation must not.
    """

    question: Question
    scope: str
    phase: str
    answer_action: str
    advice_action: str
    reflection_action: str
    retrieved: Retrieved


class AgileEnv(gym.Env[str, str]):
    """Base class of the AGILE environments; subclasses document their own contract (see ProductQAEnv)."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"], "render_fps": 1}
    has_tools = False

    def __init__(
        self,
        items: list[SessionItem],
        *,
        advice_cost: float,
        memory: bool = True,
        reflection: bool = True,
        advice: bool = True,
        tools: bool = True,
        reflect_every_question: bool = False,
        shuffle: bool = False,
        max_questions: int | None = None,
        retriever: str | Callable[[], Retriever] = "bm25",
        history_k: int = 3,
        knowledge_k: int = 3,
        render_mode: str | None = None,
    ) -> None:
        if not items:
            raise ValueError("the session has no questions")
        if max_questions is not None and max_questions < 1:
            raise ValueError(f"max_questions must be a positive integer or None, got {max_questions}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        if history_k < 0 or knowledge_k < 0:
            raise ValueError(f"history_k and knowledge_k must be >= 0, got {history_k} and {knowledge_k}")
        self.advice_cost = check_advice_cost(advice_cost)
        self.use_memory, self.use_reflection, self.use_advice = memory, reflection, advice
        self.use_tools = tools and self.has_tools
        self.reflect_every_question, self.shuffle, self.max_questions = reflect_every_question, shuffle, max_questions
        self.history_k, self.knowledge_k = history_k, knowledge_k
        self.render_mode = render_mode
        self._all_items = list(items)
        self.memory = Memory(retriever)
        self._preload_memory()
        self.memory.checkpoint()
        examples = [example for tag, example in self._action_examples().items() if tag in self.available_actions(ANSWER_PHASE)]
        self.observation_space = FreeText(MAX_OBSERVATION_LENGTH)
        self.action_space = FreeText(MAX_ACTION_LENGTH, examples=examples + ["[Reflection]: ", "", "[NoInformation]"])
        self._items: list[SessionItem] = []
        self._position = 0
        self._phase = ANSWER_PHASE
        self._retrieved = Retrieved()
        self._metrics = SessionMetrics()
        self._transcript: list[str] = []
        self._similar: tuple[float, np.ndarray, np.ndarray] | None = None
        self._done = True

    # ---- hooks a task implements -------------------------------------------------------------------
    def _preload_memory(self) -> None:
        """Fill memory before every session (kept across resets through a checkpoint). Default: nothing."""

    def _history_key(self, item: SessionItem) -> str:
        raise NotImplementedError

    def _prompt(self, item: SessionItem, retrieved: Retrieved) -> str:
        raise NotImplementedError

    def _grade(self, item: SessionItem, action: PredictAnswer) -> Outcome:
        raise NotImplementedError

    def _run_tool(self, item: SessionItem, action: SearchProduct) -> Outcome:
        raise NotImplementedError

    def _gold_action(self, item: SessionItem) -> str:
        raise NotImplementedError

    def _advice_text(self, item: SessionItem) -> str:
        return item.question.gold_long

    def _expert_reflection(self, item: SessionItem) -> str:
        question = item.question
        if question.knowledge:
            return question.knowledge
        return f"For questions like '{question.question}', the answer is: {question.gold_short}."

    def _question_info(self, item: SessionItem) -> dict[str, Any]:
        """Task-specific structured facts shown in the observation (fresh objects on every call)."""
        return {}

    def _action_examples(self) -> dict[str, str]:
        return {
            PREDICT_ANSWER: f"{PREDICT_ANSWER}\n{ANSWER_TAG} yes\n{SHORT_ANSWER} yes",
            SEARCH_PRODUCT: f"{SEARCH_PRODUCT}\n[SQL]: SELECT product_id FROM products",
            SEEK_ADVICE: SEEK_ADVICE,
        }

    # ---- the executor --------------------------------------------------------------------------------
    def available_actions(self, phase: str | None = None) -> list[str]:
        """The action tags accepted now (or in `phase`)."""
        if (phase or self._phase) == REFLECT_PHASE:
            return [REFLECTION, NO_INFORMATION]
        tags = [PREDICT_ANSWER]
        if self.use_tools:
            tags.append(SEARCH_PRODUCT)
        if self.use_advice:
            tags.append(SEEK_ADVICE)
        return tags

    def expected_format(self, phase: str | None = None) -> str:
        if (phase or self._phase) == REFLECT_PHASE:
            return f"'{REFLECTION}: <general knowledge learned from the advice>' or '{NO_INFORMATION}'"
        formats = [f"'{PREDICT_ANSWER}' then '{ANSWER_TAG} <answer>' (optionally '{SHORT_ANSWER} <short answer>')"]
        if self.use_tools:
            formats.append(f"'{SEARCH_PRODUCT}' then '[SQL]: SELECT product_id FROM <table> WHERE ...'")
        if self.use_advice:
            formats.append(f"'{SEEK_ADVICE}' (costs {self.advice_cost:g} of the question's reward)")
        return "one of: " + "; or ".join(formats)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        super().reset(seed=seed)
        self.memory.restore()
        items: list[SessionItem] = []
        for scope in dict.fromkeys(item.scope for item in self._all_items):
            group = [item for item in self._all_items if item.scope == scope]
            if self.shuffle:
                group = [group[i] for i in self.np_random.permutation(len(group))]
            items.extend(group)
        self._items = items[: self.max_questions] if self.max_questions else items
        self._position, self._phase, self._done = 0, ANSWER_PHASE, False
        self._metrics = SessionMetrics()
        self._transcript = []
        self._similar = None
        observation = self._question_observation("")
        return observation, self._info()

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        if self._done:
            raise RuntimeError("the session is over: call reset() before step()")
        if isinstance(action, bytes):
            action = action.decode("utf-8", errors="replace")
        if not isinstance(action, str):
            raise TypeError(f"actions are text: expected str, got {type(action).__name__}")
        parsed = parse_action(action)
        item = self._items[self._position]
        self._log(f"Agent: {action[:2000]}")
        scored = self._phase == ANSWER_PHASE
        if not scored:
            outcome, reward = self._reflect(item, parsed), 0.0
        else:
            outcome = self._answer(item, parsed)
            reward = question_reward(outcome.correct, outcome.advised, self.advice_cost)
            self._metrics.record(item.question.type, outcome.correct, outcome.advised, outcome.invalid_action, reward)
            if self.use_memory and outcome.memory_answer is not None:
                self.memory.add_history(self._history_key(item), item.question.question, outcome.memory_answer)
        self._log(f"Executor: {outcome.feedback}")
        result: ResultInfo = {
            ACTION: outcome.action,
            QUESTION_ID: item.question.id,
            QUESTION_TYPE: item.question.type,
            CORRECT: bool(outcome.correct or outcome.advised),
            ADVISED: outcome.advised,
            INVALID_ACTION: outcome.invalid_action,
            SEARCH_RESULTS: list(outcome.search_results),
            REWARD: reward,
            FEEDBACK: outcome.feedback,
            SCORED: scored,
        }
        wants_reflection = self.use_reflection and (outcome.advised or self.reflect_every_question)
        if self._phase == ANSWER_PHASE and wants_reflection and not outcome.invalid_action:
            self._phase = REFLECT_PHASE
            observation = self._reflection_observation(item, outcome)
        else:
            self._phase = ANSWER_PHASE
            self._position += 1
            observation = self._question_observation(outcome.feedback)
        # Stopping early because of max_questions is a truncation; answering every question terminates.
        terminated = self._done and len(self._items) == len(self._all_items)
        truncated = self._done and not terminated
        info: StepInfo = {**self._info(), RESULT: result, SEGMENT_END: self._phase == ANSWER_PHASE}
        return observation, reward, terminated, truncated, info

    def _answer(self, item: SessionItem, action: Action) -> Outcome:
        if isinstance(action, Reflect):
            action = InvalidAction(f"{REFLECTION} and {NO_INFORMATION} are only accepted after advice")
        elif isinstance(action, SeekAdvice) and not self.use_advice:
            action = InvalidAction(f"{SEEK_ADVICE} is switched off in this environment")
        elif isinstance(action, SearchProduct) and not self.use_tools:
            action = InvalidAction(f"{SEARCH_PRODUCT} is not available in this environment")
        if isinstance(action, InvalidAction):
            return Outcome(
                "invalid", invalid_action=True,
                feedback=f"Invalid action ({action.reason}); counted as a wrong answer. Expected "
                f"{self.expected_format(ANSWER_PHASE)}.",
            )
        if isinstance(action, SeekAdvice):
            advice = self._advice_text(item)
            return Outcome("SeekAdvice", advised=True, feedback=f"Expert advice: {advice}", memory_answer=advice)
        if isinstance(action, SearchProduct):
            return self._run_tool(item, action)
        return self._grade(item, action)

    def _reflect(self, item: SessionItem, action: Action) -> Outcome:
        if isinstance(action, Reflect):
            if action.knowledge is None:
                return Outcome("NoInformation", feedback="Nothing was added to knowledge.")
            if self.use_memory:
                self.memory.add_knowledge(item.scope, action.knowledge)
            return Outcome("Reflection", feedback="Your reflection was added to knowledge.")
        reason = action.reason if isinstance(action, InvalidAction) else f"{action_name(action)} is not a reflection"
        return Outcome(
            "invalid", invalid_action=True,
            feedback=f"Invalid reflection ({reason}); nothing was stored. Expected {self.expected_format(REFLECT_PHASE)}.",
        )

    def _question_observation(self, feedback: str) -> str:
        if self._position >= len(self._items):
            self._done = True
            summary = self._metrics.snapshot()
            text = (
                f"The session is over: {summary['questions']} questions, accuracy {summary['accuracy']:.3f}, "
                f"advice rate {summary['advice_rate']:.3f}, total score {summary['total_score']:.3f}."
            )
            self._retrieved = Retrieved()
            self._log(text)
            return self._with_feedback(feedback, text)
        item = self._items[self._position]
        if self.use_memory:
            self._retrieved = self.memory.retrieve(
                item.question.question, self._history_key(item), item.scope, self.history_k, self.knowledge_k
            )
        else:
            self._retrieved = Retrieved()
        prompt = self._prompt(item, self._retrieved)
        self._log(f"Question {item.question.id} ({item.question.type}): {item.question.question}")
        return self._with_feedback(feedback, prompt)

    def _reflection_observation(self, item: SessionItem, outcome: Outcome) -> str:
        text = (
            f"Question: {item.question.question}\n{outcome.feedback}\n\n"
            "Reflect on this question and its answer. If it teaches general knowledge that will help with "
            f"other questions, write '{REFLECTION}: <the knowledge>'; otherwise write '{NO_INFORMATION}'."
        )
        return text[:MAX_OBSERVATION_LENGTH]

    @staticmethod
    def _memory_lines(retrieved: Retrieved, history_heading: str) -> list[str]:
        """Retrieved memory as prompt lines, the same layout in every task."""
        lines = []
        if retrieved.history:
            lines.append(history_heading)
            lines += [f"Q: {entry.question}\nA: {entry.answer}" for entry, _ in retrieved.history]
        if retrieved.knowledge:
            lines.append("Knowledge:")
            lines += [f"- {text}" for text, _ in retrieved.knowledge]
        return lines

    @staticmethod
    def _with_feedback(feedback: str, text: str) -> str:
        if feedback:
            text = f"Result of your previous action: {feedback}\n\n{text}"
        return text[:MAX_OBSERVATION_LENGTH]

    def _info(self) -> Info:
        # Empty, not None, once the session is over: vector envs batch infos key by key.
        question: QuestionInfo | dict[str, Any] = {}
        if not self._done:
            item = self._items[self._position]
            question = {
                ID: item.question.id,
                TYPE: item.question.type,
                ASIN: item.question.asin,
                SCOPE: item.scope,
                INDEX: self._position,
                SESSION_LENGTH: len(self._items),
                TEXT: item.question.question,
                **self._question_info(item),
            }
        return {
            PHASE: self._phase,
            EXPECTED_FORMAT: self.expected_format(),
            AVAILABLE_ACTIONS: self.available_actions(),
            METRICS: self._metrics.snapshot(),
            QUESTION: question,
            MEMORY: {
                HISTORY: [{QUESTION: e.question, ANSWER: e.answer, SCORE: s} for e, s in self._retrieved.history],
                KNOWLEDGE: [{TEXT: t, SCORE: s} for t, s in self._retrieved.knowledge],
            },
        }

    def expert(self) -> ExpertView:
        """Gold knowledge of the question now in the observation (see ExpertView)."""
        if self._done:
            raise RuntimeError("no question is open: call reset()")
        item = self._items[self._position]
        return ExpertView(
            question=item.question,
            scope=item.scope,
            phase=self._phase,
            answer_action=self._gold_action(item),
            advice_action=SEEK_ADVICE,
            reflection_action=f"{REFLECTION}: {self._expert_reflection(item)}",
            retrieved=self._retrieved,
        )

    def similar_questions(self, threshold: float = 0.5) -> tuple[int, int]:
        """(later, earlier): questions of this session similar to the open one that come after it, and that
        came before it (and so, with memory on, are in memory). Similar means the same scope and a Jaccard
        overlap of at least `threshold` between their stemmed word sets. Feeds the paper's heuristic state
        advantage (`agile_gym.wrappers.SessionAdvantage`). Counted once per session, then looked up."""
        if self._done:
            raise RuntimeError("no question is open: call reset()")
        if self._similar is None or self._similar[0] != threshold:
            texts = [item.question.question for item in self._items]
            self._similar = (threshold, *similarity_counts(texts, [item.scope for item in self._items], threshold))
        _, later, earlier = self._similar
        return int(later[self._position]), int(earlier[self._position]) if self.use_memory else 0

    def _log(self, line: str) -> None:
        self._transcript.append(line)
        del self._transcript[:-200]

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return "\n".join(self._transcript) + "\n"
        return None


__all__ = ["AgileEnv", "ExpertView", "Outcome", "SessionItem"]
