"""The version-keyed cache never serves a stale answer; maintenance, blobs and streaming (issue 6)."""

from __future__ import annotations

import hashlib
import io
import os
import random
import shutil
from pathlib import Path

import pyarrow as pa
import pytest
from cache_helpers import state_matches_views
from deltalake import DeltaTable

import tinylogsql.pond as pond_module
import tinylogsql.query as query_module
import tinylogsql.segments as state_module
from tinylogsql import Pond
from tinylogsql.state import Base


def tree(pond: Pond) -> dict[str, bytes | str | None]:
    out: dict[str, bytes | str | None] = {}
    for path, dirs, files in pond.root.walk():
        for name in dirs + files:
            full = f"{path.rstrip('/')}/{name}"
            node = pond.root.get(full)
            out[full] = node.read() if node.kind == "file" else (node.target if node.kind == "symlink" else None)
    return out


def random_op(pond: Pond, rng: random.Random, step: int) -> None:
    root = pond.root
    files = [p for p in tree(pond) if root.get(p).kind == "file"]
    dirs = ["/"] + [p for p in tree(pond) if root.get(p).kind == "dir"]
    choice = rng.random()
    try:
        if choice < 0.3 or not files:
            root.create_file_path(f"{rng.choice(dirs).rstrip('/')}/f{step}", os.urandom(rng.randrange(1, 64)))
        elif choice < 0.45:
            root.create_dir_path(f"{rng.choice(dirs).rstrip('/')}/d{step}")
        elif choice < 0.65:
            root.write_file_path(rng.choice(files), f"v{step}")
        elif choice < 0.8:
            root.rename(rng.choice(files), f"{rng.choice(dirs).rstrip('/')}/m{step}")
        elif choice < 0.9 and len(dirs) > 1:
            root.rename(rng.choice(dirs[1:]), f"/r{step}")
        else:
            root.remove(rng.choice(files + dirs[1:]), recursive=True)
    except (FileNotFoundError, FileExistsError, ValueError, OSError):
        pass  # e.g. a directory moved into itself: refused, nothing changes


def test_cache_follows_foreign_writers_time_travel_and_maintenance(pond_path):
    rng = random.Random(7)
    a = Pond.create(pond_path)
    b = Pond.open(pond_path)
    snapshots: dict[int, dict] = {}
    for step in range(60):
        writer = a if step % 2 else b
        random_op(writer, rng, step)
        if step % 10 == 0:
            snapshots[a.version] = tree(a)
        if step == 30:
            b.maintain(retention_hours=0, unsafe=True)  # compaction + vacuum under a's feet
        assert tree(a) == tree(b)
    state_matches_views(a)
    state_matches_views(b)
    ops = a.sql("select count(*), count(distinct (version, seq)) from oplog").fetchall()[0]
    assert ops[0] == ops[1]  # compaction re-added files; no row is counted twice
    with Pond.open(pond_path) as fresh:
        assert fresh.sql("select count(*) from oplog").fetchall()[0][0] == ops[0]
        assert tree(fresh) == tree(a)
        for version, expected in snapshots.items():
            assert tree(fresh.at(version)) == expected
            assert tree(a.at(version)) == expected
    a.close()
    b.close()


def test_lagging_reader_catches_up_after_vacuum(pond_path):
    writer = Pond.create(pond_path)
    reader = Pond.open(pond_path)
    reader.root.exists("/")  # the reader is now at version 0
    for i in range(12):
        writer.root.create_file_path(f"f{i}", str(i))
    writer.maintain(retention_hours=0, unsafe=True)  # files the reader has not read yet are gone
    assert sorted(reader.root) == sorted(f"f{i}" for i in range(12))
    assert reader.root.read_file_path("f11") == b"11"
    state_matches_views(reader)
    writer.close()
    reader.close()


def test_maintain_reports_and_keeps_history(pond_path):
    pond = Pond.create(pond_path)
    for i in range(20):
        pond.root.create_file_path(f"f{i}", str(i))
    v = pond.version
    before = len(DeltaTable(f"{pond_path}/log").file_uris())
    report = pond.maintain(retention_hours=0, unsafe=True)
    assert report.files_removed >= before - 1 and report.files_added >= 1
    assert len(DeltaTable(f"{pond_path}/log").file_uris()) < before
    assert report.files_vacuumed >= before - 1
    assert sorted(pond.at(v).root) == sorted(f"f{i}" for i in range(20))
    assert pond.at(5).root.read_file_path("f4") == b"4"
    pond.root.create_file_path("after", b"ok")  # the next write works on the maintained table
    assert "after" in pond.root
    pond.close()


