"""Branches and tags: ref rows in the op log, the rows a branch sees, and revisions.

Refs live in the same Delta table as the ops, behind the same commit protocol:
``op='branch'`` (``branch`` = the new name, ``from_name`` = its parent, ``ref_version`` = the
fork version), ``op='tag'`` (``name`` = the tag, ``branch``/``ref_version`` = what it names),
``op='delete-branch'`` and ``op='merge'`` (``branch`` = target, ``from_name`` = source,
``ref_version`` = the source version merged), the last in the same commit as the merge's ops.
A branch sees its own rows after it was created plus its parent's rows up to the fork,
recursively; rows without a branch (ponds made before branches) belong to ``main``.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from .errors import BranchNotFoundError, InvalidArgumentError, InvalidNameError, VersionNotFoundError
from .schema import OPLOG_SCHEMA, OPS, POLICY_OPS, SUBSCRIPTION_OPS

MAIN = "main"
FOREVER = 2**63 - 1

Chain = tuple[tuple[str, int, int], ...]
"""A branch's ancestry as (branch, after, upto): it sees that branch's rows with after < version <= upto."""
MAIN_CHAIN: Chain = ((MAIN, -1, FOREVER),)

_BAD_NAME = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|^/|/$|\.$|^@$|\.lock$|(^|/)\.")


def check_name(name: object, what: str = "branch") -> str:
    """A ref name following git's check-ref-format rules, or InvalidNameError."""
    if not isinstance(name, str) or not name or _BAD_NAME.search(name) or name.endswith(".lock"):
        raise InvalidNameError(f"invalid {what} name {name!r} (git ref-name rules)")
    if any(part.endswith(".lock") for part in name.split("/")):
        raise InvalidNameError(f"invalid {what} name {name!r} (git ref-name rules)")
    return name


SMALL_ROWS = 4096
"""Up to this many rows are grouped in Python (see Refs.add)."""


@dataclass(frozen=True)
class Branch:
    """A line of history: ``head`` its last commit's version, ``base`` the version it forked at."""

    name: str
    head: int
    base: int | None
    created: datetime


@dataclass(frozen=True)
class Tag:
    """An immutable name for a version of a branch."""

    name: str
    branch: str
    version: int
    created: datetime


@dataclass(frozen=True)
class SubscriptionRef:
    """What the newest ``subscription`` row of a subscription says (see subscriptions.py)."""

    name: str
    branch: str
    position: int
    paths: tuple[str, ...] | None  # the globs it filters by (None: every path)
    updated: datetime
    row_version: int  # the commit that wrote this row: what a compare-and-set ack expects


@dataclass
class BranchRef:
    """What a ``branch`` ref row says, plus where the branch was deleted (if it was)."""

    name: str
    parent: str | None
    fork: int | None
    created_version: int
    created: datetime
    deleted: int | None = None


