"""The SQL sandbox (issue 12): isolation, one statement, strict blob references, the allow-list,
pinned pond paths and globs, bounds, and errors in the user's terms.

The red team's suite (test_redteam.py) attacks broadly; these tests pin each promise down once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

from tinylogsql import CorruptPondError, Pond, QueryError, QueryRejectedError, QueryTimeoutError
from tinylogsql.sandbox import MAX_DEPTH, MAX_QUERY_CHARS, check_query, check_statement
from tinylogsql.sqlexec import SandboxDB
from tinylogsql.sqlworker import LogRows


@pytest.fixture
def versions(tmp_path):
    """v1: data/west/x.csv; v2: data/east/y.csv; v3: x.csv rewritten; v4: later.csv; v5: y.csv removed."""
    with Pond.create(tmp_path / "pond", author="tester") as pond:
        root = pond.root
        root.create_dir_path("data/west", parents=True)
        root.create_file_path("data/west/x.csv", "a,b\n1,2\n")
        v1 = pond.version
        root.create_dir_path("data/east")
        root.create_file_path("data/east/y.csv", "a,b\n3,4\n")
        v2 = pond.version
        root.write_file_path("data/west/x.csv", "a,b\n5,6\n")
        v3 = pond.version
        root.create_file_path("data/later.csv", "a,b\n7,8\n")
        root.remove("data/east/y.csv")
        yield pond, (v1, v2, v3)


def _answers(pond):
    return (
        pond.version,
        pond.sql("select path, size from files order by path").fetchall(),
        pond.sql("select count(*) from log").fetchall(),
        sorted(pond.root.walk()),
    )


def test_no_query_changes_what_later_queries_and_opens_see(versions):
    pond, (v1, _, _) = versions
    before = _answers(pond)
    at_v1 = pond.at(v1).sql("select path from files order by path").fetchall()
    smuggling = [
        ('SELECT :"$ ; $$; DELETE FROM log; CREATE OR REPLACE VIEW files AS SELECT 1; SELECT $$"', "postgres"),
        ('SELECT :"$ ; $$; DELETE FROM log; SELECT $$"', None),
        ("select 1; delete from log", None),
        ("WITH x AS (DELETE FROM log RETURNING *) SELECT * FROM x", None),
        ("CREATE OR REPLACE VIEW files AS SELECT 1", None),
        ("DROP SCHEMA v1 CASCADE", None),
        ("SET schema = 'v1'", None),
    ]
    for query, dialect in smuggling:
        with pytest.raises((QueryRejectedError, QueryError)):
            pond.sql(query, dialect=dialect)
    assert _answers(pond) == before
    assert pond.at(v1).sql("select path from files order by path").fetchall() == at_v1
    with Pond.open(pond.uri) as fresh:
        assert _answers(fresh) == before


def test_the_runner_takes_exactly_one_select_like_statement(versions):
    pond, _ = versions
    db = SandboxDB()
    log = LogRows(pond._store).upto(pond.version)
    for text in ["select 1; delete from log", "delete from log", "create view files as select 1",
                 "set schema = 'main'", "export database 'x'", "pivot files on kind using count(*)",
                 "explain analyze create or replace view files as select 1", "explain analyze delete from log"]:
        with pytest.raises((QueryRejectedError, QueryError)):
            db.run(text, None, log, pond.version, pond.at, 5)
    assert db.run("select count(*) as n from files", None, log, pond.version, pond.at, 5).to_pylist() == [{"n": 2}]
    assert check_statement("select '$$;$$' as x").type.name == "SELECT"  # a semicolon in a string is one statement


def test_time_travel_sees_nothing_later(versions):
    pond, (v1, v2, v3) = versions
    old = pond.at(v1)
    assert old.sql("select max(version) from log").fetchall() == [(v1,)]
    assert old.sql("select max(version) from oplog_at(1000)").fetchall() == [(v1,)]
    assert old.sql("select count(*) from diff(0, 1000) where path like '%later%'").fetchall() == [(0,)]
    pond.at(v3).sql("select * from files").fetchall()  # an earlier query at a later version leaves nothing
    for query in ["select * from main.log", "select * from memory.main.oplog", f"select * from v{v3}.files",
                  f'select * from "v{v3}"."files"', "select * from system.main.duckdb_settings()"]:
        with pytest.raises(QueryRejectedError, match="qualified|not allowed"):
            old.sql(query)


def test_pond_paths_are_pinned_wherever_they_appear(versions):
    pond, (v1, v2, v3) = versions
    old = pond.at(v1)
    assert old.sql("select * from read_csv('tinylogsql:///data/west/x.csv')").fetchall() == [(1, 2)]
    assert old.sql("select * from 'tinylogsql:///data/west/x.csv'").fetchall() == [(1, 2)]
    assert old.sql('select * from "tinylogsql:///data/west/x.csv"').fetchall() == [(1, 2)]
    assert old.sql("summarize 'tinylogsql:///data/west/x.csv'").fetchall()[0][2] == "1"  # min of column a
    assert pond.at(v3).sql(f"select * from read_csv('tinylogsql:///@v{v1}/data/west/x.csv')").fetchall() == [(1, 2)]
    for path in [f"tinylogsql:///@v{v3}/data/west/x.csv",  # past the query's version
                 "tinylogsql:///data/later.csv",  # created later
                 f"tinylogsql:///data/@v{v1}/west/x.csv",  # @v<N> only as the first component
                 f"tinylogsql:///x://@v{v1}/data/west/x.csv"]:  # one scheme only
        with pytest.raises((QueryError, QueryRejectedError)) as info:
            old.sql(f"select * from read_csv('{path}')")
        assert "\n" not in str(info.value) and "7,8" not in str(info.value)
    with pytest.raises((QueryError, QueryRejectedError)):
        pond.sql("select * from read_csv('tinylogsql:///data/east/y.csv')")  # removed at the live version


def test_globs_expand_inside_the_pond_at_the_version(versions):
    pond, (v1, v2, v3) = versions
    query = "select a, filename from read_csv('{}', filename=true) order by filename"
    assert pond.at(v2).sql(query.format("tinylogsql:///data/*/*.csv")).fetchall() == [
        (3, "tinylogsql:///data/east/y.csv"), (1, "tinylogsql:///data/west/x.csv")]
    assert pond.sql(query.format("tinylogsql:///**/*.csv")).fetchall() == [
        (7, "tinylogsql:///data/later.csv"), (5, "tinylogsql:///data/west/x.csv")]
    assert pond.at(v1).sql(query.format("tinylogsql:///data/*/?.csv")).fetchall() == [
        (1, "tinylogsql:///data/west/x.csv")]


def test_the_allow_list(versions):
    pond, _ = versions
    assert pond.sql("select repeat('ab', 3)").fetchall() == [("ababab",)]
    assert pond.sql("with t as (select path from files) select count(*) from t").fetchall() == [(2,)]
    assert pond.sql("select count(*) from range(3)").fetchall() == [(3,)]
    refused = ["select * from pg_settings", "select * from duckdb_databases()", "select * from duckdb_logs",
               "select json_serialize_plan('select 1')", "select get_block_size('memory')",
               "select current_setting('secret_directory')", "select * from information_schema.tables",
               "select * from no_such_table", "select * from repeat('x', 3)", "show tables",
               "export database '/tmp/x'", "select * from read_text('tinylogsql:///data/west/x.csv')"]
    for query in refused:
        with pytest.raises(QueryRejectedError):
            pond.sql(query)


def _forge(pond, content_ref: str) -> None:
    """Append an op row (as a foreign writer could) giving data/west/x.csv a forged content_ref."""
    table_uri = pond._store.location.table_uri
    dt = DeltaTable(table_uri)
    rows = pq.read_table(dt.file_uris())
    node_id = pond.root.get("data/west/x.csv").node_id
    mine = [row for row in rows.to_pylist() if row["node_id"] == node_id]
    row = dict(max(mine, key=lambda r: (r["version"], r["seq"])))
    row.update(version=dt.version() + 1, seq=0, op="write", content=None, content_ref=content_ref,
               txn_id=uuid.uuid4().hex, ts=datetime.now(timezone.utc).replace(tzinfo=None))
    write_deltalake(table_uri, pa.Table.from_pylist([row], schema=rows.schema), mode="append")


@pytest.mark.parametrize("ref", ["../../../../etc/hostname", "blobs/" + "A" * 64, "blobs/" + "0" * 64,
                                 "manifests/" + "0" * 64, "manifests/../../../../etc/hostname"])
def test_forged_blob_references_are_corruption(versions, ref):
    pond, _ = versions
    _forge(pond, ref)
    with pytest.raises(CorruptPondError):
        pond.root.read_file_path("data/west/x.csv")
    with pytest.raises(CorruptPondError):
        pond.root.get("data/west/x.csv").open().read()
    with pytest.raises(QueryError) as info:
        pond.sql("select * from read_csv('tinylogsql:///data/west/x.csv')")
    assert "\n" not in str(info.value)
    report = pond.check()
    assert any(problem.code == "blob-ref" for problem in report.problems), report.problems


def test_layer_one_caps_and_dialects(versions):
    pond, _ = versions
    with pytest.raises(QueryRejectedError, match="nested"):
        pond.sql("select " + "(" * 3000 + "1" + ")" * 3000)
    with pytest.raises(QueryRejectedError, match="nested"):
        check_query("select " + "(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(QueryRejectedError, match="characters long"):
        check_query("select 1 " + " " * MAX_QUERY_CHARS)
    big = "select count(*) from files where " + " or ".join(f"path = '/p{i}'" for i in range(3000))
    assert pond.sql(big).fetchall() == [(0,)]  # long but legitimate: checked and run
    with pytest.raises(QueryError, match="unknown SQL dialect"):
        pond.sql("select 1", dialect="no-such-dialect")
    with pytest.raises(QueryRejectedError, match="EXPORT"):
        pond.sql("export database '/tmp/somewhere'")


def test_errors_in_the_users_terms(versions):
    pond, _ = versions
    with pytest.raises(QueryError) as info:
        pond.sql("selct * from files")
    assert str(info.value) == "syntax error near 'selct' at line 1, column 1"
    with pytest.raises(QueryError) as info:
        pond.sql("select *\nfrom files where")
    assert str(info.value).startswith("syntax error near") and "line 2" in str(info.value)
    with pytest.raises(QueryError) as info:
        pond.sql("select * from read_csv('tinylogsql:///data/west')")
    assert "directory" in str(info.value) and "\n" not in str(info.value)
    assert "Exception" not in str(info.value) and "Traceback" not in str(info.value)


def test_an_uninterruptible_query_is_stopped_and_the_next_one_runs(versions):
    pond, _ = versions
    with pytest.raises((QueryTimeoutError, QueryError)):
        pond.sql("select length(lpad('', 2000000000, 'x'))", timeout=0.5)
    assert pond.sql("select count(*) from files").fetchall() == [(2,)]


MEMORY_SCRIPT = """
import sys
from tinylogsql import Pond, QueryError
with Pond.open(sys.argv[1]) as pond:
    try:
        pond.sql("select length(lpad('', 2000000000, 'x'))", timeout=120).fetchall()
    except QueryError as exc:
        print(exc)
    print(pond.sql("select count(*) from files").fetchall())
