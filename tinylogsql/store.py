"""The Delta op log on disk: create/open the table, commit op rows, read new commits, blobs.

This is the only module that talks to deltalake. The commit protocol lives here:
a commit is written against the exact table version V the caller validated its ops
against, with ``max_commit_retries=0``, so it lands as version V+1 or fails with
``CommitConflict`` (another writer got V+1 first). Each row carries that version, so
readers never need to map files to versions.
"""

from __future__ import annotations

import errno
import json
import os
import re
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
from deltalake import (
    ColumnProperties,
    CommitProperties,
    DeltaTable,
    PostCommitHookProperties,
    WriterProperties,
    write_deltalake,
)
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from . import commitbranch, deltaappend, logfiles, logtrim, objects, statefile
from .content import BLOB_DIR, ContentStore
from .errors import CorruptPondError, PondExistsError, PondNotFoundError, StorageError
from .guard import unique_ops
from .location import LOG_DIR, Location
from .logfiles import MissingDataFile
from .logtrim import KEEP_VERSIONS, TRIM_EVERY
from .oprows import stamp
from .schema import LEGACY_COLUMNS, OPLOG_SCHEMA, ROOT_ID

REOPEN_EVERY = 50
"""Reopen the DeltaTable after this many commits: a long-lived one gets slower per commit."""
LOG_RETENTION = "interval 7 days"
"""``delta.logRetentionDuration`` of a new pond: what ``maintain`` (``cleanup_metadata``) keeps.
Commits do not wait for it: see ``logtrim.KEEP_VERSIONS``."""
CHECKPOINT_INTERVAL = 10
"""``delta.checkpointInterval`` of a new pond (Delta's default is 100). delta-rs rebuilds its
snapshot after each commit from the newest checkpoint plus every entry since, so a commit
costs more the further it is from a checkpoint: one-row appends measured ~4.5 ms CPU with
10 against ~7 ms with 100. Ponds created before keep the interval they have."""
STATS_COLUMNS = "version"
"""``delta.dataSkippingStatsColumns`` of a new pond: file statistics only for ``version``
(Delta's default is the first 32 columns). delta-rs parses every active file's statistics
each time it rebuilds its snapshot after a commit; with only ``version``'s, one-row commits
measured ~7.6 ms in ``write_deltalake`` against ~10-11 ms (CPU per pond commit ~15 against
~18 ms). Delta readers still skip files by version; other filters read the files."""
WRITER_PROPERTIES = WriterProperties(
    compression="SNAPPY",  # (delta-rs's default without properties; with them it would write uncompressed)
    default_column_properties=ColumnProperties(statistics_enabled="CHUNK"),  # no page index: nothing reads it
    column_properties={"node_id": ColumnProperties(dictionary_enabled=False),  # (undo/merge skip by its stats)
                       **{name: ColumnProperties(dictionary_enabled=False, statistics_enabled="NONE")
                          for name in ("sha256", "content")},
                       "name": ColumnProperties(statistics_enabled="NONE")},
)
"""Parquet layout of a data file that a commit writes through ``write_deltalake`` (the direct
append, deltaappend.py, writes with pyarrow the same way, its hex columns uncompressed too): no
statistics for columns no reader filters on (the Delta file stats come from ``version``'s; undo
and merge skip row groups by ``node_id``, refs by ``op``), no page index, and no dictionary
attempt on columns whose values are all distinct.
The floor of a 1M-row commit (write_deltalake alone) measured ~0.50 s CPU this way against
~0.61-0.74 s with the defaults, for the same file size."""
_HOOKS = PostCommitHookProperties(create_checkpoint=True, cleanup_expired_logs=False)
"""delta-rs writes its checkpoint every ``delta.checkpointInterval`` commits; its expired-log
cleanup (which lists the whole log after every commit) is replaced by ``logtrim.trim``
every ``logtrim.TRIM_EVERY`` commits."""


