"""Benchmark sessions: what one is (agent x advice cost x ablation x category), playing many side by side, and
saving each finished one so an interrupted run resumes from the last finished session."""

from __future__ import annotations

import json
import os
import re
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym

from benchmarks.agents import AgentPool
from benchmarks.report import atomic_write_text

ABLATIONS = ("memory", "reflection", "advice", "tools")
FULL = "full"


def ablation_kwargs(ablation: str) -> dict[str, bool]:
    """'full' -> {}; 'memory+reflection' -> {'memory': False, 'reflection': False}."""
    if ablation == FULL:
        return {}
    parts = ablation.split("+")
    unknown = [part for part in parts if part not in ABLATIONS]
    if unknown or not parts:
        raise ValueError(f"--ablate {ablation}: choose from {', '.join(ABLATIONS)} (combine with '+')")
    return {part: False for part in parts}


@dataclass(frozen=True)
class SessionSpec:
    """Everything that decides a session's outcome; a saved session is reused only for an equal spec."""

    agent: str
    advice_cost: float
    ablation: str
    category: str
    env: str
    env_kwargs: dict = field(hash=False)
    agent_options: dict = field(hash=False)
    seed: int = 0

    @property
    def key(self) -> str:
        return "/".join(_slug(part) for part in (self.agent, f"c{self.advice_cost:g}", self.ablation, self.category))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("_") or "_"


class SessionStore:
    """One JSON file per finished session under `root/sessions/`, written atomically (temp file + rename)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root) / "sessions"

    def path(self, spec: SessionSpec) -> Path:
        return self.root / f"{spec.key}.json"

    def load(self, spec: SessionSpec) -> dict | None:
        path = self.path(spec)
        if not path.exists():
            return None
        try:
            saved = json.loads(path.read_text())
        except json.JSONDecodeError:
            return None
        return saved if saved.get("spec") == _jsonable(asdict(spec)) else None

    def save(self, spec: SessionSpec, result: dict) -> None:
        atomic_write_text(self.path(spec), json.dumps(result))


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))


@dataclass
class _Running:
    spec: SessionSpec
    env: gym.Env
    observation: str
    info: dict
    began: float
    wall_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    trace: dict = field(default_factory=lambda: {"type": [], "correct": [], "advised": [], "invalid": []})


def play_sessions(pool: AgentPool, specs: list[SessionSpec], store: SessionStore, batch_size: int = 16,
                  progress: bool = True) -> tuple[list[dict], list[dict]]:
    """Play every spec with `pool`, up to `batch_size` sessions side by side (one batched agent call per step).

    Returns (finished session results, failures). A session whose env or agent fails is a failure entry and
    is not saved, so the next run retries it; the others go on.
    """
    pending, running = deque(specs), []
    finished: list[dict] = []
    failures: list[dict] = []
    bar = _bar(progress, pool.spec)

    def fail(session_spec: SessionSpec, error: str, env: gym.Env | None = None) -> None:
        failures.append({"spec": _jsonable(asdict(session_spec)), "error": error})
        pool.close(session_spec.key)
        if env is not None:
            env.close()

    while pending or running:
        while pending and len(running) < batch_size:
            spec = pending.popleft()
            try:
                env = gym.make(spec.env, **spec.env_kwargs)
                observation, info = env.reset(seed=spec.seed)
                pool.open(spec.key, env)
            except Exception as error:
                fail(spec, f"could not start the session: {type(error).__name__}: {error}")
                continue
            if bar is not None and info.get("question"):
                bar.total = (bar.total or 0) + info["question"]["session_length"]
                bar.refresh()
            running.append(_Running(spec, env, observation, info, began=time.perf_counter()))
        if not running:
            break
        began = time.perf_counter()
        try:
            replies = pool.act([r.spec.key for r in running], [r.observation for r in running],
                               [r.info for r in running])
        except Exception as error:
            for r in running:
                fail(r.spec, f"agent failed: {type(error).__name__}: {error}", r.env)
            running = []
            continue
        share = (time.perf_counter() - began) / len(running)
        still_running = []
        for r, reply in zip(running, replies):
            r.wall_s += share
            if reply.error is not None:
                fail(r.spec, f"agent failed: {reply.error}", r.env)
                continue
            r.prompt_tokens += reply.prompt_tokens
            r.completion_tokens += reply.completion_tokens
            step_began = time.perf_counter()
            try:
                r.observation, _, terminated, truncated, r.info = r.env.step(reply.text)
            except Exception as error:
                fail(r.spec, f"env step failed: {type(error).__name__}: {error}", r.env)
                continue
            r.wall_s += time.perf_counter() - step_began
            result = r.info.get("result", {})
            if result.get("scored"):
                r.trace["type"].append(result["question_type"])
                for name, key in (("correct", "correct"), ("advised", "advised"), ("invalid", "invalid_action")):
                    r.trace[name].append(int(bool(result[key])))
                if bar is not None:
                    bar.update(1)
            if terminated or truncated:
                session = _result(r)
                store.save(r.spec, session)
                finished.append(session)
                pool.close(r.spec.key)
                r.env.close()
            else:
                still_running.append(r)
        running = still_running
    if bar is not None:
        bar.close()
    return finished, failures


def _result(r: _Running) -> dict:
    return {"spec": _jsonable(asdict(r.spec)), "metrics": r.info["metrics"], "trace": r.trace,
            "wall_s": round(r.wall_s, 3), "prompt_tokens": r.prompt_tokens,
            "completion_tokens": r.completion_tokens}


def _bar(enabled: bool, label: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(desc=label, unit="q", total=0)
