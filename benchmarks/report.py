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
    categories, the paper's rule for ProductQA, and the question-weighted figure), in that order."""
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


def _data_lines(config: dict, rows: list[dict]) -> list[str]:
    """What the numbers were measured on: data folder, split, categories with their questions, memory."""
    data = config.get("data")
    if not data:
        return ["Data: not recorded in this report."]
    categories = data["categories"]
    names = [name for name in categories if name != "all"]
    played = [row for row in rows if row["category"] not in HEADLINE]
    questions = max((sum(r["questions"] for r in played if (r["agent"], r["advice_cost"], r["ablation"]) == key)
                     for key in {(r["agent"], r["advice_cost"], r["ablation"]) for r in played}), default=0)
    in_data = sum(facts["questions"] for facts in categories.values())
    lines = []
    if data["synthetic"]:
        lines += ["**Synthetic data**: the built-in generated set, not the AGILE release; these numbers say whether "
                  "the machinery works and are not comparable with the paper's.", ""]
    lines += [f"- Data: {data['folder']}", f"- Split: {data['split'] or '-'}"]
    if names:
        lines.append("- Categories (questions each): "
                     + ", ".join(f"{name} ({categories[name]['questions']})" for name in names))
    cap = config.get("max_questions")
    lines.append(f"- Questions played per agent, cost and ablation: {questions}"
                 + (f" ({in_data} in the data; sessions capped at {cap} by --max-questions)" if cap else ""))
    lines.append(f"- Memory preloaded: {data['memory_preloaded']}")
    return lines


def _protocol_text(config: dict, rows: list[dict]) -> str:
    several = any(row["category"] in HEADLINE for row in rows)
    if several:
        return ("Each category is one session: memory starts as described above and persists through it. "
                f"Headline: the **{MEAN_OF_CATEGORIES}** (every category weighs the same, the paper's rule for "
                f"ProductQA), with the {QUESTION_WEIGHTED} figure beside it; tradeoff.png draws the same rows "
                "(mean of categories solid, question-weighted dashed).")
    return "One session over all the questions: memory starts as described above and persists through it."


def render_markdown(report: dict) -> str:
    """results.md as a string: what data it was measured on (folder, split, categories, questions, memory, and
    a warning for synthetic data), the headline table, the per-category table when there are several
    categories, the failed sessions, the paper's reported table (marked as not rerun, columns in our order)
    and package versions."""
    rows = report["rows"]
    types = sorted({name for row in rows for name in row.get("per_type", {})})
    config = report["config"]
    lines = [f"# Benchmark: {config['env']}", "", "Our runs, on this machine.", ""]
    lines += _data_lines(config, rows)
    lines += ["", _protocol_text(config, rows), ""]
    lines += _table(headline_rows(rows), types)
    if any(row["category"] in HEADLINE for row in rows):
        lines += ["", "## Per category", ""]
        lines += _table([row for row in rows if row["category"] not in HEADLINE], types)
    failures = report.get("failures") or []
    retried = [f for f in failures if not f.get("agent_did_not_start")]
    if retried:
        lines += ["", (f"**{len(retried)} session(s) failed** (not in the table; rerun the same command "
                       "to retry them, finished sessions are kept):"), ""]
        lines += [f"- {f['spec']['agent']} c={f['spec']['advice_cost']:g} {f['spec']['ablation']} "
                  f"{f['spec']['category']}: {f['error']}" for f in retried]
    for agent in dict.fromkeys(f["spec"]["agent"] for f in failures if f.get("agent_did_not_start")):
        error = next(f["error"] for f in failures if f["spec"]["agent"] == agent)
        lines += ["", f"**{agent} did not run**: {error}. Fix the agent, then rerun."]
    reported = report.get("reported")
    if reported:
        lines += ["", "## Reported in the paper (not rerun here)", "",
                  f"Protocol: {reported['protocol']}; advice cost c = {reported['advice_cost']:g}. "
                  f"Source: {reported['citation']}.", ""]
        if (config.get("data") or {}).get("synthetic"):
            lines += ["Measured on the AGILE release, not on the synthetic data above.", ""]
        lines += markdown_table(reported["rows"], {"method (reported)": "method", "accuracy": "accuracy",
                                                   "advice rate": "advice_rate", "total score": "total_score",
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
