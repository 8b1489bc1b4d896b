import json

import pytest

from agile_train.recipe import main


def test_recipe_runs_every_stage_and_writes_the_table(tmp_path, capsys):
    code = main([
        "--env-kwargs", '{"split": "train", "category": "desk_lamps", "max_questions": 4}',
        "--test-kwargs", '{"split": "test", "category": "kettles", "max_questions": 3}',
        "--advice-costs", "0.2", "--sft-epochs", "1", "--ppo-iterations", "1", "--max-new-tokens", "8",
        "--tiny-hidden-size", "64", "--output-dir", str(tmp_path), "--quiet",
    ])
    assert code == 0
    out = capsys.readouterr().out
    headers = [line for line in out.splitlines() if line.startswith("stage ")]
    assert headers == ["stage 1/4: SFT on expert sessions at c = 0.2",
                       "stage 2/4: evaluate the untrained and SFT policies at c = 0.2",
                       "stage 3/4: PPO at c = 0.2 (1 iterations)", "stage 4/4: evaluate SFT+PPO at c = 0.2"]
    assert "train data: agile/ProductQA-v2, split train, categories desk_lamps, 4 questions" in out
    assert "test data: agile/ProductQA-v2, split test, categories kettles, 3 questions" in out
    report = json.loads((tmp_path / "results.json").read_text())
    assert [row["stage"] for row in report["results"]] == ["untrained", "sft", "sft+ppo"]
    for row in report["results"]:
        assert row["questions"] == 3 and row["advice_cost"] == 0.2
        assert row["total_score"] == pytest.approx(row["accuracy"] - 0.2 * row["advice_rate"])
    assert "sft+ppo" in (tmp_path / "results.md").read_text()
