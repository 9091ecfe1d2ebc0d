"""Untrusted SQL runs in a warm worker process, so that no query can change, or exhaust, the caller.

One worker serves every Pond of a Python process. It is started lazily with
``python -c ...sqlworker.main`` (a fresh interpreter: no fork after deltalake, and no re-import
of the caller's main module), and talks over a socket pair. For each query it opens the pond by
URI itself (kept for the next queries, caught up by version as ``Engine`` does), takes its rows
up to the query's version (as Arrow, or from read-only database files for big logs: sqlbase.py),
and runs the checked SQL in a ``SandboxDB``.

Bounds: the worker interrupts a query at its timeout; the caller kills the worker if no answer
came by ``1.25 x timeout + 0.5`` s (a function DuckDB cannot interrupt), and a watchdog thread in
the worker exits it when its memory grows past ``TINYLOGSQL_MEMORY_LIMIT`` above what it held
before the query (DuckDB's memory_limit does not bound every function), and during a query the
worker's address space is capped (RLIMIT_AS) so most runaway allocations fail cleanly first. A
killed worker is respawned on the next query. The worker is started when the first pond of the
process is opened, so the first query finds it warm (``TINYLOGSQL_SQL_WORKER=lazy``: on the first
query instead). ``TINYLOGSQL_SQL_WORKER=0`` runs queries in-process (no memory bound; debugging).
"""

from __future__ import annotations

import atexit
import os
import pickle
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from multiprocessing.connection import Connection
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from . import errors
from .errors import PondError, QueryError, QueryTimeoutError
from .location import locate
from .refs import MAIN, MAIN_CHAIN, visible
from .schema import OPLOG_SCHEMA
from .sqlbase import LogBase
from .sqlexec import SandboxDB, memory_bytes, memory_limit, out_of_memory
from .store import Store

IN_PROCESS = os.environ.get("TINYLOGSQL_SQL_WORKER", "1") == "0"
LAZY = os.environ.get("TINYLOGSQL_SQL_WORKER", "1") == "lazy"
PRESTART = not IN_PROCESS and not LAZY
"""Start the worker when a pond opens (the CLI turns this off: one command, usually no SQL)."""
PONDS_KEPT = 8
"""Ponds a worker keeps open between queries."""
WATCH_EVERY = 0.01
"""Seconds between two looks at the worker's memory during a query."""
START_TIMEOUT = 120.0
"""How long a worker may take to start, or to open a pond and load its rows, before a query."""
OOM_EXIT = 86
KILL_AFTER = 1.25
"""The caller kills the worker when no answer came by ``timeout x KILL_AFTER + 0.5`` s (the worker
itself interrupts the query at ``timeout``; this catches what DuckDB cannot interrupt)."""
CATCH_UP_MAX = 100
"""A worker behind by more commits than this re-reads the pond's rows in one go."""


class Request(dict):  # type: ignore[type-arg]
    """uri, storage_options, table_id, version, sql, params, timeout (a plain dict on the wire)."""


