"""``Pond.sync`` (issue 14) beside what a user would otherwise run, in the same run.

A local folder of small files (100 per directory) plus a few files above the 64 KiB inline
limit is mirrored into a pond three times: into an empty directory, again unchanged, and after
1% of the files changed. Baselines: ``put`` of the whole folder into an empty pond in one commit
(every file written: what re-running ``put`` cost before issue 14), ``shutil.copytree`` to a
plain folder, and hashing every local file with sha256 (the floor of any by-hash comparison).

    python benchmarks/bench_sync.py            # 10k files
    python benchmarks/bench_sync.py --quick    # CI: 300 files, a few seconds
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Figure, header, load_average, now, print_table, temp_dir, write_json  # noqa: E402

from tinylogsql import Pond  # noqa: E402
from tinylogsql.export import plan_put, put  # noqa: E402
from tinylogsql.sync import file_sha256  # noqa: E402

PER_DIR = 100


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10_000, help="small files in the local folder")
    parser.add_argument("--large", type=int, default=8, help="files of 1 MiB (the blob stream path)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for CI (a few seconds)")
    parser.add_argument("--out", type=Path, help="write bench_sync.json here")
    args = parser.parse_args(argv)
    if args.quick:
        args.files, args.large = 300, 2
    return args


def make_tree(top: Path, files: int, large: int) -> list[Path]:
    paths = []
    for i in range(files):
        d, f = divmod(i, PER_DIR)
        folder = top / f"d{d:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"f{f:03d}.txt"
        path.write_bytes(f"file {i}\n".encode() * 100)  # ~800 B
        paths.append(path)
    for i in range(large):
        (top / f"large-{i}.bin").write_bytes(os.urandom(1 << 20))
    return paths


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = now()
    fn()
    return now() - start


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    info = header("bench_sync: mirroring a local folder into a pond")
    size = f"{args.files:,} files + {args.large} x 1 MiB"
    with temp_dir("bench-sync-") as tmp:
        local = tmp / "local"
        paths = make_tree(local, args.files, args.large)
        synced = Pond.create(tmp / "synced")
        baseline = Pond.create(tmp / "put")

        first = timed(lambda: synced.sync(local, "/data"))
        put_all = timed(lambda: put(baseline, plan_put(baseline, [local], "/data"), "put"))
        copy = timed(lambda: shutil.copytree(local, tmp / "copy"))
        hashing = timed(lambda: [file_sha256(p) for p in local.rglob("*") if p.is_file()])
        unchanged_version = synced.version
        again = timed(lambda: synced.sync(local, "/data"))
        assert synced.version == unchanged_version, "an unchanged sync must not commit"
        for path in paths[:: 100]:
            path.write_bytes(path.read_bytes() + b"changed\n")
        changed = timed(lambda: synced.sync(local, "/data"))
        synced.close()
        baseline.close()

    figures = [
        Figure("sync into an empty directory", first, "s", size,
               {"put": put_all, "copytree": copy}),
        Figure("sync, nothing changed (no commit)", again, "s", size,
               {"put": put_all, "sha256 all": hashing},
               note="hashes every local file of the same size as its pond file; sha256 all is the floor"),
        Figure("sync, 1% of files changed", changed, "s", size,
               {"put": put_all, "sha256 all": hashing},
               note="put: every file written in one commit, which re-running put cost before issue 14"),
    ]
    print_table(figures, ["put", "copytree", "sha256 all"], title=f"sync [{size}]")
    print(f"load average: {load_average()}")
    write_json(args.out, "bench_sync.json", info, figures)


if __name__ == "__main__":
    main()
