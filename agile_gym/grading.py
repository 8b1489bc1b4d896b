"""Answer grading as the ProductQA release's evaluation does it (with its digit/punctuation bug fixed).

fact_qa and reasoning_qa answers are compared whole (`answers_match`). A search answer is graded by the
identity of the products it names (`ProductNames`): by asin, or by full title matched longest-first at word
boundaries, so a title that lies inside a longer title found in the answer is not read as a second product
("Fobus Glock - GL2" inside "Fobus Glock - GL2E2"; "... Kitchen Scale" inside "... Kitchen Scale, Red").
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# What may stand between a title and the asin it describes: `ASIN (title)`, `ASIN: title`, `title (ASIN)`,
# and the release's own long answers, "`title` with asin: ASIN".
_QUOTES = r"[\s`'\"*]*"
_BESIDE = re.compile(rf"{_QUOTES}(?:[(\[:\-\u2013\u2014]{_QUOTES})?(?:(?:with\s+)?asin\s*[:#]?{_QUOTES})?")


def normalize_answer(text: str) -> str:
    """Case- and whitespace-insensitive form; digits and punctuation are kept exactly as written."""
    return " ".join(text.split()).casefold()


def answers_match(predicted: str, gold: str) -> bool:
    """Whether two answers are equal after `normalize_answer` (how fact_qa and reasoning_qa are graded)."""
    return normalize_answer(predicted) == normalize_answer(gold)


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


@dataclass(frozen=True)
class Mention:
    """One product name found in an answer.

    `name` is the name as matched (normalised: casefolded, whitespace collapsed), `start`/`end` its position
    in the normalised answer, `asins` every product it names (several for a title that products share, unless
    written beside one of their asins), `by_asin` whether the name is an asin rather than a title.
    """

    name: str
    start: int
    end: int
    asins: tuple[str, ...]
    by_asin: bool


class ProductNames:
    """The names that identify a category's products in an answer: each asin and each full title.

    Matching is casefolded and whitespace-normalised; a title also matches with its HTML entities decoded
    (the release writes `17&quot;`, an agent may write `17"`). A title shared by several products names all
    of them, except where it stands beside one of their asins (`ASIN (title)`, `ASIN: title`, `title (ASIN)`,
    "`title` with asin: ASIN"), which names that product alone.

    Args:
        products: asin -> metadata (a `title` entry is optional), as `Category.products`.
    """

    def __init__(self, products: Mapping[str, Mapping[str, Any]]) -> None:
        self._asins = frozenset(products)
        self._asin_names = frozenset(normalize_answer(asin) for asin in products)
        self._titles: dict[str, str] = {}
        table: dict[str, list[str]] = {}
        for asin, meta in products.items():
            table.setdefault(normalize_answer(asin), []).append(asin)
            title = str(meta.get("title") or "")
            if not title.strip():
                continue
            self._titles[asin] = title
            for form in {normalize_answer(title), normalize_answer(html.unescape(title))}:
                if asin not in table.setdefault(form, []):
                    table[form].append(asin)
        self._names = {name: tuple(asins) for name, asins in table.items()}

    def by_name(self, value: str) -> tuple[str, ...]:
        """Every product whose asin or full title `value` is exactly (after normalising); () for none."""
        if value in self._asins:
            return (value,)
        return self._names.get(normalize_answer(value), ())

    def title_of(self, asin: str) -> str:
        """The product's title as the data writes it ("" when it has none)."""
        return self._titles.get(asin, "")

    def mentions(self, text: str) -> list[Mention]:
        """The names `text` holds, in order of appearance.

        Every occurrence of every name at word boundaries is a candidate; candidates are taken longest
        first, and one that overlaps a longer one already taken is dropped, so a title inside a longer
        matched title (or an asin-like string inside a title) does not count.
        """
        folded = normalize_answer(text)
        candidates = [
            (start, start + len(name), name)
            for name in self._names
            for start in _occurrences(folded, name)
        ]
        candidates.sort(key=lambda c: (c[0] - c[1], c[0]))
        taken: list[tuple[int, int, str]] = []
        occupied = bytearray(len(folded))  # 1 where a name already taken lies: linear, however many mentions
        for start, end, name in candidates:
            if occupied.find(1, start, end) < 0:
                taken.append((start, end, name))
                occupied[start:end] = b"\x01" * (end - start)
        taken.sort()
        found = [Mention(name, start, end, self._names[name], name in self._asin_names) for start, end, name in taken]
        return _attach_titles_to_asins(folded, found)

    def named(self, text: str) -> list[str]:
        """Asins of the products `text` names, in order of first appearance, each once."""
        return list(dict.fromkeys(asin for mention in self.mentions(text) for asin in mention.asins))


def _occurrences(text: str, name: str) -> Iterable[int]:
    """Starts of `name` in `text` where it is not glued to a letter or digit on a side that is one."""
    start = text.find(name)
    while start >= 0:
        end = start + len(name)
        open_left = not _is_word_char(name[0]) or start == 0 or not _is_word_char(text[start - 1])
        open_right = not _is_word_char(name[-1]) or end == len(text) or not _is_word_char(text[end])
        if open_left and open_right:
            yield start
        start = text.find(name, start + 1)


def _attach_titles_to_asins(text: str, mentions: list[Mention]) -> list[Mention]:
    """A shared title written right beside one of its own asins names that product alone."""
    result = list(mentions)
    for i, mention in enumerate(result):
        if mention.by_asin or len(mention.asins) < 2:
            continue
        for j in (i - 1, i + 1):
            if not 0 <= j < len(result) or not result[j].by_asin or result[j].asins[0] not in mention.asins:
                continue
            gap = text[result[j].end : mention.start] if j < i else text[mention.end : result[j].start]
            if _BESIDE.fullmatch(gap):
                result[i] = Mention(mention.name, mention.start, mention.end, result[j].asins, False)
                break
    return result


def search_correct(named: Iterable[str], gold: Iterable[str]) -> bool:
    """Non-empty and all within the gold list; or both empty (no product satisfies the request)."""
    named, gold = set(named), set(gold)
    return named <= gold if named else not gold
