"""The bulk path (bulk.py): create_files and ingest equal the same ops done one by one."""

from __future__ import annotations

import io
import multiprocessing

import pyarrow as pa
import pytest

from tinylogsql import Pond
from tinylogsql.errors import (
    InvalidArgumentError,
    InvalidContentError,
    InvalidNameError,
    IsADirError,
    NotADirError,
    PathExistsError,
    PathNotFoundError,
    ReadOnlyError,
)

pytestmark = pytest.mark.backends("local", "s3")

BIG = bytes(range(256)) * 400  # over the inline limit: stored as chunks


def sample() -> dict[str, bytes]:
    files = {f"data/d{i % 7}/sub{i % 3}/f{i:03d}.txt": f"file {i}\n".encode() * (i % 5) for i in range(60)}
    files["top.bin"] = BIG
    files["data/empty"] = b""
    return files


def one_by_one(pond: Pond, files: dict[str, bytes], message: str) -> None:
    """What create_files does, through the per-op API in one transaction."""
    with pond.transaction(message):
        for path, content in files.items():
            if "/" in path:
                pond.root.create_dir_path(path.rsplit("/", 1)[0], parents=True, exist_ok=True)
            pond.root.create_file_path(path, content)


def views(pond: Pond) -> dict[str, list[tuple]]:
    """What a user sees, minus ids and times: files, entries, history and commits."""
    return {
        "files": pond._fixed_sql("SELECT path, size, sha256, content FROM files ORDER BY path"),
        "entries": pond._fixed_sql("SELECT e.kind, p.path FROM entries e JOIN paths p USING (node_id) ORDER BY 2"),
        "history": pond._fixed_sql("SELECT version, op, kind, path, size, sha256, message FROM history "
                                   "ORDER BY version, path"),
        "commits": pond._fixed_sql("SELECT version, ops, creates, bytes_added, message, branch FROM commits "
                                   "ORDER BY version"),
    }


def test_bulk_equals_one_by_one(tmp_path, pond_path, backend):
    files = sample()
    with Pond.create(str(tmp_path / "ref"), author="tester") as reference:
        one_by_one(reference, files, "load")
        expected = views(reference)
    with Pond.create(pond_path, author="tester") as pond:
        version = pond.root.create_files(files, message="load")
        assert version == pond.version == 1
        assert views(pond) == expected
        assert pond.root.read_file_path("top.bin") == BIG
        assert pond.check().ok


def test_ingest_table_with_kinds(tmp_path, pond):
    table = pa.table({
        "path": ["a/x", "a/link", "b", "b/c/y", "z"],
        "content": [b"x", None, None, "why", None],
        "kind": ["file", "symlink", "dir", "file", "file"],
        "target": [None, "x", None, None, None],
    })
    version = pond.ingest(table, message="ingest")
    assert pond.root.read_file_path("a/link") == b"x"  # the symlink resolves to a/x
    assert pond.root.get("a/link").target == "x"
    assert pond.root.read_file_path("b/c/y") == b"why"
    assert pond.root.read_file_path("z") == b""
    assert pond.root.get("b").kind == "dir"
    with Pond.create(str(tmp_path / "ref"), author="tester") as reference:
        with reference.transaction("ingest"):
            reference.root.create_dir_path("a")
            reference.root.create_file_path("a/x", b"x")
            reference.root.create_symlink_path("a/link", "x")
            reference.root.create_dir_path("b")
            reference.root.create_dir_path("b/c")
            reference.root.create_file_path("b/c/y", b"why")
            reference.root.create_file_path("z", b"")
        assert views(pond)["files"] == views(reference)["files"]
        assert views(pond)["entries"] == views(reference)["entries"]
    assert pond._fixed_sql("SELECT count(*) FROM commits WHERE version = ?", [version]) == [(1,)]


