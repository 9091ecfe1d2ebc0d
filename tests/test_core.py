"""The core pond (issue 3): API, path rules, errors, transactions, versions, visibility."""

from __future__ import annotations

import errno
import multiprocessing
import threading
from datetime import datetime, timedelta, timezone

import proc_helpers
import pytest
from cache_helpers import state_matches_views
from s3_helpers import delta_table, list_dir, sibling

import tinylogsql
from tinylogsql import (
    ConflictError,
    Directory,
    File,
    InvalidNameError,
    Pond,
    PondClosedError,
    PondError,
    ReadOnlyError,
    Symlink,
    SymlinkLoopError,
    VersionNotFoundError,
)

pytestmark = pytest.mark.backends("local", "s3")  # every pond test runs on a folder and on S3


def spawn_pool(n: int):
    return multiprocessing.get_context("spawn").Pool(n)


# -- the seed's failing cases -------------------------------------------------------------
def test_filesystem_initialization(pond_path):
    with Pond.create(pond_path) as pond:
        assert pond.root.exists("/")
        assert list(pond.root) == []
        assert len(pond.root) == 0
        assert pond.version == 0
    with Pond.open(pond_path) as again:
        assert again.root.exists("/")
        assert again.root.path == "/"
        assert list(again.root) == []


def test_create_symlink(pond_path):
    with Pond.create(pond_path) as pond:
        pond.root.create_dir_path("a/b", parents=True).create_file_path("x.txt", b"hello")
        link = pond.root.create_symlink_path("link", "/a/b/x.txt")
        assert isinstance(link, Symlink) and link.target == "/a/b/x.txt"
        assert pond.root.exists("link")
        assert pond.root.read_file_path("link") == b"hello"
    with Pond.open(pond_path) as fresh:
        assert fresh.root.exists("link")
        assert fresh.root.read_file_path("link") == b"hello"
        assert isinstance(fresh.root.get("link"), Symlink)


def test_exists_right_after_create_through_other_objects(pond_path):
    pond = Pond.create(pond_path)
    other_pond = Pond.open(pond_path)
    d1 = pond.root.create_dir_path("dir")
    d2 = pond.root.open_dir_path("dir")
    d3 = other_pond.root.open_dir_path("dir")
    assert d1 is not d2
    d1.create_file_path("f", b"1")
    assert d2.exists("f") and d3.exists("f") and "f" in d3
    assert other_pond.root.read_file_path("dir/f") == b"1"
    d3.create_file_path("g", b"2")  # written through the second pond
    assert d1.exists("g") and list(d1) == ["f", "g"]
    pond.close()
    other_pond.close()


def test_visibility_across_processes(pond_path):
    pond = Pond.create(pond_path)
    pond.root.create_file_path("parent-made", b"p")
    with spawn_pool(1) as pool:
        assert pool.apply(proc_helpers.exists_in_fresh_process, (pond_path, "parent-made"))
        pool.apply(proc_helpers.create_file, (pond_path, "child-made", b"c"))
    # no refresh call: the next read sees the child's commit
    assert pond.root.exists("child-made")
    assert pond.root.read_file_path("child-made") == b"c"
    pond.close()


# -- opening ----------------------------------------------------------------------------
def test_create_and_open_errors(pond_path):
    Pond.create(pond_path).close()
    with pytest.raises(FileExistsError):
        Pond.create(pond_path)
    with pytest.raises(FileNotFoundError):
        Pond.open(sibling(pond_path, "nothing-here"))
    with pytest.raises(PondError):
        Pond.open(sibling(pond_path, "nothing-here"))


def test_close_releases_connection(pond_path):
    with Pond.create(pond_path) as pond:
        pond.root.create_file_path("f", b"x")
    assert pond._closed
    with pytest.raises(PondClosedError):
        pond.root.exists("f")
    with pytest.raises(ValueError):
        pond.sql("select 1")


# -- the directory API -------------------------------------------------------------------
def test_create_dir_path_rules(pond):
    root = pond.root
    with pytest.raises(FileNotFoundError):
        root.create_dir_path("missing/child")
    d = root.create_dir_path("a")
    assert isinstance(d, Directory) and d.path == "/a"
    with pytest.raises(FileExistsError):
        root.create_dir_path("a")
    deep = root.create_dir_path("a/b/c", parents=True)
    assert deep.path == "/a/b/c"
    assert root.create_dir_path("a/b", parents=True, exist_ok=True).path == "/a/b"


