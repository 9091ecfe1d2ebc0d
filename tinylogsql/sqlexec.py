"""The second layer of the SQL sandbox: the DuckDB database where a checked query runs.

It is not the engine's database. It holds the pond's op rows up to the query's version as a
registered Arrow table, or as database files attached READ_ONLY plus an Arrow tail (sqlbase.py;
read-only either way: DuckDB cannot write to them), the views and macros from sql/
over it, and the pond's files bound to that version (``sqlfiles``). External access is off,
the configuration is locked, and each query runs as exactly one prepared SELECT-like
statement (``sandbox.check_statement``). Nothing the engine, a later query or another
version relies on lives here: the next query re-registers the rows it needs.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any

import duckdb
import pyarrow as pa

from .errors import ContentExpiredError, QueryError, QueryRejectedError, QueryTimeoutError
from .refs import Refs, sql_tables
from .sandbox import POND_SCHEME, check_statement
from .schema import OPLOG_SCHEMA
from .sqlfiles import Opener, PondSQLFiles
from .views import VIEW_FILES, sql_text

MEMORY_LIMIT = os.environ.get("TINYLOGSQL_MEMORY_LIMIT", "4GB")
"""The engine's own DuckDB memory limit (as set at import); user queries read ``memory_limit()``."""


def memory_limit() -> str:
    """Memory a user query may use (DuckDB's memory_limit; the worker process is killed past it):
    ``TINYLOGSQL_MEMORY_LIMIT`` as set now, so a value set after import (or in a forked child) counts."""
    return os.environ.get("TINYLOGSQL_MEMORY_LIMIT", "4GB")
THREADS = int(os.environ.get("TINYLOGSQL_SQL_THREADS", "2"))

_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
          "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)\s*$", re.IGNORECASE)
_CATEGORY = re.compile(r"^[A-Za-z ]*(Error|Exception): ")
_RAISED = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*(Error|Exception): ")


def memory_bytes(text: str | None = None) -> int:
    """``4GB`` / ``500MiB`` / ``1000000`` in bytes (QueryError if unreadable); default: ``memory_limit()``."""
    text = memory_limit() if text is None else text
    match = _SIZE.match(text)
    if not match or match.group(2).lower() not in _UNITS:
        raise QueryError(f"TINYLOGSQL_MEMORY_LIMIT={text!r} is not a size such as 2GB or 512MiB")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def out_of_memory(limit: str | None = None) -> QueryError:
    limit = memory_limit() if limit is None else limit
    return QueryError(f"the query ran out of memory (limit {limit}); set the environment variable"
                      " TINYLOGSQL_MEMORY_LIMIT (e.g. 8GB) to allow more")


def one_line(exc: BaseException) -> str:
    """DuckDB's message without its category prefix, context lines or class names."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    if "Traceback (most recent call last)" in text or (len(lines) > 1 and lines[1].startswith("Traceback")):
        raised = [line for line in lines if _RAISED.match(line)]  # a Python error inside a pond file read
        text = _RAISED.sub("", raised[-1]) if raised else "reading a pond file failed"
    return _CATEGORY.sub("", text)[:500]


def translate(exc: duckdb.Error, timeout: float) -> Exception:
    """A DuckDB error as tinylogsql's: timeout, rejection, out of memory, or a one-line QueryError."""
    if isinstance(exc, duckdb.InterruptException):
        return QueryTimeoutError(f"query interrupted after {timeout} s")
    if isinstance(exc, duckdb.PermissionException):
        return QueryRejectedError(f"query rejected: {one_line(exc)}")
    if isinstance(exc, duckdb.OutOfMemoryException) or "out of memory" in str(exc).lower():
        return out_of_memory()
    text = one_line(exc)
    if "ContentExpiredError" in str(exc):  # a pond file read of a version a retention policy expired
        return ContentExpiredError(text)
    if "is a directory" in text.lower() or "IsADirError" in str(exc):
        return QueryError("a file reader was given a directory: " + _pond_path_in(str(exc)))
    return QueryError(text)


def _pond_path_in(text: str) -> str:
    found = re.search(re.escape(POND_SCHEME) + r"[^\s'\"]*", text)
    return found.group(0) if found else "name a file, or a glob such as tinylogsql:///dir/*.csv"


