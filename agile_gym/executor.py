"""The AGILE executor shared by every task: session lifecycle, action dispatch, advice, reflection,
memory, reward, metrics and `info`. A task subclass supplies only what is its own: data, prompt, grading, tools.

`AgileEnv`'s docstring is the contract of every agile/ environment; `agile_gym.contract` types its `info`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

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
    ACCURACY,
    ACTION,
    ADVICE_RATE,
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
    QUESTIONS,
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
    TOTAL_SCORE,
    TYPE,
    ActionName,
    Info,
    QuestionInfo,
    ResultInfo,
    StepInfo,
)
from agile_gym.data.types import Question
from agile_gym.memory.retrieval import EMBEDDING_RETRIEVERS, Retriever
from agile_gym.memory.similarity import (
    COSINE_THRESHOLD,
    JACCARD_THRESHOLD,
    embedding_similarity_counts,
    similarity_counts,
)
from agile_gym.memory.store import Memory, Retrieved, make_token_counter, render_knowledge
from agile_gym.rewards import SessionMetrics, check_advice_cost, question_reward
from agile_gym.spaces import FreeText, encodable_text
from agile_gym.tool_calls import (
    ACTION_FORMATS,
    TOOL_NAMES,
    ObservationView,
    action_text,
    offered_tools,
    parse_tool_call,
    tool_call_examples,
    tool_schemas,
    unknown_tool_note,
)

MAX_OBSERVATION_LENGTH = 1 << 20
MAX_ACTION_LENGTH = 1 << 24


@dataclass(frozen=True)
class SessionItem:
    """A question and the scope it belongs to (its category: knowledge and tools are per scope)."""

    question: Question
    scope: str


@dataclass(frozen=True)
class Outcome:
    """What one action did, as a task's `_grade` / `_run_tool` (or the executor) reports it.

    `action` becomes `info["result"]["action"]`; `correct`, `advised`, `invalid_action`, `feedback` and
    `search_results` likewise; `memory_answer` is stored with the question in history (None: nothing stored).
    """

    action: ActionName
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
    `reflection_action` is what a good reflection after advice would write: the data's general lesson
    (`[Reflection]: ...`), else `[NoInformation]` (a fact about one product stays in that product's history).
    `retrieved` is what the observation showed from memory. `answer_visible` is the data generator's ground
    truth for "does the prompt show this question's answer", given what memory holds now (None where the data
    does not know, e.g. the real releases); `agile_gym.visibility` judges the same from the prompt alone.
    Imitation data, oracle baselines and experiments use this; evaluation must not.
    """

    question: Question
    scope: str
    phase: str
    answer_action: str
    advice_action: str
    reflection_action: str
    retrieved: Retrieved
    answer_visible: bool | None = None


