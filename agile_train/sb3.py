"""Learn when to ask for advice with stable-baselines3 PPO, then evaluate on held-out categories.

    python -m agile_train.sb3                                    # built-in data, c = 0.3, writes runs/sb3/
    python -m agile_train.sb3 --env agile/ProductQA-v2 --timesteps 50000 --output-dir runs/sb3
    python -m agile_train.sb3 --advice-costs 0.1 0.3 0.5 0.7     # the trade-off as the cost varies

For each advice cost: PPO on `AdviceDecisionWrapper` over the train split, and three baselines, all evaluated
on the test split (whole sessions, memory starting empty): always-advice, never-advice, and the best single
fixed threshold on one feature, chosen on the train split. Writes `results.json` (one entry per policy and
cost: total_score, accuracy, advice_rate, ...), `results.md` and `tradeoff.png`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np

import agile_gym  # noqa: F401
from agile_gym.episodes import play_episodes
from agile_gym.results import markdown_table, plot_tradeoff
from agile_gym.wrappers import FEATURES, AdviceDecisionWrapper
from agile_gym.wrappers.advice_decision import ANSWER_NOW, ASK_ADVICE

Policy = Callable[[np.ndarray], int]


@dataclass
class Threshold:
    """Seek advice when `feature` is below (`below`=True) or above `value`; otherwise answer now."""

    feature: int
    value: float
    below: bool

    def __call__(self, observation: np.ndarray) -> int:
        x = observation[self.feature]
        return ASK_ADVICE if (x < self.value if self.below else x > self.value) else ANSWER_NOW

    def describe(self) -> str:
        """The rule in words, e.g. 'advice when similar questions < 0.5'."""
        return f"advice when {FEATURES[self.feature]} {'<' if self.below else '>'} {self.value:.3g}"


def make_env(env_id: str, kwargs: dict, split: str, advice_cost: float, max_questions: int | None = None) -> gym.Env:
    """The AdviceDecisionWrapper over `env_id` on `split` at `advice_cost` (optionally fewer questions)."""
    extra = {"max_questions": max_questions} if max_questions else {}
    return AdviceDecisionWrapper(gym.make(env_id, **{**kwargs, "split": split, "advice_cost": advice_cost, **extra}))


def run_session(env: gym.Env, policy: Policy, seed: int = 0) -> tuple[dict, list[np.ndarray]]:
    """One whole session; the final metrics and every observation seen."""
    seen: list[np.ndarray] = []
    (episode,) = play_episodes([env], lambda _, observations, infos: [policy(observations[0])], seeds=[seed],
                               on_step=lambda step: seen.append(step.observation))
    return episode.info["metrics"], seen


def best_threshold(env: gym.Env, seed: int, quantiles: int = 9) -> tuple[Threshold, dict]:
    """Search one feature and one cut (at quantiles of the values seen on train) by train total score."""
    _, seen = run_session(env, lambda _: ANSWER_NOW, seed)
    observations = np.stack(seen)
    best: tuple[float, Threshold, dict] | None = None
    for feature in range(len(FEATURES)):
        cuts = np.unique(np.quantile(observations[:, feature], np.linspace(0.05, 0.95, quantiles)))
        for value in cuts:
            for below in (True, False):
                rule = Threshold(feature, float(value), below)
                metrics, _ = run_session(env, rule, seed)
                if best is None or metrics["total_score"] > best[0]:
                    best = (metrics["total_score"], rule, metrics)
    assert best is not None
    return best[1], best[2]


def train_ppo_policy(env_id: str, kwargs: dict, advice_cost: float, timesteps: int, n_envs: int, seed: int,
                     max_questions: int | None, progress: bool, gamma: float = 0.9):
    """stable-baselines3 PPO trained on the wrapped train split for `timesteps` questions; returns the model."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    vec = make_vec_env(lambda: make_env(env_id, kwargs, "train", advice_cost, max_questions), n_envs=n_envs,
                       seed=seed)
    # gamma 0.9: a question's reward is immediate, its effect on memory fades over the next few questions.
    model = PPO("MlpPolicy", vec, n_steps=256, batch_size=64, learning_rate=3e-4, gamma=gamma, ent_coef=0.0,
                seed=seed, verbose=0)
    model.learn(timesteps, progress_bar=progress and _has_progress_bar())
    vec.close()
    return model


