import json
import shutil
import sqlite3

import gymnasium as gym
import pytest

import agile_gym  # noqa: F401
from agile_gym.agents import AlwaysAdviceAgent, OracleAgent, play_session
from agile_gym.data.builtin import BUILTIN_CATEGORIES, builtin_productqa_root, write_builtin_productqa
from agile_gym.data.productqa import list_categories, load_category
from agile_gym.data.types import Column, DataError, DataQualityWarning
from agile_gym.tools.product_db import build_product_db
from agile_gym.tools.sql import SQLTool


def test_builtin_data_is_deterministic_and_has_every_question_type(tmp_path):
    a, b = write_builtin_productqa(tmp_path / "a"), write_builtin_productqa(tmp_path / "b")
    for split, names in BUILTIN_CATEGORIES.items():
        assert list_categories(a, split) == sorted(names)
        for name in names:
            for file in ("qa.jsonl", "schema.json", "metadata.json"):
                assert (a / split / name / file).read_bytes() == (b / split / name / file).read_bytes()
            types = {q.type for q in load_category(a, split, name).questions}
            assert types == {"fact_qa", "search_qa", "reasoning_qa"}


def test_builtin_reference_sql_reproduces_every_gold_list(tmp_path):
    root = builtin_productqa_root()
    for split, names in BUILTIN_CATEGORIES.items():
        for name in names:
            category = load_category(root, split, name)
            tool = SQLTool(build_product_db(category, tmp_path), name)
            for q in category.questions:
                if q.type == "search_qa":
                    assert {r[0] for r in tool.run(q.reference_sql).rows} == set(q.gold_products), q.id


def _category(tmp_path, qa_lines, schema=None, metadata=None):
    folder = tmp_path / "test" / "widgets"
    folder.mkdir(parents=True)
    (folder / "schema.json").write_text(json.dumps(schema or {"price": {"type": "cloze", "unit": "dollar"}}))
    (folder / "metadata.json").write_text(json.dumps(metadata or {"B000000001": {"title": "W", "price": "3"}}))
    (folder / "qa.jsonl").write_text("\n".join(qa_lines) + "\n")
    return tmp_path


GOOD = json.dumps({"id": "fact_qa_0", "asin": "B000000001", "question": "Is it red?", "short_answer": "yes",
                   "long_answer": "Yes.", "type": "fact_qa", "extra_data": None})


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", "qa.jsonl:2: invalid JSON"),
        (GOOD.replace("fact_qa\"", "opinion_qa\""), "qa.jsonl:2: field 'type': unknown question type 'opinion_qa'"),
        (GOOD.replace("B000000001", "B0MISSING0"), "qa.jsonl:2: field 'asin': asin B0MISSING0 is not in metadata.json"),
        (GOOD.replace('"question": "Is it red?", ', ""), "qa.jsonl:2: missing field(s) question"),
    ],
)
def test_bad_records_name_file_and_line(tmp_path, line, message):
    root = _category(tmp_path, [GOOD, line])
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_category(root, "test", "widgets")


def test_missing_files_and_folders_are_named(tmp_path):
    root = _category(tmp_path, [GOOD])
    (root / "test" / "widgets" / "schema.json").unlink()
    with pytest.raises(DataError, match="missing file .*schema.json"):
        load_category(root, "test", "widgets")
    with pytest.raises(DataError, match="no ProductQA split folder"):
        list_categories(tmp_path, "train")
    with pytest.raises(DataError, match="categories of split 'test': widgets"):
        load_category(root, "test", "gadgets")


def test_any_category_folder_loads_through_gym_make(tmp_path):
    root = _category(tmp_path, [GOOD])
    env = gym.make("agile/ProductQA-v2", data_dir=root, split="test")
    _, info = env.reset(seed=0)
    assert info["question"]["scope"] == "widgets"
    _, reward, terminated, _, _ = env.step("[PredictAnswer]\n[Answer]: Yes\n[Short Answer]:  YES ")
    assert reward == 1.0 and terminated


def test_data_dir_defaults_to_the_environment_variable(tmp_path, monkeypatch):
    _category(tmp_path / "productqa", [GOOD])
    monkeypatch.setenv("AGILE_DATA_DIR", str(tmp_path))
    _, info = gym.make("agile/ProductQA-v2").reset()
    assert info["question"]["scope"] == "widgets"


# ---- columns come from the schema and from what the products carry ----------------------------------------

COLOR_SEARCH = json.dumps({
    "id": "search_qa_0", "asin": "B000000001", "question": "Which red widgets weigh over 1 kg?", "type": "search_qa",
    "short_answer": [{"asin": "B000000001", "title": "Red Widget"}], "long_answer": "Red Widget.",
    "extra_data": {"answer": "SELECT product_id FROM widgets WHERE color = 'red' AND weight > 1"},
})
UNLISTED = {  # the schema lists price only; the products also carry color (text) and weight (numbers as text)
    "B000000001": {"title": "Red Widget", "price": "3", "color": "red", "weight": "1.5", "Grip": "good"},
    "B000000002": {"title": "Blue Widget", "price": "4", "color": "blue", "weight": "2"},
    "B000000003": {"title": "Small Red Widget", "price": "5", "color": "red", "weight": "0.25"},
}


