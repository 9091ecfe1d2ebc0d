"""fsspec access to a pond (issue 5): fsspec's own reusable abstract suite, plus what it leaves out.

Every test runs against a real pond (Delta table in tmp_path, DuckDB reads), no mocks.
"""

from __future__ import annotations

import contextlib
import errno
import multiprocessing
import pickle
import shutil

import fsspec
import fsspec.tests.abstract as abstract
import pandas as pd
import pytest
from fsspec.tests.abstract import AbstractFixtures

from tinylogsql import Pond, ReadOnlyError
from tinylogsql.fsspec import PondFileSystem
from tinylogsql.history import commits


@pytest.fixture(scope="session")
def empty_pond(tmp_path_factory) -> str:
    """A pond just created; tests copy its folder, which is cheaper than creating one each."""
    path = str(tmp_path_factory.mktemp("template") / "pond")
    Pond.create(path, author="fsspec-tests").close()
    return path


def _fresh_fs(template: str, path: str) -> PondFileSystem:
    shutil.copytree(template, path)
    return fsspec.filesystem("tinylogsql", pond=path, skip_instance_cache=True)


class PondFixtures(AbstractFixtures):
    """A fresh pond per test; paths are absolute pond paths, joined with "/".

    The scenario builders are fsspec's own; they run inside ``fs.transaction`` so that each
    scenario is one commit instead of one per file (faster, and what they create is the same).
    """

    @pytest.fixture
    def fs(self, empty_pond, tmp_path):
        fs = _fresh_fs(empty_pond, str(tmp_path / "pond"))
        yield fs
        fs.pond.close()

    @pytest.fixture
    def fs_join(self):
        return lambda *args: "/".join(args)

    @pytest.fixture
    def fs_path(self):
        return ""  # the root: fs_join("", "source") == "/source"

    def _glob_edge_cases_files(self, some_fs, some_join, some_path):
        with _batched(some_fs):
            return super()._glob_edge_cases_files(some_fs, some_join, some_path)

    def _bulk_operations_scenario_0(self, some_fs, some_join, some_path):
        with _batched(some_fs):
            return super()._bulk_operations_scenario_0(some_fs, some_join, some_path)

    def _dir_and_file_with_same_name_prefix(self, some_fs, some_join, some_path):
        with _batched(some_fs):
            return super()._dir_and_file_with_same_name_prefix(some_fs, some_join, some_path)

    def _10_files_with_hashed_names(self, some_fs, some_join, some_path):
        with _batched(some_fs):
            return super()._10_files_with_hashed_names(some_fs, some_join, some_path)


def _batched(some_fs):
    return some_fs.transaction if isinstance(some_fs, PondFileSystem) else contextlib.nullcontext()


class TestPondCopy(abstract.AbstractCopyTests, PondFixtures):
    pass


class TestPondGet(abstract.AbstractGetTests, PondFixtures):
    pass


class TestPondPut(abstract.AbstractPutTests, PondFixtures):
    pass


class TestPondOpen(abstract.AbstractOpenTests, PondFixtures):
    pass


class TestPondPipe(abstract.AbstractPipeTests, PondFixtures):
    pass


# -- what the abstract suite does not cover: ls, info, mkdir, rm, mv, links, versions -----
@pytest.fixture
def pond_fs(empty_pond, tmp_path):
    fs = _fresh_fs(empty_pond, str(tmp_path / "pond"))
    yield fs, str(tmp_path / "pond")
    fs.pond.close()


def test_registered_through_entry_point(pond_fs):
    fs, path = pond_fs
    assert "tinylogsql" in fsspec.available_protocols()
    again = fsspec.filesystem("tinylogsql", pond=path)
    assert isinstance(again, PondFileSystem)
    fs.pipe("/x.txt", b"hello")
    assert fsspec.open("tinylogsql://x.txt", "rb", pond=path).open().read() == b"hello"
    with fsspec.open("tinylogsql:///x.txt", "rt", pond=path) as f:
        assert f.read() == "hello"


