"""Merge: a new commit computed from the op log, by node identity (revert and restore: undo.py).

A merge is three-way over nodes: the base is the source as of the merge base (the version of
the source last merged into the target, else where the two lines forked), "theirs" the source
at its head, "ours" the target's current state. Only nodes the source changed since the base
are looked at; their history is read from the table (a filtered scan), ours from the target's
state. The result is written as ordinary op rows on the target, plus a ``merge`` ref row, in
one commit, through a transaction (so a racing writer on the same branch is re-checked).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from deltalake import DeltaTable

from .errors import (
    InvalidArgumentError,
    InvalidMergeError,
    MergeConflictError,
    PathNotFoundError,
    PondError,
    ReadOnlyError,
)
from .nodes import node_path
from .query import NodeRow
from .refs import Chain, Refs, visible
from .schema import OPLOG_SCHEMA, ROOT_ID
from .store import backoff
from .txn import Stale, Transaction, as_row

if TYPE_CHECKING:
    from .pond import Pond

STRATEGIES = ("fail", "ours", "theirs")


@dataclass(frozen=True)
class MergeConflict:
    """One conflict: the absolute path, why, and what each side did (a short description)."""

    path: str
    reason: str
    ours: str | None
    theirs: str | None


@dataclass(frozen=True)
class MergeChange:
    """One change a merge makes on the target: created | modified | moved | removed."""

    path: str
    change: str
    kind: str
    old_path: str | None = None


@dataclass(frozen=True)
class MergeResult:
    """``version`` of the merge commit (None: nothing new to merge), what changed, what conflicted."""

    version: int | None
    changes: list[MergeChange] = field(default_factory=list)
    conflicts: list[MergeConflict] = field(default_factory=list)


@dataclass(frozen=True)
class MergePreview:
    """What a merge would change and where it would conflict."""

    changes: list[MergeChange]
    conflicts: list[MergeConflict]


class Side(NamedTuple):
    """A node's state on one side, as folded from its op rows."""

    kind: str
    parent_id: str
    name: str
    size: int | None
    sha256: str | None
    target: str | None
    content: bytes | None
    content_ref: str | None


def read_rows(pond: Pond, where: ds.Expression) -> pa.Table:
    """Op rows matching ``where``, read from the table's current data files (parquet statistics
    skip the files and row groups a version bound excludes)."""
    location = pond._store.location
    dt = DeltaTable(location.table_uri, storage_options=location.storage_options)
    files = [location.fs_path(uri) for uri in dt.file_uris()]
    if not files:
        return OPLOG_SCHEMA.empty_table()
    dataset = ds.dataset(files, schema=OPLOG_SCHEMA, filesystem=location.fs, format="parquet")
    return dataset.to_table(filter=where)


def fold(rows: pa.Table, upto: int, start: dict[str, Side | None] | None = None) -> dict[str, Side | None]:
    """Each node's state after its ops up to ``upto`` (None: removed), from rows in any order;
    ``start``: the nodes' states before those rows (then only the nodes in ``rows`` are returned)."""
    rows = rows.filter(pc.less_equal(rows.column("version"), upto)).sort_by(
        [("version", "ascending"), ("seq", "ascending")])
    states: dict[str, Side | None] = {}
    if start is not None:
        states = {node_id: start.get(node_id) for node_id in pc.unique(rows.column("node_id")).to_pylist()}
    for row in rows.select(["node_id", "op", "kind", "parent_id", "name", "size", "sha256", "target", "content",
                            "content_ref"]).to_pylist():
        node_id, op = row["node_id"], row["op"]
        if op == "remove":
            states[node_id] = None
            continue
        old = states.get(node_id)
        content, ref = (row["content"], row["content_ref"]) if op in ("create", "write") or old is None else (
            old.content, old.content_ref)
        states[node_id] = Side(row["kind"], row["parent_id"], row["name"], row["size"], row["sha256"], row["target"],
                               content, ref)
    return states


def _same_content(a: Any, b: Any) -> bool:
    return (a.kind, a.sha256, a.target) == (b.kind, b.sha256, b.target)


