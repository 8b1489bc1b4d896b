"""Cost of LLM PPO on this machine: rollout generation and the update step.

    python -m benchmarks.ppo_speed                   # tiny Llama (4 layers, 256 wide); writes results/ppo_speed.json
    python -m benchmarks.ppo_speed --model ./some-hf-folder --repeats 3

Rollout: the same prompts and sampling settings through `generate` one env at a time (as LlamaGym-style loops
do), batched `generate` (dynamic and static cache) and our batched sampler (`agile_train.generation`: dynamic
cache, static cache, shared prefixes, compiled step), on two prompt kinds: random ids (nothing shared) and the
first observations of env copies (which share their instructions). Greedy decoding, so every variant produces
the same tokens (compared token for token); variants are interleaved within each repeat and medians reported,
because this machine's speed drifts. Update: one PPO minibatch
(forward, backward, optimizer step) at batch sizes 1/4/16, LoRA vs full fine-tuning, each case in a fresh
process so its peak memory (max RSS) is its own.

Scaling (--sections envs processes): Gymnasium's sync vs async vector env stepping agile/ProductQA-v2; the
trainer's rollout with env steps that take time (tool calls of 0-2x `--latency-ms`, one in ten 10x), waiting
for every env copy before generating (sync) vs generating for the copies that are ready (async,
`--env-wait-s 0`); and `python -m agile_train.ppo` on one process vs two (`accelerate launch`, data parallel
and `--fsdp`), the same global batch.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from agile_gym.results import markdown_table
from benchmarks.checks import check_model


def tiny_model(directory: Path, layers: int = 4, hidden: int = 256) -> str:
    """Save a randomly initialised `layers`-layer, `hidden`-wide Llama, with a 1000-token tokenizer fit to a
    synthetic corpus, under `directory`; returns the folder's path as a string (loadable with `from_pretrained`)."""
    from agile_train.tiny import build_tiny_model

    corpus = [f"question {i} about product {i % 17} with answer {i % 5} and some more words" for i in range(400)]
    return str(build_tiny_model(directory, corpus, vocab_size=1000, hidden_size=hidden, layers=layers))


def prompts_for(tokenizer, count: int, length: int, seed: int = 0) -> list[list[int]]:
    """`count` prompts of `length` token ids each, drawn uniformly above the low ids that special tokens
    take; the same `seed` gives the same prompts."""
    generator = torch.Generator().manual_seed(seed)
    low = max(4, len(tokenizer.all_special_ids) + 1)
    return [torch.randint(low, len(tokenizer), (length,), generator=generator).tolist() for _ in range(count)]


ROLLOUT_PROMPTS = ("random", "env")


def env_prompts(tokenizer, count: int, env_id: str = "agile/ProductQA-v2") -> list[list[int]]:
    """The first observations of `count` copies of `env_id` (built-in data, `shuffle=True`, seeds 0..count-1, as
    the trainer resets its copies), each tokenized whole with a newline as the trainer's prompt encoder does
    without a chat template. The copies share their instructions and table schema and differ in product and
    question, as a rollout's copies do."""
    import gymnasium as gym

    import agile_gym  # noqa: F401  (registers the agile/ ids)

    prompts = []
    for seed in range(count):
        env = gym.make(env_id, shuffle=True)
        observation, _ = env.reset(seed=seed)
        env.close()
        prompts.append(tokenizer(observation + "\n").input_ids)
    return prompts


def _generate(model, tokenizer, prompts, new_tokens, batched: bool, greedy: bool) -> tuple[int, list[list[int]]]:
    from agile_train.generation import left_pad

    groups = [prompts] if batched else [[p] for p in prompts]
    produced, outputs = 0, []
    for group in groups:
        ids, mask = left_pad(group, tokenizer.pad_token_id, torch.device("cpu"))
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens, do_sample=not greedy,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        for row in out[:, ids.shape[1]:].tolist():
            if tokenizer.eos_token_id in row:
                row = row[: row.index(tokenizer.eos_token_id) + 1]
            outputs.append(row)
            produced += len(row)
    return produced, outputs


