"""The agile/ environments as OpenEnv servers, and the client side (for TRL or any OpenEnv consumer).

Server, one command (loopback by default; one session per client connection, each with its own env and memory)::

    python -m agile_gym.integrations.openenv --env agile/ProductQA-v2 --port 8000 --env-kwargs '{"max_questions": 4}'

Client (OpenEnv's async `EnvClient`; `.sync()` for plain code)::

    from agile_gym.integrations.openenv import AgileAction, AgileEnvClient
    with AgileEnvClient(base_url="http://127.0.0.1:8000").sync() as env:
        result = env.reset(seed=0)              # result.observation.text, .tools
        result = env.step(AgileAction(tool="answer", arguments={"answer": "yes"}))

TRL through the server: `GRPOTrainer(environment_factory=environment_factory("http://127.0.0.1:8000"))`, a class
with the same tools as `agile_gym.integrations.trl.environment_factory`, each call sent to the server.

An action is one tool call (`AgileAction(tool, arguments)`, the tools of `agile_gym.integrations.tool_session`); an
observation (`AgileObservation`) carries the tool result `text`, the env's `tools`, the step's `reward`, `done`, the
session's `score` and running `metrics`. No route to the gold: the server steps only those tools (any other action,
OpenEnv's MCP `list_tools`/`call_tool` included, gets a message and changes nothing) and never sends the expert
hook's output or a gold field. The classes are built on first use, so importing this module loads no OpenEnv.
"""

from __future__ import annotations

import argparse
import functools
import json
from typing import Any

from agile_gym.integrations.tool_session import ToolSession

__all__ = ["create_app", "environment_factory", "serve"]  # and, built on access: AgileAction, AgileObservation,
# AgileState, AgileEnvironment, AgileEnvClient (see _classes)


@functools.cache
def _classes() -> dict[str, type]:
    from openenv.core.client_types import StepResult
    from openenv.core.env_client import EnvClient
    from openenv.core.env_server.interfaces import Environment
    from openenv.core.env_server.types import Action, Observation, State
    from pydantic import Field

    class AgileAction(Action):
        """One tool call of an agile session."""

        tool: str = Field(description="answer, search_products, seek_advice or reflect")
        arguments: dict[str, Any] = Field(default_factory=dict, description="the tool's arguments by name")

    class AgileObservation(Observation):
        """What the model sees after a call, and the session's running numbers."""

        text: str = Field(default="", description="the tool result: feedback and what is new in the prompt")
        tools: list[str] = Field(default_factory=list, description="the tools this env offers")
        score: float = Field(default=0.0, description="summed rewards / questions in the session, in [0, 1]")
        metrics: dict[str, Any] = Field(default_factory=dict, description="the env's running session metrics")

    class AgileState(State):
        """The session's id, calls that stepped the env, and score."""

        env_id: str = ""
        score: float = 0.0
        done: bool = True

    class AgileEnvironment(Environment[AgileAction, AgileObservation, AgileState]):
        """One server-side session: a `ToolSession`, made fresh for every client connection."""

        SUPPORTS_CONCURRENT_SESSIONS = True

        def __init__(self, env_id: str = "agile/ProductQA-v2", observation: str = "delta", **env_kwargs: Any):
            super().__init__()
            self._session = ToolSession(env_id, observation=observation, **env_kwargs)
            self._episode_id: str | None = None

        def _observation(self, text: str, reward: float) -> AgileObservation:
            session = self._session
            return AgileObservation(text=text, tools=list(session.tools), score=session.score,
                                    metrics=session.metrics, reward=reward, done=session.done)

        def reset(self, seed: int | None = None, episode_id: str | None = None, **_: Any) -> AgileObservation:
            self._episode_id = episode_id
            return self._observation(self._session.reset(seed=seed), 0.0)

        def step(self, action: Any, timeout_s: float | None = None, **_: Any) -> AgileObservation:
            if not isinstance(action, AgileAction):
                return self._observation(f"Unsupported action {type(action).__name__}: send "
                                         f"AgileAction(tool, arguments) with a tool of {list(self._session.tools)}.",
                                         0.0)
            before = self._session.steps
            text = self._session.call(action.tool, action.arguments)
            return self._observation(text, self._session.rewards[-1] if self._session.steps > before else 0.0)

        def close(self) -> None:
            """Release the session's env (ProductQA's SQL worker); OpenEnv calls this when the client's session
            ends."""
            self._session.close()

        @property
        def state(self) -> AgileState:
            return AgileState(episode_id=self._episode_id, step_count=self._session.steps,
                              env_id=self._session.env_id, score=self._session.score, done=self._session.done)

    class AgileEnvClient(EnvClient[AgileAction, AgileObservation, AgileState]):
        """OpenEnv's client for an agile server: `reset(seed=...)`, `step(AgileAction(...))`, `state()`."""

        def _step_payload(self, action: AgileAction) -> dict[str, Any]:
            return action.model_dump() if isinstance(action, AgileAction) else dict(action)

        def _parse_result(self, payload: dict[str, Any]) -> StepResult[AgileObservation]:
            observation = AgileObservation(**payload.get("observation", {}), reward=payload.get("reward"),
                                           done=payload.get("done", False))
            return StepResult(observation=observation, reward=payload.get("reward"), done=payload.get("done", False))

        def _parse_state(self, payload: dict[str, Any]) -> AgileState:
            return AgileState(**payload)

    return {cls.__name__: cls for cls in (AgileAction, AgileObservation, AgileState, AgileEnvironment,
                                          AgileEnvClient)}


