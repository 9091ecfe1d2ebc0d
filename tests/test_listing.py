"""Listing a directory as handles (``entries``): the right handle per kind, sorted, read at the call,
whichever part of the state serves it (a sorted segment read as columns, or changes not yet merged)."""

from __future__ import annotations

from tinylogsql import Directory, File, Pond, Symlink


def kinds(directory):
    return [(name, type(node).__name__, node.name) for name, node in directory.entries()]


def make_mixed(pond):
    d = pond.root.create_dir_path("mixed")
    d.create_files({f"f{i:03d}": b"x" for i in range(0, 300, 3)})
    with pond.transaction():
        for i in range(1, 300, 3):
            d.create_dir_path(f"f{i:03d}")
        for i in range(2, 300, 3):
            d.create_symlink_path(f"f{i:03d}", "f000")
    return d


EXPECTED = [(f"f{i:03d}", ["File", "Directory", "Symlink"][i % 3], f"f{i:03d}") for i in range(300)]


def test_entries_mixed_kinds_from_layers_and_from_a_reopened_snapshot(pond_path):
    with Pond.create(pond_path) as pond:
        d = make_mixed(pond)
        assert kinds(d) == EXPECTED  # served while the changes sit in the state's layers
        pond._engine.state.rebase()
        assert kinds(d) == EXPECTED  # served from the sorted base, as columns
        pond.maintain(retention_hours=0, unsafe=True)
    with Pond.open(pond_path) as pond:  # the mapped snapshot
        d = pond.root.open_dir_path("mixed")
        assert kinds(d) == EXPECTED
        files = [node for _, node in d.entries() if isinstance(node, File)]
        assert len(files) == 100 and files[0].read() == b"x"
        assert all(isinstance(node, Symlink) and node.target == "f000"
                   for name, node in d.entries() if name in {"f002", "f299"})


def test_entries_after_changes_on_top_of_the_base(pond_path):
    with Pond.create(pond_path) as pond:
        d = make_mixed(pond)
        pond._engine.state.rebase()
        d.remove("f000")
        d.rename("f001", "zzz")
        d.create_file_path("f0005", b"new")
        expected = [e for e in EXPECTED if e[0] not in {"f000", "f001"}]
        expected = sorted([*expected, ("f0005", "File", "f0005"), ("zzz", "Directory", "zzz")])
        assert kinds(d) == expected
        assert [name for name, _ in d.entries()] == list(d)


def test_entries_handles_stay_live_and_equal(pond):
    d = pond.root.create_dir_path("d")
    d.create_files({"a": b"1", "b": b"2"})
    pond._engine.state.rebase()
    listed = dict(d.entries())
    d.rename("a", "c")
    d.write_file_path("b", b"22")
    assert listed["a"].name == "c" and listed["a"].path == "/d/c"  # a handle reads the state when asked
    assert listed["b"].read() == b"22"
    assert listed["b"] == d.get("b") and isinstance(dict(d.entries())["b"], File)
    assert isinstance(dict(pond.root.entries())["d"], Directory)


def test_entries_inside_a_transaction(pond):
    d = pond.root.create_dir_path("d")
    d.create_files({"a": b"1"})
    with pond.transaction():
        d.create_dir_path("b")
        assert [(name, type(node).__name__) for name, node in d.entries()] == [("a", "File"), ("b", "Directory")]
    assert list(pond.at(1).root.open_dir_path("d").entries()) == []
