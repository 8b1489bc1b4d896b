"""A table of malformed data files, each loaded the way a user loads it (`gym.make(...).reset()`).

Every case must end in a `DataError`, or load with a `DataQualityWarning`, whose message names the file, the
record (line, asin or row) and the field: never a raw exception, never a silent acceptance. `outcome` sorts a
load into error / warning / raw / silent, so the same table measures the loaders (README, reliability).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

import agile_gym  # noqa: F401
from agile_gym.data.types import DataError, DataQualityWarning

# ---- a small, correct dataset of each task ----------------------------------------------------------------

SCHEMA = {
    "price": {"type": "cloze", "unit": "dollar"},
    "color": {"type": "choice", "choices": ["red", "blue"]},
    "Water Resistance": {"type": "choice", "choices": ["good", "poor"]},
}
METADATA = {
    "B000000001": {"title": "Red Widget", "price": "3.5", "color": "red", "Water Resistance": "good"},
    "B000000002": {"title": "Blue Widget", "price": "12", "color": "blue", "Water Resistance": "poor"},
    "B000000003": {"title": "Big Widget", "price": "30", "color": "red", "Water Resistance": "good"},
}
QA = [
    {"id": "fact_qa_0", "asin": "B000000001", "question": "Is it red?", "short_answer": "yes",
     "long_answer": "Yes, it is red.", "type": "fact_qa", "extra_data": None},
    {"id": "search_qa_0", "asin": "B000000001", "question": "A red widget under $10?",
     "short_answer": [{"asin": "B000000001", "title": "Red Widget"}], "long_answer": "Red Widget.",
     "type": "search_qa",
     "extra_data": {"answer": "SELECT product_id FROM widgets WHERE color = 'red' AND price < 10"}},
    {"id": "reasoning_qa_0", "asin": "B000000002", "question": "Can it go in the rain?", "short_answer": "no",
     "long_answer": "No, its water resistance is poor.", "type": "reasoning_qa",
     "extra_data": {"knowledge": "Poor water resistance means not for rain."}},
]
MED = [
    {"id": "m0", "question": "Which vitamin prevents scurvy?", "opa": "C", "opb": "K", "opc": "D", "opd": "A",
     "cop": 0, "exp": "Vitamin C.", "subject_name": "Biochemistry", "topic_name": None, "choice_type": "single"},
    {"id": "m1", "question": "Which organ makes insulin?", "opa": "Liver", "opb": "Pancreas", "opc": "Heart",
     "opd": "Lung", "cop": 1, "exp": "", "subject_name": "Physiology", "topic_name": None,
     "choice_type": "single"},
    {"id": "m2", "question": "Normal adult heart rate?", "opa": "10", "opb": "30", "opc": "70", "opd": "300",
     "cop": 2, "exp": "", "subject_name": "Physiology", "topic_name": None, "choice_type": "single"},
]
AGILE_MED = {"id": "q0", "question": "Scurvy is caused by a lack of?", "options": {"A": "Vitamin C", "B": "Iron"},
             "answer": "A", "exp": "", "reflection": "Vitamin C deficiency causes scurvy.", "source": "MedQA"}


def write_category(root: Path) -> Path:
    """The good category at `root/productqa/test/widgets`; returns its folder."""
    folder = root / "productqa" / "test" / "widgets"
    folder.mkdir(parents=True)
    (folder / "schema.json").write_text(json.dumps(SCHEMA), encoding="utf-8")
    (folder / "metadata.json").write_text(json.dumps(METADATA), encoding="utf-8")
    (folder / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in QA), encoding="utf-8")
    return folder


def write_med(root: Path) -> Path:
    path = root / "med.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in MED), encoding="utf-8")
    return path


# ---- edits that break one thing ---------------------------------------------------------------------------

def _json_edit(name: str, change: Callable[[Any], Any]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        path = folder / name
        data = json.loads(path.read_text(encoding="utf-8"))
        result = change(data)
        path.write_text(json.dumps(data if result is None else result), encoding="utf-8")
    return apply


def _set(mapping_path: tuple, value: Any, delete: bool = False) -> Callable[[Any], None]:
    def change(data: Any) -> None:
        *parents, last = mapping_path
        for key in parents:
            data = data[key]
        if delete:
            del data[last]
        else:
            data[last] = value
    return change


def qa_line(line: int, change: Callable[[dict], Any]) -> Callable[[Path], None]:
    """Edit record `line` (1-based) of qa.jsonl; `change` edits the record or returns its replacement."""
    def apply(folder: Path) -> None:
        path = folder / "qa.jsonl"
        lines = path.read_text(encoding="utf-8").splitlines()
        record = json.loads(lines[line - 1])
        result = change(record)
        lines[line - 1] = json.dumps(record if result is None else result)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return apply


def qa_field(line: int, key: str, value: Any = None, delete: bool = False) -> Callable[[Path], None]:
    return qa_line(line, _set((key,), value, delete))


def raw_bytes(name: str, data: bytes) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        (folder / name).write_bytes(data)
    return apply


def latin1(name: str) -> Callable[[Path], None]:
    """Re-encode the file as Latin-1 with one accented character on its second record."""
    def apply(folder: Path) -> None:
        path = folder / name
        text = path.read_text(encoding="utf-8")
        if name == "qa.jsonl":
            text = text.replace("Can it go in the rain?", "Can it go in the rain? Caf\u00e9")
        elif name == "metadata.json":
            text = text.replace("Blue Widget", "Blue Widget Caf\u00e9")
        else:
            text = text.replace("dollar", "dollar \u00e9")
        path.write_bytes(text.encode("latin-1"))
    return apply


def rename_folder(new_name: str) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        folder.rename(folder.parent / new_name)
    return apply


def _med_records(change: Callable[[list[dict]], Any], suffix: str = ".jsonl") -> Callable[[Path], Path]:
    def apply(root: Path) -> Path:
        records = json.loads(json.dumps(MED))
        result = change(records)
        records = records if result is None else result
        path = root / f"broken{suffix}"
        if suffix == ".jsonl":
            path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        else:
            path.write_text(json.dumps(records), encoding="utf-8")
        return path
    return apply


def med_field(index: int, key: str, value: Any = None, delete: bool = False) -> Callable[[Path], Path]:
    return _med_records(lambda records: _set((index, key), value, delete)(records))


def med_agile(change: Callable[[dict], Any]) -> Callable[[Path], Path]:
    def records(rs: list[dict]) -> list[dict]:
        broken = json.loads(json.dumps(AGILE_MED))
        change(broken)
        return [dict(AGILE_MED, id="q1"), broken]
    return _med_records(records)


def med_columns(change: Callable[[dict], Any]) -> Callable[[Path], Path]:
    """The column format of MedMCQA's json release: {"question": [...], "opa": [...], ...}."""
    def records(rs: list[dict]) -> dict:
        columns = {key: [r[key] for r in rs] for key in rs[0]}
        change(columns)
        return columns
    return _med_records(records, ".json")


