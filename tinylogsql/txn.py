"""Transactions: pending ops layered over the committed state, with what they read.

A transaction reads the committed state at its base version plus its own pending ops.
It records every committed key, directory listing and node it read, and the
preconditions its ops relied on ("claims"). When another writer commits first, the
commit re-checks: a broken claim raises the error the op would have raised alone;
any other overlap with what was read raises ConflictError; otherwise the transaction
moves its base forward and commits on top (see ``Pond._commit``).
"""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, BinaryIO

from .errors import (
    ConflictError,
    DirectoryNotEmptyError,
    InvalidContentError,
    NotADirError,
    PathExistsError,
    PathNotFoundError,
    PondError,
)
from .query import NodeRow
from .state import Entry

if TYPE_CHECKING:
    from .pond import Pond

LISTING_AFTER = 16
"""After this many lookups in one committed directory, a transaction reads its whole listing."""

INLINE_MAX = 64 * 1024
"""Content up to this many bytes is stored inline in the op row; larger content as a blob."""


class Stale(Exception):
    """Internal: foreign commits invalidated the transaction; ``error`` is what the user sees."""

    def __init__(self, error: PondError) -> None:
        super().__init__(str(error))
        self.error = error


def to_bytes(data: object) -> bytes:
    """File content: bytes-like as is, str as UTF-8; anything else is rejected."""
    if isinstance(data, str):
        try:
            return data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidContentError(f"str content must be encodable as UTF-8: {exc}") from exc
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise InvalidContentError(f"file content must be bytes or str, not {type(data).__name__}")


@dataclass
class Claim:
    """A fact about the committed state that an op relied on, and the error if it breaks."""

    kind: str  # absent | at | dir | empty
    path: str
    parent_id: str = ""
    name: str = ""
    node_id: str = ""


