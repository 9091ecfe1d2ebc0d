"""bench_chunks (issue 17): chunked content against a plain folder and git, in the same run.

- stored bytes after 30 appends of ~1 KB to a 3.3 MB CSV, and after 30 edits in its middle,
  as a multiple of the final file: the pond (chunks + manifests + its Delta log) beside a git
  repository (a commit per version, loose objects, then after ``git gc``) and a plain folder
  (which keeps only the last version: 1x);
- 10 identical copies of one file: stored bytes as a multiple of one copy;
- stored bytes after mid-file edits of a 32 MB CSV (cut into the big chunks), beside the same
  written as a pipe (64 KiB chunks);
- ingest of a 64 MiB file (random bytes: no compression help) from disk through the pond, through
  ``ChunkStore.write_stream`` alone and as a pipe (64 KiB chunks), each beside ``cp`` (median of
  ``--trials``); ``--only throughput`` runs these (and the read) alone;
- streaming read of it through ``File.open()``, beside reading the plain file;
- ``maintain`` on a pond with many chunks (half of them unreferenced), beside listing them;
- on S3 (moto on 127.0.0.1): 64 MiB as 64 KiB objects vs packed into 4 MiB objects.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # the emulator helper shared with the tests
sys.path.insert(0, str(HERE.parent))

from _common import Figure, git, git_init, header, load_average, now, print_table, temp_dir, write_json  # noqa: E402

from tinylogsql import Pond, maintenance  # noqa: E402

MIB = 1 << 20


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv-mb", type=float, default=3.3, help="size of the growing CSV")
    parser.add_argument("--versions", type=int, default=30, help="appends / edits")
    parser.add_argument("--copy-mb", type=int, default=100, help="size of the file copied 10 times")
    parser.add_argument("--ingest-mb", type=int, default=64)
    parser.add_argument("--trials", type=int, default=6, help="ingest and read trials (the median is reported)")
    parser.add_argument("--big-csv-mb", type=float, default=32, help="size of the big CSV edited in its middle")
    parser.add_argument("--big-edits", type=int, default=30)
    parser.add_argument("--only", default="stored,throughput,maintain,s3",
                        help="comma-separated sections to run (e.g. --only throughput for the ingest figures alone)")
    parser.add_argument("--gc-chunks", type=int, default=100_000, help="chunks in the maintain figure")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for CI")
    parser.add_argument("--out", type=Path, help="write bench_chunks.json here")
    args = parser.parse_args(argv)
    if args.quick:
        args.csv_mb, args.versions, args.copy_mb, args.ingest_mb, args.gc_chunks = 0.5, 3, 2, 4, 200
        args.trials, args.big_csv_mb, args.big_edits = 2, 1, 2
    return args


def csv_rows(start: int, count: int) -> bytes:
    rng = random.Random(start)
    return b"".join(b"%d,sensor_%03d,%.5f,2026-01-%02dT%02d:%02d:%02d\n" % (
        i, i % 97, rng.random() * 100, 1 + i % 28, i % 24, i % 60, (i * 7) % 60) for i in range(start, start + count))


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def versions_figures(tmp: Path, args: argparse.Namespace, kind: str) -> Figure:
    """Write the CSV's versions to a pond and to git; stored bytes / final file size."""
    content = b"id,sensor,value,ts\n"
    while len(content) < args.csv_mb * 1e6:
        content += csv_rows(len(content), 2000)
    rng = random.Random(5)
    pond_path, repo = tmp / f"pond-{kind}", tmp / f"git-{kind}"
    git_init(repo)
    versions = [content]
    for step in range(args.versions):
        extra = csv_rows(10_000_000 + 20 * step, 20)  # ~1 KB
        if kind == "append":
            content += extra
        else:
            at = len(content) // 2 + rng.randrange(-len(content) // 10, len(content) // 10)
            at = content.index(b"\n", at) + 1
            content = content[:at] + extra + content[at:]
        versions.append(content)
    whole = sum(len(v) for v in versions)
    with Pond.create(pond_path) as pond:
        for version in versions:
            pond.root.write_file_path("data.csv", version)
    for version in versions:
        (repo / "data.csv").write_bytes(version)
        git(repo, "add", "data.csv")
        git(repo, "commit", "-q", "-m", "v")
    final = len(content)
    content_bytes = tree_bytes(pond_path / "chunks") + tree_bytes(pond_path / "manifests")
    loose = tree_bytes(repo / ".git" / "objects")
    git(repo, "gc", "-q")
    packed = tree_bytes(repo / ".git" / "objects")
    label = "30 appends of 1 KB" if kind == "append" else "30 mid-file edits of 1 KB"
    return Figure(f"stored bytes, {label} (pond: chunks+manifests)", content_bytes / final, "x final",
                  f"{final / 1e6:.1f} MB",
                  {"git loose": loose / final, "git gc": packed / final, "whole-file": whole / final,
                   "folder": 1.0}, target=1.2,
                  note=f"pond incl. its Delta log: {tree_bytes(pond_path) / final:.2f}x; whole-file = every version "
                       "stored whole (what the previous release did)")