def test_ls_info_mkdir_rm(pond_fs):
    fs, path = pond_fs
    fs.mkdir("/a/b")  # create_parents defaults to True
    with pytest.raises(FileExistsError):
        fs.mkdir("/a/b")
    with pytest.raises(FileNotFoundError):
        fs.mkdir("/nope/x", create_parents=False)
    fs.makedirs("/a/b", exist_ok=True)
    fs.pipe("/a/b/x.csv", b"1,2\n")
    assert fs.ls("/a", detail=False) == ["/a/b"]
    [entry] = fs.ls("/a/b")
    assert entry["name"] == "/a/b/x.csv" and entry["type"] == "file" and entry["size"] == 4
    assert entry["version"] == fs.pond.version and entry["sha256"]
    assert fs.ls("/a/b/x.csv", detail=False) == ["/a/b/x.csv"]
    info = fs.info("tinylogsql://a/b/x.csv")
    assert info["modified"] == fs.modified("/a/b/x.csv") and info["modified"].tzinfo is not None
    assert fs.isdir("/a") and fs.isfile("/a/b/x.csv") and not fs.exists("/a/zzz")
    assert fs.du("/a") == 4
    assert fs.cat_file("/a/b/x.csv", start=1, end=3) == b",2"
    with pytest.raises(FileNotFoundError):
        fs.info("/missing")
    with pytest.raises(FileNotFoundError):
        fs.ls("/missing")
    with pytest.raises(IsADirectoryError):
        fs.cat_file("/a")
    with pytest.raises(OSError) as excinfo:
        fs.rmdir("/a/b")
    assert excinfo.value.errno == errno.ENOTEMPTY
    with pytest.raises(OSError) as excinfo:
        fs.rm("/a")
    assert excinfo.value.errno == errno.ENOTEMPTY
    fs.rm("/a", recursive=True)
    assert fs.ls("/", detail=False) == []
    with pytest.raises(FileNotFoundError):
        fs.rm("/a")


def test_one_commit_per_closed_file_and_per_batch(pond_fs, tmp_path):
    fs, _ = pond_fs
    start = fs.pond.version
    with fs.open("/deep/dir/f.bin", "wb") as f:
        f.write(b"a" * 10)
        f.write(b"b" * 10)
        assert fs.pond.version == start  # nothing lands before close
    assert fs.pond.version == start + 1  # the file and its missing parents: one commit
    assert fs.cat("/deep/dir/f.bin") == b"a" * 10 + b"b" * 10
    with fs.open("/deep/dir/f.bin", "ab") as f:
        f.write(b"c")
    assert fs.cat("/deep/dir/f.bin").endswith(b"bc") and fs.pond.version == start + 2
    with pytest.raises(RuntimeError), fs.open("/deep/dir/f.bin", "wb") as f:
        f.write(b"half")
        raise RuntimeError("boom")
    assert fs.cat("/deep/dir/f.bin").endswith(b"bc") and fs.pond.version == start + 2
    with fs.transaction:
        for i in range(3):
            with fs.open(f"/batch/{i}.txt", "wb") as f:
                f.write(str(i).encode())
        assert not fs.exists("/batch")
    assert fs.pond.version == start + 3 and fs.ls("/batch", detail=False) == [f"/batch/{i}.txt" for i in range(3)]
    fs.rm(["/batch/0.txt", "/batch/1.txt"])
    fs.copy("/batch", "/copied", recursive=True)
    assert fs.pond.version == start + 5
    local = tmp_path / "local"
    local.mkdir()
    for i in range(4):
        (local / f"{i}.txt").write_text(str(i))
    fs.put(str(local) + "/", "/uploaded", recursive=True)
    assert fs.pond.version == start + 6 and len(fs.ls("/uploaded")) == 4
    assert commits(fs.pond, 1)[0].creates == 5  # the folder and four files


def test_mv_is_one_move_op_and_keeps_identity(pond_fs):
    fs, _ = pond_fs
    fs.pipe("/a/x.txt", b"x")
    fs.mkdir("/b")
    node = fs.info("/a/x.txt")["node_id"]
    version = fs.pond.version
    fs.mv("/a/x.txt", "/b")  # into an existing directory, like mv
    assert fs.info("/b/x.txt")["node_id"] == node and not fs.exists("/a/x.txt")
    fs.mv("/b", "/c", recursive=True)
    assert fs.info("/c/x.txt")["node_id"] == node
    assert fs.pond.version == version + 2
    assert [c.moves for c in commits(fs.pond, 2)] == [1, 1]
    with pytest.raises(FileNotFoundError):
        fs.mv("/c/x.txt", "/nowhere/y.txt")


def test_symlinks_are_followed_and_reported(pond_fs):
    fs, _ = pond_fs
    fs.pipe("/data/x.csv", b"a,b\n")
    fs.pond.root.create_symlink_path("/latest", "/data")
    fs.pond.root.create_symlink_path("/data/rel", "x.csv")
    fs.pond.root.create_symlink_path("/dangling", "/gone")
    assert fs.isdir("/latest") and fs.ls("/latest", detail=False) == ["/latest/rel", "/latest/x.csv"]
    info = fs.info("/data/rel")
    assert info["islink"] and info["destination"] == "x.csv" and info["type"] == "file" and info["size"] == 4
    assert fs.cat("/latest/rel") == b"a,b\n"
    assert fs.info("/dangling")["type"] == "other" and fs.islink("/dangling")


