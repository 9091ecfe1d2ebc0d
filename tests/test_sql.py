"""SQL over the pond's history (issue 4): views, macros, the API, and the sandbox."""

from __future__ import annotations

import io
import os
import time
from datetime import datetime, timezone

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tinylogsql import Pond, QueryError, QueryRejectedError, QueryTimeoutError
from tinylogsql.sqlexec import SandboxDB, translate


@pytest.fixture
def history_pond(pond):
    root = pond.root
    with pond.transaction(message="import", author="etl"):
        root.create_dir_path("data/raw", parents=True)
        root.create_file_path("data/raw/a.csv", "k,v\n1,10\n2,20\n")
        root.create_file_path("data/raw/b.txt", "hello world")
    root.write_file_path("data/raw/a.csv", "k,v\n1,11\n2,22\n3,33\n")
    root.create_file_path("data/copy.txt", "hello world")
    root.rename("data/raw", "data/clean")
    root.remove("data/clean/b.txt")
    root.create_symlink_path("latest", "data/clean/a.csv")
    return pond


def one(relation):
    rows = relation.fetchall()
    assert len(rows) == 1
    return rows[0]


def test_views_answer_history_questions(history_pond):
    pond = history_pond
    files = dict(pond.sql("select path, size from files").fetchall())
    assert files == {"/data/clean/a.csv": 19, "/data/copy.txt": 11}
    assert one(pond.sql("select content from files where path = '/data/copy.txt'")) == (b"hello world",)
    history = pond.sql("select version, op, path, from_path from history where kind <> 'dir' order by version, seq")
    assert history.fetchall() == [
        (1, "create", "/data/raw/a.csv", None),
        (1, "create", "/data/raw/b.txt", None),
        (2, "write", "/data/raw/a.csv", None),
        (3, "create", "/data/copy.txt", None),
        (5, "remove", "/data/clean/b.txt", None),
        (6, "create", "/latest", None),
    ]
    assert one(pond.sql("select path, from_path from history where op = 'move'")) == ("/data/clean", "/data/raw")
    columns = "version, message, author, ops, creates, writes, removes, moves, bytes_added"
    commits = pond.sql(f"select {columns} from commits order by version")
    assert commits.fetchall()[1:3] == [
        (1, "import", "etl", 4, 4, 0, 0, 0, 25),
        (2, "write data/raw/a.csv", "tester", 1, 0, 1, 0, 0, 19),
    ]
    node = "(select node_id from files where path = '/data/clean/a.csv')"
    versions = pond.sql(f"select path, version, size from file_versions where node_id = {node} order by version")
    assert versions.fetchall() == [("/data/raw/a.csv", 1, 14), ("/data/raw/a.csv", 2, 19)]


def test_version_macros_and_diff(history_pond):
    pond = history_pond
    assert sorted(pond.sql("select path from files_at(1)").fetchall()) == [("/data/raw/a.csv",), ("/data/raw/b.txt",)]
    assert one(pond.sql("select count(*) from entries_at(0)")) == (0,)
    changes = pond.sql("select path, old_path, change, old_size, new_size from diff(1, 6) order by path").fetchall()
    assert changes == [
        ("/data/clean", "/data/raw", "moved", None, None),  # its children moved with it: not listed again
        ("/data/clean/a.csv", "/data/raw/a.csv", "modified", 14, 19),
        ("/data/copy.txt", None, "added", None, 11),
        ("/data/raw/b.txt", None, "removed", 11, None),
        ("/latest", None, "added", None, None),
    ]
    pond.root.remove("latest")
    pond.root.create_dir_path("latest")
    replaced = pond.sql(f"select change, kind, old_kind from diff(6, {pond.version}) where path = '/latest'")
    assert one(replaced) == ("type-changed", "dir", "symlink")
    pond.root.write_file_path("data/copy.txt", "changed")
    assert one(
        pond.sql("select change, new_size from diff(?, ?) where path = '/data/copy.txt'", [6, pond.version])
    ) == ("modified", 7)
    # times work wherever versions do
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    assert one(pond.sql("select count(*) from files_at(CAST(? AS TIMESTAMP))", [now])) == one(
        pond.sql("select count(*) from files")
    )
    assert one(pond.sql("select count(*) from files_at(TIMESTAMP '2000-01-01 00:00')")) == (0,)


