"""The version-keyed current-state cache: what lookups, listings and file reads are served from.

The state at version V is the `nodes` view (sql/nodes.sql) at V plus each file's current
content, and nothing else: it is built by that view (sql/state.sql) or read from a snapshot
that view wrote (``Store.states.write``), then moved forward commit by commit with ``apply``,
the same rule the view computes (tests and ``pond.check()`` compare the two).

Here: the rows (NodeRow) and the *base*, an Arrow table sorted by (parent_id, name) so a
directory's entries are one contiguous slice; lookups bisect it in place (no per-row Python
objects, about 20 us at 1M entries). segments.py keeps the nodes changed since in layers and
merges them into new bases (State).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import prefold
from .nodeorder import distinct_order, id_key, id_keys


class NodeRow(NamedTuple):
    """One node's current state, as the `nodes` view and the state cache give it."""

    node_id: str
    kind: str
    parent_id: str
    name: str
    size: int | None
    sha256: str | None
    target: str | None
    created: datetime | None
    created_version: int | None
    modified: datetime | None
    version: int | None
    content_version: int | None
    content_seq: int | None


NODE_COLUMNS = ", ".join(NodeRow._fields)
STATE_SCHEMA = pa.schema([
    pa.field("node_id", pa.string()),
    pa.field("kind", pa.string()),
    pa.field("parent_id", pa.string()),
    pa.field("name", pa.string()),
    pa.field("size", pa.int64()),
    pa.field("sha256", pa.string()),
    pa.field("target", pa.string()),
    pa.field("created", pa.timestamp("us")),
    pa.field("created_version", pa.int64()),
    pa.field("modified", pa.timestamp("us")),
    pa.field("version", pa.int64()),
    pa.field("content_version", pa.int64()),
    pa.field("content_seq", pa.int32()),
    pa.field("content", pa.binary()),
    pa.field("content_ref", pa.string()),
])
"""The state's columns: a NodeRow, then the current content (inline bytes or blob reference)."""

ENCODED = ("kind", "parent_id")
"""Columns a base holds dictionary-encoded: a directory's entries share their parent_id (36 bytes
a row as a string, 4 as an index; 1,000 directories at 1M entries), and there are three kinds."""
Content = tuple[bytes | None, str | None]
Entry = tuple[str, str, str]
"""(name, kind, node_id): a directory entry, as listings that build no rows give it."""


class Listing(Sequence[Entry]):
    """A directory's entries as three columns (names, kinds, node ids) sorted by name, still a
    sequence of Entry: a listing of handles reads the columns and builds no tuple per entry."""

    __slots__ = ("kinds", "names", "node_ids")

    def __init__(self, names: list[str], kinds: list[str], node_ids: list[str]) -> None:
        self.names, self.kinds, self.node_ids = names, kinds, node_ids

    @classmethod
    def of(cls, entries: Sequence[Entry]) -> Listing:
        """The columns of entries given as tuples."""
        if isinstance(entries, Listing):
            return entries
        if not entries:
            return cls([], [], [])
        names, kinds, node_ids = map(list, zip(*entries, strict=True))
        return cls(names, kinds, node_ids)

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return list(zip(self.names[index], self.kinds[index], self.node_ids[index], strict=True))
        return self.names[index], self.kinds[index], self.node_ids[index]

    def __iter__(self) -> Iterator[Entry]:
        return zip(self.names, self.kinds, self.node_ids, strict=True)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]  (mutable columns, like a list)


def repeats(values: pa.Array | pa.ChunkedArray, order: pa.Array | None = None) -> bool:
    """Does any value occur twice? Sorted neighbours compared (``order``: the sort indices, if
    already known): count_distinct (hashing every value) measured 4-5x slower on 300k strings."""
    if len(values) < 2:
        return False
    ordered = values.take(pc.sort_indices(values) if order is None else order)
    return bool(pc.any(pc.equal(ordered.slice(1), ordered.slice(0, len(values) - 1))).as_py())


def created_rows(ops: pa.Table) -> pa.Table | None:
    """``created_rows_of(ops)``, taken from the fold a large commit ran beside its write (prefold.py)."""
    prepared = prefold.created(ops)
    return created_rows_of(ops) if prepared is prefold.MISS else prepared