class AgileEnv(gym.Env[str, str]):
    """The AGILE executor as a Gymnasium text environment: the contract every agile/ task shares.

    A task (`ProductQAEnv`, `MedMCQAEnv`) supplies its data, prompt, grading and tools through the hooks
    below (`_prompt`, `_grade`, `_run_tool`, ...); everything here holds for every task, and each task's
    docstring adds only what is its own.

    ## Description
    An episode is a session: the task's questions one after another, grouped by scope (a ProductQA category;
    the scopes in the task's order), each scope's questions in data order or, with `shuffle=True`, permuted
    from the reset seed. Memory persists through the session: history (question-answer pairs, under a key the
    task chooses, e.g. one product) and knowledge (reflected lessons, per scope). Before each question the
    executor retrieves the `history_k` history and `knowledge_k` knowledge entries most relevant to it and the
    task writes them into the prompt. This is the paper's agent loop (Appendix B): retrieve memory, then the
    LLM predicts an answer, searches with a tool or seeks advice, and reflects after advice.

    ## Action Space
    `FreeText`: any `str` (bytes are decoded as UTF-8; what UTF-8 cannot carry, undecodable bytes or lone
    surrogates, becomes U+FFFD); `agile_gym.actions.parse_action` reads it. The first
    action tag decides; text before it is the agent's reasoning, kept and not judged.
    - `[PredictAnswer]` then `[Answer]: <text>`, optionally `[Short Answer]: <text>` (graded when given): the
      task grades the answer.
    - `[SearchProduct]` then `[SQL]: SELECT ...`: runs the task's tool (only tasks with tools, `tools=True`).
    - `[SeekAdvice]`: the expert's advice, built from the gold answer (each task says how); it counts as
      correct (`advice=True`).
    - Reflect phase, which follows advice (or every valid answer with `reflect_every_question=True`) when
      `reflection=True`: `[Reflection]: <general knowledge>` stores the knowledge in the scope's memory (with
      `memory=True`); `[NoInformation]` stores nothing.
    Anything else (no tag, an empty argument, a tag not available now, text over `MAX_ACTION_LENGTH` characters,
    which is not read) is an invalid action: a wrong answer in the answer phase, nothing stored in the reflect
    phase. `info["available_actions"]` lists the tags accepted now and `info["expected_format"]` spells them out.

    With `action_format="tools"` an action is instead a function-tool call, a dict or its JSON text:
    `{"name": "answer", "arguments": {"answer": "...", "short_answer": "..."}}`, `search_products(sql)`,
    `seek_advice()`, `reflect(knowledge)` (empty knowledge: `[NoInformation]`); `env.unwrapped.tools` names the
    tools offered and `env.unwrapped.tool_schemas()` gives their JSON schemas (`agile_gym.tool_calls`). A call
    becomes the tagged action above, so rewards, grading and memory are the same; anything that is not a call of
    an offered tool is the invalid action.

    ## Observation Space
    `FreeText`: the prompt an LLM sees, at most `MAX_OBSERVATION_LENGTH` characters. In the answer phase: the
    task's instructions, retrieved memory and the question, led (after the first step) by "Result of your
    previous action: <feedback>". In the reflect phase: the question, the feedback (the advice) and the
    request to reflect. After the last question: the feedback and a summary of the session's metrics. Agents
    need not parse it: `info` holds the same facts.

    With `observation="delta"` each step shows the feedback and the new prompt from its first line that differs from
    the prompt shown before (so instructions and table schema once per scope; the product block, memory and question
    after the first change again), for agents that keep the whole conversation; the reflection request is whole.
    With `action_format="tools"` the instructions and invalid-action feedback name the tools instead of the tags.

    ## Rewards
    The paper's reward, per question: 1 for a correct answer, 0 for a wrong or invalid one, `1 - advice_cost`
    when advice was sought (advised questions count as correct). It is paid on the step that settles the
    question (`info["result"]["scored"]`); reflection steps pay 0. So the session's total score, the mean
    reward per question, is accuracy - advice_cost * advice rate (`agile_gym.rewards`).

    ## Starting State
    Memory as the task preloads it (empty unless the task preloads, e.g. MedMCQA's `memory_init`), restored at
    every reset; the first question of the session in the answer phase.

    ## Episode End
    Terminates after the last question of the session (and its reflection). Truncates after `max_questions`
    questions when that is fewer than the task has. After either, `step` raises RuntimeError until `reset`.

    ## Info
    Plain Python values, typed and named in `agile_gym.contract` (read keys through its constants: `RESULT`,
    `SEGMENT_END`, ...). `reset` returns an `Info`, `step` a `StepInfo`:
    - `phase`: "answer" or "reflect", what the next action must be.
    - `expected_format` (str) and `available_actions` (list of action tags) for the phase now.
    - `question` (`QuestionInfo`): the open question's `id`, `type`, `asin` (None without products), `scope`,
      `index` (0-based position in the session), `session_length`, `text` and the task's own keys; `{}` once
      the session is over.
    - `memory` (`MemoryInfo`): the retrieved `history` (`question`, `answer`, `score`) and `knowledge`
      (`text`, `score`) entries, best first.
    - `metrics` (`MetricsInfo`): running `questions`, `accuracy`, `advice_rate`, `total_score`,
      `invalid_action_rate`, and the same per question type in `per_type`.
    - step only, `result` (`ResultInfo`): what the step did: `action`, `question_id`, `question_type`,
      `correct`, `advised`, `invalid_action`, `search_results`, `reward`, `feedback`, and `scored`.
    - step only, `segment_end` (bool): True when the step closed the question's session (its answer and any
      reflection); trainers cut trajectories there.
    Wrappers may add keys: `SessionAdvantage` adds `task_reward` and `session_advantage`.

    ## Arguments
    Every task accepts these keyword arguments (its own come first, see the task):

    | Argument | Type | Default | Description |
    |---|---|---|---|
    | `advice_cost` | float | the task's | c in [0, 1]: advice pays 1 - c (ValueError outside) |
    | `memory` | bool | True | store answers and reflections and retrieve them into prompts |
    | `reflection` | bool | True | ask for a reflection after advice |
    | `advice` | bool | True | offer `[SeekAdvice]`; False makes it an invalid action |
    | `tools` | bool | True | offer the task's tool (`[SearchProduct]`) where the task has one |
    | `reflect_every_question` | bool | False | ask for a reflection after every valid answer-phase action |
    | `shuffle` | bool | False | permute each scope's questions from the reset seed |
    | `max_questions` | int or None | None | stop (truncate) after this many questions; >= 1 |
    | `retriever` | str or callable | "bm25" | "bm25", "bm25s", "dense", "hybrid" or a `Retriever` factory |
    | `history_k`, `knowledge_k` | int | the task's | entries retrieved per question; >= 0 |
    | `memory_token_budget` | int or None | 512 | tokens memory may put into a prompt (paper: 512); None: none |
    | `token_counter` | str, callable or None | None | counts those tokens: a `tokenizer.json` or its folder |
    | `action_format` | str | "tags" | "tags" (bracket-tagged text) or "tools" (a function-tool call) |
    | `observation` | str | "state" | "state" (the whole prompt each step) or "delta" (only what is new) |

    "dense" and "hybrid" retrieval need the `dense` extra (`agile_gym.memory.retrieval`). `token_counter` may
    also be a `str -> int` callable; None counts words and punctuation marks (`memory.store.count_pieces`).
    A budget keeps the best entries that fit (`Memory.retrieve`).
    | `render_mode` | str or None | None | "ansi": `render()` returns the session transcript (its last 200 entries) |

    A bad value raises ValueError naming it; a session without questions raises ValueError.

    ## Expert hook
    `env.unwrapped.expert()` returns an `ExpertView` of the open question (gold answer action, advice,
    reflection, and the generator's ground truth `answer_visible`) for imitation data, oracle baselines and
    experiments; `env.unwrapped.similar_questions()` feeds `SessionAdvantage`.

    ## Version History
    - v2 (`agile/ProductQA-v2`, `agile/MedMCQA-v2`): memory, grading and answer forms changed (grading and
      answer forms: the task classes' Version History); rewards and observations of the same actions can differ
      from v1. Memory: what retrieval puts into a prompt is capped at `memory_token_budget` = 512 tokens, as the
      paper (best entries kept, history first), where v1 showed every retrieved entry; `retriever="dense"`
      (the paper's all-MiniLM-L6-v2) and `"hybrid"` added; `similar_questions()` measures similarity with
      embeddings when the retriever has them. Options `action_format` ("tags" or "tools") and `observation`
      ("state" or "delta") added; their defaults show and take what v1 did. An action over `MAX_ACTION_LENGTH`
      characters (outside the action space) is an invalid action, where v1 graded and stored it whole.
    - v1 (`agile/ProductQA-v1`, `agile/MedMCQA-v1`): the expert hook's reflection is the data's general lesson
      or `[NoInformation]`, never "For questions like '...', the answer is: ..." (that entry, stored as
      category knowledge, gave one product's answer to other products' questions); `ExpertView.answer_visible`
      added. Observations, rewards and grading of the same actions are unchanged, but whatever reflects with the
      expert hook (the expert agent, the oracle, imitation data) writes other knowledge, so its sessions differ.
    - v0: initial release (`agile/ProductQA-v0`, `agile/MedMCQA-v0`). Deprecated: the ids still make the
      current classes, so they behave as v2; use the v2 ids.
    """

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
        memory_token_budget: int | None = 512,
        token_counter: str | Callable[[str], int] | None = None,
        action_format: Literal["tags", "tools"] = "tags",
        observation: Literal["state", "delta"] = "state",
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
        if memory_token_budget is not None and memory_token_budget < 0:
            raise ValueError(f"memory_token_budget must be >= 0 or None, got {memory_token_budget}")
        if action_format not in ACTION_FORMATS:
            raise ValueError(f"action_format must be one of {ACTION_FORMATS}, got {action_format!r}")
        self.action_format, self.observation_mode = action_format, observation
        # ValueError for another `observation`; the default (tags, whole state) shows the env's own text untouched.
        self._view = ObservationView(observation, action_format == "tools", MAX_OBSERVATION_LENGTH)
        self.memory_token_budget = memory_token_budget
        self._count_tokens = make_token_counter(token_counter)
        self._embedding_similarity = isinstance(retriever, str) and retriever in EMBEDDING_RETRIEVERS
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
        examples = [
            example
            for tag, example in self._action_examples().items()
            if tag in self.available_actions(ANSWER_PHASE)
        ]
        self.observation_space = FreeText(MAX_OBSERVATION_LENGTH)
        if action_format == "tools":
            examples = tool_call_examples(self.tools) + ['{"name": "answer"}', "", "not a call"]
        else:
            examples += ["[Reflection]: ", "", "[NoInformation]"]
        self.action_space = FreeText(MAX_ACTION_LENGTH, examples=examples)
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
        """Fill memory once, at construction; every reset restores memory to what this left. Default: nothing."""

    def _history_key(self, item: SessionItem) -> str:
        """The history namespace of `item`: only history under this key is retrieved for it."""
        raise NotImplementedError

    def _prompt(self, item: SessionItem, retrieved: Retrieved) -> str:
        """The answer-phase observation for `item` with what was retrieved from memory."""
        raise NotImplementedError

    def _grade(self, item: SessionItem, action: PredictAnswer) -> Outcome:
        """Grade a `[PredictAnswer]`; never raises for any answer text."""
        raise NotImplementedError

    def _run_tool(self, item: SessionItem, action: SearchProduct) -> Outcome:
        """Run `[SearchProduct]` (only called when `use_tools`); a tool failure is an Outcome, not an exception."""
        raise NotImplementedError

    def _gold_action(self, item: SessionItem) -> str:
        """A correct answer-phase action for `item`, in the exact format the task grades."""
        raise NotImplementedError

    def _advice_text(self, item: SessionItem) -> str:
        """What `[SeekAdvice]` tells the agent (and stores in history). Default: the gold long answer."""
        return item.question.gold_long

    def _expert_reflection(self, item: SessionItem) -> str | None:
        """The knowledge a good reflection on `item` would store: the data's general lesson, or None (reflect
        `[NoInformation]`). Never the answer itself: knowledge is shared by the whole scope, where the answer
        to one product's question would be read as the answer to another's (history keeps it for its own)."""
        return item.question.knowledge or None

    def _answer_visible(self, item: SessionItem) -> bool | None:
        """Ground truth for `ExpertView.answer_visible`: whether the observation, with `self._retrieved`, shows
        `item`'s answer; None (the default) where the task's data does not know."""
        return None

    def _question_info(self, item: SessionItem) -> dict[str, Any]:
        """The task's own keys of `info["question"]` (fresh objects on every call: infos are kept by callers)."""
        return {}

    def _action_examples(self) -> dict[str, str]:
        """Action tag -> a well-formed action; the action space samples them (so check_env meets valid ones)."""
        return {
            PREDICT_ANSWER: f"{PREDICT_ANSWER}\n{ANSWER_TAG} yes\n{SHORT_ANSWER} yes",
            SEARCH_PRODUCT: f"{SEARCH_PRODUCT}\n[SQL]: SELECT product_id FROM products",
            SEEK_ADVICE: SEEK_ADVICE,
        }

    # ---- the executor --------------------------------------------------------------------------------
    @property
    def tools(self) -> tuple[str, ...]:
        """The function tools this env offers with `action_format="tools"`, in any phase (answer; search_products
        with the task's tool; seek_advice; reflect when reflections are asked for)."""
        return offered_tools(self)

    def tool_schemas(self) -> list[dict[str, Any]]:
        """JSON schemas (OpenAI function-tool form) of `tools`, for a chat template or an API request."""
        return tool_schemas(self.tools)

    def available_actions(self, phase: str | None = None) -> list[str]:
        """The action tags accepted now (or in `phase`, "answer" or "reflect"): `info["available_actions"]`."""
        if (phase or self._phase) == REFLECT_PHASE:
            return [REFLECTION, NO_INFORMATION]
        tags = [PREDICT_ANSWER]
        if self.use_tools:
            tags.append(SEARCH_PRODUCT)
        if self.use_advice:
            tags.append(SEEK_ADVICE)
        return tags

    def expected_format(self, phase: str | None = None) -> str:
        """How to write an accepted action now (or in `phase`), in words: `info["expected_format"]`."""
        if (phase or self._phase) == REFLECT_PHASE:
            return f"'{REFLECTION}: <general knowledge learned from the advice>' or '{NO_INFORMATION}'"
        formats = [f"'{PREDICT_ANSWER}' then '{ANSWER_TAG} <answer>' (optionally '{SHORT_ANSWER} <short answer>')"]
        if self.use_tools:
            formats.append(f"'{SEARCH_PRODUCT}' then '[SQL]: SELECT product_id FROM <table> WHERE ...'")
        if self.use_advice:
            formats.append(f"'{SEEK_ADVICE}' (costs {self.advice_cost:g} of the question's reward)")
        return "one of: " + "; or ".join(formats)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, Info]:
        """Start a session: memory back to its preloaded state, questions ordered (shuffled from `seed` when
        `shuffle`), metrics zeroed. Returns the first question's observation and an `Info`. `options` is unused."""
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
        self._view.reset()
        observation = self._present(self._question_observation(""), "", "")
        return observation, self._info()

    def step(self, action: str) -> tuple[str, float, bool, bool, StepInfo]:
        """Execute one agent message (see Action Space) and return (observation, reward, terminated, truncated,
        `StepInfo`). Raises RuntimeError after the session ended (call `reset`) and, with `action_format="tags"`,
        TypeError for a non-text action; any text (or, with "tools", any value), however malformed, is a valid
        input (an invalid action)."""
        if self._done:
            raise RuntimeError("the session is over: call reset() before step()")
        tool = None
        if isinstance(action, bytes):
            action = action.decode("utf-8", errors="replace")
        # A tool call's text is not parsed when it is over the limit; one given as a dict is checked as the action
        # text it becomes (its arguments can be any size), so both formats store and echo at most the limit.
        if self.action_format == "tools" and not (isinstance(action, str) and len(action) > MAX_ACTION_LENGTH):
            tool, arguments = parse_tool_call(action)
            action = action_text(tool, arguments)
        if not isinstance(action, str):
            raise TypeError(f"actions are text: expected str, got {type(action).__name__}")
        if len(action) > MAX_ACTION_LENGTH:  # outside the action space: read none of it, store none of it
            parsed: Action = InvalidAction(
                f"the action is {len(action):,} characters long; the limit is {MAX_ACTION_LENGTH:,}")
            action = encodable_text(action[:2000])
        else:
            action = encodable_text(action)  # what it stores comes back in observations, memory and files as UTF-8
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
        shown = outcome.feedback if tool is None or tool in TOOL_NAMES else unknown_tool_note(tool) + outcome.feedback
        return self._present(observation, shown, outcome.feedback), reward, terminated, truncated, info

    def _present(self, observation: str, shown: str, feedback: str) -> str:
        """The observation as the `action_format` / `observation` options show it (unchanged by default)."""
        if self.action_format == "tags" and self.observation_mode == "state":
            return observation
        return self._view.present(self, observation, shown, feedback)

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
            feedback=f"Invalid reflection ({reason}); nothing was stored. "
            f"Expected {self.expected_format(REFLECT_PHASE)}.",
        )

    def _question_observation(self, feedback: str) -> str:
        if self._position >= len(self._items):
            self._done = True
            summary = self._metrics.snapshot()
            text = (
                f"The session is over: {summary[QUESTIONS]} questions, accuracy {summary[ACCURACY]:.3f}, "
                f"advice rate {summary[ADVICE_RATE]:.3f}, total score {summary[TOTAL_SCORE]:.3f}."
            )
            self._retrieved = Retrieved()
            self._log(text)
            return self._with_feedback(feedback, text)
        item = self._items[self._position]
        if self.use_memory:
            self._retrieved = self.memory.retrieve(
                item.question.question, self._history_key(item), item.scope, self.history_k, self.knowledge_k,
                self.memory_token_budget, self._count_tokens,
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
            lines += [entry.render() for entry, _ in retrieved.history]
        if retrieved.knowledge:
            lines.append("Knowledge:")
            lines += [render_knowledge(text) for text, _ in retrieved.knowledge]
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
        """Gold knowledge of the question now in the observation (see ExpertView); RuntimeError when none is open."""
        if self._done:
            raise RuntimeError("no question is open: call reset()")
        item = self._items[self._position]
        lesson = self._expert_reflection(item)
        return ExpertView(
            question=item.question,
            scope=item.scope,
            phase=self._phase,
            answer_action=self._gold_action(item),
            advice_action=SEEK_ADVICE,
            reflection_action=f"{REFLECTION}: {lesson}" if lesson else NO_INFORMATION,
            retrieved=self._retrieved,
            answer_visible=self._answer_visible(item),
        )

    def similar_questions(self, threshold: float | None = None) -> tuple[int, int]:
        """(later, earlier): questions of this session similar to the open one that come after it, and that
        came before it (and so are in memory; 0 with `memory=False`). Similar means the same scope and, with a
        lexical retriever, a Jaccard overlap of at least `threshold` (default `JACCARD_THRESHOLD`) between their
        stemmed word sets; with `retriever="dense"` or `"hybrid"`, as the paper, a cosine similarity of at least
        `threshold` (default `COSINE_THRESHOLD`) between the questions' sentence embeddings
        (`agile_gym.memory.similarity`). These are N and M of the paper's heuristic state advantage (Appendix A;
        `agile_gym.wrappers.SessionAdvantage`). Counted once per session and threshold, then looked up.
        RuntimeError when no question is open."""
        if self._done:
            raise RuntimeError("no question is open: call reset()")
        if threshold is None:
            threshold = COSINE_THRESHOLD if self._embedding_similarity else JACCARD_THRESHOLD
        if self._similar is None or self._similar[0] != threshold:
            texts = [item.question.question for item in self._items]
            scopes = [item.scope for item in self._items]
            if self._embedding_similarity:
                counts = embedding_similarity_counts(texts, scopes, threshold)
            else:
                counts = similarity_counts(texts, scopes, threshold)
            self._similar = (threshold, *counts)
        _, later, earlier = self._similar
        return int(later[self._position]), int(earlier[self._position]) if self.use_memory else 0

    def _log(self, line: str) -> None:
        self._transcript.append(line)
        del self._transcript[:-200]

    def render(self) -> str | None:
        """With `render_mode="ansi"` the session transcript (its last 200 entries, one per line); else None."""
        if self.render_mode == "ansi":
            return "\n".join(self._transcript) + "\n"
        return None


__all__ = ["AgileEnv", "ExpertView", "Outcome", "SessionItem"]
