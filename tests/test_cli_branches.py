"""The branch commands of the CLI (issue 15): branch, tag, merge, revert, restore, --branch, revisions."""

from __future__ import annotations

import json

from click.testing import CliRunner

from tinylogsql import Pond
from tinylogsql.cli import cli


def invoke(pond: str, *args: str, code: int = 0, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(cli, ["--pond", pond, *args], env=env, catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.stdout


def test_branch_edit_merge_conflict_and_resolution(tmp_path):
    pond = str(tmp_path / "pond")
    with Pond.create(pond) as p:
        p.root.create_file_path("/a.txt", "one")
    assert "created branch feature" in invoke(pond, "branch", "feature")
    invoke(pond, "-b", "feature", "mkdir", "/d")
    invoke(pond, "mv", "/a.txt", "/b.txt", env={"TINYLOGSQL_BRANCH": "main"})
    listed = json.loads(invoke(pond, "branch", "--json"))
    assert [b["name"] for b in listed] == ["feature", "main"]
    assert "/d" in invoke(pond, "merge", "feature", "--dry-run")
    assert "merged feature into main" in invoke(pond, "merge", "feature", "-m", "bring d")
    with Pond.open(pond) as p:
        assert sorted(p.root) == ["b.txt", "d"]
        assert p.sql("SELECT DISTINCT message FROM history WHERE version = ?", [p.version]).fetchall() == [
            ("bring d",)]
    invoke(pond, "--branch", "feature", "put", str(_local(tmp_path, "theirs")), "/a.txt")
    with Pond.open(pond) as p:
        p.root.write_file_path("/b.txt", "ours")
        before = p.version
    conflicts = json.loads(invoke(pond, "merge", "feature", "--json", code=1))["conflicts"]
    assert conflicts == [{"path": "/b.txt", "reason": "different content on both sides",
                          "ours": conflicts[0]["ours"], "theirs": conflicts[0]["theirs"]}]
    assert "different content on both sides" in invoke(pond, "merge", "feature", code=1)
    invoke(pond, "merge", "feature", "--strategy", "theirs")
    with Pond.open(pond) as p:
        assert p.root.read_file_path("/b.txt") == b"theirs" and p.version > before
    log = invoke(pond, "log")
    assert "branch feature from main@" in log and "(merged feature@" in log


def test_tags_revisions_diff_revert_restore(tmp_path):
    pond = str(tmp_path / "pond")
    with Pond.create(pond) as p:
        p.root.create_file_path("/a.txt", "one")
    invoke(pond, "tag", "release-1")
    assert json.loads(invoke(pond, "tag", "--json"))[0]["name"] == "release-1"
    invoke(pond, "branch", "feature", "--from", "release-1")
    invoke(pond, "-b", "feature", "rm", "/a.txt")
    assert "removed" in invoke(pond, "diff", "release-1", "feature")
    assert "a.txt" in invoke(pond, "ls", "--at", "feature~1")
    with Pond.open(pond) as p:
        p.root.write_file_path("/a.txt", "two")
        wrote = p.version
    invoke(pond, "revert", str(wrote))
    assert invoke(pond, "cat", "/a.txt") == "one"
    invoke(pond, "rm", "/a.txt")
    invoke(pond, "restore", "/a.txt", "--at", "release-1")
    assert invoke(pond, "cat", "/a.txt") == "one"
    invoke(pond, "branch", "-d", "feature")
    assert [b["name"] for b in json.loads(invoke(pond, "branch", "--json"))] == ["main"]


def _local(tmp_path, text: str):
    path = tmp_path / f"{text}.txt"
    path.write_text(text)
    return path
