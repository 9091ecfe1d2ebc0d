"""How long a reader may answer from its state without asking the store whether it moved.

By default every read checks (``max_staleness`` None: one stat locally, one LIST on S3).
``Pond.open(..., max_staleness=seconds)`` lets reads skip the check for that long after the
last check that found the state current, so they may miss commits younger than the window.
Writes always check: a commit is validated against the newest version.
"""

from __future__ import annotations

import math
import time

from .errors import InvalidArgumentError


def checked_staleness(value: object) -> float | None:
    """``max_staleness`` as given to Pond.open: None, or a finite number of seconds >= 0."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise InvalidArgumentError(f"max_staleness must be a number of seconds >= 0, not {value!r}")
    return float(value)


class Freshness:
    """When the state was last known current (the monotonic time the check was *sent*)."""

    __slots__ = ("_at", "max_staleness")

    def __init__(self, max_staleness: float | None = None) -> None:
        self.max_staleness = max_staleness
        self._at = -math.inf

    @staticmethod
    def now() -> float:
        return time.monotonic()

    def checked(self, asked: float) -> None:
        """A check sent at ``asked`` found nothing newer than the state."""
        self._at = max(self._at, asked)

    def fresh(self) -> bool:
        """May a read skip the check? Only with a window, and within it."""
        return self.max_staleness is not None and self.now() - self._at <= self.max_staleness