def med_text(text: bytes, suffix: str) -> Callable[[Path], Path]:
    def apply(root: Path) -> Path:
        path = root / f"broken{suffix}"
        path.write_bytes(text)
        return path
    return apply


def med_latin1(suffix: str) -> Callable[[Path], Path]:
    def apply(root: Path) -> Path:
        path = root / f"broken{suffix}"
        body = MED if suffix == ".json" else None
        text = json.dumps(body) if body else "".join(json.dumps(r) + "\n" for r in MED)
        path.write_bytes(text.replace("Pancreas", "Pancr\u00e9as").encode("latin-1"))
        return path
    return apply


@dataclass(frozen=True)
class Case:
    """One malformed input: `edit` breaks the good dataset; the message must name every string of `names`."""

    id: str
    task: str  # "productqa" (edit gets the category folder) or "medmcqa" (edit gets tmp, returns the file)
    edit: Callable[[Path], Any]
    names: tuple[str, ...]
    expect: str = "error"  # "error": DataError; "warning": loads with a DataQualityWarning


P, M = "productqa", "medmcqa"
CASES = [
    # qa.jsonl: encoding, lines, records
    Case("qa-latin1", P, latin1("qa.jsonl"), ("qa.jsonl:3", "UTF-8")),
    Case("qa-binary", P, raw_bytes("qa.jsonl", b"\xff\xfe\x00{\x00"), ("qa.jsonl:1", "UTF-8")),
    Case("qa-empty", P, raw_bytes("qa.jsonl", b""), ("qa.jsonl", "no question")),
    Case("qa-blank", P, raw_bytes("qa.jsonl", b"\n  \n\t\n"), ("qa.jsonl", "no question")),
    Case("qa-bad-json", P, raw_bytes("qa.jsonl", b'{"id": 1,\n'), ("qa.jsonl:1", "invalid JSON")),
    Case("qa-list-record", P, qa_line(2, lambda r: [r]), ("qa.jsonl:2", "object")),
    Case("qa-string-record", P, qa_line(2, lambda r: "fact"), ("qa.jsonl:2", "object")),
    Case("qa-null-record", P, qa_line(2, lambda r: 0), ("qa.jsonl:2", "object")),
    *(Case(f"qa-missing-{key}", P, qa_field(1, key, delete=True), ("qa.jsonl:1", key))
      for key in ("id", "asin", "question", "short_answer", "type")),
    Case("qa-unknown-type", P, qa_field(1, "type", "opinion_qa"), ("qa.jsonl:1", "type", "opinion_qa")),
    Case("qa-type-list", P, qa_field(1, "type", ["fact_qa"]), ("qa.jsonl:1", "type")),
    Case("qa-unknown-asin", P, qa_field(1, "asin", "B0MISSING0"), ("qa.jsonl:1", "asin", "B0MISSING0")),
    Case("qa-asin-list", P, qa_field(1, "asin", ["B000000001"]), ("qa.jsonl:1", "asin")),
    Case("qa-asin-null", P, qa_field(1, "asin", None), ("qa.jsonl:1", "asin")),
    Case("qa-id-object", P, qa_field(1, "id", {"n": 1}), ("qa.jsonl:1", "id")),
    Case("qa-id-null", P, qa_field(1, "id", None), ("qa.jsonl:1", "id")),
    Case("qa-question-number", P, qa_field(1, "question", 42), ("qa.jsonl:1", "question")),
    Case("qa-question-object", P, qa_field(1, "question", {"text": "Is it red?"}), ("qa.jsonl:1", "question")),
    Case("qa-question-blank", P, qa_field(1, "question", "  "), ("qa.jsonl:1", "question")),
    Case("qa-fact-answer-list", P, qa_field(1, "short_answer", ["yes"]), ("qa.jsonl:1", "short_answer")),
    Case("qa-fact-answer-null", P, qa_field(1, "short_answer", None), ("qa.jsonl:1", "short_answer")),
    Case("qa-fact-answer-bool", P, qa_field(1, "short_answer", True), ("qa.jsonl:1", "short_answer")),
    Case("qa-fact-answer-blank", P, qa_field(1, "short_answer", " "), ("qa.jsonl:1", "short_answer")),
    Case("qa-long-answer-object", P, qa_field(1, "long_answer", {"a": 1}), ("qa.jsonl:1", "long_answer")),
    Case("qa-search-answer-text", P, qa_field(2, "short_answer", "B000000001"), ("qa.jsonl:2", "short_answer")),
    Case("qa-search-item-no-asin", P, qa_field(2, "short_answer", [{"title": "Red Widget"}]),
         ("qa.jsonl:2", "short_answer")),
    Case("qa-search-asin-number", P, qa_field(2, "short_answer", [{"asin": 1}]), ("qa.jsonl:2", "short_answer")),
    Case("qa-search-unknown-gold", P, qa_field(2, "short_answer", [{"asin": "B0MISSING0"}]),
         ("qa.jsonl:2", "B0MISSING0")),
    Case("qa-search-sql-number", P, qa_line(2, lambda r: r["extra_data"].update(answer=7)),
         ("qa.jsonl:2", "answer")),
    Case("qa-duplicate-key", P, raw_bytes("qa.jsonl", json.dumps(QA[0]).replace('"yes"', '"yes", "short_answer": "no"')
                                        .encode()), ("qa.jsonl:1", "short_answer", "twice")),
    Case("qa-duplicate-id", P, qa_field(3, "id", "fact_qa_0"), ("qa.jsonl", "id", "fact_qa_0"), "warning"),
    Case("qa-extra-string", P, qa_field(1, "extra_data", "none"), ("qa.jsonl:1", "extra_data")),
    Case("qa-extra-list", P, qa_field(3, "extra_data", ["knowledge"]), ("qa.jsonl:3", "extra_data")),
    Case("qa-knowledge-object", P, qa_line(3, lambda r: r["extra_data"].update(knowledge={"text": "x"})),
         ("qa.jsonl:3", "knowledge")),
    Case("qa-knowledge-number", P, qa_line(3, lambda r: r["extra_data"].update(knowledge=3)),
         ("qa.jsonl:3", "knowledge")),
    Case("qa-knowledge-list", P, qa_line(3, lambda r: r["extra_data"].update(knowledge=["a", "b"])),
         ("qa.jsonl:3", "knowledge")),
    # metadata.json
    Case("metadata-latin1", P, latin1("metadata.json"), ("metadata.json", "UTF-8")),
    Case("metadata-bad-json", P, raw_bytes("metadata.json", b'{"B000000001": '), ("metadata.json", "JSON")),
    Case("metadata-list", P, _json_edit("metadata.json", lambda d: list(d.values())), ("metadata.json", "object")),
    Case("metadata-duplicate-asin", P, lambda folder: (folder / "metadata.json").write_text(
        json.dumps(METADATA)[:-1] + ', "B000000001": {"title": "Other Widget"}}'),
         ("metadata.json", "B000000001", "twice")),
    Case("metadata-product-string", P, _json_edit("metadata.json", _set(("B000000002",), "Blue Widget")),
         ("metadata.json", "B000000002")),
    Case("metadata-product-null", P, _json_edit("metadata.json", _set(("B000000002",), None)),
         ("metadata.json", "B000000002")),
    Case("metadata-product-list", P, _json_edit("metadata.json", _set(("B000000002",), ["Blue Widget"])),
         ("metadata.json", "B000000002")),
    Case("metadata-feature-list", P, _json_edit("metadata.json", _set(("B000000002", "color"), ["blue", "red"])),
         ("metadata.json", "B000000002", "color")),
    Case("metadata-feature-object", P, _json_edit("metadata.json", _set(("B000000003", "price"), {"usd": 30})),
         ("metadata.json", "B000000003", "price")),
    Case("metadata-review-feature-list", P,
         _json_edit("metadata.json", _set(("B000000002", "Water Resistance"), ["poor"])),
         ("metadata.json", "B000000002", "Water Resistance")),
    Case("metadata-title-number", P, _json_edit("metadata.json", _set(("B000000002", "title"), 17)),
         ("metadata.json", "B000000002", "title")),
    Case("metadata-title-list", P, _json_edit("metadata.json", _set(("B000000002", "title"), ["Blue"])),
         ("metadata.json", "B000000002", "title")),
    Case("metadata-price-not-a-number", P, _json_edit("metadata.json", _set(("B000000003", "price"), "about 30")),
         ("metadata.json", "B000000003", "price"), "warning"),
    Case("metadata-feature-not-in-schema", P, _json_edit("schema.json", _set(("color",), None, delete=True)),
         ("schema.json", "metadata.json", "color"), "warning"),
    Case("metadata-reserved-feature", P, _json_edit("metadata.json", _set(("B000000002", "product_id"), "X")),
         ("metadata.json", "B000000002", "product_id")),
    # schema.json
    Case("schema-latin1", P, latin1("schema.json"), ("schema.json", "UTF-8")),
    Case("schema-bad-json", P, raw_bytes("schema.json", b"{]"), ("schema.json", "JSON")),
    Case("schema-list", P, _json_edit("schema.json", lambda d: list(d)), ("schema.json", "object")),
    Case("schema-duplicate-feature", P, lambda folder: (folder / "schema.json").write_text(
        json.dumps(SCHEMA)[:-1] + ', "price": {"type": "choice"}}'), ("schema.json", "price", "twice")),
    Case("schema-spec-string", P, _json_edit("schema.json", _set(("price",), "cloze")), ("schema.json", "price")),
    Case("schema-spec-null", P, _json_edit("schema.json", _set(("color",), None)), ("schema.json", "color")),
    Case("schema-unknown-type", P, _json_edit("schema.json", _set(("price", "type"), "range")),
         ("schema.json", "price", "type")),
    Case("schema-unit-number", P, _json_edit("schema.json", _set(("price", "unit"), 5)),
         ("schema.json", "price", "unit")),
    Case("schema-choices-string", P, _json_edit("schema.json", _set(("color", "choices"), "red, blue")),
         ("schema.json", "color", "choices")),
    Case("schema-feature-no-product-has", P, _json_edit("schema.json", _set(("weight",), {"type": "cloze"})),
         ("schema.json", "metadata.json", "weight"), "warning"),
    Case("schema-reserved-feature", P, _json_edit("schema.json", _set(("id",), {"type": "cloze"})),
         ("schema.json", "id")),
    # MedMCQA files
    Case("med-jsonl-latin1", M, med_latin1(".jsonl"), ("broken.jsonl:2", "UTF-8")),
    Case("med-json-latin1", M, med_latin1(".json"), ("broken.json", "UTF-8")),
    Case("med-jsonl-binary", M, med_text(b"\xff\xfe{\x00", ".jsonl"), ("broken.jsonl:1", "UTF-8")),
    Case("med-jsonl-empty", M, med_text(b"", ".jsonl"), ("broken.jsonl", "no question")),
    Case("med-jsonl-blank", M, med_text(b"\n \n", ".jsonl"), ("broken.jsonl", "no question")),
    Case("med-json-empty-list", M, med_text(b"[]", ".json"), ("broken.json", "no question")),
    Case("med-jsonl-bad-json", M, med_text(b'{"question": \n', ".jsonl"), ("broken.jsonl:1", "invalid JSON")),
    Case("med-parquet-garbage", M, med_text(b"not a parquet file", ".parquet"), ("broken.parquet", "parquet")),
    Case("med-columns-one-shorter", M, med_columns(lambda c: c["opd"].pop()), ("broken.json", "opd")),
    Case("med-columns-one-text", M, med_columns(lambda c: c.update(opa="C")), ("broken.json", "opa")),
    Case("med-duplicate-key", M, med_text(b'{"question": "Q?", "opa": "a", "opb": "b", "opc": "c", "opd": "d", '
                                          b'"cop": 0, "cop": 2}\n', ".jsonl"), ("broken.jsonl:1", "cop", "twice")),
    Case("med-record-list", M, _med_records(lambda rs: [rs[0], list(rs[1].values())]), ("broken.jsonl:2",)),
    Case("med-question-missing", M, med_field(1, "question", delete=True), ("broken.jsonl:2", "question")),
    Case("med-question-object", M, med_field(1, "question", {"text": "q"}), ("broken.jsonl:2", "question")),
    Case("med-question-number", M, med_field(1, "question", 12), ("broken.jsonl:2", "question")),
    Case("med-option-missing", M, med_field(1, "opc", delete=True), ("broken.jsonl:2", "opc")),
    Case("med-option-object", M, med_field(1, "opb", {"text": "x"}), ("broken.jsonl:2", "opb")),
    Case("med-option-list", M, med_field(1, "opb", ["x"]), ("broken.jsonl:2", "opb")),
    Case("med-cop-out-of-range", M, med_field(1, "cop", 4), ("broken.jsonl:2", "cop")),
    Case("med-cop-string", M, med_field(1, "cop", "1"), ("broken.jsonl:2", "cop")),
    Case("med-cop-bool", M, med_field(1, "cop", True), ("broken.jsonl:2", "cop")),
    Case("med-exp-object", M, med_field(1, "exp", {"text": "x"}), ("broken.jsonl:2", "exp")),
    Case("med-subject-list", M, med_field(1, "subject_name", ["Physiology"]), ("broken.jsonl:2", "subject_name")),
    Case("med-id-object", M, med_field(1, "id", {"n": 1}), ("broken.jsonl:2", "id")),
    Case("agile-options-list", M, med_agile(_set(("options",), ["Vitamin C", "Iron"])),
         ("broken.jsonl:2", "options")),
    Case("agile-option-object", M, med_agile(_set(("options", "B"), {"text": "Iron"})),
         ("broken.jsonl:2", "options", "B")),
    Case("agile-option-letter-bad", M, med_agile(_set(("options",), {"A": "Vitamin C", "Option 2": "Iron"})),
         ("broken.jsonl:2", "options", "Option 2")),
    Case("agile-answer-not-an-option", M, med_agile(_set(("answer",), "E")),
         ("broken.jsonl:2", "answer"), "warning"),
    Case("agile-every-answer-outside", M, _med_records(lambda rs: [dict(AGILE_MED, answer="E")]),
         ("broken.jsonl:1", "answer", "no question left")),
    Case("agile-answer-list", M, med_agile(_set(("answer",), ["A"])), ("broken.jsonl:2", "answer")),
    Case("agile-reflection-object", M, med_agile(_set(("reflection",), {"lesson": "x"})),
         ("broken.jsonl:2", "reflection")),
    Case("agile-source-list", M, med_agile(_set(("source",), ["MedQA"])), ("broken.jsonl:2", "source")),
]


