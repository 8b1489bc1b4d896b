"""The env factory: text envs for training and evaluation, by registered id or entry point, with the text
contract checked at start, and the text a tokenizer for the tiny model is trained on."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import gymnasium as gym
from gymnasium.spaces import Text

import agile_gym  # registers the agile/ ids


def env_factory(env: str, kwargs: dict[str, Any]) -> Callable[[], gym.Env]:
    """A callable that builds one copy of `env`: a registered id, 'package.module:Class', or Gymnasium's
    'package.module:EnvId-v0' (the module is imported first so that it can register the id)."""
    if ":" in env and env not in gym.registry:
        module_name, _, attribute = env.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise ValueError(f"cannot import the module of env {env!r}: {error}") from None
        if hasattr(module, attribute):
            target = getattr(module, attribute)
            return lambda: target(**kwargs)
        if attribute in gym.registry:
            return lambda: gym.make(attribute, **kwargs)
        raise ValueError(f"{module_name} has no class {attribute!r} and registers no env id {attribute!r}")
    if env not in gym.registry:
        close = [name for name in gym.registry if env.split("/")[-1].lower() in name.lower()][:5]
        hint = f" Did you mean one of {close}?" if close else ""
        raise ValueError(f"unknown env id {env!r}; agile ids: {', '.join(sorted(agile_gym.ENVIRONMENTS))}. Another "
                         "env: register it with gymnasium.register, or pass 'module:Class' or 'module:EnvId' so the "
                         f"module that registers it is imported.{hint}")
    return lambda: gym.make(env, **kwargs)


def check_text_env(env: gym.Env) -> None:
    """Fail early, naming the space, when an env is not text in and text out."""
    for name in ("observation_space", "action_space"):
        space = getattr(env, name)
        if not isinstance(space, Text):
            raise TypeError(
                f"the trainer needs text observations and actions; {type(env.unwrapped).__name__}.{name} is "
                f"{space!r}. Wrap the env so both spaces are gymnasium.spaces.Text."
            )


def make_envs(env: str, kwargs: dict[str, Any], count: int, wrap: Callable[[gym.Env], gym.Env] | None = None
              ) -> list[gym.Env]:
    """`count` copies of `env`, each checked to be text in and text out, then wrapped by `wrap` if given.
    ValueError / TypeError name a bad env id or a non-text space."""
    factory = env_factory(env, kwargs)
    envs = []
    for _ in range(count):
        instance = factory()
        check_text_env(instance)
        envs.append(wrap(instance) if wrap else instance)
    return envs


def env_corpus(env: gym.Env, steps: int = 200, seed: int = 0) -> list[str]:
    """Observations and sampled actions of a short random run: text to train a tokenizer on."""
    texts: list[str] = []
    env.action_space.seed(seed)
    # Well-formed example actions, where the space offers them, beat random characters as tokenizer text.
    examples = list(getattr(env.action_space, "examples", ()))
    observation, _ = env.reset(seed=seed)
    texts.append(observation)
    for step in range(steps):
        action = examples[step % len(examples)] if examples else env.action_space.sample()
        texts.append(action)
        observation, _, terminated, truncated, _ = env.step(action)
        texts.append(observation)
        if terminated or truncated:
            observation, _ = env.reset()
            texts.append(observation)
    return texts


def env_text(env: str, kwargs: dict[str, Any], seed: int = 0) -> list[str]:
    """`env_corpus` of one fresh copy of `env`: what the tiny model's tokenizer learns from."""
    return env_corpus(env_factory(env, kwargs)(), seed=seed)
