"""The read side: the version-keyed state cache, kept current with the Delta log.

Everything here is derived from the Delta log. ``Engine.version`` is the Delta version the
state reflects; ``sync`` checks the table (one stat for the next log entry) before reads and
folds in only the commits it has not seen. Lookups, listings and file reads are served by the
state (tinylogsql/state.py); the engine's DuckDB with the whole log (resident.py) is opened only
when something needs the views: history, time travel, checks, or a state built from scratch
because no persisted snapshot is usable.
"""

from __future__ import annotations

import threading
import warnings
from concurrent.futures import Future
from itertools import compress
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from . import commitbranch, mapped, segments
from .errors import CorruptPondError
from .freshness import Freshness
from .logfiles import MissingDataFile
from .refs import MAIN, MAIN_CHAIN, Chain, Refs, scan, visible
from .resident import ResidentLog
from .retention import expired_error
from .schema import OPLOG_SCHEMA
from .segments import State
from .state import NODE_COLUMNS, STATE_SCHEMA, Base, Content, Entry, NodeRow, column_values, created_rows
from .store import Store

__all__ = ["NODE_COLUMNS", "Changes", "Engine", "NodeRow"]

TAIL_MAX = 2000
"""Open from a persisted state snapshot only if at most this many commits came after it."""
PERSIST_EVERY = 1000
"""A committer persists the state once this many commits came after the last snapshot..."""
PERSIST_MIN_OPS = 50_000
"""...or once the ops since then number this many and half the state (a big batched load)."""
REMOTE_PERSIST_EVERY = 25
REMOTE_ROWS_PER_COMMIT = 1000
"""On object storage each commit of a snapshot's tail costs an open two GETs (its entry, its data
file), so a committer persists after max(REMOTE_PERSIST_EVERY, state rows / REMOTE_ROWS_PER_COMMIT)
commits: a small state is cheap to write often, a big one as rarely as locally."""
CHANGES_KEPT = 1000
"""How many recent commits keep their touched keys in memory, for validating transactions."""


def _persist_failed(store: Store, exc: BaseException) -> None:
    warnings.warn(f"tinylogsql: could not persist the state of {store.location.uri}: {exc}", RuntimeWarning,
                  stacklevel=4)


def _write_snapshot(store: Store, future: Future[Base] | list[Base], version: int, table_id: str, keep: int) -> None:
    """A background persist: wait for the merge that makes the base at ``version`` (or take the
    sorted segments given), write it."""
    try:
        mapped.persist(store, future, version, table_id)  # (then served from the file: mapped.py)
        store.states.prune(keep=keep)
    except (OSError, pa.ArrowException) as exc:
        _persist_failed(store, exc)


class Changes(NamedTuple):
    """What a range of commits touched: used to validate a transaction against foreign commits."""

    keys: set[tuple[str, str]]
    dirs: set[str]
    nodes: set[str]
    txn_ids: set[str]

    @classmethod
    def of(cls, rows: list[tuple[Any, ...]]) -> Changes:
        """From (parent_id, name, from_parent_id, from_name, node_id, txn_id) tuples."""
        changes = cls(set(), set(), set(), set())
        for parent, name, from_parent, from_name, node_id, txn_id in rows:
            changes.keys.add((parent, name))
            changes.dirs.add(parent)
            if from_parent is not None:
                changes.keys.add((from_parent, from_name))
                changes.dirs.add(from_parent)
            changes.nodes.add(node_id)
            changes.txn_ids.add(txn_id)
        return changes


    @classmethod
    def of_table(cls, rows: pa.Table) -> Changes:
        """The same from op rows, column by column (a bulk commit builds no per-row tuples)."""
        moved = pc.is_valid(rows.column("from_parent_id"))  # (the two columns filtered, not the rows' content)
        parents = rows.column("parent_id").to_pylist()
        keys = set(zip(parents, rows.column("name").to_pylist(), strict=True))
        from_parents = rows.column("from_parent_id").filter(moved).to_pylist()
        keys.update(zip(from_parents, rows.column("from_name").filter(moved).to_pylist(), strict=True))
        return cls(keys, set(parents) | set(from_parents), set(rows.column("node_id").to_pylist()),
                   set(pc.unique(rows.column("txn_id")).to_pylist()))


_NODE_ROW = tuple.__new__
"""NodeRow from a tuple of its fields without NamedTuple's keyword-handling __new__."""


