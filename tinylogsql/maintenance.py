"""Maintenance that never hurts: compaction through the commit protocol, vacuum of old data
files, and garbage collection of unreferenced blobs.

Compaction is committed by tinylogsql itself, not by delta-rs' OPTIMIZE: delta-rs 1.6 rebases
an OPTIMIZE commit onto whatever landed meanwhile (it ignores ``max_commit_retries``), and two
OPTIMIZEs from the same read version were both accepted, so every row ended up twice. Here the
new log entry is written create-only at exactly ``read version + 1`` (a hard link locally, a
conditional PUT on object storage), so it lands on the version it read or not at all.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake.exceptions import DeltaError

from . import logfiles, objects
from .background import lower_priority
from .content import BLOB_DIR
from .errors import CorruptPondError, InvalidArgumentError, UnsafeRetentionError
from .guard import unique_ops
from .location import LOG_DIR, Location
from .schema import OPLOG_SCHEMA

if TYPE_CHECKING:
    from .store import Store

MIN_SAFE_RETENTION_HOURS = 1.0
"""The longest a commit may be in flight: a writer writes its data file (or blob) first and
commits it later; vacuum and blob GC delete only files older than this, unless ``unsafe=True``."""
SMALL_FILE = 16 << 20
"""Auto-compaction merges data files smaller than this (z-order rewrites every file)."""
ROWS_PER_FILE = 1 << 20
"""Rows per data file a compaction writes."""
ROW_GROUP = 1 << 17
"""Rows of a compacted file gathered (and written as a row group) at a time: the transient copy."""
RETARGET_MAX = 1000
"""Versions a compaction's entry may move past (appends by other writers) before it gives up."""
COMPACT_ATTEMPTS = 5
"""A compaction whose version was taken by another commit is redone this often, then given up."""
DATA_FILE = re.compile(r"^part-[A-Za-z0-9_.-]+\.parquet$")
"""What vacuum may delete in the table folder: data files, nothing else."""
COMMIT_TEMP = re.compile(r"^_commit_[0-9a-f-]+\.json\.tmp$")
"""A temporary commit file (delta-rs' and put_if_absent's), before it is linked to its version."""
BLOB_NAME = re.compile(r"^[0-9a-f]{64}$")
"""What GC may delete under blobs/, manifests/ and chunks/: content names (plus old ``.tmp-`` leftovers)."""
DELETE_THREADS = 8
"""Local objects GC deletes (and chunk lists it reads) at once: each waits on storage, not the CPU."""
GC_PREFIX = ".gc-"
"""A blob GC is about to delete is first renamed to this prefix (local folders, see collect_blobs)."""


def check_retention(retention_hours: object, unsafe: bool) -> float:
    """The retention as a float; below MIN_SAFE_RETENTION_HOURS only with ``unsafe=True``."""
    if isinstance(retention_hours, bool) or not isinstance(retention_hours, (int, float)):
        raise InvalidArgumentError(f"retention_hours must be a number, not {type(retention_hours).__name__}")
    hours = float(retention_hours)
    if not math.isfinite(hours) or hours < 0:
        raise UnsafeRetentionError(f"retention_hours must be a finite number >= 0, not {retention_hours!r}")
    if hours < MIN_SAFE_RETENTION_HOURS and not unsafe:
        raise UnsafeRetentionError(
            f"retention_hours={retention_hours} is below {MIN_SAFE_RETENTION_HOURS} h, the longest a commit may be"
            " in flight: a concurrent writer could lose its files. Pass unsafe=True only for a pond with no other"
            " writers.")
    return hours


# -- compaction --------------------------------------------------------------------------------
def compact(store: Store, zorder: bool, attempts: int = COMPACT_ATTEMPTS, threads: bool = True) -> dict[str, Any]:
    """Merge data files (all of them sorted by parent_id if ``zorder``, else the small ones)
    in one commit at the version read; redone if another commit took it, given up after
    ``attempts``. Rows are re-added with dataChange=false, each (version, seq) once.
    ``threads``: decode the files on Arrow's thread pool (False: on the calling thread alone)."""
    for _ in range(attempts):
        done = _compact_once(store, zorder, threads)
        if done is not None:
            return done
    return {"numFilesAdded": 0, "numFilesRemoved": 0, "gaveUp": True}