def test_pandas_reads_and_writes_through_the_url(pond_fs):
    fs, path = pond_fs
    opts = {"pond": path}
    fs.pipe("/data/x.csv", b"sensor,value\na,1.5\nb,2.5\n")
    df = pd.read_csv("tinylogsql://data/x.csv", storage_options=opts)
    assert list(df["value"]) == [1.5, 2.5]
    version = fs.pond.version
    df.assign(double=df.value * 2).to_parquet("tinylogsql://out/x.parquet", storage_options=opts)
    assert fs.pond.version == version + 1  # one commit for the closed file
    back = pd.read_parquet("tinylogsql:///out/x.parquet", storage_options=opts)
    assert list(back["double"]) == [3.0, 5.0]
    with Pond.open(path) as pond:  # a separate Pond sees it: no second copy of state
        assert pond.root.read_file_path("/out/x.parquet")[:4] == b"PAR1"


def test_at_version_is_read_only_and_time_travels(pond_fs):
    fs, path = pond_fs
    fs.pipe("/x.txt", b"one")
    first = fs.pond.version
    fs.pipe("/x.txt", b"two")
    old = fsspec.filesystem("tinylogsql", pond=path, at=first)
    assert old.cat("/x.txt") == b"one" and fs.cat("/x.txt") == b"two"
    opts = {"pond": path, "at": str(first)}
    assert pd.read_csv("tinylogsql://x.txt", storage_options=opts, header=None)[0][0] == "one"
    with pytest.raises(ReadOnlyError):
        old.pipe("/y.txt", b"no")
    with pytest.raises(PermissionError):
        old.open("/x.txt", "wb")
    with pytest.raises(PermissionError):
        old.rm("/x.txt")


def _read_in_child(fs: PondFileSystem) -> bytes:
    return fs.cat("/x.txt")


def test_pickles_into_another_process(pond_fs):
    fs, _ = pond_fs
    fs.pipe("/x.txt", b"across processes")
    assert pickle.loads(pickle.dumps(fs)).cat("/x.txt") == b"across processes"
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.apply(_read_in_child, (fs,)) == b"across processes"


def test_writes_are_credited_to_the_ponds_author(tmp_path, monkeypatch):
    """Issue 14: pandas/fsspec writes carried the OS user even when the pond was opened with an author."""
    path = str(tmp_path / "pond")
    Pond.create(path).close()
    frame = pd.DataFrame({"sensor": ["a", "b"], "value": [1.5, 2.5]})
    with Pond.open(path, author="alice") as pond:
        frame.to_csv("tinylogsql://data/a.csv", storage_options={"pond": pond}, index=False)
        fsspec.filesystem("tinylogsql", pond=pond).mkdir("/made")  # a single op, outside any batch
        # an instance built on one Pond object is never handed out for another (fsspec caches by repr)
        with Pond.open(path, author="carol") as other:
            assert fsspec.filesystem("tinylogsql", pond=other).author == "carol"
        frame.to_csv("tinylogsql://data/b.csv", storage_options={"pond": path, "author": "bob"}, index=False)
        monkeypatch.setenv("TINYLOGSQL_AUTHOR", "dora")
        frame.to_csv("tinylogsql://data/c.csv", storage_options={"pond": path, "skip_instance_cache": True},
                     index=False)
        rows = pond.sql("select author, message from commits where version > 0 order by version").fetchall()
        # pandas makes the parent directory first (makedirs: its own commit), then writes the file
        assert rows == [("alice", "fsspec makedirs /data"), ("alice", "fsspec write /data/a.csv"),
                        ("alice", "fsspec mkdir /made"), ("bob", "fsspec write /data/b.csv"),
                        ("dora", "fsspec write /data/c.csv")]
        assert pd.read_csv("tinylogsql://data/a.csv", storage_options={"pond": pond}).equals(frame)


def test_polars_reads_pond_files(tmp_path):
    """Polars' own reader takes only its cloud schemes; use_pyarrow=True (or an open fsspec file) works."""
    import polars as pl

    path = str(tmp_path / "pond")
    with Pond.create(path) as pond:
        pond.root.create_file_path("/data.csv", "sensor,value\na,1.5\nb,2.5\n")
    fs = fsspec.filesystem("tinylogsql", pond=path, skip_instance_cache=True)
    through_fsspec = pl.read_csv("tinylogsql://data.csv", storage_options={"pond": path}, use_pyarrow=True)
    with fs.open("/data.csv") as handle:
        opened = pl.read_csv(handle)
    assert through_fsspec.to_dicts() == opened.to_dicts() == [{"sensor": "a", "value": 1.5},
                                                              {"sensor": "b", "value": 2.5}]
    fs.pond.close()
