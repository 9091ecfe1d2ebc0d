"""The version-keyed current-state cache: what lookups, listings and file reads are served from.

The state at version V is the `nodes` view (sql/nodes.sql) at V plus each file's current
content, and nothing else: it is built by that view (sql/state.sql) or read from a snapshot
that view wrote (``Store.write_state``), then moved forward commit by commit with ``apply``,
the same rule the view computes (tests and ``pond.check()`` compare the two).

It is held as a *base*, an Arrow table sorted by (parent_id, name) so a directory's entries
are one contiguous slice, plus an *overlay* of the nodes changed since the base was made.
Lookups bisect the base in place (no per-row Python objects, about 20 us at 1M entries);
the overlay is folded into a new base once it grows past a fraction of it.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from operator import attrgetter, itemgetter
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc


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

Content = tuple[bytes | None, str | None]
Entry = tuple[str, str, str]
"""(name, kind, node_id): a directory entry, as listings that build no rows give it."""
BULK_MIN = 10_000
"""A create-only commit of at least this many nodes (and a quarter of the base) makes a new base at once."""
REBASE_AT = 100_000
"""Fold the overlay into a new base once it holds this many nodes (or an eighth of the base)."""


def _same(item: Any) -> Any:
    return item


def repeats(values: pa.Array | pa.ChunkedArray) -> bool:
    """Does any value occur twice? Sorted neighbours compared: count_distinct (hashing every
    value) measured 4-5x slower on 300k strings."""
    if len(values) < 2:
        return False
    ordered = values.take(pc.sort_indices(values))
    return bool(pc.any(pc.equal(ordered.slice(1), ordered.slice(0, len(values) - 1))).as_py())


def created_rows(ops: pa.Table) -> pa.Table | None:
    """State rows for op rows that only create distinct nodes (each op is its node's state as
    it stands, as `nodes` computes it), built column-wise; None if any op does more."""
    if ops.num_rows and (not pc.all(pc.equal(ops["op"], "create")).as_py() or repeats(ops["node_id"])):
        return None
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
    entries mostly share a few commit times, and datetime creation dominates otherwise)."""
    if not pa.types.is_timestamp(array.type) or len(array) < 64:
        return array.to_pylist()
    encoded = pc.dictionary_encode(array)
    values = encoded.dictionary.to_pylist()
    return [None if i is None else values[i] for i in encoded.indices.to_pylist()]


class Base:
    """The state at one version, as an Arrow table sorted by (parent_id, name).

    ``ranges`` maps each directory to the slice holding its entries; ``order`` lists row
    positions by node_id, for point lookups of a node.
    """

    def __init__(self, table: pa.Table, node_order: pa.Array | None = None) -> None:
        table = table.select(STATE_SCHEMA.names).cast(STATE_SCHEMA)
        self.columns = {name: _one_array(table.column(name)) for name in STATE_SCHEMA.names}
        self.rows = table.num_rows
        self._row_columns = [self.columns[name] for name in NodeRow._fields]
        self._names = _Column(self.columns["name"])
        self._node_ids = self.columns["node_id"]
        runs = pc.run_end_encode(self.columns["parent_id"]) if self.rows else None
        self.ranges: dict[str, tuple[int, int]] = {}
        if runs is not None:
            start = 0
            for parent, end in zip(runs.values.to_pylist(), runs.run_ends.to_pylist(), strict=True):
                self.ranges[parent] = (start, end)
                start = end
        self._order = None if node_order is None else node_order.to_numpy()

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
        if not _ascending(table.column("parent_id"), table.column("name")):
            return cls.sorted(table)
        order = _one_array(table.column("node_order")) if "node_order" in table.column_names else None
        if order is not None and (order.null_count or not _ascending(pc.take(table.column("node_id"), order))):
            order = None
        return cls(table, order)

    @classmethod
    def sorted(cls, table: pa.Table) -> Base:
        """A base from rows in any order (the entry a name resolves to sorts first: newest, then node_id)."""
        if table.num_rows:
            table = table.sort_by([("parent_id", "ascending"), ("name", "ascending"),
                                   ("version", "descending"), ("node_id", "ascending")])
        return cls(table)

    def find(self, parent_id: str, name: str) -> int | None:
        span = self.ranges.get(parent_id)
        if span is None:
            return None
        index = bisect.bisect_left(self._names, name, *span)
        if index < span[1] and self._names[index] == name:
            return index
        return None

    def position(self, node_id: str) -> int | None:
        if not self.rows:
            return None
        self.node_order  # noqa: B018 (computed on first use)
        order, ids = self._order, self._node_ids
        assert order is not None
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
        chosen = pc.indices_nonzero(pc.equal(self.columns["kind"], kind)).to_pylist()
        return [self.row(index) for index in chosen]

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

    def slice_kinds(self, start: int, stop: int) -> list[Entry]:
        names, kinds, ids = (self.columns[name].slice(start, stop - start).to_pylist()
                             for name in ("name", "kind", "node_id"))
        return list(zip(names, kinds, ids, strict=True))

    def table(self) -> pa.Table:
        return pa.table(list(self.columns.values()), schema=STATE_SCHEMA)


