"""What the SQL sandbox costs (issue 12): p50 of user queries through ``pond.sql`` beside DuckDB's floor.

Builds (once, reusable with ``--pond-dir``) a pond of N file creates in round(sqrt(N)) directories,
written in large batched transactions, then times, each as the p50 of many runs of
``pond.sql(query).fetchall()``:

- ``select 1``                        (the fixed cost of one sandboxed query: checks, isolation, worker)
- ``select count(*) from files``      (the current tree)
- ``history`` by a path prefix        (the whole log, as in README's figures)
- ``select 1`` through ``pond.at(v)`` (time travel: a query pinned to an older version)

The baseline in the same run is a plain in-memory DuckDB connection answering the same query over the
same rows already materialised as Arrow (the floor: no parsing, no isolation, no views). Ratios are
tinylogsql / floor. Only the public API is used, so the same script runs on main ("before") and on the
issue-12 branch ("after"); ``--compare before.json`` prints after/before ratios beside the figures.

Targets (issue 12): a trivial query <= 5 ms; history at 1M ops <= 150 ms.

    python benchmarks/bench_sandbox.py --pond-dir /tmp/pond-1m            # 1M ops (built on first use)
    python benchmarks/bench_sandbox.py --quick                             # CI: a tiny pond, seconds
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import duckdb  # noqa: E402
import pyarrow as pa  # noqa: E402
from _common import (  # noqa: E402
    Figure,
    fmt,
    header,
    human_size,
    latencies_ms,
    load_average,
    now,
    percentile,
    print_table,
    temp_dir,
    write_json,
)

from tinylogsql import Pond  # noqa: E402

CONTENT = b"x,y\n1,2\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=1_000_000, help="file creates in the pond")
    parser.add_argument("--batch", type=int, default=50_000, help="ops per transaction when building")
    parser.add_argument("--runs", type=int, default=200, help="runs of the trivial queries (p50)")
    parser.add_argument("--heavy-runs", type=int, default=21, help="runs of count(*) and history (p50)")
    parser.add_argument("--pond-dir", type=Path, help="build the pond here once and reuse it on later runs")
    parser.add_argument("--quick", action="store_true", help="tiny pond for CI (a few seconds)")
    parser.add_argument("--out", type=Path, help="write bench_sandbox.json here")
    parser.add_argument("--skip", action="append", default=[], metavar="WORD",
                        help="leave out the figures whose name contains WORD (e.g. --skip files)")
    parser.add_argument("--compare", type=Path, help="a bench_sandbox.json of an earlier run (the 'before')")
    args = parser.parse_args(argv)
    if args.quick:
        args.ops, args.batch, args.runs, args.heavy_runs = 2_000, 1_000, 50, 11
    return args


def plan(n: int) -> list[tuple[str, str]]:
    """(kind, path) of n file creates in round(sqrt(n)) directories, each directory before its files."""
    dirs = max(1, round(math.sqrt(n)))
    per_dir = math.ceil(n / dirs)
    out = []
    for i in range(n):
        d, f = divmod(i, per_dir)
        if f == 0:
            out.append(("dir", f"d{d:04d}"))
        out.append(("file", f"d{d:04d}/f{f:04d}"))
    return out


def build(pond: Pond, n: int, batch: int) -> int:
    """Create the plan in transactions of ``batch`` ops; returns the number of ops."""
    items = plan(n)
    root = pond.root
    for first in range(0, len(items), batch):
        with pond.transaction(message=f"build {first}", author="bench") as tx:
            current: tuple[str, Any] | None = None
            for kind, path in items[first:first + batch]:
                if kind == "dir":
                    root.create_dir_path(path)
                    continue
                parent, _, name = path.rpartition("/")
                if current is None or current[0] != parent:
                    current = (parent, root.open_dir_path(parent))
                current[1].create_file_path(name, CONTENT)
        print(f"  built {min(first + batch, len(items)):,} ops (v{tx.committed_version})", flush=True)
    return len(items)


def open_or_build(folder: Path, n: int, batch: int) -> Pond:
    marker = folder / "bench-sandbox.json"
    if marker.exists() and json.loads(marker.read_text()).get("ops") == n:
        print(f"reusing the pond in {folder}")
        return Pond.open(folder / "pond", author="bench")
    if (folder / "pond").exists():
        raise SystemExit(f"{folder / 'pond'} exists but was not built by this script for --ops {n}")
    folder.mkdir(parents=True, exist_ok=True)
    start = now()
    pond = Pond.create(folder / "pond", author="bench")
    ops = build(pond, n, batch)
    seconds = now() - start
    print(f"built {ops:,} ops in {seconds:.1f} s ({ops / seconds:,.0f} ops/s)")
    marker.write_text(json.dumps({"ops": n, "build_s": seconds}))
    return pond


def p50(fn: Any, runs: int) -> float:
    return percentile(latencies_ms(lambda _: fn(), range(runs), warmup=min(5, runs)), 50)


def measure(pond: Pond, n: int, args: argparse.Namespace) -> list[Figure]:
    label = f"{human_size(n)} ops"
    dirs = max(1, round(math.sqrt(n)))
    prefix = "d0007" if dirs > 7 else "d0000"
    history = f"SELECT version, ts, op, path, size FROM history WHERE path LIKE '/{prefix}/%'"
    floor = duckdb.connect()
    # The floor's rows: the same answers' inputs, materialised once as Arrow through the pond itself.
    skip_files = any(word in "count(*) from files p50" for word in args.skip)
    files_rows = (pa.table({"path": pa.array([], pa.string()), "size": pa.array([], pa.int64())}) if skip_files
                  else pond.sql("SELECT path, size FROM files").to_arrow_table())
    history_rows = pond.sql("SELECT version, ts, op, path, size FROM history").to_arrow_table()
    floor.register("files", files_rows)
    floor.register("history", history_rows)
    old = pond.at(max(0, pond.version - 1))
    cases = [
        ("select 1 p50", "SELECT 1", pond, args.runs),
        ("count(*) from files p50", "SELECT count(*) FROM files", pond, args.heavy_runs),
        ("history by path prefix p50", history, pond, args.heavy_runs),
        ("select 1 via pond.at(v) p50", "SELECT 1", old, args.runs),
    ]
    targets = {"select 1 p50": 5.0, "history by path prefix p50": 150.0, "select 1 via pond.at(v) p50": 5.0}
    figures = []
    cases = [case for case in cases if not any(word in case[0] for word in args.skip)]
    for name, query, target_pond, runs in cases:
        ours_rows = target_pond.sql(query).fetchall()
        floor_rows = floor.sql(query).fetchall()
        assert len(ours_rows) == len(floor_rows), (name, len(ours_rows), len(floor_rows))
        ours = p50(lambda q=query, p=target_pond: p.sql(q).fetchall(), runs)
        base = p50(lambda q=query: floor.sql(q).fetchall(), runs)
        print(f"  {name}: {fmt(ours)} ms (floor {fmt(base)} ms), {len(ours_rows):,} rows, {runs} runs", flush=True)
        figures.append(Figure(name, ours, "ms", label, {"duckdb floor": base}, target=targets.get(name),
                              note=f"{len(ours_rows):,} rows; {runs} runs"))
    floor.close()
    return figures


def compare(figures: list[Figure], before_path: Path) -> None:
    before = {f["name"]: f["value"] for f in json.loads(before_path.read_text())["figures"]}
    print(f"\nafter / before ({before_path}):")
    for fig in figures:
        old = before.get(fig.name)
        ratio = "-" if not old or fig.value is None else f"{fig.value / old:.2f}x"
        print(f"  {fig.name:<30} before {fmt(old):>8} ms   after {fmt(fig.value):>8} ms   after/before {ratio}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = header("bench_sandbox: the cost of a sandboxed pond.sql query")
    started = now()
    if args.pond_dir is not None:
        pond = open_or_build(args.pond_dir, args.ops, args.batch)
        figures = measure(pond, args.ops, args)
        pond.close()
    else:
        with temp_dir("bench-sandbox-") as tmp:
            pond = open_or_build(tmp, args.ops, args.batch)
            figures = measure(pond, args.ops, args)
            pond.close()
    elapsed = now() - started
    print()
    print_table(figures, ["duckdb floor"], title="Figures (p50, pond.sql(...).fetchall())")
    if args.compare is not None:
        compare(figures, args.compare)
    print(f"\nload average at end: {load_average()}")
    print(f"total time: {elapsed:.1f} s")
    write_json(args.out, "bench_sandbox.json", info, figures, seconds=elapsed, ops=args.ops)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
