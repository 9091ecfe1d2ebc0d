"""The change feed: what commits after a version did, as `history` shows it, filtered by globs.

``changes`` reads only the rows after ``since`` (the commits' own log entries when they are few,
else the data files whose ``version`` statistics allow newer rows: ``Store.read_since``) and
computes each op's absolute path without the views: a directory's location at ``since`` is its
location in the current state unless a later op moved or removed it (then that op says where it
was), and the ops after ``since`` move it on, commit by commit, exactly as sql/history.sql's
``dir_spans`` do. Ref and subscription rows are no changes. ``watch`` (watch.py) follows commits
as they land.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from .errors import CorruptPondError, InvalidArgumentError, VersionNotFoundError
from .refs import visible
from .schema import OPLOG_SCHEMA, ROOT_ID
from .store import MissingDataFile

if TYPE_CHECKING:
    from .pond import Pond

FEW_COMMITS = 64
"""Up to this many new commits are read from their own log entries; more from the data files
whose ``version`` statistics allow rows after ``since`` (one load of the table)."""
MAX_DEPTH = 10_000
"""A directory chain deeper than this is damage (a cycle), not a path."""


class Change(NamedTuple):
    """One op committed after a version, as a `history` row shows it (paths absolute)."""

    version: int
    seq: int
    ts: datetime  # commit time, UTC
    op: str  # create | write | move | remove
    kind: str  # dir | file | symlink
    path: str  # the node's path after the op (remove: where it was)
    from_path: str | None  # move only: the path before
    size: int | None
    sha256: str | None
    target: str | None
    author: str
    message: str
    node_id: str


class ChangeBatch(NamedTuple):
    """The matching changes of one commit."""

    version: int
    ts: datetime
    author: str
    message: str
    changes: list[Change]


# -- path filters ------------------------------------------------------------------------
Globs = tuple[str, ...] | None


def check_globs(paths: object) -> Globs:
    """``paths`` as a tuple of absolute globs (None: every path); InvalidArgumentError otherwise."""
    if paths is None:
        return None
    items = [paths] if isinstance(paths, str) else paths
    if not isinstance(items, (list, tuple)) or not items:
        raise InvalidArgumentError(f"paths must be a glob or a non-empty list of globs, not {paths!r}")
    for glob in items:
        if not isinstance(glob, str) or not glob.startswith("/"):
            raise InvalidArgumentError(f"a path glob is a str starting with '/' (absolute in the pond), not {glob!r}")
        _compile(glob)
    return tuple(items)


@cache
def _compile(glob: str) -> re.Pattern[str]:
    """A glob over absolute pond paths: ``*`` and ``?`` stay within one name, ``**`` crosses
    folders (``/a/**/b`` matches ``/a/b`` too), ``[...]`` is a character class."""
    out, i = [], 0
    while i < len(glob):
        if glob.startswith("/**/", i):
            out.append("(?:/.*)?/")
            i += 4
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[" and glob.find("]", i + 2) > 0:
            end = glob.find("]", i + 2)  # a "]" right after "[" (or "[!") belongs to the class
            body = glob[i + 1:end]
            body = "^" + body[1:] if body.startswith("!") else body
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    try:
        return re.compile("".join(out) + r"\Z", re.DOTALL)
    except re.error as exc:
        raise InvalidArgumentError(f"invalid path glob {glob!r}: {exc}") from None


def matches(globs: Globs, change: Change) -> bool:
    """Does the change touch a path the globs select? A move matches by its old or new path."""
    if globs is None:
        return True
    for glob in globs:
        pattern = _compile(glob)
        if pattern.match(change.path) or (change.from_path is not None and pattern.match(change.from_path)):
            return True
    return False


# -- reading the rows after a version ---------------------------------------------------
def check_since(since: object, latest: int) -> int:
    if isinstance(since, bool) or not isinstance(since, int):
        raise InvalidArgumentError(f"since must be a version number (int), not {type(since).__name__}")
    if since < 0 or since > latest:
        raise VersionNotFoundError(f"version {since} is not in this pond (versions 0..{latest})")
    return since


def _rows_after(pond: Pond, since: int, upto: int) -> pa.Table:
    """Every op row of versions (since, upto], all branches (the caller filters)."""
    if upto <= since:
        return OPLOG_SCHEMA.empty_table()
    store = pond._store
    rows = None
    if upto - since <= FEW_COMMITS:
        try:
            rows = store.read_commits(since + 1, upto)
        except MissingDataFile:  # compacted and vacuumed since: the current data files hold the rows
            rows = None
    if rows is None:  # many commits, or their entries were trimmed: the data files' version statistics
        _, rows = store.read_since(since)
    if rows.num_rows:
        rows = rows.filter(pc.less_equal(rows["version"], upto))
    return rows


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def changes(pond: Pond, since: int, paths: object = None) -> Iterator[Change]:
    """The changes committed on the pond's branch after version ``since`` (up to the pond's version),
    oldest first, that touch ``paths`` (a glob or list of globs; None: all)."""
    globs = check_globs(paths)
    found = batches(pond, since, globs)  # read now: a lazy read would see commits made meanwhile
    return (change for batch in found for change in batch.changes)


def batches(pond: Pond, since: int, globs: Globs, skip: Iterable[int] = ()) -> list[ChangeBatch]:
    """The commits after ``since`` with changes matching ``globs``, one batch each, oldest first
    (``skip``: versions left out, e.g. a subscription's own outputs)."""
    return read_batches(pond, since, globs, skip)[1]


def read_batches(pond: Pond, since: int, globs: Globs, skip: Iterable[int] = ()) -> tuple[int, list[ChangeBatch]]:
    """(the version read up to, the batches after ``since``): see ``batches``."""
    engine = pond._engine
    with engine.lock:
        engine._check_open()
        head = engine.sync()
        check_since(since, head)
        upto = head if pond._at is None else pond._at
        rows = visible(_rows_after(pond, since, head), engine.chain)
        dirs = {node_id: (row.parent_id, row.name) for node_id, row in engine._dir_ids.items()}
    return upto, _batches(rows, dirs, globs, upto, set(skip))


def _batches(rows: pa.Table, live_dirs: dict[str, tuple[str, str]], globs: Globs, upto: int,
             skip: set[int]) -> list[ChangeBatch]:
    """Group the rows into batches with paths computed (see the module docstring)."""
    if not rows.num_rows:
        return []
    rows = rows.sort_by([("version", "ascending"), ("seq", "ascending")])
    names = ("version", "seq", "ts", "op", "kind", "node_id", "parent_id", "name", "from_parent_id", "from_name",
             "size", "sha256", "target", "author", "message")
    cols = {name: rows.column(name).to_pylist() for name in names}
    location = dict(live_dirs)  # each directory's location at `since`
    seen: set[str] = set()
    for i in range(rows.num_rows):
        node_id = cols["node_id"][i]
        if cols["kind"][i] != "dir" or node_id in seen:
            continue
        seen.add(node_id)
        op = cols["op"][i]
        if op == "create":
            location.pop(node_id, None)
        elif op == "move":
            location[node_id] = (cols["from_parent_id"][i], cols["from_name"][i])
        else:
            location[node_id] = (cols["parent_id"][i], cols["name"][i])
    out: list[ChangeBatch] = []
    start = 0
    while start < rows.num_rows:
        version = cols["version"][start]
        end = start
        while end < rows.num_rows and cols["version"][end] == version:
            end += 1
        for i in range(start, end):  # a directory's path at a version is where the commit left it
            if cols["kind"][i] == "dir":
                location[cols["node_id"][i]] = (cols["parent_id"][i], cols["name"][i])
        if version > upto:
            break
        if version not in skip:
            memo: dict[str, str] = {}
            found = []
            for i in range(start, end):
                path = _join(_dir_path(cols["parent_id"][i], location, memo), cols["name"][i])
                from_path = None
                if cols["op"][i] == "move":
                    from_path = _join(_dir_path(cols["from_parent_id"][i], location, memo), cols["from_name"][i])
                change = Change(version, cols["seq"][i], _utc(cols["ts"][i]), cols["op"][i], cols["kind"][i], path,
                                from_path, cols["size"][i], cols["sha256"][i], cols["target"][i],
                                cols["author"][i] or "", cols["message"][i] or "", cols["node_id"][i])
                if matches(globs, change):
                    found.append(change)
            if found:
                out.append(ChangeBatch(version, found[0].ts, found[0].author, found[0].message, found))
        start = end
    return out


def _join(folder: str | None, name: str) -> str:
    if folder is None:  # the root's own create (parent_id '')
        return "/"
    return "/" + name if folder == "/" else f"{folder}/{name}"


def _dir_path(dir_id: str, location: dict[str, tuple[str, str]], memo: dict[str, str]) -> str | None:
    if dir_id == "":
        return None
    if dir_id in memo:
        return memo[dir_id]
    parts, cur = [], dir_id
    while cur != ROOT_ID:
        where = location.get(cur)
        if where is None or len(parts) > MAX_DEPTH:
            raise CorruptPondError(f"directory {dir_id} has no location in the log")
        parts.append(where[1])
        cur = where[0]
    path = "/" + "/".join(reversed(parts))
    memo[dir_id] = path
    return path


def as_dict(change: Change) -> dict[str, Any]:
    """A change as JSON-ready fields (ts in ISO form)."""
    out = change._asdict()
    out["ts"] = change.ts.isoformat()
    return out