# -- the caller's side -----------------------------------------------------------------
class WorkerClient:
    """The caller's handle on the worker; one query at a time (callers queue on a lock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._folder: str | None = None
        self._limit: str | None = None

    def _start(self) -> Connection:
        limit = memory_limit()
        if (self._conn is not None and self._proc is not None and self._proc.poll() is None
                and self._limit == limit):
            return self._conn
        self._stop()  # none yet, dead, or started under another TINYLOGSQL_MEMORY_LIMIT
        self._limit = limit
        mine, theirs = socket.socketpair()
        self._folder = tempfile.mkdtemp(prefix="tinylogsql-sql-")  # the worker's database files
        env = dict(os.environ, TINYLOGSQL_MEMORY_LIMIT=limit, TINYLOGSQL_SQL_WORKER="lazy")  # no grandchild
        self._proc = subprocess.Popen(
            [sys.executable, "-c",
             "import sys; from tinylogsql.sqlworker import main; main(int(sys.argv[1]), sys.argv[2])",
             str(theirs.fileno()), self._folder],
            pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env,
            close_fds=True,
        )
        theirs.close()
        self._conn = Connection(mine.detach())
        return self._conn

    def _stop(self) -> None:
        proc, conn, self._proc, self._conn = self._proc, self._conn, None, None
        if conn is not None:
            conn.close()
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(5)
        folder, self._folder = self._folder, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def run(self, request: dict[str, Any]) -> pa.Table:
        timeout = float(request.get("budget", request["timeout"]))
        wait = max(0.1, timeout * KILL_AFTER + 0.5 - float(request.get("spent", 0.0)))
        try:
            payload = pickle.dumps(request)  # sent as these bytes: Connection.recv unpickles them
        except Exception as exc:  # noqa: BLE001 - whatever pickle raises for an odd parameter
            raise errors.InvalidArgumentError(f"query parameters cannot be passed to the SQL worker: {exc}") from None
        with self._lock:
            conn = self._start()
            try:
                conn.send_bytes(payload)
                ready = conn.recv() if conn.poll(START_TIMEOUT) else None
                if ready is not None and ready[0] == "ready":  # pond open, rows loaded: the query's clock starts
                    answer = self._await(conn, wait, ready[1] + memory_bytes() if ready[1] else None)
                else:
                    answer = ready
            except (EOFError, OSError) as exc:
                code = self._proc.wait(5) if self._proc is not None else None
                self._stop()
                if code == OOM_EXIT:
                    raise out_of_memory() from None
                raise QueryError(f"the SQL worker stopped (exit code {code}): {type(exc).__name__}") from None
            if answer is None:
                self._stop()
                raise QueryTimeoutError(f"query stopped after {timeout} s (the SQL worker was restarted)")
            return _answer(answer)

    def _await(self, conn: Connection, wait: float, ceiling: int | None) -> Any:
        """The worker's answer, or None after ``wait`` s. Meanwhile its resident memory is watched
        from here too (a second line: the worker's own watchdog is a Python thread, which cannot run
        while native code holds the GIL); past ``ceiling`` the worker is killed (out of memory)."""
        deadline = time.monotonic() + wait
        pid = self._proc.pid if self._proc is not None else None
        while True:
            left = deadline - time.monotonic()
            if conn.poll(max(0.0, min(WATCH_EVERY, left))):
                return conn.recv()
            if ceiling is not None and pid is not None and _resident(pid) > ceiling:
                self._stop()
                raise out_of_memory()
            if left <= 0:
                return None

    def prestart(self) -> None:
        """Start the worker now (it imports in the background), so the first query finds it warm."""
        with self._lock:
            self._start()

    def close(self) -> None:
        with self._lock:
            self._stop()


def _answer(message: tuple[Any, ...]) -> pa.Table:
    if message[0] == "ok":
        with pa.ipc.open_stream(message[1]) as reader:
            return reader.read_all()
    _, name, text = message
    cls = getattr(errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, PondError)) or issubclass(cls, errors._PathOSError):
        cls = QueryError  # path errors carry (errno, message, path): the message alone says it
    raise cls(text)


_client: WorkerClient | None = None
_client_lock = threading.Lock()


def client() -> WorkerClient:
    global _client
    with _client_lock:
        if _client is None:
            _client = WorkerClient()
            atexit.register(_client.close)  # its database files go with it
        return _client


def prestart() -> None:
    """Called when a pond is opened: start the shared worker unless queries run in-process or
    ``TINYLOGSQL_SQL_WORKER=lazy`` (then it starts on the first query)."""
    if PRESTART:
        try:
            client().prestart()
        except OSError:
            pass  # the first query starts it (and reports what goes wrong)


def run_query(pond: Any, version: int, text: str, params: Any, timeout: float, spent: float = 0.0,
              refs: dict[str, pa.Table] | None = None) -> pa.Table:
    """Run checked SQL for ``pond`` at ``version`` in the worker (or in-process if configured).
    ``spent``: seconds of the timeout the caller already used (checking the query); ``refs``: the
    branch, tag and revision tables (refs.sql_tables). The views show the pond's branch."""
    if spent >= timeout:
        raise QueryTimeoutError(f"query stopped after {timeout} s (checking it took {spent:.1f} s)")
    if IN_PROCESS:
        return _local_run(pond, version, text, params, timeout - spent, refs)
    location = pond._store.location
    return client().run({"uri": location.uri, "storage_options": location.storage_options,
                         "table_id": pond._store.table_id, "version": version, "sql": text,
                         "params": params, "timeout": timeout - spent, "budget": timeout, "spent": spent,
                         "branch": pond.branch, "chain": pond._engine.chain, "refs": refs})


_local_db: SandboxDB | None = None
_local_lock = threading.Lock()


_local_rows: dict[tuple[str, str], LogRows] = {}


