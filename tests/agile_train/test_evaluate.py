import json

import pytest

from agile_train.config import EnvConfig, EvalConfig, ModelConfig
from agile_train.evaluate import aggregate, evaluate, main
from agile_train.ppo import train_ppo
from tests.agile_train.conftest import TOY_ENV, toy_config

TINY = dict(tiny_vocab_size=64, tiny_hidden_size=64, tiny_general_words=0, max_new_tokens=1)


def test_evaluate_reports_the_paper_metrics_on_an_agile_env(tmp_path):
    output = tmp_path / "eval.json"
    code = main(["--env-kwargs", '{"max_questions": 6}', "--max-new-tokens", "4", "--tiny-vocab-size", "300",
                 "--num-envs", "2", "--output", str(output)])
    assert code == 0
    report = json.loads(output.read_text())
    for key in ("accuracy", "advice_rate", "total_score", "invalid_action_rate", "per_type"):
        assert key in report
    # The default split is test: its two built-in categories, one session each, 6 questions per session.
    assert report["questions"] == 12 and report["sessions"] == 2 and report["env_copies"] == 2
    assert report["data"]["split"] == "test" and report["data"]["categories"] == ["kettles", "tents"]
    assert report["total_score"] == pytest.approx(report["accuracy"] - 0.3 * report["advice_rate"])


def test_copies_take_whole_sessions_so_the_metrics_do_not_depend_on_their_number(tmp_path, capsys):
    env = EnvConfig(env_kwargs='{"split": "train", "max_questions": 3}')  # 4 built-in train categories
    model = ModelConfig(tiny_vocab_size=300, tiny_hidden_size=64, tiny_general_words=0, max_new_tokens=4)
    one = evaluate(env, model, EvalConfig(num_envs=1), progress=True)
    assert "12/12" in capsys.readouterr().err  # the bar counts questions towards a known total
    four = evaluate(env, model, EvalConfig(num_envs=4), progress=False)
    assert one["sessions"] == four["sessions"] == 4 and four["env_copies"] == 4 and one["questions"] == 12
    keys = ("questions", "accuracy", "advice_rate", "total_score", "invalid_action_rate", "per_type", "mean_return")
    assert {k: one[k] for k in keys} == {k: four[k] for k in keys}
    fewer = evaluate(EnvConfig(env_kwargs='{"category": "kettles", "max_questions": 2}'), model,
                     EvalConfig(num_envs=4), progress=False)
    assert fewer["env_copies"] == 1 and fewer["questions"] == 2
    assert "runs 1 env copies, not --num-envs 4: only 1 session(s)" in capsys.readouterr().err


def test_an_adapter_trained_by_ppo_is_evaluated_with_its_recorded_base_model(tmp_path):
    train_ppo(*toy_config(tmp_path, iterations=25, lora_r=8, learning_rate=3e-3, checkpoint_every=25), progress=False)
    env = EnvConfig(env=TOY_ENV, env_kwargs='{"length": 20}')
    trained = evaluate(env, ModelConfig(**TINY), EvalConfig(adapter=str(tmp_path / "run"), num_envs=4, orders=4),
                       progress=False)
    plain = evaluate(env, ModelConfig(**TINY), EvalConfig(num_envs=4, orders=4), progress=False)
    assert trained["adapter"] and trained["sessions"] == 4
    assert trained["mean_return"] > plain["mean_return"] + 2.0, (trained["mean_return"], plain["mean_return"])


def test_metrics_are_weighted_by_questions():
    small = {"questions": 1, "accuracy": 1.0, "advice_rate": 1.0, "total_score": 0.7, "invalid_action_rate": 0.0,
             "per_type": {"fact_qa": {"questions": 1, "accuracy": 1.0, "advice_rate": 1.0}}}
    large = {"questions": 3, "accuracy": 0.0, "advice_rate": 0.0, "total_score": 0.0, "invalid_action_rate": 1.0,
             "per_type": {"fact_qa": {"questions": 3, "accuracy": 0.0, "advice_rate": 0.0}}}
    report = aggregate([small, large], [0.7, 0.0])
    assert report["accuracy"] == pytest.approx(0.25) and report["total_score"] == pytest.approx(0.175)
    fact = report["per_type"]["fact_qa"]
    assert fact["questions"] == 4
    assert fact["accuracy"] == pytest.approx(0.25) and fact["advice_rate"] == pytest.approx(0.25)


def test_a_missing_adapter_is_a_clear_error(tmp_path, capsys):
    assert main(["--env", TOY_ENV, "--env-kwargs", "{}", "--adapter", str(tmp_path)]) == 2
    assert "neither a LoRA adapter folder" in capsys.readouterr().err
