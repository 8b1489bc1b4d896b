"""GPU check: rollout and PPO-update speed of a SmolLM2-135M-sized policy, for the day a GPU is lent.

    python -m benchmarks.gpu_check                       # CUDA, bf16, SmolLM2-135M's shape; results/gpu_check.json
    python -m benchmarks.gpu_check --device cpu --tiny   # the same steps at toy size on a CPU (the test suite's run)
    bash benchmarks/gpu_check.sh                         # the same, plus the machine's GPU and versions

Made to run in under 4 minutes on a machine that reaches no registry: the model is SmolLM2-135M's architecture
built from its config (`SMOLLM2_135M`) with random bf16 weights (speed does not depend on the weights, and the
real weights are too large to send); only that machine's torch and transformers and this project's pure-Python
code are used. No tokenizer either: prompts are random ids (the first 70% of each shared by all, as env copies
share their instructions) and no end id is set, so every row writes exactly `--new-tokens` tokens in every
variant (greedy), and tokens/s compare like for like.

Measured, each a median of `--repeats` runs after one warm-up:
- rollout tokens/s at each `--envs` count: our sampler (static KV cache; and its decode step compiled, CUDA graphs
  on a GPU, with the compile time apart), batched `generate` (dynamic cache) and `generate` with a static cache
  (which transformers compiles itself on a GPU: its first call, compile included, is reported apart);
- one PPO iteration (rollout, scoring with policy and reference, one pass of `agile_train.update.ppo_update`):
  wall time per phase and peak GPU memory;
- the update's tokens/s and model FLOP utilisation: 6 x matmul parameters x tokens / seconds / the GPU's peak
  dense bf16 FLOP/s (`PEAK_BF16_TFLOPS`, by GPU name; attention's own FLOPs are left out, so MFU is a lower
  bound). The JSON is rewritten after each section; rollout sections not started when `--budget-s` is spent are
  skipped and named in it.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import torch

from agile_gym.results import markdown_table

# HuggingFaceTB/SmolLM2-135M config.json (LlamaForCausalLM; published sizes, checked against the model card).
SMOLLM2_135M = dict(hidden_size=576, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                    intermediate_size=1536, vocab_size=49152, tie_word_embeddings=True, rope_theta=100000.0,
                    rms_norm_eps=1e-5, max_position_embeddings=8192, hidden_act="silu")
TINY = dict(SMOLLM2_135M, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            intermediate_size=128, vocab_size=512)
# Dense bf16 tensor-core peak (no sparsity), TFLOP/s, from NVIDIA's data sheets; matched in order against the
# device name, so the more specific names come first.
PEAK_BF16_TFLOPS = (("H200", 989.0), ("H100 PCIe", 756.0), ("H100", 989.0), ("A100", 312.0), ("L40S", 362.0),
                    ("A10G", 70.0), ("L4", 121.0))


def peak_tflops(device: torch.device) -> tuple[str, float | None]:
    """(device name, peak dense bf16 TFLOP/s or None when the name is not in `PEAK_BF16_TFLOPS` or not a GPU)."""
    if device.type != "cuda":
        return platform.processor() or "cpu", None
    name = torch.cuda.get_device_name(device)
    return name, next((peak for key, peak in PEAK_BF16_TFLOPS if key in name), None)


def build_model(sizes: dict, device: torch.device, dtype: torch.dtype, seed: int = 0):
    """A `LlamaForCausalLM` of `sizes` with random weights in `dtype` on `device`, in eval mode, with no end id
    (rows always write the full length) and pad id 0."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(**sizes, bos_token_id=None, eos_token_id=None, pad_token_id=0)
    torch.manual_seed(seed)
    with torch.device(device):
        model = LlamaForCausalLM(config).to(dtype)
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    return model.eval()


class IdsOnly:
    """The tokenizer fields the sampler reads when there are no stop strings: pad id 0 and no EOS."""

    pad_token_id, eos_token_id = 0, None


