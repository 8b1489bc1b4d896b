"""AGILE's learning findings on a CPU, shown with statistics over seeds: one command.

    python -m benchmarks.fidelity                  # 5 seeds at the default budgets (~50 min on 2 free cores)
    python -m benchmarks.fidelity --quick          # 1 seed, tiny budgets: the whole pipeline in a few minutes
    python -m benchmarks.fidelity --seeds 3 --output-dir runs/fidelity-3

Per seed: SFT on shuffled expert sessions of the built-in train categories (one held out for validation), PPO
from the SFT policy at each advice cost, greedy evaluation on the held-out test categories in two question
orders (each category one session, memory empty at its start), and the PPO policy of the ablation cost with
memory, reflection, advice and tools each switched off. Before the grid, a pilot gate: the first seed's SFT
policy scores "[SeekAdvice]" on the validation category's prompts; if its ask-vs-answer AUC against the
teacher's choices is below --gate-auc, the validation category joins the training categories (said in the
report). Nothing is chosen on the test categories: they are only evaluated.

Every finished (seed, stage) is cached under --output-dir with a fingerprint of what decides it, so a rerun
resumes where the last one stopped (PPO also from its last checkpoint); a changed setting redoes only what it
touches. Writes fidelity.json, fidelity.md, advice_along_session.png and advice_cost.png
(benchmarks.fidelity_report); the statistics are benchmarks.fidelity_stats.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym

import agile_gym  # noqa: F401  (registers the agile/ ids)
from agile_gym.data.builtin import BUILTIN_CATEGORIES
from agile_gym.files import atomic_write, load_saved
from agile_gym.progress import progress_bar
from benchmarks.checks import check_choice, check_env_id, check_model
from benchmarks.fidelity_play import ask_scores, play_policy, teacher_decisions
from benchmarks.fidelity_stats import auc, stage_name
from benchmarks.sessions import ABLATIONS, ablation_kwargs


def default_env() -> str:
    """`agile/ProductQA-v2` when registered (its teacher decides from what the prompt shows), else v0."""
    return "agile/ProductQA-v2" if "agile/ProductQA-v2" in gym.registry else "agile/ProductQA-v0"


def builtin_root() -> str:
    """The built-in ProductQA data, named explicitly: the experiment's categories are built in, whatever
    $AGILE_DATA_DIR points at."""
    from agile_gym.data.builtin import builtin_productqa_root

    return str(builtin_productqa_root())


ORDERS = 2  # question orders per test category; order k of seed s resets with ORDER_SEED + 10 * s + k
ORDER_SEED, GATE_SEED, TRAIN_SEED_STRIDE = 10_000, 20_000, 100


@dataclass
class FidelityConfig:
    """What decides the experiment (saved in fidelity.json); `--quick` swaps in `quick_budgets()`'s budgets."""

    seeds: int = 5
    env: str = field(default_factory=default_env)
    output_dir: str = "runs/fidelity"
    advice_costs: list[float] = field(default_factory=lambda: [0.1, 0.3, 0.5])
    ablation_cost: float = 0.3
    validation_category: str = "headsets"
    gate_auc: float = 0.7
    model: str = ""
    max_new_tokens: int = 128
    sft_sessions: int = 4
    sft_epochs: int = 6
    sft_learning_rate: float = 1e-3
    ppo_iterations: int = 100
    ppo_learning_rate: float = 1e-5
    ppo_overrides: dict = field(default_factory=dict)
    train_max_questions: int | None = None
    eval_max_questions: int | None = None
    bootstrap: int = 2000
    quick: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        if self.seeds < 1:
            raise ValueError(f"--seeds must be >= 1, got {self.seeds}")
        if self.ablation_cost not in self.advice_costs:
            raise ValueError(f"--ablation-cost {self.ablation_cost} must be one of --advice-costs {self.advice_costs}")
        if not all(0.0 <= cost <= 1.0 for cost in self.advice_costs):
            raise ValueError(f"--advice-costs must be in [0, 1], got {self.advice_costs}")

    def quick_budgets(self) -> FidelityConfig:
        """1 seed, one short expert session, 2 SFT epochs, 1 PPO iteration of 4 actions, 6 questions per test
        session, actions of at most 32 tokens: every stage runs, nothing is learned (for the test suite)."""
        return dataclasses.replace(self, seeds=1, sft_sessions=1, sft_epochs=2, ppo_iterations=1, bootstrap=200,
                                   max_new_tokens=32,
                                   ppo_overrides={"num_envs": 2, "steps_per_env": 2, "minibatch_size": 4,
                                                  "micro_batch_size": 4},
                                   train_max_questions=10, eval_max_questions=6, quick=True)


