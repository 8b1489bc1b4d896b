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

