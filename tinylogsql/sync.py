"""Mirror a local folder into one pond directory in one commit (``Pond.sync``, ``tinylogsql sync``).

New files are created, changed ones (by sha256) get a new content version, unchanged ones are
left alone (no op, so their history stays clean); with ``delete`` pond entries missing locally
are removed. A sync with nothing to change commits nothing. Local symlinks are stored as pond
symlinks with the same target text, as ``put`` does. Files larger than ``INLINE_MAX`` are hashed
and written as streams, so memory stays flat whatever their size.
"""

from __future__ import annotations

import binascii
import hashlib
import os
import posixpath
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .alloc import collector_paused
from .bulk import READERS, _read_all, batch_from_columns, create
from .errors import InvalidNameError, NotADirError, PathExistsError, PathNotFoundError
from .txn import INLINE_MAX

if TYPE_CHECKING:
    from .nodes import Directory, NodeStat
    from .pond import Pond

CHUNK = 1 << 20


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 of a local file, read in chunks (no whole-file buffer)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def local_content(path: Path, size: int) -> bytes | BinaryIO:
    """What to hand a write: the bytes of a small file, an open binary stream for a large one
    (the transaction copies a stream to a blob in chunks). The caller closes a stream."""
    return path.read_bytes() if size <= INLINE_MAX else open(path, "rb")  # noqa: SIM115


def same_content(local: Path, size: int, info: NodeStat) -> bool:
    """Does the pond file ``info`` already hold exactly the local file's bytes? (size first, then sha256)"""
    return info.kind == "file" and info.size == size and info.sha256 == file_sha256(local)


@dataclass
class SyncReport:
    """What a sync did (or, with ``dry_run``, would do). Paths are absolute pond paths."""

    version: int  # the commit it made; the pond's version when nothing changed or on a dry run
    committed: bool  # False when nothing changed or on a dry run
    dry_run: bool
    created: list[str] = field(default_factory=list)  # new files, directories and symlinks
    written: list[str] = field(default_factory=list)  # files whose content changed, symlinks re-pointed
    removed: list[str] = field(default_factory=list)  # with delete: pond entries missing locally
    unchanged: int = 0  # files and symlinks left alone
    bytes_written: int = 0  # content bytes of the created and written files

    @property
    def changes(self) -> int:
        return len(self.created) + len(self.written) + len(self.removed)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        counts = (f"{len(self.created)} created, {len(self.written)} written, {len(self.removed)} removed, "
                  f"{self.unchanged} unchanged")
        if self.dry_run:
            return f"dry run: {counts} (nothing committed; the pond is at version {self.version})"
        if not self.committed:
            return f"nothing to change: {counts} (still version {self.version})"
        return f"synced: {counts} as version {self.version}"


@dataclass
class _Action:
    op: str  # mkdir | file | link | remove
    path: str  # absolute pond path
    local: Any = None  # the local Path (a new file read by _Reader has no action: see _plan)
    size: int = 0
    target: str | None = None
    replace: bool = False  # a write over an existing file (or symlink) rather than a create


def _join(base: str, name: str) -> str:
    return f"{base.rstrip('/')}/{name}"


READ_BATCH = 64
"""New files handed to a reader thread at a time (a future per file cost more than its read)."""
_by_name = attrgetter("name")


def _read_batch(paths: list[str]) -> tuple[pa.Array, pa.Array, list[tuple[int, Path]]]:
    """Read and hash a few new local files (on a reader thread), straight into Arrow: their
    contents and hex sha256 (null for a file over INLINE_MAX, streamed later by the bulk path),
    and those large files as (position, path). No Python object per file outlives the batch."""
    datas = _read_all(paths)  # type: ignore[arg-type]
    sha = hashlib.sha256
    large = [(index, data) for index, data in enumerate(datas) if type(data) is not bytes]
    if large:
        small = [data if type(data) is bytes else None for data in datas]
        digests = b"".join(sha(data).digest() if data is not None else bytes(32) for data in small)
        contents = pa.array(small, pa.binary())
    else:
        digests = b"".join([sha(data).digest() for data in datas])
        contents = pa.array(datas, pa.binary())
    count = len(datas)
    offsets = np.arange(0, 64 * (count + 1), 64, dtype=np.int32)
    valid = None if not large else pa.py_buffer(np.packbits(  # (a large file's digest: null until stored)
        np.isin(np.arange(count), [index for index, _ in large], invert=True), bitorder="little").tobytes())
    hexed = pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(binascii.hexlify(digests)),
                                        valid, len(large))
    return contents, hexed, large  # type: ignore[return-value]