def _ours(model, tokenizer, prompts, new_tokens, greedy: bool, kv_cache: str = "static", step=None,
          share_prefix: int | None = None) -> tuple[int, list[list[int]]]:
    from agile_train.generation import SHARE_PREFIX_TOKENS, Sampling, sample_actions

    share = SHARE_PREFIX_TOKENS if share_prefix is None else share_prefix
    rows = sample_actions(model, tokenizer, prompts, Sampling(new_tokens, 0.0 if greedy else 1.0),
                          torch.device("cpu"), torch.Generator().manual_seed(0), kv_cache=kv_cache, step=step,
                          share_prefix=share)
    return sum(len(r) for r in rows), rows


def _generate_static(model, tokenizer, prompts, new_tokens) -> tuple[int, list[list[int]]]:
    from agile_train.generation import left_pad

    ids, mask = left_pad(prompts, tokenizer.pad_token_id, torch.device("cpu"))
    out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens, do_sample=False,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         cache_implementation="static")
    rows = [row[: row.index(tokenizer.eos_token_id) + 1] if tokenizer.eos_token_id in row else row
            for row in out[:, ids.shape[1]:].tolist()]
    return sum(len(r) for r in rows), rows


OURS = "agile_train sampler (static cache, shared prefixes)"
NO_SHARING = "agile_train sampler, static cache, no shared prefix"
BATCHED = "generate, batched"


def _rollout_variants(model, tokenizer, prompts, new_tokens, compiled) -> dict:
    """name -> run() for each rollout variant on `prompts`; `compiled`: our compiled DecodeStep or None. Greedy
    decoding, so every variant produces the same tokens (checked by the caller) and tokens/s compare; under
    sampling each variant draws other tokens, stops at other EOS positions, and counts differ."""
    variants = {
        "generate, one env at a time": lambda: _generate(model, tokenizer, prompts, new_tokens, False, True),
        BATCHED: lambda: _generate(model, tokenizer, prompts, new_tokens, True, True),
        "generate, static cache": lambda: _generate_static(model, tokenizer, prompts, new_tokens),
        "agile_train sampler, dynamic cache (before)": lambda: _ours(model, tokenizer, prompts, new_tokens, True,
                                                                     "dynamic"),
        NO_SHARING: lambda: _ours(model, tokenizer, prompts, new_tokens, True, share_prefix=0),
        OURS: lambda: _ours(model, tokenizer, prompts, new_tokens, True),
    }
    if compiled is not None:
        variants["agile_train sampler, compiled step"] = lambda: _ours(model, tokenizer, prompts, new_tokens, True,
                                                                       step=compiled)
    return variants


