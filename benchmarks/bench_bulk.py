"""The bulk write path (issue 18): bulk creates, ``sync`` of many small files and ``import-git``,
each beside its baseline in the same run.

- creates through the bulk path (``Pond.ingest`` of an Arrow table of paths and contents, one
  commit) beside the per-op API in one transaction, and beside writing the same op rows with
  deltalake directly (``write_deltalake`` of the stamped table into a fresh Delta table: the floor
  of any commit of those rows);
- ``Pond.sync`` of small files (1 KiB, 100 per folder) into an empty pond beside
  ``git add -A && git commit`` of the same files;
- ``Pond.import_git`` of a generated history (adds, edits, renames, deletes) beside
  ``git log --name-status`` over the same history, in changes per second.

    python benchmarks/bench_bulk.py                 # 1M bulk creates, 100k files synced, ~10 min
    python benchmarks/bench_bulk.py --quick         # CI: a few seconds
    python benchmarks/bench_bulk.py --only per-op,import --against /path/to/baseline-checkout --rounds 3
        # the chosen figures of this checkout beside another checkout's (e.g. `git worktree add ../base main`),
        # each in its own process, alternating, medians and ratio (wall and CPU seconds)
    python benchmarks/bench_bulk.py --only creates,sync   # some parts only (creates, per-op, sync, import)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
from _common import (  # noqa: E402
    GIT_ENV,
    FastImport,
    Figure,
    git_init,
    header,
    load_average,
    now,
    print_table,
    temp_dir,
    write_json,
)
from deltalake import DeltaTable, write_deltalake  # noqa: E402

from tinylogsql import Pond  # noqa: E402
from tinylogsql.location import LOG_DIR  # noqa: E402
from tinylogsql.segments import in_background  # noqa: E402
from tinylogsql.store import WRITER_PROPERTIES  # noqa: E402

PER_DIR = 100
PARTS = ("creates", "per-op", "sync", "import")
CPU: dict[str, float] = {}
"""Figure name -> the same rate per CPU second of this process (all threads): steadier than wall time
on a loaded machine."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--creates", type=int, default=1_000_000, help="entries created through the bulk path")
    parser.add_argument("--per-op", type=int, default=100_000, help="creates through the per-op API (one transaction)")
    parser.add_argument("--files", type=int, default=100_000, help="1 KiB files synced (100 per folder)")
    parser.add_argument("--commits", type=int, default=500, help="git commits imported")
    parser.add_argument("--changes", type=int, default=200, help="changes per git commit")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for CI (a few seconds)")
    parser.add_argument("--out", type=Path, help="write bench_bulk.json here")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts to run, of {','.join(PARTS)}")
    parser.add_argument("--against", type=Path, help="a baseline checkout (holding tinylogsql/ and sql/): run the "
                        "parts there and here, alternating, each in a fresh process")
    parser.add_argument("--rounds", type=int, default=3, help="alternations with --against")
    args = parser.parse_args(argv)
    args.parts = [part for part in args.only.split(",") if part]
    if set(args.parts) - set(PARTS):
        parser.error(f"--only takes {','.join(PARTS)}")
    if args.quick:
        args.creates, args.per_op, args.files, args.commits, args.changes = 5_000, 2_000, 300, 10, 20
    return args


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = now()
    fn()
    return now() - start


def creates_table(count: int) -> pa.Table:
    """Paths in folders of PER_DIR, 16-byte contents."""
    paths = [f"d{i // PER_DIR:05d}/f{i % PER_DIR:03d}" for i in range(count)]
    return pa.table({"path": paths, "content": [b"%016d" % i for i in range(count)]})


def phases(pond: Pond) -> dict[str, float]:
    """Time spent in the Delta write and in folding the commit into the state (the rest is
    building the rows), measured by wrapping the two calls on this pond's objects."""
    spent = {"delta": 0.0, "fold": 0.0}

    def timer(name, fn):  # type: ignore[no-untyped-def]
        def wrapped(*args, **kwargs):  # type: ignore[no-untyped-def]
            start = now()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += now() - start
        return wrapped

    pond._store.commit = timer("delta", pond._store.commit)  # type: ignore[method-assign]
    pond._engine.ingest = timer("fold", pond._engine.ingest)  # type: ignore[method-assign]
    return spent


