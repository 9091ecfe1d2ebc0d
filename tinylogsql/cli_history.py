"""The read commands over history of the ``tinylogsql`` CLI: ``log``, ``history``, ``diff`` and ``sql``
(the work is ``history.py``'s, ``patch.py``'s and the SQL sandbox's)."""

from __future__ import annotations

import csv
import io
import json
import posixpath
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from . import history as past
from .cli_common import (
    F,
    at_option,
    console,
    emit_json,
    json_option,
    open_pond,
    pond_option,
    relation_table,
    revision,
    rich_table,
)
from .display import human_size, plural
from .errors import PathNotFoundError
from .pond import Pond


def register(cli: click.Group) -> None:
    """Add log, history, diff and sql to the command group."""
    for command in (log, history, diff, sql):
        cli.add_command(command)


# -- history ----------------------------------------------------------------------------
def reverse_option(fn: F) -> F:
    return click.option("--reverse", is_flag=True, help="Oldest first (the default is newest first).")(fn)


@click.command()
@click.argument("path", required=False)
@click.option("-n", "--limit", type=int, default=None, help="Show only the last N commits.")
@reverse_option
@json_option
@pond_option
@at_option
def log(path: str | None, limit: int | None, reverse: bool, as_json: bool, pond_path: str | None, at: str | None,
        debug: bool) -> None:
    """List commits, newest first: version, time, author, message and op counts. With PATH, only the
    commits that touched PATH or anything below it (following nodes through moves).

    Example: tinylogsql log /data -n 10 --json
    """
    with open_pond(pond_path, at) as pond:
        if path is None:
            found = past.commits(pond, limit)
        else:
            touched = {op.version for op in past.path_history(pond, path, recursive=True)}
            if not touched:
                raise PathNotFoundError(path, "no commit touched it")
            found = [c for c in past.commits(pond) if c.version in touched][:limit]
        if reverse:
            found.reverse()
        if as_json:
            emit_json(found)
            return
        merged = {version: f" (merged {source}@{upto})" for target, source, upto, version in pond._refs().merges
                  if target == pond.branch}
        rows = [[c.version, c.branch, c.time, c.author, c.message + merged.get(c.version, ""), c.creates, c.writes,
                 c.moves, c.removes, human_size(c.bytes_written)] for c in found]
        if path is None and limit is None:  # where branches forked off this one (or it off its parent)
            shown = [c.version for c in found]
            for ref in pond._refs().branches.values():
                if pond.branch in (ref.name, ref.parent) and (not shown or ref.created_version >= min(shown)):
                    rows.append([ref.created_version, ref.name, ref.created, "", f"branch {ref.name} from "
                                 f"{ref.parent}@{ref.fork}", "", "", "", "", ""])
            rows.sort(key=lambda row: row[0], reverse=not reverse)
        console.print(rich_table(["version", "branch", "time (UTC)", "author", "message", "create", "write",
                                   "move", "remove", "bytes"], rows))


@click.command()
@click.argument("path")
@click.option("-r", "--recursive", is_flag=True, help="Also ops on everything below PATH.")
@reverse_option
@json_option
@pond_option
@at_option
def history(path: str, recursive: bool, reverse: bool, as_json: bool, pond_path: str | None, at: str | None,
            debug: bool) -> None:
    """Every op on PATH, newest first, following the node through moves.

    Example: tinylogsql history /data/readings.csv --reverse
    """
    with open_pond(pond_path, at) as pond:
        ops = past.path_history(pond, path, recursive=recursive)
        if not ops:
            raise PathNotFoundError(path, "no op in its history")
        if not reverse:
            ops.reverse()
        if as_json:
            emit_json(ops)
            return
        rows = [[o.version, o.time, o.op, o.kind,
                 f"{o.from_path} -> {o.path}" if o.from_path else o.path,
                 o.size, o.author, o.message] for o in ops]
        console.print(rich_table(["version", "time (UTC)", "op", "kind", "path", "size", "author", "message"], rows))


def _under(path: str | None, top: str) -> bool:
    return path is not None and (top == "/" or path == top or path.startswith(top + "/"))


