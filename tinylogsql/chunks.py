"""Chunked content: large file content split by FastCDC into content-addressed chunks.

A file version over the inline limit is stored as ``manifests/<sha256 of the content>`` (its op
row's ``content_ref``): a small JSON object listing the chunks ``[[blake3 id, size], ...]`` in
order. Each chunk is stored once as ``chunks/<blake3 hex of its bytes>``: one header byte (0 raw,
1 zstd) and the bytes, compressed only when that saves at least an eighth. So identical content
is stored once at any size, and an edit adds only the chunks around it. Content of 16 MiB and more
is cut into bigger chunks (see BIG_CONTENT). No Delta schema change: ponds whose rows reference
whole-file ``blobs/<sha256>`` read as before.

Writes stream (chunks are hashed, compressed and stored by a few threads while the next ones are
cut); reads stream chunk by chunk, seek by offset, and verify every chunk's blake3; a whole read
(``read_file_path``) also verifies the content's sha256. Every id read from data is checked (exactly 64 hex digits)
before it names a path. A chunk reused by a new write gets a fresh age first (``os.utime`` locally,
a PUT on object storage, as blobs do) so garbage collection keeps it (see maintenance.collect).
"""

from __future__ import annotations

import bisect
import hashlib
import io
import itertools
import json
import os
import re
import stat
import time
import uuid
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import blake3
import pyarrow as pa
from pyfastcdc import FastCDC

from .errors import CorruptPondError
from .location import Location

