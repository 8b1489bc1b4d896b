"""TRL 1.16's GRPOTrainer on the agile envs, with the tiny tool-calling model: the multi-turn path through
`environment_factory` and the single-turn path through `single_turn`, 2 GRPO steps each on the CPU, and TRL's own
tool listing (the no-route-to-the-gold test)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("trl", reason="the integrations extra is not installed: pip install -e '.[integrations]'")

from agile_gym.integrations.trl import environment_factory, session_dataset, single_turn  # noqa: E402
from tests.integrations.tiny_tools import ENV_ID, ENV_KWARGS, tiny_tool_model  # noqa: E402

# Names that would reach the gold or the env itself, if TRL ever listed them as tools.
FORBIDDEN = {"step", "render", "close", "expert", "similar_questions", "unwrapped", "get_wrapper_attr",
             "set_wrapper_attr", "memory", "np_random"}


@pytest.fixture(scope="module")
def model_path() -> Path:
    with pytest.MonkeyPatch.context() as patch:  # module-scoped: before conftest's per-test built-in data switch
        patch.delenv("AGILE_DATA_DIR", raising=False)
        return tiny_tool_model(Path(os.environ["AGILE_CACHE_DIR"]))


def _trainer(model_path: Path, tmp_path: Path, **kwargs):
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from transformers import AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    args = GRPOConfig(output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=4, num_generations=4,
                      max_completion_length=40, max_tool_calling_iterations=2, learning_rate=1e-4, use_cpu=True,
                      report_to=[], logging_steps=1, save_strategy="no", seed=0, temperature=1.0,
                      dataloader_num_workers=0)
    return GRPOTrainer(model=str(model_path), args=args, processing_class=AutoTokenizer.from_pretrained(model_path),
                       **kwargs)


@pytest.mark.parametrize("env_id, expected", [
    ("agile/ProductQA-v2", ["answer", "reflect", "search_products", "seek_advice"]),
    ("agile/MedMCQA-v2", ["answer", "reflect", "seek_advice"]),
])
def test_trl_lists_only_the_action_tools(model_path, tmp_path, env_id, expected):
    factory = environment_factory(env_id, max_questions=1)
    trainer = _trainer(model_path, tmp_path, train_dataset=session_dataset(4), environment_factory=factory)
    listed = sorted(tool.__name__ for tool in trainer._env_tools[None])
    assert listed == expected
    assert not FORBIDDEN & set(listed)
    assert trainer.reward_func_names == [factory.__name__]


def test_trl_multi_turn_grpo_reaches_env_step_and_rewards_vary(model_path, tmp_path):
    factory = environment_factory(ENV_ID, **ENV_KWARGS)
    trainer = _trainer(model_path, tmp_path, train_dataset=session_dataset(8), environment_factory=factory)
    trainer.train()
    steps = sum(env._session.steps for env in trainer._environment_pool[None])
    assert steps >= 1, "no tool call reached env.step"
    logged = [entry for entry in trainer.state.log_history if "reward_std" in entry]
    assert len(logged) == 2
    assert max(entry["reward_std"] for entry in logged) > 0, logged


def test_trl_single_turn_grpo_runs_and_rewards_are_the_envs(model_path, tmp_path):
    dataset, reward = single_turn(ENV_ID, max_questions=4)
    assert len(dataset) == 4 and dataset[0]["question_index"] == 0
    # The reward is the env's: its own gold action scores 1, text without an action 0, advice 1 - cost (0.4).
    import gymnasium

    env = gymnasium.make(ENV_ID, max_questions=4).unwrapped
    env.reset(seed=0)
    gold = env.expert().answer_action
    assert reward([gold, "no idea", "[SeekAdvice]"], [0, 0, 0]) == [1.0, 0.0, pytest.approx(0.6)]
    trainer = _trainer(model_path, tmp_path, train_dataset=dataset, reward_funcs=reward)
    trainer.train()
    assert len([entry for entry in trainer.state.log_history if "reward" in entry]) == 2