def test_at_version_sql_sees_that_version(history_pond):
    pond = history_pond
    old = pond.at(1)
    assert sorted(old.sql("select path from files").fetchall()) == [("/data/raw/a.csv",), ("/data/raw/b.txt",)]
    assert one(old.sql("select max(version) from oplog")) == (1,)


def test_sql_api_params_dialect_and_result(history_pond):
    pond = history_pond
    rel = pond.sql("select path from files where size > ? order by path", [12])
    assert isinstance(rel, duckdb.DuckDBPyRelation)
    assert rel.fetchall() == [("/data/clean/a.csv",)]
    assert rel.arrow().read_all().num_rows == 1 and len(rel.df()) == 1  # a stable result: fetch again freely
    assert pond.sql("select path from files where path = $p", {"p": "/data/copy.txt"}).fetchall() == [
        ("/data/copy.txt",)
    ]
    pg = pond.sql("select path::text, now() from files order by path limit 1", dialect="postgres").fetchall()
    assert pg[0][0] == "/data/clean/a.csv"
    top = pond.sql("select top 1 path from files order by path", dialect="tsql").fetchall()
    assert top == [("/data/clean/a.csv",)]
    assert pond.sql("describe select * from files").fetchall()[0][0] == "path"
    plan = str(pond.sql("explain select * from oplog").fetchall()).upper()  # the read-only rows: Arrow, or
    assert "ARROW SCAN" in plan or "SEQ SCAN" in plan  # a read-only attached file (sqlbase.py) on big logs
    # A join on two conditions: the ON clause's AND is a condition, not a table function.
    joined = pond.sql("select n.name, l.op from nodes n join oplog l on l.node_id = n.node_id"
                      " and l.version = n.version where n.name = 'copy.txt'").fetchall()
    assert joined == [("copy.txt", "create")]


def test_errors_raise_from_the_call(pond):
    with pytest.raises(QueryError) as info:
        pond.sql("select no_such_column from entries")
    assert isinstance(info.value, ValueError) and "no_such_column" in str(info.value)
    with pytest.raises(QueryError):
        pond.sql("selec 1")
    start = time.monotonic()
    with pytest.raises(QueryTimeoutError):
        pond.sql("SELECT count(*) FROM range(1000000000000)", timeout=1)
    assert time.monotonic() - start < 20
    assert one(pond.sql("select 42")) == (42,)  # the connection still works after an interrupt


def test_pond_files_readable_by_path_at_the_version(pond):
    root = pond.root
    root.create_dir_path("data")
    root.create_file_path("data/x.csv", "a,b\n1,2\n3,4\n")
    v1 = pond.version
    root.write_file_path("data/x.csv", "a,b\n5,6\n")
    buf = io.BytesIO()
    pq.write_table(pa.table({"k": [1, 2, 3]}), buf)
    root.create_file_path("data/t.parquet", buf.getvalue())
    root.create_file_path("data/j.json", '[{"a": 1}, {"a": 2}]')
    root.create_symlink_path("data/link.csv", "x.csv")
    assert pond.sql("select * from read_csv('tinylogsql:///data/x.csv')").fetchall() == [(5, 6)]
    assert pond.sql("select * from read_csv('tinylogsql:///data/link.csv')").fetchall() == [(5, 6)]
    assert pond.at(v1).sql("select * from read_csv('tinylogsql:///data/x.csv')").fetchall() == [(1, 2), (3, 4)]
    assert one(pond.sql("select sum(k)::int from read_parquet('tinylogsql:///data/t.parquet')")) == (6,)
    assert pond.sql("select a from read_json('tinylogsql:///data/j.json') order by a").fetchall() == [(1,), (2,)]
    with pytest.raises(QueryError):
        pond.sql("select * from read_csv('tinylogsql:///data/missing.csv')")


