"""What `benchmarks.fidelity` reports: each stage's metrics per seed and as a mean with its interval, the
findings as one-sided paired tests, and fidelity.json / fidelity.md / two PNGs.

fidelity.json keys (stable): `env` (`id`, `version`), `config`, `versions`, `gate`, `seeds` (the seed
numbers), `stages` (name -> `advice_cost`, `ablation`, `per_seed` {seed: metrics}, `mean` {metric: `mean`,
`low`, `high`, `n`}), `tests` (list of `name`, `claim`, `x`, `y`, `p_value`, `seeds_agreeing`, `seeds`,
`effect`, `per_seed_effect`, `bootstrap_p`, `bootstrap_seeds_significant`) and `timing` (seconds per stage
run now; cached stages are absent). Metrics are those of `benchmarks.fidelity_stats.METRICS`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from agile_gym.files import atomic_write
from agile_gym.results import markdown_table, pyplot, save_figure
from benchmarks.fidelity_stats import (
    METRICS,
    QUARTERS,
    mean_interval,
    paired_bootstrap,
    paired_test,
    stage_name,
    summarize,
)
from benchmarks.sessions import ABLATIONS

SIGNIFICANCE = 0.05
LABELS = {"total_score": "total score", "accuracy": "accuracy", "advice_rate": "advice rate",
          "p_ask_visible": "P(ask \\| visible)", "p_ask_hidden": "P(ask \\| not visible)",
          **{f"advice_q{q}": f"advice Q{q}" for q in range(1, QUARTERS + 1)}}


def define_tests(config) -> list[dict]:
    """The findings as claims x > y, each side a (stage, metric): (a) asking follows visibility, for SFT and
    PPO; (b) PPO beats SFT; (c) advice falls as its cost rises; (d) advice falls along the session, for SFT and
    PPO; (e) every ablation costs score. PPO means the ablation-cost policy unless named."""

    main = stage_name(config.ablation_cost)
    tests = [{"name": f"a: asks more when the answer is not visible, {stage}", "x": [stage, "p_ask_hidden"],
              "y": [stage, "p_ask_visible"]} for stage in ("sft", main)]
    tests.append({"name": f"b: total score {main} > sft", "x": [main, "total_score"], "y": ["sft", "total_score"]})
    low, high = min(config.advice_costs), max(config.advice_costs)
    if low < high:
        tests.append({"name": f"c: advice rate c={low:g} > c={high:g}", "x": [stage_name(low), "advice_rate"],
                      "y": [stage_name(high), "advice_rate"]})
    tests += [{"name": f"d: advice rate Q1 > Q{QUARTERS}, {stage}", "x": [stage, "advice_q1"],
               "y": [stage, f"advice_q{QUARTERS}"]} for stage in ("sft", main)]
    tests += [{"name": f"e: total score {main} > without {ablation}", "x": [main, "total_score"],
               "y": [stage_name(config.ablation_cost, ablation), "total_score"]} for ablation in ABLATIONS]
    return tests


def build_results(config, gate: dict, records: dict[int, dict[str, list[dict]]], timing: dict) -> dict:
    """fidelity.json's content from every (seed, stage)'s per-question records."""
    from benchmarks.report import package_versions

    seeds = sorted(records)
    names = ["sft"] + [stage_name(c) for c in config.advice_costs]
    names += [stage_name(config.ablation_cost, ablation) for ablation in ABLATIONS]
    stages = {}
    for name in names:
        per_seed = {str(seed): summarize(records[seed][name]) for seed in seeds}
        cost, ablation = (config.ablation_cost, "full") if name == "sft" else _parse_stage(name)
        stages[name] = {"advice_cost": cost, "ablation": ablation, "per_seed": per_seed,
                        "mean": {metric: mean_interval([per_seed[str(s)][metric] for s in seeds])
                                 for metric in METRICS}}
    tests = []
    for test in define_tests(config):
        (x_stage, x_metric), (y_stage, y_metric) = test["x"], test["y"]
        result = paired_test([stages[x_stage]["per_seed"][str(s)][x_metric] for s in seeds],
                             [stages[y_stage]["per_seed"][str(s)][y_metric] for s in seeds])
        bootstrap = [paired_bootstrap(records[s][x_stage], METRICS[x_metric], records[s][y_stage],
                                      METRICS[y_metric], config.bootstrap, np.random.default_rng(s))
                     for s in seeds]
        tests.append({**test, "claim": f"{x_stage} {x_metric} > {y_stage} {y_metric}", **result,
                      "bootstrap_p": bootstrap,
                      "bootstrap_seeds_significant": sum(p is not None and p < SIGNIFICANCE for p in bootstrap)})
    from importlib import metadata

    versions = package_versions()
    for name in ("scipy", "matplotlib"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return {"env": {"id": config.env, "version": config.env.rsplit("-", 1)[-1]},
            "config": dataclasses.asdict(config), "versions": versions, "gate": gate, "seeds": seeds,
            "stages": stages, "tests": tests, "timing": timing}


def _parse_stage(name: str) -> tuple[float, str]:
    cost, _, ablation = name.removeprefix("ppo_c").partition("_no_")
    return float(cost), ablation or "full"


def _interval(value: dict) -> str:
    if value["mean"] is None:
        return "-"
    if value["low"] is None:
        return f"{value['mean']:.3f}"
    return f"{value['mean']:.3f} [{value['low']:.3f}, {value['high']:.3f}]"


def render_markdown(results: dict) -> str:
    """fidelity.md: the gate, the stages (mean [95% t interval] over seeds), the tests, then every seed."""
    env, gate, seeds = results["env"]["id"], results["gate"], results["seeds"]
    stage_rows = [{"stage": name, **stage} for name, stage in results["stages"].items()]
    lines = [f"# AGILE fidelity on `{env}`", "",
             f"{len(seeds)} seed(s); test categories evaluated greedily, each category one session, in 2 question "
             f"orders; trained on {', '.join(gate['train_categories'])}.",
             f"Pilot gate on {gate['validation_category']}: SFT's ask-vs-answer AUC {_number(gate['auc'])} against "
             f"the teacher ({gate['teacher_asks']} asks of {gate['prompts']} prompts), "
             f"{_number(gate['auc_visibility'])} against the ground-truth visibility; threshold {gate['threshold']:g}: "
             + ("passed." if gate["passed"] else f"failed, so {gate['validation_category']} joined the training "
                "categories."), "",
             "## Stages: mean over seeds [95% t interval]", ""]
    columns = {"env": lambda _: env, "stage": "stage", "c": lambda row: f"{row['advice_cost']:g}"}
    columns.update({label: (lambda row, m=metric: _interval(row["mean"][m])) for metric, label in LABELS.items()})
    lines += [markdown_table(stage_rows, columns), "", "## Findings: one-sided paired t-tests over seeds", ""]
    lines += [markdown_table(results["tests"], {
        "env": lambda _: env, "test": "name", "effect (x - y)": lambda t: _number(t["effect"]),
        "p (t, one-sided)": lambda t: _number(t["p_value"], 4), "seeds agreeing": lambda t: f"{t['seeds_agreeing']}"
        f"/{t['seeds']}", f"bootstrap p < {SIGNIFICANCE:g}": lambda t: f"{t['bootstrap_seeds_significant']}/"
        f"{len(t['bootstrap_p'])} seeds"}), "", "## Per seed", ""]
    per_seed = [{"seed": seed, "stage": name, **stage["per_seed"][str(seed)]}
                for seed in seeds for name, stage in results["stages"].items()]
    lines += [markdown_table(per_seed, {"env": lambda _: env, "seed": "seed", "stage": "stage",
                                        **{label: metric for metric, label in LABELS.items()},
                                        "questions": "questions"}), ""]
    return "\n".join(lines)


def _number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _error_bar(interval: dict) -> tuple[float, float]:
    if interval["mean"] is None or interval["low"] is None:
        return 0.0, 0.0
    return interval["mean"] - interval["low"], interval["high"] - interval["mean"]


def plot_along_session(results: dict, path: Path) -> Path:
    """Advice rate per quarter of each session, one line per stage (SFT and PPO per cost), 95% intervals."""
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(7, 4))
    quarters = np.arange(1, QUARTERS + 1)
    for name, stage in results["stages"].items():
        if stage["ablation"] != "full":
            continue
        intervals = [stage["mean"][f"advice_q{q}"] for q in quarters]
        means = [np.nan if i["mean"] is None else i["mean"] for i in intervals]
        axis.errorbar(quarters, means, yerr=np.array([_error_bar(i) for i in intervals]).T, marker="o",
                      capsize=3, label=name)
    axis.set(xlabel="quarter of the category's questions", ylabel="advice rate", xticks=quarters, ylim=(-0.02, 1.02),
             title=f"advice rate along the session ({results['env']['id']})")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    return save_figure(figure, path)


def plot_cost(results: dict, path: Path) -> Path:
    """Advice rate (left) and total score (right) of PPO against the advice cost, SFT as a point at the
    ablation cost; 95% intervals over seeds."""
    plt = pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    ppo = sorted((s["advice_cost"], s) for name, s in results["stages"].items()
                 if name != "sft" and s["ablation"] == "full")
    sft = results["stages"]["sft"]
    for axis, metric in zip(axes, ("advice_rate", "total_score")):
        intervals = [s["mean"][metric] for _, s in ppo]
        axis.errorbar([c for c, _ in ppo], [np.nan if i["mean"] is None else i["mean"] for i in intervals],
                      yerr=np.array([_error_bar(i) for i in intervals]).T, marker="o", capsize=3, label="PPO")
        sft_mean = sft["mean"][metric]["mean"]
        axis.errorbar([sft["advice_cost"]], [np.nan if sft_mean is None else sft_mean],
                      yerr=np.array([_error_bar(sft["mean"][metric])]).T, marker="s", capsize=3, label="SFT")
        axis.set(xlabel="advice cost c", ylabel=LABELS[metric], title=f"{LABELS[metric]} ({results['env']['id']})",
                 ylim=(-0.02, 1.02))
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    return save_figure(figure, path)


def write_outputs(results: dict, folder: Path) -> None:
    """fidelity.json, fidelity.md, advice_along_session.png and advice_cost.png in `folder`."""
    import json

    atomic_write(folder / "fidelity.json", json.dumps(results, indent=2))
    atomic_write(folder / "fidelity.md", render_markdown(results))
    plot_along_session(results, folder / "advice_along_session.png")
    plot_cost(results, folder / "advice_cost.png")