def __getattr__(name: str) -> type:
    if name in ("AgileAction", "AgileObservation", "AgileState", "AgileEnvironment", "AgileEnvClient"):
        return _classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def create_app(env_id: str = "agile/ProductQA-v2", *, max_sessions: int = 64, observation: str = "delta",
               **env_kwargs: Any):
    """OpenEnv's FastAPI app serving `env_id` (env kwargs checked now: ValueError for a bad one; `shuffle=True`
    unless given, so each client's `reset(seed=...)` picks its own question order); at most `max_sessions`
    concurrent client sessions, each its own env (a client past that is refused)."""
    from openenv.core.env_server.http_server import create_fastapi_app

    classes = _classes()
    env_kwargs = {"shuffle": True, **env_kwargs}  # each client's reset(seed=...) its own question order
    ToolSession(env_id, observation=observation, **env_kwargs).close()  # bad kwargs fail here, not in a session

    def factory():
        return classes["AgileEnvironment"](env_id, observation, **env_kwargs)

    return create_fastapi_app(factory, classes["AgileAction"], classes["AgileObservation"],
                              max_concurrent_envs=max_sessions)


def serve(env_id: str = "agile/ProductQA-v2", *, host: str = "127.0.0.1", port: int = 8000, max_sessions: int = 64,
          observation: str = "delta", **env_kwargs: Any) -> None:
    """Serve `env_id` with uvicorn until interrupted; `host` 127.0.0.1 keeps it on this machine (0.0.0.0 serves
    every interface: only on a network you trust, the server has no authentication)."""
    import uvicorn

    uvicorn.run(create_app(env_id, max_sessions=max_sessions, observation=observation, **env_kwargs), host=host,
                port=port, log_level="warning")


class _RemoteSession:
    """The TRL-facing base of `environment_factory`: one client connection, `reset`, `get_reward`, `_call`."""

    _base_url = ""

    def __init__(self) -> None:
        self._client = _classes()["AgileEnvClient"](base_url=self._base_url).sync()
        self._client.connect()
        self._score = 0.0

    def reset(self, **row: Any) -> str:
        """Start the row's session on the server (seed: the row's `seed`, else a hash of its prompt)."""
        from agile_gym.integrations.trl import row_seed

        result = self._client.reset(seed=row_seed(row))
        self._score = result.observation.score
        return "\n\n" + result.observation.text

    def get_reward(self) -> float:
        """The session's total score in [0, 1], as the server computed it."""
        return self._score

    def _call(self, name: str, arguments: dict[str, Any]) -> str:
        result = self._client.step(_classes()["AgileAction"](tool=name, arguments=arguments))
        self._score = result.observation.score
        return result.observation.text

    def _close(self) -> None:  # private: TRL would list a public `close` as a tool
        self._client.close()


def environment_factory(base_url: str = "http://127.0.0.1:8000") -> type:
    """A class for `GRPOTrainer(environment_factory=...)` whose tools run on the OpenEnv server at `base_url`: the
    server's tools (asked once, now) plus TRL's `reset` and `get_reward`; every instance is its own session."""
    from agile_gym.integrations.trl import TOOL_MIXINS

    client = _classes()["AgileEnvClient"](base_url=base_url).sync()
    with client:
        tools = client.reset().observation.tools
    mixins = [TOOL_MIXINS[tool] for tool in tools if tool in TOOL_MIXINS]
    return type("RemoteAgileTools", (*mixins, _RemoteSession), {"_base_url": base_url, "__module__": __name__})


def main(argv: list[str] | None = None) -> None:
    """`python -m agile_gym.integrations.openenv`: serve one env (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="agile/ProductQA-v2", help="a registered agile/ env id")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-sessions", type=int, default=64, help="concurrent client sessions")
    parser.add_argument("--observation", choices=["delta", "state"], default="delta")
    parser.add_argument("--env-kwargs", type=json.loads, default={}, help="JSON object of env kwargs")
    args = parser.parse_args(argv)
    serve(args.env, host=args.host, port=args.port, max_sessions=args.max_sessions, observation=args.observation,
          **args.env_kwargs)


if __name__ == "__main__":
    main()
