"""Directory, File and Symlink: thin handles (a pond and a node id) over the views.

A handle holds no entries and no content; every attribute and listing is read from the
pond's current state when asked, so two handles, two ponds and two processes agree.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from itertools import repeat
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from .alloc import collector_paused
from .errors import (
    InvalidMoveError,
    InvalidNameError,
    IsADirError,
    NotADirError,
    PathExistsError,
    PathNotFoundError,
    RootError,
    SymlinkLoopError,
)
from .paths import Resolved, resolve, split_path
from .query import NodeRow
from .schema import ROOT_ID
from .state import Listing

if TYPE_CHECKING:
    from .pond import Pond, ReadView
    from .txn import Transaction


def node_path(view: ReadView, row: NodeRow) -> str:
    """The absolute path of a node, walking parent ids up to the root."""
    names: list[str] = []
    seen = 0
    while row.node_id != ROOT_ID:
        names.append(row.name)
        parent = view.node(row.parent_id)
        seen += 1
        if parent is None or seen > 100_000:
            raise PathNotFoundError(row.name, "node is no longer reachable from the root")
        row = parent
    return "/" + "/".join(reversed(names))


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=timezone.utc) if value is not None else None


class NodeStat(NamedTuple):
    """What ``stat`` and ``listing`` report about a node, read in one go (like os.stat_result)."""

    path: str
    name: str
    kind: str  # dir | file | symlink
    size: int | None  # bytes, files only
    sha256: str | None  # files only
    target: str | None  # symlinks only, as given
    node_id: str
    created: datetime | None  # UTC; None while pending in a transaction
    modified: datetime | None  # UTC; None while pending in a transaction
    version: int | None  # Delta version of the last change; None while pending


def _stat(row: NodeRow, path: str) -> NodeStat:
    return NodeStat(path, row.name, row.kind, row.size, row.sha256, row.target, row.node_id,
                    _utc(row.created), _utc(row.modified), row.version)


class Node:
    """A handle on one node of a pond: its identity, not a copy of its state."""

    kind = "node"
    __slots__ = ("pond", "node_id", "__weakref__")  # a listing makes one per entry: keep them light

    def __init__(self, pond: Pond, node_id: str) -> None:
        self.pond = pond
        self.node_id = node_id

    def _row(self, view: ReadView) -> NodeRow:
        row = view.node(self.node_id)
        if row is None:
            raise PathNotFoundError(f"<node {self.node_id}>", "it was removed")
        return row

    def _get(self, attribute: str) -> Any:
        return self.pond._read(lambda view: getattr(self._row(view), attribute))

    @property
    def name(self) -> str:
        """The node's current name ("" for the root)."""
        return self._get("name")

    @property
    def path(self) -> str:
        """The node's current absolute path."""
        return self.pond._read(lambda view: node_path(view, self._row(view)))

    @property
    def modified(self) -> datetime | None:
        """UTC time of the node's last change (None while pending in a transaction)."""
        return _utc(self._get("modified"))

    @property
    def created(self) -> datetime | None:
        return _utc(self._get("created"))

    @property
    def version(self) -> int | None:
        """Delta version of the node's last change (None while pending in a transaction)."""
        return self._get("version")

    def stat(self) -> NodeStat:
        """Path, kind, size, sha256, target, times and version, from one read of the state."""
        return self.pond._read(lambda view: _stat(self._row(view), node_path(view, self._row(view))))

    def _repr_html_(self) -> str:
        from .display import node_html

        return node_html(self)

    def exists_now(self) -> bool:
        """Is this node still in the pond (under any name)?"""
        return self.pond._read(lambda view: view.node(self.node_id) is not None)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Node) and other.pond is self.pond and other.node_id == self.node_id

    def __hash__(self) -> int:
        return hash((id(self.pond), self.node_id))

    def __repr__(self) -> str:
        from .display import node_repr

        return node_repr(self)


