import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

TOY_ENV = "tests.agile_train.toy_env:SayWordEnv"


def toy_config(tmp_path, **overrides):
    """A PPO config on the toy env, sized to run in seconds on a CPU."""
    from agile_train.config import PPOConfig

    values = dict(
        env=TOY_ENV, env_kwargs="{}", output_dir=str(tmp_path / "run"), iterations=4, num_envs=8, steps_per_env=4,
        max_new_tokens=1, tiny_vocab_size=64, tiny_hidden_size=64, learning_rate=1e-3, lora_r=0, kl_coef=0.0,
        minibatch_size=16, micro_batch_size=16, ppo_epochs=2, checkpoint_every=1000, device="cpu",
    )
    values.update(overrides)
    return PPOConfig(**values)


@pytest.fixture(scope="session")
def toy_policy():
    """(tokenizer, LoRA policy) of the tiny model built for the toy env."""
    import torch

    from agile_train.config import PPOConfig
    from agile_train.ppo import build_model_and_tokenizer

    config = PPOConfig(env=TOY_ENV, env_kwargs="{}", tiny_vocab_size=64, tiny_hidden_size=64, lora_r=8, device="cpu")
    torch.manual_seed(0)
    _, tokenizer, policy = build_model_and_tokenizer(config, torch.device("cpu"))
    return tokenizer, policy