def matmul_params(model) -> tuple[int, int]:
    """(parameters in the decoder layers, parameters of the output head): the two kinds of matmul weights. The
    input embedding is a lookup, not a matmul, so it is not counted even when tied to the head."""
    layers = sum(p.numel() for p in model.model.layers.parameters())
    return layers, model.lm_head.weight.numel()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(run, device: torch.device) -> tuple[float, object]:
    _sync(device)
    began = time.perf_counter()
    result = run()
    _sync(device)
    return time.perf_counter() - began, result


SHARED_FRACTION = 0.7  # of a first ProductQA / MedMCQA prompt, the instructions and schema every copy shares


def rollout_section(model, device, envs: int, prompt_tokens: int, new_tokens: int, repeats: int, compiled) -> dict:
    """New tokens/s per variant for `envs` random prompts whose first `SHARED_FRACTION` of ids are the same in
    every prompt, as env copies share their instructions (median of `repeats` after a warm-up), first-call
    seconds per variant (compile included where there is one) and whether greedy tokens equal batched
    `generate`'s (bf16 kernels may pick another argmax on near-ties, so this is reported, not required).
    `compiled`: our compiled `DecodeStep` (one for every section, so it compiles once), or None."""
    from agile_train.generation import DecodeStep, Sampling, left_pad, sample_actions

    generator = torch.Generator().manual_seed(envs)
    shared = int(SHARED_FRACTION * prompt_tokens)
    head = torch.randint(1, model.config.vocab_size, (shared,), generator=generator).tolist()
    prompts = [head + torch.randint(1, model.config.vocab_size, (prompt_tokens - shared,), generator=generator).tolist()
               for _ in range(envs)]
    sampling = Sampling(new_tokens, 0.0, end_ids=(-1,))  # -1: no id ends a row

    def generate(cache_implementation=None):
        ids, mask = left_pad(prompts, 0, device)
        extra = {"cache_implementation": cache_implementation} if cache_implementation else {}
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens, do_sample=False,
                             pad_token_id=0, **extra)
        return out[:, ids.shape[1]:].tolist()

    eager = DecodeStep(model)
    variants = {
        "agile_train sampler, static cache": lambda: sample_actions(model, IdsOnly, prompts, sampling, device,
                                                                    step=eager),
        "agile_train sampler, static cache, no shared prefix": lambda: sample_actions(
            model, IdsOnly, prompts, sampling, device, step=eager, share_prefix=0),
        "agile_train sampler, dynamic cache": lambda: sample_actions(model, IdsOnly, prompts, sampling, device,
                                                                     kv_cache="dynamic", step=eager),
        "generate, batched": generate,
        "generate, static cache": lambda: generate("static"),
    }
    if compiled is not None:
        variants["agile_train sampler, compiled step"] = lambda: sample_actions(model, IdsOnly, prompts, sampling,
                                                                                device, step=compiled)
    first_call_s, rates, outputs = {}, {name: [] for name in variants}, {}
    with torch.no_grad():
        for name, run in variants.items():
            first_call_s[name], outputs[name] = _timed(run, device)
        for _ in range(repeats):
            for name, run in variants.items():
                seconds, outputs[name] = _timed(run, device)
                rates[name].append(envs * new_tokens / seconds)
    medians = {name: statistics.median(values) for name, values in rates.items()}
    reference = outputs["generate, batched"]
    return {"envs": envs, "prompt_tokens": prompt_tokens, "shared_prefix_tokens": shared, "new_tokens": new_tokens,
            "tokens_per_s": medians,
            "first_call_s": first_call_s,
            "ratio_to_batched_generate": {name: rate / medians["generate, batched"] for name, rate in medians.items()},
            "greedy_tokens_equal_generate": {name: out == reference for name, out in outputs.items()}}