def wrap(pond: Pond, row: NodeRow | None) -> Node | None:
    """The handle class for a row's kind."""
    if row is None:
        return None
    return HANDLES[row.kind](pond, row.node_id)


class File(Node):
    """A file: content versions of one node."""

    kind = "file"
    __slots__ = ()

    def read(self) -> bytes:
        """The current content."""
        return self.pond._read(lambda view: view.content(self._row(view)))

    def open(self) -> BinaryIO:
        """A seekable binary file over the current content; large content streams from its blob."""
        return self.pond._read(lambda view: view.open(self._row(view)))

    def write(self, data: bytes | str) -> None:
        """Store a new content version."""
        def op(tx: Transaction) -> None:
            row = self._row(tx)
            tx.write(row, data, node_path(tx, row))

        self.pond._write(op, "write file")

    @property
    def size(self) -> int:
        return self._get("size")

    @property
    def sha256(self) -> str:
        return self._get("sha256")


class Symlink(Node):
    """A symbolic link; its target is stored as given and resolved when followed."""

    kind = "symlink"
    __slots__ = ()

    @property
    def target(self) -> str:
        return self._get("target")


class Directory(Node):
    """A directory. Paths are relative to it, or absolute from the pond's root."""

    kind = "dir"
    __slots__ = ()

    # -- resolution helpers ------------------------------------------------------
    def _resolve(self, view: ReadView, path: str, follow_last: bool) -> Resolved:
        return resolve(view, self.node_id, path, follow_last)

    def _new_slot(self, view: ReadView, path: str) -> tuple[NodeRow, str]:
        """The directory and free name where ``path`` would be created."""
        found = resolve(view, self.node_id, path, False)
        if found.dotted:
            if path.strip("/") == "":
                raise PathExistsError(path)
            raise InvalidNameError(f"cannot create {path!r}: it ends in '.' or '..'")
        if found.row is not None:
            raise PathExistsError(path)
        parent = found.parent or view.node(found.parent_id)
        if parent is None:
            raise PathNotFoundError(path)
        if parent.kind != "dir":
            raise NotADirError(path)
        return parent, found.name

    def _existing(self, view: ReadView, path: str, follow_last: bool) -> NodeRow:
        found = self._resolve(view, path, follow_last)
        if found.row is None:
            raise PathNotFoundError(path)
        return found.row

    # -- creating ------------------------------------------------------------------
    def create_dir_path(self, path: str, *, parents: bool = False, exist_ok: bool = False) -> Directory:
        """Create a directory; with ``parents`` also missing ancestors (like ``mkdir -p``)."""
        def op(tx: Transaction) -> NodeRow:
            if parents:
                return self._make_parents(tx, path, exist_ok)
            try:
                parent, name = self._new_slot(tx, path)
            except PathExistsError:
                if exist_ok:
                    row = self._existing(tx, path, follow_last=True)
                    if row.kind == "dir":
                        return row
                raise
            return tx.create(parent, name, "dir", path)

        return Directory(self.pond, self.pond._write(op, f"mkdir {path}").node_id)

    def _make_parents(self, tx: Transaction, path: str, exist_ok: bool) -> NodeRow:
        split_path(path)  # a non-str, empty or NUL path is an InvalidNameError, not an AttributeError
        absolute = path.startswith("/")
        parts = [p for p in path.split("/") if p]
        if not parts:
            if absolute and exist_ok:
                return tx.node(ROOT_ID)  # type: ignore[return-value]
            raise PathExistsError(path) if absolute else InvalidNameError("empty path")
        current = "/" if absolute else "."
        row: NodeRow | None = None
        for index, part in enumerate(parts):
            current = f"{current.rstrip('/')}/{part}" if current != "." else part
            found = self._resolve(tx, current, follow_last=True)
            if found.row is None:
                parent = tx.node(found.parent_id)
                assert parent is not None
                row = tx.create(parent, found.name, "dir", current)
            elif found.row.kind != "dir":
                raise NotADirError(current) if index < len(parts) - 1 else PathExistsError(current)
            elif index == len(parts) - 1 and not exist_ok:
                raise PathExistsError(current)
            else:
                row = found.row
        assert row is not None
        return row

    def create_file_path(self, path: str, content: bytes | str = b"") -> File:
        """Create a file with ``content`` (str is stored as UTF-8); FileExistsError if taken."""
        pond = self.pond
        tx = pond._tx()
        if tx is not None and pond._at is None:  # in a transaction: pond._write's first case, without its message
            fields = tx.parents.create(tx, self.node_id, path, "file", content)  # (a batch's common case)
            if fields is not None:
                return File(pond, fields[0])
            parent, name = self._new_slot(tx, path)
            return File(pond, tx.create(parent, name, "file", path, data=content).node_id)

        def op(tx: Transaction) -> NodeRow:
            parent, name = self._new_slot(tx, path)
            return tx.create(parent, name, "file", path, data=content)

        return File(self.pond, self.pond._write(op, f"create {path}").node_id)

    def create_symlink_path(self, path: str, target: str) -> Symlink:
        """Create a symlink to ``target`` (absolute, or relative to the link's directory)."""
        if not isinstance(target, str) or not target or "\x00" in target:
            raise InvalidNameError(f"invalid symlink target {target!r}")

        def op(tx: Transaction) -> NodeRow:
            parent, name = self._new_slot(tx, path)
            return tx.create(parent, name, "symlink", path, target=target)

        return Symlink(self.pond, self.pond._write(op, f"symlink {path} -> {target}").node_id)

    def write_file_path(self, path: str, content: bytes | str) -> File:
        """Write a new content version (following symlinks); create the file if missing."""
        def op(tx: Transaction) -> NodeRow:
            found = self._resolve(tx, path, follow_last=True)
            if found.row is None:
                parent = tx.node(found.parent_id)
                if parent is None:
                    raise PathNotFoundError(path)
                return tx.create(parent, found.name, "file", path, data=content)
            if found.row.kind == "dir":
                raise IsADirError(path)
            return tx.write(found.row, content, path)

        return File(self.pond, self.pond._write(op, f"write {path}").node_id)

    def create_files(self, files: Mapping[str, Any], *, parents: bool = True, exist_ok: bool = False,
                     message: str | None = None, author: str | None = None,
                     on_file: Callable[[str, int], None] | None = None) -> int | None:
        """Create many files at once through the bulk path (bulk.py): ``{relpath: content}``, where
        content is bytes, str (UTF-8), a binary stream or an ``os.PathLike`` naming a local file.

        Missing directories are made with ``parents`` (else PathNotFoundError); an existing path is
        PathExistsError unless ``exist_ok`` (then a file gets the content as a new version). All in
        one commit (``message``/``author``), whose version is returned; inside ``pond.transaction()``
        the files join that transaction instead (None is returned). On any error nothing is stored.
        ``on_file(path, size)`` is called as each content is read (for a progress bar).
        """
        from .bulk import batch_from_mapping, create

        batch = batch_from_mapping(self.pond, files, on_file)
        return create(self.pond, self, batch, parents, exist_ok, message, author)

    # -- reading -----------------------------------------------------------------
    def exists(self, path: str) -> bool:
        """Does ``path`` lead somewhere (following symlinks)? False for dangling links and loops."""
        def check(view: ReadView) -> bool:
            try:
                return self._resolve(view, path, follow_last=True).row is not None
            except (PathNotFoundError, NotADirError, SymlinkLoopError):
                return False

        return self.pond._read(check)

    def read_file_path(self, path: str) -> bytes:
        """The content of the file at ``path`` (following symlinks)."""
        def read(view: ReadView) -> bytes:
            row = self._existing(view, path, follow_last=True)
            if row.kind == "dir":
                raise IsADirError(path)
            return view.content(row)

        return self.pond._read(read)

    def open_dir_path(self, path: str) -> Directory:
        """The directory at ``path`` (following symlinks)."""
        def find(view: ReadView) -> NodeRow:
            row = self._existing(view, path, follow_last=True)
            if row.kind != "dir":
                raise NotADirError(path)
            return row

        return Directory(self.pond, self.pond._read(find).node_id)

    def get(self, path: str, *, follow_symlinks: bool = False) -> File | Directory | Symlink | None:
        """The node at ``path`` (a final symlink is not followed unless asked); None if missing."""
        def find(view: ReadView) -> NodeRow | None:
            try:
                return self._resolve(view, path, follow_last=follow_symlinks).row
            except PathNotFoundError:
                return None

        return wrap(self.pond, self.pond._read(find))  # type: ignore[return-value]

    def entries(self) -> Iterator[tuple[str, File | Directory | Symlink]]:
        """(name, node) for every entry, sorted by name (read at the call, in one read)."""
        pond = self.pond
        with collector_paused():  # ~30k acyclic objects (see alloc.py)
            listed = Listing.of(pond._read(lambda view: (self._row(view), view.child_kinds(self.node_id))[1]))
            return iter(list(zip(listed.names, _handles(pond, listed.kinds, listed.node_ids), strict=True)))

    def listing(self) -> list[NodeStat]:
        """A NodeStat for every entry, sorted by name, from one read (like os.scandir)."""
        def read(view: ReadView) -> list[NodeStat]:
            base = node_path(view, self._row(view)).rstrip("/")
            return [_stat(row, f"{base}/{row.name}") for row in view.children(self.node_id)]

        return self.pond._read(read)

    def __iter__(self) -> Iterator[str]:
        return iter(self.pond._read(lambda view: view.child_names(self._row(view).node_id)))

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return self.pond._read(lambda view: view.lookup(self._row(view).node_id, name) is not None)

    def __len__(self) -> int:
        return len(self.pond._read(lambda view: view.child_names(self._row(view).node_id)))

    # -- removing and moving -----------------------------------------------------------
    def remove(self, path: str, *, recursive: bool = False) -> None:
        """Remove a file, symlink or empty directory (any directory with ``recursive=True``)."""
        def op(tx: Transaction) -> None:
            found = self._resolve(tx, path, follow_last=False)
            if found.row is not None and found.row.node_id == ROOT_ID:
                raise RootError(path, "the root cannot be removed")
            if found.dotted:
                raise InvalidNameError(f"cannot remove {path!r}: it ends in '.' or '..'")
            if found.row is None:
                raise PathNotFoundError(path)
            tx.remove(found.row, path, recursive)

        self.pond._write(op, f"remove {path}")

    def rename(self, src: str, dst: str) -> None:
        """Move or rename ``src`` to ``dst`` with os.rename's rules (replacing a file or empty dir)."""
        def op(tx: Transaction) -> None:
            source = self._resolve(tx, src, follow_last=False)
            if source.row is not None and source.row.node_id == ROOT_ID:
                raise RootError(src, "the root cannot be moved")
            if source.dotted or source.row is None:
                raise PathNotFoundError(src) if source.row is None else InvalidNameError(f"cannot move {src!r}")
            dest = self._resolve(tx, dst, follow_last=False)
            if dest.dotted:
                raise (RootError(dst, "cannot replace the root") if dest.row and dest.row.node_id == ROOT_ID
                       else InvalidNameError(f"cannot move onto {dst!r}"))
            row = source.row
            new_parent = tx.node(dest.parent_id)
            if new_parent is None:
                raise PathNotFoundError(dst)
            if new_parent.kind != "dir":
                raise NotADirError(dst)
            if row.kind == "dir":
                ancestor: NodeRow | None = new_parent
                while ancestor is not None:
                    if ancestor.node_id == row.node_id:
                        raise InvalidMoveError(f"cannot move {src!r} into itself ({dst!r})")
                    if ancestor.node_id == ROOT_ID:
                        break
                    ancestor = tx.node(ancestor.parent_id)
            victim = dest.row
            if victim is not None:
                if victim.node_id == row.node_id:
                    return
                if row.kind == "dir" and victim.kind != "dir":
                    raise NotADirError(dst)
                if row.kind != "dir" and victim.kind == "dir":
                    raise IsADirError(dst)
                tx.remove(victim, dst, recursive=False)
            tx.move(row, new_parent, dest.name, src)

        self.pond._write(op, f"rename {src} -> {dst}")

    def restore(self, path: str, at: object, message: str | None = None) -> int | None:
        """Bring a file or a whole directory back as it was at revision ``at`` (a version, time,
        branch, tag or ``name~N``), in one commit; returns its version."""
        from .undo import restore

        return restore(self, path, at, message)

    # -- walking ---------------------------------------------------------------------
    def walk(self, top: str = ".") -> Iterator[tuple[str, list[str], list[str]]]:
        """Like os.walk, top-down, absolute paths; symlinked directories are listed, not followed."""
        start = self.open_dir_path(top)
        yield from self.pond._walk(start.node_id, start.path)

    def glob(self, pattern: str) -> list[str]:
        """Absolute paths matching a pathlib-style pattern ("*", "?", "[...]", "**")."""
        if not isinstance(pattern, str) or not pattern:
            raise InvalidNameError("empty glob pattern")
        parts = [p for p in pattern.split("/") if p and p != "."]
        start = Directory(self.pond, ROOT_ID) if pattern.startswith("/") else self

        def run(view: ReadView) -> list[str]:
            row = start._row(view)
            found: set[str] = set()
            _glob(view, row, node_path(view, row), parts, found)
            return sorted(found)

        return self.pond._read(run)


