"""The first layer of the SQL sandbox: check what a user's query may name, and hand on one
read-only statement.

The query is parsed by sqlglot (any dialect) and every name in the tree is held against an
allow-list: the pond's views and macros, the query's own CTEs, a few table functions, pond
paths (``tinylogsql:///...``, read at the query's version by ``sqlfiles``). No qualified names,
no system views or settings functions, no statement other than a query. What runs is the SQL
regenerated from the checked tree, and DuckDB's own parser must then see exactly one SELECT-like
statement in it (``duckdb.extract_statements``), which runs as one prepared statement.

The second layer (``sqlexec``) is where the query runs: a private, locked DuckDB holding only
the pond's rows up to the query's version, in a worker process with memory and time bounds.
Layer 1 is linear in the query's size and refuses queries over ``MAX_QUERY_CHARS`` or nested
deeper than ``MAX_DEPTH`` before parsing.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError

from .errors import QueryError, QueryRejectedError, QueryTimeoutError

POND_SCHEME = "tinylogsql://"
MAX_QUERY_CHARS = 256 * 1024
"""A longer query is refused before parsing."""
MAX_DEPTH = 100
"""Deeper nesting of parentheses is refused before parsing (parsers recurse on it)."""

POND_VIEWS = frozenset(
    {"log", "oplog", "nodes", "entries", "paths", "files", "history", "commits", "file_versions", "branches", "tags",
     "subscriptions", "retention", "git_commits"}
)
"""What a query may read by name (besides its own CTEs): the views in sql/ and their log."""

POND_TABLE_FUNCTIONS = frozenset(
    {"oplog_at", "nodes_at", "entries_at", "paths_at", "files_at", "diff", "merge_conflicts",
     "retention_at"})
"""Table macros defined in sql/: the pond at any version up to the query's, or at a revision."""

FILE_READERS = frozenset(
    {
        "read_csv",
        "read_csv_auto",
        "read_parquet",
        "parquet_scan",
        "read_json",
        "read_json_auto",
        "read_ndjson",
        "read_ndjson_auto",
        "read_json_objects",
    }
)
"""Table functions that read files: allowed only on literal ``tinylogsql:///`` paths."""

ALLOWED_TABLE_FUNCTIONS = POND_TABLE_FUNCTIONS | FILE_READERS | frozenset({"range", "generate_series", "unnest"})
"""The allow-list: any other table function (glob, query, read_text, sniff_csv, ...) is rejected."""

DENIED_FUNCTIONS = frozenset(
    {
        "getenv", "current_setting", "query", "query_table", "read_text", "read_blob", "glob", "sniff_csv",
        "json_serialize_plan", "get_block_size", "which_secret", "getvariable", "checkpoint", "force_checkpoint",
        "enable_logging", "disable_logging", "truncate_duckdb_logs", "parquet_metadata", "parquet_schema",
        "parquet_file_metadata", "parquet_kv_metadata", "parquet_bloom_probe", "current_database",
        "current_catalog", "current_schemas", "has_table_privilege", "has_schema_privilege", "version",
        "platform", "extension_version", "database_size", "pragma_version", "pragma_database_size",
        "pg_read_file", "pg_ls_dir", "pg_stat_file", "nextval", "currval", "setseed",
    }
)
"""Scalar functions refused wherever they appear: they reveal the host setup or change state."""

DENIED_PREFIXES = ("duckdb_", "pg_", "pragma_", "icu_", "test_", "information_schema")
"""System views and functions by prefix: refused as functions and as names."""

FORBIDDEN_NODES: tuple[type[exp.Expression], ...] = tuple(
    cls
    for cls in (
        getattr(exp, name, None)
        for name in (
            "Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "AlterTable", "Command", "Copy",
            "Attach", "Detach", "Install", "Pragma", "Set", "Use", "Transaction", "Commit", "Rollback", "Into",
            "LoadData", "Export", "Analyze", "TruncateTable", "Grant", "Revoke", "Show",
        )
    )
    if isinstance(cls, type)
)

READ_ONLY_ROOTS: tuple[type[exp.Expression], ...] = tuple(
    cls for cls in (exp.Query, exp.Describe, getattr(exp, "Summarize", None), exp.Pivot) if isinstance(cls, type)
)

ALLOWED_STATEMENTS = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})
"""What DuckDB's own parser must see: one of these, once."""

_EXPLAIN = re.compile(r"^\s*explain(\s+analyze)?\s+", re.IGNORECASE)
_PLACEHOLDER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$|^[0-9]+$")
_DUCKDB_SYNTAX = re.compile(
    r'syntax error at or near "(?P<near>.*?)"\s*LINE (?P<line>\d+): (?P<shown>.*?)\n(?P<caret> *)\^', re.DOTALL
)


def _reject(what: str) -> QueryRejectedError:
    return QueryRejectedError(f"query rejected: {what}")


def _function_names(node: exp.Func) -> set[str]:
    """Every name a function node may be written as (sqlglot's canonical names and the one typed)."""
    names = {name.lower() for name in type(node).sql_names()}
    if isinstance(node, exp.Anonymous):
        names.add(str(node.name).lower())
    return names


