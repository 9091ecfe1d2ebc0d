"""Questions about a pond's past, answered from the op log: commits, the ops on a path, diffs.

These back the ``log``, ``history`` and ``diff`` commands and the notebook display; they run
fixed SQL over the views at the pond's version on the engine's private DuckDB (``Pond._fixed_sql``:
no user text, so no sandbox round trip), so ``pond.at(v)`` answers them as of version ``v``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from .pond import Pond


class Commit(NamedTuple):
    """One Delta version of the pond: when, who, why, and how many ops of each kind."""

    version: int
    time: datetime  # UTC
    message: str
    author: str
    ops: int
    creates: int
    writes: int
    moves: int
    removes: int
    bytes_written: int  # content bytes of its create and write ops
    branch: str = "main"  # the branch it landed on (a merge: its target)


def parse_version(value: int | str | datetime) -> int | datetime:
    """A version for ``pond.at``: an int, digits ("12"), or an ISO time ("2026-05-01T12:00", UTC if naive)."""
    if isinstance(value, (int, datetime)) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a version number or ISO time: {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def commits(pond: Pond, limit: int | None = None) -> list[Commit]:
    """The pond's commits, newest first (all of them, or the last ``limit``), from the `commits` view."""
    sql = "SELECT version, ts, message, author, ops, creates, writes, moves, removes, bytes_added, branch FROM commits"
    sql += " ORDER BY version DESC" + (" LIMIT ?" if limit is not None else "")
    return [
        Commit(int(v), _utc(t), m or "", a or "", int(n), int(c), int(w), int(mv), int(r), int(b), br)
        for v, t, m, a, n, c, w, mv, r, b, br in pond._fixed_sql(sql, [int(limit)] if limit is not None else None)
    ]


class PathOp(NamedTuple):
    """One op in the history of a path: where the node was after it (and before, for a move)."""

    version: int
    seq: int
    time: datetime  # UTC
    op: str  # create | write | move | remove
    kind: str
    path: str  # the node's path after the op (for remove: where it was)
    from_path: str | None  # move only: the path before
    size: int | None
    sha256: str | None
    target: str | None
    node_id: str
    message: str
    author: str


def _norm(path: str) -> str:
    parts = [p for p in path.split("/") if p and p != "."]
    return "/" + "/".join(parts)


def path_history(pond: Pond, path: str, recursive: bool = False) -> list[PathOp]:
    """Every op on every node that was ever at ``path`` (absolute), oldest first, from `history`.

    A node is followed through moves, so the history of a renamed file includes the ops under
    its old name; a name that was removed and created again shows both nodes. With
    ``recursive``, ops on anything that was ever below ``path`` are included too.
    """
    path = _norm(path)
    below = "/" if path == "/" else path + "/"
    at = "path = $p OR from_path = $p"
    if recursive:
        at += " OR starts_with(path, $below) OR starts_with(from_path, $below)"
    rows = pond._fixed_sql(
        "SELECT version, seq, ts, op, kind, path, from_path, size, sha256, target, node_id, message, author "
        f"FROM history WHERE node_id IN (SELECT node_id FROM history WHERE {at}) ORDER BY version, seq",
        {"p": path, "below": below} if recursive else {"p": path},
    )
    return [
        PathOp(int(v), int(q), _utc(t), op, kind, p, fp, size, sha, target, node, message or "", author or "")
        for v, q, t, op, kind, p, fp, size, sha, target, node, message, author in rows
    ]


class Change(NamedTuple):
    """One difference between two versions of a pond's tree."""

    change: str  # added | removed | modified | moved | type-changed
    path: str  # the path in the newer version (for removed: in the older one)
    old_path: str | None  # moved: where it was
    kind: str  # kind in the newer version (for removed: in the older one)
    old_kind: str | None  # type-changed: the kind it had


def diff(old: Pond, new: Pond) -> list[Change]:
    """What changed from ``old`` to ``new`` (usually ``pond.at(v1)`` and ``pond.at(v2)``), sorted
    by path: the `diff` macro of sql/diff.sql, which matches nodes by identity."""
    if old.branch != new.branch:  # two lines of history: compare the trees by node identity
        from .merge import tree_diff

        return tree_diff(old, new)
    later = new if new.version >= old.version else old  # its views can see both versions
    rows = later._fixed_sql(
        "SELECT change, path, old_path, kind, old_kind FROM diff(?, ?) ORDER BY path, "
        "list_position(['removed', 'type-changed', 'moved', 'modified', 'added'], change)",
        [old.version, new.version],
    )
    return [Change(*row) for row in rows]
