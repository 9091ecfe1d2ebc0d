"""An fsspec filesystem over a pond: ``fsspec.filesystem("tinylogsql", pond=PATH)``.

Registered under the protocol ``tinylogsql`` through the ``fsspec.specs`` entry point, so
pandas, pyarrow, dask and friends can read and write pond files by URL::

    pandas.read_csv("tinylogsql://data/x.csv", storage_options={"pond": "./pond"})
    df.to_parquet("tinylogsql://data/x.parquet", storage_options={"pond": "./pond"})

It is thin, like fsspec's memory filesystem: every call maps onto the directory API of one
``Pond`` and keeps no state of its own (no listings cache), so it sees every commit, from any
writer, on its next call. Paths are absolute pond paths ("/data/x.csv"); the URL forms
``tinylogsql://data/x.csv`` and ``tinylogsql:///data/x.csv`` name the same file.

Writes: a file opened for writing is committed when it is closed (one Delta commit per closed
file); missing parent directories are created in that same commit (``auto_mkdir``, as object
stores behave). ``copy``, ``put``, ``rm`` and ``mv`` of many paths, and everything inside
``with fs.transaction:``, land in one commit. ``at=VERSION`` gives a read-only filesystem on
that version, whose writes raise ``ReadOnlyError`` (a PermissionError).
"""

from __future__ import annotations

import io
import os
import posixpath
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from fsspec import AbstractFileSystem
from fsspec.transaction import Transaction as _FsspecTransaction
from fsspec.utils import stringify_path

from .errors import (
    IsADirError,
    NotADirError,
    PathExistsError,
    PathNotFoundError,
    ReadOnlyError,
    SymlinkLoopError,
)
from .export import move
from .history import parse_version
from .nodes import Directory, Node, NodeStat
from .paths import MAX_SYMLINK_HOPS
from .pond import Pond

PROTOCOL = "tinylogsql"


class PondTransaction(_FsspecTransaction):
    """``with fs.transaction:``: every file written in the block lands in one pond commit."""

    def complete(self, commit: bool = True) -> None:
        fs = self.fs
        if fs is None or not commit or not self.files:
            super().complete(commit)
            return
        with fs._batch("fsspec transaction"):
            super().complete(commit)


class PondFile(io.BytesIO):
    """A file opened for writing: buffered in memory, committed to the pond when closed."""

    def __init__(self, fs: PondFileSystem, path: str, mode: str, data: bytes = b"", autocommit: bool = True) -> None:
        super().__init__(data)
        if "a" in mode:
            self.seek(0, io.SEEK_END)
        self.fs, self.path, self.mode, self.autocommit = fs, path, mode, autocommit
        self._done = False

    def close(self) -> None:
        if self.closed:
            return
        self._data = self.getvalue()
        super().close()
        if self.autocommit:
            self.commit()

    def commit(self) -> None:
        """Write the content to the pond as one commit (or into the enclosing batch)."""
        if self._done:
            return
        self._done = True
        data = self._data if self.closed else self.getvalue()
        self.fs._write(self.path, data, exclusive="x" in self.mode)

    def discard(self) -> None:
        self._done = True

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:  # an exception in the with block: nothing is committed
            self._done = True
        self.close()


