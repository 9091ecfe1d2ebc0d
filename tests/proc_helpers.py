"""Functions run in child processes (spawned, never forked: deltalake hangs after fork)."""

from __future__ import annotations

from tinylogsql import Pond, PondError


def create_file(path: str, name: str, content: bytes) -> str:
    with Pond.open(path) as pond:
        pond.root.create_file_path(name, content)
        return name


def race_create(path: str, name: str, who: str, barrier) -> str:  # type: ignore[no-untyped-def]
    with Pond.open(path) as pond:
        root = pond.root
        root.exists("/")  # load before the barrier so the race is on the commit
        barrier.wait()
        try:
            root.create_file_path(name, who.encode())
            return "won"
        except FileExistsError:
            return "lost"


def many_creates(path: str, prefix: str, count: int) -> list[str]:
    made = []
    with Pond.open(path) as pond:
        for index in range(count):
            name = f"{prefix}-{index}"
            try:
                pond.root.create_file_path(name, name.encode())
                made.append(name)
            except PondError:
                raise
    return made


def exists_in_fresh_process(path: str, name: str) -> bool:
    with Pond.open(path) as pond:
        return pond.root.exists(name)


def read_in_fresh_process(path: str, name: str) -> bytes:
    """Read a file in a pool worker; its errors must reach the parent as themselves."""
    with Pond.open(path) as pond:
        return pond.root.read_file_path(name)
