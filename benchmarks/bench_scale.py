"""Scale (issue 6): every target at 1k, 10k, 100k and 1M entries beside real baselines.

For each size N the script builds, in the same process and on the same disk:

- a pond of N files in round(sqrt(N)) directories (1M = 1,000 dirs x 1,000 files), plus a
  ``wide/`` directory of min(N, 10k) files and a 5-component chain ``c1/c2/c3/c4/leaf``,
  written with batched transactions (``--batch`` ops per commit);
- the same tree as a plain local directory (os), as an indexed SQLite table (UNIQUE
  (parent, name), resolved per component), and, when git is installed, as a git history
  with one commit per pond build transaction (``git fast-import``).

and prints each issue-6 target beside its baselines as a ratio tinylogsql / baseline.
Single-op commits are also sustained over ``--commits`` (10k) commits on a fresh pond and
reported per ``--window`` (1k) commits. ``--out DIR`` writes bench_scale.json and
bench_scale.png (lookup latency and commit rate against pond size).

    python benchmarks/bench_scale.py                         # 1k, 10k, 100k, 1M
    python benchmarks/bench_scale.py --sizes 1000,10000      # a subset
    python benchmarks/bench_scale.py --quick                 # CI: one size (1k), ~15 s
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    FastImport,
    Figure,
    SqliteTree,
    foreign_writer,
    git,
    git_init,
    git_version,
    header,
    human_size,
    latencies_ms,
    load_average,
    measure_visibility,
    now,
    os_foreign_writer,
    per_second,
    percentile,
    print_table,
    rng,
    rss_mb,
    run_python,
    sqlite_foreign_writer,
    temp_dir,
    write_json,
)

from tinylogsql import Pond  # noqa: E402

CONTENT = b"x" * 100
CHAIN = "c1/c2/c3/c4/leaf"
BASELINES = ["os", "sqlite", "git"]

COLD_POND = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from tinylogsql import Pond
import psutil
t1 = time.perf_counter()
pond = Pond.open(sys.argv[1])
t2 = time.perf_counter()
found = pond.root.exists(sys.argv[2])
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "open_s": t2 - t1, "lookup_s": t3 - t2, "found": found,
                  "rss_mb": psutil.Process().memory_info().rss / 2**20,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

COLD_SQLITE = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[3])
t0 = time.perf_counter()
from pathlib import Path
from _common import SqliteTree
import psutil
t1 = time.perf_counter()
tree = SqliteTree(Path(sys.argv[1]))
t2 = time.perf_counter()
found = tree.exists(sys.argv[2])
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "open_s": t2 - t1, "lookup_s": t3 - t2, "found": found,
                  "rss_mb": psutil.Process().memory_info().rss / 2**20,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000,1000000", help="entry counts, comma-separated")
    parser.add_argument("--batch", type=int, default=50_000, help="ops per transaction when building a pond")
    parser.add_argument("--batched-ops", type=int, default=20_000, help="ops in the timed batched transaction")
    parser.add_argument("--samples", type=int, default=2000, help="random lookups per latency figure")
    parser.add_argument("--burst", type=int, default=100, help="single-op commits timed at each size")
    parser.add_argument("--commits", type=int, default=10_000, help="single-op commits in the sustained run")
    parser.add_argument("--window", type=int, default=1000, help="commits per window of the sustained run")
    parser.add_argument("--sustain-cap", type=float, default=300.0, help="stop the sustained run after this many s")
    parser.add_argument("--git-commits", type=int, default=100, help="single-op git commits for the baseline")
    parser.add_argument("--rounds", type=int, default=10, help="cross-process visibility rounds")
    parser.add_argument("--no-git", action="store_true", help="skip the git baselines")
    parser.add_argument("--only-sustained", action="store_true", help="run only the sustained single-op commits")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for CI (< 30 s)")
    parser.add_argument("--out", type=Path, help="write bench_scale.json and bench_scale.png here")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.batch, args.batched_ops, args.samples = "1000", 500, 1000, 100  # one size: each costs ~10 s
        args.burst, args.commits, args.window, args.git_commits, args.rounds = 10, 40, 10, 5, 4
    args.sizes = [int(s) for s in str(args.sizes).split(",") if s]
    return args


class Layout:
    """Where the N files of a size go: round(sqrt(N)) directories, filled in order."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.dirs = max(1, round(math.sqrt(n)))
        self.per_dir = math.ceil(n / self.dirs)
        self.wide = min(n, 10_000)

    def file(self, i: int) -> str:
        d, f = divmod(i, self.per_dir)
        return f"d{d:04d}/f{f:04d}"

    def items(self) -> list[tuple[str, str]]:
        """(path, kind) in creation order: chain, wide dir, grid (dirs before their files)."""
        out = [(p, "dir") for p in ("c1", "c1/c2", "c1/c2/c3", "c1/c2/c3/c4")] + [(CHAIN, "file")]
        out.append(("wide", "dir"))
        out += [(f"wide/w{i:05d}", "file") for i in range(self.wide)]
        for i in range(self.n):
            path = self.file(i)
            if i % self.per_dir == 0:
                out.append((path.split("/")[0], "dir"))
            out.append((path, "file"))
        return out


