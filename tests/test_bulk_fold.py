"""A large commit's fold run beside its Delta write (prefold.py), and the node-id proof it uses
(nodeorder.py): the state it gives equals the per-op path's, and a failed write changes nothing."""

from __future__ import annotations

import os
import resource
import signal

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from test_bulk import one_by_one, views

import tinylogsql.largepool
import tinylogsql.prefold
import tinylogsql.segments
from tinylogsql import Pond
from tinylogsql.errors import StorageError
from tinylogsql.nodeorder import distinct_order
from tinylogsql.oprows import stamp
from tinylogsql.state import IN_ORDER, created_rows_of, grouped_order


@pytest.fixture
def overlapped(monkeypatch):
    """Every commit folds beside its write, and a bulk load of a few hundred makes a segment, its
    columns built in the large commits' pool (largepool.py)."""
    monkeypatch.setattr(tinylogsql.largepool, "LARGE_ROWS", 1)
    monkeypatch.setattr(tinylogsql.prefold, "PREFOLD_ROWS", 1)
    monkeypatch.setattr(tinylogsql.prefold, "SEGMENT_ROWS", 1)
    monkeypatch.setattr(tinylogsql.segments, "REBASE_AT", 50)


def files(count: int, prefix: str = "data") -> dict[str, bytes]:
    return {f"{prefix}/d{i % 9}/f{i:04d}": b"%d\n" % i * (i % 4) for i in range(count)}


@pytest.mark.parametrize("grouped", [False, True], ids=["interleaved", "grouped"])
def test_overlapped_fold_equals_one_by_one(tmp_path, overlapped, grouped):
    """Paths interleaved across folders, or grouped by folder (sorted: the segment's order is then
    built from the runs, state.grouped_order); the state equals the views either way."""
    first, second = files(400), files(300, "more")
    if grouped:
        first, second = dict(sorted(first.items())), dict(sorted(second.items()))
    with Pond.create(str(tmp_path / "ref"), author="tester") as reference:
        one_by_one(reference, first, "load")
        one_by_one(reference, second, "again")
        reference.root.remove("data/d3", recursive=True)
        expected = views(reference)
    with Pond.create(str(tmp_path / "bulk"), author="tester") as pond:
        pond.root.create_files(first, message="load")
        pond.ingest(pa.table({"path": list(second), "content": list(second.values())}), message="again")
        assert pond.root.read_file_path("more/d2/f0011") == second["more/d2/f0011"]
        pond.root.remove("data/d3", recursive=True)
        assert views(pond) == expected
        assert pond.check().ok  # the state cache equals what the views compute from the log
        names = sorted(name for name, _ in pond.root.open_dir_path("data").entries())
        assert names == [f"d{i}" for i in range(9) if i != 3]
    with Pond.open(str(tmp_path / "bulk")) as reopened:
        assert views(reopened) == expected


def test_failed_write_while_folding_changes_nothing(tmp_path, overlapped):
    """The Delta data file cannot be written (the file size limit: a real EFBIG from the OS) while
    the fold runs beside it: version, state, listings and the table's files stay as they were,
    and the same load then succeeds."""
    path = tmp_path / "pond"
    load = files(3000)
    table = pa.table({"path": list(load), "content": [os.urandom(40) for _ in load]})
    with Pond.create(str(path), author="tester") as pond:
        pond.root.create_dir_path("data")
        pond.root.create_file_path("data/keep", b"kept")
        before = (pond.version, views(pond), sorted(p.relative_to(path) for p in path.rglob("*")))
        old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (16_384, hard))  # the data file of 3,000 rows is larger
        try:
            with pytest.raises(StorageError, match="File too large"):
                pond.ingest(table, message="too big")
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            signal.signal(signal.SIGXFSZ, old_handler)
        assert (pond.version, views(pond), sorted(p.relative_to(path) for p in path.rglob("*"))) == before
        assert pond.root.get("data/d1/f0001") is None
        assert [name for name, _ in pond.root.open_dir_path("data").entries()] == ["keep"]
        pond.ingest(table, message="fits")
        assert pond.root.read_file_path("data/d1/f0001") == table.column("content")[1].as_py()
        assert pond.check().ok