def test_maintain_drops_stray_blobs_only(pond_path):
    pond = Pond.create(pond_path)
    big = os.urandom(100_000)
    kept = pond.root.create_file_path("big", big)
    stray = os.path.join(pond_path, "blobs", hashlib.sha256(b"never committed").hexdigest())
    with open(stray, "wb") as out:
        out.write(b"never committed")
    with open(os.path.join(pond_path, "blobs", ".tmp-crashed"), "wb") as out:
        out.write(b"half")
    report = pond.maintain(retention_hours=24)  # young leftovers are kept
    assert report.blobs_dropped == [] and os.path.exists(stray)
    report = pond.maintain(retention_hours=0, unsafe=True)
    assert sorted(report.blobs_dropped) == sorted([f"blobs/{os.path.basename(stray)}", "blobs/.tmp-crashed"])
    assert not os.path.exists(stray)
    assert kept.read() == big
    pond.close()


def test_auto_compaction_keeps_file_count_low(pond_path, monkeypatch):
    monkeypatch.setattr(pond_module, "AUTO_COMPACT_EVERY", 10)
    pond = Pond.create(pond_path)
    for i in range(25):
        pond.root.create_file_path(f"f{i}", str(i))
    pond._store.settle()  # compactions run on a thread, off the commit path: wait for the ones asked
    files = len(DeltaTable(f"{pond_path}/log").file_uris())
    assert files <= 7  # 25 one-row commits, compacted at versions 10 and 20
    assert sorted(pond.root) == sorted(f"f{i}" for i in range(25))
    assert pond.sql("select count(*) from oplog").fetchall()[0][0] == 26
    pond.close()


def test_large_files_stream_from_chunks(pond):
    payload = os.urandom(3 * 1024 * 1024 + 17)
    f = pond.root.create_file_path("big.bin", io.BytesIO(payload))  # copied in chunks, hashed on the way
    assert f.size == len(payload) and f.sha256 == hashlib.sha256(payload).hexdigest()
    with f.open() as stream:
        stream.seek(1024 * 1024)
        assert stream.read(10) == payload[1024 * 1024 : 1024 * 1024 + 10]
        stream.seek(-7, io.SEEK_END)
        assert stream.read() == payload[-7:]
    assert pond.root.read_file_path("big.bin") == payload
    small = pond.root.create_file_path("small.txt", b"tiny")
    with small.open() as stream:
        assert stream.read() == b"tiny"
    chunks = sorted(os.listdir(os.path.join(pond.uri, "chunks")))
    pond.root.write_file_path("copy.bin", io.BytesIO(payload))  # identical content: stored once
    assert os.listdir(os.path.join(pond.uri, "manifests")) == [f.sha256]
    assert sorted(os.listdir(os.path.join(pond.uri, "chunks"))) == chunks
    inline = pond.sql("select count(*) from oplog where content is not null and octet_length(content) > 65536")
    assert inline.fetchall()[0][0] == 0


def test_reads_inside_a_transaction_see_pending_blobs(pond):
    payload = os.urandom(200_000)
    with pond.transaction():
        f = pond.root.create_file_path("big", io.BytesIO(payload))
        assert pond.root.read_file_path("big") == payload
        with f.open() as stream:
            assert stream.read(5) == payload[:5]
    assert f.read() == payload


@pytest.mark.parametrize("count", [40])
def test_batched_transaction_into_existing_directory(pond, count):
    """Past a few lookups, a transaction reads a directory's listing once; answers stay exact."""
    root = pond.root
    root.create_dir_path("d")
    for i in range(0, count, 2):
        root.create_file_path(f"d/f{i}", b"old")
    with pond.transaction():
        for i in range(count):
            root.write_file_path(f"d/f{i}", f"new{i}")
        with pytest.raises(FileExistsError):
            root.create_file_path("d/f0", b"dup")
    assert [root.read_file_path(f"d/f{i}") for i in range(count)] == [f"new{i}".encode() for i in range(count)]
    state_matches_views(pond)


