"""Imitation learning (AGILE's first stage): supervised fine-tuning on expert trajectories from the env.

    python -m agile_train.sft                       # tiny model, built-in ProductQA train split, writes runs/sft
    python -m agile_train.sft --env agile/ProductQA-v0 --env-kwargs '{"split": "train"}' --model <name-or-path>
    python -m agile_train.ppo --model <name-or-path> --init-adapter runs/sft     # then PPO from the SFT policy

The expert (`agile_gym.agents.ExpertAgent`) plays whole sessions through the real env; its (prompt, action)
pairs are saved as a `datasets` dataset in `<output-dir>/imitation_data`. Training masks the prompt: only the
action tokens (and the EOS that ends them) carry loss. The result is saved like a PPO checkpoint's policy
(LoRA adapter, or the full model with `--lora-r 0`, plus tokenizer and value head), so `ppo --init-adapter`,
`ppo --model` (full) and `evaluate --adapter` take it.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from agile_train.config import TINY_MODEL, RunConfig, _help
from agile_train.distributed import Distributed
from agile_train.learner import collate, response_logprobs
from agile_train.metrics import MetricLogger
from agile_train.models import load_policy, load_tokenizer, resolve_device, resolve_model_path
from agile_train.rollout import PromptEncoder
from agile_train.sharding import full_state, idle_backward, shard_policy


@dataclass
class SFTConfig(RunConfig):
    output_dir: str = _help("Folder for the trained policy, the imitation data and metrics.", default="runs/sft")
    epochs: int = _help("Passes over the imitation data (the paper used 2).", default=2)
    batch_size: int = _help("Actions per optimizer step.", default=8)
    sessions: int = _help("Expert sessions to record (seeds seed, seed+1, ...).", default=1)
    extra_advice_rate: float = _help("Expert asks for advice this often even when the prompt holds the answer.",
                                     default=0.0)
    answer_rate: float = _help("Expert answers this often when the prompt does not hold the answer.", default=0.0)
    dataset: str = _help("Train on this saved dataset (prompt, completion columns) instead of recording one.",
                         default="")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.epochs < 1 or self.batch_size < 1 or self.sessions < 1:
            raise ValueError("--epochs, --batch-size and --sessions must be >= 1")


def imitation_dataset(config: SFTConfig):
    if config.dataset:
        from datasets import load_from_disk

        data = load_from_disk(config.dataset)
        missing = {"prompt", "completion"} - set(data.column_names)
        if missing:
            raise ValueError(f"--dataset {config.dataset} lacks columns {sorted(missing)}")
        return data
    from agile_train.imitation import expert_trajectories

    return expert_trajectories(config.env, config.env_kwargs_dict(), config.sessions, config.seed,
                               config.extra_advice_rate, config.answer_rate)


def train_sft(config: SFTConfig, progress: bool = True) -> list[dict]:
    """Record (or load) imitation data, fine-tune, save; returns one metrics record per epoch.

    Under `accelerate launch` with several processes each batch is split across them (every process records
    the same expert data from the same seed) and gradients are summed, weighted by the global token count.
    """
    from agile_gym.data.paths import cache_dir
    from agile_train.ppo import seed_everything

    dist = Distributed.from_environment("auto", config.fsdp)
    seed_everything(config.seed)
    device = dist.device if dist.enabled else resolve_device("auto")
    output = Path(config.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    data = imitation_dataset(config)
    if not dist.is_main:  # the main process builds (and caches) a tiny model; the others then load it
        dist.barrier()
    # The tiny model's tokenizer learns from the very text it will be trained on: prompts and expert actions.
    model_path = resolve_model_path(config, lambda: list(data["prompt"]) + list(data["completion"]), cache_dir())
    tokenizer = load_tokenizer(model_path)
    policy = load_policy(config, model_path, device, with_reference=False)
    if dist.is_main:
        dist.barrier()
    dist.broadcast_parameters(policy)
    if dist.sharded:
        shard_policy(policy, dist)
    encoder = PromptEncoder(tokenizer, config.chat_template, "last", config.max_prompt_tokens)
    eos = tokenizer.eos_token_id
    examples = []
    for prompt, completion in zip(data["prompt"], data["completion"]):
        ids = tokenizer(completion, add_special_tokens=False).input_ids[: config.max_new_tokens - 1] + [eos]
        examples.append((encoder.encode(prompt, None), ids))
    optimizer = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=config.learning_rate)
    generator = torch.Generator().manual_seed(config.seed)
    trainable = [p for p in policy.parameters() if p.requires_grad]
    logger = MetricLogger(output) if dist.is_main else None
    history = []
    steps = config.epochs * ((len(examples) + config.batch_size - 1) // config.batch_size)
    bar = _bar(progress and dist.is_main, steps)
    policy.train()
    for epoch in range(1, config.epochs + 1):
        losses, tokens = [], 0
        order = torch.randperm(len(examples), generator=generator).tolist()
        for start in range(0, len(order), config.batch_size):
            chunk = [examples[i] for i in order[start:start + config.batch_size]][dist.rank::dist.world_size]
            optimizer.zero_grad(set_to_none=True)
            (global_tokens,) = dist.sum(sum(len(completion) for _, completion in chunk))
            loss_sum = 0.0
            if chunk:
                batch = collate([p for p, _ in chunk], [c for _, c in chunk], tokenizer.pad_token_id, device)
                logits, _ = policy(batch.input_ids, batch.attention_mask, batch.keep, with_values=False)
                token_losses = -(response_logprobs(logits, batch) * batch.response_mask).sum()
                # A per-token mean over the whole (global) batch once the processes' gradients are summed.
                (token_losses / global_tokens).backward()
                loss_sum = float(token_losses.detach())
            elif dist.sharded:  # sharded passes are collectives: join this step's with a zero loss
                idle_backward(policy, device, with_values=False)
            dist.sync_gradients(trainable)
            torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
            optimizer.step()
            (loss_sum,) = dist.sum(loss_sum)
            losses.append(loss_sum / max(1.0, global_tokens))
            tokens += int(global_tokens)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
        record = {"epoch": epoch, "loss/sft_avg": sum(losses) / len(losses), "tokens": tokens}
        if logger is not None:
            logger.log(epoch, record)
        history.append(record)
    if bar is not None:
        bar.close()
    model_state = full_state(policy)[0] if dist.sharded else None  # every process takes part in the gathering
    if not dist.is_main:
        dist.close()
        return history
    logger.close()
    policy.save_pretrained(output, state_dict=model_state)
    tokenizer.save_pretrained(output)
    config.save(output / "sft_config.json")
    (output / "sft_state.json").write_text(json.dumps({"base_model": model_path, "examples": len(examples)}) + "\n")
    data.save_to_disk(str(output / "imitation_data"))
    dist.close()
    return history


def _bar(enabled: bool, total: int):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="sft", unit="step")


def main(argv: list[str] | None = None) -> int:
    from transformers import HfArgumentParser

    parser = HfArgumentParser(SFTConfig, description=__doc__.split("\n\n")[0])
    parser.set_defaults(env_kwargs='{"split": "train"}')
    try:
        (config,) = parser.parse_args_into_dataclasses(args=argv, look_for_args_file=False)
        history = train_sft(config)
    except (ValueError, TypeError, FileNotFoundError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"epoch {history[-1]['epoch']}: loss {history[-1]['loss/sft_avg']:.4f}; policy saved to {config.output_dir}")
    if config.model == TINY_MODEL and config.lora_r == 0:
        print(f"next: python -m agile_train.ppo --model {config.output_dir} --lora-r 0")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
