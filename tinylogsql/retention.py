"""Retention policies: which old file versions keep their content, and the expiries maintain records.

A policy is a row of the op log (``op='retention'``: ``name`` = the glob, ``target`` = JSON
``{"keep_versions": N, "keep_days": D}``; ``op='clear-retention'`` ends it), so policies are
versioned like everything else. They are pond-wide: content storage is shared by every branch.

``maintain`` applies them (``plan``): a file version whose content is stored beside the table
(inline content lives in its op row and frees nothing) expires when every policy matching its path
lets it go, unless a branch's current tree or a tag references it, or it is younger than the grace
period. Expiries are committed as ``op='expire'`` rows (``node_id`` + ``ref_version`` = the
version, ``name`` = the policy) before anything is deleted; GC then treats the content of an
expiry older than the grace period as unreferenced (``live_refs``), and reads raise
ContentExpiredError. The op rows stay, so history, diff and file_versions still show every version.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from .errors import InvalidArgumentError, InvalidRetentionError, RetentionNotFoundError
from .globs import compile_glob, match
from .refs import MAIN, Refs, visible
from .schema import ROOT_ID

if TYPE_CHECKING:
    from .store import Store


@dataclass(frozen=True)
class Policy:
    """A retention policy in force: versions of files matching ``glob`` outside both limits expire."""

    glob: str
    keep_versions: int | None
    keep_days: float | None
    version: int
    """The commit that set it."""
    created: datetime


@dataclass(frozen=True)
class Applied:
    """What one policy expired in one ``maintain`` (or would, in a dry run)."""

    glob: str
    keep_versions: int | None
    keep_days: float | None
    versions_expired: int
    bytes_expired: int
    """Logical size of the expired versions (what is freed depends on dedup: see bytes_freed)."""


@dataclass(frozen=True)
class Expiry:
    node_id: str
    version: int
    branch: str
    glob: str
    size: int
    sha256: str


POLICY_ROWS = pa.schema([("op", pa.string()), ("pattern", pa.string()), ("keep_versions", pa.int64()),
                         ("keep_days", pa.float64()), ("version", pa.int64()), ("created", pa.timestamp("us"))])


# -- policies ---------------------------------------------------------------------------------
def check_glob(glob: object) -> str:
    """An absolute pond glob ("/scratch/**", "*.csv" means "/*.csv"), or InvalidRetentionError."""
    if not isinstance(glob, str):
        raise InvalidArgumentError(f"a retention glob is a str, not {type(glob).__name__}")
    parts = [part for part in glob.strip().split("/") if part and part != "."]
    if not parts or "\x00" in glob or ".." in parts:
        raise InvalidRetentionError(f"invalid retention glob {glob!r} (e.g. '/scratch/**' or '/logs/*.csv')")
    normal = "/" + "/".join(parts)
    try:
        compile_glob(normal)
    except InvalidArgumentError as exc:
        raise InvalidRetentionError(str(exc)) from None
    return normal


def matches(glob: str, path: str) -> bool:
    """Does the absolute ``path`` match ``glob``? The change feed's rules (globs.py): "*", "?" and
    "[...]" within a name, "**" any depth, "/a/**" below /a and not /a itself."""
    return match(glob, path)


def policy_op(glob: object, keep_versions: object, keep_days: object) -> dict[str, Any]:
    """The op row of ``set_retention`` after checking its arguments."""
    path = check_glob(glob)
    if keep_versions is None and keep_days is None:
        raise InvalidRetentionError("a retention policy needs keep_versions, keep_days or both")
    if keep_versions is not None:
        if isinstance(keep_versions, bool) or not isinstance(keep_versions, int):
            raise InvalidArgumentError(f"keep_versions must be an int, not {type(keep_versions).__name__}")
        if keep_versions < 1:
            raise InvalidRetentionError(f"keep_versions must be at least 1 (the newest version), not {keep_versions}")
    if keep_days is not None:
        if isinstance(keep_days, bool) or not isinstance(keep_days, (int, float)):
            raise InvalidArgumentError(f"keep_days must be a number, not {type(keep_days).__name__}")
        if not math.isfinite(keep_days) or keep_days < 0:
            raise InvalidRetentionError(f"keep_days must be a finite number >= 0, not {keep_days!r}")
    spec = {"keep_versions": keep_versions, "keep_days": None if keep_days is None else float(keep_days)}
    return {"op": "retention", "node_id": "", "kind": "policy", "parent_id": "", "name": path,
            "target": json.dumps(spec)}


def clear_op(glob: object, refs: Refs) -> dict[str, Any]:
    path = check_glob(glob)
    if path not in refs.policies:
        raise RetentionNotFoundError(f"no retention policy for {path!r}")
    return {"op": "clear-retention", "node_id": "", "kind": "policy", "parent_id": "", "name": path}


def fold_policy_row(refs: Refs, op: str, row: dict[str, Any], version: int) -> None:
    """Refs.add's part for retention rows: policies in force, their history, expired versions."""
    log = refs.policy_log
    if op == "retention":
        spec = json.loads(row["target"] or "{}")
        policy = Policy(row["name"], spec.get("keep_versions"), spec.get("keep_days"), version, row["ts"])
        refs.policies[policy.glob] = policy
        log.append({"op": op, "pattern": policy.glob, "keep_versions": policy.keep_versions,
                    "keep_days": policy.keep_days, "version": version, "created": row["ts"]})
    elif op == "clear-retention":
        refs.policies.pop(row["name"], None)
        log.append({"op": op, "pattern": row["name"], "keep_versions": None, "keep_days": None, "version": version,
                    "created": row["ts"]})
    elif op == "expire":
        refs.expired[(row["node_id"], row["ref_version"])] = (row["name"], version, row["ts"])