def test_files_content_and_versions(pond):
    root = pond.root
    f = root.create_dir_path("d").create_file_path("x.txt", "héllo")
    assert isinstance(f, File)
    assert f.read() == "héllo".encode()
    assert f.size == len("héllo".encode())
    v1 = f.version
    root.write_file_path("d/x.txt", b"new")
    assert f.read() == b"new" and f.version > v1
    f.write(b"newer")
    assert root.read_file_path("/d/x.txt") == b"newer"
    created = root.write_file_path("d/fresh", b"made by write")
    assert created.read() == b"made by write"
    assert f.modified.tzinfo is not None and f.modified.utcoffset() == timedelta(0)
    assert f.name == "x.txt" and f.path == "/d/x.txt" and len(f.node_id) == 32
    with pytest.raises(IsADirectoryError):
        root.read_file_path("d")
    with pytest.raises(IsADirectoryError):
        root.write_file_path("d", b"x")
    with pytest.raises(FileNotFoundError):
        root.read_file_path("nope")


def test_large_content_is_stored_once(pond, pond_path):
    import os

    big = os.urandom(200_000)
    a = pond.root.create_file_path("a.bin", big)
    chunks = list_dir(pond_path, "chunks")
    pond.root.create_file_path("b.bin", big)
    assert a.read() == big and pond.root.read_file_path("b.bin") == big
    assert list_dir(pond_path, "manifests") == [a.sha256]  # its chunk list, named by its sha256
    assert list_dir(pond_path, "chunks") == chunks and len(chunks) > 1 and list_dir(pond_path, "blobs") == []


def test_exists_and_get(pond):
    root = pond.root
    root.create_file_path("f", b"1")
    root.create_symlink_path("to-f", "f")
    root.create_symlink_path("dangling", "/nowhere")
    root.create_symlink_path("loop1", "loop2")
    root.create_symlink_path("loop2", "loop1")
    assert root.exists("f") and root.exists("to-f")
    assert not root.exists("dangling") and not root.exists("loop1") and not root.exists("nope")
    assert isinstance(root.get("f"), File)
    assert isinstance(root.get("to-f"), Symlink)  # the final symlink is not followed
    assert isinstance(root.get("dangling"), Symlink)
    assert root.get("nope") is None and root.get("nope/deeper") is None
    with pytest.raises(NotADirectoryError):
        root.get("f/child")
    assert not root.exists("f/child")


def test_listing(pond):
    root = pond.root
    for name in ["b", "a", "c"]:
        root.create_file_path(name, name)
    root.create_dir_path("d")
    names = [name for name, _ in root.entries()]
    assert names == ["a", "b", "c", "d"] == list(root)
    assert "a" in root and "zz" not in root and len(root) == 4
    assert isinstance(dict(root.entries())["d"], Directory)


def test_remove(pond):
    root = pond.root
    root.create_dir_path("d/e", parents=True).create_file_path("f", b"x")
    with pytest.raises(OSError) as info:
        root.remove("d")
    assert info.value.errno == errno.ENOTEMPTY
    root.remove("d/e/f")
    assert not root.exists("d/e/f")
    root.create_file_path("d/e/g", b"y")
    root.remove("d", recursive=True)
    assert list(root) == []
    with pytest.raises(FileNotFoundError):
        root.remove("d")
    with pytest.raises(PermissionError):
        root.remove("/")
    # the log keeps a remove op for every node that went
    removed = pond.sql("select count(*) from oplog where op = 'remove'").fetchall()[0][0]
    assert removed == 4


def test_rename_rules(pond):
    root = pond.root
    d = root.create_dir_path("a/b", parents=True)
    f = d.create_file_path("x.txt", b"x")
    root.rename("a/b/x.txt", "a/y.txt")
    assert f.path == "/a/y.txt" and root.read_file_path("a/y.txt") == b"x"
    # a directory moves with one op; descendants keep their node ids
    root.create_file_path("a/b/inner", b"i")
    before = pond.version
    root.rename("a/b", "moved")
    assert pond.version == before + 1
    assert pond.sql("select count(*) from oplog where version = ?", [before + 1]).fetchall()[0][0] == 1
    assert root.read_file_path("moved/inner") == b"i" and d.path == "/moved"
    # onto an existing file: replaced
    root.create_file_path("t1", b"1")
    root.create_file_path("t2", b"2")
    root.rename("t1", "t2")
    assert root.read_file_path("t2") == b"1" and not root.exists("t1")
    # file onto a dir, dir onto a non-empty dir, dir onto a file
    root.create_dir_path("empty")
    with pytest.raises(IsADirectoryError):
        root.rename("t2", "moved")
    with pytest.raises(OSError) as info:
        root.rename("empty", "moved")
    assert info.value.errno == errno.ENOTEMPTY
    with pytest.raises(NotADirectoryError):
        root.rename("moved", "t2")
    root.rename("moved", "empty")  # a dir onto an empty dir replaces it
    assert root.read_file_path("empty/inner") == b"i"
    with pytest.raises(ValueError):
        root.rename("empty", "empty/sub")
    with pytest.raises(PermissionError):
        root.rename("/", "x")
    # symlinks move as links
    root.create_symlink_path("ln", "t2")
    root.rename("ln", "empty/ln")
    assert isinstance(root.get("empty/ln"), Symlink) and root.get("empty/ln").target == "t2"


