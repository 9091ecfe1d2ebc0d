"""Shared machinery for the reliability tests (issue 7): random colliding workloads, real worker
processes, and an independent checker that compares what writers were told with the Delta log.

The checker never trusts the code under test: it reads the op log straight from the Delta table
(the snapshot's own file list, read with pyarrow), replays it with its own small model, and
compares the result with what the pond's views and API show.

Run as a script it is a worker process:
    python tests/reliability_helpers.py worker POND WORKER_ID N_OPS SEED OUT_JSONL MODE
MODE is ``torture`` (N_OPS ops, then exit) or ``crash`` (ops until killed).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

NIGHTLY = os.environ.get("TINYLOGSQL_NIGHTLY") == "1"
ROOT_ID = "0" * 32


def scale(ci: int, nightly: int) -> int:
    """A size for CI runs, or for nightly runs when TINYLOGSQL_NIGHTLY=1."""
    return nightly if NIGHTLY else ci


def worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


# -- the workload: a small name space so that writers collide --------------------------------
DIRS = ["d0", "d1", "d0/d0", "d0/d1", "d1/d0", "d1/d1", "d0/d0/d0"]
FILES = [f"{d}/f{i}".lstrip("/") for d in ["", "d0", "d1", "d0/d0", "d1/d1"] for i in range(2)]
LINKS = ["l0", "d0/l0", "d1/l0"]
BIG = 70 * 1024  # above the inline limit: content goes to a blob


class Abort(Exception):
    """Raised on purpose inside a transaction block: nothing of it may land."""


def content_for(tag: str, rng: random.Random, big_share: float) -> bytes:
    body = f"content {tag}\n".encode()
    if rng.random() < big_share:
        size = BIG * rng.choice([1, 1, 1, 4, 40])  # up to about 3 MB: a kill can land mid-blob
        body += bytes(rng.getrandbits(8) for _ in range(64)) * (size // 64 + rng.randrange(4))
    return body


def describe(op: dict[str, Any]) -> dict[str, Any]:
    """The op without its content bytes (the sha256 identifies the content)."""
    out = {k: v for k, v in op.items() if k != "data"}
    if "subs" in out:
        out["subs"] = [describe(sub) for sub in out["subs"]]
    return out


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def random_op(rng: random.Random, tag: str, big_share: float, allow_txn: bool = True) -> dict[str, Any]:
    """One op description (JSON-able). Content is unique per op (``tag``) so it can be traced."""
    roll = rng.random()
    if allow_txn and roll < 0.12:
        subs = [random_op(rng, f"{tag}.{k}", big_share, allow_txn=False) for k in range(rng.randrange(2, 4))]
        return {"op": "txn", "marker": f"txn {tag}", "subs": subs}
    if allow_txn and roll < 0.17:
        subs = [random_op(rng, f"{tag}.{k}", big_share, allow_txn=False) for k in range(rng.randrange(1, 3))]
        return {"op": "abort", "marker": f"abort {tag}", "subs": subs}
    weights = [4, 4, 5, 3, 4, 1] if allow_txn else [1, 2, 8, 1, 2, 1]  # ops inside transactions mostly succeed
    kind = rng.choices(["mkdir", "create", "write", "remove", "rename", "symlink"], weights)[0]
    if kind == "mkdir":
        return {"op": "mkdir", "path": rng.choice(DIRS)}
    if kind in ("create", "write"):
        data = content_for(tag, rng, big_share)
        return {"op": kind, "path": rng.choice(FILES), "data": data.hex(), "sha": sha(data)}
    if kind == "remove":
        return {"op": "remove", "path": rng.choice(DIRS + FILES + LINKS), "recursive": rng.random() < 0.5}
    if kind == "rename":
        pool = rng.choices([DIRS, FILES, LINKS], [3, 4, 1])[0]
        src, dst = rng.sample(pool, 2)
        return {"op": "rename", "src": src, "dst": dst}
    return {"op": "symlink", "path": rng.choice(LINKS), "target": "/" + rng.choice(DIRS + FILES)}


def apply_op(pond: Any, op: dict[str, Any]) -> None:
    """Perform one (non-transaction) op through the public API."""
    root = pond.root
    kind = op["op"]
    if kind == "mkdir":
        root.create_dir_path(op["path"])
    elif kind == "create":
        root.create_file_path(op["path"], bytes.fromhex(op["data"]))
    elif kind == "write":
        root.write_file_path(op["path"], bytes.fromhex(op["data"]))
    elif kind == "remove":
        root.remove(op["path"], recursive=op["recursive"])
    elif kind == "rename":
        root.rename(op["src"], op["dst"])
    elif kind == "symlink":
        root.create_symlink_path(op["path"], op["target"])
    else:
        raise AssertionError(kind)


def perform(pond: Any, op: dict[str, Any], intent: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run ``op`` and return a record of what the caller was told (ok + committed version, or the error)."""
    from tinylogsql import PondError

    record = describe(op)
    record["before"] = pond.version
    try:
        if op["op"] in ("txn", "abort"):
            with pond.transaction(message=op["marker"]) as tx:
                for sub in op["subs"]:
                    apply_op(pond, sub)
                if op["op"] == "abort":
                    raise Abort(op["marker"])
                if intent is not None:  # the block is done; the commit happens on leaving it
                    intent({"committing": op["marker"]})
            record["version"] = tx.committed_version
        else:
            apply_op(pond, op)
            record["version"] = pond.last_committed_version
        record["ok"] = True
    except Abort:
        record["ok"] = False
        record["error"] = "Abort"
    except PondError as exc:
        record["ok"] = False
        record["error"] = type(exc).__name__
        record["bases"] = [cls.__name__ for cls in type(exc).__mro__]
        record["errno"] = getattr(exc, "errno", None)
    except BaseException as exc:  # anything else is a bug the checker must report
        record["ok"] = False
        record["error"] = type(exc).__name__
        record["unexpected"] = repr(exc)
    record["after"] = pond.version
    return record


