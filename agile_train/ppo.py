"""Token-level PPO for LLM agents on any Gymnasium env whose observations and actions are text.

    python -m agile_train.ppo                      # tiny local model on a built-in ProductQA category, CPU
    python -m agile_train.ppo --env agile/ProductQA-v0 --model Qwen/Qwen2.5-0.5B-Instruct --output-dir runs/pqa
    python -m agile_train.ppo --output-dir runs/pqa --resume --iterations 300

Each iteration: (1) collect actions from every env copy with batched sampling; (2) score the sampled tokens
(log-probs, reference log-probs, values); (3) per-token rewards (env reward on an action's last token, KL
penalty on every token) and GAE over each segment; (4) clipped PPO in minibatches; (5) log and checkpoint.
Segments are AGILE's sessions (`--session-advantage`): see PPOConfig.
"""

from __future__ import annotations

import dataclasses
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

from agile_train.checkpoint import latest_checkpoint, load_policy_weights, load_training_state, save_checkpoint
from agile_train.config import TINY_MODEL, PPOConfig
from agile_train.distributed import Distributed
from agile_train.engines import make_engine
from agile_train.envs import env_corpus, env_factory, make_envs
from agile_train.generation import Sampling
from agile_train.learner import (
    KLController, assign_advantages, ppo_update, rollout_statistics, score_segments,
)
from agile_train.metrics import MetricLogger
from agile_train.models import load_policy, load_tokenizer, resolve_device, resolve_model_path
from agile_train.rollout import PromptEncoder, RolloutWorker
from agile_train.sharding import full_state, gathered, held_parameters, shard_policy


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_run_config(config: PPOConfig) -> PPOConfig:
    """On --resume the run's saved config wins; only --iterations, --device and --fsdp come from the command
    line (how the run is executed may change; what it trains may not)."""
    if not config.resume:
        return config
    saved = Path(config.output_dir) / "config.json"
    if latest_checkpoint(config.output_dir) is None or not saved.exists():
        raise FileNotFoundError(f"--resume: no checkpoint in {config.output_dir}/checkpoints; start the run "
                                "without --resume, or point --output-dir at an existing run")
    values = json.loads(saved.read_text())
    values.update(iterations=config.iterations, device=config.device, fsdp=config.fsdp, resume=True)
    return PPOConfig(**{f.name: values[f.name] for f in dataclasses.fields(PPOConfig) if f.name in values})


def resolve_model_path_for(config) -> str:
    """The model folder or hub name for `config.model`; the tiny model is built from the env's own text."""
    from agile_gym.data.paths import cache_dir

    factory = env_factory(config.env, config.env_kwargs_dict())
    return resolve_model_path(config, lambda: env_corpus(factory(), seed=config.seed), cache_dir())


def build_model_and_tokenizer(config, device: torch.device):
    """Tokenizer and policy for `config.model` (building the tiny model from the env's text when asked); with
    `init_adapter` and no explicit model, the adapter's recorded base model."""
    adapter = getattr(config, "init_adapter", "")
    if adapter and config.model == TINY_MODEL:
        from agile_train.policy_agent import base_model_of

        model_path = base_model_of(adapter)
    else:
        model_path = resolve_model_path_for(config)
    tokenizer = load_tokenizer(adapter or model_path)
    # The SFT adapter is merged, and PPO trains a fresh adapter on top: switching that one off gives the SFT
    # policy, which is the paper's reference for the KL penalty.
    policy = load_policy(config, model_path, device, merge_first=adapter)
    return model_path, tokenizer, policy


