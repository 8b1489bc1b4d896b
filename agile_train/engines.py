"""Rollout engines: what turns prompts (token ids) into sampled actions (token ids) during PPO.

One small interface, so a faster engine drops in without touching the trainer:

    engine.generate(prompts, sampling, generator) -> sampled ids per prompt
    engine.sync(policy)                           # after each update: the engine samples from the new policy

`transformers` (default) samples with the policy module itself (`agile_train.generation`), so syncing is free.
`vllm` serves the base model with vLLM and the policy's LoRA adapter, saved after every update and loaded as a
new `LoRARequest`. The trainer always re-scores the sampled ids with its own forward pass, so PPO's ratios
never depend on the engine's numerics. An SGLang engine would implement the same two methods.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Protocol

import torch

from agile_train.generation import DecodeStep, Sampling, sample_actions


class RolloutEngine(Protocol):
    """What samples actions: `generate(prompts, sampling, generator)` returns the sampled ids per prompt
    (`prompts`: context ids per row); `sync(policy)` makes the engine sample from `policy` after an update."""

    def generate(self, prompts: list[list[int]], sampling: Sampling, generator: torch.Generator | None
                 ) -> list[list[int]]: ...

    def sync(self, policy) -> None: ...


class TransformersEngine:
    """Samples with the policy module itself (`agile_train.generation.sample_actions`); syncing is free.

    `kv_cache`: "static" (default) or "dynamic" (see `sample_actions`); `compile_decode`: run each decode step
    through `torch.compile` (CUDA graphs on a GPU); the first rollouts then pay the compile time."""

    def __init__(self, policy, tokenizer, device: torch.device, kv_cache: str = "static",
                 compile_decode: bool = False) -> None:
        self.policy, self.tokenizer, self.device = policy, tokenizer, device
        self.kv_cache, self.compile_decode = kv_cache, compile_decode
        self.step = DecodeStep(policy.model, compile=compile_decode)

    def generate(self, prompts, sampling, generator):
        """Sampled ids per prompt, drawn from `generator` (None: greedy)."""
        self.policy.model.eval()
        return sample_actions(self.policy.model, self.tokenizer, prompts, sampling, self.device, generator,
                              kv_cache=self.kv_cache, step=self.step)

    def sync(self, policy) -> None:
        """Sample from `policy` from now on (the same module in training: nothing to copy)."""
        if policy.model is not self.policy.model:
            self.step = DecodeStep(policy.model, compile=self.compile_decode)
        self.policy = policy


class VLLMEngine:
    """vLLM generation for LoRA policies: the base model stays in vLLM, the adapter is re-sent after each update."""

    def __init__(self, model_path: str, policy, lora_r: int, gpu_memory_utilization: float = 0.3,
                 dtype: str = "auto", seed: int = 0) -> None:
        try:
            import vllm
        except ImportError:
            raise ValueError("--rollout-engine vllm needs vLLM (pip install vllm, on a machine with a GPU); "
                             "--rollout-engine transformers works everywhere") from None
        if not policy.is_peft:
            raise ValueError("--rollout-engine vllm syncs LoRA adapters into vLLM; with --lora-r 0 (full "
                             "fine-tuning) use --rollout-engine transformers")
        self.vllm = vllm
        self.llm = vllm.LLM(model=model_path, enable_lora=True, max_lora_rank=max(8, lora_r), max_loras=1,
                            gpu_memory_utilization=gpu_memory_utilization, dtype=dtype, seed=seed)
        self._folder = tempfile.TemporaryDirectory(prefix="agile-vllm-lora-")
        self.version = 0
        self.sync(policy)

    def sync(self, policy) -> None:
        """Save the policy's current LoRA adapter and hand it to vLLM as a new `LoRARequest`."""
        self.version += 1
        folder = Path(self._folder.name) / f"v{self.version}"
        policy.model.save_pretrained(folder)
        from vllm.lora.request import LoRARequest

        # A new name and id per version: vLLM caches adapters by id.
        self.lora = LoRARequest(f"policy-v{self.version}", self.version, str(folder))

    def generate(self, prompts, sampling, generator):
        """Sampled ids per prompt from vLLM with the current adapter; the seed is drawn from `generator`."""
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator).item()) if generator is not None else None
        params = self.vllm.SamplingParams(
            temperature=sampling.temperature, top_p=sampling.top_p, max_tokens=sampling.max_new_tokens,
            stop=sampling.stop_strings or None, stop_token_ids=list(sampling.end_ids) or None,
            include_stop_str_in_output=True, seed=seed)
        outputs = self.llm.generate([{"prompt_token_ids": prompt} for prompt in prompts], params,
                                    lora_request=self.lora, use_tqdm=False)
        return [list(output.outputs[0].token_ids) for output in outputs]


def make_engine(name: str, policy, tokenizer, model_path: str, device: torch.device, lora_r: int,
                gpu_memory_utilization: float = 0.3, seed: int = 0) -> RolloutEngine:
    """The engine called `name` (transformers or vllm); ValueError for any other name."""
    if name == "transformers":
        return TransformersEngine(policy, tokenizer, device)
    if name == "vllm":
        return VLLMEngine(model_path, policy, lora_r, gpu_memory_utilization, seed=seed)
    raise ValueError(f"--rollout-engine must be transformers or vllm, got {name!r}")