def settle() -> float:
    """Wait for the work a commit leaves on the background thread (the state snapshot of a large
    load: 0.1-0.9 s after a 1M ingest), so it is not timed with what runs next; returns the wait."""
    return timed(lambda: in_background(lambda: None).result())


def bench_creates(tmp: Path, args: argparse.Namespace) -> list[Figure]:
    table = creates_table(args.creates)
    with Pond.create(tmp / "bulk") as pond:
        spent = phases(pond)
        settle()
        before = os.times()
        bulk = timed(lambda: pond.ingest(table, message="bulk"))
        after = os.times()
        snapshot = settle()  # (before the baselines: it ran beside them, slowing them, before)
        user, system = after.user - before.user, after.system - before.system
        rows = pond._fixed_sql("SELECT count(*) FROM log WHERE version = ?", [pond.version])[0][0]
    CPU["bulk creates/s (Pond.ingest, one commit)"] = rows / (user + system)
    per_op = bench_per_op(tmp, args) if "per-op" in args.parts else []
    # the floor: the same op rows, as the bulk commit wrote them, written by deltalake into a fresh table
    written = DeltaTable(str(tmp / "bulk" / LOG_DIR)).to_pyarrow_table()
    written = written.filter(pc.equal(written.column("version"), 1))
    delta = timed(lambda: write_deltalake(str(tmp / "delta"), written, mode="append"))
    tuned = timed(lambda: write_deltalake(str(tmp / "delta-tuned"), written, mode="append",
                                          writer_properties=WRITER_PROPERTIES))
    size = f"{rows:,} entries"
    return [
        Figure("bulk creates/s (Pond.ingest, one commit)", rows / bulk, "ops/s", size,
               {"per-op API": per_op[0].value if per_op else None, "deltalake write": rows / delta,
                "deltalake write, pond's parquet settings": rows / tuned}, target=1_000_000,
               higher_is_better=True,
               note=f"deltalake write: the same op rows written by write_deltalake alone (no checks, no state), with "
                    f"its default parquet settings and with the pond's (store.WRITER_PROPERTIES); "
                    f"of the bulk's {bulk:.2f} s: its Delta write {spent['delta']:.2f} s (the state fold's column "
                    f"work runs beside it, prefold.py), the rest of the fold after it {spent['fold']:.2f} s, "
                    f"reading the table, hashing and building the rows {bulk - spent['delta'] - spent['fold']:.2f} s; "
                    f"CPU of the call (all threads) {user:.2f} s user + {system:.2f} s system; its state snapshot "
                    f"written on the background thread {snapshot:.2f} s after it returned (not timed)"),
        *per_op,
    ]


def bench_per_op(tmp: Path, args: argparse.Namespace) -> list[Figure]:
    """Creates through the per-op API in one transaction: a folder per PER_DIR files, 16-byte contents."""
    table = creates_table(args.per_op)
    with Pond.create(tmp / "per-op") as pond:
        names = table.column("path").to_pylist()
        contents = table.column("content").to_pylist()
        staged = [0.0]

        def per_op() -> None:
            with pond.transaction("per-op"):
                root = pond.root
                for index, (path, content) in enumerate(zip(names, contents, strict=True)):
                    if index % PER_DIR == 0:
                        root.create_dir_path(path.split("/")[0])
                    root.create_file_path(path, content)
                staged[0] = now()

        cpu = time.process_time()
        start = now()
        one_by_one = timed(per_op)
        cpu = time.process_time() - cpu
        per_op_rows = args.per_op + args.per_op // PER_DIR
    rate = per_op_rows / one_by_one
    CPU["per-op API creates/s (one transaction)"] = per_op_rows / cpu
    return [Figure("per-op API creates/s (one transaction)", rate, "ops/s", f"{per_op_rows:,} entries",
                   {"per-op API": rate}, target=150_000, higher_is_better=True,
                   note=f"{one_by_one:.3f} s ({cpu:.3f} s CPU): staging {staged[0] - start:.3f} s, the commit "
                        f"{start + one_by_one - staged[0]:.3f} s")]


