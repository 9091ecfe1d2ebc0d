"""Node ids in sorted order, and the proof that they are distinct, from their numeric form.

Fresh node ids are 32 lowercase hex digits (128 random bits, see ``batch.new_ids`` and
``txn.node_ids``). For such strings, ordering by the first 16 digits read as a 64-bit integer is
their string order whenever those integers differ, and then the ids are distinct too. numpy sorts
1M integers in ~25 ms; ``pc.sort_indices`` on the strings took ~0.33 s (the biggest single cost of
folding a 1M-entry bulk load). Anything else (other spellings, a tie in the first 64 bits) takes
the string sort: the answer is always exact.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ASCENDING_FROM = 4096
"""Ids checked for ascending runs (a cheap pass) before they are sorted, from this many."""

_NIBBLE = np.full(256, 255, dtype=np.uint8)
for _value, _char in enumerate(b"0123456789abcdef"):
    _NIBBLE[_char] = _value


def _high_bits(ids: pa.Array) -> np.ndarray | None:
    """The first 16 hex digits of every id as uint64, or None unless every id is 32 lowercase hex digits."""
    count = len(ids)
    if ids.null_count or ids.type != pa.string():
        return None
    if not count:
        return np.empty(0, dtype=np.uint64)
    offsets = np.frombuffer(ids.buffers()[1], dtype=np.int32, count=count + 1, offset=ids.offset * 4)
    if offsets[-1] - offsets[0] != 32 * count or (np.diff(offsets) != 32).any():
        return None
    data = np.frombuffer(ids.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]].reshape(count, 32)
    nibbles = _NIBBLE[data[:, :16]]
    if nibbles.max() == 255:  # (not a bool array as large as the nibbles: every fresh page costs here)
        return None
    packed = (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]  # 8 bytes a row, most significant first
    return np.ascontiguousarray(packed).view(">u8").ravel().astype(np.uint64)


_FRESH = re.compile(r"[0-9a-f]{32}")


def _key_parts(ids: pa.Array | pa.ChunkedArray) -> list[np.ndarray] | None:
    """``_high_bits`` chunk by chunk (a stamped commit's ids come in parts, and joining them copied 32 B
    a row); None unless every id is 32 lowercase hex digits."""
    chunks = ids.chunks if isinstance(ids, pa.ChunkedArray) else [ids]
    parts = [_high_bits(chunk) for chunk in chunks]
    return None if any(part is None for part in parts) else parts


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    return parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else np.empty(0, dtype=np.uint64)


def id_keys(ids: pa.Array | pa.ChunkedArray) -> np.ndarray | None:
    """Every id's first 16 hex digits as uint64, in row order; None unless every id is 32 lowercase hex digits."""
    parts = _key_parts(ids)
    return None if parts is None else _joined(parts)


def id_key(node_id: str) -> int | None:
    """``node_id``'s key as in ``id_keys``, or None if it is not 32 lowercase hex digits."""
    return int(node_id[:16], 16) if _FRESH.fullmatch(node_id) else None


def distinct_order(ids: pa.Array | pa.ChunkedArray) -> tuple[bool, pa.Array]:
    """(are the ids distinct?, their positions in ascending id order)."""
    parts = _key_parts(ids) if len(ids) > 1 else None
    if parts is not None:  # (no ties to keep in order: a tie falls back below)
        high = _joined(parts)
        # parts each ascending (a bulk load's ids, batch.new_ids): timsort merges the runs in a linear
        # pass (~2 ms at 1M); random ones: quicksort ("stable" is slower on them)
        runs = parts if len(ids) >= ASCENDING_FROM else []
        ascending = bool(runs) and all(len(part) < 2 or (part[1:] > part[:-1]).all() for part in runs)
        order = np.argsort(high, kind="stable" if ascending else "quicksort")
        ordered = high[order]
        if (ordered[1:] > ordered[:-1]).all():  # all differ: string order = numeric order, and distinct
            return True, pa.array(order.view(np.uint64))
    ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    order = pc.sort_indices(ids)
    ordered = ids.take(order)
    repeated = len(ids) > 1 and pc.any(pc.equal(ordered.slice(1), ordered.slice(0, len(ids) - 1))).as_py()
    return not repeated, order
