"""Showing results: one markdown table and one accuracy / advice-rate trade-off plot.

Both follow the headline rule of `agile_gym.rewards.headline_metrics`: a row whose `category` is
"mean of categories" or "question-weighted" is labelled so (the plot draws the first solid and the second
dashed, in the same colour). matplotlib is an optional extra, imported only when a plot is drawn.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from agile_gym.rewards import MEAN_OF_CATEGORIES, QUESTION_WEIGHTED

Column = str | Callable[[Mapping], Any]


def cell(value: Any, digits: int = 3) -> str:
    """How every table writes a value: floats with `digits` decimals, None as '-', anything else as str()."""
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown_table(rows: Iterable[Mapping], columns: Mapping[str, Column]) -> str:
    """A markdown table: one line per row, one column per `columns` entry (header -> row key, or a function of
    the row). Values go through `cell`; a column wanting another form returns a string."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        values = [source(row) if callable(source) else row.get(source) for source in columns.values()]
        lines.append("| " + " | ".join(cell(value) for value in values) + " |")
    return "\n".join(lines)


def metric_columns(question_types: Iterable[str] = ()) -> dict[str, Column]:
    """The paper's metrics of a `SessionMetrics.snapshot()`-shaped row, then accuracy per question type."""
    columns: dict[str, Column] = {"questions": "questions", "accuracy": "accuracy", "advice rate": "advice_rate",
                                  "total score": "total_score", "invalid": "invalid_action_rate"}
    for name in question_types:
        columns[f"acc {name}"] = lambda row, name=name: row.get("per_type", {}).get(name, {}).get("accuracy")
    return columns


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend; ImportError names the extras that bring it."""
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError("plots need matplotlib: pip install matplotlib (or the bench, sb3 or train extra)") from error
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path: str | os.PathLike, dpi: int = 110) -> Path:
    path = Path(path)
    figure.tight_layout()
    figure.savefig(path, dpi=dpi)
    pyplot().close(figure)
    return path


def plot_tradeoff(rows: list[Mapping], path: str | os.PathLike, series: Callable[[Mapping], str]) -> Path:
    """Left: accuracy against advice rate, each point marked with its advice cost; right: total score against
    the advice cost. One line per `series(row)` through its rows (by cost); each row needs advice_cost,
    advice_rate, accuracy and total_score. Writes a PNG to `path` and returns it."""
    plt = pyplot()
    lines: dict[tuple[str, str | None], list[Mapping]] = {}
    for row in rows:
        figure_of = row.get("category") if row.get("category") in (MEAN_OF_CATEGORIES, QUESTION_WEIGHTED) else None
        lines.setdefault((series(row), figure_of), []).append(row)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    names = sorted({name for name, _ in lines})
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for (name, figure_of), points in sorted(lines.items(), key=lambda item: (item[0][0], item[0][1] or "")):
        points = sorted(points, key=lambda r: r["advice_cost"])
        style = {"color": colours[names.index(name) % len(colours)], "marker": "o",
                 "linestyle": "--" if figure_of == QUESTION_WEIGHTED else "-",
                 "label": f"{name} ({figure_of})" if figure_of else name}
        left.plot([r["advice_rate"] for r in points], [r["accuracy"] for r in points], **style)
        if figure_of != QUESTION_WEIGHTED:
            for r in points:
                left.annotate(f"c={r['advice_cost']:g}", (r["advice_rate"], r["accuracy"]), fontsize=7,
                              textcoords="offset points", xytext=(3, 3))
        right.plot([r["advice_cost"] for r in points], [r["total_score"] for r in points], **style)
    left.set(xlabel="advice rate", ylabel="accuracy", title="accuracy / advice-rate trade-off")
    right.set(xlabel="advice cost c", ylabel="total score", title="total score across advice costs")
    for axis in (left, right):
        axis.grid(alpha=0.3)
    if lines:
        right.legend(fontsize=7, loc="best")
    return save_figure(figure, path)
