"""bench_branches: the branch figures of issue 15, each beside a baseline measured in the same run.

Figures (targets from the issue):
  create branch                      <= 50 ms at 1M entries     baseline: one single-op commit on main
  first read on a new branch         <= cold open               baseline: cold Pond.open + first lookup on main
  lookup p50 on a branch             <= 1.2x main's             baseline: the same lookups on main
  merge 1k changed nodes             <= 1 s                     baseline: committing those 1k writes on main
  merge preview                      <= 200 ms                  baseline: the same merge, committed
  two writers on two branches        >= 0.8x one writer         baseline: one process writing on main

Usage: python benchmarks/bench_branches.py [--entries N] [--quick] [--writers-only] [--out DIR]
(--writers-only: build, then only the two-writer figure, e.g. to re-measure it on a quiet machine)
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import sys
import time
from pathlib import Path

from _common import (
    Figure,
    header,
    human_size,
    latencies_ms,
    load_average,
    median_ms,
    now,
    percentile,
    print_table,
    rng,
    temp_dir,
    write_json,
)

from tinylogsql import Pond

CONTENT = b"x" * 64


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--changes", type=int, default=1000, help="nodes changed on the branch before the merge")
    parser.add_argument("--commits", type=int, default=200, help="single-op commits per writer")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="a small run (CI checks the script works)")
    parser.add_argument("--writers-only", action="store_true", help="only the two-writer figure (after the build)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.entries, args.changes, args.commits, args.samples = 2000, 50, 10, 100
    return args


def build(pond: Pond, entries: int) -> list[str]:
    """``entries`` files in round(sqrt(N)) directories, in transactions of 100k ops; then maintain."""
    dirs = max(1, round(math.sqrt(entries)))
    per_dir = math.ceil(entries / dirs)
    paths = [f"/d{i // per_dir:04d}/f{i % per_dir:05d}" for i in range(entries)]
    for first in range(0, entries, 100_000):
        with pond.transaction(message=f"build {first}"):
            current = None
            for path in paths[first:first + 100_000]:
                folder, name = path.rsplit("/", 1)
                if current is None or current[0] != folder:
                    current = (folder, pond.root.open_dir_path(folder) if pond.root.exists(folder)
                               else pond.root.create_dir_path(folder))
                current[1].create_file_path(name, CONTENT)
    pond.maintain(retention_hours=0, unsafe=True)  # a persisted state for opens; no other writer here
    return paths


def writer(path: str, branch: str, count: int, barrier) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Single-op commits on ``branch``; returns this writer's commits per second and its CPU ms per
    commit (a figure the machine's other load changes less than the rate)."""
    with Pond.open(path, branch=branch) as pond:
        pond.root.exists("/")
        barrier.wait()
        start, cpu = now(), time.process_time()
        for i in range(count):
            pond.root.create_file_path(f"/w-{branch}-{i}", CONTENT)
        return count / (now() - start), (time.process_time() - cpu) * 1000 / count


