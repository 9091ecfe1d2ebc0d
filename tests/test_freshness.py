"""How fresh reads are (issue 18): by default every read sees every commit made before it, from
any Pond; ``Pond.open(..., max_staleness=s)`` lets reads skip that check for s seconds after the
last one, and writes always check. Runs on both backends (request counts: test_s3.py)."""

from __future__ import annotations

import time

import pytest

from tinylogsql import InvalidArgumentError, Pond

pytestmark = pytest.mark.backends("local", "s3")

WINDOW = 0.4


def test_without_max_staleness_the_next_read_sees_a_commit_from_another_pond(pond, pond_path):
    with Pond.open(pond_path) as other:
        assert not other.root.exists("a")
        for i in range(3):
            pond.root.create_file_path(f"f{i}", b"x")
            assert other.root.read_file_path(f"f{i}") == b"x"  # no wait, no retry
            assert other.version == pond.version


def test_with_max_staleness_a_commit_is_seen_once_the_window_has_passed(pond, pond_path):
    pond.root.create_file_path("a", b"1")
    with Pond.open(pond_path, max_staleness=WINDOW) as reader:
        assert reader.root.read_file_path("a") == b"1"
        pond.root.create_file_path("b", b"2")
        time.sleep(WINDOW * 1.25)
        assert reader.root.read_file_path("b") == b"2"  # the window passed: this read checked
        assert reader.version == pond.version


def test_with_max_staleness_writes_check_and_then_reads_see_everything(pond, pond_path):
    with Pond.open(pond_path, max_staleness=3600) as reader:
        assert sorted(reader.root) == []
        pond.root.create_file_path("theirs", b"1")
        assert sorted(reader.root) == []  # within the window: the commit is not seen yet
        reader.root.create_file_path("mine", b"2")  # validated against the newest version
        assert sorted(reader.root) == ["mine", "theirs"]
        assert reader.sql("SELECT count(*) FROM files").fetchall() == [(2,)]


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "5", True])
def test_max_staleness_must_be_seconds(pond, pond_path, bad):
    with pytest.raises(InvalidArgumentError, match="max_staleness"):
        Pond.open(pond_path, max_staleness=bad)
