"""``pond.check()`` and ``tinylogsql check``: verify a pond's invariants and find crash leftovers.

The check reads the Delta table again on its own (the snapshot's file list, one data file at
a time, so a damaged file is named), then:

- every commit's rows carry that commit's version, one transaction id per commit, and no
  transaction appears in two commits (no op twice);
- replaying the op log in commit order never breaks a rule the API enforces (a name is
  unique in its directory, a parent exists and is a directory, a removed directory is empty,
  a directory is never moved into itself, ...);
- the replayed state equals what the DuckDB views (``nodes``, ``entries``, ``paths``) and the
  resident ``state`` cache show;
- every file content is intact: inline content, every referenced blob (``blobs/<sha256>``)
  and every chunked content (``manifests/<sha256>``: its chunk list, every chunk's blake3, and
  the whole) has the size and sha256 its op row records (``chunk-missing``, ``chunk-damaged``,
  ``manifest-missing``, ``manifest-damaged`` otherwise).

It also lists files a crash or a lost commit race can leave behind (orphans): data files in
``log/`` that no commit references, temporary commit files in ``log/_delta_log``, temporary
blobs (``blobs/.tmp-*``), blobs and chunk lists no op row references, and chunks no referenced
chunk list names. It only reports them; removing them
is ``maintain``'s job. A writer that is running at the same time can make its not yet
committed files show up as orphans for a moment.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from .chunks import CHUNK_DIR, MANIFEST_DIR, ChunkStore, is_manifest_ref
from .content import BLOB_DIR, BLOB_REF
from .errors import CorruptPondError
from .guard import duplicates, unique_ops
from .location import LOG_DIR, Location, locate
from .logfiles import DELTA_ACTIONS
from .refs import MAIN_CHAIN, visible
from .retention import expired_pairs, held_refs
from .schema import OPLOG_SCHEMA, ROOT_ID

if TYPE_CHECKING:
    from .pond import Pond

_COMMIT_FILE = re.compile(r"^\d{20}\.json$")
_NODE_FIELDS = ("kind", "parent_id", "name", "size", "sha256", "target")


@dataclass(frozen=True)
class Problem:
    """A broken invariant or a damaged file."""

    code: str
    """Short machine-readable kind, e.g. ``data-file``, ``bad-op``, ``state-mismatch``, ``blob-missing``."""
    message: str
    path: str | None = None
    """The file concerned, when there is one."""
    version: int | None = None
    """The Delta version concerned, when there is one."""


@dataclass(frozen=True)
class Orphan:
    """A file that no commit of the pond references (reported, never removed here)."""

    kind: str
    """``data-file`` | ``temp-commit`` | ``temp-blob`` | ``blob`` | ``manifest`` | ``chunk`` | ``temp-manifest``
    | ``temp-chunk``."""
    path: str
    size: int


@dataclass
class CheckReport:
    """What ``pond.check()`` found. ``ok`` is True when no invariant is broken (orphans are allowed)."""

    uri: str
    version: int | None
    """The Delta version that was checked."""
    commits: int = 0
    ops: int = 0
    nodes: int = 0
    data_files: int = 0
    blobs_checked: int = 0
    chunked_checked: int = 0
    """Distinct chunked contents (manifests) whose chunks were read and verified."""
    problems: list[Problem] = field(default_factory=list)
    orphans: list[Orphan] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}

    def summary(self) -> str:
        status = "ok" if self.ok else f"{len(self.problems)} problem(s)"
        return (
            f"{self.uri} at version {self.version}: {status}; {self.commits} commits, {self.ops} ops, "
            f"{self.nodes} live nodes, {self.data_files} data files, {self.blobs_checked} blobs and "
            f"{self.chunked_checked} chunked contents verified, "
            f"{len(self.orphans)} orphaned file(s)"
        )


# -- public entry points --------------------------------------------------------------
def check_pond(pond: Pond) -> CheckReport:
    """Check an open pond at the version it reads (the newest, for a live pond)."""
    engine = pond._engine
    with engine.lock:
        live = not pond.read_only
        version = engine.sync() if live else pond.version
        report = CheckReport(pond.uri, version)
        rows = _check_store(pond._store.location, report, version)
        if rows is not None:
            _compare_views(pond, visible(rows, engine.chain), version, live, report)  # this branch's rows
            if live and engine.chain == MAIN_CHAIN:  # persisted snapshots hold main's state
                _compare_persisted_state(pond, report)
    return report


def check_path(path: str | os.PathLike[str]) -> CheckReport:
    """Check the pond at ``path``; if it cannot even be opened, still report what is damaged.

    Raises PondNotFoundError (FileNotFoundError) when there is no pond there at all.
    """
    from .pond import Pond

    try:
        pond = Pond.open(path)
    except CorruptPondError as exc:
        location = locate(path)
        report = CheckReport(location.uri, None)
        report.problems.append(Problem("open", f"the pond cannot be opened: {exc}"))
        _check_store(location, report, None)
        return report
    with pond:
        return check_pond(pond)


# -- the store, read independently of the DuckDB engine ------------------------------
def _check_store(location: Location, report: CheckReport, version: int | None) -> pa.Table | None:
    """Check the Delta table and blobs; return the op rows up to ``version`` if all were readable."""
    fs = location.fs
    log_dir = location.path(LOG_DIR, "_delta_log")
    added, removed, log_ok = _read_commit_files(fs, log_dir, report)
    removed |= _tombstones(fs, log_dir)
    try:
        dt = DeltaTable(location.table_uri, storage_options=location.storage_options)
        latest = dt.version()
        files = [_relative(unquote(uri), location) for uri in dt.file_uris()]  # relative to the table folder
    except (DeltaError, OSError) as exc:
        report.problems.append(Problem("delta-log", f"the Delta log cannot be loaded: {exc}", log_dir))
        _find_orphans(location, report, set(added) | removed, None)
        return None
    if version is None:
        version = latest
        report.version = latest
    report.data_files = len(files)
    tables: list[pa.Table] = []
    complete = log_ok
    snapshot: list[str] = []
    for name in files:
        local = location.path(LOG_DIR, name)
        snapshot.append(name)
        try:
            table = pq.read_table(local, schema=OPLOG_SCHEMA, filesystem=fs)
        except FileNotFoundError:
            report.problems.append(Problem("data-file", f"data file missing: {local}", local))
            complete = False
            continue
        except (OSError, pa.ArrowException) as exc:
            report.problems.append(Problem("data-file", f"data file damaged: {local}: {exc}", local))
            complete = False
            continue
        commit = added.get(name)
        if commit is not None and table.num_rows:
            stamped = set(table["version"].to_pylist())
            if stamped != {commit}:
                report.problems.append(Problem(
                    "version-mismatch",
                    f"data file {local} was added by commit {commit} but its rows say versions {sorted(stamped)}",
                    local, commit))
        tables.append(table)
    all_rows = pa.concat_tables(tables) if tables else OPLOG_SCHEMA.empty_table()
    referenced = held_refs(all_rows)  # expired versions hold nothing (see retention.py)
    _find_orphans(location, report, set(added) | removed | set(snapshot), referenced if complete else None)
    rows = all_rows.filter(pc.less_equal(all_rows["version"], version))
    extra = duplicates(rows)
    if extra:  # e.g. two compactions that removed the same files: reads show each row once
        report.problems.append(Problem("duplicate-row", f"{extra} op rows repeat a (version, seq) of another row"))
        rows = unique_ops(rows, location.uri, warn=False)
    _check_commits(rows, version, report)
    listed_chunks = _check_contents(location, rows, report)
    if complete and version == latest:  # chunks listed only by newer versions are no orphans
        _find_chunk_orphans(location, report, {ref for ref in referenced if is_manifest_ref(ref)}, listed_chunks)
    return rows if complete else None


def _tombstones(fs: pafs.FileSystem, log_dir: str) -> set[str]:
    """Data files that checkpoints record as removed: commits trim the log entries that removed
    them (logtrim.KEEP_VERSIONS), so without these, files compaction replaced would look orphaned."""
    try:
        infos = fs.get_file_info(pafs.FileSelector(log_dir))
    except OSError:
        return set()
    removed: set[str] = set()
    for info in infos:
        if ".checkpoint" not in info.base_name or not info.base_name.endswith(".parquet"):
            continue
        try:
            column = pq.read_table(info.path, columns=["remove"], filesystem=fs).column("remove")
        except (OSError, pa.ArrowException, KeyError):
            continue  # a damaged checkpoint is reported by the Delta load, not here
        removed.update(unquote(action["path"]) for action in column.to_pylist() if action)
    return removed


def _relative(uri: str, location: Location) -> str:
    """A data file's path inside the table folder, from the URI deltalake gives for it."""
    folder = location.path(LOG_DIR) + "/"
    for prefix in (location.table_uri.rstrip("/") + "/", folder, "file://" + folder):
        if uri.startswith(prefix):
            return uri[len(prefix):]
    return uri.rsplit("/", 1)[-1]


