import json
import subprocess
import sys

import pytest

from agile_train.config import EnvConfig, ModelConfig, PPOConfig
from agile_train.metrics import GLOSSARY, read_metrics
from agile_train.ppo import main, train_ppo
from tests.agile_train.conftest import TOY_ENV, toy_config

SFT_ONLY = {"epoch", "loss/sft_avg", "tokens"}
QUESTION_METRICS = {"env/accuracy", "env/advice_rate", "env/total_score", "env/invalid_action_rate", "env/questions"}

TIMING = ("time/", "throughput/")


def _comparable(record: dict) -> dict:
    return {k: v for k, v in record.items() if not k.startswith(TIMING)}


def test_ppo_learns_to_say_the_named_word(tmp_path):
    """Saying one fixed word earns at most 0.5; only reading the observation earns more."""
    history = train_ppo(*toy_config(tmp_path, iterations=25), progress=False)
    rewards = [record["env/reward_mean"] for record in history]
    start, end = sum(rewards[:3]) / 3, sum(rewards[-5:]) / 5
    assert start < 0.35, f"the untrained policy already scores {start}"
    assert end > 0.75, f"PPO did not learn: mean reward {start:.2f} -> {end:.2f}"


def test_same_seed_gives_the_same_curve(tmp_path):
    first = train_ppo(*toy_config(tmp_path / "a", iterations=3), progress=False)
    second = train_ppo(*toy_config(tmp_path / "b", iterations=3), progress=False)
    assert [_comparable(r) for r in first] == [_comparable(r) for r in second]
    other = train_ppo(*toy_config(tmp_path / "c", iterations=3, seed=1), progress=False)
    assert [_comparable(r) for r in other] != [_comparable(r) for r in first]


@pytest.mark.parametrize("lora_r", [0, 4])
def test_resumed_run_continues_exactly_like_an_uninterrupted_one(tmp_path, lora_r):
    common = dict(lora_r=lora_r, checkpoint_every=2, max_new_tokens=2, env_kwargs='{"length": 3}')
    full = train_ppo(*toy_config(tmp_path / "full", iterations=4, **common), progress=False)
    train_ppo(*toy_config(tmp_path / "split", iterations=2, **common), progress=False)
    # Only the run folder, the iteration count and the device are given: the saved configs supply the rest.
    resumed = train_ppo(EnvConfig(), ModelConfig(device="cpu"),
                        PPOConfig(output_dir=str(tmp_path / "split" / "run"), iterations=4, resume=True),
                        progress=False)
    assert [r["iteration"] for r in resumed] == [3, 4]
    assert [_comparable(r) for r in resumed] == [_comparable(r) for r in full[2:]]
    logged = read_metrics(tmp_path / "split" / "run")
    assert [r["iteration"] for r in logged] == [1, 2, 3, 4]


def test_run_folder_holds_config_metrics_tensorboard_and_a_loadable_adapter(tmp_path):
    torch = pytest.importorskip("torch")
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = toy_config(tmp_path, iterations=2, lora_r=4, max_new_tokens=2)
    train_ppo(*config, progress=False)
    run = tmp_path / "run"
    saved = json.loads((run / "config.json").read_text())
    assert saved["model"]["lora_r"] == 4 and saved["env"]["env"] == TOY_ENV and saved["ppo"]["iterations"] == 2
    record = read_metrics(run)[-1]
    logged = set(record) - {"iteration"}
    assert logged <= set(GLOSSARY), f"logged but not in the glossary: {logged - set(GLOSSARY)}"
    # The toy env settles no questions, so the per-question env/ metrics are the only ones it may lack.
    assert set(GLOSSARY) - SFT_ONLY - logged == QUESTION_METRICS
    for name in ("objective/kl", "objective/entropy", "policy/clipfrac_avg", "policy/approxkl_avg", "loss/policy_avg",
                 "loss/value_avg", "val/clipfrac_avg", "val/explained_variance", "env/reward_mean",
                 "throughput/tokens_per_s"):
        assert name in record
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    checkpoint = run / "checkpoints" / (run / "checkpoints" / "latest").read_text().strip()
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    assert state["iteration"] == 2
    # Plain transformers + peft, no agile code: base model from the recorded path, adapter from the checkpoint.
    base = AutoModelForCausalLM.from_pretrained(state["model_path"])
    model = PeftModel.from_pretrained(base, checkpoint / "policy")
    tokenizer = AutoTokenizer.from_pretrained(checkpoint / "policy")
    out = model.generate(**tokenizer("Say: red", return_tensors="pt"), max_new_tokens=2, do_sample=False)
    assert out.shape[1] >= 2
    assert torch.is_tensor(out)


