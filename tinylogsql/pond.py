"""Pond: a tree of directories, files and symlinks kept in a Delta op log, read through DuckDB.

A Pond object owns a Store (the Delta table) and an Engine (the DuckDB copy of the log,
kept current by checking the table before each read). It holds no state of its own:
opening the same folder twice, or from another process, gives the same answers.
"""

from __future__ import annotations

import getpass
import io
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, TypeVar

import duckdb
import pyarrow as pa
from deltalake.exceptions import DeltaError

from . import prefold
from .branching import Branching, open_chain
from .check import CheckReport, check_pond
from .errors import BranchNotFoundError, CorruptPondError, InvalidArgumentError, PondError, ReadOnlyError
from .feed import ChangeFeed
from .freshness import checked_staleness
from .location import locate
from .maintenance import MIN_SAFE_RETENTION_HOURS, auto_compact_in_background, check_retention, collect
from .nodes import Directory
from .oprows import stamp
from .paths import resolve
from .query import Engine, NodeRow
from .refs import MAIN, MAIN_CHAIN, Chain, scan
from .retention import Applied, Retaining, expire_ops, expired_error, plan
from .sandbox import check_query_within
from .schema import ROOT_ID
from .sqlworker import prestart as prestart_sql_worker
from .sqlworker import run_query
from .state import Entry
from .store import CommitConflict, Store, backoff
from .subscriptions import check_acks
from .txn import Stale, Transaction

if TYPE_CHECKING:
    from .sync import SyncReport

T = TypeVar("T")
AUTO_COMPACT_EVERY = 250
"""Commits between automatic compactions of small data files."""
HELD_COMPACTIONS = 4
"""A long run of commits (``Pond._upkeep_at_end``) compacts at its end, and every this many due
compactions (a reader in the middle of it lists at most ~1,000 small data files)."""
STATES_KEPT = 2
"""Persisted state snapshots kept by maintain (the newest serves opens; one more for a reader mid-open)."""
DEFAULT_RETENTION_HOURS = 168.0
"""What ``maintain`` keeps of old data files and stray blobs: a week, as Delta's own default."""

MAX_ATTEMPTS = 1000
"""A single op retries this often against racing writers before giving up."""


@dataclass(frozen=True)
class MaintenanceReport:
    """What ``Pond.maintain`` did."""

    version: int
    files_added: int
    files_removed: int
    files_vacuumed: int
    blobs_dropped: list[str]
    compaction_gave_up: bool = False
    """True when other commits took the version the compaction read, every time it tried
    (it then committed nothing; the next maintain tries again)."""
    chunks_dropped: list[str] = field(default_factory=list)
    """Chunks (``chunks/<blake3>``) no retained version references, dropped."""
    manifests_dropped: list[str] = field(default_factory=list)
    """Chunk lists (``manifests/<sha256>``) of content no version references, dropped."""
    bytes_freed: int = 0
    """Stored bytes of the blobs, manifests and chunks dropped."""
    dry_run: bool = False
    """True: nothing was compacted or deleted; the lists say what would have been."""
    chunk_gc_skipped: str | None = None
    """Set when chunks were kept because a referenced manifest was unreadable (``check`` names it)."""
    policies_applied: list[Applied] = field(default_factory=list)
    """Each retention policy in force and the versions it expired in this run (see ``set_retention``)."""
    versions_expired: int = 0
    """File versions whose content this run expired (committed as ``expire`` rows before any delete)."""


class _NothingToExpire(Exception):
    """Raised inside maintain's expiry commit when a retry finds nothing left to expire."""


class ReadView(Protocol):
    """What node handles read through: the live state, a snapshot, or a transaction."""

    def lookup(self, parent_id: str, name: str) -> NodeRow | None: ...

    def node(self, node_id: str) -> NodeRow | None: ...

    def children(self, parent_id: str) -> list[NodeRow]: ...

    def child_names(self, parent_id: str) -> list[str]: ...

    def child_kinds(self, parent_id: str) -> list[Entry]: ...

    def content(self, row: NodeRow) -> bytes: ...

    def open(self, row: NodeRow) -> BinaryIO: ...


