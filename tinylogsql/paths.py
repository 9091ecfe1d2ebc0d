"""Names and path resolution, following Linux rules (40 symlink hops, absolute paths anywhere)."""

from __future__ import annotations

from typing import NamedTuple, Protocol

from .errors import InvalidNameError, NotADirError, PathNotFoundError, SymlinkLoopError
from .query import NodeRow
from .schema import ROOT_ID

MAX_NAME_BYTES = 255
MAX_SYMLINK_HOPS = 40


class View(Protocol):
    """What resolution needs from a pond state: the live state, a snapshot, or a transaction."""

    def lookup(self, parent_id: str, name: str) -> NodeRow | None: ...

    def node(self, node_id: str) -> NodeRow | None: ...


_VALID: set[str] = set()
"""Names validated already (a batch repeats its directory names): checked once, up to VALID_KEPT."""
VALID_KEPT = 1 << 16


def validate_name(name: object) -> str:
    """Return ``name`` if it can be a directory entry, else raise InvalidNameError."""
    if type(name) is str and name in _VALID:
        return name
    if not isinstance(name, str):
        raise InvalidNameError(f"a name must be a str, not {type(name).__name__}")
    if name in ("", ".", ".."):
        raise InvalidNameError(f"invalid name {name!r}")
    if "/" in name or "\x00" in name:
        raise InvalidNameError(f"a name cannot contain '/' or NUL: {name!r}")
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidNameError(f"a name must be valid UTF-8 (lone surrogate?): {name!r}") from exc
    if len(encoded) > MAX_NAME_BYTES:
        raise InvalidNameError(f"a name is at most {MAX_NAME_BYTES} UTF-8 bytes, this one has {len(encoded)}")
    if len(_VALID) >= VALID_KEPT:
        _VALID.clear()
    _VALID.add(name)
    return name


def split_path(path: object) -> tuple[bool, list[str]]:
    """(is absolute, components without empty ones). "." and ".." are kept for resolution."""
    if not isinstance(path, str):
        raise InvalidNameError(f"a path must be a str, not {type(path).__name__}")
    if path == "":
        raise InvalidNameError("empty path")
    if "\x00" in path:
        raise InvalidNameError(f"a path cannot contain NUL: {path!r}")
    parts = [part for part in path.split("/") if part]
    for part in parts:
        if part not in (".", ".."):
            validate_name(part)
    return path.startswith("/"), parts


class Resolved(NamedTuple):
    """Where a path leads: the directory and name of its final component, and what is there."""

    parent_id: str
    name: str
    row: NodeRow | None
    dotted: bool  # the final component was "." or ".." (or the path was "/")
    parent: NodeRow | None = None  # the directory ``parent_id``, when the walk read it (a free name's)


class _Hops:
    def __init__(self) -> None:
        self.count = 0


def _plain_name(path: object) -> bool:
    """Is ``path`` one component other than "." and ".." (checked further by validate_name)?"""
    return type(path) is str and path not in ("", ".", "..") and "/" not in path and "\x00" not in path


def is_plain(name: object) -> bool:
    """Is ``name`` a valid directory entry other than "." and ".." (what ``validate_name`` accepts),
    without raising: callers with a general walk to fall back on, which raises the errors."""
    if type(name) is str and name in _VALID:
        return True
    if not _plain_name(name):
        return False
    try:
        validate_name(name)
    except InvalidNameError:
        return False
    return True


def _plain_parts(path: str) -> list[str] | None:
    """The components of a relative path made only of plain names ("a/b/c"), each checked by
    validate_name; None for anything else ("", ".", "..", "//", NUL, absolute), which takes the
    general walk."""
    parts = path.split("/")
    for part in parts:
        if part not in _VALID:
            if not _plain_name(part):
                return None
            validate_name(part)
    return parts


def _follow(view: View, directory_id: str, link: NodeRow, path: str, hops: _Hops) -> Resolved:
    """Where the symlink ``link`` in ``directory_id`` leads, counting the hop against ``path``."""
    hops.count += 1
    if hops.count > MAX_SYMLINK_HOPS:
        raise SymlinkLoopError(path, f"more than {MAX_SYMLINK_HOPS} symlinks")
    if not link.target:
        raise PathNotFoundError(path, "empty symlink target")
    try:
        return resolve(view, directory_id, link.target, True, hops)
    except SymlinkLoopError:
        raise SymlinkLoopError(path, f"more than {MAX_SYMLINK_HOPS} symlinks") from None


def _walk_plain(view: View, start_id: str, path: str, parts: list[str], follow_last: bool) -> Resolved | None:
    """``resolve`` for a path of plain names with no symlink before its last component (None if
    one is there: the general walk follows it); the errors are the general walk's."""
    current, current_row = start_id, None
    for part in parts[:-1]:
        row = view.lookup(current, part)
        if row is None:
            raise PathNotFoundError(path)
        if row.kind != "dir":
            if row.kind == "symlink":
                return None
            raise NotADirError(path)
        current, current_row = row.node_id, row
    name = parts[-1]
    row = view.lookup(current, name)
    if row is None:
        return Resolved(current, name, None, False, current_row)
    if row.kind == "symlink" and follow_last:
        return _follow(view, current, row, path, _Hops())
    return Resolved(row.parent_id, row.name, row, False)


def resolve(view: View, start_id: str, path: str, follow_last: bool, hops: _Hops | None = None) -> Resolved:
    """Walk ``path`` from the directory ``start_id``; symlinks in the middle are always followed."""
    if _plain_name(path):  # the common "name" in a directory: one lookup, no splitting
        row = view.lookup(start_id, validate_name(path))
        if row is None:
            return Resolved(start_id, path, None, False)
        if row.kind == "symlink" and follow_last:
            return _follow(view, start_id, row, path, hops or _Hops())
        return Resolved(row.parent_id, row.name, row, False)
    if type(path) is str and path[:1] != "/" and (plain := _plain_parts(path)) is not None:
        found = _walk_plain(view, start_id, path, plain, follow_last)  # "dir/name": no "." or ".." to handle
        if found is not None:
            return found
    hops = hops or _Hops()
    absolute, parts = split_path(path)
    current = ROOT_ID if absolute else start_id
    current_row: NodeRow | None = None  # fetched only when "." or ".." need it

    def here() -> NodeRow:
        row = current_row or view.node(current)
        if row is None:
            raise PathNotFoundError(path, "its directory no longer exists")
        return row

    if not parts:
        row = here()
        return Resolved(row.parent_id, row.name, row, True)
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == ".":
            row = here()
        elif part == "..":
            row = here() if current == ROOT_ID else view.node(here().parent_id)
            if row is None:
                raise PathNotFoundError(path)
        else:
            row = view.lookup(current, part)
            if row is None:
                if last:
                    return Resolved(current, part, None, False, current_row)
                raise PathNotFoundError(path)
            if row.kind == "symlink" and (follow_last or not last):
                found = _follow(view, current, row, path, hops)
                if last:
                    return found
                row = found.row
                if row is None:
                    raise PathNotFoundError(path)
        if last:
            return Resolved(row.parent_id, row.name, row, part in (".", ".."))
        if row.kind != "dir":
            raise NotADirError(path)
        current, current_row = row.node_id, row
    raise AssertionError("unreachable")
