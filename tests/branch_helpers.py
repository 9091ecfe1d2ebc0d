"""Child-process functions for the branch tests (spawned, never forked)."""

from __future__ import annotations

from tinylogsql import ConflictError, Pond


def write_on_branch(path: str, branch: str, count: int, barrier) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Create ``count`` files on ``branch``, one commit each; (files made, ConflictErrors seen)."""
    made = conflicts = 0
    with Pond.open(path, branch=branch) as pond:
        pond.root.exists("/")
        barrier.wait()
        for index in range(count):
            try:
                pond.root.create_file_path(f"/{branch}-{index}", f"{branch} {index}")
                made += 1
            except ConflictError:
                conflicts += 1
    return made, conflicts


def listing_on_branch(path: str, branch: str) -> list[str]:
    with Pond.open(path, branch=branch) as pond:
        return sorted(pond.root)


def create_on_branch(path: str, branch: str, file: str, content: str) -> int:
    """One single-op commit on ``branch`` from this process; its version."""
    with Pond.open(path, branch=branch) as pond:
        pond.root.create_file_path(file, content)
        return pond.last_committed_version


def merge_on_branch(path: str, target: str, source: str) -> int | None:
    """Merge ``source`` into ``target`` from this process; the merge's version."""
    with Pond.open(path, branch=target) as pond:
        return pond.merge(source).version