HANDLES: dict[str, Any] = {"dir": Directory, "file": File, "symlink": Symlink}
"""The handle class for each node kind."""


def _handles(pond: Pond, kinds: list[str], node_ids: list[str]) -> list[Node]:
    """A handle per node id, of its kind's class, built by ``map`` (no Python loop or tuple per
    entry): one class for all when the kinds agree (a folder of files), else each entry's own."""
    if kinds and kinds.count(kinds[0]) == len(kinds):
        return list(map(HANDLES[kinds[0]], repeat(pond), node_ids))
    return list(map(type.__call__, map(HANDLES.__getitem__, kinds), repeat(pond), node_ids))


def _glob(view: ReadView, row: NodeRow, path: str, parts: list[str], found: set[str]) -> None:
    if not parts:
        found.add(path)
        return
    head, rest = parts[0], parts[1:]

    def join(name: str) -> str:
        return f"{path.rstrip('/')}/{name}"

    if head == "**":
        if rest:
            _glob(view, row, path, rest, found)
        else:
            found.add(path)
        for child in view.children(row.node_id):
            if child.kind == "dir":
                _glob(view, child, join(child.name), parts, found)
        return
    if head == "..":
        parent = view.node(row.parent_id) if row.node_id != ROOT_ID else row
        if parent is not None:
            _glob(view, parent, path.rsplit("/", 1)[0] or "/", rest, found)
        return
    if any(ch in head for ch in "*?["):
        candidates = [c for c in view.children(row.node_id) if fnmatch.fnmatchcase(c.name, head)]
    else:
        hit = view.lookup(row.node_id, head)
        candidates = [hit] if hit is not None else []
    for child in candidates:
        if not rest:
            found.add(join(child.name))
            continue
        target = child
        if child.kind == "symlink":
            try:
                target = resolve(view, row.node_id, child.name, follow_last=True).row  # type: ignore[assignment]
            except (PathNotFoundError, NotADirError, SymlinkLoopError):
                continue
        if target is not None and target.kind == "dir":
            _glob(view, target, join(child.name), rest, found)