def policy_table(refs: Refs) -> pa.Table:
    """Every set and clear of a policy, for sql/retention.sql."""
    return pa.Table.from_pylist(refs.policy_log, POLICY_ROWS)


def expired_error(refs: Refs, node_id: str, version: int | None, name: str = "") -> Exception | None:
    """ContentExpiredError for a version whose content a policy expired, else None."""
    from .errors import ContentExpiredError

    found = refs.expired.get((node_id, version)) if version is not None else None
    if found is None:
        return None
    glob, when, _ = found
    return ContentExpiredError(f"the content of {name or 'node ' + node_id} at version {version} expired under the"
                               f" retention policy {glob!r} (maintain, version {when})", version, glob)


# -- applying them ----------------------------------------------------------------------------
def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def plan(rows: pa.Table, refs: Refs, grace_hours: float) -> tuple[list[Expiry], list[Applied]]:
    """The versions the policies in force expire now (not yet expired ones), and per policy a summary.

    ``rows``: every row of the pond (all branches). A version is kept if any matching policy keeps
    it: it is among the newest ``keep_versions`` of its file on its branch, or was current less than
    ``keep_days`` ago (superseded since then). Never expired: content a branch's current tree or a
    tag references, and versions younger than ``grace_hours``.
    """
    policies = sorted(refs.policies.values(), key=lambda p: (-len(p.glob), p.glob))
    if not policies:
        return [], []
    now = _utcnow()
    young = now - timedelta(hours=grace_hours)
    content = rows.filter(pc.and_(pc.is_in(rows.column("op"), pa.array(["create", "write"])),
                                  pc.is_valid(rows.column("content_ref"))))
    protected = _protected(rows, refs)
    folders = _folder_paths(rows)
    groups: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
    for row in content.select(["node_id", "version", "seq", "ts", "branch", "parent_id", "name", "size",
                               "sha256"]).to_pylist():
        key = (row["node_id"], row["branch"] or MAIN)
        same = groups.setdefault(key, {})
        if row["version"] not in same or same[row["version"]]["seq"] < row["seq"]:
            same[row["version"]] = row
    expiries: list[Expiry] = []
    counts: dict[str, list[int]] = {p.glob: [0, 0] for p in policies}
    for (node_id, branch), by_version in groups.items():
        newest_first = [by_version[v] for v in sorted(by_version, reverse=True)]
        for index, row in enumerate(newest_first):
            if index == 0 or (node_id, row["version"]) in protected or (node_id, row["version"]) in refs.expired:
                continue
            if row["ts"] > young:
                continue
            folder = folders.get(row["parent_id"])
            if folder is None:
                continue  # its directory cannot be placed: keep it
            path = f"{folder.rstrip('/')}/{row['name']}"
            superseded = newest_first[index - 1]["ts"]
            matching = [p for p in policies if matches(p.glob, path)]
            if not matching or any(_keeps(p, index, superseded, now) for p in matching):
                continue
            expiries.append(Expiry(node_id, row["version"], branch, matching[0].glob, row["size"] or 0,
                                   row["sha256"] or ""))
            counts[matching[0].glob][0] += 1
            counts[matching[0].glob][1] += row["size"] or 0
    applied = [Applied(p.glob, p.keep_versions, p.keep_days, *counts[p.glob]) for p in sorted(
        policies, key=lambda p: p.glob)]
    return expiries, applied


