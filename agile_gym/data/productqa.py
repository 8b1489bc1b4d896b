"""Load ProductQA categories from the release layout
`<root>/<split>/<category>/{qa.jsonl,schema.json,metadata.json}`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agile_gym.data.types import FACT, PRODUCTQA_TYPES, REASONING, SEARCH, Category, DataError, Question

CATEGORY_FILES = ("qa.jsonl", "schema.json", "metadata.json")


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


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise DataError(f"missing file {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from None


def load_category(root: str | Path, split: str, category: str) -> Category:
    """Read and validate one category; every problem names the file and line."""
    folder = Path(root) / split / category
    if not folder.is_dir():
        known = ", ".join(list_categories(root, split))
        raise DataError(f"no category folder {folder}; categories of split {split!r}: {known}")
    schema = _read_json(folder / "schema.json")
    products = _read_json(folder / "metadata.json")
    if not isinstance(schema, dict) or not isinstance(products, dict):
        raise DataError(f"{folder}: schema.json and metadata.json must each hold a JSON object")
    questions = tuple(_read_questions(folder / "qa.jsonl", products))
    return Category(category, split, schema, products, questions, str(folder))


def _read_questions(path: Path, products: dict[str, Any]):
    if not path.is_file():
        raise DataError(f"missing file {path}")
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{where}: invalid JSON ({err.msg})") from None
            yield question_from_record(record, products, where)


def question_from_record(record: dict[str, Any], products: dict[str, Any], where: str) -> Question:
    """One qa.jsonl record as a Question; `where` prefixes every error ("file:line")."""
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}")
    missing = [key for key in ("id", "asin", "question", "short_answer", "type") if key not in record]
    if missing:
        raise DataError(f"{where}: missing field(s) {', '.join(missing)}")
    qtype = record["type"]
    if qtype not in PRODUCTQA_TYPES:
        raise DataError(f"{where}: unknown question type {qtype!r}; expected one of {', '.join(PRODUCTQA_TYPES)}")
    asin = str(record["asin"])
    if asin not in products:
        raise DataError(f"{where}: asin {asin} is not in metadata.json")
    extra = record.get("extra_data") or {}
    short = record["short_answer"]
    gold_products: tuple[str, ...] = ()
    if qtype == SEARCH:
        if not isinstance(short, list) or not all(isinstance(item, dict) and "asin" in item for item in short):
            raise DataError(f"{where}: search_qa short_answer must be a list of {{asin, title}} objects")
        gold_products = tuple(str(item["asin"]) for item in short)
        unknown = [a for a in gold_products if a not in products]
        if unknown:
            raise DataError(f"{where}: gold asin(s) {', '.join(unknown)} not in metadata.json")
        gold_short = ", ".join(gold_products) if gold_products else "none"
    else:
        if not isinstance(short, (str, int, float)):
            raise DataError(f"{where}: {qtype} short_answer must be text, got {type(short).__name__}")
        gold_short = str(short)
    question = str(record["question"])
    if not question.strip():
        raise DataError(f"{where}: empty question")
    knowledge = extra.get("knowledge") if qtype == REASONING else None
    return Question(
        id=str(record["id"]),
        type=qtype,
        question=question,
        gold_short=gold_short,
        gold_long=str(record.get("long_answer") or gold_short),
        gold_products=gold_products,
        asin=asin,
        knowledge=knowledge,
        reference_sql=extra.get("answer") if qtype == SEARCH else None,
        extra=extra if qtype != FACT else {},
    )
