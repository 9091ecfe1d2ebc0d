"""The tinylogsql exception hierarchy: every error is a PondError and also the matching built-in.

Callers can catch ``FileNotFoundError`` as they would with ``os``, or ``PondError`` to catch
everything tinylogsql raises on purpose.
"""

from __future__ import annotations

import errno
import os
from typing import Any


class PondError(Exception):
    """Base class of every error tinylogsql raises on purpose."""


class _PathOSError(PondError, OSError):
    """An OSError carrying errno, the usual message and the pond path it concerns."""

    errno_code = errno.EIO

    def __init__(self, path: str, detail: str | None = None) -> None:
        message = os.strerror(self.errno_code)
        if detail:
            message = f"{message} ({detail})"
        super().__init__(self.errno_code, message, path)
        self.detail = detail

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as (path, detail), so it crosses a process pool as itself (OSError's own
        reduce would pass (errno, message, path) to this __init__)."""
        return type(self), (self.filename, self.detail), self.__dict__


class PathNotFoundError(_PathOSError, FileNotFoundError):
    """A path (or a component of it) does not exist in the pond."""

    errno_code = errno.ENOENT


class PathExistsError(_PathOSError, FileExistsError):
    """The name is already taken in its directory."""

    errno_code = errno.EEXIST


class NotADirError(_PathOSError, NotADirectoryError):
    """A file or symlink was used where a directory is needed."""

    errno_code = errno.ENOTDIR


class IsADirError(_PathOSError, IsADirectoryError):
    """A directory was used where a file is needed."""

    errno_code = errno.EISDIR


class DirectoryNotEmptyError(_PathOSError):
    """Removing (or replacing) a directory that still has entries, without ``recursive=True``."""

    errno_code = errno.ENOTEMPTY


class SymlinkLoopError(_PathOSError):
    """Resolving a path followed more than 40 symlinks (a loop or a very long chain)."""

    errno_code = errno.ELOOP


class RootError(_PathOSError, PermissionError):
    """The root directory cannot be removed or moved."""

    errno_code = errno.EPERM


class ReadOnlyError(_PathOSError, PermissionError):
    """A write was attempted on a read-only pond (``pond.at(version)``)."""

    errno_code = errno.EROFS


class InvalidNameError(PondError, ValueError):
    """A name is empty, ".", "..", contains "/" or NUL, or is longer than 255 UTF-8 bytes."""


class InvalidMoveError(PondError, ValueError):
    """A directory cannot be moved into itself or one of its descendants."""


class InvalidContentError(PondError, TypeError):
    """File content must be bytes-like or str."""


class InvalidArgumentError(PondError, TypeError):
    """An argument of the wrong type, e.g. ``pond.at("3")`` instead of ``pond.at(3)``."""


class PondClosedError(PondError, ValueError):
    """A read or write through a pond after ``close()`` (as Python files raise ValueError)."""


class VersionNotFoundError(PondError, LookupError):
    """The requested Delta version (or time) is not in the pond's history."""


class ConflictError(PondError, RuntimeError):
    """Another writer changed something this transaction read; nothing of it was committed."""


class GitError(PondError, RuntimeError):
    """``import_git``: git failed, the revision names no commit, or the imported history was rewritten."""


class MergeConflictError(ConflictError):
    """A merge found conflicts (``.conflicts``: MergeConflict rows) and committed nothing."""

    def __init__(self, message: str, conflicts: list) -> None:  # type: ignore[type-arg]
        super().__init__(message)
        self.conflicts = conflicts

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (str(self), self.conflicts), self.__dict__


class InvalidMergeError(PondError, ValueError):
    """A merge that cannot be asked for: a branch into itself, or an unknown strategy."""


class SubscriptionMismatchError(PondError, ValueError):
    """A subscription opened with other paths than it was made with, or from another branch."""


class ContentExpiredError(PondError, LookupError):
    """A retention policy expired this version's content (``set_retention``); its op, size and hash stay.

    ``version`` is the commit whose content expired and ``policy`` the glob of the policy that expired it.
    """

    def __init__(self, message: str, version: int | None = None, policy: str | None = None) -> None:
        super().__init__(message)
        self.version, self.policy = version, policy


class InvalidRetentionError(PondError, ValueError):
    """A retention policy that cannot be set: an empty glob, no limit, keep_versions < 1, keep_days < 0."""


class RetentionNotFoundError(PondError, LookupError):
    """``clear_retention`` of a glob that has no policy."""


class BranchNotFoundError(PondError, LookupError):
    """No branch (or tag, or revision) by that name."""


class RefExistsError(PondError, FileExistsError):
    """A branch or tag by that name exists already."""


class ProtectedBranchError(PondError, PermissionError):
    """The branch "main" cannot be deleted."""


class CorruptPondError(PondError, OSError):
    """The store is damaged or not a tinylogsql pond; the message names the file."""


class StorageError(PondError, OSError):
    """The storage refused a commit (read-only folder, full disk, ...); nothing was committed.

    ``errno`` is the operating system's code when known; the message names the file.
    """


class UnsafeRetentionError(PondError, ValueError):
    """``maintain`` was asked to keep old files for less than a commit can be in flight
    (``maintenance.MIN_SAFE_RETENTION_HOURS``) without ``unsafe=True``."""


class PondNotFoundError(PondError, FileNotFoundError):
    """``Pond.open`` found no pond at that location."""


class PondExistsError(PondError, FileExistsError):
    """``Pond.create`` found a pond already there."""


class QueryRejectedError(PondError, PermissionError):
    """``pond.sql`` refused a query: it is not a single read-only query over the pond."""


class QueryError(PondError, ValueError):
    """A query failed in DuckDB (syntax, unknown column, ...); the message is DuckDB's."""


class QueryTimeoutError(PondError, TimeoutError):
    """A query ran longer than its ``timeout`` and was interrupted."""


__all__ = [name for name in dir() if name.endswith("Error") and not name.startswith("_")]
