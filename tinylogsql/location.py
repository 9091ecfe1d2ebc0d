"""Where a pond lives: a local folder or an S3(-compatible) URI, as a pyarrow filesystem.

The store reads log entries, data files and blobs through ``Location.fs`` and hands
``storage_options`` to deltalake, so one Location serves both libraries:

- a local folder: ``fs`` is a ``LocalFileSystem``, ``base`` the absolute folder;
- ``s3://bucket/prefix``: ``fs`` is a ``pyarrow.fs.S3FileSystem`` configured from the storage
  options (explicit ones first, then the usual ``AWS_*`` environment variables), ``base`` is
  ``bucket/prefix``, and deltalake gets the same options.

Paths that deltalake hands back (``DeltaTable.file_uris()``: plain paths, ``file://`` or
``s3://`` URIs) become paths inside ``fs`` through ``Location.fs_path``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.fs as pafs

LOG_DIR = "log"
"""The Delta table's folder inside a pond."""

S3_SCHEMES = ("s3", "s3a")

# Storage option names deltalake (object_store) accepts, by what they mean; the first is canonical.
_S3_KEYS: dict[str, tuple[str, ...]] = {
    "AWS_ACCESS_KEY_ID": ("AWS_ACCESS_KEY_ID", "ACCESS_KEY_ID"),
    "AWS_SECRET_ACCESS_KEY": ("AWS_SECRET_ACCESS_KEY", "SECRET_ACCESS_KEY"),
    "AWS_SESSION_TOKEN": ("AWS_SESSION_TOKEN", "SESSION_TOKEN", "AWS_TOKEN", "TOKEN"),
    "AWS_REGION": ("AWS_REGION", "REGION", "AWS_DEFAULT_REGION"),
    "AWS_ENDPOINT_URL": ("AWS_ENDPOINT_URL", "AWS_ENDPOINT", "ENDPOINT_URL", "ENDPOINT", "AWS_ENDPOINT_URL_S3"),
    "AWS_ALLOW_HTTP": ("AWS_ALLOW_HTTP", "ALLOW_HTTP"),
}
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Location:
    """Where a pond lives: a pyarrow filesystem plus the base path inside it."""

    uri: str
    fs: pafs.FileSystem
    base: str
    storage_options: dict[str, str] | None = field(default=None, repr=False)  # may hold secrets

    @property
    def table_uri(self) -> str:
        return _join(self.uri, LOG_DIR)

    @property
    def remote(self) -> bool:
        """True on object storage (each call below is a request), False for a local folder."""
        return not isinstance(self.fs, pafs.LocalFileSystem)

    def path(self, *parts: str) -> str:
        return "/".join([self.base.rstrip("/"), *parts])

    def fs_path(self, uri: str) -> str:
        """A path or URI from deltalake (``file_uris()``, log entries) as a path inside ``fs``."""
        scheme, sep, rest = uri.partition("://")
        if not sep:
            return uri
        if scheme == "file":
            return rest
        if scheme in S3_SCHEMES and self.remote:
            return rest
        raise ValueError(f"{uri!r} is not on this pond's store ({self.uri})")

    def is_file(self, path: str) -> bool:
        """Does the file exist? One stat locally, one HEAD request on object storage.

        (``get_file_info`` on S3 follows a missing key with directory probes: up to three
        requests for the common "no new commit" answer.)
        """
        if not self.remote:
            return self.fs.get_file_info(path).type == pafs.FileType.File
        try:
            self.fs.open_input_file(path).close()
        except FileNotFoundError:
            return False
        except OSError as exc:  # pyarrow reports some missing keys as a plain OSError
            if "does not exist" in str(exc) or "NoSuchKey" in str(exc):
                return False
            raise
        return True

    def write_atomic(self, path: str, data: bytes | pa.Buffer | Callable[[Any], None]) -> None:
        """Write a whole file so that readers see all of it or nothing; ``data`` may be a function
        that writes to the stream it is given (a big file, streamed rather than built in memory).

        Locally: a temporary file beside it, then a rename. On object storage a PUT is
        already atomic, so the object is written directly (one request).
        """
        fill = data if callable(data) else lambda out: out.write(data)
        if self.remote:
            with self.fs.open_output_stream(path) as out:
                fill(out)
            return
        folder = path.rsplit("/", 1)[0]
        tmp = f"{folder}/.tmp-{uuid.uuid4().hex}"
        try:
            with self.fs.open_output_stream(tmp) as out:
                fill(out)
            self.fs.move(tmp, path)
        except OSError as exc:  # full disk, read-only folder: leave no temp file, name the file
            try:
                self.fs.delete_file(tmp)
            except OSError:
                pass
            code = exc.errno or 5
            raise OSError(code, f"cannot write {path}: {os.strerror(code)}", path) from exc