def run_worker(pond: Any, worker: int, n_ops: int, seed: int, sink: Callable[[dict[str, Any]], None],
               big_share: float = 0.05) -> None:
    """``n_ops`` random ops (``n_ops < 0``: forever) on ``pond``, each record passed to ``sink``."""
    rng = random.Random(seed)
    i = 0
    while n_ops < 0 or i < n_ops:
        op = random_op(rng, f"w{worker}-{i}", big_share)
        sink({"w": worker, "i": i, "intent": describe(op)})
        record = perform(pond, op, intent=lambda extra, i=i: sink({"w": worker, "i": i, **extra}))
        sink({"w": worker, "i": i, **record})
        i += 1


def _worker_main(argv: list[str]) -> None:
    pond_path, worker, n_ops, seed, out, mode = argv
    import tinylogsql.pond
    from tinylogsql import Pond

    if os.environ.get("TINYLOGSQL_TEST_AUTO_COMPACT_EVERY"):  # maintenance tests: compactions every few commits
        tinylogsql.pond.AUTO_COMPACT_EVERY = int(os.environ["TINYLOGSQL_TEST_AUTO_COMPACT_EVERY"])

    with open(out, "a", encoding="utf-8") as stream:
        def sink(record: dict[str, Any]) -> None:
            stream.write(json.dumps(record) + "\n")
            stream.flush()

        pond = Pond.open(pond_path, author=f"w{worker}")
        sink({"w": int(worker), "ready": True})
        go = Path(pond_path).parent / "go"
        while mode == "torture" and not go.exists():
            time.sleep(0.002)
        big = 0.05 if mode == "torture" else 0.3
        run_worker(pond, int(worker), int(n_ops), int(seed), sink, big_share=big)
        pond.close()
    os._exit(0)  # skip interpreter teardown of native libraries


