"""The ``tinylogsql`` command line (issue 5), driven through the real console script in subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tinylogsql import Pond
from tinylogsql.cli import cli

SCRIPT = shutil.which("tinylogsql", path=str(Path(sys.executable).parent)) or shutil.which("tinylogsql")
COMMAND = [SCRIPT] if SCRIPT else [sys.executable, "-m", "tinylogsql.cli"]
COMMANDS = ["init", "ls", "tree", "cat", "mkdir", "ln", "rm", "mv", "stat", "put", "sync", "get", "export", "log",
            "history", "diff", "sql", "version", "demo", "check", "maintain"]


def run(*args: str, pond: Path | None = None, ok: bool = True, cwd: Path | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    full_env.pop("TINYLOGSQL_POND", None)
    if env and "TINYLOGSQL_POND" in env:
        full_env["TINYLOGSQL_POND"] = env["TINYLOGSQL_POND"]
    extra = ["--pond", str(pond)] if pond is not None else []
    result = subprocess.run([*COMMAND, *args, *extra], capture_output=True, text=True, cwd=cwd, env=full_env,
                            timeout=120)
    if ok:
        assert result.returncode == 0, f"{args}: {result.stderr}"
    return result


@pytest.fixture
def pond(tmp_path) -> Path:
    path = tmp_path / "pond"
    run("init", pond=path)
    return path


@pytest.fixture
def local_tree(tmp_path) -> Path:
    """A host folder: data/readings.csv, data/notes.txt, data/raw/blob.bin, data/latest -> readings.csv."""
    top = tmp_path / "local" / "data"
    (top / "raw").mkdir(parents=True)
    (top / "readings.csv").write_text("sensor,value\na,1.5\nb,2.5\n")
    (top / "notes.txt").write_text("first\n")
    (top / "raw" / "blob.bin").write_bytes(bytes(range(256)) * 400)  # 100 KiB: stored as a blob
    os.symlink("readings.csv", top / "latest")
    return top


def test_console_script_is_installed():
    assert SCRIPT is not None, "the tinylogsql console script is not on PATH: pip install the package"


def test_help_on_every_command_has_an_example():
    listing = run("--help").stdout
    assert all(command in listing for command in COMMANDS)
    assert "Example: tinylogsql ls" in run("ls", "--help").stdout
    # every other command's --help, in-process (the same click objects the script runs) to save startups
    runner = CliRunner()
    for command in COMMANDS:
        result = runner.invoke(cli, [command, "--help"])
        assert result.exit_code == 0 and "Example: tinylogsql" in result.output, command
        if command not in ("version", "demo"):
            assert "--pond" in result.output, command
    for command in ("ls", "tree", "cat", "stat", "get", "export", "log", "history", "sql"):
        assert "--at" in runner.invoke(cli, [command, "--help"]).output, command


def test_version():
    assert run("version").stdout.strip() == "0.1.0"


def test_init_and_errors_are_one_line(pond, tmp_path):
    again = run("init", pond=pond, ok=False)
    assert again.returncode == 1 and again.stderr.count("\n") == 1
    assert again.stderr.startswith("tinylogsql: error:") and "Traceback" not in again.stderr
    missing = run("ls", "/", pond=tmp_path / "nowhere", ok=False)
    assert missing.returncode == 1 and "no pond" in missing.stderr and missing.stderr.count("\n") == 1
    nofile = run("cat", "/nope.txt", pond=pond, ok=False)
    assert nofile.returncode == 1 and "No such file or directory" in nofile.stderr
    debug = run("cat", "/nope.txt", "--debug", pond=pond, ok=False)
    assert debug.returncode != 0 and "Traceback" in debug.stderr
    usage = run("ln", "/a", "/b", pond=pond, ok=False)
    assert usage.returncode == 2 and "ln -s" in usage.stderr


def test_pond_defaults_to_env_then_dot_pond(tmp_path):
    run("init", env={"TINYLOGSQL_POND": str(tmp_path / "from-env")})
    assert (tmp_path / "from-env").is_dir()
    run("init", cwd=tmp_path)
    assert (tmp_path / "pond").is_dir()
    run("mkdir", "/here", cwd=tmp_path)
    assert run("ls", cwd=tmp_path).stdout == "here/\n"


def test_put_tree_ls_cat_stat(pond, local_tree):
    out = run("put", str(local_tree), "/", "-m", "first import", pond=pond).stdout
    assert "put 3 files" in out and "version 1" in out
    with Pond.open(pond) as p:
        assert p.version == 1  # folders, files and the link: one commit
        assert p.sql("select message from oplog where version = 1 limit 1").fetchall()[0][0] == "first import"
    assert run("ls", "/data", pond=pond).stdout == "latest -> readings.csv\nnotes.txt\nraw/\nreadings.csv\n"
    long = run("ls", "-l", "/data", pond=pond).stdout.splitlines()
    assert long[3].split()[:2] == ["file", "25"] and long[3].endswith("readings.csv")
    assert run("cat", "/data/latest", pond=pond).stdout == "sensor,value\na,1.5\nb,2.5\n"
    tree = run("tree", pond=pond).stdout
    assert "raw/" in tree and "blob.bin (100.0 KiB)" in tree and "latest -> readings.csv" in tree
    stat = run("stat", "/data/raw/blob.bin", pond=pond).stdout
    assert "kind:      file" in stat and "size:      102400" in stat and "version:   1" in stat
    # putting several sources into an existing directory; again one commit
    extra = local_tree.parent / "extra.txt"
    extra.write_text("x")
    run("put", str(extra), str(local_tree / "notes.txt"), "/data/raw", pond=pond)
    assert run("ls", "/data/raw", pond=pond).stdout == "blob.bin\nextra.txt\nnotes.txt\n"


def test_put_shows_progress_and_is_all_or_nothing(pond, tmp_path):
    many = tmp_path / "many"
    many.mkdir()
    for index in range(30):
        (many / f"f{index:02}.txt").write_text(str(index))
    result = run("put", str(many), "/many", "--progress", pond=pond)
    assert "put" in result.stderr and "30 files" in result.stderr  # the rich progress bar, on stderr
    assert run("ls", "/many", pond=pond).stdout.count("\n") == 30
    run("mkdir", "/clash", pond=pond)
    run("put", str(many / "f00.txt"), "/clash/many", pond=pond)  # a file where the folder would go
    with Pond.open(pond) as p:
        before = p.version
    failed = run("put", str(many), "/clash/", pond=pond, ok=False)
    assert failed.returncode == 1 and "exists" in failed.stderr
    assert run("ls", "/clash", pond=pond).stdout == "many\n"  # nothing of the failed put landed
    with Pond.open(pond) as p:
        assert p.version == before


def test_mkdir_ln_mv_rm(pond):
    run("mkdir", "-p", "/a/b/c", "/x", pond=pond)
    assert run("mkdir", "/a", pond=pond, ok=False).returncode == 1
    run("ln", "-s", "/a/b", "/link", pond=pond)
    assert run("ls", "/link", pond=pond).stdout == "c/\n"
    run("mv", "/a/b", "/x", pond=pond)  # into an existing directory
    assert run("ls", "/x", pond=pond).stdout == "b/\n"
    run("mv", "/x/b", "/renamed", pond=pond)
    assert run("ls", pond=pond).stdout == "a/\nlink -> /a/b\nrenamed/\nx/\n"
    rm = run("rm", "/renamed", pond=pond, ok=False)
    assert rm.returncode == 1 and "not empty" in rm.stderr.lower()
    run("rm", "-r", "/renamed", "/link", pond=pond)
    assert run("ls", pond=pond).stdout == "a/\nx/\n"


def test_get_and_export_at_a_version(pond, local_tree, tmp_path):
    run("put", str(local_tree), "/", pond=pond)
    with Pond.open(pond) as p:
        p.root.write_file_path("/data/notes.txt", "second\n")
        p.root.create_symlink_path("/data/abs", "/data/notes.txt")
    run("get", "/data/notes.txt", str(tmp_path / "notes-now.txt"), pond=pond)
    assert (tmp_path / "notes-now.txt").read_text() == "second\n"
    run("get", "/data/notes.txt", str(tmp_path / "notes-v1.txt"), "--at", "1", pond=pond)
    assert (tmp_path / "notes-v1.txt").read_text() == "first\n"
    run("get", "/data/raw", str(tmp_path), pond=pond)  # into an existing folder
    assert (tmp_path / "raw" / "blob.bin").read_bytes() == (local_tree / "raw" / "blob.bin").read_bytes()
    run("export", str(tmp_path / "v1"), "--at", "1", pond=pond)
    assert (tmp_path / "v1" / "data" / "notes.txt").read_text() == "first\n"
    assert not (tmp_path / "v1" / "data" / "abs").exists()
    assert os.readlink(tmp_path / "v1" / "data" / "latest") == "readings.csv"
    run("export", str(tmp_path / "now"), pond=pond)
    assert os.readlink(tmp_path / "now" / "data" / "abs") == "notes.txt"  # absolute pond target made relative
    assert (tmp_path / "now" / "data" / "abs").read_text() == "second\n"
    again = run("export", str(tmp_path / "now"), pond=pond, ok=False)
    assert again.returncode == 1 and "empty" in again.stderr


def test_log_history_diff(pond):
    with Pond.open(pond, author="alice") as p:
        root = p.root
        with p.transaction(message="load", author="etl"):
            root.create_dir_path("/d")
            root.create_file_path("/d/x.txt", "1")
            root.create_file_path("/d/gone.txt", "g")
        root.write_file_path("/d/x.txt", "22")  # v2
        root.rename("/d/x.txt", "/d/y.txt")  # v3
        root.remove("/d/gone.txt")  # v4
        root.create_dir_path("/d/gone.txt")  # v5: a directory where a file was
        root.create_file_path("/d/x.txt", "new node, old name")  # v6
    log = run("log", pond=pond).stdout.splitlines()
    rows = [line.split() for line in log[2:]]
    assert [r[0] for r in rows] == ["6", "5", "4", "3", "2", "1", "0"]
    load = next(line for line in log if line.split()[0] == "1")
    assert "etl" in load and "load" in load and "3" in load.split()
    assert len(run("log", "-n", "2", pond=pond).stdout.splitlines()) == 4
    history = run("history", "/d/x.txt", pond=pond).stdout
    ops = [line.split("│")[2].strip() for line in history.splitlines()[2:]]
    assert ops == ["create", "move", "write", "create"]  # newest first: the new node, then the moved one
    oldest_first = run("history", "/d/x.txt", "--reverse", pond=pond).stdout
    assert [line.split("│")[2].strip() for line in oldest_first.splitlines()[2:]] == ops[::-1]
    assert "/d/x.txt -> /d/y.txt" in history
    assert run("history", "/nowhere", pond=pond, ok=False).returncode == 1
    diff = run("diff", "1", "6", pond=pond).stdout.splitlines()
    assert diff == [
        "T type-changed /d/gone.txt (file -> dir)",
        "+ added        /d/x.txt",
        "R moved        /d/x.txt -> /d/y.txt",
        "M modified     /d/y.txt",
    ]
    assert run("diff", "5", pond=pond).stdout == "+ added        /d/x.txt\n"
    assert run("diff", "99", pond=pond, ok=False).returncode == 1


def test_sql_formats(pond, tmp_path):
    run("mkdir", "/a", "/b", pond=pond)
    query = "select path, kind from paths where path <> '/' order by path"
    table = run("sql", query, pond=pond).stdout
    assert "path" in table and "/a" in table and "/b" in table
    assert run("sql", query, "--format", "csv", pond=pond).stdout == "path,kind\n/a,dir\n/b,dir\n"
    rows = json.loads(run("sql", query, "--format", "json", pond=pond).stdout)
    assert rows == [{"path": "/a", "kind": "dir"}, {"path": "/b", "kind": "dir"}]
    run("sql", query, "--format", "parquet", "--output", str(tmp_path / "out.parquet"), pond=pond)
    assert pq.read_table(tmp_path / "out.parquet").column("path").to_pylist() == ["/a", "/b"]
    assert run("sql", query, "--format", "parquet", pond=pond, ok=False).returncode == 2
    run("sql", "select count(*) as n from oplog", "--format", "csv", "--output", str(tmp_path / "n.csv"), pond=pond)
    assert (tmp_path / "n.csv").read_text() == "n\n3\n"  # the root, /a and /b
    assert run("sql", "select count(*) as n from paths", "--at", "0", "--format", "csv", pond=pond).stdout == "n\n1\n"
    bad = run("sql", "selec nonsense", pond=pond, ok=False)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def test_maintain_command_compacts_and_keeps_history(tmp_path):
    pond_path = tmp_path / "pond"
    with Pond.create(pond_path) as made:
        for i in range(8):
            made.root.create_file_path(f"f{i}", str(i))
    done = run("maintain", "--retention-hours", "1", pond=pond_path)  # below 1 h needs --unsafe
    assert "files compacted into 1" in done.stdout and "vacuumed" in done.stdout
    with Pond.open(pond_path) as again:
        assert sorted(again.root) == [f"f{i}" for i in range(8)]
        assert again.at(3).root.read_file_path("f2") == b"2"
    refused = run("maintain", "--retention-hours", "0.5", pond=pond_path, ok=False)
    assert refused.returncode == 1 and "unsafe" in refused.stderr and refused.stderr.count("\n") == 1
    with Pond.open(pond_path) as again, pytest.raises(ZeroDivisionError), again.transaction():
        again.root.create_file_path("stray.bin", os.urandom(200_000))  # rolled back: its chunks stay
        raise ZeroDivisionError
    chunks = sorted(os.listdir(pond_path / "chunks"))
    dry = run("maintain", "--retention-hours", "0", "--unsafe", "--dry-run", pond=pond_path)
    assert dry.stdout.startswith("dry run, nothing changed") and f"{len(chunks)} chunks and 1 chunk lists" in dry.stdout
    assert sorted(os.listdir(pond_path / "chunks")) == chunks
    unsafe = run("maintain", "--retention-hours", "0", "--unsafe", pond=pond_path)
    assert "old files vacuumed" in unsafe.stdout and f"{len(chunks)} chunks and 1 chunk lists dropped" in unsafe.stdout
    assert os.listdir(pond_path / "chunks") == []
    with Pond.open(pond_path) as again:
        assert sorted(again.root) == [f"f{i}" for i in range(8)] and again.check().ok


def test_demo_runs_twice_on_one_pond(tmp_path):
    """README's first command: the demo creates a pond, then reuses it on a second run."""
    target = tmp_path / "demo-pond"
    first = run("demo", str(target)).stdout
    assert "created pond" in first and "readings.csv" in first and "import run" in first
    second = run("demo", str(target)).stdout
    assert "reusing pond" in second
    with Pond.open(target) as pond:
        runs = [name for name in pond.root.open_dir_path("/data") if name.startswith("run-")]
        assert len(runs) == 2
        assert pond.root.read_file_path("/latest/notes.txt") == b"first import, checked\n"
        assert pond.sql("select count(*) from commits").fetchall()[0][0] >= 10