def _read_commit_files(fs: pafs.FileSystem, log_dir: str, report: CheckReport) -> tuple[dict[str, int], set[str], bool]:
    """Data files each available commit added (dataChange) and files any commit removed."""
    added: dict[str, int] = {}
    removed: set[str] = set()
    ok = True
    try:
        infos = fs.get_file_info(pafs.FileSelector(log_dir))
    except (FileNotFoundError, OSError) as exc:
        report.problems.append(Problem("delta-log", f"cannot list {log_dir}: {exc}", log_dir))
        return added, removed, False
    for info in infos:
        name = info.base_name
        if not _COMMIT_FILE.match(name):
            continue
        commit = int(name[:20])
        try:
            with fs.open_input_stream(info.path) as stream:
                text = stream.read().decode("utf-8")
            actions = [json.loads(line) for line in text.splitlines() if line.strip()]
            if not actions or not all(isinstance(action, dict) and set(action) & DELTA_ACTIONS for action in actions):
                raise ValueError("not a list of Delta actions")
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            report.problems.append(Problem("delta-log", f"damaged log entry {info.path}: {exc}", info.path, commit))
            ok = False
            continue
        for action in actions:
            if "add" in action and isinstance(action["add"], dict):
                path = unquote(action["add"].get("path", ""))
                if action["add"].get("dataChange", True):
                    added[path] = commit
                else:  # re-added by maintenance: known, but its rows keep their own versions
                    removed.add(path)
            elif "remove" in action and isinstance(action["remove"], dict):
                removed.add(unquote(action["remove"].get("path", "")))
    return added, removed, ok