def storage_error(table_uri: str, exc: Exception) -> StorageError:
    """deltalake's write failure as an OSError: errno from "(os error N)", the file it names."""
    detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    code = re.search(r"\(os error (\d+)\)", detail)
    path = re.search(r"(/\S+?)(?:#\d+)?:", detail)
    filename = path.group(1) if path else table_uri
    number = int(code.group(1)) if code else errno.EIO
    return StorageError(number, f"cannot commit to {table_uri}: {os.strerror(number)} ({detail})", filename)


def unreadable_log(location: Location, exc: Exception) -> CorruptPondError:
    """A clear error for a Delta log deltalake cannot load: the first line of its message (no
    Rust backtrace), naming the damaged log entry when one does not parse."""
    detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    log_dir = location.path(LOG_DIR, "_delta_log")
    try:
        infos = location.fs.get_file_info(pafs.FileSelector(log_dir))
    except OSError:
        infos = []
    for info in sorted(infos, key=lambda i: i.base_name):
        if not info.base_name.endswith(".json"):
            continue
        try:
            with location.fs.open_input_stream(info.path) as stream:
                lines = [json.loads(line) for line in stream.read().decode("utf-8").splitlines() if line.strip()]
            if not lines or not all(isinstance(a, dict) and set(a) & logfiles.DELTA_ACTIONS for a in lines):
                raise ValueError("no Delta actions")
        except (OSError, UnicodeDecodeError, ValueError):
            return CorruptPondError(f"damaged log entry {info.path}: {detail}")
    return CorruptPondError(f"cannot read the op log at {location.table_uri}: {detail}")


RELOADS = 3
"""Reads that found a data file missing reload the table this often before calling it damage."""


class CommitConflict(Exception):
    """Internal: another writer committed the version this commit expected to create."""


