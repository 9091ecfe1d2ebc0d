"""A writer's state served from the snapshot it just persisted, memory-mapped, instead of its own copy.

A writer's merged base sat in anonymous memory for as long as it was the base (about 300 B an
entry: 3 GB at 10M entries), though an identical copy lay in the snapshot file it had just written.
Once written, the file is mapped and each persisted segment takes its columns from it: the same
values at the same positions, so a reader on another thread that still holds an old array reads
the same thing. The anonymous copy is freed; the mapped pages are page cache, read in when used
and dropped under pressure without writing. Local files only (on object storage nothing is mapped).
Linux keeps a mapped file readable after a later prune deletes it.
"""

from __future__ import annotations

from concurrent.futures import Future

import pyarrow as pa

from .segments import release_memory
from .state import STATE_SCHEMA, Base
from .statefile import Snapshots, read
from .store import Store

CHECKED = 64
"""Node ids compared between each segment and its slice of the file before it is adopted."""


def persist(store: Store, future: Future[Base] | list[Base], version: int, table_id: str) -> None:
    """Write the base at ``version`` (the merge's result, or the sorted segments given) as the
    snapshot, then serve those segments from the mapped file."""
    bases = [future.result()] if isinstance(future, Future) else future
    table, sizes = Base.persisted_all(bases)
    path = store.states.write(table, version, table_id, sizes)
    del table
    if not store.location.remote:
        adopt([base for base in bases if base.rows] or bases[:1], store, path, sizes)


def adopt(bases: list[Base], store: Store, path: str, sizes: list[int]) -> bool:
    """Point ``bases`` (the segments persisted, in order) at their columns in the file at ``path``;
    False (nothing changed) unless the file holds exactly them."""
    try:
        mapped = read(store.location.fs, path)
    except (OSError, pa.ArrowInvalid):
        return False
    if mapped.num_rows != sum(sizes) or (Snapshots.segments(mapped) or [mapped.num_rows]) != sizes:
        return False  # (another writer's snapshot of the same version, laid out otherwise)
    parts, start = [], 0
    for base in bases:
        part = mapped.slice(start, base.rows)
        start += base.rows
        if not _same(base, part):
            return False
        parts.append(part)
    for base, part in zip(bases, parts, strict=True):
        base.adopt(part)
    release_memory()
    return True


def _same(base: Base, part: pa.Table) -> bool:
    """Do the columns match in type, and the node ids at CHECKED positions?"""
    if part.num_rows != base.rows or any(part.schema.field(name).type != base.columns[name].type
                                         for name in STATE_SCHEMA.names):
        return False
    picks = pa.array(sorted({i * (base.rows - 1) // max(1, CHECKED - 1) for i in range(min(base.rows, CHECKED))}),
                     pa.int64())
    return bool(part.column("node_id").take(picks).equals(pa.chunked_array([base.columns["node_id"].take(picks)])))
