"""Content stored beside the Delta table: what a file version's ``content_ref`` names.

Two forms, both verified against the sha256 its op row records: chunked content
(``manifests/<sha256>``, chunks.py), which every write makes, and whole-file blobs
(``blobs/<sha256>``), written before chunking existed and still read. References come from data,
so each is checked to be exactly one of those forms before it names a path.
"""

from __future__ import annotations

import hashlib
import io
import re
import time
from typing import Any

from .chunks import ChunkStore, is_manifest_ref
from .errors import CorruptPondError
from .location import Location

BLOB_DIR = "blobs"
BLOB_REF = re.compile(r"blobs/[0-9a-f]{64}")
"""The only form a whole-file blob's content_ref may take (and it must name the row's own sha256)."""


class ContentStore:
    """Reads and writes the content of one pond, beside its Delta table."""

    def __init__(self, location: Location) -> None:
        self.location = location
        self.chunks = ChunkStore(location)

    def blob_path(self, sha256: str) -> str:
        return f"{BLOB_DIR}/{sha256}"

    def write_stream(self, stream: Any) -> tuple[str, int, str]:
        """Store a binary stream as chunked content (see chunks.py); return (ref, size, sha256).
        Content never sits in memory whole."""
        return self.chunks.write_stream(stream)

    def write_bytes(self, data: bytes, sha256: str) -> str:
        """Store content over the inline limit as chunks (each once); return its reference."""
        return self.chunks.write_bytes(data, sha256)

    def blob_location(self, ref: object, sha256: object) -> str:
        """The storage path of a blob reference, after checking that it is exactly
        ``blobs/<sha256 of the row>``: a forged or damaged reference never reaches storage."""
        if not isinstance(ref, str) or not isinstance(sha256, str) or not BLOB_REF.fullmatch(ref) \
                or ref != self.blob_path(sha256):
            raise CorruptPondError(f"invalid blob reference {str(ref)[:120]!r} for sha256 {str(sha256)[:80]!r}")
        return self.location.path(ref)

    def _open_blob_file(self, path: str) -> Any:
        """Open a blob; a missing one is retried briefly locally (blob GC renames a blob aside for
        a moment before it decides, and puts back one that was reused: see collect_blobs)."""
        for delay in (0.002, 0.02, 0.1, None):
            try:
                return self.location.fs.open_input_file(path)
            except FileNotFoundError as exc:
                if delay is None or self.location.remote:
                    raise CorruptPondError(f"blob missing: {path}") from exc
                time.sleep(delay)
        raise AssertionError("unreachable")

    def read(self, ref: str, expected_sha256: str) -> bytes:
        """Content stored beside the table, verified against the sha256 its op row records
        (CorruptPondError if not): chunked (``manifests/<sha256>``) or a whole-file blob
        (``blobs/<sha256>``, written before chunking existed)."""
        if is_manifest_ref(ref):
            return self.chunks.read(ref, expected_sha256)
        path = self.blob_location(ref, expected_sha256)
        with self._open_blob_file(path) as stream:
            data = stream.read()
        if hashlib.sha256(data).hexdigest() != expected_sha256:
            raise CorruptPondError(f"blob damaged (sha256 mismatch): {path}")
        return data

    def open(self, ref: str, expected_sha256: str) -> Any:
        """A seekable binary stream over stored content (never loaded whole). Chunked content:
        every chunk is checked against its blake3 id (see chunks.py); a whole-file blob: reading
        it to the end verifies the sha256 (CorruptPondError on a mismatch)."""
        if is_manifest_ref(ref):
            return self.chunks.open(ref, expected_sha256)
        path = self.blob_location(ref, expected_sha256)
        return io.BufferedReader(VerifiedBlob(self._open_blob_file(path), expected_sha256, path))


class VerifiedBlob(io.RawIOBase):
    """A read-only seekable stream over a blob that hashes what a front-to-back read returns
    and raises CorruptPondError at the end if the bytes do not match the recorded sha256."""

    def __init__(self, stream: Any, sha256: str, ref: str) -> None:
        super().__init__()
        self._stream, self._sha256, self._ref = stream, sha256, ref
        self._digest: Any = hashlib.sha256()
        self._hashed = 0  # bytes hashed so far: only a sequential read from 0 is verified

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._stream.seek(offset, whence)

    def tell(self) -> int:
        return self._stream.tell()

    def readinto(self, buffer: Any) -> int:
        start = self._stream.tell()
        data = self._stream.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        if self._digest is not None and start == self._hashed:
            self._digest.update(data)
            self._hashed += size
            if size == 0 or start + size >= self._stream.size():
                if self._digest.hexdigest() != self._sha256:
                    raise CorruptPondError(f"blob damaged (sha256 mismatch): {self._ref}")
                self._digest = None
        return size

    def close(self) -> None:
        self._stream.close()
        super().close()
