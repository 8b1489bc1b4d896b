import pytest

from agile_gym import results
from agile_gym.results import cell, markdown_table, metric_columns, plot_tradeoff


def test_markdown_table_formats_every_value_one_way():
    rows = [{"name": "a", "score": 0.12345, "count": 3, "missing": None, "per_type": {"fact_qa": {"accuracy": 1.0}}},
            {"name": "b", "score": 1.0, "count": 0, "per_type": {}}]
    table = markdown_table(rows, {"name": "name", "score": "score", "n": "count", "gone": "missing",
                                  "twice": lambda row: cell(row["score"] * 2, 1)})
    assert table.splitlines() == ["| name | score | n | gone | twice |", "|---|---|---|---|---|",
                                  "| a | 0.123 | 3 | - | 0.2 |", "| b | 1.000 | 0 | - | 2.0 |"]
    paper = markdown_table(rows, metric_columns(["fact_qa"])).splitlines()
    assert paper[0] == "| questions | accuracy | advice rate | total score | invalid | acc fact_qa |"
    assert paper[2].endswith("| 1.000 |") and paper[3].endswith("| - |")


def _captured_figure(monkeypatch):
    captured = {}

    def keep(figure, path, dpi=110):
        captured["figure"] = figure
        return path

    monkeypatch.setattr(results, "save_figure", keep)
    return captured


def test_the_tradeoff_plot_draws_both_headline_figures_labelled(monkeypatch, tmp_path):
    pytest.importorskip("matplotlib")
    captured = _captured_figure(monkeypatch)
    rows = [{"agent": "expert", "category": category, "advice_cost": cost, "advice_rate": rate, "accuracy": 1.0,
             "total_score": 1 - cost * rate}
            for category, rate in (("mean of categories", 0.2), ("question-weighted", 0.1)) for cost in (0.1, 0.5)]
    rows.append({"agent": "oracle", "advice_cost": 0.3, "advice_rate": 0.0, "accuracy": 1.0, "total_score": 1.0})
    plot_tradeoff(rows, tmp_path / "tradeoff.png", series=lambda row: row["agent"])
    right = captured["figure"].axes[1]
    drawn = {line.get_label(): (line.get_linestyle(), list(line.get_xdata()), list(line.get_ydata()))
             for line in right.get_lines()}
    assert drawn == {"expert (mean of categories)": ("-", [0.1, 0.5], [1 - 0.02, 1 - 0.1]),
                     "expert (question-weighted)": ("--", [0.1, 0.5], [1 - 0.01, 1 - 0.05]),
                     "oracle": ("-", [0.3], [1.0])}
    colours = {line.get_label(): line.get_color() for line in right.get_lines()}
    assert colours["expert (mean of categories)"] == colours["expert (question-weighted)"] != colours["oracle"]


def test_the_tradeoff_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    point = {"policy": "p", "advice_cost": 0.3, "advice_rate": 0.5, "accuracy": 0.9, "total_score": 0.75}
    path = plot_tradeoff([point], tmp_path / "t.png", series=lambda row: row["policy"])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"



def _crowded_rows(costs):
    """12 series (6 agents x 2 headline figures), several of them on the same points at every cost."""
    rows = []
    for index, agent in enumerate(["a", "b", "c", "d", "e", "f"]):
        for cost in costs:
            for category, shift in (("mean of categories", 0.0), ("question-weighted", 0.01)):
                rate = 1.0 if agent == "a" else 0.3 + 0.01 * index - 0.05 * cost  # a: one point at every cost
                rows.append({"agent": agent, "category": category, "advice_cost": cost, "advice_rate": rate + shift,
                             "accuracy": 0.8 + 0.002 * index, "total_score": 0.8 - cost * rate})
    return rows


def test_tradeoff_series_are_distinct_labels_do_not_overlap_and_both_panels_have_legends(monkeypatch, tmp_path):
    pytest.importorskip("matplotlib")
    captured = {}

    def keep(figure, path, dpi=110):
        figure.tight_layout()
        figure.canvas.draw()
        captured["figure"] = figure
        return path

    monkeypatch.setattr(results, "save_figure", keep)
    plot_tradeoff(_crowded_rows([0.1, 0.3, 0.5, 0.7]), tmp_path / "t.png", series=lambda row: row["agent"])
    left, right = captured["figure"].axes
    styles = {(line.get_color(), line.get_marker()) for line in right.get_lines()}
    assert len(styles) == 6  # one per agent; its two headline figures differ by line style only
    assert {line.get_linestyle() for line in right.get_lines()} == {"-", "--"}
    for axis in (left, right):
        assert axis.get_legend() is not None and len(axis.get_legend().get_texts()) == 12
    renderer = captured["figure"].canvas.get_renderer()
    labels = [text for text in left.texts if text.get_text().startswith("c=")]
    assert "c=0.1, 0.3, 0.5, 0.7" in {text.get_text() for text in labels}  # agent a's one point, one label
    boxes = [text.get_window_extent(renderer) for text in labels]
    overlapping = [(labels[i].get_text(), labels[j].get_text()) for i in range(len(boxes))
                   for j in range(i + 1, len(boxes)) if boxes[i].overlaps(boxes[j])]
    assert len(labels) == 1 + 5 * 4 and overlapping == []


def test_a_one_cost_tradeoff_draws_bars_of_total_score(monkeypatch, tmp_path):
    pytest.importorskip("matplotlib")
    captured = _captured_figure(monkeypatch)
    rows = _crowded_rows([0.3])
    plot_tradeoff(rows, tmp_path / "t.png", series=lambda row: row["agent"])
    left, right = captured["figure"].axes
    assert right.get_title() == "total score at c = 0.3" and not right.get_lines()
    assert sorted(bar.get_width() for bar in right.patches) == pytest.approx(sorted(r["total_score"] for r in rows))
    assert not [text for text in left.texts if text.get_text().startswith("c=")]  # the title says the cost


def test_series_styles_are_distinct_for_many_series():
    pytest.importorskip("matplotlib")
    styles = results.series_styles(f"series {i}" for i in range(40))
    assert len({(tuple(s["color"]), s["marker"]) for s in styles.values()}) == 40
    assert len({tuple(s["color"]) for s in list(styles.values())[:20]}) == 20