def start_worker(pond_path: Path, worker: int, n_ops: int, seed: int, out: Path, mode: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, __file__, "worker", str(pond_path), str(worker), str(n_ops), str(seed), str(out), mode],
        env=worker_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def read_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut short by SIGKILL
            continue
    return records


def results(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Only the records that carry an outcome."""
    return [r for r in records if "ok" in r]


def unfinished(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ops that were started (intent written) but whose outcome was never recorded."""
    done = {(r["w"], r["i"]) for r in results(records)}
    return [r["intent"] for r in records if "intent" in r and (r["w"], r["i"]) not in done]


def run_threads(target: Callable[[int], None], n: int) -> None:
    errors: list[BaseException] = []

    def guarded(k: int) -> None:
        try:
            target(k)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(k,)) for k in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


# -- the checker ---------------------------------------------------------------------------------
def read_log(pond_path: Path) -> list[dict[str, Any]]:
    """Every op row, read from the Delta table's own file list (not through tinylogsql), in commit order."""
    import pyarrow.parquet as pq
    from deltalake import DeltaTable

    text = str(pond_path)
    filesystem = None
    if text.startswith("s3://"):  # a pond on S3 (issue 8): deltalake and pyarrow get the AWS_* settings
        from s3_helpers import env_filesystem, env_storage_options

        dt = DeltaTable(text.rstrip("/") + "/log", storage_options=env_storage_options())
        filesystem = env_filesystem()
    else:
        dt = DeltaTable(str(Path(pond_path) / "log"))
    files = [uri.split("://", 1)[1] if "://" in uri else uri for uri in dt.file_uris()]
    if not files:
        return []
    rows = pq.read_table(files, filesystem=filesystem).to_pylist()
    return sorted(rows, key=lambda r: (r["version"], r["seq"]))


@dataclass
class Replay:
    """The log replayed by an independent model: final nodes and the set of paths at every version."""

    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    paths_at: dict[int, dict[str, str]] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    def path_of(self, node_id: str) -> str:
        parts = []
        while node_id != ROOT_ID:
            node = self.nodes[node_id]
            parts.append(node["name"])
            node_id = node["parent_id"]
        return "/" + "/".join(reversed(parts))

    def paths(self) -> dict[str, str]:
        """path -> kind of every live node."""
        return {self.path_of(node_id): node["kind"] for node_id, node in self.nodes.items()}


def replay(rows: list[dict[str, Any]]) -> Replay:
    """Apply rows in (version, seq) order, noting any op that breaks a filesystem rule."""
    state = Replay()
    names: dict[tuple[str, str], str] = {}
    by_version: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_version[row["version"]].append(row)
    for version in sorted(by_version):
        for row in by_version[version]:
            node_id, parent, name = row["node_id"], row["parent_id"], row["name"]
            where = f"v{version}/{row['seq']} {row['op']} {name!r}"
            if row["op"] == "create":
                if node_id == ROOT_ID:
                    state.nodes[node_id] = {"kind": "dir", "parent_id": "", "name": "", "sha256": None, "target": None}
                    continue
                if state.nodes.get(parent, {}).get("kind") != "dir":
                    state.violations.append(f"{where}: parent missing or not a directory")
                if (parent, name) in names:
                    state.violations.append(f"{where}: name taken")
                state.nodes[node_id] = {"kind": row["kind"], "parent_id": parent, "name": name,
                                        "sha256": row["sha256"], "target": row["target"]}
                names[(parent, name)] = node_id
                continue
            node = state.nodes.get(node_id)
            if node is None:
                state.violations.append(f"{where}: no such node")
                continue
            if row["op"] == "write":
                node["sha256"] = row["sha256"]
            elif row["op"] == "remove":
                if any(n["parent_id"] == node_id for n in state.nodes.values()):
                    state.violations.append(f"{where}: directory not empty")
                names.pop((node["parent_id"], node["name"]), None)
                del state.nodes[node_id]
            elif row["op"] == "move":
                if (row["from_parent_id"], row["from_name"]) != (node["parent_id"], node["name"]):
                    state.violations.append(f"{where}: moved from a place it was not")
                if state.nodes.get(parent, {}).get("kind") != "dir":
                    state.violations.append(f"{where}: new parent missing or not a directory")
                if (parent, name) in names:
                    state.violations.append(f"{where}: name taken")
                ancestor = parent
                while ancestor in state.nodes and ancestor != ROOT_ID:
                    if ancestor == node_id:
                        state.violations.append(f"{where}: directory moved into itself")
                        break
                    ancestor = state.nodes[ancestor]["parent_id"]
                names.pop((node["parent_id"], node["name"]), None)
                node.update(parent_id=parent, name=name)
                names[(parent, name)] = node_id
        try:
            state.paths_at[version] = state.paths()
        except KeyError:
            state.violations.append(f"v{version}: a node's parent chain is broken")
    for version in range(max(by_version, default=0) + 1):  # maintenance commits change nothing
        state.paths_at.setdefault(version, state.paths_at.get(version - 1, {}))
    return state