HOSTILE = [
    "select * from read_csv('/etc/passwd')",
    "select * from read_csv_auto('/etc/passwd')",
    "select * from read_text('/etc/passwd')",
    "select * from read_blob('/etc/passwd')",
    "select * from read_json('/etc/passwd')",
    "select * from read_json_auto('/etc/passwd')",
    "select * from read_parquet('/etc/passwd')",
    "select * from parquet_scan('/etc/passwd')",
    "select * from parquet_metadata('/etc/passwd')",
    "select * from parquet_schema('/etc/passwd')",
    "select * from sniff_csv('/etc/passwd')",
    "select * from glob('/etc/*')",
    "select * from '/etc/passwd'",
    'select * from "/etc/passwd"',
    "from read_csv('/etc/passwd')",
    "select getenv('HOME')",
    "select current_setting('enable_external_access')",
    "select * from duckdb_settings()",
    "select * from query('select * from read_csv(''/etc/passwd'')')",
    "select * from query_table('log')",
    "COPY (select 1) TO '{tmp}/copied.csv'",
    "COPY log TO '{tmp}/log.parquet'",
    "EXPORT DATABASE '{tmp}/exported'",
    "IMPORT DATABASE '{tmp}/exported'",
    "ATTACH '{tmp}/evil.db' AS evil",
    "DETACH memory",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "RESET lock_configuration",
    "PRAGMA enable_profiling",
    "CALL pragma_version()",
    "CHECKPOINT",
    "USE v1",
    "CREATE TABLE x AS SELECT 1",
    "CREATE OR REPLACE VIEW entries AS SELECT 1",
    "INSERT INTO log SELECT * FROM log",
    "UPDATE log SET name = 'x'",
    "DELETE FROM log",
    "DROP TABLE log",
    "ALTER TABLE log RENAME TO gone",
    "VACUUM",
    "SELECT 1 INTO evil",
    "select 1; drop table log",
    "select 1 /* ; */ ; delete from log",
    "select 1 -- hidden\n; drop view entries",
    "WITH x AS (DELETE FROM log RETURNING *) SELECT * FROM x",
    "WITH x AS (INSERT INTO log SELECT * FROM log RETURNING 1) SELECT * FROM x",
    "select * from read_csv('/etc/' || 'passwd')",
    "select * from read_csv(['tinylogsql:///ok.csv', '/etc/passwd'])",
    "select * from read_csv(concat('/etc', '/passwd'))",
    "select * from read_csv('tinylogsql://' || '/etc/passwd')",
    "select * from range(3) union all select * from read_csv('/etc/passwd')",
    "select * from (select * from read_csv('/etc/passwd'))",
    "select (select count(*) from read_csv('/etc/passwd'))",
    "SUMMARIZE SELECT * FROM read_csv('/etc/passwd')",
    "DESCRIBE SELECT * FROM read_text('/etc/passwd')",
    "EXPLAIN ANALYZE SELECT * FROM read_csv('/etc/passwd')",
    "EXPLAIN COPY log TO '{tmp}/explained.csv'",
    "ＳＥＬＥＣＴ * FROM read_csv('/etc/passwd')",
    "select * from rеad_csv('/etc/passwd')",  # Cyrillic "е"
    "select * from read_csv('file:///etc/passwd')",
    "select * from read_csv('tinylogsql:///../../../../etc/passwd')",
    "select * from pragma_table_info('log')",
]

HOSTILE_POSTGRES = [
    "COPY (SELECT 1) TO '{tmp}/pg.csv'",
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT * FROM read_csv('/etc/passwd')",
    "CREATE TABLE t AS SELECT 1",
    "SELECT 1; SELECT 2",
]


def _host_snapshot(tmp) -> set[str]:
    return {os.path.join(dirpath, name) for dirpath, _, names in os.walk(tmp) for name in names}


