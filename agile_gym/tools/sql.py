"""Run untrusted SQL from the agent against one table, read-only, bounded in time and in memory."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import threading
import time
import weakref
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from agile_gym.tools.sql_worker import SQL_CHARS, WorkerConfig

_WORKER = Path(__file__).with_name("sql_worker.py")
_START_TIMEOUT_S = 60.0
ERROR_CHARS = 500  # an error shown to the agent is cut here (SQLite may quote the whole query)


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


class _Worker:
    """One `sql_worker.py` process and its two pipe ends."""

    def __init__(self, config: WorkerConfig):
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(_WORKER)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True,
        )
        self.outgoing = Connection(os.dup(self.process.stdin.fileno()), readable=False)
        self.incoming = Connection(os.dup(self.process.stdout.fileno()), writable=False)
        self.process.stdin.close()
        self.process.stdout.close()
        self.ready = False
        self.owner = os.getpid()  # a forked copy of the tool must not share this process with its parent
        try:
            self.outgoing.send(dataclasses.asdict(config))
        except OSError:
            self.stop()
            raise

    def wait_ready(self) -> str | None:
        """None once the worker answered "ready", else why it did not (it is then stopped)."""
        if not self.ready:
            try:
                if not self.incoming.poll(_START_TIMEOUT_S) or self.incoming.recv() != "ready":
                    self.stop()
                    return f"the SQL worker did not start within {_START_TIMEOUT_S:g} s"
            except (EOFError, OSError):
                self.stop()
                return f"the SQL worker exited at start (exit code {self.process.poll()})"
            self.ready = True
        return None

    def peak_memory_mb(self) -> float | None:
        """The process's peak resident memory (VmHWM; the worker restarts it at each query), Linux only."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return None
        found = re.search(r"VmHWM:\s+(\d+) kB", status)
        return int(found.group(1)) / 1024 if found else None

    def stop(self) -> None:
        """Close the pipes and kill the process (in a forked copy of the parent: only close its pipes)."""
        for end in (self.outgoing, self.incoming):
            end.close()
        if self.owner != os.getpid():
            return
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


