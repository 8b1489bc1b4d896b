import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

TOY_ENV = "tests.agile_train.toy_env:SayWordEnv"


def toy_config(tmp_path, **overrides):
    """(EnvConfig, ModelConfig, PPOConfig) on the toy env, sized to run in seconds on a CPU; `overrides` name
    fields of any of the three."""
    from agile_train.config import EnvConfig, ModelConfig, PPOConfig, split_fields

    values = dict(
        env=TOY_ENV, env_kwargs="{}", output_dir=str(tmp_path / "run"), iterations=4, num_envs=8, steps_per_env=4,
        max_new_tokens=1, tiny_vocab_size=64, tiny_hidden_size=64, tiny_general_words=0, learning_rate=1e-3, lora_r=0,
        kl_coef=0.0,
        minibatch_size=16, micro_batch_size=16, ppo_epochs=2, checkpoint_every=1000, device="cpu",
    )
    values.update(overrides)
    return split_fields((EnvConfig, ModelConfig, PPOConfig), values)


def toy_model(lora_r: int):
    """(tokenizer, policy) of the tiny model built for the toy env (seed 0), with a fresh LoRA adapter or none."""
    import torch

    from agile_train.config import ModelConfig
    from agile_train.env_factory import env_text
    from agile_train.models import load_model, plan_model

    model = ModelConfig(tiny_vocab_size=64, tiny_hidden_size=64, tiny_general_words=0, lora_r=lora_r, device="cpu")
    _, tokenizer, policy = load_model(model, plan_model(""), torch.device("cpu"), lambda: env_text(TOY_ENV, {}, 0))
    return tokenizer, policy


@pytest.fixture(scope="session")
def toy_policy():
    """(tokenizer, LoRA policy) of the tiny model built for the toy env."""
    import torch

    torch.manual_seed(0)
    return toy_model(lora_r=8)


def collect(tokenizer, policy, envs, steps: int, new_tokens: int, context: str = "last", prompt_tokens: int = 64,
            temperature: float = 1.0, top_p: float = 1.0, **worker_kwargs):
    """`steps` actions of every env copy sampled by `policy` through the trainer's own RolloutWorker (the
    transformers engine, sampling generator seeded 0); returns (segments, env stats, generated tokens)."""
    import torch

    from agile_train.engines import TransformersEngine
    from agile_train.generation import Sampling, end_token_ids
    from agile_train.rollout import PromptEncoder, RolloutWorker

    cpu = torch.device("cpu")
    sampling = Sampling(new_tokens, temperature, top_p, end_ids=end_token_ids(policy.model, tokenizer))
    worker = RolloutWorker(envs, PromptEncoder(tokenizer, "off", context, prompt_tokens),
                           TransformersEngine(policy, tokenizer, cpu), sampling, seed=0,
                           generator=torch.Generator().manual_seed(0), **worker_kwargs)
    try:
        return worker.collect(steps)
    finally:
        worker.close()
