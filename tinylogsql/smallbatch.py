"""``bulk.stage`` for a small batch (import-git's commit of ~200 files, a sync of a few changes): the same
ops, with the same errors, computed on Python lists instead of Arrow columns.

Why: each Arrow compute call costs ~10-30 us whatever its length, and staging a batch takes ~30 of
them (split, checks, unique, index, keys, filters of seven columns twice); for 160 paths that was
~1 ms a commit, the plain loops below ~0.3 ms. The create rows are still one Arrow table
(``batch.creates``), so the commit, its re-check and the fold are the bulk path's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from .batch import Batch, creates
from .batchops import bad_name, directories, mkdir, rewrite_rows
from .errors import PathExistsError
from .paths import MAX_NAME_BYTES
from .schema import ROOT_ID

if TYPE_CHECKING:
    from .nodes import Directory
    from .query import NodeRow
    from .txn import Transaction

SMALL_BATCH = 1000
"""Batches up to this many entries are staged here (the lookups of their names are per entry anyway,
up to bulk.LOOKUP_MAX)."""


def split(path: str) -> tuple[str, str]:
    """(directory part, final name) as ``bulk._split`` gives them: "a/b/c" -> ("a/b", "c"),
    "/c" -> ("/", "c"), "c" -> (".", "c"); trailing slashes ignored."""
    head, slash, name = path.rstrip("/").rpartition("/")
    return (head or "/") if slash else ".", name


def _bad(name: str) -> bool:
    """``bulk._check_names``'s rule for one name (a str of up to 63 characters fits in 255 bytes)."""
    return name in ("", ".", "..") or "\x00" in name or (len(name) > 63 and len(name.encode()) > MAX_NAME_BYTES)


def _split_all(paths: list[str]) -> tuple[list[str], list[str]]:
    """Every path's (directory part, final name), as two lists; the InvalidNameError of the first bad name."""
    dirs, names = [], []
    for path in paths:
        folder, name = split(path)
        if _bad(name):
            bad_name(path)
        dirs.append(folder)
        names.append(name)
    return dirs, names


def stage(tx: Transaction, start: Directory, batch: Batch, parents: bool, exist_ok: bool) -> None:
    """Add the batch's ops to ``tx`` (see ``bulk.stage``, which calls this for a batch of at most
    SMALL_BATCH entries)."""
    paths: list[str] = batch.path.to_pylist()
    kinds: list[str] = batch.kind.to_pylist()
    dirs, names = _split_all(paths)
    if "dir" in kinds:  # explicit directories first, in path order (a parent before its children)
        for path in sorted(path for path, kind in zip(paths, kinds, strict=True) if kind == "dir"):
            if parents:
                start._make_parents(tx, path, exist_ok)
            else:
                mkdir(tx, start, path, exist_ok)
        keep = [index for index, kind in enumerate(kinds) if kind != "dir"]
        if not keep:
            return
        paths, dirs, names = [paths[i] for i in keep], [dirs[i] for i in keep], [names[i] for i in keep]
        batch = _take(batch, keep)

    def rewrites(taken: list[int]) -> Iterator[tuple[Any, ...]]:
        where = pa.array(taken, pa.int64())
        columns = [batch.kind, batch.target, batch.size, batch.sha256, batch.content, batch.content_ref]
        return zip(*(column.take(where).to_pylist() for column in columns), strict=True)

    _stage_entries(tx, start, paths, dirs, names, parents, exist_ok, rewrites,
                   lambda fresh: batch if fresh is None else _take(batch, fresh))


