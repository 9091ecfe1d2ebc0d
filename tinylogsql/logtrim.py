"""The Delta log's checkpoints and its trim: where the newest checkpoint is, whether anything
newer than a version exists, and deleting entries older than a checkpoint kept for readers.

Why a trim: every delta-rs commit lists ``_delta_log`` (the snapshot update after the commit; and,
unless disabled, the expired-log cleanup hook after *every* commit), and a local listing stats the
whole folder, so commit cost grew with every entry ever written (measured: ~47 -> ~18 commits/s
over 7k commits with a 7-day retention that never expired anything). After a trim ``_delta_log``
holds ~100-200 entries.
"""

from __future__ import annotations

import json

import pyarrow.fs as pafs

from . import deltaappend, logfiles, objects
from .location import LOG_DIR, Location

TRIM_EVERY = 100
"""Commits between two trims of the Delta log (one listing of ``_delta_log`` each)."""
KEEP_VERSIONS = 100
"""A trim keeps the log entries from the newest checkpoint at least this many versions old.

Trade-off: pond time travel (``pond.at``, the ``log`` view) does not need old entries, every op
row carries its version. Delta-level readers do: ``DeltaTable(uri, version=v)`` (and polars or
duckdb time travel) reach only versions from the kept checkpoint on, not 7 days back, and a
pond process lagging more than ~100 commits behind reads the rows it missed from the current
data files (``Store.read_since``) instead of the missed entries. The newest version is always
readable by every Delta reader."""


def _log_dir(location: Location) -> str:
    return location.path(LOG_DIR, "_delta_log")


class CheckpointHint:
    """The version ``_last_checkpoint`` names, re-read locally only when the file changed."""

    def __init__(self, location: Location) -> None:
        self.location = location
        self._seen: tuple[tuple[int | None, int] | None, int] = (None, -1)

    def __call__(self) -> int:
        """-1: none or unreadable. Locally one stat (the small file is read only when it changed);
        on object storage one GET."""
        path = self.location.path(LOG_DIR, "_delta_log", "_last_checkpoint")
        if not self.location.remote:
            info = self.location.fs.get_file_info(path)
            if info.type != pafs.FileType.File:
                return -1
            if (info.mtime_ns, info.size) == self._seen[0]:
                return self._seen[1]
        try:
            newest = int(json.loads(logfiles.read_whole(self.location, path))["version"])
        except (OSError, ValueError, KeyError):
            return -1  # none, being rewritten or unreadable: the listing decides
        if not self.location.remote:
            self._seen = ((info.mtime_ns, info.size), newest)
        return newest


def checkpoint_after(location: Location, version: int, hint: CheckpointHint) -> bool:
    """Is there a version newer than ``version`` whose log entries were cleaned up? Asked when
    ``version + 1`` has no log entry. Trims delete oldest first, so ``version``'s own entry still
    there proves ``version + 1`` was never trimmed: nothing is newer (one stat). Only when it is
    gone too, ``_last_checkpoint`` is asked, and if it names nothing newer, the log is listed: the
    hint may be stale (delta-rs overwrites it unconditionally, so a lagging checkpoint's hint can
    land after newer ones and after a trim). Trusting it alone let a writer recreate a trimmed
    entry behind the newest checkpoint, where no reader looks (tests/test_checkpoint_race.py)."""
    if location.is_file(logfiles.entry_path(location, version)):
        return False
    return hint() > version or listed_after(location, version)


def listed_after(location: Location, version: int) -> bool:
    """Does any log entry or checkpoint of a version newer than ``version`` exist? One listing."""
    if location.remote:
        return objects.newer_entries(location, version).newest > version
    try:
        infos = location.fs.get_file_info(pafs.FileSelector(_log_dir(location)))
    except OSError:
        return False
    return any(int(m.group(1)) > version for info in infos if (m := deltaappend.LOG_FILE.match(info.base_name)))


def trim(location: Location, keep_versions: int = KEEP_VERSIONS, upto: int | None = None) -> int:
    """Delete log entries (and checkpoints) older than the newest checkpoint that is at least
    ``keep_versions`` versions old; return how many files went. Oldest first and best
    effort: a failure leaves the rest (a contiguous log) for the next trim.

    What stays is a complete Delta log from that checkpoint on (see KEEP_VERSIONS). ``upto``:
    count back from this version (the newest checkpoint) rather than from the newest entry.
    One listing of ``_delta_log`` (one LIST on object storage) per call.
    """
    try:
        infos = location.fs.get_file_info(pafs.FileSelector(_log_dir(location)))
    except OSError:
        return 0
    files = [(int(m.group(1)), m.group(2), info.path) for info in infos
             if (m := deltaappend.LOG_FILE.match(info.base_name))]
    if not files:
        return 0
    newest = max(version for version, _, _ in files) if upto is None else upto
    old_enough = [version for version, kind, _ in files
                  if kind.startswith("checkpoint") and version <= newest - keep_versions]
    if not old_enough:
        return 0
    keep_from = max(old_enough)
    deleted = 0
    for version, _, path in sorted(files):
        if version >= keep_from:
            break
        try:
            location.fs.delete_file(path)
            deleted += 1
        except FileNotFoundError:
            pass  # another writer trimmed it first
        except OSError:
            break
    return deleted
