"""The agile/ environments in TextArena (`textarena`): a one-player game per session, for its wrappers and agents.

    from agile_gym.integrations.textarena import register
    register()                                      # every current agile/ id, in TextArena's registry
    env = ta.wrappers.LLMObservationWrapper(ta.make("agile/MedMCQA-v2", max_questions=4))
    env.reset(num_players=1, seed=0)
    done = False
    while not done:
        player_id, observation = env.get_observation()
        done, step_info = env.step(agent(observation))
    rewards, game_info = env.close()                # {0: the session's total score}

TextArena scores a game once, at `close()`: the reward is the session's total score (summed rewards / questions).
Each step's own reward and the running metrics are in `step_info` (`reward`, `metrics`), and `game_info[0]`
lists every step's reward (`step_rewards`). Only one player: `reset(num_players=2)` raises ValueError.
`action_format`, `observation` and the `shuffle=True` default as in `agile_gym.integrations.gem`. Seeds: the env's
own generator, never Python's global one (TextArena's `State` would reseed it). The env is held privately:
nothing public reaches `expert()`, `similar_questions()` or a gold field.
"""

from __future__ import annotations

from typing import Any

import gymnasium

from agile_gym.contract import METRICS
from agile_gym.integrations.skyrl_gym import tool_call_text


def _make_class() -> type:
    import textarena as ta
    from textarena.core import ObservationType

    class AgileArenaEnv(ta.Env):
        """One agile session as a one-player TextArena game (module docstring)."""

        def __init__(self, agile_id: str = "agile/ProductQA-v2", action_format: str = "tools",
                     observation: str = "delta", **env_kwargs: Any):
            import agile_gym  # noqa: F401  (registers the ids)

            if action_format not in ("tools", "tags"):
                raise ValueError(f"action_format must be 'tools' or 'tags', got {action_format!r}")
            env_kwargs = {"shuffle": True, **env_kwargs}  # each seed its own question order
            self._env = gymnasium.make(agile_id, action_format=action_format, observation=observation, **env_kwargs)
            self._tools, self._rewards = action_format == "tools", []

        def reset(self, num_players: int = 1, seed: int | None = None) -> None:
            if num_players != 1:
                raise ValueError(f"an agile session has one player, got num_players={num_players}")
            self.state = ta.State(num_players=1, seed=None)  # seed=None: TextArena would seed Python's global RNG
            self.state.standard_resets(game_state={}, role_mapping={0: "Agent"})
            observation, _ = self._env.reset(seed=seed)
            self._rewards = []
            self.state.add_observation(observation, ObservationType.PROMPT, to_id=0)

        def step(self, action: str) -> tuple[bool, dict[str, Any]]:
            self.state.add_observation(action, ObservationType.PLAYER_ACTION, from_id=0, to_id=0)
            observation, reward, terminated, truncated, info = self._env.step(
                tool_call_text(action) if self._tools else action)
            self._rewards.append(float(reward))
            self.state.add_observation(observation, ObservationType.GAME_MESSAGE, to_id=0)
            self.state.step_info = {"reward": float(reward), "metrics": info[METRICS]}
            if terminated or truncated:
                self.state.done = True
                self.state.rewards = {0: sum(self._rewards) / max(1, len(self._env.unwrapped._items))}
                self.state.game_info[0].update(reason="the session is over", step_rewards=list(self._rewards))
            return self.state.step()

        def close(self) -> tuple[dict[int, float], dict[int, dict[str, Any]]]:
            """TextArena's end of game: (rewards, game_info); also releases the env's resources (ProductQA's SQL
            worker; a later `reset` reopens what it needs)."""
            self._env.close()
            return super().close()

    return AgileArenaEnv


def __getattr__(name: str) -> type:
    if name == "AgileArenaEnv":
        globals()[name] = _make_class()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def register(ids: tuple[str, ...] | None = None) -> list[str]:
    """Register `ids` (default: every current agile/ id) in TextArena's registry; returns the ids registered."""
    import textarena as ta
    from textarena.envs.registration import ENV_REGISTRY

    from agile_gym import ENVIRONMENTS

    for env_id in ids or tuple(ENVIRONMENTS):
        if env_id not in ENV_REGISTRY:
            ta.envs.registration.register(env_id, entry_point=f"{__name__}:AgileArenaEnv", agile_id=env_id)
    return list(ids or ENVIRONMENTS)
