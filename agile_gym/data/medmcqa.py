"""Load multiple-choice medical questions in the public MedMCQA schema or AGILE's schema, and validate them.

Public MedMCQA: question, opa, opb, opc, opd, cop (0-based index of the correct option), exp, subject_name,
topic_name, choice_type. AGILE (MedQA cache): question, options {A: .., E: ..}, answer (letter), exp,
reflection, source. Files: json (a list or an object of lists), jsonl, or parquet; or a `datasets` dataset.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from agile_gym.data.types import DataError, Question

LETTERS = "ABCDEFGHIJ"
_PUBLIC_OPTIONS = ("opa", "opb", "opc", "opd")


class DataQualityWarning(UserWarning):
    """The data loads but looks wrong (one label everywhere, duplicate options, answers outside options)."""


def read_records(data_files: str | Path | Sequence[str | Path]) -> list[tuple[str, dict[str, Any]]]:
    """(where, record) pairs from json, jsonl or parquet files, in order; `where` is "file:line" or "file#row"."""
    paths = [data_files] if isinstance(data_files, (str, Path)) else list(data_files)
    if not paths:
        raise DataError("data_files is empty: give one path or a list of json, jsonl or parquet files")
    records: list[tuple[str, dict[str, Any]]] = []
    for path in map(Path, paths):
        if not path.is_file():
            raise DataError(f"missing file {path}")
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            records += [(f"{path}#{i}", row) for i, row in enumerate(pq.read_table(path).to_pylist())]
        elif path.suffix == ".jsonl":
            with path.open(encoding="utf-8") as lines:
                for number, line in enumerate(lines, start=1):
                    if line.strip():
                        try:
                            records.append((f"{path}:{number}", json.loads(line)))
                        except json.JSONDecodeError as err:
                            raise DataError(f"{path}:{number}: invalid JSON ({err.msg})") from None
        elif path.suffix == ".json":
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from None
            if isinstance(data, dict) and "question" in data and isinstance(data["question"], list):
                data = [dict(zip(data, values)) for values in zip(*data.values())]
            if not isinstance(data, list):
                raise DataError(f"{path}: expected a JSON list of records (or an object of columns)")
            records += [(f"{path}#{i}", row) for i, row in enumerate(data)]
        else:
            raise DataError(f"{path}: unsupported file type {path.suffix!r}; use .json, .jsonl or .parquet")
    return records


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


def question_from_record(record: dict[str, Any], position: int, where: str) -> Question:
    """One record of either schema as a Question; errors name the record."""
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected an object, got {type(record).__name__}")
    label = f"{where} (record {position}, id {record.get('id', position)})"
    question = str(record.get("question") or "").strip()
    if not question:
        raise DataError(f"{label}: empty question")
    if "options" in record:
        options_field = record["options"]
        if not isinstance(options_field, dict) or not options_field:
            raise DataError(f"{label}: 'options' must be an object of letter -> text")
        options = tuple((str(k).strip().upper(), str(v).strip()) for k, v in sorted(options_field.items()))
        answer = str(record.get("answer") or "").strip().upper()
        extra = {"source": record.get("source")}
    else:
        texts = [record.get(key) for key in _PUBLIC_OPTIONS]
        missing = [key for key, text in zip(_PUBLIC_OPTIONS, texts) if text is None or not str(text).strip()]
        if missing:
            raise DataError(f"{label}: missing option(s) {', '.join(missing)}")
        options = tuple((LETTERS[i], str(t).strip()) for i, t in enumerate(texts))
        cop = record.get("cop")
        if not isinstance(cop, int) or isinstance(cop, bool) or not 0 <= cop < len(options):
            raise DataError(f"{label}: cop must be the correct option's index 0-{len(options) - 1}, got {cop!r}")
        answer = LETTERS[cop]
        extra = {"subject": record.get("subject_name") or None, "topic": record.get("topic_name") or None,
                 "choice_type": record.get("choice_type")}
    empty = [letter for letter, text in options if not text]
    if empty:
        raise DataError(f"{label}: empty option(s) {', '.join(empty)}")
    texts = dict(options)
    exp = str(record.get("exp") or "").strip()
    reflection = str(record.get("reflection") or "").strip()
    gold_long = f"The answer is {answer}) {texts.get(answer, '?')}." + (f" {exp}" if exp else "")
    return Question(
        id=str(record.get("id", position)),
        type=str(extra.get("subject") or record.get("source") or "mcq"),
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
        raise DataError(f"{source}: no questions")
    outside = [q for q in questions if q.gold_short not in dict(q.options)]
    duplicates = sum(len({t.casefold() for _, t in q.options}) < len(q.options) for q in questions)
    labels = Counter(q.gold_short for q in questions)
    problems = []
    if outside:
        problems.append(f"{len(outside)} answer(s) name no option (dropped, e.g. {outside[0].extra['where']})")
    if duplicates:
        problems.append(f"{duplicates} question(s) have duplicate options")
    if len(questions) >= 20 and len(labels) == 1:
        problems.append(f"every one of {len(questions)} answers is {next(iter(labels))!r}: the labels look broken")
    if problems:
        warnings.warn(f"{source}: " + "; ".join(problems), DataQualityWarning, stacklevel=3)
    return [q for q in questions if q.gold_short in dict(q.options)]