def two_writers(path: str, commits: int) -> Figure:
    """Two processes writing single ops on two branches (combined rate) vs one writer on main, same run."""
    with Pond.open(path) as pond:
        for name in ("left", "right"):
            pond.create_branch(name).close()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(2) as pool:
        one, one_cpu = pool.apply(writer, (path, "main", commits, manager.Barrier(1)))
        barrier = manager.Barrier(2)
        runs = [pool.apply_async(writer, (path, name, commits, barrier)) for name in ("left", "right")]
        rates, cpus = zip(*(run.get() for run in runs), strict=True)
    return Figure("two writers on two branches", sum(rates), "commits/s", f"{commits} each", {"one writer": one},
                  target=0.8 * one, higher_is_better=True,
                  note=f"combined rate; target 0.8x one writer; CPU per commit: one writer {one_cpu:.1f} ms, "
                  f"two writers {cpus[0]:.1f} and {cpus[1]:.1f} ms")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = header("bench_branches: branches, merge and isolation (issue 15)")
    figures: list[Figure] = []
    size = human_size(args.entries)
    r = rng()
    with temp_dir("bench-branches-") as tmp:
        path = str(tmp / "pond")
        with Pond.create(path, author="bench") as pond:
            start = now()
            paths = build(pond, args.entries)
            print(f"built {size} entries in {now() - start:.1f} s", flush=True)
            if args.writers_only:
                figures.append(two_writers(path, args.commits))
                print_table(figures, ["one writer"], title=info["benchmark"])
                print(f"\nload average at end: {load_average()}")
                write_json(args.out, "bench_branches.json", info, figures)
                return 0

            # creating a branch vs one single-op commit on main
            single = [median_ms(lambda i=i: pond.root.create_file_path(f"/single-{i}", CONTENT), 1)[0]
                      for i in range(5)]
            made = []

            def create(i: int) -> None:
                made.append(pond.create_branch(f"b{i}"))

            creates = [median_ms(lambda i=i: create(i), 1)[0] for i in range(5)]
            for branch in made:
                branch.close()
            figures.append(Figure("create branch", sorted(creates)[2], "ms", size,
                                  {"commit": sorted(single)[2]}, target=50, note="median of 5; returns a live Pond"))

        # first read on a new branch (a fresh process's view: open + first lookup) vs cold open of main
        with Pond.open(path) as pond:
            pond.create_branch("fresh").close()
        sample = [r.choice(paths) for _ in range(args.samples)]

        def cold(branch: str) -> float:
            start = now()
            with Pond.open(path, branch=branch) as opened:
                opened.root.exists(sample[0])
                return (now() - start) * 1000

        main_cold = min(cold("main") for _ in range(3))
        branch_cold = min(cold("fresh") for _ in range(3))
        figures.append(Figure("first read on a new branch", branch_cold, "ms", size, {"cold open": main_cold},
                              target=main_cold, note="Pond.open(branch=) + one lookup, best of 3"))

        # lookup p50 on a branch with commits of its own vs on main
        with Pond.open(path) as main_pond, Pond.open(path, branch="fresh") as branch_pond:
            branch_pond.root.create_file_path("/own.txt", CONTENT)
            on_main = percentile(latencies_ms(main_pond.root.exists, sample), 50)
            on_branch = percentile(latencies_ms(branch_pond.root.exists, sample), 50)
        figures.append(Figure("lookup p50 on a branch", on_branch, "ms", size, {"main": on_main},
                              target=on_main * 1.2, note=f"exists() of {args.samples} random paths"))

        # merging changed nodes from a branch; preview first; baseline: the same writes on main
        with Pond.open(path) as pond:
            feature = pond.create_branch("feature")
            changed = r.sample(paths, args.changes)
            with feature.transaction(message="edit"):
                for p in changed:
                    feature.root.write_file_path(p, b"changed on the branch")
            preview = median_ms(lambda: pond.merge_preview("feature"), 3)[1]
            start = now()
            result = pond.merge("feature")
            merge_ms = (now() - start) * 1000
            assert len(result.changes) == args.changes, len(result.changes)
            start = now()
            with pond.transaction(message="same writes on main"):
                for p in changed:
                    pond.root.write_file_path(p, b"changed on main")
            direct = (now() - start) * 1000
            feature.close()
        figures.append(Figure(f"merge {args.changes} changed nodes", merge_ms, "ms", size,
                              {"commit on main": direct}, target=1000))
        figures.append(Figure("merge preview", preview, "ms", size, {"merge": merge_ms}, target=200,
                              note="median of 3"))

        figures.append(two_writers(path, args.commits))

    print_table(figures, ["commit", "cold open", "main", "commit on main", "merge", "one writer"],
                title=info["benchmark"])
    print(f"\nload average at end: {load_average()}")
    write_json(args.out, "bench_branches.json", info, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
