"""Training LLM agents on text Gymnasium envs: PPO with a value head, GAE and a KL penalty (AGILE's recipe).

Entry points: `python -m agile_train.ppo`. Importing this package is light; torch loads with the trainers.
"""

from agile_train.config import PPOConfig, RunConfig

__all__ = ["PPOConfig", "RunConfig"]