def _keeps(policy: Policy, index: int, superseded: datetime, now: datetime) -> bool:
    if policy.keep_versions is not None and index < policy.keep_versions:
        return True
    return policy.keep_days is not None and superseded > now - timedelta(days=policy.keep_days)


def _protected(rows: pa.Table, refs: Refs) -> set[tuple[str, int]]:
    """(node_id, version) of the content every live branch's current tree and every tag
    reference (a removed file's last content too: protecting more is safe)."""
    chains = [refs.chain(branch.name) for branch in refs.listing()]
    for name, tag in refs.tags.items():
        try:
            chain, _ = refs.revision(name)
        except LookupError:  # a tag of a deleted branch: its own rows and main's, up to the tag
            chain = ((tag.branch, -1, tag.version), (MAIN, -1, tag.version))
        chains.append(chain)
    content = rows.filter(pc.is_in(rows.column("op"), pa.array(["create", "write"])))
    found: set[tuple[str, int]] = set()
    for chain in chains:
        seen = visible(content, chain)
        if seen.num_rows:
            last = seen.group_by("node_id").aggregate([("version", "max")])
            found.update(zip(last.column("node_id").to_pylist(), last.column("version_max").to_pylist(), strict=True))
    return found


def _folder_paths(rows: pa.Table) -> dict[str, str]:
    """Directory node_id -> its absolute path, from each directory's newest op (any branch)."""
    dirs = rows.filter(pc.equal(rows.column("kind"), "dir")).sort_by([("version", "ascending"), ("seq", "ascending")])
    where = {node_id: (parent, name) for node_id, parent, name in zip(
        dirs.column("node_id").to_pylist(), dirs.column("parent_id").to_pylist(), dirs.column("name").to_pylist(),
        strict=True)}
    paths: dict[str, str] = {ROOT_ID: "/"}

    def path_of(node_id: str, depth: int = 0) -> str | None:
        if node_id in paths:
            return paths[node_id]
        if node_id not in where or depth > len(where):
            return None
        parent, name = where[node_id]
        above = path_of(parent, depth + 1)
        if above is None:
            return None
        paths[node_id] = f"{above.rstrip('/')}/{name}"
        return paths[node_id]

    for node_id in where:
        path_of(node_id)
    return paths


def expire_ops(expiries: list[Expiry]) -> list[dict[str, Any]]:
    """The op rows that record ``expiries`` (committed by maintain before GC deletes anything)."""
    return [{"op": "expire", "node_id": e.node_id, "kind": "policy", "parent_id": "", "name": e.glob,
             "ref_version": e.version, "size": e.size, "sha256": e.sha256, "branch": e.branch} for e in expiries]


