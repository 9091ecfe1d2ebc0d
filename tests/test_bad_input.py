"""Bad input (issue 7): every malformed name, path, move or content gets a clear tinylogsql error
(a PondError that is also the matching builtin) and leaves the table exactly as it was.

"As it was" is checked three ways after each case: ``pond.version``, a second Pond object on the
same folder, and the Delta table's own version read with deltalake. At the end a fresh Pond and
``pond.check()`` confirm nothing was written and no file was left behind.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable
from reliability_helpers import scale

from tinylogsql import (
    Directory,
    InvalidContentError,
    InvalidMoveError,
    InvalidNameError,
    Pond,
    PondError,
    RootError,
    SymlinkLoopError,
)

LONG_NAME = "x" * 256
LONG_UTF8 = "é" * 128  # 256 bytes in UTF-8, 128 characters
DEEP = "/".join(["a"] * 1000)

Case = tuple[str, Callable[[Directory], Any], type[BaseException], int | None]

NAMES: list[tuple[str, object, type[BaseException]]] = [
    ("empty", "", InvalidNameError),
    ("nul", "a\x00b", InvalidNameError),
    ("256 bytes", LONG_NAME, InvalidNameError),
    ("256 utf8 bytes", LONG_UTF8, InvalidNameError),
    ("lone surrogate", "bad\ud800", InvalidNameError),
    ("long name mid path", f"d/{LONG_NAME}/x", InvalidNameError),
    ("None", None, InvalidNameError),
    ("bytes", b"f", InvalidNameError),
    ("int", 7, InvalidNameError),
]

CREATORS: dict[str, Callable[[Directory, Any], Any]] = {
    "mkdir": lambda root, p: root.create_dir_path(p),
    "mkdir -p": lambda root, p: root.create_dir_path(p, parents=True),
    "create": lambda root, p: root.create_file_path(p, b"x"),
    "write": lambda root, p: root.write_file_path(p, b"x"),
    "symlink": lambda root, p: root.create_symlink_path(p, "/f"),
    "remove": lambda root, p: root.remove(p),
    "rename from": lambda root, p: root.rename(p, "/fresh"),
    "rename to": lambda root, p: root.rename("/f", p),
    "read": lambda root, p: root.read_file_path(p),
    "open_dir": lambda root, p: root.open_dir_path(p),
    "get": lambda root, p: root.get(p),
    "exists": lambda root, p: root.exists(p),
}


def _cases() -> Iterator[Case]:
    for label, name, error in NAMES:
        for verb, call in CREATORS.items():
            yield f"{verb}({label})", (lambda root, c=call, n=name: c(root, n)), error, None
    for verb in ("mkdir", "create", "symlink"):  # "." and ".." name a directory that exists
        for dotted in (".", "..", "d/.", "d/.."):
            yield f"{verb}({dotted})", (lambda root, c=CREATORS[verb], n=dotted: c(root, n)), InvalidNameError, None
    for verb in ("mkdir", "create", "symlink"):
        yield f"{verb}(/)", (lambda root, c=CREATORS[verb]: c(root, "/")), FileExistsError, errno.EEXIST
    yield from [
        # 1,000-component paths: clear errors, no recursion blow-up
        ("mkdir(1000 components)", lambda root: root.create_dir_path(DEEP), FileNotFoundError, errno.ENOENT),
        ("create(1000 components)", lambda root: root.create_file_path(DEEP, b""), FileNotFoundError, errno.ENOENT),
        ("read(1000 components)", lambda root: root.read_file_path(DEEP), FileNotFoundError, errno.ENOENT),
        ("rename(1000 components)", lambda root: root.rename("/d", DEEP), FileNotFoundError, errno.ENOENT),
        ("read(1000 x ..)", lambda root: root.read_file_path("../" * 1000 + "missing"), FileNotFoundError, None),
        # symlink loops and chains
        ("read(loop)", lambda root: root.read_file_path("loop1"), SymlinkLoopError, errno.ELOOP),
        ("write(loop)", lambda root: root.write_file_path("loop1", b"x"), SymlinkLoopError, errno.ELOOP),
        ("read(self loop)", lambda root: root.read_file_path("self"), SymlinkLoopError, errno.ELOOP),
        ("open_dir(self loop)", lambda root: root.open_dir_path("self"), SymlinkLoopError, errno.ELOOP),
        ("create under loop", lambda root: root.create_file_path("loop1/x", b""), SymlinkLoopError, errno.ELOOP),
        ("mkdir -p under loop", lambda root: root.create_dir_path("loop1/x", parents=True), SymlinkLoopError,
         errno.ELOOP),
        ("read(chain of 41)", lambda root: root.read_file_path("c0"), SymlinkLoopError, errno.ELOOP),
        ("write(chain of 41)", lambda root: root.write_file_path("c0", b"x"), SymlinkLoopError, errno.ELOOP),
        ("read(dir loop path)", lambda root: root.read_file_path("d/up/d/up/d/up/missing"), FileNotFoundError, None),
        # moves
        ("move dir into own child", lambda root: root.rename("d", "d/e/d"), InvalidMoveError, None),
        ("move dir into itself", lambda root: root.rename("d", "d/d"), InvalidMoveError, None),
        ("move dir onto own child", lambda root: root.rename("d", "d/e"), InvalidMoveError, None),
        ("move dir onto file", lambda root: root.rename("d", "f"), NotADirectoryError, errno.ENOTDIR),
        ("move file onto dir", lambda root: root.rename("f", "d"), IsADirectoryError, errno.EISDIR),
        ("move onto non-empty dir", lambda root: root.rename("empty", "d"), OSError, errno.ENOTEMPTY),
        ("move into a file", lambda root: root.rename("d", "f/d"), NotADirectoryError, errno.ENOTDIR),
        ("move missing", lambda root: root.rename("nope", "x"), FileNotFoundError, errno.ENOENT),
        # the root
        ("remove /", lambda root: root.remove("/"), RootError, errno.EPERM),
        ("remove / recursive", lambda root: root.remove("/", recursive=True), RootError, errno.EPERM),
        ("remove .", lambda root: root.remove("."), PondError, None),
        ("remove ..", lambda root: root.remove(".."), PondError, None),
        ("remove d/..", lambda root: root.remove("d/.."), PondError, None),
        ("rename / away", lambda root: root.rename("/", "x"), RootError, errno.EPERM),
        ("rename onto /", lambda root: root.rename("d", "/"), PermissionError, errno.EPERM),
        ("remove non-empty dir", lambda root: root.remove("d"), OSError, errno.ENOTEMPTY),
        # directories used as files and files as directories
        ("write to dir", lambda root: root.write_file_path("d", b"x"), IsADirectoryError, errno.EISDIR),
        ("write to /", lambda root: root.write_file_path("/", b"x"), IsADirectoryError, errno.EISDIR),
        ("read dir", lambda root: root.read_file_path("d"), IsADirectoryError, errno.EISDIR),
        ("write through link to dir", lambda root: root.write_file_path("to_d", b"x"), IsADirectoryError,
         errno.EISDIR),
        ("create under file", lambda root: root.create_file_path("f/x", b""), NotADirectoryError, errno.ENOTDIR),
        ("mkdir -p under file", lambda root: root.create_dir_path("f/x/y", parents=True), NotADirectoryError,
         errno.ENOTDIR),
        ("open_dir(file)", lambda root: root.open_dir_path("f"), NotADirectoryError, errno.ENOTDIR),
        ("get under file", lambda root: root.get("f/x"), NotADirectoryError, errno.ENOTDIR),
        ("create existing", lambda root: root.create_file_path("f", b""), FileExistsError, errno.EEXIST),
        ("mkdir existing", lambda root: root.create_dir_path("d"), FileExistsError, errno.EEXIST),
        # symlink targets
        ("symlink target empty", lambda root: root.create_symlink_path("l", ""), InvalidNameError, None),
        ("symlink target NUL", lambda root: root.create_symlink_path("l", "a\x00"), InvalidNameError, None),
        ("symlink target None", lambda root: root.create_symlink_path("l", None), InvalidNameError, None),
    ]
    for label, content in [("int", 5), ("None", None), ("list", [1, 2]), ("dict", {}), ("float", 1.5),
                           ("object", object()), ("lone surrogate str", "\ud800"), ("bytes iterator", iter([b"a"]))]:
        yield (f"write content {label}", lambda root, c=content: root.write_file_path("f", c), InvalidContentError,
               None)
        yield (f"create content {label}", lambda root, c=content: root.create_file_path("new", c),
               InvalidContentError, None)
        yield (f"File.write content {label}", lambda root, c=content: root.get("f").write(c), InvalidContentError,
               None)


CASES = list(_cases())


class World:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.pond = Pond.create(path)
        self.other = Pond.open(path)
        root = self.pond.root
        with self.pond.transaction(message="setup"):
            root.create_dir_path("d/e", parents=True)
            root.create_dir_path("empty")
            root.create_file_path("f", b"original")
            root.create_symlink_path("loop1", "loop2")
            root.create_symlink_path("loop2", "loop1")
            root.create_symlink_path("self", "self")
            root.create_symlink_path("to_d", "/d")
            root.create_symlink_path("d/up", "..")
            for i in range(41):  # c0 -> c1 -> ... -> c40 -> f: 41 hops, one too many
                root.create_symlink_path(f"c{i}", f"c{i + 1}" if i < 40 else "f")
        self.version = self.pond.version

    def delta_version(self) -> int:
        return DeltaTable(str(self.path / "log")).version()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World(tmp_path_factory.mktemp("bad") / "pond")
    yield w
    w.pond.close()
    w.other.close()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_rejected_cleanly(world: World, case: Case) -> None:
    _, call, error, code = case
    with pytest.raises(error) as info:
        call(world.pond.root)
    assert isinstance(info.value, PondError), f"{type(info.value).__name__} is not a tinylogsql error"
    assert str(info.value), "the error says nothing"
    if code is not None:
        assert info.value.errno == code  # type: ignore[attr-defined]
    assert world.pond.version == world.version
    assert world.other.version == world.version
    assert world.delta_version() == world.version


def test_bad_input_inside_a_transaction_discards_it(world: World) -> None:
    root = world.pond.root
    for _, call, error, _code in CASES[:: max(1, len(CASES) // 25)]:
        with pytest.raises(error):
            with world.pond.transaction():
                root.write_file_path("/pending", b"would land with the transaction")
                call(root)
        assert world.delta_version() == world.version
        assert not root.exists("/pending")


def test_limits_that_are_fine(world: World, tmp_path: Path) -> None:
    """Positive controls: the edges just inside the rules work (so the rejections above are not blanket)."""
    with Pond.create(tmp_path / "ok") as pond:
        root = pond.root
        root.create_file_path("x" * 255, b"255 bytes")
        root.create_file_path("é" * 127 + "x", b"255 utf-8 bytes")
        assert root.read_file_path("c" if False else "x" * 255) == b"255 bytes"
        for i in range(40):  # 40 hops: allowed
            root.create_symlink_path(f"c{i}", f"c{i + 1}" if i < 39 else "target")
        root.create_file_path("target", b"at the end of 40 links")
        assert root.read_file_path("c0") == b"at the end of 40 links"
        deep = root.create_dir_path("/".join(["n"] * 1000), parents=True)
        assert deep.path.count("/") == 1000
        assert root.exists("/".join(["n"] * 1000))
        root.write_file_path("bytearray", bytearray(b"ab"))
        root.write_file_path("memoryview", memoryview(b"cd"))
        assert root.read_file_path("bytearray") + root.read_file_path("memoryview") == b"abcd"
        assert pond.check().ok


def test_huge_content_round_trips(tmp_path: Path) -> None:
    size = scale(32, 512) * 1024 * 1024
    data = bytes(range(256)) * (size // 256)
    with Pond.create(tmp_path / "huge") as pond:
        before = pond.version
        pond.root.write_file_path("huge.bin", data)
        assert pond.version == before + 1
    with Pond.open(tmp_path / "huge") as fresh:
        assert fresh.root.get("huge.bin").size == size
        assert fresh.root.read_file_path("huge.bin") == data
        report = fresh.check()
        assert report.ok and report.chunked_checked == 1


def test_nothing_was_written_and_nothing_left_behind(world: World) -> None:
    """Runs after the cases (same module): a fresh Pond sees the setup version, and no stray files."""
    with Pond.open(world.path) as fresh:
        assert fresh.version == world.version
        report = fresh.check()
        assert report.ok, report.problems
        assert report.orphans == [], report.orphans
    print(f"bad inputs tried: {len(CASES)} cases")
