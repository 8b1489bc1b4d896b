"""Imitation learning (AGILE's first stage): supervised fine-tuning on expert trajectories from the env.

    python -m agile_train.sft                       # tiny model, built-in ProductQA train split, writes runs/sft
    python -m agile_train.sft --env agile/ProductQA-v2 --env-kwargs '{"split": "train"}' --model <name-or-path>
    python -m agile_train.ppo --model runs/sft                # then PPO from the SFT policy (full fine-tuning)
    python -m agile_train.sft --model <name-or-path> --lora-r 16 && \
        python -m agile_train.ppo --init-adapter runs/sft --lora-r 16      # the same with LoRA adapters

The expert (`agile_gym.agents.ExpertAgent`) plays whole sessions through the real env; its (prompt, action)
pairs are saved as a `datasets` dataset in `<output-dir>/imitation_data`. Training masks the prompt: only the
action tokens (and the EOS that ends them) carry loss. The result is saved like a PPO checkpoint's policy
(LoRA adapter, or the full model with `--lora-r 0`, plus tokenizer and value head), so `ppo --init-adapter`,
`ppo --model` (full) and `evaluate --adapter` take it.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import torch

from agile_gym.files import atomic_write
from agile_gym.progress import progress_bar
from agile_train.batching import collate, response_logprobs
from agile_train.cli import BAD_INPUT, fail, make_parser
from agile_train.config import TINY_MODEL, EnvConfig, ModelConfig, SFTConfig, save_configs
from agile_train.cores import use_available_cores
from agile_train.distributed import Distributed
from agile_train.env_defaults import data_line, describe_data, resolve_env
from agile_train.env_factory import make_envs
from agile_train.metrics import MetricLogger
from agile_train.models import load_model, plan_model, resolve_device
from agile_train.rollout import PromptEncoder
from agile_train.seeding import seed_everything
from agile_train.sharding import full_state, idle_backward, shard_policy

TINY_LEARNING_RATE = 1e-3
PRETRAINED_LEARNING_RATE = 2e-5


def imitation_dataset(env: EnvConfig, config: SFTConfig):
    """The (prompt, completion) dataset: `--dataset` from disk, or expert sessions recorded through the env."""
    if config.dataset:
        from datasets import load_from_disk

        data = load_from_disk(config.dataset)
        missing = {"prompt", "completion"} - set(data.column_names)
        if missing:
            raise ValueError(f"--dataset {config.dataset} lacks columns {sorted(missing)}")
        return data
    from agile_train.imitation import expert_trajectories

    return expert_trajectories(env.env, env.kwargs(), config.sessions, config.seed,
                               config.extra_advice_rate, config.answer_rate)


def train_data(env: EnvConfig, config: SFTConfig) -> dict:
    """What the run imitates: `describe_data` of the env the expert plays, or the `--dataset` folder."""
    if config.dataset:
        return {"dataset": config.dataset}
    (probe,) = make_envs(env.env, env.kwargs(), 1)
    try:
        return describe_data(env.env, env.kwargs(), probe)
    finally:
        probe.close()


def learning_rate(config: SFTConfig, base: str) -> float:
    """`--learning-rate`, or when not given: 1e-3 for the tiny model (trained from nothing, it needs large
    steps to write well-formed actions within a few epochs) and 2e-5 (TRL's SFT default) for any other."""
    if config.learning_rate is not None:
        return config.learning_rate
    return TINY_LEARNING_RATE if base == TINY_MODEL else PRETRAINED_LEARNING_RATE


def train_sft(env: EnvConfig, model: ModelConfig, config: SFTConfig, progress: bool = True) -> list[dict]:
    """Record (or load) imitation data, fine-tune, save; returns one metrics record per epoch.

    Under `accelerate launch` with several processes each batch is split across them (every process records
    the same expert data from the same seed) and gradients are summed, weighted by the global token count.
    """
    env = resolve_env(env, "train", config.allow_test_split)
    dist = Distributed.from_environment(model.device, config.fsdp)
    seed_everything(config.seed)
    device = dist.device if dist.enabled else resolve_device(model.device)
    output = Path(config.output_dir)
    if dist.is_main:  # which split and categories it trains on, on the console and in the run folder
        described = train_data(env, config)
        output.mkdir(parents=True, exist_ok=True)  # only once the env is made: bad input leaves no folder behind
        print(data_line("train", described) if not config.dataset else f"train data: --dataset {config.dataset}",
              flush=True)
        atomic_write(output / "data.json", json.dumps(described, indent=2) + "\n")
    output.mkdir(parents=True, exist_ok=True)
    data = imitation_dataset(env, config)
    if not dist.is_main:  # the main process builds (and caches) a tiny model; the others then load it
        dist.barrier()
    # The tiny model's tokenizer learns from the very text it will be trained on: prompts and expert actions.
    model_path, tokenizer, policy = load_model(model, plan_model(model.model), device,
                                               lambda: list(data["prompt"]) + list(data["completion"]), config.seed,
                                               with_reference=False)
    if dist.is_main:
        dist.barrier()
    dist.broadcast_parameters(policy)
    if dist.sharded:
        shard_policy(policy, dist)
    encoder = PromptEncoder(tokenizer, model.chat_template, "last", model.max_prompt_tokens)
    eos = tokenizer.eos_token_id
    examples, cut = [], 0
    for prompt, completion in zip(data["prompt"], data["completion"]):
        ids = tokenizer(completion, add_special_tokens=False).input_ids
        cut += len(ids) > model.max_new_tokens - 1
        examples.append((encoder.encode(prompt, None), ids[: model.max_new_tokens - 1] + [eos]))
    if cut and dist.is_main:
        warnings.warn(f"{cut} of {len(examples)} expert actions are longer than --max-new-tokens "
                      f"{model.max_new_tokens} (with the end token) and were cut; the policy never sees their ends. "
                      "Raise --max-new-tokens.", stacklevel=2)
    rate = learning_rate(config, plan_model(model.model).base)
    optimizer = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=rate)
    generator = torch.Generator().manual_seed(config.seed)
    trainable = [p for p in policy.parameters() if p.requires_grad]
    logger = MetricLogger(output) if dist.is_main else None
    history = []
    steps = config.epochs * ((len(examples) + config.batch_size - 1) // config.batch_size)
    bar = progress_bar("sft", steps, unit="step", enabled=progress and dist.is_main)
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
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
        record = {"epoch": epoch, "loss/sft_avg": sum(losses) / len(losses), "tokens": tokens}
        if logger is not None:
            logger.log(epoch, record)
        history.append(record)
    bar.close()
    model_state = full_state(policy)[0] if dist.sharded else None  # every process takes part in the gathering
    if not dist.is_main:
        dist.close()
        return history
    logger.close()
    policy.save_pretrained(output, state_dict=model_state)
    tokenizer.save_pretrained(output)
    save_configs(output / "sft_config.json", env=env, model=model,
                 sft=dataclasses.replace(config, learning_rate=rate))
    atomic_write(output / "sft_state.json", json.dumps({"base_model": model_path, "examples": len(examples)}) + "\n")
    data.save_to_disk(str(output / "imitation_data"))
    dist.close()
    return history


def main(argv: list[str] | None = None) -> int:
    """`python -m agile_train.sft`; returns the exit code (2 with one line on stderr for bad input)."""
    parser = make_parser((EnvConfig, ModelConfig, SFTConfig), __doc__.split("\n\n")[0])
    try:
        env, model, config = parser.parse_args_into_dataclasses(args=argv, look_for_args_file=False)
        use_available_cores()
        history = train_sft(env, model, config, progress=not config.quiet)
    except BAD_INPUT as error:
        return fail(error)
    print(f"epoch {history[-1]['epoch']}: loss {history[-1]['loss/sft_avg']:.4f}; policy saved to {config.output_dir}")
    if model.lora_r == 0:
        print(f"next: python -m agile_train.ppo --model {config.output_dir}")
    else:
        print(f"next: python -m agile_train.ppo --init-adapter {config.output_dir} --lora-r {model.lora_r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