def _denied(name: str) -> bool:
    return name in DENIED_FUNCTIONS or name.startswith(DENIED_PREFIXES)


def _in_table_position(node: exp.Expression) -> bool:
    """Is ``node`` what a FROM / JOIN / LATERAL reads (not, say, a JOIN's ON condition)?"""
    parent = node.parent
    return isinstance(parent, (exp.Table, exp.From, exp.Join, exp.Lateral)) and node.arg_key in ("this", "expressions")


def _literal_paths(node: exp.Func) -> list[str] | None:
    """The file paths a reader gets, if they are all string literals; else None."""
    this = node.args.get("this")
    if isinstance(this, exp.Expression):
        first = this
    elif node.expressions:
        first = node.expressions[0]
    else:
        return None
    items = first.expressions if isinstance(first, exp.Array) else [first]
    paths = []
    for item in items:
        if not (isinstance(item, exp.Literal) and item.is_string):
            return None
        paths.append(item.this)
    return paths


def _check_pond_path(path: str, what: str) -> None:
    if not path.startswith(POND_SCHEME + "/") or "://" in path[len(POND_SCHEME):]:
        raise _reject(f"{what} may read only {POND_SCHEME}/ paths, not {path[:200]!r}")


def _precheck(query: str) -> None:
    """Size and nesting caps, in one linear pass before any parser sees the text."""
    if len(query) > MAX_QUERY_CHARS:
        raise _reject(f"the query is {len(query)} characters long; at most {MAX_QUERY_CHARS} are allowed")
    depth = deepest = 0
    for char in query:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    if deepest > MAX_DEPTH:
        raise _reject(f"the query is nested {deepest} levels deep; at most {MAX_DEPTH} are allowed")


def syntax_error(text: str, exc: Exception) -> QueryError:
    """A one-line syntax error in the user's terms, from DuckDB's parser message."""
    message = str(exc)
    match = _DUCKDB_SYNTAX.search(message)
    if match is None:
        first = message.replace("Parser Error: ", "").strip().splitlines()[0] if message.strip() else "syntax error"
        return QueryError(first)
    line = int(match["line"])
    near = match["near"]
    column = len(match["caret"]) - len(f"LINE {line}: ") + 1
    lines = text.splitlines() or [""]
    source = lines[line - 1] if 0 < line <= len(lines) else ""
    shown = match["shown"].strip(". ")
    if shown and shown in source:  # DuckDB shows a window of long lines: place it in the real one
        column += source.index(shown) - match["shown"].index(shown)
    return QueryError(f"syntax error near '{near}' at line {line}, column {max(column, 1)}")


def _duckdb_statements(text: str, original: str | None = None) -> list[duckdb.Statement]:
    try:
        return duckdb.extract_statements(text)
    except duckdb.ParserException as exc:
        if "expression depth" in str(exc):
            raise _reject("the query's expressions are nested too deeply (DuckDB allows 1000 levels)") from None
        raise syntax_error(original or text, exc) from None
    except duckdb.Error as exc:
        raise QueryError(str(exc).splitlines()[0]) from None


def check_statement(text: str) -> duckdb.Statement:
    """The single SELECT-like statement DuckDB's own parser finds in ``text`` (else refused)."""
    statements = _duckdb_statements(text)
    if len(statements) != 1:
        raise _reject(f"exactly one statement is allowed, found {len(statements)}")
    if statements[0].type not in ALLOWED_STATEMENTS:
        raise _reject(f"{statements[0].type.name} statements are not allowed; only read-only queries")
    if statements[0].type == duckdb.StatementType.EXPLAIN:  # EXPLAIN ANALYZE runs what it explains
        match = _EXPLAIN.match(text)
        inner = _duckdb_statements(text[match.end():]) if match else []
        if len(inner) != 1 or inner[0].type != duckdb.StatementType.SELECT:
            raise _reject("EXPLAIN is allowed only of one SELECT")
    return statements[0]


def _duckdb_words(query: str) -> None:
    """Raise in DuckDB's terms for a query sqlglot could not take: a syntax error where DuckDB's
    parser fails too, a refusal naming the statement DuckDB sees (EXPORT, COPY, ...)."""
    statements = _duckdb_statements(query)
    if len(statements) != 1:
        raise _reject(f"exactly one statement is allowed, found {len(statements)}")
    if statements[0].type not in ALLOWED_STATEMENTS:
        raise _reject(f"{statements[0].type.name} is not allowed; only read-only queries")


