import hashlib
import pickle
import time

import pytest

from agile_gym.data.builtin import builtin_productqa_root
from agile_gym.data.productqa import load_category
from agile_gym.tools.product_db import build_product_db
from agile_gym.tools.sql import SQLTool

HOSTILE = [
    "DROP TABLE kettles",
    "DELETE FROM kettles",
    "UPDATE kettles SET price = 0",
    "INSERT INTO kettles (asin) VALUES ('X')",
    "CREATE TABLE evil (x)",
    "ATTACH DATABASE '/tmp/agile-evil.db' AS evil",
    "PRAGMA user_version = 7",
    "PRAGMA journal_mode = WAL",
    "PRAGMA writable_schema = ON",
    "SELECT * FROM sqlite_master",
    "SELECT product_id FROM kettles; DROP TABLE kettles",
    "SELECT load_extension('libevil')",
    "SELECT printf('%.*c', 2000000000, 'x')",
    "BEGIN IMMEDIATE",
    "VACUUM",
]


@pytest.fixture()
def tool(tmp_path):
    category = load_category(builtin_productqa_root(), "test", "kettles")
    path = build_product_db(category, tmp_path)
    yield SQLTool(path, "kettles", timeout_s=0.5)


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("sql", HOSTILE)
def test_hostile_sql_fails_cleanly_and_changes_nothing(tool, sql):
    before = digest(tool.path)
    start = time.monotonic()
    result = tool.run(sql)
    assert not result.ok and result.error
    assert time.monotonic() - start < 2.0
    assert digest(tool.path) == before
    assert tool.run("SELECT count(*) FROM kettles").rows == ((12,),)


def test_never_ending_recursive_query_stops_at_the_time_limit(tool):
    start = time.monotonic()
    result = tool.run("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n")
    elapsed = time.monotonic() - start
    assert not result.ok and "time limit" in result.error
    assert 0.4 < elapsed < 2.0


def test_rows_are_capped_and_cap_cannot_go_below_fifty(tool):
    result = tool.run("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) SELECT i FROM n")
    assert result.ok and len(result.rows) == 50 and result.truncated
    with pytest.raises(ValueError, match="at least 50"):
        SQLTool(tool.path, "kettles", max_rows=10)


def test_product_id_is_the_asin_and_tool_survives_pickling(tool):
    result = tool.run('SELECT product_id, asin FROM kettles WHERE brand = "Boilwell"')
    assert result.ok and result.rows and all(a == b for a, b in result.rows)
    clone = pickle.loads(pickle.dumps(tool))
    assert clone.run("SELECT count(*) FROM kettles").rows == ((12,),)


def test_database_is_cached_by_content(tmp_path):
    category = load_category(builtin_productqa_root(), "test", "kettles")
    first = build_product_db(category, tmp_path)
    mtime = first.stat().st_mtime_ns
    assert build_product_db(category, tmp_path) == first and first.stat().st_mtime_ns == mtime
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no staging file left beside it
