"""Merging sorted segments and change layers into one new base with about one copy of the state in flight.

The merge used to decode the bases into one plain table (parent_id back to 36-byte strings),
filter out the rows a layer superseded (a copy), sort by taking every column at once (a second
copy, while the first was alive) and dictionary-encode parent_id again: some four copies of the
state in anonymous memory at the peak, beside the old base still serving reads (at 9M entries a
writer peaked at 10-12 GB). Here only the sort keys are gathered (parent_id as 4-byte indices
into one sorted dictionary shared by all segments, name, version, node_id); the sort gives each
output row's position among the inputs, and the columns are then taken one at a time, so the
transient memory is the keys and one column, not the table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .state import ENCODED, STATE_SCHEMA, Base, Content, NodeRow

if TYPE_CHECKING:
    from .segments import Layer, Stored

SORT_KEYS = [("parent_id", "ascending"), ("name", "ascending"), ("version", "descending"), ("node_id", "ascending")]
"""The base's order (as ``Base.sorted``): a name taken twice resolves to the newest, then the lowest node id."""


CHUNK = 4096
"""Rows converted from Python objects to Arrow in one call: a merge on the background thread holds
the GIL for one such call at a time (~2 ms), so a committer waits for one chunk, not a column."""
_ROW_TYPE = pa.struct([STATE_SCHEMA.field(name) for name in NodeRow._fields])
"""A NodeRow as an Arrow struct: pyarrow converts the tuples themselves, field by field (no Python
object made per row: per-row objects made the merge thread run the garbage collector, holding the
GIL for up to 0.3 s at 500k entries)."""
_CONTENT_TYPE = pa.struct([STATE_SCHEMA.field("content"), STATE_SCHEMA.field("content_ref")])
"""A layer's Content (inline bytes, blob reference) as an Arrow struct."""


def layer_rows(layers: list[Layer]) -> tuple[pa.Table, pa.Array | None]:
    """The layers' (oldest first) current nodes as a table, and the ids of every node they
    changed (their rows in the segments below are superseded), None if they changed none."""
    if len(layers) == 1 and layers[0].tables:  # the usual merge: its created rows taken as they are
        return _kept_rows(layers[0])
    nodes: dict[str, Stored | None]
    contents: dict[str, Content]
    if len(layers) == 1:  # the usual merge: one layer, its dicts read as they are (no copy)
        nodes, contents = layers[0].nodes, layers[0].contents
    else:
        nodes, contents = {}, {}
        for layer in layers:
            nodes.update(layer.nodes)
            for node_id in layer.nodes:
                contents[node_id] = layer.contents.get(node_id, (None, None))
    if not nodes:
        return STATE_SCHEMA.empty_table(), None
    return _converted(nodes, contents), _id_array(list(nodes))


def _kept_rows(layer: Layer) -> tuple[pa.Table, pa.Array]:
    """``layer_rows`` of one layer: the rows of its ``tables`` whose node no later commit of the
    layer changed, as they are, then the edited nodes' rows converted from Python."""
    kept = pa.concat_tables(layer.tables)
    ids = kept.column("node_id").combine_chunks()
    if not layer.edited:
        return kept, ids
    edited = list(layer.edited)
    edited_ids = _id_array(edited)
    kept = kept.filter(pc.invert(pc.is_in(ids, value_set=edited_ids)))
    nodes = {node_id: layer.nodes[node_id] for node_id in edited}
    contents = {node_id: layer.contents.get(node_id, (None, None)) for node_id in edited}
    return pa.concat_tables([kept, _converted(nodes, contents)]), pa.concat_arrays([ids, edited_ids])


def _id_array(ids: list[str]) -> pa.Array:
    """Node ids as one string array, converted CHUNK at a time (see CHUNK)."""
    return pa.chunked_array([pa.array(ids[start:start + CHUNK], pa.string())
                             for start in range(0, len(ids), CHUNK)], pa.string()).combine_chunks()


def _converted(nodes: dict[str, Stored | None], contents: dict[str, Content]) -> pa.Table:
    """The live rows of ``nodes`` with their ``contents`` as a state table, CHUNK rows a call."""
    live = list(filter(None, nodes.values()))  # (a NodeRow is never empty: only None goes)
    chunks: dict[str, list[pa.Array]] = {name: [] for name in STATE_SCHEMA.names}
    for start in range(0, len(live), CHUNK):  # no Python loop over rows: C calls of a chunk each (see CHUNK)
        columns = pa.array(live[start:start + CHUNK], _ROW_TYPE).flatten()
        for field, values in zip(NodeRow._fields, columns, strict=True):
            chunks[field].append(values)
        stored = pa.array(list(map(contents.get, columns[0].to_pylist())), _CONTENT_TYPE).flatten()
        chunks["content"].append(stored[0])  # (a node without content: null in both)
        chunks["content_ref"].append(stored[1])
    return pa.table([pa.chunked_array(chunks[field.name], field.type) for field in STATE_SCHEMA], schema=STATE_SCHEMA)


