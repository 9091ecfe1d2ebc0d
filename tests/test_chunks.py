"""Chunked content (issue 17): content over the inline limit is split by FastCDC into chunks
stored once under their blake3 id, listed by a manifest named by the content's sha256.
Real ponds on disk and in moto's S3; what is stored is read back from storage directly."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import tarfile
import tracemalloc
from pathlib import Path

import pytest
from s3_helpers import list_dir

from tinylogsql import Pond
from tinylogsql.errors import CorruptPondError, PondError
from tinylogsql.location import locate

pytestmark = pytest.mark.backends("local", "s3")
LEGACY = Path(__file__).parent / "data" / "legacy_pond.tar.gz"
"""A pond written by the release before chunking (whole-file blobs), made with its own code."""


def csv_rows(start: int, count: int, seed: int = 7) -> bytes:
    rng = random.Random(seed + start)
    return b"".join(b"%d,sensor_%03d,%.5f,2026-01-%02dT%02d:%02d:%02d\n" % (
        i, i % 97, rng.random() * 100, 1 + i % 28, i % 24, i % 60, (i * 7) % 60) for i in range(start, start + count))


def stored_bytes(pond_path: str, folder: str) -> int:
    location = locate(pond_path)
    return sum(len(read_object(pond_path, f"{folder}/{name}")) for name in list_dir(pond_path, folder)) \
        if location.remote else sum(p.stat().st_size for p in (Path(pond_path) / folder).glob("*"))


def read_object(pond_path: str, relative: str) -> bytes:
    location = locate(pond_path)
    with location.fs.open_input_stream(location.path(relative)) as stream:
        return stream.read()


def write_object(pond_path: str, relative: str, data: bytes) -> None:
    location = locate(pond_path)
    with location.fs.open_output_stream(location.path(relative)) as stream:
        stream.write(data)


def manifest(pond_path: str, sha256: str) -> list[list]:
    return json.loads(read_object(pond_path, f"manifests/{sha256}"))["chunks"]


def test_appends_and_a_mid_file_edit_store_only_the_chunks_that_changed(pond, pond_path):
    content = b"id,sensor,value,ts\n" + csv_rows(0, 20_000)  # ~0.9 MB
    versions = [content]
    pond.root.write_file_path("log.csv", content)
    first = set(list_dir(pond_path, "chunks"))
    for step in range(5):  # appends of 20 rows (~1 KB)
        content += csv_rows(20_000 + 20 * step, 20)
        versions.append(content)
        pond.root.write_file_path("log.csv", content)
    after_appends = set(list_dir(pond_path, "chunks"))
    assert len(after_appends - first) <= 5 * 2  # each append: the tail chunk (rarely two)
    middle = len(content) // 2
    content = content[:middle] + b"999999,edited,0.0,2026-01-01T00:00:00\n" + content[middle:]
    versions.append(content)
    pond.root.write_file_path("log.csv", content)
    assert len(set(list_dir(pond_path, "chunks")) - after_appends) <= 3  # only the chunks around the edit
    assert stored_bytes(pond_path, "chunks") < 1.2 * len(content)  # compressed CSV chunks, all versions
    for index, expected in enumerate(versions):
        version = pond.version - len(versions) + 1 + index
        assert pond.at(version).root.read_file_path("log.csv") == expected


def test_identical_content_is_stored_once_at_any_size(pond, pond_path):
    data = os.urandom(1_500_000)
    for k in range(4):
        pond.root.write_file_path(f"copy{k}.bin", data if k % 2 else io.BytesIO(data))  # bytes and streams
    listed = manifest(pond_path, hashlib.sha256(data).hexdigest())
    assert list_dir(pond_path, "manifests") == [hashlib.sha256(data).hexdigest()]
    assert sorted(list_dir(pond_path, "chunks")) == sorted({chunk_id for chunk_id, _ in listed})
    assert sum(size for _, size in listed) == len(data) and len(listed) > 5
    assert stored_bytes(pond_path, "chunks") < 1.01 * len(data)
    assert all(pond.root.read_file_path(f"copy{k}.bin") == data for k in range(4))


class ReadOnly:
    """A stream of unknown size (a pipe, a socket): only ``read``."""

    def __init__(self, data: bytes) -> None:
        self._stream = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self._stream.read(n)


def test_big_content_is_cut_into_bigger_chunks_and_an_edit_adds_only_those_around_it(pond, pond_path, tmp_path):
    rng = random.Random(17)
    data = rng.randbytes(17 << 20)  # over 16 MiB, its size known before it is read
    on_disk = tmp_path / "big.bin"
    on_disk.write_bytes(data)
    pond.root.create_file_path("a.bin", data)
    with open(on_disk, "rb") as stream:
        pond.root.create_file_path("b.bin", stream)  # a local file: the same chunks
    pond.root.create_file_path("c.bin", io.BytesIO(data))
    listed = manifest(pond_path, hashlib.sha256(data).hexdigest())
    sizes = [size for _, size in listed]
    assert sum(sizes) == len(data) and max(sizes) > 256 << 10 and len(data) / len(sizes) > 200 << 10
    assert len(list_dir(pond_path, "chunks")) == len({chunk_id for chunk_id, _ in listed})  # stored once
    before = set(list_dir(pond_path, "chunks"))
    middle = len(data) // 2
    edited = data[:middle] + b"an edit in the middle" + data[middle:]
    pond.root.write_file_path("a.bin", edited)
    added = set(list_dir(pond_path, "chunks")) - before
    assert 1 <= len(added) <= 3  # only the chunks around the edit
    assert pond.root.read_file_path("a.bin") == edited and pond.root.read_file_path("b.bin") == data
    with pond.root.get("c.bin").open() as stream:
        stream.seek(middle - 10)
        assert stream.read(30) == data[middle - 10: middle + 20]
    other = rng.randbytes(17 << 20)
    f = pond.root.create_file_path("piped.bin", ReadOnly(other))  # size unknown: the small chunks
    assert max(size for _, size in manifest(pond_path, f.sha256)) <= 256 << 10
    assert pond.root.read_file_path("piped.bin") == other
    assert pond.check().ok


def test_open_streams_and_seeks_past_chunks_it_never_reads(pond, pond_path):
    data = os.urandom(1_200_000)
    f = pond.root.create_file_path("big.bin", data)
    listed = manifest(pond_path, f.sha256)
    starts = [sum(size for _, size in listed[:k]) for k in range(len(listed))]
    victim = len(listed) // 2
    locate(pond_path).fs.delete_file(locate(pond_path).path("chunks", listed[victim][0]))  # damage: one chunk gone
    tail_at = starts[victim + 1]
    with f.open() as stream:
        assert stream.read(1000) == data[:1000]
        stream.seek(tail_at)  # over the missing chunk: never read, so no error
        assert stream.read() == data[tail_at:]
        stream.seek(tail_at - 10)
        with pytest.raises(CorruptPondError):
            stream.read(20)
    with pytest.raises(CorruptPondError, match="missing"):
        pond.root.read_file_path("big.bin")
    report = pond.check()
    assert [problem.code for problem in report.problems] == ["chunk-missing"]
    assert isinstance(CorruptPondError("x"), PondError)


def test_damaged_chunk_or_forged_manifest_is_corruption_and_touches_nothing_outside(pond, pond_path, tmp_path):
    data = os.urandom(400_000)
    f = pond.root.create_file_path("big.bin", data)
    listed = manifest(pond_path, f.sha256)
    chunk = f"chunks/{listed[1][0]}"
    good = read_object(pond_path, chunk)
    write_object(pond_path, chunk, good[:1] + bytes([good[1] ^ 1]) + good[2:])  # one bit flipped
    with pytest.raises(CorruptPondError, match="damaged"):
        pond.root.read_file_path("big.bin")
    assert [problem.code for problem in pond.check().problems] == ["chunk-damaged"]
    write_object(pond_path, chunk, good)
    assert pond.root.read_file_path("big.bin") == data
    outside = tmp_path / "outside"
    outside.write_bytes(b"secret")
    oversized = 1 << 30  # a chunk no write makes (at most 1 MiB): never allocated for on a read
    for forged in ([["../../../../" + str(outside), 10]], [[listed[0][0].upper(), listed[0][1]]],
                   [[listed[0][0] + "0", listed[0][1]]], [[listed[0][0], oversized]]):
        body = json.loads(read_object(pond_path, f"manifests/{f.sha256}"))
        body["size"] = sum(size for _, size in forged)  # sizes add up: only the chunk entry is wrong
        write_object(pond_path, f"manifests/{f.sha256}", json.dumps({**body, "chunks": forged}).encode())
        with pytest.raises(CorruptPondError, match="manifest damaged"):
            pond.root.read_file_path("big.bin")
        assert [problem.code for problem in pond.check().problems] == ["manifest-damaged"]
    assert outside.read_bytes() == b"secret"


@pytest.mark.parametrize("source", ["pipe", "file"])
def test_streamed_write_never_holds_the_content_whole(tmp_path, source):
    """Local only: moto's S3 server runs in this process and would count what it stores. A pipe is
    cut into the small chunks, a 24 MiB file (its size known) into the big ones."""
    size = 24 << 20

    class Source:  # only read(): no buffer to hand over whole; block i is Random(i)'s MiB
        def __init__(self) -> None:
            self.pos = 0

        def read(self, n: int = -1) -> bytes:
            block, skip = divmod(self.pos, 1 << 20)
            n = min(size - self.pos if n < 0 else n, size - self.pos, (1 << 20) - skip)
            self.pos += n
            return random.Random(block).randbytes(1 << 20)[skip: skip + n]

    on_disk = tmp_path / "source.bin"
    if source == "file":
        with open(on_disk, "wb") as out:
            out.writelines(random.Random(block).randbytes(1 << 20) for block in range(size >> 20))
    pond = Pond.create(tmp_path / "pond")
    tracemalloc.start()
    try:
        if source == "file":
            with open(on_disk, "rb") as stream:
                f = pond.root.create_file_path("stream.bin", stream)
        else:
            f = pond.root.create_file_path("stream.bin", Source())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert f.size == size and peak < size // 3
    largest = max(size for _, size in manifest(str(tmp_path / "pond"), f.sha256))
    assert (largest > 256 << 10) == (source == "file")
    expected = Source()
    digest = hashlib.sha256()
    with f.open() as stream:
        while block := stream.read(1 << 20):
            assert block == expected.read(len(block))
            digest.update(block)
    assert digest.hexdigest() == f.sha256
    pond.close()


def test_a_chunk_that_cannot_be_written_is_a_clear_error_and_leaves_the_pond_as_it_was(tmp_path):
    """Local only: a file where the chunks folder belongs makes every chunk write fail."""
    path = tmp_path / "pond"
    data = os.urandom(300_000)
    with Pond.create(path) as pond:
        version = pond.version
        (path / "chunks").write_bytes(b"not a folder")
        with pytest.raises(OSError, match=r"cannot write .*chunks/[0-9a-f]{64}: Not a directory"):
            pond.root.create_file_path("big.bin", io.BytesIO(data))
        assert pond.version == version and not pond.root.exists("big.bin")
        assert [p.name for p in path.rglob(".tmp-*")] == []
        (path / "chunks").unlink()
        pond.root.create_file_path("big.bin", io.BytesIO(data))  # the folder is made on the first write
        assert pond.root.read_file_path("big.bin") == data and pond.check().ok


def test_check_reports_unreferenced_chunks_and_maintain_drops_them(pond, pond_path):
    kept, stray = os.urandom(300_000), os.urandom(300_000)
    pond.root.create_file_path("kept.bin", kept)
    with pytest.raises(ZeroDivisionError), pond.transaction():
        pond.root.create_file_path("stray.bin", stray)
        raise ZeroDivisionError
    stray_sha = hashlib.sha256(stray).hexdigest()
    stray_chunks = {f"chunks/{chunk_id}" for chunk_id, _ in manifest(pond_path, stray_sha)}
    report = pond.check()
    assert report.ok
    orphans = {(orphan.kind, orphan.path.rsplit("/", 2)[-2] + "/" + orphan.path.rsplit("/", 1)[-1])
               for orphan in report.orphans}
    assert orphans == {("manifest", f"manifests/{stray_sha}")} | {("chunk", path) for path in stray_chunks}
    dry = pond.maintain(retention_hours=0, unsafe=True, dry_run=True)
    assert set(dry.chunks_dropped) == stray_chunks and pond.check().orphans  # a dry run deletes nothing
    done = pond.maintain(retention_hours=0, unsafe=True)
    assert set(done.chunks_dropped) == stray_chunks and done.bytes_freed == dry.bytes_freed > 250_000
    assert pond.check().orphans == [] and pond.root.read_file_path("kept.bin") == kept


def test_a_pond_of_the_previous_release_opens_reads_and_takes_chunked_writes(tmp_path, backend, pond_path):
    with tarfile.open(LEGACY) as archive:
        archive.extractall(tmp_path / "legacy", filter="data")
    source = tmp_path / "legacy" / "pond"
    if backend == "s3":
        location = locate(pond_path)
        for path in source.rglob("*"):
            if path.is_file():
                write_object(pond_path, str(path.relative_to(source)), path.read_bytes())
                assert location.is_file(location.path(str(path.relative_to(source))))
    else:
        shutil.copytree(source, pond_path)
    text = b"".join(b"line %05d of the legacy pond, stored as one whole-file blob\n" % i for i in range(1200))
    with Pond.open(pond_path) as pond:
        assert pond.root.read_file_path("d/big.txt") == text + b"second version\n"
        assert pond.at(pond.version - 1).root.read_file_path("d/big.txt") == text
        with pond.root.get("d/big.txt").open() as stream:
            stream.seek(70_000)
            assert stream.read() == (text + b"second version\n")[70_000:]
        assert pond.root.read_file_path("small.txt") == b"inline content"
        pond.root.write_file_path("d/big.txt", text + b"third version, chunked\n")
        assert list_dir(pond_path, "manifests") and len(list_dir(pond_path, "blobs")) == 2
        report = pond.maintain(retention_hours=0, unsafe=True)
        assert report.blobs_dropped == [] and report.chunks_dropped == []  # every version is still referenced
        assert pond.at(pond.version - 2).root.read_file_path("d/big.txt") == text + b"second version\n"
        assert pond.root.read_file_path("d/big.txt") == text + b"third version, chunked\n"
        check = pond.check()
        assert check.ok and check.orphans == [] and check.blobs_checked == 2 and check.chunked_checked == 1