def load(case: Case, tmp_path: Path) -> Any:
    """Break a fresh good dataset with `case.edit`, then load it as a user does: make the env and reset it."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    if case.task == P:
        case.edit(write_category(tmp_path))
        env = gym.make("agile/ProductQA-v2", data_dir=tmp_path / "productqa", split="test", db_dir=tmp_path / "db")
    else:
        env = gym.make("agile/MedMCQA-v2", data_files=case.edit(tmp_path))
    env.reset(seed=0)
    return env


def outcome(case: Case, tmp_path: Path) -> tuple[str, str]:
    """("error" | "warning" | "raw" | "silent", message): how loading the broken dataset ended."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            load(case, tmp_path)
        except DataError as err:
            return "error", str(err)
        except Exception as err:  # noqa: BLE001 - sorting every other exception is the point
            return "raw", f"{type(err).__name__}: {err}"
    quality = [str(w.message) for w in caught if issubclass(w.category, DataQualityWarning)]
    return ("warning", "\n".join(quality)) if quality else ("silent", "")


def test_the_table_is_large_and_its_ids_unique():
    assert len(CASES) >= 50
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_malformed_data_gets_one_clear_message(case, tmp_path):
    kind, message = outcome(case, tmp_path / "broken")
    assert kind == case.expect, f"{case.id}: {kind}: {message}"
    missing = [name for name in case.names if name not in message]
    assert not missing, f"{case.id}: the message does not name {missing}: {message}"


