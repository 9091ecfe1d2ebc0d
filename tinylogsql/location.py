"""Where a pond lives: a local folder (later an object-store URI) as a pyarrow filesystem.

The store reads log entries, data files and blobs through ``Location.fs`` and hands
``storage_options`` to deltalake, so one Location serves both libraries.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pyarrow.fs as pafs

LOG_DIR = "log"
"""The Delta table's folder inside a pond."""


@dataclass(frozen=True)
class Location:
    """Where a pond lives: a pyarrow filesystem plus the base path inside it."""

    uri: str
    fs: pafs.FileSystem
    base: str
    storage_options: dict[str, str] | None

    @property
    def table_uri(self) -> str:
        return _join(self.uri, LOG_DIR)

    def path(self, *parts: str) -> str:
        return "/".join([self.base.rstrip("/"), *parts])


def _join(uri: str, part: str) -> str:
    return uri.rstrip("/") + "/" + part


def locate(uri: str | os.PathLike[str], storage_options: dict[str, str] | None = None) -> Location:
    """Turn a pond location into a Location; local folders become absolute paths."""
    text = os.fspath(uri)
    if "://" in text and not text.startswith("file://"):
        raise ValueError(f"unsupported pond location {text!r}: use a local folder")
    if text.startswith("file://"):
        text = text[len("file://") :]
    base = os.path.abspath(text)
    return Location(base, pafs.LocalFileSystem(), base, storage_options)


