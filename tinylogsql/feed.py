"""The change-feed half of Pond's API (mixed into Pond): changes, watch, subscriptions.

The work is in changes.py (reading and naming what commits did), watch.py (waiting for
commits) and subscriptions.py (durable cursors stored in the log).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .changes import Change, ChangeBatch
    from .subscriptions import Subscription


class ChangeFeed:
    """What landed, as it lands; ``self`` is always a Pond."""

    def changes(self, since: int, paths: str | list[str] | None = None) -> Iterator[Change]:
        """The changes committed on this branch after version ``since``, oldest first, as `history`
        rows (absolute paths; a move matches ``paths`` by its old or new path). Read when called."""
        from .changes import changes

        return changes(self, since, paths)  # type: ignore[arg-type]

    def watch(self, paths: str | list[str] | None = None, since: int | None = None, timeout: float | None = None,
              *, poll_interval: float | None = None) -> Iterator[ChangeBatch]:
        """Block and yield a ChangeBatch per matching commit as it lands (``since`` None: from now);
        stop after ``timeout`` seconds without one (None: never). Local ponds wait on OS file
        notifications; object storage (or any pond given ``poll_interval``) polls, by default every 1 s."""
        from .watch import watch

        return watch(self, paths, since, timeout, poll_interval)  # type: ignore[arg-type]

    def subscription(self, name: str, paths: str | list[str] | None = None) -> Subscription:
        """The durable cursor ``name`` (created on first use, at its creation commit's version,
        following this branch); ``paths`` None keeps the globs it was made with."""
        from .subscriptions import subscribe

        return subscribe(self, name, paths)  # type: ignore[arg-type]

    def subscriptions(self) -> list[Subscription]:
        """The subscriptions following this pond's branch, by name."""
        from .subscriptions import listing

        return listing(self)  # type: ignore[arg-type]
