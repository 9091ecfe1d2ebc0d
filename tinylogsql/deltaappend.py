"""A commit's op rows appended to the Delta log by tinylogsql itself: one parquet data file
written with pyarrow, then the log entry ``_delta_log/<version>.json`` created only if absent.

Why: ``write_deltalake`` cost ~7 ms of CPU per one-row commit, most of it delta-rs rebuilding its
snapshot of the table after the commit (the log replayed from the newest checkpoint, every file's
statistics parsed); this path costs ~3 ms. ``DeltaTable.create_write_transaction`` (add actions
for a file written beforehand) measured no cheaper: it does the same rebuild and leaves the handle
at the old version, so it needs an ``update_incremental`` on top (see benchmarks/bench_commit.py).

The entry is what delta-rs writes for an append (``commitInfo`` with the message and author as
custom metadata, one ``add`` with the ``version`` statistics), created the way delta-rs creates it:
locally a hard link that never replaces, on S3 a PUT with ``If-None-Match: *`` (see
``maintenance.put_if_absent``). An existing entry means another writer got the version: the
caller's ``CommitConflict``. Checkpoints are written as delta-rs's post-commit hook would, every
``delta.checkpointInterval`` versions. Tables whose protocol asks for writer features this module
does not implement, or that are being evolved, keep ``write_deltalake`` (``supported``).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable
from pyarrow.fs import FileSelector, FileType

from .background import lower_priority
from .location import LOG_DIR, Location
from .maintenance import put_if_absent as _put_if_absent  # (bound here: the commit's own, not a compaction's)

WRITER_FEATURES = frozenset({"timestampNtz"})
"""Writer features whose rules an append written here follows (timestampNtz: values as they are)."""
_UNSAFE_CONFIG = ("delta.enableChangeDataFeed", "delta.enableDeletionVectors", "delta.enableRowTracking",
                  "delta.columnMapping.mode", "delta.enableInCommitTimestamps")
"""Table properties that change what an append must write: such tables keep write_deltalake."""
ENGINE = "tinylogsql"
LOG_FILE = re.compile(r"^(\d{20})\.(json|crc|checkpoint(?:\.[^/]*)?\.parquet)$")
"""A commit entry, its checksum file or a checkpoint (any part), with its version."""
SMALL_ROWS = 64
"""A data file of at most this many rows is written without dictionary pages."""
DISTINCT = frozenset({"node_id", "seq", "sha256", "content"})
"""Columns whose values are all or mostly distinct: no dictionary attempt (nothing to share)."""
HEX = frozenset({"node_id", "sha256"})
"""Random hex text: stored uncompressed (snappy saved ~1% on them and cost ~0.15 s per 1M rows)."""
STATISTICS = frozenset({"version", "node_id", "op", "content_ref", "seq", "ts", "size", "ref_version"})
"""Columns a data file of more than SMALL_ROWS rows keeps min/max for: what readers filter on (the
Delta file stats come from ``version``'s; undo and merge skip row groups by ``node_id``, refs by
``op``, retention's scan by ``content_ref``) and the numeric ones (nearly free). The other string
columns' min/max cost ~0.04 s of a 1M-row commit's 0.25 s write and no reader uses them
(store.WRITER_PROPERTIES, for write_deltalake, still skips only sha256, content and name)."""
STREAM_BYTES = 8 << 20
"""Rows of at least this many bytes (in memory) are written straight to the data file, through a
STREAM_BUFFER-byte buffer; smaller ones into memory first, then in one write (one PUT on S3).
Why: for a 100k-file sync (~110 MB) the in-memory copy cost more than the parquet encoding (fresh
pages for a buffer grown by doubling, then a second copy into the file): 0.16-0.6 s of CPU for
write and copy against 0.10-0.11 s straight to the file."""
STREAM_BUFFER = 1 << 20


def supported(dt: DeltaTable) -> tuple[bool, int]:
    """Can appends to this table be written here, and its checkpoint interval."""
    protocol = dt.protocol()
    config = dt.metadata().configuration
    features = set(protocol.writer_features or [])
    ok = protocol.min_writer_version <= 7 and features <= WRITER_FEATURES and protocol.min_reader_version <= 3 \
        and set(protocol.reader_features or []) <= WRITER_FEATURES \
        and not any(str(config.get(key, "")).lower() not in ("", "false", "none") for key in _UNSAFE_CONFIG)
    return ok, int(config.get("delta.checkpointInterval") or 100)


def entry(name: str, size: int, rows: int, version: int, read_version: int, message: str, author: str,
          metadata: dict[str, str] | None = None) -> bytes:
    """The log entry of an append of one data file whose rows all carry ``version``; ``metadata``:
    more commitInfo keys, as write_deltalake's custom_metadata (e.g. commitbranch.marker)."""
    now = int(time.time() * 1000)
    stats = {"numRecords": rows, "minValues": {"version": version}, "maxValues": {"version": version},
             "nullCount": {"version": 0}}
    info: dict[str, Any] = {"timestamp": now, "operation": "WRITE", "operationParameters": {"mode": "Append"},
                            "readVersion": read_version, "isBlindAppend": True, "engineInfo": ENGINE,
                            "message": message, "author": author, **(metadata or {}),
                            "operationMetrics": {"num_added_files": 1, "num_removed_files": 0, "num_added_rows": rows}}
    add = {"path": quote(name), "partitionValues": {}, "size": size, "modificationTime": now, "dataChange": True,
           "stats": json.dumps(stats)}
    return (json.dumps({"commitInfo": info}) + "\n" + json.dumps({"add": add}) + "\n").encode()


def append(location: Location, rows: pa.Table, version: int, message: str, author: str,
           metadata: dict[str, str] | None = None) -> bool:
    """Write ``rows`` (all of ``version``) as a new data file and create the log entry of ``version``;
    False if that entry exists already (another writer's: the data file written is then deleted)."""
    name = f"part-00000-{uuid.uuid4()}-c000.snappy.parquet"
    path = location.path(LOG_DIR, name)
    try:
        size = _write_data(location, path, rows)
    except BaseException:  # (a partial data file, e.g. a full disk, is not left behind)
        _drop(location, path)
        raise
    log = location.path(LOG_DIR, "_delta_log", f"{version:020d}.json")
    try:
        landed = _put_if_absent(location, log, entry(name, size, rows.num_rows, version, version - 1,
                                                    message, author, metadata), durable=False)
    except BaseException:
        _drop(location, path)
        raise
    if landed and _trimmed_before(location, version, name):
        _drop(location, log)  # behind a newer checkpoint no reader starts before: not a commit
        landed = False
    if not landed:
        _drop(location, path)
    return landed


def _write_data(location: Location, path: str, rows: pa.Table) -> int:
    """Write the data file; returns its size. A few rows: snappy, no dictionary (nothing to share;
    ~0.06 of ~0.31 ms CPU for a one-row commit). More: the column layout above. Rows of
    STREAM_BYTES or more go straight into the file through a buffer (building 100 MB in memory
    first cost a copy and 0.1-0.3 s of page faults); smaller ones are built in memory and written
    at once (one PUT on object storage)."""
    options: dict[str, Any] = {"compression": "snappy", "use_dictionary": False}
    if rows.num_rows > SMALL_ROWS:
        names = rows.column_names
        options = {"compression": {column: "none" if column in HEX else "snappy" for column in names},
                   "use_dictionary": [column for column in names if column not in DISTINCT],
                   "write_statistics": [column for column in names if column in STATISTICS]}
    if rows.nbytes >= STREAM_BYTES:
        with location.fs.open_output_stream(path) as out:
            buffered = pa.BufferedOutputStream(out, STREAM_BUFFER)
            pq.write_table(rows, buffered, **options)
            size = buffered.tell()
            buffered.detach()  # (flushed; ``out`` is closed by its own block)
            return size
    sink = pa.BufferOutputStream()
    pq.write_table(rows, sink, **options)
    data = sink.getvalue()
    with location.fs.open_output_stream(path) as out:
        out.write(data)
    return data.size


def _trimmed_before(location: Location, version: int, name: str) -> bool:
    """Had a log trim already removed ``version`` when this writer's entry of it landed? A writer
    that stalls between its sync and its write while 100+ versions are committed and trimmed finds
    the entry name free and "wins" a version the table has passed (the trim keeps entries by count,
    logtrim.trim). Trims delete oldest first, so the previous entry still there proves ours is
    the version's one entry (one stat, the usual answer). Else ours is lost unless the oldest
    checkpoint at or after it lists our file (added, or removed since by a compaction): then the
    trim came after we landed."""
    if version == 0 or location.fs.get_file_info(
            location.path(LOG_DIR, "_delta_log", f"{version - 1:020d}.json")).type != FileType.NotFound:
        return False
    try:
        listed = location.fs.get_file_info(FileSelector(location.path(LOG_DIR, "_delta_log")))
        parts: dict[int, list[str]] = {}
        for info in listed:
            if (m := LOG_FILE.match(info.base_name)) and m.group(2).startswith("checkpoint") \
                    and int(m.group(1)) >= version:
                parts.setdefault(int(m.group(1)), []).append(info.path)
        if not parts:
            return False  # no checkpoint past it: nothing was trimmed past it
        paths = set()
        for part in parts[min(parts)]:
            table = pq.read_table(part, columns=["add", "remove"], filesystem=location.fs)
            for action in ("add", "remove"):
                paths.update(pc.struct_field(table.column(action), "path").drop_null().to_pylist())
    except (OSError, ValueError, pa.ArrowException):
        return False  # unreadable: never undo a commit that may have landed
    return quote(name) not in paths and name not in paths


def due(version: int, every: int) -> bool:
    """Does delta-rs's post-commit hook checkpoint ``version``? (It does at 9, 19, ... for 10.)"""
    return (version + 1) % every == 0


HELD_AT_MOST = 1000
"""Versions a held run of commits goes without a checkpoint at most (see ``Checkpointer.held``): a
reader opening in the middle of it replays up to this many log entries (~2 KB each)."""


class Checkpointer:
    """One pond's checkpoints and log trims, written by a thread of their own from a DeltaTable handle
    of their own, so the commit that asks does not wait (~30 ms per checkpoint at 300k entries: the
    p99.9 commit latency). Requests collapse to the newest version asked.

    Why this is safe (it was inline before, see tests/test_checkpoint_race.py):
    - A checkpoint is written only if ``_last_checkpoint`` names an older one (``hint``): a lagging
      thread does not write checkpoints older than one already there.
    - It can still lag past another process's trim (the check and delta-rs's write are two steps):
      then its checkpoint names an old version and its ``_last_checkpoint`` lands after a newer one.
      deltalake's open lists from the hint and takes the newest complete checkpoint it finds
      (delta-kernel-rs ``LogSegmentFiles::list_with_checkpoint_hint``), and tinylogsql's readers never
      trust the hint alone (``logtrim.checkpoint_after``). Building a checkpoint whose entries were
      trimmed fails ("No files in log segment") and is skipped.
    - The trim runs after the checkpoint it was asked with, counting back from it (not from the
      newest entry): every entry after a checkpoint that exists stays (``logtrim.trim``).
    - ``held``: a run of commits asks for one at its end, and one every HELD_AT_MOST versions (a
      checkpoint is optional in the Delta protocol: a reader replays the entries after the newest
      one, at most that many more; no trim runs without a checkpoint, so none is lost).
    """

    def __init__(self, open_table: Callable[[int], DeltaTable], trim: Callable[[int], Any],
                 hint: Callable[[], int]) -> None:
        self._open, self._trim, self._hint = open_table, trim, hint
        self._dt: DeltaTable | None = None
        self._uses = 0
        self._asked: tuple[int, bool] | None = None
        self._busy = False
        self._held = 0
        self._held_from: int | None = None  # the version of the first request held since the last one ran
        self._due = False  # the request asked is for the thread now (not held)
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def run(self, version: int, trim: bool = False) -> None:
        """Ask for a checkpoint of ``version`` (then a log trim if asked); returns at once."""
        with self._cond:
            if self._asked is not None:
                version, trim = max(version, self._asked[0]), trim or self._asked[1]
            self._asked = (version, trim)
            if self._held:  # (see held)
                if self._held_from is None:
                    self._held_from = version
                if version - self._held_from < HELD_AT_MOST:
                    return
                self._held_from = version
            self._start()

    def _start(self) -> None:
        """Hand the request to the thread (started if idle); the caller holds ``_cond``."""
        self._due = True
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._work, name="tinylogsql-checkpoint", daemon=True)
            self._thread.start()
        self._cond.notify_all()

    @contextmanager
    def held(self) -> Iterator[None]:
        """Checkpoints and trims asked in the block wait for its end, then the newest runs once: a run
        of commits (import-git) writes one checkpoint, not one per interval (each rebuilds the table's
        file list, ~1 s of CPU on this thread over a 500-commit import)."""
        with self._cond:
            self._held += 1
        try:
            yield
        finally:
            with self._cond:
                self._held -= 1
                if not self._held:
                    self._held_from = None
                    if self._asked is not None:
                        self._start()

    def settle(self, timeout: float | None = None) -> None:
        """Wait until every checkpoint and trim asked so far is done (Pond.close); one held waits
        for its block's end, not here."""
        with self._cond:
            self._cond.wait_for(lambda: (self._asked is None or not self._due) and not self._busy, timeout)

    def _work(self) -> None:
        lower_priority()  # (background.py)
        while True:
            with self._cond:
                if not self._cond.wait_for(lambda: self._asked is not None and self._due, 30.0):
                    self._thread = None
                    return  # idle: the next request starts a new thread
                assert self._asked is not None
                (version, trim), self._asked, self._busy, self._due = self._asked, None, True, False
            try:
                if self._hint() < version and self._checkpoint(version) and trim:
                    try:
                        self._trim(version)
                    except OSError:
                        pass
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _checkpoint(self, version: int) -> bool:
        from deltalake.exceptions import DeltaError

        try:
            if self._dt is None or self._uses >= 50 or self._dt.version() > version:
                self._dt, self._uses = self._open(version), 0  # (a long-lived handle slows down)
            elif self._dt.version() < version:
                self._dt.load_as_version(version)  # forward: reads only the entries since
            self._uses += 1
            self._dt.create_checkpoint()
            return True
        except (DeltaError, OSError):
            self._dt = None  # best effort: the next interval writes one
            return False


def _drop(location: Location, path: str) -> None:
    try:
        location.fs.delete_file(path)
    except OSError:
        pass  # vacuum removes an unreferenced data file later