class _Reader:
    """Reads and hashes new files on a few threads while the plan goes on scanning folders (open,
    read and large hashes release the GIL; the scan is Python work), into Arrow columns for the bulk
    path (no bytes object per file is handed around, converted or hashed again)."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._waiting: list[str] = []
        self._parts: list[Future[tuple[pa.Array, pa.Array, list[tuple[int, Path]]]]] = []
        self.paths: list[str] = []  # the new files' pond paths, in plan order

    def add(self, local: str, path: str) -> None:
        self.paths.append(path)
        self._waiting.append(local)
        if len(self._waiting) >= READ_BATCH:
            self._submit()

    def _submit(self) -> None:
        if not self._waiting:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(READERS, thread_name_prefix="tinylogsql-read")
        batch, self._waiting = self._waiting, []
        self._parts.append(self._pool.submit(_read_batch, batch))

    def abandon(self) -> None:
        """Drop the reads (the plan failed): nothing waits for them."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def finish(self) -> tuple[pa.Array, pa.Array, dict[int, Path]]:
        """Every new file's content and sha256, in plan order, and the large ones by position (a
        file that vanished meanwhile raises bulk's PathNotFoundError)."""
        self._submit()
        try:
            contents, digests, large, start = [], [], {}, 0
            for future in self._parts:
                content, digest, over = future.result()
                contents.append(content)
                digests.append(digest)
                large.update((start + index, path) for index, path in over)
                start += len(content)
        finally:
            self.abandon()
        if not contents:
            return pa.array([], pa.binary()), pa.array([], pa.string()), large
        try:
            return pa.concat_arrays(contents), pa.concat_arrays(digests), large
        except pa.ArrowInvalid:  # (over 2 GiB of small contents: chunks, as pa.array would give)
            return pa.chunked_array(contents), pa.chunked_array(digests), large  # type: ignore[return-value]


def _plan(pond: Pond, local: Path, directory: Directory | None, path: str, delete: bool,
          actions: list[_Action | str], report: SyncReport, reader: _Reader | None = None) -> None:
    """Compare one local folder with the pond directory ``path`` (None: missing, will be made).
    With a ``reader`` (not on a dry run), a new file is its pond path in ``actions``, read by it."""
    existing = {info.name: info for info in directory.listing()} if directory is not None else {}
    with os.scandir(local) as scan:
        entries = sorted(scan, key=_by_name)
    prefix = path.rstrip("/") + "/"
    for entry in entries:  # (the loop of every file: each attribute and call in it costs 0.1 s per 1M)
        name = entry.name
        target = prefix + name
        info = existing.get(name) if existing else None
        if entry.is_file(follow_symlinks=False):  # the common case first, with no Path object
            if info is None and reader is not None:  # a new file: read as the scan goes on
                actions.append(target)  # (its place in plan order: the report lists it there)
                reader.add(entry.path, target)
                continue
            size = entry.stat().st_size
            if info is not None and same_content(Path(entry.path), size, info):
                report.unchanged += 1
                continue
            _replaceable(info, "file", delete, target, actions)
            actions.append(_Action("file", target, Path(entry.path), size,
                                   replace=info is not None and info.kind == "file"))
            continue
        here = Path(entry.path)
        if entry.is_symlink():
            link = os.readlink(here)
            if info is not None and info.kind == "symlink" and info.target == link:
                report.unchanged += 1
                continue
            _replaceable(info, "symlink", delete, target, actions)
            actions.append(_Action("link", target, here, 0, link, replace=info is not None and info.kind == "symlink"))
        elif entry.is_dir():
            if info is not None and info.kind == "dir":
                _plan(pond, here, pond.root.open_dir_path(target), target, delete, actions, report, reader)
                continue
            _replaceable(info, "dir", delete, target, actions)
            actions.append(_Action("mkdir", target, here))
            _plan(pond, here, None, target, delete, actions, report, reader)
        else:
            size = entry.stat().st_size
            if info is not None and same_content(here, size, info):
                report.unchanged += 1
                continue
            _replaceable(info, "file", delete, target, actions)
            actions.append(_Action("file", target, here, size, replace=info is not None and info.kind == "file"))
    if delete:
        for name in sorted(set(existing).difference(entry.name for entry in entries)):
            actions.append(_Action("remove", _join(path, name)))


def _replaceable(info: NodeStat | None, kind: str, delete: bool, path: str, actions: list[_Action | str]) -> None:
    """A pond entry of another kind where ``kind`` goes: removed first with ``delete``, else an error."""
    if info is None or info.kind == kind:
        return
    if not delete:
        raise PathExistsError(path, f"a {info.kind} in the pond where the local folder has a {kind}; "
                                    "use delete=True (--delete) to replace it")
    actions.append(_Action("remove", path))


