"""``watch``: a blocking iterator of change batches as commits land.

Locally it sleeps on OS file notifications for the ``_delta_log`` folder (watchfiles: the Rust
``notify`` crate, inotify on Linux), waking on any event there and checking for a new log entry
with one stat; a notification missed or unavailable costs at most ``SAFETY_POLL`` seconds. On
object storage (or with ``poll_interval=`` given) it polls, default every 1 s remote: each look is
``Engine.sync`` (a HEAD for the next log entry, one for ``_last_checkpoint``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .changes import ChangeBatch, check_globs, check_since, read_batches
from .errors import InvalidArgumentError, ReadOnlyError
from .location import LOG_DIR

if TYPE_CHECKING:
    from .pond import Pond

REMOTE_POLL = 1.0
"""Seconds between two looks at object storage (two HEADs each) unless ``poll_interval`` says."""
LOCAL_POLL = 0.02
"""Seconds between two looks at a local log when OS notifications are unavailable (one stat)."""
SAFETY_POLL = 1.0
"""With notifications, the longest a watcher sleeps before it looks anyway."""
STEP_MS = 1
"""After a notification, wait this long for more before checking (a commit is a few file events)."""


def _seconds(value: object, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
        raise InvalidArgumentError(f"{what} must be a number of seconds >= 0 or None, not {value!r}")
    return float(value)


class Waiter:
    """Sleeps until the log folder may have changed: OS notifications if possible, else a poll."""

    def __init__(self, pond: Pond, poll_interval: float | None) -> None:
        location = pond._store.location
        self.interval = poll_interval if poll_interval is not None else REMOTE_POLL if location.remote else LOCAL_POLL
        self._notify: Any = None
        if not location.remote and poll_interval is None:
            try:
                from watchfiles._rust_notify import RustNotify  # the class watchfiles.watch drives

                self._notify = RustNotify([location.path(LOG_DIR, "_delta_log")], False, False, 0, False, True)
            except (ImportError, OSError, RuntimeError):
                self._notify = None  # no notifications here (e.g. out of inotify watches): poll

    @property
    def notified(self) -> bool:
        return self._notify is not None

    def wait(self, seconds: float) -> None:
        """Return after a notification, or ``seconds`` (a poll interval at most without them)."""
        if self._notify is None:
            time.sleep(max(0.0, min(seconds, self.interval)))
            return
        timeout_ms = max(1, int(min(seconds, SAFETY_POLL) * 1000))
        result = self._notify.watch(timeout_ms, STEP_MS, timeout_ms, None)
        if result == "signal":
            raise KeyboardInterrupt

    def close(self) -> None:
        if self._notify is not None:
            self._notify.close()
            self._notify = None


def watch(pond: Pond, paths: object = None, since: int | None = None, timeout: float | None = None,
          poll_interval: float | None = None, skip: Any = None) -> Iterator[ChangeBatch]:
    """Batches of the commits after ``since`` (None: from now) that touch ``paths``, one per commit,
    as they land. Ends after ``timeout`` seconds without a matching commit (None: never).
    ``skip``: a callable giving versions to leave out (a subscription's own commits)."""
    globs = check_globs(paths)
    idle = _seconds(timeout, "timeout")
    interval = _seconds(poll_interval, "poll_interval")
    if interval == 0:
        raise InvalidArgumentError("poll_interval must be > 0")
    if pond._at is not None:
        raise ReadOnlyError(pond.uri, f"pond.at({pond._at}) never changes: watch a live pond")
    latest = pond._engine.sync()
    last = latest if since is None else check_since(since, latest)
    return _follow(pond, globs, last, idle, interval, skip)


def _follow(pond: Pond, globs: Any, last: int, idle: float | None, interval: float | None,
            skip: Any) -> Iterator[ChangeBatch]:
    waiter = Waiter(pond, interval)
    try:
        deadline = None if idle is None else time.monotonic() + idle
        while True:
            if pond._engine.sync() > last:
                upto, found = read_batches(pond, last, globs, skip() if skip is not None else ())
                last = upto
                yield from found
                if found and idle is not None:
                    deadline = time.monotonic() + idle
                continue
            left = math.inf if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return
            waiter.wait(min(left, 3600.0))
    finally:
        waiter.close()
