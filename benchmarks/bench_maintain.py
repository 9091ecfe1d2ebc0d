"""bench_maintain (issue 13): tinylogsql's own compaction commit against delta-rs' OPTIMIZE,
on copies of one pond (many small commits), in the same run; and the duplicate-row guard's
cost against reading the rows it checks.

delta-rs' OPTIMIZE is the baseline because it is what maintain used before; it is not safe
beside another compaction (two from one read version both commit, doubling every row).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from _common import Figure, header, human_size, load_average, now, print_table, temp_dir, write_json

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pyarrow.parquet as pq  # noqa: E402
from deltalake import DeltaTable  # noqa: E402

from tinylogsql import Pond  # noqa: E402
from tinylogsql.guard import duplicates  # noqa: E402
from tinylogsql.location import locate  # noqa: E402
from tinylogsql.maintenance import compact  # noqa: E402
from tinylogsql.store import Store  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, default=400, help="small commits before compaction")
    parser.add_argument("--ops", type=int, default=250, help="ops per commit")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for CI")
    parser.add_argument("--out", type=Path, help="write bench_maintain.json here")
    args = parser.parse_args(argv)
    if args.quick:
        args.commits, args.ops = 20, 20
    return args


def build(path: Path, commits: int, ops: int) -> None:
    with Pond.create(path, author="bench") as pond:
        for c in range(commits):
            with pond.transaction():
                folder = pond.root.create_dir_path(f"d{c:05d}")
                for i in range(ops - 1):
                    folder.create_file_path(f"f{i:04d}", b"x")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = header("bench_maintain: compaction committed by tinylogsql vs delta-rs OPTIMIZE")
    figures: list[Figure] = []
    started = now()
    size = f"{human_size(args.commits)} commits x {args.ops} ops"
    with temp_dir("bench-maintain-") as tmp:
        build(tmp / "seed", args.commits, args.ops)
        for mode, zorder in (("z-order", True), ("compact", False)):
            ours_path, theirs_path = tmp / f"ours-{mode}", tmp / f"theirs-{mode}"
            shutil.copytree(tmp / "seed", ours_path)
            shutil.copytree(tmp / "seed", theirs_path)
            start = now()
            compact(Store.open(locate(ours_path)), zorder)
            ours = now() - start
            dt = DeltaTable(str(theirs_path / "log"))
            start = now()
            if zorder:
                dt.optimize.z_order(["parent_id"])
            else:
                dt.optimize.compact()
            theirs = now() - start
            figures.append(Figure(f"{mode} of the whole log", ours, "s", size, {"delta-rs": theirs}))
        files = DeltaTable(str(tmp / "seed" / "log")).file_uris()
        paths = [uri.split("://", 1)[-1] for uri in files]
        start = now()
        rows = pq.read_table(paths)
        read = now() - start
        start = now()
        duplicates(rows)
        guard = now() - start
        figures.append(Figure("duplicate-row check", guard, "s", f"{human_size(rows.num_rows)} rows",
                              {"read": read}, note="baseline: reading those rows from the data files"))
    elapsed = now() - started
    print()
    print_table(figures, ["delta-rs", "read"], title="Figures")
    print(f"\nload average at end: {load_average()}")
    print(f"total time: {elapsed:.1f} s")
    write_json(args.out, "bench_maintain.json", info, figures, seconds=elapsed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
