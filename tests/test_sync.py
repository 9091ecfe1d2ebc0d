"""Pond.sync (issue 14): a local folder mirrored into a pond directory in one commit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tinylogsql.errors import NotADirError, PathExistsError, PathNotFoundError

pytestmark = pytest.mark.backends("local", "s3")


def test_sync_api_creates_writes_removes_and_commits_nothing_when_equal(pond, tmp_path, backend):
    local = tmp_path / "src"
    (local / "deep" / "er").mkdir(parents=True)
    (local / "a.txt").write_text("a")
    (local / "deep" / "er" / "big.bin").write_bytes(os.urandom(100_000))
    first = pond.sync(local, "/m/n", message="mirror", author="cron")
    assert first.committed and first.created == ["/m/n", "/m/n/a.txt", "/m/n/deep", "/m/n/deep/er",
                                                 "/m/n/deep/er/big.bin"]
    assert pond.sql("select author, message from commits order by version desc limit 1").fetchall() == [
        ("cron", "mirror")]
    assert pond.root.read_file_path("/m/n/deep/er/big.bin") == (local / "deep" / "er" / "big.bin").read_bytes()
    version = pond.version
    same = pond.sync(local, "/m/n")
    assert not same.committed and same.version == version == pond.version and same.unchanged == 2
    (local / "a.txt").write_text("A")
    pond.root.create_file_path("/m/n/extra.txt", "only in the pond")
    dry = pond.sync(local, "/m/n", delete=True, dry_run=True)
    assert (dry.written, dry.removed, dry.committed) == (["/m/n/a.txt"], ["/m/n/extra.txt"], False)
    assert pond.root.read_file_path("/m/n/a.txt") == b"a" and pond.version == version + 1
    done = pond.sync(local, "/m/n", delete=True)
    assert done.version == version + 2 and pond.root.get("/m/n/extra.txt") is None
    assert pond.root.read_file_path("/m/n/a.txt") == b"A"


def test_sync_bad_input_is_refused_and_changes_nothing(pond, tmp_path):
    local = tmp_path / "src"
    local.mkdir()
    (local / "x").mkdir()
    pond.root.create_dir_path("/d")
    pond.root.create_file_path("/d/x", "a file where the folder goes")
    version = pond.version
    with pytest.raises(PathExistsError, match="delete"):  # a file where the local folder has a folder
        pond.sync(local, "/d")
    with pytest.raises(PathNotFoundError):
        pond.sync(tmp_path / "missing", "/d")
    with pytest.raises(NotADirError):
        pond.sync(local, "/d/x")  # the pond target is a file
    (tmp_path / "plain").write_text("p")
    with pytest.raises(NotADirError):
        pond.sync(tmp_path / "plain", "/d")
    assert pond.version == version and pond.root.read_file_path("/d/x") == b"a file where the folder goes"
    replaced = pond.sync(local, "/d", delete=True)  # with delete, the file makes way for the folder
    assert replaced.removed == ["/d/x"] and replaced.created == ["/d/x"]
    assert pond.root.get("/d/x").kind == "dir"


def test_sync_reads_new_files_while_planning(pond, tmp_path):
    """New files are read on threads while later folders are still scanned (sync._Reader): every
    file arrives with its bytes, large ones as blobs, on_file reports each once with its size,
    and a folder already in the pond gets only what is new there."""
    local = tmp_path / "src"
    expected: dict[str, bytes] = {}
    for folder in range(5):
        for index in range(40):  # 200 new files: several reader batches
            path = local / f"f{folder}" / ("sub" if index % 3 else "") / f"x{index:02d}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(os.urandom(index * 30))  # the first is empty
            expected[path.relative_to(local).as_posix()] = path.read_bytes()
    (local / "f1" / "big.bin").write_bytes(os.urandom(200_000))  # over the inline limit
    expected["f1/big.bin"] = (local / "f1" / "big.bin").read_bytes()
    os.symlink("f1/big.bin", local / "link")
    pond.root.create_dir_path("/t/f2", parents=True)
    pond.root.create_file_path("/t/f2/x00.txt", b"")  # already there, same content
    seen: list[tuple[str, int]] = []
    report = pond.sync(local, "/t", on_file=lambda path, size: seen.append((path, size)))
    assert report.unchanged == 1 and "/t/f2/x00.txt" not in report.created
    del expected["f2/x00.txt"]
    assert sorted(seen) == sorted((f"/t/{path}", len(data)) for path, data in expected.items())
    assert report.bytes_written == sum(map(len, expected.values()))
    for path, data in expected.items():
        assert pond.root.read_file_path(f"/t/{path}") == data
    assert pond.root.get("/t/link", follow_symlinks=False).target == "f1/big.bin"
    assert pond.check().ok


def test_sync_equals_the_same_creates_one_by_one(tmp_path, pond_path):
    """A sync into an empty pond (new files read and hashed by reader threads, created by the bulk
    path) shows users what the per-op API shows for the same creates: files, sizes, sha256 and
    contents, entries, history and commits; large files anywhere in a reader's batch included."""
    from test_bulk import views

    from tinylogsql import Pond

    local = tmp_path / "src"
    for folder in range(3):
        (local / f"d{folder}").mkdir(parents=True)
        for index in range(100):  # reader batches of 64: large files inside, first and last in one
            size = 70_000 + index if index in (0, 5, 63, 64, 99) else (index * 37) % 2000
            (local / f"d{folder}" / f"f{index:03d}").write_bytes(os.urandom(size))
    (local / "empty").mkdir()
    (local / "top.txt").write_bytes(b"top")
    os.symlink("top.txt", local / "link")
    with Pond.create(str(tmp_path / "ref"), author="tester") as reference:
        with reference.transaction("mirror"):
            reference.root.create_dir_path("/m")
            for folder, dirs, names in os.walk(local):
                relative = os.path.relpath(folder, local)
                here = "/m" if relative == "." else f"/m/{relative}"
                for name in sorted(dirs + names):
                    source, path = os.path.join(folder, name), f"{here}/{name}"
                    if os.path.islink(source):
                        reference.root.create_symlink_path(path, os.readlink(source))
                    elif os.path.isdir(source):
                        reference.root.create_dir_path(path)
                    else:
                        reference.root.create_file_path(path, Path(source).read_bytes())
        expected = views(reference)
    with Pond.create(pond_path, author="tester") as pond:
        report = pond.sync(local, "/m", message="mirror")
        assert len(report.created) == 1 + 3 + 3 * 100 + 3  # /m, its folders, their files, 3 at the top
        assert report.version == pond.version == 1
        assert views(pond) == expected
        assert pond.check().ok


def test_sync_refuses_a_local_name_that_is_not_utf8_and_changes_nothing(pond, tmp_path):
    from tinylogsql.errors import InvalidNameError

    local = tmp_path / "src"
    local.mkdir()
    (local / "fine.txt").write_bytes(b"fine")
    with open(os.path.join(os.fsencode(local), b"caf\xe9.txt"), "wb") as handle:  # latin-1, not UTF-8
        handle.write(b"x")
    version = pond.version
    with pytest.raises(InvalidNameError):
        pond.sync(local, "/m")
    assert pond.version == version and pond.root.get("/m") is None
