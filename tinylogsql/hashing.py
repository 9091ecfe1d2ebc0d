"""sha256 of many contents at once, for the bulk path (bulk.py; sync and put reach it through it).

Small contents are bound by per-call overhead, not bytes: hashlib costs ~0.5 us a call plus a
Python bytes object per content, while DuckDB's vectorised ``sha256`` hashes an Arrow column in
place on all cores (measured ~0.25 us CPU per 16-byte content against ~0.5 us). Per byte,
OpenSSL (hashlib) is faster and releases the GIL from 2 KiB on, so larger contents are hashed
by hashlib in a few threads.
"""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .views import sql_text

SMALL = 1024
"""Contents shorter than this many bytes are hashed by DuckDB (when there are enough of them)."""
DUCKDB_MIN = 2048
"""Fewer small contents than this are hashed by hashlib: a DuckDB query costs a few milliseconds."""
THREADS = 2
"""Threads hashing larger contents with hashlib (which releases the GIL for more than 2 KiB)."""
THREADED_BYTES = 1 << 20
"""Larger contents totalling less than this are hashed on the calling thread."""

_lock = threading.Lock()
_connection: duckdb.DuckDBPyConnection | None = None


def _duckdb_small(content: pa.Array) -> pa.Array:
    """Hex sha256 of the contents shorter than SMALL (null elsewhere), by DuckDB in one query."""
    global _connection
    with _lock:  # one private in-memory database, one query at a time
        if _connection is None:  # one thread: the answer comes as one array, not 8 to join (a copy of
            _connection = duckdb.connect(config={"threads": 1})  # 64 B a row), and a bulk load
        _connection.register("contents", pa.table({"content": content}))  # hashes beside its own work
        try:
            query = _connection.sql(sql_text("sha256"), params={"small": SMALL})
            result = query.to_arrow_table(max(len(content), 1)).column("sha256")
        finally:
            _connection.unregister("contents")
    result = result.chunk(0) if result.num_chunks == 1 else result.combine_chunks()
    return result if result.type == pa.string() else pc.cast(result, pa.string())


def _hexdigests(values: list[bytes]) -> list[str]:
    sha = hashlib.sha256
    return [sha(value).hexdigest() for value in values]


def _hashlib(values: list[bytes], size: int) -> list[str]:
    """Hex sha256 of each value: a few threads when there are many bytes, else on this thread."""
    if size < THREADED_BYTES or len(values) < 2:
        return _hexdigests(values)
    step = -(-len(values) // THREADS)
    with ThreadPoolExecutor(THREADS) as pool:
        parts = pool.map(_hexdigests, [values[start:start + step] for start in range(0, len(values), step)])
        return [digest for part in parts for digest in part]


def sha256_hex(content: pa.Array) -> pa.Array:
    """The hex sha256 of every value of a binary array (a null stays null), as a string array."""
    content = content.combine_chunks() if isinstance(content, pa.ChunkedArray) else content
    count = len(content)
    if not count:
        return pa.array([], pa.string())
    lengths = pc.binary_length(content)
    small = pc.fill_null(pc.less(lengths, SMALL), False)
    if (pc.sum(small).as_py() or 0) < DUCKDB_MIN:
        size = pc.sum(lengths).as_py() or 0
        if not content.null_count:
            return pa.array(_hashlib(content.to_pylist(), size), pa.string())
        present = content.is_valid()
        digests = np.full(count, None, dtype=object)
        digests[present.to_numpy(zero_copy_only=False)] = _hashlib(content.filter(present).to_pylist(), size)
        return pa.array(digests, pa.string())
    result = _duckdb_small(content)
    rest = pc.and_(pc.invert(small), content.is_valid())  # larger contents (nulls stay null)
    if not pc.any(rest).as_py():
        return result
    values = content.filter(rest).to_pylist()
    larger = _hashlib(values, sum(map(len, values)))
    return pc.replace_with_mask(result, rest, pa.array(larger, pa.string()))