def _describe(side: Any, path: str | None) -> str:
    if side is None:
        return "removed"
    detail = {"file": f"sha256 {side.sha256[:12]}" if side.sha256 else "file", "symlink": f"-> {side.target}",
              "dir": "directory"}[side.kind]
    return f"{path} ({detail})" if path else detail


def merge_base(refs: Refs, target: str, source: str) -> int:
    """The version of the source that the target already has: the last merge of it, else the fork."""
    chain_t, chain_s = refs.chain(target), refs.chain(source)
    since = chain_t[0][1]
    last = refs.last_merge(target, source, since)
    if last is not None:
        return last
    upto_t = {(name, after): upto for name, after, upto in chain_t}
    for name, after, upto in chain_s:
        if (name, after) in upto_t:
            return min(upto, upto_t[(name, after)])
    return 0


class Plan:
    """The ops of one merge being built in a transaction, with its changes and conflicts."""

    def __init__(self, pond: Pond, tx: Transaction, strategy: str, source: str) -> None:
        self.pond, self.tx, self.strategy, self.source = pond, tx, strategy, source
        self.changes: list[MergeChange] = []
        self.conflicts: list[MergeConflict] = []
        self.alias: dict[str, str] = {}  # a source node id -> the target node standing in for it
        self._source_view: Any = None
        self._committed: dict[str, NodeRow | None] = {}

    def node(self, node_id: str) -> NodeRow | None:
        """``tx.node``, remembered: a committed node is looked up in the state once per merge."""
        if node_id in self.tx.nodes:
            return as_row(self.tx.nodes[node_id])
        if node_id not in self._committed:
            self._committed[node_id] = self.tx.node(node_id)
        return self._committed[node_id]

    def path(self, row: NodeRow | None) -> str | None:
        if row is None:
            return None
        try:
            return node_path(self.tx, row)
        except PathNotFoundError:
            return None

    def where(self, parent_id: str, name: str) -> str:
        parent = self.tx.node(self.alias.get(parent_id, parent_id))
        base = self.path(parent) if parent is not None else None
        return f"{(base or '/<removed>').rstrip('/')}/{name}"

    def conflict(self, path: str, reason: str, ours: str | None, theirs: str | None) -> str:
        """Record a conflict; the strategy that wins it ("fail" records only)."""
        self.conflicts.append(MergeConflict(path, reason, ours, theirs))
        return self.strategy

    # -- raw ops that keep the source's node ids and content pointers ------------------
    def create(self, node_id: str, side: Side, parent: NodeRow) -> NodeRow:
        now = self.tx._now()
        op = {"op": "create", "node_id": node_id, "kind": side.kind, "parent_id": parent.node_id, "name": side.name,
              "size": side.size, "sha256": side.sha256, "target": side.target, "content": side.content,
              "content_ref": side.content_ref}
        row = NodeRow(node_id, side.kind, parent.node_id, side.name, side.size, side.sha256, side.target, now, None,
                      now, None, None, None)
        self.tx._claim_dir(self.where(parent.node_id, side.name), parent.node_id)
        self.tx._claim_absent(self.where(parent.node_id, side.name), parent.node_id, side.name)
        self.tx.created.add(node_id)
        self._keep_content(node_id, side)
        self.tx._record(op, row)
        self.changes.append(MergeChange(self.where(parent.node_id, side.name), "created", side.kind))
        return row

    def write(self, row: NodeRow, side: Side) -> None:
        path = self.path(row) or row.name
        self.tx._claim("at", path, row.parent_id, row.name, row.node_id)
        op = {"op": "write", "node_id": row.node_id, "kind": row.kind, "parent_id": row.parent_id, "name": row.name,
              "size": side.size, "sha256": side.sha256, "target": side.target, "content": side.content,
              "content_ref": side.content_ref}
        self._keep_content(row.node_id, side)
        self.tx._record(op, row._replace(size=side.size, sha256=side.sha256, target=side.target, version=None))
        self.changes.append(MergeChange(path, "modified", row.kind))

    def _keep_content(self, node_id: str, side: Side) -> None:
        if side.content_ref is not None:
            self.tx.contents[node_id] = side.content_ref
        elif side.kind == "file":
            self.tx.contents[node_id] = side.content or b""

    def move(self, row: NodeRow, parent: NodeRow, name: str) -> None:
        old = self.path(row)
        self.tx.move(row, parent, name, old or row.name)
        self.changes.append(MergeChange(self.where(parent.node_id, name), "moved", row.kind, old))

    def remove(self, row: NodeRow) -> None:
        path = self.path(row) or row.name
        self.tx.remove(row, path, recursive=True)
        self.changes.append(MergeChange(path, "removed", row.kind))

    def source_node(self, node_id: str) -> NodeRow | None:
        """A node as the source has it now (for nodes the source did not change since the base)."""
        if self._source_view is None:
            self._source_view = self.pond.at(self.source)
        return self._source_view._engine.node(node_id, self._source_view._at)

    # -- placing a node (create or move) at its location in the source -------------------
    def place(self, node_id: str, side: Side, row: NodeRow | None, final: bool) -> bool:
        """Create or move ``node_id`` to where the source has it; False: retry after the others."""
        tx = self.tx
        parent_id = self.alias.get(side.parent_id, side.parent_id)
        parent = tx.node(parent_id)
        path = self.where(parent_id, side.name)
        if parent is None or parent.kind != "dir":
            if not final:
                return False
            if self.conflict(path, "the directory was removed on the other side", "removed", _describe(side, path)) \
                    != "theirs" or not self._revive(side.parent_id):
                return True
            parent_id = self.alias.get(side.parent_id, side.parent_id)
            parent = tx.node(parent_id)
            assert parent is not None
        if row is not None and side.kind == "dir" and self._cycle(node_id, parent_id, path, side):
            return True
        occupant = tx.lookup(parent_id, side.name)
        if occupant is not None and occupant.node_id != node_id:
            if not final:
                return False
            if occupant.kind == side.kind and (row is None if side.kind == "dir" else _same_content(occupant, side)):
                self.alias[node_id] = occupant.node_id  # the same thing on both sides: one node
                if row is not None:
                    self.remove(row)
                return True
            ours = _describe(occupant, path)
            if self.conflict(path, "two different nodes at the same path", ours, _describe(side, path)) != "theirs":
                return True
            self.remove(occupant)
        if row is None:
            self.create(node_id, side, parent)
        elif (row.parent_id, row.name) != (parent_id, side.name):
            self.move(row, parent, side.name)
        return True

    def _revive(self, node_id: str) -> bool:
        """Bring back a directory the target removed (as a new node), with its missing parents."""
        source = self.source_node(node_id)
        if source is None or source.kind != "dir":
            return False
        parent_id = self.alias.get(source.parent_id, source.parent_id)
        if self.tx.node(parent_id) is None and not self._revive(source.parent_id):
            return False
        parent = self.tx.node(self.alias.get(source.parent_id, source.parent_id))
        assert parent is not None
        existing = self.tx.lookup(parent.node_id, source.name)
        if existing is not None and existing.kind == "dir":
            self.alias[node_id] = existing.node_id
            return True
        if existing is not None:
            self.remove(existing)
        fresh = uuid.uuid4().hex
        self.create(fresh, Side("dir", parent.node_id, source.name, None, None, None, None, None), parent)
        self.alias[node_id] = fresh
        return True

    def _cycle(self, node_id: str, parent_id: str, path: str, side: Side) -> bool:
        """Would moving ``node_id`` under ``parent_id`` make a cycle? Records (and under "theirs"
        resolves, by moving the target's offending directory back where the source has it)."""
        ancestor = self.tx.node(parent_id)
        below: NodeRow | None = None
        while ancestor is not None and ancestor.node_id != ROOT_ID:
            if ancestor.node_id == node_id:
                break
            below, ancestor = ancestor, self.tx.node(ancestor.parent_id)
        if ancestor is None or ancestor.node_id != node_id:
            return False
        ours = f"{self.path(below)} (moved inside it)" if below is not None else "moved"
        if self.conflict(path, "the move would make a cycle", ours, _describe(side, path)) != "theirs":
            return True
        if below is None:
            return True
        back = self.source_node(below.node_id)
        home = self.tx.node(back.parent_id) if back is not None else None
        if back is None or home is None or self.tx.lookup(home.node_id, back.name) is not None:
            return True  # cannot undo ours: the source's move is dropped too
        self.move(below, home, back.name)
        return False