def test_walk_and_glob(pond):
    root = pond.root
    root.create_dir_path("a/b", parents=True)
    root.create_file_path("a/one.txt", b"1")
    root.create_file_path("a/b/two.txt", b"2")
    root.create_file_path("a/b/three.csv", b"3")
    root.create_symlink_path("a/link-to-b", "b")
    walked = list(root.walk())
    assert walked == [
        ("/", ["a"], []),
        ("/a", ["b", "link-to-b"], ["one.txt"]),
        ("/a/b", [], ["three.csv", "two.txt"]),
    ]
    assert root.glob("**/*.txt") == ["/a/b/two.txt", "/a/one.txt"]
    assert root.open_dir_path("a").glob("*.txt") == ["/a/one.txt"]
    assert root.glob("a/*/t*") == ["/a/b/three.csv", "/a/b/two.txt", "/a/link-to-b/three.csv", "/a/link-to-b/two.txt"]


# -- paths ----------------------------------------------------------------------------
def test_path_resolution(pond):
    root = pond.root
    b = root.create_dir_path("a/b", parents=True)
    root.create_file_path("a/f", b"F")
    assert b.read_file_path("../f") == b"F"
    assert b.read_file_path("/a/f") == b"F"  # absolute from a subdirectory
    assert b.read_file_path("./../../a/./f") == b"F"
    assert root.read_file_path("../../a/f") == b"F"  # ".." at the root stays there
    assert root.open_dir_path("a/b/..").path == "/a"
    b.create_symlink_path("rel", "../f")  # relative target resolves from the link's directory
    assert root.read_file_path("a/b/rel") == b"F"
    root.create_symlink_path("to-b", "a/b")
    assert root.read_file_path("to-b/rel") == b"F"  # symlinks in the middle are followed
    assert root.open_dir_path("to-b").path == "/a/b"
    with pytest.raises(NotADirectoryError):
        root.open_dir_path("a/f")
    with pytest.raises(NotADirectoryError):
        root.create_file_path("a/f/x", b"")


def test_symlink_hop_limit(pond):
    root = pond.root
    root.create_file_path("target", b"T")
    root.create_symlink_path("l0", "target")
    for i in range(1, 41):
        root.create_symlink_path(f"l{i}", f"l{i - 1}")
    assert root.read_file_path("l39") == b"T"  # 40 hops
    with pytest.raises(SymlinkLoopError) as info:
        root.read_file_path("l40")  # 41 hops
    assert info.value.errno == errno.ELOOP and isinstance(info.value, OSError)
    root.create_symlink_path("self", "self")
    with pytest.raises(SymlinkLoopError):
        root.open_dir_path("self")
    assert not root.exists("self")


@pytest.mark.parametrize("bad", ["", ".", "..", "a\x00b", "x" * 256, "é" * 128, "\udc80"])
def test_invalid_names_leave_the_table_alone(pond, bad):
    before = pond.version
    with pytest.raises(InvalidNameError) as info:
        pond.root.create_file_path(bad, b"x") if bad not in ("", ".", "..") else pond.root.create_dir_path(bad)
    assert isinstance(info.value, ValueError)
    assert pond.version == before
    with pytest.raises(InvalidNameError):
        pond.root.create_symlink_path("ok", "a\x00b")
    assert pond.version == before


def test_non_bytes_content_rejected(pond):
    before = pond.version
    with pytest.raises(TypeError):
        pond.root.create_file_path("f", 12345)  # type: ignore[arg-type]
    assert pond.version == before and not pond.root.exists("f")