@dataclass
class Refs:
    """Every ref and, per branch, the versions of the commits that changed its own tree."""

    version: int = -1
    branches: dict[str, BranchRef] = field(default_factory=dict)
    tags: dict[str, Tag] = field(default_factory=dict)
    merges: list[tuple[str, str, int, int]] = field(default_factory=list)  # (target, source, upto, version)
    commits: dict[str, list[int]] = field(default_factory=dict)  # branch -> sorted versions with node ops
    history: list[BranchRef] = field(default_factory=list)  # every incarnation, deleted ones too
    born: datetime | None = None  # when the pond (and its main) was created
    used: set[int] = field(default_factory=set)  # versions with rows (the others are maintenance commits)
    subscriptions: dict[str, SubscriptionRef] = field(default_factory=dict)  # name -> its newest row
    acked: dict[str, set[int]] = field(default_factory=dict)  # name -> commits carrying one of its acks
    policies: dict[str, Any] = field(default_factory=dict)  # glob -> retention.Policy (pond-wide)
    expired: dict[tuple[str, int], tuple[str, int, datetime]] = field(default_factory=dict)
    """(node_id, content version) -> (policy glob, version of the expiry, its time): see retention.py."""
    policy_log: list[dict[str, Any]] = field(default_factory=list)  # every set and clear of a policy

    def add(self, rows: pa.Table) -> None:
        """Fold in the rows of the commits after ``version`` (in version order)."""
        if not rows.num_rows:
            return
        self.used.update(pc.unique(rows.column("version")).to_pylist())
        if self.born is None and 0 in self.used:
            self.born = rows.filter(pc.equal(rows.column("version"), 0)).column("ts")[0].as_py()  # null: set by scan
        nodes = pc.is_in(rows.column("op"), pa.array(OPS))
        pairs = pa.table({"branch": pc.fill_null(rows.column("branch"), MAIN), "version": rows.column("version")})
        pairs = pairs.filter(nodes)
        if pairs.num_rows > SMALL_ROWS:
            pairs = pairs.group_by(["branch", "version"]).aggregate([])
        # (a commit's few rows: a Python set, not an Acero plan, which waits for Arrow's CPU pool and
        # so for a background merge's sort: up to 1.5 s measured at 1M entries)
        for branch, version in sorted(set(zip(pairs.column("branch").to_pylist(), pairs.column("version").to_pylist(),
                                              strict=True)), key=lambda pair: pair[1]):
            seen = self.commits.setdefault(branch, [])
            if not seen or seen[-1] < version:
                seen.append(version)
        refs = rows.filter(pc.invert(nodes)).sort_by([("version", "ascending"), ("seq", "ascending")])
        ops = refs.column("op").to_pylist()
        branches = pc.fill_null(refs.column("branch"), MAIN).to_pylist()
        versions = refs.column("version").to_pylist()
        for index, op in enumerate(ops):
            row = {name: refs.column(name)[index].as_py()
                   for name in ("name", "from_name", "ref_version", "ts", "node_id", "target")}
            version, branch = versions[index], branches[index]
            if op == "branch":
                ref = BranchRef(branch, row["from_name"], row["ref_version"], version, row["ts"])
                self.branches[branch] = ref
                self.history.append(ref)
            elif op == "delete-branch":
                gone = self.branches.pop(branch, None)
                if gone is not None:
                    gone.deleted = version
            elif op == "tag":
                self.tags[row["name"]] = Tag(row["name"], branch, row["ref_version"], row["ts"])
            elif op == "merge":
                self.merges.append((branch, row["from_name"], row["ref_version"], version))
                seen = self.commits.setdefault(branch, [])
                if version not in seen:
                    bisect.insort(seen, version)
            elif op in SUBSCRIPTION_OPS:
                paths = None if row["target"] is None else tuple(json.loads(row["target"]))
                if row["name"] in self.subscriptions:
                    self.acked.setdefault(row["name"], set()).add(version)
                self.subscriptions[row["name"]] = SubscriptionRef(
                    row["name"], branch, row["ref_version"], paths, row["ts"], version)
            elif op in POLICY_OPS:
                from .retention import fold_policy_row

                fold_policy_row(self, op, row, version)
        self.version = max(self.version, pc.max(rows.column("version")).as_py())

    def add_commit(self, branch: str, version: int) -> None:
        """Fold in commit ``version`` known only as node ops of ``branch`` (its rows were not read:
        see commitbranch.py); the same as ``add`` of those rows."""
        self.used.add(version)
        seen = self.commits.setdefault(branch, [])
        if not seen or seen[-1] < version:
            seen.append(version)
        self.version = max(self.version, version)

    def exists(self, name: str) -> bool:
        return name == MAIN or name in self.branches

    def chain(self, name: str, upto: int = FOREVER) -> Chain:
        """The (branch, after, upto) ranges of rows branch ``name`` sees; LookupError if missing."""
        if name == MAIN:
            return ((MAIN, -1, upto),)
        ref = self.branches.get(name)
        if ref is None:
            raise BranchNotFoundError(f"no branch named {name!r}")
        return self._chain_of(ref, upto)

    def _chain_of(self, ref: BranchRef, upto: int) -> Chain:
        assert ref.parent is not None and ref.fork is not None
        parent = self._incarnation(ref.parent, ref.created_version)
        mine = ((ref.name, ref.created_version, upto),)
        if parent is None:
            return mine + ((MAIN, -1, min(ref.fork, upto)),)
        return mine + self._chain_of(parent, min(ref.fork, upto))

    def _incarnation(self, name: str, at: int) -> BranchRef | None:
        """The branch ``name`` as it existed at version ``at`` (None: main)."""
        if name == MAIN:
            return None
        for ref in reversed(self.history):
            if ref.name == name and ref.created_version < at and (ref.deleted is None or ref.deleted >= at):
                return ref
        raise BranchNotFoundError(f"branch {name!r} did not exist at version {at}")

    def commits_of(self, chain: Chain) -> list[int]:
        """Versions of the commits that changed the tree a chain sees, oldest first."""
        found: list[int] = []
        for branch, after, upto in chain:
            found += [v for v in self.commits.get(branch, []) if after < v <= upto]
        return sorted(set(found))

    def head(self, name: str) -> int:
        """The version of the branch's last commit (its fork version before it has one), moved on
        over the maintenance commits (no rows) right after it: they change no branch's tree."""
        chain = self.chain(name)
        own = [v for v in self.commits.get(name, []) if v > chain[0][1]]
        ref = self.branches.get(name)
        head = own[-1] if own else ref.fork if ref is not None and ref.fork is not None else 0
        while head < self.version and head + 1 not in self.used:
            head += 1
        return head

    def revision(self, rev: str) -> tuple[Chain, int]:
        """The rows revision ``rev`` (a branch, tag or NAME~N) sees, and the version it names."""
        branch, version = resolve_rev(self, rev, MAIN)
        owner = None if branch == MAIN else self._incarnation(branch, version + 1)
        chain = MAIN_CHAIN if owner is None else self._chain_of(owner, FOREVER)
        return tuple((name, after, min(upto, version)) for name, after, upto in chain), version

    def last_merge(self, target: str, source: str, since: int) -> int | None:
        """The source version last merged into ``target`` after version ``since``."""
        found = [upto for (t, s, upto, version) in self.merges if t == target and s == source and version > since]
        return max(found) if found else None

    def listing(self) -> list[Branch]:
        out = [Branch(MAIN, self.head(MAIN), None, self.born or datetime(1970, 1, 1))]
        out += [Branch(ref.name, self.head(ref.name), ref.fork, ref.created) for ref in self.branches.values()]
        return sorted(out, key=lambda branch: branch.name)


