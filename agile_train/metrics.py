"""Run metrics: one JSON object per iteration in metrics.jsonl, the same scalars in TensorBoard."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from agile_gym.files import atomic_write

# Every name `ppo` and `sft` log, with its meaning; names follow TRL and SB3 where one exists, so existing
# dashboards and habits carry over. tests/agile_train/test_ppo.py checks this against what a run logs.
GLOSSARY = {
    "objective/kl": "KL to the reference policy, summed over an action's tokens, mean over actions (nats)",
    "objective/entropy": "policy entropy per generated token during the update (nats)",
    "objective/kl_coef": "coefficient of the per-token KL penalty in the reward",
    "policy/clipfrac_avg": "share of tokens whose probability ratio was clipped",
    "policy/approxkl_avg": "0.5 * mean squared log-ratio between the updated and the rollout policy",
    "val/ratio": "mean probability ratio pi / pi_rollout per token (1 on the first minibatch: same policy)",
    "policy/grad_norm": "gradient norm before clipping, mean over optimizer steps",
    "loss/policy_avg": "clipped surrogate loss, mean over micro-batches",
    "loss/value_avg": "clipped value loss, mean over micro-batches",
    "loss/total": "per-token total loss (policy + vf_coef * value - entropy_coef * entropy) of the first epoch",
    "val/clipfrac_avg": "share of tokens whose value prediction was clipped",
    "val/explained_variance": "1 - Var(returns - values) / Var(returns) at rollout time",
    "val/value_mean": "mean value-head output over the rollout's tokens",
    "val/warmup": "1 while the value warm-up trains the value head alone (the policy does not move), else 0",
    "tokens/response_length_mean": "mean action length in tokens",
    "env/reward_mean": "mean env reward per action",
    "env/episodes": "episodes that ended during the rollout",
    "env/questions": "questions settled during the rollout",
    "env/accuracy": "share of settled questions answered correctly (advice counts as correct)",
    "env/advice_rate": "share of settled questions where advice was sought",
    "env/total_score": "mean question reward (accuracy minus advice cost times advice rate)",
    "env/invalid_action_rate": "share of settled questions lost to a malformed action",
    "throughput/tokens_per_s": "generated tokens per second of rollout",
    "time/rollout_s": "seconds of rollout (generation and env steps)",
    "time/update_s": "seconds of the PPO update",
    "time/iteration_s": "seconds of the whole iteration (rollout, scoring, update)",
    "lr": "learning rate after the iteration's scheduler step",
    "memory/params_held_m": "parameters this process holds, in millions (a shard of them under FSDP)",
    "epoch": "SFT epoch",
    "loss/sft_avg": "SFT negative log-likelihood per action token, mean over steps",
    "tokens": "action tokens SFT trained on in the epoch",
}


class MetricLogger:
    """Appends one record per iteration to `<run_dir>/metrics.jsonl` (NaN written as null) and writes the same
    scalars to TensorBoard when it is installed; a resumed run drops the records after its checkpoint."""

    def __init__(self, run_dir: str | os.PathLike, start_iteration: int = 0, tensorboard: bool = True) -> None:
        self.path = Path(run_dir) / "metrics.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            # A resumed run rewrites the iterations after its checkpoint.
            kept = [line for line in self.path.read_text().splitlines()
                    if line.strip() and json.loads(line).get("iteration", 0) <= start_iteration]
            atomic_write(self.path, "".join(line + "\n" for line in kept))
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(Path(run_dir) / "tensorboard"), purge_step=start_iteration + 1)
            except ImportError:
                self.writer = None

    def log(self, iteration: int, metrics: dict[str, float]) -> None:
        """Append `{iteration, **metrics}` to metrics.jsonl and the scalars to TensorBoard."""
        record = {"iteration": iteration, **{k: (None if isinstance(v, float) and math.isnan(v) else v)
                                             for k, v in metrics.items()}}
        with self.path.open("a") as file:
            file.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for name, value in metrics.items():
                if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)):
                    self.writer.add_scalar(name, value, iteration)
            self.writer.flush()

    def close(self) -> None:
        """Close the TensorBoard writer."""
        if self.writer is not None:
            self.writer.close()


def read_metrics(run_dir: str | os.PathLike) -> list[dict]:
    """The records of `<run_dir>/metrics.jsonl`, oldest first ([] when there is none)."""
    path = Path(run_dir) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
