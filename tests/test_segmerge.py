"""Merging segments and change layers into a new base (segmerge.py): the state after any mix of
bulk loads, edits, moves and removals, merged, persisted as segments and reopened, is what the
views compute from the log."""

from __future__ import annotations

import random

from cache_helpers import state_matches_views

import tinylogsql.segments as segments
import tinylogsql.segmerge as segmerge
from tinylogsql import Pond
from tinylogsql.state import NodeRow


def mapped_file(address: int) -> str:
    """The file mapped at ``address`` in this process ("" for anonymous memory), from /proc/self/maps."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            low, high = (int(bound, 16) for bound in fields[0].split("-"))
            if low <= address < high:
                return fields[5] if len(fields) > 5 else ""
    return ""


def listing(pond: Pond) -> dict[str, list[tuple[str, str]]]:
    return {top: [(name, node.kind) for name, node in pond.root.open_dir_path(top).entries()]
            for top in pond.root if pond.root.get(top).kind == "dir"}


def test_merges_of_segments_and_layers_equal_the_views_and_reopen(pond_path, monkeypatch):
    monkeypatch.setattr(segments, "REBASE_AT", 40)  # bulk loads become segments; layers freeze often
    monkeypatch.setattr(segments, "MAX_SEGMENTS", 2)
    monkeypatch.setattr(segmerge, "CHUNK", 7)  # a layer's rows converted to Arrow in several chunks
    rng = random.Random(5)
    with Pond.create(pond_path) as pond:
        root = pond.root
        for load in range(4):  # each a segment of its own, the third merged with the others
            root.create_files({f"load{load}/f{i:03d}": f"{load}-{i}".encode() for i in range(60 + 20 * load)})
            with pond.transaction():
                for _ in range(25):
                    folder, index = rng.randrange(load + 1), rng.randrange(60)
                    path = f"load{folder}/f{index:03d}"
                    if not root.exists(path):
                        continue
                    choice = rng.random()
                    if choice < 0.3:
                        root.remove(path)
                    elif choice < 0.6:
                        root.write_file_path(path, b"edited")
                    else:
                        root.rename(path, f"load{rng.randrange(load + 1)}/moved-{load}-{index}")
            state_matches_views(pond)
        root.remove("load1", recursive=True)  # a folder gone: its id leaves the merged dictionary
        root.create_symlink_path("load0/link", "../load2")
        pond._engine.state.rebase()
        state_matches_views(pond)
        root.create_files({f"late/f{i:03d}": b"late" for i in range(100)})  # a segment beside the base
        pond.maintain(retention_hours=0, unsafe=True)
        root.create_files({f"later/f{i:03d}": b"later" for i in range(100)})
        pond._engine.persist_soon(keep=2)
        segments.in_background(lambda: None).result()
        expected = listing(pond)
    with Pond.open(pond_path) as fresh:
        assert listing(fresh) == expected and "load1" not in list(fresh.root)
        assert fresh.root.read_file_path("late/f007") == b"late" and fresh.root.get("load0/link").kind == "symlink"
        state_matches_views(fresh)


def test_a_writer_serves_its_base_from_the_snapshot_it_persisted(pond_path, monkeypatch):
    monkeypatch.setattr(segments, "BACKGROUND_ROWS", 50)  # merged and persisted on the merge thread, as a big state is
    monkeypatch.setattr(segments, "REBASE_AT", 40)
    with Pond.create(pond_path) as pond:
        root = pond.root
        for load in range(3):
            root.create_files({f"p{load}/f{i:03d}": f"{load}/{i}".encode() for i in range(120)})
            root.write_file_path(f"p{load}/f000", b"changed")
            pond._engine.persist_soon(keep=1)  # keep=1: the older files are deleted while mapped
            segments.in_background(lambda: None).result()
        state = pond._engine.state
        state.settle()  # the merge just persisted becomes the base
        assert all(mapped_file(base.columns["node_id"].buffers()[-1].address).endswith(".arrow")
                   for base in state.bases())  # the columns lie in a snapshot file, not in the heap
        expected = {path: root.read_file_path(path) for path in ("p0/f000", "p1/f007", "p2/f119")}
        assert expected == {"p0/f000": b"changed", "p1/f007": b"1/7", "p2/f119": b"2/119"}
        root.create_files({f"p3/f{i:03d}": b"more" for i in range(120)})  # merged from the mapped base
        pond._engine.state.rebase()
        state_matches_views(pond)
        assert [name for name, _ in root.open_dir_path("p2").entries()][:2] == ["f000", "f001"]
    with Pond.open(pond_path) as fresh:
        assert fresh.root.read_file_path("p1/f007") == b"1/7" and len(fresh.root.open_dir_path("p3")) == 120
        state_matches_views(fresh)


def table_rows(pond: Pond) -> list[NodeRow]:
    """The state as ``State.table()`` gives it (a layer's created rows kept as Arrow), sorted."""
    table = pond._engine.state.table().select(list(NodeRow._fields))
    return sorted(NodeRow(**row) for row in table.to_pylist())


def test_a_layers_created_rows_merge_with_the_later_changes_to_them(pond_path, monkeypatch):
    monkeypatch.setattr(segments, "REBASE_AT", 1000)  # one layer holds every commit until the rebase
    with Pond.create(pond_path) as pond:
        root = pond.root
        for batch in range(3):
            with pond.transaction():
                folder = root.create_dir_path(f"b{batch}")
                for i in range(30):
                    folder.create_file_path(f"f{i:02d}", f"{batch}-{i}".encode())
        root.write_file_path("b0/f01", b"edited")  # created in this layer, changed in a later commit of it
        root.remove("b1/f02")
        root.rename("b2/f03", "b0/moved")
        root.create_dir_path("b1/f02")  # a vacated name taken by a new node
        root.write_file_path("b1/f02/inner", b"inner")
        root.remove("b2/f04")
        root.create_file_path("b2/f04", b"again")  # the same name, another node
        layer = pond._engine.state.active
        assert layer.tables and layer.edited  # (what this test is about: both kinds of rows in one layer)
        state_matches_views(pond)
        expected = sorted(NodeRow(*row) for row in pond.sql("select * from nodes").fetchall())
        assert table_rows(pond) == expected
        pond._engine.state.rebase()  # the layer merged into the base: kept rows beside converted ones
        state_matches_views(pond)
        assert table_rows(pond) == expected
        assert root.read_file_path("b0/f01") == b"edited" and not root.exists("b1/f02/missing")
        pond._engine.persist()
    with Pond.open(pond_path) as fresh:
        state_matches_views(fresh)
        assert fresh.root.read_file_path("b0/moved") == b"2-3" and fresh.root.read_file_path("b2/f04") == b"again"
