"""Load ProductQA categories from the release layout
`<root>/<split>/<category>/{qa.jsonl,schema.json,metadata.json}`, validate them, and decide their columns."""

from __future__ import annotations

import re
import warnings
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agile_gym.data.jsonio import read_json, read_jsonl
from agile_gym.data.types import (
    FACT,
    PRODUCTQA_TYPES,
    REASONING,
    SEARCH,
    Category,
    Column,
    DataError,
    DataQualityWarning,
    Question,
)

CATEGORY_FILES = ("qa.jsonl", "schema.json", "metadata.json")
SCHEMA_TYPES = ("cloze", "choice")
# Every product table has these columns of its own; a feature of that name would collide with them.
RESERVED_FEATURES = ("id", "asin", "product_id")
_COLUMN_NAME = re.compile(r"^[a-z][a-z0-9_]*$")  # snake_case features are columns; Title Case ones (reviews) not
_NUMBER = re.compile(r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$")
_SCALARS = (str, int, float, bool)


def list_categories(root: str | Path, split: str) -> list[str]:
    """Every folder of `<root>/<split>` that holds the three category files, sorted by name."""
    split_dir = Path(root) / split
    if not split_dir.is_dir():
        raise DataError(
            f"no ProductQA split folder {split_dir}: expected <data_dir>/{{train,test}}/<category>/qa.jsonl "
            f"(set data_dir= or $AGILE_DATA_DIR to the folder that holds productqa/)"
        )
    names = sorted(p.name for p in split_dir.iterdir() if p.is_dir() and (p / "qa.jsonl").is_file())
    if not names:
        raise DataError(f"{split_dir} holds no category folder with a qa.jsonl")
    return names


def load_category(root: str | Path, split: str, category: str) -> Category:
    """Read and validate one category.

    Raises DataError naming the file, the record (line or asin) and the field for anything that cannot be
    loaded as it is meant: bytes that are not UTF-8, invalid JSON, a schema spec or product that is not an
    object, a feature value that is a list or object, a field of the wrong type, a qa.jsonl without questions.
    Warns (`DataQualityWarning`, naming the files and features) where schema.json and metadata.json disagree;
    see `feature_columns` for what the columns then are.
    """
    folder = Path(root) / split / category
    if not folder.is_dir():
        known = ", ".join(list_categories(root, split))
        raise DataError(f"no category folder {folder}; categories of split {split!r}: {known}")
    schema = _checked_schema(read_json(folder / "schema.json"), folder / "schema.json")
    products = _checked_products(read_json(folder / "metadata.json"), folder / "metadata.json")
    columns = feature_columns(schema, products, folder)
    qa_path = folder / "qa.jsonl"
    questions = tuple(question_from_record(record, products, f"{qa_path}:{n}") for n, record in read_jsonl(qa_path))
    if not questions:
        raise DataError(f"{qa_path}: no questions (the file is empty or holds only blank lines)")
    ids = Counter(q.id for q in questions)
    repeated = [f"{qid!r} ({count}x)" for qid, count in ids.items() if count > 1]
    if repeated:
        warnings.warn(
            f"{qa_path}: field 'id': {len(repeated)} question id(s) appear more than once: {', '.join(repeated[:5])}"
            f"{' ...' if len(repeated) > 5 else ''}; results keyed by question id cannot tell them apart",
            DataQualityWarning,
            stacklevel=2,
        )
    return Category(category, split, schema, products, questions, str(folder), columns)


def _type_name(value: Any) -> str:
    return "null" if value is None else {dict: "an object", list: "a list", bool: "true/false"}.get(
        type(value), type(value).__name__
    )


def _checked_schema(schema: Any, path: Path) -> dict[str, dict[str, Any]]:
    if not isinstance(schema, dict):
        raise DataError(f"{path}: expected a JSON object of feature -> spec, got {_type_name(schema)}")
    for name, spec in schema.items():
        where = f"{path}: feature {name!r}"
        if not isinstance(spec, dict):
            raise DataError(f'{where}: the spec must be an object like {{"type": "cloze"}}, got {_type_name(spec)}')
        if spec.get("type") not in SCHEMA_TYPES:
            raise DataError(f"{where}: field 'type' must be one of {', '.join(SCHEMA_TYPES)}, got {spec.get('type')!r}")
        if spec.get("unit") is not None and not isinstance(spec["unit"], str):
            raise DataError(f"{where}: field 'unit' must be text, got {_type_name(spec['unit'])}")
        choices = spec.get("choices")
        if choices is not None and not (isinstance(choices, list) and all(isinstance(c, _SCALARS) for c in choices)):
            raise DataError(f"{where}: field 'choices' must be a list of values, got {_type_name(choices)}")
        if name in RESERVED_FEATURES:
            raise DataError(f"{where}: {name!r} is a column every product table has of its own; rename the feature")
    return schema


def _checked_products(products: Any, path: Path) -> dict[str, dict[str, Any]]:
    if not isinstance(products, dict):
        raise DataError(f"{path}: expected a JSON object of asin -> product, got {_type_name(products)}")
    for asin, product in products.items():
        where = f"{path}: product {asin}"
        if not isinstance(product, dict):
            raise DataError(f"{where}: expected an object of feature -> value, got {_type_name(product)}")
        for key, value in product.items():
            if value is not None and not isinstance(value, _SCALARS):
                raise DataError(
                    f"{where}, feature {key!r}: a feature's value must be text, a number, true/false or null, "
                    f"got {_type_name(value)}"
                )
        if "title" in product and not isinstance(product["title"], str):
            raise DataError(f"{where}, feature 'title': the title must be text, got {_type_name(product['title'])}")
        reserved = [key for key in RESERVED_FEATURES if key in product and not (key == "asin" and product[key] == asin)]
        if reserved:
            raise DataError(
                f"{where}, feature {reserved[0]!r}: a column every product table has of its own; rename the feature"
            )
    return products


def is_number(value: Any) -> bool:
    """True for an int or float (not true/false) and for text that reads as a decimal number ("12", "3.5e2")."""
    if isinstance(value, bool):
        return False
    return isinstance(value, (int, float)) or (isinstance(value, str) and bool(_NUMBER.match(value)))


def feature_columns(
    schema: Mapping[str, Mapping[str, Any]], products: Mapping[str, Mapping[str, Any]], folder: str | Path
) -> tuple[Column, ...]:
    """The feature columns of a category's product table, built from the schema and what the products carry.

    Columns: every snake_case feature of schema.json in its order, then every snake_case feature some product
    of metadata.json carries that the schema does not list, in order of first appearance. `title` has a column
    of its own; Title Case features come from reviews and have none (as in the release's database). Types: a
    schema `cloze` feature is numeric and `choice` is text, as the release's database types them; a feature
    the schema does not list is numeric when every value the products give it is a number, else text.
    Warns (`DataQualityWarning`) naming both files and the features where the files disagree (a feature the
    schema does not list, a schema feature no product has) and naming the products whose value of a numeric
    feature is not a number (SQLite keeps such a value as text, so comparisons with numbers skip it).
    """
    folder = Path(folder)
    schema_file, metadata_file = folder / "schema.json", folder / "metadata.json"
    carried: dict[str, list[tuple[str, Any]]] = {}
    for asin, product in products.items():
        for key, value in product.items():
            if _COLUMN_NAME.match(key) and key != "title":
                carried.setdefault(key, [])
                if value is not None:
                    carried[key].append((asin, value))
    listed = [name for name in schema if _COLUMN_NAME.match(name) and name != "title"]
    unlisted = [name for name in carried if name not in schema]
    unused = [name for name in schema if not any(name in product for product in products.values())]
    columns = []
    for name in listed:
        numeric = schema[name]["type"] == "cloze"
        columns.append(Column(name, numeric, schema[name].get("unit")))
        texts = [(asin, value) for asin, value in carried.get(name, []) if not is_number(value)]
        if numeric and texts:
            shown = ", ".join(f"{asin} ({value!r})" for asin, value in texts[:5])
            warnings.warn(
                f"{metadata_file}: feature {name!r} is a number (cloze) in {schema_file.name}, but {len(texts)} "
                f"product(s) give text: {shown}{' ...' if len(texts) > 5 else ''}; kept as text in its column, so "
                f"numeric comparisons skip them",
                DataQualityWarning,
                stacklevel=3,
            )
    for name in unlisted:
        numeric = bool(carried[name]) and all(is_number(value) for _, value in carried[name])
        columns.append(Column(name, numeric))
    if unlisted:
        typed = ", ".join(f"{c.name} ({'number' if c.numeric else 'text'})" for c in columns if c.name in unlisted)
        warnings.warn(
            f"{metadata_file} carries feature(s) that {schema_file} does not list: {typed}; each is a column "
            f"typed from the products' values",
            DataQualityWarning,
            stacklevel=3,
        )
    if unused:
        warnings.warn(
            f"{schema_file} lists feature(s) that no product of {metadata_file} has: {', '.join(map(repr, unused))}; "
            f"their columns (snake_case ones) are empty (NULL)",
            DataQualityWarning,
            stacklevel=3,
        )
    return tuple(columns)


def _field(record: dict[str, Any], key: str, kinds: tuple[type, ...], where: str, what: str) -> Any:
    """record[key] if it is of `kinds` (bool never counts as a number), else DataError naming the field."""
    value = record.get(key)
    if isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds):
        return value
    raise DataError(f"{where}: field {key!r} must be {what}, got {_type_name(value)}")