@dataclass
class Transaction:
    """Pending ops of one transaction, with the reads and claims needed to re-check them."""

    pond: Pond
    base: int
    message: str
    author: str
    explicit: bool
    txn_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    ops: list[dict[str, Any]] = field(default_factory=list)
    keys: dict[tuple[str, str], NodeRow | None] = field(default_factory=dict)
    nodes: dict[str, NodeRow | None] = field(default_factory=dict)
    contents: dict[str, bytes | str] = field(default_factory=dict)  # pending content, or its blob ref
    read_keys: set[tuple[str, str]] = field(default_factory=set)
    read_dirs: set[str] = field(default_factory=set)
    read_nodes: set[str] = field(default_factory=set)
    claims: list[Claim] = field(default_factory=list)
    created: set[str] = field(default_factory=set)
    touched: dict[str, set[str]] = field(default_factory=dict)
    listings: dict[str, dict[str, NodeRow]] = field(default_factory=dict)
    lookups_in: dict[str, int] = field(default_factory=dict)
    committed_version: int | None = None

    # -- reads: pending ops first, then the committed state ---------------------
    def _current(self) -> None:
        """Reads see the committed state at ``base``; if another thread moved the engine on, re-check first."""
        version = self.pond._engine.version
        if version != self.base:
            self.rebase(version)

    def lookup(self, parent_id: str, name: str) -> NodeRow | None:
        key = (parent_id, name)
        if key in self.keys:
            return self.keys[key]
        if parent_id in self.created:  # a directory this transaction made has nothing committed in it
            return None
        self._current()
        listing = self.listings.get(parent_id)
        if listing is not None:
            return listing.get(name)
        hits = self.lookups_in[parent_id] = self.lookups_in.get(parent_id, 0) + 1
        if hits > LISTING_AFTER:  # many names in one directory: read its listing once instead
            self.read_dirs.add(parent_id)
            listing = self.listings[parent_id] = {row.name: row for row in self.pond._engine.children(parent_id)}
            return listing.get(name)
        self.read_keys.add(key)
        return self.pond._engine.lookup(parent_id, name)

    def node(self, node_id: str) -> NodeRow | None:
        if node_id in self.nodes:
            return self.nodes[node_id]
        self._current()
        self.read_nodes.add(node_id)
        return self.pond._engine.node(node_id)

    def children(self, parent_id: str) -> list[NodeRow]:
        rows: dict[str, NodeRow] = {}
        if parent_id not in self.created:
            self._current()
            self.read_dirs.add(parent_id)
            rows = {row.name: row for row in self.pond._engine.children(parent_id)}
        for name in self.touched.get(parent_id, ()):
            row = self.keys[(parent_id, name)]
            if row is None:
                rows.pop(name, None)
            else:
                rows[name] = row
        return [rows[name] for name in sorted(rows)]

    def child_names(self, parent_id: str) -> list[str]:
        return [row.name for row in self.children(parent_id)]

    def child_kinds(self, parent_id: str) -> list[Entry]:
        return [(row.name, row.kind, row.node_id) for row in self.children(parent_id)]

    def content(self, row: NodeRow) -> bytes:
        pending = self.contents.get(row.node_id)
        if isinstance(pending, bytes):
            return pending
        if isinstance(pending, str):
            return self.pond._store.read_blob(pending, row.sha256)
        self.read_nodes.add(row.node_id)
        return self.pond._read_content(row)

    def open(self, row: NodeRow) -> BinaryIO:
        pending = self.contents.get(row.node_id)
        if isinstance(pending, bytes):
            return io.BytesIO(pending)
        if isinstance(pending, str):
            return self.pond._store.open_blob(pending)
        self.read_nodes.add(row.node_id)
        return self.pond._open_content(row)

    # -- re-checking against foreign commits ------------------------------------
    def rebase(self, version: int) -> None:
        """Move the base to ``version`` if nothing this transaction relied on changed."""
        changes = self.pond._engine.changes(self.base, version)
        if self.txn_id in changes.txn_ids:
            raise AssertionError("transaction already committed")
        touched = (
            self.read_keys & changes.keys
            or self.read_dirs & changes.dirs
            or self.read_nodes & changes.nodes
            or self.keys.keys() & changes.keys
            or self.nodes.keys() & changes.nodes
        )
        if touched:
            for claim in self.claims:
                error = self._broken(claim)
                if error is not None:
                    raise Stale(error)
            raise Stale(ConflictError(f"another writer changed what this transaction read (now at version {version})"))
        self.base = version
        self.listings.clear()

    def _broken(self, claim: Claim) -> PondError | None:
        engine = self.pond._engine
        if claim.kind == "absent" and engine.lookup(claim.parent_id, claim.name) is not None:
            return PathExistsError(claim.path)
        if claim.kind == "at":
            row = engine.node(claim.node_id)
            if row is None or (row.parent_id, row.name) != (claim.parent_id, claim.name):
                return PathNotFoundError(claim.path)
        if claim.kind == "dir":
            row = engine.node(claim.node_id)
            if row is None:
                return PathNotFoundError(claim.path)
            if row.kind != "dir":
                return NotADirError(claim.path)
        if claim.kind == "empty" and engine.children(claim.node_id):
            return DirectoryNotEmptyError(claim.path)
        return None

    def _claim(self, kind: str, path: str, parent_id: str = "", name: str = "", node_id: str = "") -> None:
        if kind == "absent" and (parent_id, name) in self.keys:
            return
        if kind in ("at", "dir", "empty") and node_id in self.nodes:
            return
        self.claims.append(Claim(kind, path, parent_id, name, node_id))

    # -- writes -----------------------------------------------------------------
    def _now(self) -> datetime:
        return datetime.now(timezone.utc).replace(tzinfo=None)

    def _record(self, op: dict[str, Any], row: NodeRow | None, old: NodeRow | None = None) -> None:
        self.ops.append(op)
        if old is not None:
            self.keys[(old.parent_id, old.name)] = None
            self.touched.setdefault(old.parent_id, set()).add(old.name)
        if row is not None:
            self.keys[(row.parent_id, row.name)] = row
            self.touched.setdefault(row.parent_id, set()).add(row.name)
            self.nodes[row.node_id] = row
        else:
            self.nodes[op["node_id"]] = None

    def create(
        self, parent: NodeRow, name: str, kind: str, path: str, data: object = None, target: str | None = None
    ) -> NodeRow:
        """Create a node named ``name`` in the directory ``parent`` (checked free by the caller)."""
        if parent.kind != "dir":
            raise NotADirError(path)
        self._claim("dir", path, node_id=parent.node_id)
        self._claim("absent", path, parent.node_id, name)
        node_id = os.urandom(16).hex()  # 128 random bits, like uuid4, without building a UUID
        op: dict[str, Any] = {"op": "create", "node_id": node_id, "kind": kind, "parent_id": parent.node_id}
        op["name"] = name
        if kind == "file":
            op.update(self._content(node_id, data))
        elif kind == "symlink":
            op["target"] = target
        size, sha = op.get("size"), op.get("sha256")
        now = self._now()
        row = NodeRow(node_id, kind, parent.node_id, name, size, sha, target, now, None, now, None, None, None)
        self.created.add(node_id)
        self._record(op, row)
        return row

    def _content(self, node_id: str, data: object) -> dict[str, Any]:
        """Op fields for new content: small content inline, larger as a blob written now
        (before the commit that references it); a binary stream is copied to a blob in chunks."""
        if hasattr(data, "read") and not isinstance(data, (str, bytes, bytearray, memoryview)):
            ref, size, sha = self.pond._store.write_blob_stream(data)
            self.contents[node_id] = ref
            return {"size": size, "sha256": sha, "content": None, "content_ref": ref}
        content = to_bytes(data)
        sha = hashlib.sha256(content).hexdigest()
        self.contents[node_id] = content
        if len(content) > INLINE_MAX:
            ref = self.pond._store.write_blob(content, sha)
            return {"size": len(content), "sha256": sha, "content": None, "content_ref": ref}
        return {"size": len(content), "sha256": sha, "content": content, "content_ref": None}

    def write(self, row: NodeRow, data: object, path: str) -> NodeRow:
        """Replace a file's content (a new content version of the same node)."""
        self._claim("at", path, row.parent_id, row.name, row.node_id)
        fields = self._content(row.node_id, data)
        op = {"op": "write", "node_id": row.node_id, "kind": row.kind, "parent_id": row.parent_id, "name": row.name,
              **fields}
        new = row._replace(size=fields["size"], sha256=fields["sha256"], modified=self._now(), version=None)
        self._record(op, new)
        return new

    def remove(self, row: NodeRow, path: str, recursive: bool) -> None:
        """Remove a node; a directory must be empty unless ``recursive`` (then children go first)."""
        self._claim("at", path, row.parent_id, row.name, row.node_id)
        if row.kind == "dir":
            children = self.children(row.node_id)
            if children and not recursive:
                raise DirectoryNotEmptyError(path)
            if not children:
                self._claim("empty", path, node_id=row.node_id)
            for child in children:
                self.remove(child, f"{path.rstrip('/')}/{child.name}", recursive=True)
        op = {"op": "remove", "node_id": row.node_id, "kind": row.kind, "parent_id": row.parent_id, "name": row.name,
              "size": row.size, "sha256": row.sha256, "target": row.target}
        self._record(op, None, old=row)
        self.contents.pop(row.node_id, None)

    def move(self, row: NodeRow, new_parent: NodeRow, new_name: str, path: str) -> NodeRow:
        """Move a node to ``new_parent``/``new_name`` (which the caller made free)."""
        self._claim("at", path, row.parent_id, row.name, row.node_id)
        self._claim("dir", path, node_id=new_parent.node_id)
        self._claim("absent", path, new_parent.node_id, new_name)
        op = {"op": "move", "node_id": row.node_id, "kind": row.kind, "parent_id": new_parent.node_id,
              "name": new_name, "from_parent_id": row.parent_id, "from_name": row.name,
              "size": row.size, "sha256": row.sha256, "target": row.target}
        new = row._replace(parent_id=new_parent.node_id, name=new_name, modified=self._now(), version=None)
        self._record(op, new, old=row)
        return new
