"""The rollout-engine interface: the default engine is the trainer's sampler; vLLM is driven through its public
API (checked here against a stand-in `vllm` module; real vLLM needs a GPU this suite does not have)."""

import sys
import types
from pathlib import Path

import pytest
import torch

from agile_train.engines import TransformersEngine, VLLMEngine, make_engine
from agile_train.generation import Sampling, sample_actions


def test_transformers_engine_samples_exactly_like_the_trainer(toy_policy):
    tokenizer, policy = toy_policy
    engine = make_engine("transformers", policy, tokenizer, "unused", torch.device("cpu"), lora_r=8)
    assert isinstance(engine, TransformersEngine)
    prompts = [tokenizer("Say: red\n").input_ids, tokenizer("Say: blue\n").input_ids]
    sampling = Sampling(4, temperature=1.0)
    ours = engine.generate(prompts, sampling, torch.Generator().manual_seed(3))
    direct = sample_actions(policy.model, tokenizer, prompts, sampling, torch.device("cpu"),
                            torch.Generator().manual_seed(3))
    assert ours == direct and all(ours)


class _FakeLLM:
    """Records what the engine asks of vLLM's `LLM`; answers with the prompt's last token repeated."""

    def __init__(self, **kwargs):
        self.kwargs, self.calls = kwargs, []

    def generate(self, prompts, params, lora_request=None, use_tqdm=True):
        self.calls.append((prompts, params, lora_request))
        output = types.SimpleNamespace
        return [output(outputs=[output(token_ids=tuple(p["prompt_token_ids"][-1:] * params.max_tokens))])
                for p in prompts]


@pytest.fixture
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.LLM = _FakeLLM
    module.SamplingParams = lambda **kwargs: types.SimpleNamespace(**kwargs)
    lora = types.ModuleType("vllm.lora")
    request = types.ModuleType("vllm.lora.request")
    request.LoRARequest = lambda name, lora_id, path: types.SimpleNamespace(name=name, id=lora_id, path=path)
    for name, value in (("vllm", module), ("vllm.lora", lora), ("vllm.lora.request", request)):
        monkeypatch.setitem(sys.modules, name, value)
    return module


def test_vllm_engine_sends_token_ids_and_the_current_adapter(fake_vllm, toy_policy):
    from safetensors.torch import load_file

    tokenizer, policy = toy_policy
    engine = make_engine("vllm", policy, tokenizer, "/models/base", torch.device("cpu"), lora_r=8)
    assert isinstance(engine, VLLMEngine)
    assert engine.llm.kwargs["model"] == "/models/base" and engine.llm.kwargs["enable_lora"] is True
    out = engine.generate([[5, 6, 7], [8]], Sampling(3, temperature=0.7, top_p=0.9, stop_strings=["\n"]),
                          torch.Generator().manual_seed(0))
    assert out == [[7, 7, 7], [8, 8, 8]]
    prompts, params, first = engine.llm.calls[-1]
    assert prompts == [{"prompt_token_ids": [5, 6, 7]}, {"prompt_token_ids": [8]}]
    assert (params.temperature, params.top_p, params.max_tokens, params.stop) == (0.7, 0.9, 3, ["\n"])
    with torch.no_grad():  # an update changes the adapter; sync must hand vLLM the new weights
        for name, parameter in policy.model.named_parameters():
            if "lora_B" in name:
                parameter.add_(0.5)
    engine.sync(policy)
    engine.generate([[1]], Sampling(1), None)
    second = engine.llm.calls[-1][2]
    assert second.id == first.id + 1 and second.path != first.path
    saved = load_file(str(Path(second.path) / "adapter_model.safetensors"))
    assert any("lora_B" in key and torch.all(tensor >= 0.5) for key, tensor in saved.items())
    with torch.no_grad():
        for name, parameter in policy.model.named_parameters():
            if "lora_B" in name:
                parameter.sub_(0.5)


def test_vllm_needs_the_package_and_a_lora_policy(toy_policy, monkeypatch):
    tokenizer, policy = toy_policy
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(ValueError, match="needs vLLM"):
        make_engine("vllm", policy, tokenizer, "base", torch.device("cpu"), lora_r=8)
    from agile_train.config import PPOConfig

    with pytest.raises(ValueError, match="--rollout-engine must be one of"):
        PPOConfig(rollout_engine="sglang")