def _has_progress_bar() -> bool:
    try:
        import rich  # noqa: F401
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True


def evaluate_cost(args, kwargs: dict, advice_cost: float) -> list[dict]:
    """Rows for one advice cost: always, never, the best threshold and PPO, each on the test split."""
    test_env = make_env(args.env, kwargs, "test", advice_cost)
    train_env = make_env(args.env, kwargs, "train", advice_cost, args.train_max_questions)
    rows = []

    def record(name: str, policy: Policy, **extra) -> None:
        metrics, _ = run_session(test_env, policy, args.seed)
        rows.append({"policy": name, "advice_cost": advice_cost, **_summary(metrics), **extra})

    record("always-advice", lambda _: ASK_ADVICE)
    record("never-advice", lambda _: ANSWER_NOW)
    began = time.perf_counter()
    rule, train_metrics = best_threshold(train_env, args.seed)
    record("best-threshold", rule, rule=rule.describe(), train_total_score=train_metrics["total_score"],
           search_s=round(time.perf_counter() - began, 1))
    began = time.perf_counter()
    model = train_ppo_policy(args.env, kwargs, advice_cost, args.timesteps, args.n_envs, args.seed,
                             args.train_max_questions, not args.quiet, args.gamma)
    record("sb3-ppo", lambda obs: int(model.predict(obs, deterministic=True)[0]), timesteps=args.timesteps,
           train_s=round(time.perf_counter() - began, 1))
    if args.output_dir:
        model.save(str(Path(args.output_dir) / f"ppo_c{advice_cost:g}"))
    test_env.close()
    train_env.close()
    return rows


def _summary(metrics: dict) -> dict:
    keys = ("total_score", "accuracy", "advice_rate", "invalid_action_rate", "questions")
    out = {key: metrics[key] for key in keys}
    out["per_type"] = metrics.get("per_type", {})
    return out


def markdown(rows: list[dict]) -> str:
    """The results table: one row per (advice cost, policy)."""
    return markdown_table(rows, {"advice cost": lambda row: f"{row['advice_cost']:g}", "policy": "policy",
                                 "total score": "total_score", "accuracy": "accuracy", "advice rate": "advice_rate",
                                 "notes": lambda row: row.get("rule", "")})


def main(argv: list[str] | None = None) -> int:
    """`python -m agile_train.sb3`; writes results.md, results.json and the trade-off PNG."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--env", default="agile/ProductQA-v2", help="an agile/ env id")
    parser.add_argument("--env-kwargs", default="{}",
                        help="JSON kwargs for the env (split and advice_cost are set here)")
    parser.add_argument("--advice-costs", type=float, nargs="+", default=[0.3], help="one run per cost")
    parser.add_argument("--timesteps", type=int, default=50_000, help="PPO environment steps (questions) per cost")
    parser.add_argument("--n-envs", type=int, default=4, help="parallel training envs (make_vec_env)")
    parser.add_argument("--train-max-questions", type=int, default=None,
                        help="cap each training session (large releases); evaluation always runs whole sessions")
    parser.add_argument("--gamma", type=float, default=0.9, help="PPO discount per question")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", default="runs/sb3")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        kwargs = json.loads(args.env_kwargs)
    except json.JSONDecodeError as error:
        print(f"error: --env-kwargs is not valid JSON ({error})", file=sys.stderr)
        return 2
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    rows = []
    for cost in args.advice_costs:
        rows.extend(evaluate_cost(args, kwargs, cost))
    table = markdown(rows)
    print(table)
    (output / "results.md").write_text(table + "\n")
    (output / "results.json").write_text(json.dumps({"config": vars(args), "features": list(FEATURES),
                                                     "results": rows}, indent=2))
    try:  # one session over the whole test split per row: its figures are question-weighted by construction
        plot_tradeoff(rows, output / "tradeoff.png", series=lambda row: row["policy"])
        plotted = True
    except ImportError:
        plotted = False
    print(f"wrote {output}/results.json, results.md" + (", tradeoff.png" if plotted else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