class Store:
    """One pond's Delta table and blob folder."""

    def __init__(self, location: Location, dt: DeltaTable) -> None:
        self.location = location
        self._dt = dt
        self.content = ContentStore(location)
        self.states = statefile.Snapshots(location, lambda: self.table_id)
        self.chunks = self.content.chunks
        self._commits_since_open = 0
        self.checkpoint_hint = logtrim.CheckpointHint(location)
        self._legacy = False  # a table without the branch columns: the next commit adds them
        self._at = dt.version()  # the table's version as far as this store knows (its own commits included)
        self._direct, self._checkpoint_every = deltaappend.supported(dt)
        self._checkpointer = deltaappend.Checkpointer(self._table_at, lambda upto: self.trim_log(upto=upto),
                                                     self.checkpoint_hint)

    # -- opening -----------------------------------------------------------------
    @classmethod
    def create(cls, location: Location, author: str) -> Store:
        if cls.exists(location):
            raise PondExistsError(f"a pond already exists at {location.uri}")
        root = {
            "op": "create",
            "node_id": ROOT_ID,
            "kind": "dir",
            "parent_id": "",
            "name": "",
        }
        rows = stamp([root], 0, uuid.uuid4().hex, "create pond", author)
        location.fs.create_dir(location.path(BLOB_DIR), recursive=True)
        try:
            write_deltalake(
                location.table_uri,
                rows,
                mode="error",
                name="tinylogsql",
                description="tinylogsql op log",
                configuration={"delta.logRetentionDuration": LOG_RETENTION,
                               "delta.checkpointInterval": str(CHECKPOINT_INTERVAL),
                               "delta.dataSkippingStatsColumns": STATS_COLUMNS},
                storage_options=location.storage_options,
                commit_properties=CommitProperties(custom_metadata={"message": "create pond", "author": author}),
            )
        except DeltaError as exc:
            if cls.exists(location):
                raise PondExistsError(f"a pond already exists at {location.uri}") from exc
            raise
        return cls.open(location)

    @staticmethod
    def exists(location: Location) -> bool:
        info = location.fs.get_file_info(location.path(LOG_DIR, "_delta_log"))
        if info.type != pafs.FileType.Directory:
            return False
        # A crash inside Pond.create can leave an empty _delta_log: that is no pond (yet).
        entries = location.fs.get_file_info(pafs.FileSelector(info.path))
        return any(e.base_name.endswith(".json") or e.base_name == "_last_checkpoint" for e in entries)

    @classmethod
    def open(cls, location: Location) -> Store:
        if not cls.exists(location):
            raise PondNotFoundError(f"no pond at {location.uri}")
        try:
            dt = DeltaTable(location.table_uri, storage_options=location.storage_options)
        except TableNotFoundError as exc:
            raise PondNotFoundError(f"no pond at {location.uri}") from exc
        except DeltaError as exc:
            raise unreadable_log(location, exc) from exc
        names = tuple(dt.schema().to_arrow().names)  # type: ignore[union-attr]
        if names not in (tuple(OPLOG_SCHEMA.names), LEGACY_COLUMNS):
            raise CorruptPondError(f"{location.table_uri} is a Delta table but not a tinylogsql op log")
        store = cls(location, dt)
        store._legacy = names == LEGACY_COLUMNS
        return store

    # -- versions ----------------------------------------------------------------
    def _log_entry(self, version: int) -> str:
        return logfiles.entry_path(self.location, version)

    def has_version(self, version: int) -> bool:
        """Does the commit file for ``version`` exist? One stat (one HEAD on object storage)."""
        return self.location.is_file(self._log_entry(version))

    def newer(self, version: int) -> objects.Newer | None:
        """On object storage, the log entries (and any checkpoint) newer than ``version``, in one
        LIST request; None locally, where ``has_version`` is one cheap stat."""
        return objects.newer_entries(self.location, version) if self.location.remote else None

    def checkpoint_after(self, version: int) -> bool:
        """Is there a version newer than ``version`` whose log entries were trimmed (logtrim)?"""
        return logtrim.checkpoint_after(self.location, version, self.checkpoint_hint)

    def latest_version(self, known: int) -> int:
        """The newest version, probing forward from a version known to exist."""
        version = known
        while self.has_version(version + 1):
            version += 1
        return version

    def prepare(self, version: int) -> bool:
        """Bring the store to ``version`` for a commit; False if the table is already past it.
        A direct append (deltaappend) needs no handle at all: the version the caller read is the one
        it claims (had another writer taken the next one, the append finds its entry and fails)."""
        if self._direct and not self._legacy:
            self._at = version
            return True
        self._catch_up(version)
        return self._at == version

    def _catch_up(self, version: int) -> None:
        """Bring the DeltaTable handle to at least ``version`` (fewer if the table has fewer)."""
        if self._commits_since_open < REOPEN_EVERY and self._dt.version() < version:
            try:
                self._dt.update_incremental()
            except DeltaError:
                pass
            if self._dt.version() < version:  # e.g. the entries it missed were cleaned up
                self._commits_since_open = REOPEN_EVERY
        if self._commits_since_open >= REOPEN_EVERY:
            for attempt in range(RELOADS + 1):
                try:
                    self._dt = self._fresh_table()
                    break
                except DeltaError:  # an entry it listed was trimmed meanwhile: list again
                    if attempt == RELOADS:
                        raise
            self._commits_since_open = 0
        self._at = self._dt.version()

    # -- reading -----------------------------------------------------------------
    def handle_version(self) -> int:
        """The table's version as of the handle's last load or this store's last commit."""
        return self._at

    def newest_version(self) -> int:
        """The table's newest version, from a fresh load of its log (checkpoint plus entries)."""
        try:
            return self._fresh_table().version()
        except DeltaError as exc:
            raise unreadable_log(self.location, exc) from exc

    def read_snapshot(self, upto: int | None = None) -> tuple[int, pa.Table]:
        """All op rows up to ``upto`` (default: the newest version), read from the newest
        version's own file list (never a glob; rows are never removed, so it holds every older
        version's rows too). Returns (the table's newest version, rows)."""
        for attempt in range(RELOADS + 1):
            try:
                dt = DeltaTable(self.location.table_uri, storage_options=self.location.storage_options)
                version = dt.version()
                uris = dt.file_uris()
            except DeltaError as exc:
                raise unreadable_log(self.location, exc) from exc
            last = version if upto is None else min(upto, version)
            try:
                rows = logfiles.read_files(self.location, [self.location.fs_path(uri) for uri in uris], last)
                break
            except MissingDataFile:
                if attempt == RELOADS:
                    raise
        rows = unique_ops(rows, self.location.table_uri)
        self._check_versions(rows, 0, last)
        return version, rows

    def _check_versions(self, rows: pa.Table, first: int, last: int) -> None:
        """Every commit tinylogsql makes adds op rows. A version in first..last without any is a
        maintenance commit, or a damaged log entry whose rows deltalake silently dropped: look."""
        present = set(pc.unique(rows["version"]).to_pylist())
        for missing in sorted(set(range(first, last + 1)) - present):
            lost = self.read_commit(missing)  # raises CorruptPondError for an empty/garbage entry
            if lost is not None and lost.num_rows:
                raise CorruptPondError(f"the table's snapshot lacks the op rows of {self._log_entry(missing)}")

    def read_since(self, after: int) -> tuple[int, pa.Table]:
        """Op rows newer than ``after``, for a reader whose log entries are gone (cleaned up, or
        its files compacted): read from the newest version's data files whose statistics
        allow such rows (every row carries its version). Returns (newest version, rows)."""
        for attempt in range(RELOADS + 1):
            try:
                dt = self._fresh_table()
                version = dt.version()
                actions = pa.table(dt.get_add_actions(flatten=True))
            except DeltaError as exc:
                raise unreadable_log(self.location, exc) from exc
            newest = actions.column("max.version").to_pylist() if "max.version" in actions.column_names else None
            files = [
                self.location.path(LOG_DIR, unquote(path))
                for index, path in enumerate(actions.column("path").to_pylist())
                if newest is None or newest[index] is None or newest[index] > after  # no statistics: read it
            ]
            try:
                rows = logfiles.read_files(self.location, files, version)
                break
            except MissingDataFile:  # compacted and vacuumed since the load: the newer version has the rows
                if attempt == RELOADS:
                    raise
        rows = unique_ops(rows, self.location.table_uri)
        if rows.num_rows:
            rows = rows.filter(pc.greater(rows["version"], after))
        self._check_versions(rows, after + 1, version)
        return version, rows

    def read_commit(self, version: int) -> pa.Table | None:
        """Op rows that commit ``version`` added, or None if its log entry is gone (cleaned up).

        Files a maintenance commit re-adds (dataChange=false) carry no new ops and are skipped.
        """
        files = self._added_files(version)
        return None if files is None else logfiles.read_files(self.location, files, version, only_version=version)

    def read_commit_unless(self, version: int, skip: Callable[[str], bool]) -> tuple[pa.Table | None, str | None]:
        """``read_commit``, except for a commit whose log entry names a branch (see commitbranch.py)
        that ``skip`` accepts: then only the entry is read, and this returns (no rows, that branch)."""
        entry = logfiles.entry(self.location, version)
        if entry is None:
            return None, None
        files, branch = entry
        if branch is not None and skip(branch):
            return OPLOG_SCHEMA.empty_table(), branch
        return logfiles.read_files(self.location, files, version, only_version=version), None

    def read_commits(self, first: int, last: int) -> pa.Table | None:
        """Op rows of commits ``first``..``last``, their data files read in one go (a state
        snapshot's tail); None if any of their log entries is gone."""
        files: list[str] = []
        versions = list(range(first, last + 1))
        texts: list[bytes | None] = [None] * len(versions)
        if self.location.remote and len(versions) > 1:  # the entries' GETs in flight together
            try:
                texts = list(objects.get_many(self.location, [self._log_entry(v) for v in versions]))
            except FileNotFoundError:
                return None
        for version, text in zip(versions, texts, strict=True):
            added = self._added_files(version, text)
            if added is None:
                return None
            files.extend(added)
        rows = unique_ops(logfiles.read_files(self.location, files, last), self.location.table_uri)
        return rows.filter(pc.greater_equal(rows["version"], first)) if rows.num_rows else rows

    def _added_files(self, version: int, data: bytes | None = None) -> list[str] | None:
        """Data files that commit ``version`` added with new ops (None: its log entry is gone);
        ``data``: the entry, if already read."""
        entry = logfiles.entry(self.location, version, data)
        return None if entry is None else entry[0]

    # -- writing -----------------------------------------------------------------
    def commit(self, rows: pa.Table, base_version: int, message: str, author: str) -> None:
        """Append ``rows`` as version base_version+1, or raise CommitConflict.

        The store must be at ``base_version`` (see ``prepare``). Appends are written by deltaappend
        (a pyarrow data file and a create-only log entry) unless the table needs write_deltalake.
        """
        if self._at != base_version:
            raise CommitConflict(base_version)
        trim = (base_version + 2) % TRIM_EVERY == 0
        if self._direct and not self._legacy:
            self._append(rows, base_version, message, author, trim)
            return
        self._write(rows, base_version, message, author)
        if trim:
            self.trim_log()

    def _append(self, rows: pa.Table, base_version: int, message: str, author: str, trim: bool) -> None:
        """The commit as a direct append, then the checkpoint delta-rs's hook would have written and
        the log trim, asked of the checkpoint thread (deltaappend.Checkpointer): the commit does not wait."""
        try:
            landed = deltaappend.append(self.location, rows, base_version + 1, message, author,
                                        commitbranch.marker(rows))
        except StorageError:
            raise
        except OSError as exc:  # the storage refused the write: name the table and the errno
            number = exc.errno or errno.EIO
            raise StorageError(number, f"cannot commit to {self.location.table_uri}: {os.strerror(number)} ({exc})",
                               exc.filename or self.location.table_uri) from exc
        if not landed:
            raise CommitConflict(base_version)
        self._at = base_version + 1
        self._commits_since_open += 1
        if deltaappend.due(self._at, self._checkpoint_every) or trim:
            self._checkpointer.run(self._at, trim)

    def _write(self, rows: pa.Table, base_version: int, message: str, author: str) -> None:
        """The commit through write_deltalake (the handle brought to ``base_version`` first)."""
        if self._dt.version() != base_version:
            self._catch_up(base_version)
            if self._dt.version() != base_version:
                raise CommitConflict(base_version)
        evolve = {"schema_mode": "merge"} if self._legacy else {}
        try:
            write_deltalake(
                self._dt,
                rows,
                mode="append",
                **evolve,  # type: ignore[arg-type]
                writer_properties=WRITER_PROPERTIES,
                commit_properties=CommitProperties(
                    max_commit_retries=0,
                    custom_metadata={"message": message, "author": author, **commitbranch.marker(rows)},
                ),
                post_commithook_properties=_HOOKS,
            )
        except CommitFailedError as exc:
            raise CommitConflict(base_version) from exc
        except DeltaError as exc:  # the storage refused the write: a clear OSError, not deltalake's
            raise storage_error(self.location.table_uri, exc) from exc
        self._commits_since_open += 1
        if self._legacy:
            self._legacy = False
            self._direct, self._checkpoint_every = deltaappend.supported(self._dt)
        if self._dt.version() != base_version + 1:
            landed = self._dt.version()
            raise CorruptPondError(
                f"commit landed at version {landed}, expected {base_version + 1} in {self.location.table_uri}"
            )
        self._at = base_version + 1

    def checkpoints_held(self) -> AbstractContextManager[None]:
        """The checkpoints and log trims this store's commits ask for in the block run once at its end."""
        return self._checkpointer.held()

    def settle(self) -> None:
        """Wait for the checkpoints, log trims and automatic compaction that commits asked for
        (they run on threads)."""
        from .maintenance import compaction_settle

        compaction_settle(self)
        self._checkpointer.settle()

    def trim_log(self, keep_versions: int = KEEP_VERSIONS, upto: int | None = None) -> int:
        """Delete log entries older than a checkpoint kept for Delta readers (``logtrim.trim``)."""
        return logtrim.trim(self.location, keep_versions, upto)

    # -- maintenance ---------------------------------------------------------------
    def opened_file_uris(self) -> list[str]:
        """The data files of the handle as ``open`` loaded it: only for use right after an open
        (later, direct appends move past the handle and vacuum may remove what it lists)."""
        try:
            return list(self._dt.file_uris())
        except DeltaError as exc:
            raise unreadable_log(self.location, exc) from exc

    def _fresh_table(self) -> DeltaTable:
        return DeltaTable(self.location.table_uri, storage_options=self.location.storage_options)

    def _table_at(self, version: int) -> DeltaTable:
        return DeltaTable(self.location.table_uri, version=version, storage_options=self.location.storage_options)

    def compact(self, zorder: bool = False, attempts: int | None = None) -> dict[str, Any]:
        """Rewrite small data files into few large ones (all of them sorted by parent_id if asked),
        committed at exactly the version read (see maintenance.compact).

        The rows are re-added with dataChange=false: readers skip them, and every row keeps
        its version, so time travel through the pond is unaffected.
        """
        from .maintenance import COMPACT_ATTEMPTS, compact

        metrics = compact(self, zorder, COMPACT_ATTEMPTS if attempts is None else attempts)
        self._dt = self._fresh_table()
        self._commits_since_open = 0
        self._at = self._dt.version()
        if metrics.get("numFilesAdded") and (self._dt.version() + 1) % TRIM_EVERY == 0:  # it took a trim's turn
            self.trim_log()
        return metrics

    def checkpoint(self) -> None:
        """Write a checkpoint, then delete log entries older than ``delta.logRetentionDuration``.

        Opening the table then reads one parquet file instead of every commit, and delta-rs's
        commit cost stops growing with the number of entries (measured here: 21 -> 39 commits/s
        once 3,000 old entries were gone). Pond time travel does not need old entries (every row
        carries its version); Delta readers of versions older than the retention do.
        """
        dt = self._fresh_table()
        dt.create_checkpoint()
        dt.cleanup_metadata()

    def vacuum(self, retention_hours: float, dry_run: bool = False) -> list[str]:
        """Delete data files that no version younger than ``retention_hours`` needs (a float;
        see maintenance.vacuum).

        Pond time travel does not need them (every row lives on in the current files); the
        retention protects Delta readers of old table versions, readers still scanning a file
        list they loaded before the compaction, and writers whose data file is not committed yet.
        """
        from .maintenance import vacuum

        return vacuum(self, retention_hours, dry_run)

    def delete(self, path: str) -> None:
        self.location.fs.delete_file(path)

    # -- state snapshots (statefile.py) ---------------------------------------------
    @property
    def table_id(self) -> str:
        """The Delta table's id: a state snapshot is only ever used on the table that wrote it."""
        return str(self._dt.metadata().id)

    # -- content beside the table (content.py) -----------------------------------
    def write_blob_stream(self, stream: Any) -> tuple[str, int, str]:
        return self.content.write_stream(stream)

    def write_blob(self, data: bytes, sha256: str) -> str:
        return self.content.write_bytes(data, sha256)

    def read_blob(self, ref: str, expected_sha256: str) -> bytes:
        return self.content.read(ref, expected_sha256)

    def open_blob(self, ref: str, expected_sha256: str) -> Any:
        return self.content.open(ref, expected_sha256)


def backoff(attempt: int) -> None:
    """Sleep a little, growing with the attempt, so racing writers spread out."""
    import random

    time.sleep(min(0.05, 0.001 * (2 ** min(attempt, 6))) * random.random())
