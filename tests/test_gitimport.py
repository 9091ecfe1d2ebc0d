"""import-git: real repositories built with git here, compared commit by commit with git's answers
(``git ls-tree -r`` for the tree, ``git diff --name-status -M`` for the changes)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tinylogsql import Pond
from tinylogsql.cli import cli
from tinylogsql.errors import GitError
from tinylogsql.history import diff

ENV = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL":
       "ada@example.com", "GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "ada@example.com", "TZ": "UTC"}


class Repo:
    """A git repository in a temporary folder, committed with fixed dates."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.clock = 1_600_000_000
        path.mkdir()
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        when = f"{self.clock} +0200"
        env = {**os.environ, **ENV, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
        return subprocess.run(["git", "-C", str(self.path), *args], env=env, check=True, capture_output=True,
                              text=True).stdout

    def write(self, name: str, text: str) -> None:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def commit(self, message: str, gitlink: str | None = None) -> str:
        self.clock += 3600
        self.git("add", "-A")
        if gitlink is not None:  # a submodule entry, without cloning one
            self.git("update-index", "--add", "--cacheinfo", f"160000,{'1' * 40},{gitlink}")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD").strip()


def blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


def build(repo: Repo) -> list[str]:
    """A history with adds, edits, renames, deletes, symlinks, an empty commit, a file replaced by
    a directory (and back), a submodule; returns the commit ids."""
    shas = []
    repo.write("README.md", "hello\n")
    repo.write("src/app.py", "print('app')\n" * 20)
    repo.write("src/util/helpers.py", "def helper():\n    return 1\n" * 10)
    repo.write("docs/guide.txt", "guide\n")
    (repo.path / "link").symlink_to("README.md")
    shas.append(repo.commit("first\n\nwith a body"))
    repo.write("README.md", "hello again\n")
    repo.git("mv", "src/util/helpers.py", "src/helpers.py")  # a rename that empties src/util
    shas.append(repo.commit("edit and rename"))
    shas.append(repo.commit("nothing changed"))
    (repo.path / "docs/guide.txt").unlink()
    (repo.path / "link").unlink()
    (repo.path / "link").symlink_to("src/app.py")  # a symlink re-pointed
    repo.write("data", "a file that becomes a directory\n")
    shas.append(repo.commit("delete, re-point"))
    (repo.path / "data").unlink()
    repo.write("data/part-1.csv", "a,b\n1,2\n")
    repo.write("data/part-2.csv", "a,b\n3,4\n")
    shas.append(repo.commit("file replaced by a directory, a submodule", gitlink="vendor/lib"))
    repo.git("rm", "-q", "--cached", "vendor/lib")
    repo.git("mv", "src/app.py", "main.py")
    repo.write("main.py", ("print('app')\n" * 20) + "print('more')\n")  # renamed and edited
    (repo.path / "src/helpers.py").unlink()
    (repo.path / "README.md").unlink()
    (repo.path / "README.md").symlink_to("main.py")  # a file replaced by a symlink
    shas.append(repo.commit("rename with edit, type change"))
    for name in ("part-1.csv", "part-2.csv"):
        (repo.path / "data" / name).unlink()
    (repo.path / "data").rmdir()
    repo.write("data", "a directory that becomes a file\n")
    shas.append(repo.commit("directory replaced by a file"))
    return shas


def git_tree(repo: Repo, sha: str) -> set[tuple[str, str, str]]:
    """(mode, blob id, path) of every file and symlink at ``sha``, submodules left out."""
    rows = set()
    for line in repo.git("ls-tree", "-r", sha).splitlines():
        meta, path = line.split("\t", 1)
        mode, kind, blob = meta.split()
        if kind == "blob":
            rows.add(("120000" if mode == "120000" else "100644", blob, "/" + path))
    return rows


def pond_tree(pond: Pond) -> set[tuple[str, str, str]]:
    """The same for a pond version: file content and symlink targets hashed as git blobs."""
    rows = set()
    for path, kind, target in pond._fixed_sql("SELECT p.path, n.kind, n.target FROM nodes n JOIN paths p "
                                              "USING (node_id) WHERE n.kind <> 'dir'"):
        if kind == "symlink":
            rows.add(("120000", blob_id(target.encode()), path))
        else:
            rows.add(("100644", blob_id(pond.root.read_file_path(path)), path))
    return rows


def git_folders(repo: Repo, sha: str) -> set[str]:
    """The folders holding a file or symlink at ``sha`` (git has no empty directories)."""
    folders = set()
    for _, _, path in git_tree(repo, sha):
        while (path := path.rpartition("/")[0]):
            folders.add(path)
    return folders


def pond_folders(pond: Pond) -> set[str]:
    return {path for (path,) in pond._fixed_sql("SELECT p.path FROM nodes n JOIN paths p USING (node_id) "
                                                "WHERE n.kind = 'dir' AND p.path <> '/'")}


def git_changes(repo: Repo, old: str, new: str) -> set[tuple[str, ...]]:
    """``git diff --name-status -M`` in the pond's diff vocabulary (submodules left out)."""
    out = set()
    names = {"A": "added", "D": "removed", "M": "modified", "T": "type-changed"}
    for line in repo.git("diff", "--name-status", "-M", old, new).splitlines():
        status, *paths = line.split("\t")
        if paths[-1].startswith("vendor/"):
            continue
        if status.startswith("R"):
            out.add(("moved", "/" + paths[1], "/" + paths[0]))
            if status != "R100":
                out.add(("modified", "/" + paths[1], None))
        else:
            out.add((names[status], "/" + paths[0], None))
    return out


def pond_changes(old: Pond, new: Pond) -> set[tuple[str, ...]]:
    """The pond's diff, with directories (which git does not track) left out: a path that turned
    from a file into a directory is the file removed, and the reverse the file added."""
    out = set()
    for change in diff(old, new):
        if change.change == "type-changed" and "dir" in (change.kind, change.old_kind):
            out.add(("removed" if change.kind == "dir" else "added", change.path, None))
        elif change.kind != "dir":
            out.add((change.change, change.path, change.old_path if change.change == "moved" else None))
    return out


def check_every_commit(pond: Pond, repo: Repo, shas: list[str]) -> None:
    versions = {sha: version for version, sha in pond._fixed_sql("SELECT version, git_sha FROM git_commits")}
    previous_sha, previous_version = None, None
    for sha in shas:
        # an empty git commit makes no pond commit: its tree is the previous one's
        version = versions.get(sha, previous_version)
        assert version is not None
        at = pond.at(version)
        assert pond_tree(at) == git_tree(repo, sha), sha
        assert pond_folders(at) == git_folders(repo, sha), sha  # emptied folders are gone, no others
        if previous_sha is not None:
            assert pond_changes(pond.at(previous_version), at) == git_changes(repo, previous_sha, sha), sha
            ops = {(op, path, from_path) for op, path, from_path in pond._fixed_sql(
                "SELECT op, path, from_path FROM history WHERE version = ? AND kind <> 'dir'", [version])}
            assert ops == (expected_ops(repo, previous_sha, sha) if sha in versions else ops)
        previous_sha, previous_version = sha, version


def expected_ops(repo: Repo, old: str, new: str) -> set[tuple[str, str, str | None]]:
    """The ops a git commit's changes become: the `history` view's (op, path, from_path)."""
    links = {path for mode, _, path in git_tree(repo, new) | git_tree(repo, old) if mode == "120000"}
    ops: set[tuple[str, str, str | None]] = set()
    for line in repo.git("diff", "--name-status", "-M", old, new).splitlines():
        status, *paths = line.split("\t")
        paths = ["/" + p for p in paths]
        if paths[-1].startswith("/vendor/"):
            continue
        if status.startswith("R"):
            ops.add(("move", paths[1], paths[0]))
            if status != "R100":
                ops.add(("write", paths[1], None))
        elif status == "A":
            ops.add(("create", paths[0], None))
        elif status == "D":
            ops.add(("remove", paths[0], None))
        elif status == "T" or (status == "M" and paths[0] in links):
            ops |= {("remove", paths[0], None), ("create", paths[0], None)}
        else:
            ops.add(("write", paths[0], None))
    return ops


@pytest.fixture
def repo(tmp_path) -> Repo:
    return Repo(tmp_path / "repo")


def test_history_equals_git(repo, pond):
    shas = build(repo)
    report = pond.import_git(repo.path)
    assert report.commits == len(shas) and report.empty == 1
    assert any("submodule vendor/lib" in note for note in report.notes)
    check_every_commit(pond, repo, shas)
    rows = pond._fixed_sql("SELECT git_sha, author, message, author_time, author_tz FROM git_commits ORDER BY version")
    assert rows[0][:3] == (shas[0], "Ada <ada@example.com>", "first\n\nwith a body")
    assert rows[0][3].isoformat() == "2020-09-13T13:26:40" and rows[0][4] == "+0200"  # 1600003600 UTC
    assert pond.check().ok


def test_incremental(repo, pond):
    shas = build(repo)
    first = pond.import_git(repo.path, rev=shas[2])
    assert first.last_sha == shas[2]
    version = pond.version
    again = pond.import_git(repo.path, rev=shas[2])
    assert again.commits == 1 and again.versions == [] and pond.version == version  # only the empty commit
    rest = pond.import_git(repo.path)
    assert rest.commits == len(shas) - 2
    check_every_commit(pond, repo, shas)
    repo.git("reset", "-q", "--hard", shas[1])
    repo.write("other", "rewritten\n")
    repo.commit("rewritten history")
    with pytest.raises(GitError, match="not an ancestor"):
        pond.import_git(repo.path)


def test_folders_emptied_across_imports(repo, pond):
    """An import that starts from an earlier one knows which folders git's tree still holds: a
    folder emptied by a later commit goes, one that a rename refills stays, a file may take a
    folder's place, and a folder holding files added outside the import is kept."""
    repo.write("a/b/c/one.txt", "1\n")
    repo.write("a/b/two.txt", "2\n")
    repo.write("keep/x.txt", "x\n")
    repo.write("mine/y.txt", "y\n")
    shas = [repo.commit("start")]
    pond.import_git(repo.path)
    pond.root.write_file_path("/mine/own.txt", "added outside the import")
    repo.git("rm", "-q", "a/b/c/one.txt", "mine/y.txt")
    repo.git("mv", "keep/x.txt", "keep/z.txt")
    shas.append(repo.commit("empty a/b/c and mine, rename inside keep"))
    repo.git("rm", "-q", "a/b/two.txt")
    repo.write("a/b", "a file where a folder was\n")
    shas.append(repo.commit("a/b becomes a file"))
    pond.import_git(repo.path)
    assert pond.root.read_file_path("/mine/own.txt") == b"added outside the import"
    assert pond_folders(pond) == git_folders(repo, shas[-1]) | {"/mine"}
    assert pond.root.read_file_path("/a/b") == b"a file where a folder was\n"
    assert pond_tree(pond) == git_tree(repo, shas[-1]) | {p for p in pond_tree(pond) if p[2] == "/mine/own.txt"}


def test_a_commit_the_importer_has_not_seen_is_kept(repo, pond_path):
    """Each git commit claims the version after the one the importing handle knows, without asking
    the store first: a commit by another process that the handle has not seen (its reads may be a
    minute stale here) is found when the append meets its entry; the import lands after it, and
    that commit's file stays beside git's tree."""
    import multiprocessing

    import proc_helpers

    shas = build(repo)
    Pond.create(pond_path).close()
    with Pond.open(pond_path, max_staleness=600) as pond:
        pond.import_git(repo.path, rev=shas[1])
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            pool.apply(proc_helpers.create_file, (pond_path, "/theirs.txt", b"another process"))
        report = pond.import_git(repo.path)
        assert report.commits == len(shas) - 2
        theirs = pond._fixed_sql("SELECT max(version) FROM commits WHERE txn_id NOT LIKE 'git:%'")[0][0]
        assert report.versions == list(range(theirs + 1, theirs + 1 + len(report.versions)))
        assert pond.root.read_file_path("/theirs.txt") == b"another process"
        assert pond_tree(pond) == git_tree(repo, shas[-1]) | {("100644", blob_id(b"another process"),
                                                               "/theirs.txt")}


def test_the_state_snapshot_is_written_at_the_end(repo, pond_path, monkeypatch):
    """An import merges and persists the state once, after its last commit, not at each commit whose
    op count makes a snapshot due (every one here); later opens start from it. A snapshot due by the
    commit count still comes during the import (a stopped import leaves opens a bounded tail)."""
    import tinylogsql.query as query_module

    monkeypatch.setattr(query_module, "PERSIST_MIN_OPS", 1)
    shas = build(repo)
    with Pond.create(pond_path) as pond:
        report = pond.import_git(repo.path)
        assert pond._store.states.versions() == [report.versions[-1]]
    with Pond.open(pond_path) as fresh:
        check_every_commit(fresh, repo, shas)
    monkeypatch.setattr(query_module, "PERSIST_EVERY", 2)
    with Pond.create(f"{pond_path}-2") as pond:
        report = pond.import_git(repo.path)
        assert min(pond._store.states.versions()) < report.versions[-1]


def test_a_reader_opening_mid_import_sees_every_commit_so_far(repo, tmp_path, monkeypatch):
    """An import asks for its Delta checkpoints at its end (and every HELD_AT_MOST versions of a long
    one), not every checkpoint interval: a process opening the pond in the middle, with no
    checkpoint since the import began, replays the log entries and sees every commit so far, through
    tinylogsql and through deltalake; afterwards, the held checkpoints are there."""
    import multiprocessing

    import proc_helpers

    import tinylogsql.deltaappend as deltaappend_module
    import tinylogsql.gitimport as gitimport_module

    monkeypatch.setattr(deltaappend_module, "HELD_AT_MOST", 20)
    shas = []
    for index in range(45):  # pond versions 1-45: checkpoints due at 9, 19, 29 and 39 (interval 10)
        repo.write(f"d{index % 4}/f{index}.txt", f"{index}\n")
        if index % 5 == 4:
            repo.git("rm", "-q", f"d{(index - 1) % 4}/f{index - 1}.txt")
        shas.append(repo.commit(f"commit {index}"))
    pond_path = str(tmp_path / "pond")
    log = tmp_path / "pond" / "log" / "_delta_log"
    seen: dict[str, object] = {}
    apply = gitimport_module._apply

    def observed(pond, commit, *args):  # type: ignore[no-untyped-def]
        apply(pond, commit, *args)
        if commit.sha == shas[24]:  # version 25, mid-import
            seen["checkpoints"] = sorted(path.name for path in log.glob("*.checkpoint*.parquet"))
            with multiprocessing.get_context("spawn").Pool(1) as pool:
                seen.update(pool.apply(proc_helpers.view_in_fresh_process, (pond_path,)))

    monkeypatch.setattr(gitimport_module, "_apply", observed)
    with Pond.create(pond_path) as pond:
        report = pond.import_git(repo.path)
        assert report.versions == list(range(1, 46))
        assert pond_tree(pond) == git_tree(repo, shas[-1])
    assert seen["checkpoints"] == []
    assert seen["version"] == seen["delta_version"] == 25
    files = seen["files"]
    assert isinstance(files, dict)
    assert {("100644", blob_id(data), name) for name, data in files.items()} == git_tree(repo, shas[24])
    # held from 9; 29 is HELD_AT_MOST past it and runs; 39, held since, runs at the end
    assert sorted(int(path.name.split(".")[0]) for path in log.glob("*.checkpoint*.parquet")) == [29, 39]
    with Pond.open(pond_path) as fresh:
        check_every_commit(fresh, repo, shas[20:])


def folder_history(repo: Repo) -> list[str]:
    """Commits into the same few folders (a, b/c, z), so an import carries their rows from commit to
    commit: commits 0-3 touch all three, 4 only a and b/c, 5 and 6 z again (new names only)."""
    shas = []
    repo.write("a/x.txt", "x\n")
    repo.write("b/c/y.txt", "y\n")
    repo.write("z/keep.txt", "keep\n")
    shas.append(repo.commit("start"))
    for index in range(1, 4):
        repo.write(f"a/f{index}.txt", f"f{index}\n")
        repo.write(f"b/c/g{index}.txt", f"g{index}\n")
        repo.write(f"z/h{index}.txt", f"h{index}\n")
        shas.append(repo.commit(f"all three folders {index}"))
    repo.write("a/f4.txt", "f4\n")
    repo.write("b/c/y.txt", "y edited\n")
    shas.append(repo.commit("a and b/c only"))
    repo.write("z/h5.txt", "h5\n")
    repo.git("mv", "a/f1.txt", "z/moved.txt")
    repo.git("rm", "-q", "b/c/g2.txt")
    shas.append(repo.commit("z again"))
    repo.write("z/h5.txt", "h5 edited\n")
    repo.git("mv", "z/moved.txt", "a/back.txt")
    shas.append(repo.commit("z and a"))
    return shas


def another_writer_after(monkeypatch, commit_sha: str, *args) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Make another process commit (``proc_helpers.rename_and_create(*args)``) right after the import
    applied ``commit_sha``, before its next commit; the returned dict gets that commit's version."""
    import multiprocessing

    import proc_helpers

    import tinylogsql.gitimport as gitimport_module

    apply = gitimport_module._apply
    seen: dict[str, int] = {}

    def observed(pond, commit, *rest):  # type: ignore[no-untyped-def]
        apply(pond, commit, *rest)
        if commit.sha == commit_sha:
            with multiprocessing.get_context("spawn").Pool(1) as pool:
                seen["version"] = pool.apply(proc_helpers.rename_and_create, (pond.uri, *args))

    monkeypatch.setattr(gitimport_module, "_apply", observed)
    return seen


def test_another_writer_between_two_import_commits(repo, pond_path, monkeypatch):
    """The import keeps its folders' rows from one commit to the next. Another process commits
    between two of its commits, moving a folder the import kept (z) away, making a new z, and adding
    a file to another (a): the import's next commit, which did not read what changed, lands after
    it; the commits after that put git's files into the new z, not the moved one; every imported
    version holds git's tree with the other writer's changes beside it."""
    shas = folder_history(repo)
    theirs = {"/z/theirs.txt": b"theirs", "/a/theirs.txt": b"theirs too"}
    seen = another_writer_after(monkeypatch, shas[3], [("/z", "/z-moved")], ["/z"], theirs)
    with Pond.create(pond_path) as pond:
        report = pond.import_git(repo.path)
        assert report.commits == len(shas) and seen["version"] == report.versions[3] + 1
        assert report.versions[4] == seen["version"] + 1  # the next import commit, after the other writer's
        moved = {f"/z/{name}" for name in ("keep.txt", "h1.txt", "h2.txt", "h3.txt")}  # in z when it moved
        for sha, version in zip(shas[4:], report.versions[4:], strict=True):
            expected = {(mode, blob, "/z-moved" + path[2:] if path in moved else path)
                        for mode, blob, path in git_tree(repo, sha)}
            expected |= {("100644", blob_id(data), path) for path, data in theirs.items()}
            assert pond_tree(pond.at(version)) == expected, sha
        assert pond.root.read_file_path("/z/h5.txt") == b"h5 edited\n"
    with Pond.open(pond_path) as fresh:
        assert pond_tree(fresh) == expected


def test_another_writer_moving_a_folder_the_next_import_commit_uses(repo, pond_path, monkeypatch):
    """The folder rows an import keeps are only ever what the log said at the version its commit
    reads: another process moving folder a (kept) before the import's next commit adds a file to
    a is a conflict that stops the import there, not a file added in the moved folder."""
    from tinylogsql.errors import ConflictError

    shas = folder_history(repo)
    seen = another_writer_after(monkeypatch, shas[3], [("/a", "/a-moved")], [], {})
    with Pond.create(pond_path) as pond:
        with pytest.raises(ConflictError):
            pond.import_git(repo.path)
        assert pond.version == seen["version"]
        last = pond._fixed_sql("SELECT git_sha FROM git_commits ORDER BY version DESC LIMIT 1")[0][0]
        assert last == shas[3]
        assert pond_tree(pond) == {(mode, blob, "/a-moved" + path[2:] if path.startswith("/a/") else path)
                                   for mode, blob, path in git_tree(repo, shas[3])}


def test_the_final_snapshot_merges_in_the_background(repo, pond_path, monkeypatch):
    """A state of more than PERSIST_INLINE_ROWS (50k) rows and less than BACKGROUND_ROWS (200k): the
    snapshot due at the end of an import is merged on the background thread, not before the import
    returns (0.3-0.4 s at 100k entries). Until it lands, reads in the process and a reopen see
    every commit; then the snapshot is the last version's."""
    import threading

    import tinylogsql.query as query_module
    from tinylogsql import segments

    monkeypatch.setattr(segments, "PERSIST_INLINE_ROWS", 0)  # (the build's state is tiny: as a 50k+ one's)
    monkeypatch.setattr(query_module, "PERSIST_MIN_OPS", 1)
    shas = build(repo)
    release = threading.Event()
    with Pond.create(pond_path) as pond:
        segments.in_background(release.wait)  # the merge thread is busy until released
        try:
            report = pond.import_git(repo.path)
            assert pond._engine.state.merges and not pond._engine.state.merges[-1].done()  # merging after
            check_every_commit(pond, repo, shas)
            assert pond_tree(pond) == git_tree(repo, shas[-1])
            with Pond.open(pond_path) as fresh:
                check_every_commit(fresh, repo, shas)
        finally:
            release.set()
        segments.in_background(lambda: None).result()  # the merge and the snapshot's write
        assert pond._store.states.versions() == [report.versions[-1]]
        check_every_commit(pond, repo, shas)
    with Pond.open(pond_path) as fresh:
        check_every_commit(fresh, repo, shas)


def test_large_and_small_files_and_a_rename_into_new_folders(repo, pond):
    """Blobs of inline size are hashed by the reader thread and committed from those digests; a commit
    with a larger blob (stored beside the table) or a symlink takes the general bulk path. Both give
    git's tree, and the pond's content hashes verify."""
    big = os.urandom(200_000)
    (repo.path / "big.bin").parent.mkdir(parents=True, exist_ok=True)
    (repo.path / "big.bin").write_bytes(big)
    repo.write("small/a.txt", "a\n")
    first = repo.commit("a large file beside a small one")
    repo.write("small/a.txt", "edited\n")
    repo.write("small/b.txt", "")  # an empty file
    second = repo.commit("small files only")
    (repo.path / "new/deeper").mkdir(parents=True)
    repo.git("mv", "small/a.txt", "new/deeper/a.txt")  # a rename into folders the pond does not have yet
    third = repo.commit("a rename into new folders")
    pond.import_git(repo.path)
    check_every_commit(pond, repo, [first, second, third])
    assert pond.root.read_file_path("/big.bin") == big and pond.root.read_file_path("/small/b.txt") == b""
    assert pond.check().ok


def test_error_mid_history_keeps_the_commits_before(repo, pond):
    """A path git cannot give as UTF-8, read ahead by the reader thread, stops the import at that
    commit with the per-op error: the commits before it are imported, the reader and git are gone."""
    import threading

    from tinylogsql.errors import InvalidNameError

    repo.write("fine.txt", "ok\n")
    good = repo.commit("fine")
    (repo.path / os.fsdecode(b"bad-\xff.txt")).write_bytes(b"latin-1 name\n")
    repo.commit("a name that is not UTF-8")
    repo.write("later.txt", "never imported\n")
    repo.commit("after it")
    with pytest.raises(InvalidNameError, match="not valid UTF-8"):
        pond.import_git(repo.path)
    assert pond._fixed_sql("SELECT git_sha FROM git_commits") == [(good,)]
    assert pond_tree(pond) == git_tree(repo, good)
    assert not [t for t in threading.enumerate() if t.name == "tinylogsql-git-reader"]
    assert pond.import_git(repo.path, rev=good).commits == 0  # the pond still imports from where it stopped


def test_branch_forks_at_the_merge_base(repo, pond):
    shas = build(repo)
    repo.git("checkout", "-q", "-b", "feature", shas[3])
    repo.write("feature.txt", "feature work\n")
    feature = [repo.commit("feature work")]
    repo.git("mv", "src/app.py", "src/main.py")
    feature.append(repo.commit("feature rename"))
    pond.import_git(repo.path, rev="main")
    report = pond.import_git(repo.path, rev="feature", branch="feature")
    fork = pond._fixed_sql("SELECT version FROM git_commits WHERE git_sha = ?", [shas[3]])[0][0]
    assert report.forked_at == fork and report.commits == 2
    with pond.on("feature") as branch:
        check_every_commit(branch, repo, shas[:4] + feature)
    check_every_commit(pond, repo, shas)  # main is untouched
    repo.write("feature.txt", "more\n")
    feature.append(repo.commit("more feature work"))
    assert pond.import_git(repo.path, rev="feature", branch="feature").commits == 1


def test_all_branches(repo, tmp_path):
    shas = build(repo)
    repo.git("checkout", "-q", "-b", "feature", shas[1])
    repo.write("feature.txt", "feature work\n")
    feature = [repo.commit("feature work")]
    repo.git("checkout", "-q", "main")
    target = tmp_path / "all"
    result = CliRunner().invoke(cli, ["import-git", str(repo.path), str(target), "--all", "--json"])
    assert result.exit_code == 0, result.output
    reports = json.loads(result.output)
    assert [(r["branch"], r["commits"]) for r in reports] == [("main", len(shas)), ("feature", 1)]
    with Pond.open(str(target)) as pond:
        check_every_commit(pond, repo, shas)
        with pond.on("feature") as branch:
            check_every_commit(branch, repo, shas[:2] + feature)
        again = pond.import_git(repo.path, all_branches=True)
        assert [r.commits for r in again] == [0, 0]


def test_cli_creates_the_pond(repo, tmp_path):
    shas = build(repo)
    target = tmp_path / "made"
    result = CliRunner().invoke(cli, ["import-git", str(repo.path), str(target), "--rev", shas[1], "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["last_sha"] == shas[1]
    result = CliRunner().invoke(cli, ["--pond", str(target), "import-git", str(repo.path)])
    assert result.exit_code == 0, result.output
    assert "imported 5 git commit(s)" in result.output and "submodule vendor/lib skipped" in result.output
    with Pond.open(str(target)) as pond:
        check_every_commit(pond, repo, shas)
    failed = subprocess.run([sys.executable, "-m", "tinylogsql.cli", "import-git", str(repo.path), str(target),
                             "--rev", "no-such-rev"], capture_output=True, text=True, timeout=120)
    assert failed.returncode != 0 and "no commit named 'no-such-rev'" in failed.stderr
