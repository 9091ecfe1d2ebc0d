"""The state at scale (issue 18): commit stalls during a big build, opening after it, memory, listing.

Two variants run in the same invocation, each in a fresh interpreter (so memory figures are
their own), on the same disk:

- ``lsm``: this code: changes go to a layer merged into a new sorted base on a background
  thread once the state is big (tinylogsql/segments.py);
- ``baseline``: the same code with ``segments.BACKGROUND_ROWS`` set beyond reach, so the
  committing thread folds the layer into the base itself, one sort of the whole state, as the
  state cache did before issue 18 (and a committer's persist waits for it).

Each builds N entries (``--entries``, 1M) in ``--batch``-op transactions (files of 100 B in
directories of 1,000), and after every transaction times ``--singles`` single-op commits.
Figures: p99.9, max, p99 and p50 single-op commit latency during the build, the slowest batch commit,
cold open + first lookup right after the build (no maintain) and after ``maintain``, RSS and
peak RSS of those opens, and listing a 10k-entry directory as handles.

    python benchmarks/bench_state.py                  # 1M entries
    python benchmarks/bench_state.py --quick          # CI: 20k entries
    TINYLOGSQL_NIGHTLY=1 python benchmarks/bench_state.py   # also a 10M-entry point (lsm only):
                                                            # lookup p50, open, memory per entry vs 1M
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Figure, header, human_size, load_average, now, print_table, run_python, temp_dir, write_json  # noqa: E402

BUILD = r"""
import json, statistics, sys, time
from tinylogsql import Pond
import tinylogsql.segments as segments
path, entries, batch, singles, variant = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
if variant == "baseline":
    segments.BACKGROUND_ROWS = 1 << 62  # every merge in the committing thread: one sort of the whole state
per_dir = 1000
wide = min(10_000, entries)
single_ms, batch_ms = [], []
t0 = time.perf_counter()
with Pond.create(path, author="bench") as pond:
    root = pond.root
    root.create_dir_path("single")
    made = 0
    while made < entries:
        start = time.perf_counter()
        with pond.transaction(message=f"build {made}"):
            count = min(batch, entries - made)
            for i in range(made, made + count):
                if i % per_dir == 0:
                    d = root.create_dir_path(f"d{i // per_dir:05d}")
                d.create_file_path(f"f{i:07d}", b"x" * 100)
        batch_ms.append((time.perf_counter() - start) * 1000)
        made += count
        for j in range(singles):
            start = time.perf_counter()
            root.create_file_path(f"single/s{made}-{j}", b"y")
            single_ms.append((time.perf_counter() - start) * 1000)
    build_s = time.perf_counter() - t0
    big = root.create_dir_path("wide")
    with pond.transaction():
        for i in range(wide):
            big.create_file_path(f"w{i:05d}", b"z")
    pond._engine.state.rebase()
    import tinylogsql.maintenance as maintenance
    segments._merger.submit(lambda: None).result()  # let background persists and compactions finish first
    maintenance._compactor.submit(lambda: None).result()
    listing = []
    for _ in range(12):
        start = time.perf_counter()
        handles = list(big.entries())
        listing.append((time.perf_counter() - start) * 1000)
    assert len(handles) == wide
print(json.dumps({"single_ms": single_ms, "batch_ms": batch_ms, "build_s": build_s,
                  "list_ms": statistics.median(listing[2:])}))
"""

MAINTAIN = r"""
import sys
from tinylogsql import Pond
with Pond.open(sys.argv[1]) as pond:
    pond.maintain(retention_hours=0, unsafe=True)