def test_a_correct_load_right_after_failed_ones_works(tmp_path):
    for case in CASES[::7]:
        outcome(case, tmp_path / case.id)
    env = load(Case("good", P, lambda folder: None, ()), tmp_path / "good")
    rewards, terminated = [], False
    for action in ("[PredictAnswer]\n[Answer]: Yes", "[SearchProduct]\n[SQL]: SELECT product_id FROM widgets WHERE "
                   "color = 'red' AND price < 10", "[PredictAnswer]\n[Answer]: No"):
        _, reward, terminated, _, _ = env.step(action)
        rewards.append(reward)
    assert rewards == [1.0, 1.0, 1.0] and terminated
    env = load(Case("good", M, write_med, ()), tmp_path / "good-med")
    assert env.unwrapped.questions[1].gold_short == "B"


@pytest.mark.parametrize("name", ['wid"gets', "wid' gets", 'a "quoted" name'])
def test_a_category_folder_with_quotes_in_its_name_loads_and_answers_sql(tmp_path, name):
    """Not malformed: the table is named after the folder, quoted as SQL needs."""
    rename_folder(name)(write_category(tmp_path))
    env = gym.make("agile/ProductQA-v2", data_dir=tmp_path / "productqa", split="test", db_dir=tmp_path / "db")
    observation, info = env.reset(seed=0)
    assert info["question"]["scope"] == name and f"Table {name}:" in observation
    table = '"' + name.replace('"', '""') + '"'
    env.step("[PredictAnswer]\n[Answer]: yes")
    _, reward, _, _, info = env.step(f"[SearchProduct]\n[SQL]: SELECT product_id FROM {table} WHERE price < 10")
    assert info["result"]["question_id"] == "search_qa_0" and reward == 1.0, info["result"]