def _one_array(column: pa.ChunkedArray) -> pa.Array:
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


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


class State:
    """The tree at ``version``: a sorted base plus the nodes changed since (the overlay).

    Overlay invariants: ``nodes[id]`` is a changed node's current row (None once removed) and
    ``keys[(parent, name)]`` the node now at a name a change touched (None once vacated), so a
    name absent from ``keys`` is answered by the base, and ``touched[parent]`` lists the names
    that make a directory's base slice stale.
    """

    def __init__(self, base: Base, version: int) -> None:
        self.base = base
        self.version = version
        self.nodes: dict[str, NodeRow | None] = {}
        self.keys: dict[tuple[str, str], str | None] = {}
        self.touched: defaultdict[str, set[str]] = defaultdict(set)
        self.contents: dict[str, Content] = {}

    def copy(self) -> State:
        """An independent state sharing the (immutable) base: what a new branch starts from."""
        twin = State(self.base, self.version)
        twin.nodes, twin.keys, twin.contents = dict(self.nodes), dict(self.keys), dict(self.contents)
        twin.touched = defaultdict(set, {parent: set(names) for parent, names in self.touched.items()})
        return twin

    @classmethod
    def from_table(cls, table: pa.Table, version: int) -> State:
        return cls(Base.sorted(table), version)

    @property
    def size(self) -> int:
        """Rows in the base plus nodes in the overlay (an upper bound on live nodes)."""
        return self.base.rows + len(self.nodes)

    # -- reads --------------------------------------------------------------------
    def lookup(self, parent_id: str, name: str) -> NodeRow | None:
        key = (parent_id, name)
        if key in self.keys:
            node_id = self.keys[key]
            return None if node_id is None else self.nodes[node_id]
        index = self.base.find(parent_id, name)
        return None if index is None else self.base.row(index)

    def node(self, node_id: str) -> NodeRow | None:
        if node_id in self.nodes:
            return self.nodes[node_id]
        index = self.base.position(node_id)
        return None if index is None else self.base.row(index)

    def content(self, node_id: str, content_version: int | None, content_seq: int | None) -> Content | None:
        """(inline content, blob reference) of a live file, if its current content is the op row
        (content_version, content_seq); None otherwise (an older row: ask the log)."""
        if node_id in self.nodes:
            row = self.nodes[node_id]
            if row is None or (row.content_version, row.content_seq) != (content_version, content_seq):
                return None
            return self.contents.get(node_id)
        index = self.base.position(node_id)
        return None if index is None else self.base.content(index, content_version, content_seq)

    def children(self, parent_id: str) -> list[NodeRow]:
        """A directory's entries, sorted by name."""
        start, stop = self.base.ranges.get(parent_id, (0, 0))
        return self._merge(parent_id, self.base.slice_rows(start, stop), _same, attrgetter("name"))

    def child_names(self, parent_id: str) -> list[str]:
        """Just the names of a directory's entries, sorted: no row is built."""
        start, stop = self.base.ranges.get(parent_id, (0, 0))
        return self._merge(parent_id, self.base.slice_names(start, stop), attrgetter("name"), _same)

    def child_kinds(self, parent_id: str) -> list[Entry]:
        """(name, kind, node_id) of a directory's entries, sorted by name: what handles need."""
        start, stop = self.base.ranges.get(parent_id, (0, 0))
        return self._merge(parent_id, self.base.slice_kinds(start, stop), attrgetter("name", "kind", "node_id"),
                           itemgetter(0))

    def _merge(self, parent_id: str, listed: list[Any], shape: Callable[[NodeRow], Any],
               name: Callable[[Any], str]) -> list[Any]:
        """A base slice with the overlay's changes in that directory applied (names it touched
        dropped from the slice, their current nodes added in ``shape``), sorted by name."""
        touched = self.touched.get(parent_id)
        if not touched:
            return listed
        kept = [item for item in listed if name(item) not in touched]
        for key in touched:
            node_id = self.keys[(parent_id, key)]
            if node_id is not None:
                kept.append(shape(self.nodes[node_id]))  # type: ignore[arg-type]
        kept.sort(key=name)
        return kept

    def rows(self) -> Iterator[NodeRow]:
        """Every live node (order unspecified)."""
        for index in range(self.base.rows):
            node_id = self.base.node_id(index)
            if node_id not in self.nodes:
                yield self.base.row(index)
        yield from (row for row in self.nodes.values() if row is not None)

    # -- moving forward -------------------------------------------------------------
    def apply(self, changed: Iterable[tuple[NodeRow | None, NodeRow | None, Content | None]], version: int) -> None:
        """Move to ``version``: (old row, new row, new content) for every node a commit touched.

        Old names are vacated before new ones are taken, so a swap inside one commit works.
        """
        changed = list(changed)
        for old, _new, _content in changed:
            if old is not None:
                self._set_key(old.parent_id, old.name, None)
        for old, new, content in changed:
            node_id = (new or old).node_id  # type: ignore[union-attr]
            self.nodes[node_id] = new
            if new is None:
                self.contents.pop(node_id, None)
                continue
            self._set_key(new.parent_id, new.name, node_id)
            if content is not None:
                self.contents[node_id] = content
            elif old is not None and node_id not in self.contents:
                index = self.base.position(node_id)
                if index is not None:
                    kept = self.base.content(index, old.content_version, old.content_seq)
                    self.contents[node_id] = kept if kept is not None else (None, None)
        self.version = version
        self._maybe_rebase()

    def _maybe_rebase(self) -> None:
        if len(self.nodes) >= max(REBASE_AT, self.base.rows // 8):
            self.rebase()

    def add(self, rows: list[NodeRow], contents: Iterable[Content], version: int) -> None:
        """Move to ``version`` by new nodes only, at names that were free (a bulk load)."""
        nodes, keys, touched, stored = self.nodes, self.keys, self.touched, self.contents
        for row, content in zip(rows, contents, strict=True):
            nodes[row.node_id] = row
            keys[(row.parent_id, row.name)] = row.node_id
            touched[row.parent_id].add(row.name)
            stored[row.node_id] = content
        self.version = version
        self._maybe_rebase()

    def add_table(self, created: pa.Table, version: int) -> bool:
        """A bulk load's new nodes (``created_rows``) straight into a new base, when they would
        make the overlay fold anyway, or are many beside the base (a new base costs one sort of it,
        about what building their rows one by one costs): no per-row objects. False if not."""
        count = created.num_rows
        if len(self.nodes) + count < max(REBASE_AT, self.base.rows // 8) and count < max(BULK_MIN, self.base.rows // 4):
            return False
        self.base = Base.sorted(pa.concat_tables([self.table(), created.select(STATE_SCHEMA.names)]))
        self.nodes, self.keys, self.touched, self.contents = {}, {}, defaultdict(set), {}
        self.version = version
        return True

    def _set_key(self, parent_id: str, name: str, node_id: str | None) -> None:
        self.keys[(parent_id, name)] = node_id
        self.touched[parent_id].add(name)

    def rebase(self) -> None:
        """Fold the overlay into a new base (one sort of the whole state)."""
        if not self.nodes:
            return
        self.base = Base.sorted(self.table())
        self.nodes, self.keys, self.touched, self.contents = {}, {}, defaultdict(set), {}

    def table(self) -> pa.Table:
        """The whole state as one Arrow table (base rows the overlay superseded dropped)."""
        base = self.base.table()
        if not self.nodes:
            return base
        stale = pc.is_in(base.column("node_id"), value_set=pa.array(list(self.nodes), pa.string()))
        base = base.filter(pc.invert(stale))
        live = [row for row in self.nodes.values() if row is not None]
        columns: dict[str, list[Any]] = {name: [getattr(row, name) for row in live] for name in NodeRow._fields}
        contents = [self.contents.get(row.node_id, (None, None)) for row in live]
        columns["content"] = [content for content, _ in contents]
        columns["content_ref"] = [ref for _, ref in contents]
        overlay = pa.table(columns, schema=STATE_SCHEMA)
        return pa.concat_tables([base, overlay])
