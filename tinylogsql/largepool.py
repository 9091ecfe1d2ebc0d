"""Where a large commit's own column buffers are allocated: glibc's malloc, not Arrow's default pool.

Why: Arrow's default pool (mimalloc) asks for transparent huge pages on its 1 GiB arenas and hands
freed pages back to the OS within milliseconds, so each buffer of a 1M-row commit faults in fresh
2 MiB pages, zeroed and often compacted first: at 1M bulk creates the call spent 1.0-1.5 s of
system CPU, more than its user CPU. The same buffers from ``pa.system_memory_pool()`` cost about
a third of that (ordinary 4 KiB pages; big ones mapped and unmapped whole). Only the buffers this
library builds for a large commit come from there, passed call by call; the process's default
pool, which belongs to the user, is left alone. Small commits keep the default pool.
"""

from __future__ import annotations

import pyarrow as pa

LARGE_ROWS = 50_000
"""Commits of at least this many rows build their columns in POOL (as prefold.PREFOLD_ROWS)."""
POOL = pa.system_memory_pool()


def pool_for(rows: int) -> pa.MemoryPool | None:
    """The pool for the columns of a commit of ``rows`` rows (None: Arrow's default)."""
    return POOL if rows >= LARGE_ROWS else None


def contiguous(table: pa.Table) -> pa.Table:
    """``table`` with each column in one chunk, the columns in several joined in POOL (a large
    commit's rows: its per-op rows, e.g. the folders a bulk load made, come apart from its bulk
    table; state.Base joins what it is given in the default pool). A column too large for one
    array (over 2 GiB of inline content) is left as it is."""
    columns = []
    for column in table.columns:
        if column.num_chunks > 1:
            try:
                column = pa.chunked_array([pa.concat_arrays(column.chunks, memory_pool=POOL)])
            except pa.ArrowInvalid:  # (combine_chunks would ignore the pool)
                pass
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=table.schema)
