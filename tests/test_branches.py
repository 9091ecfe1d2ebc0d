"""Branches, tags, revisions, the three-way merge, revert and restore (issue 15), case by case."""

from __future__ import annotations

import multiprocessing
import shutil
from pathlib import Path

import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable

from tinylogsql import (
    Branch,
    ConflictError,
    InvalidNameError,
    MergeConflict,
    MergeConflictError,
    MergeResult,
    Pond,
    Tag,
)

FIXTURE = Path(__file__).parent / "fixtures" / "pond-0.1"


def files(pond: Pond) -> dict[str, bytes]:
    """Every file and symlink of a pond as path -> content (symlinks as '-> target')."""
    found: dict[str, bytes] = {}
    for top, _dirs, names in pond.root.walk("/"):
        for name in names:
            path = f"{top.rstrip('/')}/{name}"
            node = pond.root.get(path)
            found[path] = b"-> " + node.target.encode() if node.kind == "symlink" else node.read()
    return found


def dirs(pond: Pond) -> list[str]:
    return sorted(top for top, _, _ in pond.root.walk("/"))


@pytest.fixture
def base(pond):
    pond.root.create_dir_path("/docs")
    pond.root.create_file_path("/docs/a.txt", "a1")
    pond.root.create_file_path("/b.txt", "b1")
    return pond


# -- refs -------------------------------------------------------------------------------
@pytest.mark.backends("local", "s3")
def test_a_branch_is_one_small_commit_and_isolated_in_every_process(base, pond_path):
    before = base.version
    feature = base.create_branch("feature")
    assert feature.branch == "feature" and base.branch == "main"
    delta = DeltaTable(pond_path + "/log")
    assert delta.version() == before + 1
    rows = delta.to_pyarrow_table()
    assert rows.filter(pc.equal(rows["version"], before + 1)).num_rows == 1  # one ref row, no copy
    feature.root.write_file_path("/docs/a.txt", "a2")
    feature.root.create_file_path("/c.txt", "c")
    base.root.create_file_path("/m.txt", "m")
    assert files(base) == {"/docs/a.txt": b"a1", "/b.txt": b"b1", "/m.txt": b"m"}
    assert files(feature) == {"/docs/a.txt": b"a2", "/b.txt": b"b1", "/c.txt": b"c"}
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        from branch_helpers import listing_on_branch

        assert pool.apply(listing_on_branch, (pond_path, "feature")) == ["b.txt", "c.txt", "docs"]
        assert pool.apply(listing_on_branch, (pond_path, "main")) == ["b.txt", "docs", "m.txt"]
    with Pond.open(pond_path, branch="feature") as fresh:
        assert files(fresh) == files(feature)
        assert fresh.version == feature.version
    feature.close()


def test_branch_versions_are_heads(base):
    feature = base.create_branch("feature")
    fork = base.version
    assert feature.version == fork
    feature.root.create_file_path("/c.txt", "c")
    head = feature.last_committed_version
    assert feature.version == head and base.version == fork
    base.root.create_file_path("/m.txt", "m")
    assert base.version == base.last_committed_version and feature.version == head
    branches = base.branches()
    assert [b.name for b in branches] == ["feature", "main"]
    assert branches[0] == Branch("feature", head, fork, branches[0].created)
    assert branches[1].head == base.version and branches[1].base is None
    feature.close()


def test_opening_a_missing_branch_and_bad_names(base, pond_path):
    with pytest.raises(LookupError):
        Pond.open(pond_path, branch="nope")
    with pytest.raises(LookupError):
        base.on("nope")
    for bad in ["", "a..b", "a b", "x~1", "x^", "a:b", "-/", "/a", "a/", "a.lock", "a@{1}", ".hidden", "a//b", "@"]:
        with pytest.raises(InvalidNameError):
            base.create_branch(bad)
        with pytest.raises(ValueError):
            base.tag(bad)
    assert [b.name for b in base.branches()] == ["main"]
    base.create_branch("team/feature-1").close()
    with pytest.raises(FileExistsError):
        base.create_branch("team/feature-1")