def _compact_once(store: Store, zorder: bool, threads: bool = True) -> dict[str, Any] | None:
    location = store.location
    dt = store._fresh_table()
    read_version = dt.version()
    actions = pa.table(dt.get_add_actions(flatten=True))
    paths = [unquote(p) for p in actions.column("path").to_pylist()]
    sizes = actions.column("size_bytes").to_pylist()
    chosen = [(p, s) for p, s in zip(paths, sizes, strict=True) if zorder or s < SMALL_FILE]
    if len(chosen) < (1 if zorder else 2):
        return {"numFilesAdded": 0, "numFilesRemoved": 0}
    files = [location.path(LOG_DIR, p) for p, _ in chosen]
    try:
        rows = pq.read_table(files, schema=OPLOG_SCHEMA, filesystem=location.fs, use_threads=threads)
    except FileNotFoundError:  # compacted and vacuumed by another maintainer since the load: redo
        return None
    rows = unique_ops(rows, location.table_uri)
    order = [("parent_id", "ascending"), ("version", "ascending"), ("seq", "ascending")] if zorder else \
        [("version", "ascending"), ("seq", "ascending")]
    # sorted one output file at a time: rows.sort_by(order) held a second copy of the whole log (at
    # 9M entries most of a 10 GB maintain); the sort order alone is 8 bytes a row
    positions = pc.sort_indices(rows, sort_keys=order)
    now = int(time.time() * 1000)
    added: list[dict[str, Any]] = []
    written: list[str] = []
    try:
        for start in range(0, max(rows.num_rows, 1), ROWS_PER_FILE):
            chosen_rows = positions.slice(start, ROWS_PER_FILE)
            name = f"part-00000-{uuid.uuid4()}-c000.zstd.parquet"
            path = location.path(LOG_DIR, name)
            written.append(path)
            sink = pa.BufferOutputStream()
            with pq.ParquetWriter(sink, rows.schema, compression="zstd") as writer:
                for at in range(0, max(len(chosen_rows), 1), ROW_GROUP):  # a row group's rows gathered at a time
                    writer.write_table(rows.take(chosen_rows.slice(at, ROW_GROUP)))
            data = sink.getvalue()  # (a pa.Buffer: written as it is, no copy to bytes)
            with location.fs.open_output_stream(path) as out:
                out.write(data)
            bounds = pc.min_max(rows["version"].take(chosen_rows))
            stats = {"numRecords": len(chosen_rows), "minValues": {"version": bounds["min"].as_py()},
                     "maxValues": {"version": bounds["max"].as_py()}, "nullCount": {"version": 0}}
            added.append({"add": {"path": quote(name), "partitionValues": {}, "size": len(data),
                                  "modificationTime": now, "dataChange": False, "stats": json.dumps(stats)}})
        removed = [{"remove": {"path": quote(p), "dataChange": False, "deletionTimestamp": now,
                               "extendedFileMetadata": True, "partitionValues": {}, "size": s}} for p, s in chosen]
        info = {"commitInfo": {"timestamp": now, "operation": "OPTIMIZE",
                               "operationParameters": {"zorder": json.dumps(["parent_id"] if zorder else [])},
                               "readVersion": read_version, "isBlindAppend": False,
                               "engineInfo": "tinylogsql", "message": "maintain: compact", "author": "tinylogsql"}}
        entry = ("\n".join(json.dumps(action) for action in [info, *removed, *added]) + "\n").encode()
        version = _commit_after(store, read_version, entry, {p for p, _ in chosen})
    except BaseException:
        _drop(location, written)
        raise
    if version is None:  # another compaction removed some of these files: ours are nobody's
        _drop(location, written)
        return None
    return {"numFilesAdded": len(added), "numFilesRemoved": len(removed), "version": version}


_compactor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tinylogsql-compact", initializer=lower_priority)
_compacting: dict[str, bool] = {}
"""Ponds (by URI) whose automatic compaction runs, and whether one more was asked meanwhile."""
_compacting_lock = threading.Condition()


def auto_compact_in_background(store: Store) -> None:
    """A committer's automatic compaction, on a thread of its own (it rewrites every small data
    file: ~240 ms at 100k ops, seconds at 1M, a stall of the commit that asked if it ran there),
    one per pond at a time (one asked meanwhile runs once after it); it lands after whatever the
    writers committed meanwhile (``_commit_after``). Best effort: a lost race leaves it to the next."""
    key = store.location.uri
    with _compacting_lock:
        if key in _compacting:
            _compacting[key] = True  # asked again while running: once more after it
            return
        _compacting[key] = False

    def run() -> None:
        again = True
        while again:
            try:
                # not store.compact: that swaps the committer's handle; decoded on this (niced) thread
                # alone: Arrow's pool threads run at the committer's priority (background.py)
                compact(store, zorder=False, attempts=1, threads=False)
            except (DeltaError, OSError, pa.ArrowException):
                pass  # a concurrent maintenance or writer won; the next one retries
            finally:
                with _compacting_lock:
                    again = _compacting.get(key, False)
                    if again:
                        _compacting[key] = False
                    else:
                        _compacting.pop(key, None)
                        _compacting_lock.notify_all()

    _compactor.submit(run)