def lock_down(con: duckdb.DuckDBPyConnection, allowed_directories: list[str], memory_limit: str,
              allowed_configs: tuple[str, ...] = ()) -> None:
    """No host files, no network, a memory limit, and no way back (but for ``allowed_configs``)."""
    con.execute("SET allowed_directories = ?", [allowed_directories]).fetchall()
    con.execute("SET temp_directory = ''").fetchall()
    con.execute("SET memory_limit = ?", [memory_limit]).fetchall()
    con.execute("SET enable_external_access = false").fetchall()
    con.execute("SET allowed_configs = ?", [list(allowed_configs)]).fetchall()
    con.execute("SET lock_configuration = true").fetchall()


class SandboxDB:
    """One locked in-memory DuckDB for user queries; each query names the rows and files it sees.

    ``files``: two database files (sqlbase.py), each with a table ``log``, attached READ_ONLY as
    ``base`` and ``recent`` before the lock; then each query's rows are those tables up to the
    query's version, plus a registered Arrow tail of newer rows if any (sql/log_base*.sql)."""

    def __init__(self, limit: str | None = None, files: tuple[str, str] | None = None) -> None:
        con = duckdb.connect(config={"threads": THREADS, "autoinstall_known_extensions": False,
                                     "autoload_known_extensions": False})
        self.files_attached = files is not None
        if files is None:
            con.register("log", OPLOG_SCHEMA.empty_table())
        else:  # read-only: even DML in a CTE (a SELECT statement to DuckDB 2.0.1) is refused on them
            con.execute("ATTACH ? AS base (READ_ONLY)", [files[0]]).fetchall()
            con.execute("ATTACH ? AS recent (READ_ONLY)", [files[1]]).fetchall()
            con.register("log_tail", OPLOG_SCHEMA.empty_table())
            con.execute("SET VARIABLE log_upto = -1").fetchall()
            con.execute(sql_text("log_base")).fetchall()
        for name, table in sql_tables(Refs()).items():  # each query registers its own (see run)
            con.register(name, table)
        for name in VIEW_FILES:
            con.execute(sql_text(name)).fetchall()
        self.files = PondSQLFiles.bound(_no_pond, -1)
        con.register_filesystem(self.files)
        lock_down(con, [f"{POND_SCHEME}/"], memory_limit() if limit is None else limit)
        self.con = con
        self._log: pa.Table | None = None
        self._upto = -1
        self._with_tail = False
        self._refs: dict[str, pa.Table] = {}  # the ref tables registered now (see run)

    def run(self, text: str, params: Any, log: pa.Table, version: int, open_pond: Opener,
            timeout: float, budget: float | None = None, refs: dict[str, pa.Table] | None = None) -> pa.Table:
        """Run checked SQL over ``log`` (the rows up to ``version``; with ``files``, the rows
        newer than theirs, up to ``version``), interrupted after ``timeout`` s; ``refs``: the branch,
        tag and revision tables of sql/branches.sql (refs.sql_tables)."""
        statement = check_statement(text)
        if log is not self._log:
            self.con.register("log_tail" if self.files_attached else "log", log)
            self._log = log
        if self.files_attached:
            if version != self._upto:
                self.con.execute("SET VARIABLE log_upto = ?", [version]).fetchall()
                self._upto = version
            if self._with_tail != bool(log.num_rows):  # the view without an empty Arrow tail plans better
                self._with_tail = bool(log.num_rows)
                self.con.execute(sql_text("log_base_tail" if self._with_tail else "log_base")).fetchall()
        for name, table in (refs or {}).items():
            if not table.equals(self._refs.get(name)):  # registering costs ~0.6 ms a table; most are unchanged
                self.con.register(name, table)
                self._refs[name] = table
        self.files._open_pond, self.files.version = open_pond, version
        timer = threading.Timer(timeout, self.con.interrupt)
        timer.daemon = True
        timer.start()
        try:
            return self.con.sql(statement, params=params).to_arrow_table()
        except duckdb.Error as exc:
            raise translate(exc, timeout if budget is None else budget) from None
        finally:
            timer.cancel()
            self.files._open_pond, self.files.version = _no_pond, -1


    def close(self) -> None:
        self.con.close()


def _no_pond(version: int) -> Any:
    raise QueryError("pond files are readable only inside a query")