def _shared(dictionaries: list[pa.Array]) -> pa.Array:
    """One sorted dictionary holding every value of ``dictionaries``."""
    values = pc.unique(pa.concat_arrays(dictionaries))
    return values.take(pc.sort_indices(values))


def _encoded(parts: list[pa.Array], shared: pa.Array) -> pa.Array:
    """Each part's values as int32 indices into ``shared``, concatenated (a dictionary part is
    remapped through its own small dictionary, not decoded)."""
    indices = []
    for part in parts:
        if pa.types.is_dictionary(part.type):
            indices.append(pc.index_in(part.dictionary, value_set=shared).cast(pa.int32()).take(part.indices))
        else:
            indices.append(pc.index_in(part, value_set=shared).cast(pa.int32()))
    return pa.concat_arrays(indices)


def _compacted(indices: pa.Array, shared: pa.Array) -> pa.DictionaryArray:
    """A dictionary array of ``indices`` into ``shared`` without the values no row uses any more
    (a folder emptied since), still sorted."""
    used = pc.unique(indices).drop_null()
    if len(used) == len(shared):
        return pa.DictionaryArray.from_arrays(indices, shared)
    used = used.take(pc.sort_indices(used))
    return pa.DictionaryArray.from_arrays(pc.index_in(indices, value_set=used).cast(pa.int32()), shared.take(used))


def _gathered(parts: list[dict[str, pa.Array]], name: str, rows: pa.Array) -> pa.Array:
    """Column ``name`` of the inputs one after the other, at positions ``rows``, as one array."""
    return pa.chunked_array([c[name] for c in parts], STATE_SCHEMA.field(name).type).take(rows).combine_chunks()


def merge(bases: list[Base], layers: list[Layer]) -> Base:
    """A new sorted base: ``bases`` (disjoint node sets) with ``layers`` (oldest first) applied."""
    extra, changed = layer_rows(layers)
    segments = [base for base in bases if base.rows]
    parts = [*(base.columns for base in segments), {name: extra.column(name).combine_chunks()
                                                     for name in STATE_SCHEMA.names}]
    if not segments and not extra.num_rows:
        return Base(STATE_SCHEMA.empty_table())
    # positions (into the inputs one after the other) of the rows that stay
    kept, offset = [], 0
    for columns, rows in zip(parts, [*(base.rows for base in segments), extra.num_rows], strict=True):
        if rows:
            if changed is not None and columns is not parts[-1]:  # a layer's own rows are all current
                stays = pc.indices_nonzero(pc.invert(pc.is_in(columns["node_id"], value_set=changed))).to_numpy()
                kept.append(pa.array(stays.astype(np.uint64) + np.uint64(offset)))
            else:
                kept.append(pa.array(np.arange(offset, offset + rows, dtype=np.uint64)))
        offset += rows
    where = pa.concat_arrays(kept) if kept else pa.array([], pa.uint64())
    shared = {name: _shared([c[name].dictionary if pa.types.is_dictionary(c[name].type) else c[name] for c in parts])
              for name in ENCODED}
    encoded = {name: _encoded([c[name] for c in parts], shared[name]).take(where) for name in ENCODED}

    keys = pa.table({"parent_id": encoded["parent_id"], **{name: _gathered(parts, name, where)
                                                           for name in ("name", "version", "node_id")}})
    order = pc.sort_indices(keys, sort_keys=SORT_KEYS)
    done: dict[str, pa.Array] = {}
    for name in ("name", "version", "node_id"):  # already gathered: reordered, not gathered again
        done[name] = keys.column(name).chunk(0).take(order)
    del keys
    rows = where.take(order)
    del where
    columns = []
    for field in STATE_SCHEMA:
        if field.name in ENCODED:
            columns.append(_compacted(encoded.pop(field.name).take(order), shared[field.name]))
        elif field.name in done:
            columns.append(done.pop(field.name))
        else:
            columns.append(_gathered(parts, field.name, rows))
    return Base(pa.table(columns, names=STATE_SCHEMA.names))