def visible(rows: pa.Table, chain: Chain) -> pa.Table:
    """The node-op rows of ``rows`` that a branch with this ancestry sees."""
    if not rows.num_rows:
        return rows
    nodes = pc.is_in(rows.column("op"), pa.array(OPS))
    branches = rows.column("branch")  # (null is main; a commit on main names it in every row)
    if chain == MAIN_CHAIN and (branches.null_count == rows.num_rows or pc.all(pc.equal(branches, MAIN)).as_py()):
        if pc.all(nodes).as_py():
            return rows  # the usual case on main: nothing to filter, no copy
        return rows.filter(nodes)
    branch = pc.fill_null(rows.column("branch"), MAIN)
    version = rows.column("version")
    mask = None
    for name, after, upto in chain:
        part = pc.and_(pc.equal(branch, name), pc.and_(pc.greater(version, after), pc.less_equal(version, upto)))
        mask = part if mask is None else pc.or_(mask, part)
    keep = pc.and_(nodes, mask)
    if pc.all(keep).as_py():
        return rows  # a commit on this branch: every row, no copy (a bulk commit's rows are large)
    return rows.filter(keep)


_SCAN_COLUMNS = ("version", "seq", "ts", "op", "name", "from_name", "branch", "ref_version", "node_id", "target")
_SCAN_SCHEMA = pa.schema([OPLOG_SCHEMA.field(name) for name in _SCAN_COLUMNS])


def _dataset(store: Any, uris: list[str] | None = None) -> ds.Dataset:
    """The table's current data files (or ``uris``) as one dataset of the columns refs need."""
    location = store.location
    if uris is None:
        try:
            uris = DeltaTable(location.table_uri, storage_options=location.storage_options).file_uris()
        except DeltaError as exc:
            from .store import unreadable_log

            raise unreadable_log(location, exc) from exc
    files = [location.fs_path(uri) for uri in uris]
    return ds.dataset(files, schema=_SCAN_SCHEMA, filesystem=location.fs, format="parquet")


def scan(store: Any, upto: int) -> Refs:
    """Every ref, and each branch's commit versions, read from the table's data files: three small
    columns of every row, and the ref columns only of the files that hold ref rows."""
    refs = Refs()
    parts = []
    node_ops = pa.array(OPS)
    in_range = ds.field("version") <= upto
    dataset = _dataset(store)
    for fragment in dataset.get_fragments():
        small = fragment.to_table(schema=_SCAN_SCHEMA, columns=["version", "op", "branch"], filter=in_range)
        nodes = pc.is_in(small.column("op"), node_ops)
        if pc.all(nodes).as_py() is not False:
            parts.append(_widen(small))
        else:
            parts.append(_widen(small.filter(nodes)))
            parts.append(fragment.to_table(schema=_SCAN_SCHEMA, filter=in_range & ~ds.field("op").isin(node_ops)))
    if parts:
        refs.add(pa.concat_tables(parts))
    born = dataset.to_table(columns=["ts"], filter=ds.field("version") == 0).column("ts")
    refs.born = born[0].as_py() if len(born) else None
    refs.version = upto
    return refs


def scan_branches(store: Any, upto: int, uris: list[str] | None = None) -> Refs:
    """Only the ref rows up to ``upto`` (branches, tags, deletes, merges), no commit counts: all a
    branch's chain needs, so opening a branch reads one column of the node rows, not three, and
    folds none of them (``scan`` is read later, if heads or ``name~N`` are asked for). ``uris``: the
    data files holding every row up to ``upto``, if the caller has them (default: a fresh load)."""
    refs = Refs()
    rows = _dataset(store, uris).to_table(filter=(ds.field("version") <= upto) & ~ds.field("op").isin(pa.array(OPS)))
    if rows.num_rows:
        refs.add(rows)
    refs.version = upto
    return refs


