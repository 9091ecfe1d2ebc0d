"""Damaged stores (issue 7): each damage gives CorruptPondError or an OSError naming the file, never
a dependency's traceback and never silently wrong data; what can still be read stays readable.

Read-only folders and full disks are real: a read-only bind mount and a small tmpfs when this
process may mount (root in a container usually may; chmod does not stop root). Otherwise a
read-only folder is made with chmod (enough for a non-root user) and a full disk is simulated
by RLIMIT_FSIZE in a child process (the kernel refuses the write with EFBIG).
"""

from __future__ import annotations

import errno
import glob
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_helpers import worker_env

from tinylogsql import CorruptPondError, Pond, PondError, PondNotFoundError
from tinylogsql.check import check_path

BIG = b"B" * 100_000  # chunked: one chunk (constant bytes have no cut point below 256 KiB)


def _pond(path: Path) -> Pond:
    pond = Pond.create(path)
    root = pond.root
    root.create_file_path("a", b"aaa")  # version 1
    root.create_file_path("big", BIG)  # version 2
    root.create_file_path("c", b"ccc")  # version 3
    return pond


def _data_file(path: Path, version: int) -> Path:
    entry = path / "log" / "_delta_log" / f"{version:020d}.json"
    add = next(json.loads(line)["add"] for line in entry.read_text().splitlines() if '"add"' in line)
    return path / "log" / add["path"]


def _clear(exc: BaseException, names: str | Path | None = None) -> None:
    """A clear error: ours or an OSError, one line (no dependency backtrace), naming the file."""
    assert isinstance(exc, (PondError, OSError)), repr(exc)
    text = str(exc)
    assert "\n" not in text and "panicked" not in text and "<unknown>" not in text, text
    if names is not None:
        assert str(names) in text, f"{text!r} does not name {names}"


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


