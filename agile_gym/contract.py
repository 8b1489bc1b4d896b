"""The `info` contract of every agile/ environment: each key's name as a constant, each part's shape as a TypedDict.

`reset()` returns an `Info`; `step()` returns a `StepInfo`, which is an `Info` plus the step's `result` and
`segment_end`; the `SessionAdvantage` wrapper adds `task_reward` and `session_advantage`
(`SessionAdvantageInfo`). `agile_gym.executor.AgileEnv` documents what every key means.

Code that reads `info` names keys through these constants, never through string literals, so a typo is an
import error and a renamed key is found by grep. The constants are `Final`, so type checkers see their literal
values and know that `info[RESULT][CORRECT]` is a bool::

    from agile_gym.contract import CORRECT, RESULT, SEGMENT_END

    if info[SEGMENT_END] and info[RESULT][CORRECT]:
        ...

A key's constant is its name in capitals (`segment_end` -> `SEGMENT_END`); a name used by two parts (`question`,
`text`, `type`) has one constant. Every value is plain Python (dict, list, str, int, float, bool, None), so an
info pickles, compares with `==` and batches in vector envs. This module imports nothing else from agile_gym.
"""

from __future__ import annotations

from typing import Any, Final, Literal, TypedDict

# ---- values of info[PHASE] ------------------------------------------------------------------------------------
ANSWER_PHASE: Final = "answer"
REFLECT_PHASE: Final = "reflect"
Phase = Literal["answer", "reflect"]

# Values of info[RESULT][ACTION]: the action tag without brackets, or "invalid" (`agile_gym.actions.action_name`).
ActionName = Literal["PredictAnswer", "SearchProduct", "SeekAdvice", "Reflection", "NoInformation", "invalid"]

# ---- keys of Info and StepInfo ------------------------------------------------------------------------------
PHASE: Final = "phase"
EXPECTED_FORMAT: Final = "expected_format"
AVAILABLE_ACTIONS: Final = "available_actions"
METRICS: Final = "metrics"
QUESTION: Final = "question"
MEMORY: Final = "memory"
RESULT: Final = "result"
SEGMENT_END: Final = "segment_end"
# ---- keys the SessionAdvantage wrapper adds -----------------------------------------------------------------
TASK_REWARD: Final = "task_reward"
SESSION_ADVANTAGE: Final = "session_advantage"
# ---- keys of QuestionInfo -----------------------------------------------------------------------------------
ID: Final = "id"
TYPE: Final = "type"
ASIN: Final = "asin"
SCOPE: Final = "scope"
INDEX: Final = "index"
SESSION_LENGTH: Final = "session_length"
TEXT: Final = "text"
PRODUCT: Final = "product"
OPTIONS: Final = "options"
# ---- keys of MemoryInfo and its entries (QUESTION and TEXT above are shared) --------------------------------
HISTORY: Final = "history"
KNOWLEDGE: Final = "knowledge"
ANSWER: Final = "answer"
SCORE: Final = "score"
# ---- keys of ResultInfo -------------------------------------------------------------------------------------
ACTION: Final = "action"
QUESTION_ID: Final = "question_id"
QUESTION_TYPE: Final = "question_type"
CORRECT: Final = "correct"
ADVISED: Final = "advised"
INVALID_ACTION: Final = "invalid_action"
SEARCH_RESULTS: Final = "search_results"
REWARD: Final = "reward"
FEEDBACK: Final = "feedback"
SCORED: Final = "scored"
# ---- keys of MetricsInfo ------------------------------------------------------------------------------------
QUESTIONS: Final = "questions"
ACCURACY: Final = "accuracy"
ADVICE_RATE: Final = "advice_rate"
TOTAL_SCORE: Final = "total_score"
INVALID_ACTION_RATE: Final = "invalid_action_rate"
PER_TYPE: Final = "per_type"

# ---- what the observation shows ---------------------------------------------------------------------------
# The info fields that an agent's prompt shows as text, as key paths (a list's entries share one path). Every
# other field (the question's id, type and index, retrieval scores, metrics) is for code only: a decision that
# reads them cannot be learned from the observation. `agile_gym.visibility` reads nothing else.
PROMPT_FIELDS: Final = (
    (QUESTION, TEXT), (QUESTION, ASIN), (QUESTION, SCOPE), (QUESTION, PRODUCT), (QUESTION, OPTIONS),
    (MEMORY, HISTORY, QUESTION), (MEMORY, HISTORY, ANSWER), (MEMORY, KNOWLEDGE, TEXT), (AVAILABLE_ACTIONS,),
)


class _QuestionInfoRequired(TypedDict):
    id: str
    type: str
    asin: str | None
    scope: str
    index: int
    session_length: int
    text: str