def plan_merge(pond: Pond, tx: Transaction, source: str, strategy: str) -> tuple[Plan, int] | None:
    """Build the merge into ``tx``; None when the source has nothing new since the merge base."""
    refs = pond._engine.refs()
    target = pond.branch
    if source == target:
        raise InvalidMergeError(f"cannot merge {source!r} into itself")
    chain_s: Chain = refs.chain(source)
    refs.chain(target)
    head = refs.head(source)
    base = merge_base(refs, target, source)
    if not any(base < version <= head for version in refs.commits_of(chain_s)):
        return None
    recent = pond._store.read_commits(base + 1, head) if head - base <= 2000 else None  # the log's own file lists
    if recent is None:
        recent = read_rows(pond, (ds.field("version") > base) & (ds.field("version") <= head))
    new = visible(recent, chain_s)
    back = merged_back(new, {version for into, merged, _, version in refs.merges
                             if into == source and merged == target and version > base})  # (see merged_back)
    into_target = {version for into, _, _, version in refs.merges if into == target}
    plan = Plan(pond, tx, strategy, source)
    before = base_states(pond, plan, refs, target, source, base, head, recent, new)
    after = fold(new, head, start=before)
    placements: list[tuple[str, Side, NodeRow | None]] = []
    writes: list[tuple[str, Side]] = []
    removals: list[str] = []
    for node_id in sorted(after, key=lambda n: _depth(after, n)):
        b, t = before.get(node_id), after[node_id]
        if b == t or node_id in back:
            continue
        o = plan.node(node_id)
        path = plan.path(o) or (plan.where(t.parent_id, t.name) if t is not None else node_id)
        if b is None and o is not None and t is not None:  # not at the base, on both sides: it travelled
            if (o.parent_id, o.name) == (t.parent_id, t.name) and _same_content(o, t):
                continue
            if o.version not in into_target and plan.conflict(  # ours changed it since, and so did theirs
                    path, "changed on both sides since it was merged", _describe(o, path),
                    _describe(t, plan.where(t.parent_id, t.name))) != "theirs":
                continue
            b = Side(o.kind, o.parent_id, o.name, o.size, o.sha256, o.target, None, None)  # ours as it came
        if t is None:  # removed on theirs
            if o is None:
                continue
            if b is not None and ((o.parent_id, o.name) != (b.parent_id, b.name) or not _same_content(o, b)):
                if plan.conflict(path, "modified on one side and removed on the other", _describe(o, path),
                                 "removed") != "theirs":
                    continue
            removals.append(node_id)
            continue
        if b is None or o is None:
            if b is not None:  # changed on theirs, removed on ours
                if plan.conflict(path, "modified on one side and removed on the other", "removed",
                                 _describe(t, plan.where(t.parent_id, t.name))) != "theirs":
                    continue
                fresh = uuid.uuid4().hex
                plan.alias[node_id] = fresh
                placements.append((fresh, t, None))
                continue
            placements.append((node_id, t, None))
            continue
        moved_t = (b.parent_id, b.name) != (t.parent_id, t.name)
        moved_o = (b.parent_id, b.name) != (o.parent_id, o.name)
        if moved_t and (o.parent_id, o.name) != (t.parent_id, t.name) and (not moved_o or plan.conflict(
                path, "moved to different places on both sides", _describe(o, path),
                _describe(t, plan.where(t.parent_id, t.name))) == "theirs"):
            placements.append((node_id, t, o))
        changed_t, changed_o = not _same_content(b, t), not _same_content(b, o)
        if changed_t and not _same_content(o, t) and (not changed_o or plan.conflict(
                path, "different content on both sides", _describe(o, path), _describe(t, path)) == "theirs"):
            writes.append((node_id, t))
    for node_id in removals:  # files and links first: their names are free for the placements
        row = tx.node(node_id)
        if row is not None and row.kind != "dir":
            plan.remove(row)
    pending = placements
    for final in (False, True):  # a name another placement frees first is taken on the second pass
        left = []
        for node_id, side, _ in pending:
            row = plan.node(node_id)
            if not plan.place(node_id, side, row, final):
                left.append((node_id, side, row))
        pending = left
    for node_id, side in writes:
        row = plan.node(plan.alias.get(node_id, node_id))
        if row is not None and not _same_content(row, side):
            plan.write(row, side)
    for node_id in sorted(removals, key=lambda n: -_depth(before, n)):
        row = tx.node(node_id)
        if row is None:
            continue
        if row.kind == "dir":
            kept = [child for child in tx.children(node_id) if child.node_id not in removals]
            if kept:
                path = plan.path(row) or row.name
                names = ", ".join(child.name for child in kept)
                if plan.conflict(path, "removed on one side, new entries in it on the other", f"{names} added",
                                 "removed") != "theirs":
                    continue
        plan.remove(row)
    return plan, head