# -- damaged data files ------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["missing", "truncated", "garbage"])
def test_damaged_data_file(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "pond"
    pond = _pond(path)
    victim = _data_file(path, 2)
    if damage == "missing":
        victim.unlink()
    elif damage == "truncated":
        data = victim.read_bytes()
        victim.write_bytes(data[: len(data) // 2])
    else:
        victim.write_bytes(b"not parquet at all" * 10)
    with pytest.raises(CorruptPondError) as info:
        Pond.open(path)
    _clear(info.value, victim)
    # The pond that was already open still reads what it holds, and check names the file.
    assert pond.root.read_file_path("a") == b"aaa"
    report = check_path(path)
    assert not report.ok
    assert any(p.path == str(victim) for p in report.problems), report.problems
    pond.close()


# -- damaged log entries ------------------------------------------------------------------------
@pytest.mark.parametrize("garbage", ["garbage{{{\n", "", '{"foo": 1}\n', "[1, 2]\n", "\x00\xff\xfe"])
def test_garbage_log_entry_in_the_middle(tmp_path: Path, garbage: str) -> None:
    path = tmp_path / "pond"
    _pond(path).close()
    entry = path / "log" / "_delta_log" / f"{2:020d}.json"
    entry.write_bytes(garbage.encode("latin-1"))
    with pytest.raises(CorruptPondError) as info:  # never a pond silently missing "big"
        Pond.open(path)
    _clear(info.value, entry)
    report = check_path(path)
    assert any(p.path == str(entry) for p in report.problems), report.problems


@pytest.mark.parametrize("garbage", ["garbage{{{\n", '{"foo": 1}\n', ""])
def test_garbage_next_log_entry_seen_by_an_open_pond(tmp_path: Path, garbage: str) -> None:
    path = tmp_path / "pond"
    pond = _pond(path)
    version = pond.version
    entry = path / "log" / "_delta_log" / f"{version + 1:020d}.json"
    entry.write_text(garbage)
    for action in (lambda: pond.root.read_file_path("a"), lambda: pond.root.write_file_path("d", b"d"),
                   lambda: Pond.open(path)):
        with pytest.raises(CorruptPondError) as info:
            action()
        _clear(info.value, entry)
    # What was committed before the damage is still readable at its version.
    entry.unlink()
    with Pond.open(path) as fresh:
        assert fresh.version == version
        assert fresh.root.read_file_path("big") == BIG
    pond.close()


# -- chunks ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["missing", "altered", "truncated"])
def test_damaged_chunk(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "pond"
    _pond(path).close()
    (blob,) = glob.glob(str(path / "chunks" / "*"))
    if damage == "missing":
        os.unlink(blob)
    elif damage == "altered":
        Path(blob).write_bytes(b"X" * len(BIG))
    else:
        Path(blob).write_bytes(BIG[:10])
    with Pond.open(path) as pond:
        with pytest.raises(CorruptPondError) as info:
            pond.root.read_file_path("big")
        _clear(info.value, blob)
        # Everything else stays readable.
        assert pond.root.read_file_path("a") == b"aaa"
        assert sorted(pond.root) == ["a", "big", "c"]
        assert pond.root.get("big").size == len(BIG)
        report = pond.check()
    assert [p.code for p in report.problems] == ["chunk-missing" if damage == "missing" else "chunk-damaged"]
    assert report.problems[0].path == blob


# -- not a pond -------------------------------------------------------------------------------------
def test_folders_that_are_not_ponds(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "a-file").write_text("hello")
    (tmp_path / "half" / "log" / "_delta_log").mkdir(parents=True)  # Pond.create killed early
    for name in ("empty", "missing", "a-file", "half"):
        with pytest.raises(PondNotFoundError) as info:
            Pond.open(tmp_path / name)
        _clear(info.value, tmp_path / name)
    # A crash inside Pond.create leaves an empty _delta_log: creating again works.
    with Pond.create(tmp_path / "half") as pond:
        assert pond.version == 0
    with pytest.raises(OSError) as info:
        Pond.create(tmp_path / "a-file")
    _clear(info.value, tmp_path / "a-file")

    import pyarrow as pa
    from deltalake import write_deltalake

    write_deltalake(str(tmp_path / "other" / "log"), pa.table({"x": [1]}))
    with pytest.raises(CorruptPondError) as info:
        Pond.open(tmp_path / "other")
    _clear(info.value, tmp_path / "other")
    junk = tmp_path / "junk" / "log" / "_delta_log" / f"{0:020d}.json"
    junk.parent.mkdir(parents=True)
    junk.write_text("junk")
    with pytest.raises(CorruptPondError) as info:
        Pond.open(tmp_path / "junk")
    _clear(info.value, junk)


# -- read-only folder -------------------------------------------------------------------------------
@pytest.fixture
def read_only_pond(tmp_path: Path) -> Iterator[Path]:
    source, view = tmp_path / "rw", tmp_path / "ro"
    _pond(source / "pond").close()
    view.mkdir()
    if os.geteuid() == 0:
        if not (_mount("--bind", str(source), str(view)) and _mount("-o", "remount,bind,ro", str(view))):
            subprocess.run(["umount", str(view)], capture_output=True)
            pytest.skip("root, but may not mount: no way to make a folder read-only for root")
        try:
            yield view / "pond"
        finally:
            subprocess.run(["umount", str(view)], check=True)
    else:
        shutil.rmtree(view)
        view = source
        for folder, _, _ in os.walk(view):
            os.chmod(folder, 0o555)
        try:
            yield view / "pond"
        finally:
            for folder, _, _ in os.walk(view):
                os.chmod(folder, 0o755)


def test_read_only_folder(read_only_pond: Path) -> None:
    with Pond.open(read_only_pond) as pond:
        version = pond.version
        assert pond.root.read_file_path("big") == BIG  # reading works
        writes = [
            lambda: pond.root.write_file_path("new", b"small"),  # a Delta commit
            lambda: pond.root.write_file_path("new", BIG + b"!"),  # a blob first
            lambda: pond.root.create_dir_path("dir"),
            lambda: pond.root.remove("a"),
        ]
        for write in writes:
            with pytest.raises(OSError) as info:
                write()
            _clear(info.value, read_only_pond)
            assert info.value.errno in (errno.EROFS, errno.EACCES, errno.EPERM)
            assert pond.version == version
        assert pond.root.read_file_path("a") == b"aaa"
        assert pond.check().ok
    with pytest.raises(OSError) as info:
        Pond.create(read_only_pond.parent / "another")
    _clear(info.value, read_only_pond.parent / "another")


# -- full disk ---------------------------------------------------------------------------------------
FULL_DISK_CHILD = r"""
import json, resource, signal, sys
from tinylogsql import Pond
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing us
pond = Pond.open(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
out = {}
for name, data in (("huge", b"h" * 2_000_000), ("medium", bytes(range(256)) * 2000)):
    try:
        pond.root.write_file_path(name, data)
        out[name] = "ok"
    except Exception as exc:
        out[name] = [type(exc).__name__, getattr(exc, "errno", None), str(exc), isinstance(exc, OSError)]
out["version"] = pond.version
print(json.dumps(out))
"""


def test_full_disk(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    may_mount = os.geteuid() == 0 and not os.environ.get("TINYLOGSQL_NO_MOUNT")
    mounted = may_mount and _mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk))
    try:
        path = disk / "pond"
        _pond(path).close()
        if mounted:
            with Pond.open(path) as pond:
                version = pond.version
                filler = disk / "filler"
                with open(filler, "wb") as stream:  # fill the disk to the last byte
                    try:
                        while True:
                            stream.write(b"\0" * 65536)
                    except OSError:
                        pass
                for write in (lambda: pond.root.write_file_path("huge", b"h" * 3_000_000),
                              lambda: pond.root.write_file_path("small", b"s"),
                              lambda: pond.root.create_dir_path("dir")):
                    with pytest.raises(OSError) as info:
                        write()
                    _clear(info.value, path)
                    assert info.value.errno == errno.ENOSPC
                    assert pond.version == version
                assert pond.root.read_file_path("big") == BIG  # still readable
                filler.unlink()
                pond.root.write_file_path("small", b"s")  # space again: the next write works
                assert pond.version == version + 1
                report = pond.check()
                assert report.ok, report.problems
                assert not [o for o in report.orphans if o.kind == "temp-blob"], report.orphans
        else:  # fault injection: the kernel's file-size limit in a child process
            result = subprocess.run([sys.executable, "-c", FULL_DISK_CHILD, str(path)], env=worker_env(),
                                    capture_output=True, text=True, timeout=120)
            out = json.loads(result.stdout.strip().splitlines()[-1])
            for name in ("huge", "medium"):
                kind, code, text, is_os = out[name]
                assert is_os and code in (errno.EFBIG, errno.ENOSPC) and str(path) in text, out[name]
            assert out["version"] == 3
            with Pond.open(path) as pond:
                assert pond.version == 3
                assert pond.check().ok
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], check=True)