def _apply(pond: Pond, target: str, actions: list[_Action | str], report: SyncReport, reader: _Reader,
           on_file: Callable[[str, int], None] | None) -> None:
    """Removes, symlinks, directories and rewrites one by one, in plan order; then every new file
    (read by ``reader``) in one go through the bulk path, whose names the plan found free."""
    root = pond.root
    created = report.created
    for action in actions:
        if type(action) is str:  # a new file: created below, listed in plan order
            created.append(action)
            continue
        assert isinstance(action, _Action)
        if action.op == "remove":
            root.remove(action.path, recursive=True)
            report.removed.append(action.path)
        elif action.op == "mkdir":
            root.create_dir_path(action.path)
            created.append(action.path)
        elif action.op == "link":
            if action.replace:
                root.remove(action.path)
            root.create_symlink_path(action.path, action.target or "")
            (report.written if action.replace else created).append(action.path)
        else:
            assert action.local is not None
            data = local_content(action.local, action.size)
            try:
                if action.replace:
                    root.write_file_path(action.path, data)  # type: ignore[arg-type]
                else:
                    root.create_file_path(action.path, data)  # type: ignore[arg-type]
            finally:
                if not isinstance(data, bytes):
                    data.close()
            (report.written if action.replace else created).append(action.path)
            report.bytes_written += action.size
            if on_file is not None:
                on_file(action.path, action.size)
    contents, digests, large = reader.finish()
    if not reader.paths:
        return
    paths = reader.paths
    sizes = pc.binary_length(contents)
    report.bytes_written += pc.sum(sizes).as_py() or 0
    if on_file is not None:  # (the small ones now, in plan order; a large one once stored)
        for index, (path, size) in enumerate(zip(paths, sizes.to_pylist(), strict=True)):
            if index not in large:
                on_file(path, size)

    def stored(index: int, size: int) -> None:
        report.bytes_written += size
        if on_file is not None:
            on_file(paths[index], size)

    # paths relative to the target folder: each new file's folder is then one lookup from it
    try:
        absolute = pa.array(paths, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeEncodeError) as exc:  # (a local name not UTF-8)
        raise InvalidNameError(f"every path must be a str of valid UTF-8: {exc}") from exc
    relative = pc.utf8_slice_codeunits(absolute, len(target.rstrip("/")) + 1)
    start = root.open_dir_path(target)
    create(pond, start, batch_from_columns(pond, relative, contents, digests, large, stored), False, False, None, None)


def sync(pond: Pond, local_dir: str | os.PathLike[str], pond_dir: str = "/", *, delete: bool = False,
         dry_run: bool = False, message: str | None = None, author: str | None = None,
         on_file: Callable[[str, int], None] | None = None) -> SyncReport:
    """Make ``pond_dir`` hold what ``local_dir`` holds, in one commit (none if nothing differs).

    ``pond_dir`` (and its parents) are created if missing. ``on_file(path, size)`` is called
    after each file is staged (for a progress bar); ``plan_sync`` counts the work first.
    """
    local = Path(local_dir)
    if not local.exists():
        raise PathNotFoundError(str(local), "local folder")
    if not local.is_dir():
        raise NotADirError(str(local), "local path")
    target = posixpath.normpath("/" + str(pond_dir).lstrip("/"))
    if dry_run:
        report = SyncReport(pond.version, committed=False, dry_run=True)
        _staged(pond, local, target, delete, report)
        return report
    with pond.transaction(message=message or f"sync {local} -> {target}", author=author) as tx, \
            collector_paused():  # ~100k acyclic objects a 100k-file sync makes: no collector passes over them
        report = SyncReport(tx.base, committed=False, dry_run=False)
        reader = _Reader()
        try:
            actions = _staged(pond, local, target, delete, report, reader)
            _apply(pond, target, actions, report, reader, on_file)  # (its per-op actions go first, reads go on)
        except BaseException:
            reader.abandon()  # (a failed plan or per-op action: no thread goes on reading for it)
            raise
    assert tx.committed_version is not None
    report.version = tx.committed_version
    report.committed = bool(tx.ops)
    return report


def _staged(pond: Pond, local: Path, target: str, delete: bool, report: SyncReport,
            reader: _Reader | None = None) -> list[_Action | str]:
    """The actions a sync takes; a dry run records them in ``report`` without doing them."""
    actions: list[_Action | str] = []
    node = pond.root.get(target, follow_symlinks=True)
    if node is None:
        actions.append(_Action("mkdir", target))
        directory = None
    elif node.kind != "dir":
        raise NotADirError(target)
    else:
        directory = pond.root.open_dir_path(target)
    _plan(pond, local, directory, target, delete, actions, report, reader)
    if report.dry_run:
        for action in actions:
            assert isinstance(action, _Action)  # (a dry run has no reader: every file is an action)
            if action.op == "remove":
                report.removed.append(action.path)
            elif action.replace:
                report.written.append(action.path)
            else:
                report.created.append(action.path)
            report.bytes_written += action.size
    elif node is None and isinstance(actions[0], _Action) and actions[0].op == "mkdir" and actions[0].path == target:
        pond.root.create_dir_path(target, parents=True, exist_ok=True)
        report.created.append(target)
        actions.pop(0)
    return actions


def plan_size(local_dir: str | os.PathLike[str]) -> tuple[int, int]:
    """(files, bytes) below a local folder, for sizing a progress bar before a sync."""
    files = total = 0
    for folder, _dirs, names in os.walk(local_dir):
        for name in names:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                files += 1
                total += os.path.getsize(path)
    return files, total


__all__ = ["SyncReport", "sync", "file_sha256", "local_content", "same_content", "plan_size"]
