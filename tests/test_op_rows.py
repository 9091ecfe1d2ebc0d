"""Staged ops as op rows (txn.OpRow tuples, converted to the commit's columns in one pass): one
transaction of every kind of op, bulk creates in the middle, gives the log rows and the tree that
the same ops give one commit at a time; it reads its own writes, rolls back, and rebases on a
foreign commit (or fails with the per-op error when that commit took a path it created)."""

from __future__ import annotations

import hashlib

import pytest

from tinylogsql import Pond
from tinylogsql.errors import PathExistsError
from tinylogsql.txn import INLINE_MAX

BIG = b"b" * (INLINE_MAX + 1)  # stored as a blob: the op row carries a content_ref, no content


def every_op(pond: Pond, check_reads: bool) -> None:
    """Creates (file, blob, dir, symlink, bulk), a write, a move and a remove, in this order."""
    root = pond.root
    root.create_dir_path("/a")
    root.create_file_path("/a/x", b"first")
    root.create_file_path("/a/big", BIG)
    root.create_symlink_path("/a/l", "x")
    root.write_file_path("/a/x", "second")
    root.rename("/a/x", "/a/y")
    root.create_files({"b/1": b"one", "b/2": "two", "b/link": b"link me"})
    root.create_file_path("/b/3", b"after the bulk table")
    root.remove("/a/l")
    if check_reads:  # inside the transaction: its own pending ops
        assert root.read_file_path("/a/y") == b"second"
        assert root.read_file_path("/a/big") == BIG
        assert root.read_file_path("/b/2") == b"two"
        assert root.get("/a/x") is None and root.get("/a/l") is None
        assert sorted(root.get("/b")) == ["1", "2", "3", "link"]


def tree(pond: Pond) -> set[tuple]:
    return set(pond._fixed_sql("SELECT p.path, n.kind, n.size, n.sha256, n.target FROM nodes n "
                               "JOIN paths p USING (node_id)"))


def ops_since(pond: Pond, version: int) -> list[tuple]:
    """The log rows after ``version`` in commit and op order, node ids left out (they are random)."""
    return pond._fixed_sql(
        "SELECT op, kind, name, from_name, size, sha256, content, content_ref IS NOT NULL, target, branch "
        "FROM log WHERE version > ? ORDER BY version, seq", [version])


def test_one_transaction_equals_one_by_one(tmp_path):
    with Pond.create(tmp_path / "one", author="t") as one, Pond.create(tmp_path / "many", author="t") as many:
        start = one.version
        with one.transaction("every op"):
            every_op(one, check_reads=True)
        assert one.version == start + 1
        every_op(many, check_reads=False)
        assert many.version > start + 5
        assert tree(one) == tree(many)
        assert ops_since(one, start) == ops_since(many, start)
        assert [row[0] for row in ops_since(one, start)] == [
            "create", "create", "create", "create", "write", "move", "create", "create", "create", "create",
            "create", "remove"]  # a, x, big, l, x, x->y, b (its dir), 1, 2, link, 3, l
        rows = ops_since(one, start)  # each column where the op puts it (the per-op path shares the conversion)
        second = hashlib.sha256(b"second").hexdigest()
        assert rows[0] == ("create", "dir", "a", None, None, None, None, False, None, "main")
        assert rows[1] == ("create", "file", "x", None, 5, hashlib.sha256(b"first").hexdigest(), b"first", False,
                           None, "main")
        assert rows[2] == ("create", "file", "big", None, len(BIG), hashlib.sha256(BIG).hexdigest(), None, True,
                           None, "main")
        assert rows[3] == ("create", "symlink", "l", None, None, None, None, False, "x", "main")
        assert rows[4] == ("write", "file", "x", None, 6, second, b"second", False, None, "main")
        assert rows[5] == ("move", "file", "y", "x", 6, second, None, False, None, "main")
        assert rows[-1] == ("remove", "symlink", "l", None, None, None, None, False, "x", "main")
        assert one.root.read_file_path("/a/big") == BIG and one.check().ok


def test_rollback_leaves_the_pond_as_it_was(pond):
    before, version = tree(pond), pond.version
    with pytest.raises(RuntimeError, match="changed my mind"):
        with pond.transaction("rolled back"):
            every_op(pond, check_reads=True)
            raise RuntimeError("changed my mind")
    assert pond.version == version and tree(pond) == before
    with pond.transaction("again"):  # the same ops commit fine afterwards
        every_op(pond, check_reads=False)
    assert pond.root.read_file_path("/b/3") == b"after the bulk table"


def test_rebase_on_a_foreign_commit(pond, pond_path):
    start = pond.version
    with Pond.open(pond_path) as other:
        with pond.transaction("every op"):
            every_op(pond, check_reads=False)
            other.root.create_file_path("/elsewhere", b"foreign")  # commits first, touches nothing read
            assert pond.root.read_file_path("/a/y") == b"second"
        assert pond.version == start + 2
        assert pond.root.read_file_path("/elsewhere") == b"foreign"
        assert [row[0] for row in ops_since(pond, start + 1)][-1] == "remove"
        with pytest.raises(PathExistsError):
            with pond.transaction("loses"):
                pond.root.create_file_path("/c", b"mine")
                pond.root.create_file_path("/d", b"mine too")
                other.root.create_file_path("/c", b"theirs")  # takes a name this transaction created
        assert pond.root.read_file_path("/c") == b"theirs" and pond.root.get("/d") is None
