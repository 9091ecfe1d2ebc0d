"""``pond.check()`` and ``tinylogsql check`` (issue 7): they pass a healthy pond, report orphans, and
really fail on broken invariants (forged straight into the Delta table, bypassing the API)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

from deltalake import DeltaTable, write_deltalake
from reliability_helpers import worker_env

import tinylogsql.pond as pond_module
from tinylogsql import Pond
from tinylogsql.logtrim import TRIM_EVERY
from tinylogsql.oprows import stamp
from tinylogsql.schema import ROOT_ID


def _forge(path: Path, ops: list[dict[str, object]]) -> None:
    """Append op rows as the next Delta version without any of tinylogsql's checks."""
    dt = DeltaTable(str(path / "log"))
    write_deltalake(dt, stamp(ops, dt.version() + 1, uuid.uuid4().hex, "forged", "evil"), mode="append")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tinylogsql.cli", *args], env=worker_env(),
                          capture_output=True, text=True, timeout=120)


def test_healthy_pond_is_ok_without_orphans(tmp_path: Path) -> None:
    with Pond.create(tmp_path / "pond") as pond:
        pond.root.create_dir_path("d")
        pond.root.write_file_path("d/big", b"x" * 100_000)
        pond.root.create_symlink_path("l", "/d/big")
        pond.root.rename("d", "e")
        report = pond.check()
        assert report.ok, report.problems
        assert report.orphans == []
        assert (report.commits, report.nodes, report.chunked_checked) == (5, 4, 1)
        assert pond.at(2).check().ok
    result = _cli("check", "--pond", str(tmp_path / "pond"))
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


def test_orphans_are_reported_not_removed(tmp_path: Path) -> None:
    path = tmp_path / "pond"
    Pond.create(path).close()
    leftovers = {
        "temp-blob": path / "blobs" / ".tmp-0123",
        "blob": path / "blobs" / ("ab" * 32),
        "data-file": path / "log" / "part-00000-deadbeef-c000.snappy.parquet",
        "temp-commit": path / "log" / "_delta_log" / "_commit_1234.json.tmp",
    }
    for file in leftovers.values():
        file.write_bytes(b"left by a crash")
    with Pond.open(path) as pond:
        report = pond.check()
    assert report.ok
    assert sorted((o.kind, o.path) for o in report.orphans) == sorted((k, str(f)) for k, f in leftovers.items())
    assert all(file.exists() for file in leftovers.values())


def test_forged_duplicate_name_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "pond"
    with Pond.create(path) as pond:
        pond.root.create_file_path("x", b"one")
    _forge(path, [{"op": "create", "node_id": uuid.uuid4().hex, "kind": "file", "parent_id": ROOT_ID, "name": "x",
                   "size": 3, "sha256": "0" * 64, "content": b"two"}])
    with Pond.open(path) as pond:
        report = pond.check()
    codes = {p.code for p in report.problems}
    assert not report.ok
    assert "bad-op" in codes  # the replay refuses the second "x"
    assert "content" in codes  # and its sha256 does not match its content
    result = _cli("check", "--pond", str(path))
    assert result.returncode == 1
    assert "bad-op" in result.stdout


def test_forged_orphan_node_and_duplicate_transaction_are_caught(tmp_path: Path) -> None:
    path = tmp_path / "pond"
    Pond.create(path).close()
    _forge(path, [{"op": "create", "node_id": "n1", "kind": "dir", "parent_id": "no-such-dir", "name": "lost"}])
    dt = DeltaTable(str(path / "log"))
    rows = stamp([{"op": "create", "node_id": "n2", "kind": "dir", "parent_id": ROOT_ID, "name": "d"}],
                 dt.version() + 1, "same-txn", "m", "a")
    write_deltalake(dt, rows, mode="append")
    dt = DeltaTable(str(path / "log"))
    rows = stamp([{"op": "create", "node_id": "n3", "kind": "dir", "parent_id": ROOT_ID, "name": "e"}],
                 dt.version() + 1, "same-txn", "m", "a")
    write_deltalake(dt, rows, mode="append")
    with Pond.open(path) as pond:
        report = pond.check()
    codes = {p.code for p in report.problems}
    assert {"bad-op", "duplicate-op"} <= codes, report.problems


def test_a_persisted_state_that_disagrees_with_the_log_is_reported(tmp_path: Path) -> None:
    with Pond.create(tmp_path / "pond") as pond:
        pond.root.create_file_path("kept", b"1")
        pond.root.create_file_path("gone", b"2")
        pond.maintain(retention_hours=0, unsafe=True)
        assert pond.check().ok
        # Forge a snapshot under a correct label that still lists a file the log removed.
        forged = pond._engine.state.table()
        pond.root.remove("gone")
        pond._store.states.write(forged, pond.version)
        report = pond.check()
    assert [p.code for p in report.problems] == ["state-snapshot"]
    assert report.problems[0].path.endswith(f"v{report.version:020d}.arrow")


def test_files_compaction_replaced_are_not_orphans_after_the_log_is_trimmed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(pond_module, "AUTO_COMPACT_EVERY", 15)
    with Pond.create(tmp_path / "pond") as pond:
        for i in range(TRIM_EVERY * 2):  # the second trim drops the first 90 entries
            pond.root.create_file_path(f"f{i}", str(i))
        pond._store.settle()  # trims and compactions run on threads: wait for the ones asked
        entries = sorted((tmp_path / "pond" / "log" / "_delta_log").glob("*.json"))
        assert int(entries[0].name[:20]) > 15  # the entries that removed compacted files are gone
        report = pond.check()
    assert report.ok, report.problems
    assert report.orphans == []