def _find_orphans(location: Location, report: CheckReport, known: set[str], referenced: set[str] | None) -> None:
    fs = location.fs
    log_root = location.path(LOG_DIR)
    try:
        infos = fs.get_file_info(pafs.FileSelector(log_root, recursive=True))
    except (FileNotFoundError, OSError):
        infos = []
    for info in infos:
        if info.type != pafs.FileType.File:
            continue
        relative = os.path.relpath(info.path, log_root)
        if relative.startswith("_delta_log/"):
            name = info.base_name
            if name.startswith("_commit_") or name.endswith(".tmp"):
                report.orphans.append(Orphan("temp-commit", info.path, info.size or 0))
        elif relative.endswith(".parquet") and relative not in known:
            report.orphans.append(Orphan("data-file", info.path, info.size or 0))
    try:
        blobs = fs.get_file_info(pafs.FileSelector(location.path(BLOB_DIR), allow_not_found=True))
    except OSError:
        blobs = []
    for info in blobs:
        if info.type != pafs.FileType.File:
            continue
        if info.base_name.startswith(".tmp-"):
            report.orphans.append(Orphan("temp-blob", info.path, info.size or 0))
        elif referenced is not None and f"{BLOB_DIR}/{info.base_name}" not in referenced:
            report.orphans.append(Orphan("blob", info.path, info.size or 0))


def _check_commits(rows: pa.Table, version: int, report: CheckReport) -> None:
    """One transaction per commit, each transaction in one commit, seq 0..n-1."""
    by_version: dict[int, list[tuple[int, str]]] = defaultdict(list)
    columns = (rows[name].to_pylist() for name in ("version", "seq", "txn_id"))
    for v, seq, txn in zip(*columns, strict=True):
        by_version[v].append((seq, txn))
    seen: dict[str, int] = {}
    for v in sorted(by_version):
        entries = by_version[v]
        txns = {txn for _, txn in entries}
        if len(txns) != 1:
            report.problems.append(Problem("commit", f"commit {v} holds {len(txns)} transactions", None, v))
        if sorted(seq for seq, _ in entries) != list(range(len(entries))):
            report.problems.append(Problem("commit", f"commit {v} has ops numbered {sorted(s for s, _ in entries)}",
                                           None, v))
        for txn in txns:
            if txn in seen:
                report.problems.append(Problem(
                    "duplicate-op", f"transaction {txn} was committed twice (versions {seen[txn]} and {v})", None, v))
            else:
                seen[txn] = v
    if 0 not in by_version:
        report.problems.append(Problem("commit", "version 0 (the root) is missing", None, 0))
    report.commits = len(by_version)
    report.ops = rows.num_rows