def test_grouped_order_is_the_sort_order():
    """Rows grouped by parent with ascending names are ordered as the full (parent_id, name) sort
    orders them (IN_ORDER: as they come); rows not so grouped get None (the full sort)."""
    import random

    chance = random.Random(18)
    decided = 0
    for _ in range(2000):
        parents, names = [], []
        for parent in chance.sample([f"p{i}" for i in range(12)], chance.randint(1, 6)):
            picked = sorted(chance.sample("abcdefgh", chance.randint(1, 5)))
            if chance.random() < 0.1:
                picked.reverse()  # (a run out of order)
            if chance.random() < 0.05:
                picked.append(picked[-1])  # (a name twice)
            parents += [parent] * len(picked)
            names += picked
        if chance.random() < 0.1:
            parents.append(parents[0])  # (a parent in two runs)
            names.append("z")
        order = grouped_order(pa.array(parents), pa.array(names))
        keys = list(zip(parents, names, strict=True))
        if order is None:
            assert len(keys) < 2 or len(set(keys)) < len(keys) or any(
                b < a for a, b in zip(keys, keys[1:], strict=False) if a[0] == b[0]) or len(
                {p for p, _ in keys}) < sum(1 for i, p in enumerate(parents) if i == 0 or parents[i - 1] != p)
            continue
        decided += 1
        if order is IN_ORDER:
            assert keys == sorted(keys)
        else:
            assert [keys[i] for i in order.to_pylist()] == sorted(keys)
    assert decided > 1000
    assert grouped_order(pa.array(["a", "a", "b"]), pa.array(["x", "y", "x"])) is IN_ORDER


def test_distinct_order_is_the_string_order():
    """The numeric proof agrees with sorting the strings, and falls back to it where it cannot decide."""
    import binascii

    fresh = pa.array([binascii.hexlify(os.urandom(16)).decode() for _ in range(5000)])
    cases = [
        fresh,
        fresh.slice(100, 3000),  # an offset into the buffers
        pa.array(["0" * 16 + "f" * 16, "0" * 16 + "1" * 16, "1" * 32]),  # a tie in the first 64 bits
        pa.array(["A" * 32, "a" * 32, "0" * 32]),  # not lowercase hex
        pa.array(["ab", "a-b-c", "0"]),  # other spellings
        pa.chunked_array([fresh.slice(0, 10), fresh.slice(10, 10)]),
    ]
    for ids in cases:
        distinct, order = distinct_order(ids)
        assert distinct
        flat = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
        assert flat.take(order).to_pylist() == sorted(flat.to_pylist())


@pytest.mark.parametrize("ids", [
    ["c" * 32, "a" * 32, "c" * 32],  # the numeric form
    ["ab" * 16, "0" * 16 + "9" * 16, "0" * 16 + "9" * 16],  # equal, after a tie in the first 64 bits
    ["x-1", "y", "x-1"],  # other spellings
])
def test_duplicate_node_ids_are_caught(ids):
    """A commit that creates one node id twice is not folded as plain creates (the per-row fold
    then decides), whichever path proves the ids distinct."""
    assert not distinct_order(pa.array(ids))[0]
    ops = [{"op": "create", "node_id": node_id, "kind": "file", "parent_id": "0" * 32, "name": f"n{i}",
            "size": 0, "sha256": None, "content": b"", "content_ref": None, "target": None}
           for i, node_id in enumerate(ids)]
    rows = stamp(ops, 1, "t" * 32, "m", "a")
    assert created_rows_of(rows) is None
    unique = rows.filter(pc.not_equal(rows.column("name"), "n2"))
    assert created_rows_of(unique).num_rows == 2


