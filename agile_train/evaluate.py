"""Run a model (with or without a LoRA adapter) greedily through whole sessions and report the paper's metrics.

    python -m agile_train.evaluate                                    # tiny model, built-in ProductQA test split
    python -m agile_train.evaluate --env agile/ProductQA-v2 --env-kwargs '{"split": "test"}' \\
        --model Qwen/Qwen2.5-0.5B-Instruct --adapter runs/ppo --output results/eval.json

A session is one category played from its first question (an episode of the env with that category); the
`--num-envs` copies each play whole sessions, the next as one ends, and their prompts are generated as one
batch, so the metrics are the same for any number of copies. Accuracy,
advice rate, total score, invalid-action rate and per-type accuracy come from the env's `info["metrics"]`
(every agile/ env reports them), weighted by questions across copies; any text env gets the mean return.
"""

from __future__ import annotations

import functools
import json
import sys
import time

import gymnasium as gym
import torch

from agile_gym.episodes import Step, play_episodes
from agile_gym.files import atomic_write
from agile_gym.progress import progress_bar
from agile_gym.results import markdown_table
from agile_gym.rewards import merge_metrics
from agile_train.cli import BAD_INPUT, fail, make_parser
from agile_train.config import EnvConfig, EvalConfig, ModelConfig
from agile_train.cores import use_available_cores
from agile_train.env_defaults import data_line, describe_data, resolve_env
from agile_train.env_factory import env_text, make_envs
from agile_train.policy_agent import PolicyAgent


@torch.no_grad()
def evaluate(env: EnvConfig, model: ModelConfig, config: EvalConfig, progress: bool = True) -> dict:
    """Greedy whole sessions of the policy `model` (+ `config.adapter`) on `env`, its kwargs merged over the
    env's evaluation defaults (ProductQA: split test).

    A session is one category (or the whole env, for a task without categories), played from its first
    question with its own memory; `config.num_envs` copies each take whole sessions, the next as one ends, so
    the metrics do not depend on `num_envs`. Fewer sessions than copies: it runs one copy per session and says
    so on stderr. `max_questions` applies per session. Returns the question-weighted paper metrics (when the
    env reports `info["metrics"]`), the mean return per session, the data played (`agile_train.env_defaults.
    describe_data`), what was loaded, the generated tokens and the wall time in seconds."""
    env = resolve_env(env, "eval")
    plan = sessions(env, config.orders, config.seed)
    copies = min(config.num_envs, len(plan))
    if copies < config.num_envs:
        print(f"evaluate: runs {copies} env copies, not --num-envs {config.num_envs}: only {len(plan)} session(s) "
              "to play, and a session is never split (its memory runs through it)", file=sys.stderr)
    agent = PolicyAgent(model, config.adapter, corpus=lambda: env_text(env.env, env.kwargs(), config.seed),
                        seed=config.seed)
    began = time.perf_counter()
    counts = plan_questions(plan)
    # Questions towards their total (so the bar shows an ETA); steps, without a total, for an env that does not
    # count questions.
    bar = progress_bar("evaluate", counts, unit="question" if counts is not None else "step", enabled=progress)
    done: dict[int, int] = {}

    def count(step: Step) -> None:
        if counts is None:
            bar.update(1)
            return
        settled = (step.next_info.get("metrics") or {}).get("questions", 0)  # so far in this session
        bar.update(settled - done.get(step.episode, 0))
        done[step.episode] = settled

    factories = [functools.partial(make_one, env.env, kwargs) for kwargs, _, _ in plan]
    episodes = play_episodes(factories, lambda _, observations, infos: agent.act_batch(observations, infos),
                             seeds=[seed for _, _, seed in plan], max_parallel=copies, close=True, on_step=count)
    bar.close()
    report = aggregate([episode.info.get("metrics") for episode in episodes],
                       [episode.total_reward for episode in episodes])
    report.update({"env": env.env, "env_kwargs": env.kwargs(), "data": plan_data(env, plan), **agent.describe(),
                   "sessions": len(plan), "env_copies": copies,
                   "generated_tokens": sum(episode.completion_tokens for episode in episodes),
                   "wall_s": round(time.perf_counter() - began, 2)})
    return report


def make_one(env_id: str, kwargs: dict) -> gym.Env:
    """One checked text env (a session's)."""
    (instance,) = make_envs(env_id, kwargs, 1)
    return instance


def sessions(env: EnvConfig, orders: int = 1, seed: int = 0) -> list[tuple[dict, dict, int]]:
    """(kwargs, data description, reset seed) of each session of `env`: one per category when it has several
    (ProductQA given a list or a whole split), else the env as given; each played from reset seeds seed, ...,
    seed + orders - 1."""
    kwargs = env.kwargs()
    probe = make_one(env.env, kwargs)
    try:
        whole = describe_data(env.env, kwargs, probe)
    finally:
        probe.close()
    categories = whole["categories"] or []
    parts = [(kwargs, whole)]
    if len(categories) > 1:
        questions = whole["questions"]
        parts = [({**kwargs, "category": name},
                  {**whole, "kwargs": {**kwargs, "category": name}, "categories": [name],
                   "questions": {name: questions[name]}}) for name in categories]
    return [(kwargs, described, seed + order) for order in range(orders) for kwargs, described in parts]


def plan_questions(plan: list[tuple[dict, dict, int]]) -> int | None:
    """Questions in every session together, None when the env does not say (the bar then counts without a
    total)."""
    total = 0
    for _, described, _ in plan:
        questions = described["questions"]
        if questions is None:
            return None
        total += sum(questions.values()) if isinstance(questions, dict) else questions
    return total


def plan_data(env: EnvConfig, plan: list[tuple[dict, dict, int]]) -> dict:
    """The data of every session together (each category once), as `describe_data` words it."""
    first = plan[0][1]
    if first["categories"] is None or len(plan) == 1:
        return first
    questions = {name: n for _, described, _ in plan for name, n in described["questions"].items()}
    return {**first, "kwargs": env.kwargs(), "categories": list(questions), "questions": questions}


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
    parser = make_parser((EnvConfig, ModelConfig, EvalConfig), __doc__.split("\n\n")[0])
    try:
        env, model, config = parser.parse_args_into_dataclasses(args=argv, look_for_args_file=False)
        use_available_cores()
        report = evaluate(env, model, config, progress=not config.quiet)
    except BAD_INPUT as error:
        return fail(error)
    print(data_line("evaluation", report["data"]))
    print(format_report(report))
    if config.output:
        atomic_write(config.output, json.dumps(report, indent=2))
        print(f"wrote {config.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
