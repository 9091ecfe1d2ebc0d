"""The per-op side of staging a batch (``bulk.stage``, ``smallbatch.stage``): its folders resolved,
and made with ``parents``, through the transaction; explicit directories; entries that exist
rewritten (``exist_ok``) or refused; the error of a bad final name. All through the transaction's
per-op API, so reads are recorded for the commit's re-check and errors are the per-op ones.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NoReturn

from .batch import sorted_ids
from .errors import InvalidNameError, IsADirError, NotADirError, PathExistsError, PathNotFoundError
from .paths import _plain_name, resolve, split_path, validate_name

if TYPE_CHECKING:
    from .nodes import Directory
    from .query import NodeRow
    from .txn import Transaction


def bad_name(path: str) -> NoReturn:
    """The InvalidNameError of a path whose final name cannot be a directory entry."""
    split_path(path)  # the per-op message for "", NUL, long names
    raise InvalidNameError(f"cannot create {path!r}: it ends in '.' or '..' or names nothing")


def _directory(tx: Transaction, start: Directory, path: str, parents: bool) -> NodeRow:
    """The directory at ``path`` (relative to ``start``), made with its missing ancestors if ``parents``."""
    if path == ".":
        return start._row(tx)
    try:
        found = resolve(tx, start.node_id, path, True)
    except PathNotFoundError:
        if not parents:
            raise
        return start._make_parents(tx, path, exist_ok=True)
    if found.row is None:
        if not parents:
            raise PathNotFoundError(path)
        return start._make_parents(tx, path, exist_ok=True)
    if found.row.kind != "dir":
        raise NotADirError(path)
    return found.row


def directories(tx: Transaction, start: Directory, paths: list[str], parents: bool) -> dict[str, NodeRow]:
    """The directory at each path (relative to ``start``; made if missing with ``parents``).

    Parents first (sorted): a path whose head was resolved here and whose last component is a
    plain name is one lookup (and a create if missing), not a walk from ``start`` (a bulk load
    into thousands of new directories spent ~35 us a directory walking twice). Anything else
    (symlinks, "..", "a//b", absolute paths) takes the per-op walk (``_directory``).
    The directories made here take fresh ids (random, as any) handed out in ascending order: a
    load of sorted paths into new folders then comes in (parent_id, name) order already, and the
    state's segment of it is built without a reordering copy (state.Base.sorted).
    """
    rows: dict[str, NodeRow] = {".": start._row(tx)}
    given = set(paths)
    wanted = set(paths)
    if parents:  # the plain ancestors of relative folders too (a/b/c: a, a/b), each one lookup from its parent's
        for path in paths:
            head = path.rpartition("/")[0]
            while head and head not in wanted and _plain_name(head.rpartition("/")[2]):
                wanted.add(head)
                head = head.rpartition("/")[0]
    ids = tx.new_ids
    tx.new_ids = itertools.chain(sorted_ids(len(wanted)), ids)
    try:
        for path in sorted(wanted):
            head, slash, name = path.rpartition("/")
            parent = rows.get(head if slash else ".") if path != "." else None
            row = None
            if parent is not None and _plain_name(name):
                validate_name(name)
                found = tx.lookup(parent.node_id, name)
                if found is None:
                    if not parents:
                        raise PathNotFoundError(path)
                    row = tx.create(parent, name, "dir", path)
                elif found.kind == "dir":
                    row = found
            if row is not None:
                rows[path] = row
            elif path in given:  # (an ancestor that is no plain directory is left to its folder's own walk)
                rows[path] = _directory(tx, start, path, parents)
    finally:
        tx.new_ids = ids
    return rows


def mkdir(tx: Transaction, start: Directory, path: str, exist_ok: bool) -> None:
    """One explicit directory without ``parents``: its parent must exist (create_dir_path's rules)."""
    try:
        parent, name = start._new_slot(tx, path)
    except PathExistsError:
        if exist_ok and start._existing(tx, path, follow_last=True).kind == "dir":
            return
        raise
    tx.create(parent, name, "dir", path)


def rewrite_rows(tx: Transaction, rows: Iterable[tuple[Any, ...]], existing: dict[str, NodeRow],
                 exist_ok: bool) -> None:
    """``_rewrite`` of (path, key, kind, target, size, sha256, content, content_ref) rows."""
    for path, key, kind, target, size, sha, content, ref in rows:
        row = existing[key]
        if not exist_ok:
            raise PathExistsError(path)
        if row.kind == "dir":
            raise IsADirError(path)
        if kind != row.kind:
            raise PathExistsError(path, f"a {row.kind} is there")
        if kind == "symlink":
            if row.target != target:
                raise PathExistsError(path, "a symlink with another target is there")
            continue
        tx.write_stored(row, path, size, sha, content, ref)