def _find_chunk_orphans(location: Location, report: CheckReport, manifests: set[str], chunks: set[str] | None) -> None:
    """Chunk lists no op row references, chunks no referenced list names (None: some list was
    unreadable, so unreferenced chunks cannot be told), and temp files of both."""
    for folder, kind, keep in ((MANIFEST_DIR, "manifest", {ref.rsplit("/", 1)[1] for ref in manifests}),
                               (CHUNK_DIR, "chunk", chunks)):
        try:
            infos = location.fs.get_file_info(pafs.FileSelector(location.path(folder), allow_not_found=True))
        except OSError:
            infos = []
        for info in infos:
            if info.type != pafs.FileType.File:
                continue
            if info.base_name.startswith(".tmp-"):
                report.orphans.append(Orphan(f"temp-{kind}", info.path, info.size or 0))
            elif keep is not None and info.base_name not in keep:
                report.orphans.append(Orphan(kind, info.path, info.size or 0))


def _check_chunked(chunks: ChunkStore, row: dict[str, Any], report: CheckReport, listed: set[str] | None) -> bool:
    """Chunked content: its manifest names it, lists chunks that exist and are intact, and they
    add up to the size and sha256 of the op row. Returns False if the manifest was unreadable."""
    ref, version = row["content_ref"], row["version"]
    try:
        chunk_list = chunks.read_manifest(ref, row["sha256"])
    except CorruptPondError as exc:
        code = "manifest-missing" if "missing" in str(exc) else "manifest-damaged"
        if str(exc).startswith("invalid manifest reference"):  # a forged content_ref: never read
            report.problems.append(Problem("blob-ref", f"commit {version} has an invalid content_ref: {exc}", None,
                                           version))
            return False
        report.problems.append(Problem(code, str(exc), chunks.location.path(str(ref)), version))
        return False
    if listed is not None:
        listed.update(chunk_id for chunk_id, _ in chunk_list)
    digest, size = hashlib.sha256(), 0
    for chunk_id, chunk_size in chunk_list:
        try:
            data = chunks.read_chunk(chunk_id, chunk_size)
        except CorruptPondError as exc:
            code = "chunk-missing" if "missing" in str(exc) else "chunk-damaged"
            report.problems.append(Problem(code, f"{exc} (listed by {ref})", chunks.chunk_path(chunk_id), version))
            return True
        digest.update(data)
        size += len(data)
    if (size, digest.hexdigest()) != (row["size"], row["sha256"]):
        report.problems.append(Problem("manifest-damaged", f"the chunks {ref} lists do not add up to the size/sha256"
                                       f" of commit {version}", chunks.location.path(ref), version))
    return True


def _check_contents(location: Location, rows: pa.Table, report: CheckReport) -> set[str] | None:
    """Inline content, blobs and chunked content have the size and sha256 their op rows record.
    Returns every chunk id the referenced manifests list (None if one was unreadable)."""
    chunks = ChunkStore(location)
    listed: set[str] | None = set()
    manifests_seen: set[tuple[str, str]] = set()
    hashed: dict[str, tuple[int, str] | None] = {}
    columns = ["version", "op", "kind", "size", "sha256", "content", "content_ref", "node_id"]
    data = rows.select(columns).to_pylist()
    expired = expired_pairs(rows)
    for row in data:
        if row["op"] not in ("create", "write") or row["kind"] != "file":
            continue
        if row["content_ref"] is not None and (row["node_id"], row["version"]) in expired:
            continue  # a retention policy expired it: its content may be gone (reads say ContentExpiredError)
        ref = row["content_ref"]
        if ref is None:
            content = row["content"] or b""
            if len(content) != row["size"] or hashlib.sha256(content).hexdigest() != row["sha256"]:
                report.problems.append(Problem("content", f"inline content of commit {row['version']} does not match"
                                               " its size/sha256", None, row["version"]))
            continue
        if is_manifest_ref(ref):
            if (ref, row["sha256"]) not in manifests_seen:
                manifests_seen.add((ref, row["sha256"]))
                if not _check_chunked(chunks, row, report, listed):
                    listed = None
            continue
        if not isinstance(ref, str) or not BLOB_REF.fullmatch(ref) or ref != f"{BLOB_DIR}/{row['sha256']}":
            report.problems.append(Problem("blob-ref", f"commit {row['version']} has an invalid content_ref"
                                           f" {str(ref)[:120]!r} (must be manifests/ or {BLOB_DIR}/<its sha256>)", None,
                                           row["version"]))
            continue
        if ref not in hashed:
            hashed[ref] = _hash_file(location.fs, location.path(ref))
        found = hashed[ref]
        path = location.path(ref)
        if found is None:
            report.problems.append(Problem("blob-missing", f"blob missing: {path}", path, row["version"]))
        elif found != (row["size"], row["sha256"]):
            report.problems.append(Problem("blob-damaged", f"blob damaged (size/sha256 mismatch): {path}", path,
                                           row["version"]))
    report.blobs_checked = sum(1 for value in hashed.values() if value is not None)
    report.chunked_checked = len(manifests_seen)
    return listed


