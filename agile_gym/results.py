"""Showing results: one markdown table and one accuracy / advice-rate trade-off plot.

Both follow the headline rule of `agile_gym.rewards.headline_metrics`: a row whose `category` is
"mean of categories" (the headline, the paper's rule) or "question-weighted" (beside it) is labelled so; the
plot draws the first solid and the second dashed, in the same colour. Every series of every plot gets its own
colour and marker (`series_styles`). matplotlib is an optional extra, imported only when a plot is drawn.
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
    """Lay `figure` out, write it (format from the suffix of `path`), close it and return the path."""
    path = Path(path)
    figure.tight_layout()
    figure.savefig(path, dpi=dpi)
    pyplot().close(figure)
    return path


# Dark shades of tab20 first, then the light ones: 20 colours, neighbours in the list far apart in hue. The
# markers cycle with a length (7) prime to 20, so the first 140 series all differ in colour or marker.
_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def series_styles(names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """A distinct matplotlib style (`color`, `marker`) for each name, in the order given: tab20's 20 colours (dark
    shades first) and 7 markers, so up to 140 series never share both. Every plot of the project uses it."""
    plt = pyplot()
    tab20 = list(plt.get_cmap("tab20").colors)
    colours = tab20[0::2] + tab20[1::2]
    return {name: {"color": colours[i % len(colours)], "marker": _MARKERS[i % len(_MARKERS)]}
            for i, name in enumerate(dict.fromkeys(names))}


def _legend_columns(labels: list[str]) -> int:
    # Two columns fit under a half-width panel while the labels are short.
    return 2 if len(labels) > 1 and max(map(len, labels)) <= 40 else 1


def legend_below(axis) -> None:
    """The legend of `axis`'s labelled artists under it (outside the data, so it hides no point), in one or two
    columns; the figure needs `legend_height(labels)` inches more for it. Nothing when no artist is labelled."""
    labels = axis.get_legend_handles_labels()[1]
    if labels:
        axis.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=_legend_columns(labels),
                    frameon=False)


def legend_height(labels: list[str]) -> float:
    """Inches a `legend_below` with these labels takes."""
    columns = _legend_columns(labels) if labels else 1
    return 0.5 + 0.16 * -(-len(labels) // columns)


# Where a cost label may go, in points from its point (x, y offset, horizontal alignment), nearest first.
_LABEL_SPOTS = [(4 * side, dy, "left" if side > 0 else "right")
                for dy in (4, -11, 13, -20, 22, -29, 31, -38) for side in (1, -1)]


def place_labels(axis, labels: list[tuple[float, float, str]], fontsize: int = 7) -> list:
    """Annotate each (x, y, text) of `labels` on `axis` where its box overlaps no label placed before: the first
    free spot of `_LABEL_SPOTS`, else the least crowded one. Call once the axis limits and the layout are final
(the labels are left out of later layouts).
    Returns the annotation artists."""
    figure = axis.figure
    renderer = figure.canvas.get_renderer()
    placed_boxes: list = []
    artists = []
    for x, y, text in labels:
        best = None
        for dx, dy, align in _LABEL_SPOTS:
            artist = axis.annotate(text, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=fontsize,
                                   ha=align, va="bottom", annotation_clip=False)
            artist.set_in_layout(False)  # a later tight_layout keeps the axes, so the boxes checked stay true
            box = artist.get_window_extent(renderer).expanded(1.05, 1.1)
            crowding = sum(box.overlaps(other) for other in placed_boxes)
            if best is None or crowding < best[0]:
                if best is not None:
                    best[1].remove()
                best = (crowding, artist, box)
            else:
                artist.remove()
            if crowding == 0:
                break
        placed_boxes.append(best[2])
        artists.append(best[1])
    return artists


def plot_tradeoff(rows: list[Mapping], path: str | os.PathLike, series: Callable[[Mapping], str]) -> Path:
    """The accuracy / advice-rate trade-off of `rows`, one line per `series(row)` through its rows (by cost);
    each row needs advice_cost, advice_rate, accuracy and total_score. Writes a PNG to `path` and returns it.

    Left: accuracy against advice rate, each point labelled with its advice cost when there are several (points
    at the same place share one label; labels never overlap). Right: total score against the advice cost, or,
    when every row has the same cost, one bar per line. Rows of the headline rule (`category` "mean of categories", see
    `agile_gym.rewards.headline_metrics`) are solid, "question-weighted" ones dashed in the same colour and style;
    each panel has its legend."""
    plt = pyplot()
    lines: dict[tuple[str, str | None], list[Mapping]] = {}
    for row in rows:
        figure_of = row.get("category") if row.get("category") in (MEAN_OF_CATEGORIES, QUESTION_WEIGHTED) else None
        lines.setdefault((series(row), figure_of), []).append(row)
    ordered = sorted(lines.items(), key=lambda item: (item[0][0], item[0][1] or ""))
    styles = series_styles(name for (name, _), _ in ordered)
    costs = sorted({row["advice_cost"] for row in rows})
    several = len(costs) > 1
    labels = [f"{name} ({figure_of})" if figure_of else name for (name, figure_of), _ in ordered]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4 + legend_height(labels)))
    labelled: dict[tuple[float, float], list[float]] = {}
    for index, ((name, figure_of), points) in enumerate(ordered):
        points = sorted(points, key=lambda r: r["advice_cost"])
        style = {**styles[name], "linestyle": "--" if figure_of == QUESTION_WEIGHTED else "-", "label": labels[index]}
        left.plot([r["advice_rate"] for r in points], [r["accuracy"] for r in points], **style)
        if figure_of != QUESTION_WEIGHTED:
            for r in points:
                spot = labelled.setdefault((round(r["advice_rate"], 4), round(r["accuracy"], 4)), [])
                spot += [r["advice_cost"]] if r["advice_cost"] not in spot else []
        if several:
            right.plot([r["advice_cost"] for r in points], [r["total_score"] for r in points], **style)
        else:
            right.barh(index, points[0]["total_score"], color=style["color"], label=style["label"],
                       hatch="//" if figure_of == QUESTION_WEIGHTED else None, edgecolor="white")
            right.annotate(f"{points[0]['total_score']:.3f}", (points[0]["total_score"], index), fontsize=7,
                           textcoords="offset points", xytext=(3, 0), va="center")
    left.set(xlabel="advice rate", ylabel="accuracy", xlim=(-0.12, 1.15),
             title="accuracy / advice-rate trade-off " + ("(labels: cost c)" if several else
                                                           f"at c = {costs[0]:g}" if costs else ""))
    left.margins(y=0.12)
    if several:
        right.set(xlabel="advice cost c", ylabel="total score", title="total score across advice costs")
    else:
        right.set(xlabel="total score", yticks=[], xlim=(0, 1.12),
                  title=f"total score at c = {costs[0]:g}" if costs else "total score")
        right.invert_yaxis()
    for axis in (left, right):
        axis.grid(alpha=0.3)
        legend_below(axis)
    figure.tight_layout()
    figure.canvas.draw()
    if several:
        place_labels(left, [(x, y, "c=" + ", ".join(f"{c:g}" for c in sorted(spot)))
                            for (x, y), spot in labelled.items()])
    return save_figure(figure, path)
