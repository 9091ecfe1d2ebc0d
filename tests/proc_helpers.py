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


def view_in_fresh_process(path: str) -> dict[str, object]:
    """A fresh process's view of a local pond: its version and files, and the version deltalake reads."""
    from deltalake import DeltaTable

    with Pond.open(path) as pond:
        paths = [row[0] for row in pond._fixed_sql("SELECT p.path FROM nodes n JOIN paths p USING (node_id) "
                                                   "WHERE n.kind = 'file'")]
        files = {name: pond.root.read_file_path(name) for name in paths}
        return {"version": pond.version, "files": files, "delta_version": DeltaTable(f"{path}/log").version()}


def rename_and_create(path: str, renames: list[tuple[str, str]], folders: list[str],
                      files: dict[str, bytes]) -> int:
    """One commit of another writer: renames, then new folders, then new files; its version."""
    with Pond.open(path) as pond:
        with pond.transaction(message="another writer"):
            for old, new in renames:
                pond.root.rename(old, new)
            for folder in folders:
                pond.root.create_dir_path(folder)
            for name, content in files.items():
                pond.root.create_file_path(name, content)
        return pond.version