print("{}")
"""

COLD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from tinylogsql import Pond
import psutil
t1 = time.perf_counter()
pond = Pond.open(sys.argv[1])
t2 = time.perf_counter()
found = pond.root.exists(sys.argv[2])
t3 = time.perf_counter()
import random, statistics
r, n, lat = random.Random(42), int(sys.argv[3]), []
for _ in range(2000):
    i = r.randrange(n)
    start = time.perf_counter()
    pond.root.exists(f"d{i // 1000:05d}/f{i:07d}")
    lat.append((time.perf_counter() - start) * 1000)
status = {key: int(value.split()[0]) / 1024 for key, value in
          (line.split(":", 1) for line in open("/proc/self/status") if line.startswith(("RssAnon", "RssFile")))}
print(json.dumps({"open_s": t2 - t1, "lookup_s": t3 - t2, "found": found, "lookup_p50_ms": statistics.median(lat),
                  "rss_mb": psutil.Process().memory_info().rss / 2**20,
                  "anon_mb": status["RssAnon"], "file_mb": status["RssFile"],
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000, help="files in the build")
    parser.add_argument("--batch", type=int, default=50_000, help="ops per build transaction")
    parser.add_argument("--singles", type=int, default=50, help="single-op commits timed after each transaction")
    parser.add_argument("--variants", default="lsm,baseline", help="which variants to run")
    parser.add_argument("--quick", action="store_true", help="small sizes for CI")
    parser.add_argument("--out", type=Path, help="write bench_state.json here")
    args = parser.parse_args(argv)
    if args.quick:
        args.entries, args.batch, args.singles = 20_000, 5_000, 5
    return args


def run_variant(variant: str, folder: Path, args: argparse.Namespace) -> dict[str, float]:
    path = str(folder / variant)
    print(f"-- {variant}: building {args.entries:,} entries; load {load_average()}", flush=True)
    built = run_python(BUILD, path, str(args.entries), str(args.batch), str(args.singles), variant)
    probe = f"d{(args.entries - 1) // 1000:05d}/f{args.entries - 1:07d}"
    cold = run_python(COLD, path, probe, str(args.entries))
    run_python(MAINTAIN, path)
    after = run_python(COLD, path, probe, str(args.entries))
    assert cold["found"] and after["found"]
    singles = built["single_ms"]
    return {
        "p999_ms": quantile(singles, 0.999), "max_ms": max(singles), "p50_ms": quantile(singles, 0.5),
        "p99_ms": quantile(singles, 0.99),
        "batch_max_ms": max(built["batch_ms"]), "build_s": built["build_s"], "list_ms": built["list_ms"],
        "open_s": cold["open_s"] + cold["lookup_s"], "rss_mb": cold["rss_mb"], "peak_mb": cold["peak_mb"],
        "open_maintained_s": after["open_s"] + after["lookup_s"], "rss_maintained_mb": after["rss_mb"],
        "anon_maintained_mb": after["anon_mb"], "file_maintained_mb": after["file_mb"],
        "peak_maintained_mb": after["peak_mb"], "samples": len(singles), "lookup_p50_ms": after["lookup_p50_ms"],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = header("bench_state: commit stalls, opening, memory and listing at scale (issue 18)")
    started = now()
    results: dict[str, dict[str, float]] = {}
    with temp_dir("bench-state-") as tmp:
        for variant in args.variants.split(","):
            results[variant] = run_variant(variant, tmp, args)
        if os.environ.get("TINYLOGSQL_NIGHTLY") == "1" and not args.quick:
            big = argparse.Namespace(**{**vars(args), "entries": 10 * args.entries, "singles": 1})
            (tmp / "ten").mkdir()
            results["lsm_10x"] = run_variant("lsm", tmp / "ten", big)
    label = human_size(args.entries)
    lsm, base = results.get("lsm"), results.get("baseline", {})
    figures = []
    if lsm is not None:
        rows = [
            ("single-op commit p99.9 during the build", "p999_ms", "ms", 100.0, f"{lsm['samples']:.0f} commits"),
            ("single-op commit max during the build", "max_ms", "ms", None, ""),
            ("single-op commit p99 during the build", "p99_ms", "ms", None, ""),
            ("single-op commit p50 during the build", "p50_ms", "ms", None, ""),
            ("slowest build transaction", "batch_max_ms", "ms", None, f"{args.batch:,} ops each"),
            ("cold open + first lookup after the build, no maintain", "open_s", "s", 0.5, ""),
            ("cold open + first lookup after maintain", "open_maintained_s", "s", 0.5, ""),
            ("RSS after open (after maintain)", "rss_maintained_mb", "MB", 400.0,
             f"anonymous {lsm['anon_maintained_mb']:.0f} MB + file-backed {lsm['file_maintained_mb']:.0f} MB"),
            ("anonymous RSS after open (after maintain)", "anon_maintained_mb", "MB", None,
             "file-backed: libraries and the mapped snapshot's touched pages"),
            ("peak RSS while opening, no maintain", "peak_mb", "MB", None, f"RSS {lsm['rss_mb']:.0f} MB"),
            ("list a 10k-entry directory as handles", "list_ms", "ms", 3.0, "list(d.entries())"),
            ("exists p50 (after maintain)", "lookup_p50_ms", "ms", None, "2,000 random files"),
        ]
        for name, key, unit, target, note in rows:
            baselines = {"baseline": base[key]} if key in base else {}
            figures.append(Figure(name, lsm[key], unit, label, baselines, target=target, note=note))
    ten = results.get("lsm_10x")
    if lsm is not None and ten is not None:  # nightly: 10x the entries, against this run's own point
        label10 = human_size(10 * args.entries)
        figures.append(Figure("exists p50 at 10x (after maintain)", ten["lookup_p50_ms"], "ms", label10,
                              {"baseline": lsm["lookup_p50_ms"]}, note="ratio vs 1x: goal <= 1.5"))
        figures.append(Figure("cold open + first lookup at 10x, no maintain", ten["open_s"], "s", label10,
                              {"baseline": lsm["open_s"]}))
        per_entry = ten["rss_maintained_mb"] * 2**20 / (10 * args.entries)
        figures.append(Figure("RSS per entry at 10x (after maintain)", per_entry, "B", label10,
                              {"baseline": lsm["rss_maintained_mb"] * 2**20 / args.entries},
                              note="goal: no worse than at 1x"))
    elapsed = now() - started
    print()
    print_table(figures, ["baseline"], title=f"Figures ({label}); ratio = lsm / baseline (same run)")
    print(json.dumps(results, indent=1))
    print(f"\nload average at end: {load_average()}\ntotal time: {elapsed:.1f} s")
    write_json(args.out, "bench_state.json", info, figures, seconds=elapsed, results=results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
