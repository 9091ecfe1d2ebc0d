"""The SQL worker's read-only database files (sqlbase.py): big logs are served from native DuckDB
storage attached READ_ONLY, with the same answers as the Arrow rows, at every version, and no query
can change them."""

from __future__ import annotations

import glob
import os
import time

import duckdb
import pytest

from tinylogsql import Pond, sqlbase, sqlworker
from tinylogsql.refs import MAIN_CHAIN
from tinylogsql.sqlbase import LogBase, _write_file
from tinylogsql.sqlworker import LogRows

QUERIES = [
    "select path, size, sha256 from files order by path",
    "select version, op, path, from_path from history order by version, seq",
    "select count(*), max(version) from log",
    "select path from diff(1, 1000) order by path",
]


def _answers(pond):
    return [pond.sql(query).fetchall() for query in QUERIES]


def _files(kind):
    folder = sqlworker.client()._folder
    return glob.glob(os.path.join(folder, f"{kind}-*.duckdb")) if folder else []


def _until_files(pond, kind):
    """Query until the worker has written a ``kind`` file (it writes between queries)."""
    for _ in range(600):
        pond.sql("select 1").fetchall()
        if _files(kind):
            return
        time.sleep(0.1)
    raise AssertionError(f"the worker wrote no {kind} file")


@pytest.fixture
def small_base(monkeypatch):
    """A worker that gives every log its database files (TINYLOGSQL_SQL_BASE_ROWS=1)."""
    if sqlworker.IN_PROCESS:
        pytest.fail("needs the SQL worker process (TINYLOGSQL_SQL_WORKER is 0)")
    monkeypatch.setenv("TINYLOGSQL_SQL_BASE_ROWS", "1")
    sqlworker.client().close()
    yield
    sqlworker.client().close()  # the next test's worker starts with the default


def test_files_give_the_arrow_answers_at_every_version(tmp_path, small_base):
    with Pond.create(tmp_path / "pond", author="t") as pond:
        pond.root.create_dir_path("/a/b", parents=True)
        pond.root.create_file_path("/a/b/x.csv", "x\n1\n")
        v1 = pond.version
        pond.root.rename("/a/b", "/a/c")
        pond.root.write_file_path("/a/c/x.csv", "x\n2\n")
        old, now = _answers(pond.at(v1)), _answers(pond)  # the first queries: Arrow rows
        _until_files(pond, "base")
        assert _answers(pond) == now and _answers(pond.at(v1)) == old
        pond.root.create_file_path("/a/later.csv", "x\n3\n")  # newer rows: an Arrow tail, then a recent file
        after = _answers(pond)
        assert ("/a/later.csv", 4) in [row[:2] for row in after[0]]
        _until_files(pond, "recent")
        assert _answers(pond) == after and _answers(pond.at(v1)) == old
        with Pond.open(pond.uri) as fresh:
            assert _answers(fresh) == after


def test_no_statement_can_change_the_files(tmp_path):
    """The files are read-only even to statements the sandbox's parsers would refuse (run directly)."""
    with Pond.create(tmp_path / "pond", author="t") as pond:
        pond.root.create_file_path("/x.txt", "x")
        pond.root.create_file_path("/y.txt", "y")
        base = LogBase(LogRows(pond._store), MAIN_CHAIN, str(tmp_path))
        rows = base.rows.upto(pond.version)
        _write_file(str(tmp_path / "b.duckdb"), rows, -1, pond.version)
        _write_file(str(tmp_path / "r.duckdb"), rows, pond.version, pond.version)
        from tinylogsql.sqlexec import SandboxDB

        db = SandboxDB(files=(str(tmp_path / "b.duckdb"), str(tmp_path / "r.duckdb")))
        count = db.run("select count(*) from log", None, rows.slice(0, 0), pond.version, pond.at, 5).to_pylist()
        for statement in ["WITH x AS (DELETE FROM base.log RETURNING *) SELECT count(*) FROM x",
                          "WITH x AS (UPDATE base.log SET name = 'z' RETURNING *) SELECT count(*) FROM x",
                          "WITH x AS (INSERT INTO recent.log SELECT * FROM base.log RETURNING *) SELECT 1 FROM x",
                          "DELETE FROM base.log", "DROP TABLE base.log", "ALTER TABLE base.log ADD COLUMN z INT"]:
            with pytest.raises(duckdb.Error):
                db.con.execute(statement).fetchall()
        assert db.run("select count(*) from log", None, rows.slice(0, 0), pond.version, pond.at, 5).to_pylist() == count
        db.close()
        base.close()


def test_the_database_of_a_query_holds_no_row_past_its_version(tmp_path, monkeypatch):
    """Files are used only for queries at or after their last version; older ones get Arrow rows
    up to their version, so even a statement past both parsers finds nothing later."""
    monkeypatch.setattr(sqlbase, "MIN_ROWS", 1)
    with Pond.create(tmp_path / "pond", author="t") as pond:
        pond.root.create_file_path("/x.txt", "x")
        v1 = pond.version
        pond.root.create_file_path("/later.txt", "later")
        base = sqlbase.LogBase(LogRows(pond._store), MAIN_CHAIN, str(tmp_path))
        base.prepare(pond.version)
        base.between_queries()
        db, _ = base.prepare(pond.version)  # waits for the write
        assert base.files is not None and db is base.files.db
        assert db.con.execute("select max(version) from base.log").fetchall() == [(pond.version,)]
        old, rows = base.prepare(v1)
        assert old is not base.files.db
        old.run("select 1", None, rows, v1, pond.at, 5)
        assert old.con.execute("select max(version) from log").fetchall() == [(v1,)]
        base.close()