def test_delete_branch(base, pond_path):
    with pytest.raises(PermissionError):
        base.delete_branch("main")
    with pytest.raises(LookupError):
        base.delete_branch("nope")
    feature = base.create_branch("feature")
    feature.root.create_file_path("/old.txt", "old")
    base.delete_branch("feature")
    assert [b.name for b in base.branches()] == ["main"]
    with pytest.raises(LookupError):
        Pond.open(pond_path, branch="feature")
    with pytest.raises(LookupError):
        feature.root.create_file_path("/late.txt", "late")
    again = base.create_branch("feature")  # a new branch of that name starts afresh
    assert "old.txt" not in again.root and sorted(again.root) == ["b.txt", "docs"]
    feature.close()
    again.close()


def test_tags_and_revisions(base):
    first = base.version
    tag = base.tag("release-1")
    assert tag == Tag("release-1", "main", first, tag.created)
    with pytest.raises(FileExistsError):
        base.tag("release-1")
    base.root.write_file_path("/b.txt", "b2")
    base.root.write_file_path("/b.txt", "b3")
    assert base.tags() == [tag]
    assert base.at("release-1").root.read_file_path("/b.txt") == b"b1"
    assert base.at("main~1").root.read_file_path("/b.txt") == b"b2"
    assert base.at("main~2").root.read_file_path("/b.txt") == b"b1"
    assert base.at("main").root.read_file_path("/b.txt") == b"b3"
    feature = base.create_branch("feature", at="release-1")  # creating refs counts as no commit
    base.tag("t2")
    assert feature.root.read_file_path("/b.txt") == b"b1"
    assert base.at("main~1").root.read_file_path("/b.txt") == b"b2"
    feature.root.write_file_path("/b.txt", "f1")
    assert base.at("feature").root.read_file_path("/b.txt") == b"f1"
    assert base.at("feature~1").root.read_file_path("/b.txt") == b"b1"
    base.create_branch("release-1").close()  # a branch and a tag of one name: the branch wins
    assert base.at("release-1").branch == "release-1"
    assert base.at("release-1").version == base.version
    with pytest.raises(LookupError):
        base.at("nothing-here")
    with pytest.raises(LookupError):
        base.at("main~99")
    feature.close()


# -- merge ------------------------------------------------------------------------------
@pytest.mark.backends("local", "s3")
def test_merge_one_side_changes_move_and_content_and_moved_directories(base):
    feature = base.create_branch("feature")
    feature.root.write_file_path("/docs/a.txt", "a2")  # content on theirs ...
    base.root.rename("/docs/a.txt", "/docs/renamed.txt")  # ... a move on ours: both apply
    base.root.rename("/docs", "/manual")  # a directory moved on ours ...
    feature.root.create_file_path("/docs/new.txt", "new")  # ... files created in it on theirs
    feature.root.create_file_path("/top.txt", "top")
    feature.root.remove("/b.txt")
    result = base.merge("feature", message="bring feature in", author="reviewer")
    assert isinstance(result, MergeResult) and result.conflicts == []
    assert files(base) == {"/manual/renamed.txt": b"a2", "/manual/new.txt": b"new", "/top.txt": b"top"}
    assert {(c.path, c.change) for c in result.changes} == {
        ("/manual/renamed.txt", "modified"), ("/manual/new.txt", "created"), ("/top.txt", "created"),
        ("/b.txt", "removed")}
    commits = base.sql("SELECT version, message, author, branch FROM history WHERE version = ?",
                       [result.version]).fetchall()
    assert {(m, a, b) for _, m, a, b in commits} == {("bring feature in", "reviewer", "main")}
    assert base.version == result.version
    assert base.check().ok and feature.check().ok
    assert files(feature) == {"/docs/a.txt": b"a2", "/docs/new.txt": b"new", "/top.txt": b"top"}
    # nothing new: no commit; later, only what is new since the last merge
    assert base.merge("feature") == MergeResult(None, [], [])
    assert base.version == result.version
    feature.root.create_file_path("/later.txt", "later")
    again = base.merge("feature")
    assert [(c.path, c.change) for c in again.changes] == [("/later.txt", "created")]
    assert files(base)["/later.txt"] == b"later"
    feature.close()


def test_merge_into_a_branch_from_main_and_identical_additions(base):
    feature = base.create_branch("feature")
    base.root.create_file_path("/same.txt", "same")
    feature.root.create_file_path("/same.txt", "same")  # two nodes, one path, same content: no conflict
    base.root.write_file_path("/b.txt", "b-main")
    result = feature.merge("main")
    assert result.conflicts == [] and result.version is not None
    assert files(feature)["/b.txt"] == b"b-main" and files(feature)["/same.txt"] == b"same"
    assert "/same.txt" in files(base)
    feature.close()


