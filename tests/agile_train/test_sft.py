import json

import gymnasium as gym
import pytest

from agile_train.config import EnvConfig, EvalConfig, ModelConfig, PPOConfig, SFTConfig
from agile_train.evaluate import evaluate
from agile_train.evaluate import main as evaluate_main
from agile_train.imitation import COLUMNS, expert_trajectories
from agile_train.metrics import GLOSSARY, read_metrics
from agile_train.ppo import train_ppo
from agile_train.sft import main, train_sft

TRAIN = {"split": "train", "category": "desk_lamps"}
HELD_OUT = {"split": "test", "category": "kettles", "max_questions": 12}


def test_imitation_data_holds_the_exact_prompts_the_policy_sees():
    data = expert_trajectories("agile/ProductQA-v2", {**TRAIN, "max_questions": 8}, sessions=2, seed=0)
    assert tuple(data.column_names) == COLUMNS
    assert set(data["session"]) == {0, 1}
    env = gym.make("agile/ProductQA-v2", **TRAIN, max_questions=8)
    observation, _ = env.reset(seed=0)
    assert data["prompt"][0] == observation
    _, _, _, _, info = env.step(data["completion"][0])
    assert info["result"]["correct"]
    assert {"SeekAdvice", "Reflection"} <= set(data["action"]) and "invalid" not in data["action"]
    assert set(data["phase"]) == {"answer", "reflect"}


def test_plain_sft_then_evaluate_writes_valid_actions_on_held_out_questions(tmp_path, monkeypatch, capsys):
    """`python -m agile_train.sft` then `python -m agile_train.evaluate --adapter runs/sft`, defaults only."""
    monkeypatch.chdir(tmp_path)
    assert main(["--quiet"]) == 0
    out = capsys.readouterr().out
    assert "train data: agile/ProductQA-v2, split train, categories backpacks, desk_lamps, headsets, water_bottles" \
        in out
    assert json.loads((tmp_path / "runs/sft/sft_config.json").read_text())["sft"]["learning_rate"] == 1e-3
    assert evaluate_main(["--adapter", "runs/sft", "--output", "eval.json", "--quiet"]) == 0
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["data"]["split"] == "test" and report["data"]["categories"] == ["kettles", "tents"]
    assert report["questions"] == 108
    assert report["invalid_action_rate"] <= 0.1, report
    base = json.loads((tmp_path / "runs/sft/sft_state.json").read_text())["base_model"]
    untrained = evaluate(EnvConfig(env_kwargs=json.dumps(HELD_OUT)), ModelConfig(model=base, max_new_tokens=16),
                         EvalConfig(), progress=False)
    assert untrained["invalid_action_rate"] > 0.9


def test_lora_sft_adapter_feeds_ppo_and_evaluate(tmp_path):
    small = {**TRAIN, "max_questions": 4}
    with pytest.warns(UserWarning, match=r"\d+ of \d+ expert actions are longer than --max-new-tokens 16"):
        assert main(["--env-kwargs", json.dumps(small), "--output-dir", str(tmp_path / "sft"), "--epochs", "1",
                     "--lora-r", "4", "--tiny-hidden-size", "64", "--max-new-tokens", "16"]) == 0
    sft = tmp_path / "sft"
    (logged,) = read_metrics(sft)
    assert set(logged) - {"iteration"} <= set(GLOSSARY) and logged["tokens"] > 0
    assert (sft / "adapter_config.json").exists() and (sft / "value_head.safetensors").exists()
    assert (sft / "imitation_data" / "dataset_info.json").exists()
    (record,) = train_ppo(EnvConfig(env_kwargs=json.dumps(small)),
                          ModelConfig(lora_r=4, max_new_tokens=16, device="cpu"),
                          PPOConfig(init_adapter=str(sft), output_dir=str(tmp_path / "ppo"), iterations=1,
                                    num_envs=2, steps_per_env=2),
                          progress=False)
    assert record["objective/kl"] == pytest.approx(0.0, abs=1e-5), (
        "the reference is not the base model under the adapter"
    )
    report = evaluate(EnvConfig(env_kwargs=json.dumps({**HELD_OUT, "max_questions": 2})),
                      ModelConfig(max_new_tokens=16),
                      EvalConfig(adapter=str(tmp_path / "ppo")), progress=False)
    assert report["questions"] == 2


def test_sft_refuses_a_dataset_without_the_needed_columns(tmp_path):
    from datasets import Dataset

    Dataset.from_dict({"text": ["x"]}).save_to_disk(str(tmp_path / "bad"))
    with pytest.raises(ValueError, match="lacks columns"):
        train_sft(EnvConfig(), ModelConfig(),
                  SFTConfig(dataset=str(tmp_path / "bad"), output_dir=str(tmp_path / "out")), progress=False)