def check_query_within(query: str, dialect: str | None, timeout: float) -> str:
    """``check_query``, given up after ``timeout`` s (QueryTimeoutError): layer 1 is linear, but a
    100 KB query still costs ~0.4 s of CPU, which on a loaded machine took 7.8 s of wall time, past
    the query's time bound. The check runs in a thread; one given up on finishes in the background."""
    box: dict[str, object] = {}

    def check() -> None:
        try:
            box["sql"] = check_query(query, dialect)
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller
            box["error"] = exc

    thread = threading.Thread(target=check, name="tinylogsql-check", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise QueryTimeoutError(f"query stopped after {timeout} s (checking it took longer)")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["sql"]  # type: ignore[return-value]


def check_query(query: str, dialect: str | None = None, table_functions: Iterable[str] = ()) -> str:
    """Return the DuckDB SQL to run, or raise QueryRejectedError (refused) / QueryError (unparsable).

    ``table_functions``: extra table functions to allow (none by default).
    """
    if not isinstance(query, str) or not query.strip():
        raise _reject("empty query")
    _precheck(query)
    read = dialect or "duckdb"
    try:
        sqlglot.Dialect.get_or_raise(read)
    except (ValueError, SqlglotError):
        raise QueryError(f"unknown SQL dialect {str(dialect)[:80]!r}") from None
    allowed_functions = ALLOWED_TABLE_FUNCTIONS | {name.lower() for name in table_functions}
    explain = ""
    match = _EXPLAIN.match(query)
    if match:
        explain = "EXPLAIN ANALYZE " if match.group(1) else "EXPLAIN "
        query = query[match.end() :]
    try:
        trees = [tree for tree in sqlglot.parse(query, read=read) if tree is not None]
    except ParseError as exc:
        if read == "duckdb":
            _duckdb_words(query)  # DuckDB's own words when it fails too, or knows the statement
        error = exc.errors[0] if exc.errors else {}
        near = str(error.get("highlight") or "").strip()[:60]
        raise QueryError(
            f"syntax error near '{near}' at line {error.get('line', 1)}, column {error.get('col', 1)}"
            if near else "syntax error: " + str(exc).splitlines()[0][:200]
        ) from None
    except RecursionError:
        raise _reject("the query is nested too deeply") from None
    except SqlglotError as exc:
        raise QueryError("cannot parse query: " + str(exc).splitlines()[0][:200]) from None
    if len(trees) != 1:
        raise _reject(f"exactly one statement is allowed, found {len(trees)}")
    tree = trees[0]
    if not isinstance(tree, READ_ONLY_ROOTS):
        if read == "duckdb":
            _duckdb_words(query)
        raise _reject(f"only read-only queries are allowed, not {tree.key.upper()}")
    ctes = {str(cte.alias).lower() for cte in tree.find_all(exp.CTE)}
    for node in tree.walk():
        _check_node(node, ctes, allowed_functions)
    try:
        text = explain + tree.sql(dialect="duckdb", copy=False)
    except RecursionError:
        raise _reject("the query is nested too deeply") from None
    return text  # the runner checks it once more with DuckDB's parser: exactly one SELECT-like statement


def _check_node(node: exp.Expression, ctes: set[str], allowed_functions: frozenset[str] | set[str]) -> None:
    if isinstance(node, FORBIDDEN_NODES):
        raise _reject(f"{node.key.upper()} is not allowed")
    if isinstance(node, (exp.Placeholder, exp.Parameter)):
        name = node.args.get("this")
        if name is not None and (not isinstance(name, (str, exp.Identifier, exp.Var, exp.Literal))
                                 or (isinstance(name, exp.Identifier) and name.quoted)
                                 or not _PLACEHOLDER_NAME.match(str(getattr(name, "this", name)))):
            raise _reject("a parameter name must be a plain identifier or a number")
    if isinstance(node, exp.Table):
        _check_table(node, ctes)
    elif isinstance(node, (exp.Describe, getattr(exp, "Summarize", exp.Describe))):
        target = node.this
        if isinstance(target, exp.Literal) and target.is_string:
            _check_pond_path(target.this, node.key.upper())
    elif isinstance(node, exp.Func):
        names = _function_names(node)
        denied = sorted(name for name in names if _denied(name))
        if denied:
            raise _reject(f"function {denied[0]}() is not allowed")
        if _in_table_position(node):
            name = str(node.name).lower() if isinstance(node, exp.Anonymous) else min(names)
            if not names & allowed_functions:
                raise _reject(f"table function {name}() is not allowed")
            reader = names & FILE_READERS
            if reader:
                paths = _literal_paths(node)
                if paths is None:
                    raise _reject(f"{min(reader)}() needs literal {POND_SCHEME}/ paths")
                for path in paths:
                    _check_pond_path(path, f"{min(reader)}()")


def _check_table(node: exp.Table, ctes: set[str]) -> None:
    """A name in FROM / JOIN: a pond view, a CTE of the query, or a literal pond path."""
    if not isinstance(node.this, exp.Identifier):
        return  # a table function or subquery: checked as its own node
    name = str(node.this.this)
    if node.args.get("db") is not None or node.args.get("catalog") is not None:
        raise _reject(f"qualified name {node.sql(dialect='duckdb')[:200]!r} is not allowed; name pond views alone")
    if any(ch in name for ch in "/\\:."):
        _check_pond_path(name, "a query")
        return
    lowered = name.lower()
    if lowered not in POND_VIEWS and lowered not in ctes:
        raise _reject(f"unknown table {name[:100]!r}; a query may read the pond's views"
                      f" ({', '.join(sorted(POND_VIEWS))}), its own CTEs and {POND_SCHEME}/ paths")
