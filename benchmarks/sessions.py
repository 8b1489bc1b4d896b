"""Benchmark sessions: what one is (agent x advice cost x ablation x category), playing many side by side, and
saving each finished one so an interrupted run resumes from the last finished session."""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym

from agile_gym.episodes import Episode, Step, play_episodes
from agile_gym.files import atomic_write, load_saved
from agile_gym.progress import progress_bar
from benchmarks.agents import AgentPool
from benchmarks.provenance import verified

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
    """Everything that decides a session's outcome; a saved session is reused only for an equal spec.

    `agent` is the `--agent` value, `env` the env id with its version, `env_kwargs` every keyword argument the
    session's env is made with; `fingerprint` says what those names stand for now (`benchmarks.provenance`):
    {"agent": the agent's code and weights, "env_code": the agile_gym sources, "data": the session's data}.
    """

    agent: str
    advice_cost: float
    ablation: str
    category: str
    env: str
    env_kwargs: dict = field(hash=False)
    agent_options: dict = field(hash=False)
    seed: int = 0
    fingerprint: dict = field(default_factory=dict, hash=False)

    @property
    def key(self) -> str:
        """The session's path-safe id, `agent/c<cost>/ablation/category` (each part slugged): its file name in
        `SessionStore` and its key in `AgentPool`."""
        return "/".join(_slug(part) for part in (self.agent, f"c{self.advice_cost:g}", self.ablation, self.category))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("_") or "_"


class SessionStore:
    """One JSON file per finished session under `root/sessions/`, written atomically (temp file + rename)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root) / "sessions"

    def path(self, spec: SessionSpec) -> Path:
        """Where `spec`'s finished session is (or would be) saved: `root/sessions/<spec.key>.json`."""
        return self.root / f"{spec.key}.json"

    def load(self, spec: SessionSpec) -> dict | None:
        """The saved session dict for `spec`, or None when there is none, its JSON is unreadable, it was saved
        for a different spec (same key, other settings, or another fingerprint: changed agent code, weights,
        env code or data), or `spec`'s fingerprint is not verified (weights not identified yet)."""
        if not verified(spec.fingerprint.get("agent", {})):
            return None
        return load_saved(self.path(spec), "spec", _jsonable(asdict(spec)))

    def save(self, spec: SessionSpec, result: dict) -> None:
        """Write `result` (JSON-serializable) as `spec`'s session, atomically, replacing any earlier file."""
        atomic_write(self.path(spec), json.dumps(result))


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))


def play_sessions(pool: AgentPool, specs: list[SessionSpec], store: SessionStore, batch_size: int = 16,
                  progress: bool = True) -> tuple[list[dict], list[dict]]:
    """Play every spec with `pool`, up to `batch_size` sessions side by side (one batched agent call per step).

    Returns (finished session results, failures), each in the order the sessions ended. A session whose env or
    agent fails is a failure entry and is not saved, so the next run retries it; the others go on.
    """
    finished: list[dict] = []
    failures: list[dict] = []
    traces = [{"type": [], "correct": [], "advised": [], "invalid": []} for _ in specs]
    bar = progress_bar(pool.spec, total=0, unit="q", enabled=progress)

    def start(index: int, env: gym.Env, info: dict) -> None:
        pool.open(specs[index].key, env)
        if info.get("question"):
            bar.total += info["question"]["session_length"]
            bar.refresh()

    def record(step: Step) -> None:
        result = step.next_info.get("result", {})
        if result.get("scored"):
            trace = traces[step.episode]
            trace["type"].append(result["question_type"])
            for name, key in (("correct", "correct"), ("advised", "advised"), ("invalid", "invalid_action")):
                trace[name].append(int(bool(result[key])))
            bar.update(1)

    def end(episode: Episode) -> None:
        spec = specs[episode.index]
        if episode.finished:
            session = {"spec": _jsonable(asdict(spec)), "metrics": episode.info["metrics"],
                       "trace": traces[episode.index], "wall_s": round(episode.wall_s, 3),
                       "prompt_tokens": episode.prompt_tokens, "completion_tokens": episode.completion_tokens}
            store.save(spec, session)
            finished.append(session)
        else:
            failures.append({"spec": _jsonable(asdict(spec)), "error": episode.error})
        pool.close(spec.key)

    play_episodes([functools.partial(gym.make, spec.env, **spec.env_kwargs) for spec in specs],
                  lambda episodes, observations, infos: pool.act([specs[i].key for i in episodes], observations, infos),
                  seeds=[spec.seed for spec in specs], max_parallel=batch_size, catch_errors=True, close=True,
                  on_start=start, on_step=record, on_end=end)
    bar.close()
    return finished, failures