def ppo_iteration_section(model, device, envs: int, prompt_tokens: int, new_tokens: int, repeats: int) -> dict:
    """One PPO iteration on `envs` actions, full fine-tuning, timed by phase (median of `repeats` after a
    warm-up): rollout (our sampler, temperature 1), scoring (policy, values and reference), one update pass
    (`ppo_epochs=1`, one minibatch of all actions in micro-batches of 8). Peak GPU memory over the iterations;
    the update's tokens/s and FLOP/s (6 x matmul parameters x tokens; head only at the response positions)."""
    from agile_train.buffer import RolloutBuffer
    from agile_train.config import PPOConfig
    from agile_train.generation import Sampling, sample_actions
    from agile_train.models import PolicyWithValue
    from agile_train.rollout import Segment, Turn
    from agile_train.update import OptimizerStep, ppo_update

    policy = PolicyWithValue(model).to(device)
    policy.value_head.float()
    optimizer = OptimizerStep(torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=1e-6), 1.0)
    config = PPOConfig(ppo_epochs=1, minibatch_size=envs, micro_batch_size=min(8, envs))
    generator = torch.Generator().manual_seed(1)
    prompts = [torch.randint(1, model.config.vocab_size, (prompt_tokens,), generator=generator).tolist()
               for _ in range(envs)]
    sampling = Sampling(new_tokens, 1.0, end_ids=(-1,))
    phases: dict[str, list[float]] = {"rollout_s": [], "scoring_s": [], "update_s": []}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for repeat in range(repeats + 1):
        draw = torch.Generator(device).manual_seed(repeat)
        seconds, responses = _timed(partial(sample_actions, model, IdsOnly, prompts, sampling, device, draw), device)
        segments = [Segment(i, [Turn(p, r, reward=float(i % 2))], terminal=True)
                    for i, (p, r) in enumerate(zip(prompts, responses))]
        scoring_s, buffer = _timed(partial(RolloutBuffer.score, policy, segments, config.micro_batch_size, 0, device,
                                           temperature=1.0), device)
        buffer.compute_advantages(config.kl_coef, config.gamma, config.lam, True, config.credit_assignment)
        update_s, _ = _timed(partial(ppo_update, policy, optimizer, buffer, config, torch.Generator().manual_seed(0)),
                             device)
        if repeat:  # the first iteration pays for allocation (and the optimizer's state)
            for name, value in zip(phases, (seconds, scoring_s, update_s)):
                phases[name].append(value)
    medians = {name: statistics.median(values) for name, values in phases.items()}
    layer_params, head_params = matmul_params(model)
    update_tokens = envs * (prompt_tokens + new_tokens)
    flops = 6 * (layer_params * update_tokens + head_params * envs * new_tokens)
    peak_memory = (torch.cuda.max_memory_allocated(device) if device.type == "cuda"
                   else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"envs": envs, "prompt_tokens": prompt_tokens, "new_tokens": new_tokens, **medians,
            "iteration_s": sum(medians.values()), "peak_memory_mb": peak_memory / 2**20,
            "peak_memory_kind": "torch.cuda.max_memory_allocated" if device.type == "cuda" else "max RSS",
            "update_tokens_per_s": update_tokens / medians["update_s"],
            "update_tflops": flops / medians["update_s"] / 1e12,
            "matmul_params": layer_params + head_params}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: run the sections, print their tables, write the JSON to `--output`; returns 0,
    or 2 after one line on stderr when `--device cuda` has no GPU."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--tiny", action="store_true", help="a 2-layer 64-wide model instead of SmolLM2-135M's shape")
    parser.add_argument("--envs", type=int, nargs="+", default=[8, 32], help="env copies (rows) per rollout")
    parser.add_argument("--prompt-tokens", type=int, default=256)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compile", default="auto", choices=["auto", "on", "off"],
                        help="also time our sampler with a compiled decode step (auto: on a GPU)")
    parser.add_argument("--budget-s", type=float, default=210.0, help="skip sections not started by then")
    parser.add_argument("--output", default="results/gpu_check.json")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but torch sees no GPU; use --device cpu --tiny for the CPU run", file=sys.stderr)
        return 2
    began = time.perf_counter()
    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    name, peak = peak_tflops(device)
    import transformers

    report: dict = {"model": "tiny llama 2x64" if args.tiny else "SmolLM2-135M architecture, random weights",
                    "sizes": TINY if args.tiny else SMOLLM2_135M, "dtype": str(dtype).removeprefix("torch."),
                    "device": name, "peak_bf16_tflops": peak, "torch": torch.__version__,
                    "transformers": transformers.__version__, "rollout": [], "skipped": []}
    model = build_model(TINY if args.tiny else SMOLLM2_135M, device, dtype)
    compile_step = args.compile == "on" or (args.compile == "auto" and device.type == "cuda")
    from agile_train.generation import DecodeStep

    compiled = DecodeStep(model, compile=True) if compile_step else None
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:  # after every section, so a run stopped by a timeout still leaves what it measured
        report["total_s"] = time.perf_counter() - began
        output.write_text(json.dumps(report, indent=2))

    # The PPO iteration first: it compiles nothing, so the budget is spent on compiling only when it remains.
    report["ppo_iteration"] = ppo_iteration_section(model, device, args.envs[0], args.prompt_tokens,
                                                    args.new_tokens, args.repeats)
    if peak:
        report["ppo_iteration"]["update_mfu"] = report["ppo_iteration"]["update_tflops"] / peak
    save()
    for envs in args.envs:
        if time.perf_counter() - began > args.budget_s:
            report["skipped"].append(f"rollout at {envs} envs (budget spent)")
            continue
        report["rollout"].append(rollout_section(model, device, envs, args.prompt_tokens, args.new_tokens,
                                                 args.repeats, compiled))
        save()
    save()
    print_report(report)
    print(f"\nwrote {output} ({report['total_s']:.0f} s)")
    return 0