def make_files(top: Path, count: int) -> None:
    for index in range(count):
        folder = top / f"d{index // PER_DIR:04d}"
        if index % PER_DIR == 0:
            folder.mkdir(parents=True)
        (folder / f"f{index % PER_DIR:03d}.txt").write_bytes(os.urandom(512).hex().encode())  # 1 KiB


def bench_sync(tmp: Path, args: argparse.Namespace) -> list[Figure]:
    local = tmp / "files"
    make_files(local, args.files)
    repo = tmp / "git-files"
    shutil.copytree(local, repo)
    git_init(repo)
    env = {**os.environ, **GIT_ENV}

    def git_add_commit() -> None:
        subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True, env=env)
        subprocess.run(["git", "-C", str(repo), "commit", "-q", "-m", "add"], check=True, env=env)

    git_time = timed(git_add_commit)
    with Pond.create(tmp / "sync") as pond:
        seen = [0]
        def count(path: str, size: int) -> None:
            seen[0] += 1

        sync_time = timed(lambda: pond.sync(local, "/files", on_file=count))
        settled = sync_time + timed(lambda: in_background(lambda: None).result())
        assert seen[0] == args.files
    return [Figure("sync of 1 KiB files into an empty pond", sync_time, "s",
                   f"{args.files:,} files in {args.files // PER_DIR:,} folders", {"git add+commit": git_time},
                   note=f"target: at most 0.5x git add -A && git commit; the commit has landed when sync returns, "
                        f"its state snapshot (a cache for later opens) is written on the background thread: "
                        f"{settled:.2f} s until that is done too ({settled / git_time:.2f}x git)")]


def make_history(repo: Path, commits: int, changes: int) -> int:
    """A first-parent history: each commit adds, edits, renames and deletes; returns the changes."""
    git_init(repo)
    fast = FastImport(repo)
    live: list[str] = []
    made = serial = 0
    for commit in range(commits):
        for index in range(changes):
            kind = index % 10 if live else 0
            if kind < 6 or len(live) < 4:  # adds
                serial += 1
                path = f"dir{serial % 50:02d}/sub{serial % 7}/file{serial}.txt"
                fast.modify(path, b"line %d\n" % serial * 8)
                live.append(path)
            elif kind < 8:  # edits
                path = live[(commit * 31 + index) % len(live)]
                fast.modify(path, b"edited %d %d\n" % (commit, index) * 8)
            elif kind < 9:  # a rename
                old = live.pop((commit * 17 + index) % len(live))
                serial += 1
                new = f"moved{serial % 20:02d}/file{serial}.txt"
                fast.rename(old, new)
                live.append(new)
            else:  # a delete
                fast.delete(live.pop((commit * 13 + index) % len(live)))
            made += 1
        fast.commit(f"commit {commit}")
    fast.close()
    subprocess.run(["git", "-C", str(repo), "reset", "-q", "--hard", "main"], check=True, env={**os.environ, **GIT_ENV})
    return made


