"""Observations as chat messages (role/content dicts) ready for a tokenizer's chat template."""

from __future__ import annotations

import json
from typing import Any

import gymnasium as gym
from gymnasium import spaces

from agile_gym.spaces import FreeText

ROLES = ("system", "user", "assistant")
_ROLE_SPACE = spaces.Text(max_length=9, min_length=4, charset="abcdefghijklmnopqrstuvwxyz")


class ChatMessages(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Turns each text observation into a tuple of `{"role", "content"}` messages, the form
    `tokenizer.apply_chat_template(messages)` and chat APIs take.

    - `history=False` (default): `(system?, user: <observation>)`; right for envs whose observation repeats the
      whole state (the agile envs' default).
    - `history=True`: the whole conversation of the episode: `(system?, user: <first observation>, assistant:
      <action>, user: <next observation>, ...)`; right with observations that say only what is new (e.g.
      the env option `observation="delta"`). It grows with the episode: at most
      `max_messages` messages after the system one are kept (the oldest dropped, in user/assistant pairs).

    The action stays what the inner env takes (a `str`, or a tool call with `action_format="tools"`); an assistant
    message dict is also accepted: `{"role": "assistant", "content": ...}` passes its content on, and an
    OpenAI-style message that calls tools (`"tool_calls": [{"function": {"name", "arguments"}}, ...]`, content
    possibly None) passes its first call on (one env step per action; a second call in the same message is not
    taken), recorded in the history as that call's JSON. Rewards, termination and `info` are the inner env's.
    Observation space: `Sequence(Dict(role=Text, content=FreeText), stack=False)`; it has no shared-memory
    layout, so an async vector env needs `shared_memory=False`.
    """

    def __init__(self, env: gym.Env, system_prompt: str | None = None, history: bool = False,
                 max_messages: int = 200) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self, system_prompt=system_prompt, history=history, max_messages=max_messages
        )
        gym.Wrapper.__init__(self, env)
        if max_messages < 1:
            raise ValueError(f"max_messages must be >= 1, got {max_messages}")
        max_length = max(getattr(env.observation_space, "max_length", 1 << 16),
                         getattr(env.action_space, "max_length", 0))
        if system_prompt is not None:
            max_length = max(max_length, len(system_prompt))
        self.observation_space = spaces.Sequence(
            spaces.Dict({"role": _ROLE_SPACE, "content": FreeText(max_length)}), stack=False
        )
        self.system_prompt, self.history, self.max_messages = system_prompt, history, max_messages
        self._conversation: list[dict[str, str]] = []

    def _messages(self) -> tuple[dict[str, str], ...]:
        head = [{"role": "system", "content": self.system_prompt}] if self.system_prompt is not None else []
        return tuple(head + [dict(message) for message in self._conversation])  # new dicts: callers keep them

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset the inner env; the conversation starts again from its first observation."""
        observation, info = self.env.reset(seed=seed, options=options)
        self._conversation = [{"role": "user", "content": observation}]
        return self._messages(), info

    def step(self, action: Any):
        """Step the inner env with `action` (a `str`, a tool call, or an assistant message: class docstring)."""
        if isinstance(action, dict) and "role" in action:
            calls = action.get("tool_calls")
            if isinstance(calls, list) and calls:
                action = calls[0]
            else:
                action = action.get("content") or ""
        observation, reward, terminated, truncated, info = self.env.step(action)
        user = {"role": "user", "content": observation}
        if self.history:
            text = action if isinstance(action, str) else _as_text(action)
            self._conversation += [{"role": "assistant", "content": text}, user]
            excess = len(self._conversation) - self.max_messages
            if excess > 0:
                del self._conversation[: excess + excess % 2]  # whole user/assistant pairs
        else:
            self._conversation = [user]
        return self._messages(), reward, terminated, truncated, info


def _as_text(action: Any) -> str:
    """An action that is not text (a tool call as a dict) as the assistant's message text: its JSON, else repr."""
    try:
        return json.dumps(action, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        return repr(action)
