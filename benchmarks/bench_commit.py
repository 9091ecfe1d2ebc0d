"""The cost of one commit (issue 18): the Delta write itself, and whole single-op pond commits.

In one run, on the same disk, each on a fresh table with the pond's settings (checkpoint every
10 versions, statistics for ``version`` only), a commit of the same op rows (one row, then 200):

- ``deltaappend``: what a pond commit does now (tinylogsql/deltaappend.py): a pyarrow data file,
  a create-only log entry, the checkpoint every 10 versions on a background thread;
- ``write_deltalake``: delta-rs's append (``max_commit_retries=0``, post-commit checkpoint hook),
  as pond commits were written before;
- ``create_write_transaction``: the same data file written with pyarrow, committed by delta-rs
  from an ``AddAction`` (then ``update_incremental``: the handle stays at the old version).

Then single-op pond commits (``root.create_file_path``) sustained over ``--commits`` beside a bare
``write_deltalake`` loop of one-row appends, ratio = pond / bare loop.

    python benchmarks/bench_commit.py                 # 1,000 appends per variant, 10k pond commits
    python benchmarks/bench_commit.py --quick         # CI: a few seconds
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pyarrow.parquet as pq  # noqa: E402
from _common import Figure, header, load_average, now, print_table, temp_dir, write_json  # noqa: E402
from deltalake import CommitProperties, DeltaTable, PostCommitHookProperties, write_deltalake  # noqa: E402
from deltalake.transaction import AddAction  # noqa: E402

from tinylogsql import Pond, deltaappend  # noqa: E402
from tinylogsql.location import locate  # noqa: E402
from tinylogsql.oprows import stamp  # noqa: E402
from tinylogsql.schema import OPLOG_SCHEMA  # noqa: E402
from tinylogsql.store import CHECKPOINT_INTERVAL, STATS_COLUMNS  # noqa: E402

CONFIG = {"delta.checkpointInterval": str(CHECKPOINT_INTERVAL), "delta.dataSkippingStatsColumns": STATS_COLUMNS}
HOOKS = PostCommitHookProperties(create_checkpoint=True, cleanup_expired_logs=False)
REOPEN = 50  # a long-lived DeltaTable gets slower per commit: reopened as the store does


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--appends", type=int, default=1000, help="commits per Delta write variant")
    parser.add_argument("--commits", type=int, default=10_000, help="single-op pond commits (sustained)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for CI")
    parser.add_argument("--out", type=Path, help="write bench_commit.json here")
    args = parser.parse_args(argv)
    if args.quick:
        args.appends, args.commits = 30, 40
    return args


def rows(version: int, count: int):  # type: ignore[no-untyped-def]
    ops = [{"op": "create", "node_id": uuid.uuid4().hex, "kind": "file", "parent_id": "0" * 32, "name": f"f{i}",
            "size": 1, "sha256": "0" * 64, "content": b"x"} for i in range(count)]
    return stamp(ops, version, uuid.uuid4().hex, "bench", "bench")


def commit_props() -> CommitProperties:
    return CommitProperties(max_commit_retries=0, custom_metadata={"message": "bench", "author": "bench"})


def via_write_deltalake(table: str, appends: int, count: int) -> float:
    dt = DeltaTable(table)
    start = now()
    for i in range(appends):
        if i % REOPEN == 0:
            dt = DeltaTable(table)
        write_deltalake(dt, rows(i + 1, count), mode="append", commit_properties=commit_props(),
                        post_commithook_properties=HOOKS)
    return now() - start


def via_transaction(table: str, appends: int, count: int) -> float:
    dt = DeltaTable(table)
    start = now()
    for i in range(appends):
        if i % REOPEN == 0:
            dt = DeltaTable(table)
        data = rows(i + 1, count)
        name = f"part-00000-{uuid.uuid4()}-c000.snappy.parquet"
        pq.write_table(data, os.path.join(table, name), compression="snappy")
        stats = {"numRecords": data.num_rows, "minValues": {"version": i + 1}, "maxValues": {"version": i + 1},
                 "nullCount": {"version": 0}}
        add = AddAction(name, os.path.getsize(os.path.join(table, name)), {}, int(time.time() * 1000), True,
                        json.dumps(stats))
        dt.create_write_transaction([add], "append", OPLOG_SCHEMA, commit_properties=commit_props(),
                                    post_commithook_properties=HOOKS)
        dt.update_incremental()  # the handle is not moved by the commit: without this the next one conflicts
    return now() - start


def via_deltaappend(table: str, appends: int, count: int) -> float:
    location = locate(Path(table).parent)
    checkpoints = deltaappend.Checkpointer(lambda v: DeltaTable(table, version=v), lambda v: None, lambda: -1)
    start = now()
    for i in range(appends):
        if not deltaappend.append(location, rows(i + 1, count), i + 1, "bench", "bench"):
            raise RuntimeError("conflict")
        if deltaappend.due(i + 1, CHECKPOINT_INTERVAL):
            checkpoints.run(i + 1)  # asked in the timed loop, as a pond commit asks it (written on a thread)
    checkpoints.settle()  # timed until the last one is written, as write_deltalake's hook is
    return now() - start


def bench_writes(tmp: Path, args: argparse.Namespace) -> list[Figure]:
    figures = []
    for count in (1, 200):
        seconds: dict[str, float] = {}
        for variant, run in (("write_deltalake", via_write_deltalake), ("create_write_transaction", via_transaction),
                             ("deltaappend", via_deltaappend)):
            table = tmp / f"{variant}-{count}" / "log"
            write_deltalake(str(table), rows(0, 1), configuration=CONFIG)
            seconds[variant] = run(str(table), args.appends, count)
            check = DeltaTable(str(table))
            assert check.version() == args.appends, (variant, check.version())
        rate = {k: args.appends / v for k, v in seconds.items()}
        others = {k: rate[k] for k in ("write_deltalake", "create_write_transaction")}
        figures.append(Figure(f"Delta commits/s, {count} row(s) each", rate["deltaappend"], "commits/s",
                              f"{args.appends:,}", others,
                              higher_is_better=True,
                              note="ms per commit: " + ", ".join(f"{k} {v / args.appends * 1000:.2f}"
                                                                 for k, v in seconds.items())))
    return figures


def bench_sustained(tmp: Path, args: argparse.Namespace) -> list[Figure]:
    bare = tmp / "bare" / "log"
    write_deltalake(str(bare), rows(0, 1), configuration=CONFIG)
    bare_rate = args.commits / via_write_deltalake(str(bare), args.commits, 1)
    with Pond.create(tmp / "pond", author="bench") as pond:
        root = pond.root
        root.create_dir_path("s")
        start = now()
        for i in range(args.commits):
            root.create_file_path(f"s/f{i:06d}", b"x" * 100)
        pond_rate = args.commits / (now() - start)
    return [Figure("sustained single-op pond commits/s", pond_rate, "commits/s", f"{args.commits:,}",
                   {"bare write_deltalake": bare_rate}, target=200.0, higher_is_better=True,
                   note="a pond commit: op, state fold, Delta append; the bare loop only appends one row")]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    info = header("bench_commit: the cost of one commit")
    with temp_dir("bench-commit-") as tmp:
        writes = bench_writes(tmp, args)
        print_table(writes, ["write_deltalake", "create_write_transaction"],
                    title="the Delta write (ratio = deltaappend / variant)")
        sustained = bench_sustained(tmp, args)
        print_table(sustained, ["bare write_deltalake"], title="single-op pond commits")
    print(f"load average: {load_average()}")
    write_json(args.out, "bench_commit.json", info, writes + sustained)


if __name__ == "__main__":
    main()
