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

`ToolCalls` is all of this as a Gymnasium wrapper (a tool call as the action; `check_env` passes on it);
`ToolSession` is that wrapper plus the session's bookkeeping (rewards, score), the form the trainer adapters use.
No route to the gold: a `ToolSession` holds its env privately (`_env`) and has no method that reaches
`expert()`, `similar_questions()` or a gold field; tool results are observations the env would show anyway.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

import gymnasium

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
from agile_gym.contract import ANSWER_PHASE, FEEDBACK, METRICS, REFLECT_PHASE, RESULT
from agile_gym.executor import MAX_ACTION_LENGTH, MAX_OBSERVATION_LENGTH
from agile_gym.spaces import FreeText

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


def parse_tool_call(action: Any) -> tuple[str, dict[str, Any]]:
    """`(name, arguments)` of a tool call given as a dict or its JSON text (`{"name": ..., "arguments": {...}}`,
    arguments possibly JSON text themselves; OpenAI's `{"function": {...}}` form too). Anything else is `("", {})`,
    which the env scores as an invalid action. Never raises."""
    if isinstance(action, (str, bytes)):
        try:
            action = json.loads(action)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return "", {}
    if not isinstance(action, dict):
        return "", {}
    action = action.get("function", action) if isinstance(action.get("function"), dict) else action
    arguments = action.get("arguments") or {}
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            arguments = {}
    name = action.get("name")
    return (name if isinstance(name, str) else ""), (arguments if isinstance(arguments, dict) else {})


class ToolCalls(gymnasium.Wrapper, gymnasium.utils.RecordConstructorArgs):
    """An agile env acted on by tool calls, with tool-worded (and by default delta) observations (module docstring).

    Action: a tool call as a dict or its JSON text, `{"name": "answer", "arguments": {"answer": "..."}}`
    (`parse_tool_call`); anything else, an unknown tool included, is the env's invalid action (a wrong answer,
    reward 0). Observation: text, as the module docstring says; `observation="state"` keeps the whole prompt.
    Rewards, termination and `info` are the env's, unchanged. `tools` names the tools offered and
    `tool_schemas()` gives their JSON schemas. ValueError for an `observation` other than "delta" or "state".
    """

    def __init__(self, env: gymnasium.Env, observation: Observation = "delta"):
        gymnasium.utils.RecordConstructorArgs.__init__(self, observation=observation)  # so spec round trips work
        gymnasium.Wrapper.__init__(self, env)
        if observation not in ("delta", "state"):
            raise ValueError(f"observation must be 'delta' or 'state', got {observation!r}")
        self.observation = observation
        examples = [json.dumps({"name": name, "arguments": example}) for name, example in
                    ((ANSWER_TOOL, {"answer": "yes"}), (SEARCH_TOOL, {"sql": "SELECT product_id FROM products"}),
                     (ADVICE_TOOL, {}), (REFLECT_TOOL, {"knowledge": ""})) if name in self.tools]
        self.action_space = FreeText(MAX_ACTION_LENGTH, examples=examples)
        self._shown = ""

    @property
    def tools(self) -> tuple[str, ...]:
        """The tools this env offers (in any phase): answer always, search with the task's tool, advice, reflect
        when the env asks for reflections."""
        env = self.env.unwrapped
        offered = {ANSWER_TOOL: True, SEARCH_TOOL: env.use_tools, ADVICE_TOOL: env.use_advice,
                   REFLECT_TOOL: env.use_reflection and (env.use_advice or env.reflect_every_question)}
        return tuple(name for name, on in offered.items() if on)

    def tool_schemas(self) -> list[dict[str, Any]]:
        """The JSON schemas of `tools` (`tool_schemas`), for a chat template or an API request."""
        return tool_schemas(self.tools)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        observation, info = self.env.reset(seed=seed, options=options)
        self._shown = ""
        return self._observe(observation, ""), info

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict]:
        name, arguments = parse_tool_call(action)
        observation, reward, terminated, truncated, info = self.env.step(action_text(name, arguments))
        feedback = info[RESULT][FEEDBACK]
        shown = feedback if name in TOOL_NAMES else f"Unknown tool {name!r}. {feedback}"
        return self._observe(observation, shown, feedback), reward, terminated, truncated, info

    def _tool_line(self, phase: str) -> str:
        names = [name for name in self.tools if (name == REFLECT_TOOL) == (phase == REFLECT_PHASE)]
        cost = (f" ({ADVICE_TOOL} costs {self.env.unwrapped.advice_cost:g} of the question's reward)"
                if ADVICE_TOOL in names else "")
        return f"a call of one of the tools {', '.join(names)}{cost}"

    def _observe(self, observation: str, feedback: str, env_feedback: str | None = None) -> str:
        env = self.env.unwrapped
        prefix = f"Result of your previous action: {env_feedback}\n\n" if env_feedback else ""
        had_prefix = bool(prefix) and observation.startswith(prefix)  # a reflection request holds its feedback
        body = observation[len(prefix):] if had_prefix else observation
        feedback = feedback if had_prefix else ""
        for phase in (ANSWER_PHASE, REFLECT_PHASE):
            body = body.replace(env.expected_format(phase), self._tool_line(phase))
            feedback = feedback.replace(env.expected_format(phase), self._tool_line(phase))
        body = body.replace(
            f"write '{REFLECTION}: <the knowledge>'; otherwise write '{NO_INFORMATION}'",
            f"call {REFLECT_TOOL} with that knowledge; otherwise call {REFLECT_TOOL} with empty knowledge")
        if self.observation == "state":
            text = f"Result of your previous action: {feedback}\n\n{body}" if feedback else body
        elif env._phase == REFLECT_PHASE:  # the reflection request is short and shown whole; the prompt stays
            text = body
        else:
            new_lines, old_lines = body.split("\n"), self._shown.split("\n")
            same = 0
            while same < min(len(new_lines), len(old_lines)) and new_lines[same] == old_lines[same]:
                same += 1
            self._shown = body
            text = "\n\n".join(part for part in (feedback, "\n".join(new_lines[same:]).strip("\n")) if part)
        return text[:MAX_OBSERVATION_LENGTH]