def copies_figure(tmp: Path, args: argparse.Namespace) -> Figure:
    data_path = tmp / "copy.bin"
    with open(data_path, "wb") as out:
        for _ in range(args.copy_mb):
            out.write(os.urandom(MIB))
    size = data_path.stat().st_size
    pond_path, repo, folder = tmp / "pond-copies", tmp / "git-copies", tmp / "folder-copies"
    git_init(repo)
    folder.mkdir()
    with Pond.create(pond_path) as pond:
        for k in range(10):
            with open(data_path, "rb") as stream:
                pond.root.create_file_path(f"copy{k}.bin", stream)
    for k in range(10):
        subprocess.run(["cp", str(data_path), str(folder / f"copy{k}.bin")], check=True)
        subprocess.run(["cp", str(data_path), str(repo / f"copy{k}.bin")], check=True)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "copies")
    stored = tree_bytes(pond_path / "chunks") + tree_bytes(pond_path / "manifests")
    for k in range(10):
        (repo / f"copy{k}.bin").unlink()
    return Figure("stored bytes, 10 identical copies", stored / size, "x one copy", f"{size // MIB} MiB",
                  {"git loose": tree_bytes(repo / ".git" / "objects") / size, "folder": tree_bytes(folder) / size},
                  target=1.05)


class Pipe:
    """A stream whose size is unknown before it is read (a pipe): cut into the small chunks."""

    def __init__(self, stream: io.BufferedIOBase) -> None:
        self.read, self.readinto = stream.read, stream.readinto


def ingest_and_read(tmp: Path, args: argparse.Namespace) -> list[Figure]:
    """Ingest a file of random bytes through the pond, through ChunkStore.write_stream alone and as
    a pipe (64 KiB chunks, as before the size tiers), then stream it back; each trial beside cp
    and a plain read of the same file. Medians of ``--trials``."""
    from tinylogsql.chunks import ChunkStore
    from tinylogsql.location import locate

    source = tmp / "ingest.bin"
    with open(source, "wb") as out:
        for _ in range(args.ingest_mb):
            out.write(os.urandom(MIB))
    size_mib = source.stat().st_size / MIB
    timings: dict[str, list[float]] = {key: [] for key in ("pond", "write_stream", "pipe", "cp", "read", "plain")}
    with Pond.create(tmp / "pond-warm") as pond:  # the SQL worker starts with the first pond: not in a trial
        pond.root.create_file_path("warm.bin", b"warm" * 30_000)
    time.sleep(1)

    def rate(key: str, start: float) -> None:
        timings[key].append(size_mib / (now() - start))

    for trial in range(args.trials):
        pond_path = tmp / f"pond-ingest{trial}"
        with Pond.create(pond_path) as pond:
            os.sync()
            start = now()
            with open(source, "rb") as stream:
                f = pond.root.create_file_path("big.bin", stream)
            rate("pond", start)
            os.sync()
            start = now()
            subprocess.run(["cp", str(source), str(tmp / "cp.bin")], check=True)
            rate("cp", start)
            start = now()
            with f.open() as stream:
                while stream.read(MIB):
                    pass
            rate("read", start)
            start = now()
            with open(tmp / "cp.bin", "rb") as stream:
                while stream.read(MIB):
                    pass
            rate("plain", start)
        for key in ("write_stream", "pipe"):
            folder = tmp / f"{key}{trial}"
            folder.mkdir()
            store = ChunkStore(locate(str(folder)))
            os.sync()
            start = now()
            with open(source, "rb") as stream:
                store.write_stream(stream if key == "write_stream" else Pipe(stream))
            rate(key, start)
            shutil.rmtree(folder)
        shutil.rmtree(pond_path)
        (tmp / "cp.bin").unlink()
    mid = {key: statistics.median(values) for key, values in timings.items()}
    size = f"{size_mib:.0f} MiB"
    trials = f"median of {args.trials}; random bytes, so zstd never pays and every chunk is new"
    return [Figure("ingest (chunk, hash, compress, store)", mid["pond"], "MiB/s", size, {"cp": mid["cp"]}, target=300,
                   higher_is_better=True, note=f"Pond create_file_path from an open file; {trials}"),
            Figure("ingest, ChunkStore.write_stream alone", mid["write_stream"], "MiB/s", size, {"cp": mid["cp"]},
                   higher_is_better=True, note="the same without the commit"),
            Figure("ingest as a pipe (size unknown: 64 KiB chunks)", mid["pipe"], "MiB/s", size, {"cp": mid["cp"]},
                   higher_is_better=True, note="write_stream alone; the chunking every write had before the tiers"),
            Figure("streaming read via File.open()", mid["read"], "MiB/s", size, {"plain file": mid["plain"]},
                   target=500, higher_is_better=True,
                   note=f"{trials.split(';')[0]}; checks every chunk's blake3 (read_file_path also the sha256)")]


