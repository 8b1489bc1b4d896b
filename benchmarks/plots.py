"""PNG plots of a benchmark report: accuracy and advice rate along the session, and the trade-off across costs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from benchmarks.report import OVERALL

BINS = 10


def along_session(sessions: list[dict], bins: int = BINS) -> dict[str, dict[str, np.ndarray]]:
    """Per (agent, cost, ablation) label: accuracy and advice rate in `bins` equal slices of session progress,
    pooled over categories (each session is cut into its own slices, so short and long sessions align)."""
    pooled: dict[str, dict[str, np.ndarray]] = {}
    for session in sessions:
        spec, trace = session["spec"], session["trace"]
        n = len(trace["correct"])
        if n == 0:
            continue
        label = f"{spec['agent']} c={spec['advice_cost']:g}" + ("" if spec["ablation"] == "full" else f" w/o {spec['ablation']}")
        slot = pooled.setdefault(label, {key: np.zeros(bins) for key in ("count", "correct", "advised")})
        which = np.minimum((np.arange(n) * bins) // n, bins - 1)
        slot["count"] += np.bincount(which, minlength=bins)
        slot["correct"] += np.bincount(which, weights=trace["correct"], minlength=bins)
        slot["advised"] += np.bincount(which, weights=trace["advised"], minlength=bins)
    curves = {}
    for label, slot in pooled.items():
        count = np.maximum(slot["count"], 1)
        curves[label] = {"accuracy": slot["correct"] / count, "advice_rate": slot["advised"] / count}
    return curves


def plot_session_curves(sessions: list[dict], path: str | os.PathLike) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = along_session(sessions)
    progress = (np.arange(BINS) + 0.5) * 100 / BINS
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4), sharex=True)
    for label, curve in sorted(curves.items()):
        left.plot(progress, curve["accuracy"], marker="o", label=label)
        right.plot(progress, curve["advice_rate"], marker="o", label=label)
    for axis, title in ((left, "accuracy"), (right, "advice rate")):
        axis.set_xlabel("position in the session (% of its questions)")
        axis.set_ylabel(title)
        axis.set_ylim(-0.02, 1.02)
        axis.set_title(f"{title} along the session")
        axis.grid(alpha=0.3)
    if curves:
        right.legend(fontsize=7, loc="best")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _headline_rows(rows: list[dict]) -> list[dict]:
    """One row per (agent, cost, ablation): the overall row when there are several categories."""
    keys = {(r["agent"], r["advice_cost"], r["ablation"]) for r in rows if r["category"] == OVERALL}
    return [r for r in rows if r["category"] == OVERALL or (r["agent"], r["advice_cost"], r["ablation"]) not in keys]


def plot_tradeoff(rows: list[dict], path: str | os.PathLike) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines: dict[str, list[dict]] = {}
    for row in _headline_rows(rows):
        label = row["agent"] + ("" if row["ablation"] == "full" else f" w/o {row['ablation']}")
        lines.setdefault(label, []).append(row)
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for label, points in sorted(lines.items()):
        points.sort(key=lambda r: r["advice_cost"])
        advice = [r["advice_rate"] for r in points]
        accuracy = [r["accuracy"] for r in points]
        left.plot(advice, accuracy, marker="o", label=label)
        for r in points:
            left.annotate(f"c={r['advice_cost']:g}", (r["advice_rate"], r["accuracy"]), fontsize=7,
                          textcoords="offset points", xytext=(3, 3))
        right.plot([r["advice_cost"] for r in points], [r["total_score"] for r in points], marker="o", label=label)
    left.set_xlabel("advice rate")
    left.set_ylabel("accuracy")
    left.set_title("accuracy / advice-rate trade-off")
    right.set_xlabel("advice cost c")
    right.set_ylabel("total score")
    right.set_title("total score across advice costs")
    for axis in (left, right):
        axis.grid(alpha=0.3)
    if lines:
        right.legend(fontsize=7, loc="best")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
