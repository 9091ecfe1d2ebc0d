"""SQL over the whole history (issue 4) beside git answering the same questions.

Builds a pond with 100k ops over 1k commits (creates, content writes, removes and moves
spread over 100 directories) and, when git is installed, an equivalent git repository with
the same commits (through ``git fast-import``). Then times, each as the median of 3 runs:

- ``history`` filtered by a path prefix      vs  ``git log --name-status -- <dir>/``
- ``commits`` (one row per commit, op counts)  vs  ``git log --name-status`` (all commits)
- ``diff`` of two far-apart versions         vs  ``git diff --name-status -M A B``
- ``files_at`` an old version                vs  ``git ls-tree -r -l A``

The target (issue 4) is under 1 s per query. Ratios are tinylogsql / git.

    python benchmarks/bench_sql.py             # full: 100k ops over 1k commits
    python benchmarks/bench_sql.py --quick     # CI: 1k ops over 50 commits
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    FastImport,
    Figure,
    git,
    git_init,
    git_version,
    header,
    human_size,
    load_average,
    median_ms,
    now,
    print_table,
    temp_dir,
    write_json,
)

from tinylogsql import Pond  # noqa: E402

Op = tuple[str, ...]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--ops", type=int, default=100_000, help="total ops over all commits")
    parser.add_argument("--dirs", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="runs per query (the median is reported)")
    parser.add_argument("--no-git", action="store_true", help="skip the git baseline")
    parser.add_argument("--quick", action="store_true", help="tiny pond for CI (a few seconds)")
    parser.add_argument("--out", type=Path, help="write bench_sql.json here")
    args = parser.parse_args(argv)
    if args.quick:
        args.commits, args.ops, args.dirs, args.repeat = 50, 1000, 10, 2
    return args


def plan(commits: int, ops_per_commit: int, dirs: int, seed: int = 7) -> Iterator[list[Op]]:
    """The op mix, by path: 70% creates, 20% content writes, 5% removes, 5% moves."""
    r = random.Random(seed)
    live: list[str] = []
    where: dict[str, int] = {}
    counter = 0

    def add(path: str) -> None:
        where[path] = len(live)
        live.append(path)

    def drop(path: str) -> None:
        i = where.pop(path)
        last = live.pop()
        if last != path:
            live[i] = last
            where[last] = i

    for c in range(commits):
        ops: list[Op] = []
        if c == 0:
            ops += [("mkdir", f"p{d:03d}") for d in range(dirs)]
        while len(ops) < ops_per_commit:
            roll = r.random()
            counter += 1
            if roll < 0.70 or len(live) < 10:
                path = f"p{r.randrange(dirs):03d}/f{counter:07d}"
                ops.append(("create", path, f"{path} created in commit {c}\n"))
                add(path)
            elif roll < 0.90:
                path = live[r.randrange(len(live))]
                ops.append(("write", path, f"{path} rewritten in commit {c} ({counter})\n"))
            elif roll < 0.95:
                path = live[r.randrange(len(live))]
                ops.append(("remove", path))
                drop(path)
            else:
                src = live[r.randrange(len(live))]
                dst = f"p{r.randrange(dirs):03d}/m{counter:07d}"
                ops.append(("move", src, dst))
                drop(src)
                add(dst)
        yield ops


def apply_pond(pond: Pond, ops: list[Op], message: str) -> int:
    root = pond.root
    with pond.transaction(message=message, author="bench") as tx:
        for op in ops:
            kind = op[0]
            if kind == "mkdir":
                root.create_dir_path(op[1])
            elif kind == "create":
                root.create_file_path(op[1], op[2])
            elif kind == "write":
                root.write_file_path(op[1], op[2])
            elif kind == "remove":
                root.remove(op[1])
            else:
                root.rename(op[1], op[2])
    assert tx.committed_version is not None
    return tx.committed_version


def apply_git(fi: FastImport, ops: list[Op], message: str) -> int:
    for op in ops:
        kind = op[0]
        if kind in ("create", "write"):
            fi.modify(op[1], op[2].encode())
        elif kind == "remove":
            fi.delete(op[1])
        elif kind == "move":
            fi.rename(op[1], op[2])
    return fi.commit(message)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = header("bench_sql: SQL over the history vs git log / git diff")
    use_git = not args.no_git and git_version() is not None
    if not use_git:
        print("git baseline: skipped (git not installed or --no-git)")
    per_commit = max(1, args.ops // args.commits)
    figures: list[Figure] = []
    started = now()
    with temp_dir("bench-sql-") as tmp:
        pond = Pond.create(tmp / "pond", author="bench")
        fi: FastImport | None = None
        if use_git:
            git_init(tmp / "git")
            fi = FastImport(tmp / "git")
        versions: list[int] = []
        marks_of: list[int] = []
        pond_s = git_s = 0.0
        total_ops = 0
        for c, ops in enumerate(plan(args.commits, per_commit, args.dirs)):
            total_ops += len(ops)
            start = now()
            versions.append(apply_pond(pond, ops, f"commit {c}"))
            pond_s += now() - start
            if fi is not None:
                start = now()
                marks_of.append(apply_git(fi, ops, f"commit {c}"))
                git_s += now() - start
            if (c + 1) % max(1, args.commits // 10) == 0:
                print(f"  built {c + 1}/{args.commits} commits ({pond_s:.1f} s in the pond)", flush=True)
        shas: dict[int, str] = {}
        if fi is not None:
            start = now()
            shas = fi.close()
            git_s += now() - start
        print(f"pond: {total_ops:,} ops over {args.commits:,} commits built in {pond_s:.1f} s"
              f" ({total_ops / pond_s:,.0f} ops/s, {args.commits / pond_s:.1f} commits/s)")
        if fi is not None:
            print(f"git (fast-import): same commits built in {git_s:.1f} s")
        label = f"{human_size(total_ops)} ops/{human_size(args.commits)} commits"
        old, new = args.commits // 10, (9 * args.commits) // 10
        va, vb = versions[old], versions[new]
        prefix = "p007" if args.dirs > 7 else "p000"
        questions = [
            ("history by path prefix",
             f"SELECT version, ts, op, path, from_path, size FROM history WHERE path LIKE '/{prefix}/%'"
             " ORDER BY version, seq",
             ["log", "--format=%H%x09%at%x09%an%x09%s", "--name-status", "--", f"{prefix}/"]),
            ("commits",
             "SELECT * FROM commits ORDER BY version",
             ["log", "--format=%H%x09%at%x09%an%x09%s", "--name-status"]),
            (f"diff v{va} -> v{vb}",
             f"SELECT * FROM diff({va}, {vb})",
             ["diff", "--name-status", "-M", shas.get(marks_of[old], "") if marks_of else "",
              shas.get(marks_of[new], "") if marks_of else ""]),
            (f"files_at v{va}",
             f"SELECT path, size, sha256 FROM files_at({va})",
             ["ls-tree", "-r", "-l", shas.get(marks_of[old], "") if marks_of else ""]),
        ]
        print()
        for name, query, git_args in questions:
            rows = len(pond.sql(query).fetchall())
            first, median = median_ms(lambda q=query: pond.sql(q).fetchall(), args.repeat)
            baselines: dict[str, float | None] = {}
            git_lines = None
            if use_git:
                git_lines = len(git(tmp / "git", *git_args).splitlines())
                _, baselines["git"] = median_ms(lambda a=git_args: git(tmp / "git", *a), args.repeat)
            print(f"  {name}: {rows:,} rows (first run {first:.0f} ms)"
                  + (f"; git: {git_lines:,} output lines" if git_lines is not None else ""), flush=True)
            figures.append(Figure(name, median, "ms", label, baselines, target=1000.0,
                                  note=f"{rows:,} rows; first run {first:.0f} ms"))
        pond.close()
    elapsed = now() - started
    print()
    print_table(figures, ["git"], title="Figures (median of runs, pond.sql(...).fetchall())")
    print(f"\nload average at end: {load_average()}")
    print(f"total time: {elapsed:.1f} s")
    write_json(args.out, "bench_sql.json", info, figures, seconds=elapsed,
               build={"ops": total_ops, "commits": args.commits, "pond_s": pond_s, "git_s": git_s})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
