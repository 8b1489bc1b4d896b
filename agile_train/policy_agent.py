"""A causal LM (hub name, folder, named model, or a trained adapter / run folder) acting greedily on a batch of
text observations: the one place that turns a model spec into actions, for `evaluate` and `benchmarks.run`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

from agile_gym.agents import Reply
from agile_train.checkpoint import latest_checkpoint
from agile_train.config import TINY_MODEL, RunConfig
from agile_train.generation import Sampling, sample_actions
from agile_train.models import load_policy, load_tokenizer, resolve_device
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


def split_model_spec(spec: str) -> tuple[str, str]:
    """(model, adapter) for one spec: a model (hub name, folder, 'tiny', a named model), a LoRA adapter folder, or
    a training run folder (its latest checkpoint: an adapter, or a fully fine-tuned model)."""
    folder = Path(spec).expanduser()
    if (folder / "adapter_config.json").exists():
        return TINY_MODEL, spec
    checkpoint = latest_checkpoint(folder) if folder.is_dir() else None
    if checkpoint is not None:
        if (checkpoint / "policy" / "adapter_config.json").exists():
            return TINY_MODEL, spec
        return str(checkpoint / "policy"), ""
    return spec, ""


class PolicyAgent:
    """Greedy (or sampled) actions of a model for a batch of observations; one prompt per observation.

    `config.model` is the base model; `adapter` a LoRA folder or run folder whose recorded base model is used
    when `config.model` is left at 'tiny'.
    """

    def __init__(self, config: RunConfig, adapter: str = "", device: str = "auto", temperature: float = 0.0,
                 stop_strings: list[str] | None = None) -> None:
        from agile_train.ppo import resolve_model_path_for

        self.device = resolve_device(device)
        merge_first = ""
        if adapter:
            adapter, merge_first = adapter_folders(adapter)
        base_adapter = merge_first or adapter
        uses_base_of_adapter = adapter and config.model == TINY_MODEL
        self.model_path = base_model_of(base_adapter) if uses_base_of_adapter else resolve_model_path_for(config)
        self.adapter, self.merged_adapter = adapter or None, merge_first or None
        self.tokenizer = load_tokenizer(adapter or self.model_path)
        # No adapter means the plain model: no fresh LoRA layers around it.
        plain = config if adapter else dataclasses.replace(config, lora_r=0)
        self.policy = load_policy(plain, self.model_path, self.device, adapter=adapter, with_reference=False,
                                  merge_first=merge_first).eval()
        self.encoder = PromptEncoder(self.tokenizer, config.chat_template, "last", config.max_prompt_tokens)
        self.sampling = Sampling(config.max_new_tokens, temperature=temperature, stop_strings=stop_strings or [])
        self.generator = torch.Generator(device=self.device).manual_seed(config.seed)

    @torch.no_grad()
    def act_batch(self, observations: list[str], infos: list[dict[str, Any]] | None = None) -> list[Reply]:
        prompts = [self.encoder.encode(observation, None) for observation in observations]
        responses = sample_actions(self.policy.model, self.tokenizer, prompts, self.sampling, self.device,
                                   self.generator if self.sampling.temperature > 0 else None)
        return [Reply(self.tokenizer.decode(response, skip_special_tokens=True), len(prompt), len(response))
                for prompt, response in zip(prompts, responses)]

    def describe(self) -> dict[str, Any]:
        return {"model": self.model_path, "adapter": self.adapter, "merged_adapter": self.merged_adapter}
