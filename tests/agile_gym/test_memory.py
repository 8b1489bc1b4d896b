import numpy as np
import pytest

from agile_gym.memory.retrieval import BM25Retriever, BM25sRetriever, retriever_factory, tokenize
from agile_gym.memory.store import Memory

CORPUS = [
    "Does this lamp flicker on the lowest setting?",
    "Which brand makes this kettle?",
    "Is the kettle handle hot near the lid?",
    "kettles with automatic shutoff are safe if forgotten",
    "Will the tent fly sag in the rain?",
    "a gooseneck spout gives a slow precise pour for coffee",
    "Is this backpack waterproof in heavy rain?",
]


def test_ranking_matches_the_bm25s_library():
    ours, reference = BM25Retriever(), BM25sRetriever()
    for text in CORPUS:
        ours.add(text)
        reference.add(text)
    for query in ["is the kettle safe", "rain", "coffee pour spout", "flicker lamp brand"]:
        a, b = ours.search(query, 3), reference.search(query, 3)
        assert [i for i, _ in a] == [i for i, _ in b]
        np.testing.assert_allclose([s for _, s in a], [s for _, s in b], rtol=1e-4)


def test_search_ranks_the_relevant_entry_first_and_skips_unrelated():
    index = BM25Retriever()
    for text in CORPUS:
        index.add(text)
    assert index.search("Is this kettle safe if I forget it?", 1)[0][0] == 3
    assert index.search("zebra quantum", 5) == []
    assert tokenize("Kettles, the KETTLE!") == ["kettl", "kettl"]


def test_truncate_restores_exact_scores():
    index = BM25Retriever()
    for text in CORPUS[:4]:
        index.add(text)
    before = index.search("kettle handle", 4)
    for text in CORPUS[4:]:
        index.add(text)
    index.truncate(4)
    assert len(index) == 4 and index.search("kettle handle", 4) == before


def test_memory_checkpoint_and_restore_keeps_preloaded_entries_only():
    memory = Memory()
    memory.add_history("p1", "Is it red?", "yes")
    memory.add_knowledge("cat", "red things are bright")
    memory.checkpoint()
    memory.add_history("p1", "Is it blue?", "no")
    memory.add_history("p2", "Is it big?", "no")
    memory.add_knowledge("cat", "blue things are calm")
    memory.restore()
    assert memory.history_size() == 1 and memory.knowledge_size() == 1
    got = memory.retrieve("is it red", "p1", "cat", 5, 5)
    assert [e.answer for e, _ in got.history] == ["yes"]
    assert memory.retrieve("big", "p2", "cat", 5, 5).history == ()


def test_history_is_private_to_its_key():
    memory = Memory()
    memory.add_history("p1", "Does the lid leak?", "yes")
    assert memory.retrieve("Does the lid leak?", "p2", "cat", 3, 3).history == ()


def test_unknown_retriever_name_is_rejected():
    with pytest.raises(ValueError, match="unknown retriever"):
        retriever_factory("tfidf")


def test_similarity_counts_are_jaccard_of_word_sets_within_a_scope():
    from agile_gym.memory.similarity import similarity_counts

    # Word sets: {red, kettl, handl}, {red, kettl, handl, hot} (Jaccard 3/4 with the first), {blue, tent},
    # the first text again but in another scope, and a text of stopwords only (no words).
    texts = ["red kettle handle", "Red kettles: handle hot?", "blue tent", "red kettle handle", "is it the"]
    scopes = ["a", "a", "a", "b", "a"]
    later, earlier = similarity_counts(texts, scopes, 0.75)
    assert later.tolist() == [1, 0, 0, 0, 0] and earlier.tolist() == [0, 1, 0, 0, 0]
    later, earlier = similarity_counts(texts, scopes, 0.76)
    assert later.tolist() == earlier.tolist() == [0, 0, 0, 0, 0]
    with pytest.raises(ValueError, match="same length"):
        similarity_counts(texts, scopes[:2], 0.5)
