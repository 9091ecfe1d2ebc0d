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
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from .errors import (
    ConflictError,
    DirectoryNotEmptyError,
    InvalidContentError,
    NotADirError,
    PathExistsError,
    PathNotFoundError,
    PondError,
)
from .parentcache import ParentCache
from .query import NodeRow
from .state import Entry

if TYPE_CHECKING:
    from .folderrows import FolderRows
    from .pond import Pond

INLINE_MAX = 64 * 1024
"""Content up to this many bytes is stored inline in the op row; larger content as a blob."""

_EPOCH = datetime(1970, 1, 1)
"""Naive UTC epoch: pending-row times are this plus time.time() (see Transaction._now)."""


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


def node_ids() -> Iterator[str]:
    """Fresh node ids: 128 random bits each, like uuid4, drawn from os.urandom 256 ids at a time
    (one system call per id cost as much as the rest of a create in a large transaction)."""
    while True:
        block = os.urandom(16 * 256).hex()
        for start in range(0, len(block), 32):
            yield block[start:start + 32]


Fields = tuple[Any, ...]
"""A pending row as the transaction keeps it: NodeRow's fields in a plain tuple (see Transaction)."""


_NODE_ROW = tuple.__new__
"""NodeRow from a tuple of its fields without NodeRow's own __new__ (a keyword-argument call)."""


def _one_chunk(column: pa.ChunkedArray) -> pa.Array:
    """A column as one array (combine_chunks copies even a single chunk)."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


OpRow = tuple[Any, ...]
"""A staged op: the log's per-op columns in ``oprows._OP_FIELDS`` order (op, node_id, kind, parent_id,
name, from_parent_id, from_name, size, sha256, content, content_ref, target, branch, ref_version).
A plain tuple, not a dict: cheaper to build per op, untracked by the cycle collector once seen
(see Transaction), and converted to the commit's columns in one pass (``oprows.stamp``)."""


def op_row(op: str, row: NodeRow, parent_id: str, name: str, from_parent_id: str | None = None,
           from_name: str | None = None, size: int | None = None, sha: str | None = None,
           content: bytes | None = None, ref: str | None = None, target: str | None = None) -> OpRow:
    """The staged op on the node ``row`` (see OpRow)."""
    return (op, row.node_id, row.kind, parent_id, name, from_parent_id, from_name, size, sha, content, ref, target,
            None, None)


def as_row(fields: Fields | None) -> NodeRow | None:
    """A kept pending row (or None: removed) as the NodeRow readers expect."""
    return None if fields is None else _NODE_ROW(NodeRow, fields)


class Claim(NamedTuple):
    """A fact about the committed state that an op relied on, and the error if it breaks."""

    kind: str  # absent | at | dir | empty
    path: str
    parent_id: str = ""
    name: str = ""
    node_id: str = ""


