"""Load multiple-choice medical questions in the public MedMCQA schema or AGILE's schema, and validate them.

Public MedMCQA: question, opa, opb, opc, opd, cop (0-based index of the correct option), exp, subject_name,
topic_name, choice_type. AGILE (MedQA cache): question, options {A: .., E: ..}, answer (letter), exp,
reflection, source. Files: json (a list or an object of lists), jsonl, or parquet; or a `datasets` dataset.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from agile_gym.data.jsonio import read_json, read_jsonl
from agile_gym.data.types import DataError, DataQualityWarning, Question

__all__ = ["DataQualityWarning", "load_hf_dataset", "load_questions", "question_from_record", "read_records"]

LETTERS = "ABCDEFGHIJ"
_PUBLIC_OPTIONS = ("opa", "opb", "opc", "opd")
_TEXT_FIELDS = ("exp", "reflection", "source", "subject_name", "topic_name", "choice_type")


def read_records(data_files: str | Path | Sequence[str | Path]) -> list[tuple[str, dict[str, Any]]]:
    """(where, record) pairs from json, jsonl or parquet files, in order; `where` is "file:line" or "file#row".

    A `.json` file holds a list of records, or an object of equally long columns (MedMCQA's column format).
    Raises DataError naming the file (and line or column) for a missing or unreadable file, bytes that are not
    UTF-8, invalid JSON, or columns of different lengths.
    """
    paths = [data_files] if isinstance(data_files, (str, Path)) else list(data_files)
    if not paths:
        raise DataError("data_files is empty: give one path or a list of json, jsonl or parquet files")
    records: list[tuple[str, dict[str, Any]]] = []
    for path in map(Path, paths):
        if not path.is_file():
            raise DataError(f"missing file {path}")
        if path.suffix == ".parquet":
            records += [(f"{path}#{i}", row) for i, row in enumerate(_read_parquet(path))]
        elif path.suffix == ".jsonl":
            records += [(f"{path}:{number}", record) for number, record in read_jsonl(path)]
        elif path.suffix == ".json":
            data = read_json(path)
            if isinstance(data, dict) and "question" in data and isinstance(data["question"], list):
                data = _rows_of_columns(data, path)
            if not isinstance(data, list):
                raise DataError(f"{path}: expected a JSON list of records (or an object of columns)")
            records += [(f"{path}#{i}", row) for i, row in enumerate(data)]
        else:
            raise DataError(f"{path}: unsupported file type {path.suffix!r}; use .json, .jsonl or .parquet")
    return records


def _read_parquet(path: Path) -> list[Any]:
    import pyarrow
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except (pyarrow.ArrowException, OSError) as err:
        raise DataError(f"{path}: not a readable parquet file ({err})") from None


def _rows_of_columns(columns: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    """Records of a column-format file; every column must be a list as long as `question`."""
    not_lists = [key for key, values in columns.items() if not isinstance(values, list)]
    if not_lists:
        raise DataError(f"{path}: column(s) {', '.join(not_lists)} are not lists in a column-format file")
    lengths = {key: len(values) for key, values in columns.items()}
    expected = lengths["question"]
    uneven = [f"{key} has {n}" for key, n in lengths.items() if n != expected]
    if uneven:
        raise DataError(
            f"{path}: columns of different lengths ({'; '.join(uneven)}, question has {expected}): "
            f"records would be lost or misaligned"
        )
    return [dict(zip(columns, values)) for values in zip(*columns.values())]


def load_hf_dataset(name_or_path: str, split: str) -> list[tuple[str, dict[str, Any]]]:
    """Records of a Hugging Face dataset: a folder saved with `save_to_disk`, else `datasets.load_dataset`."""
    import datasets

    path = Path(name_or_path)
    if path.is_dir() and ((path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()):
        dataset = datasets.load_from_disk(str(path))
        if isinstance(dataset, datasets.DatasetDict):
            dataset = dataset[split]
    else:
        dataset = datasets.load_dataset(name_or_path, split=split)
    return [(f"{name_or_path}[{split}]#{i}", row) for i, row in enumerate(dataset)]


def _type_name(value: Any) -> str:
    return "null" if value is None else {dict: "an object", list: "a list", bool: "true/false"}.get(
        type(value), type(value).__name__
    )


def _text(record: dict[str, Any], key: str, label: str, numbers: bool = False) -> str:
    """record[key] stripped ("" when absent or null); DataError naming the field when it is not text (or a
    number, with `numbers`)."""
    value = record.get(key)
    if value is None:
        return ""
    if isinstance(value, str) or (numbers and isinstance(value, (int, float)) and not isinstance(value, bool)):
        return str(value).strip()
    what = "text or a number" if numbers else "text"
    raise DataError(f"{label}: field {key!r} must be {what}, got {_type_name(value)}")


def question_from_record(record: Any, position: int, where: str) -> Question:
    """One record of either schema as a Question.

    Raises DataError naming the record (`where`, position and id) and the field for a missing question or
    option, an option or text field that is not text (options may be numbers), a `cop` that is not an index of
    the options, or option letters outside A-J.
    """
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected an object, got {_type_name(record)}")
    record_id = record.get("id", position)
    if not isinstance(record_id, (str, int)) or isinstance(record_id, bool):
        got = _type_name(record_id)
        raise DataError(f"{where} (record {position}): field 'id' must be text or a number, got {got}")
    label = f"{where} (record {position}, id {record_id})"
    question = _text(record, "question", label)
    if not question:
        raise DataError(f"{label}: empty question (field 'question' is missing or blank)")
    fields = {key: _text(record, key, label) for key in _TEXT_FIELDS}
    if "options" in record:
        options_field = record["options"]
        if not isinstance(options_field, dict) or not options_field:
            got = _type_name(options_field)
            raise DataError(f"{label}: field 'options' must be an object of letter -> text, got {got}")
        options = []
        for key in sorted(options_field):
            letter = str(key).strip().upper()
            if len(letter) != 1 or letter not in LETTERS:
                raise DataError(f"{label}: field 'options': option key {key!r} is not a letter A-{LETTERS[-1]}")
            options.append((letter, _text(options_field, key, f"{label}: field 'options'", numbers=True)))
        options = tuple(options)
        answer = _text(record, "answer", label).upper()
        extra = {"source": fields["source"] or None}
    else:
        texts = [_text(record, key, label, numbers=True) for key in _PUBLIC_OPTIONS]
        missing = [key for key, text in zip(_PUBLIC_OPTIONS, texts) if not text]
        if missing:
            raise DataError(f"{label}: missing option(s) {', '.join(missing)}")
        options = tuple((LETTERS[i], text) for i, text in enumerate(texts))
        cop = record.get("cop")
        if not isinstance(cop, int) or isinstance(cop, bool) or not 0 <= cop < len(options):
            raise DataError(
                f"{label}: cop must be the correct option's index 0-{len(options) - 1}, got {cop!r}"
            )
        answer = LETTERS[cop]
        extra = {"subject": fields["subject_name"] or None, "topic": fields["topic_name"] or None,
                 "choice_type": fields["choice_type"] or None}
    empty = [letter for letter, text in options if not text]
    if empty:
        raise DataError(f"{label}: field 'options': empty option(s) {', '.join(empty)}")
    texts = dict(options)
    exp, reflection = fields["exp"], fields["reflection"]
    gold_long = f"The answer is {answer}) {texts.get(answer, '?')}." + (f" {exp}" if exp else "")
    return Question(
        id=str(record_id),
        type=str(extra.get("subject") or extra.get("source") or "mcq"),
        question=question,
        gold_short=answer,
        gold_long=gold_long,
        options=options,
        knowledge=reflection or exp or None,
        extra={**extra, "exp": exp, "where": where},
    )


def load_questions(records: Iterable[tuple[str, dict[str, Any]]], source: str) -> list[Question]:
    """Validate and convert; data-quality problems warn with counts, questions that cannot be graded are dropped."""
    questions = [question_from_record(record, i, where) for i, (where, record) in enumerate(records)]
    if not questions:
        raise DataError(f"{source}: no questions (the file(s) hold no records)")
    outside = [q for q in questions if q.gold_short not in dict(q.options)]
    duplicates = sum(len({t.casefold() for _, t in q.options}) < len(q.options) for q in questions)
    labels = Counter(q.gold_short for q in questions)
    problems = []
    if outside:
        shown = ", ".join(f"{q.extra['where']} answer {q.gold_short!r}" for q in outside[:3])
        problems.append(f"{len(outside)} answer(s) name no option (dropped, e.g. {shown})")
    if duplicates:
        problems.append(f"{duplicates} question(s) have duplicate options")
    if len(questions) >= 20 and len(labels) == 1:
        problems.append(f"every one of {len(questions)} answers is {next(iter(labels))!r}: the labels look broken")
    kept = [q for q in questions if q.gold_short in dict(q.options)]
    if not kept:
        raise DataError(f"{source}: no question left: {problems[0]}")
    if problems:
        warnings.warn(f"{source}: " + "; ".join(problems), DataQualityWarning, stacklevel=3)
    return kept