def created_rows_of(ops: pa.Table) -> pa.Table | None:
    """State rows for op rows that only create distinct nodes (each op is its node's state as
    it stands, as `nodes` computes it), built column-wise; None if any op does more. Their
    ``node_order`` comes along: the sort that proves the node ids distinct is the one a segment
    of them needs for lookups by node (``Base.sorted`` carries it over its own reordering)."""
    if not ops.num_rows:
        return STATE_SCHEMA.empty_table()
    if not pc.all(pc.equal(ops["op"], "create")).as_py():
        return None
    distinct, order = distinct_order(ops["node_id"])  # (the ids' numeric form: ~10x cheaper than sorting strings)
    if not distinct:
        return None
    return state_rows(ops).append_column("node_order", order)


def state_rows(ops: pa.Table) -> pa.Table:
    """The state rows of op rows that create distinct nodes (as ``created_rows_of``, unchecked and
    without their node order)."""
    return pa.table({
        **{name: ops[name] for name in ("node_id", "kind", "parent_id", "name", "size", "sha256", "target")},
        "created": ops["ts"], "created_version": ops["version"], "modified": ops["ts"], "version": ops["version"],
        "content_version": ops["version"], "content_seq": ops["seq"],
        "content": ops["content"], "content_ref": ops["content_ref"],
    }, schema=STATE_SCHEMA)


class _Column:
    """An Arrow array seen as a sequence of Python values, so ``bisect`` can search it in place."""

    __slots__ = ("array",)

    def __init__(self, array: pa.Array) -> None:
        self.array = array

    def __getitem__(self, index: int) -> Any:
        return self.array[index].as_py()

    def __len__(self) -> int:
        return len(self.array)


def column_values(array: pa.Array) -> list[Any]:
    """Python values of a column; timestamps converted once per distinct value (a listing's
    entries mostly share a few commit times, and datetime creation dominates otherwise).
    A dictionary column maps its indices (its own to_pylist builds a scalar per row: 30x slower)."""
    if pa.types.is_dictionary(array.type):
        encoded = array
    elif not pa.types.is_timestamp(array.type) or len(array) < 64:
        return array.to_pylist()
    else:
        encoded = pc.dictionary_encode(array)
    values = encoded.dictionary.to_pylist()
    return [None if i is None else values[i] for i in encoded.indices.to_pylist()]


