"""The worker's op rows in native DuckDB storage, attached read-only to the query's database.

DuckDB converts registered Arrow on every scan and has no column statistics for it, which made
heavy views (``history``, ``files``) 2-4x slower over a 1M-op log. So, for one pond and branch,
the worker writes the rows the branch sees into two DuckDB database files: ``base`` (every row up
to some version, rewritten only when much has been added since) and ``recent`` (the rows after
base's, rewritten after commits). A ``SandboxDB`` ATTACHes both READ_ONLY: whatever statement a
query runs, they cannot change (DuckDB refuses even DML in a CTE, which it runs as a SELECT, on a
read-only database). The files are written in a thread after a query, while the caller is busy
elsewhere; the next query waits for that write to end, then uses the new database. Rows newer than
the files reach the query as a small registered Arrow tail. Small logs never get files: Arrow alone
is as fast there. A query at a version older than the files' runs over Arrow rows up to its
version, as before: the database it runs in never holds a later row.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from .refs import Chain, visible
from .sqlexec import SandboxDB

MIN_ROWS = int(os.environ.get("TINYLOGSQL_SQL_BASE_ROWS", "20000"))
"""A log gets database files once it holds this many rows; ``base`` is rewritten once the rows
after it reach this many and a tenth of its own."""


@dataclass
class _Files:
    db: SandboxDB
    base: str
    base_upto: int
    base_rows: int
    recent: str
    upto: int  # the last version in recent (or base)


class LogBase:
    """One pond branch's rows for user queries: two read-only database files plus an Arrow tail."""

    def __init__(self, rows: Any, chain: Chain, folder: str | None) -> None:
        self.rows = rows  # sqlworker.LogRows
        self.chain = chain
        self.folder = folder
        self.arrow_db: SandboxDB | None = None
        self.files: _Files | None = None
        self._thread: threading.Thread | None = None
        self._built: _Files | None = None
        self._serial = 0
        self._last: tuple[tuple[int, int], pa.Table] | None = None  # (files' upto or -1, version) -> rows

    def prepare(self, version: int) -> tuple[SandboxDB, pa.Table]:
        """The database and the rows it needs registered (all of them, or those newer than its
        files) for a query at ``version``."""
        self._swap()
        if self.files is not None and self.files.upto <= version:
            key = (self.files.upto, version)
            if self._last is None or self._last[0] != key:  # the log is append-only: same key, same rows
                self._last = (key, visible(self.rows.between(self.files.upto, version), self.chain))
            return self.files.db, self._last[1]
        # no files yet, or a query at an older version than theirs: the database a query runs in
        # holds no row past its version (by construction, not by the allow-list), so Arrow it is
        if self.arrow_db is None:
            self.arrow_db = SandboxDB()
        key = (-1, version)
        if self._last is None or self._last[0] != key:  # filtering 1M rows again cost ~13 ms a query
            self._last = (key, visible(self.rows.upto(version), self.chain))
        return self.arrow_db, self._last[1]

    def between_queries(self) -> None:
        """Start rewriting a file when rows were added since the files were written."""
        if self.folder is None or self._thread is not None:
            return
        newest, files = self.rows.version, self.files
        if files is None:
            if self.rows.count_after(-1) < MIN_ROWS:
                return
            job: tuple[Any, ...] = ("base", -1, newest)
        elif newest <= files.upto:
            return
        elif self.rows.count_after(files.base_upto) >= max(MIN_ROWS, files.base_rows // 10):
            job = ("base", -1, newest)
        else:
            job = ("recent", files.base_upto, newest)
        # the rows to write, taken here (LogRows is not shared with the thread)
        chunks = list(self.rows.chunks) if job[0] == "base" else [self.rows.between(job[1], newest)]
        self._thread = threading.Thread(target=self._write, args=(job, chunks), daemon=True)
        self._thread.start()

    def _path(self, kind: str) -> str:
        self._serial += 1
        assert self.folder is not None
        return os.path.join(self.folder, f"{kind}-{id(self):x}-{self._serial}.duckdb")

    def _write(self, job: tuple[Any, ...], chunks: list[pa.Table]) -> None:
        kind, after, upto = job
        written: list[str] = []
        try:
            rows = visible(pa.concat_tables(chunks), self.chain)
            if kind == "base":
                base = self._path("base")
                base_rows = _write_file(base, rows, -1, upto)
                written.append(base)
                base_upto = upto
            else:
                assert self.files is not None
                base, base_upto, base_rows = self.files.base, self.files.base_upto, self.files.base_rows
            recent = self._path("recent")
            _write_file(recent, rows, base_upto if kind == "recent" else upto, upto)
            written.append(recent)
            self._built = _Files(SandboxDB(files=(base, recent)), base, base_upto, base_rows, recent, upto)
        except (duckdb.Error, OSError, MemoryError, pa.ArrowException):
            for path in written:  # queries go on with Arrow; a later pause tries again
                _remove(path)

    def _swap(self) -> None:
        """Use the files written since the last query. A query waits for a write still under way
        (before its clock starts): the write's memory must not count against the query's bounds."""
        if self._thread is None:
            return
        self._thread.join()
        self._thread, built, self._built = None, self._built, None
        if built is None:
            return
        old, self.files = self.files, built
        self.rows.forget_cut()
        self._last = None
        if self.arrow_db is not None:
            self.arrow_db.close()
            self.arrow_db = None
        if old is not None:
            old.db.close()
            _remove(old.recent)
            if old.base != built.base:
                _remove(old.base)

    def close(self) -> None:
        self._swap()
        for db in (self.arrow_db, self.files.db if self.files else None):
            if db is not None:
                db.close()
        if self.files is not None:
            _remove(self.files.recent)
            _remove(self.files.base)


def _write_file(path: str, rows: pa.Table, after: int, upto: int) -> int:
    """Write the rows of versions ``after`` < v <= ``upto`` as table ``log`` of a new database file."""
    con = duckdb.connect(path, config={"threads": 1})
    try:
        con.register("rows", rows)
        con.execute("CREATE TABLE log AS SELECT * FROM rows WHERE version > ? AND version <= ? ORDER BY version, seq",
                    [after, upto]).fetchall()
        count = con.execute("SELECT count(*) FROM log").fetchone()
        con.execute("CHECKPOINT").fetchall()
    finally:
        con.close()
    return int(count[0]) if count else 0


def _remove(path: str) -> None:
    for name in (path, path + ".wal"):
        try:
            os.remove(name)
        except OSError:
            pass
