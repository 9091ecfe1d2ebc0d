"""Ponds on S3 (issue 8), against moto's S3 server on 127.0.0.1 started by the tests themselves.

The core suite (test_core.py) already runs every test on both backends; this file covers what
is specific to object storage: options from the environment or given explicitly (also to child
processes), what one lookup costs in requests, blobs before commits, the SQL sandbox, the
CLI, many colliding writer processes checked by the reliability checker, and the log read by
other engines (Daft on its local runner and on Ray, polars).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest
import s3_helpers
from reliability_helpers import results, seed_tree, verify

from tinylogsql import Pond, QueryRejectedError

TESTS = Path(__file__).resolve().parent


def spawn_pool(n: int):
    return multiprocessing.get_context("spawn").Pool(n)


def test_explicit_storage_options_reach_child_processes(s3_emulator, monkeypatch):
    for key in list(os.environ):
        if key.startswith("AWS_") and key != "AWS_EC2_METADATA_DISABLED":
            monkeypatch.delenv(key)
    uri, options = s3_emulator.new_uri(), dict(s3_emulator.options)
    with Pond.create(uri, storage_options=options) as pond:
        pond.root.create_file_path("from-parent", b"p")
        assert "testing" not in repr(pond) and pond.uri == uri  # no secrets in what gets printed
        with spawn_pool(1) as pool:
            seen, leaked = pool.apply(s3_helpers.child_sees_and_writes, (uri, options, "from-child"))
        assert leaked == [] and seen == ["from-parent"]
        assert sorted(pond.root) == ["from-child", "from-parent"]  # next call sees the child's commit
        assert pond.root.read_file_path("from-child") == b"made by a child"


def test_a_warm_lookup_costs_one_request(s3_env):
    uri = s3_env.new_uri()
    with Pond.create(uri) as pond, Pond.open(uri) as other:
        pond.root.create_dir_path("d").create_file_path("f", b"x")
        assert pond.root.exists("d/f")
        # warm: the version-keyed cache answers; the only request is one LIST of the log entries
        # after the state's (a cleaned-up log leaves a newer checkpoint there: never "nothing new")
        for read in (lambda: pond.root.exists("d/f"), lambda: pond.root.read_file_path("d/f")):
            lines = s3_env.record(read)
            assert len(lines) == 1 and lines[0].startswith("GET ") and "list-type=2" in lines[0], lines
            assert "start-after=" in lines[0] and "_delta_log" in lines[0], lines
        # a foreign commit: that LIST names its entry; then one GET for the entry, one for its data file
        other.root.create_file_path("d/g", b"y")
        lines = s3_env.record(lambda: pond.root.exists("d/g"))
        assert pond.root.exists("d/g")
        assert not any(line.startswith("HEAD ") for line in lines), lines
        entries = [line for line in lines if line.startswith("GET ") and line.split()[1].endswith(".json")]
        assert len(entries) == 1 and len(lines) == 3, lines  # the LIST, that entry, its one data file


def test_max_staleness_reads_make_no_request_within_the_window(s3_env):
    uri = s3_env.new_uri()
    with Pond.create(uri) as writer:
        writer.root.create_file_path("f", b"x")
    with Pond.open(uri, max_staleness=3600) as pond, Pond.open(uri) as other:
        assert pond.root.read_file_path("f") == b"x"  # the first read checks, and starts the window
        assert pond.version == 1  # (the refs are read on first use)
        assert s3_env.count(lambda: (pond.root.exists("f"), sorted(pond.root), pond.version)) == {}
        other.root.create_file_path("g", b"y")
        assert s3_env.count(lambda: pond.root.exists("g")) == {}  # a commit younger than the window: missed
        assert not pond.root.exists("g")
        pond.root.create_file_path("h", b"z")  # a write checks the store: committed after "g", both seen
        assert sorted(pond.root) == ["f", "g", "h"] and sorted(other.root) == ["f", "g", "h"]


def test_chunks_and_their_list_are_on_the_store_before_the_commit_that_references_them(s3_env):
    with Pond.create(s3_env.new_uri()) as pond:
        big = os.urandom(300_000)
        lines = s3_env.record(lambda: pond.root.create_file_path("big.bin", big))
        puts = [line.split()[1] for line in lines if line.startswith("PUT ")]
        chunks = [i for i, path in enumerate(puts) if "/chunks/" in path]
        listing = next(i for i, path in enumerate(puts) if "/manifests/" in path and not path.endswith("/"))
        entry = next(i for i, path in enumerate(puts) if "/_delta_log/" in path)
        assert len(chunks) > 1 and max(chunks) < listing < entry
        assert pond.root.read_file_path("big.bin") == big
        assert s3_helpers.list_dir(pond.uri, "manifests") == [pond.root.get("big.bin").sha256]
        assert len(s3_helpers.list_dir(pond.uri, "chunks")) == len(chunks)


def test_sql_sandbox_is_as_strict_on_an_s3_pond(s3_env):
    with Pond.create(s3_env.new_uri()) as pond:
        pond.root.create_file_path("a.txt", b"hello")
        table = s3_env.new_uri().rsplit("/", 1)[0]
        for query in [
            f"select * from read_parquet('{pond.uri}/log/*.parquet')",
            f"select * from read_text('{s3_env.endpoint}/{s3_helpers.BUCKET}/x')",
            f"select * from '{table}/log/x.parquet'",
            "install httpfs",
        ]:
            with pytest.raises(QueryRejectedError):
                pond.sql(query)
        assert pond.sql("select path from files").fetchall() == [("/a.txt",)]


def test_cli_takes_an_s3_pond(s3_env):
    uri = s3_env.new_uri()

    def cli(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "tinylogsql.cli", *args, "--pond", uri],
                              capture_output=True, text=True, timeout=120, env=dict(os.environ))
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert uri in cli("init")
    cli("mkdir", "/data")
    assert cli("ls").split() == ["data/"]
    with Pond.open(uri) as pond:
        assert list(pond.root) == ["data"]


def test_many_processes_collide_on_one_s3_pond(s3_env):
    writers, ops = 4, 20
    uri = s3_env.new_uri()
    with Pond.create(uri) as pond:
        seed_tree(pond)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(writers)
        with ctx.Pool(writers) as pool:
            per_worker = pool.starmap(
                s3_helpers.reliability_worker,
                [(uri, dict(s3_env.options), k, ops, 3000 + k, barrier) for k in range(writers)],
            )
    records = [record for worker in per_worker for record in worker]
    verdict = verify(uri, records)  # the log read straight from the Delta table on S3, replayed
    assert len(results(records)) == writers * ops
    verdict.assert_clean()
    assert verdict.acknowledged >= writers * ops // 5 and verdict.rejected > 0  # it really collided
    assert verdict.commits == verdict.acknowledged


def test_maintenance_on_s3_keeps_every_op(s3_env):
    uri = s3_env.new_uri()
    names = [f"f{i}" for i in range(8)]
    with Pond.create(uri) as pond, Pond.open(uri) as other:
        for name in names:
            pond.root.create_file_path(name, name.encode())
        assert other.root.exists("f0")
        report = pond.maintain(retention_hours=0, unsafe=True)  # compact, checkpoint, vacuum on the store
        assert report.files_removed > 0 and report.files_vacuumed > 0
        other.root.create_file_path("after", b"a")  # the other Pond catches up over the compaction
        assert sorted(pond.root) == sorted([*names, "after"])
        with Pond.open(uri) as fresh:
            assert sorted(fresh.root) == sorted([*names, "after"]) and fresh.root.read_file_path("f3") == b"f3"
            assert fresh.check().problems == []


# -- other engines on the same log ------------------------------------------------------------------
def _history_pond(uri: str) -> int:
    with Pond.create(uri, author="alice") as pond:
        pond.root.create_dir_path("a/b", parents=True)
        pond.root.create_file_path("a/b/x.txt", b"one")
        with pond.transaction(message="second", author="bob"):
            pond.root.write_file_path("a/b/x.txt", b"two!")
            pond.root.create_file_path("a/y.txt", b"y")
        pond.root.rename("a/b", "c")
        return pond.version


def _daft_job(runner: str, uri: str, path: str) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(TESTS / "daft_job.py"), runner, uri, path],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _expected_versions(uri: str, path: str) -> list[dict]:
    with Pond.open(uri) as pond:
        rows = pond.sql("select version, size, sha256 from file_versions where node_id = "
                        "(select node_id from paths where path = ?) order by version", [path]).fetchall()
    return [{"version": v, "size": s, "sha256": h} for v, s, h in rows]


def test_daft_local_runner_answers_a_history_question(s3_env):
    uri = s3_env.new_uri()
    version = _history_pond(uri)
    answer = _daft_job("native", uri, "/c/x.txt")
    assert answer["runner"] == "native" and answer["version"] == version
    assert answer["file_versions"] == _expected_versions(uri, "/c/x.txt") and len(answer["file_versions"]) == 2
    assert [c["ops"] for c in answer["commits"]] == [1, 2, 1, 2, 1]


def test_daft_on_a_local_ray_cluster_answers_a_history_question(s3_env):
    uri = s3_env.new_uri()
    version = _history_pond(uri)
    answer = _daft_job("ray", uri, "/c/x.txt")
    assert answer["runner"] == "ray" and answer["ray_nodes"] == 1 and answer["version"] == version
    assert answer["file_versions"] == _expected_versions(uri, "/c/x.txt")


@pytest.mark.backends("local", "s3")
def test_to_daft_is_pinned_to_the_pond_version(pond_path):
    from daft import col

    from tinylogsql.distributed import authors, commits, paths

    version = _history_pond(pond_path)
    with Pond.open(pond_path) as pond:
        log = pond.to_daft()
        pond.root.create_file_path("later", b"not in the frame")
        assert log.count_rows() == pond.at(version).sql("select count(*) from oplog").fetchall()[0][0]
        mine = commits(log).select("version", "message", "author", "ops", "writes", "bytes_added").collect()
        sql = pond.at(version).sql("select version, message, author, ops, writes, bytes_added from commits"
                                   " order by version").fetchall()
        assert [tuple(r.values()) for r in mine.to_pylist()] == sql
        assert {r["author"]: r["commits"] for r in authors(log).collect().to_pylist()} == {"alice": 4, "bob": 1}
        got = {r["path"] for r in paths(log).where(col("kind") == "file").to_pylist()}
        assert got == {"/c/x.txt", "/a/y.txt"}
        old = pond.at(1).to_daft()
        assert old.count_rows() == 3  # root + a + a/b


def test_to_daft_without_daft_says_how_to_install_it(pond, monkeypatch):
    monkeypatch.setitem(sys.modules, "daft", None)  # as if the extra were not installed
    with pytest.raises(ImportError, match=r"tinylogsql\[daft\]"):
        pond.to_daft()


@pytest.mark.backends("local", "s3")
def test_polars_reads_the_log(pond_path):
    import polars as pl

    version = _history_pond(pond_path)
    options = s3_helpers.storage_options(pond_path)
    frame = pl.read_delta(f"{pond_path}/log", version=version, storage_options=options)
    with Pond.open(pond_path) as pond:
        assert frame.height == pond.sql("select count(*) from oplog").fetchall()[0][0]
        per_version = frame.group_by("version").len().sort("version")["len"].to_list()
        assert per_version == [r[0] for r in pond.sql("select ops from commits order by version").fetchall()]


def test_committers_on_s3_persist_the_state_often_and_opens_start_from_it(s3_env):
    import tinylogsql.query as query_module
    import tinylogsql.segments as segments

    uri = s3_env.new_uri()
    with Pond.create(uri) as pond:
        for i in range(60):
            pond.root.create_file_path(f"f{i:02d}", str(i))
        version = pond.version
    segments.in_background(lambda: None).result()  # the background snapshot writes are done
    newest = max(int(name[1:21]) for name in s3_helpers.list_dir(uri, "state") if name.startswith("v"))
    assert newest > version - query_module.REMOTE_PERSIST_EVERY  # not the state the pond was opened with
    with Pond.open(uri) as fresh:
        assert sorted(fresh.root) == [f"f{i:02d}" for i in range(60)]
        assert fresh._engine.resident.db is None  # from the snapshot and its short tail, not the whole log
