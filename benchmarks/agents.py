"""Agent specs on the command line -> one face for the runner.

    always-advice | never-advice | oracle | expert    scripted agents of agile_gym.agents
    hf:<model>       a Hugging Face causal LM: hub name, local folder, 'tiny', 'smollm2-135m', a LoRA adapter
                     folder, or a training run folder (its latest checkpoint); batched across sessions
    openai:<model>   any OpenAI-compatible chat endpoint (--base-url); requests run concurrently
    <module>:<Class> your own agent: a class with act(observation, info) -> str (one per session; its
                     constructor may take the env) or act_batch(observations, infos) -> list[str | Reply]
"""

from __future__ import annotations

import importlib
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agile_gym.agents import AGENTS, Reply


@dataclass
class AgentOptions:
    """What model agents need beyond their spec (scripted agents ignore it)."""

    env: str = "agile/ProductQA-v2"
    env_kwargs: dict | None = None
    max_new_tokens: int = 128
    max_prompt_tokens: int = 2048
    chat_template: str = "auto"
    temperature: float = 0.0
    device: str = "auto"
    seed: int = 0
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    request_timeout_s: float = 60.0
    retries: int = 3
    concurrency: int = 8


class AgentPool:
    """The runner's view of an agent: sessions open and close by key; `act` answers for several at once.

    Per-session agents (the scripted ones, or a user's `act` class) get one instance per session, made from the
    session's env; a batch agent is shared and sees every open session's observation in one call.
    """

    def __init__(self, spec: str, per_session: Callable[[Any], Any] | None = None, batch: Any = None,
                 description: dict | None = None) -> None:
        self.spec, self.per_session, self.batch = spec, per_session, batch
        self.description = description or {}
        self._sessions: dict[str, Any] = {}

    def open(self, key: str, env) -> None:
        """Start session `key`: a per-session agent gets a fresh instance made from `env`; a batch agent
        needs nothing. Errors of the agent's constructor propagate."""
        if self.per_session is not None:
            self._sessions[key] = self.per_session(env)

    def close(self, key: str) -> None:
        """Forget session `key`'s agent; a key never opened or already closed is ignored."""
        self._sessions.pop(key, None)

    def act(self, keys: list[str], observations: list[str], infos: list[dict]) -> list[Reply]:
        """One reply per key. A failure is a reply with `error` set; only a broken batch agent raises."""
        if self.batch is not None:
            replies = list(self.batch.act_batch(observations, infos))
            if len(replies) != len(keys):
                raise RuntimeError(
                    f"{self.spec}: act_batch returned {len(replies)} replies for {len(keys)} observations"
                )
            return [reply if isinstance(reply, Reply) else Reply(reply) for reply in replies]
        replies = []
        for key, observation, info in zip(keys, observations, infos):
            try:
                replies.append(Reply(self._sessions[key].act(observation, info)))
            except Exception as error:  # a user's agent raising ends its session, not the run
                replies.append(Reply("", error=f"{type(error).__name__}: {error}"))
        return replies


def make_agent(spec: str, options: AgentOptions) -> AgentPool:
    """The `AgentPool` for one `--agent` spec (see the module docstring for the forms). Raises ValueError for
    an unknown spec, a missing optional package (train extra, openai) or a user class without `act` /
    `act_batch`; loading an hf: model may raise whatever loading raises (OSError for a missing model...)."""
    if spec in AGENTS:
        return AgentPool(spec, per_session=AGENTS[spec], description={"kind": "scripted"})
    if spec.startswith("hf:"):
        return _hf_agent(spec, options)
    if spec.startswith("openai:"):
        from benchmarks.openai_agent import OpenAIChatAgent

        agent = OpenAIChatAgent(spec.removeprefix("openai:"), base_url=options.base_url,
                                api_key_env=options.api_key_env, max_new_tokens=options.max_new_tokens,
                                temperature=options.temperature, timeout_s=options.request_timeout_s,
                                retries=options.retries, concurrency=options.concurrency)
        return AgentPool(spec, batch=agent, description=agent.describe())
    if ":" in spec:
        return _user_agent(spec)
    raise ValueError(f"unknown agent {spec!r}: use one of {', '.join(AGENTS)}, hf:<model>, openai:<model> or "
                     "<module>:<Class>")


def _hf_agent(spec: str, options: AgentOptions) -> AgentPool:
    try:
        from agile_train.config import ModelConfig
        from agile_train.env_factory import env_text
        from agile_train.policy_agent import PolicyAgent
    except ImportError as error:
        raise ValueError(f"{spec} needs the training extra: pip install -e '.[train]' ({error})") from None
    # A model (hub name, folder, 'tiny', a named model) or a trained adapter / run folder: models.plan_model.
    model = ModelConfig(model=spec.removeprefix("hf:"), max_new_tokens=options.max_new_tokens,
                        max_prompt_tokens=options.max_prompt_tokens, chat_template=options.chat_template,
                        device=options.device)
    began = time.perf_counter()
    agent = PolicyAgent(model, corpus=lambda: env_text(options.env, options.env_kwargs or {}, options.seed),
                        seed=options.seed, temperature=options.temperature)
    description = {"kind": "hf", **agent.describe(), "load_s": round(time.perf_counter() - began, 2)}
    return AgentPool(spec, batch=agent, description=description)


def check_agent(spec: str, options: AgentOptions) -> None:
    """Raise ValueError now for what would make `make_agent(spec, options)` fail, without loading any model or
    making a user's agent: an unknown name, a class that does not import or lacks `act` / `act_batch`, a
    missing optional package or key (openai). hf: folders are checked by `benchmarks.provenance`."""
    if spec in AGENTS or spec.startswith("hf:"):
        return
    if spec.startswith("openai:"):
        release(make_agent(spec, options))  # the client only: no request is sent
    elif ":" in spec:
        _user_class(spec)
    else:
        make_agent(spec, options)


def release(pool: AgentPool) -> None:
    """Let go of what a batch agent holds (its `close()`, when it has one: a client, threads, an event loop)."""
    close = getattr(pool.batch, "close", None)
    if callable(close):
        close()


def _user_class(spec: str) -> type:
    module_name, _, class_name = spec.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"agent {spec!r}: cannot import {class_name} from {module_name} ({error})") from None
    if not hasattr(cls, "act_batch") and not hasattr(cls, "act"):
        raise ValueError(f"agent {spec!r}: the class needs act(observation, info) or act_batch(observations, infos)")
    return cls


def _user_agent(spec: str) -> AgentPool:
    cls = _user_class(spec)
    if hasattr(cls, "act_batch"):
        return AgentPool(spec, batch=cls(), description={"kind": "user-batch"})
    takes_env = _accepts_one_argument(cls)
    return AgentPool(spec, per_session=(lambda env: cls(env)) if takes_env else (lambda env: cls()),
                     description={"kind": "user"})


def _accepts_one_argument(cls) -> bool:
    try:
        parameters = list(inspect.signature(cls).parameters.values())
    except (TypeError, ValueError):
        return False
    return bool(parameters) and parameters[0].default is inspect.Parameter.empty
