"""The state as a small LSM tree: one sorted base, frozen layers being merged into it, an active layer.

A commit changes only the *active* layer (dicts of the nodes it touched). Once that layer grows
past an eighth of the state (at least REBASE_AT nodes) it is *frozen* and merged into a new
sorted base, on a background thread when the state is big (BACKGROUND_ROWS): the commit that
froze it returns at once, and reads go on answering from base + frozen layers + active layer,
newest first, until the new base is installed (on the next commit or read that finds the merge
done). Before, that commit re-sorted the whole base itself: a 1.5 s stall at 1M entries.

Layer invariants: ``nodes[id]`` is a changed node's row as of that layer (None once removed) and
``keys[(parent, name)]`` the node at a name a change in that layer touched (None once vacated);
a key or node absent from a layer is answered by the layers below it, then the base.
``touched[parent]`` lists the names that make a directory's listing below stale.

A layer keeps its rows as plain tuples, made NodeRows again when read: the cycle collector stops
tracking a tuple of atoms, never a NodeRow (a tuple subclass), so with up to four layers of 100k+
rows each, every full collection walked them all, holding the GIL for 0.2-0.5 s at 500k entries
while a committer waited for it (issue 18, p99.9 commit latency).

A layer also keeps the state rows of the nodes commits *created* in it as the Arrow tables the
fold had them in (``tables``), and which of those nodes a later commit of the layer changed
(``edited``): a merge takes those rows as they are and converts only the edited nodes from Python
(converting every row held the GIL for most of a background merge: py-spy, 1M build).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from operator import attrgetter, itemgetter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from . import prefold
from .background import lower_priority
from .segmerge import layer_rows, merge
from .state import STATE_SCHEMA, Base, Content, Entry, NodeRow

REBASE_AT = 100_000
"""Freeze the active layer once it holds this many nodes (or an eighth of the state)."""
BACKGROUND_ROWS = 200_000
"""A state at least this big is merged (and persisted) on the background thread; smaller ones in
place, where a merge costs milliseconds."""
PERSIST_INLINE_ROWS = 50_000
"""A committer persists a smaller state before its commit returns; a bigger one on the background
thread (writing a snapshot costs ~6 us a row: 0.66 s of a 100k-file sync's 3.3 s was spent there)."""
MAX_FROZEN = 3
"""Frozen layers allowed to wait for their merge before a commit waits for the oldest."""
MAX_SEGMENTS = 4
"""Bulk loads kept as sorted segments of their own beside the base (each costs a lookup one more
bisect); the next one is merged with all of them on the background thread."""

_merger = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tinylogsql-merge", initializer=lower_priority)
"""One thread for every state of the process: merges run in order (each builds on the last), at a
lower priority than committers (background.py)."""


def in_background(job: Callable[..., Any], *args: Any) -> Future[Any]:
    """Run ``job`` on the merge thread, after the merges already queued (a persist of their base)."""
    return _merger.submit(job, *args)


def persists_inline(size: int) -> bool:
    """Does a committer write the snapshot of a state of ``size`` rows before its commit returns?"""
    return size < min(PERSIST_INLINE_ROWS, BACKGROUND_ROWS)


def release_memory() -> None:
    """Hand memory Arrow freed back to the OS: its allocator (mimalloc) keeps freed pages, so after
    building a base the copies made on the way (read, concat, sort, take) stayed resident (measured
    at 300k entries: 571 MB RSS before, 353 MB after)."""
    pa.default_memory_pool().release_unused()


def _dispose(level: Level) -> None:
    """Free a merged layer a few thousand entries at a time, letting the committing thread run
    between (one ``del`` of a 100k-node dict holds the GIL for its whole length), then hand the
    memory back."""
    if isinstance(level, Layer):
        level.tables.clear()
        level.edited.clear()
        for table in (level.nodes, level.keys, level.contents, level.touched):
            while table:
                for _ in range(min(len(table), 5000)):
                    table.popitem()
                time.sleep(0)
    release_memory()


def _same(item: Any) -> Any:
    return item


Stored = tuple[Any, ...]
"""A NodeRow's fields as a plain tuple: what a layer keeps (see the module docstring)."""
_as_row = tuple.__new__
_ID, _PARENT, _NAME = (NodeRow._fields.index(field) for field in ("node_id", "parent_id", "name"))
_CONTENT_POINTER = slice(NodeRow._fields.index("content_version"), NodeRow._fields.index("content_seq") + 1)


def _row(stored: Stored | None) -> NodeRow | None:
    """A layer's stored row as a NodeRow (None stays None: a removed node)."""
    return None if stored is None else _as_row(NodeRow, stored)


class Layer:
    """The nodes one stretch of commits changed (see the module docstring)."""

    __slots__ = ("contents", "edited", "keys", "nodes", "tables", "touched")

    def __init__(self) -> None:
        self.nodes: dict[str, Stored | None] = {}
        self.keys: dict[tuple[str, str], str | None] = {}
        self.touched: defaultdict[str, set[str]] = defaultdict(set)
        self.contents: dict[str, Content] = {}
        self.tables: list[pa.Table] = []  # state rows (STATE_SCHEMA) of nodes created in this layer
        self.edited: set[str] = set()  # nodes whose row in ``nodes`` is not theirs in ``tables``

    def copy(self) -> Layer:
        twin = Layer()
        twin.nodes, twin.keys, twin.contents = dict(self.nodes), dict(self.keys), dict(self.contents)
        twin.touched = defaultdict(set, {parent: set(names) for parent, names in self.touched.items()})
        twin.tables, twin.edited = list(self.tables), set(self.edited)
        return twin

    def set_key(self, parent_id: str, name: str, node_id: str | None) -> None:
        self.keys[(parent_id, name)] = node_id
        self.touched[parent_id].add(name)


def merged(bases: list[Base], layers: list[Layer]) -> Base:
    """A new sorted base: ``bases`` (disjoint node sets) with ``layers`` (oldest first) applied,
    its node order ready."""
    result = merge(bases, layers)  # (segmerge.py: the columns one at a time, not the table at once)
    result.node_order  # noqa: B018 (computed here, off the reader's path)
    return result


def combined(bases: list[Base], layers: list[Layer]) -> pa.Table:
    """The whole state as one Arrow table (base rows a layer superseded dropped), unsorted."""
    table = pa.concat_tables([base.table() for base in bases]) if len(bases) > 1 else bases[0].table()
    rows, changed = layer_rows(layers)
    if changed is None:
        return table
    return pa.concat_tables([table.filter(pc.invert(pc.is_in(table.column("node_id"), value_set=changed))), rows])


def _merge_after(previous: Future[Base] | None, bases: list[Base], levels: tuple[Level, ...]) -> Base:
    below = [previous.result()] if previous is not None else bases
    if all(isinstance(level, Base) for level in levels):
        return merged([*below, *levels], [])  # type: ignore[list-item]
    return merged(below, list(levels))  # type: ignore[arg-type]


Level = Layer | Base
"""A frozen level: a layer of changes, or a sorted segment of new nodes only (a bulk load)."""


class State:
    """The tree at ``version``: sorted bases, frozen levels (oldest first), the active layer.

    ``base`` and ``created`` are sorted segments with disjoint node sets (``created``: the
    creates-only tail of an open after a bulk load, sorted alone rather than with the base).
    A frozen level is a Layer, or a sorted segment of a later bulk load's new nodes (at names
    that were free), which a lookup finds or passes through. ``merges[i]`` is the base that
    absorbs ``frozen[: i + 1]`` (and ``created``).
    """

    def __init__(self, base: Base, version: int, created: list[Base] | None = None) -> None:
        self.base = base
        self.created = [segment for segment in created or [] if segment.rows]
        self.version = version
        self.base_version = version  # the version ``bases()`` stand for
        self.frozen: list[Level] = []
        self.merges: list[Future[Base]] = []
        self.merge_versions: list[int] = []  # the version each merge's base stands for
        self.active = Layer()

    def copy(self) -> State:
        """An independent state sharing the immutable parts: what a new branch starts from."""
        twin = State(self.base, self.version, self.created)
        twin.base_version, twin.merges = self.base_version, list(self.merges)
        twin.merge_versions = list(self.merge_versions)
        # layers are copied, not shared: a merged one is emptied in the background (see _install)
        twin.frozen = [level.copy() if isinstance(level, Layer) else level for level in self.frozen]
        twin.active = self.active.copy()
        return twin

    @classmethod
    def from_table(cls, table: pa.Table, version: int) -> State:
        return cls(Base.sorted(table), version)

    @property
    def size(self) -> int:
        """Rows in the segments plus nodes in the layers (an upper bound on live nodes)."""
        return (sum(base.rows for base in self.bases()) + len(self.active.nodes)
                + sum(level.rows if isinstance(level, Base) else len(level.nodes) for level in self.frozen))

    def bases(self) -> list[Base]:
        """The sorted segments below every level: the base and ``created``."""
        return [self.base, *self.created]

    def _levels(self) -> list[Level]:
        """Newest first: the active layer, then the frozen levels."""
        return [self.active, *reversed(self.frozen)]

    # -- reads --------------------------------------------------------------------
    def lookup(self, parent_id: str, name: str) -> NodeRow | None:
        key = (parent_id, name)
        for level in self._levels():
            if isinstance(level, Base):
                index = level.find(parent_id, name)
                if index is not None:
                    return level.row(index)
            elif key in level.keys:
                node_id = level.keys[key]
                return None if node_id is None else _as_row(NodeRow, level.nodes[node_id])
        found = None
        for base in self.bases():  # a name taken twice (racing creates): the newest, as `entries` picks
            index = base.find(parent_id, name)
            if index is not None:
                row = base.row(index)
                if found is None or (-(row.version or 0), row.node_id) < (-(found.version or 0), found.node_id):
                    found = row
        return found

    def node(self, node_id: str) -> NodeRow | None:
        for level in self._levels():
            if isinstance(level, Base):
                index = level.position(node_id)
                if index is not None:
                    return level.row(index)
            elif node_id in level.nodes:
                return _row(level.nodes[node_id])
        for base in self.bases():
            index = base.position(node_id)
            if index is not None:
                return base.row(index)
        return None

    def content(self, node_id: str, content_version: int | None, content_seq: int | None) -> Content | None:
        """(inline content, blob reference) of a live file, if its current content is the op row
        (content_version, content_seq); None otherwise (an older row: ask the log)."""
        return self._content(self._levels(), node_id, content_version, content_seq)

    def _content(self, levels: list[Level], node_id: str, content_version: int | None,
                 content_seq: int | None) -> Content | None:
        for level in [*levels, *self.bases()]:
            if isinstance(level, Base):
                index = level.position(node_id)
                if index is not None:
                    return level.content(index, content_version, content_seq)
            elif node_id in level.nodes:
                row = level.nodes[node_id]
                if row is None or row[_CONTENT_POINTER] != (content_version, content_seq):
                    return None
                return level.contents.get(node_id)
        return None

    def children(self, parent_id: str) -> list[NodeRow]:
        """A directory's entries, sorted by name."""
        return self._listing(parent_id, Base.slice_rows, _same, attrgetter("name"))

    def child_names(self, parent_id: str) -> list[str]:
        """Just the names of a directory's entries, sorted: no row is built."""
        return self._listing(parent_id, Base.slice_names, attrgetter("name"), _same)

    def child_kinds(self, parent_id: str) -> list[Entry]:
        """(name, kind, node_id) of a directory's entries, sorted by name: what handles need."""
        return self._listing(parent_id, Base.slice_kinds, attrgetter("name", "kind", "node_id"), itemgetter(0))

    def _listing(self, parent_id: str, take: Callable[[Base, int, int], list[Any]], shape: Callable[[NodeRow], Any],
                 name: Callable[[Any], str]) -> list[Any]:
        """The bases' slices, then each level's changes in that directory, oldest level first
        (a layer drops the names it touched and adds their current nodes in ``shape``; a segment
        adds its slice), sorted by name."""
        listed: list[Any] = []
        for count, level in enumerate((*self.bases(), *self.frozen, self.active)):
            if isinstance(level, Base):
                span = level.ranges.get(parent_id)
                if span is not None:
                    listed = take(level, *span) if count == 0 else sorted([*listed, *take(level, *span)], key=name)
                continue
            touched = level.touched.get(parent_id)
            if not touched:
                continue
            kept = [item for item in listed if name(item) not in touched]
            for key in touched:
                node_id = level.keys[(parent_id, key)]
                if node_id is not None:
                    kept.append(shape(_as_row(NodeRow, level.nodes[node_id])))
            kept.sort(key=name)
            listed = kept
        return listed

    def rows(self) -> Iterator[NodeRow]:
        """Every live node (order unspecified)."""
        layers = [level for level in self._levels() if isinstance(level, Layer)]
        changed = set().union(*(layer.nodes for layer in layers))
        for base in [*self.bases(), *(level for level in self.frozen if isinstance(level, Base))]:
            for index in range(base.rows):
                if base.node_id(index) not in changed:
                    yield base.row(index)
        seen: set[str] = set()
        for layer in layers:
            for node_id, row in layer.nodes.items():
                if node_id not in seen:
                    seen.add(node_id)
                    if row is not None:
                        yield _as_row(NodeRow, row)

    def table(self) -> pa.Table:
        """The whole state as one Arrow table (segment rows a layer superseded dropped)."""
        levels = [*self.frozen, self.active]
        return combined([*self.bases(), *(level for level in levels if isinstance(level, Base))],
                        [level for level in levels if isinstance(level, Layer)])

    # -- moving forward -------------------------------------------------------------
    def apply(self, changed: Iterable[tuple[NodeRow | None, Stored | None, Content | None]], version: int) -> None:
        """Move to ``version``: (old row, new row as a plain tuple of NodeRow's fields, new content) for
        every node a commit touched (the tuple is kept as it is: see the module docstring).

        Old names are vacated before new ones are taken, so a swap inside one commit works.
        """
        self.settle()
        layer = self.active
        changed = list(changed)
        edited, nodes, keys, touched, contents = layer.edited, layer.nodes, layer.keys, layer.touched, layer.contents
        for old, _new, _content in changed:
            if old is not None:
                keys[(old.parent_id, old.name)] = None  # (Layer.set_key, inlined: the fold's hot path)
                touched[old.parent_id].add(old.name)
        for old, new, content in changed:
            if new is None:
                node_id = old.node_id  # type: ignore[union-attr]
                nodes[node_id] = None
                edited.add(node_id)
                contents.pop(node_id, None)
                continue
            node_id, parent_id, name = new[_ID], new[_PARENT], new[_NAME]
            nodes[node_id] = new
            edited.add(node_id)
            keys[(parent_id, name)] = node_id
            touched[parent_id].add(name)
            if content is not None:
                contents[node_id] = content
            elif old is not None and node_id not in contents:
                kept = self._content(list(reversed(self.frozen)), node_id, old.content_version, old.content_seq)
                contents[node_id] = kept if kept is not None else (None, None)
        self.version = version
        self._maybe_freeze()

    def add(self, rows: list[Stored], contents: Iterable[Content], version: int,
            table: pa.Table | None = None) -> None:
        """Move to ``version`` by new nodes only, at names that were free (a bulk load): ``rows`` in
        NodeRow's fields (plain tuples are kept as they are). ``table``: the same rows and contents
        as state rows, kept for the merge (see the module docstring)."""
        self.settle()
        layer = self.active
        nodes, keys, touched, stored = layer.nodes, layer.keys, layer.touched, layer.contents
        for row, content in zip(rows, contents, strict=True):
            node_id, parent_id, name = row[_ID], row[_PARENT], row[_NAME]
            nodes[node_id] = row if type(row) is tuple else tuple(row)
            keys[(parent_id, name)] = node_id
            touched[parent_id].add(name)
            stored[node_id] = content
        if table is None:
            layer.edited.update(row[_ID] for row in rows)
        else:
            table = table.select(STATE_SCHEMA.names)
            layer.tables.append(table if table.schema == STATE_SCHEMA else table.cast(STATE_SCHEMA))
            if layer.edited:
                layer.edited.difference_update(row[_ID] for row in rows)
        self.version = version
        self._maybe_freeze()

    def add_table(self, created: pa.Table, version: int) -> bool:
        """Move to ``version`` by a bulk load's new nodes (``created_rows``: at names that were free),
        column-wise: sorted alone into a segment on top of the frozen levels, merged like a layer.
        False (nothing done) if too few to be worth a segment: add them as rows instead."""
        if created.num_rows < max(REBASE_AT, self.size // 8):
            return False
        self.settle()
        segments = prefold.sorted_segments(created)  # (built beside the commit's write if large)
        if not self.active.nodes and not self.frozen and len(self.created) + len(segments) <= MAX_SEGMENTS:
            # nothing above the bases: the segments join them as they are, no merge (no sort or copy of the base)
            self.created.extend(segments)
            self.version = self.base_version = version
            return True
        self.freeze()  # the active layer goes below the segments: its vacated names may be taken now
        self.version = version
        self._push(*segments)
        return True

    def _maybe_freeze(self) -> None:
        if len(self.active.nodes) >= max(REBASE_AT, self.size // 8):
            self.freeze()

    # -- merging ----------------------------------------------------------------------
    def freeze(self, background: bool = False) -> Future[Base]:
        """Freeze the active layer and merge it into a new base: in place for a small state, on the
        background thread for a big one or if ``background``. Returns the future base (at this version)."""
        if not self.active.nodes and not self.created:
            if self.merges:
                return self.merges[-1]
            done: Future[Base] = Future()
            done.set_result(self.base)
            return done
        layer, self.active = self.active, Layer()
        return self._push(layer, background=background)

    def _push(self, *levels: Level, background: bool = False) -> Future[Base]:
        """Freeze ``levels`` (one layer, or a bulk load's segments) with one merge that absorbs them
        all: each of them has that merge as its ``merges`` entry (installed together, see settle).
        The merge runs on the background thread for a big state, or if ``background``."""
        self.frozen.extend(levels)
        self.merge_versions.extend([self.version] * len(levels))
        previous = self.merges[-1] if self.merges else None
        if background or self.size >= BACKGROUND_ROWS:
            while len(self.merges) >= MAX_FROZEN:  # merges cannot keep up: wait for the oldest
                self._install(wait=True)
            future = _merger.submit(_merge_after, previous, self.bases(), levels)
        else:
            future = Future()
            future.set_result(_merge_after(previous, self.bases(), levels))
        self.merges.extend([future] * len(levels))
        self.settle()
        return future

    def settle(self) -> None:
        """Install every finished merge (in order): the base absorbs its frozen level."""
        while self.merges and self.merges[0].done():
            self._install(wait=False)

    def _install(self, wait: bool) -> None:
        future = self.merges[0]
        base = future.result() if wait or future.done() else None
        if base is not None:
            self.base, self.created = base, []
            self.base_version = self.merge_versions.pop(0)
            self.merges.pop(0)
            done = self.frozen.pop(0)
            _merger.submit(_dispose, done)  # freeing 100k rows' dicts takes the GIL ~0.2 s: not here

    def snapshot(self, max_lag: int) -> tuple[Future[Base] | list[Base], int]:
        """This state's sorted segments at some version, and that version, for a persist: the
        newest merge's base if one is in flight, else the bases (the base and bulk loads' segments,
        as they are) if at most ``max_lag`` versions old, else a merge of everything (the active
        layer frozen), on the background thread whatever the state's size: the persist that asks
        writes it there too, so the committer need not wait for it (0.3-0.4 s at 100k entries, at
        the end of an import-git)."""
        if self.merges:
            return self.merges[-1], self.merge_versions[-1]
        if self.version - self.base_version <= max_lag:
            return self.bases(), self.base_version
        return self.freeze(background=True), self.version

    def rebase(self) -> None:
        """Fold every level into the base now (waits for merges in flight)."""
        self.freeze()
        while self.merges:
            self._install(wait=True)
