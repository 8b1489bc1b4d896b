"""Answer grading as the ProductQA release's evaluation does it (with its digit/punctuation bug fixed)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_ASIN_LIKE = re.compile(r"\b[A-Z0-9]{10}\b")


def normalize_answer(text: str) -> str:
    """Case- and whitespace-insensitive form; digits and punctuation are kept exactly as written."""
    return " ".join(text.split()).casefold()


def answers_match(predicted: str, gold: str) -> bool:
    """Whether two answers are equal after `normalize_answer` (how fact_qa and reasoning_qa are graded)."""
    return normalize_answer(predicted) == normalize_answer(gold)


def named_products(text: str, asins: Iterable[str], titles: Mapping[str, str]) -> list[str]:
    """Asins of the category's products that `text` names, by asin or by full title, in order of appearance.

    `titles` maps casefolded title -> asin.
    """
    known = set(asins)
    found = {m.group(0): m.start() for m in _ASIN_LIKE.finditer(text) if m.group(0) in known}
    folded = text.casefold()
    for title, asin in titles.items():
        where = folded.find(title)
        if where >= 0 and asin not in found:
            found[asin] = where
    return sorted(found, key=found.__getitem__)


def search_correct(named: Iterable[str], gold: Iterable[str]) -> bool:
    """Non-empty and all within the gold list; or both empty (no product satisfies the request)."""
    named, gold = set(named), set(gold)
    return named <= gold if named else not gold