class StateView:
    """Reads of the committed state: live (``at=None``, after a sync) or at a fixed version."""

    def __init__(self, pond: Pond, at: int | None) -> None:
        self.pond, self.at = pond, at

    def lookup(self, parent_id: str, name: str) -> NodeRow | None:
        return self.pond._engine.lookup(parent_id, name, self.at)

    def node(self, node_id: str) -> NodeRow | None:
        return self.pond._engine.node(node_id, self.at)

    def children(self, parent_id: str) -> list[NodeRow]:
        return self.pond._engine.children(parent_id, self.at)

    def child_names(self, parent_id: str) -> list[str]:
        return self.pond._engine.child_names(parent_id, self.at)

    def child_kinds(self, parent_id: str) -> list[Entry]:
        return self.pond._engine.child_kinds(parent_id, self.at)

    def content(self, row: NodeRow) -> bytes:
        return self.pond._read_content(row)

    def open(self, row: NodeRow) -> BinaryIO:
        return self.pond._open_content(row)


def _default_author() -> str:
    try:
        return os.environ.get("TINYLOGSQL_AUTHOR") or getpass.getuser()
    except Exception:  # no user database entry (containers)
        return "unknown"


class Pond(Branching, ChangeFeed, Retaining):
    """A versioned filesystem in a Delta table. Use ``Pond.create`` or ``Pond.open``."""

    def __init__(self, store: Store, engine: Engine | None, author: str, at: int | None = None,
                 branch: str = MAIN, chain: Chain = MAIN_CHAIN, start: Engine | None = None) -> None:
        self._store = store
        self.author = author
        self._at = at
        self._branch = branch
        self._others: dict[str, Engine] = {}  # engines of other branches that ``at`` visited
        self._local = threading.local()
        self._closed = False
        self._engine = engine if engine is not None else Engine(store, branch=branch, chain=chain, start=start)
        if engine is None:
            prestart_sql_worker()

    # -- opening and closing ------------------------------------------------------
    @classmethod
    def create(cls, path: str | os.PathLike[str], *, author: str | None = None,
               storage_options: dict[str, str] | None = None) -> Pond:
        """Create a new pond (FileExistsError if one is there) and open it."""
        author = author or _default_author()
        store = Store.create(locate(path, storage_options), author)
        return cls(store, None, author)

    @classmethod
    def open(cls, path: str | os.PathLike[str], branch: str = MAIN, *, author: str | None = None,
             storage_options: dict[str, str] | None = None, max_staleness: float | None = None) -> Pond:
        """Open an existing pond (FileNotFoundError if there is none) on ``branch`` (LookupError if missing).

        ``max_staleness`` (seconds, opt-in): reads answer from the cache without asking the store
        for that long after the last check found it current, so they may miss younger commits;
        writes always check. By default every read checks (one LIST request on S3)."""
        staleness = checked_staleness(max_staleness)
        store = Store.open(locate(path, storage_options))
        chain = MAIN_CHAIN if branch == MAIN else open_chain(store, branch)
        pond = cls(store, None, author or _default_author(), branch=branch, chain=chain)
        pond._engine.freshness.max_staleness = staleness
        return pond

    def close(self) -> None:
        """Release the DuckDB connection; snapshots from ``at`` share it and close too."""
        if not self._closed and self._at is None:
            self._engine.close()
            self._store.settle()  # the checkpoints and log trims its commits asked for (a thread's)
        for engine in self._others.values():
            engine.close()
        self._closed = True

    def __enter__(self) -> Pond:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def uri(self) -> str:
        """Where the pond lives."""
        return self._store.location.uri

    @property
    def read_only(self) -> bool:
        return self._at is not None

    def __repr__(self) -> str:
        from .display import pond_repr

        return pond_repr(self)

    def _repr_html_(self) -> str:
        from .display import pond_html

        return pond_html(self)

    # -- state ---------------------------------------------------------------------
    @property
    def root(self) -> Directory:
        """The directory "/"."""
        return Directory(self, ROOT_ID)

    @property
    def version(self) -> int:
        """The version this pond reads: for a live pond its branch's head (the Delta version of the
        branch's last commit, checked against the table); Delta versions are global to the pond."""
        if self._at is not None:
            return self._at
        with self._engine.lock:
            self._engine.sync(stale_ok=True)
            return self._engine.head

    @property
    def last_committed_version(self) -> int | None:
        """The Delta version that this thread's last successful write on this Pond committed.

        None before the first write. Unlike ``version`` (which other writers may already have
        moved on), this names the commit holding that op or transaction; a write that changed
        nothing (e.g. renaming a node onto itself) reports the version it was checked against.
        """
        return getattr(self._local, "last_version", None)

    def at(self, rev: int | datetime | str) -> Pond:
        """A read-only view at a revision: a version number or time (on this branch), a branch,
        a tag, or ``name~N`` (see Branching._resolve)."""
        branch, number = self._resolve(rev)
        engine = self._engine_for(branch)
        return Pond(engine.store, engine, self.author, at=number, branch=branch)  # views made on first use

    def maintain(self, *, retention_hours: float = DEFAULT_RETENTION_HOURS, zorder: bool = True,
                 unsafe: bool = False, dry_run: bool = False) -> MaintenanceReport:
        """Compact (z-ordered by parent_id), checkpoint, persist the current state so later opens
        start from it, then vacuum old data files and drop unreferenced blobs.

        Safe beside writers, readers and other maintainers: the compaction commits at exactly
        the version it read (else it is redone, or given up), the snapshot is persisted before
        anything is vacuumed, and only files and blobs unused for ``retention_hours`` (a float)
        go. A retention below ``MIN_SAFE_RETENTION_HOURS`` (how long a commit may be in flight)
        raises UnsafeRetentionError unless ``unsafe=True``: only for a pond with no other writers.
        ``dry_run=True`` compacts and deletes nothing and reports what a real run would delete.
        """
        if self._at is not None:
            raise ReadOnlyError(self.uri, f"pond.at({self._at}) is read-only")
        hours = check_retention(retention_hours, unsafe)
        if dry_run:
            expiries, applied = self._plan_retention(hours)
            vacuumed = self._store.vacuum(hours, dry_run=True)
            planned = {(e.node_id, e.version) for e in expiries} if hours == 0 else None  # else: the next run
            would = collect(self._store, hours, dry_run=True, planned=planned)
            return MaintenanceReport(
                version=self._engine.version, files_added=0, files_removed=0, files_vacuumed=len(vacuumed),
                blobs_dropped=would.blobs, chunks_dropped=would.chunks, manifests_dropped=would.manifests,
                bytes_freed=would.bytes_freed, dry_run=True, chunk_gc_skipped=would.chunk_gc_skipped,
                policies_applied=applied, versions_expired=len(expiries))
        with self._engine.lock:
            applied, expired = self._apply_retention(hours)  # committed before anything is deleted
            metrics = self._store.compact(zorder=zorder)
            self._store.checkpoint()
            self._engine.sync()
            self._engine.persist()  # before the vacuum: the newest snapshot needs no vacuumed file
            self._store.states.prune(keep=STATES_KEPT)
            removed = self._store.vacuum(hours)
        dropped = collect(self._store, hours)
        return MaintenanceReport(
            version=self._engine.version,
            files_added=int(metrics.get("numFilesAdded", 0)),
            files_removed=int(metrics.get("numFilesRemoved", 0)),
            files_vacuumed=len(removed),
            blobs_dropped=dropped.blobs,
            compaction_gave_up=bool(metrics.get("gaveUp")),
            chunks_dropped=dropped.chunks,
            manifests_dropped=dropped.manifests,
            bytes_freed=dropped.bytes_freed,
            chunk_gc_skipped=dropped.chunk_gc_skipped,
            policies_applied=applied,
            versions_expired=expired,
        )

    def _plan_retention(self, hours: float) -> tuple[list[Any], list[Applied]]:
        """What the policies in force expire now, computed from every row of the Delta table."""
        refs = self._refs()
        if not refs.policies:
            return [], []
        _, rows = self._store.read_snapshot(upto=refs.version)
        return plan(rows, refs, hours)

    def _apply_retention(self, hours: float) -> tuple[list[Applied], int]:
        """Commit the expiries of the policies in force (one commit, at exactly the version they
        were computed on: recomputed if another commit landed first)."""
        expiries, applied = self._plan_retention(hours)
        if not expiries:
            return applied, 0
        found: dict[str, Any] = {}

        def build(refs: Any) -> list[dict[str, Any]]:
            _, rows = self._store.read_snapshot(upto=refs.version)
            found["expiries"], found["applied"] = plan(rows, refs, hours)
            if not found["expiries"]:
                raise _NothingToExpire
            return expire_ops(found["expiries"])

        try:
            self._commit_refs(build, f"maintain: expire {len(expiries)} version(s) by retention policy")
        except _NothingToExpire:
            return found["applied"], 0
        return found["applied"], len(found["expiries"])

    def sync(self, local_dir: str | os.PathLike[str], pond_dir: str = "/", *, delete: bool = False,
             dry_run: bool = False, message: str | None = None, author: str | None = None,
             on_file: Callable[[str, int], None] | None = None) -> SyncReport:
        """Mirror a local folder into ``pond_dir`` in one commit: new files created, changed ones
        (by sha256) written, unchanged ones left alone, with ``delete`` extra pond entries removed;
        no commit if nothing differs. See ``tinylogsql.sync``."""
        from .sync import sync

        return sync(self, local_dir, pond_dir, delete=delete, dry_run=dry_run, message=message, author=author,
                    on_file=on_file)

    def ingest(self, table: pa.Table, directory: str = "/", *, parents: bool = True, exist_ok: bool = False,
               message: str | None = None, author: str | None = None) -> int | None:
        """Create every row of an Arrow table (``path``; optional ``content``, ``kind``, ``target``)
        below ``directory``, in one commit through the bulk path (see ``Directory.create_files``)."""
        from .bulk import batch_from_table, create

        start = self.root.open_dir_path(directory)
        return create(self, start, batch_from_table(self, table), parents, exist_ok, message, author)

    def import_git(self, repo: str | os.PathLike[str], rev: str = "HEAD", *, branch: str | None = None,
                   all_branches: bool = False) -> Any:
        """Import a git repository's first-parent history up to ``rev``: one pond commit per git commit
        (message, author, author time kept), only commits not imported yet; into ``branch`` (forked
        where its history meets the imported one if new). Returns an ImportReport (see gitimport.py);
        with ``all_branches`` every local branch once (HEAD's into this branch), a list of them."""
        from .gitimport import import_all, import_git

        if all_branches:
            return import_all(self, repo)
        return import_git(self, repo, rev, branch)

    def to_daft(self) -> Any:
        """The op log at this pond's version as a lazy Daft DataFrame (``pip install 'tinylogsql[daft]'``).

        See ``tinylogsql.distributed`` for history questions written in Daft (local or on Ray).
        """
        from .distributed import to_daft

        return to_daft(self)

    def check(self) -> CheckReport:
        """Verify the pond's invariants, content hashes and list crash leftovers (see ``check.py``)."""
        return check_pond(self)

    def sql(
        self, query: str, params: Any = None, dialect: str | None = None, timeout: float = 30
    ) -> duckdb.DuckDBPyRelation:
        """Run one read-only query over the pond's views at this pond's version, in the sandbox.

        ``params`` binds ``?``/``$name`` parameters; ``dialect`` (any sqlglot dialect) is
        transpiled to DuckDB first. The result is computed here, so rejection
        (QueryRejectedError), timeout (QueryTimeoutError) and SQL errors (QueryError) raise
        from this call, and the returned relation is a stable result.
        """
        self._engine.check_open()
        version = self._at if self._at is not None else self._engine.sync(stale_ok=True)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < 1e6:
            raise InvalidArgumentError(f"timeout must be a positive number of seconds, not {timeout!r}")
        started = time.monotonic()
        checked = check_query_within(query, dialect, timeout)
        if params is not None and not isinstance(params, (list, tuple, dict)):
            raise InvalidArgumentError(f"params must be a list, tuple or dict, not {type(params).__name__}")
        refs = self._ref_tables(checked, params)  # branches, tags, the revisions it names (sql/branches.sql)
        table = run_query(self, version, checked, params, timeout, spent=time.monotonic() - started, refs=refs)
        return self._engine.resident.results.from_arrow(table)

    def _fixed_sql(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        """tinylogsql's own fixed queries (history helpers, CLI) over the views at this pond's version,
        on the engine's private DuckDB: trusted text, so no sandbox round trip."""
        self._engine.check_open()
        if self._at is None:
            self._engine.sync(stale_ok=True)
        return self._engine.resident.fixed_query(sql, params, self._at)

    # -- reading and writing (used by node handles) ---------------------------------
    def _tx(self) -> Transaction | None:
        return getattr(self._local, "tx", None)

    def _read(self, fn: Callable[[Any], T]) -> T:
        tx = self._tx()
        if tx is not None:
            return fn(tx)
        if self._at is not None:
            return fn(StateView(self, self._at))
        with self._engine.lock:
            self._engine.sync(stale_ok=True)
            return fn(StateView(self, None))

    def _read_content(self, row: NodeRow) -> bytes:
        content, ref = self._engine.content(row)
        if ref is not None:
            return self._fetch(row, lambda: self._store.read_blob(ref, row.sha256))
        return content or b""

    def _open_content(self, row: NodeRow) -> BinaryIO:
        content, ref = self._engine.content(row)
        if ref is not None:
            return self._fetch(row, lambda: self._store.open_blob(ref, row.sha256))
        return io.BytesIO(content or b"")

    def _fetch(self, row: NodeRow, fetch: Callable[[], Any]) -> Any:
        """Content stored beside the table; missing because a retention policy expired it is a
        ContentExpiredError, anything else stays a CorruptPondError."""
        try:
            return fetch()
        except CorruptPondError as exc:
            expired = self._expired_since(row)
            if expired is None:
                raise
            raise expired from exc

    def _expired_since(self, row: NodeRow) -> Exception | None:
        """ContentExpiredError if a maintain this (read-only) pond has not seen yet expired the content."""
        refs = scan(self._store, self._store.newest_version())
        return expired_error(refs, row.node_id, row.content_version, row.name)

    def _write(self, fn: Callable[[Transaction], T], message: str, author: str | None = None) -> T:
        if self._at is not None:
            raise ReadOnlyError(self.uri, f"pond.at({self._at}) is read-only")
        tx = self._tx()
        if tx is not None:
            return fn(tx)
        with self._engine.lock:
            for attempt in range(MAX_ATTEMPTS):
                tx = Transaction(self, self._engine.sync(), message, author or self.author, explicit=False)
                try:
                    self._local.tx = tx
                    try:
                        result = fn(tx)
                    finally:
                        self._local.tx = None
                    self._commit(tx)
                    self._local.last_version = tx.committed_version
                    return result
                except Stale:
                    backoff(attempt)
        raise PondError(f"gave up after {MAX_ATTEMPTS} attempts against concurrent writers")

    @contextmanager
    def transaction(self, message: str | None = None, author: str | None = None, *,
                    optimistic: bool = False) -> Iterator[Transaction]:
        """All ops in the block land in one commit, or none if it raises (or conflicts).

        ``optimistic``: for a writer that expects to be alone (import-git, a commit after commit): start
        from the version this handle knows and claim the next one without asking the store first (four
        stats a commit). Another writer's commit in between is found by the append (its entry exists):
        then the commit syncs, re-checks what it read and retries, or raises, as any transaction does."""
        if self._at is not None:
            raise ReadOnlyError(self.uri, f"pond.at({self._at}) is read-only")
        if self._tx() is not None:
            raise PondError("transactions do not nest")
        base = self._engine.known() if optimistic else self._engine.sync()
        tx = Transaction(self, base, message or "transaction", author or self.author, explicit=True)
        tx.optimistic = optimistic
        self._local.tx = tx
        try:
            yield tx
        except Stale as stale:
            raise stale.error from None
        finally:
            self._local.tx = None
        try:
            self._commit(tx)
        except Stale as stale:
            raise stale.error from None
        self._local.last_version = tx.committed_version

    def _commit(self, tx: Transaction) -> None:
        """Commit the transaction's ops as exactly one new Delta version (see README)."""
        if not tx.ops:
            with self._engine.lock:  # a read-only transaction is checked too: its reads held at one version
                version = self._engine.version
                if version != tx.base:
                    tx.rebase(version)
            tx.committed_version = tx.base
            return
        if self._engine.deleted:
            raise BranchNotFoundError(f"the branch {self._branch!r} was deleted")
        with self._engine.lock:
            attempt = 0
            trust = tx.optimistic  # (the first try claims the version after the one known; any retry syncs)
            while True:
                version = self._engine.known() if trust else self._engine.sync()
                trust = False
                if version != tx.base:
                    tx.rebase(version)
                if tx.acks:  # subscription acks are compare-and-set (subscriptions.py)
                    check_acks(self, tx)
                if not self._store.prepare(version):
                    continue
                rows = stamp(tx.ops, version + 1, tx.txn_id, tx.message, tx.author, branch=self._branch)
                with prefold.overlapped(rows):  # a large commit's fold runs beside its write (prefold.py)
                    try:
                        self._store.commit(rows, version, tx.message, tx.author)
                    except CommitConflict:
                        attempt += 1
                        backoff(attempt)
                        continue
                    except (DeltaError, OSError):
                        # Outcome unknown: the commit is acknowledged only if its rows are in the log.
                        self._engine.sync()
                        if tx.txn_id in self._engine.changes(version, self._engine.version).txn_ids:
                            tx.committed_version = version + 1
                            return
                        raise
                    tx.committed_version = version + 1
                    try:
                        self._engine.ingest(rows, version + 1)
                    except Exception as exc:  # the commit landed: never report it as failed
                        self._engine.forget()
                        warnings.warn(f"tinylogsql: version {version + 1} of {self.uri} landed, but folding it into the"
                                      f" cache failed ({exc!r}); the cache is rebuilt from the log on the next read",
                                      RuntimeWarning, stacklevel=3)
                at_end = getattr(self._local, "upkeep_at_end", False)
                if (version + 1) % AUTO_COMPACT_EVERY == 0:  # on a thread: ~240 ms at 100k entries, seconds at 1M
                    if at_end and (version + 1) % (AUTO_COMPACT_EVERY * HELD_COMPACTIONS):
                        self._local.compact_at_end = True
                    else:
                        auto_compact_in_background(self._store)
                if self._engine.persist_due(by_ops=not at_end):
                    self._persist_state()
                return

    @contextmanager
    def _upkeep_at_end(self) -> Iterator[None]:
        """A long run of commits of this thread (import-git) does its upkeep once, at the end of the block:
        - the state snapshot their op count makes due (merged once, not every ~50k ops: ~0.4 s of the
          committing thread each at 100k entries); the one due every PERSIST_EVERY commits still comes,
          so a run that stops early leaves opens a bounded tail;
        - the Delta checkpoints and log trims (one, not one every ``delta.checkpointInterval`` commits);
        - the automatic compaction of small data files (one, if one came due).
        A very long run still checkpoints every ~1,000 commits and compacts every HELD_COMPACTIONS due.
        Checkpoints and compactions ran on other threads, but took ~1 s of CPU in a 500-commit import."""
        self._local.upkeep_at_end, self._local.compact_at_end = True, False
        try:
            with self._store.checkpoints_held():
                yield
        finally:
            self._local.upkeep_at_end = False
            if self._local.compact_at_end:
                self._local.compact_at_end = False
                auto_compact_in_background(self._store)
        if self._at is None and self._engine.persist_due():
            self._persist_state()

    def _persist_state(self) -> None:
        """Write a state snapshot for later opens (best effort: the commit has landed already,
        and a pond without a recent snapshot is only slower to open)."""
        self._engine.persist_soon(keep=STATES_KEPT)

    def _walk(self, node_id: str, path: str) -> Iterator[tuple[str, list[str], list[str]]]:
        def listing(view: Any) -> tuple[list[str], list[str], dict[str, str]]:
            dirs, files, real = [], [], {}
            for child in view.children(node_id):
                kind = child.kind
                if kind == "symlink":
                    try:
                        target = resolve(view, node_id, child.name, follow_last=True).row
                    except PondError:
                        target = None
                    kind = "dir" if target is not None and target.kind == "dir" else "file"
                else:
                    real[child.name] = child.node_id
                (dirs if kind == "dir" else files).append(child.name)
            return dirs, files, real

        dirs, files, real = self._read(listing)
        yield path, dirs, files
        for name in dirs:
            if name in real:
                yield from self._walk(real[name], f"{path.rstrip('/')}/{name}")


__all__ = ["MIN_SAFE_RETENTION_HOURS", "Pond", "MaintenanceReport", "Transaction"]
