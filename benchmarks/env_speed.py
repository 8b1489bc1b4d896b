"""Environment step time (no agent) and retrieval latency as memory grows.

    python -m benchmarks.env_speed                       # 1k, 10k, 100k entries; writes results/env_speed.json
    python -m benchmarks.env_speed --sizes 1000 10000 --steps 200

Memory is preloaded with entries made from real question texts (built-in ones when the release is absent),
half as history spread over the category's products and half as category knowledge; then a session is
stepped with a fixed answer, so each step grades, stores one history entry and retrieves for the next question.
Retrieval is timed for the default incremental BM25 and for the bm25s library (rebuilt after every change, as
a growing memory forces; skipped above --bm25s-max entries because one rebuild takes seconds there).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

import agile_gym
from agile_gym.agents import AlwaysAdviceAgent, play_session
from agile_gym.episodes import play_episodes
from agile_gym.memory.store import Memory
from agile_gym.results import cell, markdown_table
from benchmarks.checks import check_env_id

ANSWER = "[PredictAnswer]\n[Answer]: yes\n[Short Answer]: yes"


def _corpus(size: int, texts: list[str], seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    picks = rng.integers(len(texts), size=(size, 2))
    return [f"{texts[a]} {texts[b]}" for a, b in picks]


def _fill(memory: Memory, entries: list[str], keys: list[str], scope: str) -> None:
    for i, text in enumerate(entries):
        if i % 2:
            memory.add_knowledge(scope, text)
        else:
            memory.add_history(keys[i % len(keys)], text, "yes")


def time_env_steps(env_id: str, env_kwargs: dict, size: int, steps: int, seed: int = 0) -> dict:
    """Step times of `env_id` with `size` memory entries preloaded, always answering `ANSWER`: the median
    and 90th percentile over the first `steps` steps (`median_step_ms`, `p90_step_ms`, milliseconds) and one
    `reset_ms` (milliseconds) after them."""
    env = gym.make(env_id, **env_kwargs)
    core = env.unwrapped
    texts = [item.question.question for item in core._all_items]
    keys = sorted({core._history_key(item) for item in core._all_items})
    _fill(core.memory, _corpus(size, texts, seed), keys, core._all_items[0].scope)
    core.memory.checkpoint()
    times: list[float] = []
    while len(times) < steps:  # whole sessions from the same seed; the first `steps` steps are timed
        play_episodes([core], lambda episodes, observations, infos: [ANSWER], seeds=[seed],
                      on_step=lambda step: times.append(step.seconds))
    times = times[:steps]
    start = time.perf_counter()
    env.reset(seed=seed)
    reset_s = time.perf_counter() - start
    env.close()
    return {"median_step_ms": 1e3 * statistics.median(times), "p90_step_ms": 1e3 * float(np.percentile(times, 90)),
            "reset_ms": 1e3 * reset_s}


def time_retrieval(retriever: str, size: int, texts: list[str], queries: int, seed: int = 0) -> dict:
    """Latency of memory with the `retriever` ('bm25', 'bm25s'...; ValueError for an unknown name) holding
    `size` entries: `median_add_ms` to add one knowledge entry and `median_retrieve_ms` to retrieve for one
    question, medians over `queries` add-then-retrieve rounds, in milliseconds."""
    memory = Memory(retriever)
    entries = _corpus(size + queries, texts, seed)
    _fill(memory, entries[:size], ["p0", "p1", "p2", "p3"], "scope")
    search, add = [], []
    for i, text in enumerate(entries[size:]):
        start = time.perf_counter()
        memory.add_knowledge("scope", text)
        add.append(time.perf_counter() - start)
        start = time.perf_counter()
        memory.retrieve(texts[i % len(texts)], f"p{i % 4}", "scope", 3, 3)
        search.append(time.perf_counter() - start)
    return {"median_add_ms": 1e3 * statistics.median(add), "median_retrieve_ms": 1e3 * statistics.median(search)}


def time_memory_init(records: int) -> dict:
    """MedMCQA with `records` preloaded QA pairs (+ one knowledge entry each): `construct_s`, the env's
    construction in seconds, and `reset_ms`, the median of 5 resets after a session, in milliseconds."""
    from agile_gym.data.builtin_medmcqa import builtin_medmcqa_records

    base = builtin_medmcqa_records()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "memory.jsonl"
        with path.open("w") as out:
            for i in range(records):
                record = dict(base[i % len(base)], id=f"m{i}")
                record["question"] = f"{record['question']} (case {i})"
                out.write(json.dumps(record) + "\n")
        start = time.perf_counter()
        env = gym.make("agile/MedMCQA-v2", memory_init=str(path))
        construct = time.perf_counter() - start
    resets = []
    for _ in range(5):
        play_session(env, AlwaysAdviceAgent(), seed=0)  # the session adds history that reset must roll back
        start = time.perf_counter()
        env.reset(seed=0)
        resets.append(time.perf_counter() - start)
    return {"records": records, "construct_s": construct, "reset_ms": 1e3 * statistics.median(resets)}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: time every env and memory size, print one JSON line per row and then a
    markdown table, and write all rows to `--output` (JSON). Returns 0, or 2 after one line on stderr for an
    unknown `--env`."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 10000, 100000], help="memory entries")
    parser.add_argument("--steps", type=int, default=300, help="env steps timed per size (default: %(default)s)")
    parser.add_argument("--queries", type=int, default=50, help="retrievals timed per size (default: %(default)s)")
    parser.add_argument("--bm25s-max", type=int, default=10000, help="largest memory timed with bm25s")
    parser.add_argument("--memory-init", type=int, default=10000, help="MedMCQA memory_init records to time")
    parser.add_argument("--env", action="append", help="env id (default: every registered agile/ env)")
    parser.add_argument("--output", default="results/env_speed.json", help="JSON file (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        for env_id in args.env or []:
            check_env_id(env_id)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    rows = []
    for env_id in args.env or sorted(agile_gym.ENVIRONMENTS):
        kwargs = {"max_questions": 40}
        texts = [item.question.question for item in gym.make(env_id).unwrapped._all_items]
        for size in args.sizes:
            row = {"env": env_id, "entries": size, **time_env_steps(env_id, kwargs, size, args.steps)}
            row["retrieve_ms_bm25"] = time_retrieval("bm25", size, texts, args.queries)["median_retrieve_ms"]
            row["retrieve_ms_bm25s"] = (
                time_retrieval("bm25s", size, texts, min(args.queries, 10))["median_retrieve_ms"]
                if size <= args.bm25s_max else None
            )
            rows.append(row)
            print(json.dumps(row), flush=True)
    init = time_memory_init(args.memory_init)
    print(json.dumps(init), flush=True)
    print("\n" + markdown_table(rows, {
        "env": "env", "entries": "entries", "median step ms": "median_step_ms", "p90 step ms": "p90_step_ms",
        "reset ms": lambda r: cell(r["reset_ms"], 2), "retrieve ms (bm25)": "retrieve_ms_bm25",
        "retrieve ms (bm25s, rebuilt)": (
            lambda r: cell(r["retrieve_ms_bm25s"], 2) if r["retrieve_ms_bm25s"] else "skipped"
        ),
        "bm25s / bm25": (
            lambda r: f"{r['retrieve_ms_bm25s'] / r['retrieve_ms_bm25']:.0f}x" if r["retrieve_ms_bm25s"] else "-"
        ),
    }))
    print(f"\nMedMCQA memory_init of {init['records']} records: construction {init['construct_s']:.2f} s "
          f"(once per env), reset {init['reset_ms']:.2f} ms median after a 40-question session")
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"machine": platform.platform(), "python": platform.python_version(),
                                  "agile": agile_gym.__version__, "rows": rows,
                                  "memory_init": init}, indent=2))
    print(f"\nwrote {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