def test_errors_share_one_hierarchy():
    for name in tinylogsql.errors.__all__:
        assert issubclass(getattr(tinylogsql, name), PondError)
    assert issubclass(tinylogsql.PathNotFoundError, FileNotFoundError)
    assert issubclass(tinylogsql.ReadOnlyError, PermissionError)
    assert issubclass(tinylogsql.VersionNotFoundError, LookupError)
    assert issubclass(tinylogsql.SymlinkLoopError, OSError)


# -- transactions ----------------------------------------------------------------------
def test_transaction_is_one_commit_and_reads_its_own_writes(pond):
    root = pond.root
    before = pond.version
    with pond.transaction(message="import run 42", author="etl") as tx:
        d = root.create_dir_path("run")
        d.create_file_path("a", b"1")
        assert root.read_file_path("run/a") == b"1"
        assert list(root.open_dir_path("run")) == ["a"]
        root.rename("run/a", "run/b")
        assert list(d) == ["b"]
    assert tx.committed_version == pond.version == before + 1
    rows = pond.sql("select message, author, count(*) from oplog where version = ? group by all", [before + 1])
    assert rows.fetchall() == [("import run 42", "etl", 3)]


def test_transaction_rolls_back_on_error(pond_path):
    pond = Pond.create(pond_path)
    before = pond.version
    with pytest.raises(RuntimeError):
        with pond.transaction():
            pond.root.create_file_path("a", b"1")
            raise RuntimeError("boom")
    assert pond.version == before and not pond.root.exists("a")
    with Pond.open(pond_path) as fresh:
        assert not fresh.root.exists("a") and fresh.version == before


def test_transaction_conflict_and_precondition(pond_path):
    first = Pond.create(pond_path)
    second = Pond.open(pond_path)
    first.root.create_file_path("shared", b"v1")
    # precondition: both create "n"; the later commit fails as it would alone
    with pytest.raises(FileExistsError):
        with first.transaction():
            first.root.create_file_path("n", b"mine")
            second.root.create_file_path("n", b"theirs")
    assert second.root.read_file_path("n") == b"theirs"
    # conflict: the transaction read "shared", another writer changed it
    before = first.version
    with pytest.raises(ConflictError):
        with first.transaction():
            data = first.root.read_file_path("shared")
            first.root.create_file_path("copy", data)
            second.root.write_file_path("shared", b"v2")
    assert not first.root.exists("copy")
    assert first.version == before + 1  # only the foreign write landed
    # unrelated foreign commits do not conflict: the transaction rebases
    with first.transaction() as tx:
        first.root.create_file_path("mine", b"m")
        second.root.create_file_path("theirs2", b"t")
    assert tx.committed_version == first.version and first.root.exists("mine") and first.root.exists("theirs2")
    first.close()
    second.close()


def test_optimistic_transaction_finds_commits_it_did_not_ask_for(pond_path):
    """An optimistic transaction starts from the version its handle knows and claims the next one
    without asking the store: commits it has not seen are found by the append, then synced and
    re-checked as any transaction's (landed after them, or the per-op error with nothing of it kept)."""
    first = Pond.create(pond_path)
    second = Pond.open(pond_path)
    first.root.create_file_path("shared", b"v1")
    second.root.create_file_path("theirs", b"t")  # commits the first handle has not seen
    second.root.create_file_path("n", b"theirs")
    theirs = second.version
    with first.transaction(optimistic=True) as tx:
        first.root.create_file_path("mine", b"m")
    assert tx.committed_version == theirs + 1 == first.version  # after them, in the next version
    assert [first.root.read_file_path(name) for name in ("shared", "theirs", "n", "mine")] == [b"v1", b"t", b"theirs",
                                                                                              b"m"]
    versions = [v for (v,) in first.sql("SELECT version FROM commits ORDER BY version").fetchall()]
    assert versions == list(range(versions[0], versions[0] + len(versions)))  # one version each, none lost
    second.root.create_file_path("late", b"theirs")
    before = second.version
    with pytest.raises(FileExistsError):
        with first.transaction(optimistic=True):
            first.root.create_file_path("late", b"mine")
    assert first.root.read_file_path("late") == b"theirs" and first.version == before
    first.close()
    second.close()


def test_threads_race_for_one_name(pond):
    results: list[str] = []
    barrier = threading.Barrier(6)

    def worker(who: int) -> None:
        barrier.wait()
        try:
            pond.root.create_file_path("prize", str(who))
            results.append("won")
        except FileExistsError:
            results.append("lost")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["lost"] * 5 + ["won"]


