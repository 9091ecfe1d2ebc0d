"""Revert and restore: ordinary commits that bring back an earlier state of some nodes.

Revert undoes one commit of the branch (its nodes' states just before it); restore brings a file
or a directory back as it was at a revision. Nodes they bring back that were removed come back
as new nodes (see README, "Branches, tags and merge").
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from .errors import ConflictError, InvalidArgumentError, PathNotFoundError, ReadOnlyError, VersionNotFoundError
from .merge import Plan, _depth, _same_content, fold, read_rows
from .nodes import node_path
from .paths import resolve
from .query import NodeRow
from .refs import visible
from .retention import expired_error
from .schema import ROOT_ID
from .txn import Transaction

if TYPE_CHECKING:
    from .pond import Pond


# -- revert ------------------------------------------------------------------------------
def _path_now(pond: Pond, node_id: str, fallback: str) -> str:
    def find(view: Any) -> str:
        row = view.node(node_id)
        return node_path(view, row) if row is not None else fallback

    return pond._read(find)


def revert(pond: Pond, version: int, message: str | None) -> int:
    """A commit undoing commit ``version`` of this branch; ConflictError if later commits changed its nodes."""
    if not isinstance(version, int) or isinstance(version, bool):
        raise InvalidArgumentError(f"version must be an int, not {type(version).__name__}")
    if pond._at is not None:
        raise ReadOnlyError(pond.uri, f"pond.at({pond._at}) is read-only")
    refs = pond._refs()
    chain = refs.chain(pond.branch)
    if version not in refs.commits_of(chain):
        raise VersionNotFoundError(f"version {version} is no commit of branch {pond.branch!r}")
    rows = visible(read_rows(pond, ds.field("version") == version), chain)
    ids = pc.unique(rows.column("node_id"))
    history = visible(read_rows(pond, ds.field("node_id").isin(ids)), chain)
    later = history.filter(pc.greater(history.column("version"), version))
    if later.num_rows:
        names = dict(zip(later.column("node_id").to_pylist(), later.column("name").to_pylist(), strict=True))
        paths = sorted({_path_now(pond, node_id, name) for node_id, name in names.items()})
        raise ConflictError(f"cannot revert version {version}: later commits changed {', '.join(paths)}")
    before, after = fold(history, version - 1), fold(history, version)
    touched = set(ids.to_pylist())
    _check_not_expired(refs, history, version - 1)

    def undo(tx: Transaction) -> None:
        plan = Plan(pond, tx, "fail", pond.branch)
        made = [node_id for node_id in touched if before.get(node_id) is None and after.get(node_id) is not None]
        for node_id in made:  # files and links the commit made go first: their names may be needed back
            row = tx.node(node_id)
            if row is not None and row.kind != "dir":
                plan.remove(row)
        back = [(node_id, side) for node_id, side in before.items() if side is not None]
        for node_id, _ in back:
            if after.get(node_id) is None:
                plan.alias[node_id] = uuid.uuid4().hex  # removed by that commit: back as a new node
        pending = sorted(back, key=lambda item: _depth(before, item[0]))
        for final in (False, True):
            left = []
            for node_id, side in pending:
                target = plan.alias.get(node_id, node_id)
                if not plan.place(target, side, tx.node(target), final):
                    left.append((node_id, side))
                    continue
                current = tx.node(target)
                if current is not None and not _same_content(current, side):
                    plan.write(current, side)
            pending = left
        if plan.conflicts:
            where = ", ".join(f"{c.path} ({c.reason})" for c in plan.conflicts)
            raise ConflictError(f"cannot revert version {version}: {where}")
        for node_id in sorted(made, key=lambda n: -_depth(after, n)):
            row = tx.node(node_id)
            if row is None:
                continue
            others = [child.name for child in tx.children(node_id) if child.node_id not in touched]
            if others:
                raise ConflictError(f"cannot revert version {version}: later commits added {', '.join(others)} "
                                    f"in {plan.path(row)}")
            plan.remove(row)

    pond._write(undo, message or f"revert {version}")
    return pond.last_committed_version  # type: ignore[return-value]


def _check_not_expired(refs: Any, history: Any, upto: int) -> None:
    """ContentExpiredError if bringing back the states at ``upto`` would copy content a retention
    policy expired (its chunks may be gone: a new version must never point at them)."""
    content = history.filter(pc.and_(pc.is_in(history.column("op"), pa.array(["create", "write"])),
                                     pc.less_equal(history.column("version"), upto)))
    if not content.num_rows:
        return
    last = content.group_by("node_id").aggregate([("version", "max")])
    for node_id, found in zip(last.column("node_id").to_pylist(), last.column("version_max").to_pylist(), strict=True):
        expired = expired_error(refs, node_id, found)
        if expired is not None:
            raise expired


# -- restore -----------------------------------------------------------------------------
def restore(directory: Any, path: str, at: object, message: str | None = None) -> int | None:
    """Bring ``path`` (a file or a whole directory) back as it was at revision ``at``, in one commit."""
    from .pond import StateView

    pond = directory.pond
    old = pond.at(at)
    view = StateView(old, old._at)
    found = resolve(view, directory.node_id, path, False)
    if found.row is None:
        raise PathNotFoundError(path, f"not there at {at!r}")
    was = found.row

    def bring_back(tx: Transaction) -> None:
        if was.node_id == ROOT_ID:
            root = tx.node(ROOT_ID)
            assert root is not None
            _restore_children(tx, view, was, root, "/")
            return
        here = resolve(tx, directory.node_id, path, False)
        parent = tx.node(here.parent_id)
        if parent is None:
            raise PathNotFoundError(path)
        _restore_node(tx, view, was, parent, here.name, path)

    pond._write(bring_back, message or f"restore {path} at {at}")
    return pond.last_committed_version


def _restore_node(tx: Transaction, view: Any, was: NodeRow, parent: NodeRow, name: str, path: str) -> None:
    occupant = tx.lookup(parent.node_id, name)
    alive = tx.node(was.node_id)
    if occupant is not None and occupant.node_id != was.node_id:
        tx.remove(occupant, path, recursive=True)
    if alive is not None and alive.kind == was.kind and (was.kind != "symlink" or alive.target == was.target):
        if (alive.parent_id, alive.name) != (parent.node_id, name):
            alive = tx.move(alive, parent, name, path)
        if was.kind == "file" and alive.sha256 != was.sha256:
            alive = tx.write(alive, view.content(was), path)
        row = alive
    else:
        if alive is not None:
            tx.remove(alive, path, recursive=True)
        data = view.content(was) if was.kind == "file" else None
        row = tx.create(parent, name, was.kind, path, data=data, target=was.target)
    if was.kind == "dir":
        _restore_children(tx, view, was, row, path)


def _restore_children(tx: Transaction, view: Any, was: NodeRow, row: NodeRow, path: str) -> None:
    then = view.children(was.node_id)
    keep = {child.node_id for child in then}
    for child in tx.children(row.node_id):
        if child.node_id not in keep:
            tx.remove(child, f"{path.rstrip('/')}/{child.name}", recursive=True)
    for child in then:
        _restore_node(tx, view, child, row, child.name, f"{path.rstrip('/')}/{child.name}")


__all__ = ["restore", "revert"]