def test_merging_back_a_line_that_merged_us_keeps_what_we_did_since(base):
    """feature -> main, feature goes on, main -> feature: what main got from feature and did not
    touch since is feature's own past, not a change of main's (found by the branch model test)."""
    feature = base.create_branch("feature")
    feature.root.create_file_path("/new.txt", "n1")  # created after the fork
    feature.root.write_file_path("/docs/a.txt", "a2")  # there at the fork
    feature.root.create_file_path("/gone.txt", "g")
    base.root.write_file_path("/b.txt", "b-main")  # main's own change, feature lacks it
    assert base.merge("feature").conflicts == []
    feature.root.rename("/new.txt", "/moved.txt")
    feature.root.write_file_path("/moved.txt", "n2")
    feature.root.write_file_path("/docs/a.txt", "a3")
    feature.root.remove("/gone.txt")
    result = feature.merge("main", strategy="fail")
    assert result.conflicts == [] and result.version is not None
    assert files(feature) == {"/docs/a.txt": b"a3", "/b.txt": b"b-main", "/moved.txt": b"n2"}
    assert base.merge("feature").conflicts == [] and files(base) == files(feature)
    feature.close()


def conflicted(base: Pond) -> Pond:
    """Both sides change things so that every kind of conflict happens once."""
    base.root.create_dir_path("/gone")
    base.root.create_file_path("/gone/kept.txt", "kept")
    base.root.create_dir_path("/x")
    base.root.create_dir_path("/y")
    feature = base.create_branch("feature")
    base.root.write_file_path("/docs/a.txt", "ours")  # different content on both sides
    feature.root.write_file_path("/docs/a.txt", "theirs")
    base.root.remove("/b.txt")  # removed on one side, modified on the other
    feature.root.write_file_path("/b.txt", "b-theirs")
    base.root.create_file_path("/new.txt", "ours")  # two different nodes at one path
    feature.root.create_file_path("/new.txt", "theirs")
    base.root.rename("/x", "/y/x")  # a cycle
    feature.root.rename("/y", "/x/y")
    base.root.remove("/gone", recursive=True)  # moved into a directory removed on the other side
    feature.root.rename("/docs", "/gone/docs")
    return feature


def test_merge_conflicts_fail_and_commit_nothing(base):
    feature = conflicted(base)
    before, state = base.version, files(base)
    preview = base.merge_preview("feature")
    assert base.version == before
    with pytest.raises(MergeConflictError) as info:
        base.merge("feature")
    assert isinstance(info.value, ConflictError)
    assert base.version == before and files(base) == state
    reasons = {c.reason: c for c in info.value.conflicts}
    assert set(reasons) == {
        "different content on both sides", "modified on one side and removed on the other",
        "two different nodes at the same path", "the move would make a cycle",
        "the directory was removed on the other side"}
    assert all(isinstance(c, MergeConflict) and c.path.startswith("/") for c in info.value.conflicts)
    assert reasons["different content on both sides"].path == "/docs/a.txt"
    assert reasons["modified on one side and removed on the other"].ours == "removed"
    assert reasons["two different nodes at the same path"].path == "/new.txt"
    assert sorted(preview.conflicts, key=repr) == sorted(info.value.conflicts, key=repr)
    feature.close()


def test_merge_strategy_ours(base):
    feature = conflicted(base)
    result = base.merge("feature", strategy="ours")
    assert len(result.conflicts) == 5 and result.version == base.version
    got = files(base)
    assert got["/docs/a.txt"] == b"ours" and got["/new.txt"] == b"ours" and "/b.txt" not in got
    assert "/y/x" in dirs(base) and "/gone" not in dirs(base)
    assert base.check().ok
    feature.close()


def test_merge_strategy_theirs(base):
    feature = conflicted(base)
    result = base.merge("feature", strategy="theirs")
    assert len(result.conflicts) == 5
    got = files(base)
    assert got["/gone/docs/a.txt"] == b"theirs" and got["/new.txt"] == b"theirs" and got["/b.txt"] == b"b-theirs"
    assert "/x/y" in dirs(base) and "/y/x" not in dirs(base)
    assert base.check().ok
    feature.close()


