"""Run a model (with or without a LoRA adapter) greedily through whole sessions and report the paper's metrics.

    python -m agile_train.evaluate                                    # tiny model, built-in ProductQA test split
    python -m agile_train.evaluate --env agile/ProductQA-v0 --env-kwargs '{"split": "test"}' \\
        --model Qwen/Qwen2.5-0.5B-Instruct --adapter runs/ppo --output results/eval.json

Every env copy plays one whole episode (a session); their prompts are generated as one batch. Accuracy,
advice rate, total score, invalid-action rate and per-type accuracy come from the env's `info["metrics"]`
(every agile/ env reports them), weighted by questions across copies; any text env gets the mean return.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from agile_gym.rewards import merge_metrics
from agile_train.config import RunConfig
from agile_train.envs import make_envs
from agile_train.policy_agent import PolicyAgent


@torch.no_grad()
def evaluate(config: RunConfig, adapter: str = "", num_envs: int = 1, progress: bool = True) -> dict:
    envs = make_envs(config.env, config.env_kwargs_dict(), num_envs)
    agent = PolicyAgent(config, adapter)
    observations, infos = zip(*(env.reset(seed=config.seed + i) for i, env in enumerate(envs)))
    observations, infos = list(observations), list(infos)
    returns, running, generated = [0.0] * num_envs, set(range(num_envs)), 0
    began = time.perf_counter()
    bar = _bar(progress)
    while running:
        order = sorted(running)
        replies = agent.act_batch([observations[i] for i in order], [infos[i] for i in order])
        for i, reply in zip(order, replies):
            generated += reply.completion_tokens
            observations[i], reward, terminated, truncated, infos[i] = envs[i].step(reply.text)
            returns[i] += float(reward)
            if terminated or truncated:
                running.discard(i)
        if bar is not None:
            bar.update(len(order))
    if bar is not None:
        bar.close()
    report = aggregate([info.get("metrics") for info in infos], returns)
    report.update({"env": config.env, "env_kwargs": config.env_kwargs_dict(), **agent.describe(),
                   "sessions": num_envs, "generated_tokens": generated,
                   "wall_s": round(time.perf_counter() - began, 2)})
    for env in envs:
        env.close()
    return report


def aggregate(metrics: list[dict | None], returns: list[float]) -> dict:
    """Question-weighted metrics across sessions (when the env reports them) and the mean episode return."""
    report: dict = {"mean_return": sum(returns) / max(1, len(returns))}
    if any(m and m.get("questions") for m in metrics):
        report.update(merge_metrics([m for m in metrics if m]))
    return report


def _bar(enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(desc="evaluate", unit="action")


def format_report(report: dict) -> str:
    if "accuracy" not in report:
        return f"mean return {report['mean_return']:.3f} over {report['sessions']} session(s)"
    lines = ["| metric | value |", "|---|---|"]
    for key in ("questions", "accuracy", "advice_rate", "total_score", "invalid_action_rate"):
        value = report[key]
        lines.append(f"| {key} | {value:.3f} |" if isinstance(value, float) else f"| {key} | {value} |")
    for name, row in sorted(report["per_type"].items()):
        lines.append(f"| accuracy ({name}, {row['questions']} q) | {row['accuracy']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from transformers import HfArgumentParser

    parser = HfArgumentParser(RunConfig, description=__doc__.split("\n\n")[0])
    parser.add_argument("--adapter", default="", help="LoRA adapter folder or a run folder (its latest checkpoint)")
    parser.add_argument("--num-envs", type=int, default=1, help="sessions played side by side (seeds seed..seed+n-1)")
    parser.add_argument("--output", default="", help="write the metrics as JSON here")
    parser.set_defaults(env_kwargs='{"split": "test"}')
    try:
        config, extra = parser.parse_args_into_dataclasses(args=argv, look_for_args_file=False)
        report = evaluate(config, extra.adapter, extra.num_envs)
    except (ValueError, TypeError, FileNotFoundError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_report(report))
    if extra.output:
        Path(extra.output).parent.mkdir(parents=True, exist_ok=True)
        Path(extra.output).write_text(json.dumps(report, indent=2))
        print(f"wrote {extra.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
