"""Core pond speed (issue 3) beside a plain local directory, in the same run.

Prints single-op commits per second, ops per second batched in one transaction, and p50/p99
latency of ``exists`` and ``read_file_path`` at 1k and 100k entries; each beside the same work
done with os/pathlib on a local folder, as a ratio tinylogsql / os.

    python benchmarks/bench_core.py            # full: 1k and 100k entries
    python benchmarks/bench_core.py --quick    # CI: tiny sizes, a few seconds
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    Figure,
    header,
    human_size,
    latencies_ms,
    load_average,
    now,
    per_second,
    percentile,
    print_table,
    rng,
    temp_dir,
    write_json,
)

from tinylogsql import Pond  # noqa: E402

CONTENT = b"x" * 100
PER_DIR = 100


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,100000", help="entry counts for the lookup figures")
    parser.add_argument("--commits", type=int, default=300, help="single-op commits to time")
    parser.add_argument("--batch", type=int, default=10_000, help="ops in the one batched transaction")
    parser.add_argument("--samples", type=int, default=2000, help="lookups per latency figure")
    parser.add_argument("--build-batch", type=int, default=20_000, help="ops per transaction when growing the pond")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for CI (a few seconds)")
    parser.add_argument("--out", type=Path, help="write bench_core.json here")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.commits, args.batch, args.samples = "100,1000", 20, 500, 100
    args.sizes = [int(s) for s in str(args.sizes).split(",") if s]
    return args


def grow(pond: Pond, folder: Path, have: int, want: int, batch: int) -> list[str]:
    """Add files to both trees until each holds ``want`` entries (dirs of PER_DIR files)."""
    paths: list[str] = []
    start = have
    while start < want:
        stop = min(want, start + batch)
        with pond.transaction(message=f"grow to {stop}"):
            for i in range(start, stop):
                d, f = divmod(i, PER_DIR)
                if f == 0:
                    pond.root.create_dir_path(f"d{d:05d}")
                pond.root.create_file_path(f"d{d:05d}/f{f:03d}", CONTENT)
        start = stop
    for i in range(have, want):
        d, f = divmod(i, PER_DIR)
        if f == 0:
            (folder / f"d{d:05d}").mkdir()
        (folder / f"d{d:05d}" / f"f{f:03d}").write_bytes(CONTENT)
    for i in range(want):
        d, f = divmod(i, PER_DIR)
        paths.append(f"d{d:05d}/f{f:03d}")
    return paths


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = header("bench_core: tinylogsql vs a plain local directory (os/pathlib)")
    figures: list[Figure] = []
    started = now()
    with temp_dir("bench-core-") as tmp:
        folder = tmp / "plain"
        folder.mkdir()
        with Pond.create(tmp / "pond", author="bench") as pond:
            root = pond.root
            # single-op commits: each create is its own Delta commit
            root.create_dir_path("single")
            (folder / "single").mkdir()
            pond_rate = per_second(lambda i: root.create_file_path(f"single/s{i:06d}", CONTENT), args.commits)
            os_rate = per_second(lambda i: (folder / "single" / f"s{i:06d}").write_bytes(CONTENT), args.commits)
            figures.append(Figure("single-op commits/s", pond_rate, "commits/s", human_size(args.commits),
                                  {"os": os_rate}, higher_is_better=True,
                                  note="os: one file written per op (no fsync)"))

            # batched: many creates in one transaction (one Delta commit)
            root.create_dir_path("batch")
            (folder / "batch").mkdir()
            start = now()
            with pond.transaction(message="batch"):
                batch_dir = root.open_dir_path("batch")
                for i in range(args.batch):
                    batch_dir.create_file_path(f"b{i:07d}", CONTENT)
            pond_rate = args.batch / (now() - start)
            os_rate = per_second(lambda i: (folder / "batch" / f"b{i:07d}").write_bytes(CONTENT), args.batch)
            figures.append(Figure("batched ops/s", pond_rate, "ops/s", human_size(args.batch),
                                  {"os": os_rate}, higher_is_better=True, note="one transaction of creates"))

            # lookups at each size (the pond grows; the extra entries above are not counted)
            have = 0
            r = rng()
            for size in args.sizes:
                start = now()
                paths = grow(pond, folder, have, size, args.build_batch)
                print(f"built {human_size(size)} entries in {now() - start:.1f} s (pond + folder)", flush=True)
                have = size
                sample = [r.choice(paths) for _ in range(args.samples)]
                label = human_size(size)
                pond_exists = latencies_ms(root.exists, sample)
                os_exists = latencies_ms(lambda p: os.path.exists(folder / p), sample)
                pond_read = latencies_ms(root.read_file_path, sample)
                os_read = latencies_ms(lambda p: (folder / p).read_bytes(), sample)
                for name, pond_s, os_s in (("exists", pond_exists, os_exists),
                                           ("read_file_path", pond_read, os_read)):
                    for q in (50, 99):
                        figures.append(Figure(f"{name} p{q}", percentile(pond_s, q), "ms", label,
                                              {"os": percentile(os_s, q)}))
    elapsed = now() - started
    print()
    print_table(figures, ["os"], title="Figures (random existing paths; lookups include the freshness check)")
    print(f"\nload average at end: {load_average()}")
    print(f"total time: {elapsed:.1f} s")
    write_json(args.out, "bench_core.json", info, figures, seconds=elapsed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
