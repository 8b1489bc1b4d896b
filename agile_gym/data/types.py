"""Plain, immutable records that every task and the executor share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

FACT, SEARCH, REASONING = "fact_qa", "search_qa", "reasoning_qa"
PRODUCTQA_TYPES = (FACT, SEARCH, REASONING)


class DataError(ValueError):
    """Bad input data; the message names the file, the record (line, asin or row) and the field at fault."""


class DataQualityWarning(UserWarning):
    """The data loads but looks wrong (files that disagree, one label everywhere, answers outside the options);
    the message names the file, the record or feature, and what was done about it."""


@dataclass(frozen=True)
class Column:
    """One feature column of a ProductQA category's product table: `numeric` (NUMERIC affinity) or text."""

    name: str
    numeric: bool
    unit: str | None = None


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
    """One ProductQA category: its schema, products and questions in file order.

    `columns` are the product table's feature columns: every snake_case feature of the schema, then every
    one the products carry that the schema does not list (see `agile_gym.data.productqa.feature_columns`).
    """

    name: str
    split: str
    schema: Mapping[str, Mapping[str, Any]]
    products: Mapping[str, Mapping[str, Any]]
    questions: tuple[Question, ...]
    source: str
    columns: tuple[Column, ...]

    def title_of(self, asin: str) -> str:
        """The product's title, or "" for an unknown asin or a product without one."""
        return str(self.products.get(asin, {}).get("title", ""))