def _hash_file(fs: pafs.FileSystem, path: str) -> tuple[int, str] | None:
    digest = hashlib.sha256()
    size = 0
    try:
        with fs.open_input_stream(path) as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
    except FileNotFoundError:
        return None
    except OSError:
        return (-1, "")
    return size, digest.hexdigest()


# -- replay ---------------------------------------------------------------------------
def replay(rows: pa.Table, report: CheckReport | None = None) -> dict[str, dict[str, Any]]:
    """Apply op rows in commit order; return node_id -> {kind, parent_id, name, size, sha256, target}.

    Every op whose precondition does not hold is reported (when ``report`` is given).
    """
    nodes: dict[str, dict[str, Any]] = {}
    names: dict[tuple[str, str], str] = {}
    children: dict[str, int] = defaultdict(int)
    ordered = rows.sort_by([("version", "ascending"), ("seq", "ascending")]).to_pylist()

    def bad(row: dict[str, Any], message: str) -> None:
        if report is not None:
            report.problems.append(Problem("bad-op", f"commit {row['version']} op {row['seq']} ({row['op']} "
                                           f"{row['name']!r}): {message}", None, row["version"]))

    def is_dir(node_id: str) -> bool:
        return node_id in nodes and nodes[node_id]["kind"] == "dir"

    for row in ordered:
        op, node_id, parent, name = row["op"], row["node_id"], row["parent_id"], row["name"]
        state = {key: row[key] for key in _NODE_FIELDS}
        if op == "create":
            if node_id in nodes:
                bad(row, "node already exists")
                continue
            if node_id == ROOT_ID:
                if row["kind"] != "dir" or parent != "":
                    bad(row, "the root must be a directory without a parent")
                nodes[node_id] = state
                continue
            if not is_dir(parent):
                bad(row, "parent is missing or not a directory")
                continue
            if (parent, name) in names:
                bad(row, "name already taken in its directory")
                continue
            nodes[node_id] = state
            names[(parent, name)] = node_id
            children[parent] += 1
            continue
        current = nodes.get(node_id)
        if current is None:
            bad(row, "node does not exist")
            continue
        if op == "write":
            if current["kind"] != "file" or (current["parent_id"], current["name"]) != (parent, name):
                bad(row, "not a file at that name")
                continue
            current.update(size=row["size"], sha256=row["sha256"])
        elif op == "remove":
            if node_id == ROOT_ID:
                bad(row, "the root was removed")
                continue
            if (current["parent_id"], current["name"]) != (parent, name):
                bad(row, "node is not at that name")
                continue
            if children.get(node_id):
                bad(row, "directory removed while it still has entries")
                continue
            del nodes[node_id]
            del names[(parent, name)]
            children[parent] -= 1
        elif op == "move":
            if node_id == ROOT_ID:
                bad(row, "the root was moved")
                continue
            if (current["parent_id"], current["name"]) != (row["from_parent_id"], row["from_name"]):
                bad(row, "node is not where the move says it was")
                continue
            if not is_dir(parent):
                bad(row, "new parent is missing or not a directory")
                continue
            if (parent, name) in names:
                bad(row, "name already taken in the new directory")
                continue
            ancestor = parent
            while ancestor and ancestor != ROOT_ID and ancestor != node_id:
                ancestor = nodes[ancestor]["parent_id"]
            if ancestor == node_id:
                bad(row, "directory moved into itself")
                continue
            del names[(current["parent_id"], current["name"])]
            children[current["parent_id"]] -= 1
            current.update(parent_id=parent, name=name)
            names[(parent, name)] = node_id
            children[parent] += 1
        else:
            bad(row, f"unknown op {op!r}")
    return nodes