def build_pond(pond: Pond, items: list[tuple[str, str]], batch: int) -> tuple[float, list[int]]:
    """Create every item in transactions of ``batch`` ops; return (seconds, committed versions)."""
    versions: list[int] = []
    start = now()
    root = pond.root
    for first in range(0, len(items), batch):
        chunk = items[first:first + batch]
        with pond.transaction(message=f"build {first}") as tx:
            current_dir: tuple[str, Any] | None = None
            for path, kind in chunk:
                parent, _, name = path.rpartition("/")
                if kind == "dir":
                    root.create_dir_path(path)
                    continue
                if current_dir is None or current_dir[0] != parent:
                    current_dir = (parent, root.open_dir_path(parent) if parent else root)
                current_dir[1].create_file_path(name, CONTENT)
        assert tx.committed_version is not None
        versions.append(tx.committed_version)
    return now() - start, versions


def build_os(folder: Path, items: list[tuple[str, str]]) -> float:
    start = now()
    for path, kind in items:
        if kind == "dir":
            (folder / path).mkdir()
        else:
            (folder / path).write_bytes(CONTENT)
    return now() - start


def build_git(repo: Path, items: list[tuple[str, str]], batch: int) -> tuple[float, list[str]]:
    """One git commit per pond build transaction; returns (seconds, commit shas)."""
    start = now()
    git_init(repo)
    fi = FastImport(repo)
    marks = []
    for first in range(0, len(items), batch):
        for path, kind in items[first:first + batch]:
            if kind == "file":
                fi.modify(path, CONTENT)
        marks.append(fi.commit(f"build {first}"))
    shas = fi.close()
    return now() - start, [shas[m] for m in marks]


def git_single_commits(repo: Path, count: int) -> float:
    """Single-op commits with the git CLI in a work tree: write a file, git add, git commit."""
    git_init(repo)
    (repo / "seed").write_bytes(CONTENT)
    git(repo, "add", "seed")
    git(repo, "commit", "-q", "-m", "seed")
    start = now()
    for i in range(count):
        (repo / f"s{i:05d}").write_bytes(CONTENT)
        git(repo, "add", f"s{i:05d}")
        git(repo, "commit", "-q", "-m", f"op {i}")
    return count / (now() - start)


def pcts(samples: list[float]) -> tuple[float, float]:
    return percentile(samples, 50), percentile(samples, 99)