def expired_pairs(rows: pa.Table) -> set[tuple[str, int]]:
    """(node_id, version) of every version an ``expire`` row of ``rows`` names."""
    expire = rows.filter(pc.equal(rows.column("op"), "expire"))
    return set(zip(expire.column("node_id").to_pylist(), expire.column("ref_version").to_pylist(), strict=True))


def held_refs(rows: pa.Table) -> set[str]:
    """The content_refs of ``rows`` that some version not expired references."""
    gone = expired_pairs(rows)
    held = rows.filter(pc.is_valid(rows.column("content_ref")))
    return {ref for node_id, version, ref in zip(held.column("node_id").to_pylist(), held.column("version").to_pylist(),
                                                  held.column("content_ref").to_pylist(), strict=True)
            if (node_id, version) not in gone}


# -- reachability ------------------------------------------------------------------------------
def live_refs(store: Store, cutoff: float, planned: set[tuple[str, int]] | None = None) -> set[str]:
    """Every content_ref some op row references, minus rows whose content expired by an expiry
    committed before ``cutoff`` (a unix time: a transaction in flight since before the expiry may
    still copy such a reference, as restore does, within the grace period), minus ``planned``
    (a dry run's expiries, when they would count). Read from the table's data files with pyarrow,
    never from a query copy."""
    import pyarrow.dataset as ds

    from .schema import OPLOG_SCHEMA

    dt = store._fresh_table()
    files = [store.location.fs_path(uri) for uri in dt.file_uris()]
    if not files:
        return set()
    columns = ["op", "node_id", "version", "ts", "content_ref", "ref_version"]
    schema = pa.schema([OPLOG_SCHEMA.field(name) for name in columns])
    table = ds.dataset(files, schema=schema, filesystem=store.location.fs, format="parquet").to_table(
        filter=pc.is_valid(ds.field("content_ref")) | (ds.field("op") == "expire"))
    expire = table.filter(pc.equal(table.column("op"), "expire"))
    when = datetime.fromtimestamp(cutoff, timezone.utc).replace(tzinfo=None) if math.isfinite(cutoff) else None
    gone = set(planned or ())
    if when is not None and expire.num_rows:
        old = expire.filter(pc.less_equal(expire.column("ts"), pa.scalar(when, pa.timestamp("us"))))
        gone.update(zip(old.column("node_id").to_pylist(), old.column("ref_version").to_pylist(), strict=True))
    held = table.filter(pc.is_valid(table.column("content_ref")))
    if not gone:
        return set(pc.unique(held.column("content_ref")).to_pylist())
    return {ref for node_id, version, ref in zip(held.column("node_id").to_pylist(), held.column("version").to_pylist(),
                                                  held.column("content_ref").to_pylist(), strict=True)
            if (node_id, version) not in gone}



class Retaining:
    """The retention half of Pond's API (mixed into Pond); ``self`` is always a Pond."""

    def set_retention(self, glob: str, keep_versions: int | None = None, keep_days: float | None = None, *,
                      message: str | None = None) -> Policy:
        """Keep, for files matching ``glob``, only the newest ``keep_versions`` versions and those
        current within ``keep_days``; ``maintain`` expires the content of the others. One commit;
        a policy for the same glob is replaced. Pond-wide (storage is shared by every branch)."""
        op = policy_op(glob, keep_versions, keep_days)
        commit = self._commit_refs  # type: ignore[attr-defined]
        commit(lambda refs: [op], message or f"retention {op['name']}")
        return self._refs().policies[op["name"]]  # type: ignore[attr-defined]

    def clear_retention(self, glob: str, *, message: str | None = None) -> None:
        """End the policy for ``glob`` (RetentionNotFoundError if none); expired content stays expired."""
        path = check_glob(glob)
        commit = self._commit_refs  # type: ignore[attr-defined]
        commit(lambda refs: [clear_op(path, refs)], message or f"clear retention {path}")

    def retention(self) -> list[Policy]:
        """The policies in force, sorted by glob (also the ``retention`` view)."""
        refs = self._refs()  # type: ignore[attr-defined]
        return sorted(refs.policies.values(), key=lambda policy: policy.glob)
