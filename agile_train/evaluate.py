"""Run a model (with or without a LoRA adapter) greedily through whole sessions and report the paper's metrics.

    python -m agile_train.evaluate                                    # tiny model, built-in ProductQA test split
    python -m agile_train.evaluate --env agile/ProductQA-v2 --env-kwargs '{"split": "test"}' \\
        --model Qwen/Qwen2.5-0.5B-Instruct --adapter runs/ppo --output results/eval.json

Every env copy plays one whole episode (a session); their prompts are generated as one batch. Accuracy,
advice rate, total score, invalid-action rate and per-type accuracy come from the env's `info["metrics"]`
(every agile/ env reports them), weighted by questions across copies; any text env gets the mean return.
"""

from __future__ import annotations

import json
import sys
import time

import torch

from agile_gym.episodes import play_episodes
from agile_gym.files import atomic_write
from agile_gym.progress import progress_bar
from agile_gym.results import markdown_table
from agile_gym.rewards import merge_metrics
from agile_train.config import EnvConfig, EvalConfig, ModelConfig
from agile_train.env_factory import env_text, make_envs
from agile_train.policy_agent import PolicyAgent

DEFAULT_ENV_KWARGS = '{"split": "test"}'


@torch.no_grad()
def evaluate(env: EnvConfig, model: ModelConfig, config: EvalConfig, progress: bool = True) -> dict:
    """Greedy whole sessions of the policy `model` (+ `config.adapter`) in `config.num_envs` copies of `env`.

    Returns the question-weighted paper metrics (when the env reports `info["metrics"]`), the mean return, what
    was loaded, the generated tokens and the wall time in seconds."""
    num_envs = config.num_envs
    envs = make_envs(env.env, env.kwargs(), num_envs)
    agent = PolicyAgent(model, config.adapter, corpus=lambda: env_text(env.env, env.kwargs(), config.seed),
                        seed=config.seed)
    began = time.perf_counter()
    bar = progress_bar("evaluate", unit="action", enabled=progress)
    episodes = play_episodes(envs, lambda _, observations, infos: agent.act_batch(observations, infos),
                             seeds=[config.seed + i for i in range(num_envs)], close=True,
                             on_step=lambda _: bar.update(1))
    bar.close()
    report = aggregate([episode.info.get("metrics") for episode in episodes],
                       [episode.total_reward for episode in episodes])
    report.update({"env": env.env, "env_kwargs": env.kwargs(), **agent.describe(),
                   "sessions": num_envs, "generated_tokens": sum(episode.completion_tokens for episode in episodes),
                   "wall_s": round(time.perf_counter() - began, 2)})
    return report


def aggregate(metrics: list[dict | None], returns: list[float]) -> dict:
    """Question-weighted metrics across sessions (when the env reports them) and the mean episode return."""
    report: dict = {"mean_return": sum(returns) / max(1, len(returns))}
    if any(m and m.get("questions") for m in metrics):
        report.update(merge_metrics([m for m in metrics if m]))
    return report


def format_report(report: dict) -> str:
    """The report as a markdown table of the paper's metrics (or the mean return for other envs)."""
    if "accuracy" not in report:
        return f"mean return {report['mean_return']:.3f} over {report['sessions']} session(s)"
    rows = [{"metric": key, "value": report[key]}
            for key in ("questions", "accuracy", "advice_rate", "total_score", "invalid_action_rate")]
    rows += [{"metric": f"accuracy ({name}, {row['questions']} q)", "value": row["accuracy"]}
             for name, row in sorted(report["per_type"].items())]
    return markdown_table(rows, {"metric": "metric", "value": "value"})


def main(argv: list[str] | None = None) -> int:
    """`python -m agile_train.evaluate`; returns the exit code (2 with one line on stderr for bad input)."""
    from transformers import HfArgumentParser

    parser = HfArgumentParser((EnvConfig, ModelConfig, EvalConfig), description=__doc__.split("\n\n")[0])
    parser.set_defaults(env_kwargs=DEFAULT_ENV_KWARGS)
    try:
        env, model, config = parser.parse_args_into_dataclasses(args=argv, look_for_args_file=False)
        report = evaluate(env, model, config)
    except (ValueError, TypeError, FileNotFoundError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_report(report))
    if config.output:
        atomic_write(config.output, json.dumps(report, indent=2))
        print(f"wrote {config.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
