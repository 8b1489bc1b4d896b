"""Play whole sessions with scripted agents and print the paper's metrics.

    python -m agile_gym.play                                  # every scripted agent, built-in ProductQA
    python -m agile_gym.play --agent oracle --env-kwargs '{"data_dir": "../shared/data/productqa"}'
"""

from __future__ import annotations

import argparse
import json
import time

import gymnasium as gym

import agile_gym  # noqa: F401  (registers the agile/ ids)
from agile_gym.agents import AGENTS, make_agent, play_session
from agile_gym.results import markdown_table, metric_columns


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="agile/ProductQA-v2", help="registered environment id (default: %(default)s)")
    parser.add_argument("--env-kwargs", default="{}", help="JSON object of keyword arguments for gym.make")
    parser.add_argument("--agent", action="append", choices=sorted(AGENTS),
                        help="scripted agent to run; repeat for several (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="reset seed (default: %(default)s)")
    args = parser.parse_args(argv)
    kwargs = json.loads(args.env_kwargs)
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


if __name__ == "__main__":
    main()