def compaction_settle(store: Store) -> None:
    """Wait for this pond's automatic compaction, if one is running (Pond.close)."""
    with _compacting_lock:
        _compacting_lock.wait_for(lambda: store.location.uri not in _compacting)


def _commit_after(store: Store, read_version: int, entry: bytes, chosen: set[str]) -> int | None:
    """Put a compaction's log entry at the first free version after ``read_version``. A version
    another commit took first is passed over if it only appended (new files are not among the
    chosen ones, so no row is lost or doubled); if it removed a chosen file (another compaction),
    give up: None. So a compaction running beside busy writers lands, instead of losing every race."""
    location = store.location
    version = read_version + 1
    for _ in range(RETARGET_MAX):
        path = location.path(LOG_DIR, "_delta_log", f"{version:020d}.json")
        if put_if_absent(location, path, entry):
            return version
        try:
            taken = logfiles.read_whole(store.location, path).decode("utf-8")
        except (FileNotFoundError, UnicodeDecodeError):
            return None  # cleaned up meanwhile, or unreadable: do not guess
        try:
            actions = [json.loads(line) for line in taken.splitlines() if line.strip()]
        except ValueError:
            return None
        if any(isinstance(action, dict) and "remove" in action
               and unquote(str(action["remove"].get("path", ""))) in chosen for action in actions):
            return None
        version += 1
    return None


def _drop(location: Location, paths: list[str]) -> None:
    for path in paths:
        try:
            location.fs.delete_file(path)
        except OSError:
            pass  # vacuum removes it later (an unreferenced data file older than the retention)


def put_if_absent(location: Location, path: str, data: bytes, durable: bool = True) -> bool:
    """Create ``path`` with ``data`` unless it exists (then False): the Delta commit rule.
    Locally a temp file hard-linked to its name (link never replaces), fsynced first if ``durable``
    (delta-rs's local store does not fsync its commits); on S3 a PUT with ``If-None-Match: *``
    (boto3: pyarrow's S3 filesystem cannot send that header)."""
    if not location.remote:
        folder = os.path.dirname(path)
        tmp = os.path.join(folder, f"_commit_{uuid.uuid4().hex}.json.tmp")
        with open(tmp, "wb") as out:
            out.write(data)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)
    from botocore.exceptions import ClientError

    bucket, _, key = path.partition("/")
    try:
        objects.client(location).put_object(Bucket=bucket, Key=key, Body=data, IfNoneMatch="*")
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
            return False
        raise


# -- vacuum --------------------------------------------------------------------------------------
def vacuum(store: Store, retention_hours: float, dry_run: bool = False) -> list[str]:
    """Delete data files that the newest table version does not use and that left it (their
    remove's deletionTimestamp), or were written if no log entry knows them (a crashed
    writer's), more than ``retention_hours`` ago (a float: delta-rs' vacuum takes whole hours).

    The table is loaded after the folder is listed, so a file a commit made current
    meanwhile is current in that load, or younger than the listing. ``dry_run`` deletes nothing.
    """
    location = store.location
    cutoff = time.time() - retention_hours * 3600
    listed = [info for info in location.fs.get_file_info(pafs.FileSelector(location.path(LOG_DIR)))
              if info.type == pafs.FileType.File and DATA_FILE.match(info.base_name)]
    if not listed:
        return []
    try:
        dt = store._fresh_table()
        current = {unquote(p) for p in pa.table(dt.get_add_actions(flatten=True)).column("path").to_pylist()}
    except DeltaError:
        return []  # an unreadable log: delete nothing
    removed_at = _tombstones(location)
    deleted = [] if dry_run else _old_commit_temps(location, cutoff)
    for info in listed:
        name = info.base_name
        if name in current:
            continue
        when = removed_at.get(name)
        age_from = when / 1000 if when is not None else (info.mtime.timestamp() if info.mtime else None)
        if age_from is None or age_from > cutoff:
            continue
        if dry_run:
            deleted.append(info.path)
            continue
        try:
            location.fs.delete_file(info.path)
            deleted.append(info.path)
        except FileNotFoundError:
            pass
    return deleted