def test_a_conflict_kept_as_ours_conflicts_again_on_the_next_merge(base):
    """After a merge, the base is the source as last merged (not the target's state): a file the
    target kept as its own still differs from it, so the source's next edit conflicts again."""
    feature = base.create_branch("feature")
    feature.root.write_file_path("/b.txt", "theirs-1")
    base.root.write_file_path("/b.txt", "ours")
    assert [c.path for c in base.merge("feature", strategy="ours").conflicts] == ["/b.txt"]
    feature.root.write_file_path("/b.txt", "theirs-2")
    feature.root.create_file_path("/c.txt", "c")
    with pytest.raises(MergeConflictError) as info:
        base.merge("feature")
    assert [c.path for c in info.value.conflicts] == ["/b.txt"]
    base.merge("feature", strategy="ours")
    assert files(base)["/b.txt"] == b"ours" and files(base)["/c.txt"] == b"c"
    feature.close()


def test_merge_bad_input(base):
    with pytest.raises(LookupError):
        base.merge("nope")
    with pytest.raises(ValueError):
        base.merge("main")
    base.create_branch("feature").close()
    with pytest.raises(ValueError):
        base.merge("feature", strategy="mine")
    with pytest.raises(PermissionError):
        base.at(base.version).merge("feature")


# -- revert and restore ---------------------------------------------------------------------
def test_revert_undoes_one_commit_and_refuses_when_later_commits_touched_it(base):
    base.root.rename("/b.txt", "/docs/b.txt")
    moved = base.version
    base.root.create_file_path("/c.txt", "c")
    made = base.version
    base.root.write_file_path("/docs/a.txt", "a2")
    wrote = base.version
    version = base.revert(moved, message="undo the move")
    assert version == base.version and "/b.txt" in files(base) and "/docs/b.txt" not in files(base)
    base.revert(made)
    assert "/c.txt" not in files(base)
    base.root.write_file_path("/docs/a.txt", "a3")
    with pytest.raises(ConflictError, match="/docs/a.txt"):
        base.revert(wrote)
    assert base.sql("SELECT message FROM history WHERE version = ?", [version]).fetchall() == [("undo the move",)]
    assert base.check().ok


def test_restore_a_file_and_a_directory(base):
    start = base.version
    base.root.write_file_path("/docs/a.txt", "changed")
    base.root.create_file_path("/docs/extra.txt", "extra")
    base.root.remove("/b.txt")
    base.root.restore("/docs", start)
    base.root.restore("/b.txt", start)
    assert files(base) == {"/docs/a.txt": b"a1", "/b.txt": b"b1"}
    feature = base.create_branch("feature")
    feature.root.write_file_path("/b.txt", "from feature")
    # the file is the same node on both branches: restoring it from the branch is one write
    version = base.root.restore("/b.txt", "feature")
    assert base.version == version and files(base)["/b.txt"] == b"from feature"
    assert base.sql("SELECT count(*) FROM history WHERE version = ?", [version]).fetchall() == [(1,)]
    assert base.check().ok
    feature.close()


# -- concurrency and old ponds ---------------------------------------------------------------
def test_two_processes_on_two_branches_never_conflict(base, pond_path):
    from branch_helpers import write_on_branch

    base.create_branch("left").close()
    base.create_branch("right").close()
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Manager().Barrier(2)
    with ctx.Pool(2) as pool:
        runs = [pool.apply_async(write_on_branch, (pond_path, name, 15, barrier)) for name in ("left", "right")]
        results = [run.get(timeout=300) for run in runs]
    assert results == [(15, 0), (15, 0)]
    with Pond.open(pond_path, branch="left") as left, Pond.open(pond_path, branch="right") as right:
        assert sorted(left.root) == sorted(["b.txt", "docs", *(f"left-{i}" for i in range(15))])
        assert sorted(right.root) == sorted(["b.txt", "docs", *(f"right-{i}" for i in range(15))])
    assert sorted(base.root) == ["b.txt", "docs"]