def test_contents_of_every_form(tmp_path, pond):
    local = tmp_path / "local.bin"
    local.write_bytes(BIG + b"tail")
    small = tmp_path / "small.txt"
    small.write_text("small")
    pond.root.create_files({"s": "text", "b": bytearray(b"ba"), "m": memoryview(b"mv"), "stream": io.BytesIO(b"st"),
                            "path": local, "small": small})
    assert [pond.root.read_file_path(p) for p in ("s", "b", "m", "stream", "small")] == [
        b"text", b"ba", b"mv", b"st", b"small"]
    assert pond.root.read_file_path("path") == BIG + b"tail"
    assert pond.root.get("path").size == len(BIG) + 4


def test_errors_leave_the_store_unchanged(pond, check_by):
    pond.root.create_files({"d/x": b"1", "f": b"file"})
    before, listed = pond.version, sorted(pond.root.glob("**/*"))
    cases = [
        ({"d/x": b"again"}, {}, PathExistsError),
        ({"d": b"a dir is there"}, {"exist_ok": True}, IsADirError),
        ({"f/y": b"under a file"}, {}, NotADirError),
        ({"d/e/z": b"fine", "f/y/z": b"deeper under a file"}, {}, NotADirError),  # (ancestors resolved first)
        ({"new/y": b"no parent"}, {"parents": False}, PathNotFoundError),
        ({"d/ok": b"1", "d//ok": b"2"}, {}, PathExistsError),  # the same entry twice
        ({"./dup": b"1", "dup": b"2"}, {}, PathExistsError),  # ... spelled in ascending order
        ({"d/..": b"dots"}, {}, InvalidNameError),
        ({"d/" + "n" * 256: b"long"}, {}, InvalidNameError),
        ({"d/name\x00.txt": b"nul"}, {}, InvalidNameError),  # (a long enough name: bulk._check_names' NUL pass)
        ({"d/fine": b"1", "d/.": b"dot"}, {}, InvalidNameError),
        ({"d/q": 12}, {}, InvalidContentError),
        ({"d/q": b""}, {"parents": "yes"}, InvalidArgumentError),
    ]
    for files, options, error in cases:
        with pytest.raises(error):
            pond.root.create_files(files, **options)
        assert pond.version == before
        assert sorted(pond.root.glob("**/*")) == listed
    with pytest.raises(InvalidArgumentError):
        pond.ingest(pa.table({"name": ["x"]}))
    with pytest.raises(InvalidArgumentError):
        pond.ingest(pa.table({"path": ["x"], "kind": ["socket"]}))
    with pytest.raises(InvalidNameError):
        pond.ingest(pa.table({"path": ["l"], "kind": ["symlink"], "target": [None]}))
    with pytest.raises(ReadOnlyError):
        pond.at(before).root.create_files({"r": b"1"})
    assert pond.version == before


def test_exist_ok_writes_new_versions(pond, check_by):
    pond.root.create_files({"a/x": b"1", "a/y": b"2"})
    version = pond.root.create_files({"a/x": b"one", "a/z": b"3"}, exist_ok=True, message="update")
    assert [pond.root.read_file_path(p) for p in ("a/x", "a/y", "a/z")] == [b"one", b"2", b"3"]
    ops = pond._fixed_sql("SELECT op, path FROM history WHERE version = ? ORDER BY path", [version])
    assert ops == [("write", "/a/x"), ("create", "/a/z")]


def test_inside_a_transaction_with_other_ops(pond, check_by):
    pond.root.create_file_path("old", b"o")
    with pond.transaction("mixed") as tx:
        pond.root.remove("old")
        pond.root.create_files({"old/inner": b"now a dir", "k/v": b"v"})
        assert pond.root.read_file_path("k/v") == b"v"  # the transaction reads its own bulk creates
        pond.root.rename("k/v", "k/w")
        pond.root.create_files({"k/v": b"again"})
    assert tx.committed_version == pond.version
    assert sorted(pond.root.glob("**/*")) == ["/k", "/k/v", "/k/w", "/old", "/old/inner"]
    assert pond.root.read_file_path("k/w") == b"v"
    assert pond.check().ok


