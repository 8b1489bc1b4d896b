"""One agile session driven by function-tool calls, with observations written for a conversation.

The environments take bracket-tagged text (`[PredictAnswer]` ...) and show the whole state each step. Trainers that
keep a conversation and let the model call functions (TRL, verifiers, OpenEnv consumers) want two other things,
which `ToolSession` provides on top of an unchanged env:

- **Tool-call actions.** Each action is a function tool with a JSON schema (`tool_schemas`): `answer(answer,
  short_answer)`, `search_products(sql)` (tasks with tools), `seek_advice()`, `reflect(knowledge)` (an empty
  `knowledge` is `[NoInformation]`). `call(name, arguments)` turns the call into the env's action text
  (`action_text`) and steps the env, so rewards, grading and memory are exactly the env's. Tags inside arguments
  are defused (`[SeekAdvice]` -> `(SeekAdvice)`): an argument cannot become another action.
- **Tool observations.** The instruction line that asks for bracket tags becomes one that names the tools, and the
  env's invalid-action feedback names them too.
- **Delta observations** (`observation="delta"`, the default): a call returns the step's feedback and only the
  lines of the new prompt that differ from the prompt shown before (the instructions and table schema are shown
  once per category), instead of the whole state again. `observation="state"` returns the whole observation.

No route to the gold: a `ToolSession` holds its env privately (`_env`) and has no method that reaches
`expert()`, `similar_questions()` or a gold field; tool results are observations the env would show anyway.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from agile_gym.actions import (
    ANSWER,
    NO_INFORMATION,
    PREDICT_ANSWER,
    REFLECTION,
    SEARCH_PRODUCT,
    SEEK_ADVICE,
    SHORT_ANSWER,
    SQL,
)
from agile_gym.contract import ANSWER_PHASE, FEEDBACK, REFLECT_PHASE, RESULT

ANSWER_TOOL, SEARCH_TOOL, ADVICE_TOOL, REFLECT_TOOL = "answer", "search_products", "seek_advice", "reflect"
TOOL_NAMES = (ANSWER_TOOL, SEARCH_TOOL, ADVICE_TOOL, REFLECT_TOOL)
Observation = Literal["delta", "state"]

_STRING = {"type": "string"}
_DESCRIPTIONS = {
    ANSWER_TOOL: ("Answer the open question. It is graded now and the next question follows.",
                  {"answer": (_STRING, "The full answer to the customer or the question."),
                   "short_answer": (_STRING, "Optional: the short form that is graded (an option letter, product ids,"
                                             " yes/no); empty to grade the full answer.")},
                  ["answer"]),
    SEARCH_TOOL: ("Run a read-only SQL SELECT over the category's product table; returns the matching product ids.",
                  {"sql": (_STRING, "One SELECT statement, e.g. SELECT product_id FROM kettles WHERE price < 50")},
                  ["sql"]),
    ADVICE_TOOL: ("Ask the expert for the answer. It counts as correct but costs part of the question's reward.",
                  {}, []),
    REFLECT_TOOL: ("After advice: store general knowledge learned from it in memory (empty: store nothing).",
                   {"knowledge": (_STRING, "A general lesson for other questions, or empty.")},
                   []),
}
_TAG = re.compile(r"\[(PredictAnswer|SearchProduct|SeekAdvice|Reflection|NoInformation|Answer|Short Answer|SQL)\]")


def tool_schemas(names: tuple[str, ...] = TOOL_NAMES) -> list[dict[str, Any]]:
    """OpenAI-style function tools (`{"type": "function", "function": {name, description, parameters}}`) for
    `names`, the JSON schemas a chat template or an API request takes. KeyError for a name not in `TOOL_NAMES`."""
    schemas = []
    for name in names:
        description, properties, required = _DESCRIPTIONS[name]
        parameters = {"type": "object", "properties": {key: {**kind, "description": text}
                                                       for key, (kind, text) in properties.items()},
                      "required": list(required)}
        schemas.append({"type": "function", "function": {"name": name, "description": description,
                                                         "parameters": parameters}})
    return schemas


def _defused(value: Any) -> str:
    return _TAG.sub(r"(\1)", value if isinstance(value, str) else json.dumps(value))


def action_text(name: str, arguments: dict[str, Any] | str | None = None) -> str:
    """The env's action text for a tool call. `arguments` may be a dict or its JSON text; a missing argument is
    empty (the env then answers with its invalid-action feedback). An unknown `name` gives text with no action tag,
    which the env scores as an invalid action. Never raises."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            arguments = {}
    arguments = arguments if isinstance(arguments, dict) else {}
    if name == ANSWER_TOOL:
        short = _defused(arguments.get("short_answer") or "").strip()
        text = f"{PREDICT_ANSWER}\n{ANSWER} {_defused(arguments.get('answer') or '').strip()}"
        return f"{text}\n{SHORT_ANSWER} {short}" if short else text
    if name == SEARCH_TOOL:
        return f"{SEARCH_PRODUCT}\n{SQL} {_defused(arguments.get('sql') or '').strip()}"
    if name == ADVICE_TOOL:
        return SEEK_ADVICE
    if name == REFLECT_TOOL:
        knowledge = _defused(arguments.get("knowledge") or "").strip()
        return f"{REFLECTION}: {knowledge}" if knowledge else NO_INFORMATION
    return f"(unknown tool {_defused(name)!r})"


