"""The DuckDB side: the resident op log, the views over it, and the version-keyed state cache.

Everything here is derived from the Delta log. ``Engine.version`` is the Delta version the
resident copy reflects; ``sync`` checks the table (one stat for the next log entry) before
reads and folds in only the commits it has not seen.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from .errors import CorruptPondError, QueryError, QueryRejectedError, QueryTimeoutError, VersionNotFoundError
from .sandbox import POND_SCHEME
from .schema import OPLOG_SCHEMA
from .sqlfiles import PondSQLFiles
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
MEMORY_LIMIT = os.environ.get("TINYLOGSQL_MEMORY_LIMIT", "4GB")
"""DuckDB's memory limit for a pond (the resident log, the cache and user queries)."""


class Changes(NamedTuple):
    """What a range of commits touched: used to validate a transaction against foreign commits."""

    keys: set[tuple[str, str]]
    dirs: set[str]
    nodes: set[str]
    txn_ids: set[str]


class Engine:
    """One DuckDB database holding a pond's resident log; thread-safe through one lock."""

    def __init__(self, store: Store, open_pond: Callable[[int], Any] | None = None) -> None:
        self.store = store
        self.lock = threading.RLock()
        self.con = duckdb.connect(config={"threads": 2, "autoinstall_known_extensions": False})
        self._snapshots: set[int] = set()
        self._dir_ids: dict[str, NodeRow] = {}
        self._dir_keys: dict[tuple[str, str], NodeRow] = {}
        empty = OPLOG_SCHEMA.empty_table()
        self.con.register("empty_log", empty)
        self._run("CREATE TABLE log AS SELECT * FROM empty_log")
        self.con.unregister("empty_log")
        for name in VIEW_FILES:
            self._run(sql_text(name))
        self.table_functions = frozenset(
            row[0] for row in self._run(
                "SELECT DISTINCT function_name FROM duckdb_functions() WHERE function_type IN ('table', 'table_macro')"
            )
        )
        if open_pond is not None:
            self.con.register_filesystem(PondSQLFiles.for_pond(open_pond))
        self._lock_down(self.con, allowed_directories=[f"{POND_SCHEME}/"] if open_pond else [])
        self.results = duckdb.connect()
        self._lock_down(self.results, allowed_directories=[])
        self.version = -1
        self._load_all()

    @staticmethod
    def _lock_down(con: duckdb.DuckDBPyConnection, allowed_directories: list[str]) -> None:
        """The sandbox's second layer: no host files, no network, limits, and no way back."""
        con.execute("SET allowed_directories = ?", [allowed_directories]).fetchall()
        con.execute("SET temp_directory = ''").fetchall()
        con.execute("SET memory_limit = ?", [MEMORY_LIMIT]).fetchall()
        con.execute("SET enable_external_access = false").fetchall()
        con.execute("SET allowed_configs = ['schema', 'search_path']").fetchall()
        con.execute("SET lock_configuration = true").fetchall()

    def run_user_query(self, sql: str, params: Any, version: int | None, timeout: float) -> pa.Table:
        """Run a checked query on its own cursor (views at ``version``), interrupted after ``timeout`` s."""
        cursor = self.cursor(version)
        timer = threading.Timer(timeout, cursor.interrupt)
        timer.daemon = True
        timer.start()
        try:
            return cursor.sql(sql, params=params).to_arrow_table()
        except duckdb.InterruptException as exc:
            raise QueryTimeoutError(f"query interrupted after {timeout} s") from exc
        except duckdb.PermissionException as exc:
            raise QueryRejectedError(f"query rejected by DuckDB: {exc}") from exc
        except duckdb.Error as exc:
            raise QueryError(str(exc)) from exc
        finally:
            timer.cancel()
            cursor.close()

    def _run(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Execute and fetch everything: DuckDB refuses new work while a result is unfinished."""
        with self.lock:
            return self.con.execute(sql, params).fetchall()

    def close(self) -> None:
        with self.lock:
            self.con.close()
            self.results.close()

    # -- keeping the resident log current --------------------------------------
    def _load_all(self) -> None:
        version, rows = self.store.read_snapshot()
        self._run("DELETE FROM log")
        self._insert(rows)
        self._run(sql_text("state"))
        self._load_dirs()
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
                self._insert(rows)
                self._fold(rows)
            self.version = version

    def _fold(self, rows: pa.Table) -> None:
        """Bring `state` (and the directory cache) from the old version to the new one.

        Per node, the latest op decides location and liveness; created/content pointers
        come from the node's first/last content op, here or already in `state`. This is
        what the `nodes` view computes over the whole log (tests check they agree).
        Columns stay in Arrow; Python only walks node ids and op kinds.
        """
        rows = rows.sort_by([("version", "ascending"), ("seq", "ascending")])
        node_ids = rows.column("node_id").to_pylist()
        ops = rows.column("op").to_pylist()
        first: dict[str, int] = {}
        last: dict[str, int] = {}
        content: dict[str, int] = {}
        for index, (node_id, op) in enumerate(zip(node_ids, ops, strict=True)):
            first.setdefault(node_id, index)
            last[node_id] = index
            if op == "create" or op == "write":
                content[node_id] = index
        existing = [node_id for node_id, index in first.items() if ops[index] != "create"]
        old: dict[str, NodeRow] = {}
        if existing:
            old = {row.node_id: row for row in self._rows(
                f"SELECT {NODE_COLUMNS} FROM state WHERE node_id = ANY(?::VARCHAR[])", [existing])}
            self._run("DELETE FROM state WHERE node_id = ANY(?::VARCHAR[])", [existing])
            for node_id in existing:
                self._forget_dir(node_id)
        kept = [(node_id, index) for node_id, index in last.items() if ops[index] != "remove"]
        if not kept:
            return
        new = rows.take([index for _, index in kept])
        versions, seqs = rows.column("version").to_pylist(), rows.column("seq").to_pylist()
        created_at = rows.column("ts").take([first[node_id] for node_id, _ in kept])
        created, created_version, content_version, content_seq = [], [], [], []
        for position, (node_id, _) in enumerate(kept):
            before, at = old.get(node_id), content.get(node_id)
            created.append(before.created if before else created_at[position].as_py())
            created_version.append(before.created_version if before else versions[first[node_id]])
            content_version.append(versions[at] if at is not None else (before.content_version if before else None))
            content_seq.append(seqs[at] if at is not None else (before.content_seq if before else None))
        state = pa.table({
            "key": pc.binary_join_element_wise(new.column("parent_id"), new.column("name"), "/"),
            **{name: new.column(name) for name in ("node_id", "kind", "parent_id", "name", "size", "sha256", "target")},
            "created": pa.array(created, pa.timestamp("us")),
            "created_version": pa.array(created_version, pa.int64()),
            "modified": new.column("ts"),
            "version": new.column("version"),
            "content_version": pa.array(content_version, pa.int64()),
            "content_seq": pa.array(content_seq, pa.int32()),
        })
        self.con.register("fold", state)
        try:
            self._run("INSERT INTO state SELECT * FROM fold")
            if "dir" in new.column("kind").to_pylist():
                for row in self._rows(f"SELECT {NODE_COLUMNS} FROM fold WHERE kind = 'dir'", []):
                    self._remember_dir(row)
        finally:
            self.con.unregister("fold")

    # -- the directory cache: every live directory, derived with `state` ------------------
    def _remember_dir(self, row: NodeRow) -> None:
        self._dir_ids[row.node_id] = row
        self._dir_keys[(row.parent_id, row.name)] = row

    def _forget_dir(self, node_id: str) -> None:
        row = self._dir_ids.pop(node_id, None)
        if row is not None and self._dir_keys.get((row.parent_id, row.name)) is row:
            del self._dir_keys[(row.parent_id, row.name)]

    def _load_dirs(self) -> None:
        self._dir_ids, self._dir_keys = {}, {}
        for row in self._rows(f"SELECT {NODE_COLUMNS} FROM state WHERE kind = 'dir'", []):
            self._remember_dir(row)

    def sync(self, upto: int | None = None) -> int:
        """Catch up with the table (to ``upto`` or the newest version) and return the version."""
        with self.lock:
            while upto is None or self.version < upto:
                if not self.store.has_version(self.version + 1):
                    if self.store.checkpoint_after(self.version):  # its entries were cleaned up
                        self._load_all()
                        continue
                    if upto is not None:
                        raise CorruptPondError(f"log entry for version {self.version + 1} is missing")
                    break
                try:
                    rows = self.store.read_commit(self.version + 1)
                except CorruptPondError:
                    rows = None  # its files were compacted and vacuumed since: the snapshot has them
                if rows is None:  # log entry or files cleaned up: rebuild from the table's file list
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
            directory = self._dir_keys.get((parent_id, name))
            if directory is not None:
                return directory
            rows = self._rows(f"SELECT {NODE_COLUMNS} FROM state WHERE key = ?", [f"{parent_id}/{name}"])
        else:
            rows = self._at_version(at, "parent_id = ? AND name = ?", [parent_id, name])
        return rows[0] if rows else None

    def node(self, node_id: str, at: int | None = None) -> NodeRow | None:
        if at is None and node_id in self._dir_ids:
            return self._dir_ids[node_id]
        relation = "state" if at is None else f"{self.snapshot(at)}.nodes"
        rows = self._rows(f"SELECT {NODE_COLUMNS} FROM {relation} WHERE node_id = ?", [node_id])
        return rows[0] if rows else None

    def children(self, parent_id: str, at: int | None = None) -> list[NodeRow]:
        if at is not None:
            return self._at_version(at, "parent_id = ?", [parent_id])
        return self._rows(f"SELECT {NODE_COLUMNS} FROM state WHERE parent_id = ? ORDER BY name", [parent_id])

    def _at_version(self, at: int, where: str, params: list[Any]) -> list[NodeRow]:
        """Nodes matching ``where`` at an old version, in two steps: the few nodes that were ever
        there, then the `nodes` view for just those ids (the filter on node_id reaches below the
        view's window, so it does not recompute the whole state)."""
        with self.lock:
            found = self._run(f"SELECT DISTINCT node_id FROM log WHERE version <= ? AND {where}", [at, *params])
            if not found:
                return []
            nodes = f"{self.snapshot(at)}.nodes"
            return self._rows(
                f"SELECT {NODE_COLUMNS} FROM {nodes} WHERE node_id = ANY(?::VARCHAR[]) AND {where} ORDER BY name",
                [[row[0] for row in found], *params],
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