class _PondCached(type(AbstractFileSystem)):  # type: ignore[misc]
    """fsspec caches instances by the repr of their arguments; a Pond object given as ``pond`` is
    its own identity (author, open connection), so an instance built on one is never shared."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if isinstance(kwargs.get("pond", args[0] if args else None), Pond):
            kwargs["skip_instance_cache"] = True
        return super().__call__(*args, **kwargs)


class PondFileSystem(AbstractFileSystem, metaclass=_PondCached):
    """fsspec access to one pond (at its newest version, or read-only at ``at``).

    Parameters: ``pond`` the pond's location (default: ``$TINYLOGSQL_POND``, then ``./pond``) or an
    open ``Pond`` (used as is, not closed); ``at`` a version number or ISO time for a read-only
    view; ``author`` for the commits (default: the given Pond's author, else ``$TINYLOGSQL_AUTHOR``,
    then the OS user); ``auto_mkdir`` create missing parent directories on write (default True).
    """

    protocol = PROTOCOL
    root_marker = "/"
    transaction_type = PondTransaction

    def __init__(self, pond: str | os.PathLike[str] | Pond | None = None, at: int | str | None = None,
                 author: str | None = None, auto_mkdir: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(pond, Pond):
            self._live = pond
        else:
            location = pond if pond is not None else os.environ.get("TINYLOGSQL_POND", "./pond")
            self._live = Pond.open(location, author=author)
        self.author = author or self._live.author
        self.pond = self._live.at(parse_version(at)) if at is not None else self._live
        self.auto_mkdir = auto_mkdir
        self._local = threading.local()

    # -- paths -----------------------------------------------------------------------
    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = stringify_path(path)
        for prefix in (f"{PROTOCOL}://", f"{PROTOCOL}::"):
            if path.startswith(prefix):
                path = path[len(prefix):]
        return "/" + "/".join(part for part in path.split("/") if part)

    def unstrip_protocol(self, name: str) -> str:
        return f"{PROTOCOL}://{self._strip_protocol(name)}"

    @property
    def root(self) -> Directory:
        return self.pond.root

    # -- reading -------------------------------------------------------------------
    def _follow(self, path: str) -> tuple[Node | None, Node | None]:
        """(the node at path, where its symlinks lead: None if dangling or a loop)."""
        node = self.root.get(path)
        first, hops = node, 0
        while node is not None and node.kind == "symlink":
            hops += 1
            if hops > MAX_SYMLINK_HOPS:
                return first, None
            link = node.stat()
            target = link.target or ""
            path = target if target.startswith("/") else posixpath.join(posixpath.dirname(link.path), target)
            try:
                node = self.root.get(path)
            except (NotADirError, SymlinkLoopError):
                return first, None
        return first, node

    def _info(self, path: str, stat: NodeStat | None = None) -> dict[str, Any]:
        first, node = self._follow(path)
        if first is None:
            raise PathNotFoundError(path)
        own = stat or first.stat()
        real = own if node is first else (node.stat() if node is not None else None)
        kind = {"dir": "directory", "file": "file"}.get(real.kind, "other") if real is not None else "other"
        out: dict[str, Any] = {
            "name": path,
            "size": (real.size or 0) if real is not None else 0,
            "type": kind,
            "created": real.created if real is not None else own.created,
            "modified": real.modified if real is not None else own.modified,
            "version": real.version if real is not None else own.version,
            "sha256": real.sha256 if real is not None else None,
            "node_id": own.node_id,
            "islink": own.kind == "symlink",
        }
        if own.kind == "symlink":
            out["destination"] = own.target
        return out

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        return self._info(self._strip_protocol(path))

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        path = self._strip_protocol(path)
        info = self._info(path)
        if info["type"] != "directory":
            return [info] if detail else [path]
        listing = self.root.open_dir_path(path).listing()
        base = path.rstrip("/")
        out = []
        for entry in listing:
            name = f"{base}/{entry.name}"
            if entry.kind == "symlink":
                out.append(self._info(name) if detail else name)
            elif detail:
                kind = "directory" if entry.kind == "dir" else "file"
                out.append({"name": name, "size": entry.size or 0, "type": kind, "created": entry.created,
                            "modified": entry.modified, "version": entry.version, "sha256": entry.sha256,
                            "node_id": entry.node_id, "islink": False})
            else:
                out.append(name)
        return out

    def islink(self, path: str) -> bool:
        node = self.root.get(self._strip_protocol(path))
        return node is not None and node.kind == "symlink"

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        data = self.root.read_file_path(self._strip_protocol(path))
        return data[start:end] if start is not None or end is not None else data

    def created(self, path: str) -> datetime:
        return self.info(path)["created"]

    def modified(self, path: str) -> datetime:
        return self.info(path)["modified"]

    def _open(self, path: str, mode: str = "rb", block_size: int | None = None, autocommit: bool = True,
              cache_options: dict[str, Any] | None = None, **kwargs: Any) -> io.BytesIO:
        path = self._strip_protocol(path)
        if mode == "rb":
            return io.BytesIO(self.root.read_file_path(path))
        if mode not in ("wb", "xb", "ab"):
            raise ValueError(f"unsupported file mode for {type(self).__name__}: {mode!r}")
        if self.pond.read_only:
            raise ReadOnlyError(path, f"this filesystem reads the pond at version {self.pond.version}")
        if mode == "xb" and self.root.get(path) is not None:
            raise PathExistsError(path)
        if self.root.exists(path) and self.isdir(path):
            raise IsADirError(path)
        data = self.root.read_file_path(path) if mode == "ab" and self.root.exists(path) else b""
        return PondFile(self, path, mode, data, autocommit)

    # -- writing -------------------------------------------------------------------
    @contextmanager
    def _batch(self, message: str) -> Iterator[None]:
        """One pond commit for everything in the block (joins an enclosing batch)."""
        if getattr(self._local, "batch", False):
            yield
            return
        self._local.batch = True
        try:
            with self.pond.transaction(message=message, author=self.author):
                yield
        finally:
            self._local.batch = False

    def _write(self, path: str, data: bytes, exclusive: bool = False) -> None:
        with self._batch(f"fsspec write {path}"):
            parent = posixpath.dirname(path)
            if self.auto_mkdir and parent != "/" and self.root.get(parent) is None:
                self.root.create_dir_path(parent, parents=True, exist_ok=True)
            if exclusive:
                self.root.create_file_path(path, data)
            else:
                self.root.write_file_path(path, data)

    def pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        self._write(self._strip_protocol(path), bytes(value), exclusive=mode == "create")

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        with self._batch(f"fsspec mkdir {path}"):
            self.root.create_dir_path(self._strip_protocol(path), parents=create_parents)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        with self._batch(f"fsspec makedirs {path}"):
            self.root.create_dir_path(self._strip_protocol(path), parents=True, exist_ok=exist_ok)

    def rmdir(self, path: str) -> None:
        path = self._strip_protocol(path)
        node = self.root.get(path)
        if node is None:
            raise PathNotFoundError(path)
        if node.kind != "dir":
            raise NotADirError(path)
        with self._batch(f"fsspec rmdir {path}"):
            self.root.remove(path)

    def rm_file(self, path: str) -> None:
        path = self._strip_protocol(path)
        node = self.root.get(path)
        if node is not None and node.kind == "dir":
            raise IsADirError(path)
        with self._batch(f"fsspec rm {path}"):
            self.root.remove(path)

    _rm = rm_file

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        paths = self.expand_path(path, recursive=recursive, maxdepth=maxdepth)
        with self._batch(f"fsspec rm {path}"):
            for p in sorted(paths, reverse=True):  # descendants before their directory
                if self.root.get(p) is None:
                    raise PathNotFoundError(p)
                self.root.remove(p, recursive=recursive)

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        path1, path2 = self._strip_protocol(path1), self._strip_protocol(path2)
        if self.isdir(path1):
            self.makedirs(path2, exist_ok=True)
        else:
            self._write(path2, self.root.read_file_path(path1))

    def copy(self, path1: Any, path2: Any, recursive: bool = False, maxdepth: int | None = None,
             on_error: str | None = None, **kwargs: Any) -> None:
        with self._batch(f"fsspec copy {path1} -> {path2}"):
            super().copy(path1, path2, recursive=recursive, maxdepth=maxdepth, on_error=on_error, **kwargs)

    def put(self, lpath: Any, rpath: Any, recursive: bool = False, **kwargs: Any) -> None:
        with self._batch(f"fsspec put {rpath}"):
            super().put(lpath, rpath, recursive=recursive, **kwargs)

    def mv(self, path1: Any, path2: Any, recursive: bool = False, maxdepth: int | None = None, **kwargs: Any) -> None:
        """Move with ``mv``'s rules: one move op, so the node (and its history) is kept."""
        if isinstance(path1, str) and isinstance(path2, str) and maxdepth is None:
            src, dst = self._strip_protocol(path1), self._strip_protocol(path2)
            if src != dst and self.root.get(src) is not None:
                with self._batch(f"fsspec mv {src} -> {dst}"):
                    move(self.pond, src, dst)
                return
        with self._batch(f"fsspec mv {path1} -> {path2}"):
            super().mv(path1, path2, recursive=recursive, maxdepth=maxdepth, **kwargs)

    def invalidate_cache(self, path: str | None = None) -> None:
        """Nothing to do: this filesystem keeps no cache; every call reads the pond."""


__all__ = ["PondFileSystem", "PondFile", "PROTOCOL"]