def stage_files(tx: Transaction, start: Directory, paths: list[str], contents: list[bytes], digests: list[str],
                batch_of: Callable[[list[str], list[bytes], list[str]], Batch]) -> None:
    """``stage`` (with parents and exist_ok) of regular files of inline size whose hex sha256 is known,
    given as Python lists (import-git's usual commit, at most SMALL_BATCH files): the same ops and
    errors, with Arrow columns built (``batch_of``: ``bulk.batch_of_files``) for the created files only
    (``stage`` built the whole batch, then turned its columns back into lists and took the created
    rows apart: ~20 Arrow calls a commit)."""
    dirs, names = _split_all(paths)

    def rewrites(taken: list[int]) -> Iterator[tuple[Any, ...]]:
        return (("file", None, len(contents[i]), digests[i], contents[i], None) for i in taken)

    def build(fresh: list[int] | None) -> Batch:
        if fresh is None:
            return batch_of(paths, contents, digests)
        return batch_of([paths[i] for i in fresh], [contents[i] for i in fresh], [digests[i] for i in fresh])

    _stage_entries(tx, start, paths, dirs, names, True, True, rewrites, build)


def _stage_entries(tx: Transaction, start: Directory, paths: list[str], dirs: list[str], names: list[str],
                   parents: bool, exist_ok: bool, rewrites: Callable[[list[int]], Iterable[tuple[Any, ...]]],
                   build: Callable[[list[int] | None], Batch]) -> None:
    """The entries (no directories) of a batch, as lists: the existing ones rewritten (``rewrites``: their
    kind, target, size, sha256, content, content_ref), the rest created (``build``: the batch of
    those at the indices given, None for all)."""
    unique = list(dict.fromkeys(dirs))  # (in the order of first use, as pc.unique)
    found = _folders(tx, start, unique, parents)
    parent_rows = {path: found[path] for path in unique}
    parent_of = [parent_rows[folder].node_id for folder in dirs]
    keys = [f"{parent}/{name}" for parent, name in zip(parent_of, names, strict=True)]
    seen: set[str] = set()
    for index, key in enumerate(keys):  # the same entry twice (e.g. "a/x" and "a//x")?
        if key in seen:
            raise PathExistsError(paths[index])
        seen.add(key)
    existing: dict[str, NodeRow] = {}
    for key, parent, name in zip(keys, parent_of, names, strict=True):  # (recorded as read, for the re-check)
        row = tx.lookup(parent, name)
        if row is not None:
            existing[key] = row
    fresh: list[int] | None = None
    if existing:
        taken = [index for index, key in enumerate(keys) if key in existing]
        rewrite_rows(tx, ((paths[i], keys[i], *values) for i, values in zip(taken, rewrites(taken), strict=True)),
                     existing, exist_ok)
        fresh = [index for index, key in enumerate(keys) if key not in existing]
    for path in unique:
        tx.claim_dir(path, parent_rows[path].node_id)
    if fresh is not None:
        if not fresh:
            return
        parent_of, names = [parent_of[i] for i in fresh], [names[i] for i in fresh]
    batch = build(fresh)
    tx.add_bulk(creates(batch, pa.array(parent_of, pa.string()), pa.array(names, pa.string())), batch.path)


def _folders(tx: Transaction, start: Directory, paths: list[str], parents: bool) -> dict[str, NodeRow]:
    """``batchops.directories``, the folders a run of commits carries (``tx.folders``, import-git's) taken
    from there: the rest (new, not plain, or changed by this transaction) walked as before."""
    carried = tx.folders
    if carried is None or start.node_id != ROOT_ID:
        return directories(tx, start, paths, parents)
    found: dict[str, NodeRow] = {}
    missing = []
    for path in paths:
        row = carried.folder(tx, path) if path != "." else None
        if row is None:
            missing.append(path)
        else:
            found[path] = row
    if missing:
        found.update(directories(tx, start, missing, parents))
    return found


def _take(batch: Batch, indices: list[int]) -> Batch:
    """The entries of ``batch`` at ``indices``, in that order."""
    where = pa.array(indices, pa.int64())
    return Batch(*(column.take(where) for column in (batch.path, batch.kind, batch.size, batch.sha256, batch.content,
                                                      batch.content_ref, batch.target)))
