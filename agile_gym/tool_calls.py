"""Tool-call actions and conversation-shaped observations: the `action_format="tools"` and `observation="delta"`
options of every agile env (`AgileEnv`), and of the `ToolCalls` wrapper (`agile_gym.integrations.tool_session`).

- **Tool calls.** Each action is a function tool with a JSON schema (`tool_schemas`): `answer(answer,
  short_answer)`, `search_products(sql)` (tasks with tools), `seek_advice()`, `reflect(knowledge)` (an empty
  `knowledge` is `[NoInformation]`). A call, `{"name": ..., "arguments": {...}}` as a dict or its JSON text
  (`parse_tool_call`), becomes the env's action text (`action_text`), so rewards, grading and memory are exactly
  the tagged action's. Tags inside arguments are defused (`[SeekAdvice]` -> `(SeekAdvice)`): an argument cannot
  become another action.
- **Tool-worded observations.** The instruction line that asks for bracket tags names the tools instead, and so
  does the invalid-action feedback (`ObservationView`).
- **Delta observations.** The step's feedback and the new prompt from its first line that differs from the prompt
  shown before: instructions and table schema appear once per scope; what follows the first change (the product
  block, retrieved memory, the question) is shown again. For trainers that keep the whole conversation; "state"
  shows the whole prompt each step.

Needs nothing beyond the standard library and the env's own modules; it never reaches the expert hook or a gold
field: it rewrites text the env shows anyway.
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
from agile_gym.contract import ANSWER_PHASE, REFLECT_PHASE

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


_NAME_SHOWN = 80  # characters of an unknown tool's name echoed back to the agent


def _loads(text: str | bytes) -> Any:
    """JSON text as Python values; None for text that is not JSON. Besides JSONDecodeError, json.loads raises
    RecursionError for deep nesting ('[' * 100000) and ValueError for an integer of more than 4300 digits; bytes
    are UTF-8, what is not becomes U+FFFD (as the env's Action Space says)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
        return None


def _filled(value: Any) -> bool:
    """`bool(value)`, False where that raises (a numpy array of several items, an object whose __bool__ fails)."""
    try:
        return bool(value)
    except Exception:
        return False


def _defused(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if not isinstance(value, str):
        try:  # a policy's argument may be any value: nested deeper than json can write, a set, a huge int, ...
            value = json.dumps(value, default=repr)
        except Exception:
            value = ""  # nothing that can be read as text: the argument is missing (the env's invalid action)
    return _TAG.sub(r"(\1)", value)


def _argument(arguments: dict[str, Any], key: str) -> str:
    value = arguments.get(key)
    return _defused(value).strip() if _filled(value) else ""


def unknown_tool_note(name: str) -> str:
    """The note an observation shows before the feedback of a call of `name`, a tool not in `TOOL_NAMES`: the
    name quoted, its first 80 characters at most (a long name must not push the prompt out of the observation)."""
    more = "..." if len(name) > _NAME_SHOWN else ""
    return f"Unknown tool {name[:_NAME_SHOWN]!r}{more}. "


def action_text(name: str, arguments: dict[str, Any] | str | bytes | None = None) -> str:
    """The env's action text for a tool call. `arguments` may be a dict or its JSON text; a missing argument is
    empty (the env then answers with its invalid-action feedback). An unknown `name` gives text with no action tag,
    which the env scores as an invalid action. Never raises."""
    if isinstance(arguments, (str, bytes)):
        arguments = _loads(arguments)
    arguments = arguments if isinstance(arguments, dict) else {}
    if name == ANSWER_TOOL:
        short = _argument(arguments, "short_answer")
        text = f"{PREDICT_ANSWER}\n{ANSWER} {_argument(arguments, 'answer')}"
        return f"{text}\n{SHORT_ANSWER} {short}" if short else text
    if name == SEARCH_TOOL:
        return f"{SEARCH_PRODUCT}\n{SQL} {_argument(arguments, 'sql')}"
    if name == ADVICE_TOOL:
        return SEEK_ADVICE
    if name == REFLECT_TOOL:
        knowledge = _argument(arguments, "knowledge")
        return f"{REFLECTION}: {knowledge}" if knowledge else NO_INFORMATION
    return f"(unknown tool {_defused(name)[:_NAME_SHOWN]!r})"


def parse_tool_call(action: Any) -> tuple[str, dict[str, Any]]:
    """`(name, arguments)` of a tool call given as a dict or its JSON text (`{"name": ..., "arguments": {...}}`,
    arguments possibly JSON text themselves; OpenAI's `{"function": {...}}` form too; bytes are UTF-8, what is not
    becomes U+FFFD). Anything else (text that is not JSON, JSON nested too deep to read, any other type) is
    `("", {})`, which the env scores as an invalid action. Never raises."""
    if isinstance(action, (str, bytes)):
        action = _loads(action)
    if not isinstance(action, dict):
        return "", {}
    action = action.get("function", action) if isinstance(action.get("function"), dict) else action
    arguments = action.get("arguments")
    if isinstance(arguments, (str, bytes)):
        arguments = _loads(arguments)
    name = action.get("name")
    return (name if isinstance(name, str) else ""), (arguments if isinstance(arguments, dict) else {})


# The invalid-action reasons the parser (`agile_gym.actions`) and the executor give, worded for tool calls: an agent
# acting by tool calls must not be told to write bracket tags (tests/agile_gym/test_tool_call_hostile.py checks
# that no tag reaches a tools observation, so a reworded reason shows up there).
_TOOL_REASONS = (
    (f"{PREDICT_ANSWER} needs '{ANSWER} <answer>' with a non-empty answer",
     f"{ANSWER_TOOL} needs a non-empty 'answer' argument"),
    (f"{SEARCH_PRODUCT} needs '{SQL} SELECT ...' with a non-empty query",
     f"{SEARCH_TOOL} needs a non-empty 'sql' argument, one SELECT"),
    (f"{REFLECTION} and {NO_INFORMATION} are only accepted after advice",
     f"{REFLECT_TOOL} is only accepted after advice"),
    (f"{SEEK_ADVICE} is switched off in this environment", f"{ADVICE_TOOL} is not offered in this environment"),
    (f"{SEARCH_PRODUCT} is not available in this environment", f"{SEARCH_TOOL} is not offered in this environment"),
    ("no action tag found", "not a call of an offered tool"),
    ("(PredictAnswer is not a reflection", f"({ANSWER_TOOL} is not a reflection"),
    ("(SearchProduct is not a reflection", f"({SEARCH_TOOL} is not a reflection"),
    ("(SeekAdvice is not a reflection", f"({ADVICE_TOOL} is not a reflection"),
)

ActionFormat = Literal["tags", "tools"]
ACTION_FORMATS: tuple[str, ...] = ("tags", "tools")
OBSERVATIONS: tuple[str, ...] = ("state", "delta")
_PREVIOUS = "Result of your previous action: "


def offered_tools(env: Any) -> tuple[str, ...]:
    """The tools an agile env (its `unwrapped`) offers in any phase: answer always, search with the task's tool,
    advice, reflect when the env asks for reflections."""
    offered = {ANSWER_TOOL: True, SEARCH_TOOL: env.use_tools, ADVICE_TOOL: env.use_advice,
               REFLECT_TOOL: env.use_reflection and (env.use_advice or env.reflect_every_question)}
    return tuple(name for name, on in offered.items() if on)


def tool_call_examples(names: tuple[str, ...]) -> list[str]:
    """One well-formed call (JSON text) per tool in `names`, for an action space to sample."""
    examples = ((ANSWER_TOOL, {"answer": "yes"}), (SEARCH_TOOL, {"sql": "SELECT product_id FROM products"}),
                (ADVICE_TOOL, {}), (REFLECT_TOOL, {"knowledge": ""}))
    return [json.dumps({"name": name, "arguments": example}) for name, example in examples if name in names]


class ObservationView:
    """Turns an agile env's observations into what a tool-calling or conversation-keeping agent sees.

    `observation`: "state" (the whole prompt each step) or "delta" (feedback plus the prompt lines that changed
    since the last one shown; the reflection request is short and shown whole). `tools`: word the instructions and
    feedback for tool calls instead of bracket tags. `limit`: the most characters returned. Holds what was shown
    last, so one view serves one env; `reset()` at each episode start. ValueError for another `observation`."""

    def __init__(self, observation: str, tools: bool, limit: int) -> None:
        if observation not in OBSERVATIONS:
            raise ValueError(f"observation must be one of {OBSERVATIONS}, got {observation!r}")
        self.observation, self.tools, self.limit = observation, tools, limit
        self._shown = ""

    def reset(self) -> None:
        """Forget what was shown (a new episode shows its first prompt whole)."""
        self._shown = ""

    def present(self, env: Any, observation: str, feedback: str, env_feedback: str | None = None) -> str:
        """What the agent sees for `observation`, which the env (`unwrapped`) just returned: `feedback` is the
        step's feedback as the agent should read it (the env's `env_feedback`, possibly with a note before it)."""
        prefix = f"{_PREVIOUS}{env_feedback}\n\n" if env_feedback else ""
        had_prefix = bool(prefix) and observation.startswith(prefix)  # a reflection request holds its feedback
        body = observation[len(prefix):] if had_prefix else observation
        feedback = feedback if had_prefix else ""
        if self.tools:
            for phase in (ANSWER_PHASE, REFLECT_PHASE):
                body = body.replace(env.expected_format(phase), _tool_line(env, phase))
                feedback = feedback.replace(env.expected_format(phase), _tool_line(env, phase))
            if feedback.startswith(("Invalid action (", "Invalid reflection (", "Unknown tool ")):
                for tags, tools in _TOOL_REASONS:
                    feedback = feedback.replace(tags, tools)
            body = body.replace(
                f"write '{REFLECTION}: <the knowledge>'; otherwise write '{NO_INFORMATION}'",
                f"call {REFLECT_TOOL} with that knowledge; otherwise call {REFLECT_TOOL} with empty knowledge")
        if self.observation == "state":
            text = f"{_PREVIOUS}{feedback}\n\n{body}" if feedback else body
        elif env._phase == REFLECT_PHASE:
            text = body
        else:
            new_lines, old_lines = body.split("\n"), self._shown.split("\n")
            same = 0
            while same < min(len(new_lines), len(old_lines)) and new_lines[same] == old_lines[same]:
                same += 1
            self._shown = body
            text = "\n\n".join(part for part in (feedback, "\n".join(new_lines[same:]).strip("\n")) if part)
        return text[: self.limit]


def _tool_line(env: Any, phase: str) -> str:
    names = [name for name in offered_tools(env) if (name == REFLECT_TOOL) == (phase == REFLECT_PHASE)]
    cost = f" ({ADVICE_TOOL} costs {env.advice_cost:g} of the question's reward)" if ADVICE_TOOL in names else ""
    if len(names) == 1:
        return f"a call of the tool {names[0]}{cost}"
    return f"a call of one of the tools {', '.join(names)}{cost}"
