"""Run untrusted SQL from the agent against one table, read-only, time-bounded and size-bounded."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
# Functions that can read files, load code, or allocate without bound are refused outright.
# printf/format are refused because a huge width runs for seconds inside one call, where the progress
# handler cannot interrupt it.
_DENIED_FUNCTIONS = {
    "load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "zeroblob", "randomblob", "printf", "format",
}


@dataclass(frozen=True)
class SQLResult:
    """One query's outcome: `rows` (at most `max_rows`; `truncated` when there were more) and `columns`, or
    `ok=False` with the `error` to show the agent. `seconds` is the wall time the query took."""

    ok: bool
    columns: tuple[str, ...] = ()
    rows: tuple[tuple, ...] = ()
    truncated: bool = False
    error: str | None = None
    seconds: float = 0.0


class SQLTool:
    """Executes one SELECT over `table` in the SQLite file at `path`.

    Safety comes from SQLite itself, not from string checks: the file is opened read-only
    (`mode=ro`, `PRAGMA query_only`), an authorizer allows only reads of `table` (and CTEs built from it),
    a progress handler aborts queries past `timeout_s`, and length limits bound every value. Every failure
    is returned as `SQLResult(ok=False, error=...)`; nothing raises and nothing can change the file.
    """

    def __init__(self, path: str | Path, table: str, timeout_s: float = 1.0, max_rows: int = 50):
        if max_rows < 50:
            raise ValueError(f"max_rows must be at least 50 so a search can return every match, got {max_rows}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.path, self.table, self.timeout_s, self.max_rows = Path(path), table, timeout_s, max_rows
        self._conn: sqlite3.Connection | None = None
        self._deadline = 0.0

    def __getstate__(self):
        return {**self.__dict__, "_conn": None}

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
            conn.execute("PRAGMA query_only = ON")
            conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 1_000_000)
            conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, 100_000)
            conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
            conn.set_authorizer(self._authorize)
            conn.set_progress_handler(self._over_time, 1000)
            self._conn = conn
        return self._conn

    def _authorize(self, action, arg1, arg2, db_name, trigger):
        if action not in _ALLOWED:
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_READ and arg1 != self.table and db_name is not None:
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _DENIED_FUNCTIONS:
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    def _over_time(self) -> int:
        return 1 if time.monotonic() > self._deadline else 0

    def run(self, sql: str) -> SQLResult:
        """Execute `sql` within `timeout_s` seconds; every failure (syntax, refused, too slow) is `ok=False`."""
        start = time.monotonic()
        self._deadline = start + self.timeout_s
        try:
            cursor = self._connection().execute(sql)
            rows = cursor.fetchmany(self.max_rows + 1)
            columns = tuple(d[0] for d in cursor.description or ())
            cursor.close()
        except (sqlite3.Error, ValueError, OverflowError, MemoryError) as err:
            return SQLResult(False, error=self._explain(err), seconds=time.monotonic() - start)
        truncated = len(rows) > self.max_rows
        return SQLResult(
            True, columns, tuple(rows[: self.max_rows]), truncated, seconds=time.monotonic() - start
        )

    def _explain(self, err: Exception) -> str:
        message = str(err)
        if message == "interrupted":
            return f"query stopped after the {self.timeout_s:g} s time limit"
        if "not authorized" in message or "prohibited" in message:
            return f"{message}: only a single read-only SELECT over table {self.table} is allowed"
        return message

    def close(self) -> None:
        """Close the connection (safe to call twice; `run` reopens it)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
