"""AGILE's whole recipe in one command: imitation learning, then PPO, then evaluation on held-out questions.

    python -m agile_train.recipe                             # tiny model, built-in ProductQA, CPU, minutes
    python -m agile_train.recipe --advice-costs 0.1 0.5      # PPO once per advice cost
    python -m agile_train.recipe --model <name-or-path> --lora-r 16 --output-dir runs/recipe

Every stage is built from the same configs the single commands parse (EnvConfig, ModelConfig, SFTConfig,
PPOConfig, EvalConfig). Reports, for the same held-out sessions: the untrained model, SFT, and SFT+PPO at each
advice cost (accuracy, advice rate, total score, invalid-action rate, per type, wall time per stage) in
results.md and results.json.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from agile_gym.files import atomic_write
from agile_gym.results import markdown_table, metric_columns
from agile_train.cli import BAD_INPUT, fail, make_parser
from agile_train.config import TINY_MODEL, EnvConfig, EvalConfig, ModelConfig, PPOConfig, RecipeConfig, SFTConfig
from agile_train.cores import use_available_cores
from agile_train.env_defaults import data_line, describe_data, resolve_env
from agile_train.env_factory import make_envs
from agile_train.evaluate import evaluate
from agile_train.models import plan_model, resolve_base
from agile_train.named_models import NAMED_MODELS
from agile_train.ppo import train_ppo
from agile_train.sft import train_sft


def _with_cost(kwargs: str, cost: float) -> str:
    return json.dumps({**json.loads(kwargs), "advice_cost": cost})


def check_inputs(env: EnvConfig, model: ModelConfig, config: RecipeConfig) -> tuple[EnvConfig, EnvConfig]:
    """Everything the stages will read, checked before the first one runs: the train and test envs are made
    once at every advice cost (a wrong id, JSON, folder or category fails here, not after SFT) and the model
    spec resolved; returns the (train, test) EnvConfigs with each env's defaults merged in. Prints which split
    and categories each uses."""
    train = resolve_env(env, "train", config.allow_test_split)
    test = resolve_env(dataclasses.replace(env, env_kwargs=config.test_kwargs), "eval")
    for purpose, stage_env in (("train", train), ("test", test)):
        for cost in config.advice_costs:
            kwargs = json.loads(_with_cost(stage_env.env_kwargs, cost))
            (probe,) = make_envs(stage_env.env, kwargs, 1)
            try:
                described = describe_data(stage_env.env, kwargs, probe)
            finally:
                probe.close()
        print(data_line(purpose, described), flush=True)
    plan = plan_model(model.model)
    if plan.base != TINY_MODEL and plan.base not in NAMED_MODELS:
        resolve_base(model, plan.base, list)
    return train, test


def stage_count(config: RecipeConfig) -> int:
    """SFT, then per advice cost: evaluate the untrained and SFT policies, PPO, evaluate SFT+PPO."""
    return 1 + 3 * len(config.advice_costs)


def run_recipe(env: EnvConfig, model: ModelConfig, config: RecipeConfig) -> list[dict]:
    """Run every stage, each announced as 'stage i/n: ...'; returns one result row per (stage, advice cost), as
    in results.json. Bad input fails (ValueError, TypeError, OSError) before the first stage."""
    env, test_env = check_inputs(env, model, config)
    output = Path(config.output_dir)
    rows: list[dict] = []
    progress = not config.quiet
    stages = iter(range(1, stage_count(config) + 1))

    def header(text: str) -> None:
        print(f"stage {next(stages)}/{stage_count(config)}: {text}", flush=True)

    def evaluate_stage(stage: str, policy: ModelConfig, adapter: str, cost: float, seconds: float) -> None:
        test = dataclasses.replace(test_env, env_kwargs=_with_cost(test_env.env_kwargs, cost))
        report = evaluate(test, policy, EvalConfig(adapter=adapter, seed=config.seed), progress=progress)
        rows.append({"stage": stage, "advice_cost": cost, "train_s": round(seconds, 1), **report})

    began = time.perf_counter()
    sft_dir = output / "sft"
    first = dataclasses.replace(env, env_kwargs=_with_cost(env.env_kwargs, config.advice_costs[0]))
    header(f"SFT on expert sessions at c = {config.advice_costs[0]:g}")
    train_sft(first, model, SFTConfig(output_dir=str(sft_dir), epochs=config.sft_epochs, seed=config.seed,
                                      learning_rate=config.sft_learning_rate,
                                      allow_test_split=config.allow_test_split), progress=progress)
    sft_s = time.perf_counter() - began
    base = json.loads((sft_dir / "sft_state.json").read_text())["base_model"]
    full = model.lora_r == 0
    untrained = dataclasses.replace(model, model=base)
    # Fully fine-tuned, the SFT policy is a model folder; with LoRA, an adapter on the base.
    if full:
        sft_policy, sft_adapter = dataclasses.replace(model, model=str(sft_dir)), ""
    else:
        sft_policy, sft_adapter = untrained, str(sft_dir)
    for cost in config.advice_costs:
        header(f"evaluate the untrained and SFT policies at c = {cost:g}")
        evaluate_stage("untrained", untrained, "", cost, 0.0)
        evaluate_stage("sft", sft_policy, sft_adapter, cost, sft_s)
        header(f"PPO at c = {cost:g} ({config.ppo_iterations} iterations)")
        began = time.perf_counter()
        ppo_dir = output / f"ppo_c{cost:g}"
        train_ppo(dataclasses.replace(env, env_kwargs=_with_cost(env.env_kwargs, cost)), sft_policy,
                  PPOConfig(init_adapter=sft_adapter, output_dir=str(ppo_dir), iterations=config.ppo_iterations,
                            learning_rate=config.ppo_learning_rate, checkpoint_every=config.ppo_iterations,
                            seed=config.seed, allow_test_split=config.allow_test_split),
                  progress=progress)
        ppo_s = time.perf_counter() - began
        header(f"evaluate SFT+PPO at c = {cost:g}")
        # The run folder holds the trained policy (a full model or an adapter on the merged SFT adapter).
        evaluate_stage("sft+ppo", dataclasses.replace(model, model=""), str(ppo_dir), cost, sft_s + ppo_s)
    return rows


def markdown(rows: list[dict]) -> str:
    """The results table: one row per (stage, advice cost), the paper's metrics, training and evaluation seconds."""
    return markdown_table(rows, {"stage": "stage", "advice cost": lambda row: f"{row['advice_cost']:g}",
                                 **metric_columns(), "train s": "train_s", "eval s": "wall_s"})


def main(argv: list[str] | None = None) -> int:
    """`python -m agile_train.recipe`; writes results.md and results.json, returns the exit code."""
    parser = make_parser((EnvConfig, ModelConfig, RecipeConfig), __doc__.split("\n\n")[0])
    try:
        env, model, config = parser.parse_args_into_dataclasses(args=argv, look_for_args_file=False)
        use_available_cores()
        rows = run_recipe(env, model, config)
    except BAD_INPUT as error:
        return fail(error)
    table = markdown(rows)
    print(table)
    output = Path(config.output_dir)
    atomic_write(output / "results.md", table + "\n")
    configs = {"env": dataclasses.asdict(env), "model": dataclasses.asdict(model), "recipe": dataclasses.asdict(config)}
    atomic_write(output / "results.json", json.dumps({"config": configs, "results": rows}, indent=2, default=str))
    print(f"wrote {output}/results.md and results.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