class ToolSession:
    """One session of an `agile/` env, acted on through tool calls (module docstring).

    Args:
        env_id: a registered id (`agile/ProductQA-v2`, `agile/MedMCQA-v2`).
        observation: "delta" (feedback plus what changed since the last prompt) or "state" (the whole prompt).
        **env_kwargs: passed to `gymnasium.make` (`max_questions`, `shuffle`, `advice_cost`, `data_dir`, ...).

    `reset(seed)` starts a session and returns its first observation; `call(name, arguments)` acts and returns the
    tool result; `done`, `rewards`, `score` and `metrics` report the session. Calls after the session ended return
    a message and step nothing. ValueError for an unknown `observation`; the env raises for bad env kwargs.
    """

    def __init__(self, env_id: str = "agile/ProductQA-v2", *, observation: Observation = "delta", **env_kwargs):
        import gymnasium

        import agile_gym  # noqa: F401  (registers the ids)

        if observation not in ("delta", "state"):
            raise ValueError(f"observation must be 'delta' or 'state', got {observation!r}")
        self.env_id, self.observation = env_id, observation
        self._env = gymnasium.make(env_id, **env_kwargs)
        self._shown = ""
        self.done, self.rewards, self.metrics = True, [], {}

    @property
    def tools(self) -> tuple[str, ...]:
        """The tools this env offers (in any phase): answer always, search with the task's tool, advice, reflect
        when the env asks for reflections."""
        env = self._env.unwrapped
        offered = {ANSWER_TOOL: True, SEARCH_TOOL: env.use_tools, ADVICE_TOOL: env.use_advice,
                   REFLECT_TOOL: env.use_reflection and (env.use_advice or env.reflect_every_question)}
        return tuple(name for name, on in offered.items() if on)

    @property
    def session_length(self) -> int:
        """Questions in this session (after `reset`; `max_questions` when that is fewer)."""
        return len(self._env.unwrapped._items)

    @property
    def steps(self) -> int:
        """Env steps taken in this session (one per tool call before it ended)."""
        return len(self.rewards)

    @property
    def score(self) -> float:
        """The session's total score: summed rewards / questions in the session, in [0, 1]. Questions left
        unanswered count 0, so a finished session scores the env's `total_score`."""
        return sum(self.rewards) / max(1, self.session_length)

    def reset(self, seed: int | None = None) -> str:
        """Start a session (the env's `reset(seed=seed)`) and return the first observation, tool-worded."""
        observation, info = self._env.reset(seed=seed)
        self.done, self.rewards, self.metrics = False, [], info.get("metrics", {})
        self._shown = ""
        return self._observe(observation, "")

    def call(self, name: str, arguments: dict[str, Any] | str | None = None) -> str:
        """Act with tool `name` and return what the model sees next: the feedback and the new observation. Any name
        and arguments are accepted (unknown or malformed ones are the env's invalid actions). Never raises."""
        if self.done:
            return "The session is over: no more actions are taken."
        observation, reward, terminated, truncated, info = self._env.step(action_text(name, arguments))
        self.rewards.append(float(reward))
        self.metrics = info.get("metrics", self.metrics)
        self.done = bool(terminated or truncated)
        feedback = info[RESULT][FEEDBACK]
        if name not in TOOL_NAMES:
            feedback = f"Unknown tool {name!r}. {feedback}"
        return self._observe(observation, feedback, info[RESULT][FEEDBACK])

    def _tool_line(self, phase: str) -> str:
        env = self._env.unwrapped
        names = [name for name in self.tools if (name == REFLECT_TOOL) == (phase == REFLECT_PHASE)]
        cost = f" ({ADVICE_TOOL} costs {env.advice_cost:g} of the question's reward)" if ADVICE_TOOL in names else ""
        return f"a call of one of the tools {', '.join(names)}{cost}"

    def _observe(self, observation: str, feedback: str, env_feedback: str | None = None) -> str:
        env = self._env.unwrapped
        prefix = f"Result of your previous action: {env_feedback}\n\n" if env_feedback else ""
        body = observation[len(prefix):] if prefix and observation.startswith(prefix) else observation
        for phase in (ANSWER_PHASE, REFLECT_PHASE):
            body = body.replace(env.expected_format(phase), self._tool_line(phase))
            feedback = feedback.replace(env.expected_format(phase), self._tool_line(phase))
        body = body.replace(
            f"write '{REFLECTION}: <the knowledge>'; otherwise write '{NO_INFORMATION}'",
            f"call {REFLECT_TOOL} with that knowledge; otherwise call {REFLECT_TOOL} with empty knowledge")
        if self.observation == "state":
            return f"Result of your previous action: {feedback}\n\n{body}" if feedback else body
        if env._phase == REFLECT_PHASE:  # the reflection request is short and shown whole; the prompt stays
            return "\n\n".join(part for part in (feedback, body) if part)
        new_lines, old_lines = body.split("\n"), self._shown.split("\n")
        same = 0
        while same < min(len(new_lines), len(old_lines)) and new_lines[same] == old_lines[same]:
            same += 1
        self._shown = body
        delta = "\n".join(new_lines[same:]).strip("\n")
        return "\n\n".join(part for part in (feedback, delta) if part)