def test_on_a_branch(tmp_path, pond):
    pond.root.create_file_path("base", b"b")
    dev = pond.create_branch("dev")
    files = sample()
    version = dev.root.create_files(files, message="load")
    assert not pond.root.exists("data")
    assert dev.root.read_file_path("data/d0/sub0/f000.txt") == files["data/d0/sub0/f000.txt"]
    assert dev._fixed_sql("SELECT DISTINCT branch FROM history WHERE version = ?", [version]) == [("dev",)]
    with Pond.create(str(tmp_path / "ref"), author="tester") as reference:
        reference.root.create_file_path("base", b"b")
        one_by_one(reference, files, "load")
        assert views(dev)["files"] == views(reference)["files"]
        assert views(dev)["entries"] == views(reference)["entries"]
    assert dev.check().ok
    pond.merge("dev")
    assert pond.root.read_file_path("top.bin") == BIG


def _spawn(target, *args):  # type: ignore[no-untyped-def]
    process = multiprocessing.get_context("spawn").Process(target=target, args=args)
    process.start()
    process.join(120)
    assert process.exitcode == 0


@pytest.fixture(params=["python", "lookups", "listings"])
def check_by(request, monkeypatch):
    """Every way a batch is staged: in plain Python (small batches, smallbatch.py), or in Arrow columns
    with a lookup of each name (up to LOOKUP_MAX) or a listing per parent."""
    import tinylogsql.bulk
    import tinylogsql.smallbatch

    if request.param != "python":
        monkeypatch.setattr(tinylogsql.smallbatch, "SMALL_BATCH", 0)
    if request.param == "listings":
        monkeypatch.setattr(tinylogsql.bulk, "LOOKUP_MAX", 0)
    return request.param


def test_concurrent_writer(pond, pond_path, check_by):
    from proc_helpers import create_file

    pond.root.create_files({"d/a": b"a"})
    # another process creates a name the bulk also creates: the bulk fails as the per-op API would
    with pytest.raises(PathExistsError, match="d/b"):
        with pond.transaction("bulk"):
            pond.root.create_files({"d/b": b"mine", "d/c": b"c", "e/f": b"f"})
            _spawn(create_file, pond_path, "d/b", b"theirs")
    assert pond.root.read_file_path("d/b") == b"theirs"
    assert not pond.root.exists("d/c") and not pond.root.exists("e")
    # an unrelated foreign commit: the bulk moves its base on and lands after it
    with pond.transaction("bulk") as tx:
        pond.root.create_files({"d/c": b"c", "e/f": b"f"})
        _spawn(create_file, pond_path, "other", b"o")
    assert tx.committed_version == pond.version
    assert sorted(pond.root.glob("**/*")) == ["/d", "/d/a", "/d/b", "/d/c", "/e", "/e/f", "/other"]
    assert pond.check().ok


def staged(pond: Pond, arrow: bool) -> dict[str, list[tuple]]:
    """Small batches of every kind of entry, staged in plain Python or (``arrow``) in Arrow columns:
    new and existing folders, "./" and "//" spellings, a symlinked folder, explicit directories,
    symlinks, rewrites of existing files (exist_ok), alone and inside a transaction with other ops."""
    import tinylogsql.smallbatch

    limit = tinylogsql.smallbatch.SMALL_BATCH
    tinylogsql.smallbatch.SMALL_BATCH = -1 if arrow else limit
    try:
        root = pond.root
        root.create_dir_path("target/inner", parents=True)
        root.create_symlink_path("via", "target")
        root.create_files({f"d{i % 3}/s{i % 2}/f{i}": b"%d" % i * i for i in range(40)}, message="first")
        root.create_files({"d0/s0/f0": b"new 0", "./d1//s1/f1": b"new 1", "d2/new/f": b"fresh", "via/inner/x": b"x",
                           "d1/s0/f4": BIG, "top": b""}, exist_ok=True, message="rewrites")
        pond.ingest(pa.table({"path": ["e", "e/link", "e/f", "d0/s0/f6", "d0/link2"],
                              "kind": ["dir", "symlink", "file", "file", "symlink"],
                              "content": [None, None, b"ef", b"six", None],
                              "target": [None, "f", None, None, "s0/f6"]}), "/", exist_ok=True, message="kinds")
        with pond.transaction("mixed"):
            root.remove("d2/s0/f2")
            root.create_files({"d2/s0/f2": b"again", "d2/s0/f8": b"eight", "k/v": b"v"}, exist_ok=True)
            root.rename("k/v", "k/w")
            root.create_files({"k/v": b"v2"})
        with pytest.raises(PathExistsError, match="d0/s0/f0"):
            root.create_files({"d0/s0/zz": b"z", "d0/s0/f0": b"taken"})
        return views(pond)
    finally:
        tinylogsql.smallbatch.SMALL_BATCH = limit