def test_features_the_schema_does_not_list_become_typed_columns_with_a_warning(tmp_path):
    root = _category(tmp_path, [COLOR_SEARCH], metadata=UNLISTED)
    with pytest.warns(DataQualityWarning, match=r"metadata.json carries feature\(s\) that .*schema.json does not "
                                                r"list: color \(text\), weight \(number\)"):
        category = load_category(root, "test", "widgets")
    assert category.columns == (Column("price", True, "dollar"), Column("color", False), Column("weight", True))
    db = sqlite3.connect(build_product_db(category, tmp_path / "db"))
    assert db.execute("SELECT typeof(weight), typeof(color) FROM widgets WHERE asin = 'B000000003'").fetchone() == (
        "real", "text")
    with pytest.warns(DataQualityWarning, match="color"):
        env = gym.make("agile/ProductQA-v2", data_dir=root, split="test", db_dir=tmp_path / "db")
    observation, _ = env.reset(seed=0)
    assert "color (one of: blue, red)" in observation and "weight (number)" in observation
    sql = "SELECT product_id FROM widgets WHERE color = 'red' AND weight > 1"
    _, reward, _, _, info = env.step(f"[SearchProduct]\n[SQL]: {sql}")
    assert reward == 1.0 and info["result"]["correct"]


def test_a_schema_feature_no_product_has_is_an_empty_column_with_a_warning(tmp_path):
    schema = {"price": {"type": "cloze", "unit": "dollar"}, "wattage": {"type": "cloze", "unit": "watt"}}
    root = _category(tmp_path, [GOOD], schema=schema)
    with pytest.warns(DataQualityWarning, match=r"schema.json lists feature\(s\) that no product of .*metadata.json "
                                                r"has: 'wattage'"):
        category = load_category(root, "test", "widgets")
    db = sqlite3.connect(build_product_db(category, tmp_path / "db"))
    assert db.execute("SELECT count(*), count(wattage) FROM widgets").fetchone() == (1, 0)


@pytest.mark.real_data
def test_a_real_category_whose_schema_lost_a_feature_still_answers_its_searches(productqa_root, tmp_path):
    """all_pans with `size` (a number) dropped from schema.json: the column is rebuilt from the products."""
    folder = tmp_path / "test" / "all_pans"
    shutil.copytree(productqa_root / "test" / "all_pans", folder)
    schema = json.loads((folder / "schema.json").read_text(encoding="utf-8"))
    del schema["size"]
    (folder / "schema.json").write_text(json.dumps(schema), encoding="utf-8")
    with pytest.warns(DataQualityWarning, match=r"schema.json does not list: size \(number\)"):
        category = load_category(tmp_path, "test", "all_pans")
    assert [c.name for c in category.columns if c.numeric] == ["price", "oven_safe_temperature", "size"]
    tool = SQLTool(build_product_db(category, tmp_path / "db"), "all_pans")
    intact = SQLTool(build_product_db(load_category(productqa_root, "test", "all_pans"), tmp_path / "db"), "all_pans")
    about_size = [q for q in category.questions if q.type == "search_qa" and "size" in (q.reference_sql or "")]
    assert len(about_size) > 20
    for q in about_size:
        mine = tool.run(q.reference_sql)
        assert mine.ok and mine.rows == intact.run(q.reference_sql).rows, (q.id, q.reference_sql, mine.error)
    hits = sum({r[0] for r in tool.run(q.reference_sql).rows} == set(q.gold_products) for q in about_size)
    assert hits / len(about_size) >= 0.99


# ---- the real release (skipped when ../shared/data is absent) -------------------------------------------

def _same_value(ours, reference):
    if isinstance(ours, (int, float)) and isinstance(reference, str):
        return float(reference) == ours  # camera_lenses.filter_size is text in the release, a number here
    return ours == reference


@pytest.mark.real_data
@pytest.mark.filterwarnings("error::agile_gym.data.types.DataQualityWarning")  # the release's files agree
def test_every_real_question_loads_and_the_built_db_matches_the_reference(productqa_root, tmp_path):
    reference = sqlite3.connect(productqa_root / "reference_product_qa.db")
    total = 0
    for split in ("train", "test"):
        for name in list_categories(productqa_root, split):
            category = load_category(productqa_root, split, name)
            qa_lines = (productqa_root / split / name / "qa.jsonl").read_text(encoding="utf-8").splitlines()
            lines = sum(1 for line in qa_lines if line.strip())
            assert len(category.questions) == lines
            total += lines
            mine = sqlite3.connect(build_product_db(category, tmp_path))
            columns = [row[1] for row in reference.execute(f"PRAGMA table_info(`{name}`)")]
            query = f"SELECT {', '.join(columns)} FROM `{name}` ORDER BY asin"
            ref_rows, my_rows = reference.execute(query).fetchall(), mine.execute(query).fetchall()
            assert len(ref_rows) == len(my_rows) == len(category.products)
            for ref_row, my_row in zip(ref_rows, my_rows):
                assert all(_same_value(m, r) for m, r in zip(my_row, ref_row)), (name, ref_row, my_row)
    assert total > 70_000


@pytest.mark.real_data
def test_reference_sql_reproduces_gold_on_the_built_db(productqa_root, tmp_path):
    hits = searches = 0
    for split in ("train", "test"):
        for name in list_categories(productqa_root, split):
            category = load_category(productqa_root, split, name)
            tool = SQLTool(build_product_db(category, tmp_path), name)
            for q in category.questions:
                if q.type == "search_qa":
                    searches += 1
                    result = tool.run(q.reference_sql)
                    hits += result.ok and {r[0] for r in result.rows} == set(q.gold_products)
    assert searches > 10_000 and hits / searches >= 0.99


@pytest.mark.real_data
def test_oracle_and_always_advice_on_the_real_test_split(productqa_root):
    env = gym.make("agile/ProductQA-v2", data_dir=productqa_root, split="test")
    oracle = play_session(env, OracleAgent(env), seed=0)
    assert oracle["accuracy"] == 1.0 and oracle["questions"] > 4000
    advice = play_session(env, AlwaysAdviceAgent(), seed=0)
    assert advice["total_score"] == pytest.approx(0.7)
