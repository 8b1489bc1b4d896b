"""AGILE's memory: question-answer history per key (a product, or one shared key) and a knowledge list per scope."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from agile_gym.memory.retrieval import Retriever, retriever_factory

_PIECE = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def count_pieces(text: str) -> int:
    """The default token count of a memory budget: words and punctuation marks (a stated proxy; subword
    tokenizers give about 1.0-1.5 tokens per piece on English). Pass the policy's tokenizer to count exactly."""
    return len(_PIECE.findall(text))


class TokenizerCounter:
    """Counts tokens with a Hugging Face `tokenizers` tokenizer read from `tokenizer.json` (a file, or a model
    folder holding one); picklable. No special tokens are added. FileNotFoundError when there is none."""

    def __init__(self, path: str | Path) -> None:
        from tokenizers import Tokenizer

        path = Path(path).expanduser()
        file = path / "tokenizer.json" if path.is_dir() else path
        if not file.is_file():
            raise FileNotFoundError(f"token_counter: no tokenizer.json at {path}")
        self.path = str(file)
        self._tokenizer = Tokenizer.from_file(self.path)

    def __call__(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def __reduce__(self):
        return (TokenizerCounter, (self.path,))


def make_token_counter(spec: str | Path | Callable[[str], int] | None) -> Callable[[str], int]:
    """A token counter from a `tokenizer.json` path (or a folder holding one), a `str -> int` callable, or None
    (`count_pieces`). TypeError for anything else."""
    if spec is None:
        return count_pieces
    if isinstance(spec, (str, Path)):
        return TokenizerCounter(spec)
    if callable(spec):
        return spec
    raise TypeError(f"token_counter must be a tokenizer.json path, a callable or None, got {type(spec).__name__}")


@dataclass(frozen=True)
class HistoryEntry:
    """A question asked earlier in the session and the answer memory keeps for it."""

    question: str
    answer: str

    def render(self) -> str:
        """How a prompt shows this entry (and what a token budget counts)."""
        return f"Q: {self.question}\nA: {self.answer}"


def render_knowledge(text: str) -> str:
    """How a prompt shows a knowledge entry (and what a token budget counts)."""
    return f"- {text}"


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

    def extend(self, entries: Sequence, texts: Sequence[str]) -> None:
        self.entries.extend(entries)
        if hasattr(self.index, "extend"):
            self.index.extend(texts)  # dense indexes embed a batch at once
        else:
            for text in texts:
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

    def preload(self, history: Iterable[tuple[str, str, str]] = (), knowledge: Iterable[tuple[str, str]] = ()) -> None:
        """Add many entries at once: `history` as (key, question, answer), `knowledge` as (scope, text); the same
        as adding them one by one, but a dense index embeds them in batches."""
        for store, rows, make in (
            (self._history, history, lambda row: (HistoryEntry(row[1], row[2]), f"{row[1]} {row[2]}")),
            (self._knowledge, knowledge, lambda row: (row[1], row[1])),
        ):
            grouped: dict[str, tuple[list, list[str]]] = {}
            for row in rows:
                entry, text = make(row)
                entries, texts = grouped.setdefault(row[0], ([], []))
                entries.append(entry)
                texts.append(text)
            for key, (entries, texts) in grouped.items():
                self._namespace(store, key).extend(entries, texts)

    def retrieve(
        self,
        query: str,
        history_key: str,
        scope: str,
        history_k: int,
        knowledge_k: int,
        token_budget: int | None = None,
        count_tokens: Callable[[str], int] = count_pieces,
    ) -> Retrieved:
        """Up to `history_k` entries of `history_key`'s history and `knowledge_k` of `scope`'s knowledge, most
        relevant to `query` first; entries the retriever scores 0 or below are left out.

        `token_budget` (tokens, by `count_tokens` of each entry as the prompt renders it) caps what the result
        puts into a prompt, as the paper's 512-token retrieval budget: history entries best first, then
        knowledge entries best first, each list stopping at its first entry that no longer fits, so a better
        entry is never dropped for a worse one. None: no budget.
        """
        history = self._history.get(history_key)
        knowledge = self._knowledge.get(scope)
        found_history = (
            tuple((history.entries[i], s) for i, s in history.index.search(query, history_k)) if history else ()
        )
        found_knowledge = (
            tuple((knowledge.entries[i], s) for i, s in knowledge.index.search(query, knowledge_k)) if knowledge else ()
        )
        if token_budget is not None:
            left = [token_budget]
            found_history = _within(found_history, lambda e: count_tokens(e.render()), left)
            found_knowledge = _within(found_knowledge, lambda t: count_tokens(render_knowledge(t)), left)
        return Retrieved(found_history, found_knowledge)

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


def _within(found: tuple, cost: Callable, left: list[int]) -> tuple:
    """The leading entries of `found` whose costs fit in `left[0]` (which is decreased by what they use)."""
    kept = []
    for entry, score in found:
        tokens = cost(entry)
        if tokens > left[0]:
            break
        left[0] -= tokens
        kept.append((entry, score))
    return tuple(kept)