CHUNK_DIR = "chunks"
MANIFEST_DIR = "manifests"
HEX64 = re.compile(r"[0-9a-f]{64}")
MANIFEST_REF = re.compile(r"manifests/[0-9a-f]{64}")
"""The content_ref of chunked content: ``manifests/<the row's sha256>``."""
AVG_CHUNK = 64 << 10
"""FastCDC's target (min 16 KiB, max 256 KiB). Measured: 16 KiB chunks dedup a growing CSV a
little better but a local write costs ~100 us per object, so 64 MiB would take ~4,000 files."""
MIN_CHUNK = AVG_CHUNK // 4
MAX_CHUNK = AVG_CHUNK * 4
BIG_CONTENT = 16 << 20
"""Content at least this large, when its size is known before it is read (bytes, a local file, a
BytesIO), is cut into chunks four times bigger (64 KiB-1 MiB, ~320 KiB on average). A local chunk
write costs a file creation (~0.1-0.2 ms here, mostly in the kernel), so 64 MiB in ~830 small
chunks stayed under 300 MiB/s; in ~210 big ones it takes a quarter of the files. An edit still
adds only the chunks around it: 30 mid-file edits of a 33 MB CSV stored 0.33x the final file
(0.30x with 64 KiB chunks); from 16 MiB up an average chunk is ~2% of the file or less, as a 64
KiB one is of the 3.3 MB CSV of the goals. Content of unknown size (a pipe) is cut as small
content. The tiers share no chunks: a file growing past 16 MiB is stored once more in big chunks,
then dedups again."""
BIG_AVG_CHUNK = AVG_CHUNK * 4
BIG_MAX_CHUNK = BIG_AVG_CHUNK * 4
"""The largest chunk a manifest may list (manifests written before the tiers list <= MAX_CHUNK)."""
RAW, ZSTD = 0, 1
"""The header byte of a stored chunk."""
WORKERS = 4
"""Threads hashing, compressing and storing chunks on object storage (and fetching them there)."""
LOCAL_WORKERS = 1
"""The same on a local disk: one thread storing while the caller cuts and hashes. Measured on 64 MiB
in 64 KiB chunks (bench_chunks' ingest, 8 trials each, 2 cores): 1 thread 322 MiB/s median, 2: 274,
4: 244 (the GIL, not the disk, is what more threads contend for)."""
IN_FLIGHT = 16
"""Chunks handed to the threads and not yet stored: bounds a write's memory (16 x 256 KiB); half
as many of the big chunks (8 x 1 MiB at most, ~2.5 MiB on average)."""
PREFETCH = 8
"""Chunks fetched ahead of a sequential read on object storage."""
SAMPLE = 4096
"""Bytes of a chunk compressed first to decide whether compressing it all can pay."""
_CODEC = pa.Codec("zstd", compression_level=1)
_RAW_HEADER, _ZSTD_HEADER = bytes([RAW]), bytes([ZSTD])
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_TMP_TOKEN = uuid.uuid4().hex[:12]
"""Temp names are ``.tmp-<token>-<pid>-<counter>``: unique without a random draw per chunk
(``O_EXCL`` makes a clash an error, never an overwrite)."""
_TMP_COUNTER = itertools.count()
_CDC = FastCDC(AVG_CHUNK, min_size=MIN_CHUNK, max_size=MAX_CHUNK)
_BIG_CDC = FastCDC(BIG_AVG_CHUNK, min_size=BIG_AVG_CHUNK // 4, max_size=BIG_MAX_CHUNK)


def is_manifest_ref(ref: object) -> bool:
    return isinstance(ref, str) and MANIFEST_REF.fullmatch(ref) is not None


def encode(data: bytes) -> bytes:
    """A chunk as stored: zstd if that saves an eighth, else raw (see ``_encoded``)."""
    header, body = _encoded(data)
    return header + body


def _encoded(data: bytes) -> tuple[bytes, bytes]:
    """(header byte, body) of a stored chunk: zstd if that saves an eighth, else raw. A 4 KiB
    sample is tried first, so incompressible chunks (media, Parquet, random) cost almost nothing
    extra. Kept apart so a local write hands both to one ``writev`` without joining them."""
    sample = data[len(data) // 2: len(data) // 2 + SAMPLE]
    if len(_CODEC.compress(sample, asbytes=True)) > len(sample) - len(sample) // 8:
        return _RAW_HEADER, data
    packed = _CODEC.compress(data, asbytes=True)
    if len(packed) <= len(data) - len(data) // 8:
        return _ZSTD_HEADER, packed
    return _RAW_HEADER, data


def _write_local(path: str, header: bytes, body: bytes) -> None:
    """Write a local object atomically: a temp file beside it (created exclusively, written by one
    ``writev``), then renamed over the name. Plain ``os`` calls, no Python file object: a chunk
    write is four system calls, and a write makes one per new chunk. Errors name the file."""
    folder = os.path.dirname(path)
    tmp = f"{folder}/.tmp-{_TMP_TOKEN}-{os.getpid()}-{next(_TMP_COUNTER)}"
    try:
        try:
            fd = os.open(tmp, _CREATE, 0o666)
        except FileNotFoundError:  # first chunk of the pond: make the folder and retry
            os.makedirs(folder, exist_ok=True)
            fd = os.open(tmp, _CREATE, 0o666)
        try:
            done = os.writev(fd, (header, body))
            if done < len(header) + len(body):  # a short write (rare on a local disk): write the rest
                rest = memoryview(header + body)[done:]
                while rest:
                    rest = rest[os.write(fd, rest):]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass  # never created, or already renamed
        if isinstance(exc, OSError):  # full disk, read-only folder: a clear error naming the file
            code = exc.errno or 5
            raise OSError(code, f"cannot write {path}: {os.strerror(code)}", path) from exc
        raise


def decode(stored: bytes, size: int, chunk_id: str, path: str) -> bytes:
    """A stored chunk's bytes, checked against its size and blake3 id (CorruptPondError if not)."""
    try:
        if stored[:1] == bytes([RAW]):
            data = stored[1:]
        elif stored[:1] == bytes([ZSTD]):
            data = _CODEC.decompress(stored[1:], decompressed_size=size, asbytes=True)
        else:
            raise ValueError("unknown chunk header")
    except (ValueError, pa.ArrowException) as exc:
        raise CorruptPondError(f"chunk damaged: {path}: {exc}") from exc
    if len(data) != size or blake3.blake3(data).hexdigest() != chunk_id:
        raise CorruptPondError(f"chunk damaged (size/blake3 mismatch): {path}")
    return data


class ChunkStore:
    """The chunks and manifests of one pond, beside its Delta table."""

    def __init__(self, location: Location) -> None:
        self.location = location

    # -- names -----------------------------------------------------------------------
    def chunk_path(self, chunk_id: object) -> str:
        if not isinstance(chunk_id, str) or not HEX64.fullmatch(chunk_id):
            raise CorruptPondError(f"invalid chunk id {str(chunk_id)[:80]!r}")
        return self.location.path(CHUNK_DIR, chunk_id)

    def manifest_path(self, ref: object, sha256: object) -> str:
        """The path of a manifest reference, after checking it is exactly ``manifests/<sha256>``."""
        if not is_manifest_ref(ref) or ref != f"{MANIFEST_DIR}/{sha256}":
            raise CorruptPondError(f"invalid manifest reference {str(ref)[:120]!r} for sha256 {str(sha256)[:80]!r}")
        return self.location.path(str(ref))

    # -- writing -----------------------------------------------------------------------
    def _touch(self, path: str) -> bool:
        """Refresh a local object's age if it exists (a reuse); False if it does not."""
        if self.location.remote:
            return False
        try:
            os.utime(path)
            return True
        except (FileNotFoundError, NotADirectoryError):  # (the write that follows says what is wrong)
            return False

    def put_chunk(self, data: bytes) -> tuple[str, int]:
        """Store one chunk once under its blake3 id; a reuse refreshes its age. Returns (id, size)."""
        chunk_id = blake3.blake3(data).hexdigest()
        path = self.location.path(CHUNK_DIR, chunk_id)
        if self.location.remote:
            self.location.write_atomic(path, encode(data))  # one PUT (no touch on S3: a reuse PUTs again)
        elif not self._touch(path):
            _write_local(path, *_encoded(data))
        return chunk_id, len(data)

    def write_stream(self, stream: Any, known_sha256: str | None = None) -> tuple[str, int, str]:
        """Chunk, hash and store a binary stream, never holding it whole; store its manifest
        last. Returns (content_ref, size, sha256)."""
        digest = hashlib.sha256()
        chunks: list[tuple[str, int]] = []
        pending: deque[Future[tuple[str, int]]] = deque()
        size = 0
        with ThreadPoolExecutor(WORKERS if self.location.remote else LOCAL_WORKERS) as pool:
            try:
                known = _size_ahead(stream)
                big = known is not None and known >= BIG_CONTENT
                cutter, in_flight = (_BIG_CDC, IN_FLIGHT // 2) if big else (_CDC, IN_FLIGHT)
                for piece in cutter.cut_stream(_Reader(stream)):
                    data = bytes(piece.data)  # the view is only valid until the next chunk is cut
                    digest.update(data)
                    size += len(data)
                    pending.append(pool.submit(self.put_chunk, data))
                    while len(pending) >= in_flight:
                        chunks.append(pending.popleft().result())
                while pending:
                    chunks.append(pending.popleft().result())
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
        sha = digest.hexdigest()
        if known_sha256 is not None and known_sha256 != sha:
            raise CorruptPondError("content changed while it was stored")
        ref = f"{MANIFEST_DIR}/{sha}"
        path = self.location.path(ref)
        if not self._touch(path):
            body = json.dumps({"format": 1, "size": size, "sha256": sha, "chunks": chunks}, separators=(",", ":"))
            if not self.location.remote:  # object storage has no folders (a create_dir would PUT a marker)
                os.makedirs(self.location.path(MANIFEST_DIR), exist_ok=True)
            self.location.write_atomic(path, body.encode())
        return ref, size, sha

    def write_bytes(self, data: bytes, sha256: str) -> str:
        """Store content held in memory; content already stored only refreshes the age of its
        chunks and manifest (locally; object storage writes it again)."""
        ref = f"{MANIFEST_DIR}/{sha256}"
        if not self.location.remote and os.path.exists(self.location.path(ref)):  # (a miss would retry)
            try:
                listed = self.read_manifest(ref, sha256)
                if all(self._touch(self.chunk_path(chunk_id)) for chunk_id, _ in listed) \
                        and self._touch(self.location.path(ref)):
                    return ref
            except CorruptPondError:
                pass  # missing or damaged: store it anew
        return self.write_stream(io.BytesIO(data), sha256)[0]

    # -- reading -----------------------------------------------------------------------
    def _get(self, path: str) -> bytes:
        """An object's bytes; a missing one is retried briefly locally (GC renames an object aside
        for a moment and puts back one that was reused: see maintenance.collect)."""
        for delay in (0.002, 0.02, 0.1, None):
            try:
                if not self.location.remote:
                    with open(path, "rb") as local:  # ~2x faster than pyarrow's local stream for 64 KiB
                        return local.read()
                with self.location.fs.open_input_stream(path) as stream:
                    return stream.read()
            except FileNotFoundError as exc:
                if delay is None or self.location.remote:
                    raise CorruptPondError(f"content missing: {path}") from exc
                time.sleep(delay)
        raise AssertionError("unreachable")

    def read_manifest(self, ref: object, sha256: object) -> list[tuple[str, int]]:
        """The chunk list of chunked content, every id and size checked (CorruptPondError if not)."""
        path = self.manifest_path(ref, sha256)
        try:
            body = json.loads(self._get(path))
            chunks = [(str(chunk_id), int(size)) for chunk_id, size in body["chunks"]]
            total = int(body["size"])
        except CorruptPondError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptPondError(f"manifest damaged: {path}") from exc
        if body.get("sha256") != sha256 or sum(size for _, size in chunks) != total \
                or not all(HEX64.fullmatch(chunk_id) and 0 < size <= BIG_MAX_CHUNK for chunk_id, size in chunks):
            raise CorruptPondError(f"manifest damaged: {path}")
        return chunks

    def read_chunk(self, chunk_id: str, size: int) -> bytes:
        path = self.chunk_path(chunk_id)
        return decode(self._get(path), size, chunk_id, path)

    def open(self, ref: str, sha256: str, verify_sha256: bool = False) -> io.BufferedReader:
        """A seekable binary stream over chunked content (chunks fetched as needed). Every chunk
        is checked against its blake3 id; ``verify_sha256`` also checks the whole at the end of a
        front-to-back read (it halves the streaming rate: sha256 runs at ~500 MiB/s here)."""
        raw = ChunkedReader(self, self.read_manifest(ref, sha256), sha256, ref, verify_sha256)
        return io.BufferedReader(raw, buffer_size=AVG_CHUNK)

    def read(self, ref: str, sha256: str) -> bytes:
        """Chunked content whole, verified against its sha256."""
        with self.open(ref, sha256, verify_sha256=True) as stream:
            return stream.read()


def _size_ahead(stream: Any) -> int | None:
    """The bytes left in a stream, where that is cheap and sure to know without reading it: a
    BytesIO, or a file opened on a regular local file; None otherwise (never a seek to the end,
    which some streams, e.g. bz2, pay for by decompressing everything, and never the descriptor
    of a stream that transforms what it reads, as gzip's)."""
    try:
        if isinstance(stream, io.BytesIO):
            return stream.getbuffer().nbytes - stream.tell()
        if isinstance(stream, (io.FileIO, io.BufferedReader, io.BufferedRandom)):
            info = os.fstat(stream.fileno())  # (a BufferedReader over another raw stream has none)
            if stat.S_ISREG(info.st_mode):
                return max(0, info.st_size - stream.tell())
    except (OSError, ValueError):  # closed, or no descriptor (io.UnsupportedOperation is both)
        pass
    return None


class _Reader:
    """A stream as pyfastcdc wants it (``readinto``), from one that may only have ``read``."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._readinto = hasattr(stream, "readinto")

    def readinto(self, buffer: memoryview) -> int:
        if self._readinto:
            try:
                return self._stream.readinto(buffer) or 0
            except NotImplementedError:  # io.RawIOBase's default, on a stream that only has read()
                self._readinto = False
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class ChunkedReader(io.RawIOBase):
    """Chunked content as a seekable raw stream: a seek only moves the offset, a read fetches
    the chunks it covers (on object storage the next few concurrently), each checked against its
    blake3 id. With ``verify_sha256`` a front-to-back read also checks the whole at the end."""

    def __init__(self, chunks: ChunkStore, listed: list[tuple[str, int]], sha256: str, ref: str,
                 verify_sha256: bool) -> None:
        super().__init__()
        self._chunks, self._listed, self._sha256, self._ref = chunks, listed, sha256, ref
        self._starts = [0]
        for _, size in listed:
            self._starts.append(self._starts[-1] + size)
        self._size = self._starts[-1]
        self._pos = 0
        self._current: tuple[int, bytes] | None = None
        self._digest: Any = hashlib.sha256() if verify_sha256 else None
        self._hashed = 0
        self._pool: ThreadPoolExecutor | None = None
        self._ahead: dict[int, Future[bytes]] = {}

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._pos = base + offset
        return self._pos

    def _chunk(self, index: int) -> bytes:
        if self._current is not None and self._current[0] == index:
            return self._current[1]
        chunk_id, size = self._listed[index]
        if not self._chunks.location.remote:
            data = self._chunks.read_chunk(chunk_id, size)
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(WORKERS)
            for ahead in range(index, min(index + PREFETCH, len(self._listed))):
                if ahead not in self._ahead:
                    self._ahead[ahead] = self._pool.submit(self._chunks.read_chunk, *self._listed[ahead])
            for stale in [key for key in self._ahead if key < index or key >= index + PREFETCH]:
                self._ahead.pop(stale).cancel()
            data = self._ahead.pop(index).result()
        self._current = (index, data)
        return data

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self._size:
            self._verify_end()
            return 0
        index = bisect.bisect_right(self._starts, self._pos) - 1
        data = self._chunk(index)
        skip = self._pos - self._starts[index]
        count = min(len(buffer), len(data) - skip)
        view = memoryview(data)[skip: skip + count]
        buffer[:count] = view
        if self._digest is not None and self._pos == self._hashed:
            self._digest.update(view)
            self._hashed += count
        self._pos += count
        if self._pos >= self._size:
            self._verify_end()
        return count

    def _verify_end(self) -> None:
        if self._digest is not None and self._hashed == self._size:
            digest, self._digest = self._digest.hexdigest(), None
            if digest != self._sha256:
                raise CorruptPondError(f"content damaged (sha256 mismatch): {self._ref}")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        super().close()
