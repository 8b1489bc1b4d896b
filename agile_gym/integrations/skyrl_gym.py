"""The agile/ environments in SkyRL-Gym (`skyrl-gym`): text in, chat messages out, one env per trajectory.

    from agile_gym.integrations.skyrl_gym import register
    register()                                      # every current agile/ id, in skyrl_gym's registry
    env = skyrl_gym.make("agile/MedMCQA-v2", env_config={"max_questions": 4}, extras={"seed": 3})
    messages, metadata = env.init([{"role": "user", "content": "Answer the questions."}])
    output = env.step(model_reply)                  # observations, reward, done, metadata

`env_config` holds the env's kwargs (plus `action_format` and `observation`; `shuffle=True` unless given, so each
seed has its own question order); SkyRL's per-row `extras` may give a `seed` (the session's reset seed, 0 without
one). `action_format="tools"` (default) takes a reply holding one tool
call, as JSON or inside `<tool_call>...</tool_call>`, and words observations for tools; `"tags"` takes the env's
bracket-tag text. `observation="delta"` (default) shows only what is new, `"state"` the whole prompt (the env's
options of the same names).
Rewards are the env's per step; `get_metrics()` gives the session's running metrics. The env is held privately:
nothing public reaches `expert()`, `similar_questions()` or a gold field.
"""

from __future__ import annotations

import re
from typing import Any

import gymnasium

from agile_gym.contract import METRICS

_TOOL_CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.DOTALL)


def _base() -> type:
    from skyrl_gym.envs.base_text_env import BaseTextEnv

    return BaseTextEnv


def tool_call_text(reply: str) -> str:
    """The JSON of the first `<tool_call>` in a model reply, else the reply itself (`parse_tool_call` reads it)."""
    match = _TOOL_CALL.search(reply)
    return match.group(1).strip() if match else reply.strip()


def _make_class() -> type:
    class AgileTextEnv(_base()):
        """One agile session as a SkyRL-Gym `BaseTextEnv` (module docstring)."""

        def __init__(self, env_config: Any = None, extras: dict[str, Any] | None = None,
                     env_id: str = "agile/ProductQA-v2"):
            super().__init__()
            import agile_gym  # noqa: F401  (registers the ids)

            options = {"shuffle": True, **(env_config or {})}  # each seed its own question order
            self._action_format = options.pop("action_format", "tools")
            observation = options.pop("observation", "delta")
            self.max_turns = int(options.pop("max_turns", 10_000))
            if self._action_format not in ("tools", "tags"):
                raise ValueError(f"action_format must be 'tools' or 'tags', got {self._action_format!r}")
            self._env = gymnasium.make(env_id, action_format=self._action_format, observation=observation, **options)
            self._seed = int((extras or {}).get("seed") or 0)
            self._metrics: dict[str, Any] = {}

        def init(self, prompt: list[dict[str, str]]) -> tuple[list[dict[str, str]], dict[str, Any]]:
            observation, info = self._env.reset(seed=self._seed)
            self.turns, self._metrics = 0, info[METRICS]
            return [*prompt, {"role": "user", "content": observation}], {}

        def step(self, action: str) -> dict[str, Any]:
            self.turns += 1
            text = tool_call_text(action) if self._action_format == "tools" else action
            observation, reward, terminated, truncated, info = self._env.step(text)
            self._metrics = info[METRICS]
            done = bool(terminated or truncated) or self.turns >= self.max_turns
            return {"observations": [] if done else [{"role": "user", "content": observation}],
                    "reward": float(reward), "done": done, "metadata": {"question_id": info["result"]["question_id"]},
                    "postprocessed_action": None}

        def close(self) -> None:
            """Release the env's resources (ProductQA's SQL worker); a later `init` reopens what it needs."""
            self._env.close()

        def get_metrics(self) -> dict[str, Any]:
            return {key: value for key, value in self._metrics.items() if isinstance(value, (int, float))}

    return AgileTextEnv


def __getattr__(name: str) -> type:
    if name == "AgileTextEnv":
        globals()[name] = _make_class()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def register(ids: tuple[str, ...] | None = None) -> list[str]:
    """Register `ids` (default: every current agile/ id) in SkyRL-Gym's registry; returns the ids registered."""
    import skyrl_gym

    from agile_gym import ENVIRONMENTS

    registered = []
    for env_id in ids or tuple(ENVIRONMENTS):
        if env_id not in skyrl_gym.envs.registration.registry:
            skyrl_gym.register(id=env_id, entry_point=f"{__name__}:AgileTextEnv", kwargs={"env_id": env_id})
        registered.append(env_id)
    return registered