def test_heuristic_session_advantage_runs_on_an_agile_env(tmp_path):
    config = toy_config(tmp_path, env="agile/ProductQA-v2", env_kwargs='{"split": "train", "category": "desk_lamps"}',
                        session_advantage="heuristic", iterations=1, num_envs=2, steps_per_env=2, max_new_tokens=4,
                        tiny_vocab_size=300)
    (record,) = train_ppo(*config, progress=False)
    assert 0.0 <= record["env/accuracy"] <= 1.0 and record["env/questions"] >= 1
    data = json.loads((tmp_path / "run" / "data.json").read_text())  # the run says what it trained on
    assert data["split"] == "train" and data["categories"] == ["desk_lamps"] and data["data"] == "built-in (synthetic)"


def test_the_default_run_trains_on_one_built_in_train_category_and_says_so(tmp_path, capsys):
    from agile_train.ppo import FROM_NOTHING_NOTE

    code = main(["--env-kwargs", '{"max_questions": 2}', "--iterations", "1", "--num-envs", "1", "--steps-per-env",
                 "1", "--max-new-tokens", "2", "--tiny-vocab-size", "300", "--tiny-hidden-size", "64",
                 "--tiny-general-words", "0", "--device", "cpu", "--output-dir", str(tmp_path / "run"), "--quiet"])
    assert code == 0
    out, err = capsys.readouterr()
    assert "train data: agile/ProductQA-v2, split train, categories desk_lamps, 2 questions" in out
    assert FROM_NOTHING_NOTE in out and "agile_train.recipe" in FROM_NOTHING_NOTE
    assert "ppo:" not in err  # --quiet: no progress bar
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["env"]
    assert json.loads(saved["env_kwargs"]) == {"split": "train", "max_questions": 2, "category": "desk_lamps"}


def test_training_on_the_test_split_needs_the_flag(tmp_path):
    config = toy_config(tmp_path, env="agile/ProductQA-v2", env_kwargs='{"split": "test", "category": "kettles"}')
    with pytest.raises(ValueError, match="--allow-test-split"):
        train_ppo(*config, progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"env": "agile/NoSuchEnv-v0"}, "unknown env id"),
        ({"env": "CartPole-v1"}, "text observations and actions"),
        ({"model": "./no/such/model"}, "no such folder"),
        ({"env_kwargs": "{not json"}, "not valid JSON"),
        ({"session_advantage": "heuristic"}, "similar_questions"),
        ({"lora_r": 4, "lora_target_modules": "no_such_proj"}, "--lora-target-modules"),
    ],
)
def test_bad_configuration_fails_at_start_with_a_useful_message(tmp_path, overrides, message):
    with pytest.raises((ValueError, TypeError, FileNotFoundError)) as error:
        train_ppo(*toy_config(tmp_path, **overrides), progress=False)
    assert message in str(error.value)


def test_resume_without_a_checkpoint_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train_ppo(*toy_config(tmp_path, resume=True), progress=False)


def test_cli_help_lists_options_with_defaults():
    out = subprocess.run([sys.executable, "-m", "agile_train.ppo", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for option in ("--env", "--model", "--lora-r", "--session-advantage", "--resume", "--iterations", "--seed"):
        assert option in out
    flat = " ".join(out.split())  # argparse wraps lines anywhere
    assert "{last,concat}" in flat and "{heuristic,value,none}" in flat  # Literal choices are listed
    assert "(default: 128)" in flat


def test_cli_reports_bad_input_without_a_traceback(tmp_path, capsys):
    assert main(["--env", "agile/NoSuchEnv-v0", "--output-dir", str(tmp_path)]) == 2
    assert "unknown env id" in capsys.readouterr().err


def test_env_given_as_module_and_registered_id(tmp_path):
    import gymnasium as gym

    from agile_train.env_factory import env_factory

    if "toy/SayWord-v0" not in gym.registry:
        gym.register("toy/SayWord-v0", entry_point=TOY_ENV)
    env = env_factory("tests.agile_train.toy_env:toy/SayWord-v0", {"length": 2})()
    assert env.unwrapped.length == 2
    with pytest.raises(ValueError, match="registers no env id"):
        env_factory("tests.agile_train.toy_env:Nope-v0", {})
