"""Pond commits append to the Delta log directly (deltaappend): what Delta readers and other writers see."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import unquote

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from tinylogsql import Pond, deltaappend
from tinylogsql.location import LOG_DIR, locate
from tinylogsql.oprows import stamp
from tinylogsql.schema import ROOT_ID
from tinylogsql.store import CommitConflict, Store


def _log(path) -> str:  # type: ignore[no-untyped-def]
    return str(path / "log")


def test_delta_readers_see_each_commit_with_its_message_author_and_version_statistics(tmp_path):
    path = tmp_path / "pond"
    with Pond.create(path, author="ann") as pond:
        pond.root.create_file_path("a.txt", b"one")
        with pond.transaction(message="two files", author="bob"):
            pond.root.create_file_path("b.txt", b"two")
            pond.root.create_file_path("c.txt", b"three")
        version = pond.version
    table = DeltaTable(_log(path))
    assert table.version() == version == 2
    newest = table.history(1)[0]
    assert (newest["message"], newest["author"], newest["operation"]) == ("two files", "bob", "WRITE")
    rows = table.to_pyarrow_table()
    assert sorted(rows.column("version").to_pylist()) == [0, 1, 2, 2]
    actions = pa.table(table.get_add_actions(flatten=True)).to_pylist()
    by_version = {a["min.version"]: a for a in actions}
    assert {v: (a["max.version"], a["num_records"]) for v, a in by_version.items()} == {0: (0, 1), 1: (1, 1), 2: (2, 2)}
    assert DeltaTable(_log(path), version=1).to_pyarrow_table().num_rows == 2  # time travel by Delta readers


def test_a_commit_to_a_version_another_writer_took_fails_and_leaves_no_file(tmp_path):
    path = tmp_path / "pond"
    Pond.create(path).close()
    first, second = Store.open(locate(path)), Store.open(locate(path))
    assert first.prepare(0) and second.prepare(0)
    op = {"op": "create", "node_id": "1" * 32, "kind": "dir", "parent_id": ROOT_ID, "name": "x"}
    first.commit(stamp([op], 1, "t1", "first", "a"), 0, "first", "a")
    before = sorted(os.listdir(path / "log"))
    try:
        second.commit(stamp([{**op, "name": "y"}], 1, "t2", "second", "b"), 0, "second", "b")
        raise AssertionError("the second commit to version 1 landed")
    except CommitConflict:
        pass
    assert sorted(os.listdir(path / "log")) == before  # its data file was removed again
    entry = (path / "log" / "_delta_log" / f"{1:020d}.json").read_text()
    assert json.loads(entry.splitlines()[0])["commitInfo"]["message"] == "first"
    with Pond.open(path) as pond:  # and a pond writer behind it catches up and commits on top
        assert pond.root.exists("x")
        pond.root.create_dir_path("y")
        assert sorted(pond.root) == ["x", "y"] and pond.version == 2


def test_a_table_with_a_feature_it_does_not_write_keeps_delta_rs_appends(tmp_path):
    path = tmp_path / "pond"
    Pond.create(path).close()
    DeltaTable(_log(path)).alter.set_table_properties({"delta.enableChangeDataFeed": "true"})
    with Pond.open(path) as pond:
        pond.root.create_file_path("a.txt", b"one")
        assert pond.root.read_file_path("a.txt") == b"one"
        version = pond.version
    info = DeltaTable(_log(path)).history(1)[0]
    assert info["version"] == version and info["engineInfo"].startswith("delta-rs")
    with Pond.open(path) as pond:
        assert pond.root.read_file_path("a.txt") == b"one"


def test_the_resident_log_after_a_load_bigger_than_it_queues_holds_every_row_once(tmp_path, monkeypatch):
    import tinylogsql.resident as resident

    monkeypatch.setattr(resident, "PENDING_ROWS", 500)  # (100k in use: a load that big is dropped, not written)
    with Pond.create(tmp_path / "pond") as pond:
        pond.root.create_file_path("a.txt", b"one")
        assert pond._fixed_sql("SELECT count(*) FROM log") == [(2,)]  # the resident log is loaded now
        names = [f"d/f{i:04d}" for i in range(800)]
        pond.ingest(pa.table({"path": names, "content": [b"x"] * len(names)}))
        loaded = pond.version
        pond.root.create_file_path("b.txt", b"two")
        _, rows = pond._store.read_snapshot()
        assert pond._fixed_sql("SELECT count(*) FROM log") == [(rows.num_rows,)]
        assert sorted(pond.at(loaded).root) == ["a.txt", "d"] and len(pond.at(loaded).root.open_dir_path("d")) == 800
        assert not pond.at(loaded - 1).root.exists("d")


def test_a_writer_stalled_past_a_log_trim_does_not_take_a_version_the_table_has_passed(tmp_path):
    from tinylogsql import deltaappend

    path = tmp_path / "pond"
    log_dir = path / "log" / "_delta_log"
    with Pond.create(path) as pond:
        pond.root.create_file_path("a.txt", b"one")
        stale = pond.version + 1  # what a writer synced here, then paused before its write, would write
        landed = pond.version
        added = [json.loads(line)["add"]["path"] for line in (log_dir / f"{landed:020d}.json").read_text().split("\n")
                 if line.startswith('{"add"')]
        _, rows = pond._store.read_snapshot()
        for i in range(250):  # others commit; the checkpoints' trims remove the entries of both versions
            pond.root.create_file_path(f"f{i}", b"x")
        pond._store.settle()
        assert not (log_dir / f"{stale:020d}.json").exists() and not (log_dir / f"{landed:020d}.json").exists()
        entries, files = sorted(os.listdir(log_dir)), sorted(os.listdir(path / "log"))
        late = rows.slice(rows.num_rows - 1, 1)
        late = late.set_column(late.schema.get_field_index("version"), "version", pa.array([stale], pa.int64()))
        assert deltaappend.append(pond._store.location, late, stale, "late", "stalled") is False  # a conflict
        assert sorted(os.listdir(log_dir)) == entries and sorted(os.listdir(path / "log")) == files
        # a version that landed before the trim is told apart by the checkpoint that lists its file
        assert deltaappend._trimmed_before(pond._store.location, landed, added[0]) is False
        assert deltaappend._trimmed_before(pond._store.location, landed, "part-00000-forged-c000.snappy.parquet")
        newest = pond.version
    with Pond.open(path) as fresh:
        assert fresh.version == newest and len(fresh.root) == 251 and fresh.check().ok


@pytest.mark.backends("local", "s3")
def test_a_large_commit_streamed_to_its_data_file_lands_whole_with_its_true_size(backend, pond_path, monkeypatch):
    monkeypatch.setattr(deltaappend, "STREAM_BYTES", 4096)  # (8 MiB in use: this commit streams, and
    monkeypatch.setattr(deltaappend, "STREAM_BUFFER", 1024)  # its buffer is flushed many times)
    files = {f"d{i % 7}/f{i:03d}.bin": os.urandom(i % 50) * 40 for i in range(300)}
    with Pond.create(pond_path) as pond:
        version = pond.root.create_files(files)
        location = pond._store.location
        entry = location.fs.open_input_stream(location.path(LOG_DIR, "_delta_log", f"{version:020d}.json")).read()
        add = next(json.loads(line)["add"] for line in entry.decode().splitlines() if '"add"' in line)
        stored = location.fs.get_file_info(location.path(LOG_DIR, unquote(add["path"])))
        assert add["size"] == stored.size > 4096
    with Pond.open(pond_path) as pond:  # read back from the log, not from the writer's cache
        assert {path: pond.root.read_file_path(path) for path in files} == files
    if backend == "local":  # and Delta readers read it: the 7 folders and 300 files of that version
        rows = DeltaTable(_log(Path(pond_path))).to_pyarrow_table(filters=[("version", "=", version)])
        assert rows.num_rows == 307


def test_a_large_commits_data_file_keeps_statistics_for_what_readers_filter_on(tmp_path):
    """The columns readers skip files and row groups by (version, node_id, op, content_ref: see
    deltaappend.STATISTICS) keep their min/max in a large commit's data file, and a filtered read
    of the table by each gives the rows it names."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    path = tmp_path / "pond"
    with Pond.create(path) as pond:
        pond.root.create_files({f"d/f{i:03d}": b"%d" % i for i in range(300)})
        version = pond.version
    table = DeltaTable(_log(path))
    big = [uri for uri in table.file_uris() if pq.ParquetFile(uri).metadata.num_rows > 300]
    assert len(big) == 1
    group = pq.ParquetFile(big[0]).metadata.row_group(0)
    columns = {group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)}
    for name in ("version", "node_id", "op"):
        assert columns[name].is_stats_set and columns[name].statistics.has_min_max, name
    assert columns["content_ref"].statistics.null_count == group.num_rows  # (all inline: a reader skips it)
    data = ds.dataset(big[0], format="parquet")
    assert data.to_table(filter=ds.field("version") == version).num_rows == 301
    assert data.to_table(filter=ds.field("op") == "create").num_rows == 301
    assert data.to_table(filter=pc.is_valid(ds.field("content_ref"))).num_rows == 0