def _join(uri: str, part: str) -> str:
    return uri.rstrip("/") + "/" + part


def locate(uri: str | os.PathLike[str], storage_options: dict[str, str] | None = None) -> Location:
    """Turn a pond location into a Location; local folders become absolute paths."""
    text = os.fspath(uri)
    scheme = text.partition("://")[0].lower() if "://" in text else ""
    if scheme in S3_SCHEMES:
        return _locate_s3(text, storage_options)
    if scheme not in ("", "file"):
        raise ValueError(f"unsupported pond location {text!r}: use a local folder or s3://bucket/prefix")
    if text.startswith("file://"):
        text = text[len("file://") :]
    base = os.path.abspath(text)
    return Location(base, pafs.LocalFileSystem(), base, storage_options)


def s3_options(storage_options: dict[str, str] | None = None, environ: dict[str, str] | None = None) -> dict[str, str]:
    """S3 storage options: explicit ones win, the rest come from the ``AWS_*`` environment variables.

    Names are made canonical (``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``, ...); options this
    module does not know are passed to deltalake unchanged. An ``http://`` endpoint implies
    ``AWS_ALLOW_HTTP=true``.
    """
    env = os.environ if environ is None else environ
    given = {str(k).upper(): str(v) for k, v in (storage_options or {}).items()}
    merged: dict[str, str] = {}
    for canonical, aliases in _S3_KEYS.items():
        value = next((given.pop(a) for a in aliases if a in given), None)
        if value is None:
            value = next((env[a] for a in aliases if a.startswith("AWS_") and env.get(a)), None)
        if value is not None:
            merged[canonical] = value
    merged.update(given)
    if merged.get("AWS_ENDPOINT_URL", "").startswith("http://"):
        merged.setdefault("AWS_ALLOW_HTTP", "true")
    return merged


def _locate_s3(text: str, storage_options: dict[str, str] | None) -> Location:
    parts = urlsplit(text)
    bucket = parts.netloc
    prefix = parts.path.strip("/")
    if len(bucket) < 3 or parts.query or parts.fragment:
        raise ValueError(f"unsupported pond location {text!r}: use s3://bucket/prefix")
    options = s3_options(storage_options)
    base = f"{bucket}/{prefix}" if prefix else bucket
    return Location(f"s3://{base}", _s3_filesystem(options), base, options)


def _s3_filesystem(options: dict[str, str]) -> pafs.S3FileSystem:
    kwargs: dict[str, object] = {}
    endpoint = options.get("AWS_ENDPOINT_URL")
    allow_http = options.get("AWS_ALLOW_HTTP", "").lower() in _TRUE
    if endpoint:
        scheme, sep, host = endpoint.partition("://")
        if sep:
            kwargs["scheme"] = scheme
            endpoint = host
        else:
            kwargs["scheme"] = "http" if allow_http else "https"
        kwargs["endpoint_override"] = endpoint.rstrip("/")
    elif allow_http:
        kwargs["scheme"] = "http"
    if "AWS_ACCESS_KEY_ID" in options and "AWS_SECRET_ACCESS_KEY" in options:
        kwargs["access_key"] = options["AWS_ACCESS_KEY_ID"]
        kwargs["secret_key"] = options["AWS_SECRET_ACCESS_KEY"]
        if "AWS_SESSION_TOKEN" in options:
            kwargs["session_token"] = options["AWS_SESSION_TOKEN"]
    if "AWS_REGION" in options:
        kwargs["region"] = options["AWS_REGION"]
    # delayed open: a small object is written with one PUT (no multipart upload round trips)
    return pafs.S3FileSystem(allow_delayed_open=True, **kwargs)  # type: ignore[arg-type]