"""


def test_memory_past_the_limit_stops_the_query_with_a_hint(versions):
    pond, _ = versions
    env = dict(os.environ, TINYLOGSQL_MEMORY_LIMIT="300MB")
    out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, pond.uri], env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout.splitlines()
    assert "out of memory" in out[0] and "TINYLOGSQL_MEMORY_LIMIT" in out[0] and "SET memory_limit" not in out[0]
    assert out[1] == "[(2,)]"


LIMIT_SET_LATE = """
import os, sys
from tinylogsql import Pond, QueryError
pond = Pond.open(sys.argv[1])  # tinylogsql imported and the worker started before the limit is set
os.environ["TINYLOGSQL_MEMORY_LIMIT"] = "256MB"
for query in ["select printf('%2000000000d', 1)", "select length(to_json(range(100000000)))"]:
    try:
        pond.sql(query, timeout=120).fetchall()
    except QueryError as exc:
        print(exc)
print(pond.sql("select count(*) from files").fetchall())
pond.close()
"""


def test_a_memory_limit_set_after_import_bounds_the_next_query(versions):
    """The red team's forked attack processes set TINYLOGSQL_MEMORY_LIMIT after tinylogsql was imported;
    the limit read at import let printf/format widths and to_json grow the worker by 2 GB."""
    pond, _ = versions
    env = {k: v for k, v in os.environ.items() if k != "TINYLOGSQL_MEMORY_LIMIT"}
    out = subprocess.run([sys.executable, "-c", LIMIT_SET_LATE, pond.uri], env=env, capture_output=True, text=True,
                         timeout=300, check=True).stdout.splitlines()
    assert all("out of memory (limit 256MB)" in line for line in out[:2]), out
    assert out[2] == "[(2,)]"
