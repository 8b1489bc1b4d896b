"""Session results -> rows (per category, overall, mean of categories) -> results.json and results.md."""

from __future__ import annotations

import json
import os
import platform
import tempfile
from importlib import metadata
from pathlib import Path

from agile_gym.rewards import merge_metrics
from benchmarks.reported import CITATION, reported_for

OVERALL, CATEGORY_MEAN = "overall", "mean of categories"
_RATES = ("accuracy", "advice_rate", "total_score", "invalid_action_rate")
_PACKAGES = ("agile", "gymnasium", "numpy", "torch", "transformers", "peft", "accelerate", "openai", "datasets")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def summarize(sessions: list[dict]) -> list[dict]:
    """One row per (agent, cost, ablation, category); with several categories also the question-weighted
    overall and the mean of categories (the paper's ProductQA protocol averages the categories)."""
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
            rows.append({**label, "category": OVERALL, **merge_metrics([s["metrics"] for s in members]),
                         "wall_s": wall, **totals})
            rows.append({**label, "category": CATEGORY_MEAN, **_category_mean(members), "wall_s": wall, **totals})
    return rows


def _session_row(session: dict) -> dict:
    metrics = session["metrics"]
    return {"questions": metrics["questions"], **{key: metrics[key] for key in _RATES},
            "per_type": metrics.get("per_type", {}), "wall_s": session["wall_s"],
            "prompt_tokens": session.get("prompt_tokens", 0), "completion_tokens": session.get("completion_tokens", 0)}


def _category_mean(members: list[dict]) -> dict:
    row: dict = {"questions": sum(s["metrics"]["questions"] for s in members)}
    for key in _RATES:
        row[key] = sum(s["metrics"][key] for s in members) / len(members)
    types = sorted({name for s in members for name in s["metrics"].get("per_type", {})})
    row["per_type"] = {}
    for name in types:
        present = [s["metrics"]["per_type"][name] for s in members if name in s["metrics"].get("per_type", {})]
        row["per_type"][name] = {"questions": sum(p["questions"] for p in present),
                                 **{key: sum(p[key] for p in present) / len(present) for key in _RATES}}
    return row


def build_report(config: dict, sessions: list[dict], failures: list[dict], agents: dict[str, dict]) -> dict:
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


def _cell(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _ablation_label(ablation: str) -> str:
    return ablation if ablation == "full" else "w/o " + ablation


def _table(rows: list[dict], types: list[str]) -> list[str]:
    header = ["agent", "c", "ablation", "category", "questions", "accuracy", "advice rate", "total score",
              "invalid", *[f"acc {name}" for name in types], "wall s", "tokens"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        tokens = row.get("prompt_tokens", 0) + row.get("completion_tokens", 0)
        per_type = [_cell(row["per_type"][name]["accuracy"]) if name in row.get("per_type", {}) else "-"
                    for name in types]
        cells = [row["agent"], f"{row['advice_cost']:g}", _ablation_label(row["ablation"]), row["category"],
                 row["questions"], _cell(row["accuracy"]), _cell(row["advice_rate"]), _cell(row["total_score"]),
                 _cell(row["invalid_action_rate"]), *per_type, _cell(row["wall_s"], 1), tokens or "-"]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return lines


def headline_rows(rows: list[dict]) -> list[dict]:
    """One row per (agent, cost, ablation): the mean of categories where there are several, else the session."""
    several = {(r["agent"], r["advice_cost"], r["ablation"]) for r in rows if r["category"] == CATEGORY_MEAN}
    return [r for r in rows if r["category"] == CATEGORY_MEAN
            or ((r["agent"], r["advice_cost"], r["ablation"]) not in several and r["category"] != OVERALL)]


def render_markdown(report: dict) -> str:
    rows = report["rows"]
    types = sorted({name for row in rows for name in row.get("per_type", {})})
    config = report["config"]
    lines = [f"# Benchmark: {config['env']}", "",
             "Our runs, on this machine. Each category is one session: memory starts empty and persists through "
             "it. Summary: the mean of categories (the paper's ProductQA protocol) or the one session.", ""]
    lines += _table(headline_rows(rows), types)
    if any(row["category"] == CATEGORY_MEAN for row in rows):
        lines += ["", "## Per category (overall = question-weighted)", ""]
        lines += _table([row for row in rows if row["category"] != CATEGORY_MEAN], types)
    if report.get("failures"):
        lines += ["", f"**{len(report['failures'])} session(s) failed** (not in the table; rerun the same command "
                  "to retry them, finished sessions are kept):", ""]
        lines += [f"- {f['spec']['agent']} c={f['spec']['advice_cost']:g} {f['spec']['ablation']} "
                  f"{f['spec']['category']}: {f['error']}" for f in report["failures"]]
    reported = report.get("reported")
    if reported:
        lines += ["", f"## Reported in the paper (not rerun here; c = {reported['advice_cost']:g}, "
                  f"{reported['protocol']})", "", f"Source: {reported['citation']}.", "",
                  "| method (reported) | advice rate | accuracy | total score | source |", "|---|---|---|---|---|"]
        for row in reported["rows"]:
            lines.append(f"| {row['method']} | {_cell(row['advice_rate'])} | {_cell(row['accuracy'])} | "
                         f"{_cell(row['total_score'])} | {row['source']} |")
        costs = sorted({row["advice_cost"] for row in rows})
        if costs and costs != [reported["advice_cost"]]:
            lines += ["", f"Our advice costs ({', '.join(f'{c:g}' for c in costs)}) differ from the paper's "
                      f"{reported['advice_cost']:g} where not equal: compare total scores only at equal cost."]
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()), ""]
    return "\n".join(lines)


def atomic_write_text(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of one (a crash mid-write loses nothing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(handle, "w") as out:
        out.write(text)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)  # mkstemp's 0600 would make results private
    os.replace(temporary, path)


def write_report(folder: str | os.PathLike, report: dict) -> tuple[Path, Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    json_path, md_path = folder / "results.json", folder / "results.md"
    atomic_write_text(json_path, json.dumps(report, indent=1))
    atomic_write_text(md_path, render_markdown(report))
    return json_path, md_path


def load_report(path: str | os.PathLike) -> dict:
    return json.loads(Path(path).read_text())


__all__ = ["CITATION", "build_report", "load_report", "render_markdown", "summarize", "write_report"]