@pytest.fixture(scope="module")
def hostile_pond(tmp_path_factory):
    with Pond.create(tmp_path_factory.mktemp("hostile") / "pond") as pond:
        pond.root.create_file_path("ok.csv", "a\n1\n")
        yield pond


@pytest.mark.parametrize("dialect,query", [(None, q) for q in HOSTILE] + [("postgres", q) for q in HOSTILE_POSTGRES])
def test_hostile_queries_are_refused_harmlessly(hostile_pond, tmp_path, dialect, query):
    pond = hostile_pond
    outside = tmp_path / "outside"
    outside.mkdir()
    before_files = _host_snapshot(tmp_path)
    cwd_before = set(os.listdir("."))
    version = pond.version
    oplog = pond.sql("select count(*) from oplog").fetchall()
    text = query.format(tmp=outside)
    try:
        result = pond.sql(text, dialect=dialect).fetchall()
    except (QueryRejectedError, QueryError) as exc:
        assert "root:" not in str(exc)
    else:  # a query that runs must not have reached anything outside the pond
        assert "root:x:0:0" not in str(result)
    assert pond.version == version
    assert pond.sql("select count(*) from oplog").fetchall() == oplog
    assert pond.root.read_file_path("ok.csv") == b"a\n1\n"
    assert _host_snapshot(tmp_path) == before_files
    assert set(os.listdir(".")) == cwd_before
    with Pond.open(pond.uri) as fresh:
        assert fresh.version == version


def test_rejections_name_the_construct(pond):
    cases = {
        "select * from glob('/*')": "glob",
        "COPY log TO 'x.csv'": "COPY",
        "select 1; select 2": "one statement",
        "select getenv('HOME')": "getenv",
        "select * from read_csv('/etc/passwd')": "/etc/passwd",
        "WITH x AS (DELETE FROM log RETURNING *) SELECT * FROM x": "DELETE",
    }
    for query, construct in cases.items():
        with pytest.raises(QueryRejectedError) as info:
            pond.sql(query)
        assert construct in str(info.value), (query, str(info.value))
        assert isinstance(info.value, PermissionError)


def test_second_layer_holds_without_the_parser(pond, tmp_path):
    """Statements that skip both parsers' checks still cannot reach the host: the sandbox's
    DuckDB itself is locked down (its connection used directly, as a smuggled statement would)."""
    db = SandboxDB()

    def run(query):
        try:
            return db.con.execute(query).fetchall()
        except duckdb.Error as exc:
            raise translate(exc, 5) from None

    for query in [
        "select * from read_csv('/etc/passwd')",
        "select * from read_text('/etc/passwd')",
        "select * from glob('/etc/*')",
        f"COPY (select 1) TO '{tmp_path}/layer2.csv'",
        f"ATTACH '{tmp_path}/layer2.db' AS evil",
        "INSTALL httpfs",
        "LOAD httpfs",
    ]:
        with pytest.raises((QueryRejectedError, QueryError)) as info:
            run(query)
        assert "root:" not in str(info.value)
    for query in [
        "SET enable_external_access = true",
        "RESET enable_external_access",
        "SET lock_configuration = false",
    ]:
        with pytest.raises(QueryError) as info:
            run(query)
        assert "locked" in str(info.value)
    for query in ["DELETE FROM log", "WITH x AS (DELETE FROM log RETURNING *) SELECT count(*) FROM x",
                  "WITH x AS (INSERT INTO log SELECT * FROM log RETURNING 1) SELECT count(*) FROM x"]:
        with pytest.raises(QueryError):  # registered Arrow rows: nothing DuckDB can write, even from a SELECT
            run(query)
    assert not (tmp_path / "layer2.csv").exists() and not (tmp_path / "layer2.db").exists()
    names = "('enable_external_access', 'lock_configuration', 'threads')"
    settings = run(f"select name, value from duckdb_settings() where name in {names}")
    assert dict(settings) == {
        "enable_external_access": "false",
        "lock_configuration": "true",
        "threads": "2",
    }
