"""Commits trim the Delta log behind the checkpoints, so commit cost does not grow with it."""

from __future__ import annotations

import os

import polars  # (the test extra installs it: a missing one fails here, it is never skipped)
from deltalake import DeltaTable

from tinylogsql import Pond
from tinylogsql.logtrim import KEEP_VERSIONS, TRIM_EVERY
from tinylogsql.store import CHECKPOINT_INTERVAL


def test_commits_trim_old_log_entries_and_readers_keep_working(tmp_path):
    path = tmp_path / "pond"
    pond = Pond.create(path)
    lagging = Pond.open(path)
    assert lagging.root.exists("/")
    for i in range(305):
        pond.root.create_file_path(f"f{i}", str(i))
    pond._store.settle()  # checkpoints and trims run on a thread of their own: wait for the ones asked
    log_dir = path / "log" / "_delta_log"
    entries = sorted(int(name[:20]) for name in os.listdir(log_dir) if name.endswith(".json"))
    checkpoints = sorted(int(name[:20]) for name in os.listdir(log_dir) if ".checkpoint" in name)
    # checkpoints every 10 commits, written by the commit that asked; the commit at 299
    # dropped what is before the newest checkpoint at least 100
    # versions older than the checkpoint at 299
    assert (CHECKPOINT_INTERVAL, TRIM_EVERY, KEEP_VERSIONS) == (10, 100, 100)
    assert checkpoints[-1] == 299 and all(c % 10 == 9 for c in checkpoints)
    assert 100 < checkpoints[0] <= 199 and max(c for c in checkpoints if c <= 199) == checkpoints[0]
    assert entries == list(range(checkpoints[0], pond.version + 1))
    # Delta readers see the newest version; every row still carries its version
    table = DeltaTable(str(path / "log"))
    assert table.version() == pond.version
    assert table.to_pyarrow_table().num_rows == 1 + 305  # the root, then one row per commit
    assert polars.read_delta(str(path / "log")).height == 1 + 305
    assert sorted(pond.at(3).root) == ["f0", "f1", "f2"]
    with Pond.open(path) as fresh:
        assert fresh.at(150).root.read_file_path("f140") == b"140"
    assert len(list(lagging.root)) == 305  # its entries are gone: it reloads
    lagging.root.create_file_path("late", b"ok")  # its stale DeltaTable handle recovers too
    assert pond.root.read_file_path("late") == b"ok"
    assert pond.check().ok
    pond.close()
    lagging.close()
