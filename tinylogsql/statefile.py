"""The file format of a persisted state snapshot: one Arrow IPC file, memory-mapped on a local disk.

Why IPC rather than Parquet: opening a pond at 1M entries spent 2.4 s decoding its Parquet
snapshot (one row group, strings rebuilt, parent_id dictionary-encoded again), and every byte of
it (inline content, sha256, node ids: ~280 MB) then sat in the process's anonymous memory. An IPC
file is the Arrow columns as they lie in memory: mapped, the state's columns point into the page
cache, opening reads only the pages a check or lookup touches, and the columns a read never asks
for (content, sha256 of files nobody reads) cost no resident memory until then. ``kind`` and
``parent_id`` are stored dictionary-encoded, as a base holds them (see state.ENCODED).
On object storage the file is zstd-compressed (it is fetched whole, in one GET, anyway).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

SUFFIX = ".arrow"


def encode(table: pa.Table, metadata: dict[bytes | str, bytes | str], compress: bool = False) -> pa.Buffer:
    """The snapshot file's bytes: ``table`` with ``metadata`` on its schema; uncompressed for a
    local disk (to be mapped), zstd-compressed buffers for object storage, where the reader
    fetches the whole file anyway and a byte over the wire costs more than decompressing it."""
    table = table.replace_schema_metadata(metadata)
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression="zstd" if compress else None)
    with pa.ipc.new_file(sink, table.schema, options=options) as writer:
        writer.write_table(table, max_chunksize=max(1, table.num_rows))  # one batch: columns stay contiguous
    return sink.getvalue()


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
