"""The attack corpus of issue 12, by class. ``fast=True`` marks the CI subset (a few of every class).

Placeholders (``{{HOST_CSV}}``, ``{{PORT}}``, ...) are filled per attack by ``pondkit.Bait.placeholders``.
``expect``: ``any`` (judged only by the harm checks), ``reject`` (QueryRejectedError), ``refuse`` (any
tinylogsql error), ``ran`` (a legitimate query: must give a result, ``rows`` if given), ``timeout``
(an unbounded query: must not return a result; timeout or refusal).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from redteam.pondkit import AT

SMUGGLING = "statement smuggling"
ENGINE = "writes to the engine/catalog"
FORGED = "forged rows and blobs"
MAINTAIN = "maintenance trusting a query copy"
TIME = "time-travel leaks"
BUILTINS = "built-ins revealing the host"
RESOURCE = "resource bounds"
DIALECT = "unknown dialects and bad arguments"
FILES = "file and network reads"
GLOBS = "globs"
WRONG = "wrong answers"
CLASSES = (SMUGGLING, ENGINE, FORGED, MAINTAIN, TIME, BUILTINS, RESOURCE, DIALECT, FILES, GLOBS, WRONG)


@dataclass(frozen=True)
class Attack:
    name: str
    cls: str
    query: str = ""
    kind: str = "sql"  # sql | maintain | forged | blob-damage
    at: int | None = None
    dialect: Any = None
    params: Any = None
    prelude: tuple[tuple[int | None, str], ...] = ()
    timeout: float = 2.0
    expect: str = "any"
    rows: Any = None
    forge: dict[str, Any] = field(default_factory=dict)
    fast: bool = False

    def filled(self, subst: dict[str, str]) -> str:
        text = self.query + " " + " ".join(q for _, q in self.prelude) + " " + repr(self.params)
        text += " " + repr(self.forge) + " " + repr(self.dialect)
        for key, value in subst.items():
            text = text.replace(key, value)
        return text

    def job(self, subst: dict[str, str]) -> dict[str, Any]:
        def fill(text: str) -> str:
            for key, value in subst.items():
                text = text.replace(key, value)
            return text

        return {"name": self.name, "kind": self.kind, "query": fill(self.query), "at": self.at,
                "dialect": self.dialect, "params": self.params, "timeout": self.timeout,
                "prelude": [(at, fill(q)) for at, q in self.prelude], "forge": self.forge}


ATTACKS: list[Attack] = []


def add(name: str, cls: str, query: str = "", **kw: Any) -> None:
    ATTACKS.append(Attack(name=name, cls=cls, query=query, **kw))


# -- 1. statement smuggling ------------------------------------------------------------------------------
SMUGGLED = "DELETE FROM log; CREATE OR REPLACE VIEW main.files AS SELECT 1 AS path"
# sqlglot writes a quoted placeholder name back out raw: in every dialect the second statement would run.
QUOTED_PLACEHOLDER_DIALECTS = ("duckdb", "postgres", "mysql", "sqlite", "bigquery", "snowflake", "tsql", "oracle",
                               "spark", "hive", "trino", "presto", "clickhouse", "redshift", "databricks",
                               "teradata", "drill", "doris", "starrocks", "athena", "materialize", "risingwave",
                               "dune", "prql", "exasol", "fabric", "druid")
for d in QUOTED_PLACEHOLDER_DIALECTS:
    add(f"quoted placeholder :\"...\" ({d})", SMUGGLING, f'SELECT :"x$ ; {SMUGGLED}; SELECT $$"', dialect=d,
        fast=d in ("duckdb", "postgres", "mysql", "tsql"))
add("quoted placeholder in WHERE", SMUGGLING, f'SELECT path FROM files WHERE path = :"a; {SMUGGLED}; --"', fast=True)
add("quoted placeholder with $$ string", SMUGGLING, f'SELECT :"$$ ; {SMUGGLED}; SELECT $$"', dialect="postgres")
add("two statements", SMUGGLING, "SELECT 1; DELETE FROM log", expect="refuse", fast=True)
add("two statements, trailing comment", SMUGGLING, "SELECT 1; DELETE FROM log --", expect="refuse")
add("statement after line comment newline", SMUGGLING, "SELECT 1 --x\n; DELETE FROM log", expect="refuse")
add("statement inside block comment", SMUGGLING, "SELECT 1 /* ; DELETE FROM log; */", rows=[(1,)], expect="ran")
add("semicolon in $$ string", SMUGGLING, "SELECT $$a; DELETE FROM log; $$ AS s", expect="ran",
    rows=[("a; DELETE FROM log; ",)], fast=True)
add("semicolon in tagged dollar string", SMUGGLING, "SELECT $t$x$$; DELETE FROM log; $$y$t$ AS s")
add("mysql backslash quote", SMUGGLING, "SELECT 'a\\'; DELETE FROM log; -- '", dialect="mysql", fast=True)
add("mysql backslash quote 2", SMUGGLING, "SELECT 'a\\\\'; DELETE FROM log; SELECT '1'", dialect="mysql")
add("bigquery backtick identifier", SMUGGLING, "SELECT 1 AS `a; DELETE FROM log; --`", dialect="bigquery")
add("bigquery raw string", SMUGGLING, "SELECT r'\\'; DELETE FROM log; --'", dialect="bigquery")
add("bigquery triple quoted", SMUGGLING, "SELECT '''a'; DELETE FROM log; --'''", dialect="bigquery")
add("tsql bracket identifier", SMUGGLING, "SELECT 1 AS [a]; DELETE FROM log; --]", dialect="tsql", fast=True)
add("tsql @variable", SMUGGLING, "SELECT @\"x; DELETE FROM log; --\"", dialect="tsql")
add("snowflake dollar string", SMUGGLING, "SELECT $$a$$; DELETE FROM log; SELECT $$b$$", dialect="snowflake")
add("postgres E-string backslash", SMUGGLING, "SELECT E'\\'; DELETE FROM log; --'", dialect="postgres")
add("unicode escape string", SMUGGLING, "SELECT U&'\\0027; DELETE FROM log; --'", dialect="postgres")
add("double-quoted alias with quote", SMUGGLING, 'SELECT 1 AS "a""; DELETE FROM log; --"')
add("clickhouse {param:Type}", SMUGGLING, "SELECT {x:String}; DELETE FROM log", dialect="clickhouse")
add("clickhouse placeholder name with quote", SMUGGLING, 'SELECT {"x; DELETE FROM log; --":String}',
    dialect="clickhouse")
add("$name placeholder", SMUGGLING, "SELECT $x", params={"x": "'; DELETE FROM log; --"}, expect="ran",
    rows=[("'; DELETE FROM log; --",)], fast=True)
add("? placeholder", SMUGGLING, "SELECT ?", params=["1; DELETE FROM log"], expect="ran",
    rows=[("1; DELETE FROM log",)])
add("hive ${var} substitution", SMUGGLING, "SELECT '${x}'; DELETE FROM log", dialect="hive")
add("explain prefix + delete", SMUGGLING, "EXPLAIN DELETE FROM log", expect="refuse", fast=True)
add("explain analyze + delete", SMUGGLING, "EXPLAIN ANALYZE DELETE FROM log", expect="refuse")
add("explain + smuggled placeholder", SMUGGLING, f'EXPLAIN SELECT :"x; {SMUGGLED}; --"')
add("explain (format json) delete", SMUGGLING, "EXPLAIN (FORMAT JSON) DELETE FROM log", expect="refuse")
add("explain with newline", SMUGGLING, "EXPLAIN\nANALYZE\nDELETE FROM log", expect="refuse")
add("union with smuggled placeholder", SMUGGLING, f'SELECT 1 UNION ALL SELECT :"x; {SMUGGLED}; --"')
add("from-first with placeholder", SMUGGLING, f'FROM files SELECT :"x; {SMUGGLED}; --"')
add("prepared statement", SMUGGLING, "PREPARE p AS DELETE FROM log", expect="refuse")
add("execute", SMUGGLING, "EXECUTE p", expect="refuse")
add("begin + delete", SMUGGLING, "BEGIN; DELETE FROM log; COMMIT", expect="refuse")
add("pivot legit with smuggle", SMUGGLING, f"PIVOT files ON :\"x; {SMUGGLED}; --\" USING count(*)")
add("summarize smuggle", SMUGGLING, f'SUMMARIZE SELECT :"x; {SMUGGLED}; --"')
add("describe smuggle", SMUGGLING, f'DESCRIBE SELECT :"x; {SMUGGLED}; --"')

# -- 2. writes to the engine / catalog -------------------------------------------------------------------
for q, fast in [
    ("DELETE FROM log", True), ("INSERT INTO log SELECT * FROM log", True), ("UPDATE log SET name = 'x'", False),
    ("CREATE OR REPLACE VIEW main.files AS SELECT 1 AS path", True), ("DROP SCHEMA v6 CASCADE", False),
    ("DROP VIEW files", False), ("CREATE TABLE t AS SELECT 1", False), ("TRUNCATE log", False),
    ("ALTER VIEW files RENAME TO f2", False), ("CREATE MACRO getenv2(x) AS x", False),
    ("CREATE TEMP TABLE t AS SELECT * FROM log", False), ("CREATE SCHEMA v99", False),
    ("DROP TABLE log", False), ("CREATE SEQUENCE s", False), ("COMMENT ON VIEW files IS 'x'", False),
    ("CREATE TYPE mood AS ENUM ('a')", False), ("INSERT OR REPLACE INTO log SELECT * FROM log", False),
    ("MERGE INTO log USING log AS s ON false WHEN NOT MATCHED THEN INSERT *", False),
    ("DETACH memory", False), ("USE v2", False), ("SET search_path = 'v2'", False), ("RESET memory_limit", False),
    ("CHECKPOINT", False), ("VACUUM", False), ("ANALYZE", False), ("CALL pragma_version()", False),
    ("PRAGMA memory_limit='100GB'", False), ("SET lock_configuration = false", True),
    ("CREATE OR REPLACE MACRO files_at(v) AS TABLE SELECT 1", False), ("DROP MACRO TABLE files_at", False),
]:
    add(f"engine write: {q}", ENGINE, q, expect="reject", fast=fast)
add("DML in a CTE", ENGINE, "WITH d AS (DELETE FROM log RETURNING *) SELECT count(*) FROM d", expect="refuse",
    fast=True)
add("INSERT in a subquery", ENGINE, "SELECT * FROM (INSERT INTO log SELECT * FROM log RETURNING 1)", expect="refuse")
add("smuggled delete then query", ENGINE, f'SELECT :"x; {SMUGGLED}; --"', prelude=((None, "SELECT 1"),))
add("smuggled drop schema", ENGINE, 'SELECT :"x; DROP SCHEMA main CASCADE; --"', dialect="postgres")
add("smuggled insert into log", ENGINE, 'SELECT :"x; INSERT INTO log SELECT * FROM log; --"')
add("smuggled attach memory", ENGINE, 'SELECT :"x; ATTACH \':memory:\' AS m; --"')
add("create view via dialect", ENGINE, "CREATE VIEW files AS SELECT 1", dialect="postgres", expect="reject")
add("select into new table", ENGINE, "SELECT * INTO t FROM files", dialect="postgres", expect="refuse")
add("select into (tsql)", ENGINE, "SELECT * INTO t FROM files", dialect="tsql", expect="refuse")

# -- 3. forged rows and damaged blobs ----------------------------------------------------------------------
FORGED_REFS = [
    ("relative traversal", "../../../../../../../../../..{{HOST_TXT}}", True),
    ("absolute host path", "{{HOST_TXT}}", True),
    ("file:// URI", "file://{{HOST_TXT}}", False),
    ("blobs/ then traversal", "blobs/../../../../../../../../../..{{HOST_TXT}}", True),
    ("valid-looking ref, no such blob", "blobs/0000000000000000000000000000000000000000000000000000000000000000",
     False),
    ("upper-case hex of a live blob", "blobs/{{BIG_SHA_UPPER}}", False),
    ("live blob + traversal", "blobs/{{BIG_SHA}}/../../../../../../../../..{{HOST_TXT}}", False),
    ("double slash", "blobs//{{BIG_SHA}}", False),
    ("leading space", " blobs/{{BIG_SHA}}", False),
    ("backslashes", "blobs\\..\\..\\..\\..\\..\\..\\..\\..{{HOST_TXT}}", False),
    ("pond internal file", "blobs/../log/_delta_log/00000000000000000000.json", False),
    ("NUL in ref", "blobs/{{BIG_SHA}}\x00../../x", False),
]
for label, ref, fast in FORGED_REFS:
    add(f"forged content_ref: {label}", FORGED, kind="forged", forge={"set": {"content_ref": ref}}, fast=fast)
add("forged ref to a live blob, sha256 not matching", FORGED, kind="forged",
    forge={"set": {"content_ref": "blobs/{{BIG_SHA}}"}}, fast=True)
add("forged ref to a live blob, then maintain(0)", MAINTAIN, kind="forged",
    forge={"set": {"content_ref": "blobs/{{BIG_SHA}}"}, "maintain": True}, fast=True)
add("forged traversal ref, then maintain(0)", MAINTAIN, kind="forged",
    forge={"set": {"content_ref": "../../../../../../../../../..{{HOST_TXT}}"}, "maintain": True})
add("forged new content of an existing file (traversal)", FORGED, kind="forged",
    forge={"existing": True, "path": "/docs/readme2.txt",
           "set": {"content_ref": "../../../../../../../../../..{{HOST_TXT}}"}}, fast=True)
add("forged ref + inline content both set", FORGED, kind="forged",
    forge={"set": {"content_ref": "{{HOST_TXT}}", "content": b"x,y\n"}})
add("forged huge size claim", FORGED, kind="forged",
    forge={"set": {"content_ref": "blobs/{{BIG_SHA}}", "size": 10**15}})
add("blob on disk replaced by host bytes", FORGED, kind="blob-damage", forge={"path": "/big.bin"}, fast=True)
add("blob on disk replaced by a symlink to a host file", FORGED, kind="blob-damage",
    forge={"path": "/big.bin", "symlink": True})

# -- 4. maintenance trusting a query copy -----------------------------------------------------------------
for label, query, dialect in [
    ("smuggled DELETE FROM log", f'SELECT :"x; {SMUGGLED}; --"', None),
    ("smuggled DELETE FROM log (postgres)", f'SELECT :"x; {SMUGGLED}; --"', "postgres"),
    ("DELETE FROM log", "DELETE FROM log", None),
    ("replace files view", "CREATE OR REPLACE VIEW main.files AS SELECT 1 AS path", None),
    ("replace oplog view", "CREATE OR REPLACE VIEW oplog AS SELECT * FROM log WHERE false", None),
    ("smuggled update of content_ref", 'SELECT :"x; UPDATE log SET content_ref = NULL; --"', None),
]:
    add(f"maintain(0) after {label}", MAINTAIN, query, kind="maintain", dialect=dialect,
        fast=label in ("smuggled DELETE FROM log", "replace oplog view"))
add("maintain(0) after a time-travel query", MAINTAIN, 'SELECT :"x; DELETE FROM log; --"', kind="maintain", at=AT)

# -- 5. time-travel leaks (queries at v2; markers of v3+ must not show) ----------------------------------------
for q, fast in [
    ("SELECT * FROM main.log", True), ("SELECT * FROM main.files", True), ("SELECT * FROM memory.main.oplog", True),
    ("SELECT * FROM log", False), ("SELECT * FROM memory.log", False), ("SELECT * FROM oplog", False),
    ("SELECT * FROM files", False), ("SELECT * FROM history", False), ("SELECT * FROM commits", False),
    ("SELECT * FROM file_versions", False), ("SELECT * FROM nodes", False), ("SELECT * FROM paths", False),
    ("SELECT * FROM v6.files", True), ('SELECT * FROM "v6"."files"', False), ("SELECT * FROM v5.oplog", False),
    ("SELECT * FROM memory.v6.files", False), ("SELECT * FROM files_at(6)", True),
    ("SELECT * FROM oplog_at(99)", False),
    ("SELECT * FROM files_at(TIMESTAMP '2999-01-01')", False), ("SELECT * FROM files_at(now())", False),
    ("SELECT * FROM diff(1, 6)", False), ("SELECT * FROM paths_at(5)", False), ("SELECT * FROM nodes_at(6)", False),
    ("SELECT * FROM entries_at(6)", False),
    ("SELECT * FROM read_csv('tinylogsql:///@v6/data/west/x.csv')", True),
    ("SELECT * FROM read_csv('tinylogsql:///@v5/data/west/{{LATER_NAME}}.csv')", False),
    ("SELECT * FROM read_csv('tinylogsql:///@v3/data/west/{{REMOVED_NAME}}.csv')", True),
    ("SELECT * FROM read_csv('tinylogsql:///@v99/data/west/x.csv')", False),
    ("SELECT * FROM read_csv('tinylogsql:///@v2/@v6/data/west/x.csv')", False),
    ("SELECT * FROM read_csv('tinylogsql:///data/west/x.csv') UNION ALL "
     "SELECT * FROM read_csv('tinylogsql:///@v5/data/west/x.csv')", False),
    ("SELECT * FROM read_csv(['tinylogsql:///data/west/z.csv', 'tinylogsql:///@v6/data/west/x.csv'])", False),
    ('SELECT * FROM "tinylogsql:///@v6/data/west/x.csv"', True),
    ('SELECT * FROM "tinylogsql:///@v3/data/west/{{REMOVED_NAME}}".csv', True),
    ('SELECT * FROM "tinylogsql:///@v6/data/west/x".csv', False),
    ("SELECT * FROM 'tinylogsql:///@v6/data/west/x.csv'", False),
    ("SUMMARIZE 'tinylogsql:///@v6/data/west/x.csv'", True),
    ("SUMMARIZE 'tinylogsql:///data/west/{{LATER_NAME}}.csv'", False),
    ("SUMMARIZE SELECT * FROM 'tinylogsql:///@v6/data/west/x.csv'", False),
    ("DESCRIBE 'tinylogsql:///@v6/data/west/x.csv'", True),
    ("DESCRIBE SELECT * FROM read_csv('tinylogsql:///@v5/data/west/{{LATER_NAME}}.csv')", False),
    ("SELECT * FROM read_csv('tinylogsql://x://@v6/data/west/x.csv')", True),
    ("SELECT * FROM read_csv('tinylogsql:///data/west/x.csv://@v6/data/west/x.csv')", False),
    ("SELECT * FROM read_csv('tinylogsql://@v6/data/west/x.csv')", False),
    ("SELECT * FROM read_csv('tinylogsql:////@v6/data/west/x.csv')", False),
    ("SELECT * FROM read_csv('tinylogsql:///./@v6/data/west/x.csv')", False),
    ("SELECT * FROM read_csv('tinylogsql:///data/../@v6/data/west/x.csv')", False),
    ("SELECT * FROM read_csv('tinylogsql:///%40v6/data/west/x.csv')", False),
    ("SELECT * FROM read_csv('TINYLOGSQL:///@v6/data/west/x.csv')", False),
    ("SELECT * FROM read_csv('tinylogsql:///@V6/data/west/x.csv')", False),
    ("SELECT * FROM read_csv('tinylogsql:///@v0006/data/west/x.csv')", False),
    ("SELECT * FROM read_csv('tinylogsql:///data/west/{{LATER_NAME}}.csv')", False),
    ("SELECT * FROM read_csv('tinylogsql:///data/later-big.bin', header=false)", False),
    ("SELECT * FROM read_json_objects('tinylogsql:///data/later-big.bin')", False),
    ("SELECT * FROM read_csv('tinylogsql:///data/west/x.csv', filename=true)", False),
    ("SELECT * FROM read_parquet('tinylogsql:///@v6/big.bin')", False),
    ("SELECT 'tinylogsql:///@v6/data/west/x.csv' AS p", False),
]:
    add(f"at v{AT}: {q}", TIME, q, at=AT, fast=fast)
add("leftover v6 schema after an at(6) query", TIME, "SELECT * FROM v6.files", at=AT,
    prelude=((6, "SELECT count(*) FROM files"), (5, "SELECT count(*) FROM files")), fast=True)
add("leftover v5 schema, quoted", TIME, 'SELECT * FROM "v5".oplog', at=AT, prelude=((5, "SELECT 1"),))
add("leftover schema via read_csv pinned earlier", TIME, "SELECT * FROM read_csv('tinylogsql:///@v6/data/west/x.csv')",
    at=AT, prelude=((6, "SELECT * FROM read_csv('tinylogsql:///data/west/x.csv')"),))
add("duckdb_schemas() lists versions", TIME, "SELECT * FROM duckdb_schemas()", at=AT, prelude=((6, "SELECT 1"),))
add("duckdb_views() shows later definitions", TIME, "SELECT * FROM duckdb_views()", at=AT, prelude=((6, "SELECT 1"),))
add("information_schema.tables", TIME, "SELECT * FROM information_schema.tables", at=AT, prelude=((6, "SELECT 1"),))
add("history beyond the version, by time", TIME, "SELECT * FROM history WHERE ts > TIMESTAMP '2000-01-01'", at=AT)

# -- 6. built-ins revealing the host ------------------------------------------------------------------------
for q, fast in [
    ("SELECT * FROM pg_settings", True), ("SELECT * FROM pg_catalog.pg_settings", False),
    ("SELECT * FROM duckdb_databases()", True), ("SELECT * FROM duckdb_logs", True),
    ("SELECT * FROM duckdb_logs()", False), ("SELECT json_serialize_plan('SELECT * FROM log')", True),
    ("SELECT json_serialize_sql('SELECT 1')", False), ("SELECT get_block_size('memory')", False),
    ("SELECT * FROM duckdb_settings()", True), ("SELECT current_setting('temp_directory')", True),
    ("SELECT current_setting('secret_directory')", False), ("SELECT * FROM duckdb_secrets()", False),
    ("SELECT which_secret('s3://x/y', 's3')", False), ("SELECT * FROM duckdb_extensions()", False),
    ("SELECT * FROM duckdb_temporary_files()", False), ("SELECT * FROM duckdb_memory()", False),
    ("SELECT * FROM pragma_database_list", False), ("SELECT * FROM pragma_database_list()", False),
    ("SELECT * FROM pragma_storage_info('log')", False), ("SELECT * FROM pragma_table_info('log')", False),
    ("SELECT * FROM duckdb_tables()", False), ("SELECT * FROM duckdb_functions()", False),
    ("SELECT * FROM information_schema.schemata", False), ("SELECT getenv('" + "TINYLOGSQL_REDTEAM_SECRET')", True),
    ("SELECT getvariable('x')", False), ("SELECT * FROM duckdb_external_file_cache()", False),
    ("SELECT * FROM duckdb_variables()", False), ("SELECT * FROM duckdb_optimizers()", False),
    ("SELECT * FROM duckdb_settings() WHERE name LIKE '%directory%'", False),
    ("SELECT * FROM query('SELECT * FROM duckdb_settings()')", False),
    ("SELECT * FROM query_table('log')", False), ("SELECT current_setting('home_directory')", False),
    ("SELECT current_setting('extension_directory')", False), ("SELECT current_database(), current_schema()", False),
    ("SELECT * FROM test_all_types()", False), ("SELECT * FROM pg_catalog.pg_namespace", False),
    ("SELECT * FROM duckdb_dependencies()", False), ("SELECT * FROM duckdb_prepared_statements()", False),
    ("SELECT * FROM (FROM duckdb_settings()) WHERE value LIKE '%/%'", False),
    ("SELECT * FROM pragma_metadata_info()", False), ("SELECT * FROM duckdb_approx_database_count()", False),
    ("SELECT * FROM which_secret('x','s3')", False), ("SELECT enable_logging()", False),
    ("SELECT * FROM duckdb_connection_count()", False), ("SELECT * FROM pragma_user_agent()", False),
    ("SELECT * FROM pragma_platform()", False),
]:
    add(f"built-in: {q}", BUILTINS, q, fast=fast)
add("getenv via postgres dialect", BUILTINS, "SELECT current_setting('home_directory')::text", dialect="postgres")

# -- 7. resource bounds ----------------------------------------------------------------------------------
OR_CHAIN = "SELECT count(*) FROM files WHERE " + " OR ".join(f"size = {i}" for i in range(3000))
OR_CHAIN_BIG = "SELECT count(*) FROM files WHERE " + " OR ".join(f"size = {i}" for i in range(12000))
PARENS = "SELECT " + "(" * 3000 + "1" + ")" * 3000
FUNCS = "SELECT " + "abs(" * 3000 + "1" + ")" * 3000
SUBQ = "SELECT * FROM " + "(SELECT * FROM " * 500 + "files" + ") t" * 500
BIG_QUERY = "SELECT " + " + ".join(["1"] * 33000)  # ~100 KB
BIG_LITERAL = "SELECT length('" + "x" * 100_000 + "')"
UNIONS = " UNION ALL ".join(f"SELECT {i}" for i in range(5000))
CASES = "SELECT CASE " + " ".join(f"WHEN size = {i} THEN {i}" for i in range(5000)) + " END FROM files"
IN_LIST = "SELECT count(*) FROM files WHERE size IN (" + ",".join(str(i) for i in range(30000)) + ")"
for name, q, expect, fast in [
    ("lpad 2e9", "SELECT lpad('', 2000000000, 'x')", "timeout", True),
    ("rpad 2e9", "SELECT length(rpad('', 2000000000, 'x'))", "timeout", False),
    ("repeat 2e9", "SELECT length(repeat('x', 2000000000))", "timeout", True),
    ("repeat blob 1e9", "SELECT octet_length(repeat('x'::BLOB, 1000000000))", "timeout", False),
    ("nested repeat", "SELECT length(repeat(repeat('x', 100000), 100000))", "timeout", False),
    ("levenshtein 200k", "SELECT levenshtein(repeat('a', 200000), repeat('b', 200000))", "timeout", True),
    ("damerau_levenshtein 50k", "SELECT damerau_levenshtein(repeat('a', 50000), repeat('b', 50000))", "timeout", False),
    ("jaro_winkler 1M", "SELECT jaro_winkler_similarity(repeat('ab', 1000000), repeat('ba', 1000000))", "any", False),
    ("unnest(generate_series(1, 2e9))", "SELECT count(*) FROM (SELECT unnest(generate_series(1, 2000000000)))",
     "timeout", True),
    ("range list 1e9", "SELECT len(range(1000000000))", "timeout", False),
    ("list_resize huge", "SELECT len(list_resize([1], 1000000000))", "timeout", False),
    ("array_fill / repeat list", "SELECT len(repeat([1, 2, 3], 500000000))", "timeout", False),
    ("string_agg huge", "SELECT length(string_agg(repeat('x', 1000), '')) FROM range(10000000)", "timeout", False),
    ("printf width", "SELECT printf('%2000000000d', 1)", "any", False),
    ("format width", "SELECT format('{:>2000000000}', 'x')", "any", False),
    ("bar width", "SELECT bar(1, 0, 1, 2000000000)", "any", False),
    ("cross join ranges", "SELECT count(*) FROM range(100000) a, range(100000) b", "timeout", True),
    ("sum over 1e11 rows", "SELECT sum(range) FROM range(100000000000)", "timeout", False),
    ("sort 1e9 random", "SELECT * FROM range(1000000000) ORDER BY random() LIMIT 1", "timeout", False),
    ("recursive CTE forever", "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t",
     "timeout", True),
    ("recursive string growth", "WITH RECURSIVE t(s) AS (SELECT 'x' UNION ALL SELECT s || s FROM t) "
     "SELECT max(length(s)) FROM t", "timeout", False),
    ("list of strings 1e8", "SELECT len(list(repeat('x', 100))) FROM range(100000000)", "timeout", False),
    ("histogram 1e9", "SELECT histogram(range % 1000000) FROM range(1000000000)", "timeout", False),
    ("regexp on 10M", "SELECT regexp_matches(repeat('a', 10000000) || 'b', '(a+)+c')", "any", False),
    ("string_split 1e9", "SELECT len(string_split(repeat(',', 1000000000), ','))", "timeout", False),
    ("to_json of huge list", "SELECT length(to_json(range(100000000)))", "timeout", False),
    ("3,000 OR terms", OR_CHAIN, "any", True),
    ("12,000 OR terms", OR_CHAIN_BIG, "any", False),
    ("3,000 nested parentheses", PARENS, "any", True),
    ("3,000 nested function calls", FUNCS, "any", False),
    ("500 nested subqueries", SUBQ, "any", False),
    ("100 KB query", BIG_QUERY, "any", True),
    ("100 KB string literal", BIG_LITERAL, "any", False),
    ("5,000 UNION ALL", UNIONS, "any", False),
    ("5,000 CASE branches", CASES, "any", False),
    ("30,000 IN list", IN_LIST, "any", False),
    ("1 MB query", "SELECT " + " + ".join(["1"] * 330000), "refuse", False),
]:
    add(f"resource: {name}", RESOURCE, q, expect=expect, fast=fast)

# -- 8. unknown dialects and bad arguments -------------------------------------------------------------------
for d, fast in [("nosuchdialect", True), ("", False), ("duckdb; DROP TABLE log", False), ("../../etc/passwd", False),
                ("DuckDB", False), ("POSTGRES", False), ("sqlglot.dialects.duckdb", False), (123, True),
                (object, False), (["duckdb"], False)]:
    add(f"dialect={d!r:.30}", DIALECT, "SELECT 1", dialect=d, fast=fast)
for p, fast in [([1, 2, 3], True), ({"x": 1}, False), (["a"], False), ([object()], False),
                ("not a list", False), ([[1] * 10], False), (12, False)]:
    add(f"params={p!r:.30}", DIALECT, "SELECT ?", params=p, fast=fast)
add("timeout=0", DIALECT, "SELECT 1", timeout=0.0)
add("empty query", DIALECT, "", expect="refuse", fast=True)
add("whitespace query", DIALECT, "   \n  ", expect="refuse")
add("only a comment", DIALECT, "-- nothing", expect="refuse")
add("unparsable", DIALECT, "SELEC 1 FRO", expect="refuse")
add("NUL in query", DIALECT, "SELECT 1\x00; DELETE FROM log")
add("lone surrogate in query", DIALECT, "SELECT '\ud800'")
add("PIVOT without an IN list (DuckDB runs it as several statements)", DIALECT,
    "PIVOT (SELECT 'a' AS k, 1 AS v) ON k USING sum(v)")
add("export database", DIALECT, "EXPORT DATABASE '{{HOST_DIR}}/exp'", expect="reject", fast=True)
add("import database", DIALECT, "IMPORT DATABASE '{{HOST_DIR}}'", expect="reject")

# -- 9. file and network reads ---------------------------------------------------------------------------------
for q, expect, fast in [
    ("SELECT * FROM read_csv('{{HOST_CSV}}')", "refuse", True),
    ("SELECT * FROM '{{HOST_CSV}}'", "refuse", True),
    ('SELECT * FROM "{{HOST_CSV}}"', "refuse", False),
    ("SELECT * FROM read_csv('file://{{HOST_CSV}}')", "refuse", False),
    ("SELECT * FROM read_parquet('{{HOST_PARQUET}}')", "refuse", False),
    ("SELECT * FROM read_json('{{HOST_JSON}}')", "refuse", False),
    ("SELECT * FROM read_text('{{HOST_TXT}}')", "refuse", True),
    ("SELECT * FROM read_blob('{{HOST_TXT}}')", "refuse", False),
    ("SELECT * FROM glob('{{HOST_DIR}}/*')", "refuse", False),
    ("SELECT * FROM sniff_csv('{{HOST_CSV}}')", "refuse", False),
    ("SELECT * FROM parquet_metadata('{{HOST_PARQUET}}')", "refuse", False),
    ("SELECT * FROM parquet_schema('{{HOST_PARQUET}}')", "refuse", False),
    ("SELECT * FROM read_csv('http://127.0.0.1:{{PORT}}/x.csv')", "refuse", True),
    ("SELECT * FROM read_json('http://127.0.0.1:{{PORT}}/x.json')", "refuse", False),
    ("SELECT * FROM 'http://127.0.0.1:{{PORT}}/x.parquet'", "refuse", False),
    ("ATTACH '{{HOST_DB}}' AS h", "reject", True),
    ("ATTACH '{{HOST_DB}}' AS h (READ_ONLY)", "reject", False),
    ("SELECT * FROM '{{HOST_DB}}'.t", "refuse", False),
    ("INSTALL httpfs", "reject", True),
    ("LOAD httpfs", "reject", False),
    ("FORCE INSTALL httpfs FROM 'http://127.0.0.1:{{PORT}}'", "reject", False),
    ("COPY (SELECT 1) TO '{{HOST_DIR}}/out.csv'", "reject", True),
    ("COPY log TO '{{HOST_DIR}}/log.parquet'", "reject", False),
    ("COPY log FROM '{{HOST_CSV}}'", "reject", False),
    ("EXPORT DATABASE '{{HOST_DIR}}/exp'", "reject", False),
    ("CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')", "reject", True),
    ("CREATE PERSISTENT SECRET s (TYPE http)", "reject", False),
    ("SELECT * FROM read_csv('tinylogsql:///../../../../../../../..{{HOST_CSV}}')", "refuse", True),
    ("SELECT * FROM read_csv('tinylogsql://{{HOST_CSV}}')", "refuse", False),
    ("SELECT * FROM read_csv('tinylogsql://localhost{{HOST_CSV}}')", "refuse", False),
    ("SELECT * FROM read_csv('tinylogsql:///links/host')", "refuse", True),
    ("SELECT * FROM read_csv('tinylogsql:///links/up')", "refuse", False),
    ("SELECT * FROM read_csv('tinylogsql:///data/west/x.csv', filename=true, "
     "hive_partitioning=true, union_by_name=true)", "any", False),
    ("SELECT * FROM read_csv(['tinylogsql:///data/west/z.csv', '{{HOST_CSV}}'])", "refuse", False),
    ("SELECT * FROM read_csv(concat('{{HOST_DIR}}', '/secret.csv'))", "refuse", False),
    ("SELECT * FROM read_csv(?)", "refuse", False),
    ("SELECT * FROM read_csv((SELECT '{{HOST_CSV}}'))", "refuse", False),
    ("SELECT * FROM read_csv('tinylogsql:///' || '../../../../../../..{{HOST_CSV}}')", "refuse", False),
    ("SELECT * FROM read_csv_auto('{{HOST_CSV}}')", "refuse", False),
    ("SELECT * FROM read_ndjson_objects('{{HOST_JSON}}')", "refuse", False),
    ("SELECT * FROM read_xlsx('{{HOST_CSV}}')", "refuse", False),
    ("SELECT * FROM delta_scan('{{POND}}/log')", "refuse", True),
    ("SELECT * FROM read_parquet('{{POND}}/log/*.parquet')", "refuse", False),
    ("SELECT * FROM read_blob('{{BLOB}}')", "refuse", False),
    ("SELECT * FROM read_csv('tinylogsql:///data/west/x.csv', columns={'a': 'VARCHAR'}, "
     "sep=',', quote='\"', escape='\"', comment='#')", "any", False),
    ("SELECT * FROM read_csv('tinylogsql:///data/west/x.csv', compression='gzip')", "any", False),
    ("SELECT * FROM sqlite_scan('{{HOST_DB}}', 't')", "refuse", False),
    ("SELECT * FROM iceberg_scan('{{HOST_DIR}}')", "refuse", False),
    ("SELECT * FROM postgres_scan('host=127.0.0.1 port={{PORT}}', 'public', 't')", "refuse", False),
]:
    add(f"read: {q}", FILES, q, expect=expect, params=["{{HOST_CSV}}"] if "(?)" in q else None, fast=fast)
add("read_csv with params path", FILES, "SELECT * FROM read_csv($p)", params={"p": "/etc/hostname"}, expect="refuse")

# -- 10. globs ------------------------------------------------------------------------------------------------
for q, expect, rows, fast in [
    ("SELECT a, b FROM read_csv('tinylogsql:///data/*/*.csv') ORDER BY a", "ran", None, True),
    ("SELECT count(*) FROM read_csv('tinylogsql:///**/*.csv')", "ran", None, False),
    ("SELECT * FROM read_csv('tinylogsql:///../*')", "any", None, True),
    ("SELECT * FROM read_csv('tinylogsql:///../../../../../../../../../..{{HOST_DIR}}/*.csv')", "refuse", None, True),
    ("SELECT * FROM read_csv('tinylogsql:///**/../../../../../../../../..{{HOST_DIR}}/*.csv')", "refuse", None,
     False),
    ("SELECT * FROM read_csv('tinylogsql:///*/../../../../../../../../..{{HOST_DIR}}/secret.csv')", "refuse", None,
     False),
    ("SELECT * FROM read_csv('tinylogsql:///links/*')", "any", None, False),
    ("SELECT * FROM read_csv('tinylogsql:///@v*/data/west/x.csv')", "any", None, True),
    ("SELECT * FROM read_csv('tinylogsql:///@v[0-9]/data/west/x.csv')", "any", None, False),
    ("SELECT * FROM read_csv('tinylogsql:///{@v6,data}/**/*.csv')", "any", None, False),
    ("SELECT * FROM read_csv('{{HOST_DIR}}/*.csv')", "refuse", None, False),
    ("SELECT * FROM read_csv('/**/secret.csv')", "refuse", None, False),
    ("SELECT * FROM read_csv('tinylogsql://*/secret.csv')", "refuse", None, False),
    ("SELECT * FROM glob('tinylogsql:///**')", "any", None, False),
]:
    add(f"glob: {q}", GLOBS, q, expect=expect, rows=rows, fast=fast)
for q, fast in [
    ("SELECT * FROM read_csv('tinylogsql:///data/west/*.csv', filename=true)", True),
    ("SELECT * FROM read_csv('tinylogsql:///**', filename=true, header=false)", False),
    ("SELECT * FROM read_csv('tinylogsql:///data/**/*.csv', filename=true)", True),
    ("SELECT * FROM read_json_objects('tinylogsql:///**')", False),
]:
    add(f"glob at v{AT}: {q}", GLOBS, q, at=AT, fast=fast)

# -- 11. wrong answers: legitimate queries must work and be right ---------------------------------------------
for q, rows, fast, kw in [
    ("SELECT repeat('ab', 3)", [("ababab",)], True, {}),
    ("SELECT lpad('7', 3, '0')", [("007",)], True, {}),
    ("SELECT levenshtein('kitten', 'sitting')", [(3,)], True, {}),
    ("SELECT count(*) FROM range(10)", [(10,)], False, {}),
    ("SELECT sum(x)::BIGINT FROM unnest(generate_series(1, 100)) t(x)", [(5050,)], False, {}),
    ("SELECT * FROM generate_series(1, 3)", [(1,), (2,), (3,)], True, {}),
    ("SELECT unnest([1, 2])", [(1,), (2,)], False, {}),
    ("SELECT 'a; DELETE FROM log' AS s", [("a; DELETE FROM log",)], True, {}),
    ("SELECT count(*) FROM files", [(7,)], True, {}),
    ("SELECT count(*) FROM files", [(5,)], False, {"at": AT}),
    ("SELECT path FROM files WHERE path LIKE '/data/west/%' ORDER BY path",
     [("/data/west/x.csv",), ("/data/west/z.csv",)], True, {"at": AT}),
    ("SELECT a, b FROM read_csv('tinylogsql:///data/west/x.csv')", [(1, 2), (3, 4)], True, {"at": AT}),
    ("SELECT a, b FROM read_csv('tinylogsql:///data/west/z.csv')", [(7, 8)], False, {}),
    ("SELECT a, b FROM 'tinylogsql:///data/west/z.csv'", [(7, 8)], False, {}),
    ("SELECT a, b FROM read_csv('tinylogsql:///data/*/*.csv') WHERE b < 9 ORDER BY b",
     [(1, 2), (3, 4), (5, 6), (7, 8)], True, {"at": AT}),
    ("SELECT a, b FROM read_csv('tinylogsql:///**/*.csv') ORDER BY b", [(1, 2), (3, 4), (5, 6), (7, 8)], False,
     {"at": AT}),
    ("SELECT DISTINCT filename FROM read_csv('tinylogsql:///data/*/*.csv', filename=true) ORDER BY 1",
     [("tinylogsql:///data/east/y.csv",), ("tinylogsql:///data/west/x.csv",), ("tinylogsql:///data/west/z.csv",)],
     True, {"at": AT}),
    ("SELECT DISTINCT filename FROM read_csv('tinylogsql:///data/west/x.csv', filename=true)",
     [("tinylogsql:///data/west/x.csv",)], False, {"at": AT}),
    ("SELECT count(*) FROM history", [(21,)], False, {}),  # the root's create at v0 + 20 ops
    ("SELECT count(*) FROM files_at(2)", [(5,)], False, {}),
    ("SELECT max(version) FROM commits", [(2,)], False, {"at": AT}),
    ("SELECT TOP 2 path FROM files ORDER BY path", [("/big.bin",), ("/data/east/y.csv",)], False,
     {"dialect": "tsql"}),
    ("SELECT path::text FROM files ORDER BY path LIMIT 1", [("/big.bin",)], False, {"dialect": "postgres"}),
    ("SELECT `path` FROM files ORDER BY path LIMIT 1", [("/big.bin",)], False, {"dialect": "mysql"}),
    ("SELECT string_agg(name, ',' ORDER BY name) FROM files WHERE path LIKE '/data/west/%'",
     [("x.csv,z.csv",)], False, {"at": AT}),
    ("SELECT octet_length(content) FROM files WHERE path = '/big.bin'", [(None,)], False, {}),
    ("SELECT size FROM files WHERE path = '/big.bin'", [(76800,)], False, {}),
    ("SELECT $$a;b$$", [("a;b",)], False, {}),
    ("SELECT ? + 1", [(42,)], False, {"params": [41]}),
    ("SELECT $n * 2", [(84,)], False, {"params": {"n": 42}}),
    ("SUMMARIZE SELECT 1 AS a", None, False, {}),
    ("DESCRIBE SELECT * FROM files", None, False, {}),
    ("SELECT * FROM files LIMIT 0", [], False, {}),
    ("WITH t AS (SELECT 1 AS x) SELECT x FROM t", [(1,)], False, {}),
    ("PIVOT (SELECT 'a' AS k, 1 AS v) ON k IN ('a') USING sum(v)", None, False, {}),
    ("SELECT count(*) FROM diff(2, 6)", None, False, {}),
    ("SELECT regexp_replace('abc', 'b', 'x')", [("axc",)], False, {}),
    ("SELECT md5('x')", [("9dd4e461268c8034f5c8564e155c67a6",)], False, {}),
    ("SELECT strlen(repeat('x', 1000000))", [(1000000,)], False, {}),
]:
    add(f"legit: {q}" + (f" {kw}" if kw else ""), WRONG, q, expect="ran", rows=rows, fast=fast, **kw)


CI_SUBSET = {
    SMUGGLING: ['quoted placeholder :"..." (duckdb)', 'quoted placeholder :"..." (postgres)',
                'quoted placeholder :"..." (tsql)', "mysql backslash quote", "explain prefix + delete"],
    ENGINE: ["engine write: DELETE FROM log", "engine write: CREATE OR REPLACE VIEW main.files AS SELECT 1 AS path",
             "DML in a CTE", "engine write: SET lock_configuration = false"],
    FORGED: ["forged content_ref: relative traversal", "forged ref to a live blob, sha256 not matching",
             "forged new content of an existing file (traversal)", "blob on disk replaced by host bytes"],
    MAINTAIN: ["forged ref to a live blob, then maintain(0)", "maintain(0) after smuggled DELETE FROM log",
               "maintain(0) after replace oplog view"],
    TIME: [f"at v{AT}: SELECT * FROM main.log", f"at v{AT}: SELECT * FROM memory.main.oplog",
           "leftover v6 schema after an at(6) query", f"at v{AT}: SELECT * FROM files_at(6)",
           f"at v{AT}: SELECT * FROM \"tinylogsql:///@v3/data/west/{{{{REMOVED_NAME}}}}\".csv",
           f"at v{AT}: SUMMARIZE 'tinylogsql:///@v6/data/west/x.csv'",
           f"at v{AT}: SELECT * FROM read_csv('tinylogsql://x://@v6/data/west/x.csv')"],
    BUILTINS: ["built-in: SELECT * FROM pg_settings", "built-in: SELECT * FROM duckdb_databases()",
               "built-in: SELECT json_serialize_plan('SELECT * FROM log')",
               "built-in: SELECT current_setting('temp_directory')"],
    RESOURCE: ["resource: lpad 2e9", "resource: levenshtein 200k", "resource: unnest(generate_series(1, 2e9))",
               "resource: 3,000 OR terms", "resource: 3,000 nested parentheses", "resource: 100 KB query"],
    DIALECT: ["dialect='nosuchdialect'", "params=[1, 2, 3]", "export database"],
    FILES: ["read: SELECT * FROM read_csv('{{HOST_CSV}}')",
            "read: SELECT * FROM read_csv('http://127.0.0.1:{{PORT}}/x.csv')", "read: ATTACH '{{HOST_DB}}' AS h",
            "read: COPY (SELECT 1) TO '{{HOST_DIR}}/out.csv'", "read: SELECT * FROM read_csv('tinylogsql:///links/host')"],
    GLOBS: ["glob: SELECT * FROM read_csv('tinylogsql:///../../../../../../../../../..{{HOST_DIR}}/*.csv')",
            "glob: SELECT * FROM read_csv('tinylogsql:///@v*/data/west/x.csv')",
            f"glob at v{AT}: SELECT * FROM read_csv('tinylogsql:///data/**/*.csv', filename=true)"],
    WRONG: ["legit: SELECT repeat('ab', 3)", "legit: SELECT levenshtein('kitten', 'sitting')",
            "legit: SELECT a, b FROM read_csv('tinylogsql:///data/*/*.csv') WHERE b < 9 ORDER BY b {'at': 2}",
            "legit: SELECT DISTINCT filename FROM read_csv('tinylogsql:///data/*/*.csv', filename=true) ORDER BY 1 "
            "{'at': 2}"],
}
"""The CI subset, by class: the issue's own findings first, then one or two of the rest."""


def _mark_fast() -> None:
    wanted = {name for names in CI_SUBSET.values() for name in names}
    names = {a.name for a in ATTACKS}
    missing = wanted - names
    assert not missing, f"CI_SUBSET names no attack: {missing}"
    for i, attack in enumerate(ATTACKS):
        ATTACKS[i] = replace(attack, fast=attack.name in wanted)


_mark_fast()


def by_name() -> dict[str, Attack]:
    return {a.name: a for a in ATTACKS}


assert len(by_name()) == len(ATTACKS), "attack names must be unique"
