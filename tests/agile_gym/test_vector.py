"""Gymnasium vector envs over the text spaces: the async path must return the same text as the sync path."""

import gymnasium as gym
import numpy as np
import pytest

import agile_gym  # noqa: F401

SCRIPT = ["[SeekAdvice]", "[Reflection]: kettles under $100 exist", "[PredictAnswer]\n[Answer]: yes",
          "no tag at all", "[SeekAdvice]", "[NoInformation]", "[PredictAnswer]\n[Answer]: Größe 中 °C"]


def play(mode: str, env_id: str, steps: int, **kwargs):
    envs = gym.make_vec(env_id, num_envs=3, vectorization_mode=mode, **kwargs)
    observations, _ = envs.reset(seed=7)
    trace = [tuple(observations)]
    for step in range(steps):
        actions = tuple(SCRIPT[(step + i) % len(SCRIPT)] for i in range(envs.num_envs))
        observations, rewards, terminated, truncated, infos = envs.step(actions)
        trace.append((tuple(observations), rewards.tolist(), terminated.tolist(), truncated.tolist(),
                      infos["metrics"]["questions"].tolist(), infos["phase"].tolist()))
    envs.close()
    return trace


@pytest.mark.parametrize("env_id", ["agile/ProductQA-v2", "agile/MedMCQA-v2"])
def test_async_returns_the_same_text_as_sync_through_autoreset(env_id):
    # max_questions=2 ends episodes every few steps, so autoreset happens inside the compared stretch.
    kwargs = {"max_questions": 2, "shuffle": True}
    sync, asynchronous = play("sync", env_id, 14, **kwargs), play("async", env_id, 14, **kwargs)
    assert asynchronous == sync
    assert all(len(text) > 50 for text in sync[0])
    assert any(any(step[3]) for step in sync[1:])  # some sub-env truncated and was reset


def test_each_sub_env_is_seeded_from_the_reset_seed():
    envs = gym.make_vec("agile/ProductQA-v2", num_envs=3, vectorization_mode="async", shuffle=True)
    observations, _ = envs.reset(seed=11)
    envs.close()
    for i, observation in enumerate(observations):
        single = gym.make("agile/ProductQA-v2", shuffle=True)
        assert single.reset(seed=11 + i)[0] == observation
    assert len(set(observations)) > 1


def test_without_copy_the_observations_are_a_live_view_of_the_current_text():
    envs = gym.make_vec("agile/ProductQA-v2", num_envs=2, vectorization_mode="async", vector_kwargs={"copy": False})
    first, _ = envs.reset(seed=0)
    before = tuple(first)
    second, *_ = envs.step(("[SeekAdvice]", "[SeekAdvice]"))
    assert tuple(second) != before and "Reflect on this question" in second[0]
    envs.close()


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_sub_env_that_raises_surfaces_the_error_and_closes_cleanly():
    envs = gym.make_vec("agile/ProductQA-v2", num_envs=2, vectorization_mode="async")
    envs.reset(seed=0)
    with pytest.raises(TypeError, match="actions are text"):
        envs.step(("[SeekAdvice]", 123))
    envs.close()
    assert envs.closed


# A lone surrogate is a `str` that UTF-8 cannot carry; a pair spells one character. They come back in later
# observations (the reflection as knowledge), where the async shared-memory path once crashed its worker.
UNENCODABLE = ["[SeekAdvice]", "[Reflection]: kettle vitamin deficiency \udfff lesson \ud83d\ude00",
               "[PredictAnswer]\n[Answer]: kettle \ud800 boil"]


def play_unencodable(mode: str, env_id: str, steps: int = 7) -> list:
    kwargs = {}
    if mode == "single":
        env = gym.make(env_id, **kwargs)
        trace = [env.reset(seed=3)[0]]
        trace += [env.step(UNENCODABLE[step % 3])[0] for step in range(steps)]
        env.close()
        return trace
    vectorization, shared = mode.split("-") if "-" in mode else (mode, "shared")
    envs = gym.make_vec(env_id, num_envs=2, vectorization_mode=vectorization,
                        vector_kwargs={"shared_memory": shared == "shared"} if vectorization == "async" else {},
                        **kwargs)
    trace = [tuple(envs.reset(seed=3)[0])[0]]
    trace += [tuple(envs.step((UNENCODABLE[step % 3],) * 2)[0])[0] for step in range(steps)]
    envs.close()
    return trace


@pytest.mark.parametrize("env_id", ["agile/ProductQA-v2", "agile/MedMCQA-v2"])
def test_text_utf8_cannot_carry_is_replaced_the_same_way_in_every_vector_mode(env_id):
    from agile_gym.spaces import encodable_text

    traces = {mode: play_unencodable(mode, env_id) for mode in ("single", "sync", "async-shared", "async-pipes")}
    assert traces["sync"] == traces["single"] and traces["async-shared"] == traces["single"]
    assert traces["async-pipes"] == traces["single"]
    texts = traces["single"]
    assert all(encodable_text(text) == text for text in texts)  # nothing UTF-8 cannot carry is left
    assert any("deficiency \ufffd lesson \U0001F600" in text for text in texts)  # replaced, the pair joined


def test_lone_surrogate_escapes_in_the_data_are_replaced_with_a_warning(tmp_path):
    import shutil

    from agile_gym.data.builtin import builtin_productqa_root
    from agile_gym.data.types import DataQualityWarning
    from agile_gym.spaces import encodable_text

    data = tmp_path / "data"
    shutil.copytree(builtin_productqa_root(), data)
    qa, metadata = sorted(data.rglob("qa.jsonl"))[0], sorted(data.rglob("metadata.json"))[0]
    lines = qa.read_text().splitlines()
    lines[0] = lines[0].replace('"question": "', '"question": "kettle \\ud800 boil ', 1)  # the JSON escape
    qa.write_text("\n".join(lines) + "\n")
    metadata.write_text(metadata.read_text().replace('"title": "', '"title": "\\udfff ', 1))
    with pytest.warns(DataQualityWarning) as caught:
        envs = gym.make_vec("agile/ProductQA-v2", num_envs=2, vectorization_mode="async", data_dir=str(data),
                            vector_kwargs={"shared_memory": True})
    messages = [str(warning.message) for warning in caught if warning.category is DataQualityWarning]
    assert any(f"{qa}:1: 'question' holds a lone surrogate escape" in m for m in messages)
    assert any(f"{metadata}: 'title' holds a lone surrogate escape" in m for m in messages)
    observations, _ = envs.reset(seed=0)
    texts = list(observations)
    for _ in range(4):
        texts += envs.step(("[SearchProduct]\n[SQL]: SELECT title FROM products", "[SeekAdvice]"))[0]
    envs.close()
    assert all(encodable_text(text) == text for text in texts) and any("\ufffd" in text for text in texts)


def test_free_text_shared_memory_round_trips_any_unicode():
    from gymnasium.vector.utils import create_shared_memory, read_from_shared_memory, write_to_shared_memory

    from agile_gym.spaces import FreeText

    space = FreeText(32)
    memory = create_shared_memory(space, n=4)
    texts = ["", "Größe 中 °C \U0001F600", "x" * 32, "lone \ud800 surrogates \udfff"]  # every str, exactly
    for i, text in enumerate(texts):
        write_to_shared_memory(space, i, text, memory)
    assert tuple(read_from_shared_memory(space, memory, n=4)) == tuple(texts)
    with pytest.raises(ValueError, match="not in FreeText"):
        write_to_shared_memory(space, 0, "y" * 33, memory)
    assert np.frombuffer(memory.get_obj(), dtype=np.int32).size == 4 * 33
