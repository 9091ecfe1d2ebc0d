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

import bisect
import gc
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from .errors import CorruptPondError, InvalidArgumentError, VersionNotFoundError
from .globs import compile_glob, mask, match
from .logfiles import MissingDataFile
from .refs import visible
from .schema import OPLOG_SCHEMA, ROOT_ID

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
        compile_glob(glob)
    return tuple(items)


def matches(globs: Globs, change: Change) -> bool:
    """Does the change touch a path the globs select? A move matches by its old or new path."""
    if globs is None:
        return True
    return any(match(glob, change.path) or (change.from_path is not None and match(glob, change.from_path))
               for glob in globs)


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
        engine.check_open()
        head = engine.sync()
        check_since(since, head)
        upto = head if pond._at is None else pond._at
        rows = visible(_rows_after(pond, since, head), engine.chain)
        dirs = {node_id: (row.parent_id, row.name) for node_id, row in engine._dir_ids.items()}
    return upto, _batches(rows, dirs, globs, upto, set(skip))


_READ = ("version", "seq", "ts", "op", "kind", "node_id", "parent_id", "name", "from_parent_id", "from_name", "size",
         "sha256", "target", "author", "message")
"""The log columns a change is made of (never the inline content)."""


def _batches(rows: pa.Table, live_dirs: dict[str, tuple[str, str]], globs: Globs, upto: int,
             skip: set[int]) -> list[ChangeBatch]:
    """Group the rows into batches with paths computed (see the module docstring): Python walks
    only the directory ops and the distinct (version, directory) pairs; the rest is Arrow."""
    if not rows.num_rows:
        return []
    rows = rows.select(list(_READ)).sort_by([("version", "ascending"), ("seq", "ascending")])
    paths = _dir_paths(rows, live_dirs)
    rows = _with_path(rows, paths, "parent_id", "name", "path")
    rows = _with_path(rows, paths, "from_parent_id", "from_name", "from_path")
    keep = pc.less_equal(rows["version"], upto)
    if skip:
        keep = pc.and_(keep, pc.invert(pc.is_in(rows["version"], pa.array(sorted(skip), pa.int64()))))
    if globs is not None:
        keep = pc.and_(keep, mask(globs, rows["path"], rows["from_path"]))
    rows = rows.filter(keep)
    if not rows.num_rows:
        return []
    per_row = [rows[name].to_pylist() for name in ("version", "seq", "op", "kind", "path", "from_path", "size",
                                                   "sha256", "target", "node_id")]
    versions = per_row[0]
    out: list[ChangeBatch] = []
    start = 0
    collecting = gc.isenabled()
    gc.disable()  # a million new tuples would set off the cycle collector again and again (3x the time)
    try:
        while start < len(versions):  # ts, author and message are the commit's: one object per batch
            version = versions[start]
            end = bisect.bisect_right(versions, version, start)
            ts = _utc(rows["ts"][start].as_py())
            author, message = rows["author"][start].as_py() or "", rows["message"][start].as_py() or ""
            found = [Change(version, seq, ts, op, kind, path, from_path, size, sha256, target, author, message,
                            node_id) for seq, op, kind, path, from_path, size, sha256, target, node_id
                     in zip(*(column[start:end] for column in per_row[1:]), strict=True)]
            out.append(ChangeBatch(version, ts, author, message, found))
            start = end
    finally:
        if collecting:
            gc.enable()
    return out


def _dir_paths(rows: pa.Table, live_dirs: dict[str, tuple[str, str]]) -> pa.Table:
    """(version, dir, dir_path) for every directory a row names as its parent or former parent,
    where the commit ``version`` left that directory (as sql/history.sql's ``dir_spans``)."""
    dir_rows = rows.filter(pc.equal(rows["kind"], "dir")).select(
        ["version", "node_id", "op", "parent_id", "name", "from_parent_id", "from_name"]).to_pylist()
    location = dict(live_dirs)  # each directory's location at `since`: now, unless a later op says
    seen: set[str] = set()
    for row in dir_rows:
        if row["node_id"] in seen:
            continue
        seen.add(row["node_id"])
        if row["op"] == "create":
            location.pop(row["node_id"], None)
        elif row["op"] == "move":
            location[row["node_id"]] = (row["from_parent_id"], row["from_name"])
        else:
            location[row["node_id"]] = (row["parent_id"], row["name"])
    pairs = pa.concat_tables([
        pa.table({"version": rows["version"], "dir": rows["parent_id"]}),
        pa.table({"version": rows["version"], "dir": rows["from_parent_id"]}),
    ]).filter(pc.invert(pc.is_null(pc.field("dir")))).group_by(["version", "dir"]).aggregate([])
    pairs = pairs.sort_by([("version", "ascending")])
    out_paths: list[str | None] = []
    memo: dict[str, str] = {}
    applied = 0
    for version, dir_id in zip(pairs["version"].to_pylist(), pairs["dir"].to_pylist(), strict=True):
        moved = False
        while applied < len(dir_rows) and dir_rows[applied]["version"] <= version:
            row = dir_rows[applied]
            location[row["node_id"]] = (row["parent_id"], row["name"])
            applied += 1
            moved = True
        if moved:
            memo = {}
        out_paths.append(_dir_path(dir_id, location, memo))
    return pairs.append_column("dir_path", pa.array(out_paths, pa.string()))


def _with_path(rows: pa.Table, paths: pa.Table, parent: str, name: str, column: str) -> pa.Table:
    """Add ``column``: the parent's path at the row's version joined with ``name`` (null where the
    parent is null; "/" for the root's own create). A lookup by "version:dir" key keeps row order."""
    def keys(version: Any, folder: Any) -> Any:
        return pc.binary_join_element_wise(pc.cast(version, pa.string()), folder, ":")

    at = pc.index_in(keys(rows["version"], rows[parent]), value_set=keys(paths["version"], paths["dir"]))
    folder = pc.take(paths["dir_path"], at)
    prefix = pc.if_else(pc.equal(folder, "/"), "", folder)
    path = pc.binary_join_element_wise(prefix, rows[name], "/")
    if parent == "parent_id":
        path = pc.if_else(pc.equal(rows[parent], ""), "/", path)
    return rows.append_column(column, path)


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
