"""The bulk write path: many creates built as Arrow columns and committed as one transaction.

``Directory.create_files`` and ``Pond.ingest`` hand a batch of (path, kind, content, target) here.
Content is hashed and stored first (large content as chunks, several files at once), once, outside
the transaction; then, inside it, each distinct directory is resolved (and made, with
``parents``) through the transaction like any op, and the file rows are built column-wise: split
paths, parent ids, fresh node ids, names checked against each parent's listing with one
``is_in``. The rows join the transaction's ops as one Arrow table (see ``Transaction.add_bulk``),
so the commit protocol (re-check against foreign commits, the guard, the state fold, the branch)
is the per-op one. Errors are the per-op API's, raised before anything is committed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import smallbatch
from .batch import Batch, creates
from .batchops import bad_name, directories, mkdir, rewrite_rows
from .errors import (
    InvalidArgumentError,
    InvalidContentError,
    InvalidNameError,
    PathExistsError,
    PathNotFoundError,
    ReadOnlyError,
)
from .hashing import sha256_hex
from .largepool import pool_for
from .paths import MAX_NAME_BYTES
from .state import repeats
from .txn import INLINE_MAX, to_bytes

if TYPE_CHECKING:
    from .nodes import Directory
    from .pond import Pond
    from .query import NodeRow
    from .txn import Transaction

WORKERS = 4
"""Large contents (over INLINE_MAX) stored at once (each is itself chunked by a few threads)."""
KINDS = ("file", "dir", "symlink")
LOOKUP_MAX = 2000
"""Up to this many entries a batch looks each name up; more, it lists each parent directory once."""
READERS = 4
"""Threads reading local files (``os.PathLike`` contents)."""


BACKGROUND_HASH = 10_000
"""A batch of at least this many entries is hashed on a thread while its rows are built."""
_hashing: list[ThreadPoolExecutor] = []


def _hasher() -> ThreadPoolExecutor:
    if not _hashing:
        _hashing.append(ThreadPoolExecutor(1, thread_name_prefix="tinylogsql-hash"))
    return _hashing[0]


# -- content: hashed and stored before the transaction --------------------------------
def _store_large(pond: Pond, value: Any) -> tuple[int, str, str]:
    """(size, sha256, ref) of content over the limit: bytes, an open stream, or a local file."""
    store = pond._store
    if isinstance(value, bytes):
        sha = hashlib.sha256(value).hexdigest()
        return len(value), sha, store.write_blob(value, sha)
    if isinstance(value, Path):
        with open(value, "rb") as stream:
            ref, size, sha = store.write_blob_stream(stream)
        return size, sha, ref
    ref, size, sha = store.write_blob_stream(value)
    return size, sha, ref


def _local(value: os.PathLike[str]) -> bytes | Path:
    """A local file as its bytes (small: one open and read, no stat) or its path (large, streamed later).
    os.open/os.read: no buffered file object per file (~1.5 us each, a sync reads 100k small files)."""
    path = os.fspath(value)
    try:
        handle = os.open(path, os.O_RDONLY)
    except FileNotFoundError as exc:
        raise PathNotFoundError(str(path), "local file") from exc
    try:
        data = os.read(handle, INLINE_MAX + 1)
        while data and len(data) <= INLINE_MAX:  # (a short read: read on to the end or past the limit)
            more = os.read(handle, INLINE_MAX + 1 - len(data))
            if not more:
                break
            data += more
    except IsADirectoryError as exc:
        raise InvalidContentError(f"{path} is a local directory, not a file") from exc
    finally:
        os.close(handle)
    return Path(path) if len(data) > INLINE_MAX else data


def _read_all(values: list[os.PathLike[str]]) -> list[bytes | Path]:
    return [_local(value) for value in values]


def writable(pond: Pond) -> None:
    """ReadOnlyError before any content is stored, for a pond opened at a past revision."""
    if pond._at is not None:
        raise ReadOnlyError(pond.uri, f"pond.at({pond._at}) is read-only")


def batch_from_mapping(pond: Pond, files: Mapping[str, Any],
                       on_file: Callable[[str, int], None] | None = None) -> Batch:
    """A batch of files from ``{path: bytes | str | binary stream | os.PathLike}``; ``on_file(path,
    size)`` is called as each content is read (a large one: once stored)."""
    writable(pond)
    if not isinstance(files, Mapping):
        raise InvalidArgumentError(f"files must be a mapping of path to content, not {type(files).__name__}")
    paths = list(files)
    values = list(files.values())
    local = [index for index, value in enumerate(values) if isinstance(value, os.PathLike)]
    if len(local) > READERS:  # local files are read by a few threads (open and read release the GIL),
        step = -(-len(local) // (READERS * 4))  # a list each (a future per file cost more than its read)
        parts = [[values[i] for i in local[start:start + step]] for start in range(0, len(local), step)]
        with ThreadPoolExecutor(READERS) as pool:
            read = [data for part in pool.map(_read_all, parts) for data in part]
        for index, data in zip(local, read, strict=True):
            values[index] = data
    else:
        for index in local:
            values[index] = _local(values[index])
    contents: list[bytes | None] = []
    large: dict[int, Any] = {}
    for index, value in enumerate(values):
        if type(value) is bytes or isinstance(value, Path):
            data: Any = value
        elif not isinstance(value, (str, bytearray, memoryview, bytes)) and hasattr(value, "read"):
            data = value
        else:
            data = to_bytes(value)
        if type(data) is bytes and len(data) <= INLINE_MAX:
            contents.append(data)
            if on_file is not None:
                on_file(paths[index], len(data))
        else:
            contents.append(None)
            large[index] = data
    path_array = _path_array(paths)
    return _batch(pond, path_array, None, pa.array(contents, pa.binary()), large, None,
                  None if on_file is None else lambda index, size: on_file(paths[index], size))


def batch_from_columns(pond: Pond, path: pa.Array, content: pa.Array, sha256: pa.Array, large: dict[int, Path],
                       stored: Callable[[int, int], None] | None = None) -> Batch:
    """A batch of files read and hashed already (``sync``'s readers): ``content`` and its hex
    ``sha256`` (null where ``large`` names a local file over INLINE_MAX, stored here as a stream;
    ``stored(index, size)`` is called as each is)."""
    writable(pond)
    return _batch(pond, path, None, content, dict(large), None, stored, sha256)


def batch_from_table(pond: Pond, table: pa.Table) -> Batch:
    """A batch from an Arrow table: ``path`` (string) and optionally ``content`` (binary or string;
    null: empty), ``kind`` (file | dir | symlink; default file) and ``target`` (symlinks)."""
    writable(pond)
    if not isinstance(table, (pa.Table, pa.RecordBatch)):
        raise InvalidArgumentError(f"ingest takes a pyarrow Table, not {type(table).__name__}")
    unknown = set(table.column_names) - {"path", "content", "kind", "target"}
    if "path" not in table.column_names or unknown:
        raise InvalidArgumentError(f"ingest needs a 'path' column and takes only content, kind and target besides"
                                   f" (got {table.column_names})")

    def column(name: str, kind: pa.DataType) -> pa.Array | None:
        if name not in table.column_names:
            return None
        try:
            return pc.cast(_flat(table.column(name)), kind)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InvalidArgumentError(f"column {name!r} must be {kind}: {exc}") from exc

    path = column("path", pa.string())
    assert path is not None
    content = None
    if "content" in table.column_names:  # binary as it is (a cast to large_binary and back copied it twice)
        content = _flat(table.column("content"))
        if content.type != pa.binary():
            content = column("content", pa.large_binary())
    large: dict[int, Any] = {}
    if content is not None:
        sizes = pc.fill_null(pc.binary_length(content), 0)
        over = np.flatnonzero(pc.greater(sizes, INLINE_MAX).to_numpy(zero_copy_only=False))
        for index in over.tolist():
            large[index] = content[index].as_py()
        if len(over):
            content = pc.if_else(pc.greater(sizes, INLINE_MAX), pa.scalar(None, content.type), content)
        if content.type != pa.binary():
            content = pc.cast(content, pa.binary())
    return _batch(pond, path, column("kind", pa.string()), content, large, column("target", pa.string()))


def batch_of_files(pond: Pond, paths: list[str], contents: list[bytes], digests: list[str]) -> Batch:
    """A batch of regular files whose contents are inline-sized (at most INLINE_MAX bytes) and whose
    hex sha256 the caller has already (import-git hashes each blob on its reader thread): what
    ``batch_from_table`` builds for them, without hashing or casting on this thread."""
    writable(pond)
    count = len(paths)
    if len(contents) != count or len(digests) != count or any(len(data) > INLINE_MAX for data in contents):
        raise InvalidArgumentError("batch_of_files takes one inline-sized content and digest per path")
    path = _path_array(paths)
    return Batch(path, pa.repeat(pa.scalar("file"), count) if count else pa.array([], pa.string()),
                 pa.array(map(len, contents), pa.int64(), size=count), pa.array(digests, pa.string()),
                 pa.array(contents, pa.binary()), pa.nulls(count, pa.string()), pa.nulls(count, pa.string()))


def _path_array(paths: list[str]) -> pa.Array:
    """The paths as an Arrow string column; anything but valid UTF-8 text is InvalidNameError."""
    try:
        return pa.array(paths, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeEncodeError) as exc:
        raise InvalidNameError(f"every path must be a str of valid UTF-8: {exc}") from exc


def _flat(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):  # (combine_chunks copies even a single chunk)
        return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return column


def _targets(path: pa.Array, kind: pa.Array, target: pa.Array | None) -> pa.Array:
    """The symlinks' targets (null for every other kind); a symlink without a valid one is InvalidNameError."""
    count = len(path)
    is_link = pc.equal(kind, "symlink")
    if target is None:
        target = pa.nulls(count, pa.string())
    bad_target = pc.and_kleene(is_link, pc.or_kleene(pc.is_null(target), pc.or_kleene(
        pc.equal(target, ""), pc.match_substring(target, "\x00"))))
    if count and pc.any(bad_target).as_py():
        first = pc.index(bad_target, True).as_py()
        raise InvalidNameError(f"invalid symlink target {target[first].as_py()!r} for {path[first].as_py()!r}")
    if pc.any(is_link).as_py() or target.null_count < count:
        target = pc.if_else(is_link, target, pa.scalar(None, pa.string()))
    return target


def _batch(pond: Pond, path: pa.Array, kind: pa.Array | None, content: pa.Array | None, large: dict[int, Any],
           target: pa.Array | None, stored: Callable[[int, int], None] | None = None,
           hashed: pa.Array | None = None) -> Batch:
    """Hash the inline contents (unless ``hashed`` gives their hex sha256 already), store the large
    ones (a few at once), and check kinds and targets."""
    count = len(path)
    if path.null_count:
        raise InvalidNameError("a path is null")
    files_only = kind is None  # (no kind column: every entry a file, nothing to check per entry)
    if kind is None:
        kind = pa.repeat(pa.scalar("file"), count) if count else pa.array([], pa.string())
        is_file = pa.repeat(pa.scalar(True), count) if count else pa.array([], pa.bool_())
        target = pa.nulls(count, pa.string())  # (a target is a symlink's only)
    else:
        if kind.null_count or (count and not pc.all(pc.is_in(kind, pa.array(KINDS))).as_py()):
            raise InvalidArgumentError(f"kind must be one of {', '.join(KINDS)}")
        is_file = pc.equal(kind, "file")
        target = _targets(path, kind, target)
    if content is None:
        content = pa.nulls(count, pa.binary())
    for index in list(large):
        if not files_only and kind[index].as_py() != "file":
            large.pop(index)
    inline = is_file
    if large:
        over = np.zeros(count, dtype=bool)
        over[list(large)] = True
        inline = pc.and_(is_file, pc.invert(pa.array(over)))
    if large or content.null_count or (not files_only and not pc.all(inline).as_py()):  # (plain files: no copy)
        content = pc.if_else(inline, pc.fill_null(content, b""), pa.scalar(None, pa.binary()))
    # null where content is (large ones, dirs, symlinks); a large batch hashes on a thread (DuckDB and
    # hashlib release the GIL) while the transaction resolves its directories and builds its rows
    digests: pa.Array | Future[pa.Array] = hashed if hashed is not None else \
        _hasher().submit(sha256_hex, content) if count >= BACKGROUND_HASH else sha256_hex(content)
    sizes = pc.cast(pc.binary_length(content), pa.int64())
    refs = pa.nulls(count, pa.string())
    if large:
        if isinstance(digests, Future):
            digests = digests.result()
        size_list, digest_list, ref_list = sizes.to_pylist(), digests.to_pylist(), refs.to_pylist()
        with ThreadPoolExecutor(min(WORKERS, len(large))) as pool:
            results = pool.map(lambda value: _store_large(pond, value), large.values())
            for index, (size, digest, ref) in zip(large, results, strict=True):
                size_list[index], digest_list[index], ref_list[index] = size, digest, ref
                if stored is not None:
                    stored(index, size)
        sizes = pa.array(size_list, pa.int64())
        digests, refs = pa.array(digest_list, pa.string()), pa.array(ref_list, pa.string())
    return Batch(path, kind, sizes, digests, content, refs, target, files_only=files_only)


# -- the structure: resolved inside the transaction --------------------------------------
def _split(path: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(directory part, final name) of every path, column-wise: "a/b/c" -> ("a/b", "c"),
    "/c" -> ("/", "c"), "c" -> (".", "c"); trailing slashes ignored."""
    pool = pool_for(len(path))
    if len(path) and pc.any(pc.ends_with(path, "/")).as_py():  # (each step a copy of the column: only if needed)
        path = pc.utf8_rtrim(path, characters="/", memory_pool=pool)
    parts = pc.split_pattern(path, "/", max_splits=1, reverse=True, memory_pool=pool)
    offsets = parts.offsets.to_numpy()
    flat = parts.flatten()
    names = pc.take(flat, pa.array(offsets[1:] - 1), memory_pool=pool)
    dirs = pc.take(flat, pa.array(offsets[:-1]), memory_pool=pool)
    single = np.diff(offsets) != 2
    if single.any():
        dirs = pc.if_else(pa.array(single), ".", dirs, memory_pool=pool)
    if pc.any(pc.equal(dirs, "")).as_py():
        dirs = pc.if_else(pc.equal(dirs, ""), "/", dirs, memory_pool=pool)  # "/c": the root
    return dirs, names


def _check_names(names: pa.Array, paths: pa.Array) -> None:
    """Every final name a valid directory entry (validate_name's rules), else InvalidNameError.
    Names of 3 to MAX_NAME_BYTES bytes without a NUL byte (one pass over the lengths and one
    over the bytes) are all valid: the usual batch skips the checks of each name."""
    if not len(names):
        return
    lengths = pc.min_max(pc.binary_length(names))
    if lengths["min"].as_py() >= 3 and lengths["max"].as_py() <= MAX_NAME_BYTES and not _has_nul(names):
        return
    bad = pc.or_(pc.is_in(names, pa.array(["", ".", ".."])), pc.match_substring(names, "\x00"))
    bad = pc.or_(bad, pc.greater(pc.binary_length(names), MAX_NAME_BYTES))
    if pc.any(bad).as_py():
        bad_name(paths[pc.index(bad, True).as_py()].as_py())


def _has_nul(strings: pa.Array) -> bool:
    """Does any value of a string array hold a NUL byte?"""
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32, count=len(strings) + 1, offset=strings.offset * 4)
    data = strings.buffers()[2]
    if data is None:
        return False
    return not np.frombuffer(data, dtype=np.uint8)[offsets[0]:offsets[-1]].all()


def _distinct(index: pa.Array, names: pa.Array, parent_rows: list[NodeRow]) -> bool:
    """Cheap proof that no two entries are one (sorted input, the usual case): no two directory
    spellings are one directory, and (directory index, name) strictly ascends. False: check keys."""
    if len({row.node_id for row in parent_rows}) != len(parent_rows):
        return False
    count = len(names)
    if count < 2:
        return True
    order = index.to_numpy(zero_copy_only=False)
    if (order[1:] < order[:-1]).any():
        return False
    same = pa.array(order[1:] == order[:-1])
    ascending = pc.less(names.slice(0, count - 1), names.slice(1))
    return bool(pc.all(pc.or_(pc.invert(same), ascending)).as_py())


def stage(tx: Transaction, start: Directory, batch: Batch, parents: bool, exist_ok: bool) -> int:
    """Add the batch's ops to ``tx``: directories through the per-op path (there are few), files and
    symlinks as one Arrow table of creates; existing files are rewritten with ``exist_ok``.
    Returns the number of ops added."""
    if not len(batch):
        return 0
    before = tx.op_count()
    if len(batch) <= smallbatch.SMALL_BATCH:  # plain Python lists: cheaper for a few hundred entries
        smallbatch.stage(tx, start, batch, parents, exist_ok)
        return tx.op_count() - before
    dirs, names = _split(batch.path)
    _check_names(names, batch.path)
    is_dir = None if batch.files_only else pc.equal(batch.kind, "dir")
    # explicit directories first (in path order, so parents come before children)
    explicit = [] if is_dir is None else batch.path.filter(is_dir).to_pylist()
    for path in sorted(explicit):  # a parent sorts before its children
        if parents:
            start._make_parents(tx, path, exist_ok)
        else:
            mkdir(tx, start, path, exist_ok)
    if explicit:
        assert is_dir is not None
        keep = pc.invert(is_dir)
        batch = Batch(*(column.filter(keep) for column in (batch.path, batch.kind, batch.size, batch.sha256,
                                                           batch.content, batch.content_ref, batch.target)))
        dirs, names = dirs.filter(keep), names.filter(keep)
    if not len(batch):
        return tx.op_count() - before
    pool = pool_for(len(batch))  # (a large batch's columns: see largepool.py)
    encoded = pc.dictionary_encode(dirs, memory_pool=pool)  # the folders and each entry's, in one hash pass
    unique, index = encoded.dictionary, encoded.indices  # (as pc.unique, then pc.index_in, gave them)
    found_dirs = directories(tx, start, unique.to_pylist(), parents)
    parent_rows = [found_dirs[path] for path in unique.to_pylist()]
    parent_of = pc.take(pa.array([row.node_id for row in parent_rows], pa.string()), index, memory_pool=pool)
    keys = None
    if not _distinct(index, names, parent_rows):  # the same entry twice (e.g. "a/x" and "a//x")?
        keys = pc.binary_join_element_wise(parent_of, names, "/")
        if repeats(keys):
            seen: set[str] = set()
            for index, key in enumerate(keys.to_pylist()):
                if key in seen:
                    raise PathExistsError(batch.path[index].as_py())
                seen.add(key)
    # what the parents hold already, recorded as read for the commit's re-check: a small batch looks
    # its names up (a few in a large directory), a large one lists each parent once
    existing_keys: list[str] = []
    existing: dict[str, NodeRow] = {}
    if len(batch) <= LOOKUP_MAX:
        for parent_id, name in zip(parent_of.to_pylist(), names.to_pylist(), strict=True):
            found = tx.lookup(parent_id, name)
            if found is not None:
                existing_keys.append(f"{parent_id}/{name}")
                existing[existing_keys[-1]] = found
    else:
        for row in parent_rows:
            for child in tx.children(row.node_id):
                key = f"{row.node_id}/{child.name}"
                existing_keys.append(key)
                existing[key] = child
    if existing_keys:
        keys = pc.binary_join_element_wise(parent_of, names, "/") if keys is None else keys
        taken = pc.is_in(keys, pa.array(existing_keys, pa.string()))
        fresh = pc.invert(taken)
        if pc.any(taken).as_py():
            _rewrite(tx, batch, keys, taken, existing, exist_ok)
            batch = Batch(*(column.filter(fresh) for column in (batch.path, batch.kind, batch.size, batch.sha256,
                                                                batch.content, batch.content_ref, batch.target)))
            parent_of, names = parent_of.filter(fresh), names.filter(fresh)
    for row, path in zip(parent_rows, unique.to_pylist(), strict=True):
        tx.claim_dir(path, row.node_id)
    if len(batch):
        tx.add_bulk(creates(batch, parent_of, names), batch.path)
    return tx.op_count() - before


def _rewrite(tx: Transaction, batch: Batch, keys: pa.Array, taken: pa.Array, existing: dict[str, NodeRow],
             exist_ok: bool) -> None:
    """Entries that exist: with ``exist_ok`` a file gets the new content as a write op (a same
    symlink is left alone); anything else is the per-op error."""
    # (the taken rows' columns as Python lists at once: a scalar's as_py per value cost ~1 us each)
    columns = [column.filter(taken).to_pylist() for column in (
        batch.path, keys, batch.kind, batch.target, batch.size, batch.sha256, batch.content, batch.content_ref)]
    rewrite_rows(tx, zip(*columns, strict=True), existing, exist_ok)


def create(pond: Pond, start: Directory, batch: Batch, parents: bool, exist_ok: bool, message: str | None,
           author: str | None) -> int | None:
    """Stage the batch in the current transaction, or commit it as one of its own; returns the
    version it committed (None inside an explicit transaction, which commits later)."""
    if not isinstance(parents, bool) or not isinstance(exist_ok, bool):
        raise InvalidArgumentError("parents and exist_ok must be True or False")
    if pond._tx() is not None:
        stage(pond._tx(), start, batch, parents, exist_ok)  # type: ignore[arg-type]
        return None
    pond._write(lambda tx: stage(tx, start, batch, parents, exist_ok), message or f"create {len(batch)} entries",
                author=author)
    return pond.last_committed_version


def files_mapping(items: Iterable[tuple[str, Any]] | Mapping[str, Any]) -> Mapping[str, Any]:
    """A mapping from a mapping or (path, content) pairs."""
    return items if isinstance(items, Mapping) else dict(items)
