"""``bulk.stage`` for a small batch (import-git's commit of ~200 files, a sync of a few changes): the same
ops, with the same errors, computed on Python lists instead of Arrow columns.

Why: each Arrow compute call costs ~10-30 us whatever its length, and staging a batch takes ~30 of
them (split, checks, unique, index, keys, filters of seven columns twice); for 160 paths that was
~1 ms a commit, the plain loops below ~0.3 ms. The create rows are still one Arrow table
(``batch.creates``), so the commit, its re-check and the fold are the bulk path's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from .batch import Batch, creates
from .batchops import bad_name, directories, mkdir, rewrite_rows
from .errors import PathExistsError
from .paths import MAX_NAME_BYTES

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


def stage(tx: Transaction, start: Directory, batch: Batch, parents: bool, exist_ok: bool) -> None:
    """Add the batch's ops to ``tx`` (see ``bulk.stage``, which calls this for a batch of at most
    SMALL_BATCH entries)."""
    paths: list[str] = batch.path.to_pylist()
    kinds: list[str] = batch.kind.to_pylist()
    dirs, names = [], []
    for path in paths:
        folder, name = split(path)
        if _bad(name):
            bad_name(path)
        dirs.append(folder)
        names.append(name)
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
    unique = list(dict.fromkeys(dirs))  # (in the order of first use, as pc.unique)
    found = directories(tx, start, unique, parents)
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
    fresh = list(range(len(paths)))
    if existing:
        taken = [index for index, key in enumerate(keys) if key in existing]
        where = pa.array(taken, pa.int64())
        columns = [batch.kind, batch.target, batch.size, batch.sha256, batch.content, batch.content_ref]
        values = [column.take(where).to_pylist() for column in columns]
        rewrite_rows(tx, zip([paths[i] for i in taken], [keys[i] for i in taken], *values, strict=True), existing,
                     exist_ok)
        fresh = [index for index, key in enumerate(keys) if key not in existing]
    for path in unique:
        tx.claim_dir(path, parent_rows[path].node_id)
    if len(fresh) < len(paths):
        if not fresh:
            return
        batch = _take(batch, fresh)
        parent_of, names = [parent_of[i] for i in fresh], [names[i] for i in fresh]
    tx.add_bulk(creates(batch, pa.array(parent_of, pa.string()), pa.array(names, pa.string())), batch.path)


def _take(batch: Batch, indices: list[int]) -> Batch:
    """The entries of ``batch`` at ``indices``, in that order."""
    where = pa.array(indices, pa.int64())
    return Batch(*(column.take(where) for column in (batch.path, batch.kind, batch.size, batch.sha256, batch.content,
                                                      batch.content_ref, batch.target)))
