"""Listing a 10k-entry directory as handles (issue 18), beside its baselines in the same process.

A pond holds ``--entries`` files (1M: folders of 1,000, one bulk load, then ``maintain`` so
the state is one mapped snapshot, as after a cold open) and a folder of ``--wide`` (10k)
files. Each trial times, in turn (alternating, so load hits all alike):

- ``entries``: ``list(d.entries())``: (name, handle) per entry, this code;
- ``per-entry``: the same listing with a handle built per entry in a Python loop over
  (name, kind, node_id) tuples, as ``entries`` did before (baseline);
- ``names``: ``list(d)``: names only, no handle (floor: what decoding the names costs);
- ``os.scandir``: ``list(os.scandir(...))`` of a local folder of as many files (baseline).

Median of ``--trials`` after warm-up, in ms. The collector runs as it would in a user's process.

    python benchmarks/bench_listing.py               # 1M entries + 10k-entry folder
    python benchmarks/bench_listing.py --quick       # CI: 20k entries
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Figure, header, human_size, load_average, now, print_table, temp_dir, write_json  # noqa: E402


def per_entry(directory: Any) -> list[Any]:
    """The listing as entries() built it before: a Python loop making a tuple and a handle per entry."""
    from tinylogsql.alloc import collector_paused
    from tinylogsql.nodes import HANDLES

    pond, handles = directory.pond, HANDLES
    with collector_paused():
        listed = pond._read(lambda view: view.child_kinds(directory.node_id))
        return [(name, handles[kind](pond, node_id)) for name, kind, node_id in list(listed)]


def build(path: str, entries: int, wide: int) -> None:
    from tinylogsql import Pond

    with Pond.create(path, author="bench") as pond:
        step = 200_000
        for start in range(0, entries, step):
            pond.root.create_files({f"d{i // 1000:05d}/f{i:07d}": b"x" * 100
                                    for i in range(start, min(entries, start + step))})
        pond.root.create_files({f"wide/w{i:05d}": b"z" for i in range(wide)})
        pond.maintain(retention_hours=0, unsafe=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000, help="files besides the wide folder")
    parser.add_argument("--wide", type=int, default=10_000, help="entries of the listed folder")
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="small sizes for CI")
    parser.add_argument("--out", type=Path, help="write bench_listing.json here")
    args = parser.parse_args(argv)
    if args.quick:
        args.entries, args.trials = 20_000, 10
    info = header("bench_listing: a 10k-entry directory as handles (issue 18)")
    started = now()
    with temp_dir("bench-listing-") as tmp:
        from tinylogsql import Pond

        path = str(tmp / "pond")
        print(f"-- building {args.entries:,} + {args.wide:,} entries; load {load_average()}", flush=True)
        build(path, args.entries, args.wide)
        local = tmp / "local"
        local.mkdir()
        for i in range(args.wide):
            (local / f"w{i:05d}").write_bytes(b"z")
        pond = Pond.open(path)
        wide = pond.root.open_dir_path("wide")
        runs: dict[str, Callable[[], Any]] = {
            "entries": lambda: list(wide.entries()),
            "per-entry": lambda: per_entry(wide),
            "names": lambda: list(wide),
            "os.scandir": lambda: list(os.scandir(local)),
        }
        assert [name for name, _ in runs["entries"]()] == [name for name, _ in runs["per-entry"]()]
        times: dict[str, list[float]] = {name: [] for name in runs}
        print(f"-- listing, {args.trials} trials; load {load_average()}", flush=True)
        for trial in range(args.trials + 3):
            for name, run in runs.items():
                start = time.perf_counter()
                result = run()
                elapsed = (time.perf_counter() - start) * 1000
                assert len(result) == args.wide
                del result
                if trial >= 3:
                    times[name].append(elapsed)
        pond.close()
    median = {name: statistics.median(values) for name, values in times.items()}
    label = human_size(args.entries)
    figures = [Figure(f"list a {human_size(args.wide)}-entry directory as handles", median["entries"], "ms", label,
                      {key: median[key] for key in ("per-entry", "names", "os.scandir")}, target=3.0,
                      note=f"median of {args.trials}; list(d.entries())")]
    elapsed = now() - started
    print()
    print_table(figures, ["per-entry", "names", "os.scandir"], title=f"Figures ({label}); ratio = entries / baseline")
    print(f"\nload average at end: {load_average()}\ntotal time: {elapsed:.1f} s")
    write_json(args.out, "bench_listing.json", info, figures, seconds=elapsed, times=times)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
