"""Token-level PPO for LLM agents on any Gymnasium env whose observations and actions are text.

    python -m agile_train.ppo                      # tiny local model on a built-in ProductQA category, CPU
    python -m agile_train.ppo --env agile/ProductQA-v2 --model Qwen/Qwen2.5-0.5B-Instruct --output-dir runs/pqa
    python -m agile_train.ppo --output-dir runs/pqa --resume --iterations 300

Each iteration: (1) collect actions from every env copy with batched sampling; (2) score the sampled tokens
(log-probs, reference log-probs, values); (3) per-token rewards (env reward on an action's last token, KL
penalty on every token) and GAE over each segment; (4) clipped PPO in minibatches; (5) log and checkpoint.
Segments are AGILE's sessions (`--session-advantage`): see PPOConfig.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from pathlib import Path

import torch

from agile_gym.files import atomic_write
from agile_gym.progress import progress_bar
from agile_train.advantages import KLController
from agile_train.buffer import RolloutBuffer
from agile_train.checkpoint import latest_checkpoint, load_policy_weights, load_training_state, save_checkpoint
from agile_train.cli import BAD_INPUT, fail, make_parser
from agile_train.config import TINY_MODEL, EnvConfig, ModelConfig, PPOConfig, load_configs, save_configs
from agile_train.cores import use_available_cores
from agile_train.distributed import Distributed
from agile_train.engines import make_engine
from agile_train.env_defaults import command_defaults, data_line, describe_data, resolve_env
from agile_train.env_factory import env_text, make_envs
from agile_train.generation import Sampling, end_token_ids
from agile_train.metrics import MetricLogger
from agile_train.models import load_model, plan_model, resolve_device
from agile_train.rollout import PromptEncoder, RolloutWorker
from agile_train.seeding import seed_everything
from agile_train.sharding import full_state, gathered, held_parameters, shard_policy
from agile_train.update import OptimizerStep, ppo_update

FROM_NOTHING_NOTE = (
    "note: this policy is the tiny model trained from nothing by PPO alone, so a high invalid-action rate "
    "(env/invalid_action_rate, often above 0.7) is expected: it has never seen a well-formed action. AGILE first "
    "imitates the expert (SFT), then runs PPO from that policy: python -m agile_train.recipe (or "
    "python -m agile_train.sft, then python -m agile_train.ppo --model runs/sft).")


def resume_configs(env: EnvConfig, model: ModelConfig, config: PPOConfig
                   ) -> tuple[EnvConfig, ModelConfig, PPOConfig]:
    """On --resume the run's saved configs win; only --iterations, --device and --fsdp come from the command
    line (how the run is executed may change; what it trains may not)."""
    if not config.resume:
        return env, model, config
    saved = Path(config.output_dir) / "config.json"
    if latest_checkpoint(config.output_dir) is None or not saved.exists():
        raise FileNotFoundError(f"--resume: no checkpoint in {config.output_dir}/checkpoints; start the run "
                                "without --resume, or point --output-dir at an existing run")
    loaded = load_configs(saved, env=EnvConfig, model=ModelConfig, ppo=PPOConfig)
    return (loaded["env"], dataclasses.replace(loaded["model"], device=model.device),
            dataclasses.replace(loaded["ppo"], iterations=config.iterations, fsdp=config.fsdp, resume=True,
                                output_dir=config.output_dir))


def train_ppo(env: EnvConfig, model: ModelConfig, config: PPOConfig, progress: bool = True) -> list[dict]:
    """Run PPO as configured; returns the metrics of the iterations run now (also in metrics.jsonl).

    Started by `accelerate launch` (or torchrun) with several processes, every process takes its share of the
    env copies and the processes train one model data-parallel (see agile_train.distributed); only the main
    process logs and writes checkpoints, which resume on any process count that divides --num-envs. With
    --fsdp (or an accelerate FSDP config) the training state is sharded across them (agile_train.sharding).
    """
    env, model, config = resume_configs(env, model, config)
    env = resolve_env(env, "train", config.allow_test_split)
    dist = Distributed.from_environment(model.device, config.fsdp)
    seed_everything(config.seed)
    device = dist.device if dist.enabled else resolve_device(model.device)
    run_dir = Path(config.output_dir)
    mine = dist.shard(config.num_envs)

    wrap = None
    if config.session_advantage == "heuristic":
        from agile_gym.wrappers import SessionAdvantage

        wrap = lambda env: SessionAdvantage(env, beta=config.session_beta)  # noqa: E731
    envs = make_envs(env.env, env.kwargs(), len(mine), wrap)
    data = describe_data(env.env, env.kwargs(), envs[0])
    run_dir.mkdir(parents=True, exist_ok=True)  # only once the envs are made: bad input leaves no folder behind
    if dist.is_main:  # which split and categories it trains on, on the console and in the run folder
        print(data_line("train", data), flush=True)
        atomic_write(run_dir / "data.json", json.dumps(data, indent=2) + "\n")
    # The main process builds (and caches) a tiny model first, so the others load it instead of racing it.
    if not dist.is_main:
        dist.barrier()
    # The SFT adapter is merged, and PPO trains a fresh adapter (or every weight) on top: switching that one
    # off (or the frozen copy) gives the SFT policy, which is the paper's reference for the KL penalty.
    plan = plan_model(model.model, init_adapter=config.init_adapter)
    corpus = lambda: env_text(env.env, env.kwargs(), config.seed)  # noqa: E731 (only built when the tiny model is)
    model_path, tokenizer, policy = load_model(model, plan, device, corpus, config.seed)
    if dist.is_main:
        dist.barrier()
        save_configs(run_dir / "config.json", env=env, model=model, ppo=config)
    dist.broadcast_parameters(policy)
    checkpoint = latest_checkpoint(run_dir) if config.resume else None
    if checkpoint is not None:
        load_policy_weights(policy, checkpoint)
    if dist.sharded:
        shard_policy(policy, dist)
    params_held_m = held_parameters(policy) / 1e6

    optimizer = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=config.learning_rate)
    warmup = max(1, config.warmup_iterations)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup))
    generators = {"sampling": torch.Generator(device=device).manual_seed(config.seed + dist.rank),
                  "minibatches": torch.Generator().manual_seed(config.seed + 1 + dist.rank)}
    engine = make_engine(config.rollout_engine, policy, tokenizer, model_path, device, model.lora_r,
                         config.vllm_gpu_memory_utilization, config.seed + dist.rank)
    worker = RolloutWorker(
        envs, PromptEncoder(tokenizer, model.chat_template, config.context, model.max_prompt_tokens), engine,
        Sampling(model.max_new_tokens, config.temperature, config.top_p, config.stop_list(),
                 end_token_ids(policy.model, tokenizer)), config.seed + mine.start,
        generator=generators["sampling"], bootstrap_terminal_segments=config.session_advantage == "value",
        env_wait_s=config.env_wait_s)
    kl = KLController(config.kl_coef, config.kl_target, config.kl_horizon)
    optimizer_step = OptimizerStep(optimizer, config.max_grad_norm, dist)
    # Value warm-up: the first iterations fit the value head alone, until its explained variance is reached.
    value_step = OptimizerStep(torch.optim.AdamW(policy.value_head.parameters(), lr=config.learning_rate),
                               config.max_grad_norm, dist)
    warming = config.value_warmup_iterations > 0

    start = 0
    if checkpoint is not None:
        state, worker_state = load_training_state(checkpoint, optimizer, scheduler, generators, policy)
        if worker_state is not None:
            if len(worker_state["envs"]) != config.num_envs:
                raise ValueError(f"the checkpoint holds {len(worker_state['envs'])} env copies, not --num-envs "
                                 f"{config.num_envs}")
            worker.load_state({key: values[mine.start:mine.stop] for key, values in worker_state.items()})
        start, kl.coef = state["iteration"], state["kl_coef"]
        warming = state.get("value_warmup", False)
        if dist.rank:  # the checkpoint holds the main process's generators; the others draw their own streams
            for offset, generator in enumerate(generators.values()):
                generator.manual_seed(config.seed + 7919 * start + 104729 * dist.rank + offset)
        engine.sync(policy)
    logger = MetricLogger(run_dir, start_iteration=start) if dist.is_main else None
    history: list[dict] = []
    bar = progress_bar("ppo", config.iterations, enabled=progress and dist.is_main, initial=start, unit="it")
    try:
        for iteration in range(start + 1, config.iterations + 1):
            # 1. Rollout: every env copy acts steps_per_env times; the sampled ids are kept, never re-tokenized.
            began = time.perf_counter()
            with gathered(policy):  # sharded: full weights while ranks generate and score on their own schedules
                segments, env_stats, generated = worker.collect(config.steps_per_env)
                rollout_s = time.perf_counter() - began
                # 2. Score what was sampled with the update's own forward pass (log-probs, reference, values).
                buffer = RolloutBuffer.score(policy, segments, config.micro_batch_size, tokenizer.pad_token_id,
                                             device, dist, config.temperature)
            # 3. Token rewards (env reward on an action's last token, KL penalty on every token) and GAE.
            buffer.compute_advantages(kl.coef, config.gamma, config.lam, config.whiten_advantages,
                                      config.credit_assignment)
            metrics = dist.mean_metrics({**env_stats.summary(), **buffer.statistics(kl.coef)})
            explained = metrics["val/explained_variance"]
            # NaN (constant returns) keeps warming; the cap ends it in any case.
            warming = warming and iteration <= config.value_warmup_iterations and not explained >= \
                config.value_warmup_target
            # 4. Clipped PPO in minibatches (every process takes part, even one that collected no complete action).
            began_update = time.perf_counter()
            if dist.enabled or buffer.samples:
                with policy.value_only() if warming else contextlib.nullcontext():
                    update = ppo_update(policy, value_step if warming else optimizer_step, buffer, config,
                                        generators["minibatches"])
                (update["loss/total"],) = dist.sum(update["loss/total"])
                metrics.update(dist.mean_metrics(update))
                if not warming:
                    scheduler.step()
                    engine.sync(policy)
            (generated, actions) = dist.sum(generated, len(buffer.samples))
            metrics["objective/entropy"] = metrics.pop("policy/entropy_avg", float("nan"))
            metrics["throughput/tokens_per_s"] = generated / max(rollout_s, 1e-9)
            metrics["time/rollout_s"] = rollout_s
            metrics["time/update_s"] = time.perf_counter() - began_update
            metrics["lr"] = scheduler.get_last_lr()[0]
            metrics["time/iteration_s"] = time.perf_counter() - began
            metrics["memory/params_held_m"] = params_held_m
            metrics["val/warmup"] = float(warming)
            # 5. Log, adapt the KL coefficient, checkpoint.
            kl.update(metrics["objective/kl"], int(actions))
            history.append({"iteration": iteration, **metrics})
            if logger is not None:
                logger.log(iteration, metrics)
            bar.update(1)
            bar.set_postfix(reward=f"{metrics['env/reward_mean']:.3f}", kl=f"{metrics['objective/kl']:.3f}")
            if iteration % config.checkpoint_every == 0 or iteration == config.iterations:
                states = dist.gather(worker.state())
                full = full_state(policy, optimizer) if dist.sharded else None
                if dist.is_main:
                    merged = {key: [value for state in states for value in state[key]] for key in states[0]}
                    save_checkpoint(run_dir, iteration, policy, tokenizer, optimizer, scheduler, generators,
                                    {"kl_coef": kl.coef, "model_path": model_path, "processes": dist.world_size,
                                     "value_warmup": warming},
                                    merged, full_state=full)
                dist.barrier()
    finally:
        bar.close()
        if logger is not None:
            logger.close()
        worker.close()
        dist.close()
    return history


def parse_configs(argv: list[str] | None = None) -> tuple[EnvConfig, ModelConfig, PPOConfig]:
    """The command line as (EnvConfig, ModelConfig, PPOConfig); argparse exits 2 on a wrong flag or choice."""
    parser = make_parser((EnvConfig, ModelConfig, PPOConfig), __doc__.split("\n\n")[0],
                         epilog="Metrics go to <output-dir>/metrics.jsonl and TensorBoard (<output-dir>/tensorboard).")
    return tuple(parser.parse_args_into_dataclasses(args=argv, look_for_args_file=False))


def main(argv: list[str] | None = None) -> int:
    """`python -m agile_train.ppo`; returns the exit code (2 with one line on stderr for bad input)."""
    try:
        env, model, config = parse_configs(argv)
        env = command_defaults(env)
        use_available_cores()
        history = train_ppo(env, model, config, progress=not config.quiet)
        from_nothing = plan_model(model.model, init_adapter=config.init_adapter).base == TINY_MODEL
    except BAD_INPUT as error:
        return fail(error)
    if history:
        last = history[-1]
        shown = {k: round(v, 4) for k, v in last.items() if k.startswith("env/") and isinstance(v, float)}
        print(f"finished iteration {last['iteration']}: {shown}")
    print(f"run folder: {config.output_dir}")
    if from_nothing:
        print(FROM_NOTHING_NOTE)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