@click.command()
@click.argument("args", nargs=-1, required=True, metavar="V1 [V2] [PATH]")
@click.option("-p", "--patch", is_flag=True, help="Show a unified diff of each text file (binary files: named).")
@click.option("--stat", "show_stat", is_flag=True, help="Show lines added/removed per file and a total.")
@click.option("--exit-code", is_flag=True, help="Exit 1 when anything differs (as git diff --exit-code).")
@json_option
@pond_option
def diff(args: tuple[str, ...], patch: bool, show_stat: bool, exit_code: bool, as_json: bool,
         pond_path: str | None, debug: bool) -> None:
    """What changed from version V1 to V2 (default: the newest), below PATH if given: added, removed,
    modified, moved, type-changed.

    Example: tinylogsql diff 3 7 /data -p
    """
    from .patch import patches

    if len(args) > 3:
        raise click.UsageError("diff takes V1 [V2] [PATH]")
    v1, rest = args[0], list(args[1:])
    v2 = None
    marks = {"added": "+", "removed": "-", "modified": "M", "moved": "R", "type-changed": "T"}
    with open_pond(pond_path) as pond:
        if rest and not rest[0].startswith("/") and (len(rest) == 2 or _is_version(rest[0], pond)):
            v2 = rest.pop(0)
        path = posixpath.normpath("/" + rest[0].lstrip("/")) if rest else "/"
        old = pond.at(revision(v1))
        new = pond.at(revision(v2)) if v2 is not None else pond.at(pond.version)
        changes = [c for c in past.diff(old, new) if _under(c.path, path) or _under(c.old_path, path)]
        file_patches = patches(old, new, changes) if patch or show_stat else []
        if as_json:
            emit_json(changes)
        elif show_stat:
            for fp in file_patches:
                counts = (f"Bin {fp.old_size} -> {fp.new_size} bytes" if fp.binary
                          else f"{fp.added + fp.removed:>4} {'+' * min(fp.added, 40)}{'-' * min(fp.removed, 40)}")
                click.echo(f" {fp.path} | {counts}")
            added = sum(fp.added for fp in file_patches)
            removed = sum(fp.removed for fp in file_patches)
            click.echo(f" {plural(len(file_patches), 'file')} changed, {plural(added, 'insertion')}(+), "
                       f"{plural(removed, 'deletion')}(-)")
        else:
            by_path: dict[str, list[str]] = {}
            for fp in file_patches:
                by_path.setdefault(fp.path, []).append(fp.text)
            for change in changes:
                if change.change == "moved":
                    line = f"{change.old_path} -> {change.path}"
                elif change.change == "type-changed":
                    line = f"{change.path} ({change.old_kind} -> {change.kind})"
                else:
                    line = change.path + ("/" if change.kind == "dir" else "")
                click.echo(f"{marks[change.change]} {change.change:<12} {line}")
                for text in by_path.pop(change.path, []) if change.change != "moved" else []:
                    click.echo(text, nl=False)
    if exit_code and changes:
        sys.exit(1)


def _is_version(text: str, pond: Pond) -> bool:
    """Is ``text`` a revision (version, time, branch, tag, NAME~N) rather than a path?"""
    try:
        past.parse_version(text)
        return True
    except ValueError:
        refs = pond._refs()
        name = text.split("~", 1)[0]
        return refs.exists(name) or name in refs.tags


@click.command()
@click.argument("query", required=False)
@click.option("-f", "--file", "query_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Read the query from FILE.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "parquet"]), default="table",
              show_default=True, help="Output format (parquet needs --output).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to FILE instead of stdout.")
@pond_option
@at_option
def sql(query: str | None, query_file: Path | None, fmt: str, output: Path | None, pond_path: str | None,
        at: str | None, debug: bool) -> None:
    """Run one read-only SQL query over the pond's views (oplog, nodes, entries, paths, ...).

    QUERY "-" reads it from stdin; --file reads it from a file.

    Example: tinylogsql sql "select path from paths order by path" --format csv
    """
    if (query is None) == (query_file is None):
        raise click.UsageError("give exactly one of QUERY, - (stdin) or --file FILE")
    if query_file is not None:
        query = query_file.read_text(encoding="utf-8")
    elif query == "-":
        query = sys.stdin.read()
    assert query is not None
    if fmt == "parquet" and output is None:
        raise click.UsageError("--format parquet needs --output FILE")
    with open_pond(pond_path, at) as pond:
        relation = pond.sql(query)
        if fmt == "table":
            if output is not None:
                with output.open("w", encoding="utf-8") as handle:
                    Console(file=handle, width=200).print(relation_table(relation))
            else:
                console.print(relation_table(relation))
            return
        table = relation.to_arrow_table()
        if fmt == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, output)
            return
        columns = table.column_names
        rows = table.to_pylist()
        text = io.StringIO()
        if fmt == "csv":
            writer = csv.writer(text, lineterminator="\n")
            writer.writerow(columns)
            writer.writerows([[_csv_value(row[c]) for c in columns] for row in rows])
        else:
            json.dump(rows, text, default=_json_value, indent=None)
            text.write("\n")
        if output is not None:
            output.write_text(text.getvalue(), encoding="utf-8")
        else:
            click.echo(text.getvalue(), nl=False)


def _csv_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return "" if value is None else value


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