def _local_run(pond: Any, version: int, text: str, params: Any, timeout: float,
               refs: dict[str, pa.Table] | None = None) -> pa.Table:
    global _local_db
    with _local_lock:
        key = (pond.uri, pond._store.table_id)
        rows = _local_rows.get(key)
        if rows is None:
            rows = _local_rows[key] = LogRows(pond._store)
            while len(_local_rows) > PONDS_KEPT:
                del _local_rows[next(iter(_local_rows))]
        log = visible(rows.upto(version), pond._engine.chain)  # the pond's branch (refs.visible)
        if _local_db is None:
            _local_db = SandboxDB()
        return _local_db.run(text, params, log, version, _opener(pond), timeout, refs=refs)


def _opener(pond: Any) -> Any:
    live = pond if pond._at is None else None

    def open_pond(version: int) -> Any:
        if live is not None and version == live._engine.version:
            return live
        return pond.at(version)

    return open_pond


# -- the worker's side -------------------------------------------------------------------
class LogRows:
    """A pond's op rows as immutable Arrow, caught up commit by commit as ``Engine`` does (a full
    re-read when a log entry was cleaned up); the rows up to one version are cut out and kept."""

    CHUNK = 122_880  # DuckDB's row group size: Arrow batches it scans in parallel

    def __init__(self, store: Any) -> None:
        self.store = store
        self.version = -1
        self.chunks: list[pa.Table] = []
        self._cut: tuple[int, int, pa.Table] | None = None  # (chunks, version, rows)
        self._tail: tuple[tuple[int, int, int], pa.Table] | None = None
        self._span_cache: list[tuple[pa.Table, tuple[int, int]]] = []  # (chunk, (min, max version))

    def upto(self, version: int) -> pa.Table:
        if version > self.version:
            self._catch_up(version)
        if self._cut is not None and self._cut[:2] == (len(self.chunks), version):
            return self._cut[2]
        rows = pa.concat_tables(self.chunks) if self.chunks else OPLOG_SCHEMA.empty_table()
        if version < self.version:
            rows = rows.filter(pc.field("version") <= version)
        rows = pa.Table.from_batches(rows.combine_chunks().to_batches(max_chunksize=self.CHUNK), rows.schema)
        self._cut = (len(self.chunks), version, rows)
        return rows

    def between(self, after: int, version: int) -> pa.Table:
        """The rows of versions ``after`` < v <= ``version`` (chunks wholly outside are skipped)."""
        if version > self.version:
            self._catch_up(version)
        key = (len(self.chunks), after, version)
        if self._tail is not None and self._tail[0] == key:
            return self._tail[1]  # the same object: the sandbox need not register it again
        parts = []
        for chunk, (low, high) in zip(self.chunks, self._spans(), strict=True):
            if high <= after or low > version:
                continue
            if low <= after or high > version:
                keep = pc.and_(pc.greater(chunk["version"], after), pc.less_equal(chunk["version"], version))
                chunk = chunk.filter(keep)
            parts.append(chunk)
        rows = pa.concat_tables(parts) if parts else OPLOG_SCHEMA.empty_table()
        self._tail = (key, rows)
        return rows

    def count_after(self, after: int) -> int:
        """How many rows have a version after ``after``."""
        total = 0
        for chunk, (low, high) in zip(self.chunks, self._spans(), strict=True):
            if low > after:
                total += chunk.num_rows
            elif high > after:
                total += pc.sum(pc.greater(chunk["version"], after)).as_py() or 0
        return total

    def forget_cut(self) -> None:
        """Drop the cached whole-log copy (a database file holds those rows now)."""
        self._cut = None

    def _spans(self) -> list[tuple[int, int]]:
        cache = self._span_cache
        if len(cache) > len(self.chunks) or (cache and cache[0][0] is not self.chunks[0]):
            cache.clear()  # the rows were re-read in one go
        for chunk in self.chunks[len(cache):]:
            bounds = pc.min_max(chunk["version"])
            low, high = bounds["min"].as_py(), bounds["max"].as_py()
            cache.append((chunk, (-1, -1) if low is None else (low, high)))
        return [span for _, span in cache]

    def _catch_up(self, version: int) -> None:
        if self.version >= 0 and version - self.version <= CATCH_UP_MAX:
            added = []
            for number in range(self.version + 1, version + 1):
                try:
                    rows = self.store.read_commit(number) if self.store.has_version(number) else None
                except PondError:
                    rows = None
                if rows is None:
                    break
                added.append(rows)
            else:
                self.chunks.extend(rows for rows in added if rows.num_rows)
                self.version = version
                return
        newest, rows = self.store.read_snapshot(upto=version)
        if newest < version:
            raise errors.VersionNotFoundError(f"version {version} is not in {self.store.location.uri}")
        self.chunks, self.version, self._cut = [rows], version, None