def maintenance_commit(pond_path: Path, version: int) -> bool:
    """Is Delta version ``version`` a commit that adds no new data (compaction, checkpoint-only)?"""
    log = Path(pond_path) / "log" / "_delta_log"
    entry = log / f"{version:020d}.json"
    if not entry.exists():
        # Trimmed (logtrim.KEEP_VERSIONS): it cannot tell. An acknowledged op committed there
        # would be reported as lost by verify(), so only a version older than every kept entry
        # passes, where the log promises nothing.
        kept = [int(p.name[:20]) for p in log.glob("*.json") if p.name[:20].isdigit()]
        return bool(kept) and version < min(kept)
    actions = [json.loads(line) for line in entry.read_text().splitlines() if line.strip()]
    changes = [a.get("add") or a.get("remove") for a in actions if "add" in a or "remove" in a]
    return any("commitInfo" in a for a in actions) and all(not c.get("dataChange", True) for c in changes)


def _base(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def matches(op: dict[str, Any], rows: list[dict[str, Any]]) -> bool:
    """Does a commit's rows contain the effect of ``op``?"""
    kind = op["op"]
    if kind in ("txn", "abort"):
        return all(matches(sub, rows) for sub in op["subs"])

    def any_row(**want: Any) -> bool:
        return any(all(row.get(k) == v or (k == "op" and row["op"] in v) for k, v in want.items()) for row in rows)

    if kind == "mkdir":
        return any_row(op=("create",), kind="dir", name=_base(op["path"]))
    if kind == "create":
        return any_row(op=("create",), kind="file", name=_base(op["path"]), sha256=op["sha"])
    if kind == "write":
        return any_row(op=("create", "write"), kind="file", name=_base(op["path"]), sha256=op["sha"])
    if kind == "remove":
        return any_row(op=("remove",), name=_base(op["path"]))
    if kind == "rename":
        return any_row(op=("move",), name=_base(op["dst"]), from_name=_base(op["src"]))
    if kind == "symlink":
        return any_row(op=("create",), kind="symlink", name=_base(op["path"]), target=op["target"])
    raise AssertionError(kind)


@dataclass
class Verdict:
    """Figures from one verification, plus everything that was wrong (must stay empty)."""

    acknowledged: int = 0
    rejected: int = 0
    commits: int = 0
    in_flight_landed: int = 0
    lost: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert not self.lost, f"acknowledged ops missing from the log: {self.lost[:5]}"
        assert not self.problems, "\n".join(self.problems[:20])


def verify(pond_path: Path, records: list[dict[str, Any]], *, authors: bool = True, setup: int = 1,
           in_flight: list[dict[str, Any]] | None = None) -> Verdict:
    """Check what writers were told against the log, the views, a fresh Pond and ``pond.check()``.

    ``in_flight``: ops that were running when their process was killed; each may have landed
    whole or not at all. Without it, every commit after the ``setup`` ones (0..setup) must be
    an acknowledged op.
    """
    from tinylogsql import Pond

    verdict = Verdict()
    rows = read_log(pond_path)
    commits: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        commits[row["version"]].append(row)
    verdict.commits = len(commits) - 1 - setup
    txn_versions: dict[str, set[int]] = defaultdict(set)
    for version, commit_rows in commits.items():
        for row in commit_rows:
            txn_versions[row["txn_id"]].add(version)
        if len({row["txn_id"] for row in commit_rows}) != 1:
            verdict.problems.append(f"commit {version} mixes transactions")
    verdict.problems += [f"transaction {t} committed at {sorted(v)}" for t, v in txn_versions.items() if len(v) > 1]
    for version in sorted(set(range(max(commits) + 1)) - set(commits)):
        if not maintenance_commit(pond_path, version):  # e.g. a compaction: it adds no op rows
            verdict.problems.append(f"version {version} holds no op rows and is not a maintenance commit")

    acked: dict[int, dict[str, Any]] = {}
    for record in results(records):
        if "unexpected" in record:
            verdict.problems.append(f"unexpected exception (not a PondError): {record}")
            continue
        if not record["ok"]:
            verdict.rejected += 1
            continue
        verdict.acknowledged += 1
        version = record["version"]
        label = f"w{record.get('w')}#{record.get('i')} {record['op']} -> v{version}"
        if version is None or version not in commits:
            verdict.lost.append(label)
            continue
        if version in acked:
            verdict.problems.append(f"{label}: version also acknowledged to {acked[version]}")
        acked[version] = record
        commit_rows = commits[version]
        if not matches(record, commit_rows):
            verdict.lost.append(f"{label}: commit {version} does not hold it: {_summary(commit_rows)}")
        if record["op"] == "txn" and commit_rows[0]["message"] != record["marker"]:
            verdict.problems.append(f"{label}: commit message {commit_rows[0]['message']!r}")
        if authors and "w" in record and commit_rows[0]["author"] != f"w{record['w']}":
            verdict.problems.append(f"{label}: committed by {commit_rows[0]['author']!r}")

    # Every commit is an acknowledged op, or the one op a killed process had in flight.
    flights = list(in_flight or [])
    for version in sorted(set(commits) - set(acked) - set(range(setup + 1))):
        commit_rows = commits[version]
        owner = next((op for op in flights if matches(op, commit_rows) and _same_txn(op, commit_rows)), None)
        if owner is None:
            verdict.problems.append(f"commit {version} was never acknowledged: {_summary(commit_rows)}")
        else:
            flights.remove(owner)
            verdict.in_flight_landed += 1

    # Aborted or failed transactions left no trace.
    landed_messages = {commit_rows[0]["message"] for commit_rows in commits.values()}
    landed_shas = {row["sha256"] for row in rows if row["sha256"]}
    for record in results(records):
        if record["ok"] or record["op"] not in ("txn", "abort"):
            continue
        if record["marker"] in landed_messages:
            verdict.problems.append(f"failed transaction {record['marker']!r} is in the log")
        for sub in record["subs"]:
            if sub.get("sha") in landed_shas:
                verdict.problems.append(f"content of failed transaction {record['marker']!r} is in the log")

    # Replay: rules hold at every step; FileExistsError only when a winner was committed.
    model = replay(rows)
    verdict.problems += [f"replay: {v}" for v in model.violations]
    for record in results(records):
        if record.get("error") == "PathExistsError" and record["op"] in ("mkdir", "create", "symlink"):
            path = "/" + record["path"]
            seen = [v for v in range(record["before"], record["after"] + 1) if path in model.paths_at.get(v, {})]
            if not seen:
                verdict.problems.append(
                    f"w{record.get('w')}#{record.get('i')} {record['op']} {path}: FileExistsError but no committed "
                    f"node there in versions {record['before']}..{record['after']}")

    # The views, the API of a fresh Pond, and pond.check() agree with the replay.
    with Pond.open(pond_path) as pond:
        last = max(commits)
        trailing = range(last + 1, pond.version + 1)  # compactions after the last op commit add no rows
        if pond.version < last or not all(maintenance_commit(pond_path, v) for v in trailing):
            verdict.problems.append(f"fresh Pond reads version {pond.version}, the log ends at {last}")
        expected_nodes = {(nid, n["kind"], n["parent_id"], n["name"], n["sha256"], n["target"])
                          for nid, n in model.nodes.items()}
        got_nodes = set(pond.sql("SELECT node_id, kind, parent_id, name, sha256, target FROM nodes").fetchall())
        if got_nodes != expected_nodes:
            verdict.problems.append(f"nodes view != replay: extra {sorted(got_nodes - expected_nodes)[:3]}, "
                                    f"missing {sorted(expected_nodes - got_nodes)[:3]}")
        expected_entries = {(n["parent_id"], n["name"], nid) for nid, n in model.nodes.items() if nid != ROOT_ID}
        got_entries = set(pond.sql("SELECT parent_id, name, node_id FROM entries").fetchall())
        if got_entries != expected_entries:
            verdict.problems.append("entries view != replay")
        expected_paths = {(model.path_of(nid), n["kind"]) for nid, n in model.nodes.items()}
        got_paths = set(pond.sql("SELECT path, kind FROM paths").fetchall())
        if got_paths != expected_paths:
            verdict.problems.append(f"paths view != replay: extra {sorted(got_paths - expected_paths)[:3]}, "
                                    f"missing {sorted(expected_paths - got_paths)[:3]}")
        api = api_state(pond)
        want = {path: (kind, sha_of(model, path)) for path, kind in model.paths().items()}
        if api != want:
            diff = sorted(set(api.items()) ^ set(want.items()))[:4]
            verdict.problems.append(f"API of a fresh Pond != replay: {diff}")
        report = pond.check()
        verdict.problems += [f"pond.check(): {p.message}" for p in report.problems]
    return verdict


def sha_of(model: Replay, path: str) -> str | None:
    for node_id, node in model.nodes.items():
        if node["kind"] == "file" and model.path_of(node_id) == path:
            return node["sha256"]
    return None


def api_state(pond: Any) -> dict[str, tuple[str, str | None]]:
    """path -> (kind, sha256 of content read through the API) for everything walk() lists."""
    state: dict[str, tuple[str, str | None]] = {"/": ("dir", None)}
    for top, dirs, files in pond.root.walk("/"):
        for name in dirs + files:
            path = f"{top.rstrip('/')}/{name}"
            node = pond.root.get(path)
            if node.kind == "file":
                state[path] = ("file", sha(node.read()))
            else:
                state[path] = (node.kind, None)
    return state


def _same_txn(op: dict[str, Any], commit_rows: list[dict[str, Any]]) -> bool:
    if op["op"] in ("txn", "abort"):
        return commit_rows[0]["message"] == op["marker"]
    return True


def _summary(rows: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r['op']} {r['kind']} {r['name']!r}" for r in rows[:4]) + f" [{rows[0]['message']!r}]"




def seed_tree(pond: Any) -> None:
    """Start from a populated tree, so that most random ops can succeed (and collide)."""
    with pond.transaction(message="seed tree"):
        for path in DIRS:
            pond.root.create_dir_path(path)
        for path in FILES[::2]:
            pond.root.create_file_path(path, b"seed " + path.encode())


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "worker":
    _worker_main(sys.argv[2:])
