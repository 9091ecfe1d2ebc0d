"""The engine's private DuckDB: the views of sql/ over a resident copy of the log.

Opened only when something needs the views (history, time travel, checks, a state built from
scratch) and then kept current: an engine queues each folded commit's rows here and they are
written in one insert before the next query. User SQL never runs here (see sandbox.py): this
database is locked down and only tinylogsql's own fixed statements reach it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from .errors import CorruptPondError, PondClosedError, VersionNotFoundError
from .refs import Chain, Refs, sql_tables, visible
from .schema import OPLOG_SCHEMA
from .sqlexec import MEMORY_LIMIT, lock_down
from .store import Store
from .views import VIEW_FILES, sql_text

__all__ = ["ResidentLog"]

PENDING_MAX = 1000
"""Commits whose rows wait in Arrow before they are written to the resident log in one insert."""
PENDING_ROWS = 100_000
"""Rows queued for the resident log beyond which it is dropped (reloaded by the next query) rather
than written on a commit: inserting 1M queued rows into DuckDB held one single-op commit ~11 s."""

Row = tuple[Any, ...]


class ResidentLog:
    """The log of one engine's branch up to the engine's version, in DuckDB, with the views.

    It shares the engine's lock; ``position`` tells it the engine's current version, which is
    the version a (re)load reads up to."""

    def __init__(self, store: Store, chain: Chain, lock: threading.RLock, position: Callable[[], int]) -> None:
        self.store, self.chain, self.lock, self._position = store, chain, lock, position
        self.db: duckdb.DuckDBPyConnection | None = None  # None until something needs the views
        self._results: duckdb.DuckDBPyConnection | None = None
        self._loaded = False
        self._stale = False  # dropped (too many queued rows): DuckDB still holds its old rows
        self._pending: list[pa.Table] = []  # rows queued since the log was last written
        self._pending_rows = 0
        self._travel = False  # the point-lookup index of old versions exists
        self._schemas: set[int] = set()  # versions with a schema of views made (see ``snapshot``)
        self.closed = False

    # -- the connection --------------------------------------------------------------
    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The connection with the views, the log loaded up to the engine's version."""
        with self.lock:
            self.check_open()
            if self.db is None:
                self.db = self._open()
            if not self._loaded:
                self.unload()  # (rows of a dropped resident log)
                self._load()
            self._flush()
            return self.db

    @property
    def results(self) -> duckdb.DuckDBPyConnection:
        """A plain locked connection that holds materialised query results."""
        with self.lock:
            if self._results is None:
                self._results = duckdb.connect()
                lock_down(self._results, [], MEMORY_LIMIT)
            return self._results

    def check_open(self) -> None:
        if self.closed:
            raise PondClosedError(f"{self.store.location.uri} was closed")

    def close(self) -> None:
        with self.lock:
            self.closed = True
            for con in (self.db, self._results):
                if con is not None:
                    con.close()

    def run(self, sql: str, params: list[Any] | None = None) -> list[Row]:
        """Execute tinylogsql's own SQL on the views and fetch everything (DuckDB refuses new work
        while a result is unfinished)."""
        with self.lock:
            return self.con.execute(sql, params).fetchall()

    def _open(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(config={"threads": 2, "autoinstall_known_extensions": False})
        empty = OPLOG_SCHEMA.empty_table()
        con.register("empty_log", empty)
        con.execute("CREATE TABLE log AS SELECT * FROM empty_log").fetchall()
        con.unregister("empty_log")
        for name, table in sql_tables(Refs()).items():  # empty: the views need them; user SQL gets its own
            con.register("ref_batch", table)  # (names are ours, from refs.sql_tables, not user input)
            try:
                con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM ref_batch").fetchall()
            finally:
                con.unregister("ref_batch")
        for name in VIEW_FILES:
            con.execute(sql_text(name)).fetchall()
        lock_down(con, [], MEMORY_LIMIT, allowed_configs=("schema", "search_path"))  # private: no user SQL
        return con

    # -- keeping the copy current ------------------------------------------------------
    def state_of(self, rows: pa.Table) -> pa.Table:
        """The `state` view over ``rows`` (every visible op row up to the engine's version), which
        stay resident: how a state is built when no persisted snapshot is usable."""
        with self.lock:
            self.unload()
            if self.db is None:
                self.db = self._open()
            self._insert(rows)
            self._loaded = True
            try:
                return self.db.sql(sql_text("state")).to_arrow_table()
            except BaseException:
                self.unload()
                raise

    def queue(self, rows: pa.Table) -> None:
        """Rows of commits the engine just folded in: written before the next query, or every
        PENDING_MAX commits; past PENDING_ROWS the copy is dropped instead (reloaded on demand)."""
        if not self._loaded:
            return
        self._pending.append(rows)
        self._pending_rows += rows.num_rows
        if self._pending_rows >= PENDING_ROWS:  # not on a commit: the next query reloads it
            self._pending, self._pending_rows = [], 0
            self._loaded, self._stale = False, True
        elif len(self._pending) >= PENDING_MAX:
            self._flush()

    def unload(self) -> None:
        """Forget the copy (the engine rebuilt its state): the next query reloads it."""
        if self.db is not None and (self._loaded or self._stale):
            self.db.execute("DELETE FROM log").fetchall()
            if self._travel:
                self.db.execute("DROP TABLE travel_keys").fetchall()
        self._loaded = self._travel = self._stale = False
        self._pending, self._pending_rows = [], 0

    def _load(self) -> None:
        """Copy every op row up to the engine's version into DuckDB (read from the table's own file list)."""
        at = self._position()
        version, rows = self.store.read_snapshot(upto=None if at < 0 else at)
        if at >= 0 and version < at:
            raise CorruptPondError(f"the table is at version {version}, behind the state's {at}")
        self._insert(visible(rows, self.chain))
        self._loaded = True

    def _flush(self) -> None:
        if self._pending:
            pending, self._pending, self._pending_rows = self._pending, [], 0
            self._insert(pa.concat_tables(pending))

    def _insert(self, rows: pa.Table) -> None:
        con = self.db
        assert con is not None
        con.register("batch", rows)
        try:
            con.execute("INSERT INTO log SELECT * FROM batch").fetchall()
            if self._travel:
                con.execute("INSERT INTO travel_keys SELECT parent_id || '/' || name, node_id, version FROM batch")
        finally:
            con.unregister("batch")

    # -- versions ----------------------------------------------------------------------
    def snapshot(self, version: int) -> str:
        """Name of a schema holding the same views over the log as of ``version``."""
        schema = f"v{int(version)}"
        with self.lock:
            if version not in self._schemas:
                self.run(f"CREATE SCHEMA IF NOT EXISTS {schema}")
                self.run(f"CREATE OR REPLACE VIEW {schema}.log AS"
                         f" SELECT * FROM main.log WHERE version <= {int(version)}")
                self.run(f"SET schema = '{schema}'")
                try:
                    for name in VIEW_FILES:
                        self.run(sql_text(name))
                finally:
                    self.run("SET schema = 'main'")
                self._schemas.add(version)
        return schema

    def fixed_query(self, sql: str, params: Any, version: int | None) -> list[Row]:
        """Run tinylogsql's own fixed SQL (never user text; values only as ``params``) on the
        views at ``version`` (None: live). For history helpers."""
        with self.lock:
            schema = "main" if version is None else self.snapshot(version)
            cursor = self.con.cursor()
        try:
            cursor.execute(f"SET schema = '{schema}'").fetchall()
            return cursor.execute(sql, params).fetchall()
        finally:
            cursor.close()

    def version_at(self, when: datetime) -> int:
        """The last version whose commit time is at or before ``when`` (UTC)."""
        found = self.run("SELECT max(version) FROM log WHERE ts <= ?", [when])[0]
        if found[0] is None:
            raise VersionNotFoundError(f"the pond has no version at or before {when.isoformat()}")
        return int(found[0])

    def touched(self, after: int, upto: int) -> list[Row]:
        """(parent_id, name, from_parent_id, from_name, node_id, txn_id) of the commits in (after, upto]."""
        return self.run("SELECT parent_id, name, from_parent_id, from_name, node_id, txn_id FROM log"
                        " WHERE version > ? AND version <= ?", [after, upto])

    def content(self, version: int | None, seq: int | None, node_id: str) -> Row | None:
        """(content, content_ref) of one op row, or None."""
        rows = self.run("SELECT content, content_ref FROM log WHERE version = ? AND seq = ? AND node_id = ?",
                        [version, seq, node_id])
        return rows[0] if rows else None

    # -- nodes at old versions -----------------------------------------------------------
    def nodes_at(self, at: int, where: str, params: list[Any], columns: str) -> list[Row]:
        """Nodes matching ``where`` (tinylogsql's own condition) at an old version, in two steps:
        the few nodes that were ever there, then the `nodes` view at that version for just those
        ids (the filter on node_id reaches below the view's window: no whole-state recompute)."""
        with self.lock:
            found = self.run(f"SELECT DISTINCT node_id FROM log WHERE version <= ? AND {where}", [at, *params])
            if not found:
                return []
            nodes = f"{self.snapshot(at)}.nodes"
            return self.run(
                f"SELECT {columns} FROM {nodes} WHERE node_id = ANY(?::VARCHAR[]) AND {where} ORDER BY name",
                [[row[0] for row in found], *params],
            )

    def _travel_index(self) -> None:
        """Index the log for point lookups at old versions (made on first use).

        DuckDB uses an index only for a plain equality on one column, so names get a table of
        their own (``parent_id/name`` -> node ids and versions) and the log an index on node_id.
        """
        if self._travel:
            return
        self.run("CREATE OR REPLACE TABLE travel_keys AS"
                 " SELECT parent_id || '/' || name AS key, node_id, version FROM log")
        self.run("CREATE INDEX IF NOT EXISTS travel_key ON travel_keys (key)")
        self.run("CREATE INDEX IF NOT EXISTS log_node ON log (node_id)")
        self._travel = True

    def ever_at(self, parent_id: str, name: str, at: int) -> set[str]:
        """Ids of the nodes that were at (parent_id, name) at some version up to ``at``."""
        with self.lock:
            self._travel_index()
            rows = self.run("SELECT node_id, version FROM travel_keys WHERE key = ?", [f"{parent_id}/{name}"])
        return {node_id for node_id, version in rows if version <= at}

    def ops_of(self, node_id: str, at: int) -> list[Row]:
        """(version, seq, op, kind, parent_id, name, size, sha256, target, ts) of a node's ops up
        to ``at``, in commit order."""
        with self.lock:
            self._travel_index()
            rows = self.run("SELECT version, seq, op, kind, parent_id, name, size, sha256, target, ts"
                            " FROM log WHERE node_id = ?", [node_id])
        return sorted((row for row in rows if row[0] <= at), key=lambda row: (row[0], row[1]))