def test_small_batches_in_python_equal_the_arrow_path(tmp_path, pond_path):
    """A small batch staged in plain Python (smallbatch.py) commits the same ops as through the Arrow
    columns: the same files, entries, history and commits, the same errors."""
    with Pond.create(str(tmp_path / "arrow"), author="tester") as reference:
        expected = staged(reference, arrow=True)
    with Pond.create(pond_path, author="tester") as pond:
        assert staged(pond, arrow=False) == expected
        assert pond.check().ok


@pytest.fixture(params=["hashlib", "duckdb"])
def hashed_by(request, monkeypatch):
    """Both ways a batch hashes its contents: hashlib (small batches) or DuckDB for the small
    contents and hashlib threads for the larger ones (see hashing.py)."""
    import tinylogsql.bulk
    import tinylogsql.hashing

    if request.param == "duckdb":  # (and on the background thread)
        monkeypatch.setattr(tinylogsql.hashing, "DUCKDB_MIN", 0)
        monkeypatch.setattr(tinylogsql.hashing, "THREADED_BYTES", 0)
        monkeypatch.setattr(tinylogsql.bulk, "BACKGROUND_HASH", 0)
    return request.param


def test_a_large_unsorted_batch_equals_one_by_one(tmp_path, hashed_by):
    """Over LOOKUP_MAX entries: names checked by listing each parent; contents of every size
    (empty, small, over the DuckDB limit, near the inline limit) hashed as hashlib does; new
    directories nested deeper than any file's, a symlinked directory and "./" spellings on the way."""
    import hashlib

    files = {f"n/d{i % 37:02d}/deep/er/f{i:04d}": b"%d" % i * (i % 700) for i in range(2100)}
    files.update({"n/medium": bytes(range(256)) * 100, "n/empty": b"", "./n/dot": b"dot", "n/./dot2": b"dot2"})
    files["via/link/x"] = b"through a symlinked directory"
    files = dict(reversed(list(files.items())))  # not in path order
    with Pond.create(str(tmp_path / "ref"), author="tester") as reference:
        reference.root.create_dir_path("target")
        reference.root.create_dir_path("via")
        reference.root.create_symlink_path("via/link", "../target")
        one_by_one(reference, files, "load")
        expected = views(reference)
    with Pond.create(str(tmp_path / "bulk"), author="tester") as pond:
        pond.root.create_dir_path("target")
        pond.root.create_dir_path("via")
        pond.root.create_symlink_path("via/link", "../target")
        pond.root.create_files(files, message="load")
        assert views(pond) == expected
        assert pond.root.read_file_path("target/x") == b"through a symlinked directory"
        for path in ("n/medium", "n/empty", "n/d05/deep/er/f0005"):
            assert pond.root.get(path).sha256 == hashlib.sha256(files[path]).hexdigest()
        assert pond.check().ok


@pytest.mark.parametrize("kind", [pa.binary(), pa.large_binary(), pa.string(), pa.large_string()])
def test_ingest_content_columns_of_every_type(pond, kind):
    contents = ["small", "", None, "x" * 70_000]  # the last is over the inline limit
    first = pa.table({"path": ["t/a", "t/b"], "content": pa.array(contents[:2], kind)})
    second = pa.table({"path": ["t/c", "t/d"], "content": pa.array(contents[2:], kind)})
    pond.ingest(pa.concat_tables([first, second]))  # two chunks per column
    assert [pond.root.read_file_path(f"t/{name}") for name in "abcd"] == [b"small", b"", b"", b"x" * 70_000]
    assert pond.root.get("t/d").size == 70_000
    assert pond.check().ok
