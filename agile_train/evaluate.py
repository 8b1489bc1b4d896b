"""Run a model (with or without a LoRA adapter) greedily through whole sessions and report the paper's metrics.

    python -m agile_train.evaluate                                    # tiny model, built-in ProductQA test split
    python -m agile_train.evaluate --env agile/ProductQA-v0 --env-kwargs '{"split": "test"}' \\
        --model Qwen/Qwen2.5-0.5B-Instruct --adapter runs/ppo --output results/eval.json

Every env copy plays one whole episode (a session); their prompts are generated as one batch. Accuracy,
advice rate, total score, invalid-action rate and per-type accuracy come from the env's `info["metrics"]`
(every agile/ env reports them), weighted by questions across copies; any text env gets the mean return.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

from agile_train.checkpoint import latest_checkpoint
from agile_train.config import TINY_MODEL, RunConfig
from agile_train.envs import make_envs
from agile_train.generation import Sampling, sample_actions
from agile_train.models import load_policy, load_tokenizer, resolve_device
from agile_train.ppo import resolve_model_path_for
from agile_train.rollout import PromptEncoder


def adapter_folders(path: str) -> tuple[str, str]:
    """(adapter, merged first): a LoRA folder, or a PPO run folder whose latest checkpoint holds one, with the
    run's `init_adapter` (its SFT adapter) to merge into the base model before it."""
    folder = Path(path)
    if (folder / "adapter_config.json").exists():
        return str(folder), ""
    checkpoint = latest_checkpoint(folder)
    if checkpoint is not None and (checkpoint / "policy" / "adapter_config.json").exists():
        run_config = json.loads((folder / "config.json").read_text()) if (folder / "config.json").exists() else {}
        return str(checkpoint / "policy"), run_config.get("init_adapter", "")
    raise FileNotFoundError(f"--adapter {path}: neither a LoRA adapter folder (adapter_config.json) nor a run "
                            "folder with a LoRA checkpoint")


def base_model_of(adapter: str) -> str:
    return json.loads((Path(adapter) / "adapter_config.json").read_text())["base_model_name_or_path"]


@torch.no_grad()
def evaluate(config: RunConfig, adapter: str = "", num_envs: int = 1, progress: bool = True) -> dict:
    device = resolve_device("auto")
    envs = make_envs(config.env, config.env_kwargs_dict(), num_envs)
    merge_first = ""
    if adapter:
        adapter, merge_first = adapter_folders(adapter)
    base_adapter = merge_first or adapter
    model_path = base_model_of(base_adapter) if adapter and config.model == TINY_MODEL else resolve_model_path_for(config)
    tokenizer = load_tokenizer(adapter or model_path)
    # No adapter means the plain model: no fresh LoRA layers around it.
    plain = config if adapter else dataclasses.replace(config, lora_r=0)
    policy = load_policy(plain, model_path, device, adapter=adapter, with_reference=False,
                         merge_first=merge_first).eval()
    encoder = PromptEncoder(tokenizer, config.chat_template, "last", config.max_prompt_tokens)
    sampling = Sampling(config.max_new_tokens, temperature=0.0)
    observations, infos = zip(*(env.reset(seed=config.seed + i) for i, env in enumerate(envs)))
    observations, infos = list(observations), list(infos)
    returns, running, generated = [0.0] * num_envs, set(range(num_envs)), 0
    began = time.perf_counter()
    bar = _bar(progress)
    while running:
        order = sorted(running)
        prompts = [encoder.encode(observations[i], None) for i in order]
        responses = sample_actions(policy.model, tokenizer, prompts, sampling, device)
        for i, response in zip(order, responses):
            generated += len(response)
            text = tokenizer.decode(response, skip_special_tokens=True)
            observations[i], reward, terminated, truncated, infos[i] = envs[i].step(text)
            returns[i] += float(reward)
            if terminated or truncated:
                running.discard(i)
        if bar is not None:
            bar.update(len(order))
    if bar is not None:
        bar.close()
    report = aggregate([info.get("metrics") for info in infos], returns)
    report.update({"env": config.env, "env_kwargs": config.env_kwargs_dict(), "model": model_path,
                   "adapter": adapter or None, "merged_adapter": merge_first or None, "sessions": num_envs, "generated_tokens": generated,
                   "wall_s": round(time.perf_counter() - began, 2)})
    for env in envs:
        env.close()
    return report


def aggregate(metrics: list[dict | None], returns: list[float]) -> dict:
    """Question-weighted metrics across sessions (when the env reports them) and the mean episode return."""
    report: dict = {"mean_return": sum(returns) / max(1, len(returns))}
    usable = [m for m in metrics if m and m.get("questions")]
    if not usable:
        return report
    questions = sum(m["questions"] for m in usable)
    for key in ("accuracy", "advice_rate", "total_score", "invalid_action_rate"):
        report[key] = sum(m[key] * m["questions"] for m in usable) / questions
    per_type: dict[str, dict] = {}
    for m in usable:
        for name, row in m.get("per_type", {}).items():
            merged = per_type.setdefault(name, {"questions": 0, "accuracy": 0.0, "advice_rate": 0.0})
            n = row.get("questions", 0)
            merged["accuracy"] += row.get("accuracy", 0.0) * n
            merged["advice_rate"] += row.get("advice_rate", 0.0) * n
            merged["questions"] += n
    for row in per_type.values():
        if row["questions"]:
            row["accuracy"] /= row["questions"]
            row["advice_rate"] /= row["questions"]
    report["questions"] = questions
    report["per_type"] = per_type
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
