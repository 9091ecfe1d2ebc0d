"""bench_watch: the change feed of issue 16, each figure beside a baseline measured in the same run.

Figures (targets from the issue):
  watch latency p50/p99, local        <= 50 ms p50   baseline: an os.stat loop (1 ms) on the next log entry
  watch latency p50/p99, S3 (moto)                   baseline: the raw single-op commit time on S3
  changes() since 0 at N ops                         baseline: the `history` view's same rows at N ops
  changes() of the last 10 commits                   baseline: one single-op commit
  writer commits/s beside a watcher                  baseline: the same writer alone (ratio)

Latency is from the commit landing to the watcher process holding the batch, on one machine's
clock: locally "landed" is the mtime of the commit's log entry (read by the watcher), on S3 the
moment the writer's commit call returned in its process (so S3 figures include no write time).

Usage: python benchmarks/bench_watch.py [--entries N] [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # the emulator helper shared with the tests

os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

from _common import Figure, header, human_size, median_ms, now, percentile, print_table, temp_dir, write_json  # noqa: E402

from tinylogsql import Pond  # noqa: E402

CONTENT = b"x" * 64
WATCHERS: tuple[tuple[str, float | None], ...] = (("notified watcher", None), ("watcher polling every 5 ms", 0.005))
"""The watchers beside which the writer's commit rate is measured (label, poll_interval)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000, help="ops in the pond for changes()")
    parser.add_argument("--commits", type=int, default=100, help="commits the writer makes per latency run")
    parser.add_argument("--s3-commits", type=int, default=30)
    parser.add_argument("--rate-commits", type=int, default=200, help="commits per writer-rate run")
    parser.add_argument("--s3-gap", type=float, default=0.3, help="seconds between the S3 writer's commits")
    parser.add_argument("--quick", action="store_true", help="small sizes (for tests)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.entries, args.commits, args.s3_commits, args.rate_commits, args.s3_gap = 2000, 6, 3, 10, 0.1
    return args


# -- processes (spawned) --------------------------------------------------------------------
def watcher(path: str, kind: str, count: int, ready: Any, seen: Any, poll: float | None) -> None:
    """Record (version, time.time(), when its log entry was written: mtime, locally) for the next
    ``count`` commits, by watch() or by a stat loop on the next log entry."""
    log = Path(path) / "log" / "_delta_log"

    def landed(version: int) -> float | None:
        try:
            return os.stat(log / f"{version:020d}.json").st_mtime_ns / 1e9
        except OSError:
            return None  # object storage: the writer's clock is the reference

    if kind == "stat":
        with Pond.open(path) as pond:
            version = pond._engine.version
        ready.set()
        got = 0
        while got < count:
            if (log / f"{version + 1:020d}.json").exists():
                version += 1
                seen.put((version, time.time(), landed(version)))
                got += 1
            else:
                time.sleep(0.001)
        return
    with Pond.open(path) as pond:
        feed = iter(pond.watch(timeout=120, poll_interval=poll))
        ready.set()
        for _, batch in zip(range(count), feed, strict=False):
            seen.put((batch.version, time.time(), landed(batch.version)))


def busy_watcher(path: str, poll: float | None, ready: Any, stop: Any) -> None:
    """A watcher that keeps up with every commit until told to stop (for the writer-rate figure)."""
    with Pond.open(path) as pond:
        ready.set()
        while not stop.is_set():
            for _ in pond.watch(timeout=0.2, poll_interval=poll):
                if stop.is_set():
                    break


def write(path: str, count: int, gap: float, done: Any, run: str) -> None:
    """``count`` single-op commits about ``gap`` s apart; (version, time.time()) after each returns."""
    r = random.Random(16)
    with Pond.open(path, author="writer") as pond:
        pond.root.exists("/")
        for i in range(count):
            time.sleep(gap * r.uniform(0.5, 1.5))
            pond.root.create_file_path(f"/lat-{run}-{i}", CONTENT)
            done.put((pond.last_committed_version, time.time()))


def rate(path: str, count: int, prefix: str) -> float:
    """Single-op commits per second of one writer process."""
    with Pond.open(path, author="writer") as pond:
        pond.root.exists("/")
        start = now()
        for i in range(count):
            pond.root.create_file_path(f"/{prefix}-{i}", CONTENT)
        return count / (now() - start)


# -- figures ------------------------------------------------------------------------------------
class Runner:
    """One manager (events, queues) and one worker process for the writers, kept for the whole run:
    each spawned process costs an interpreter start and a tinylogsql import."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.manager = ctx.Manager()
        self.pool = ctx.Pool(1)
        self.runs = 0

    def close(self) -> None:
        self.pool.close()
        self.pool.join()
        self.manager.shutdown()

    def latency(self, path: str, kind: str, count: int, gap: float, poll: float | None = None) -> list[float]:
        """Milliseconds from each commit landing (see the module docstring) to a watcher process holding it."""
        ready, seen, done = self.manager.Event(), self.manager.Queue(), self.manager.Queue()
        watch_proc = self.ctx.Process(target=watcher, args=(path, kind, count, ready, seen, poll))
        watch_proc.start()
        ready.wait(120)
        time.sleep(0.2)
        self.runs += 1
        self.pool.apply(write, (path, count, gap, done, f"{kind}{self.runs}"))
        watch_proc.join(600)
        returned = dict(done.get() for _ in range(done.qsize()))
        observed = [seen.get() for _ in range(seen.qsize())]
        return [(at - (written if written is not None else returned[v])) * 1000
                for v, at, written in observed if written is not None or v in returned]

    def writer_rates(self, path: str, count: int, watchers: tuple[tuple[str, float | None], ...]) -> dict[str, float]:
        """Commits/s of one writer alone (before and after, averaged) and beside each kind of watcher."""
        out: dict[str, Any] = {}
        self.pool.apply(rate, (path, max(10, count // 10), "warm"))
        alone = [self.pool.apply(rate, (path, count, "alone0"))]
        for label, poll in watchers:
            ready, stop = self.manager.Event(), self.manager.Event()
            proc = self.ctx.Process(target=busy_watcher, args=(path, poll, ready, stop))
            proc.start()
            ready.wait(120)
            out[label] = self.pool.apply(rate, (path, count, label.split()[0] + str(poll)))
            stop.set()
            proc.join(60)
        alone.append(self.pool.apply(rate, (path, count, "alone1")))
        out["alone"] = sum(alone) / len(alone)
        return out


def build(pond: Pond, entries: int) -> None:
    """``entries`` file creates in round(sqrt(N)) directories, transactions of 100k ops; then maintain."""
    dirs = max(1, round(math.sqrt(entries)))
    per_dir = math.ceil(entries / dirs)
    for first in range(0, entries, 100_000):
        with pond.transaction(message=f"build {first}"):
            folder = None
            for i in range(first, min(entries, first + 100_000)):
                if folder is None or i % per_dir == 0:
                    name = f"/d{i // per_dir:04d}"
                    exists = pond.root.exists(name)
                    folder = pond.root.open_dir_path(name) if exists else pond.root.create_dir_path(name)
                folder.create_file_path(f"f{i % per_dir:05d}", CONTENT)
    pond.maintain(retention_hours=0, unsafe=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = header("bench_watch: the change feed (issue 16)")
    ctx = multiprocessing.get_context("spawn")
    figures: list[Figure] = []
    with temp_dir("bench-watch-") as tmp:
        path = str(tmp / "pond")
        Pond.create(path, author="bench").close()

        from s3_helpers import S3Emulator

        emulator = S3Emulator()
        os.environ.update(emulator.options)  # before any process starts: they inherit the endpoint
        runner = Runner(ctx)
        stat = runner.latency(path, "stat", args.commits, 0.04)
        watched = runner.latency(path, "watch", args.commits, 0.04)
        base = {"os.stat loop p50": percentile(stat, 50), "os.stat loop p99": percentile(stat, 99)}
        figures.append(Figure("watch latency p50, local", percentile(watched, 50), "ms", f"{len(watched)} commits",
                              base, target=50, note="inotify via watchfiles (RustNotify), one stat per wake-up"))
        figures.append(Figure("watch latency p99, local", percentile(watched, 99), "ms", f"{len(watched)} commits",
                              base))
        if not args.quick:  # (--quick: fewer processes to start)
            polled = runner.latency(path, "watch", args.commits, 0.04, poll=0.02)
            figures.append(Figure("watch latency p50, local polling 20 ms", percentile(polled, 50), "ms",
                                  f"{len(polled)} commits", base, note="poll_interval=0.02"))

        watchers = WATCHERS[:1] if args.quick else WATCHERS
        rates = runner.writer_rates(path, args.rate_commits, watchers)
        for label, _ in watchers:
            figures.append(Figure(f"writer commits/s beside a {label}", rates[label], "commits/s",
                                  f"{args.rate_commits} commits", {"writer alone": rates["alone"]},
                                  higher_is_better=True))

        try:
            figures += s3_latency(runner, args, emulator)
        finally:
            runner.close()
            emulator.stop()

        size = human_size(args.entries)
        feed_path = str(tmp / "feed")
        with Pond.create(feed_path, author="bench") as pond:
            start = now()
            build(pond, args.entries)
            print(f"built {size} ops in {now() - start:.1f} s", flush=True)
        with Pond.open(feed_path) as pond:
            sql = ("SELECT version, seq, ts, op, kind, path, from_path, size, sha256, target, author, message, "
                   "node_id FROM history WHERE version > ? ORDER BY version, seq")
            cold_history = median_ms(lambda: pond._fixed_sql(sql, [0]), 1)[0]
            history_ms = median_ms(lambda: pond._fixed_sql(sql, [0]), 2)[1]
            count = len(list(pond.changes(0)))
            first, changes_ms = median_ms(lambda: list(pond.changes(0)), 2)
            figures.append(Figure(f"changes() since 0 ({count:,} ops)", changes_ms, "ms", size,
                                  {"history view": history_ms},
                                  note=f"median of 2; the history view's first (cold) run: {cold_history:.0f} ms"))
            head = pond._engine.version
            single = [median_ms(lambda i=i: pond.root.create_file_path(f"/tail-{i}", CONTENT), 1)[0]
                      for i in range(10)]
            tail = median_ms(lambda: list(pond.changes(head)), 5)[1]
            figures.append(Figure("changes() of the last 10 commits", tail, "ms", size,
                                  {"single-op commit": sorted(single)[5]}, note="median of 5"))
    print_table(figures, ["os.stat loop p50", "os.stat loop p99", "writer alone", "raw commit", "history view",
                          "single-op commit"], title="bench_watch")
    print(f"load average: {info['load_start']} at start")
    write_json(args.out, "bench_watch.json", info, figures)
    return 0


def s3_latency(runner: Runner, args: argparse.Namespace, emulator: Any) -> list[Figure]:
    uri = emulator.new_uri()
    with Pond.create(uri, author="bench") as pond:
        pond.root.create_file_path("/warm", CONTENT)
        commits = [median_ms(lambda i=i: pond.root.create_file_path(f"/c{i}", CONTENT), 1)[0] for i in range(5)]
    commit = sorted(commits)[2]
    default = runner.latency(uri, "watch", args.s3_commits, args.s3_gap)
    fast = [] if args.quick else runner.latency(uri, "watch", args.s3_commits, args.s3_gap, poll=0.1)
    base = {"raw commit": commit}
    return [
        Figure("watch latency p50, S3 (poll 1 s)", percentile(default, 50), "ms", f"{len(default)} commits", base),
        Figure("watch latency p99, S3 (poll 1 s)", percentile(default, 99), "ms", f"{len(default)} commits", base),
    ] + ([] if args.quick else [
        Figure("watch latency p50, S3 (poll 0.1 s)", percentile(fast, 50), "ms", f"{len(fast)} commits", base),
        Figure("watch latency p99, S3 (poll 0.1 s)", percentile(fast, 99), "ms", f"{len(fast)} commits", base),
    ])


if __name__ == "__main__":
    sys.exit(main())
