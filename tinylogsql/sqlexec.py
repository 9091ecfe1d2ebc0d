"""The second layer of the SQL sandbox: the DuckDB database where a checked query runs.

It is not the engine's database. It holds the pond's op rows up to the query's version as a
registered Arrow table (read-only: DuckDB cannot write to it), the views and macros from sql/
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
"""Memory a user query may use (DuckDB's memory_limit; the worker process is killed past it)."""
THREADS = int(os.environ.get("TINYLOGSQL_SQL_THREADS", "2"))

_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
          "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)\s*$", re.IGNORECASE)
_CATEGORY = re.compile(r"^[A-Za-z ]*(Error|Exception): ")
_RAISED = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*(Error|Exception): ")


def memory_bytes(text: str = MEMORY_LIMIT) -> int:
    """``4GB`` / ``500MiB`` / ``1000000`` in bytes (QueryError if unreadable)."""
    match = _SIZE.match(text)
    if not match or match.group(2).lower() not in _UNITS:
        raise QueryError(f"TINYLOGSQL_MEMORY_LIMIT={text!r} is not a size such as 2GB or 512MiB")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def out_of_memory(limit: str = MEMORY_LIMIT) -> QueryError:
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
    """One locked in-memory DuckDB for user queries; each query names the rows and files it sees."""

    def __init__(self, memory_limit: str = MEMORY_LIMIT) -> None:
        con = duckdb.connect(config={"threads": THREADS, "autoinstall_known_extensions": False,
                                     "autoload_known_extensions": False})
        con.register("log", OPLOG_SCHEMA.empty_table())
        for name, table in sql_tables(Refs()).items():  # each query registers its own (see run)
            con.register(name, table)
        for name in VIEW_FILES:
            con.execute(sql_text(name)).fetchall()
        self.files = PondSQLFiles.bound(_no_pond, -1)
        con.register_filesystem(self.files)
        lock_down(con, [f"{POND_SCHEME}/"], memory_limit)
        self.con = con
        self._log: pa.Table | None = None

    def run(self, text: str, params: Any, log: pa.Table, version: int, open_pond: Opener,
            timeout: float, budget: float | None = None, refs: dict[str, pa.Table] | None = None) -> pa.Table:
        """Run checked SQL over ``log`` (the rows up to ``version``), interrupted after ``timeout`` s;
        ``refs``: the branch, tag and revision tables of sql/branches.sql (refs.sql_tables)."""
        statement = check_statement(text)
        if log is not self._log:
            self.con.register("log", log)
            self._log = log
        for name, table in (refs or {}).items():
            self.con.register(name, table)
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


def _no_pond(version: int) -> Any:
    raise QueryError("pond files are readable only inside a query")
