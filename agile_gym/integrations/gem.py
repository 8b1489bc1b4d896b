"""The agile/ environments in GEM (`gem-llm`): `gem.make`, `gem.make_vec`, its wrappers and agents.

    from agile_gym.integrations.gem import register
    register()                                                   # every current agile/ id, in GEM's registry
    envs = gem.make_vec(["agile/MedMCQA-v2"] * 4, max_questions=4, wrappers=[EpisodeTrackingWrapper])
    # EpisodeTrackingWrapper: from gem.wrappers.episode_tracking_wrapper

GEM passes `seed=` to the constructor (`make_vec` gives env i the seed `seed + i`) and calls `reset(seed)`
positionally; `AgileGemEnv` takes both. The seed given at construction seeds the first reset; later resets
without a seed continue from there, as in Gymnasium. Env kwargs go to the env, with `shuffle=True` unless given
(so each seed has its own question order). `action_format="tools"` (default) takes a tool call (JSON, or
inside `<tool_call>...</tool_call>`) and words observations for tools; `"tags"` takes the env's bracket-tag text.
`observation="delta"` (default) shows only what is new, `"state"` the whole prompt (the env's options of the same
names). Rewards, termination and `info` are the env's.
The env is held privately: nothing public reaches `expert()`, `similar_questions()` or a gold field.
"""

from __future__ import annotations

from typing import Any

import gymnasium

from agile_gym.integrations.skyrl_gym import tool_call_text


def _make_class() -> type:
    import gem

    class AgileGemEnv(gem.Env):
        """One agile env as a `gem.Env` (module docstring)."""

        def __init__(self, agile_id: str = "agile/ProductQA-v2", seed: int | None = None,
                     action_format: str = "tools", observation: str = "delta", **env_kwargs: Any):
            super().__init__()
            import agile_gym  # noqa: F401  (registers the ids)

            if action_format not in ("tools", "tags"):
                raise ValueError(f"action_format must be 'tools' or 'tags', got {action_format!r}")
            env_kwargs = {"shuffle": True, **env_kwargs}  # each seed its own question order (make_vec: seed + i)
            self._env = gymnasium.make(agile_id, action_format=action_format, observation=observation, **env_kwargs)
            self._tools, self._first_seed = action_format == "tools", seed

        def reset(self, seed: int | None = None) -> tuple[str, dict[str, Any]]:
            seed, self._first_seed = (self._first_seed if seed is None else seed), None
            return self._env.reset(seed=seed)

        def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
            return self._env.step(tool_call_text(action) if self._tools else action)

        def close(self) -> None:
            """Release the env's resources (ProductQA's SQL worker); a later `reset` reopens what it needs."""
            self._env.close()

        def sample_random_action(self) -> str:
            return self._env.action_space.sample()

    return AgileGemEnv


def __getattr__(name: str) -> type:
    if name == "AgileGemEnv":
        globals()[name] = _make_class()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def register(ids: tuple[str, ...] | None = None) -> list[str]:
    """Register `ids` (default: every current agile/ id) in GEM's registry; returns the ids registered."""
    import gem
    from gem.envs.registration import ENV_REGISTRY

    from agile_gym import ENVIRONMENTS

    for env_id in ids or tuple(ENVIRONMENTS):
        if env_id not in ENV_REGISTRY:
            gem.register(env_id, entry_point=f"{__name__}:AgileGemEnv", agile_id=env_id)  # GEM owns `env_id`
    return list(ids or ENVIRONMENTS)
