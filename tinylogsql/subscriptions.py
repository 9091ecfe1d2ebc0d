"""Durable subscriptions: a named cursor over the change feed, stored as rows of the pond's log.

A subscription is ``op='subscription'`` rows (kind ``ref``, like branch and tag rows): ``name``,
``branch`` (the one it follows), ``ref_version`` (its position: the last acknowledged version)
and ``target`` (its globs as JSON, NULL for every path). The first row creates it, in a small
commit of its own, at the version of that commit; each ack adds a row. refs.py folds them (the
newest row per name wins), so the cursor is durable, versioned, and queryable (`subscriptions`).

``ack`` is compare-and-set: it names the row it read (its commit version) and ``Pond._commit``
checks, against the state it commits on top of, that this is still the newest row
(``check_acks``). Delta commits land one version at a time, so of two racing acks one commits
and the other re-checks after its CommitConflict and raises ConflictError. Inside
``pond.transaction()`` the ack is one more row of that commit: output and cursor land together
or not at all. Commits that carry one of a subscription's acks are its consumer's own outputs,
so they are never pending for it (a consumer writing where it reads does not feed itself).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .changes import ChangeBatch, Globs, check_globs, read_batches
from .errors import ConflictError, InvalidArgumentError, ReadOnlyError, SubscriptionMismatchError
from .refs import SubscriptionRef, check_name

if TYPE_CHECKING:
    from .pond import Pond
    from .txn import Transaction


class _Exists(Exception):
    """Internal: another process created the subscription first."""


def _row(name: str, branch: str, position: int, globs: Globs) -> dict[str, Any]:
    return {"op": "subscription", "node_id": "", "kind": "ref", "parent_id": "", "name": name,
            "ref_version": position, "branch": branch, "target": None if globs is None else json.dumps(list(globs))}


def subscribe(pond: Pond, name: str, paths: object = None) -> Subscription:
    """The subscription ``name``: opened if it exists (``paths`` None or the same globs), else
    created at the version of its own creation commit, following this pond's branch."""
    check_name(name, "subscription")
    globs = check_globs(paths)
    if pond._at is not None:
        raise ReadOnlyError(pond.uri, f"pond.at({pond._at}) is read-only: subscribe on a live pond")
    found = pond._refs().subscriptions.get(name)
    if found is None:
        def build(refs: Any) -> list[dict[str, Any]]:
            if name in refs.subscriptions:
                raise _Exists
            return [_row(name, pond.branch, pond._engine.version + 1, globs)]

        try:
            pond._commit_refs(build, f"subscribe {name}")
        except _Exists:
            pass
        found = pond._refs().subscriptions[name]
        if globs is None:
            globs = found.paths
    if found.branch != pond.branch:
        raise SubscriptionMismatchError(f"subscription {name!r} follows branch {found.branch!r}, "
                                        f"not {pond.branch!r}: open it from a pond on {found.branch!r}")
    if globs is not None and globs != found.paths:
        raise SubscriptionMismatchError(f"subscription {name!r} filters {_show(found.paths)}, not {_show(globs)}")
    return Subscription(pond, found)


def _show(globs: Globs) -> str:
    return "every path" if globs is None else ", ".join(globs)


def listing(pond: Pond) -> list[Subscription]:
    """The subscriptions following this pond's branch, by name."""
    refs = pond._refs()
    return [Subscription(pond, ref) for name, ref in sorted(refs.subscriptions.items()) if ref.branch == pond.branch]


def check_acks(pond: Pond, tx: Transaction) -> None:
    """Called by ``Pond._commit`` against the state it is about to commit on top of: every ack in
    the transaction still names its subscription's newest row, else ConflictError (as Stale)."""
    from .txn import Stale

    refs = pond._engine.refs()
    for name, expected in tx.acks.items():
        current = refs.subscriptions.get(name)
        if current is None or current.row_version != expected:
            moved = "is gone" if current is None else \
                f"was moved to {current.position} at version {current.row_version}"
            raise Stale(ConflictError(f"subscription {name!r} {moved} since this consumer read it"))


class Subscription:
    """A durable named cursor over the pond's change feed (see the module docstring)."""

    def __init__(self, pond: Pond, ref: SubscriptionRef) -> None:
        self._pond = pond
        self.name, self.branch, self.paths = ref.name, ref.branch, ref.paths
        self._seen: int | None = ref.row_version  # the row this consumer last read (the CAS expectation)
        self._inflight: tuple[Transaction, int | None] | None = None  # an ack inside an open transaction

    def __repr__(self) -> str:
        return f"Subscription({self.name!r}, branch={self.branch!r}, paths={self.paths!r})"

    def _read(self) -> SubscriptionRef:
        self._settle()
        ref = self._pond._refs().subscriptions[self.name]
        if self._inflight is None:
            self._seen = ref.row_version
        return ref

    def _settle(self) -> None:
        """Learn the outcome of an ack made inside a transaction that has ended since."""
        if self._inflight is None:
            return
        tx, before = self._inflight
        if self._pond._tx() is tx:
            return  # still open
        self._inflight = None
        self._seen = tx.committed_version if tx.committed_version is not None and tx.ops else before

    @property
    def position(self) -> int:
        """The last acknowledged version, re-read from the pond."""
        return self._read().position

    def pending(self, limit: int | None = None) -> list[ChangeBatch]:
        """The commits after the position with changes under the subscription's paths, oldest
        first (at most ``limit``); its own consumers' commits (those carrying its acks) excluded."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise InvalidArgumentError(f"limit must be a positive int or None, not {limit!r}")
        ref = self._read()
        skip = self._pond._refs().acked.get(self.name, set())
        _, found = read_batches(self._pond, ref.position, self.paths, skip)
        return found if limit is None else found[:limit]

    def ack(self, version: int) -> None:
        """Move the position to ``version`` if no one moved it since this consumer read it
        (ConflictError otherwise). Inside ``pond.transaction()`` it lands with that commit."""
        pond = self._pond
        if isinstance(version, bool) or not isinstance(version, int):
            raise InvalidArgumentError(f"ack takes a version number (int), not {type(version).__name__}")
        latest = pond._engine.sync()
        if not 0 <= version <= latest:
            raise InvalidArgumentError(f"cannot ack version {version}: the pond has versions 0..{latest}")
        self._settle()
        if self._seen is None:
            self._read()
        tx = pond._tx()
        row = _row(self.name, self.branch, version, self.paths)
        if tx is not None:
            tx.ops.append(row)
            tx.acks.setdefault(self.name, self._seen)
            if self._inflight is None:
                self._inflight = (tx, self._seen)
            return
        with pond.transaction(message=f"ack {self.name} at {version}") as own:
            own.ops.append(row)
            own.acks[self.name] = self._seen
        self._seen = own.committed_version
