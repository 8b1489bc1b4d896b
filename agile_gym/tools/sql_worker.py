"""The SQL tool's worker process: runs one agent query at a time on a read-only SQLite connection.

Started by `agile_gym.tools.sql.SQLTool` as `python -I -S sql_worker.py` (standard library only, so it starts in
about 0.1 s and never imports the package). It reads a `WorkerConfig` and then one SQL string at a time from
stdin and answers each with `(ok, columns, rows, truncated, error)` on stdout (`multiprocessing.connection`
framing, pickled). It exits when stdin closes or after `idle_exit_s` seconds without a query.

What this process enforces (the parent adds the hard deadline: it kills this process when a query overruns):
- SQLite opens the file read-only (`mode=ro`, `PRAGMA query_only`) with temporary tables in memory
  (`temp_store = MEMORY`: no temporary files), and no file may grow (`RLIMIT_FSIZE` 0).
- An authorizer allows SELECT, reads of the one table (and of CTEs built from it), recursive CTEs and every
  function but those that read files, load code or allocate without bound; everything else, reads of
  `sqlite_master`/`sqlite_schema` and other built-in tables in any position included, is refused.
- Length limits: `max_value_bytes` per string or blob (`SQLITE_LIMIT_LENGTH`), 1,000-byte LIKE/GLOB patterns,
  100,000-character SQL, at most `max(100, columns of the table)` result columns, no ATTACH.
- The rows fetched may hold at most `max_result_chars` characters (text and blob lengths summed), so a wide
  result is refused before it reaches the parent.
- Memory: SQLite's heap is capped at half of `max_memory_mb` (`PRAGMA hard_heap_limit`, which binds this process
  only) and the address space at `max_memory_mb` (`RLIMIT_AS`): an allocation past either is an "out of memory"
  error.
- A progress handler stops a query past `timeout_s` between VM steps (the clean, common case).
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

try:  # POSIX only; elsewhere the parent's deadline still holds, the memory cap does not
    import resource
    import signal
except ImportError:  # pragma: no cover - Windows
    resource = signal = None

LIKE_PATTERN_BYTES = 1_000
SQL_CHARS = 100_000
MIN_COLUMNS = 100
_ALLOWED_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE, sqlite3.SQLITE_READ}
# Functions that read files, load code, write logs or allocate without bound; printf/format also run for seconds
# on a huge width inside one call.
DENIED_FUNCTIONS = frozenset({
    "load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "zeroblob", "randomblob", "printf",
    "format", "sqlite_log",
})
# Built-in tables a query may not name, even without reading a column (`SELECT count(*) FROM sqlite_master`).
_BUILTIN_TABLES = frozenset({"dbstat", "json_each", "json_tree", "sqlite_stmt", "sqlite_dbpage", "generate_series"})


@dataclass(frozen=True)
class WorkerConfig:
    """What the worker runs: `table` in the SQLite file `path`; `timeout_s` (seconds) for the progress handler;
    at most `max_rows` + 1 rows fetched holding at most `max_result_chars` characters; `max_value_bytes` per
    string or blob; `max_memory_mb` of address space (MiB, POSIX); the worker exits after `idle_exit_s` seconds
    without a query."""

    path: str
    table: str
    timeout_s: float
    max_rows: int
    max_result_chars: int
    max_value_bytes: int
    max_memory_mb: int
    idle_exit_s: float


def is_builtin_table(name: str | None) -> bool:
    """True for SQLite's own tables (`sqlite_master`, `sqlite_schema`, `sqlite_temp_master`, any `sqlite_*`),
    pragma table functions and the built-in virtual tables, compared case-insensitively."""
    lowered = (name or "").lower()
    return lowered.startswith(("sqlite_", "pragma_")) or lowered in _BUILTIN_TABLES


class QueryRunner:
    """One read-only connection to `config.path` and the checks above; `run(sql)` never raises."""

    def __init__(self, config: WorkerConfig):
        self.config = config
        self._conn: sqlite3.Connection | None = None
        self._deadline = 0.0

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(f"{Path(self.config.path).resolve().as_uri()}?mode=ro", uri=True)
            conn.execute("PRAGMA query_only = ON")
            conn.execute("PRAGMA temp_store = MEMORY")
            conn.execute(f"PRAGMA hard_heap_limit = {self.config.max_memory_mb * 2**20 // 2}")
            columns = len(conn.execute("SELECT * FROM pragma_table_info(?)", (self.config.table,)).fetchall())
            # Python 3.10 has no setlimit: there the worker's kill at the deadline, its memory cap and the
            # fetch cap still bound every query; the length limits only make refusals come sooner and clearer.
            if hasattr(conn, "setlimit"):
                conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, self.config.max_value_bytes)
                conn.setlimit(sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, LIKE_PATTERN_BYTES)
                conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, SQL_CHARS)
                conn.setlimit(sqlite3.SQLITE_LIMIT_COLUMN, max(MIN_COLUMNS, columns))
                conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
            conn.set_authorizer(self._authorize)
            conn.set_progress_handler(self._over_time, 1000)
            self._conn = conn
        return self._conn

    def _authorize(self, action, arg1, arg2, db_name, trigger):
        if action not in _ALLOWED_ACTIONS:
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_FUNCTION:
            return sqlite3.SQLITE_DENY if (arg2 or "").lower() in DENIED_FUNCTIONS else sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_READ:
            if is_builtin_table(arg1):
                return sqlite3.SQLITE_DENY
            # A column read names its real table and database; an empty column with no database is a FROM
            # item whose columns are not read (`count(*)`), a real table or a CTE: both fine once not built-in.
            if db_name is not None and (arg1 or "").lower() != self.config.table.lower():
                return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    def _over_time(self) -> int:
        return 1 if time.monotonic() > self._deadline else 0

    def run(self, sql: object) -> tuple[bool, tuple, tuple, bool, str | None]:
        """`(ok, columns, rows, truncated, error)` for one query; every failure is `ok=False` with its message."""
        self._deadline = time.monotonic() + self.config.timeout_s
        try:
            if not isinstance(sql, str):
                raise ValueError(f"SQL must be text, got {type(sql).__name__}")
            cursor = self._connection().execute(sql)
            columns = tuple(d[0] for d in cursor.description or ())
            rows, chars = [], 0
            while len(rows) <= self.config.max_rows:
                row = cursor.fetchone()
                if row is None:
                    break
                chars += sum(len(value) for value in row if isinstance(value, (str, bytes)))
                if chars > self.config.max_result_chars:
                    cursor.close()
                    return False, (), (), False, (
                        f"result too large: the rows hold more than {self.config.max_result_chars:,} characters; "
                        "select fewer or shorter columns"
                    )
                rows.append(row)
            cursor.close()
        except (sqlite3.Error, ValueError, OverflowError, MemoryError) as err:
            return False, (), (), False, self._explain(err)
        truncated = len(rows) > self.config.max_rows
        return True, columns, tuple(rows[: self.config.max_rows]), truncated, None

    def _explain(self, err: Exception) -> str:
        message = str(err)
        if message == "interrupted":
            return f"query stopped after the {self.config.timeout_s:g} s time limit"
        if "not authorized" in message or "prohibited" in message:
            return f"{message}: only a single read-only SELECT over table {self.config.table} is allowed"
        if isinstance(err, MemoryError) or message == "out of memory":
            return f"query stopped: it needed more than the {self.config.max_memory_mb} MB memory limit"
        if message == "string or blob too big":
            return f"{message} (limit {self.config.max_value_bytes:,} bytes per value)"
        return message


def _reset_peak_memory() -> None:
    try:  # Linux: restart the VmHWM peak the parent reads, so it is this query's peak
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def _limit_process(config: WorkerConfig) -> None:
    if resource is None:  # pragma: no cover - Windows
        return
    cap = config.max_memory_mb * 2**20
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past RLIMIT_FSIZE fails instead of killing
    for limit, value in ((resource.RLIMIT_AS, cap), (resource.RLIMIT_FSIZE, 0)):
        try:
            resource.setrlimit(limit, (value, value))
        except (ValueError, OSError):  # pragma: no cover - a system that does not allow it (macOS: RLIMIT_AS)
            pass


def main() -> None:
    """Serve queries from stdin until it closes (see the module docstring for the protocol)."""
    incoming, outgoing = Connection(os.dup(0), writable=False), Connection(os.dup(1), readable=False)
    sys.stdout = sys.stderr  # nothing but replies may reach fd 1
    config = WorkerConfig(**incoming.recv())
    _limit_process(config)
    runner = QueryRunner(config)
    outgoing.send("ready")
    while True:
        try:
            if not incoming.poll(config.idle_exit_s):
                return  # idle: the parent starts a new worker for its next query
            sql = incoming.recv()
        except (EOFError, OSError):
            return
        _reset_peak_memory()
        if signal is not None:  # ends this process if the parent is gone and a single call runs on
            signal.setitimer(signal.ITIMER_REAL, config.timeout_s + 10)
        reply = runner.run(sql)
        if signal is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
        try:
            outgoing.send(reply)
        except MemoryError:
            outgoing.send((False, (), (), False, "query stopped: the result did not fit in the memory limit"))
        except (BrokenPipeError, OSError):
            return


if __name__ == "__main__":
    main()
