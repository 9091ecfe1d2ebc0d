"""The DuckDB side: the resident op log, the views over it, and the version-keyed state cache.

Everything here is derived from the Delta log. ``Engine.version`` is the Delta version the
resident copy reflects; ``sync`` checks the table (one stat for the next log entry) before
reads and folds in only the commits it has not seen.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any, NamedTuple

import duckdb
import pyarrow as pa

from .errors import CorruptPondError, VersionNotFoundError
from .schema import OPLOG_SCHEMA
from .store import Store
from .views import VIEW_FILES, sql_text


class NodeRow(NamedTuple):
    """One node's current state, as the `nodes` view and the `state` cache give it."""

    node_id: str
    kind: str
    parent_id: str
    name: str
    size: int | None
    sha256: str | None
    target: str | None
    created: datetime | None
    created_version: int | None
    modified: datetime | None
    version: int | None
    content_version: int | None
    content_seq: int | None


NODE_COLUMNS = ", ".join(NodeRow._fields)


class Changes(NamedTuple):
    """What a range of commits touched: used to validate a transaction against foreign commits."""

    keys: set[tuple[str, str]]
    dirs: set[str]
    nodes: set[str]
    txn_ids: set[str]


class Engine:
    """One DuckDB database holding a pond's resident log; thread-safe through one lock."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.lock = threading.RLock()
        self.con = duckdb.connect(config={"enable_external_access": False, "threads": 2})
        self._snapshots: set[int] = set()
        empty = OPLOG_SCHEMA.empty_table()
        self.con.register("empty_log", empty)
        self._run("CREATE TABLE log AS SELECT * FROM empty_log")
        self.con.unregister("empty_log")
        for name in VIEW_FILES:
            self._run(sql_text(name))
        self.version = -1
        self._load_all()

    def _run(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Execute and fetch everything: DuckDB refuses new work while a result is unfinished."""
        with self.lock:
            return self.con.execute(sql, params).fetchall()

    def close(self) -> None:
        with self.lock:
            self.con.close()

    # -- keeping the resident log current --------------------------------------
    def _load_all(self) -> None:
        version, rows = self.store.read_snapshot()
        self._run("DELETE FROM log")
        self._insert(rows)
        self._run(sql_text("state"))
        self.version = version

    def _insert(self, rows: pa.Table) -> None:
        self.con.register("batch", rows)
        try:
            self._run("INSERT INTO log SELECT * FROM batch")
        finally:
            self.con.unregister("batch")

    def ingest(self, rows: pa.Table, version: int) -> None:
        """Fold in the rows of commit ``version``, which must be the next one."""
        with self.lock:
            if version != self.version + 1:
                raise AssertionError(f"ingest of version {version} on top of {self.version}")
            if rows.num_rows:
                self.con.register("batch", rows)
                try:
                    self._run("INSERT INTO log SELECT * FROM batch")
                    self._run(sql_text("state_apply"))
                finally:
                    self.con.unregister("batch")
            self.version = version

    def sync(self, upto: int | None = None) -> int:
        """Catch up with the table (to ``upto`` or the newest version) and return the version."""
        with self.lock:
            while upto is None or self.version < upto:
                if not self.store.has_version(self.version + 1):
                    if upto is not None:
                        raise CorruptPondError(f"log entry for version {self.version + 1} is missing")
                    break
                rows = self.store.read_commit(self.version + 1)
                if rows is None:  # log entry cleaned up: rebuild from the table's file list
                    self._load_all()
                    continue
                self.ingest(rows, self.version + 1)
            return self.version

    # -- reads for the directory API -------------------------------------------
    def _rows(self, sql: str, params: list[Any]) -> list[NodeRow]:
        with self.lock:
            return [NodeRow(*r) for r in self._run(sql, params)]

    def lookup(self, parent_id: str, name: str, at: int | None = None) -> NodeRow | None:
        if at is None:
            rows = self._rows(f"SELECT {NODE_COLUMNS} FROM state WHERE key = ?", [f"{parent_id}/{name}"])
        else:
            rows = self._rows(
                f"SELECT {NODE_COLUMNS} FROM {self.snapshot(at)}.nodes WHERE parent_id = ? AND name = ?",
                [parent_id, name],
            )
        return rows[0] if rows else None

    def node(self, node_id: str, at: int | None = None) -> NodeRow | None:
        relation = "state" if at is None else f"{self.snapshot(at)}.nodes"
        rows = self._rows(f"SELECT {NODE_COLUMNS} FROM {relation} WHERE node_id = ?", [node_id])
        return rows[0] if rows else None

    def children(self, parent_id: str, at: int | None = None) -> list[NodeRow]:
        relation = "state" if at is None else f"{self.snapshot(at)}.entries"
        return self._rows(
            f"SELECT {NODE_COLUMNS} FROM {relation} WHERE parent_id = ? ORDER BY name", [parent_id]
        )

    def content(self, row: NodeRow) -> tuple[bytes | None, str | None]:
        """(inline content, blob reference) of the op row holding a file's current content."""
        with self.lock:
            rows = self._run(
                "SELECT content, content_ref FROM log WHERE version = ? AND seq = ? AND node_id = ?",
                [row.content_version, row.content_seq, row.node_id],
            )
        found = rows[0] if rows else None
        if found is None:
            raise CorruptPondError(f"content row of node {row.node_id} is missing from the log")
        return found[0], found[1]

    def changes(self, after: int, upto: int) -> Changes:
        """Keys, directories and nodes touched by commits in (after, upto]."""
        with self.lock:
            rows = self._run(
                "SELECT parent_id, name, from_parent_id, from_name, node_id, txn_id FROM log"
                " WHERE version > ? AND version <= ?",
                [after, upto],
            )
        keys: set[tuple[str, str]] = set()
        dirs: set[str] = set()
        nodes: set[str] = set()
        txns: set[str] = set()
        for parent, name, from_parent, from_name, node_id, txn_id in rows:
            keys.add((parent, name))
            dirs.add(parent)
            if from_parent is not None:
                keys.add((from_parent, from_name))
                dirs.add(from_parent)
            nodes.add(node_id)
            txns.add(txn_id)
        return Changes(keys, dirs, nodes, txns)

    # -- versions ----------------------------------------------------------------
    def snapshot(self, version: int) -> str:
        """Name of a schema holding the same views over the log as of ``version``."""
        schema = f"v{int(version)}"
        with self.lock:
            if version not in self._snapshots:
                self._run(f"CREATE SCHEMA IF NOT EXISTS {schema}")
                self._run(
                    f"CREATE OR REPLACE VIEW {schema}.log AS SELECT * FROM main.log WHERE version <= {int(version)}"
                )
                self._run(f"SET schema = '{schema}'")
                try:
                    for name in VIEW_FILES:
                        self._run(sql_text(name))
                finally:
                    self._run("SET schema = 'main'")
                self._snapshots.add(version)
        return schema

    def version_at(self, when: datetime) -> int:
        """The last version whose commit time is at or before ``when`` (UTC)."""
        with self.lock:
            found = self._run("SELECT max(version) FROM log WHERE ts <= ?", [when])[0]
        if found[0] is None:
            raise VersionNotFoundError(f"the pond has no version at or before {when.isoformat()}")
        return int(found[0])

    def cursor(self, version: int | None = None) -> duckdb.DuckDBPyConnection:
        """A cursor whose unqualified names resolve to the views at ``version`` (None: live)."""
        with self.lock:
            schema = "main" if version is None else self.snapshot(version)
            cur = self.con.cursor()
        cur.execute(f"SET schema = '{schema}'").fetchall()
        return cur
