"""One set of glob rules for the change feed and retention policies (globs.py): the same globs
select the same paths in ``changes(paths=...)`` and in ``maintain``'s expiries, on a real pond."""

from __future__ import annotations

import random

import pytest

from tinylogsql import ContentExpiredError, Pond

CASES = [
    # glob, path, selected?
    ("/tmp/**", "/tmp", False),  # below /tmp, not /tmp itself (gitignore's rule)
    ("/scratch/**", "/scratch/run.bin", True),
    ("/scratch/**", "/scratch/deep/er/run.bin", True),
    ("/scratch/**", "/scratchpad/run.bin", False),
    ("/logs/**/*.csv", "/logs/a.csv", True),  # "/**/" also matches no folder at all
    ("/logs/**/*.csv", "/logs/2026/12/a.csv", True),
    ("/logs/*.csv", "/logs/2026/a.csv", False),  # "*" stays within one name
    ("/logs/[ab].csv", "/logs/b.csv", True),
    ("/logs/[!ab].csv", "/logs/b.csv", False),
    ("/logs/?.csv", "/logs/c.csv", True),
]
PATHS = sorted({path for _, path, _ in CASES if path != "/tmp"})


def big(seed: int) -> bytes:
    """Content over the inline limit, so that retention can expire it."""
    return random.Random(seed).randbytes(70_000)


@pytest.mark.parametrize("glob", sorted({glob for glob, _, _ in CASES}))
def test_the_feed_and_retention_select_the_same_paths(tmp_path, glob):
    wanted = {path for g, path, hit in CASES if g == glob and hit}
    unwanted = {path for g, path, hit in CASES if g == glob and not hit}
    with Pond.create(str(tmp_path / "pond")) as pond:
        where = "/tmp" if "/tmp" in unwanted else "/elsewhere"
        since = pond.version
        pond.root.write_file_path(where, big(0))  # a file named like the glob's folder
        for path in PATHS:
            pond.root.create_dir_path(path.rsplit("/", 1)[0], parents=True, exist_ok=True)
            pond.root.create_file_path(path, big(1))
        for seed, path in enumerate([where, *PATHS], start=2):
            pond.root.write_file_path(path, big(seed))
        fed = {change.path for change in pond.changes(since, glob)}
        assert wanted <= fed and not (unwanted & fed), (glob, fed)

        pond.set_retention(glob, keep_versions=1)
        pond.maintain(retention_hours=0, unsafe=True)
        for path in sorted(wanted | unwanted):
            first = pond.sql("SELECT min(version) FROM file_versions WHERE path = ?", [path]).fetchall()[0][0]
            old = pond.at(first).root
            if path in wanted:
                with pytest.raises(ContentExpiredError):
                    old.read_file_path(path)
            else:
                assert old.read_file_path(path) in (big(0), big(1)), path  # still readable