class Base:
    """The state at one version, as an Arrow table sorted by (parent_id, name).

    ``ranges`` maps each directory to the slice holding its entries; ``order`` lists row
    positions by node_id, for point lookups of a node.
    """

    def __init__(self, table: pa.Table, node_order: pa.Array | None = None) -> None:
        self.columns = {field.name: _column(table.column(field.name), field.type) for field in STATE_SCHEMA}
        for name in ENCODED:  # few distinct values: an index per row instead of the string
            if not pa.types.is_dictionary(self.columns[name].type):  # (a snapshot holds them encoded)
                self.columns[name] = pc.dictionary_encode(self.columns[name])
        self.rows = table.num_rows
        self._row_columns = [self.columns[name] for name in NodeRow._fields]
        self._names = _Column(self.columns["name"])
        self._node_ids = self.columns["node_id"]
        parents = self.columns["parent_id"]
        runs = pc.run_end_encode(parents.indices) if self.rows else None
        self.ranges: dict[str, tuple[int, int]] = {}
        if runs is not None:
            start = 0
            values = parents.dictionary.take(runs.values).to_pylist()
            for parent, end in zip(values, runs.run_ends.to_pylist(), strict=True):
                self.ranges[parent] = (start, end)
                start = end
        self._order = None if node_order is None else node_order.to_numpy()
        self._keys: tuple[np.ndarray, np.ndarray | None] | None = None  # (order, its ids' keys in that order)

    def adopt(self, table: pa.Table) -> None:
        """Take the columns from ``table``, which holds the same rows in the same order (the
        snapshot this base was persisted to, mapped: see mapped.py). Every array is swapped for
        an equal one, so a read on another thread sees the same values whichever it holds."""
        columns = {name: _one_array(table.column(name)) for name in STATE_SCHEMA.names}
        self._row_columns = [columns[name] for name in NodeRow._fields]
        self._names, self._node_ids = _Column(columns["name"]), columns["node_id"]
        self.columns = columns

    @property
    def node_order(self) -> pa.Array:
        """Row positions in node_id order (computed on the first lookup by node, or persisted)."""
        if self._order is None:
            self._order = pc.sort_indices(self._node_ids).to_numpy()
        return pa.array(self._order)

    @classmethod
    def checked(cls, table: pa.Table) -> Base:
        """A base from rows that should already be in order, with their node order (a persisted
        snapshot): both verified in vectorised passes over neighbouring rows, and rebuilt if wrong."""
        if not _key_ordered(_one_array(table.column("parent_id")), table.column("name")):
            return cls.sorted(table.select(STATE_SCHEMA.names))  # (its node order is not trusted either)
        order = _one_array(table.column("node_order")) if "node_order" in table.column_names else None
        if order is not None and not _order_plausible(order, table.column("node_id")):
            order = None
        return cls(table, order)

    @classmethod
    def sorted(cls, table: pa.Table) -> Base:
        """A base from rows in any order (the entry a name resolves to sorts first: newest, then
        node_id). A ``node_order`` column (positions in node_id order, as the rows come) is kept,
        moved to the new positions (a permutation inverted, no second sort)."""
        given = _one_array(table.column("node_order")) if "node_order" in table.column_names else None
        base, moved = cls.sorted_rows(table)
        if given is not None and len(given) == table.num_rows:
            base.keep_order(given, moved)
        return base

    @classmethod
    def sorted_rows(cls, table: pa.Table) -> tuple[Base, pa.Array | None]:
        """``sorted`` without the node order: the base and the positions its rows came from (None:
        as they came), for ``keep_order`` (prefold.py sorts while the node order is still computed)."""
        if not table.num_rows:
            return cls(table), None
        table = pa.table([table.column(field.name).cast(field.type) for field in STATE_SCHEMA],
                         schema=STATE_SCHEMA)  # (a snapshot's encoded columns decoded to sort)
        moved = grouped_order(table.column("parent_id"), table.column("name"))
        if moved is None:
            moved = pc.sort_indices(table, sort_keys=[("parent_id", "ascending"), ("name", "ascending"),
                                                      ("version", "descending"), ("node_id", "ascending")])
        elif moved is IN_ORDER:  # (a load of sorted paths into folders it made: batchops.directories)
            return cls(table), None
        return cls(table.take(moved)), moved

    def keep_order(self, given: pa.Array, moved: pa.Array | None) -> None:
        """Take ``given`` (node-order positions of the rows as they came) as this base's node order,
        its rows having come from positions ``moved`` (``sorted_rows``)."""
        if moved is None:
            self._order = given.to_numpy()
            return
        position = np.empty(self.rows, dtype=np.uint64)
        position[moved.to_numpy()] = np.arange(self.rows, dtype=np.uint64)  # old position -> new
        self._order = position[given.to_numpy()]

    def find(self, parent_id: str, name: str) -> int | None:
        span = self.ranges.get(parent_id)
        if span is None:
            return None
        index = bisect.bisect_left(self._names, name, *span)
        if index < span[1] and self._names[index] == name:
            return index
        return None

    def position(self, node_id: str) -> int | None:
        """The row holding ``node_id``: a binary search of the ids' numeric keys (nodeorder.py), ~1 us,
        where a bisect over the strings through Arrow scalars cost ~28 us at 1M rows."""
        if not self.rows:
            return None
        order = self._order
        if order is None:
            self.node_order  # noqa: B018 (computed on first use)
            order = self._order
            assert order is not None
        keys = self._ordered_keys(order)
        if keys is not None:
            key = id_key(node_id)
            if key is None:  # every id here is 32 hex digits: this one cannot be among them
                return None
            at = int(np.searchsorted(keys, np.uint64(key)))
            if at == self.rows or int(keys[at]) != key:
                return None
            if at + 1 == self.rows or int(keys[at + 1]) != key:  # one id with this key: it or none
                index = int(order[at])
                return index if self._node_ids[index].as_py() == node_id else None
        return self._bisect(order, node_id)  # (ids of other spellings, or two sharing their first 64 bits)

    def _ordered_keys(self, order: np.ndarray) -> np.ndarray | None:
        """The ids' keys in node order, computed once per node order (None: not every id is fresh)."""
        cached = self._keys
        if cached is None or cached[0] is not order:
            keys = id_keys(self._node_ids)
            cached = self._keys = (order, None if keys is None else keys[order])
        return cached[1]

    def _bisect(self, order: np.ndarray, node_id: str) -> int | None:
        ids = self._node_ids
        low, high = 0, self.rows
        while low < high:  # bisect over node ids through the sort order
            middle = (low + high) // 2
            if ids[int(order[middle])].as_py() < node_id:
                low = middle + 1
            else:
                high = middle
        if low < self.rows and ids[int(order[low])].as_py() == node_id:
            return int(order[low])
        return None

    def row(self, index: int) -> NodeRow:
        return NodeRow(*(column[index].as_py() for column in self._row_columns))

    def rows_of_kind(self, kind: str) -> list[NodeRow]:
        """Every row of ``kind``, gathered column by column (a row at a time cost 1.2 s for the
        9k directories of a 9M-entry mapped snapshot: a Python scalar and a page fault per cell)."""
        kinds = self.columns["kind"]  # compared on its indices: pc.equal on the dictionary array decodes every
        # row first (0.3 of a 0.45 s open at 1M entries, linear in the state)
        code = kinds.dictionary.index(kind).as_py()
        if code < 0:
            return []
        chosen = pc.indices_nonzero(pc.equal(kinds.indices, pa.scalar(code, kinds.indices.type)))
        columns = [column_values(column.take(chosen)) for column in self._row_columns]
        return list(map(NodeRow._make, zip(*columns, strict=True)))

    def node_id(self, index: int) -> str:
        return self._node_ids[index].as_py()

    def content(self, index: int, content_version: int | None, content_seq: int | None) -> Content | None:
        """The content at row ``index`` if that row's content pointer is the one asked for."""
        pointer = (self.columns["content_version"][index].as_py(), self.columns["content_seq"][index].as_py())
        if pointer != (content_version, content_seq):
            return None
        return self.columns["content"][index].as_py(), self.columns["content_ref"][index].as_py()

    def slice_rows(self, start: int, stop: int) -> list[NodeRow]:
        columns = [column_values(column.slice(start, stop - start)) for column in self._row_columns]
        return list(map(NodeRow._make, zip(*columns, strict=True)))

    def slice_names(self, start: int, stop: int) -> list[str]:
        return self.columns["name"].slice(start, stop - start).to_pylist()

    def slice_kinds(self, start: int, stop: int) -> Listing:
        """(name, kind, node_id) of rows start..stop as columns: two string columns decoded, the
        encoded kind taken through numpy from its few values (column_values built a list of indices
        and a Python lookup per row: 0.5 of the 1.4 ms of a 10k listing)."""
        count = stop - start
        kinds = self.columns["kind"].slice(start, count)
        values = np.empty(len(kinds.dictionary), dtype=object)
        values[:] = kinds.dictionary.to_pylist()
        return Listing(self.columns["name"].slice(start, count).to_pylist(),
                       values[kinds.indices.to_numpy(zero_copy_only=False)].tolist(),
                       self.columns["node_id"].slice(start, count).to_pylist())

    def persisted(self) -> pa.Table:
        """The rows as a snapshot stores them: encoded columns as held, plus ``node_order``."""
        return pa.table([*(self.columns[name] for name in STATE_SCHEMA.names), self.node_order],
                        names=[*STATE_SCHEMA.names, "node_order"])

    @staticmethod
    def persisted_all(bases: list[Base]) -> tuple[pa.Table, list[int]]:
        """Sorted segments (disjoint node sets) as one snapshot table, one after the other, and
        their row counts: nothing re-sorted. Encoded columns share one sorted dictionary, so each
        segment's slice checks and reads as its own base; ``node_order`` is per segment. Each
        segment is a chunk of its own (a record batch in the file), its columns as held: nothing
        concatenated (that was one more copy of the state at a persist's peak), and a segment
        read back is one chunk, so it is used in place."""
        bases = [base for base in bases if base.rows] or bases[:1]
        if len(bases) == 1:
            return bases[0].persisted(), [bases[0].rows]
        columns = []
        for name in STATE_SCHEMA.names:
            arrays = [base.columns[name] for base in bases]
            if name in ENCODED:
                shared = pc.unique(pa.concat_arrays([array.dictionary for array in arrays]))
                shared = shared.take(pc.sort_indices(shared))  # one object: the IPC file cannot replace it
                columns.append(pa.chunked_array([pa.DictionaryArray.from_arrays(
                    pc.index_in(array.dictionary, value_set=shared).cast(pa.int32()).take(array.indices), shared)
                    for array in arrays]))
            else:
                columns.append(pa.chunked_array(arrays))
        columns.append(pa.chunked_array([base.node_order for base in bases]))
        return pa.table(columns, names=[*STATE_SCHEMA.names, "node_order"]), [base.rows for base in bases]

    @classmethod
    def split_checked(cls, table: pa.Table, sizes: list[int] | None) -> list[Base]:
        """The bases of a snapshot table of sorted segments with ``sizes`` rows (None: one),
        each checked (see ``checked``)."""
        if sizes is None or len(sizes) < 2 or sum(sizes) != table.num_rows:
            return [cls.checked(table)]
        bases, start = [], 0
        for size in sizes:
            bases.append(cls.checked(table.slice(start, size)))
            start += size
        return bases

    def table(self) -> pa.Table:
        """The rows with STATE_SCHEMA's plain columns (encoded ones decoded: for merges and snapshots)."""
        columns = [self.columns[name].cast(STATE_SCHEMA.field(name).type) if name in ENCODED else self.columns[name]
                   for name in STATE_SCHEMA.names]
        return pa.table(columns, schema=STATE_SCHEMA)