def test_a_pond_made_by_the_previous_release_opens_as_main(tmp_path):
    path = tmp_path / "old"
    shutil.copytree(FIXTURE, path)
    assert "branch" not in DeltaTable(str(path / "log")).schema().to_arrow().names
    with Pond.open(path) as pond:
        assert pond.branch == "main"
        expected = {"/after.txt": b"after the snapshot", "/docs/readme.md": b"# hello\n",
                    "/latest": b"-> docs/readme.md", "/notes.txt": b"notes v2"}
        assert files(pond) == expected
        assert pond.at(3).root.read_file_path("/docs/notes.txt") == b"notes v1"
        assert [b.name for b in pond.branches()] == ["main"] and pond.version == 12
        assert pond.check().ok
        feature = pond.create_branch("feature")  # the first commit adds the branch columns
        feature.root.write_file_path("/notes.txt", "notes v3")
        assert pond.merge("feature").version == pond.version
        feature.close()
    assert "branch" in DeltaTable(str(path / "log")).schema().to_arrow().names
    with Pond.open(path) as again:
        assert files(again)["/notes.txt"] == b"notes v3"
        assert again.sql("SELECT DISTINCT branch FROM history ORDER BY 1").fetchall() == [("main",)]
        assert again.check().ok


def test_sql_shows_the_pond_branch_at_its_version(base):
    feature = base.create_branch("feature")
    feature.root.create_file_path("/only-on-feature.txt", "f")
    base.root.create_file_path("/only-on-main.txt", "m")
    on_feature = {path for (path,) in feature.sql("SELECT path FROM files").fetchall()}
    on_main = {path for (path,) in base.sql("SELECT path FROM files").fetchall()}
    assert on_feature == {"/docs/a.txt", "/b.txt", "/only-on-feature.txt"}
    assert on_main == {"/docs/a.txt", "/b.txt", "/only-on-main.txt"}
    branches = dict(feature.sql("SELECT path, branch FROM history WHERE op = 'create' AND kind = 'file'").fetchall())
    assert branches == {"/docs/a.txt": "main", "/b.txt": "main", "/only-on-feature.txt": "feature"}
    old = feature.at("feature~1")
    assert {path for (path,) in old.sql("SELECT path FROM files").fetchall()} == {"/docs/a.txt", "/b.txt"}
    feature.close()


def test_sql_views_of_branches_tags_and_merge_conflicts(base):
    feature = base.create_branch("feature")
    base.tag("release-1")
    feature.root.write_file_path("/b.txt", "theirs")
    base.root.write_file_path("/b.txt", "ours")
    assert base.sql("SELECT name, head, base FROM branches ORDER BY name").fetchall() == [
        (b.name, b.head, b.base) for b in base.branches()]
    assert base.sql("SELECT name, branch, version FROM tags").fetchall() == [
        (t.name, t.branch, t.version) for t in base.tags()]
    rows = base.sql("SELECT path, reason FROM merge_conflicts(?)", ["feature"]).fetchall()
    assert rows == [("/b.txt", "different content on both sides")]
    assert [(c.path, c.reason) for c in base.merge_preview("feature").conflicts] == rows
    feature.close()


def test_sql_macros_take_revisions(base):
    base.tag("release-1")
    feature = base.create_branch("feature")
    feature.root.write_file_path("/b.txt", "on feature")
    feature.root.rename("/docs/a.txt", "/docs/moved.txt")
    base.root.create_file_path("/c.txt", "main only")
    files_at = "SELECT path, content FROM files_at(?) ORDER BY path"
    assert base.sql(files_at, ["feature"]).fetchall() == [("/b.txt", b"on feature"), ("/docs/moved.txt", b"a1")]
    assert base.sql("SELECT path FROM files_at('feature~1') ORDER BY path").fetchall() == [
        ("/b.txt",), ("/docs/a.txt",)]
    assert feature.sql(files_at, ["main"]).fetchall() == [("/b.txt", b"b1"), ("/c.txt", b"main only"),
                                                          ("/docs/a.txt", b"a1")]
    changes = base.sql("SELECT change, path, old_path FROM diff('main', 'feature') ORDER BY path, change").fetchall()
    assert changes == [("modified", "/b.txt", "/b.txt"), ("removed", "/c.txt", None),
                       ("moved", "/docs/moved.txt", "/docs/a.txt")]
    assert base.sql("SELECT change, path FROM diff('release-1', 'main')").fetchall() == [("added", "/c.txt")]
    assert base.sql("SELECT count(*) FROM files_at(2)").fetchall() == [(1,)]  # numbers are versions still
    feature.close()
