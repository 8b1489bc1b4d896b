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
from agile_train.config import EnvConfig, EvalConfig, ModelConfig, PPOConfig, RecipeConfig, SFTConfig
from agile_train.evaluate import evaluate
from agile_train.ppo import train_ppo
from agile_train.sft import train_sft


def _with_cost(kwargs: str, cost: float) -> str:
    return json.dumps({**json.loads(kwargs), "advice_cost": cost})


def run_recipe(env: EnvConfig, model: ModelConfig, config: RecipeConfig) -> list[dict]:
    """Run every stage; returns one result row per (stage, advice cost), as in results.json."""
    output = Path(config.output_dir)
    rows: list[dict] = []

    def evaluate_stage(stage: str, policy: ModelConfig, adapter: str, cost: float, seconds: float) -> None:
        test = dataclasses.replace(env, env_kwargs=_with_cost(config.test_kwargs, cost))
        report = evaluate(test, policy, EvalConfig(adapter=adapter, seed=config.seed), progress=config.progress)
        rows.append({"stage": stage, "advice_cost": cost, "train_s": round(seconds, 1), **report})

    began = time.perf_counter()
    sft_dir = output / "sft"
    first = dataclasses.replace(env, env_kwargs=_with_cost(env.env_kwargs, config.advice_costs[0]))
    train_sft(first, model, SFTConfig(output_dir=str(sft_dir), epochs=config.sft_epochs, seed=config.seed,
                                      learning_rate=config.sft_learning_rate), progress=config.progress)
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
        evaluate_stage("untrained", untrained, "", cost, 0.0)
        evaluate_stage("sft", sft_policy, sft_adapter, cost, sft_s)
        began = time.perf_counter()
        ppo_dir = output / f"ppo_c{cost:g}"
        train_ppo(dataclasses.replace(env, env_kwargs=_with_cost(env.env_kwargs, cost)), sft_policy,
                  PPOConfig(init_adapter=sft_adapter, output_dir=str(ppo_dir), iterations=config.ppo_iterations,
                            learning_rate=config.ppo_learning_rate, checkpoint_every=config.ppo_iterations,
                            seed=config.seed),
                  progress=config.progress)
        ppo_s = time.perf_counter() - began
        # The run folder holds the trained policy (a full model or an adapter on the merged SFT adapter).
        evaluate_stage("sft+ppo", dataclasses.replace(model, model=""), str(ppo_dir), cost, sft_s + ppo_s)
    return rows


def markdown(rows: list[dict]) -> str:
    """The results table: one row per (stage, advice cost), the paper's metrics, training and evaluation seconds."""
    return markdown_table(rows, {"stage": "stage", "advice cost": lambda row: f"{row['advice_cost']:g}",
                                 **metric_columns(), "train s": "train_s", "eval s": "wall_s"})


def main(argv: list[str] | None = None) -> int:
    """`python -m agile_train.recipe`; writes results.md and results.json, returns the exit code."""
    from transformers import HfArgumentParser

    parser = HfArgumentParser((EnvConfig, ModelConfig, RecipeConfig), description=__doc__.split("\n\n")[0])
    env, model, config = parser.parse_args_into_dataclasses(args=argv, look_for_args_file=False)
    rows = run_recipe(env, model, config)
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