def replay_paths(nodes: dict[str, dict[str, Any]]) -> dict[str, str]:
    """node_id -> absolute path for every node reachable from the root."""
    paths: dict[str, str] = {}

    def path_of(node_id: str, depth: int = 0) -> str | None:
        if node_id in paths:
            return paths[node_id]
        if node_id == ROOT_ID:
            return "/"
        node = nodes.get(node_id)
        if node is None or depth > len(nodes):
            return None
        parent = path_of(node["parent_id"], depth + 1)
        if parent is None:
            return None
        return parent.rstrip("/") + "/" + node["name"]

    for node_id in nodes:
        found = path_of(node_id)
        if found is not None:
            paths[node_id] = found
    return paths


# -- the views against the replay -------------------------------------------------------
def _compare_persisted_state(pond: Pond, report: CheckReport) -> None:
    """The newest persisted state snapshot (what the next open starts from) must equal the
    `nodes` view at its version."""
    engine, store = pond._engine, pond._store
    found = store.states.read(report.version)
    if found is None:
        return
    version, table = found
    columns = "node_id, kind, parent_id, name, size, sha256, target"
    got = _row_set(table, columns)
    want = set(engine.resident.run(f"SELECT {columns} FROM {engine.resident.snapshot(version)}.nodes"))
    if got != want:
        report.problems.append(Problem(
            "state-snapshot",
            f"the persisted state at version {version} differs from the log: {len(got - want)} extra, "
            f"{len(want - got)} missing rows (delete it; the next maintain writes a new one)",
            store.states.path(version), version))


def _row_set(table: pa.Table, columns: str) -> set[tuple[object, ...]]:
    """A state table's rows (the cache's, or a persisted snapshot's) as tuples of ``columns``."""
    table = table.select([name.strip() for name in columns.split(",")])
    return set(zip(*(table.column(name).to_pylist() for name in table.column_names), strict=True))


def _compare_views(pond: Pond, rows: pa.Table, version: int, live: bool, report: CheckReport) -> None:
    engine = pond._engine
    expected = replay(rows, report)
    report.nodes = len(expected)
    want_nodes = {(node_id, *(n[key] for key in _NODE_FIELDS)) for node_id, n in expected.items()}
    want_entries = {(n["parent_id"], n["name"], node_id) for node_id, n in expected.items() if node_id != ROOT_ID}
    want_paths = set(replay_paths(expected).items())
    schema = "main" if live else engine.resident.snapshot(version)
    columns = "node_id, kind, parent_id, name, size, sha256, target"
    try:
        got_nodes = set(engine.resident.run(f"SELECT {columns} FROM {schema}.nodes"))
        got_entries = set(engine.resident.run(f"SELECT parent_id, name, node_id FROM {schema}.entries"))
        got_paths = set(engine.resident.run(f"SELECT node_id, path FROM {schema}.paths"))
        got_state = _row_set(engine.state.table(), columns) if live else want_nodes
        duplicates = engine.resident.run(
            f"SELECT parent_id, name, count(*) FROM {schema}.nodes WHERE parent_id <> '' "
            "GROUP BY ALL HAVING count(*) > 1")
        orphans = engine.resident.run(
            f"SELECT n.node_id FROM {schema}.nodes n LEFT JOIN {schema}.nodes p ON n.parent_id = p.node_id "
            "WHERE n.parent_id <> '' AND (p.node_id IS NULL OR p.kind <> 'dir')")
    except duckdb.Error as exc:
        report.problems.append(Problem("views", f"the views cannot be read: {exc}", None, version))
        return
    for what, got, want in (("nodes", got_nodes, want_nodes), ("entries", got_entries, want_entries),
                            ("paths", got_paths, want_paths), ("state cache", got_state, want_nodes)):
        if got != want:
            extra, missing = sorted(got - want)[:3], sorted(want - got)[:3]
            report.problems.append(Problem(
                "state-mismatch",
                f"the {what} view differs from replaying the log: {len(got - want)} extra (e.g. {extra}), "
                f"{len(want - got)} missing (e.g. {missing})", None, version))
    for parent, name, count in duplicates:
        report.problems.append(Problem("duplicate-name", f"{count} live nodes named {name!r} in directory {parent}",
                                       None, version))
    for (node_id,) in orphans:
        report.problems.append(Problem("dangling-node", f"node {node_id} has no live directory as parent",
                                       None, version))
