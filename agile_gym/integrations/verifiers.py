"""The agile/ environments as verifiers environments (verifiers 0.3: its classic `vf.MultiTurnEnv` stack).

verifiers finds an environment by a module's `load_environment()`; this module is one::

    import verifiers as vf
    from openai import AsyncOpenAI

    env = vf.load_environment("agile_gym.integrations.verifiers", agile_id="agile/MedMCQA-v2", num_sessions=8,
                              env_kwargs={"max_questions": 4})
    client = vf.OpenAIChatCompletionsClient(AsyncOpenAI(base_url="http://127.0.0.1:8000/v1", api_key="local"))
    results = env.evaluate_sync(client, model="my-model", rollouts_per_example=4)
    results["outputs"][0]["reward"], results["outputs"][0]["metrics"]["accuracy"]

or `vf-eval agile_gym.integrations.verifiers -a '{"agile_id": "agile/MedMCQA-v2"}' -m my-model -b <base url>
-k <API key variable>` (tested). Trainers that load verifiers environments by module name and arguments
(prime-rl's orchestrator) take the same; verifiers 0.3.1 itself ships no trainer, and none was tried here.

- **Dataset**: one row per session: a user `prompt` (the session instructions and the env's first observation) and
  `info={"seed": the session's seed}` (in `info`, a field verifiers keeps when its env server sends rows to
  workers). The rollouts of a row (a group) all reset their env with that seed, so they start alike.
- **Rollout**: the model acts by function-tool calls (`tool_defs` are `tool_session.tool_schemas` of the env's
  tools: answer, search_products where the task has it, seek_advice, reflect). Each call is one `env.step` of the
  rollout's own `ToolSession` (held in `state["agile_session"]`), and its tool message is the env's observation
  (tool-worded; by default only what is new since the last call). Any tool name and arguments are accepted: an
  unknown tool or malformed arguments are the env's invalid action (feedback, reward 0), never an error.
- **End**: when the env's episode ends (every question answered, or `max_questions`) or when a reply calls no
  tool (verifiers' `ToolEnv` rule; the questions left unanswered score 0). Every env step closes a question or its
  reflection (a search is the question's answer), so a rollout has at most 2 model turns per question; verifiers'
  `max_turns` can cap it lower.
- **Rubric**: the reward is the session's total score (summed env rewards / questions in the session, in [0, 1];
  the env's `total_score` for a finished session). Metrics (weight 0): the env's `accuracy`, `advice_rate`,
  `invalid_action_rate` and `questions` (answered), and `env_steps` (tool calls that reached `env.step`).

No route to the gold: the tools listed to the model are the action tools only, and whatever name it calls goes to
`ToolSession.call`, which maps only those (anything else is an invalid action); the env sits privately in the
`ToolSession`, which has no method reaching `expert()`, `similar_questions()` or a gold field; dataset rows hold
only a prompt and a seed.

verifiers 0.4 is not supported: it keeps only `verifiers.v1`, whose rollouts run a harness program that `uv`
installs from the network; 0.3.1 keeps this classic stack (`verifiers.legacy`, also `import verifiers as vf`).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from agile_gym.integrations.tool_session import Observation, ToolSession, tool_schemas
from agile_gym.integrations.trl import SESSION_PROMPT

__all__ = ["load_environment", "session_rows"]  # and, built on access: AgileToolEnv, SessionRubric (see _classes)

SESSION_KEY = "agile_session"
ENV_METRICS = ("accuracy", "advice_rate", "invalid_action_rate", "questions")


def session_rows(env_id: str, num_sessions: int, *, seed: int = 0, prompt: str = SESSION_PROMPT,
                 observation: Observation = "delta", env_kwargs: dict[str, Any] | None = None) -> list[dict]:
    """`num_sessions` dataset rows, `{"prompt": [one user message: prompt + the first observation], "info": {"seed"}}`,
    with the seeds `seed`, `seed + 1`, ... ValueError for `num_sessions` < 1; the env raises for bad `env_kwargs`."""
    if num_sessions < 1:
        raise ValueError(f"num_sessions must be >= 1, got {num_sessions}")
    session = ToolSession(env_id, observation=observation, **(env_kwargs or {}))
    try:
        return [{"prompt": [{"role": "user", "content": f"{prompt}\n\n{session.reset(seed=row)}"}],
                 "info": {"seed": row}} for row in range(seed, seed + num_sessions)]
    finally:
        session.close()


def _session(state: dict) -> ToolSession | None:
    return state.get(SESSION_KEY)


@functools.cache
def _classes() -> dict[str, type]:
    import verifiers as vf

    class SessionRubric(vf.Rubric):
        """The reward is the rollout's session score; the env's running metrics and its step count are metrics."""

        def __init__(self, **kwargs: Any):
            super().__init__(**kwargs)
            self.add_reward_func(self.session_score)
            self.add_metric(self.env_steps)
            for key in ENV_METRICS:
                self.add_metric(self._env_metric(key))

        async def session_score(self, state: vf.State) -> float:
            """Summed env rewards / questions in the session, in [0, 1] (0 when the session never started)."""
            session = _session(state)
            return session.score if session is not None else 0.0

        async def env_steps(self, state: vf.State) -> float:
            """Tool calls that reached `env.step` in this rollout."""
            session = _session(state)
            return float(session.steps) if session is not None else 0.0

        @staticmethod
        def _env_metric(key: str):
            async def metric(state: vf.State) -> float:
                session = _session(state)
                return float(session.metrics.get(key, 0.0)) if session is not None else 0.0

            metric.__name__ = key
            return metric

    class AgileToolEnv(vf.MultiTurnEnv):
        """A verifiers multi-turn env over one `ToolSession` of `agile_env_id` per rollout (module docstring).

        Args:
            agile_env_id: a registered id (`agile/ProductQA-v2`, `agile/MedMCQA-v2`).
            observation: "delta" or "state" (`ToolSession`).
            env_kwargs: passed to `gymnasium.make` for each rollout's env (`max_questions`, `shuffle`, ...).
            **kwargs: `vf.MultiTurnEnv`'s (`dataset`, `eval_dataset`, `system_prompt`, `sampling_args`, ...).

        The env raises ValueError for bad `env_kwargs` (checked now).
        """

        def __init__(self, agile_env_id: str = "agile/ProductQA-v2", *, observation: Observation = "delta",
                     env_kwargs: dict[str, Any] | None = None, **kwargs: Any):
            self.agile_env_id, self.observation = agile_env_id, observation
            self.agile_env_kwargs = dict(env_kwargs or {})
            probe = ToolSession(agile_env_id, observation=observation, **self.agile_env_kwargs)
            probe.close()
            tool_defs = [schema["function"] for schema in tool_schemas(probe.tools)]
            kwargs.setdefault("rubric", SessionRubric())
            super().__init__(tool_defs=tool_defs, **kwargs)

        async def setup_state(self, state: vf.State) -> vf.State:
            """Start the rollout's session from its row's `seed` (the row's prompt shows its first observation)."""
            session = ToolSession(self.agile_env_id, observation=self.observation, **self.agile_env_kwargs)
            session.reset(seed=int(state["info"]["seed"]))
            state[SESSION_KEY] = session
            return state

        async def env_response(self, messages: vf.Messages, state: vf.State, **kwargs: Any) -> vf.Messages:
            """Each tool call of the last reply is one env step; its tool message is what the env shows next. Steps
            run in a worker thread, so a slow SQL search does not hold up the other rollouts' model requests."""
            session: ToolSession = state[SESSION_KEY]
            replies = []
            for call in messages[-1].tool_calls or []:
                content = await asyncio.to_thread(session.call, call.name, call.arguments)
                replies.append(vf.ToolMessage(role="tool", content=content, tool_call_id=call.id))
            if session.done:  # the env's episode ended: these results close the rollout, no further model turn
                state["final_env_response"] = replies
            return replies

        @vf.stop
        async def session_over(self, state: vf.State) -> bool:
            session = _session(state)
            return session is not None and session.done

        @vf.stop
        async def no_tool_called(self, state: vf.State) -> bool:
            if not state["trajectory"]:
                return False
            last = state["trajectory"][-1]["completion"][-1]
            return last.role == "assistant" and not getattr(last, "tool_calls", None)

        @vf.cleanup
        async def close_session(self, state: vf.State) -> None:
            """Release the env's resources; the session's rewards and metrics stay for the rubric."""
            session = _session(state)
            if session is not None:
                session.close()

    return {"AgileToolEnv": AgileToolEnv, "SessionRubric": SessionRubric}


def __getattr__(name: str) -> type:
    if name in ("AgileToolEnv", "SessionRubric"):
        return _classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_environment(agile_id: str = "agile/ProductQA-v2", *, num_sessions: int = 64, seed: int = 0,
                     num_eval_sessions: int = 0, env_kwargs: dict[str, Any] | None = None,
                     observation: Observation = "delta", prompt: str = SESSION_PROMPT, **kwargs: Any):
    """verifiers' entry point: an `AgileToolEnv` (a `vf.MultiTurnEnv`) of `agile_id` with `num_sessions` training rows
    (seeds `seed`, `seed + 1`, ...) and `num_eval_sessions` eval rows (the seeds after those; 0: verifiers
    evaluates on the training rows).

    `env_kwargs` go to `gymnasium.make` (`shuffle=True` unless given, so each seed has its own question order, as
    in `agile_gym.integrations.trl`); `**kwargs` go to `vf.MultiTurnEnv` (`system_prompt`, `sampling_args`, ...).
    The id is `agile_id`, not `env_id`: `vf.load_environment(env_id, **args)` takes `env_id` for the module name.
    ValueError for `num_sessions` < 1, `num_eval_sessions` < 0 or a bad env kwarg.
    """
    from datasets import Dataset

    if num_eval_sessions < 0:
        raise ValueError(f"num_eval_sessions must be >= 0, got {num_eval_sessions}")
    env_kwargs = {"shuffle": True, **(env_kwargs or {})}
    rows = dict(prompt=prompt, observation=observation, env_kwargs=env_kwargs)
    dataset = Dataset.from_list(session_rows(agile_id, num_sessions, seed=seed, **rows))
    eval_dataset = (Dataset.from_list(session_rows(agile_id, num_eval_sessions, seed=seed + num_sessions, **rows))
                    if num_eval_sessions else None)
    return _classes()["AgileToolEnv"](agile_id, observation=observation, env_kwargs=env_kwargs, dataset=dataset,
                                      eval_dataset=eval_dataset, **kwargs)
