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

import numpy as np
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
    def __init__(self, key: tuple[Any, ...], future: Future[tuple[pa.Table | None, list[Base] | None]]) -> None:
        self.key, self.future = key, future
        self.created: pa.Table | None = None
        self.segments: list[Base] | None = None


def _key(rows: pa.Table) -> tuple[Any, ...]:
    """Which commit rows are: a stamped commit's txn_id, version and time are one value each."""
    if not rows.num_rows or "txn_id" not in rows.column_names:
        return (rows.num_rows,)
    return (rows.num_rows, *(rows.column(name)[0].as_py() for name in ("txn_id", "version", "ts")))


def _pieces(rows: pa.Table) -> list[tuple[int, int]]:
    """The row ranges that become segments of their own: the two parts a load's rows come in (the
    folders it made, as per-op rows, then its bulk table) if so, else all of them. Each part's
    columns are one chunk already; joining them copied every column (~190 MB of fresh pages at 1M
    rows, ~0.1 s of CPU beside the write), and two sorted segments serve lookups as well as one."""
    chunks = rows.column("node_id").chunks
    if len(chunks) != 2:
        return [(0, rows.num_rows)]
    return [(0, len(chunks[0])), (len(chunks[0]), rows.num_rows)]


def _sorted_pieces(rows: pa.Table, spans: list[tuple[int, int]]) -> list[tuple[Base, pa.Array | None]]:
    from .state import Base, state_rows

    return [Base.sorted_rows(contiguous(state_rows(rows.slice(start, end - start)))) for start, end in spans]


def _compute(rows: pa.Table) -> tuple[pa.Table | None, list[Base] | None]:
    """The state rows and, for many, their sorted segments (see ``_pieces``). The segments are
    sorted on a second thread while this one proves the node ids distinct and orders them (the
    two halves took about as long as the Delta write beside them each; together, they were what
    the commit waited for)."""
    from .state import created_rows_of

    half = None
    spans = _pieces(rows)
    if rows.num_rows >= SEGMENT_ROWS and pc.all(pc.equal(rows["op"], "create")).as_py():
        half = _sorter.submit(_sorted_pieces, rows, spans)  # (joined there, if in more chunks)
    created = created_rows_of(rows)
    if created is None or created.num_rows < SEGMENT_ROWS or half is None:
        return created, None
    order = created.column("node_order")
    order = order.chunk(0) if order.num_chunks == 1 else order.combine_chunks()
    positions = order.to_numpy() if len(spans) > 1 else None
    segments = []
    for (start, end), (segment, moved) in zip(spans, half.result(), strict=True):
        if positions is not None:  # (the piece's own rows in node order, counted from its start)
            order = pa.array(positions[(positions >= start) & (positions < end)] - np.uint64(start))
        segment.keep_order(order, moved)
        segments.append(segment)
    return created, segments


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
        prepared.created, prepared.segments = prepared.future.result()
    except Exception:  # (it failed there: folding on this thread raises it, or does it)
        return MISS
    return prepared.created


def sorted_segments(created: pa.Table) -> list[Base]:
    """``[Base.sorted(created)]``, or the segments built beside the write if ``created`` came from
    ``created`` (two when the commit's rows came in two parts, see ``_pieces``)."""
    prepared: _Prepared | None = getattr(_local, "prepared", None)
    if prepared is not None and prepared.segments is not None and prepared.created is created:
        return prepared.segments
    from .state import Base

    return [Base.sorted(created)]
