"""Copying between the host filesystem and a pond, and ``mv``'s rules; shared by the CLI and fsspec.

- ``plan_put`` + ``put``: local files and whole folders into the pond, in one commit.
- ``get``: a pond file or folder out to the host; ``export``: the whole tree at a version.
- ``move``: ``mv``'s rules (into an existing directory, else rename) over ``Directory.rename``.

Symlinks: ``put`` follows the paths given on the command line and stores symlinks found inside
folders as pond symlinks with the same target text. ``get``/``export`` write pond symlinks as
host symlinks; an absolute pond target is rewritten relative to the link, so an exported tree
stays self-contained instead of pointing into the host's own root.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from .errors import IsADirError, NotADirError, PathExistsError, PathNotFoundError, SymlinkLoopError

if TYPE_CHECKING:
    from .nodes import Directory, NodeStat
    from .pond import Pond

CHUNK = 1 << 20


class PutItem(NamedTuple):
    """One thing ``put`` will create: a directory, a file (from ``local``) or a symlink."""

    kind: str  # dir | file | symlink
    local: Path
    dest: str  # absolute pond path
    size: int  # bytes to copy (files only)
    target: str | None = None  # symlink target text


def _join(base: str, *names: str) -> str:
    return posixpath.join(base.rstrip("/") or "/", *names)


def _absolute(path: str) -> str:
    return posixpath.normpath("/" + path.lstrip("/")) if path else "/"


def plan_put(pond: Pond, sources: Iterable[str | os.PathLike[str]], dest: str) -> list[PutItem]:
    """What ``put`` would create, parents before children, like ``cp -r SOURCES... DEST``.

    DEST is a directory to copy into when it exists as one, ends in "/", or several sources are
    given; otherwise the single source is copied to DEST itself. A source folder written with a
    trailing slash ("dir/") has its contents copied into DEST, as rsync does.
    """
    raw = [os.fspath(s) for s in sources]
    contents_of = {Path(s) for s in raw if s.endswith(("/", os.sep)) and Path(s).is_dir()}
    sources = [Path(s) for s in raw]
    if not sources:
        raise ValueError("nothing to put: give at least one local file or folder")
    for source in sources:
        if not source.exists():
            raise PathNotFoundError(str(source), "local path")
    dest_abs = _absolute(dest)
    dest_is_dir = is_dir(pond, dest_abs)
    into = dest_is_dir or dest.endswith("/") or len(sources) > 1
    if into and not dest_is_dir and pond.root.get(dest_abs) is not None:
        raise NotADirError(dest_abs)
    items: list[PutItem] = []
    if into and not dest_is_dir:
        items.append(PutItem("dir", Path("."), dest_abs, 0))
    for source in sources:
        # "dir/" (trailing slash) copies the folder's contents into DEST, as rsync does
        target = _join(dest_abs, source.resolve().name) if into and source not in contents_of else dest_abs
        if source.is_dir():
            items.append(PutItem("dir", source, target, 0))
            for folder, dirs, files in os.walk(source):
                dirs.sort()
                here = Path(folder)
                rel = here.relative_to(source).as_posix()
                base = target if rel == "." else _join(target, *rel.split("/"))
                for name in list(dirs):
                    local = here / name
                    if local.is_symlink():
                        items.append(PutItem("symlink", local, _join(base, name), 0, os.readlink(local)))
                        dirs.remove(name)
                    else:
                        items.append(PutItem("dir", local, _join(base, name), 0))
                for name in sorted(files):
                    local = here / name
                    if local.is_symlink():
                        items.append(PutItem("symlink", local, _join(base, name), 0, os.readlink(local)))
                    else:
                        items.append(PutItem("file", local, _join(base, name), local.stat().st_size))
        else:
            items.append(PutItem("file", source, target, source.stat().st_size))
    return items


def is_dir(pond: Pond, path: str) -> bool:
    """Is ``path`` a directory, or a symlink leading to one?"""
    try:
        pond.root.open_dir_path(path)
        return True
    except (PathNotFoundError, NotADirError, SymlinkLoopError):
        return False


def put(pond: Pond, items: list[PutItem], message: str | None = None,
        on_file: Callable[[PutItem], None] | None = None, author: str | None = None,
        unchanged: list[str] | None = None) -> int:
    """Create ``items`` (from ``plan_put``) in one commit; return the Delta version it made
    (the pond's version if nothing changed: then there is no commit).

    Existing directories are kept (merged into); existing files get a new content version unless
    they already hold the same bytes (sha256): those are left alone and their paths appended to
    ``unchanged``. Anything else in the way (a file where a folder goes) fails the whole commit.
    """
    from .sync import local_content, same_content

    root = pond.root
    fresh: dict[str, Path] = {}  # files in directories this put makes: created at the end, in bulk
    made: set[str] = set()
    by_dest = {item.dest: item for item in items}
    with pond.transaction(message=message or f"put {len(items)} item(s)", author=author) as tx:
        for item in items:
            if item.kind == "dir":
                if item.dest in made or (posixpath.dirname(item.dest) in made) or root.get(item.dest) is None:
                    made.add(item.dest)
                root.create_dir_path(item.dest, parents=True, exist_ok=True)
            elif item.kind == "file" and posixpath.dirname(item.dest) in made:
                fresh[item.dest] = item.local
                continue
            elif item.kind == "symlink":
                existing = root.get(item.dest)
                if existing is not None:
                    if existing.kind != "symlink":
                        raise PathExistsError(item.dest)
                    if existing.stat().target == item.target:  # already there: no op
                        if unchanged is not None:
                            unchanged.append(item.dest)
                        continue
                    root.remove(item.dest)
                root.create_symlink_path(item.dest, item.target or "")
            else:
                existing = root.get(item.dest, follow_symlinks=True)
                if existing is not None and same_content(item.local, item.size, existing.stat()):
                    if unchanged is not None:
                        unchanged.append(item.dest)
                else:
                    data = local_content(item.local, item.size)
                    try:
                        root.write_file_path(item.dest, data)  # type: ignore[arg-type]
                    finally:
                        if not isinstance(data, bytes):
                            data.close()
            if on_file is not None:
                on_file(item)
        if fresh:
            root.create_files(fresh, parents=False,
                              on_file=None if on_file is None else lambda dest, size: on_file(by_dest[dest]))
    assert tx.committed_version is not None
    return tx.committed_version


def _local_link_target(link_pond_path: str, target: str) -> str:
    if not target.startswith("/"):
        return target
    return posixpath.relpath(target, posixpath.dirname(link_pond_path))


def get(pond: Pond, src: str, local: str | os.PathLike[str],
        on_file: Callable[[str, int], None] | None = None) -> list[Path]:
    """Copy a pond file, symlink or folder to the host, like ``cp -r``; return the host paths written.

    When ``local`` is an existing folder, ``src`` is copied into it under its own name.
    Files get the node's modification time.
    """
    root = pond.root
    node = root.get(src)
    if node is None:
        raise PathNotFoundError(src)
    info = node.stat()
    local = Path(local)
    if local.is_dir() and info.path != "/":
        local = local / info.name
    written: list[Path] = []
    if info.kind == "symlink" and root.exists(src):  # SRC itself is followed, as cp does
        if is_dir(pond, src):
            _get_dir(pond, root.open_dir_path(src), local, written, on_file)
        else:
            _get_one(pond, src, info._replace(kind="file"), local, written, on_file)
    elif info.kind == "dir":
        _get_dir(pond, root.open_dir_path(src), local, written, on_file)
    else:
        _get_one(pond, info.path, info, local, written, on_file)
    return written


def _get_one(pond: Pond, path: str, info: NodeStat, local: Path, written: list[Path],
             on_file: Callable[[str, int], None] | None) -> None:
    if info.kind == "symlink":
        if local.is_symlink() or local.exists():
            raise PathExistsError(str(local), "local path")
        os.symlink(_local_link_target(path, info.target), local)
    else:
        data = pond.root.read_file_path(path)
        if local.is_dir():
            raise IsADirError(str(local), "local path")
        local.write_bytes(data)
        if info.modified is not None:
            stamp = info.modified.timestamp()
            os.utime(local, (stamp, stamp))
        if on_file is not None:
            on_file(path, len(data))
    written.append(local)


def _get_dir(pond: Pond, directory: Directory, local: Path, written: list[Path],
             on_file: Callable[[str, int], None] | None) -> None:
    local.mkdir(parents=True, exist_ok=True)
    written.append(local)
    for info in directory.listing():
        target = local / info.name
        if info.kind == "dir":
            _get_dir(pond, pond.root.open_dir_path(info.path), target, written, on_file)
        else:
            _get_one(pond, info.path, info, target, written, on_file)


def export(pond: Pond, local_dir: str | os.PathLike[str],
           on_file: Callable[[str, int], None] | None = None) -> list[Path]:
    """Write the pond's whole tree (at its version: use ``pond.at(v)``) into an empty or new folder."""
    local = Path(local_dir)
    if local.exists() and (not local.is_dir() or any(local.iterdir())):
        raise PathExistsError(str(local), "export needs an empty or new folder")
    local.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for info in pond.root.listing():
        target = local / info.name
        if info.kind == "dir":
            _get_dir(pond, pond.root.open_dir_path(info.path), target, written, on_file)
        else:
            _get_one(pond, info.path, info, target, written, on_file)
    return written


def move(pond: Pond, src: str, dst: str) -> str:
    """``mv SRC DST``: into DST when it is a directory (or a symlink to one), else rename; one commit.

    Returns the new absolute path. Replacing follows ``os.rename``'s rules.
    """
    root = pond.root
    node = root.get(src)
    if node is None:
        raise PathNotFoundError(src)
    name = node.stat().name
    target = dst
    if is_dir(pond, dst):
        dir_path = root.open_dir_path(dst).path
        if dir_path != node.path:
            target = _join(dir_path, name)
    root.rename(src, target)
    moved = root.get(target)
    return moved.path if moved is not None else _absolute(target)


__all__ = ["is_dir", "PutItem", "plan_put", "put", "get", "export", "move"]
