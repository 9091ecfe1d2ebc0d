"""The first layer of the SQL sandbox: parse a user's query with sqlglot and allow only
one read-only query that reads nothing outside the pond.

The second layer is the DuckDB connection itself (external access off, configuration
locked; see ``query.Engine``). What runs is the SQL regenerated from the checked tree,
so the text DuckDB executes is the text that was checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError

from .errors import QueryError, QueryRejectedError

POND_SCHEME = "tinylogsql://"

POND_TABLE_FUNCTIONS = frozenset(
    {"oplog_at", "nodes_at", "entries_at", "paths_at", "files_at", "diff", "merge_conflicts"})
"""Table macros defined in sql/: the pond at any version."""

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
"""Table functions that read files: allowed only on literal ``tinylogsql://`` paths."""

ALLOWED_TABLE_FUNCTIONS = POND_TABLE_FUNCTIONS | FILE_READERS | frozenset({"range", "generate_series", "unnest"})
"""The allow-list: any other table function (glob, query, read_text, sniff_csv, ...) is rejected."""

DENIED_FUNCTIONS = frozenset({"getenv", "current_setting", "query", "query_table", "read_text", "read_blob"})
"""Scalar functions refused wherever they appear (they reveal or reach the host)."""

FORBIDDEN_NODES: tuple[type[exp.Expression], ...] = tuple(
    cls
    for cls in (
        getattr(exp, name, None)
        for name in (
            "Insert",
            "Update",
            "Delete",
            "Merge",
            "Create",
            "Drop",
            "Alter",
            "AlterTable",
            "Command",
            "Copy",
            "Attach",
            "Detach",
            "Install",
            "Pragma",
            "Set",
            "Use",
            "Transaction",
            "Commit",
            "Rollback",
            "Into",
            "LoadData",
            "Export",
            "Analyze",
            "TruncateTable",
            "Grant",
            "Revoke",
        )
    )
    if isinstance(cls, type)
)

READ_ONLY_ROOTS: tuple[type[exp.Expression], ...] = tuple(
    cls for cls in (exp.Query, exp.Describe, getattr(exp, "Summarize", None), exp.Pivot) if isinstance(cls, type)
)

_EXPLAIN = re.compile(r"^\s*explain(\s+analyze)?\s+", re.IGNORECASE)
_LEADING_NAME = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def _reject(what: str) -> QueryRejectedError:
    return QueryRejectedError(f"query rejected: {what}")


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    match = _LEADING_NAME.match(node.sql(dialect="duckdb"))
    return match.group(1).lower() if match else node.sql_name().lower()


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


def check_query(query: str, dialect: str | None, table_functions: Iterable[str], version: int) -> str:
    """Return the DuckDB SQL to run, or raise QueryRejectedError (refused) / QueryError (unparsable).

    Pond file paths (``tinylogsql:///data/x.csv``) are pinned to ``version`` in what runs.
    """
    if not isinstance(query, str) or not query.strip():
        raise _reject("empty query")
    known_table_functions = {name.lower() for name in table_functions}
    explain = ""
    match = _EXPLAIN.match(query)
    if match:
        explain = "EXPLAIN ANALYZE " if match.group(1) else "EXPLAIN "
        query = query[match.end() :]
    try:
        trees = [tree for tree in sqlglot.parse(query, read=dialect or "duckdb") if tree is not None]
    except ParseError as exc:
        raise QueryError(f"cannot parse query: {exc}") from exc
    except SqlglotError as exc:
        raise QueryError(f"cannot parse query: {exc}") from exc
    if len(trees) != 1:
        raise _reject(f"exactly one statement is allowed, found {len(trees)}")
    tree = trees[0]
    if not isinstance(tree, READ_ONLY_ROOTS):
        raise _reject(f"only read-only queries are allowed, not {tree.key.upper()}")
    pond_paths: list[str] = []  # only to know whether pinning is needed
    for node in tree.walk():
        if isinstance(node, FORBIDDEN_NODES):
            raise _reject(f"{node.key.upper()} is not allowed")
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
            name = node.name
            if any(ch in name for ch in "/\\:.") or "." in node.this.this:
                if not name.startswith(POND_SCHEME):
                    raise _reject(f"reading the file {name!r} is not allowed; only {POND_SCHEME} paths")
                pond_paths.append(name)
        if isinstance(node, exp.Func):
            name = _function_name(node)
            if name in DENIED_FUNCTIONS:
                raise _reject(f"function {name}() is not allowed")
            if name in known_table_functions or _in_table_position(node):
                if name not in ALLOWED_TABLE_FUNCTIONS:
                    raise _reject(f"table function {name}() is not allowed")
                if name in FILE_READERS:
                    paths = _literal_paths(node)
                    if paths is None:
                        raise _reject(f"{name}() needs literal {POND_SCHEME} paths")
                    for path in paths:
                        if not path.startswith(POND_SCHEME):
                            raise _reject(f"{name}() may read only {POND_SCHEME} paths, not {path!r}")
                    pond_paths.extend(paths)
    if pond_paths:
        tree = tree.transform(lambda node: _pin(node, version))
    return explain + tree.sql(dialect="duckdb")


def pin_path(path: str, version: int) -> str:
    """``tinylogsql:///data/x.csv`` -> ``tinylogsql:///@v<version>/data/x.csv``: read at that version."""
    return f"{POND_SCHEME}/@v{version}/" + path[len(POND_SCHEME) :].lstrip("/")


def _pin(node: exp.Expression, version: int) -> exp.Expression:
    if isinstance(node, exp.Literal) and node.is_string and node.this.startswith(POND_SCHEME):
        return exp.Literal.string(pin_path(node.this, version))
    if isinstance(node, exp.Identifier) and str(node.this).startswith(POND_SCHEME):
        return exp.Identifier(this=pin_path(str(node.this), version), quoted=True)
    return node