def question_from_record(record: Any, products: Mapping[str, Any], where: str) -> Question:
    """One qa.jsonl record as a Question; `where` ("file:line") prefixes every error, which names the field."""
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a JSON object, got {_type_name(record)}")
    missing = [key for key in ("id", "asin", "question", "short_answer", "type") if key not in record]
    if missing:
        raise DataError(f"{where}: missing field(s) {', '.join(missing)}")
    qtype = record["type"]
    if qtype not in PRODUCTQA_TYPES:
        raise DataError(
            f"{where}: field 'type': unknown question type {qtype!r}; expected one of {', '.join(PRODUCTQA_TYPES)}"
        )
    record_id = str(_field(record, "id", (str, int), where, "text or a number"))
    asin = str(_field(record, "asin", (str, int), where, "an asin (text)"))
    if asin not in products:
        raise DataError(f"{where}: field 'asin': asin {asin} is not in metadata.json")
    question = _field(record, "question", (str,), where, "text")
    if not question.strip():
        raise DataError(f"{where}: field 'question' is empty")
    extra = _field(record, "extra_data", (dict, type(None)), where, "an object or null") or {}
    long_answer = _field(record, "long_answer", (str, type(None)), where, "text or null")
    short = record["short_answer"]
    gold_products: tuple[str, ...] = ()
    if qtype == SEARCH:
        if not isinstance(short, list) or not all(
            isinstance(item, dict) and isinstance(item.get("asin"), str) for item in short
        ):
            raise DataError(f"{where}: field 'short_answer': search_qa needs a list of {{asin, title}} objects")
        gold_products = tuple(item["asin"] for item in short)
        unknown = [a for a in gold_products if a not in products]
        if unknown:
            raise DataError(f"{where}: field 'short_answer': gold asin(s) {', '.join(unknown)} not in metadata.json")
        gold_short = ", ".join(gold_products) if gold_products else "none"
        reference_sql = _field(extra, "answer", (str, type(None)), f"{where}: extra_data", "SQL text or null")
    else:
        gold_short = str(_field(record, "short_answer", (str, int, float), where, "text or a number"))
        if not gold_short.strip():
            raise DataError(f"{where}: field 'short_answer' is empty")
        reference_sql = None
    knowledge = None
    if qtype == REASONING:
        knowledge = _field(extra, "knowledge", (str, type(None)), f"{where}: extra_data", "text or null")
    return Question(
        id=record_id,
        type=qtype,
        question=question,
        gold_short=gold_short,
        gold_long=long_answer or gold_short,
        gold_products=gold_products,
        asin=asin,
        knowledge=knowledge,
        reference_sql=reference_sql,
        extra=extra if qtype != FACT else {},
    )
