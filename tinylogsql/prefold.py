"""The fold of a large commit, computed on a thread while its Delta write runs.

A bulk load of 1M creates spent ~0.5 s writing its Delta data file and ~0.7 s after it folding the
rows into the state (``state.created_rows``, then ``Base.sorted`` for its segment). Both are
column work that releases the GIL (parquet, Arrow compute, numpy), so with two cores the fold's
pure part runs beside the write: ``overlapped(rows)`` starts it, and while the block runs the
committing thread's ``created_rows``/``sorted_segment`` take its results for exactly those rows
(same transaction, version, stamp time and row count). Nothing here touches the state or the store:
the state moves only when the engine folds after a successful write, so a failed or conflicting
write leaves both as they were, and a retry (restamped) computes afresh.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from .largepool import contiguous

if TYPE_CHECKING:
    from .state import Base

PREFOLD_ROWS = 50_000
"""Commits with at least this many rows fold on a thread while they are written (below, a thread
hand-off costs more than it saves)."""
SEGMENT_ROWS = 100_000
"""...and from this many created rows the sorted segment is built there too (segments.REBASE_AT:
fewer go into the active layer as rows, not a segment)."""

_pool = ThreadPoolExecutor(1, thread_name_prefix="tinylogsql-prefold")
_sorter = ThreadPoolExecutor(1, thread_name_prefix="tinylogsql-prefold-sort")
"""Sorts a large commit's segment beside ``_compute`` (its own pool: a task that waits for
another never waits behind itself)."""
_local = threading.local()
MISS = object()
"""What ``created`` returns for rows nothing was prepared for."""


class _Prepared:
    def __init__(self, key: tuple[Any, ...], future: Future[tuple[pa.Table | None, Base | None]]) -> None:
        self.key, self.future = key, future
        self.created: pa.Table | None = None
        self.segment: Base | None = None


def _key(rows: pa.Table) -> tuple[Any, ...]:
    """Which commit rows are: a stamped commit's txn_id, version and time are one value each."""
    if not rows.num_rows or "txn_id" not in rows.column_names:
        return (rows.num_rows,)
    return (rows.num_rows, *(rows.column(name)[0].as_py() for name in ("txn_id", "version", "ts")))


def _compute(rows: pa.Table) -> tuple[pa.Table | None, Base | None]:
    """The state rows and, for many, their sorted segment. The segment is sorted on a second
    thread while this one proves the node ids distinct and orders them (the two halves took about
    as long as the Delta write beside them each; together, they were what the commit waited for)."""
    from .state import Base, created_rows_of, state_rows

    half = None
    if rows.num_rows >= SEGMENT_ROWS and pc.all(pc.equal(rows["op"], "create")).as_py():
        half = _sorter.submit(lambda: Base.sorted_rows(contiguous(state_rows(rows))))  # (joined there)
    created = created_rows_of(rows)
    if created is None or created.num_rows < SEGMENT_ROWS or half is None:
        return created, None
    segment, moved = half.result()
    order = created.column("node_order")
    segment.keep_order(order.chunk(0) if order.num_chunks == 1 else order.combine_chunks(), moved)
    return created, segment


@contextmanager
def overlapped(rows: pa.Table) -> Iterator[None]:
    """Fold ``rows`` (a stamped commit) on a thread while the block writes and then folds them."""
    if rows.num_rows < PREFOLD_ROWS:
        yield
        return
    prepared = _Prepared(_key(rows), _pool.submit(_compute, rows))
    _local.prepared = prepared
    try:
        yield
    finally:
        _local.prepared = None
        prepared.future.cancel()  # (a write that failed: its fold is not wanted; if it runs, it is dropped)


def created(ops: pa.Table) -> Any:
    """The state rows prepared for ``ops`` on this thread (see ``state.created_rows``), or MISS."""
    prepared: _Prepared | None = getattr(_local, "prepared", None)
    if prepared is None or prepared.key != _key(ops):
        return MISS
    try:
        prepared.created, prepared.segment = prepared.future.result()
    except Exception:  # (it failed there: folding on this thread raises it, or does it)
        return MISS
    return prepared.created


def sorted_segment(created: pa.Table) -> Base:
    """``Base.sorted(created)``, built beside the write if ``created`` came from ``created``."""
    prepared: _Prepared | None = getattr(_local, "prepared", None)
    if prepared is not None and prepared.segment is not None and prepared.created is created:
        return prepared.segment
    from .state import Base

    return Base.sorted(created)
