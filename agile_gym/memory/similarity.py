"""Which questions of a session resemble each other: the counts behind AGILE's heuristic state advantage.

Two questions are similar when they share a scope (a ProductQA category; knowledge is kept per scope) and
either the Jaccard overlap of their word sets (`agile_gym.memory.retrieval.tokenize`: lower-cased, stemmed, no
stopwords) reaches a threshold (`similarity_counts`), or, as the paper counts "similar history" with dense
retrieval, the cosine similarity of their sentence embeddings does (`embedding_similarity_counts`). For
each question the paper's heuristic advantage (Appendix A)
A_i = beta * 1[similar questions come later] / (similar questions already in memory + 1) needs two numbers:
how many similar questions come after it and how many came before it (`agile_gym.wrappers.SessionAdvantage`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from agile_gym.memory.embeddings import PAPER_MODEL, shared_encoder
from agile_gym.memory.retrieval import tokenize

JACCARD_THRESHOLD = 0.5
"""Default word-set overlap for two questions to count as similar."""
COSINE_THRESHOLD = 0.75
"""Default embedding cosine for two questions to count as similar (all-MiniLM-L6-v2). Chosen on the release's
train categories by benchmarks/memory_quality.py: the best balanced accuracy (0.763) between paraphrase pairs
(similar, 70% above it) and look-alike pairs (not similar, 83% below it); Jaccard >= 0.5 scores 0.643 there."""


@lru_cache(maxsize=1 << 17)
def word_set(text: str) -> frozenset[str]:
    """The set of `tokenize(text)`: the words a similarity compares (cached; sessions repeat questions)."""
    return frozenset(tokenize(text))


def _counts_by_scope(texts: Sequence[str], scopes: Sequence[str]):
    """Zeroed (later, earlier) count arrays and the positions of each scope, in session order."""
    if len(texts) != len(scopes):
        raise ValueError(f"texts and scopes must have the same length, got {len(texts)} and {len(scopes)}")
    by_scope: dict[str, list[int]] = {}
    for position, scope in enumerate(scopes):
        by_scope.setdefault(scope, []).append(position)
    return np.zeros(len(texts), dtype=np.int64), np.zeros(len(texts), dtype=np.int64), by_scope


def similarity_counts(texts: Sequence[str], scopes: Sequence[str], threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Per position i: (later[i], earlier[i]), how many questions after and before i are similar to it.

    `texts[i]` and `scopes[i]` describe question i in session order; a question is never similar to itself.
    Returns two int64 arrays of `len(texts)`; a question whose text has no words gets (0, 0). An inverted index
    per scope keeps this near-linear in practice instead of comparing all pairs.
    """
    later, earlier, by_scope = _counts_by_scope(texts, scopes)
    for positions in by_scope.values():
        word_sets = [word_set(texts[p]) for p in positions]
        postings: dict[str, list[int]] = {}
        for local, words in enumerate(word_sets):
            for word in words:
                postings.setdefault(word, []).append(local)
        arrays = {word: np.asarray(locals_, dtype=np.int64) for word, locals_ in postings.items()}
        sizes = np.asarray([len(words) for words in word_sets], dtype=np.float64)
        for local, words in enumerate(word_sets):
            if not words:
                continue
            shared = np.bincount(np.concatenate([arrays[word] for word in words]), minlength=len(positions))
            union = sizes[local] + sizes - shared
            similar = shared / np.maximum(union, 1) >= threshold
            similar[local] = False
            later[positions[local]] = int(similar[local + 1:].sum())
            earlier[positions[local]] = int(similar[:local].sum())
    return later, earlier


def embedding_similarity_counts(
    texts: Sequence[str], scopes: Sequence[str], threshold: float, model: str = PAPER_MODEL
) -> tuple[np.ndarray, np.ndarray]:
    """As `similarity_counts`, with similar meaning a cosine similarity of at least `threshold` between the
    texts' sentence embeddings (`model`, embedded in batches and cached: `agile_gym.memory.embeddings`).
    One `[n, n]` matrix product per scope."""
    later, earlier, by_scope = _counts_by_scope(texts, scopes)
    encoder = shared_encoder(model)
    for positions in by_scope.values():
        vectors = encoder.encode([texts[p] for p in positions])
        similar = vectors @ vectors.T >= threshold
        np.fill_diagonal(similar, False)
        idx = np.asarray(positions)
        later[idx] = np.triu(similar, 1).sum(axis=1)
        earlier[idx] = np.tril(similar, -1).sum(axis=1)
    return later, earlier


__all__ = [
    "COSINE_THRESHOLD", "JACCARD_THRESHOLD", "embedding_similarity_counts", "similarity_counts", "word_set",
]
