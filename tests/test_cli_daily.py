"""Everyday work from the shell (issue 14), through the installed console script in subprocesses:
global options, one commit per command with -m/--author, several paths, globs, sync, --json,
log PATH, diff -p/--stat/--exit-code, sql from stdin or a file, and no failure reported for a
commit that landed."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from test_cli import COMMAND, run

from tinylogsql import Pond


def last_commit(pond: Path) -> tuple[int, str, str, int]:
    """(version, message, author, ops) of the newest commit."""
    with Pond.open(pond) as p:
        return p.sql("select version, message, author, ops from commits order by version desc limit 1").fetchall()[0]


def version_of(pond: Path) -> int:
    with Pond.open(pond) as p:
        return p.version


@pytest.fixture
def pond(tmp_path) -> Path:
    path = tmp_path / "pond"
    Pond.create(path, author="setup").close()
    return path


def test_global_options_before_or_after_the_command_and_version(pond, tmp_path):
    assert run("--version").stdout.strip() == "0.1.0"
    made = run("--pond", str(pond), "mkdir", "/before").stdout  # --pond before the command
    assert made == ""
    other = tmp_path / "other"
    Pond.create(other).close()
    # after the command wins over before it (the nearer one), as for git -C / subcommand options
    assert run("--pond", str(other), "ls", "--pond", str(pond)).stdout == "before/\n"
    debug = run("--debug", "--pond", str(pond), "cat", "/nope", ok=False)
    assert debug.returncode != 0 and "Traceback" in debug.stderr
    env = run("ls", env={"TINYLOGSQL_POND": str(pond)})  # the group's default still comes from the env
    assert env.stdout == "before/\n"


def test_each_writing_command_is_one_commit_with_message_and_author(pond, tmp_path):
    def check(args: list[str], ops: int) -> int:
        run(*args, "-m", f"msg {args[0]}", "--author", "ann", pond=pond)
        version, message, author, count = last_commit(pond)
        assert (message, author, count) == (f"msg {args[0]}", "ann", ops), args
        return version

    v = check(["mkdir", "-p", "/a/b", "/c", "/d"], 4)  # several paths, one commit
    local = tmp_path / "x.txt"
    local.write_text("x")
    assert check(["put", str(local), str(local.parent / "x.txt"), "/a/"], 1) == v + 1  # same file twice: one create
    check(["ln", "-s", "/a/x.txt", "/link"], 1)
    check(["mv", "/a/x.txt", "/link", "/a/b", "/d/"], 3)  # several sources into a directory
    check(["rm", "-r", "/a", "/c"], 2)
    with Pond.open(pond) as p:
        assert sorted(p.root) == ["d"]
        assert sorted(p.root.glob("/d/*")) == ["/d/b", "/d/link", "/d/x.txt"]
    before = version_of(pond)
    missing = run("mv", "/d/x.txt", "/missing/", pond=pond, ok=False)  # never renamed to a file "missing"
    assert missing.returncode == 1 and "Not a directory" in missing.stderr and "/missing/" in missing.stderr
    several = run("mv", "/d/x.txt", "/d/link", "/nowhere", pond=pond, ok=False)
    assert several.returncode == 1 and "Not a directory" in several.stderr
    assert version_of(pond) == before
    with Pond.open(pond) as p:
        assert p.root.exists("/d/x.txt") and p.root.get("/missing") is None


def test_globs_are_matched_inside_the_pond(pond, tmp_path):
    with Pond.open(pond) as p, p.transaction():
        p.root.create_dir_path("/data")
        for name in ("a.csv", "b.csv", "c.txt", "d2.csv"):
            p.root.create_file_path(f"/data/{name}", name)
    assert run("ls", "/data/*.csv", pond=pond).stdout == "/data/a.csv\n/data/b.csv\n/data/d2.csv\n"
    assert run("cat", "/data/[ab].csv", pond=pond).stdout == "a.csvb.csv"
    stats = json.loads(run("stat", "--json", "/**/*.txt", pond=pond).stdout)
    assert [s["path"] for s in stats] == ["/data/c.txt"] and stats[0]["size"] == 5
    out = tmp_path / "out"
    out.mkdir()
    run("get", "/data/?.csv", str(out), pond=pond)
    assert sorted(os.listdir(out)) == ["a.csv", "b.csv"]
    run("rm", "/data/*.csv", pond=pond)
    assert run("ls", "/data", pond=pond).stdout == "c.txt\n"
    none = run("ls", "/data/*.parquet", pond=pond, ok=False)
    assert none.returncode == 1 and "no match" in none.stderr and none.stderr.count("\n") == 1


@pytest.fixture
def local_dir(tmp_path) -> Path:
    top = tmp_path / "local"
    (top / "sub").mkdir(parents=True)
    (top / "a.txt").write_text("alpha\n")
    (top / "sub" / "b.txt").write_text("beta\n")
    (top / "big.bin").write_bytes(os.urandom(200_000))  # above the 64 KiB inline limit: the blob stream path
    os.symlink("a.txt", top / "link")
    return top


def test_sync_mirrors_a_folder_in_one_commit(pond, local_dir):
    first = run("sync", str(local_dir), "/mirror", "-m", "first sync", "--author", "cron", pond=pond).stdout
    assert "6 created" in first and "version 1" in first  # /mirror, a.txt, big.bin, link, sub, sub/b.txt
    assert last_commit(pond)[1:3] == ("first sync", "cron")
    again = run("sync", str(local_dir), "/mirror", pond=pond).stdout
    assert "nothing to change" in again and version_of(pond) == 1  # no new version
    (local_dir / "a.txt").write_text("alpha, changed\n")
    (local_dir / "new.txt").write_text("new\n")
    (local_dir / "sub" / "b.txt").unlink()
    dry = json.loads(run("sync", str(local_dir), "/mirror", "--delete", "--dry-run", "--json", pond=pond).stdout)
    assert dry["dry_run"] and not dry["committed"] and version_of(pond) == 1
    assert (dry["created"], dry["written"], dry["removed"]) == (["/mirror/new.txt"], ["/mirror/a.txt"],
                                                                ["/mirror/sub/b.txt"])
    kept = json.loads(run("sync", str(local_dir), "/mirror", "--json", pond=pond).stdout)  # no --delete: b stays
    assert kept["removed"] == [] and kept["version"] == 2 and kept["unchanged"] == 2  # big.bin, link
    shown = run("sync", str(local_dir), "/mirror", "--delete", "--json", "--progress", pond=pond)
    assert "sync 3 files, done" in shown.stderr and "200.0/200.0 kB" in shown.stderr  # the rich progress bar, on stderr
    done = json.loads(shown.stdout)
    assert done["removed"] == ["/mirror/sub/b.txt"] and done["created"] == [] and done["version"] == 3
    assert done["unchanged"] == 4 and done["written"] == []
    with Pond.open(pond) as p:
        assert sorted(p.root.open_dir_path("/mirror")) == ["a.txt", "big.bin", "link", "new.txt", "sub"]
        assert len(p.root.open_dir_path("/mirror/sub")) == 0
        assert p.root.read_file_path("/mirror/big.bin") == (local_dir / "big.bin").read_bytes()
        assert p.root.read_file_path("/mirror/link") == b"alpha, changed\n"
        ops = p.sql("select op, path from history where version = 2 order by path").fetchall()
        assert ops == [("write", "/mirror/a.txt"), ("create", "/mirror/new.txt")]  # unchanged files: no op


def test_put_skips_unchanged_content_and_copies_contents_of_dir_slash(pond, local_dir):
    run("put", str(local_dir), "/data", pond=pond)
    again = run("put", str(local_dir), "/data", pond=pond).stdout  # /data exists now: into /data/local
    assert "version 2" in again
    same = run("put", str(local_dir) + "/", "/data/local", pond=pond).stdout  # the contents, onto the same files
    assert "nothing to change" in same and version_of(pond) == 2
    (local_dir / "a.txt").write_text("changed\n")
    changed = run("put", str(local_dir) + "/", "/data", pond=pond).stdout
    assert "put 1 file " in changed and "3 unchanged" in changed and "version 3" in changed
    with Pond.open(pond) as p:
        assert p.sql("select op, path from history where version = 3").fetchall() == [("write", "/data/a.txt")]
        assert p.root.get("/data/local/local") is None  # "dir/" never nests the folder itself


def test_json_log_history_order_and_log_path(pond):
    with Pond.open(pond, author="alice") as p:
        p.root.create_dir_path("/d")  # v1
        p.root.create_file_path("/d/x.txt", "1")  # v2
        p.root.create_file_path("/other.txt", "o")  # v3
        p.root.rename("/d/x.txt", "/d/y.txt")  # v4
    log = json.loads(run("log", "--json", pond=pond).stdout)
    assert [c["version"] for c in log] == [4, 3, 2, 1, 0]
    assert set(log[0]) == {"version", "time", "message", "author", "ops", "creates", "writes", "moves", "removes",
                           "bytes_written", "branch"}
    assert {c["branch"] for c in log} == {"main"}
    touched = json.loads(run("log", "/d", "--json", "--reverse", pond=pond).stdout)
    assert [c["version"] for c in touched] == [1, 2, 4]  # commits that touched /d or below, oldest first
    history = json.loads(run("history", "/d/y.txt", "--json", pond=pond).stdout)
    assert [(h["version"], h["op"], h["from_path"]) for h in history] == [(4, "move", "/d/x.txt"), (2, "create", None)]
    listing = json.loads(run("ls", "--json", "/d", pond=pond).stdout)
    assert [(e["path"], e["kind"], e["size"], e["version"]) for e in listing] == [("/d/y.txt", "file", 1, 4)]
    one = json.loads(run("stat", "--json", "/other.txt", pond=pond).stdout)
    assert one["sha256"] and one["kind"] == "file" and one["modified"].endswith("+00:00")


def test_diff_patch_stat_exit_code_and_path(pond):
    with Pond.open(pond) as p:
        p.root.create_dir_path("/t")  # v1
        with p.transaction():  # v2
            p.root.create_file_path("/t/notes.txt", "one\ntwo\nthree\n")
            p.root.create_file_path("/t/blob.bin", b"\x00\x01\x02")
            p.root.create_file_path("/t/gone.txt", "bye\n")
            p.root.create_file_path("/u.txt", "u\n")
        with p.transaction():  # v3
            p.root.write_file_path("/t/notes.txt", "one\n2\nthree\nfour\n")
            p.root.write_file_path("/t/blob.bin", b"\x00\x09")
            p.root.remove("/t/gone.txt")
            p.root.write_file_path("/u.txt", "u2\n")
    patch = run("diff", "2", "3", "/t", "-p", pond=pond).stdout
    assert "M modified     /t/notes.txt\ndiff --git a/t/notes.txt b/t/notes.txt\n--- a/t/notes.txt\n" in patch
    assert "-two\n+2\n three\n+four\n" in patch
    assert "Binary files a/t/blob.bin and b/t/blob.bin differ" in patch
    assert "--- a/t/gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n" in patch
    assert "u.txt" not in patch  # outside PATH
    stat = run("diff", "2", "3", "--stat", pond=pond).stdout.splitlines()
    assert stat[-1] == " 4 files changed, 3 insertions(+), 3 deletions(-)"
    assert " /t/blob.bin | Bin 3 -> 2 bytes" in stat
    changes = json.loads(run("diff", "2", "/u.txt", "--json", pond=pond).stdout)  # V2 omitted: the newest
    assert changes == [{"change": "modified", "path": "/u.txt", "old_path": "/u.txt", "kind": "file",
                        "old_kind": None}]
    assert run("diff", "2", "3", "--exit-code", pond=pond, ok=False).returncode == 1
    same = run("diff", "3", "3", "--exit-code", pond=pond)
    assert same.returncode == 0 and same.stdout == ""


def test_sql_from_stdin_and_from_a_file(pond, tmp_path):
    query = "select count(*) as n from paths"
    piped = subprocess.run([*COMMAND, "--pond", str(pond), "sql", "-", "--format", "csv"], input=query,
                           capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0 and piped.stdout == "n\n1\n", piped.stderr
    (tmp_path / "q.sql").write_text("-- one line of comment\nselect 40 + 2 as answer\n")
    assert run("sql", "--file", str(tmp_path / "q.sql"), "--format", "csv", pond=pond).stdout == "answer\n42\n"
    both = run("sql", query, "--file", str(tmp_path / "q.sql"), pond=pond, ok=False)
    assert both.returncode == 2 and "exactly one" in both.stderr


def test_an_error_after_the_commit_says_it_landed(pond, tmp_path):
    """`put ... | head -0`: stdout is gone when the summary is printed, after the commit."""
    local = tmp_path / "f.txt"
    local.write_text("data")
    proc = subprocess.Popen([*COMMAND, "--pond", str(pond), "put", str(local), "/f.txt"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # the reader went away before the command printed its summary
    stderr = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 0, stderr
    assert "the commit landed as version 1" in stderr and "Traceback" not in stderr
    with Pond.open(pond) as p:
        assert p.root.read_file_path("/f.txt") == b"data"