def test_maintain_cleans_old_log_entries_and_time_travel_survives(pond_path):
    pond = Pond.create(pond_path)
    lagging = Pond.open(pond_path)
    lagging.root.exists("/")
    for i in range(15):
        pond.root.create_file_path(f"f{i}", str(i))
    log_dir = os.path.join(pond_path, "log", "_delta_log")
    entries = [name for name in os.listdir(log_dir) if name.endswith(".json")]
    # an operator shortens the log retention (ponds are created with 7 days)
    DeltaTable(f"{pond_path}/log").alter.set_table_properties({"delta.logRetentionDuration": "interval 0 seconds"})
    pond.maintain(retention_hours=0, unsafe=True)
    left = [name for name in os.listdir(log_dir) if name.endswith(".json")]
    assert len(left) < len(entries) // 2  # old commit entries are gone
    assert pond.at(3).root.read_file_path("f2") == b"2"  # every row still carries its version
    with Pond.open(pond_path) as fresh:
        assert sorted(fresh.at(8).root) == sorted(f"f{i}" for i in range(8))
    assert sorted(lagging.root) == sorted(f"f{i}" for i in range(15))  # reloads: its entries are gone
    lagging.root.create_file_path("late", b"ok")  # its stale DeltaTable handle recovers too
    assert "late" in pond.root
    pond.close()
    lagging.close()


def test_a_stream_that_fails_leaves_no_temp_file(pond):
    class Broken(io.RawIOBase):
        def __init__(self) -> None:
            self.calls = 0

        def read(self, size: int = -1) -> bytes:
            self.calls += 1
            if self.calls > 2:
                raise OSError("disk read error")
            return b"x" * 1024

    before = pond.version
    with pytest.raises(OSError, match="disk read error"):
        pond.root.create_file_path("half.bin", Broken())
    assert pond.version == before and not pond.root.exists("half.bin")
    assert os.listdir(os.path.join(pond.uri, "blobs")) == []
    for folder in ("chunks", "manifests"):
        path = os.path.join(pond.uri, folder)
        assert not os.path.exists(path) or [n for n in os.listdir(path) if n.startswith(".")] == []


def _snapshot_files(pond_path) -> list[str]:
    return sorted(p.name for p in (Path(pond_path) / "state").iterdir())


def test_opens_start_from_the_persisted_state_and_read_the_tail(pond_path, monkeypatch):
    monkeypatch.setattr(state_module, "REBASE_AT", 4)  # fold the overlay into a new base often
    rng = random.Random(11)
    writer = Pond.create(pond_path)
    for step in range(30):
        random_op(writer, rng, step)
    with writer.transaction():  # created and removed in one commit: leaves no trace in the state
        writer.root.create_file_path("/brief", b"here and gone")
        writer.root.remove("/brief")
    writer.maintain(retention_hours=0, unsafe=True)
    assert _snapshot_files(pond_path) == [f"v{writer.version:020d}.arrow"]
    for step in range(30, 45):  # the tail after the snapshot
        random_op(writer, rng, step)
    with Pond.open(pond_path) as fresh:
        assert tree(fresh) == tree(writer)
        assert fresh._engine.resident.db is None  # every read so far came from the state, not DuckDB
        for step in range(45, 60):  # and it follows a foreign writer from there
            random_op(writer, rng, step)
            assert tree(fresh) == tree(writer)
        state_matches_views(fresh)
    writer.maintain(retention_hours=0, unsafe=True)
    assert len(_snapshot_files(pond_path)) == pond_module.STATES_KEPT
    writer.close()


def test_an_unusable_snapshot_is_passed_over(pond_path):
    other_path = f"{pond_path}-other"
    with Pond.create(other_path) as other:
        other.root.create_file_path("stranger", b"not yours")
        for i in range(30):
            other.root.create_file_path(f"o{i}", b"x")
        other.maintain(retention_hours=0, unsafe=True)
        foreign = Path(other_path) / "state" / _snapshot_files(other_path)[0]
    pond = Pond.create(pond_path)
    pond.root.create_dir_path("d")
    pond.root.create_file_path("d/f", b"mine")
    pond.maintain(retention_hours=0, unsafe=True)
    expected = tree(pond)
    state_dir = Path(pond_path) / "state"
    (state_dir / _snapshot_files(pond_path)[0]).write_bytes(b"ARROW1 truncated")  # damaged
    shutil.copy(foreign, state_dir / f"v{pond.version - 1:020d}.arrow")  # another table's
    with Pond.open(pond_path) as fresh:
        assert tree(fresh) == expected
        state_matches_views(fresh)
    # Rows out of order and a wrong node order, under a correct label: checked and rebuilt.
    engine = pond._engine
    table = engine.state.table()
    table = table.take(list(reversed(range(table.num_rows)))).append_column(
        "node_order", pa.array([0] * table.num_rows, pa.uint64()))
    pond._store.states.write(table, pond.version)
    with Pond.open(pond_path) as fresh:
        assert tree(fresh) == expected
        assert fresh.root.open_dir_path("d").read_file_path("f") == b"mine"
        state_matches_views(fresh)
    pond.close()


