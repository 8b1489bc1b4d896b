import gc
import hashlib
import os
import pickle
import threading
import time

import pytest

from agile_gym.data.builtin import builtin_productqa_root
from agile_gym.data.productqa import load_category
from agile_gym.tools import sql as sql_module
from agile_gym.tools.product_db import build_product_db
from agile_gym.tools.sql import SQLTool
from benchmarks.sql_hostile import text_of, timed_run

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
    "SELECT count(*) FROM sqlite_master",
    "SELECT product_id FROM kettles WHERE (SELECT count(*) FROM sqlite_master) > 0",
    "SELECT product_id FROM kettles WHERE EXISTS (SELECT 1 FROM sqlite_schema)",
    "SELECT count(*) FROM SQLITE_TEMP_MASTER",
    "SELECT product_id FROM kettles, main.sqlite_master LIMIT 1",
    "SELECT count(*) FROM dbstat",
    "SELECT * FROM pragma_table_info('kettles')",
    "VACUUM INTO 'agile-evil.db'",
    "SELECT zeroblob(100000000)",
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


@pytest.fixture(scope="module")
def shared_tool(tmp_path_factory):
    category = load_category(builtin_productqa_root(), "test", "kettles")
    tool = SQLTool(build_product_db(category, tmp_path_factory.mktemp("db")), "kettles")
    assert tool.run("SELECT 1").ok  # the worker is up before the timed queries
    yield tool
    tool.close()


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("sql", HOSTILE)
def test_hostile_sql_fails_cleanly_and_changes_nothing(shared_tool, sql):
    tool = shared_tool
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


# Issue 17's kinds at ten times its sizes (a 233-character LIKE over generated strings, a 40,000-character LIKE
# pattern, instr() over a million characters, replace() with a 100,000-character pattern, GLOB alike), then the
# worst the length limits still allow: one long call, and one row of many (no progress handler runs inside it).
LONG_CALLS = {
    "like 2,330 over generated": (f"SELECT {text_of(1_000_000)} LIKE '%' || {text_of(2_329)} || 'b'", "too big"),
    "like 400,000 pattern": (f"SELECT {text_of(99_000)} LIKE '%' || {text_of(400_000)} || 'b'", "too big"),
    "like 2,330 over 99,000": (f"SELECT {text_of(99_000)} LIKE '%' || {text_of(2_329)} || 'b'", "too complex"),
    "glob 400,000 pattern": (f"SELECT {text_of(99_000)} GLOB '*' || {text_of(400_000)} || 'b'", "too big"),
    "instr 10 million": (f"SELECT instr({text_of(10_000_000)}, {text_of(5_000_000)} || 'b')", "too big"),
    "replace 1 million pattern": (f"SELECT replace({text_of(99_000)}, {text_of(1_000_000)} || 'b', '')", "too big"),
    "like 997 over 99,000": (f"SELECT {text_of(99_000)} LIKE '%' || {text_of(997)} || 'b'", None),
    "instr 49,000 in 99,000": (f"SELECT instr({text_of(99_000)}, {text_of(49_000)} || 'b')", None),
    "300 likes in one row": (
        f"WITH v(a, b) AS (SELECT {text_of(99_000)}, '%' || {text_of(990)} || 'b') SELECT "
        + " OR ".join(["a LIKE b"] * 300) + " FROM v", "time limit"),
}
# A 9,000,000-character value selected 20,000 times; 2,000 columns x 510 rows; then the widest the column and
# length limits allow (100 columns of 99,000 characters x 51 rows; 100 columns x 510 rows of 20,000).
WIDE_ROWS = {
    "9 million x 20,000": (
        f"WITH v(x) AS MATERIALIZED (SELECT {text_of(9_000_000)}) SELECT " + ", ".join(["x"] * 20_000) + " FROM v",
        "too many columns"),
    "2,000 columns x 510 rows": (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 510) SELECT "
        + ", ".join(f"i + {k}" for k in range(2_000)) + " FROM n", "too many columns"),
    "100 x 99,000 x 51 rows": (
        f"WITH v(x) AS MATERIALIZED (SELECT {text_of(99_000)}), n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
        "WHERE i < 51) SELECT " + ", ".join(["x"] * 100) + " FROM v, n", "result too large"),
    "100 x 20,000 x 510 rows": (
        f"WITH v(x) AS (SELECT {text_of(20_000)}), n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 510) "
        "SELECT " + ", ".join(["x"] * 100) + " FROM v, n", "result too large"),
}


def timed(tool, sql):
    """(result, wall seconds, peak MiB: the worker's peak resident memory plus what this process allocated)."""
    result, elapsed, parent = timed_run(tool, sql)
    return result, elapsed, (tool.peak_memory_mb or 0.0) + parent


@pytest.mark.parametrize("name", list(LONG_CALLS) + list(WIDE_ROWS))
def test_every_query_ends_within_two_seconds_and_600_mb(shared_tool, name):
    sql, refusal = {**LONG_CALLS, **WIDE_ROWS}[name]
    result, elapsed, peak_mb = timed(shared_tool, sql)
    assert elapsed < 2.0 and peak_mb < 600
    if refusal is None:  # the largest call the limits allow ends well inside the time limit
        assert result.ok and result.rows == ((0,),)
    else:
        assert not result.ok and refusal in result.error
    assert shared_tool.run("SELECT count(*) FROM kettles").rows == ((12,),)