def rollout_benchmark(model_path: str, envs: list[int], prompt_tokens: int, new_tokens: int, repeats: int,
                      compile_step: bool = True, kinds: tuple[str, ...] = ROLLOUT_PROMPTS) -> dict:
    """Generation speed for each prompt kind in `kinds` and count in `envs`, up to `new_tokens` new tokens,
    greedy, every variant in the same process and interleaved within each repeat. Kinds: "random", prompts of
    `prompt_tokens` random ids (nothing shared: the worst case for shared prefixes); "env", the first
    observations of env copies (`env_prompts`, which share about 70% of their ids). Per kind and count: new tokens
    per wall second and per CPU second of this process (`time.process_time`, less sensitive to other processes
    on the machine), medians of `repeats`; each variant's ratios to batched `generate`; whether its tokens equal
    batched `generate`'s; and the first call's seconds (the compiled step's compile time is in it). Also the
    profile of one decode step of our sampler (`decode_step_profile`) at the count nearest 8."""
    from transformers import AutoModelForCausalLM

    from agile_train.generation import SHARE_PREFIX_TOKENS, DecodeStep, prefix_groups
    from agile_train.models import load_tokenizer

    tokenizer = load_tokenizer(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path).eval()
    compiled = DecodeStep(model, compile=True) if compile_step else None
    sections = []
    for kind, count in [(kind, count) for kind in kinds for count in envs]:
        prompts = prompts_for(tokenizer, count, prompt_tokens) if kind == "random" else env_prompts(tokenizer, count)
        variants = _rollout_variants(model, tokenizer, prompts, new_tokens, compiled)
        wall: dict[str, list[float]] = {name: [] for name in variants}
        cpu: dict[str, list[float]] = {name: [] for name in variants}
        outputs: dict[str, list[list[int]]] = {}
        first_call_s: dict[str, float] = {}
        with torch.no_grad():
            for name, run in variants.items():  # warm-up; the compiled step compiles here
                start = time.perf_counter()
                run()
                first_call_s[name] = time.perf_counter() - start
            for _ in range(repeats):
                for name, run in variants.items():
                    start, start_cpu = time.perf_counter(), time.process_time()
                    produced, outputs[name] = run()
                    wall[name].append(produced / (time.perf_counter() - start))
                    cpu[name].append(produced / (time.process_time() - start_cpu))
        rates = {name: statistics.median(values) for name, values in wall.items()}
        cpu_rates = {name: statistics.median(values) for name, values in cpu.items()}
        sections.append({
            "prompts": kind, "envs": count, "prompt_tokens_mean": sum(map(len, prompts)) / len(prompts),
            "shared_prefix_tokens": sum(length * len(rows) for rows, length in prefix_groups(
                prompts, SHARE_PREFIX_TOKENS)) / len(prompts),
            "tokens_per_s": rates, "tokens_per_cpu_s": cpu_rates,
            "ratio_to_batched_generate": {name: rate / rates[BATCHED] for name, rate in rates.items()},
            "cpu_ratio_to_batched_generate": {name: rate / cpu_rates[BATCHED] for name, rate in cpu_rates.items()},
            "greedy_tokens_match_generate": {name: out == outputs[BATCHED] for name, out in outputs.items()},
            "first_call_s": first_call_s,
            "new_tokens_produced": sum(len(row) for row in outputs[BATCHED]),
        })
        print(f"rollout, {kind} prompts, {count} envs measured: ours / batched generate "
              f"{rates[OURS] / rates[BATCHED]:.2f}x "
              f"(CPU s: {cpu_rates[OURS] / cpu_rates[BATCHED]:.2f}x)", flush=True)
    profiled = min(envs, key=lambda count: abs(count - 8))
    return {"by_envs": sections, "prompt_tokens": prompt_tokens, "new_tokens": new_tokens, "repeats": repeats,
            "threads": torch.get_num_threads(),
            "decode_step_profile": decode_step_profile(model, tokenizer, prompts_for(tokenizer, profiled,
                                                                                     prompt_tokens))}


def decode_step_profile(model, tokenizer, prompts: list[list[int]], steps: int = 20, top: int = 12) -> dict:
    """Where one decode step of our sampler (static cache, eager) spends its time, beside the prefill's
    milliseconds (one forward over every prompt, the same in every variant): `torch.profiler` over `steps`
    steps, the `top` operators by self CPU time (ms per step, share, calls per step); the step's matmul FLOPs
    (2 x matmul parameters x rows; attention left out) and the FLOP/s that makes, beside a 1024-square fp32
    matmul's FLOP/s on the same threads (what the arithmetic alone would allow)."""
    from torch.profiler import ProfilerActivity, profile

    from agile_train.generation import DecodeStep, left_pad, static_cache

    step = DecodeStep(model)
    ids, mask = left_pad(prompts, tokenizer.pad_token_id, torch.device("cpu"))
    width, rows = ids.shape[1], len(prompts)
    cache = static_cache(model, width + steps + 1)
    mask = torch.cat([mask, mask.new_zeros((rows, steps + 1))], dim=1)
    positions = (mask[:, :width].cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        began = time.perf_counter()
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1,
                       **{step.cache_argument: cache}).logits[:, -1]
        prefill_s = time.perf_counter() - began
        position = positions[:, -1:] + 1
        with profile(activities=[ProfilerActivity.CPU]) as profiler:
            began = time.perf_counter()
            for written in range(width, width + steps):
                mask[:, written] = 1
                logits = step(logits.argmax(-1)[:, None], mask, position, cache)
                position = position + 1
            seconds = (time.perf_counter() - began) / steps
        square = torch.randn(1024, 1024)
        square @ square
        began = time.perf_counter()
        for _ in range(5):
            square @ square
        matmul_flops = 5 * 2 * 1024**3 / (time.perf_counter() - began)
    events = profiler.key_averages()
    total = sum(event.self_cpu_time_total for event in events)
    ops = [{"op": event.key, "self_ms_per_step": event.self_cpu_time_total / 1000 / steps,
            "share": event.self_cpu_time_total / total, "calls_per_step": event.count / steps}
           for event in sorted(events, key=lambda event: -event.self_cpu_time_total)[:top]]
    weights = sum(module.weight.numel() for module in model.modules() if isinstance(module, torch.nn.Linear))
    step_flops = 2 * weights * rows
    return {"envs": rows, "steps": steps, "prefill_ms": 1000 * prefill_s, "step_ms": 1000 * seconds,
            "step_ms_profiled": total / 1000 / steps,
            "top_ops": ops, "step_matmul_gflop": step_flops / 1e9, "step_gflops_per_s": step_flops / seconds / 1e9,
            "large_matmul_gflops_per_s": matmul_flops / 1e9}


