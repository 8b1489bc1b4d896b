"""Session results -> rows (per category, then the headline: mean of categories and question-weighted) ->
results.json and results.md."""

from __future__ import annotations

import json
import os
import platform
from importlib import metadata
from pathlib import Path

from agile_gym.files import atomic_write
from agile_gym.results import cell, markdown_table, metric_columns
from agile_gym.rewards import MEAN_OF_CATEGORIES, QUESTION_WEIGHTED, headline_metrics
from benchmarks.reported import CITATION, reported_for

HEADLINE = (MEAN_OF_CATEGORIES, QUESTION_WEIGHTED)
_RATES = ("accuracy", "advice_rate", "total_score", "invalid_action_rate")
_PACKAGES = ("agile", "gymnasium", "numpy", "torch", "transformers", "peft", "accelerate", "openai", "datasets")


def package_versions() -> dict[str, str]:
    """Python's version and each installed package of `_PACKAGES` -> its version string; packages not
    installed are left out."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def summarize(sessions: list[dict]) -> list[dict]:
    """One row per (agent, cost, ablation, category); with several categories then the headline rows (the mean of
    categories, the paper's ProductQA protocol, and the question-weighted figure), in that order."""
    groups: dict[tuple, list[dict]] = {}
    for session in sessions:
        spec = session["spec"]
        groups.setdefault((spec["agent"], spec["advice_cost"], spec["ablation"]), []).append(session)
    agents = list(dict.fromkeys(key[0] for key in groups))
    rows = []
    for (agent, cost, ablation), members in sorted(
            groups.items(), key=lambda item: (agents.index(item[0][0]), item[0][1], item[0][2] != "full", item[0][2])):
        members = sorted(members, key=lambda s: s["spec"]["category"])
        label = {"agent": agent, "advice_cost": cost, "ablation": ablation}
        for session in members:
            rows.append({**label, "category": session["spec"]["category"], **_session_row(session)})
        if len(members) > 1:
            totals = {key: sum(s.get(key, 0) for s in members) for key in ("prompt_tokens", "completion_tokens")}
            wall = round(sum(s["wall_s"] for s in members), 3)
            for figure, metrics in headline_metrics([s["metrics"] for s in members]).items():
                rows.append({**label, "category": figure, **metrics, "wall_s": wall, **totals})
    return rows


def _session_row(session: dict) -> dict:
    metrics = session["metrics"]
    return {"questions": metrics["questions"], **{key: metrics[key] for key in _RATES},
            "per_type": metrics.get("per_type", {}), "wall_s": session["wall_s"],
            "prompt_tokens": session.get("prompt_tokens", 0), "completion_tokens": session.get("completion_tokens", 0)}


def build_report(config: dict, sessions: list[dict], failures: list[dict], agents: dict[str, dict]) -> dict:
    """The results.json content: `config`, package `versions`, `agents` (each one's description), `rows`
    (`summarize(sessions)`), the raw `sessions` and `failures`, and the paper's `reported` table for
    `config['env']` (None when it has none). `config` needs the key 'env'."""
    reported = reported_for(config["env"])
    return {
        "config": config,
        "versions": package_versions(),
        "agents": agents,
        "rows": summarize(sessions),
        "sessions": sessions,
        "failures": failures,
        "reported": reported.as_dict() if reported else None,
    }


def series_label(row: dict) -> str:
    """What a row's line is called in a plot: the agent, and the ablation when one is switched off."""
    return row["agent"] + ("" if row["ablation"] == "full" else f" w/o {row['ablation']}")


def _ablation_label(ablation: str) -> str:
    return ablation if ablation == "full" else "w/o " + ablation


def _table(rows: list[dict], types: list[str]) -> list[str]:
    columns = {"agent": "agent", "c": lambda row: f"{row['advice_cost']:g}",
               "ablation": lambda row: _ablation_label(row["ablation"]), "category": "category",
               **metric_columns(types), "wall s": lambda row: cell(row["wall_s"], 1),
               "tokens": lambda row: row.get("prompt_tokens", 0) + row.get("completion_tokens", 0) or "-"}
    return markdown_table(rows, columns).splitlines()


def headline_rows(rows: list[dict]) -> list[dict]:
    """Per (agent, cost, ablation): its two headline rows where it has several categories, else its one session.
    The results table and the trade-off plot both show exactly these."""
    several = {(r["agent"], r["advice_cost"], r["ablation"]) for r in rows if r["category"] in HEADLINE}
    return [
        r for r in rows
        if r["category"] in HEADLINE or (r["agent"], r["advice_cost"], r["ablation"]) not in several
    ]


def render_markdown(report: dict) -> str:
    """results.md as a string: the headline table, the per-category table when there are several
    categories, the failed sessions, the paper's reported table (marked as not rerun) and package versions."""
    rows = report["rows"]
    types = sorted({name for row in rows for name in row.get("per_type", {})})
    config = report["config"]
    lines = [f"# Benchmark: {config['env']}", "",
             ("Our runs, on this machine. Each category is one session: memory starts empty and persists through "
              "it. Summary: the mean of categories (the paper's ProductQA protocol) with the question-weighted "
              "figure beside it, or the one session."), ""]
    lines += _table(headline_rows(rows), types)
    if any(row["category"] in HEADLINE for row in rows):
        lines += ["", "## Per category", ""]
        lines += _table([row for row in rows if row["category"] not in HEADLINE], types)
    if report.get("failures"):
        lines += ["", (f"**{len(report['failures'])} session(s) failed** (not in the table; rerun the same command "
                       "to retry them, finished sessions are kept):"), ""]
        lines += [f"- {f['spec']['agent']} c={f['spec']['advice_cost']:g} {f['spec']['ablation']} "
                  f"{f['spec']['category']}: {f['error']}" for f in report["failures"]]
    reported = report.get("reported")
    if reported:
        lines += ["", (f"## Reported in the paper (not rerun here; c = {reported['advice_cost']:g}, "
                       f"{reported['protocol']})"), "", f"Source: {reported['citation']}.", ""]
        lines += markdown_table(reported["rows"], {"method (reported)": "method", "advice rate": "advice_rate",
                                                   "accuracy": "accuracy", "total score": "total_score",
                                                   "source": "source"}).splitlines()
        costs = sorted({row["advice_cost"] for row in rows})
        if costs and costs != [reported["advice_cost"]]:
            lines += ["", (f"Our advice costs ({', '.join(f'{c:g}' for c in costs)}) differ from the paper's "
                           f"{reported['advice_cost']:g} where not equal: compare total scores only at equal cost.")]
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()), ""]
    return "\n".join(lines)


def write_report(folder: str | os.PathLike, report: dict) -> tuple[Path, Path]:
    """Write `report` as results.json and results.md into `folder` (created if missing), each atomically;
    returns (json path, markdown path)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    json_path, md_path = folder / "results.json", folder / "results.md"
    atomic_write(json_path, json.dumps(report, indent=1))
    atomic_write(md_path, render_markdown(report))
    return json_path, md_path


def load_report(path: str | os.PathLike) -> dict:
    """The report dict in the results.json at `path` (as `write_report` wrote it). Raises FileNotFoundError
    for a missing file and json.JSONDecodeError for a damaged one."""
    return json.loads(Path(path).read_text())


__all__ = ["CITATION", "build_report", "load_report", "render_markdown", "summarize", "write_report"]
