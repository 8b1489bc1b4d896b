"""Training LLM agents on text Gymnasium envs: SFT, then PPO with a value head, GAE and a KL penalty (AGILE's
recipe), and evaluation.

Entry points: `python -m agile_train.sft`, `python -m agile_train.ppo`, `python -m agile_train.evaluate`,
`python -m agile_train.recipe`. Importing this package is light: the configs only; torch loads with the trainers.
"""

from agile_train.config import (
    EnvConfig,
    EvalConfig,
    ModelConfig,
    PPOConfig,
    RecipeConfig,
    SFTConfig,
    TrainingConfig,
)

__all__ = ["EnvConfig", "EvalConfig", "ModelConfig", "PPOConfig", "RecipeConfig", "SFTConfig", "TrainingConfig"]