class SQLTool:
    """Executes one SELECT over `table` in the SQLite file at `path`, in a worker process.

    Every query ends, with rows or an error, within `timeout_s + kill_grace_s` seconds plus the kill (about
    1.3 s with the defaults), and the worker never holds more than `max_memory_mb` MiB. The bounds are enforced
    by SQLite and the operating system, not by reading the SQL:
    - Time: a progress handler stops the query after `timeout_s` between VM steps. A single long function call
      (LIKE, GLOB, instr, replace, trim over long strings; one row of many such calls) is reached by no handler
      or interrupt, so a query still running `kill_grace_s` later has its worker process
      (`agile_gym/tools/sql_worker.py`) killed; a new one starts at once, before the next query.
    - Memory: the worker's address space is capped at `max_memory_mb` (`RLIMIT_AS`) and SQLite's heap at half
      that (`PRAGMA hard_heap_limit`): an allocation past either is an "out of memory" error. Strings and blobs
      are capped at `max_value_bytes` (`SQLITE_LIMIT_LENGTH`; a stored value longer than that cannot be read),
      LIKE/GLOB patterns at 1,000 bytes, the SQL at 100,000 characters, result rows at max(100, the table's
      columns) columns, and the rows fetched at `max_result_chars` characters in all (text and blob lengths),
      so a wide result is refused inside the worker. A worker whose peak passed `restart_above_mb` is replaced
      after the query (a process keeps the memory it freed).
    - Access: the file is opened read-only (`mode=ro`, `PRAGMA query_only`, temporary tables in memory, no file
      may grow: `RLIMIT_FSIZE` 0); an authorizer allows only SELECT, reads of `table` (and CTEs built from it)
      and functions other than those that read files, load code or allocate without bound (`load_extension`,
      `zeroblob`, `randomblob`, `printf`...); `sqlite_master`, `sqlite_schema` and SQLite's other built-in
      tables are refused in any position (a subquery, `count(*)`); ATTACH, PRAGMA and writes always.

    Arguments: `timeout_s` (seconds, > 0), `max_rows` (rows returned, >= 50; `truncated` says more existed),
    `kill_grace_s` (seconds), `max_memory_mb` (MiB), `max_value_bytes` (bytes), `max_result_chars`
    (characters), `restart_above_mb` (MiB), `idle_exit_s` (seconds without a query after which the worker
    exits, so a tool per category holds no process while unused; the next query starts one, about 0.1 s).
    Every failure is returned as `SQLResult(ok=False, error=...)`; nothing raises and nothing can change the
    file. `peak_memory_mb` is the worker's peak resident memory during the last query (MiB; Linux, else None).
    The worker needs a POSIX system; the rlimits hold on Linux.

    Raises ValueError for `max_rows` < 50 or a non-positive `timeout_s`.
    """

    def __init__(
        self, path: str | Path, table: str, timeout_s: float = 1.0, max_rows: int = 50, *,
        kill_grace_s: float = 0.25, max_memory_mb: int = 400, max_value_bytes: int = 100_000,
        max_result_chars: int = 1_000_000, restart_above_mb: float = 64.0, idle_exit_s: float = 60.0,
    ):
        if max_rows < 50:
            raise ValueError(f"max_rows must be at least 50 so a search can return every match, got {max_rows}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.path, self.table, self.timeout_s, self.max_rows = Path(path), table, timeout_s, max_rows
        self.kill_grace_s, self.max_memory_mb = kill_grace_s, max_memory_mb
        self.max_value_bytes, self.max_result_chars = max_value_bytes, max_result_chars
        self.restart_above_mb, self.idle_exit_s = restart_above_mb, idle_exit_s
        self.peak_memory_mb: float | None = None
        self._worker: _Worker | None = None
        self._finalizer: weakref.finalize | None = None
        self._lock = threading.Lock()

    def __getstate__(self):
        return {**self.__dict__, "_worker": None, "_finalizer": None, "_lock": None}

    def __setstate__(self, state):
        self.__dict__.update(state, _lock=threading.Lock())

    def _config(self) -> WorkerConfig:
        return WorkerConfig(
            str(self.path), self.table, self.timeout_s, self.max_rows, self.max_result_chars,
            self.max_value_bytes, self.max_memory_mb, self.idle_exit_s,
        )

    def _start(self) -> _Worker:
        self._stop()
        self._worker = worker = _Worker(self._config())
        self._finalizer = weakref.finalize(self, worker.stop)
        return worker

    def _stop(self) -> None:
        if self._finalizer is not None:
            self._finalizer()  # stops the worker once
        self._worker = self._finalizer = None

    def run(self, sql: str) -> SQLResult:
        """Execute `sql` within `timeout_s` seconds; every failure (syntax, refused, too slow, too large) is
        `ok=False` with a message for the agent."""
        if not isinstance(sql, str) or len(sql) > SQL_CHARS:
            problem = (f"SQL must be text, got {type(sql).__name__}" if not isinstance(sql, str)
                       else f"SQL too long: {len(sql):,} characters, the limit is {SQL_CHARS:,}")
            return SQLResult(False, error=problem)
        with self._lock:
            result = self._ask(sql)
            # None: the worker had exited idle just as the query went out; a fresh one gets it once more
            return result if result is not None else self._ask(sql, retry=False)

    def _ask(self, sql: str, retry: bool = True) -> SQLResult | None:
        worker = self._worker
        if worker is not None and worker.owner != os.getpid():  # inherited through fork: leave it to the parent
            self._stop()  # closes this copy's pipe ends only
            worker = None
        try:
            if worker is None or worker.process.poll() is not None:
                worker = self._start()
        except OSError as err:
            self._stop()
            return SQLResult(False, error=f"the SQL worker could not start: {err}")
        problem = worker.wait_ready()
        if problem is not None:
            self._stop()
            return SQLResult(False, error=problem)
        start = time.monotonic()
        try:
            worker.outgoing.send(sql)
            reply = worker.incoming.recv() if worker.incoming.poll(self.timeout_s + self.kill_grace_s) else None
        except (EOFError, OSError):
            try:
                idle_exit = worker.process.wait(timeout=1.0) == 0
            except subprocess.TimeoutExpired:
                idle_exit = False
            self._stop()
            if idle_exit and retry:
                return None
            return SQLResult(False, error="the SQL worker stopped during the query; try again",
                             seconds=time.monotonic() - start)
        self.peak_memory_mb = worker.peak_memory_mb()
        if reply is None:
            self._replace()  # kills the overrunning worker; the new one starts while the agent reads the feedback
            return SQLResult(False, error=f"query stopped after the {self.timeout_s:g} s time limit",
                             seconds=time.monotonic() - start)
        if (self.peak_memory_mb or 0.0) > self.restart_above_mb:
            self._replace()  # a process keeps the memory it freed: a lean one takes the next query
        ok, columns, rows, truncated, error = reply
        if error is not None and len(error) > ERROR_CHARS:  # SQLite quotes the query's tokens ("no such table: ...")
            error = f"{error[:ERROR_CHARS]}... ({len(error):,} characters, cut)"
        return SQLResult(ok, columns, rows, truncated, error, seconds=time.monotonic() - start)

    def _replace(self) -> None:
        """Stop the worker and start the next one now (a start that fails is reported by the next query)."""
        try:
            self._start()
        except OSError:
            self._stop()

    def close(self) -> None:
        """Stop the worker process (safe to call twice; `run` starts a new one)."""
        with self._lock:
            self._stop()