@dataclass
class Transaction:
    """Pending ops of one transaction, with the reads and claims needed to re-check them.

    Pending rows (``keys``, ``nodes``) and claims are kept as plain tuples and made NodeRow and
    Claim when read: the garbage collector stops tracking a plain tuple of strings, numbers and
    datetimes but not a NamedTuple, and 100k tracked rows made every collection during a large
    transaction and its commit slower (~20% of the CPU time of 100k creates).
    """

    pond: Pond
    base: int
    message: str
    author: str
    explicit: bool
    txn_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    ops: list[OpRow | dict[str, Any] | pa.Table] = field(default_factory=list)  # op rows (ref ops: dicts), bulk tables
    keys: dict[tuple[str, str], Fields | None] = field(default_factory=dict)
    nodes: dict[str, Fields | None] = field(default_factory=dict)
    contents: dict[str, bytes | str] = field(default_factory=dict)  # pending content, or its blob ref
    read_keys: set[tuple[str, str]] = field(default_factory=set)
    read_dirs: set[str] = field(default_factory=set)
    read_nodes: set[str] = field(default_factory=set)
    claims: list[tuple[str, str, str, str, str]] = field(default_factory=list)  # Claim fields (see _claim)
    claimed_dirs: set[str] = field(default_factory=set)  # node ids with a "dir" claim already
    created: set[str] = field(default_factory=set)
    touched: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    committed_version: int | None = None
    optimistic: bool = False  # commit without asking the store first (see Pond.transaction)
    acks: dict[str, int | None] = field(default_factory=dict)  # subscription -> the row its ack expects
    new_ids: Iterator[str] = field(default_factory=node_ids, repr=False)
    unsettled: list[pa.Table] = field(default_factory=list, repr=False)  # bulk creates not yet in keys/nodes
    bulk_checks: list[tuple[pa.Array, pa.Array, pa.Array]] = field(default_factory=list, repr=False)
    parents: ParentCache = field(default_factory=ParentCache, repr=False)  # where creates' paths led
    folders: FolderRows | None = field(default=None, repr=False)  # folder rows carried from the writer's last commit
    _clock: tuple[float, datetime] = field(default=(0.0, _EPOCH), repr=False)  # see _now

    # -- bulk creates (see bulk.py) ------------------------------------------------
    def op_count(self) -> int:
        """Ops staged so far (a bulk table counts its rows)."""
        return sum(len(op) if isinstance(op, pa.Table) else 1 for op in self.ops)

    def add_bulk(self, creates: pa.Table, paths: pa.Array) -> None:
        """Stage a table of creates of new nodes in directories this transaction has read (bulk.stage
        checked the names free); re-checked as one claim when foreign commits touch those directories."""
        self.ops.append(creates)
        self.unsettled.append(creates)
        self.bulk_checks.append((_one_chunk(creates.column("parent_id")), _one_chunk(creates.column("name")), paths))
        self.claims.append(("bulk", "", "", "", str(len(self.bulk_checks) - 1)))

    def _settle(self) -> None:
        """Make staged bulk creates visible to this transaction's own reads (as pending rows): only
        needed when the transaction goes on after them, so a bulk import that ends it pays nothing."""
        tables, self.unsettled = self.unsettled, []
        for table in tables:
            now = self._now()
            columns = [table.column(name).to_pylist() for name in (
                "node_id", "kind", "parent_id", "name", "size", "sha256", "target", "content", "content_ref")]
            for node_id, kind, parent_id, name, size, sha, target, content, ref in zip(*columns, strict=True):
                fields = (node_id, kind, parent_id, name, size, sha, target, now, None, now, None, None, None)
                self.keys[(parent_id, name)] = fields
                self.touched[parent_id].add(name)
                self.nodes[node_id] = fields
                self.created.add(node_id)
                if kind == "file":
                    self.contents[node_id] = content if content is not None else ref

    def claim_dir(self, path: str, node_id: str) -> None:
        """Claim that ``node_id`` is a committed directory (see _claim_dir)."""
        self._claim_dir(path, node_id)

    # -- reads: pending ops first, then the committed state ---------------------
    def _current(self) -> None:
        """Reads see the committed state at ``base``; if another thread moved the engine on, re-check
        first (the caller holds the engine lock, so the read that follows is at that version)."""
        version = self.pond._engine.version
        if version != self.base:
            self.rebase(version)

    def lookup(self, parent_id: str, name: str) -> NodeRow | None:
        if self.unsettled:
            self._settle()
        key = (parent_id, name)
        fields = self.keys.get(key, self)  # (self: not a pending key)
        if fields is not self:
            return None if fields is None else _NODE_ROW(NodeRow, fields)
        if parent_id in self.created:  # a directory this transaction made has nothing committed in it
            return None
        with self.pond._engine.lock:  # no other thread moves the engine between the check and the read
            self._current()
            self.read_keys.add(key)  # a committed lookup is a bisection of the state: no listing shortcut
            return self.pond._engine.lookup(parent_id, name)

    def node(self, node_id: str) -> NodeRow | None:
        if self.unsettled:
            self._settle()
        if node_id in self.nodes:
            return as_row(self.nodes[node_id])
        with self.pond._engine.lock:
            self._current()
            self.read_nodes.add(node_id)
            return self.pond._engine.node(node_id)

    def children(self, parent_id: str) -> list[NodeRow]:
        if self.unsettled:
            self._settle()
        rows: dict[str, NodeRow] = {}
        if parent_id not in self.created:
            with self.pond._engine.lock:
                self._current()
                self.read_dirs.add(parent_id)
                rows = {row.name: row for row in self.pond._engine.children(parent_id)}
        for name in self.touched.get(parent_id, ()):
            row = as_row(self.keys[(parent_id, name)])
            if row is None:
                rows.pop(name, None)
            else:
                rows[name] = row
        return [rows[name] for name in sorted(rows)]

    def child_names(self, parent_id: str) -> list[str]:
        """Names only: the committed ones without building their rows (the state's name listing)."""
        if self.unsettled:
            self._settle()
        names: set[str] = set()
        if parent_id not in self.created:
            with self.pond._engine.lock:
                self._current()
                self.read_dirs.add(parent_id)
                names = set(self.pond._engine.child_names(parent_id))
        for name in self.touched.get(parent_id, ()):
            if as_row(self.keys[(parent_id, name)]) is None:
                names.discard(name)
            else:
                names.add(name)
        return sorted(names)

    def child_kinds(self, parent_id: str) -> list[Entry]:
        return [(row.name, row.kind, row.node_id) for row in self.children(parent_id)]

    def content(self, row: NodeRow) -> bytes:
        if self.unsettled:
            self._settle()
        pending = self.contents.get(row.node_id)
        if isinstance(pending, bytes):
            return pending
        if isinstance(pending, str):
            return self.pond._store.read_blob(pending, row.sha256)
        with self.pond._engine.lock:
            self._current()
            self.read_nodes.add(row.node_id)
            content, ref = self.pond._engine.content(row)
        if ref is not None:  # a blob never changes (content-addressed): read it outside the lock
            return self.pond._store.read_blob(ref, row.sha256)
        return content or b""

    def open(self, row: NodeRow) -> BinaryIO:
        if self.unsettled:
            self._settle()
        pending = self.contents.get(row.node_id)
        if isinstance(pending, bytes):
            return io.BytesIO(pending)
        if isinstance(pending, str):
            return self.pond._store.open_blob(pending, row.sha256)
        with self.pond._engine.lock:
            self._current()
            self.read_nodes.add(row.node_id)
            content, ref = self.pond._engine.content(row)
        if ref is not None:
            return self.pond._store.open_blob(ref, row.sha256)
        return io.BytesIO(content or b"")

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
            for claim in map(Claim._make, self.claims):
                error = self._broken(claim)
                if error is not None:
                    raise Stale(error)
            raise Stale(ConflictError(f"another writer changed what this transaction read (now at version {version})"))
        self.base = version

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
        if claim.kind == "bulk":
            return self._bulk_broken(int(claim.node_id))
        return None

    def _bulk_broken(self, index: int) -> PondError | None:
        """A bulk table's names are still free in their committed parents (its first taken path if not)."""
        parents, names, paths = self.bulk_checks[index]
        engine = self.pond._engine
        committed = [p for p in pc.unique(parents).to_pylist() if p not in self.created]
        taken = [f"{p}/{name}" for p in committed for name in engine.child_names(p)]
        if not taken:
            return None
        hit = pc.is_in(pc.binary_join_element_wise(parents, names, "/"), pa.array(taken, pa.string()))
        if pc.any(hit).as_py():
            return PathExistsError(paths[pc.index(hit, True).as_py()].as_py())
        return None

    def _claim(self, kind: str, path: str, parent_id: str = "", name: str = "", node_id: str = "") -> None:
        """Remember a committed fact about a node an op relies on ("at", "empty"); pending nodes
        need no re-check.

        Kept as a plain tuple of the Claim fields (see Transaction).
        """
        if node_id not in self.nodes:
            self.claims.append((kind, path, parent_id, name, node_id))

    def _claim_dir(self, path: str, node_id: str) -> None:
        """Claim that ``node_id`` is a committed directory, once: a batch of ops in one directory
        would otherwise re-check the same fact per op (the first op's path names the error)."""
        if node_id not in self.nodes and node_id not in self.claimed_dirs:
            self.claimed_dirs.add(node_id)
            self.claims.append(("dir", path, "", "", node_id))

    def _claim_absent(self, path: str, parent_id: str, name: str) -> None:
        """Claim that nothing committed is named ``name`` in ``parent_id`` (unless this transaction
        already decided that key)."""
        if parent_id not in self.created and (parent_id, name) not in self.keys:  # (nothing committed in a new dir)
            self.claims.append(("absent", path, parent_id, name, ""))

    # -- writes -----------------------------------------------------------------
    def _now(self) -> datetime:
        """Naive UTC time for pending rows, like the log's ``ts``. Epoch plus time.time() is ~0.6 us
        cheaper per op than datetime.now(timezone.utc).replace(tzinfo=None) (replace is slow); one
        datetime serves every op of the same millisecond (a batch makes dozens per millisecond)."""
        now = time.time()
        if now - self._clock[0] >= 0.001 or now < self._clock[0]:
            self._clock = (now, _EPOCH + timedelta(0, now))
        return self._clock[1]

    def _record(self, op: OpRow, row: NodeRow | None, old: NodeRow | None = None) -> None:
        if self.unsettled:
            self._settle()
        self.ops.append(op)
        if old is not None:
            self.keys[(old.parent_id, old.name)] = None
            self.touched[old.parent_id].add(old.name)
        if row is not None:
            fields = tuple(row)
            self.keys[(row.parent_id, row.name)] = fields
            self.touched[row.parent_id].add(row.name)
            self.nodes[row.node_id] = fields
        else:
            self.nodes[op[1]] = None  # (the op's node_id)

    def create(
        self, parent: NodeRow, name: str, kind: str, path: str, data: object = None, target: str | None = None
    ) -> NodeRow:
        """Create a node named ``name`` in the directory ``parent`` (checked free by the caller)."""
        if parent.kind != "dir":
            raise NotADirError(path)
        return _NODE_ROW(NodeRow, self.create_in(parent.node_id, name, kind, path, data, target))

    def create_in(self, parent_id: str, name: str, kind: str, path: str, data: object = None,
                  target: str | None = None) -> Fields:
        """``create`` in the directory ``parent_id`` (checked a directory, and ``name`` free, by the
        caller); its pending row's fields. The hot path of a batched transaction: the op row is one
        tuple literal (see OpRow), and no NodeRow is built for a caller that needs only the id.
        """
        if self.unsettled:
            self._settle()
        nodes = self.nodes
        if parent_id not in nodes and parent_id not in self.claimed_dirs:  # _claim_dir, inlined (the hot path)
            self.claimed_dirs.add(parent_id)
            self.claims.append(("dir", path, "", "", parent_id))
        if parent_id not in self.created and (parent_id, name) not in self.keys:  # _claim_absent
            self.claims.append(("absent", path, parent_id, name, ""))
        node_id = next(self.new_ids)
        size = sha = None
        if kind == "file":
            if type(data) is bytes and len(data) <= INLINE_MAX:  # the common case: _content, inlined
                size, sha = len(data), hashlib.sha256(data).hexdigest()
                self.contents[node_id] = data
                op = ("create", node_id, kind, parent_id, name, None, None, size, sha, data, None, None, None, None)
            else:
                size, sha, content, ref = self._content(node_id, data)
                op = ("create", node_id, kind, parent_id, name, None, None, size, sha, content, ref, None, None, None)
        else:  # a symlink's target; a directory's is None
            op = ("create", node_id, kind, parent_id, name, None, None, None, None, None, None, target, None, None)
        now = self._now()
        fields = (node_id, kind, parent_id, name, size, sha, target, now, None, now, None, None, None)
        self.created.add(node_id)
        self.ops.append(op)  # _record, inlined
        self.keys[(parent_id, name)] = fields
        self.touched[parent_id].add(name)
        nodes[node_id] = fields
        return fields

    def _content(self, node_id: str, data: object) -> tuple[int, str, bytes | None, str | None]:
        """(size, sha256, inline content, blob ref) of new content: small content inline, larger
        as a blob written now (before the commit that references it); a binary stream is copied
        to a blob in chunks."""
        if type(data) is bytes:  # the common case, without to_bytes' checks
            content = data
        elif not isinstance(data, (bytes, str, bytearray, memoryview)) and hasattr(data, "read"):
            ref, size, sha = self.pond._store.write_blob_stream(data)
            self.contents[node_id] = ref
            return size, sha, None, ref
        else:
            content = to_bytes(data)
        sha = hashlib.sha256(content).hexdigest()
        self.contents[node_id] = content
        if len(content) > INLINE_MAX:
            return len(content), sha, None, self.pond._store.write_blob(content, sha)
        return len(content), sha, content, None

    def write(self, row: NodeRow, data: object, path: str) -> NodeRow:
        """Replace a file's content (a new content version of the same node)."""
        self._claim("at", path, row.parent_id, row.name, row.node_id)
        size, sha, content, ref = self._content(row.node_id, data)
        op = op_row("write", row, row.parent_id, row.name, size=size, sha=sha, content=content, ref=ref)
        new = row._replace(size=size, sha256=sha, modified=self._now(), version=None)
        self._record(op, new)
        return new

    def write_stored(self, row: NodeRow, path: str, size: int, sha: str, content: bytes | None,
                     ref: str | None) -> NodeRow:
        """Replace a file's content with content already stored (bulk.py hashed it, wrote any blob)."""
        self._claim("at", path, row.parent_id, row.name, row.node_id)
        self.contents[row.node_id] = content if content is not None else ref  # type: ignore[assignment]
        op = op_row("write", row, row.parent_id, row.name, size=size, sha=sha, content=content, ref=ref)
        new = row._replace(size=size, sha256=sha, modified=self._now(), version=None)
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
        op = op_row("remove", row, row.parent_id, row.name, size=row.size, sha=row.sha256, target=row.target)
        self._record(op, None, old=row)
        self.contents.pop(row.node_id, None)

    def move(self, row: NodeRow, new_parent: NodeRow, new_name: str, path: str) -> NodeRow:
        """Move a node to ``new_parent``/``new_name`` (which the caller made free)."""
        self._claim("at", path, row.parent_id, row.name, row.node_id)
        self._claim_dir(path, new_parent.node_id)
        self._claim_absent(path, new_parent.node_id, new_name)
        op = op_row("move", row, new_parent.node_id, new_name, row.parent_id, row.name, size=row.size,
                    sha=row.sha256, target=row.target)
        new = row._replace(parent_id=new_parent.node_id, name=new_name, modified=self._now(), version=None)
        self._record(op, new, old=row)
        return new
