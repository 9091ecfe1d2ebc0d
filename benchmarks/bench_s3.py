"""A pond on (emulated) S3 beside the same pond in a local folder, in the same run (issue 8).

Prints, for the S3 pond (moto's S3 server on 127.0.0.1, started here) and the local pond:
single-op commits per second, batched ops per second, lookup p50 with the cache warm,
foreign-commit visibility (another Pond commits; how long until this Pond's next lookup has
it), and cold open (Pond.open plus the first lookup); the ratio is S3 / local. Then the
requests one warm lookup costs on S3, and the per-op sizes measured on the local pond (log
bytes per op, log entry per commit, checkpoint per data file) that the README's estimate
for a 1-billion-op pond starts from.

The emulator is a Python process on the same machine: its latency is far below a real
object store's (about 0.3-1 ms per request here vs 10-30 ms for S3 in-region), and its
throughput far lower; read the ratios as "how many requests", not as cloud timings.

    python benchmarks/bench_s3.py            # full
    python benchmarks/bench_s3.py --quick    # CI: small sizes, well under 30 s
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # the emulator helper shared with the tests

os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

from _common import (  # noqa: E402
    Figure,
    header,
    human_size,
    latencies_ms,
    load_average,
    now,
    percentile,
    print_table,
    rng,
    temp_dir,
    write_json,
)

from tinylogsql import Pond  # noqa: E402

CONTENT = b"x" * 100


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, default=200, help="single-op commits to time")
    parser.add_argument("--batch", type=int, default=10_000, help="ops in the one batched transaction")
    parser.add_argument("--samples", type=int, default=1000, help="warm lookups for the p50")
    parser.add_argument("--foreign", type=int, default=30, help="foreign commits for the visibility figure")
    parser.add_argument("--opens", type=int, default=5, help="cold opens (median)")
    parser.add_argument("--size-ops", type=int, default=100_000, help="ops in the pond measured for per-op sizes")
    parser.add_argument("--quick", action="store_true", help="small sizes for CI (well under 30 s)")
    parser.add_argument("--out", type=Path, help="write bench_s3.json here")
    args = parser.parse_args(argv)
    if args.quick:
        args.commits, args.batch, args.samples, args.foreign, args.opens, args.size_ops = 10, 300, 50, 3, 1, 2000
    return args


def measure(uri: str, args: argparse.Namespace) -> dict[str, float]:
    """The five figures for one pond location (created here)."""
    out: dict[str, float] = {}
    with Pond.create(uri, author="bench") as pond, Pond.open(uri, author="other") as other:
        root = pond.root
        root.create_dir_path("single")
        start = now()
        for i in range(args.commits):
            root.create_file_path(f"single/s{i:06d}", CONTENT)
        out["commits"] = args.commits / (now() - start)

        root.create_dir_path("batch")
        start = now()
        with pond.transaction(message="batch"):
            batch_dir = root.open_dir_path("batch")
            for i in range(args.batch):
                batch_dir.create_file_path(f"b{i:07d}", CONTENT)
        out["batched"] = args.batch / (now() - start)

        r = rng()
        sample = [f"batch/b{r.randrange(args.batch):07d}" for _ in range(args.samples)]
        out["lookup_p50"] = percentile(latencies_ms(root.exists, sample), 50)

        seen = []
        for i in range(args.foreign):
            other.root.create_file_path(f"single/foreign{i}", CONTENT)
            start = now()
            assert root.exists(f"single/foreign{i}")
            seen.append((now() - start) * 1000)
        out["visibility_ms"] = statistics.median(seen)

    opens = []
    for _ in range(args.opens):
        start = now()
        with Pond.open(uri) as fresh:
            assert fresh.root.exists("batch/b0000000")
        opens.append((now() - start) * 1000)
    out["cold_open_ms"] = statistics.median(opens)
    out["commits_in_log"] = args.commits + args.foreign + 3
    return out


def per_op_sizes(folder: Path, ops: int) -> dict[str, Any]:
    """Bytes per op of a real local pond: data files, log entries, and after compaction + checkpoint."""
    from deltalake import DeltaTable

    uri = folder / "sizes"
    per_commit = 100
    with Pond.create(uri, author="bench") as pond:
        root = pond.root
        root.create_dir_path("d")
        for start in range(0, ops, per_commit):  # typical small files: ~100 B content inline, sha256, ids
            with pond.transaction(message=f"import {start}", author="etl"):
                d = root.open_dir_path("d")
                for i in range(start, min(ops, start + per_commit)):
                    d.create_file_path(f"file-{i:08d}.csv", f"sensor,{i}\n".encode() * 8)
        single = 50
        for i in range(single):
            root.create_file_path(f"d/one-{i}", b"x" * 100)
        version = pond.version

    def folder_bytes(sub: str, suffix: str) -> tuple[int, int]:
        files = [p for p in (uri / "log" / sub).glob(f"*{suffix}")]
        return sum(p.stat().st_size for p in files), len(files)

    data_before, files_before = folder_bytes("", ".parquet")
    json_bytes, json_count = folder_bytes("_delta_log", ".json")
    one_json = sorted((uri / "log" / "_delta_log").glob("*.json"))[-1].stat().st_size
    one_parquet = max((uri / "log").glob("*.parquet"), key=lambda p: p.stat().st_mtime).stat().st_size
    dt = DeltaTable(str(uri / "log"))
    checkpoint_before = 0
    dt.create_checkpoint()
    checkpoint_before = sum(p.stat().st_size for p in (uri / "log" / "_delta_log").glob("*.checkpoint.parquet"))
    dt.optimize.compact()
    dt = DeltaTable(str(uri / "log"))
    dt.create_checkpoint()
    dt.vacuum(retention_hours=0, dry_run=False, enforce_retention_duration=False)
    compacted, compacted_files = folder_bytes("", ".parquet")
    checkpoints = sorted((uri / "log" / "_delta_log").glob("*.checkpoint.parquet"))
    total_ops = ops + single + 2
    return {
        "ops": total_ops,
        "commits": version + 1,
        "data_bytes_per_op_batched": (data_before - one_parquet * single) / (ops + 2),
        "data_file_bytes_one_op_commit": one_parquet,
        "log_entry_bytes_per_commit": json_bytes / json_count,
        "log_entry_bytes_one_op_commit": one_json,
        "compacted_bytes_per_op": compacted / total_ops,
        "compacted_files": compacted_files,
        "checkpoint_bytes_per_data_file_uncompacted": checkpoint_before / files_before,
        "checkpoint_bytes_compacted": checkpoints[-1].stat().st_size,
        "data_files_before_compaction": files_before,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = header("bench_s3: a pond on emulated S3 (moto, 127.0.0.1) vs the same pond in a local folder")
    from s3_helpers import S3Emulator

    started = now()
    emulator = S3Emulator()
    try:
        os.environ.update(emulator.options)  # Pond.open(uri) picks the options up like any AWS client
        with temp_dir("bench-s3-") as tmp:
            local = measure(str(tmp / "pond"), args)
            s3 = measure(emulator.new_uri(), args)

            uri = emulator.new_uri()
            with Pond.create(uri) as pond:
                pond.root.create_file_path("f", b"x")
                pond.root.exists("f")
                warm = dict(emulator.count(lambda: pond.root.exists("f")))
                start = now()
                for _ in range(args.samples):
                    pond.root.exists("f")
                head_ms = (now() - start) * 1000 / args.samples
            sizes = per_op_sizes(tmp, args.size_ops)
    finally:
        emulator.stop()

    label = f"{args.commits}/{human_size(args.batch)}"
    figures = [
        Figure("single-op commits/s", s3["commits"], "commits/s", str(args.commits), {"local": local["commits"]},
               higher_is_better=True),
        Figure("batched ops/s", s3["batched"], "ops/s", human_size(args.batch), {"local": local["batched"]},
               higher_is_better=True, note="one transaction of creates"),
        Figure("lookup p50 (warm cache)", s3["lookup_p50"], "ms", human_size(args.batch),
               {"local": local["lookup_p50"]}, note="exists(); includes the freshness check (one HEAD on S3)"),
        Figure("foreign-commit visibility p50", s3["visibility_ms"], "ms", str(args.foreign),
               {"local": local["visibility_ms"]}, note="first lookup after another Pond committed one op"),
        Figure("cold open", s3["cold_open_ms"], "ms", f"{s3['commits_in_log']} commits",
               {"local": local["cold_open_ms"]}, note="Pond.open + first lookup, no checkpoint"),
    ]
    elapsed = now() - started
    print()
    print_table(figures, ["local"], title=f"Figures ({label}); tinylogsql = the S3 pond, ratio = S3 / local")
    print(f"\none warm lookup on S3: requests {warm}, {head_ms:.2f} ms each (mean of {args.samples})")
    print("\nper-op sizes on a local pond (100-op transactions of ~100 B files, then 50 one-op commits):")
    for key, value in sizes.items():
        print(f"  {key:>45}: {value:,.1f}" if isinstance(value, float) else f"  {key:>45}: {value:,}")
    print(f"\nload average at end: {load_average()}")
    print(f"total time: {elapsed:.1f} s")
    write_json(args.out, "bench_s3.json", info, figures, seconds=elapsed, warm_lookup_requests=warm,
               warm_lookup_ms=head_ms, sizes=sizes, local=local, s3=s3)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
