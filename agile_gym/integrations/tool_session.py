"""One agile session driven by function-tool calls, with observations written for a conversation.

Every agile env takes the options `action_format="tools"` (a function-tool call as the action) and
`observation="delta"` (only what is new since the last action); `agile_gym.tool_calls` holds the tools, their
JSON schemas and the wording (its names are re-exported here). This module adds two forms of the same thing:

- `ToolCalls`, a Gymnasium wrapper giving an env built with the default options (tags, whole state) tool-call
  actions and tool-worded observations, delta by default (`check_env` passes on it): for an env you did not make.
- `ToolSession`, an env with those options plus the session's bookkeeping (rewards, score, metrics), the form the
  trainer adapters (TRL, OpenEnv, verifiers, verl) use: `call(name, arguments)` acts and returns the tool result.

No route to the gold: a `ToolSession` holds its env privately (`_env`) and has no method that reaches
`expert()`, `similar_questions()` or a gold field; tool results are observations the env would show anyway.
"""

from __future__ import annotations

from typing import Any

import gymnasium

from agile_gym.contract import FEEDBACK, METRICS, RESULT
from agile_gym.executor import MAX_ACTION_LENGTH, MAX_OBSERVATION_LENGTH
from agile_gym.spaces import FreeText
from agile_gym.tool_calls import (  # noqa: F401  (re-exported: the adapters' and users' names for them)
    ADVICE_TOOL,
    ANSWER_TOOL,
    REFLECT_TOOL,
    SEARCH_TOOL,
    TOOL_NAMES,
    Observation,
    ObservationView,
    action_text,
    offered_tools,
    parse_tool_call,
    tool_call_examples,
    tool_schemas,
    unknown_tool_note,
)


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
        inner = env.unwrapped
        if getattr(inner, "action_format", "tags") != "tags" or getattr(inner, "observation_mode", "state") != "state":
            raise ValueError("this env already takes tool calls or shows delta observations (its action_format / "
                             "observation options); use it as it is, without ToolCalls")
        self.observation = observation
        self._view = ObservationView(observation, tools=True, limit=MAX_OBSERVATION_LENGTH)
        self.action_space = FreeText(MAX_ACTION_LENGTH, examples=tool_call_examples(self.tools))

    @property
    def tools(self) -> tuple[str, ...]:
        """The tools this env offers (in any phase; `agile_gym.tool_calls.offered_tools`)."""
        return offered_tools(self.env.unwrapped)

    def tool_schemas(self) -> list[dict[str, Any]]:
        """The JSON schemas of `tools` (`tool_schemas`), for a chat template or an API request."""
        return tool_schemas(self.tools)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        observation, info = self.env.reset(seed=seed, options=options)
        self._view.reset()
        return self._view.present(self.env.unwrapped, observation, ""), info

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict]:
        if isinstance(action, bytes):
            action = action.decode("utf-8", errors="replace")
        # Text over the env's limit is not parsed: the env reads none of it (its invalid action), as with the option.
        too_long = isinstance(action, str) and len(action) > MAX_ACTION_LENGTH
        name, arguments = ("", {}) if too_long else parse_tool_call(action)
        observation, reward, terminated, truncated, info = self.env.step(
            action if too_long else action_text(name, arguments))
        feedback = info[RESULT][FEEDBACK]
        shown = feedback if too_long or name in TOOL_NAMES else unknown_tool_note(name) + feedback
        return self._view.present(self.env.unwrapped, observation, shown, feedback), reward, terminated, truncated, info


class ToolSession:
    """One session of an `agile/` env, acted on through tool calls: the env made with `action_format="tools"` plus
    the session's bookkeeping, the form the trainer adapters want.

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
        self._env = gymnasium.make(env_id, action_format="tools", observation=observation, **env_kwargs)
        self.done, self.rewards, self.metrics = True, [], {}

    @property
    def tools(self) -> tuple[str, ...]:
        """The tools this env offers (`AgileEnv.tools`)."""
        return self._env.unwrapped.tools

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
