import json
from collections import Counter
from pathlib import Path

from benchmarks.sql_hostile import hostile_statements, main


def test_the_full_set_has_200_statements_over_every_kind():
    kinds = Counter(kind for kind, _ in hostile_statements("kettles", Path("/tmp/db")))
    assert sum(kinds.values()) >= 200 and min(kinds.values()) >= 10
    assert set(kinds) == {"writes", "attach", "pragma", "file and allocation functions", "schema reads",
                          "denial of service", "long literals", "several statements", "unicode", "nul bytes",
                          "odd result types"}


def test_quick_run_changes_nothing_and_stays_in_bounds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # files the statements try to create would land here
    summary = main(["--quick", "--output", str(tmp_path / "out" / "sql_hostile.json")])
    assert summary["tried"] == 22
    # Two statements per kind: every write, ATTACH, PRAGMA, file function, schema read, endless query, second
    # statement and NUL byte is refused; the unicode reads, one long literal and one blob are answered.
    refused = {kind["kind"]: kind["refused"] for kind in summary["kinds"]}
    assert refused == {"writes": 2, "attach": 2, "pragma": 2, "file and allocation functions": 2, "schema reads": 2,
                       "denial of service": 2, "long literals": 1, "several statements": 2, "unicode": 0,
                       "nul bytes": 2, "odd result types": 1}
    assert summary["database_changes"] == 0 and summary["files_created"] == []
    assert summary["tool_broken_after"] == 0
    assert summary["slowest_s"] < 2.0 and 0 < summary["peak_memory_mb"] < 600
    report = json.loads((tmp_path / "out" / "sql_hostile.json").read_text())
    assert report["summary"] == summary and len(report["rows"]) == 22
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
