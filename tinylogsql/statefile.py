"""The file format of a persisted state snapshot: one Arrow IPC file, memory-mapped on a local disk.

Why IPC rather than Parquet: opening a pond at 1M entries spent 2.4 s decoding its Parquet
snapshot (one row group, strings rebuilt, parent_id dictionary-encoded again), and every byte of
it (inline content, sha256, node ids: ~280 MB) then sat in the process's anonymous memory. An IPC
file is the Arrow columns as they lie in memory: mapped, the state's columns point into the page
cache, opening reads only the pages a check or lookup touches, and the columns a read never asks
for (content, sha256 of files nobody reads) cost no resident memory until then. ``kind`` and
``parent_id`` are stored dictionary-encoded, as a base holds them (see state.ENCODED).
On object storage the file is zstd-compressed (it is fetched whole, in one GET, anyway).
``Snapshots`` names, writes, finds and prunes them.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from . import objects
from .location import Location

SUFFIX = ".arrow"


def encode(table: pa.Table, metadata: dict[bytes | str, bytes | str], compress: bool = False) -> pa.Buffer:
    """The snapshot file's bytes: ``table`` with ``metadata`` on its schema; uncompressed for a
    local disk (to be mapped), zstd-compressed buffers for object storage, where the reader
    fetches the whole file anyway and a byte over the wire costs more than decompressing it."""
    sink = pa.BufferOutputStream()
    write_to(sink, table, metadata, compress)
    return sink.getvalue()


def write_to(sink: Any, table: pa.Table, metadata: dict[bytes | str, bytes | str], compress: bool = False) -> None:
    """Write the snapshot file to ``sink`` (a stream: a local file is written as it is encoded,
    never held whole in memory, which cost one more copy of the state at the peak of a persist)."""
    table = table.replace_schema_metadata(metadata)
    options = pa.ipc.IpcWriteOptions(compression="zstd" if compress else None)
    with pa.ipc.new_file(sink, table.schema, options=options) as writer:
        writer.write_table(table, max_chunksize=max(1, table.num_rows))  # one batch: columns stay contiguous


def read(fs: pafs.FileSystem, path: str, data: Any = None) -> pa.Table:
    """The table of a snapshot file: mapped from a local disk, else from ``data`` (its bytes,
    fetched by the caller in one request) or a stream of it. Zero-copy either way."""
    if data is not None:
        source: Any = pa.BufferReader(pa.py_buffer(data))
    elif isinstance(fs, pafs.LocalFileSystem):
        source = pa.memory_map(path, "r")
    else:
        with fs.open_input_file(path) as stream:
            source = pa.BufferReader(stream.read_buffer())
    return pa.ipc.open_file(source).read_all()


STATE_DIR = "state"
"""Persisted state snapshots (a cache of the `nodes` view at a version), beside the table."""
STATE_FORMAT = 2
"""2: an Arrow IPC file, memory-mapped (this module); 1 was Parquet (passed over: rebuilt once)."""
STATE_LABEL = "tinylogsql.state"
STATE_SEGMENTS = "tinylogsql.segments"
_NAME = re.compile(rf"v(\d{{20}}){re.escape(SUFFIX)}")


class Snapshots:
    """The persisted state snapshots of one pond, in ``state/`` beside its Delta table."""

    def __init__(self, location: Location, table_id: Callable[[], str]) -> None:
        self.location = location
        self._table_id = table_id  # the Delta table's id, read when needed (it costs a metadata read)

    def path(self, version: int) -> str:
        return self.location.path(STATE_DIR, f"v{version:020d}{SUFFIX}")

    def write(self, table: pa.Table, version: int, table_id: str | None = None,
              segments: list[int] | None = None) -> str:
        """Persist the state at ``version`` (rows in key order, plus ``node_order``: row positions
        in node_id order) as ``state/v<version>.arrow``.

        It is a cache derived from the log, written whole in one step (temp file + rename, or
        one PUT), and labelled with the table id, the version and its row count, so a reader
        can tell a snapshot that does not belong to this table or is incomplete. ``segments``: the
        row counts of the sorted runs the rows are, one after the other (default: one).
        """
        table_id = self._table_id() if table_id is None else table_id  # (given by a background writer)
        label = {"format": STATE_FORMAT, "table_id": table_id, "version": version, "rows": table.num_rows}
        metadata = {STATE_LABEL: json.dumps(label)}
        if segments is not None and len(segments) > 1:
            metadata[STATE_SEGMENTS] = json.dumps(segments)
        path = self.path(version)
        self.location.fs.create_dir(self.location.path(STATE_DIR), recursive=True)
        if self.location.remote:  # compressed in memory, then one PUT
            self.location.write_atomic(path, encode(table, metadata, compress=True))
        else:
            self.location.write_atomic(path, lambda out: write_to(out, table, metadata))
        return path

    def versions(self) -> list[int]:
        """Versions of the persisted state snapshots, oldest first."""
        selector = pafs.FileSelector(self.location.path(STATE_DIR), allow_not_found=True)
        found = (_NAME.fullmatch(info.base_name) for info in self.location.fs.get_file_info(selector))
        return sorted(int(match.group(1)) for match in found if match)

    def read(self, upto: int) -> tuple[int, pa.Table] | None:
        """The newest persisted state at a version <= ``upto`` whose label matches this table,
        or None. A snapshot that is unreadable or labelled for another table is passed over."""
        for version in reversed(self.versions()):
            if version > upto:
                continue
            try:
                path = self.path(version)  # remote: one GET (pyarrow's reader: a HEAD, then ranges)
                data = objects.get(self.location, path) if self.location.remote else None
                table = read(self.location.fs, path, data)
                label = json.loads((table.schema.metadata or {}).get(STATE_LABEL.encode(), b"{}"))
            except (OSError, pa.ArrowInvalid, ValueError):
                continue
            expected = {"format": STATE_FORMAT, "table_id": self._table_id(), "version": version,
                        "rows": table.num_rows}
            if label == expected:
                return version, table
        return None

    @staticmethod
    def segments(table: pa.Table) -> list[int] | None:
        """Row counts of a snapshot's sorted segments (None: it is one)."""
        found = (table.schema.metadata or {}).get(STATE_SEGMENTS.encode())
        try:
            sizes = json.loads(found) if found else None
        except ValueError:
            return None
        return sizes if isinstance(sizes, list) and all(isinstance(size, int) for size in sizes) else None

    def prune(self, keep: int) -> list[str]:
        """Delete all but the ``keep`` newest state snapshots (and temp files a crash left)."""
        versions = self.versions()
        doomed = [self.path(version) for version in versions[: max(0, len(versions) - keep)]]
        selector = pafs.FileSelector(self.location.path(STATE_DIR), allow_not_found=True)
        stale = time.time() - 3600  # a temp file an hour old is no write in progress
        doomed += [info.path for info in self.location.fs.get_file_info(selector)
                   if (info.base_name.startswith(".tmp-") and info.mtime is not None and info.mtime.timestamp() < stale)
                   or re.fullmatch(r"v\d{20}\.parquet", info.base_name)]  # format 1's, never read again
        for path in doomed:
            try:
                self.location.fs.delete_file(path)
            except FileNotFoundError:
                pass  # another maintainer pruned it first
        return doomed
