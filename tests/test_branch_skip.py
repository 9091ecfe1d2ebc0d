"""A commit names its branch in the Delta commitInfo; a process on another branch reads only
its log entry, never its data file (commitbranch.py), and still sees everything it should."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

from deltalake import DeltaTable
from test_branches import files

from tinylogsql import Pond

KEY = "tinylogsql.branch"


def marks(pond_path: str) -> dict[int, str | None]:
    """Version -> the branch its commitInfo names (None: no mark), as any Delta reader sees it."""
    return {entry["version"]: entry.get(KEY) for entry in DeltaTable(pond_path + "/log").history()}


def data_file(pond_path: str, version: int) -> Path:
    """The one data file commit ``version`` added."""
    entry = Path(pond_path, "log", "_delta_log", f"{version:020d}.json").read_text()
    added = [json.loads(line)["add"]["path"] for line in entry.splitlines() if '"add"' in line]
    assert len(added) == 1
    return Path(pond_path, "log", added[0])


def test_node_commits_name_their_branch_and_ref_commits_do_not(pond, pond_path):
    pond.root.create_file_path("/a.txt", "a")
    on_main = pond.last_committed_version
    feature = pond.create_branch("feature")
    created = DeltaTable(pond_path + "/log").version()
    with feature.transaction(message="two ops"):
        feature.root.create_file_path("/b.txt", "b")
        feature.root.write_file_path("/a.txt", "a2")
    on_feature = feature.last_committed_version
    pond.tag("v1")
    tagged = DeltaTable(pond_path + "/log").version()
    merged = pond.merge("feature").version
    found = marks(pond_path)
    assert found[on_main] == "main" and found[on_feature] == "feature" and len({on_main, created, on_feature,
                                                                                tagged, merged}) == 5
    assert found[created] is None and found[tagged] is None and found[merged] is None  # ref rows: read whole
    assert found[0] is None  # the pond's first commit
    assert files(pond) == {"/a.txt": b"a2", "/b.txt": b"b"}
    feature.close()


def test_another_branchs_commit_is_followed_from_its_log_entry_alone(pond, pond_path):
    pond.root.create_dir_path("/docs")
    pond.root.create_file_path("/docs/a.txt", "a1")
    feature = pond.create_branch("feature")
    fork = pond.version
    feature.root.create_file_path("/f.txt", "f")
    before = {branch.name: branch.head for branch in feature.branches()}  # its refs are loaded: they must follow
    assert before == {"feature": feature.version, "main": fork}
    assert [branch.head for branch in pond.branches()] == [feature.version, fork]  # main's refs loaded too
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        from branch_helpers import create_on_branch, merge_on_branch

        on_main = pool.apply(create_on_branch, (pond_path, "main", "/m.txt", "m"))
        assert marks(pond_path)[on_main] == "main"
        # The branch must not need that file: with it gone, the branch still syncs past it and commits.
        data = data_file(pond_path, on_main)
        aside = data.with_name(data.name + ".aside")
        os.rename(data, aside)
        try:
            feature.root.create_file_path("/g.txt", "g")
            assert feature.last_committed_version == on_main + 1
            assert files(feature) == {"/docs/a.txt": b"a1", "/f.txt": b"f", "/g.txt": b"g"}
            heads = {branch.name: branch.head for branch in feature.branches()}
            assert heads == {"feature": on_main + 1, "main": on_main}
        finally:
            os.rename(aside, data)
        with Pond.open(pond_path, branch="feature") as fresh:
            assert files(fresh) == files(feature)
            assert fresh.branches() == feature.branches()
        assert files(feature.at("main")) == {"/docs/a.txt": b"a1", "/m.txt": b"m"}
        assert files(feature.at("main~1")) == {"/docs/a.txt": b"a1"}  # main's commits, counted from the entry
        assert files(feature.at("feature~1")) == {"/docs/a.txt": b"a1", "/f.txt": b"f"}
        # main's rows reach the branch through a merge made in another process (a ref row: read whole)
        merged = pool.apply(merge_on_branch, (pond_path, "feature", "main"))
        assert marks(pond_path)[merged] is None
        assert files(feature) == {"/docs/a.txt": b"a1", "/f.txt": b"f", "/g.txt": b"g", "/m.txt": b"m"}
        # and main, which skipped the branch's commits, takes them when the branch is merged into it
        assert files(pond) == {"/docs/a.txt": b"a1", "/m.txt": b"m"}
        assert pool.apply(merge_on_branch, (pond_path, "main", "feature")) == pond.version
    assert files(pond) == files(feature)
    assert [(b.name, b.head) for b in pond.branches()] == [("feature", merged), ("main", pond.version)]
    assert pond.check().ok
    feature.close()