def train_ppo(config: PPOConfig, progress: bool = True) -> list[dict]:
    """Run PPO as configured; returns the metrics of the iterations run now (also in metrics.jsonl).

    Started by `accelerate launch` (or torchrun) with several processes, every process takes its share of the
    env copies and the processes train one model data-parallel (see agile_train.distributed); only the main
    process logs and writes checkpoints, which resume on any process count that divides --num-envs. With
    --fsdp (or an accelerate FSDP config) the training state is sharded across them (agile_train.sharding).
    """
    config = resolve_run_config(config)
    dist = Distributed.from_environment(config.device, config.fsdp)
    seed_everything(config.seed)
    device = dist.device if dist.enabled else resolve_device(config.device)
    run_dir = Path(config.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    mine = dist.shard(config.num_envs)

    wrap = None
    if config.session_advantage == "heuristic":
        from agile_gym.wrappers import SessionAdvantage

        wrap = lambda env: SessionAdvantage(env, beta=config.session_beta)  # noqa: E731
    envs = make_envs(config.env, config.env_kwargs_dict(), len(mine), wrap)
    # The main process builds (and caches) a tiny model first, so the others load it instead of racing it.
    if not dist.is_main:
        dist.barrier()
    model_path, tokenizer, policy = build_model_and_tokenizer(config, device)
    if dist.is_main:
        dist.barrier()
        config.save(run_dir / "config.json")
    dist.broadcast_parameters(policy)
    checkpoint = latest_checkpoint(run_dir) if config.resume else None
    if checkpoint is not None:
        load_policy_weights(policy, checkpoint)
    if dist.sharded:
        shard_policy(policy, dist)
    params_held_m = held_parameters(policy) / 1e6

    trainable = [p for p in policy.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate)
    warmup = max(1, config.warmup_iterations)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup))
    generators = {"sampling": torch.Generator(device=device).manual_seed(config.seed + dist.rank),
                  "minibatches": torch.Generator().manual_seed(config.seed + 1 + dist.rank)}
    encoder = PromptEncoder(tokenizer, config.chat_template, config.context, config.max_prompt_tokens)
    worker = RolloutWorker(envs, encoder, config.seed + mine.start, env_wait_s=config.env_wait_s)
    kl = KLController(config.kl_coef, config.kl_target, config.kl_horizon)
    sampling = Sampling(config.max_new_tokens, config.temperature, config.top_p, config.stop_list())
    pad_id = tokenizer.pad_token_id
    engine = make_engine(config.rollout_engine, policy, tokenizer, model_path, device, config.lora_r,
                         config.vllm_gpu_memory_utilization, config.seed + dist.rank)

    start = 0
    if checkpoint is not None:
        state, worker_state = load_training_state(checkpoint, optimizer, scheduler, generators, policy)
        if worker_state is not None:
            if len(worker_state["envs"]) != config.num_envs:
                raise ValueError(f"the checkpoint holds {len(worker_state['envs'])} env copies, not --num-envs "
                                 f"{config.num_envs}")
            worker.load_state({key: values[mine.start:mine.stop] for key, values in worker_state.items()})
        start, kl.coef = state["iteration"], state["kl_coef"]
        if dist.rank:  # the checkpoint holds the main process's generators; the others draw their own streams
            for offset, generator in enumerate(generators.values()):
                generator.manual_seed(config.seed + 7919 * start + 104729 * dist.rank + offset)
        engine.sync(policy)
    logger = MetricLogger(run_dir, start_iteration=start) if dist.is_main else None
    history: list[dict] = []
    bar = _progress(range(start + 1, config.iterations + 1), progress and dist.is_main, start, config.iterations)
    try:
        for iteration in bar:
            # 1. Rollout.
            began = time.perf_counter()
            with gathered(policy):  # sharded: full weights while ranks generate and score on their own schedules
                segments, env_stats, generated = worker.collect(
                    policy.model, tokenizer, config.steps_per_env, sampling, device, generators["sampling"],
                    bootstrap_terminal_segments=config.session_advantage == "value", engine=engine,
                )
                rollout_s = time.perf_counter() - began
                # 2. Score what was sampled, with the update's own forward pass.
                scored, next_values = score_segments(policy, segments, config.micro_batch_size, pad_id, device)
            # 3. Token rewards and GAE per segment.
            rewards = [[turn.reward for turn in segment.turns] for segment in segments]
            samples = assign_advantages(scored, rewards, next_values, kl.coef, config.gamma, config.lam)
            metrics = dist.mean_metrics({**env_stats.summary(), **rollout_statistics(samples, kl.coef)})
            # 4. PPO update (every process takes part, even one that collected no complete action).
            began_update = time.perf_counter()
            if dist.enabled or samples:
                update = ppo_update(
                    policy, optimizer, scheduler, samples, epochs=config.ppo_epochs,
                    minibatch_size=config.minibatch_size, micro_batch_size=config.micro_batch_size,
                    cliprange=config.cliprange, cliprange_value=config.cliprange_value, vf_coef=config.vf_coef,
                    entropy_coef=config.entropy_coef, max_grad_norm=config.max_grad_norm,
                    whiten=config.whiten_advantages, pad_id=pad_id, device=device, generator=generators["minibatches"],
                    dist=dist,
                )
                metrics.update(dist.mean_metrics(update))
                engine.sync(policy)
            (generated, actions) = dist.sum(generated, len(samples))
            metrics["objective/entropy"] = metrics.pop("policy/entropy_avg", float("nan"))
            metrics["throughput/tokens_per_s"] = generated / max(rollout_s, 1e-9)
            metrics["time/rollout_s"] = rollout_s
            metrics["time/update_s"] = time.perf_counter() - began_update
            metrics["lr"] = scheduler.get_last_lr()[0]
            metrics["time/iteration_s"] = time.perf_counter() - began
            metrics["memory/params_held_m"] = params_held_m
            # 5. Log, adapt the KL coefficient, checkpoint.
            kl.update(metrics["objective/kl"], int(actions))
            history.append({"iteration": iteration, **metrics})
            if logger is not None:
                logger.log(iteration, metrics)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(reward=f"{metrics['env/reward_mean']:.3f}", kl=f"{metrics['objective/kl']:.3f}")
            if iteration % config.checkpoint_every == 0 or iteration == config.iterations:
                states = dist.gather(worker.state())
                full = full_state(policy, optimizer) if dist.sharded else None
                if dist.is_main:
                    merged = {key: [value for state in states for value in state[key]] for key in states[0]}
                    save_checkpoint(run_dir, iteration, policy, tokenizer, optimizer, scheduler, generators,
                                    {"kl_coef": kl.coef, "model_path": model_path, "processes": dist.world_size},
                                    merged, full_state=full)
                dist.barrier()
    finally:
        if logger is not None:
            logger.close()
        worker.close()
        dist.close()
    return history


def _progress(iterations, enabled: bool, start: int, total: int):
    if not enabled:
        return iterations
    from tqdm.auto import tqdm

    return tqdm(iterations, initial=start, total=total, desc="ppo", unit="it")


def parse_config(argv: list[str] | None = None) -> PPOConfig:
    from transformers import HfArgumentParser

    parser = HfArgumentParser(PPOConfig, description=__doc__.split("\n\n")[0],
                              epilog="Metrics go to <output-dir>/metrics.jsonl and TensorBoard (<output-dir>/tensorboard).")
    (config,) = parser.parse_args_into_dataclasses(args=argv, look_for_args_file=False)
    return config


def main(argv: list[str] | None = None) -> int:
    try:
        config = parse_config(argv)
        history = train_ppo(config)
    except (ValueError, TypeError, FileNotFoundError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if history:
        last = history[-1]
        shown = {k: round(v, 4) for k, v in last.items() if k.startswith("env/") and isinstance(v, float)}
        print(f"finished iteration {last['iteration']}: {shown}")
    print(f"run folder: {config.output_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
