"""Hostile SQL against the ProductQA SQL tool: what changed, what was created, how long and how much memory.

    python -m benchmarks.sql_hostile            # every statement (about 250, ~1.5 min); writes results/sql_hostile.json
    python -m benchmarks.sql_hostile --quick    # two statements of each kind (a few seconds), for the tests

Each statement runs through one `SQLTool` (default settings: 1 s time limit) on a fresh database of the built-in
`kettles` category, as an agent's `[SQL]` action would. After each one the benchmark records whether the tool
answered or refused, its wall time, the peak memory (the worker's peak resident memory plus the Python memory
the parent allocated, tracemalloc), whether the database file's SHA-256 changed, whether any file appeared in
the database folder or the working directory, and whether the tool still answers a plain count correctly.
Kinds: writes, ATTACH, PRAGMA, file and allocation functions, schema reads, denial of service (recursive CTEs,
cross joins, long function calls at ten times the sizes of issue 17), long literals, several statements,
unicode, NUL bytes and odd result types.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sqlite3
import tempfile
import time
import tracemalloc
from pathlib import Path

import agile_gym
from agile_gym.data.builtin import builtin_productqa_root
from agile_gym.data.productqa import load_category
from agile_gym.results import cell, markdown_table
from agile_gym.tools.product_db import build_product_db
from agile_gym.tools.sql import SQLTool

TABLE = "kettles"


def text_of(length: int, char: str = "a") -> str:
    """SQL for a `length`-character string built inside SQLite (doubling in a recursive CTE), no long literal."""
    return (
        f"(WITH RECURSIVE s(x) AS (SELECT '{char}' UNION ALL SELECT x || substr(x, 1, {length} - length(x)) "
        f"FROM s WHERE length(x) < {length}) SELECT max(x) FROM s)"
    )


def _rows(count: int) -> str:
    return f"n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count})"


def _writes(t: str) -> list[str]:
    return [
        f"DROP TABLE {t}", f"DELETE FROM {t}", f"UPDATE {t} SET price = 0", f"INSERT INTO {t} (asin) VALUES ('X')",
        f"REPLACE INTO {t} (id, asin) VALUES (1, 'X')", f"INSERT OR REPLACE INTO {t} (asin) SELECT asin FROM {t}",
        f"ALTER TABLE {t} RENAME TO gone", f"ALTER TABLE {t} ADD COLUMN evil TEXT", "CREATE TABLE evil (x)",
        "CREATE TEMP TABLE evil (x)", f"CREATE INDEX evil ON {t}(price)", f"CREATE VIEW evil AS SELECT * FROM {t}",
        f"CREATE TRIGGER evil AFTER INSERT ON {t} BEGIN DELETE FROM {t}; END",
        "CREATE VIRTUAL TABLE evil USING fts5(x)", f"WITH x AS (SELECT 1) DELETE FROM {t}",
        f"DELETE FROM {t} RETURNING *", f"UPDATE {t} SET title = title RETURNING 1",
        "VACUUM", "VACUUM INTO 'sql-hostile-vacuum.db'", "REINDEX", "ANALYZE", "BEGIN IMMEDIATE", "BEGIN EXCLUSIVE",
        "COMMIT", "ROLLBACK", "SAVEPOINT s1", "RELEASE s1", f"DROP TABLE IF EXISTS {t}", "DROP VIEW IF EXISTS v",
        f"INSERT INTO {t} DEFAULT VALUES",
    ]


def _attach(folder: Path) -> list[str]:
    return [
        "ATTACH DATABASE 'sql-hostile-attach.db' AS evil", f"ATTACH '{folder / 'sql-hostile-attach.db'}' AS evil",
        "ATTACH ':memory:' AS evil", "ATTACH 'file:sql-hostile-uri.db?mode=rwc' AS evil", "ATTACH '' AS evil",
        f"ATTACH '{folder}' AS evil", "ATTACH DATABASE '/dev/null' AS evil", "DETACH DATABASE main",
        "SELECT * FROM evil.sqlite_master", "ATTACH 'file::memory:?cache=shared' AS evil",
        f"ATTACH (SELECT '{folder / 'x.db'}') AS evil", "ATTACH 'sql-hostile-attach.db' AS temp",
    ]


def _pragmas(t: str) -> list[str]:
    return [
        "PRAGMA user_version = 7", "PRAGMA journal_mode = WAL", "PRAGMA journal_mode = DELETE",
        "PRAGMA writable_schema = ON", "PRAGMA query_only = OFF", "PRAGMA temp_store = FILE",
        "PRAGMA temp_store_directory = '.'", "PRAGMA cache_size = -10000000", "PRAGMA mmap_size = 1000000000",
        f"PRAGMA table_info({t})", "PRAGMA database_list", "PRAGMA compile_options", "PRAGMA integrity_check",
        "PRAGMA wal_checkpoint(TRUNCATE)", "PRAGMA locking_mode = EXCLUSIVE", "PRAGMA foreign_keys = ON",
        "PRAGMA hard_heap_limit = 1", "PRAGMA soft_heap_limit = 1", "PRAGMA max_page_count = 1",
        "PRAGMA schema_version = 99", f"SELECT * FROM pragma_table_info('{t}')", "SELECT * FROM pragma_database_list",
        "SELECT * FROM pragma_compile_options", f"SELECT name FROM pragma_index_list('{t}')",
        "SELECT * FROM pragma_function_list",
    ]


def _functions(t: str) -> list[str]:
    return [
        "SELECT load_extension('libevil')", "SELECT load_extension('/usr/lib/sqlite3/pcre.so', 'init')",
        "SELECT readfile('/etc/passwd')", "SELECT writefile('sql-hostile-write.txt', 'x')",
        "SELECT edit('x', 'vi')", "SELECT fts3_tokenizer('simple')", "SELECT zeroblob(2000000000)",
        "SELECT length(zeroblob(100000000))", "SELECT randomblob(2000000000)", "SELECT hex(randomblob(1000000))",
        "SELECT printf('%.*c', 2000000000, 'x')", "SELECT format('%2000000000d', 1)", "SELECT sqlite_log(1, 'x')",
        f"SELECT product_id FROM {t} WHERE length(zeroblob(price)) > 0", "SELECT LOAD_EXTENSION('x')",
        "SELECT char(" + ", ".join(["1114111"] * 127) + ")", "SELECT fts5_source_id()", "SELECT rtreecheck('x')",
        "SELECT sqlite_compileoption_get(0)", "SELECT unhex('00')",
    ]


def _schema(t: str) -> list[str]:
    return [
        "SELECT * FROM sqlite_master", "SELECT sql FROM sqlite_schema", "SELECT count(*) FROM sqlite_master",
        f"SELECT product_id FROM {t} WHERE (SELECT count(*) FROM sqlite_master) > 0",
        f"SELECT product_id FROM {t} WHERE EXISTS (SELECT 1 FROM sqlite_schema)",
        f"SELECT product_id FROM {t} WHERE 1 IN (SELECT 1 FROM sqlite_master)",
        f"SELECT product_id FROM {t}, sqlite_master LIMIT 1", "SELECT count(*) FROM SQLITE_MASTER",
        'SELECT count(*) FROM "sqlite_master"', "SELECT count(*) FROM main.sqlite_master",
        "SELECT count(*) FROM temp.sqlite_master", "SELECT count(*) FROM sqlite_temp_master",
        "SELECT count(*) FROM sqlite_temp_schema", f"SELECT product_id FROM {t} UNION SELECT name FROM sqlite_master",
        "WITH m AS (SELECT * FROM sqlite_master) SELECT count(*) FROM m",
        "SELECT (SELECT group_concat(name) FROM sqlite_schema)", "SELECT count(*) FROM sqlite_sequence",
        "SELECT count(*) FROM sqlite_stat1", "SELECT count(*) FROM dbstat", "SELECT * FROM dbstat",
        "SELECT count(*) FROM sqlite_stmt", "SELECT count(*) FROM json_each('[1,2]')",
        "SELECT * FROM json_tree('{\"a\": 1}')", "SELECT count(*) FROM other_table",
        f"SELECT a.product_id FROM {t} a JOIN sqlite_master b ON 1", "SELECT count(*) FROM sqlite_dbpage",
    ]


def _denial_of_service(t: str) -> list[str]:
    long_calls = "WITH v(a, b) AS (SELECT " + text_of(99_000) + ", " + text_of(8_000, "b") + " || 'a') SELECT "
    like_calls = "WITH v(a, b) AS (SELECT " + text_of(99_000) + ", '%' || " + text_of(990) + " || 'b') SELECT "
    return [
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION SELECT i + 1 FROM n) SELECT count(*) FROM n",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT i FROM n ORDER BY random() LIMIT 1",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT length(group_concat(i)) FROM n",
        "WITH RECURSIVE n(i, s) AS (SELECT 1, 'x' UNION ALL SELECT i + 1, s || s FROM n) SELECT max(length(s)) FROM n",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(DISTINCT i) FROM n",
        f"SELECT count(*) FROM {t} a, {t} b, {t} c, {t} d, {t} e, {t} f, {t} g, {t} h",
        f"SELECT a.title FROM {t} a, {t} b, {t} c, {t} d, {t} e, {t} f ORDER BY random()",
        "SELECT count(*) FROM " + ", ".join(f"{t} t{i}" for i in range(64)),
        f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n, {t}",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT sum(i) OVER (ORDER BY i DESC) FROM n",
        # Single long calls at ten times issue 17's sizes, and at the largest the length limits allow.
        f"SELECT {text_of(1_000_000)} LIKE '%' || {text_of(2_329)} || 'b'",
        f"SELECT {text_of(1_000_000)} LIKE '%' || {text_of(400_000)} || 'b'",
        f"SELECT {text_of(99_000)} LIKE '%' || {text_of(997)} || 'b'",
        f"SELECT {text_of(99_000)} GLOB '*' || {text_of(997)} || 'b'",
        f"SELECT {text_of(1_000_000)} GLOB '*' || {text_of(400_000)} || 'b'",
        f"SELECT instr({text_of(10_000_000)}, {text_of(5_000_000)} || 'b')",
        f"SELECT instr({text_of(99_000)}, {text_of(49_000)} || 'b')",
        f"SELECT length(replace({text_of(1_000_000)}, {text_of(999_999)} || 'b', ''))",
        f"SELECT length(replace({text_of(99_000)}, {text_of(49_000)} || 'b', ''))",
        long_calls + " || ".join(["ltrim(a, b)"] * 30) + " FROM v",
        like_calls + " OR ".join(["a LIKE b"] * 300) + " FROM v",
        "WITH v(x) AS MATERIALIZED (SELECT " + text_of(9_000_000) + ") SELECT " + ", ".join(["x"] * 20_000) + " FROM v",
        "WITH v(x) AS MATERIALIZED (SELECT " + text_of(99_000) + "), " + _rows(51) + " SELECT "
        + ", ".join(["x"] * 100) + " FROM v, n",
        "WITH RECURSIVE " + _rows(510) + " SELECT " + ", ".join(f"i + {k}" for k in range(2_000)) + " FROM n",
        "WITH RECURSIVE " + _rows(510) + " SELECT " + ", ".join(f"i + {k}" for k in range(100)) + " FROM n",
        "SELECT " + "(" * 990 + "1" + ")" * 990, "SELECT " + " + ".join(["1"] * 5000),
        " UNION ALL ".join(f"SELECT {i}" for i in range(600)),
        f"SELECT product_id FROM {t} WHERE price IN (" + ", ".join(str(i) for i in range(15_000)) + ")",
    ]


def _long_literals(t: str) -> list[str]:
    return [
        "SELECT '" + "a" * 99_000 + "'", "SELECT '" + "a" * 200_000 + "'", "SELECT x'" + "ab" * 49_000 + "'",
        "SELECT length('" + "é" * 40_000 + "')", f"SELECT product_id FROM {t} WHERE title = '" + "a" * 90_000 + "'",
        f"SELECT product_id FROM {t} WHERE title LIKE '%" + "a" * 5_000 + "%'",
        'SELECT 1 AS "' + "c" * 50_000 + '"', f"SELECT product_id FROM {t} -- " + "c" * 99_000,
        f"SELECT product_id FROM {t} /* " + "c" * 200_000 + " */", "SELECT " + "9" * 10_000,
        "SELECT 1e" + "9" * 1_000, "SELECT '" + "'' " * 30_000 + "'",
    ]


def _several_statements(t: str) -> list[str]:
    return [
        "SELECT 1; SELECT 2", f"SELECT product_id FROM {t}; DROP TABLE {t}", f"SELECT 1; DELETE FROM {t}",
        f"SELECT 1;\n-- comment\nDROP TABLE {t}", f"SELECT 1 /* ; */; UPDATE {t} SET price = 0",
        "SELECT 1;;", ";", "", "   ", "-- only a comment", f"SELECT ';' ; DROP TABLE {t}",
        f"SELECT product_id FROM {t}; ATTACH 'sql-hostile-multi.db' AS e", "SELECT 1; PRAGMA writable_schema = ON",
        "SELECT 1\n;\nVACUUM INTO 'sql-hostile-multi.db'",
    ]


def _unicode(t: str) -> list[str]:
    return [
        f"SELECT product_id FROM {t} WHERE title = 'чайник'", f"SELECT product_id FROM {t} WHERE title LIKE '%水壶%'",
        "SELECT '\U0001F600' || '\u200b' || '\u202e'", "SELECT 'kettle \ud800 boil'", "SELECT '\udfff'",
        f"SELECT product_id FROM {t}\uff1b DROP TABLE {t}", "SELECT product_id FROM kеttles",
        f"SELECT product_id FROM {t} WHERE title = \u2018x\u2019", "SELECT upper('ǆ'), lower('İ')",
        "SELECT length('\U0010ffff' || char(1114111))", "SELECT char(55296)", "SELECT unicode('\ufeff')",
        f"SELECT \u00e9 FROM {t}", "SELECT '\u0301' LIKE '%\u0301%'",
        "SELECT '" + "\U0001F600" * 20_000 + "'", "SELECT length('" + "\u00e9" * 49_000 + "')",
    ]


def _nul_bytes(t: str) -> list[str]:
    return [
        f"SELECT product_id FROM {t}\x00; DROP TABLE {t}", "\x00", f"SELECT '\x00' FROM {t}",
        f"SELECT product_id FROM {t} WHERE title = 'a\x00b'", "SELECT char(0)", "SELECT 'a' || char(0) || 'b'",
        "SELECT x'00'", "SELECT CAST(x'610062' AS TEXT)", "\x00SELECT 1", "SELECT length(CAST(x'00' AS TEXT))",
    ]


def _odd_results(t: str) -> list[str]:
    return [
        "SELECT x'00ff'", "SELECT CAST(x'ff' AS TEXT)", "SELECT CAST(x'c3' AS TEXT)", "SELECT 1e999",
        "SELECT -1e999", "SELECT 0.0 / 0.0", "SELECT -0.0", "SELECT 9223372036854775807 + 1",
        "SELECT -9223372036854775808 - 1", "SELECT abs(-9223372036854775808)", "SELECT NULL",
        "SELECT NULL, NULL, NULL", f"SELECT CAST(product_id AS BLOB) FROM {t}", f"SELECT price * 1e308 FROM {t}",
        "SELECT typeof(1), typeof(1.5), typeof('x'), typeof(x'01'), typeof(NULL)", "SELECT json('{\"a\": [1, 2]}')",
        "SELECT json_object('a', x'00')", "SELECT 1 AS a, 2 AS a", 'SELECT 1 AS ""', "SELECT 1 WHERE 0",
        f"SELECT * FROM {t} WHERE 0", "SELECT round(1.5, 1000000)", "SELECT 18446744073709551616",
        "SELECT CAST('12abc' AS INTEGER)", "SELECT 1 / 0", "SELECT 5 % 0", "SELECT subtype('x')",
        "SELECT date('now', '+1000000000 years')", "SELECT strftime('%J%J%J', 'now')",
        f"SELECT (SELECT product_id FROM {t})",
    ]


def hostile_statements(table: str, folder: Path) -> list[tuple[str, str]]:
    """Every `(kind, sql)` pair the benchmark runs against `table`, whose database lies in `folder`."""
    kinds = {
        "writes": _writes(table), "attach": _attach(folder), "pragma": _pragmas(table),
        "file and allocation functions": _functions(table), "schema reads": _schema(table),
        "denial of service": _denial_of_service(table), "long literals": _long_literals(table),
        "several statements": _several_statements(table), "unicode": _unicode(table), "nul bytes": _nul_bytes(table),
        "odd result types": _odd_results(table),
    }
    return [(kind, sql) for kind, statements in kinds.items() for sql in statements]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _entries(*folders: Path) -> set[str]:
    return {str(entry) for folder in folders for entry in folder.iterdir()}


def timed_run(tool, sql: str):
    """`tool.run(sql)` with its wall seconds and the peak MiB this process allocated meanwhile (the worker's own peak
    is `tool.peak_memory_mb`)."""
    tracemalloc.start()
    start = time.perf_counter()
    result = tool.run(sql)
    seconds = time.perf_counter() - start
    parent_mb = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return result, seconds, parent_mb

def run_hostile(statements: list[tuple[str, str]], tool: SQLTool, watch: list[Path]) -> list[dict]:
    """Run each statement through `tool`; one row per statement (kind, sql head, ok, error, seconds, peak
    memory in MiB, whether the database changed, files that appeared under `watch`, whether a count still works)."""
    expected = tool.run(f"SELECT count(*) FROM {tool.table}").rows
    rows = []
    for kind, sql in statements:
        before, files_before = _digest(tool.path), _entries(*watch)
        result, seconds, parent_mb = timed_run(tool, sql)
        rows.append({
            "kind": kind, "sql": sql[:120], "sql_chars": len(sql), "ok": result.ok, "error": result.error,
            "seconds": seconds, "worker_peak_mb": tool.peak_memory_mb, "parent_peak_mb": parent_mb,
            "peak_mb": (tool.peak_memory_mb or 0.0) + parent_mb, "database_changed": _digest(tool.path) != before,
            "files_created": sorted(_entries(*watch) - files_before),
            "still_answers": tool.run(f"SELECT count(*) FROM {tool.table}").rows == expected,
        })
    return rows


def summarize(rows: list[dict]) -> dict:
    """The figures the README cites: statements tried, database changes, files created, the slowest statement
    (seconds) and the highest peak memory (MiB), and per kind how many were refused."""
    slowest = max(rows, key=lambda row: row["seconds"])
    hungriest = max(rows, key=lambda row: row["peak_mb"])
    kinds: dict[str, dict] = {}
    for row in rows:
        kind = kinds.setdefault(row["kind"], {"kind": row["kind"], "tried": 0, "refused": 0, "slowest_s": 0.0,
                                              "peak_mb": 0.0})
        kind["tried"] += 1
        kind["refused"] += not row["ok"]
        kind["slowest_s"] = max(kind["slowest_s"], row["seconds"])
        kind["peak_mb"] = max(kind["peak_mb"], row["peak_mb"])
    return {
        "tried": len(rows), "refused": sum(not row["ok"] for row in rows),
        "database_changes": sum(row["database_changed"] for row in rows),
        "files_created": sorted({name for row in rows for name in row["files_created"]}),
        "tool_broken_after": sum(not row["still_answers"] for row in rows),
        "slowest_s": slowest["seconds"], "slowest_statement": {"kind": slowest["kind"], "sql": slowest["sql"]},
        "peak_memory_mb": hungriest["peak_mb"], "peak_memory_statement": {"kind": hungriest["kind"],
                                                                          "sql": hungriest["sql"]},
        "kinds": list(kinds.values()),
    }


def main(argv: list[str] | None = None) -> dict:
    """Command-line entry point: run the statements, print a table per kind and the totals, write `--output`
    (JSON: summary, settings, machine, every statement's row). Returns the summary."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="two statements of each kind")
    parser.add_argument("--output", default="results/sql_hostile.json", help="JSON file (default: %(default)s)")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = build_product_db(load_category(builtin_productqa_root(), "test", TABLE), folder)
        statements = hostile_statements(TABLE, folder)
        if args.quick:
            kinds = [kind for kind, _ in statements]
            statements = [pair for i, pair in enumerate(statements) if kinds[:i].count(pair[0]) < 2]
        tool = SQLTool(path, TABLE)
        try:
            rows = run_hostile(statements, tool, [folder, Path.cwd()])
        finally:
            tool.close()
    summary = summarize(rows)
    settings = {"timeout_s": tool.timeout_s, "kill_grace_s": tool.kill_grace_s, "max_memory_mb": tool.max_memory_mb,
                "max_value_bytes": tool.max_value_bytes, "max_result_chars": tool.max_result_chars,
                "max_rows": tool.max_rows}
    machine = {"platform": platform.platform(), "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
               "cpus": os.cpu_count(), "load_average_before": load_before, "load_average_after": os.getloadavg()}
    print(markdown_table(summary["kinds"], {
        "kind": "kind", "tried": "tried", "refused": "refused", "slowest s": lambda r: cell(r["slowest_s"], 2),
        "peak MiB": lambda r: cell(r["peak_mb"], 1),
    }))
    print(f"\n{summary['tried']} statements, {summary['refused']} refused; database changes: "
          f"{summary['database_changes']}; files created: {len(summary['files_created'])}; tool broken after: "
          f"{summary['tool_broken_after']}; slowest {summary['slowest_s']:.2f} s "
          f"({summary['slowest_statement']['kind']}); "
          f"peak memory {summary['peak_memory_mb']:.1f} MiB; load average {machine['load_average_before'][0]:.2f}")
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"summary": summary, "settings": settings, "machine": machine,
                                  "agile": agile_gym.__version__, "rows": rows}, indent=2))
    print(f"wrote {output}")
    return summary


if __name__ == "__main__":
    main()
