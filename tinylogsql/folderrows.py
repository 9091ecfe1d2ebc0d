"""Folder rows a run of commits by one writer carries from each transaction to the next (import-git).

An import's commits land in the same few hundred folders; looking each one up again in every
commit was half of staging a commit's files (255k lookups in a 500-commit import). This keeps, for
plain folder paths from the root, the committed directory row a walk reached and the (parent, name)
keys it read, valid at one version of the committed state. A use in a transaction at that version
records those keys as read (so a commit of another writer that touches them is a conflict, as for
a lookup) unless the transaction itself has changed one of them (then the caller walks). After the
transaction commits right on top of that version, the entries whose keys it changed are dropped
and the rest are valid at the new version; any other version (another writer committed in between,
or the transaction moved its base) starts over. The log decides: an entry is only ever an answer
the committed state gave at the version it is used at.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .paths import is_plain
from .schema import ROOT_ID

if TYPE_CHECKING:
    from .query import NodeRow
    from .txn import Transaction

Key = tuple[str, str]

KEPT = 1 << 16
"""Folders kept at most; the cache starts over past this."""


class FolderRows:
    """Committed directory rows by plain path from the root (see the module docstring)."""

    __slots__ = ("paths", "rows", "version")

    def __init__(self) -> None:
        self.rows: dict[str, tuple[NodeRow, tuple[Key, ...]]] = {}
        self.paths: dict[Key, list[str]] = {}  # key -> the paths kept whose walk read it (or did once)
        self.version: int | None = None  # the committed version the rows are of

    def clear(self) -> None:
        self.rows.clear()
        self.paths.clear()

    def folder(self, tx: Transaction, path: str) -> NodeRow | None:
        """The directory at ``path`` ("a/b", from the root) as the transaction sees it, its keys recorded
        as read; None if it is none or cannot be told from the rows kept (the caller takes the general
        walk, which raises the errors)."""
        if self.version != tx.base:
            self.clear()
            self.version = tx.base
        hit = self.rows.get(path)
        if hit is not None and tx.pond._engine.version == tx.base:
            row, keys = hit
            pending = tx.keys
            for key in keys:
                if key in pending:
                    break
            else:
                tx.read_keys.update(keys)
                return row
        return self._walk(tx, path)

    def _walk(self, tx: Transaction, path: str) -> NodeRow | None:
        """Look ``path`` up a component at a time from its nearest kept ancestor, keeping what the
        committed state answered."""
        head, slash, name = path.rpartition("/")
        if not is_plain(name):
            return None
        if slash:
            parent = self.folder(tx, head)
            if parent is None:
                return None
            above = self.rows.get(head)
        else:
            parent, above = None, None
        parent_id = parent.node_id if parent is not None else ROOT_ID
        row = tx.lookup(parent_id, name)
        if row is None or row.kind != "dir":
            return None
        key = (parent_id, name)
        if (slash and (above is None or above[0] is not parent)) or key in tx.keys or row.node_id in tx.nodes \
                or parent_id in tx.created or self.version != tx.base:
            return row  # (a pending row, or read on another base: not kept)
        if len(self.rows) >= KEPT:
            self.clear()
        keys = (*above[1], key) if above is not None else (key,)
        self.rows[path] = (row, keys)
        for read in keys:
            self.paths.setdefault(read, []).append(path)
        return row

    def committed(self, tx: Transaction) -> None:
        """After ``tx`` committed: its changes applied to the rows kept (or all dropped if it did not
        commit right on top of their version)."""
        version = tx.committed_version
        if version is None or self.version is None or version != self.version + 1 or tx.base != self.version:
            self.clear()
            self.version = None
            return
        paths, rows = self.paths, self.rows
        for key in tx.keys:  # (a bulk create's key was free: no folder kept is there)
            for path in paths.pop(key, ()):
                rows.pop(path, None)
        self.version = version
