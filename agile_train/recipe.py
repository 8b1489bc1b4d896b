"""AGILE's whole recipe in one command: imitation learning, then PPO, then evaluation on held-out questions.

    python -m agile_train.recipe                             # tiny model, built-in ProductQA, CPU, minutes
    python -m agile_train.recipe --advice-costs 0.1 0.5      # PPO once per advice cost
    python -m agile_train.recipe --model <name-or-path> --lora-r 16 --output-dir runs/recipe

Reports, for the same held-out sessions: the untrained model, SFT, and SFT+PPO at each advice cost (accuracy,
advice rate, total score, invalid-action rate, per type, wall time per stage) in results.md and results.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from agile_train.config import TINY_MODEL, PPOConfig, RunConfig
from agile_train.evaluate import evaluate
from agile_train.ppo import train_ppo
from agile_train.sft import SFTConfig, train_sft


def run_recipe(args: argparse.Namespace) -> list[dict]:
    output = Path(args.output_dir)
    lora_r = args.lora_r if args.lora_r >= 0 else (0 if args.model == TINY_MODEL else 16)
    common = dict(env=args.env, model=args.model, lora_r=lora_r, seed=args.seed, max_new_tokens=args.max_new_tokens,
                  max_prompt_tokens=args.max_prompt_tokens, tiny_hidden_size=args.tiny_hidden_size)
    train_kwargs, test_kwargs = json.loads(args.train_kwargs), json.loads(args.test_kwargs)
    rows: list[dict] = []

    def evaluate_stage(stage: str, model: str, adapter: str, cost: float, seconds: float) -> None:
        config = RunConfig(**{**common, "model": model, "lora_r": 0},
                           env_kwargs=json.dumps({**test_kwargs, "advice_cost": cost}))
        report = evaluate(config, adapter=adapter, num_envs=1, progress=args.progress)
        rows.append({"stage": stage, "advice_cost": cost, "train_s": round(seconds, 1), **report})

    began = time.perf_counter()
    sft_dir = output / "sft"
    train_sft(SFTConfig(**common, env_kwargs=json.dumps({**train_kwargs, "advice_cost": args.advice_costs[0]}),
                        output_dir=str(sft_dir), epochs=args.sft_epochs, learning_rate=args.sft_learning_rate),
              progress=args.progress)
    sft_s = time.perf_counter() - began
    base = json.loads((sft_dir / "sft_state.json").read_text())["base_model"]
    sft_model, sft_adapter = (str(sft_dir), "") if lora_r == 0 else (base, str(sft_dir))
    for cost in args.advice_costs:
        evaluate_stage("untrained", base, "", cost, 0.0)
        evaluate_stage("sft", sft_model, sft_adapter, cost, sft_s)
        began = time.perf_counter()
        ppo_dir = output / f"ppo_c{cost:g}"
        train_ppo(PPOConfig(**{**common, "model": sft_model}, init_adapter=sft_adapter, output_dir=str(ppo_dir),
                            env_kwargs=json.dumps({**train_kwargs, "advice_cost": cost}), iterations=args.ppo_iterations,
                            learning_rate=args.ppo_learning_rate, checkpoint_every=args.ppo_iterations),
                  progress=args.progress)
        ppo_s = time.perf_counter() - began
        if lora_r == 0:
            from agile_train.checkpoint import latest_checkpoint

            evaluate_stage("sft+ppo", str(latest_checkpoint(ppo_dir) / "policy"), "", cost, sft_s + ppo_s)
        else:
            evaluate_stage("sft+ppo", base, str(ppo_dir), cost, sft_s + ppo_s)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| stage | advice cost | accuracy | advice rate | total score | invalid | train s | eval s |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['stage']} | {row['advice_cost']:g} | {row['accuracy']:.3f} | {row['advice_rate']:.3f} | "
                     f"{row['total_score']:.3f} | {row['invalid_action_rate']:.3f} | {row['train_s']} | {row['wall_s']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--env", default="agile/ProductQA-v0")
    parser.add_argument("--train-kwargs", default='{"split": "train"}', help="env kwargs for SFT and PPO (JSON)")
    parser.add_argument("--test-kwargs", default='{"split": "test"}', help="env kwargs for evaluation (JSON)")
    parser.add_argument("--model", default=TINY_MODEL, help="hub name, local folder, or 'tiny'")
    parser.add_argument("--lora-r", type=int, default=-1, help="-1: full fine-tuning for tiny, LoRA r=16 otherwise")
    parser.add_argument("--advice-costs", type=float, nargs="+", default=[0.1, 0.5])
    parser.add_argument("--sft-epochs", type=int, default=6)
    parser.add_argument("--sft-learning-rate", type=float, default=1e-3)
    parser.add_argument("--ppo-iterations", type=int, default=20)
    parser.add_argument("--ppo-learning-rate", type=float, default=1e-5)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--max-prompt-tokens", type=int, default=1024)
    parser.add_argument("--tiny-hidden-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", default="runs/recipe")
    parser.add_argument("--quiet", dest="progress", action="store_false", help="no progress bars")
    args = parser.parse_args(argv)
    rows = run_recipe(args)
    table = markdown(rows)
    print(table)
    output = Path(args.output_dir)
    (output / "results.md").write_text(table + "\n")
    (output / "results.json").write_text(json.dumps({"config": vars(args), "results": rows}, indent=2, default=str))
    print(f"wrote {output}/results.md and results.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
