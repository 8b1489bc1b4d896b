"""Play whole sessions with scripted agents and print the paper's metrics.

    python -m agile_gym.play                                  # every scripted agent, built-in ProductQA
    python -m agile_gym.play --agent oracle --env-kwargs '{"data_dir": "/path/to/data/productqa"}'

Bad input (an unknown env id, kwargs that are not a JSON object, a missing data folder, an unknown category)
ends the command before any session with one line on stderr naming the valid values, and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import NoReturn

import gymnasium as gym

import agile_gym  # noqa: F401  (registers the agile/ ids)
from agile_gym.agents import AGENTS, make_agent, play_session
from agile_gym.results import markdown_table, metric_columns


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


def _fail(message: object) -> int:
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """`python -m agile_gym.play`; returns the exit code (2 with one line on stderr for bad input)."""
    parser = _OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="agile/ProductQA-v2", help="registered environment id (default: %(default)s)")
    parser.add_argument("--env-kwargs", "--env_kwargs", default="{}",
                        help="JSON object of keyword arguments for gym.make")
    parser.add_argument("--agent", action="append", choices=sorted(AGENTS),
                        help="scripted agent to run; repeat for several (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="reset seed (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.env not in gym.registry:
        return _fail(f"unknown env id {args.env!r}; agile ids: {', '.join(sorted(agile_gym.ENVIRONMENTS))}")
    try:
        kwargs = json.loads(args.env_kwargs)
    except json.JSONDecodeError as error:
        return _fail(f"--env-kwargs is not valid JSON ({error}): {args.env_kwargs!r}; give a JSON object such as "
                     "'{\"max_questions\": 20}'")
    if not isinstance(kwargs, dict):
        return _fail(f"--env-kwargs must be a JSON object such as '{{\"max_questions\": 20}}', got {args.env_kwargs!r}")
    try:  # the env is made once before any session, so its data and kwargs are checked before any work
        gym.make(args.env, **kwargs).close()
    except (ValueError, TypeError, OSError) as error:
        return _fail(error)
    rows = []
    for name in args.agent or sorted(AGENTS):
        env = gym.make(args.env, **kwargs)
        start = time.perf_counter()
        metrics = play_session(env, make_agent(name, env), seed=args.seed)
        rows.append({"agent": name, **metrics, "seconds": f"{time.perf_counter() - start:.2f}"})
        env.close()
    types = sorted({name for row in rows for name in row["per_type"]})
    print(f"{args.env} {kwargs or '(built-in data)'}, seed {args.seed}")
    print(markdown_table(rows, {"agent": "agent", **metric_columns(types), "seconds": "seconds"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
