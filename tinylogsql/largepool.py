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

