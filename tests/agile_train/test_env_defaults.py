import json

import pytest

from agile_train.config import EnvConfig
from agile_train.cores import available_cores, use_available_cores
from agile_train.env_defaults import check_train_split, command_defaults, describe_data, with_defaults
from agile_train.env_factory import make_envs


def kwargs_of(env: str, given: dict) -> dict:
    return json.loads(command_defaults(EnvConfig(env=env, env_kwargs=json.dumps(given))).env_kwargs)


def test_user_kwargs_merge_over_each_envs_defaults():
    assert kwargs_of("agile/ProductQA-v2", {}) == {"split": "train", "category": "desk_lamps"}
    assert kwargs_of("agile/ProductQA-v2", {"max_questions": 3}) == {"split": "train", "category": "desk_lamps",
                                                                     "max_questions": 3}
    # A data folder has its own categories: train on its whole train split, never the built-in one's name.
    assert kwargs_of("agile/ProductQA-v2", {"data_dir": "/data"}) == {"split": "train", "data_dir": "/data"}
    assert kwargs_of("agile/ProductQA-v2", {"category": "tents", "split": "test"}) == {"category": "tents",
                                                                                     "split": "test"}
    assert kwargs_of("agile/MedMCQA-v2", {}) == {"split": "train"}  # no ProductQA category for MedMCQA
    assert kwargs_of("tests.agile_train.toy_env:SayWordEnv", {"length": 2}) == {"length": 2}
    assert with_defaults("agile/ProductQA-v2", {}, "eval") == {"split": "test"}
    assert with_defaults("agile/MedMCQA-v2", {}, "eval") == {}


def test_a_data_folder_in_the_environment_drops_the_built_in_category(monkeypatch, tmp_path):
    monkeypatch.setenv("AGILE_DATA_DIR", str(tmp_path))
    assert kwargs_of("agile/ProductQA-v2", {}) == {"split": "train"}


def test_medmcqa_trains_out_of_the_box():
    env = command_defaults(EnvConfig(env="agile/MedMCQA-v2"))
    (made,) = make_envs(env.env, env.kwargs(), 1)
    description = describe_data(env.env, env.kwargs(), made)
    assert description["data"] == "built-in (synthetic)" and description["questions"] > 0


def test_the_test_split_needs_the_flag():
    with pytest.raises(ValueError, match="--allow-test-split"):
        check_train_split({"split": "test"}, allow_test_split=False)
    check_train_split({"split": "test"}, allow_test_split=True)
    check_train_split({"split": "train"}, allow_test_split=False)


def test_torch_threads_follow_the_cores_the_process_may_use_unless_set(monkeypatch):
    import os

    import torch

    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
        torch.set_num_threads(1 if available_cores() > 1 else 2)
        assert use_available_cores() == available_cores() == len(os.sched_getaffinity(0))
        torch.set_num_threads(1)
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        assert use_available_cores() == 1
    finally:
        torch.set_num_threads(before)