def _update_case(args: tuple) -> dict:
    """One PPO minibatch step, in its own process: tokens/s and the process's peak memory."""
    model_path, lora_r, batch, prompt_tokens, new_tokens, repeats = args
    from agile_train.buffer import RolloutBuffer, Sample
    from agile_train.config import ModelConfig, PPOConfig
    from agile_train.models import load_policy, load_tokenizer
    from agile_train.update import OptimizerStep, ppo_update

    torch.manual_seed(0)
    config = PPOConfig(ppo_epochs=1, minibatch_size=batch, micro_batch_size=batch, entropy_coef=0.0)
    tokenizer = load_tokenizer(model_path)
    policy = load_policy(ModelConfig(lora_r=lora_r, device="cpu"), model_path, torch.device("cpu"))
    optimizer = OptimizerStep(torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=1e-5), 1.0)
    prompts = prompts_for(tokenizer, batch, prompt_tokens, seed=1)
    responses = prompts_for(tokenizer, batch, new_tokens, seed=2)
    times = []
    for _ in range(repeats + 1):
        samples = [Sample(p, r, torch.full((new_tokens,), -3.0), torch.full((new_tokens,), -3.0),
                          torch.zeros(new_tokens), torch.randn(new_tokens), torch.randn(new_tokens))
                   for p, r in zip(prompts, responses)]
        start = time.perf_counter()
        buffer = RolloutBuffer.from_samples(samples, tokenizer.pad_token_id, torch.device("cpu"), whiten=True)
        ppo_update(policy, optimizer, buffer, config, torch.Generator().manual_seed(0))
        times.append(time.perf_counter() - start)
    step_s = statistics.median(times[1:])  # the first step pays for allocation
    trainable = sum(p.numel() for p in policy.parameters() if p.requires_grad)
    return {"mode": "full" if lora_r == 0 else f"lora r={lora_r}", "batch": batch, "step_s": step_s,
            "tokens_per_s": batch * (prompt_tokens + new_tokens) / step_s, "trainable_params": trainable,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def update_benchmark(model_path: str, prompt_tokens: int, new_tokens: int, repeats: int,
                     batches=(1, 4, 16), lora_ranks=(16, 0)) -> list[dict]:
    """One PPO minibatch step per (batch size, LoRA rank; 0 = full fine-tuning), each in a fresh process.
    Each row: mode, batch, `step_s` (seconds, median of `repeats`), `tokens_per_s` (prompt plus response
    tokens per second), `trainable_params` and `peak_rss_mb` (that process's peak resident memory, MB)."""
    context = multiprocessing.get_context("spawn")
    rows = []
    for batch in batches:
        for lora_r in lora_ranks:
            with context.Pool(1) as pool:
                case = (model_path, lora_r, batch, prompt_tokens, new_tokens, repeats)
                rows.append(pool.apply(_update_case, (case,)))
    return rows


class SlowToolProductQA:
    """agile/ProductQA-v2 whose steps take time like calls to a real SQL server or web API: uniform in
    0..2x `latency_ms`, and one step in ten 10x `latency_ms` (a slow query); seeded."""

    copies = 0  # each copy draws its own latencies (same seeds in every run)

    def __new__(cls, latency_ms: float = 30.0, **kwargs):
        import gymnasium as gym
        import numpy as np

        import agile_gym  # noqa: F401

        class Latency(gym.Wrapper):
            def __init__(self, env):
                super().__init__(env)
                self.draw = np.random.default_rng(SlowToolProductQA.copies)
                SlowToolProductQA.copies += 1

            def step(self, action):
                slow = self.draw.random() < 0.1
                time.sleep((10 * latency_ms if slow else self.draw.uniform(0, 2 * latency_ms)) / 1000)
                return self.env.step(action)

        return Latency(gym.make("agile/ProductQA-v2", **kwargs))


def vector_env_benchmark(num_envs: int, steps: int, repeats: int) -> list[dict]:
    """Gymnasium's sync and async vector env over `num_envs` copies of agile/ProductQA-v2 (train split),
    `steps` steps each: one row per mode with `env_steps_per_s` (env steps per second over all copies,
    median of `repeats`)."""
    import gymnasium as gym

    import agile_gym  # noqa: F401

    rows = []
    for mode in ("sync", "async"):
        times = []
        for _ in range(repeats):
            envs = gym.make_vec("agile/ProductQA-v2", num_envs=num_envs, vectorization_mode=mode, split="train")
            envs.reset(seed=0)
            began = time.perf_counter()
            for step in range(steps):
                envs.step(tuple("[SeekAdvice]" if step % 2 == 0 else "[NoInformation]" for _ in range(num_envs)))
            times.append(time.perf_counter() - began)
            envs.close()
        seconds = statistics.median(times)
        rows.append({"mode": mode, "envs": num_envs, "steps": steps, "env_steps_per_s": num_envs * steps / seconds})
    return rows


def overlap_benchmark(
    num_envs: int, steps_per_env: int, latency_ms: float, new_tokens: int, repeats: int
) -> list[dict]:
    """Rollout wall time with slow env steps: wait for every copy (sync) vs generate for ready copies (async).
    One row per mode with `rollout_s`, the seconds to collect `steps_per_env` steps per copy (median of
    `repeats`)."""
    from agile_train.config import ModelConfig
    from agile_train.engines import TransformersEngine
    from agile_train.env_factory import env_text, make_envs
    from agile_train.generation import Sampling
    from agile_train.models import load_model, plan_model
    from agile_train.rollout import PromptEncoder, RolloutWorker

    env_id = f"{__name__}:SlowToolProductQA"
    kwargs = {"latency_ms": latency_ms, "split": "train", "category": "desk_lamps"}
    cpu = torch.device("cpu")
    _, tokenizer, policy = load_model(ModelConfig(device="cpu", max_new_tokens=new_tokens), plan_model(""), cpu,
                                      lambda: env_text(env_id, kwargs))
    encoder = PromptEncoder(tokenizer, "auto", "last", 512)
    sampling = Sampling(new_tokens, temperature=1.0)
    times: dict[str, list[float]] = {"sync (wait for every env copy)": [], "async (generate for ready copies)": []}
    for repeat in range(repeats):
        for name, wait in zip(times, (-1.0, 0.0)):
            SlowToolProductQA.copies = repeat * num_envs  # both modes meet the same latencies
            worker = RolloutWorker(make_envs(env_id, kwargs, num_envs), encoder,
                                   TransformersEngine(policy, tokenizer, cpu), sampling,
                                   seed=repeat, generator=torch.Generator().manual_seed(repeat),
                                   bootstrap_terminal_segments=True, env_wait_s=wait)
            began = time.perf_counter()
            worker.collect(steps_per_env)
            times[name].append(time.perf_counter() - began)
            worker.close()
    return [{"mode": name, "envs": num_envs, "steps_per_env": steps_per_env, "latency_ms": latency_ms,
             "rollout_s": statistics.median(values)} for name, values in times.items()]


def process_benchmark(iterations: int, num_envs: int) -> list[dict]:
    """`agile_train.ppo` on one process (all cores) vs two processes (one core each), data parallel and fully
    sharded (FSDP), same global batch. One row per setup with `iteration_s` (seconds per PPO iteration,
    median after the first), `env_steps_per_s` and `params_held_m` (millions of parameters per process).
    A failed run raises subprocess.CalledProcessError."""
    import os
    import subprocess
    import sys

    accelerate = Path(sys.executable).parent / "accelerate"
    rows = []
    cores = os.cpu_count() or 1
    for processes, fsdp in ((1, False), (2, False), (2, True)):
        with tempfile.TemporaryDirectory() as run:
            args = ["-m", "agile_train.ppo", "--output-dir", run, "--iterations", str(iterations), "--num-envs",
                    str(num_envs), "--steps-per-env", "4", "--device", "cpu", "--checkpoint-every", "1000"]
            threads = str(max(1, cores // processes))
            if processes == 1:
                command = [sys.executable, *args]
            else:
                command = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                           "--mixed_precision", "no", "--dynamo_backend", "no", *args] + ["--fsdp"] * fsdp
            env = {**os.environ, "OMP_NUM_THREADS": threads, "TOKENIZERS_PARALLELISM": "false"}
            subprocess.run(command, check=True, capture_output=True, env=env)
            lines = [json.loads(line) for line in (Path(run) / "metrics.jsonl").read_text().splitlines()]
        steady = lines[1:] or lines  # the first iteration pays for warm-up
        seconds = statistics.median(line["time/iteration_s"] for line in steady)
        rows.append({"processes": processes, "mode": "fsdp" if fsdp else "data parallel" if processes > 1 else "one",
                     "threads_each": int(threads), "iteration_s": seconds, "env_steps_per_s": num_envs * 4 / seconds,
                     "params_held_m": lines[-1]["memory/params_held_m"]})
    return rows


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: measure the `--sections` asked for, print their markdown tables and write
    the report as JSON to `--output`; returns 0, or 2 after one line on stderr for a `--model` folder that does
    not exist."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="", help="HF folder or hub name; default: a 4-layer 256-wide tiny Llama")
    parser.add_argument("--envs", type=int, default=8)
    parser.add_argument("--rollout-envs", type=int, nargs="+", default=[1, 8, 32],
                        help="env copies (prompts) per rollout measurement")
    parser.add_argument("--compile-step", default="on", choices=["on", "off"],
                        help="also time our sampler with its decode step compiled (torch.compile)")
    parser.add_argument("--prompt-tokens", type=int, default=256, help="length of the random rollout prompts")
    parser.add_argument("--rollout-prompts", nargs="+", default=list(ROLLOUT_PROMPTS), choices=ROLLOUT_PROMPTS,
                        help="rollout prompt kinds: random ids, or env copies' first observations")
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default="results/ppo_speed.json")
    parser.add_argument("--sections", nargs="+", default=["rollout", "update", "envs", "processes"],
                        choices=["rollout", "update", "envs", "processes"], help="what to measure (default: all)")
    parser.add_argument("--latency-ms", type=float, default=30.0, help="mean env step latency for the overlap rows")
    parser.add_argument("--iterations", type=int, default=6, help="PPO iterations per process-count row")
    args = parser.parse_args(argv)
    try:
        check_model(args.model)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report: dict = {"model": args.model or "tiny llama 4x256",
                    "machine": {"platform": platform.platform(), "cpus": multiprocessing.cpu_count(),
                                "torch": torch.__version__, "threads": torch.get_num_threads()}}
    with tempfile.TemporaryDirectory() as scratch:
        needs_model = {"rollout", "update"} & set(args.sections)
        model_path = (args.model or tiny_model(Path(scratch) / "tiny")) if needs_model else ""
        if "rollout" in args.sections:
            report["rollout"] = rollout_benchmark(model_path, args.rollout_envs, args.prompt_tokens, args.new_tokens,
                                                  args.repeats, args.compile_step == "on",
                                                  tuple(args.rollout_prompts))
            print_rollout(report["rollout"], args)
        if "update" in args.sections:
            report["update"] = update_benchmark(model_path, args.prompt_tokens, args.new_tokens, args.repeats)
            print_update(report["update"], args)
    if "envs" in args.sections:
        report["vector_envs"] = vector_env_benchmark(args.envs, 200, args.repeats)
        print(f"\nGymnasium vector env, agile/ProductQA-v2, {args.envs} envs, 200 steps (median of {args.repeats}):")
        print(markdown_table(report["vector_envs"], {
            "mode": "mode", "env steps/s": lambda row: f"{row['env_steps_per_s']:.0f}",
        }))
        sync, asynchronous = (row["env_steps_per_s"] for row in report["vector_envs"])
        print(f"async / sync: {asynchronous / sync:.2f}x")
        report["overlap"] = overlap_benchmark(args.envs, 4, args.latency_ms, 16, args.repeats)
        print(f"\nTrainer rollout, {args.envs} env copies x 4 steps, env steps of 0-{2 * args.latency_ms:g} ms "
              f"and one in ten {10 * args.latency_ms:g} ms, tiny model, up to 16 new tokens "
              f"(median of {args.repeats}):")
        print(markdown_table(report["overlap"], {"mode": "mode", "rollout s": lambda row: f"{row['rollout_s']:.2f}"}))
        sync, asynchronous = (row["rollout_s"] for row in report["overlap"])
        print(f"speed-up async over sync: {sync / asynchronous:.2f}x")
    if "processes" in args.sections:
        report["processes"] = process_benchmark(args.iterations, args.envs)
        print(f"\n`agile_train.ppo` defaults, {args.envs} env copies x 4 steps per iteration (median over iterations "
              f"2..{args.iterations}):")
        print(markdown_table(report["processes"], {
            "processes": "processes", "mode": "mode", "threads each": "threads_each",
            "iteration s": lambda row: f"{row['iteration_s']:.2f}",
            "env steps/s": lambda row: f"{row['env_steps_per_s']:.1f}",
            "parameters held per process (M)": lambda row: f"{row['params_held_m']:.3f}",
        }))
        one, two, sharded = report["processes"]
        print(f"speed-up of 2 processes over 1: {one['iteration_s'] / two['iteration_s']:.2f}x data parallel, "
              f"{one['iteration_s'] / sharded['iteration_s']:.2f}x sharded (holding "
              f"{sharded['params_held_m'] / one['params_held_m']:.2f} of the parameters)")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.output}")
    return 0