def bench_import(tmp: Path, args: argparse.Namespace) -> list[Figure]:
    repo = tmp / "history"
    make_history(repo, args.commits, args.changes)
    env = {**os.environ, **GIT_ENV}
    start = now()
    out = subprocess.run(["git", "-C", str(repo), "log", "--name-status", "--first-parent", "--format=%H"],
                         check=True, env=env, capture_output=True).stdout
    git_time = now() - start
    git_changes = sum(1 for line in out.splitlines() if line[:1] in b"AMDRT" and b"\t" in line)
    with Pond.create(tmp / "imported") as pond:
        cpu = time.process_time()
        start = now()
        report = pond.import_git(repo)
        import_time = now() - start
        cpu = time.process_time() - cpu
    CPU["import-git changes/s"] = report.changes / cpu
    return [Figure("import-git changes/s", report.changes / import_time, "changes/s",
                   f"{args.commits:,} commits x {args.changes} changes",
                   {"git log --name-status": git_changes / git_time},
                   target=20_000, higher_is_better=True,
                   note=f"{report.changes:,} changes imported as {len(report.versions):,} pond commits in "
                        f"{import_time:.1f} s ({cpu:.1f} s CPU); git log --name-status listed {git_changes:,} in "
                        f"{git_time:.2f} s")]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.against is not None:
        against(args, argv if argv is not None else sys.argv[1:])
        return
    info = header("bench_bulk: the bulk write path, sync and import-git")
    figures: list[Figure] = []
    with temp_dir("bench-bulk-") as tmp:
        if "creates" in args.parts:
            part = bench_creates(tmp, args)
            print_table(part, ["per-op API", "deltalake write", "deltalake write, pond's parquet settings"],
                        title="creates")
            figures += part
        if "per-op" in args.parts and "creates" not in args.parts:  # (else measured with the creates)
            part = bench_per_op(tmp, args)
            print_table(part, [], title="per-op")
            figures += part
        if "sync" in args.parts:
            part = bench_sync(tmp, args)
            print_table(part, ["git add+commit"], title="sync")
            figures += part
        if "import" in args.parts:
            part = bench_import(tmp, args)
            print_table(part, ["git log --name-status"], title="import-git")
            figures += part
    print(f"load average: {load_average()}")
    write_json(args.out, "bench_bulk.json", info, figures, cpu=CPU)


def against(args: argparse.Namespace, argv: list[str]) -> None:
    """The chosen parts here and in the ``--against`` checkout, each run in a fresh process with that
    checkout first on PYTHONPATH, alternating for ``--rounds``; medians side by side, as a ratio."""
    base = args.against.resolve()
    if not (base / "tinylogsql" / "__init__.py").is_file():
        raise SystemExit(f"--against {base}: no tinylogsql/ package there")
    passed, skip = [], False
    for arg in argv:  # the same options, without --against/--rounds/--out
        if skip:
            skip = False
            continue
        if arg in ("--against", "--rounds", "--out"):
            skip = True
            continue
        if not arg.startswith(("--against=", "--rounds=", "--out=")):
            passed.append(arg)
    here = Path(__file__).resolve().parent.parent
    runs: dict[str, dict[str, list[tuple[float, str]]]] = {"baseline": {}, "this": {}}
    kinds: dict[str, tuple[str, bool]] = {}  # a figure's unit and direction (sync's is seconds: lower is better)
    header(f"bench_bulk: {args.only} here ({here}) against {base}, {args.rounds} rounds")
    with temp_dir("bench-bulk-against-") as tmp:
        for round_ in range(args.rounds):
            for label, root in (("baseline", base), ("this", here)):
                out = tmp / f"{label}-{round_}"
                env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
                subprocess.run([sys.executable, __file__, *passed, "--out", str(out)], check=True, env=env,
                               stdout=subprocess.DEVNULL)
                payload = json.loads((out / "bench_bulk.json").read_text())
                for figure in payload["figures"]:
                    runs[label].setdefault(figure["name"], []).append((figure["value"], figure["note"]))
                    kinds[figure["name"]] = (figure["unit"], figure["higher_is_better"])
                for name, value in payload.get("cpu", {}).items():
                    runs[label].setdefault(f"{name} per CPU second", []).append((value, ""))
                print(f"round {round_ + 1} {label}: " + "; ".join(
                    f"{name} {values[-1][0]:,.0f}" for name, values in runs[label].items()), flush=True)
    figures = []
    for name, values in runs["this"].items():
        mine = statistics.median(value for value, _ in values)
        theirs = statistics.median(value for value, _ in runs["baseline"].get(name, [(None, "")]))
        unit, higher = kinds.get(name, ("/s", True))
        figures.append(Figure(name, mine, unit, f"median of {len(values)}", {"baseline": theirs},
                              higher_is_better=higher, note=" | ".join(note for _, note in values if note)))
    print_table(figures, ["baseline"], title=f"against {base}")
    for figure in figures:
        if figure.note:
            print(f"{figure.name}: {figure.note}")
    print(f"load average: {load_average()}")


if __name__ == "__main__":
    main()
