"""The branch and tag half of Pond's API (mixed into Pond): refs, revisions, merge entry points.

Refs are rows of the op log (see refs.py), committed through the same one-version-per-commit
protocol as ops, so creating a branch is one small commit and copies nothing.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .errors import (
    BranchNotFoundError,
    InvalidArgumentError,
    ProtectedBranchError,
    RefExistsError,
    VersionNotFoundError,
)
from .oprows import stamp
from .query import Engine
from .refs import MAIN, Branch, Refs, Tag, check_name, resolve_rev, scan_branches
from .store import CommitConflict, Store, backoff

if TYPE_CHECKING:
    from .merge import MergePreview, MergeResult
    from .pond import Pond


class Branching:
    """Branches, tags and revisions of a Pond; ``self`` is always a Pond."""

    _store: Store
    _engine: Engine
    _at: int | None
    _branch: str
    _others: dict[str, Engine]
    author: str

    @property
    def branch(self) -> str:
        """The branch this Pond reads and writes."""
        return self._branch

    def _refs(self) -> Refs:
        with self._engine.lock:
            self._engine.sync()
            return self._engine.refs()

    # -- revisions ----------------------------------------------------------------
    def _resolve(self, rev: object, refs: Refs | None = None) -> tuple[str, int]:
        """(branch, version) of a revision: a version number or time on this branch, or a
        branch or tag name, optionally ``~N`` (N commits that changed that branch's tree back)."""
        latest = self._engine.sync()
        if isinstance(rev, datetime):
            when = rev.astimezone(timezone.utc).replace(tzinfo=None) if rev.tzinfo else rev
            return self._branch, self._engine.resident.version_at(when)
        if isinstance(rev, int) and not isinstance(rev, bool):
            if rev < 0 or rev > latest:
                raise VersionNotFoundError(f"version {rev} is not in this pond (versions 0..{latest})")
            return self._branch, rev
        if not isinstance(rev, str):
            raise InvalidArgumentError(f"a revision is an int, a datetime or a str, not {type(rev).__name__}")
        refs = refs if refs is not None else self._refs()
        try:
            return resolve_rev(refs, rev, self._branch)
        except BranchNotFoundError:
            if rev.isdigit():
                raise InvalidArgumentError(f"versions are ints: pond.at({int(rev)}), not pond.at({rev!r})") from None
            raise

    def _engine_for(self, branch: str) -> Engine:
        """This pond's engine for its own branch; a kept engine of its own for another branch."""
        if branch == self._branch:
            return self._engine
        engine = self._others.get(branch)
        chain = self._refs().chain(branch)
        if engine is None or engine.chain != chain or engine.closed:
            engine = Engine(Store.open(self._store.location), branch=branch, chain=chain)
            self._others[branch] = engine
        return engine

    # -- refs -------------------------------------------------------------------------
    def _commit_refs(self, build: Callable[[Refs], list[dict[str, Any]]], message: str) -> int:
        """Commit ref rows built against the current refs, as one new version (retried on races)."""
        engine = self._engine
        with engine.lock:
            attempt = 0
            while True:
                version = engine.sync()
                ops = build(engine.refs())
                if not self._store.prepare(version):
                    continue
                rows = stamp(ops, version + 1, uuid.uuid4().hex, message, self.author, branch=self._branch)
                try:
                    self._store.commit(rows, version, message, self.author)
                except CommitConflict:
                    attempt += 1
                    backoff(attempt)
                    continue
                try:
                    engine.ingest(rows, version + 1)
                except Exception as exc:  # the commit landed: never report it as failed (as Pond._commit)
                    engine.forget()
                    warnings.warn(f"tinylogsql: version {version + 1} of {self._store.location.uri} landed, but "
                                  f"folding it into the cache failed ({exc!r}); it is rebuilt on the next read",
                                  RuntimeWarning, stacklevel=3)
                return version + 1

    def create_branch(self, name: str, at: object = None) -> Pond:
        """A new branch from this branch's head (or revision ``at``); one small commit, no copy."""
        check_name(name)
        source = None if at is None else self._resolve(at)

        def build(refs: Refs) -> list[dict[str, Any]]:
            if refs.exists(name):
                raise RefExistsError(f"a branch named {name!r} exists already")
            if source is None:
                parent, fork = self._branch, self._at if self._at is not None else refs.head(self._branch)
            else:
                parent, fork = source
            return [{"op": "branch", "node_id": "", "kind": "ref", "parent_id": "", "name": name,
                     "from_name": parent, "ref_version": fork, "branch": name}]

        if source is not None or self._at is not None:
            self._commit_refs(build, f"branch {name}")
            return self.on(name)
        from .pond import Pond

        with self._engine.lock:  # the new branch starts from this engine's state: nothing is read again
            self._commit_refs(build, f"branch {name}")
            chain = self._engine.refs().chain(name)
            return Pond(Store.open(self._store.location), None, self.author, branch=name, chain=chain,
                        start=self._engine)

    def on(self, name: str) -> Pond:
        """The same pond, bound to another existing branch (a Pond of its own: close it too)."""
        from .pond import Pond

        chain = self._refs().chain(name)
        return Pond(Store.open(self._store.location), None, self.author, branch=name, chain=chain)

    def branches(self) -> list[Branch]:
        """Every live branch, sorted by name."""
        return self._refs().listing()

    def delete_branch(self, name: str) -> None:
        """Delete a branch (its rows stay in the log; a new branch of that name starts afresh)."""
        if name == MAIN:
            raise ProtectedBranchError("the branch 'main' cannot be deleted")

        def build(refs: Refs) -> list[dict[str, Any]]:
            if name not in refs.branches:
                raise BranchNotFoundError(f"no branch named {name!r}")
            return [{"op": "delete-branch", "node_id": "", "kind": "ref", "parent_id": "", "name": name,
                     "branch": name}]

        self._commit_refs(build, f"delete branch {name}")

    def tag(self, name: str, at: object = None) -> Tag:
        """An immutable name for this pond's version (or revision ``at``); FileExistsError if taken."""
        check_name(name, "tag")
        branch, version = self._resolve(at) if at is not None else (self._branch, self.version)  # type: ignore[attr-defined]

        def build(refs: Refs) -> list[dict[str, Any]]:
            if name in refs.tags:
                raise RefExistsError(f"a tag named {name!r} exists already")
            return [{"op": "tag", "node_id": "", "kind": "ref", "parent_id": "", "name": name,
                     "ref_version": version, "branch": branch}]

        self._commit_refs(build, f"tag {name}")
        return self._refs().tags[name]

    def tags(self) -> list[Tag]:
        """Every tag, sorted by name."""
        return sorted(self._refs().tags.values(), key=lambda tag: tag.name)

    def _ref_tables(self, query: str, params: Any = None) -> dict[str, Any]:
        """The tables sql/branches.sql and oplog.sql read, for one query: the refs; the revisions
        its string literals and parameters name, with the rows they see; and merge conflicts
        (computed only if it asks for them)."""
        import sqlglot
        from sqlglot import exp

        from .refs import rev_rows, sql_tables

        refs = self._refs()
        conflicts = []
        if "merge_conflicts" in query.lower():
            for other in refs.listing():
                if other.name != self._branch:
                    conflicts += [(other.name, c) for c in self.merge_preview(other.name).conflicts]
        words = [node.this for node in sqlglot.parse_one(query, read="duckdb").find_all(exp.Literal)
                 if node.is_string]
        values = params.values() if isinstance(params, dict) else params if isinstance(params, (list, tuple)) else ()
        words += [value for value in values if isinstance(value, str)]
        revs = {}
        for word in words:
            name = word.split("~", 1)[0]
            if word and not word.isdigit() and (refs.exists(name) or name in refs.tags):
                try:
                    revs[word] = refs.revision(word)
                except (LookupError, ValueError):
                    continue
        rev_log = None
        if revs:
            _, rows = self._store.read_snapshot(upto=max(version for _, version in revs.values()))
            rev_log = rev_rows(rows, revs)
        return sql_tables(refs, conflicts, revs, rev_log)

    # -- merging, reverting ---------------------------------------------------------------
    def merge(self, source: str, message: str | None = None, author: str | None = None,
              strategy: str = "fail") -> MergeResult:
        """Three-way merge of branch ``source`` into this branch, as one commit (see merge.py)."""
        from .merge import merge

        return merge(self, source, message, author, strategy)  # type: ignore[arg-type]

    def merge_preview(self, source: str) -> MergePreview:
        """What ``merge(source)`` would change and where it conflicts; commits nothing."""
        from .merge import preview

        return preview(self, source)  # type: ignore[arg-type]

    def revert(self, version: int, message: str | None = None) -> int:
        """A new commit on this branch undoing commit ``version``; returns its version."""
        from .undo import revert

        return revert(self, version, message)  # type: ignore[arg-type]


def open_chain(store: Store, branch: str) -> Any:
    """The ancestry chain of ``branch`` in a freshly opened store (LookupError if missing), from the
    data files its open just listed (a second load of the log cost ~4.5 ms at 1M entries)."""
    return scan_branches(store, store.handle_version(), store.opened_file_uris()).chain(branch)
