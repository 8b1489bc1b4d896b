"""The policy: any causal LM (hub name, local folder, or the built-in tiny model), LoRA or full fine-tuning,
plus a scalar value head on the last hidden state.

One resolver for every command: `plan_model` says what to load (base, adapter to merge, adapter to load,
tokenizer) from a model spec and an adapter or run folder; `load_model` loads it.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from agile_train.checkpoint import latest_checkpoint
from agile_train.config import TINY_MODEL, ModelConfig

VALUE_HEAD_FILE = "value_head.safetensors"


class PolicyWithValue(nn.Module):
    """A causal LM and a value head that share the transformer trunk.

    With LoRA the reference policy for the KL penalty is the same model with the adapter switched off, so it
    costs no memory; with full fine-tuning it is a frozen copy made at load time.
    """

    def __init__(self, model: nn.Module, reference: nn.Module | None = None) -> None:
        super().__init__()
        self.model = model
        hidden_size = model.config.get_text_config().hidden_size
        self.value_head = nn.Linear(hidden_size, 1)
        nn.init.zeros_(self.value_head.weight)
        nn.init.zeros_(self.value_head.bias)
        self._reference = [reference] if reference is not None else []  # a list keeps it out of parameters()

    @property
    def is_peft(self) -> bool:
        """Whether the policy is a peft model (LoRA): then the reference is the model with the adapter off."""
        return hasattr(self.model, "disable_adapter")

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, keep: int, with_values: bool = True
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits and values of the last `keep` positions of left-padded rows.

        Position ids follow the attention mask, as `generate` does, so a row's numbers do not depend on how
        much padding its batch needed.
        """
        position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        outputs = self.model(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
            output_hidden_states=with_values, logits_to_keep=keep, use_cache=False,
        )
        values = None
        if with_values:
            hidden = outputs.hidden_states[-1][:, -keep:]
            values = self.value_head(hidden.to(self.value_head.weight.dtype)).squeeze(-1)
        return outputs.logits, values

    @contextlib.contextmanager
    def value_only(self) -> Iterator[None]:
        """Within the block only the value head takes gradients (value warm-up: the policy does not move)."""
        trainable = [p for p in self.parameters() if p.requires_grad]
        for parameter in trainable:
            parameter.requires_grad_(False)
        self.value_head.requires_grad_(True)
        try:
            yield
        finally:
            for parameter in trainable:
                parameter.requires_grad_(True)

    @contextlib.contextmanager
    def reference(self) -> Iterator[nn.Module]:
        """The reference policy as a module with the same forward signature as `self.model`."""
        if self.is_peft:
            with self.model.disable_adapter():
                yield self.model
        elif self._reference:
            yield self._reference[0]
        else:
            yield self.model

    def reference_logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, keep: int) -> torch.Tensor:
        """Logits `[rows, keep, vocab]` of the reference policy for the same rows as `forward` (no gradient)."""
        position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        with torch.no_grad(), self.reference() as reference:
            return reference(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                             logits_to_keep=keep, use_cache=False).logits

    def save_pretrained(self, directory: str | os.PathLike, state_dict: dict[str, torch.Tensor] | None = None
                        ) -> None:
        """An ordinary Hugging Face folder (adapter or full model) plus the value head.

        `state_dict`: this module's full state (keys as in `self.state_dict()`), for a sharded policy whose own
        tensors are shards.
        """
        from safetensors.torch import save_file

        def part(prefix: str) -> dict[str, torch.Tensor] | None:
            if state_dict is None:
                return None
            return {key[len(prefix):]: value for key, value in state_dict.items() if key.startswith(prefix)}

        self.model.save_pretrained(directory, state_dict=part("model."))
        head = part("value_head.") or self.value_head.state_dict()
        save_file({k: v.detach().cpu().contiguous() for k, v in head.items()}, str(Path(directory) / VALUE_HEAD_FILE))

    def load_value_head(self, directory: str | os.PathLike) -> bool:
        """Load `value_head.safetensors` from `directory` if it is there; returns whether it was."""
        from safetensors.torch import load_file

        path = Path(directory) / VALUE_HEAD_FILE
        if not path.exists():
            return False
        self.value_head.load_state_dict(load_file(str(path)))
        return True


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """torch dtype for `--dtype`: auto is bf16 on a GPU that supports it, else float32."""
    if name == "bfloat16" or (name == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return torch.float32


def resolve_device(name: str) -> torch.device:
    """torch device for `--device`: auto is cuda when available, else cpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@dataclass(frozen=True)
class ModelPlan:
    """What to load for a policy, resolved once (by `plan_model`) from a model spec and the folders given.

    `base`: folder or hub name of the causal LM; `merge`: a LoRA adapter merged into it first (an SFT policy,
    which then is also the KL reference); `adapter`: a LoRA adapter loaded on top (to evaluate or continue);
    `tokenizer`: where the tokenizer is read (the folder a trained policy was saved with, else the base).
    """

    base: str
    merge: str = ""
    adapter: str = ""
    tokenizer: str = ""


def adapter_base(adapter: str | os.PathLike) -> str:
    """The base model an adapter was trained on, as its adapter_config.json records it."""
    return json.loads((Path(adapter) / "adapter_config.json").read_text())["base_model_name_or_path"]


def run_init_adapter(run_dir: str | os.PathLike) -> str:
    """The `init_adapter` a PPO run was started from ('' when none), relative paths read from the run folder."""
    path = Path(run_dir) / "config.json"
    if not path.exists():
        return ""
    saved = json.loads(path.read_text())
    value = (saved.get("ppo") or {}).get("init_adapter", "") if isinstance(saved.get("ppo"), dict) else \
        saved.get("init_adapter", "")
    if value and not Path(value).is_absolute() and (Path(run_dir) / value).exists():
        return str((Path(run_dir) / value).resolve())
    return value


def plan_model(model: str, *, adapter: str = "", init_adapter: str = "") -> ModelPlan:
    """Resolve what to load, without loading or building anything.

    `adapter`: a LoRA folder, or a training run folder: its latest checkpoint's adapter (with the run's own
    `init_adapter` to merge first), or its fully fine-tuned model as the base; a fully fine-tuned model folder
    is taken as the base too. `init_adapter`: a LoRA folder to
    merge (PPO from SFT). `model` empty: the base recorded in the adapter (merged or loaded), else 'tiny';
    `model` naming an adapter or run folder is read as `adapter`.
    FileNotFoundError when `adapter` is neither kind of folder.
    """
    if not adapter and model and _is_trained_folder(model):  # `--model runs/ppo` means that run's policy
        adapter, model = model, ""
    merge, loaded, base = init_adapter, "", model
    if adapter:
        folder = Path(adapter).expanduser().resolve()
        checkpoint = latest_checkpoint(folder) if folder.is_dir() else None
        if (folder / "adapter_config.json").exists():
            loaded = str(folder)
        elif checkpoint is not None and (checkpoint / "policy" / "adapter_config.json").exists():
            loaded, merge = str(checkpoint / "policy"), run_init_adapter(folder)
        elif checkpoint is not None and (checkpoint / "policy" / "config.json").exists():
            base = base or str(checkpoint / "policy")
        elif (folder / "config.json").exists():  # a fully fine-tuned policy (e.g. SFT with --lora-r 0)
            base = base or str(folder)
        else:
            raise FileNotFoundError(f"--adapter {adapter}: neither a LoRA adapter folder (adapter_config.json) nor "
                                    "a run folder with a checkpoint")
    if not base:
        base = adapter_base(merge or loaded) if (merge or loaded) else TINY_MODEL
    return ModelPlan(base, merge, loaded, loaded or merge or base)


def _is_trained_folder(path: str) -> bool:
    folder = Path(path).expanduser()
    return (folder / "adapter_config.json").exists() or (folder.is_dir() and latest_checkpoint(folder) is not None)


def resolve_base(config: ModelConfig, base: str, corpus: Callable[[], list[str]], seed: int = 0) -> str:
    """The folder or hub name to load for `base`; builds the tiny model (once, cached, its tokenizer trained on
    `corpus()`) or converts a named model when asked for one. FileNotFoundError for a missing local folder."""
    from agile_gym.data.paths import cache_dir

    if base == TINY_MODEL:
        from agile_train.tiny import cached_tiny_model

        return str(cached_tiny_model(corpus(), cache_dir(), vocab_size=config.tiny_vocab_size,
                                     hidden_size=config.tiny_hidden_size, layers=config.tiny_layers, seed=seed,
                                     general_words=config.tiny_general_words))
    from agile_train.named_models import NAMED_MODELS, named_model_path

    if base in NAMED_MODELS:
        return str(named_model_path(base, cache_dir()))
    path = Path(base).expanduser()
    if path.exists():
        if not (path / "config.json").exists() and not (path / "adapter_config.json").exists():
            raise FileNotFoundError(f"--model {base}: the folder has no config.json; pass a folder saved "
                                    "with save_pretrained, a hub name, or 'tiny'")
        return str(path.resolve())  # saved in run folders and adapters: must mean this folder from anywhere
    # Hub names are 'name' or 'owner/name'; anything else is meant as a local folder.
    if base.startswith((".", "/", "~")) or base.count("/") > 1:
        raise FileNotFoundError(f"--model {base}: no such folder; pass an existing local folder, a hub "
                                "name such as Qwen/Qwen2.5-0.5B-Instruct, or 'tiny'")
    return base


def load_model(config: ModelConfig, plan: ModelPlan, device: torch.device, corpus: Callable[[], list[str]],
               seed: int = 0, *, fresh_adapter: bool = True, with_reference: bool = True
               ) -> tuple[str, Any, PolicyWithValue]:
    """(base path, tokenizer, policy) for `plan` on `device`: the one loader behind ppo, sft, evaluate and the
    benchmarks. `corpus` and `seed` build the tiny model when the plan asks for it; `fresh_adapter` adds a new
    LoRA adapter (when config.lora_r > 0 and the plan loads none); `with_reference` keeps a frozen copy as the
    KL reference of a fully fine-tuned policy."""
    base = resolve_base(config, plan.base, corpus, seed)
    tokenizer = load_tokenizer(plan.tokenizer if plan.tokenizer != plan.base else base)
    lora_r = config.lora_r if fresh_adapter else 0
    policy = load_policy(dataclasses.replace(config, lora_r=lora_r), base, device,
                         adapter=plan.adapter, with_reference=with_reference, merge_first=plan.merge)
    return base, tokenizer, policy


def load_tokenizer(model_path: str):
    """The tokenizer saved at `model_path` (folder or hub name), its pad token set to EOS when it has none."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_policy(config: ModelConfig, model_path: str, device: torch.device, adapter: str = "",
                with_reference: bool = True, merge_first: str = "") -> PolicyWithValue:
    """Base model from `model_path`, with the LoRA adapter `merge_first` merged into its weights (the SFT
    policy, so that it is also the reference); then the LoRA adapter at `adapter`, or a fresh one
    (lora_r > 0), or none."""
    from transformers import AutoModelForCausalLM

    dtype = resolve_dtype(config.dtype, device)
    try:
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype)
    except OSError as error:
        raise OSError(f"cannot load model {model_path!r}: {error}. Offline, pass a local folder or --model tiny."
                      ) from None
    if merge_first:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, merge_first).merge_and_unload()
    model.to(device)
    reference = None
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter, is_trainable=True)
    elif config.lora_r > 0:
        from peft import LoraConfig, get_peft_model

        targets = config.lora_target_modules
        lora = LoraConfig(
            r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout, task_type="CAUSAL_LM",
            target_modules=targets if targets == "all-linear" else [name.strip() for name in targets.split(",")],
        )
        try:
            model = get_peft_model(model, lora)
        except ValueError as error:
            raise ValueError(f"LoRA cannot wrap {model_path}: {error}. Set --lora-target-modules to module names "
                             "of this model (e.g. q_proj,v_proj), or --lora-r 0 for full fine-tuning.") from None
    elif with_reference:
        reference = copy.deepcopy(model).eval().requires_grad_(False)
    policy = PolicyWithValue(model, reference).to(device)
    policy.value_head.float()
    for folder in (merge_first, adapter):
        if folder:
            policy.load_value_head(folder)
    return policy