def _old_commit_temps(location: Location, cutoff: float) -> list[str]:
    """Delete temporary commit files (``_commit_*.tmp``) a crash left in ``_delta_log``, once old."""
    deleted = []
    for info in location.fs.get_file_info(pafs.FileSelector(location.path(LOG_DIR, "_delta_log"))):
        if (COMMIT_TEMP.match(info.base_name) and info.mtime is not None and info.mtime.timestamp() <= cutoff):
            try:
                location.fs.delete_file(info.path)
                deleted.append(info.path)
            except FileNotFoundError:
                pass
    return deleted


def _tombstones(location: Location) -> dict[str, int]:
    """Data file name -> when a commit removed it (ms), from the log entries and checkpoints kept."""
    log_dir = location.path(LOG_DIR, "_delta_log")
    found: dict[str, int] = {}
    for info in location.fs.get_file_info(pafs.FileSelector(log_dir)):
        name = info.base_name
        try:
            if re.fullmatch(r"\d{20}\.json", name):
                with location.fs.open_input_stream(info.path) as stream:
                    lines = stream.read().decode("utf-8").splitlines()
                removes = [json.loads(line).get("remove") for line in lines if '"remove"' in line]
            elif ".checkpoint" in name and name.endswith(".parquet"):
                removes = pq.read_table(info.path, columns=["remove"], filesystem=location.fs)["remove"].to_pylist()
            else:
                continue
        except (OSError, ValueError, KeyError, pa.ArrowException):
            continue  # being written, or damaged: its files count as unknown (their mtime decides)
        for remove in removes:
            if remove and remove.get("path"):
                stamp = int(remove.get("deletionTimestamp") or 0)
                key = unquote(remove["path"])
                found[key] = max(found.get(key, 0), stamp)
    return found


# -- blobs ---------------------------------------------------------------------------------------
def referenced_blobs(store: Store) -> set[str]:
    """Every content_ref in the table's current data files (all rows of all versions live
    there), read with pyarrow projecting that one column: never from a query copy."""
    dt = store._fresh_table()
    files = [store.location.fs_path(uri) for uri in dt.file_uris()]
    if not files:
        return set()
    column = pq.read_table(files, columns=["content_ref"], filesystem=store.location.fs)["content_ref"]
    return {ref for ref in pc.unique(column.drop_null()).to_pylist()}


@dataclass(frozen=True)
class Collected:
    """What one garbage collection dropped (or, in a dry run, would drop)."""

    blobs: list[str] = field(default_factory=list)
    chunks: list[str] = field(default_factory=list)
    manifests: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    """Stored bytes of everything dropped (compressed chunks count as stored)."""
    chunk_gc_skipped: str | None = None
    """Why no chunk was dropped although some might be unreferenced (a referenced manifest was unreadable)."""


def collect_blobs(store: Store, retention_hours: float) -> list[str]:
    """Drop unreferenced content (see ``collect``); return the whole-file blobs dropped."""
    return collect(store, retention_hours).blobs