def merged_back(new: pa.Table, versions: set[int]) -> set[str]:
    """Nodes whose last change on the source was made by its own merges of the target (``versions``):
    the target's state that travelled there and that the source has not touched since. Theirs did not
    change them (git's merge base would be that merge's parent on the target), so ours stands: else a
    file the target removed or moved since would come back, or its newer content would conflict."""
    if not versions or not new.num_rows:
        return set()
    rows = new.select(["node_id", "version", "seq"]).sort_by([("version", "ascending"), ("seq", "ascending")])
    last = dict(zip(rows.column("node_id").to_pylist(), rows.column("version").to_pylist(), strict=True))
    return {node_id for node_id, version in last.items() if version in versions}


def base_states(pond: Pond, plan: Plan, refs: Refs, target: str, source: str, base: int, head: int,
                recent: pa.Table, new: pa.Table) -> dict[str, Side | None]:
    """The state at the merge base of each node the source changed since it (None: absent).

    When the base is where the two lines forked (no earlier merge between them), both lines saw
    the same rows up to it, so a node the target has not touched since is at the base exactly as
    the target has it now: taken from the target's state, no scan. (Its content is left out: a
    node's content is taken from the base only by a create, which needs the node absent there.)
    Other nodes' history is read from the table (one filtered scan of every data file)."""
    ids = pc.unique(new.column("node_id"))
    if not len(ids):
        return {}
    unknown = ids
    chain_t = refs.chain(target)
    if refs.last_merge(target, source, chain_t[0][1]) is None:
        later = [v for v in refs.commits_of(chain_t) if v > head]
        if len(later) <= 2000:
            rows = [recent] + [r for r in (pond._store.read_commit(v) for v in later) if r is not None]
            if all(r is not None for r in rows) and len(rows) == len(later) + 1:
                ours = visible(pa.concat_tables(rows, promote_options="default"), chain_t)
                ours = ours.filter(pc.greater(ours.column("version"), base))
                touched = pc.is_in(ids, pc.unique(ours.column("node_id")))
                unknown = ids.filter(touched)
                states: dict[str, Side | None] = {}
                for node_id in ids.filter(pc.invert(touched)).to_pylist():
                    o = plan.node(node_id)
                    states[node_id] = None if o is None else Side(
                        o.kind, o.parent_id, o.name, o.size, o.sha256, o.target, None, None)
                if not len(unknown):
                    return states
                history = visible(read_rows(pond, ds.field("node_id").isin(unknown) & (ds.field("version") <= base)),
                                  chain_t)
                states.update(fold(history, base, start={}))
                return states
    history = visible(read_rows(pond, ds.field("node_id").isin(unknown) & (ds.field("version") <= base)),
                      refs.chain(source))
    return fold(history, base)


