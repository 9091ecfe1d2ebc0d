"""Processes of the checkpoint race (test_checkpoint_race.py): spawned, never forked. Each reports its
failure to the test as a result (a dead child would only time the test out)."""

from __future__ import annotations

import time
from typing import Any

from deltalake import DeltaTable

from tinylogsql import Pond
from tinylogsql.location import locate


def writer(path: str, prefix: str, count: int, out: Any) -> None:
    """Single-op commits, each reported with its version once acknowledged."""
    try:
        with Pond.open(path) as pond:
            for index in range(count):
                name = f"{prefix}-{index}"
                pond.root.create_file_path(name, name.encode())
                out.put((name, pond.version))
    except BaseException as exc:
        out.put(("error in writer", repr(exc)))
        raise


def sleeper(path: str, ready: Any, wake: Any, out: Any) -> None:
    """Commits once, sleeps while the others commit past its version and trim the log, commits again."""
    try:
        with Pond.open(path) as pond:
            pond.root.create_file_path("sleeper-1", b"sleeper-1")
            out.put(("sleeper-1", pond.version))
            ready.set()
            wake.wait(300)
            pond.root.create_file_path("sleeper-2", b"sleeper-2")
            out.put(("sleeper-2", pond.version))
    except BaseException as exc:
        out.put(("error in sleeper", repr(exc)))
        raise


def opener(path: str, stop: Any, out: Any) -> None:
    """Fresh opens (a pond, and the Delta table with deltalake itself) until told to stop."""
    opens, failures = 0, []
    while not stop.is_set():
        try:
            with Pond.open(path) as pond:
                seen = pond.version
                assert pond.root.exists("/")
            table = DeltaTable(locate(path).table_uri, storage_options=locate(path).storage_options)
            assert table.version() >= seen
            opens += 1
        except Exception as exc:  # reported to the test, which fails on any
            failures.append(repr(exc))
        time.sleep(0.01)
    out.put(("opener", (opens, failures)))