def collect(store: Store, retention_hours: float, dry_run: bool = False,
            planned: set[tuple[str, int]] | None = None) -> Collected:
    """Delete content no op row references whose last write or reuse is older than the
    retention: whole-file blobs, chunk manifests, and chunks no referenced manifest lists; and
    temp files as old. Names are checked (64 hex digits) before anything is deleted.

    Listing first, then reachability (content_refs read from the Delta table's data files, then
    the manifests they name): an object listed as old and committed since is referenced. A
    writer that reuses an object refreshes its mtime first (``ChunkStore.put_chunk``); locally a
    doomed object is re-checked, renamed aside, re-checked and only then deleted, so a reuse
    that touched it survives, and a reuse after the rename finds nothing and writes it anew.
    (A reuse in the microseconds between the re-check and the rename hides the object until the
    GC puts it back: a read in that moment retries, see ``ChunkStore._get``.) If a referenced
    manifest cannot be read, no chunk is deleted. Versions a retention policy expired more than
    ``retention_hours`` ago reference nothing (retention.live_refs); ``planned``: a dry run's
    expiries, counted as if committed.
    """
    from .chunks import CHUNK_DIR, MANIFEST_DIR, is_manifest_ref
    from .retention import live_refs

    location = store.location
    cutoff = time.time() - retention_hours * 3600
    folders = (BLOB_DIR, MANIFEST_DIR, CHUNK_DIR)
    if not location.remote:
        for folder in folders:  # a GC killed between its rename and delete: put the object back first
            for info in _files(store, folder):
                if info.base_name.startswith(GC_PREFIX):
                    name = info.base_name[len(GC_PREFIX):].split(".", 1)[0]
                    if BLOB_NAME.match(name):
                        os.replace(info.path, location.path(folder, name))
    listed = {folder: _files(store, folder) for folder in folders}
    refs = live_refs(store, cutoff, planned)
    manifests = {ref for ref in refs if is_manifest_ref(ref)}
    chunks: set[str] = set()
    skipped = None

    def listed_by(ref: str) -> list[tuple[str, int]] | CorruptPondError:
        try:
            return store.chunks.read_manifest(ref, ref.rsplit("/", 1)[1])
        except CorruptPondError as exc:
            return exc

    with ThreadPoolExecutor(DELETE_THREADS) as pool:  # small reads that wait on storage: overlap them
        for ref, found in zip(sorted(manifests), pool.map(listed_by, sorted(manifests)), strict=True):
            if isinstance(found, CorruptPondError):
                skipped = f"{ref} is unreadable ({found}): run check()"
                break
            chunks.update(chunk_id for chunk_id, _ in found)
    freed = [0]
    blobs = _sweep(store, BLOB_DIR, listed[BLOB_DIR], {ref.rsplit("/", 1)[1] for ref in refs}, cutoff, dry_run, freed)
    dropped_manifests = _sweep(store, MANIFEST_DIR, listed[MANIFEST_DIR], {ref.rsplit("/", 1)[1] for ref in manifests},
                               cutoff, dry_run, freed)
    dropped_chunks = [] if skipped else _sweep(store, CHUNK_DIR, listed[CHUNK_DIR], chunks, cutoff, dry_run, freed)
    return Collected(blobs, dropped_chunks, dropped_manifests, freed[0], skipped)


def _files(store: Store, folder: str) -> list[pafs.FileInfo]:
    selector = pafs.FileSelector(store.location.path(folder), allow_not_found=True)
    return [info for info in store.location.fs.get_file_info(selector) if info.type == pafs.FileType.File]


def _sweep(store: Store, folder: str, infos: list[pafs.FileInfo], keep: set[str], cutoff: float, dry_run: bool,
           freed: list[int]) -> list[str]:
    """Delete the objects of ``folder`` not in ``keep`` and last written before ``cutoff``."""
    location = store.location
    fs = location.fs
    dropped: list[str] = []
    doomed: list[pafs.FileInfo] = []
    for info in infos:
        name = info.base_name
        if info.mtime is None or info.mtime.timestamp() > cutoff:
            continue
        if name.startswith(".tmp-"):  # a write a crash interrupted
            if not dry_run:
                _delete(fs, info.path)
            dropped.append(f"{folder}/{name}")
            freed[0] += info.size or 0
            continue
        if not BLOB_NAME.match(name) or name in keep:
            continue
        if dry_run:
            dropped.append(f"{folder}/{name}")
            freed[0] += info.size or 0
            continue
        if location.remote:
            fresh = fs.get_file_info(info.path)
            if fresh.type == pafs.FileType.File and fresh.mtime is not None and fresh.mtime.timestamp() <= cutoff:
                _delete(fs, info.path)
                dropped.append(f"{folder}/{name}")
                freed[0] += info.size or 0
            continue
        doomed.append(info)
    if doomed:  # each object on its own: the system calls wait on the disk, so threads overlap them
        with ThreadPoolExecutor(DELETE_THREADS) as pool:
            gone = list(pool.map(lambda info: _drop_local(location, folder, info, cutoff), doomed))
        for info, went in zip(doomed, gone, strict=True):
            if went:
                dropped.append(f"{folder}/{info.base_name}")
                freed[0] += info.size or 0
    return dropped


def _drop_local(location: Location, folder: str, info: pafs.FileInfo, cutoff: float) -> bool:
    """Delete a local object unless it was reused: re-checked, renamed aside, re-checked, then
    unlinked (see ``collect``). True if it went."""
    aside = location.path(folder, f"{GC_PREFIX}{info.base_name}.{uuid.uuid4().hex}")
    try:
        if os.stat(info.path).st_mtime > cutoff:  # reused since the listing: keep it, never hide it
            return False
        os.rename(info.path, aside)
    except FileNotFoundError:
        return False
    if os.stat(aside).st_mtime > cutoff:  # reused (touched) before the rename: keep it
        os.replace(aside, info.path)
        return False
    os.unlink(aside)
    return True


def _delete(fs: pafs.FileSystem, path: str) -> None:
    try:
        fs.delete_file(path)
    except FileNotFoundError:
        pass