def _in_commit_order(rows: pa.Table) -> bool:
    """Are the op rows of one version, in ascending ``seq``?"""
    version = rows.column("version")
    if version.num_chunks != 1 or rows.column("seq").num_chunks != 1 or version.null_count:
        return False
    versions, seqs = version.chunk(0).to_numpy(), rows.column("seq").chunk(0).to_numpy(zero_copy_only=False)
    return bool((versions == versions[0]).all() and (seqs[1:] > seqs[:-1]).all())


class Engine:
    """A pond's state cache and (on demand) its DuckDB database; thread-safe through one lock."""

    def __init__(self, store: Store, branch: str = MAIN, chain: Chain = MAIN_CHAIN,
                 start: Engine | None = None) -> None:
        self.store = store
        self.branch, self.chain = branch, chain  # the state follows this branch (see refs.py)
        self._refs: Refs | None = None  # every ref, read on first use and then kept current
        self.deleted = False  # the branch was deleted after this engine opened it
        self.lock = threading.RLock()
        self.version = -1
        self.resident = ResidentLog(store, chain, self.lock, lambda: self.version)  # DuckDB, on first use
        self._persisted = -1  # version of the newest state snapshot this engine knows of
        self._since_persisted = 0  # op rows folded in since then
        self._dir_ids: dict[str, NodeRow] = {}
        self._dir_keys: dict[tuple[str, str], NodeRow] = {}
        self._changes: dict[int, Changes | pa.Table] = {}
        self._needs_reload = False
        self.freshness = Freshness()
        self.state = State(Base(STATE_SCHEMA.empty_table()), -1)
        if start is not None:  # a new branch at its parent's current state: share it, read nothing
            with start.lock:
                self.state, self.version = start.state.copy(), start.version
                self._dir_ids, self._dir_keys = dict(start._dir_ids), dict(start._dir_keys)
            return
        self._load_all(store.handle_version())  # the table was loaded by Store.open a moment ago
        segments.release_memory()

    @property
    def closed(self) -> bool:
        return self.resident.closed

    def check_open(self) -> None:
        """Raise PondClosedError once the pond was closed."""
        self.resident.check_open()

    def close(self) -> None:
        self.resident.close()

    # -- keeping the state current ------------------------------------------------
    def _load_all(self, latest: int | None = None) -> None:
        """Rebuild from scratch: the newest persisted state snapshot plus the commits after it,
        or else the `state` query over the whole log (which leaves the log resident). Nothing
        changes unless the rebuild succeeds: a damaged log raises with the old state intact."""
        self._changes = {}
        self.resident.unload()  # reloaded on demand, at the new version
        latest = self.store.newest_version() if latest is None else latest
        if self._load_snapshot(latest):
            return
        _, rows = self.store.read_snapshot(upto=latest)
        table = self.resident.state_of(self._take(rows))  # (which leaves the log resident)
        self.state = State.from_table(table, latest)
        self.version = latest
        self._load_dirs()
        self._persisted, self._since_persisted = -1, table.num_rows

    def _load_snapshot(self, latest: int) -> bool:
        """Start from the newest persisted state at most TAIL_MAX commits old, then read the tail.
        False if there is none; the state is as it was unless this succeeds."""
        found = self.store.states.read(min(latest, self.chain[-1][2]))  # snapshots are main's state
        if found is None or latest - found[0] > TAIL_MAX:
            return False
        version, table = found
        rows = OPLOG_SCHEMA.empty_table()
        if version < latest:
            try:
                tail = self.store.read_commits(version + 1, latest)
            except MissingDataFile:  # a maintain compacted and vacuumed them since: read the current files
                tail = None
            if tail is None:  # the tail's entries were cleaned up: its rows are in the data files
                latest, tail = self.store.read_since(version)
            rows = self._take(tail)
        saved = (self.state, self.version, self._dir_ids, self._dir_keys, self._changes)
        done = False
        try:
            created = created_rows(rows)
            bases = Base.split_checked(table, self.store.states.segments(table))
            if created is not None and created.num_rows:  # a bulk load since: the snapshot as it is, the
                # new nodes as one more sorted segment (sorted alone, no Python row each; see segments.py)
                self.state = State(bases[0], latest, [*bases[1:], Base.sorted(created)])
                self._load_dirs()
            else:
                self.state = State(bases[0], version, bases[1:])
                self._load_dirs()
                if rows.num_rows:
                    self._fold(rows)
            self.version = latest
            self._persisted, self._since_persisted = version, rows.num_rows
            done = True
            return True
        finally:
            if not done:
                self.state, self.version, self._dir_ids, self._dir_keys, self._changes = saved

    def forget(self) -> None:
        """Rebuild everything derived from the log on the next read: after a failure while folding
        a commit that landed, the cache may be half-moved, and the log is the truth."""
        with self.lock:
            self._needs_reload = True

    def ingest(self, rows: pa.Table, version: int) -> None:
        """Fold in the rows of commit ``version``, which must be the next one."""
        with self.lock:
            if version != self.version + 1:
                raise AssertionError(f"ingest of version {version} on top of {self.version}")
            rows = self._take(rows)
            if self._refs is not None:
                self._refs.version = max(self._refs.version, version)  # a maintenance commit has no rows
            self._advance(rows)
            # what it touched stays in Arrow, made sets only when a transaction asks (most commits are
            # never asked about: ~0.3 ms of a 200-row commit's ~10 ms in an import)
            self._changes[version] = rows.select(["parent_id", "name", "from_parent_id", "from_name", "node_id",
                                                  "txn_id"])
            self._changes.pop(version - CHANGES_KEPT, None)
            self.version = version

    def _take(self, rows: pa.Table) -> pa.Table:
        """The rows of newly read commits that this engine's branch sees; refs and the head
        follow along (a branch's state ignores other branches' rows, its version does not)."""
        if self._refs is not None and rows.num_rows:
            self._refs.add(rows.filter(pc.greater(rows.column("version"), self._refs.version)))
        if self.chain != MAIN_CHAIN and rows.num_rows:
            gone = pc.and_(pc.equal(rows.column("op"), "delete-branch"), pc.equal(rows.column("branch"), self.branch))
            if pc.any(gone).as_py():
                self.deleted = True
        return visible(rows, self.chain)

    def refs(self) -> Refs:
        """Every branch and tag as of ``version`` (one scan of a few columns on first use)."""
        with self.lock:
            if self._refs is None or self._refs.version < self.version:
                self._refs = scan(self.store, self.version)
            return self._refs

    @property
    def head(self) -> int:
        """The version of the last commit that changed this branch's tree (its fork before one)."""
        with self.lock:
            return self.refs().head(self.branch)

    def _advance(self, rows: pa.Table) -> None:
        """Fold op rows of the commits after ``version`` into the state, and queue them for
        the resident log (see ResidentLog.queue)."""
        if not rows.num_rows:
            return
        self.resident.queue(rows)
        self._fold(rows)
        self._since_persisted += rows.num_rows

    def _fold(self, rows: pa.Table) -> None:
        """Move the state (and the directory cache) forward by the op rows of one or more
        consecutive commits.

        Per node, the latest op decides location and liveness; created/content pointers
        come from the node's first/last content op, here or already in the state. This is
        what the `nodes` view computes over the whole log (tests check they agree).
        """
        created = created_rows(rows)
        if created is not None:  # a bulk load: every row is a new node as it stands
            self._fold_creates(created)
            return
        if not _in_commit_order(rows):  # (one stamped commit is: its rows need no sort and copy)
            rows = rows.sort_by([("version", "ascending"), ("seq", "ascending")])
        column = {name: column_values(rows.column(name).combine_chunks()) for name in (
            "node_id", "op", "kind", "parent_id", "name", "size", "sha256", "target", "ts", "version", "seq",
            "content", "content_ref")}
        node_ids, ops = column["node_id"], column["op"]
        first: dict[str, int] = {}
        last: dict[str, int] = {}
        content: dict[str, int] = {}
        for index, (node_id, op) in enumerate(zip(node_ids, ops, strict=True)):
            first.setdefault(node_id, index)
            last[node_id] = index
            if op == "create" or op == "write":
                content[node_id] = index
        changed: list[tuple[NodeRow | None, tuple[Any, ...] | None, Content | None]] = []
        kinds, parents, names, sizes = column["kind"], column["parent_id"], column["name"], column["size"]
        digests, targets, times = column["sha256"], column["target"], column["ts"]
        versions, seqs, contents, refs = column["version"], column["seq"], column["content"], column["content_ref"]
        node = self.state.node
        for node_id, index in last.items():  # (locals, plain tuples: ~4 us a node before)
            start = first[node_id]
            old = None if ops[start] == "create" else node(node_id)
            if old is not None and old.kind == "dir":
                self._forget_dir(node_id)
            if ops[index] == "remove":
                if old is not None:  # (created and removed in one commit: nothing to change)
                    changed.append((old, None, None))
                continue
            at = content.get(node_id)
            if old is None:
                new = (node_id, kinds[index], parents[index], names[index], sizes[index], digests[index],
                       targets[index], times[start], versions[start], times[index], versions[index],
                       None if at is None else versions[at], None if at is None else seqs[at])
            else:
                new = (node_id, kinds[index], parents[index], names[index], sizes[index], digests[index],
                       targets[index], old.created, old.created_version, times[index], versions[index],
                       old.content_version if at is None else versions[at], old.content_seq if at is None else seqs[at])
            if kinds[index] == "dir":
                self._remember_dir(_NODE_ROW(NodeRow, new))
            changed.append((old, new, None if at is None else (contents[at], refs[at])))
        self.state.apply(changed, int(column["version"][-1]))

    def _fold_creates(self, created: pa.Table) -> None:
        """Add nodes that commits only created (their state rows, from ``created_rows``)."""
        if self.state.add_table(created, pc.max(created.column("version")).as_py()):  # a bulk load: column-wise
            dirs = created.select(NodeRow._fields).filter(pc.equal(created.column("kind"), "dir"))
            ids, keys = self._dir_ids, self._dir_keys  # (_remember_dir, inlined: a load makes thousands)
            for fields in zip(*(column_values(dirs.column(name).combine_chunks()) for name in NodeRow._fields),
                              strict=True):
                row = _NODE_ROW(NodeRow, fields)
                ids[fields[0]] = keys[(fields[2], fields[3])] = row  # (node_id; parent_id, name)
            return
        created = created.sort_by([("version", "ascending"), ("content_seq", "ascending")])  # commit order
        column = {name: column_values(created.column(name).combine_chunks()) for name in STATE_SCHEMA.names}
        # plain tuples, kept by the layer as they are (no NodeRow a row: see segments.py)
        rows = list(zip(*(column[name] for name in NodeRow._fields), strict=True))
        for row in compress(rows, [kind == "dir" for kind in column["kind"]]):
            self._remember_dir(NodeRow._make(row))
        self.state.add(rows, zip(column["content"], column["content_ref"], strict=True), max(column["version"]),
                       table=created)

    # -- the directory cache: every live directory, derived with the state ----------------
    def _remember_dir(self, row: NodeRow) -> None:
        self._dir_ids[row.node_id] = row
        self._dir_keys[(row.parent_id, row.name)] = row

    def _forget_dir(self, node_id: str) -> None:
        row = self._dir_ids.pop(node_id, None)
        if row is not None and self._dir_keys.get((row.parent_id, row.name)) is row:
            del self._dir_keys[(row.parent_id, row.name)]

    def _load_dirs(self) -> None:
        self._dir_ids, self._dir_keys = {}, {}
        for base in self.state.bases():
            for row in base.rows_of_kind("dir"):
                self._remember_dir(row)

    def known(self) -> int:
        """The version folded in so far, without asking the store (reloaded first if a failed fold
        asked for it): the base of an optimistic transaction (see Pond.transaction)."""
        with self.lock:
            self.check_open()
            if self._needs_reload:
                return self.sync()
            return self.version

    def sync(self, upto: int | None = None, *, stale_ok: bool = False) -> int:
        """Catch up with the table (to ``upto`` or the newest version) and return the version.

        ``stale_ok`` (reads): within ``max_staleness`` seconds of the last check that found the
        state current, answer from the state without asking the store at all. On object
        storage a check is one LIST (see objects.py) that also names the new log entries."""
        with self.lock:
            self.check_open()
            if self._needs_reload:
                self._load_all()
                self._needs_reload = False
            if upto is None and stale_ok and self.freshness.fresh():
                return self.version
            if upto is None and self.store.location.remote:
                return self._sync_remote()
            asked = self.freshness.now()
            while upto is None or self.version < upto:
                if not self.store.has_version(self.version + 1):
                    if self.store.checkpoint_after(self.version):  # its entries were cleaned up
                        self._catch_up()
                        continue
                    if upto is not None:
                        raise CorruptPondError(f"log entry for version {self.version + 1} is missing")
                    self.freshness.checked(asked)
                    break
                self._read_next()
            return self.version

    def _read_next(self) -> None:
        """Fold in commit ``version + 1`` (its entry exists), or everything newer if its entry or
        files were cleaned up meanwhile."""
        version = self.version + 1
        try:  # a commit of a branch this one does not see: its log entry only (see commitbranch.py)
            rows, other = self.store.read_commit_unless(
                version, lambda branch: not commitbranch.sees(self.chain, branch, version))
        except CorruptPondError:
            rows, other = None, None  # its files were compacted and vacuumed since
        if rows is None:  # log entry or files cleaned up: the newest data files have the rows
            self._catch_up()
        else:
            if other is not None and self._refs is not None and self._refs.version < version:
                self._refs.add_commit(other, version)  # what its rows would have told the refs
            self.ingest(rows, version)

    def _sync_remote(self) -> int:
        """Catch up with the newest version on object storage: one LIST names every newer log
        entry (nothing new: that LIST is the only request), then one GET per entry and file."""
        while True:
            asked = self.freshness.now()
            newer = self.store.newer(self.version)
            assert newer is not None
            if newer.newest <= self.version:
                self.freshness.checked(asked)
                return self.version
            while self.version + 1 in newer.entries and self.version < newer.newest:
                self._read_next()
            if self.version < newer.newest and self.version + 1 not in newer.entries:
                self._catch_up()  # the next entry is gone (cleaned up after a checkpoint)
            if not newer.truncated and self.version >= newer.newest:
                self.freshness.checked(asked)
                return self.version

    def _catch_up(self) -> None:
        """Fold in every row newer than ``version`` at once, read from the table's current data
        files: for a reader whose next log entries (or their files) were cleaned up meanwhile."""
        latest, rows = self.store.read_since(self.version)
        if latest <= self.version:
            raise CorruptPondError(f"the table went back from version {self.version} to {latest}")
        self._advance(self._take(rows))
        self.version = latest
        if self._refs is not None:
            self._refs.version = max(self._refs.version, latest)

    def persist(self) -> str:
        """Write the state at ``version`` as a snapshot that later opens start from."""
        with self.lock:
            if self.chain != MAIN_CHAIN:
                return ""  # snapshots hold main's state only (branches start from main's, see _load_snapshot)
            self.state.rebase()
            base = self.state.base
            path = self.store.states.write(base.persisted(), self.version)
            self._persisted, self._since_persisted = self.version, 0
            return path

    def persist_soon(self, keep: int) -> None:
        """Persist as a committer does, then keep the ``keep`` newest snapshots. A big state is
        merged and written on the background thread (the commit does not wait, see segments.py),
        and so is any state on object storage (a PUT, a LIST, DELETEs); failures only warn: a pond
        without a recent snapshot is just slower to open."""
        with self.lock:
            if self.chain != MAIN_CHAIN:
                return
            if segments.persists_inline(self.state.size) and not self.store.location.remote:
                try:
                    self.persist()
                    self.store.states.prune(keep=keep)
                except (OSError, pa.ArrowException) as exc:
                    _persist_failed(self.store, exc)
                return
            big = self.state.size >= segments.BACKGROUND_ROWS  # a small state is merged up to now (in the background)
            future, version = self.state.snapshot(max_lag=PERSIST_EVERY // 4 if big else 0)
            if version <= self._persisted:
                return
            table_id = self.store.table_id
            self._persisted, self._since_persisted = version, len(self.state.active.nodes)
        segments.in_background(_write_snapshot, self.store, future, version, table_id, keep)

    def persist_due(self, by_ops: bool = True) -> bool:
        """Is the last persisted snapshot (as far as this engine knows) far enough behind that
        opens would spend long on the tail after it? Asked by a committer after its commit;
        ``by_ops=False`` counts commits only (a run of commits that persists once at its end)."""
        with self.lock:
            if self.chain != MAIN_CHAIN:
                return False
            if self.version - self._persisted >= PERSIST_EVERY:
                return True
            if not by_ops:
                return False
            if self.store.location.remote and self.version - self._persisted >= max(
                    REMOTE_PERSIST_EVERY, self.state.size // REMOTE_ROWS_PER_COMMIT):
                return True
            share = 8 if self.state.size >= segments.BACKGROUND_ROWS else 2  # written off the commit path: often
            return self._since_persisted >= max(PERSIST_MIN_OPS, self.state.size // share)

    # -- reads for the directory API -------------------------------------------
    def lookup(self, parent_id: str, name: str, at: int | None = None) -> NodeRow | None:
        with self.lock:
            if at is not None:
                return self._lookup_at(parent_id, name, at)
            directory = self._dir_keys.get((parent_id, name))
            return directory if directory is not None else self.state.lookup(parent_id, name)

    def node(self, node_id: str, at: int | None = None) -> NodeRow | None:
        with self.lock:
            if at is not None:
                return self._node_at(node_id, at)
            directory = self._dir_ids.get(node_id)
            return directory if directory is not None else self.state.node(node_id)

    def children(self, parent_id: str, at: int | None = None) -> list[NodeRow]:
        if at is not None:
            return self._at_version(at, "parent_id = ?", [parent_id])
        with self.lock:
            return self.state.children(parent_id)

    def child_names(self, parent_id: str, at: int | None = None) -> list[str]:
        if at is not None:
            return [row.name for row in self.children(parent_id, at)]
        with self.lock:
            return self.state.child_names(parent_id)

    def child_kinds(self, parent_id: str, at: int | None = None) -> list[Entry]:
        if at is not None:
            return [(row.name, row.kind, row.node_id) for row in self.children(parent_id, at)]
        with self.lock:
            return self.state.child_kinds(parent_id)

    def _at_version(self, at: int, where: str, params: list[Any]) -> list[NodeRow]:
        return [NodeRow(*row) for row in self.resident.nodes_at(at, where, params, NODE_COLUMNS)]

    # -- point lookups at old versions: two index probes, then the node's ops folded ---------
    def _lookup_at(self, parent_id: str, name: str, at: int) -> NodeRow | None:
        """The entry at (parent_id, name) at version ``at``, as `entries` picks it."""
        rows = [self._node_at(node_id, at) for node_id in self.resident.ever_at(parent_id, name, at)]
        there = [row for row in rows if row is not None and (row.parent_id, row.name) == (parent_id, name)]
        there.sort(key=lambda row: (-(row.version or 0), row.node_id))
        return there[0] if there else None

    def _node_at(self, node_id: str, at: int) -> NodeRow | None:
        """A node's state at version ``at``: its ops up to then, folded as the `nodes` view does."""
        ops = self.resident.ops_of(node_id, at)
        if not ops or ops[-1][2] == "remove":
            return None
        version, _, _, kind, parent_id, name, size, sha256, target, ts = ops[-1]
        content = [row for row in ops if row[2] in ("create", "write")]
        return NodeRow(node_id, kind, parent_id, name, size, sha256, target, ops[0][9], ops[0][0], ts, version,
                       content[-1][0] if content else None, content[-1][1] if content else None)

    def content(self, row: NodeRow) -> Content:
        """(inline content, blob reference) of the op row holding a file's content in ``row``:
        from the state when that is the current content, else from the resident log."""
        with self.lock:
            found = self.state.content(row.node_id, row.content_version, row.content_seq)
            if found is None:
                found = self.resident.content(row.content_version, row.content_seq, row.node_id)
        if found is None:
            raise CorruptPondError(f"content row of node {row.node_id} is missing from the log")
        if found[1] is not None:  # stored beside the table: a retention policy may have expired it
            expired = expired_error(self.refs(), row.node_id, row.content_version, row.name)
            if expired is not None:
                raise expired
        return found[0], found[1]

    def changes(self, after: int, upto: int) -> Changes:
        """Keys, directories and nodes touched by commits in (after, upto]."""
        with self.lock:
            recent = []
            for version in range(after + 1, upto + 1):
                change = self._changes.get(version)
                if isinstance(change, pa.Table):
                    change = self._changes[version] = Changes.of_table(change)
                recent.append(change)
            if all(change is not None for change in recent):
                merged = Changes(set(), set(), set(), set())
                for change in recent:
                    for mine, theirs in zip(merged, change, strict=True):  # type: ignore[arg-type]
                        mine |= theirs
                return merged
            return Changes.of(self.resident.touched(after, upto))