def _widen(part: pa.Table) -> pa.Table:
    """Rows read with three columns, the others null (Refs.add only counts them as commits)."""
    return pa.table([part.column(name) if name in part.column_names else pa.nulls(part.num_rows, field.type)
                     for name, field in zip(_SCAN_COLUMNS, _SCAN_SCHEMA, strict=True)], schema=_SCAN_SCHEMA)


REV = re.compile(r"^(?P<name>.+?)(?:~(?P<steps>\d+))?$")


def resolve_rev(refs: Refs, rev: str, default_branch: str) -> tuple[str, int]:
    """(branch, version) a revision names: ``name``, ``name~N`` (branch first, then tag)."""
    if not isinstance(rev, str):
        raise InvalidArgumentError(f"a revision must be an int, datetime or str, not {type(rev).__name__}")
    match = REV.match(rev)
    if match is None:
        raise BranchNotFoundError(f"no revision {rev!r}")
    name, steps = match.group("name"), int(match.group("steps") or 0)
    if refs.exists(name):
        chain = refs.chain(name)
        branch, version = name, refs.head(name)
    elif name in refs.tags:
        tag = refs.tags[name]
        branch, version = tag.branch, tag.version
        chain = refs.chain(branch) if refs.exists(branch) else ((branch, -1, FOREVER),)
    else:
        raise BranchNotFoundError(f"no branch or tag named {name!r}")
    if steps:
        commits = [v for v in refs.commits_of(chain) if v <= version]
        if steps >= len(commits):
            raise VersionNotFoundError(f"{rev!r}: {name} has only {len(commits)} commits")
        version = commits[-1 - steps]
    return branch, version


BRANCH_ROWS = pa.schema([("name", pa.string()), ("head", pa.int64()), ("base", pa.int64()),
                         ("created", pa.timestamp("us"))])
TAG_ROWS = pa.schema([("name", pa.string()), ("branch", pa.string()), ("version", pa.int64()),
                      ("created", pa.timestamp("us"))])
REV_CHAINS = pa.schema([("rev", pa.string()), ("branch", pa.string()), ("after", pa.int64()),
                        ("upto", pa.int64()), ("version", pa.int64())])
SUBSCRIPTION_ROWS = pa.schema([("name", pa.string()), ("branch", pa.string()), ("position", pa.int64()),
                               ("paths", pa.list_(pa.string())), ("updated", pa.timestamp("us"))])
CONFLICT_ROWS = pa.schema([("source", pa.string()), ("path", pa.string()), ("reason", pa.string()),
                           ("ours", pa.string()), ("theirs", pa.string())])


def sql_tables(refs: Refs, conflicts: list[tuple[str, Any]] | None = None,
               revs: dict[str, tuple[Chain, int]] | None = None, rev_log: pa.Table | None = None,
               ) -> dict[str, pa.Table]:
    """The tables sql/branches.sql, retention.sql and oplog.sql read: branches, tags, retention policies,
    merge conflicts, and for the
    revisions a query names, the rows each sees (``rev_chains``) and those rows (``rev_log``)."""
    from .retention import policy_table

    chains = [(rev, name, after, upto, version) for rev, (chain, version) in (revs or {}).items()
              for name, after, upto in chain]
    return {
        "branch_rows": pa.Table.from_pylist([vars(b) for b in refs.listing()], BRANCH_ROWS),
        "tag_rows": pa.Table.from_pylist([vars(t) for t in sorted(refs.tags.values(), key=lambda t: t.name)],
                                         TAG_ROWS),
        "rev_chains": pa.Table.from_pylist([dict(zip(REV_CHAINS.names, row, strict=True)) for row in chains],
                                           REV_CHAINS),
        "rev_log": rev_log if rev_log is not None else OPLOG_SCHEMA.empty_table(),
        "subscription_rows": pa.Table.from_pylist(
            [{"name": s.name, "branch": s.branch, "position": s.position, "paths": None if s.paths is None
              else list(s.paths), "updated": s.updated} for s in sorted(refs.subscriptions.values(),
                                                                         key=lambda s: s.name)], SUBSCRIPTION_ROWS),
        "retention_rows": policy_table(refs),
        "merge_conflict_rows": pa.Table.from_pylist(
            [{"source": source, "path": c.path, "reason": c.reason, "ours": c.ours, "theirs": c.theirs}
             for source, c in conflicts or []], CONFLICT_ROWS),
    }


def rev_rows(rows: pa.Table, revs: dict[str, tuple[Chain, int]]) -> pa.Table:
    """The rows (of all of a pond's rows) that the revisions a query names see: its ``rev_log``."""
    if not revs:
        return OPLOG_SCHEMA.empty_table()
    return visible(rows, tuple(part for chain, _ in revs.values() for part in chain))