def test_processes_race_and_lose_nothing(pond_path):
    Pond.create(pond_path).close()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(4)
        with ctx.Pool(4) as pool:
            outcome = pool.starmap(proc_helpers.race_create, [(pond_path, "prize", f"p{i}", barrier) for i in range(4)])
            made = pool.starmap(proc_helpers.many_creates, [(pond_path, f"w{i}", 15) for i in range(4)])
    assert sorted(outcome) == ["lost"] * 3 + ["won"]
    with Pond.open(pond_path) as pond:
        expected = {name for names in made for name in names} | {"prize"}
        assert set(pond.root) == expected
        created = pond.sql("select count(*) from oplog where op = 'create' and kind = 'file'").fetchall()[0][0]
        assert created == len(expected)
        winner = pond.root.read_file_path("prize").decode()
        assert winner.startswith("p")


# -- versions ----------------------------------------------------------------------------
def test_time_travel(pond):
    root = pond.root
    root.create_file_path("f", b"one")
    v1 = pond.version
    t1 = datetime.now(timezone.utc)
    root.write_file_path("f", b"two")
    root.create_file_path("g", b"g")
    old = pond.at(v1)
    assert old.version == v1 and old.read_only
    assert old.root.read_file_path("f") == b"one" and not old.root.exists("g")
    assert list(old.root) == ["f"]
    assert pond.at(t1).root.read_file_path("f") == b"one"
    assert pond.at(0).root.exists("/") and list(pond.at(0).root) == []
    assert old.sql("select count(*) from entries").fetchall()[0][0] == 1
    with pytest.raises(ReadOnlyError) as info:
        old.root.create_file_path("x", b"")
    assert isinstance(info.value, PermissionError)
    with pytest.raises(VersionNotFoundError):
        pond.at(pond.version + 5)
    with pytest.raises(LookupError):
        pond.at(datetime(2000, 1, 1, tzinfo=timezone.utc))
    assert root.read_file_path("f") == b"two"


# -- the views and the cache --------------------------------------------------------------
def test_views_and_state_cache_agree(pond):
    root = pond.root
    root.create_dir_path("a/b", parents=True)
    root.create_file_path("a/b/x", b"x")
    root.rename("a/b", "c")
    root.remove("a")
    root.create_symlink_path("s", "c/x")
    state_matches_views(pond)
    paths = dict(pond.sql("select path, kind from paths").fetchall())
    assert paths == {"/": "dir", "/c": "dir", "/c/x": "file", "/s": "symlink"}
    entries = pond.sql("select name from entries order by name").fetchall()
    assert entries == [("c",), ("s",), ("x",)]


def test_reads_use_the_table_file_list_not_a_glob(pond_path):
    pond = Pond.create(pond_path)
    for i in range(6):
        pond.root.create_file_path(f"f{i}", b"x")
    count = pond.sql("select count(*) from oplog").fetchall()[0][0]
    delta_table(pond_path).optimize.compact()  # rewrites files: old ones stay on disk
    pond.root.create_file_path("after", b"y")  # the live pond catches up over the compaction
    assert pond.sql("select count(*) from oplog").fetchall()[0][0] == count + 1
    with Pond.open(pond_path) as fresh:
        assert fresh.sql("select count(*) from oplog").fetchall()[0][0] == count + 1
        assert sorted(fresh.root) == sorted([f"f{i}" for i in range(6)] + ["after"])
    pond.close()


def test_sql_files_ship_in_the_wheel(tmp_path):
    import pathlib
    import subprocess
    import sys
    import zipfile

    repo = pathlib.Path(__file__).resolve().parent.parent
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path),
         str(repo)],
        check=True,
    )
    (wheel,) = tmp_path.glob("tinylogsql-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for view in sorted(p.name for p in (repo / "sql").glob("*.sql")):
        assert f"tinylogsql/sql/{view}" in names, view
    assert "tinylogsql/sql/nodes.sql" in names


def test_loop_error_names_the_path_asked_for(pond):
    pond.root.create_symlink_path("a", "b")
    pond.root.create_symlink_path("b", "a")
    pond.root.create_symlink_path("entry", "a")
    with pytest.raises(SymlinkLoopError) as info:
        pond.root.read_file_path("entry")
    assert info.value.filename == "entry"
    with pytest.raises(TypeError) as wrong:
        pond.at("1")  # type: ignore[arg-type]
    assert isinstance(wrong.value, PondError)
