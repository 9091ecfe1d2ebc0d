"""A batch of creates (paths, kinds, stored contents) and the create rows it becomes: what both
stagers of a batch share (``bulk.stage`` on Arrow columns, ``smallbatch.stage`` on Python lists).

The create rows are one Arrow table in the per-op columns (``Transaction.add_bulk``), with fresh
node ids built in one go, so the commit, its re-check and the fold are the same for both.
"""

from __future__ import annotations

import binascii
import os
from concurrent.futures import Future

import numpy as np
import pyarrow as pa

from .largepool import pool_for

OP_COLUMNS = ("op", "node_id", "kind", "parent_id", "name", "from_parent_id", "from_name", "size", "sha256",
              "content", "content_ref", "target", "branch", "ref_version")
"""The per-op columns of a bulk table, in the order ``oprows.stamp`` builds them."""


class Batch:
    """What to create: paths with their kind, target, and stored content (size, sha256, inline or ref)."""

    def __init__(self, path: pa.Array, kind: pa.Array, size: pa.Array, sha256: pa.Array | Future[pa.Array],
                 content: pa.Array, content_ref: pa.Array, target: pa.Array, *, files_only: bool = False) -> None:
        self.path, self.kind, self.size, self._sha256 = path, kind, size, sha256
        self.content, self.content_ref, self.target = content, content_ref, target
        self.files_only = files_only
        """Known to be regular files only, without looking at ``kind`` (a table without a kind column)."""

    @property
    def sha256(self) -> pa.Array:
        """The contents' hex sha256 (a large batch hashes on a thread while its rows are built: wait for it)."""
        if isinstance(self._sha256, Future):
            self._sha256 = self._sha256.result()
        return self._sha256

    def __len__(self) -> int:
        return len(self.path)


ASCENDING_FROM = 4096
"""From this many ids at once, ``new_ids`` hands them out in ascending order (drawn with numpy)."""


def new_ids(count: int) -> pa.Array:
    """``count`` fresh node ids (32 lowercase hex digits, like uuid4), built in one go.

    Many at once come in ascending order, which makes proving them distinct and ordering them by
    node id (``nodeorder.distinct_order``, beside the commit's write) a linear pass instead of a
    sort of 1M integers (~0.1 s): id i's first 64 bits are uniform in the i-th of ``count`` equal
    slices of that range, its last 64 bits uniform, from a generator seeded afresh from the OS on
    every call (fork-safe; drawing them cost ~2x less than ``os.urandom``). Two loads' ids would
    have to agree on ~108 random bits to collide.
    """
    if count < ASCENDING_FROM:
        text = binascii.hexlify(os.urandom(16 * count))
    else:
        draw = np.random.default_rng()
        step = np.uint64((1 << 64) // count)
        bits = np.empty((count, 2), dtype=">u8")  # (big-endian: the hex digits read in numeric order)
        bits[:, 0] = np.arange(count, dtype=np.uint64) * step + draw.integers(0, step, count, dtype=np.uint64)
        bits[:, 1] = draw.integers(0, np.iinfo(np.uint64).max, count, dtype=np.uint64, endpoint=True)
        text = binascii.hexlify(bits)
    offsets = np.arange(0, 32 * (count + 1), 32, dtype=np.int32)
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(text))


def creates(batch: Batch, parent_of: pa.Array, names: pa.Array) -> pa.Table:
    """The create rows of a batch, in the per-op columns (see OP_COLUMNS)."""
    count = len(batch)
    pool = pool_for(count)
    null = pa.nulls(count, pa.string(), memory_pool=pool)
    return pa.table({
        "op": pa.repeat(pa.scalar("create", pa.string()), count, memory_pool=pool), "node_id": new_ids(count),
        "kind": batch.kind, "parent_id": parent_of, "name": names, "from_parent_id": null, "from_name": null,
        "size": batch.size, "sha256": batch.sha256, "content": batch.content, "content_ref": batch.content_ref,
        "target": batch.target, "branch": null, "ref_version": pa.nulls(count, pa.int64(), memory_pool=pool),
    })


def sorted_ids(count: int) -> list[str]:
    """``count`` fresh node ids (``new_ids``), in ascending order."""
    return sorted(new_ids(count).to_pylist())