class ToolSession:
    """One session of an `agile/` env, acted on through tool calls: a `ToolCalls`-wrapped env plus the session's
    bookkeeping, the form the trainer adapters want.

    Args:
        env_id: a registered id (`agile/ProductQA-v2`, `agile/MedMCQA-v2`).
        observation: "delta" (feedback plus what changed since the last prompt) or "state" (the whole prompt).
        **env_kwargs: passed to `gymnasium.make` (`max_questions`, `shuffle`, `advice_cost`, `data_dir`, ...).

    `reset(seed)` starts a session and returns its first observation; `call(name, arguments)` acts and returns the
    tool result; `done`, `rewards`, `score` and `metrics` report the session. Calls after the session ended return
    a message and step nothing. ValueError for an unknown `observation`; the env raises for bad env kwargs.
    """

    def __init__(self, env_id: str = "agile/ProductQA-v2", *, observation: Observation = "delta", **env_kwargs):
        import agile_gym  # noqa: F401  (registers the ids)

        self.env_id = env_id
        self._env = ToolCalls(gymnasium.make(env_id, **env_kwargs), observation)
        self.done, self.rewards, self.metrics = True, [], {}

    @property
    def tools(self) -> tuple[str, ...]:
        """The tools this env offers (`ToolCalls.tools`)."""
        return self._env.tools

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
        self.done, self.rewards, self.metrics = False, [], info.get(METRICS, {})
        return observation

    def call(self, name: str, arguments: dict[str, Any] | str | None = None) -> str:
        """Act with tool `name` and return what the model sees next: the feedback and the new observation. Any name
        and arguments are accepted (unknown or malformed ones are the env's invalid actions). Never raises."""
        if self.done:
            return "The session is over: no more actions are taken."
        observation, reward, terminated, truncated, info = self._env.step({"name": name, "arguments": arguments})
        self.rewards.append(float(reward))
        self.metrics = info.get(METRICS, self.metrics)
        self.done = bool(terminated or truncated)
        return observation

    def close(self) -> None:
        """Release the env's resources (ProductQA's SQL worker processes); the session's record stays readable.
        Safe to call twice; a later `reset` or search reopens what it needs."""
        self._env.close()
