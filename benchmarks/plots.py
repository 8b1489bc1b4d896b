"""PNG plot of accuracy and advice rate along the session (the trade-off plot is `agile_gym.results.plot_tradeoff`
over `benchmarks.report.headline_rows`)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from agile_gym.results import legend_below, legend_height, pyplot, save_figure, series_styles

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
        label = f"{spec['agent']} c={spec['advice_cost']:g}"
        label += "" if spec["ablation"] == "full" else f" w/o {spec['ablation']}"
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
    """Draw `along_session(sessions)` (accuracy left, advice rate right, one line per agent, cost and
    ablation, each its own colour and marker, a legend under each panel) and write it as a PNG to `path`;
    returns the path. ImportError when matplotlib is missing."""
    plt = pyplot()
    curves = along_session(sessions)
    progress = (np.arange(BINS) + 0.5) * 100 / BINS
    styles = series_styles(sorted(curves))
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4 + legend_height(sorted(curves))), sharex=True)
    for label, curve in sorted(curves.items()):
        left.plot(progress, curve["accuracy"], label=label, **styles[label])
        right.plot(progress, curve["advice_rate"], label=label, **styles[label])
    for axis, title in ((left, "accuracy"), (right, "advice rate")):
        axis.set_xlabel("position in the session (% of its questions)")
        axis.set_ylabel(title)
        axis.set_ylim(-0.02, 1.02)
        axis.set_title(f"{title} along the session")
        axis.grid(alpha=0.3)
        legend_below(axis)
    return save_figure(figure, path)