def print_report(report: dict) -> None:
    """Print the report's tables: rollout tokens/s per variant and env count, then the PPO iteration."""
    print(f"\n{report['model']}, {report['dtype']}, on {report['device']} (torch {report['torch']}, "
          f"transformers {report['transformers']})")
    rows = [{"variant": variant, "envs": section["envs"], "rate": rate,
             "ratio": section["ratio_to_batched_generate"][variant], "first": section["first_call_s"][variant],
             "equal": section["greedy_tokens_equal_generate"][variant]}
            for section in report["rollout"] for variant, rate in section["tokens_per_s"].items()]
    if rows:
        section = report["rollout"][0]
        print(f"\nRollout, {section['prompt_tokens']}-token prompts, {section['new_tokens']} new tokens, greedy:")
        print(markdown_table(rows, {
            "variant": "variant", "envs": "envs", "new tokens/s": lambda row: f"{row['rate']:.0f}",
            "/ batched generate": lambda row: f"{row['ratio']:.2f}x",
            "first call s (compile)": lambda row: f"{row['first']:.1f}", "tokens = generate's": "equal",
        }))
    if "ppo_iteration" in report:
        it = report["ppo_iteration"]
        mfu = f"{100 * it['update_mfu']:.1f}%" if "update_mfu" in it else "n/a (no peak for this device)"
        print(f"\nOne PPO iteration, {it['envs']} actions of {it['prompt_tokens']} + {it['new_tokens']} tokens, "
              "full fine-tuning:")
        print(markdown_table([it], {
            "rollout s": lambda r: f"{r['rollout_s']:.3f}", "scoring s": lambda r: f"{r['scoring_s']:.3f}",
            "update s": lambda r: f"{r['update_s']:.3f}", "iteration s": lambda r: f"{r['iteration_s']:.3f}",
            f"peak memory MB ({it['peak_memory_kind']})": lambda r: f"{r['peak_memory_mb']:.0f}",
            "update tokens/s": lambda r: f"{r['update_tokens_per_s']:.0f}",
            "update TFLOP/s": lambda r: f"{r['update_tflops']:.2f}", "update MFU": lambda r: mfu,
        }))
    for skipped in report["skipped"]:
        print(f"skipped: {skipped}")


if __name__ == "__main__":
    raise SystemExit(main())
