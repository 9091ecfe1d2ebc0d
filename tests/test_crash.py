"""Crash safety (issue 7): SIGKILL a writing process at random moments, over and over, on one pond.

The worker writes an intent line before each op and a result line after it. After each kill:
the pond opens; every acknowledged op (of this and all earlier trials) is in the log at the
version it was told; the op in flight either landed whole or left nothing visible; the views,
a fresh Pond and ``pond.check()`` agree; and the next write succeeds. Kills land while content
is written (blobs up to ~3 MB), while committing, and inside transactions.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path
from typing import Any

from reliability_helpers import (
    perform,
    read_records,
    results,
    scale,
    seed_tree,
    sha,
    start_worker,
    unfinished,
    verify,
)
from test_torture import record_figures

from tinylogsql import Pond


def _wait_ready(out: Path, proc: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not any(r.get("ready") for r in read_records(out)):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "worker did not start"
        time.sleep(0.005)


def test_sigkill_at_random_moments(tmp_path: Path) -> None:
    trials = scale(6, 60)
    rng = random.Random(int(os.environ.get("TINYLOGSQL_SEED", "7")))
    pond_path = tmp_path / "pond"
    with Pond.create(pond_path) as pond:
        seed_tree(pond)
    records: list[dict[str, Any]] = []
    in_flight: list[dict[str, Any]] = []
    orphans_seen = 0
    for trial in range(trials):
        out = tmp_path / f"trial{trial}.jsonl"
        proc = start_worker(pond_path, trial, -1, 5000 + trial, out, "crash")
        _wait_ready(out, proc)
        time.sleep(rng.uniform(0.02, 0.9))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, "the worker ended before it was killed"
        trial_records = read_records(out)
        flying = unfinished(trial_records)
        assert len(flying) <= 1
        records += trial_records
        in_flight += flying

        verdict = verify(pond_path, records, in_flight=in_flight)
        verdict.assert_clean()
        with Pond.open(pond_path, author=f"w{10_000 + trial}") as pond:
            report = pond.check()
            assert report.ok, report.problems
            orphans_seen += len(report.orphans)
            # The next write succeeds (and is itself acknowledged and checked next round).
            data = f"after {trial}".encode()
            op = {"op": "write", "path": f"after-crash-{trial}", "data": data.hex(), "sha": sha(data)}
            record = perform(pond, op)
            assert record["ok"], record
            records.append({"w": 10_000 + trial, "i": 0, **record})
            assert pond.root.read_file_path(f"after-crash-{trial}") == f"after {trial}".encode()
    final = verify(pond_path, records, in_flight=in_flight)
    final.assert_clean()
    record_figures("crash", trials=trials, ops_run=len(results(records)), acknowledged=final.acknowledged,
                   lost=len(final.lost), killed_in_flight=len(in_flight), in_flight_landed=final.in_flight_landed,
                   commits=final.commits, orphans_reported=orphans_seen)
    assert final.acknowledged > trials  # the workers really wrote between kills


def test_a_landed_commit_is_never_reported_as_failed(tmp_path, monkeypatch):
    """A failure while the committer folds its own landed commit into the cache (here: a library
    missing at that moment) warns with the version instead of raising; reads rebuild from the log."""
    import pytest

    from tinylogsql.query import Engine

    with Pond.create(tmp_path / "pond") as pond:
        pond.root.create_file_path("a.txt", b"one")
        real = Engine._fold

        def broken(self: Engine, rows: Any) -> None:
            raise ImportError("Cannot return a numpy.ndarray if NumPy is not present")

        monkeypatch.setattr(Engine, "_fold", broken)
        with pytest.warns(RuntimeWarning, match="version 2 of .* landed"):
            pond.root.create_file_path("b.txt", b"two")
        monkeypatch.setattr(Engine, "_fold", real)
        assert pond.version == 2
        assert pond.root.read_file_path("b.txt") == b"two"
        assert sorted(pond.root) == ["a.txt", "b.txt"]
    with Pond.open(tmp_path / "pond") as again:
        assert sorted(again.root) == ["a.txt", "b.txt"] and again.check().ok
