"""Pond files for DuckDB: a read-only fsspec filesystem registered on a query's sandbox connection.

The filesystem is bound to the version the query runs at, so ``read_csv('tinylogsql:///data/x.csv')``
reads that version with no rewriting of the query. ``tinylogsql:///@v<N>/...`` (the only place
``@v<N>`` is accepted: the first path component) reads an older version, never a later one.
Globs (``*``, ``**``, ``?``, ``[...]``) are expanded inside the pond at the version, and the names
DuckDB reports (its ``filename`` column) are the user's ``tinylogsql:///...`` paths.
"""

from __future__ import annotations

import fnmatch
import io
import re
from collections.abc import Callable, Iterator
from typing import Any

from fsspec import AbstractFileSystem

from .errors import IsADirError, PathNotFoundError, ReadOnlyError

POND_SCHEME = "tinylogsql://"
_VERSIONED = re.compile(r"^@v(\d+)$")
_MAGIC = re.compile(r"[*?\[]")
GLOB_MAX = 100_000
"""A glob over pond paths stops with an error past this many matches."""

Opener = Callable[[int], Any]


class PondSQLFiles(AbstractFileSystem):
    """Read-only view of one pond at one version for DuckDB's ``read_*`` functions."""

    protocol = "tinylogsql"
    cachable = False

    @classmethod
    def bound(cls, open_pond: Opener, version: int) -> PondSQLFiles:
        """An instance reading through ``open_pond(v)`` at ``version`` (attributes are set after
        construction: fsspec tokenises init arguments)."""
        files = cls()
        files._open_pond = open_pond
        files.version = version
        return files

    _open_pond: Opener
    version: int

    def _split(self, path: str) -> tuple[int, str, str]:
        """(version, pond path, prefix to report) of a path DuckDB gives, which must be exactly one
        ``tinylogsql://`` followed by an absolute pond path, optionally starting with ``@v<N>``."""
        text = path[len(POND_SCHEME):] if path.startswith(POND_SCHEME) else path
        if "://" in text or not text.startswith("/") or "\\" in text or "\x00" in text:
            raise PathNotFoundError(path, "not a pond path (tinylogsql:///dir/file)")
        parts = [part for part in text.split("/") if part not in ("", ".")]
        version, prefix = self.version, ""
        if parts and parts[0].startswith("@v"):
            match = _VERSIONED.match(parts[0])
            if match is None:
                raise PathNotFoundError(path, "a version prefix is @v<N>")
            version = int(match.group(1))
            if version > self.version:
                raise PathNotFoundError(path, f"version {version} is after the query's version {self.version}")
            prefix = f"/{parts[0]}"
            parts = parts[1:]
        if ".." in parts:
            raise PathNotFoundError(path, "'..' is not allowed in a pond path")
        return version, "/" + "/".join(parts), prefix

    def _pond_root(self, version: int) -> Any:
        return self._open_pond(version).root

    def _info(self, version: int, pond_path: str, name: str) -> dict[str, Any]:
        node = self._pond_root(version).get(pond_path, follow_symlinks=True)
        if node is None:
            raise FileNotFoundError(name)
        if node.kind == "dir":
            return {"name": name, "size": 0, "type": "directory"}
        return {"name": name, "size": node.size, "type": "file"}

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        version, pond_path, _ = self._split(path)
        return self._info(version, pond_path, path)

    def modified(self, path: str) -> Any:
        version, pond_path, _ = self._split(path)
        node = self._pond_root(version).get(pond_path, follow_symlinks=True)
        if node is None:
            raise FileNotFoundError(path)
        return node.modified

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        version, pond_path, prefix = self._split(path)
        directory = self._pond_root(version).open_dir_path(pond_path)
        base = f"{POND_SCHEME}{prefix}{pond_path.rstrip('/')}"
        out = [self._info(version, f"{pond_path.rstrip('/')}/{name}", f"{base}/{name}")
               for name, _ in directory.entries()]
        return out if detail else [entry["name"] for entry in out]

    def glob(self, path: str, **kwargs: Any) -> list[str]:  # type: ignore[override]
        """Files matching a pattern inside the pond at the version (a plain path: itself, if it exists)."""
        version, pond_path, prefix = self._split(path)
        if not _MAGIC.search(pond_path):
            return [f"{POND_SCHEME}{prefix}{pond_path}"]  # DuckDB then reports a missing file itself
        root = self._pond_root(version)
        found = []
        for match in _expand(root, "", [part for part in pond_path.split("/") if part]):
            found.append(f"{POND_SCHEME}{prefix}{match}")
            if len(found) > GLOB_MAX:
                raise PathNotFoundError(path, f"the pattern matches more than {GLOB_MAX} files")
        return sorted(found)

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if "r" not in mode or "+" in mode:
            raise ReadOnlyError(path, "SQL reads pond files; it never writes them")
        version, pond_path, _ = self._split(path if path.startswith(POND_SCHEME) else POND_SCHEME + path)
        node = self._pond_root(version).get(pond_path, follow_symlinks=True)
        if node is not None and node.kind == "dir":
            raise IsADirError(f"{POND_SCHEME}{pond_path}", "a directory, not a file")
        return io.BytesIO(self._pond_root(version).read_file_path(pond_path))


def _expand(directory: Any, at: str, parts: list[str]) -> Iterator[str]:
    """Pond paths of files under ``directory`` (at pond path ``at``) matching glob ``parts``."""
    if not parts:
        return
    head, rest = parts[0], parts[1:]
    if head == "**":
        yield from _expand(directory, at, rest)  # ** matches zero directories...
        for name, node in directory.entries():
            if node.kind == "dir":
                yield from _expand(node, f"{at}/{name}", parts)  # ...or any number
        return
    for name, node in directory.entries():
        if not fnmatch.fnmatchcase(name, head) or (name.startswith(".") and not head.startswith(".")):
            continue
        if rest:
            if node.kind == "dir":
                yield from _expand(node, f"{at}/{name}", rest)
        elif node.kind == "file":
            yield f"{at}/{name}"
