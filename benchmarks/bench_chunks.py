"""bench_chunks (issue 17): chunked content against a plain folder and git, in the same run.

- stored bytes after 30 appends of ~1 KB to a 3.3 MB CSV, and after 30 edits in its middle,
  as a multiple of the final file: the pond (chunks + manifests + its Delta log) beside a git
  repository (a commit per version, loose objects, then after ``git gc``) and a plain folder
  (which keeps only the last version: 1x);
- 10 identical copies of one file: stored bytes as a multiple of one copy;
- ingest of a 64 MiB file (random bytes: no compression help) from disk, beside ``cp``;
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
    parser.add_argument("--gc-chunks", type=int, default=100_000, help="chunks in the maintain figure")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for CI")
    parser.add_argument("--out", type=Path, help="write bench_chunks.json here")
    args = parser.parse_args(argv)
    if args.quick:
        args.csv_mb, args.versions, args.copy_mb, args.ingest_mb, args.gc_chunks = 0.5, 3, 2, 4, 200
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


def ingest_and_read(tmp: Path, args: argparse.Namespace) -> list[Figure]:
    source = tmp / "ingest.bin"
    with open(source, "wb") as out:
        for _ in range(args.ingest_mb):
            out.write(os.urandom(MIB))
    size_mib = source.stat().st_size / MIB
    ours, cps, reads, plain_reads = [], [], [], []
    for trial in range(3):
        pond_path = tmp / f"pond-ingest{trial}"
        with Pond.create(pond_path) as pond:
            os.sync()
            start = now()
            with open(source, "rb") as stream:
                f = pond.root.create_file_path("big.bin", stream)
            ours.append(size_mib / (now() - start))
            start = now()
            subprocess.run(["cp", str(source), str(tmp / f"cp{trial}.bin")], check=True)
            cps.append(size_mib / (now() - start))
            start = now()
            with f.open() as stream:
                while stream.read(MIB):
                    pass
            reads.append(size_mib / (now() - start))
            start = now()
            with open(tmp / f"cp{trial}.bin", "rb") as stream:
                while stream.read(MIB):
                    pass
            plain_reads.append(size_mib / (now() - start))
    size = f"{size_mib:.0f} MiB"
    return [Figure("ingest (chunk, hash, compress, store)", max(ours), "MiB/s", size, {"cp": max(cps)}, target=300,
                   higher_is_better=True, note="best of 3; random bytes, so zstd never pays and every chunk is new"),
            Figure("streaming read via File.open()", max(reads), "MiB/s", size, {"plain file": max(plain_reads)},
                   target=500, higher_is_better=True,
                   note="best of 3; checks every chunk's blake3 (read_file_path also the sha256)")]


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
    figures: list[Figure] = []
    with temp_dir("bench-chunks-") as tmp:
        figures.append(versions_figures(tmp, args, "append"))
        figures.append(versions_figures(tmp, args, "edit"))
        figures.append(copies_figure(tmp, args))
        figures += ingest_and_read(tmp, args)
        figures += maintain_figure(tmp, args)
    packing = packing_figure(args)
    elapsed = now() - started
    print()
    print_table(figures[:3], ["git loose", "git gc", "whole-file", "folder"], title="Stored bytes")
    print()
    print_table(figures[3:5], ["cp", "plain file"], title="Throughput")
    print()
    print_table(figures[5:] + ([packing] if packing else []), ["listing", "4 MiB packs"], title="Maintenance, packing")
    print(f"\nload average at end: {load_average()}")
    print(f"total time: {elapsed:.1f} s")
    write_json(args.out, "bench_chunks.json", info, figures + ([packing] if packing else []), seconds=elapsed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