class QuestionInfo(_QuestionInfoRequired, total=False):
    """`info[QUESTION]`: the question now open. `{}` (empty, not None, so vector envs batch it) once the session
    is over.

    `id` and `type` are the data's (ProductQA: `fact_qa`, `search_qa`, `reasoning_qa`); `asin` is the product
    asked about (None without products); `scope` is the question's category (memory's knowledge is kept per
    scope); `index` is its 0-based position in the session of `session_length` questions; `text` is the
    question as asked. Task keys: `product` (ProductQA: the product's metadata, feature -> value) and `options`
    (MedMCQA: letter -> option text).
    """

    product: dict[str, Any]
    options: dict[str, str]


class HistoryEntryInfo(TypedDict):
    """One retrieved history entry: a past question, the answer memory holds for it, the retrieval score."""

    question: str
    answer: str
    score: float


class KnowledgeEntryInfo(TypedDict):
    """One retrieved knowledge entry: the text reflected earlier and its retrieval score."""

    text: str
    score: float


class MemoryInfo(TypedDict):
    """`info[MEMORY]`: what the observation shows from memory, best first (BM25 scores, or cosine for `dense`).

    In the reflect phase they are what the question's observation showed; empty after the last question and
    with `memory=False`.
    """

    history: list[HistoryEntryInfo]
    knowledge: list[KnowledgeEntryInfo]


class TypeMetricsInfo(TypedDict):
    """Running session metrics of the questions settled so far (all 0 before the first).

    `accuracy` counts advised questions as correct, as the paper does; `total_score` is the mean reward per
    question, so total_score = accuracy - advice_cost * advice_rate; rates are in [0, 1].
    """

    questions: int
    accuracy: float
    advice_rate: float
    total_score: float
    invalid_action_rate: float


class MetricsInfo(TypeMetricsInfo):
    """`info[METRICS]`: the running metrics of the whole session, and `per_type`: question type -> the same
    numbers over the questions of that type (only types seen so far)."""

    per_type: dict[str, TypeMetricsInfo]


class ResultInfo(TypedDict):
    """`info[RESULT]`: what the step just taken did (step only).

    `action` names the action taken; `question_id` / `question_type` the question it acted on; `correct` is
    True for a correct answer or search, and for advice (the paper counts advised questions as correct);
    `advised` whether the step sought advice; `invalid_action` whether the text was no valid action now
    (counted as a wrong answer, or as no reflection); `search_results` the asins a search or search answer
    named; `reward` the step's reward; `feedback` the executor's reply, which the next observation shows;
    `scored` True when the step settled the question's reward, False for a reflection step.
    """

    action: ActionName
    question_id: str
    question_type: str
    correct: bool
    advised: bool
    invalid_action: bool
    search_results: list[str]
    reward: float
    feedback: str
    scored: bool


class Info(TypedDict):
    """The info of `reset()`, and the part every `step()` info shares.

    `phase` is what the env expects now: an answer-phase action, or a reflection; `expected_format` says it in
    words and `available_actions` lists its action tags (e.g. `[PredictAnswer]`, `[SeekAdvice]`).
    """

    phase: Phase
    expected_format: str
    available_actions: list[str]
    metrics: MetricsInfo
    question: QuestionInfo
    memory: MemoryInfo


class StepInfo(Info):
    """The info of `step()`: `Info` plus `result` and `segment_end`, True when the step closed the question's
    session (its answer and any reflection); trainers cut trajectories there."""

    result: ResultInfo
    segment_end: bool


class SessionAdvantageInfo(StepInfo):
    """A step's info under `agile_gym.wrappers.SessionAdvantage`: `task_reward` is the env's reward before the
    wrapper adds anything, `session_advantage` the advantage A_i added on a closing step (0.0 elsewhere)."""

    task_reward: float
    session_advantage: float


__all__ = [
    "ACCURACY", "ACTION", "ADVICE_RATE", "ADVISED", "ANSWER", "ANSWER_PHASE", "ASIN", "AVAILABLE_ACTIONS", "CORRECT",
    "EXPECTED_FORMAT", "FEEDBACK", "HISTORY", "ID", "INDEX", "INVALID_ACTION", "INVALID_ACTION_RATE", "KNOWLEDGE",
    "MEMORY", "METRICS", "OPTIONS", "PER_TYPE", "PHASE", "PROMPT_FIELDS", "PRODUCT", "QUESTION", "QUESTIONS",
    "QUESTION_ID", "QUESTION_TYPE", "REFLECT_PHASE", "RESULT", "REWARD", "SCOPE", "SCORE", "SCORED", "SEARCH_RESULTS",
    "SEGMENT_END", "SESSION_ADVANTAGE", "SESSION_LENGTH", "TASK_REWARD", "TEXT", "TOTAL_SCORE", "TYPE",
    "ActionName", "HistoryEntryInfo", "Info", "KnowledgeEntryInfo", "MemoryInfo", "MetricsInfo", "Phase",
    "QuestionInfo", "ResultInfo", "SessionAdvantageInfo", "StepInfo", "TypeMetricsInfo",
]