def _one_array(column: pa.ChunkedArray) -> pa.Array:
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def _column(column: pa.ChunkedArray, kind: pa.DataType) -> pa.Array:
    """One contiguous array of type ``kind``; a dictionary of ``kind`` values is kept as it is."""
    array = _one_array(column)
    if pa.types.is_dictionary(array.type) and array.type.value_type == kind:
        return array
    return array if array.type == kind else array.cast(kind)


IN_ORDER = pa.array([], pa.uint64())
"""What ``grouped_order`` returns for rows in (parent_id, name) order already."""


def grouped_order(parents: pa.Array | pa.ChunkedArray, names: pa.Array | pa.ChunkedArray) -> pa.Array | None:
    """The (parent_id, name) sort order of rows that come grouped: each parent's rows in one run,
    names strictly ascending in it (a bulk load of sorted paths). Only the runs are sorted, by
    their parent (a few thousand strings instead of 1M rows by two string keys: ~0.09 s of CPU at
    1M). No two rows share a key, so the tie-breaks of the full sort never apply. IN_ORDER if the
    runs are in that order already; None if the rows are not grouped so."""
    rows = len(parents)
    if rows < 2 or parents.null_count or names.null_count:
        return None
    changed = pc.not_equal(parents.slice(1), parents.slice(0, rows - 1))
    if not pc.all(pc.or_(changed, pc.less(names.slice(0, rows - 1), names.slice(1)))).as_py():
        return None
    starts = np.concatenate(([0], np.flatnonzero(changed.to_numpy(zero_copy_only=False)) + 1))
    heads = parents.take(pa.array(starts))
    runs = pc.sort_indices(heads).to_numpy()
    ordered = heads.take(pa.array(runs))
    if len(runs) > 1 and not pc.all(pc.less(ordered.slice(0, len(runs) - 1), ordered.slice(1))).as_py():
        return None  # (a parent in two runs)
    if (runs[1:] > runs[:-1]).all():
        return IN_ORDER
    lengths = np.diff(np.append(starts, rows))[runs]
    first = starts[runs]  # each run's rows, runs in parent order: its start, then one step a row
    steps = np.ones(rows, dtype=np.int64)
    ends = np.cumsum(lengths)
    steps[0] = first[0]
    steps[ends[:-1]] = first[1:] - (first[:-1] + lengths[:-1] - 1)
    return pa.array(np.cumsum(steps))


