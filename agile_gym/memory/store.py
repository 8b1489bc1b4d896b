"""AGILE's memory: question-answer history per key (a product, or one shared key) and a knowledge list per scope."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agile_gym.memory.retrieval import Retriever, retriever_factory


@dataclass(frozen=True)
class HistoryEntry:
    """A question asked earlier in the session and the answer memory keeps for it."""

    question: str
    answer: str


@dataclass(frozen=True)
class Retrieved:
    """What one retrieval returned, best first, with BM25 (or cosine) scores."""

    history: tuple[tuple[HistoryEntry, float], ...] = ()
    knowledge: tuple[tuple[str, float], ...] = ()


class _Namespace:
    def __init__(self, make: Callable[[], Retriever]) -> None:
        self.entries: list = []
        self.index = make()

    def add(self, entry, text: str) -> None:
        self.entries.append(entry)
        self.index.add(text)

    def truncate(self, size: int) -> None:
        del self.entries[size:]
        self.index.truncate(size)


class Memory:
    """History and knowledge stores with ranked retrieval.

    History is keyed (ProductQA keys it by product, so a seller's history is seen only for that product);
    knowledge is keyed by scope (one list per category). `checkpoint()` marks the current contents, and
    `restore()` drops everything added since, in time proportional to what was added.
    """

    def __init__(self, retriever: str | Callable[[], Retriever] = "bm25") -> None:
        self._make = retriever_factory(retriever)
        self._history: dict[str, _Namespace] = {}
        self._knowledge: dict[str, _Namespace] = {}
        self._marks: tuple[dict[str, int], dict[str, int]] = ({}, {})

    def add_history(self, key: str, question: str, answer: str) -> None:
        """Remember `answer` to `question` under `key`; both texts are indexed for retrieval."""
        self._namespace(self._history, key).add(HistoryEntry(question, answer), f"{question} {answer}")

    def add_knowledge(self, scope: str, text: str) -> None:
        """Remember a knowledge entry for every question of `scope`."""
        self._namespace(self._knowledge, scope).add(text, text)

    def retrieve(self, query: str, history_key: str, scope: str, history_k: int, knowledge_k: int) -> Retrieved:
        """Up to `history_k` entries of `history_key`'s history and `knowledge_k` of `scope`'s knowledge, most
        relevant to `query` first; entries the retriever scores 0 or below are left out."""
        history = self._history.get(history_key)
        knowledge = self._knowledge.get(scope)
        return Retrieved(
            tuple((history.entries[i], s) for i, s in history.index.search(query, history_k)) if history else (),
            tuple((knowledge.entries[i], s) for i, s in knowledge.index.search(query, knowledge_k))
            if knowledge
            else (),
        )

    def history_size(self, key: str | None = None) -> int:
        """History entries under `key`, or under every key when None."""
        if key is not None:
            return len(self._history[key].entries) if key in self._history else 0
        return sum(len(ns.entries) for ns in self._history.values())

    def knowledge_size(self, scope: str | None = None) -> int:
        """Knowledge entries of `scope`, or of every scope when None."""
        if scope is not None:
            return len(self._knowledge[scope].entries) if scope in self._knowledge else 0
        return sum(len(ns.entries) for ns in self._knowledge.values())

    def checkpoint(self) -> None:
        """Mark the current contents as what `restore()` returns to."""
        self._marks = (
            {k: len(ns.entries) for k, ns in self._history.items()},
            {k: len(ns.entries) for k, ns in self._knowledge.items()},
        )

    def restore(self) -> None:
        """Drop everything added since the last `checkpoint()` (everything, if there was none)."""
        for store, marks in zip((self._history, self._knowledge), self._marks):
            for key in list(store):
                if key in marks:
                    store[key].truncate(marks[key])
                else:
                    del store[key]

    def _namespace(self, store: dict[str, _Namespace], key: str) -> _Namespace:
        namespace = store.get(key)
        if namespace is None:
            namespace = store[key] = _Namespace(self._make)
        return namespace