def print_rollout(rollout: dict, args) -> None:
    """Print `rollout_benchmark`'s result to stdout: per env count, new tokens per wall and per CPU second by
    variant with the ratios to batched `generate`, first-call seconds and token equality; then the decode-step
    profile."""
    print(f"\nRollout, up to {args.new_tokens} new tokens, greedy, {rollout['threads']} threads (median of "
          f"{args.repeats}, variants interleaved); random prompts of {args.prompt_tokens} ids, env prompts = first "
          f"observations of agile/ProductQA-v2 copies (mean length and shared-prefix ids per prompt in the rows):")
    rows = [{"prompts": f"{section['prompts']} ({section['prompt_tokens_mean']:.0f}, "
                        f"{section['shared_prefix_tokens']:.0f} shared)", "envs": section["envs"], "variant": name,
             "rate": rate, "cpu": section["tokens_per_cpu_s"][name],
             "ratio": section["ratio_to_batched_generate"][name],
             "cpu_ratio": section["cpu_ratio_to_batched_generate"][name],
             "first": section["first_call_s"][name], "equal": section["greedy_tokens_match_generate"][name]}
            for section in rollout["by_envs"] for name, rate in section["tokens_per_s"].items()]
    print(markdown_table(rows, {
        "prompts": "prompts", "envs": "envs", "variant": "variant", "new tokens/s": lambda row: f"{row['rate']:.0f}",
        "/ batched generate": lambda row: f"{row['ratio']:.2f}x",
        "new tokens per CPU s": lambda row: f"{row['cpu']:.0f}",
        "/ batched generate (CPU s)": lambda row: f"{row['cpu_ratio']:.2f}x",
        "first call s": lambda row: f"{row['first']:.1f}", "tokens = generate's": "equal",
    }))
    profile = rollout["decode_step_profile"]
    print(f"\nPrefill of {profile['envs']} prompts {profile['prefill_ms']:.1f} ms; one decode step of our sampler "
          f"(static cache, eager): {profile['step_ms']:.2f} ms "
          f"({profile['step_ms_profiled']:.2f} ms of operator self time under the profiler); matmuls "
          f"{profile['step_matmul_gflop']:.3f} GFLOP = {profile['step_gflops_per_s']:.1f} GFLOP/s, against "
          f"{profile['large_matmul_gflops_per_s']:.0f} GFLOP/s in a 1024-square matmul:")
    print(markdown_table(profile["top_ops"], {
        "operator": "op", "self ms per step": lambda row: f"{row['self_ms_per_step']:.3f}",
        "share": lambda row: f"{100 * row['share']:.1f}%", "calls per step": lambda row: f"{row['calls_per_step']:.0f}",
    }))


def print_update(update: list[dict], args) -> None:
    """Print `update_benchmark`'s rows to stdout as a markdown table under a heading built from `args`."""
    print(f"\nUpdate step ({args.prompt_tokens} + {args.new_tokens} tokens per action):")
    print(markdown_table(update, {
        "mode": "mode", "batch": "batch", "step s": lambda row: f"{row['step_s']:.3f}",
        "tokens/s": lambda row: f"{row['tokens_per_s']:.0f}",
        "trainable params": lambda row: f"{row['trainable_params']:,}",
        "peak RSS MB": lambda row: f"{row['peak_rss_mb']:.0f}",
    }))


if __name__ == "__main__":
    raise SystemExit(main())
