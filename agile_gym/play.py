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


def metrics_table(rows: list[tuple[str, dict]], extra_columns: dict[str, list] | None = None) -> str:
    """Markdown table: one row per (label, metrics) with overall numbers and accuracy per question type."""
    types = sorted({t for _, m in rows for t in m["per_type"]})
    header = ["agent", "questions", "accuracy", "advice rate", "total score", "invalid", *(f"acc {t}" for t in types)]
    header += list(extra_columns or {})
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, (label, m) in enumerate(rows):
        cells = [label, str(m["questions"]), f"{m['accuracy']:.3f}", f"{m['advice_rate']:.3f}",
                 f"{m['total_score']:.3f}", f"{m['invalid_action_rate']:.3f}"]
        cells += [f"{m['per_type'][t]['accuracy']:.3f}" if t in m["per_type"] else "-" for t in types]
        cells += [str(values[i]) for values in (extra_columns or {}).values()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="agile/ProductQA-v0", help="registered environment id (default: %(default)s)")
    parser.add_argument("--env-kwargs", default="{}", help="JSON object of keyword arguments for gym.make")
    parser.add_argument("--agent", action="append", choices=sorted(AGENTS),
                        help="scripted agent to run; repeat for several (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="reset seed (default: %(default)s)")
    args = parser.parse_args(argv)
    kwargs = json.loads(args.env_kwargs)
    rows, seconds = [], []
    for name in args.agent or sorted(AGENTS):
        env = gym.make(args.env, **kwargs)
        start = time.perf_counter()
        rows.append((name, play_session(env, make_agent(name, env), seed=args.seed)))
        seconds.append(f"{time.perf_counter() - start:.2f}")
        env.close()
    print(f"{args.env} {kwargs or '(built-in data)'}, seed {args.seed}")
    print(metrics_table(rows, {"seconds": seconds}))


if __name__ == "__main__":
    main()
