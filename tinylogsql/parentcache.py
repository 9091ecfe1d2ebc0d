"""Where a create lands inside a transaction: each plain directory path walked once, re-checked per use.

A batch creates many files in the same few directories ("d0001/f000", "d0001/f001", ...); walking
"d0001" again for each was a third of a create's cost. A transaction keeps, per (start directory,
path of directories), the directory the walk reached and every overlay entry the walk read. A use
re-checks those entries by identity (a pending row is a new tuple whenever it changes, and a
removal stores None) and, when the walk read the committed state, that the transaction and the
engine are still at the version it read: the answer is then exactly the walk's, with its reads
already recorded. Anything else (a symlink on the way, "." or "..", an invalid, missing or taken
name) returns None, and the caller takes the general walk, which raises the errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .paths import _VALID, is_plain
from .schema import ROOT_ID

if TYPE_CHECKING:
    from .txn import Fields, Transaction

_MISSING: Any = object()
"""An overlay key the walk found unset (the committed state answered)."""

KEPT = 4096
"""Directory paths kept per transaction; the cache starts over past this (a walk is cheap enough)."""

Walked = tuple[str, tuple[tuple[dict[Any, Any], Any, Any], ...], int | None]
"""(directory id, the (overlay dict, key, what it held) the walk read, the version it read the
committed state at, or None if it read only pending rows)."""


class ParentCache:
    """The directories that plain paths led to in one transaction (see the module docstring)."""

    __slots__ = ("walked",)

    def __init__(self) -> None:
        self.walked: dict[tuple[str, str], Walked] = {}

    def create(self, tx: Transaction, start_id: str, path: object, kind: str, data: object = None) -> Fields | None:
        """Create ``path`` (relative to ``start_id``, or absolute) with ``tx.create_in`` when it is
        plain names leading through directories to a free name; else None, and nothing is staged."""
        if type(path) is not str:
            return None
        relative = path
        if path[:1] == "/":
            start_id, relative = ROOT_ID, path[1:]
        prefix, _, name = relative.rpartition("/")
        if name not in _VALID and not is_plain(name):  # (the set first: no call on the hot path)
            return None
        if tx.unsettled:
            tx._settle()
        parent_id = self._directory(tx, start_id, prefix)
        if parent_id is None:
            return None
        keys = tx.keys
        taken = keys.get((parent_id, name), _MISSING)
        if taken is _MISSING:
            if parent_id not in tx.created and tx.lookup(parent_id, name) is not None:
                return None
        elif taken is not None:
            return None
        return tx.create_in(parent_id, name, kind, path, data)

    def _directory(self, tx: Transaction, start_id: str, prefix: str) -> str | None:
        """The directory id ``prefix`` leads to from ``start_id`` ("" is ``start_id`` itself), from
        the cache when what its walk read still holds; else walked now."""
        walked = self.walked.get((start_id, prefix))
        if walked is not None:
            directory_id, reads, version = walked
            for overlay, key, seen in reads:
                if overlay.get(key, _MISSING) is not seen:
                    break
            else:
                if version is None or version == tx.base == tx.pond._engine.version:
                    return directory_id
        return self._walk(tx, start_id, prefix)

    def _walk(self, tx: Transaction, start_id: str, prefix: str) -> str | None:
        """Walk ``prefix`` through the transaction's reads (recording them) and cache where it led."""
        base = tx.base
        committed = False
        reads: list[tuple[dict[Any, Any], Any, Any]] = []
        if prefix == "":  # the start directory itself: it must still be one
            row = tx.node(start_id)
            seen = tx.nodes.get(start_id, _MISSING)
            if row is None or row.kind != "dir":
                return None
            committed = seen is _MISSING
            reads.append((tx.nodes, start_id, seen))
            directory_id = start_id
        else:
            directory_id = start_id
            for part in prefix.split("/"):
                if part not in _VALID and not is_plain(part):
                    return None
                row = tx.lookup(directory_id, part)
                if row is None or row.kind != "dir":
                    return None
                seen = tx.keys.get((directory_id, part), _MISSING)
                committed = committed or seen is _MISSING
                reads.append((tx.keys, (directory_id, part), seen))
                directory_id = row.node_id
        if committed and tx.base != base:  # (a read moved the base on: walk again next time)
            return directory_id
        if len(self.walked) >= KEPT:
            self.walked.clear()
        self.walked[(start_id, prefix)] = (directory_id, tuple(reads), tx.base if committed else None)
        return directory_id