def test_a_call_past_the_deadline_kills_the_worker_and_a_fresh_one_answers(tool):
    tool.run("SELECT 1")
    first = tool._worker.process
    thirty_trims = (f"WITH v(a, b) AS (SELECT {text_of(99_000)}, {text_of(8_000, 'b')} || 'a') SELECT "
                    + " || ".join(["ltrim(a, b)"] * 30) + " FROM v")
    result, elapsed, _ = timed(tool, thirty_trims)
    assert not result.ok and f"{tool.timeout_s:g} s time limit" in result.error  # the handler alone ran ~5 s
    assert tool.timeout_s <= elapsed < 2.0
    assert first.poll() is not None  # killed and reaped, no zombie
    assert tool.run("SELECT count(*) FROM kettles").rows == ((12,),) and tool._worker.process is not first


def test_memory_past_the_cap_is_an_error_not_a_crash(tmp_path):
    category = load_category(builtin_productqa_root(), "test", "kettles")
    tool = SQLTool(build_product_db(category, tmp_path), "kettles", timeout_s=20, max_memory_mb=64)
    sql = (f"WITH v(x) AS MATERIALIZED (SELECT {text_of(50_000)}), n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
           "SELECT x || i FROM v, n ORDER BY random()")  # sorts ever more 50 kB rows
    result, elapsed, _ = timed(tool, sql)
    assert not result.ok and "64 MB memory limit" in result.error and elapsed < 20
    assert tool.run("SELECT count(*) FROM kettles").rows == ((12,),)
    tool.close()


def test_close_and_garbage_collection_end_the_worker(tmp_path):
    tool = SQLTool(build_product_db(load_category(builtin_productqa_root(), "test", "kettles"), tmp_path), "kettles")
    tool.run("SELECT 1")
    process = tool._worker.process
    tool.close()
    assert process.poll() is not None
    tool.run("SELECT 1")
    process = tool._worker.process
    del tool
    gc.collect()
    assert process.poll() is not None


def test_an_idle_worker_exits_and_the_next_query_starts_another(tmp_path):
    category = load_category(builtin_productqa_root(), "test", "kettles")
    tool = SQLTool(build_product_db(category, tmp_path), "kettles", idle_exit_s=0.2)
    assert tool.run("SELECT count(*) FROM kettles").rows == ((12,),)
    first = tool._worker.process
    first.wait(timeout=10)  # exits by itself
    assert tool.run("SELECT count(*) FROM kettles").rows == ((12,),) and tool._worker.process is not first
    tool.close()


def test_a_forked_copy_starts_its_own_worker_and_leaves_the_parents_alone(tool):
    assert tool.run("SELECT 1").ok
    parent_worker = tool._worker.process
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through its exit code
        ok = tool.run("SELECT count(*) FROM kettles").rows == ((12,),) and tool._worker.process is not parent_worker
        tool.close()
        os._exit(0 if ok else 1)
    assert os.waitpid(child, 0)[1] == 0
    assert parent_worker.poll() is None and tool.run("SELECT count(*) FROM kettles").rows == ((12,),)


@pytest.mark.parametrize("sql", ["SELECT product_id FROM " + "k" * 90_000, "SELECT " + "x" * 90_000 + " FROM kettles",
                                 "SELECT product_id FROM kettles WHERE " + "(" * 50_000])
def test_an_error_that_quotes_a_long_query_is_cut(shared_tool, sql):
    result = shared_tool.run(sql)
    assert not result.ok and len(result.error) <= sql_module.ERROR_CHARS + 40
    assert "characters, cut)" in result.error or len(result.error) <= sql_module.ERROR_CHARS


def test_sql_that_is_not_text_or_too_long_is_refused_without_the_worker(tool):
    assert tool.run(None).error == "SQL must be text, got NoneType"
    assert "SQL too long" in tool.run("SELECT '" + "a" * 200_000 + "'").error
    assert tool._worker is None


def test_a_worker_that_dies_mid_query_or_cannot_start_is_an_error_then_recovers(tool, monkeypatch):
    tool.run("SELECT 1")
    threading.Timer(0.2, tool._worker.process.kill).start()
    result = tool.run("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n")
    assert not result.ok and "worker stopped during the query" in result.error
    assert tool.run("SELECT count(*) FROM kettles").rows == ((12,),)
    tool.close()
    monkeypatch.setattr(sql_module, "_WORKER", tool.path.parent / "missing_worker.py")
    result = tool.run("SELECT 1")
    assert not result.ok and "worker exited at start (exit code 2)" in result.error


def test_no_file_appears_in_the_database_folder_or_working_directory(tool, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = set(os.listdir(tmp_path))
    for sql in ("VACUUM INTO 'evil.db'", "ATTACH 'evil.db' AS e", f"ATTACH '{tool.path.parent}/evil.db' AS e",
                "SELECT writefile('evil.txt', 'x')", "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
                "FROM n) SELECT i FROM n ORDER BY random()"):
        assert not tool.run(sql).ok
    assert set(os.listdir(tmp_path)) == before
