"""Concurrency torture (issue 7): many writers, deliberate collisions, nothing acknowledged may be lost.

Writers are real processes, threads sharing one Pond, and threads each with their own Pond.
Every op a writer was told succeeded must be in the log exactly once, at the version it was
told; the log replayed by an independent model must equal the views and the API; and every
FileExistsError must be explained by a committed winner. Sizes grow with TINYLOGSQL_NIGHTLY=1.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from reliability_helpers import (
    read_records,
    results,
    run_threads,
    run_worker,
    scale,
    seed_tree,
    start_worker,
    verify,
)

from tinylogsql import Pond


def record_figures(name: str, **figures: Any) -> None:
    """Print the run's figures (the issue asks for them in the note); append them to $TINYLOGSQL_FIGURES if set."""
    line = json.dumps({"test": name, **figures})
    print(line)
    if os.environ.get("TINYLOGSQL_FIGURES"):
        with open(os.environ["TINYLOGSQL_FIGURES"], "a", encoding="utf-8") as stream:
            stream.write(line + "\n")


def _check_outcome(records: list[dict[str, Any]], pond_path: Path, name: str, writers: int, ops: int,
                   authors: bool = True) -> None:
    verdict = verify(pond_path, records, authors=authors)
    done = results(records)
    record_figures(name, writers=writers, ops_each=ops, ops_run=len(done), acknowledged=verdict.acknowledged,
                   rejected=verdict.rejected, commits=verdict.commits, lost=len(verdict.lost))
    assert len(done) == writers * ops
    verdict.assert_clean()
    # The workload really collided and really committed: otherwise the test proves nothing.
    assert verdict.acknowledged >= writers * ops // 5
    assert verdict.rejected > 0
    assert verdict.commits == verdict.acknowledged


def test_processes_collide_without_losing_ops(tmp_path: Path) -> None:
    writers, ops = scale(4, 8), scale(25, 300)
    pond_path = tmp_path / "pond"
    with Pond.create(pond_path) as pond:
        seed_tree(pond)
    outs = [tmp_path / f"w{k}.jsonl" for k in range(writers)]
    procs = [start_worker(pond_path, k, ops, 1000 + k, outs[k], "torture") for k in range(writers)]
    deadline = time.monotonic() + 60
    while not all(any(r.get("ready") for r in read_records(out)) for out in outs):
        assert time.monotonic() < deadline, "workers did not start"
        assert all(p.poll() is None for p in procs), [p.stderr.read() for p in procs if p.stderr]
        time.sleep(0.01)
    (tmp_path / "go").touch()
    for proc in procs:
        _, err = proc.communicate(timeout=scale(120, 3600))
        assert proc.returncode == 0, err.decode()
    records = [r for out in outs for r in read_records(out)]
    _check_outcome(records, pond_path, "processes", writers, ops)


def test_threads_sharing_one_pond(tmp_path: Path) -> None:
    writers, ops = scale(4, 8), scale(25, 250)
    pond_path = tmp_path / "pond"
    records: list[dict[str, Any]] = []
    with Pond.create(pond_path) as pond:
        seed_tree(pond)
        run_threads(lambda k: run_worker(pond, k, ops, 2000 + k, records.append), writers)
    _check_outcome(records, pond_path, "threads-one-pond", writers, ops, authors=False)


def test_threads_with_a_pond_each(tmp_path: Path) -> None:
    writers, ops = scale(4, 8), scale(25, 250)
    pond_path = tmp_path / "pond"
    with Pond.create(pond_path) as pond:
        seed_tree(pond)
    records: list[dict[str, Any]] = []
    ponds = [Pond.open(pond_path, author=f"w{k}") for k in range(writers)]
    try:
        run_threads(lambda k: run_worker(ponds[k], k, ops, 3000 + k, records.append), writers)
    finally:
        for pond in ponds:
            pond.close()
    _check_outcome(records, pond_path, "threads-pond-each", writers, ops)


def test_racing_creates_have_exactly_one_winner(tmp_path: Path) -> None:
    """The sharpest collision: every writer creates the same names at once."""
    writers, names = 4, scale(10, 60)
    pond_path = tmp_path / "pond"
    Pond.create(pond_path).close()
    ponds = [Pond.open(pond_path, author=f"w{k}") for k in range(writers)]
    won: dict[str, list[int]] = {}
    lost: dict[str, list[int]] = {}

    def race(k: int) -> None:
        for n in range(names):
            try:
                ponds[k].root.create_file_path(f"race{n}", f"writer {k}")
                won.setdefault(f"race{n}", []).append(k)
            except FileExistsError:
                lost.setdefault(f"race{n}", []).append(k)

    try:
        run_threads(race, writers)
    finally:
        for pond in ponds:
            pond.close()
    with Pond.open(pond_path) as pond:
        for n in range(names):
            name = f"race{n}"
            assert len(won[name]) == 1, (name, won[name])
            assert len(won[name]) + len(lost.get(name, [])) == writers
            assert pond.root.read_file_path(name) == f"writer {won[name][0]}".encode()
        assert pond.check().ok


def test_the_checker_catches_lost_and_phantom_ops(tmp_path: Path) -> None:
    """The checker itself can fail: tampered records (a lost op, a phantom commit) are reported."""
    pond_path = tmp_path / "pond"
    records: list[dict[str, Any]] = []
    with Pond.create(pond_path) as pond:
        seed_tree(pond)
        run_threads(lambda k: run_worker(pond, k, 15, 4000 + k, records.append), 2)
    assert not verify(pond_path, records, authors=False).problems
    acked = [r for r in results(records) if r["ok"]]
    # An op acknowledged at a version that holds something else: lost.
    fake = {**acked[0], "op": "write", "path": "f0", "sha": "0" * 64, "i": 999}
    assert verify(pond_path, [*records, fake], authors=False).lost
    # An acknowledgement dropped: its commit becomes a phantom nobody was told about.
    dropped = [r for r in records if r is not acked[-1]]
    assert any("never acknowledged" in p for p in verify(pond_path, dropped, authors=False).problems)
    # A FileExistsError with no committed winner in its window.
    bogus = {"w": 0, "i": 998, "op": "mkdir", "path": "nowhere", "ok": False, "error": "PathExistsError",
             "before": 0, "after": 1}
    assert any("no committed node" in p for p in verify(pond_path, [*records, bogus], authors=False).problems)