def test_committers_persist_the_state_for_later_opens(pond_path, monkeypatch):
    monkeypatch.setattr(query_module, "PERSIST_EVERY", 7)
    monkeypatch.setattr(query_module, "PERSIST_MIN_OPS", 40)
    writer = Pond.create(pond_path)
    with writer.transaction():  # a big load: persisted at once
        for i in range(60):
            writer.root.create_file_path(f"bulk{i}", str(i))
    assert _snapshot_files(pond_path) == [f"v{writer.version:020d}.arrow"]
    for i in range(15):  # then every 7 commits, the newest two kept
        writer.root.create_file_path(f"one{i}", str(i))
    assert _snapshot_files(pond_path) == [f"v{v:020d}.arrow" for v in (8, 15)]
    with Pond.open(pond_path) as fresh:  # from v15 plus a tail of one commit
        assert fresh._engine.resident.db is None
        assert tree(fresh) == tree(writer)
        state_matches_views(fresh)
    writer.close()


def test_pruning_drops_old_snapshots_and_crash_leftovers_only(pond_path):
    with Pond.create(pond_path) as pond:
        pond.root.create_file_path("f", b"x")
        state_dir = Path(pond_path) / "state"
        state_dir.mkdir()
        leftover, fresh = state_dir / ".tmp-crashed", state_dir / ".tmp-in-flight"
        leftover.write_bytes(b"half a snapshot")
        fresh.write_bytes(b"being written")
        os.utime(leftover, (0, 0))  # an hour old or more: nobody is writing it
        pond.maintain(retention_hours=0, unsafe=True)
        assert sorted(p.name for p in state_dir.iterdir()) == [".tmp-in-flight", f"v{pond.version:020d}.arrow"]


def test_the_state_answers_right_while_layers_wait_for_their_background_merge(pond_path, monkeypatch):
    """Issue 18's LSM: changes go to a layer that is frozen and merged into a new base on the
    background thread. Hold that thread, so frozen layers pile up, and compare every read path
    with the views; then let the merges land and compare again (and after a persist and reopen)."""
    import threading

    monkeypatch.setattr(state_module, "REBASE_AT", 3)
    monkeypatch.setattr(state_module, "BACKGROUND_ROWS", 0)
    monkeypatch.setattr(state_module, "MAX_FROZEN", 1000)
    rng = random.Random(18)
    pond = Pond.create(pond_path)
    for step in range(10):
        random_op(pond, rng, step)
    release = threading.Event()
    state_module._merger.submit(release.wait)  # the merge thread is busy until released
    try:
        for step in range(10, 40):
            random_op(pond, rng, step)
            if step % 10 == 0:  # a creates-only commit: a sorted segment among the layers
                with pond.transaction():
                    for i in range(12):
                        pond.root.create_file_path(f"/bulk{step}-{i:02d}", f"{i}")
        frozen = pond._engine.state.frozen
        assert len(frozen) >= 3 and any(isinstance(level, Base) for level in frozen)  # reads went through them
        state_matches_views(pond)
        with Pond.open(pond_path) as other:
            assert tree(other) == tree(pond)
    finally:
        release.set()
    for step in range(40, 55):
        random_op(pond, rng, step)
    pond._engine.state.rebase()
    assert pond._engine.state.frozen == [] and pond._engine.state.merges == []
    state_matches_views(pond)
    pond._engine.persist()
    with Pond.open(pond_path) as fresh:
        assert tree(fresh) == tree(pond)
        state_matches_views(fresh)
    pond.close()


def maintained_with_bulk_folder(pond_path, seed: int, steps: int) -> tuple[Pond, random.Random]:
    """A pond after ``steps`` random ops and an empty /bulk folder, maintained (its snapshot written)."""
    rng = random.Random(seed)
    pond = Pond.create(pond_path)
    for step in range(steps):
        random_op(pond, rng, step)
    pond.root.create_dir_path("/bulk")
    pond.maintain(retention_hours=0, unsafe=True)
    return pond, rng