def _key_ordered(parents: pa.Array, names: pa.ChunkedArray | pa.Array) -> bool:
    """Are rows in (parent_id, name) order? A dictionary-encoded parent_id whose dictionary is in
    ascending order (as encoding sorted rows makes it) is compared by its indices: integers."""
    if pa.types.is_dictionary(parents.type):
        if not _ascending(parents.dictionary):  # (strictly: no value twice)
            return False
        parents = parents.indices
    return _ascending(parents, names)


SAMPLED = 4096
"""Node-order positions a snapshot's check compares (all of them below this many rows)."""


def _order_plausible(order: pa.Array, node_ids: pa.ChunkedArray) -> bool:
    """Does ``order`` list row positions by ascending node_id? Checked at SAMPLED evenly spaced
    positions: a full check gathers every node id in random order (0.2 s and every page of the
    column at 1M entries); the snapshot's label already vouches for where it came from."""
    rows = len(order)
    if order.null_count or rows != len(node_ids):
        return False
    if rows == 0:
        return True
    if pc.max(order).as_py() >= rows:
        return False
    picks = order.take(pa.array(sorted({i * (rows - 1) // max(1, SAMPLED - 1) for i in range(min(rows, SAMPLED))})))
    return _ascending(node_ids.take(picks))


def _ascending(first: pa.ChunkedArray | pa.Array, then: pa.ChunkedArray | pa.Array | None = None) -> bool:
    """Are the rows in ascending (first, then) order, ties allowed only on the last key given?
    One vectorised comparison of each row with the next."""
    rows = len(first)
    if rows < 2:
        return True
    a0, a1 = first.slice(0, rows - 1), first.slice(1)
    if then is None:
        return bool(pc.all(pc.less(a0, a1)).as_py())
    b0, b1 = then.slice(0, rows - 1), then.slice(1)
    return bool(pc.all(pc.or_(pc.less(a0, a1), pc.and_(pc.equal(a0, a1), pc.less_equal(b0, b1)))).as_py())