def measure_size(args: argparse.Namespace, n: int, tmp: Path, git_rate: float | None,
                 plot: dict[str, Any]) -> list[Figure]:
    use_git = git_rate is not None
    layout = Layout(n)
    items = layout.items()
    label = human_size(n)
    figures: list[Figure] = []
    print(f"\n-- size {label}: {layout.dirs:,} dirs x {layout.per_dir:,} files + wide/ ({layout.wide:,})"
          f" + {CHAIN} = {len(items):,} entries; load {load_average()}", flush=True)

    pond_path = tmp / "pond"
    pond = Pond.create(pond_path, author="bench")
    pond_s, versions = build_pond(pond, items, args.batch)
    print(f"   pond built in {pond_s:.1f} s ({len(items) / pond_s:,.0f} ops/s, {len(versions)} commits)", flush=True)
    folder = tmp / "plain"
    folder.mkdir()
    os_s = build_os(folder, items)
    print(f"   folder built in {os_s:.1f} s", flush=True)
    tree = SqliteTree(tmp / "tree.sqlite")
    start = now()
    tree.bulk((path, kind, CONTENT if kind == "file" else None) for path, kind in items)
    sqlite_s = now() - start
    print(f"   sqlite built in {sqlite_s:.1f} s", flush=True)
    git_s, shas = None, []
    if use_git:
        git_s, shas = build_git(tmp / "git", items, args.batch)
        print(f"   git (fast-import, {len(shas)} commits) built in {git_s:.1f} s", flush=True)
    figures.append(Figure("build: batched ops/s", len(items) / pond_s, "ops/s", label,
                          {"os": len(items) / os_s, "sqlite": len(items) / sqlite_s,
                           "git": len(items) / git_s if git_s else None},
                          higher_is_better=True, note=f"{args.batch:,} ops per transaction; git via fast-import"))

    # -- lookups (random existing grid files; every call includes the freshness check) ------------
    r = rng(n)
    sample = [layout.file(r.randrange(n)) for _ in range(args.samples)]
    root = pond.root
    exists = {"tinylogsql": latencies_ms(root.exists, sample),
              "os": latencies_ms(lambda p: os.path.exists(folder / p), sample),
              "sqlite": latencies_ms(tree.exists, sample)}
    get = {"tinylogsql": latencies_ms(root.get, sample),
           "os": latencies_ms(lambda p: os.lstat(folder / p), sample),
           "sqlite": latencies_ms(tree.get, sample)}
    for name, data, targets in (("exists", exists, (0.5, 2.0)), ("get", get, (0.5, 2.0))):
        p50 = {k: percentile(v, 50) for k, v in data.items()}
        p99 = {k: percentile(v, 99) for k, v in data.items()}
        figures.append(Figure(f"{name} p50", p50.pop("tinylogsql"), "ms", label, p50, target=targets[0]))
        figures.append(Figure(f"{name} p99", p99.pop("tinylogsql"), "ms", label, p99, target=targets[1]))
    chain = [CHAIN] * max(50, args.samples // 10)
    resolve = {"tinylogsql": latencies_ms(root.get, chain),
               "os": latencies_ms(lambda p: os.lstat(folder / p), chain),
               "sqlite": latencies_ms(tree.get, chain)}
    p50 = {k: percentile(v, 50) for k, v in resolve.items()}
    figures.append(Figure("resolve 5-component path p50", p50.pop("tinylogsql"), "ms", label, p50, target=2.0,
                          note=f"get('{CHAIN}'); p99 {percentile(resolve['tinylogsql'], 99):.2f} ms"))
    wide = root.open_dir_path("wide")
    runs = [None] * 20
    listing = {"tinylogsql": latencies_ms(lambda _: list(wide.entries()), runs, warmup=2),
               "os": latencies_ms(lambda _: sorted((e.name, e.is_dir()) for e in os.scandir(folder / "wide")),
                                  runs, warmup=2),
               "sqlite": latencies_ms(lambda _: tree.listdir("wide"), runs, warmup=2)}
    p50 = {k: percentile(v, 50) for k, v in listing.items()}
    figures.append(Figure(f"list {human_size(layout.wide)}-entry dir p50", p50.pop("tinylogsql"), "ms", label, p50,
                          target=5.0, note="list(d.entries()) vs sorted os.scandir vs SELECT ... ORDER BY name"))
    plot["exists_p50"][n] = {k: percentile(v, 50) for k, v in exists.items()}
    plot["exists_p99"][n] = {k: percentile(v, 99) for k, v in exists.items()}

    # -- history over the whole log ----------------------------------------------------------------
    prefix = "d0007" if layout.dirs > 7 else "d0000"
    query = f"SELECT version, ts, op, path, size FROM history WHERE path LIKE '/{prefix}/%'"
    rows = len(pond.sql(query).fetchall())
    hist = [(now(), pond.sql(query).fetchall(), now()) for _ in range(2)]
    hist_ms = min((b - a) * 1000 for a, _, b in hist)
    git_hist = None
    if use_git:
        git_args = ["log", "--format=%H%x09%at%x09%an%x09%s", "--name-status", "--", f"{prefix}/"]
        git_hist = min(latencies_ms(lambda _: git(tmp / "git", *git_args), [None, None], warmup=0))
    log_rows = pond.sql("SELECT count(*) FROM oplog").fetchall()[0][0]
    figures.append(Figure("history by path prefix", hist_ms, "ms", label, {"git": git_hist}, target=1000.0,
                          note=f"{rows:,} rows of {log_rows:,} ops; git log --name-status -- {prefix}/"))

    # -- a commit by another process ---------------------------------------------------------------
    catch_up, poll = measure_visibility(foreign_writer, str(pond_path), root.exists, args.rounds, "foreign")
    os_catch, _ = measure_visibility(os_foreign_writer, str(folder), lambda p: os.path.exists(folder / p),
                                     max(2, args.rounds // 2), "foreign")
    sq_catch, _ = measure_visibility(sqlite_foreign_writer, str(tmp / "tree.sqlite"), tree.exists,
                                     max(2, args.rounds // 2), "foreign")
    figures.append(Figure("foreign commit visible (catch-up) p50", statistics.median(catch_up), "ms", label,
                          {"os": statistics.median(os_catch), "sqlite": statistics.median(sq_catch)}, target=5.0,
                          note=f"first exists() after the writer's commit returned; max {max(catch_up):.1f} ms; "
                               f"polling reader: median {statistics.median(poll) if poll else float('nan'):.1f} ms "
                               "from the writer's return"))

    # -- single-op commits and one batched transaction -------------------------------------------
    root.create_dir_path("burst")
    (folder / "burst").mkdir()
    pond_rate = per_second(lambda i: root.create_file_path(f"burst/s{i:05d}", CONTENT), args.burst)
    os_rate = per_second(lambda i: (folder / "burst" / f"s{i:05d}").write_bytes(CONTENT), args.burst)
    tree.create("burst", None, kind="dir")
    start = now()
    for i in range(args.burst):
        tree.create(f"burst/s{i:05d}", CONTENT)
    sqlite_rate = args.burst / (now() - start)
    figures.append(Figure("single-op commits/s", pond_rate, "commits/s", label,
                          {"os": os_rate, "sqlite": sqlite_rate, "git": git_rate}, target=80.0,
                          higher_is_better=True,
                          note=f"{args.burst} commits on this pond; git: add+commit per op in a small repo"))
    plot["commit_rate"][n] = {"tinylogsql": pond_rate, "os": os_rate, "sqlite": sqlite_rate, "git": git_rate}

    b = args.batched_ops
    root.create_dir_path("batch")
    start = now()
    with pond.transaction(message="batched"):
        target_dir = root.open_dir_path("batch")
        for i in range(b):
            target_dir.create_file_path(f"b{i:06d}", CONTENT)
    pond_rate = b / (now() - start)
    (folder / "batch").mkdir()
    start = now()
    for i in range(b):
        (folder / "batch" / f"b{i:06d}").write_bytes(CONTENT)
    os_rate = b / (now() - start)
    start = now()
    tree.bulk([("batch", "dir", None)] + [(f"batch/b{i:06d}", "file", CONTENT) for i in range(b)])
    sqlite_rate = (b + 1) / (now() - start)
    git_batch = None
    if use_git:
        start = now()
        fi = FastImport(tmp / "git", parent=shas[-1])  # continue the history
        for i in range(b):
            fi.modify(f"batch/b{i:06d}", CONTENT)
        fi.commit("batched")
        fi.close()
        git_batch = b / (now() - start)
    figures.append(Figure("batched ops/s (one transaction)", pond_rate, "ops/s", label,
                          {"os": os_rate, "sqlite": sqlite_rate, "git": git_batch}, target=100_000.0,
                          higher_is_better=True, note=f"{b:,} creates in one transaction; git via fast-import"))
    plot["batched_rate"][n] = {"tinylogsql": pond_rate, "os": os_rate, "sqlite": sqlite_rate, "git": git_batch}

    # -- cold open + first lookup, resident memory (fresh interpreters) ---------------------------
    probe = layout.file(n // 2)
    cold = run_python(COLD_POND, str(pond_path), probe)
    cold_sq = run_python(COLD_SQLITE, str(tmp / "tree.sqlite"), probe, str(Path(__file__).resolve().parent))
    figures.append(Figure("cold Pond.open + first lookup", cold["open_s"] + cold["lookup_s"], "s", label,
                          {"sqlite": cold_sq["open_s"] + cold_sq["lookup_s"]}, target=1.5,
                          note=f"fresh interpreter, import excluded ({cold['import_s']:.2f} s); "
                               f"open {cold['open_s']:.2f} s + lookup {cold['lookup_s'] * 1000:.1f} ms"))
    figures.append(Figure("resident memory (RSS) after open", cold["rss_mb"], "MB", label,
                          {"sqlite": cold_sq["rss_mb"]}, target=1024.0,
                          note=f"peak {cold['peak_mb']:.0f} MB; this benchmark process: {rss_mb():.0f} MB"))

    # -- maintenance, then time travel ------------------------------------------------------------
    maintain = getattr(pond, "maintain", None)
    if maintain is None:
        print("   Pond.maintain() does not exist yet: time travel measured without maintenance", flush=True)
        maint_note = "Pond.maintain() not available"
    else:
        start = now()
        report = maintain()
        maint_s = now() - start
        maint_note = f"after maintain() ({maint_s:.1f} s: {report})"
        print(f"   maintain() took {maint_s:.1f} s: {report}", flush=True)
        figures.append(Figure("maintain()", maint_s, "s", label, note="compact + checkpoint + vacuum"))
    old = versions[: min(5, len(versions))]
    open_ms, get_ms, git_ms = [], [], []
    probe_old = "wide/w00000"  # in the first build commit at every size
    for i, v in enumerate(old):
        start = now()
        snap = pond.at(v)
        mid = now()
        found = snap.root.get(probe_old)
        end = now()
        assert found is not None, (v, probe_old)
        open_ms.append((mid - start) * 1000)
        get_ms.append((end - start) * 1000)
        if use_git:
            start = now()
            git(tmp / "git", "cat-file", "-p", f"{shas[i]}:{probe_old}")
            git_ms.append((now() - start) * 1000)
    git_tt = statistics.median(git_ms) if git_ms else None
    figures.append(Figure("open old version (pond.at) p50", statistics.median(open_ms), "ms", label,
                          {"git": git_tt}, target=5.0, note=f"{len(old)} versions; {maint_note}"))
    figures.append(Figure("open old version + first get p50", statistics.median(get_ms), "ms", label,
                          {"git": git_tt}, target=5.0,
                          note=f"pond.at(v).root.get('{probe_old}'); git: cat-file -p <commit>:<path>"))
    if not args.quick:
        cold2 = run_python(COLD_POND, str(pond_path), probe)
        figures.append(Figure("cold open + first lookup after maintain", cold2["open_s"] + cold2["lookup_s"], "s",
                              label, {"sqlite": cold_sq["open_s"] + cold_sq["lookup_s"]}, target=1.5,
                              note=f"RSS {cold2['rss_mb']:.0f} MB"))
    pond.close()
    tree.close()
    return figures


def sustained(args: argparse.Namespace, tmp: Path, git_rate: float | None) -> tuple[list[Figure], list[float]]:
    """Single-op commits on one fresh pond, rate per window: does it collapse as the log grows?"""
    print(f"\n-- sustained single-op commits: {args.commits:,} commits, window {args.window:,};"
          f" load {load_average()}", flush=True)
    pond_path = tmp / "sustain"
    rates: list[float] = []
    done = 0
    with Pond.create(pond_path, author="bench") as pond:
        root = pond.root
        root.create_dir_path("s")
        started = now()
        while done < args.commits:
            start = now()
            for i in range(done, min(args.commits, done + args.window)):
                root.create_file_path(f"s/f{i:06d}", CONTENT)
            rates.append((min(args.commits, done + args.window) - done) / (now() - start))
            done = min(args.commits, done + args.window)
            print(f"   {done:,} commits: {rates[-1]:.1f} commits/s", flush=True)
            if now() - started > args.sustain_cap and done < args.commits:
                print(f"   stopped after {args.sustain_cap:.0f} s (--sustain-cap)", flush=True)
                break
        total = done / (now() - started)
    cold = run_python(COLD_POND, str(pond_path), "s/f000000")
    tree = SqliteTree(tmp / "sustain.sqlite")
    tree.create("s", None, kind="dir")
    count = min(done, 2000)
    start = now()
    for i in range(count):
        tree.create(f"s/f{i:06d}", CONTENT)
    sqlite_rate = count / (now() - start)
    tree.close()
    (tmp / "sustain-os").mkdir()
    start = now()
    for i in range(done):
        (tmp / "sustain-os" / f"f{i:06d}").write_bytes(CONTENT)
    os_rate = done / (now() - start)
    label = human_size(done)
    base = {"os": os_rate, "sqlite": sqlite_rate, "git": git_rate}
    note = f"per {args.window:,}-commit window: " + ", ".join(f"{r:.0f}" for r in rates)
    figures = [
        Figure("sustained single-op commits/s (all)", total, "commits/s", label, base, target=80.0,
               higher_is_better=True, note=note),
        Figure("sustained: slowest window", min(rates), "commits/s", label, base, target=80.0,
               higher_is_better=True),
        Figure("sustained: last / first window", rates[-1] / rates[0], "ratio", label, higher_is_better=True,
               note="1.0 = no slowdown as the log grows"),
        Figure("cold open + first lookup after sustained run", cold["open_s"] + cold["lookup_s"], "s", label,
               target=1.5, note=f"{done:,} single-op commits, no maintain(); RSS {cold['rss_mb']:.0f} MB"),
    ]
    return figures, rates


def plot_png(path: Path, plot: dict[str, Any], rates: list[float], window: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    sizes = sorted(plot["exists_p50"])
    ax = axes[0]
    for who, style in (("tinylogsql", "o-"), ("sqlite", "s-"), ("os", "^-")):
        ax.plot(sizes, [plot["exists_p50"][s][who] for s in sizes], style, label=f"{who} p50")
    ax.plot(sizes, [plot["exists_p99"][s]["tinylogsql"] for s in sizes], "o--", label="tinylogsql p99")
    ax.axhline(0.5, color="grey", ls=":", label="target p50 0.5 ms")
    ax.set(xscale="log", yscale="log", xlabel="entries", ylabel="exists() latency (ms)", title="Lookup latency")
    ax.legend(fontsize=8)
    ax = axes[1]
    for who, style in (("tinylogsql", "o-"), ("sqlite", "s-"), ("git", "d-")):
        values = [plot["commit_rate"][s].get(who) for s in sizes]
        if all(v is not None for v in values):
            ax.plot(sizes, values, style, label=who)
    ax.axhline(80, color="grey", ls=":", label="target 80/s")
    ax.set(xscale="log", yscale="log", xlabel="entries", ylabel="single-op commits/s", title="Commit rate vs size")
    ax.legend(fontsize=8)
    ax = axes[2]
    ax.plot([(i + 1) * window for i in range(len(rates))], rates, "o-", label="tinylogsql")
    ax.axhline(80, color="grey", ls=":", label="target 80/s")
    ax.set(xlabel="commits so far", ylabel=f"commits/s (per {window} commits)", title="Sustained single-op commits",
           ylim=(0, max(rates + [80]) * 1.2))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = header("bench_scale: issue-6 targets vs os, SQLite and git")
    use_git = not args.no_git and git_version() is not None
    if not use_git:
        print("git baselines: skipped (git not installed or --no-git)")
    figures: list[Figure] = []
    plot: dict[str, Any] = {"exists_p50": {}, "exists_p99": {}, "commit_rate": {}, "batched_rate": {}}
    timings: dict[str, float] = {}
    started = now()
    with temp_dir("bench-scale-") as tmp:
        git_rate = git_single_commits(tmp / "git-single", args.git_commits) if use_git else None
        for n in [] if args.only_sustained else args.sizes:
            start = now()
            with temp_dir(f"bench-scale-{human_size(n)}-") as size_tmp:
                these = measure_size(args, n, size_tmp, git_rate, plot)
            figures += these
            print_table(these, BASELINES, title=f"Figures at {human_size(n)} entries")
            timings[human_size(n)] = now() - start
            print(f"   size {human_size(n)} took {timings[human_size(n)]:.0f} s", flush=True)
        start = now()
        more, rates = sustained(args, tmp, git_rate)
        figures += more
        timings["sustained"] = now() - start
    elapsed = now() - started
    print()
    text = print_table(figures, BASELINES, title="Figures (targets from issue 6 apply at 1M entries)")
    print(f"\nload average at end: {load_average()}")
    print("seconds per part: " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
    print(f"total time: {elapsed:.1f} s")
    if args.out is not None:
        write_json(args.out, "bench_scale.json", info, figures, seconds=elapsed, timings=timings,
                   plot=plot, sustained_rates=rates, table=text, args={k: str(v) for k, v in vars(args).items()})
        plot_png(args.out / "bench_scale.png", plot, rates, args.window)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
