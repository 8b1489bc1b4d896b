"""Plain, immutable records that every task and the executor share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

FACT, SEARCH, REASONING = "fact_qa", "search_qa", "reasoning_qa"
PRODUCTQA_TYPES = (FACT, SEARCH, REASONING)


class DataError(ValueError):
    """Bad input data; the message names the file (and line or record) and what is wrong."""


@dataclass(frozen=True)
class Question:
    """One question of a session, with everything the expert (and the grader) knows about it.

    `gold_short` is what grading compares against; for search questions `gold_products` holds the asins
    of every acceptable product (possibly none). `options` is set for multiple-choice tasks only.
    `knowledge` is the generalizable lesson the data attaches to the question (ProductQA's
    extra_data.knowledge, AGILE's MedQA `reflection`), or None.
    """

    id: str
    type: str
    question: str
    gold_short: str
    gold_long: str
    gold_products: tuple[str, ...] = ()
    asin: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    knowledge: str | None = None
    reference_sql: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Category:
    """One ProductQA category: its schema, products and questions in file order."""

    name: str
    split: str
    schema: Mapping[str, Mapping[str, Any]]
    products: Mapping[str, Mapping[str, Any]]
    questions: tuple[Question, ...]
    source: str

    def title_of(self, asin: str) -> str:
        """The product's title, or "" for an unknown asin or a product without one."""
        return str(self.products.get(asin, {}).get("title", ""))