class _Watchdog(threading.Thread):
    """Exits the worker when its resident memory passes ``base + limit`` during a query."""

    def __init__(self, limit: int) -> None:
        super().__init__(daemon=True)
        self.limit = limit
        self.ceiling: int | None = None

    def run(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while True:
            time.sleep(WATCH_EVERY)
            ceiling = self.ceiling
            if ceiling is None:
                continue
            try:
                with open("/proc/self/statm", "rb") as statm:
                    resident = int(statm.read().split()[1]) * page
            except OSError:
                return  # no /proc: DuckDB's own memory_limit is the only bound
            if resident > ceiling:
                os._exit(OOM_EXIT)


def _limit_address_space(limit: int | None) -> None:
    """During a query, cap the worker's address space at what it has now plus the memory
    limit and 256 MiB (an allocation past it fails inside DuckDB: a clean out-of-memory error, where
    the RSS watchdog would have to kill); None lifts the cap. Measured: DuckDB 2.0.1 runs ordinary
    queries under it, and `unnest(generate_series(1, 2e9))` fails at once instead of taking GBs."""
    try:
        import resource

        if limit is None:
            soft = resource.RLIM_INFINITY
        else:
            with open("/proc/self/statm", "rb") as statm:
                size = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            soft = size + limit + (256 << 20)
        resource.setrlimit(resource.RLIMIT_AS, (soft, resource.getrlimit(resource.RLIMIT_AS)[1]))
    except (ImportError, OSError, ValueError):
        pass  # no such limit here: the watchdog and DuckDB's memory_limit remain


def _resident(pid: int | None = None) -> int:
    """Resident memory of this process (or ``pid``) in bytes; 0 where /proc is missing."""
    try:
        with open(f"/proc/{pid or 'self'}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def serve(conn: Connection, folder: str | None = None) -> None:
    """The worker's loop: one request, a "ready", one answer; until the caller goes away."""
    from .pond import Pond

    ponds: OrderedDict[tuple[str, str, str], tuple[Any, LogBase]] = OrderedDict()
    limit = memory_bytes()
    watchdog = _Watchdog(limit)
    watchdog.start()
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        try:
            chain = tuple(tuple(part) for part in request.get("chain", MAIN_CHAIN))
            key = (request["uri"], repr(sorted((request["storage_options"] or {}).items())), repr(chain))
            found = ponds.pop(key, None)
            if found is not None and found[0]._store.table_id != request["table_id"]:
                _close(found)
                found = None
            if found is None:  # a Pond on the query's branch: file reads in SQL see that branch
                store = Store.open(locate(request["uri"], request["storage_options"]))
                pond = Pond(store, None, "sql-worker", branch=request.get("branch", MAIN), chain=chain)
                found = (pond, LogBase(LogRows(pond._store), chain, folder))
            ponds[key] = found
            while len(ponds) > PONDS_KEPT:
                _close(ponds.popitem(last=False)[1])
            pond, base = found
            version = int(request["version"])
            db, log = base.prepare(version)  # the branch's rows (refs.visible), from a file and/or Arrow
            opener = _opener(pond)
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the caller as one line
            conn.send(_failure(exc))
            continue
        resident = _resident()
        conn.send(("ready", resident))
        watchdog.ceiling = resident + limit
        _limit_address_space(limit)
        try:
            table = db.run(request["sql"], request["params"], log, version, opener, float(request["timeout"]),
                           float(request.get("budget", request["timeout"])), refs=request.get("refs"))
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table)
            answer: tuple[Any, ...] = ("ok", sink.getvalue().to_pybytes())
        except Exception as exc:  # noqa: BLE001
            answer = _failure(exc)
        finally:
            watchdog.ceiling = None
            _limit_address_space(None)
        conn.send(answer)
        base.between_queries()


def _close(found: tuple[Any, LogBase]) -> None:
    found[1].close()
    found[0].close()


def _failure(exc: BaseException) -> tuple[str, str, str]:
    if isinstance(exc, PondError):
        return ("error", type(exc).__name__, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    if isinstance(exc, MemoryError):
        return ("error", "QueryError", str(out_of_memory()))
    text = str(exc).strip().splitlines()
    return ("error", "QueryError", (text[0] if text else type(exc).__name__)[:500])


def main(fd: int, folder: str | None = None) -> None:
    """Entry point of the worker process (see ``WorkerClient._start``); ``folder``: where it may
    write its database files (the caller removes it with the worker)."""
    try:
        serve(Connection(fd), folder)
    finally:  # the caller removes it too (if this process is killed); whoever comes second finds nothing
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