def big_edits_figure(tmp: Path, args: argparse.Namespace) -> Figure:
    """Mid-file edits of a CSV big enough for the big chunks, beside the same written as a pipe
    (64 KiB chunks): what the bigger chunks cost in stored bytes."""
    content = b"id,sensor,value,ts\n"
    while len(content) < args.big_csv_mb * 1e6:
        content += csv_rows(len(content), 20_000)
    rng = random.Random(9)
    versions = [content]
    for step in range(args.big_edits):
        at = content.index(b"\n", len(content) // 2 + rng.randrange(-len(content) // 10, len(content) // 10)) + 1
        content = content[:at] + csv_rows(20_000_000 + 20 * step, 20) + content[at:]
        versions.append(content)
    stored = {}
    for label in ("tiered", "pipe"):
        pond_path = tmp / f"pond-big-{label}"
        with Pond.create(pond_path) as pond:
            for version in versions:
                pond.root.write_file_path("data.csv", version if label == "tiered" else Pipe(io.BytesIO(version)))
        stored[label] = tree_bytes(pond_path / "chunks") + tree_bytes(pond_path / "manifests")
        shutil.rmtree(pond_path)
    final = len(content)
    return Figure(f"stored bytes, {args.big_edits} mid-file edits of 1 KB, big file", stored["tiered"] / final,
                  "x final", f"{final / 1e6:.1f} MB",
                  {"64 KiB chunks": stored["pipe"] / final, "whole-file": sum(len(v) for v in versions) / final},
                  note="content of 16 MiB and more is cut into 256 KiB chunks; 64 KiB chunks = the same written "
                       "as a pipe")


def maintain_figure(tmp: Path, args: argparse.Namespace) -> list[Figure]:
    """A pond with ``gc_chunks`` chunks (small streamed files: one chunk each), half rolled back
    and so unreferenced; time maintain's dry run and real run against listing the chunks."""
    pond_path = tmp / "pond-gc"
    half = args.gc_chunks // 2
    with Pond.create(pond_path) as pond:
        for start in range(0, half, 1000):
            with pond.transaction():
                for i in range(start, min(start + 1000, half)):
                    pond.root.create_file_path(f"k{i}", io.BytesIO(b"kept %d " % i * 40))
            try:
                with pond.transaction():
                    for i in range(start, min(start + 1000, half)):
                        pond.root.create_file_path(f"s{i}", io.BytesIO(b"stray %d " % i * 40))
                    raise KeyError
            except KeyError:
                pass
        chunks = len(os.listdir(pond_path / "chunks"))
        old = time.time() - 7200
        for name in os.listdir(pond_path / "chunks"):
            os.utime(pond_path / "chunks" / name, (old, old))
        for name in os.listdir(pond_path / "manifests"):
            os.utime(pond_path / "manifests" / name, (old, old))
        start = now()
        listed = sum(1 for _ in os.scandir(pond_path / "chunks")) + sum(1 for _ in os.scandir(pond_path / "manifests"))
        listing = now() - start
        start = now()
        dry = pond.maintain(retention_hours=1, dry_run=True)
        dry_s = now() - start
    copy = tmp / "pond-gc-serial"  # the same pond (mtimes kept), maintained one delete at a time, as before
    shutil.copytree(pond_path, copy)
    timings = {}
    for label, path, threads in (("serial", copy, 1), ("threads", pond_path, maintenance.DELETE_THREADS)):
        saved, maintenance.DELETE_THREADS = maintenance.DELETE_THREADS, threads
        try:
            with Pond.open(path) as pond:
                start = now()
                done = pond.maintain(retention_hours=1)
                timings[label] = now() - start
        finally:
            maintenance.DELETE_THREADS = saved
        assert len(done.chunks_dropped) == half
    assert listed and len(dry.chunks_dropped) == half
    size = f"{chunks} chunks, {len(done.chunks_dropped)} dropped"
    return [Figure("maintain dry run", dry_s, "s", size, {"listing": listing}),
            Figure("maintain", timings["threads"], "s", size,
                   {"listing": listing, "one delete at a time": timings["serial"]},
                   note=f"freed {done.bytes_freed / 1e6:.1f} MB; includes compaction, checkpoint and vacuum")]


def packing_figure(args: argparse.Namespace) -> Figure | None:
    """Upload (and download) the same bytes as 64 KiB objects and as 4 MiB packs, on moto."""
    try:
        from s3_helpers import S3Emulator
    except ImportError:
        return None
    emulator = S3Emulator()
    try:
        os.environ.update(emulator.options)
        from tinylogsql.location import locate

        location = locate(emulator.new_uri())
        data = os.urandom(args.ingest_mb * MIB)
        timings = {}
        for label, piece in (("64 KiB objects", 64 << 10), ("4 MiB packs", 4 * MIB)):
            start = now()
            for k in range(0, len(data), piece):
                location.write_atomic(location.path(label.replace(" ", "-"), f"{k:012d}"), data[k: k + piece])
            timings[label] = now() - start
        size = f"{args.ingest_mb} MiB"
        return Figure("S3 upload as 64 KiB objects", timings["64 KiB objects"], "s", size,
                      {"4 MiB packs": timings["4 MiB packs"]},
                      note="moto on 127.0.0.1, one thread: per-request cost only, no real network latency")
    finally:
        emulator.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = header("bench_chunks: chunked content vs a plain folder and git")
    started = now()
    only = set(args.only.split(","))
    stored: list[Figure] = []
    throughput: list[Figure] = []
    maintenance_figures: list[Figure] = []
    with temp_dir("bench-chunks-") as tmp:
        if "stored" in only:
            stored += [versions_figures(tmp, args, "append"), versions_figures(tmp, args, "edit"),
                       copies_figure(tmp, args), big_edits_figure(tmp, args)]
        if "throughput" in only:
            throughput += ingest_and_read(tmp, args)
        if "maintain" in only:
            maintenance_figures += maintain_figure(tmp, args)
    packing = packing_figure(args) if "s3" in only else None
    if packing:
        maintenance_figures.append(packing)
    elapsed = now() - started
    for figures, columns, title in ((stored, ["git loose", "git gc", "whole-file", "64 KiB chunks", "folder"],
                                     "Stored bytes"),
                                    (throughput, ["cp", "plain file"], "Throughput"),
                                    (maintenance_figures, ["listing", "4 MiB packs"], "Maintenance, packing")):
        if figures:
            print()
            print_table(figures, columns, title=title)
    print(f"\nload average at end: {load_average()}")
    print(f"total time: {elapsed:.1f} s")
    write_json(args.out, "bench_chunks.json", info, stored + throughput + maintenance_figures, seconds=elapsed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