def test_an_open_after_a_bulk_load_keeps_the_new_nodes_in_their_own_sorted_segment(pond_path):
    """Issue 18: opening a snapshot plus a creates-only tail sorts only the tail, as a second
    segment; reads and later changes to its nodes (and to the snapshot's) agree with the views."""
    pond, rng = maintained_with_bulk_folder(pond_path, seed=21, steps=12)
    with pond.transaction():  # creates only, in new and in existing directories
        for i in range(40):
            folder = "/bulk" if i % 2 else "/"
            pond.root.create_file_path(f"{folder.rstrip('/')}/n{i:02d}", f"new {i}")
        pond.root.create_dir_path("/bulk/sub").create_file_path("deep", b"d")
    with Pond.open(pond_path) as fresh:
        assert len(fresh._engine.state.created) == 1  # the tail was not sorted into the snapshot
        assert tree(fresh) == tree(pond)
        state_matches_views(fresh)
        fresh.root.rename("/bulk/n01", "/moved")
        fresh.root.write_file_path("/n02", b"rewritten")
        fresh.root.remove("/bulk/sub", recursive=True)
        for step in range(12, 30):
            random_op(fresh, rng, step)
        assert tree(fresh) == tree(pond)
        state_matches_views(fresh)
        fresh._engine.state.rebase()
        assert fresh._engine.state.created == []
        state_matches_views(fresh)
    pond.close()


def test_contents_come_from_the_mapped_snapshot_even_after_it_is_replaced_and_pruned(pond_path):
    """Issue 18: a snapshot is mapped, not copied, so file contents are read from it on demand. A
    restart reads every content back; an open pond still does after another writer's maintains
    replaced its snapshot and deleted the file."""
    contents = {f"/d{i % 3}/f{i:02d}": os.urandom(i % 50 + 1) for i in range(60)}
    writer = Pond.create(pond_path)
    with writer.transaction():
        for folder in ("/d0", "/d1", "/d2"):
            writer.root.create_dir_path(folder)
        for path, data in contents.items():
            writer.root.create_file_path(path, data)
    writer.maintain(retention_hours=0, unsafe=True)
    first = _snapshot_files(pond_path)
    reader = Pond.open(pond_path)
    assert reader._engine.resident.db is None and reader._engine.state.base.rows == 64  # from the snapshot
    assert {path: reader.root.read_file_path(path) for path in contents} == contents
    for round_ in range(pond_module.STATES_KEPT + 1):  # each maintain writes a snapshot; old ones go
        path = f"/d{round_}/f{round_:02d}"
        contents[path] = f"rewritten {round_}".encode()
        writer.root.write_file_path(path, contents[path])
        writer.maintain(retention_hours=0, unsafe=True)
    assert not set(first) & set(_snapshot_files(pond_path))
    assert {path: reader.root.read_file_path(path) for path in contents} == contents
    state_matches_views(reader)
    reader.close()
    with Pond.open(pond_path) as fresh:
        assert {path: fresh.root.read_file_path(path) for path in contents} == contents
    writer.close()


def test_bulk_loads_stay_sorted_segments_and_are_persisted_as_they_are(pond_path, monkeypatch):
    """Issue 18: a big creates-only commit becomes a sorted segment beside the base, merged with
    nothing; a persist writes the segments as they are and a reopen reads them back as segments.
    Reads, later changes and the views agree throughout; past MAX_SEGMENTS they are merged."""
    monkeypatch.setattr(state_module, "REBASE_AT", 8)
    monkeypatch.setattr(state_module, "BACKGROUND_ROWS", 10)  # persists as a big state's: in the background
    monkeypatch.setattr(query_module, "PERSIST_MIN_OPS", 10**9)  # persisted below when asked only
    pond, rng = maintained_with_bulk_folder(pond_path, seed=5, steps=10)
    for load in range(3):
        pond.root.create_files({f"bulk/l{load}-{i:02d}": f"{load}/{i}" for i in range(20 + 10 * load)})
    state = pond._engine.state
    assert [segment.rows for segment in state.created] == [20, 30, 40] and state.frozen == []
    pond._engine.persist_soon(keep=pond_module.STATES_KEPT)
    state_module.in_background(lambda: None).result()  # the persist has run
    assert len(state.created) == 3  # nothing merged to write it
    version, table = pond._store.states.read(pond.version)
    assert version == pond.version and pond._store.states.segments(table)[1:] == [20, 30, 40]
    with Pond.open(pond_path) as fresh:
        assert [segment.rows for segment in fresh._engine.state.created] == [20, 30, 40]
        assert tree(fresh) == tree(pond)
        state_matches_views(fresh)
        fresh.root.rename("/bulk/l1-03", "/moved")
        fresh.root.write_file_path("/bulk/l2-07", b"rewritten")
        for step in range(10, 25):
            random_op(fresh, rng, step)
        for load in range(3, 6):  # the fifth segment is one too many: all are merged
            fresh.root.create_files({f"bulk/l{load}-{i:02d}": f"{load}/{i}" for i in range(60)})
        assert tree(fresh) == tree(pond)
        state_matches_views(fresh)
        fresh._engine.state.rebase()
        assert fresh._engine.state.created == []
        state_matches_views(fresh)
    pond.close()