def train_seed(seed: int) -> int:
    """The seed SFT and PPO run with: seeds 100 apart, so seed s's expert sessions (s*100, s*100+1, ...) never
    overlap another seed's."""
    return seed * TRAIN_SEED_STRIDE


# ---- caching ------------------------------------------------------------------------------------------------
def _same(path: Path, fingerprint: dict) -> dict | None:
    """The saved payload at `path` when it was saved for an equal fingerprint, else None."""
    return load_saved(path, "fingerprint", fingerprint)


def _save(path: Path, fingerprint: dict, **payload: Any) -> dict:
    saved = {"fingerprint": fingerprint, **payload}
    atomic_write(path, json.dumps(saved))
    return saved


# ---- stages -------------------------------------------------------------------------------------------------
class Experiment:
    """The stages of one configuration, each cached under `output_dir/seed<s>/`."""

    def __init__(self, config: FidelityConfig) -> None:
        from agile_train.config import ModelConfig

        self.config = config
        self.root = Path(config.output_dir)
        self.model = ModelConfig(model=config.model, max_new_tokens=config.max_new_tokens)
        self.timing: dict[str, float] = {}

    def train_kwargs(self, categories: list[str], cost: float) -> dict:
        kwargs = {"data_dir": builtin_root(), "split": "train", "category": categories, "shuffle": True,
                  "advice_cost": cost}
        if self.config.train_max_questions:
            kwargs["max_questions"] = self.config.train_max_questions
        return kwargs

    def _time(self, key: str, began: float) -> None:
        # Added up: the gate's SFT and a retrained one after a failed gate share a key.
        self.timing[key] = round(self.timing.get(key, 0.0) + time.perf_counter() - began, 1)

    def _sft_plan(self, seed: int, categories: list[str]) -> tuple[Path, Any, Any, dict]:
        """(folder, EnvConfig, SFTConfig, fingerprint) of seed `seed`'s SFT on `categories`, nothing run."""
        from agile_train.config import EnvConfig, SFTConfig

        config, folder = self.config, self.root / f"seed{seed}" / "sft"
        env = EnvConfig(env=config.env, env_kwargs=json.dumps(self.train_kwargs(categories, config.ablation_cost)))
        sft = SFTConfig(output_dir=str(folder.resolve()), seed=train_seed(seed), epochs=config.sft_epochs,
                        learning_rate=config.sft_learning_rate, sessions=config.sft_sessions)
        fingerprint = {"env": dataclasses.asdict(env), "model": dataclasses.asdict(self.model),
                       "sft": dataclasses.asdict(sft)}
        return folder, env, sft, fingerprint

    def sft(self, seed: int, categories: list[str]) -> tuple[Path, dict]:
        """SFT on `sft_sessions` shuffled expert sessions of `categories`; (policy folder, its fingerprint)."""
        from agile_train.sft import train_sft

        folder, env, sft, fingerprint = self._sft_plan(seed, categories)
        done = folder / "fidelity_stage.json"
        if not _same(done, fingerprint):
            shutil.rmtree(folder, ignore_errors=True)
            began = time.perf_counter()
            train_sft(env, self.model, sft, progress=False)
            self._time(f"seed{seed}/sft", began)
            _save(done, fingerprint, seconds=self.timing[f"seed{seed}/sft"])
        return folder, fingerprint

    def ppo(self, seed: int, categories: list[str], cost: float, sft_dir: Path, sft_fingerprint: dict
            ) -> tuple[Path, dict]:
        """PPO from the SFT policy at `cost`, resumed from its last checkpoint when a run was cut short."""
        from agile_train.checkpoint import latest_checkpoint
        from agile_train.config import EnvConfig, PPOConfig
        from agile_train.ppo import train_ppo

        config, folder = self.config, self.root / f"seed{seed}" / stage_name(cost)
        env = EnvConfig(env=config.env, env_kwargs=json.dumps(self.train_kwargs(categories, cost)))
        policy = dataclasses.replace(self.model, model=str(sft_dir.resolve()))
        # PPOConfig's own defaults (credit assignment, warm-up, rollout sizes) flow through; only budgets are set.
        ppo = PPOConfig(output_dir=str(folder.resolve()), seed=train_seed(seed), iterations=config.ppo_iterations,
                        learning_rate=config.ppo_learning_rate,
                        checkpoint_every=max(1, config.ppo_iterations // 4), **config.ppo_overrides)
        fingerprint = {"env": dataclasses.asdict(env), "sft": sft_fingerprint, "ppo": dataclasses.asdict(ppo)}
        done, started = folder / "fidelity_stage.json", folder / "fidelity_started.json"
        if not _same(done, fingerprint):
            resume = _same(started, fingerprint) is not None and latest_checkpoint(folder) is not None
            if not resume:
                shutil.rmtree(folder, ignore_errors=True)
                _save(started, fingerprint)
            began = time.perf_counter()
            train_ppo(env, policy, dataclasses.replace(ppo, resume=resume), progress=False)
            self._time(f"seed{seed}/{stage_name(cost)}", began)
            _save(done, fingerprint, seconds=self.timing[f"seed{seed}/{stage_name(cost)}"])
        return folder, fingerprint

    def evaluate(self, seed: int, policy_dir: Path, policy_fingerprint: dict, stages: dict[str, tuple[float, str]]
                 ) -> dict[str, list[dict]]:
        """Per-question records of each stage (name -> (advice cost, ablation)) of one policy: every test
        category in both orders, the stages' sessions played side by side with one batched policy."""
        from benchmarks.fidelity_stats import Record

        config = self.config
        records: dict[str, list[Record]] = {}
        todo: dict[str, dict] = {}
        for name, (cost, ablation) in stages.items():
            fingerprint = {"policy": policy_fingerprint, "env": config.env, "advice_cost": cost, "ablation": ablation,
                           "categories": BUILTIN_CATEGORIES["test"], "orders": ORDERS, "seed": seed,
                           "max_questions": config.eval_max_questions}
            saved = _same(self.root / f"seed{seed}" / "eval" / f"{name}.json", fingerprint)
            if saved:
                records[name] = saved["records"]
            else:
                todo[name] = fingerprint
        if not todo:
            return records
        sessions = [(name, order, category) for name in todo for order in range(ORDERS)
                    for category in BUILTIN_CATEGORIES["test"]]
        envs = []
        for name, _, category in sessions:
            cost, ablation = stages[name]
            kwargs = {"data_dir": builtin_root(), "split": "test", "category": category, "shuffle": True,
                      "advice_cost": cost, **ablation_kwargs(ablation)}
            if config.eval_max_questions:
                kwargs["max_questions"] = config.eval_max_questions
            envs.append(gym.make(config.env, **kwargs))
        began = time.perf_counter()
        played = play_policy(envs, policy_dir, self.model, train_seed(seed),
                             seeds=[ORDER_SEED + 10 * seed + order for _, order, _ in sessions])
        self._time(f"seed{seed}/eval/{'+'.join(todo)}", began)
        for (name, order, category), session in zip(sessions, played):
            records.setdefault(name, []).extend({**r, "order": order, "category": category} for r in session)
        for name, fingerprint in todo.items():
            _save(self.root / f"seed{seed}" / "eval" / f"{name}.json", fingerprint, records=records[name])
        return records

    def gate(self, categories: list[str]) -> dict:
        """The pilot gate: the first seed's SFT policy on `categories` (the validation category held out), its
        ask-vs-answer AUC on the validation category. Cached apart from the SFT folder, which a failed gate
        hands to the grid's SFT on more categories."""
        config = self.config
        fingerprint = {"sft": self._sft_plan(0, categories)[3], "validation_category": config.validation_category,
                       "max_questions": config.train_max_questions}
        saved = _same(self.root / "gate.json", fingerprint)
        if saved:
            return saved["gate"]
        sft_dir, _ = self.sft(0, categories)
        kwargs = {"data_dir": builtin_root(), "split": "train", "category": config.validation_category, "shuffle": True,
                  "advice_cost": config.ablation_cost}
        if config.train_max_questions:
            kwargs["max_questions"] = config.train_max_questions
        prompts, asked, visible = teacher_decisions(gym.make(config.env, **kwargs), GATE_SEED)
        scores = ask_scores(sft_dir, self.model, prompts)
        known = [(score, v is False) for score, v in zip(scores, visible) if v is not None]
        result = {"validation_category": config.validation_category, "prompts": len(prompts),
                  "teacher_asks": sum(asked), "auc": auc(scores, asked),
                  "auc_visibility": auc([s for s, _ in known], [hidden for _, hidden in known]),
                  "threshold": config.gate_auc}
        result["passed"] = result["auc"] is not None and result["auc"] >= config.gate_auc
        _save(self.root / "gate.json", fingerprint, gate=result)
        return result


def run(config: FidelityConfig) -> dict:
    """The gate, then every (seed, stage); returns fidelity.json's content (also written, with the rest)."""
    from benchmarks.fidelity_report import build_results, write_outputs

    experiment = Experiment(config)
    costs = config.advice_costs
    bar = progress_bar("fidelity", 1 + config.seeds * (2 + 2 * len(costs)), unit="stage", enabled=config.progress)

    def step(label: str) -> None:
        bar.set_postfix_str(label)
        bar.update(1)

    categories = [name for name in BUILTIN_CATEGORIES["train"] if name != config.validation_category]
    gate = experiment.gate(categories)
    if not gate["passed"]:  # the decision does not generalise from this little: give SFT every train category
        categories = list(BUILTIN_CATEGORIES["train"])
    gate["train_categories"] = categories
    step("gate")
    records: dict[int, dict[str, list[dict]]] = {}
    for seed in range(config.seeds):
        sft_dir, sft_fingerprint = experiment.sft(seed, categories)
        step(f"seed {seed} sft")
        records[seed] = experiment.evaluate(seed, sft_dir, sft_fingerprint, {"sft": (config.ablation_cost, "full")})
        step(f"seed {seed} sft eval")
        for cost in costs:
            ppo_dir, ppo_fingerprint = experiment.ppo(seed, categories, cost, sft_dir, sft_fingerprint)
            step(f"seed {seed} {stage_name(cost)}")
            stages = {stage_name(cost): (cost, "full")}
            if cost == config.ablation_cost:
                stages.update({stage_name(cost, ablation): (cost, ablation) for ablation in ABLATIONS})
            records[seed].update(experiment.evaluate(seed, ppo_dir, ppo_fingerprint, stages))
            step(f"seed {seed} {stage_name(cost)} eval")
    bar.close()
    results = build_results(config, gate, records, experiment.timing)
    write_outputs(results, Path(config.output_dir))
    return results


def build_parser() -> argparse.ArgumentParser:
    """`python -m benchmarks.fidelity`'s flags; every default is FidelityConfig's."""
    defaults = FidelityConfig()
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fidelity", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--seeds", type=int, default=defaults.seeds, help="seeds 0 .. N-1 (default: %(default)s)")
    add("--env", default=defaults.env, help="ProductQA env id (default: %(default)s, v1 when registered)")
    add("--output-dir", default=defaults.output_dir, help="cache and outputs (default: %(default)s)")
    add("--advice-costs", type=float, nargs="+", default=defaults.advice_costs,
        help="PPO once per cost (default: %(default)s)")
    add("--ablation-cost", type=float, default=defaults.ablation_cost,
        help="the cost of the SFT-vs-PPO test and the ablations (default: %(default)s)")
    add("--validation-category", default=defaults.validation_category,
        help="train category held out for the pilot gate (default: %(default)s)")
    add("--gate-auc", type=float, default=defaults.gate_auc, help="least ask-vs-answer AUC (default: %(default)s)")
    add("--model", default=defaults.model, help="base model (default: the tiny model built from the SFT data)")
    add("--max-new-tokens", type=int, default=defaults.max_new_tokens, help="longest action (default: %(default)s)")
    add("--sft-sessions", type=int, default=defaults.sft_sessions, help="expert sessions (default: %(default)s)")
    add("--sft-epochs", type=int, default=defaults.sft_epochs, help="default: %(default)s (the recipe's)")
    add("--sft-learning-rate", type=float, default=defaults.sft_learning_rate, help="default: %(default)s")
    add("--ppo-iterations", type=int, default=defaults.ppo_iterations, help="per cost (default: %(default)s)")
    add("--ppo-learning-rate", type=float, default=defaults.ppo_learning_rate, help="default: %(default)s")
    add("--bootstrap", type=int, default=defaults.bootstrap, help="resamples per seed and test (default: %(default)s)")
    add("--quick", action="store_true", help="1 seed, tiny budgets: checks the pipeline, not the findings")
    add("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the experiment and print fidelity.md; 2 with one line on stderr for a bad setting."""
    args = build_parser().parse_args(argv)
    try:
        config = FidelityConfig(**{k: v for k, v in vars(args).items() if k not in ("quick", "quiet")},
                                progress=not args.quiet)
        check_env_id(config.env)
        check_model(config.model)
        check_choice("--validation-category", config.validation_category, BUILTIN_CATEGORIES["train"])
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.quick:  # its own folder by default, so a quick look never invalidates the full run's cache
        config = config.quick_budgets()
        if args.output_dir == FidelityConfig.output_dir:
            config.output_dir += "-quick"
    run(config)
    print((Path(config.output_dir) / "fidelity.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