@pytest.mark.parametrize("with_order", [True, False], ids=["node_order given", "node_order sorted here"])
def test_a_node_is_found_by_id_whatever_its_spelling(with_order):
    """``Base.position`` (what reads of a node and its content use) finds every id and no other: fresh
    ids through their numeric keys, ids sharing their first 64 bits and other spellings by bisection."""
    import binascii

    from tinylogsql.state import Base

    fresh = [binascii.hexlify(os.urandom(16)).decode() for _ in range(3000)]
    cases = {
        "fresh": fresh,
        "tied": fresh[:50] + ["0" * 16 + "f" * 16, "0" * 16 + "1" * 16, "0" * 16 + "8" * 16],
        "other spellings": fresh[:50] + ["ab", "A" * 32, "x-1"],
    }
    absent = ["0" * 16 + "2" * 16, "f" * 32, "F" * 32, "nope", "", fresh[0][:31], fresh[0] + "0"]
    for label, ids in cases.items():
        ops = [{"op": "create", "node_id": node_id, "kind": "file", "parent_id": "0" * 32, "name": f"n{i:05d}",
                "size": 0, "sha256": None, "content": b"", "content_ref": None, "target": None}
               for i, node_id in enumerate(ids)]
        rows = created_rows_of(stamp(ops, 1, "t" * 32, "m", "a"))
        base = Base.sorted(rows if with_order else rows.drop_columns(["node_order"]))
        for node_id in ids:
            index = base.position(node_id)
            assert index is not None and base.node_id(index) == node_id, (label, node_id)
        for node_id in absent:
            assert base.position(node_id) is None, (label, node_id)


def test_a_mid_sized_state_is_persisted_off_the_commit(tmp_path, monkeypatch):
    """From PERSIST_INLINE_ROWS rows on, the snapshot a commit asks for is written on the
    background thread; once written, it is the state at that commit and a reopen starts from it."""
    import tinylogsql.query

    monkeypatch.setattr(tinylogsql.segments, "PERSIST_INLINE_ROWS", 20)
    monkeypatch.setattr(tinylogsql.query, "PERSIST_MIN_OPS", 50)
    with Pond.create(str(tmp_path / "pond")) as pond:
        assert not tinylogsql.segments.persists_inline(pond._engine.state.size + 100)
        pond.root.create_files(files(100), message="load")
        tinylogsql.segments.in_background(lambda: None).result()  # the queued persist has run
        version, table = pond._store.states.read(pond.version)
        assert version == pond.version and table.num_rows == pond._engine.state.size
        expected = views(pond)
    with Pond.open(str(tmp_path / "pond")) as reopened:
        assert views(reopened) == expected
        assert reopened.check().ok


def test_a_load_in_two_parts_becomes_two_segments_without_a_copy(tmp_path, overlapped):
    """A load into new folders commits the folders as per-op rows and the files as one bulk table:
    each part becomes a sorted segment of its own (prefold._pieces), the files' columns as the
    commit built them (the content is the caller's buffer, not a copy). A later load into a state
    with changes above its bases pushes both segments with one merge. The views agree throughout."""
    first, second = dict(sorted(files(400).items())), dict(sorted(files(300, "more").items()))
    with Pond.create(str(tmp_path / "ref"), author="tester") as reference:
        one_by_one(reference, first, "load")
        reference.root.remove("data/d3", recursive=True)
        one_by_one(reference, second, "again")
        expected = views(reference)
    with Pond.create(str(tmp_path / "bulk"), author="tester") as pond:
        table = pa.table({"path": list(first), "content": pa.array(list(first.values()), pa.binary())})
        pond.ingest(table, message="load")
        state = pond._engine.state
        assert [segment.rows for segment in state.created] == [10, 400]  # data, data/d0..d8; the files
        content = state.created[1].columns["content"]
        assert content.buffers()[2].address == table.column("content").chunk(0).buffers()[2].address
        pond.root.remove("data/d3", recursive=True)  # (changes above the bases: the next load is merged)
        pond.ingest(pa.table({"path": list(second), "content": list(second.values())}), message="again")
        assert state.frozen == [] and state.merges == [] and state.created == []
        assert state.base.rows == pond._fixed_sql("SELECT count(*) FROM entries")[0][0] + 1  # (and the root)
        assert views(pond) == expected
        assert pond.check().ok
    with Pond.open(str(tmp_path / "bulk")) as reopened:
        assert views(reopened) == expected
