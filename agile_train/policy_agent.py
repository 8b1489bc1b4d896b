"""A causal LM (hub name, folder, named model, or a trained adapter / run folder) acting on a batch of text
observations: the one place that turns a model into actions, for `evaluate` and `benchmarks.run`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from agile_gym.agents import Reply
from agile_train.config import ModelConfig
from agile_train.generation import Sampling, action_text, end_token_ids, sample_actions
from agile_train.models import load_model, plan_model, resolve_device
from agile_train.rollout import PromptEncoder


class PolicyAgent:
    """Greedy (or sampled) actions of a model for a batch of observations; one prompt per observation.

    `model.model` is the base model (empty: the one recorded in `adapter`); `adapter` a LoRA folder, a fully
    fine-tuned model folder, or a training run folder (see `agile_train.models.plan_model`). `corpus` gives the
    text the tiny model's tokenizer is trained on, when the tiny model has to be built.
    """

    def __init__(self, model: ModelConfig, adapter: str = "", corpus: Callable[[], list[str]] = list,
                 seed: int = 0, temperature: float = 0.0, stop_strings: list[str] | None = None) -> None:
        self.device = resolve_device(model.device)
        self.plan = plan_model(model.model, adapter=adapter)
        # No adapter to load means the plain model: no fresh LoRA layers around it.
        self.model_path, self.tokenizer, self.policy = load_model(model, self.plan, self.device, corpus, seed,
                                                                  fresh_adapter=False, with_reference=False)
        self.policy.eval()
        self.encoder = PromptEncoder(self.tokenizer, model.chat_template, "last", model.max_prompt_tokens)
        self.sampling = Sampling(model.max_new_tokens, temperature=temperature, stop_strings=stop_strings or [],
                                 end_ids=end_token_ids(self.policy.model, self.tokenizer))
        self.generator = torch.Generator(device=self.device).manual_seed(seed)

    @torch.no_grad()
    def act_batch(self, observations: list[str], infos: list[dict[str, Any]] | None = None) -> list[Reply]:
        """One action per observation (`infos` unused: a model sees only the text)."""
        prompts = [self.encoder.encode(observation, None) for observation in observations]
        responses = sample_actions(self.policy.model, self.tokenizer, prompts, self.sampling, self.device,
                                   self.generator if self.sampling.temperature > 0 else None)
        return [Reply(action_text(self.tokenizer, response, self.sampling), len(prompt), len(response))
                for prompt, response in zip(prompts, responses)]

    def describe(self) -> dict[str, Any]:
        """What was loaded: the base model path, the adapter and the adapter merged before it (None if none)."""
        return {"model": self.model_path, "adapter": self.plan.adapter or None,
                "merged_adapter": self.plan.merge or None}