def _depth(states: dict[str, Side | None], node_id: str) -> int:
    depth, seen = 0, set()
    side = states.get(node_id)
    while side is not None and side.parent_id in states and side.parent_id not in seen:
        seen.add(side.parent_id)
        depth += 1
        side = states.get(side.parent_id)
    return depth


def _run(pond: Pond, source: str, message: str | None, author: str | None, strategy: str,
         commit: bool) -> MergeResult | MergePreview:
    if strategy not in STRATEGIES:
        raise InvalidMergeError(f"strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
    if not isinstance(source, str):
        raise InvalidArgumentError(f"source must be a branch name, not {type(source).__name__}")
    if commit and pond._at is not None:
        raise ReadOnlyError(pond.uri, f"pond.at({pond._at}) is read-only")
    message = message or f"merge {source} into {pond.branch}"
    engine = pond._engine
    with engine.lock:
        for attempt in range(1000):
            tx = Transaction(pond, engine.sync(), message, author or pond.author, explicit=False)
            pond._local.tx = tx
            try:
                planned = plan_merge(pond, tx, source, strategy)
            finally:
                pond._local.tx = None
            if not commit:
                return MergePreview(planned[0].changes, planned[0].conflicts) if planned else MergePreview([], [])
            if planned is None:
                return MergeResult(None, [], [])
            plan, head = planned
            if plan.conflicts and strategy == "fail":
                paths = ", ".join(conflict.path for conflict in plan.conflicts)
                raise MergeConflictError(f"merging {source!r} into {pond.branch!r} conflicts at {paths}",
                                         plan.conflicts)
            tx.ops.append({"op": "merge", "node_id": "", "kind": "ref", "parent_id": "", "name": source,
                           "from_name": source, "ref_version": head, "branch": pond.branch})
            try:
                pond._commit(tx)
            except Stale:
                backoff(attempt)
                continue
            pond._local.last_version = tx.committed_version
            return MergeResult(tx.committed_version, plan.changes, plan.conflicts)
    raise PondError("gave up merging against concurrent writers")


def merge(pond: Pond, source: str, message: str | None, author: str | None, strategy: str) -> MergeResult:
    return _run(pond, source, message, author, strategy, commit=True)  # type: ignore[return-value]


def preview(pond: Pond, source: str) -> MergePreview:
    return _run(pond, source, None, None, "fail", commit=False)  # type: ignore[return-value]


# -- comparing two lines of history ----------------------------------------------------------
def _tree(pond: Pond) -> dict[str, tuple[str, NodeRow]]:
    """node id -> (path, row) of every node below the root of a (read-only) pond."""
    from .pond import StateView

    view = StateView(pond, pond._at) if pond._at is not None else None
    found: dict[str, tuple[str, NodeRow]] = {}

    def walk(reader: Any) -> None:
        stack = [(ROOT_ID, "")]
        while stack:
            node_id, path = stack.pop()
            for child in reader.children(node_id):
                child_path = f"{path}/{child.name}"
                found[child.node_id] = (child_path, child)
                if child.kind == "dir":
                    stack.append((child.node_id, child_path))

    if view is not None:
        walk(view)
    else:
        pond._read(walk)
    return found


def tree_diff(old: Pond, new: Pond) -> list[Any]:
    """The `diff` macro's answer for two ponds on different branches, by node identity, in Python."""
    from .history import Change

    a, b = _tree(old), _tree(new)
    out = []
    for node_id, (path, row) in b.items():
        was = a.get(node_id)
        if was is None:
            continue
        if was[0] != path and (was[1].parent_id, was[1].name) != (row.parent_id, row.name):
            out.append(Change("moved", path, was[0], row.kind, None))
        if not _same_content(was[1], row):
            out.append(Change("modified", path, None, row.kind, None))
    gone = {path: row for node_id, (path, row) in a.items() if node_id not in b}
    came = {path: row for node_id, (path, row) in b.items() if node_id not in a}
    for path, row in came.items():
        before = gone.get(path)
        if before is None:
            out.append(Change("added", path, None, row.kind, None))
        elif before.kind != row.kind:
            out.append(Change("type-changed", path, None, row.kind, before.kind))
        elif not _same_content(before, row):
            out.append(Change("modified", path, None, row.kind, None))
    out += [Change("removed", path, None, row.kind, None) for path, row in gone.items() if path not in came]
    order = ["removed", "type-changed", "moved", "modified", "added"]
    return sorted(out, key=lambda change: (change.path, order.index(change.change)))


__all__ = ["MergeChange", "MergeConflict", "MergePreview", "MergeResult", "merge", "preview", "tree_diff"]
