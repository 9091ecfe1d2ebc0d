"""Pond files for DuckDB: a read-only fsspec filesystem registered on the SQL connection.

``read_csv('tinylogsql:///data/x.csv')`` reaches DuckDB as
``tinylogsql:///@v<version>/data/x.csv`` (see ``sandbox.pin_path``), so every read happens
at the version the query runs at. It is the only directory DuckDB may touch: external
access stays off for everything else.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

from fsspec import AbstractFileSystem

from .errors import PathNotFoundError, ReadOnlyError

_PINNED = re.compile(r"^/*@v(\d+)(/.*)?$")

Reader = Callable[[int, str], Any]


class PondSQLFiles(AbstractFileSystem):
    """Read-only, version-pinned view of a pond's files for DuckDB's ``read_*`` functions."""

    protocol = "tinylogsql"
    cachable = False

    @classmethod
    def for_pond(cls, open_pond: Callable[[int], Any]) -> PondSQLFiles:
        """A new instance bound to a pond (set after construction: fsspec tokenises init arguments)."""
        files = cls()
        files._open_pond = open_pond
        return files

    _open_pond: Callable[[int], Any]

    def _split(self, path: str) -> tuple[int, str]:
        text = path.split("://", 1)[-1]
        match = _PINNED.match(text)
        if not match:
            raise PathNotFoundError(path, "not a version-pinned pond path")
        return int(match.group(1)), match.group(2) or "/"

    def _info(self, version: int, pond_path: str, name: str) -> dict[str, Any]:
        node = self._open_pond(version).root.get(pond_path, follow_symlinks=True)
        if node is None:
            raise FileNotFoundError(name)
        if node.kind == "dir":
            return {"name": name, "size": 0, "type": "directory"}
        return {"name": name, "size": node.size, "type": "file"}

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        version, pond_path = self._split(path)
        return self._info(version, pond_path, path)

    def modified(self, path: str) -> Any:
        version, pond_path = self._split(path)
        node = self._open_pond(version).root.get(pond_path, follow_symlinks=True)
        if node is None:
            raise FileNotFoundError(path)
        return node.modified

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        version, pond_path = self._split(path)
        directory = self._open_pond(version).root.open_dir_path(pond_path)
        base = f"@v{version}{pond_path.rstrip('/')}"
        out = [
            self._info(version, f"{pond_path.rstrip('/')}/{name}", f"{base}/{name}") for name, _ in directory.entries()
        ]
        return out if detail else [entry["name"] for entry in out]

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if "r" not in mode or "+" in mode:
            raise ReadOnlyError(path, "SQL reads pond files; it never writes them")
        version, pond_path = self._split(path)
        return io.BytesIO(self._open_pond(version).root.read_file_path(pond_path))
