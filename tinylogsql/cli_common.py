"""What every ``tinylogsql`` command shares: the options after the subcommand, opening the pond on
the chosen branch and revision, one commit per command, glob expansion, and printing (rich tables,
JSON, progress bars). The commands live in cli.py and the cli_*.py modules, one concern each.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.tree import Tree

from . import history as past
from .display import human_size, plural, when
from .errors import PathNotFoundError
from .pond import Pond

console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
"""Tables keep one line per row when piped (rich would wrap them at 80 columns)."""
err_console = Console(stderr=True, highlight=False)
F = TypeVar("F", bound=Callable[..., Any])

PROGRESS_FILES = 20
PROGRESS_BYTES = 16 << 20
"""``put`` shows a progress bar from this many files or bytes on (or with ``--progress``)."""


# -- shared options ---------------------------------------------------------------------
def _branch_after(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """-b/--branch given after the subcommand wins over the one before it (as --pond does)."""
    if value is not None:
        root = ctx.find_root()
        root.obj = {**(root.obj or {}), "branch": value}


def pond_option(fn: F) -> F:
    """--pond, -b/--branch and --debug after the subcommand (also accepted before it, on the group)."""
    fn = click.option("--debug", is_flag=True, hidden=True, help="Show full tracebacks on errors.")(fn)
    fn = click.option("-b", "--branch", "branch_after", default=None, metavar="NAME", expose_value=False,
                      callback=_branch_after,
                      help="The branch to read and write (default: $TINYLOGSQL_BRANCH, then main); "
                           "also accepted before the command.")(fn)
    return click.option(
        "--pond", "pond_path", default=None, metavar="PATH",
        help="The pond to use (default: $TINYLOGSQL_POND, then ./pond); also accepted before the command.",
    )(fn)


def at_option(fn: F) -> F:
    return click.option("--at", "at", default=None, metavar="REV",
                        help="Read the pond as of a revision: a version number, ISO time (UTC), branch, tag "
                             "or NAME~N.")(fn)


def write_options(fn: F) -> F:
    """-m/--message and --author, on every command that commits."""
    fn = click.option("--author", default=None, metavar="NAME",
                      help="Author of the commit (default: $TINYLOGSQL_AUTHOR, then the OS user).")(fn)
    return click.option("-m", "--message", default=None, metavar="TEXT", help="Commit message.")(fn)


def json_option(fn: F) -> F:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print one JSON document (field names as in the Python API).")(fn)


def location(pond_path: str | None) -> str:
    """The pond named after the subcommand, else before it (which defaults to $TINYLOGSQL_POND, ./pond)."""
    if pond_path is not None:
        return pond_path
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    return (root.obj or {}).get("pond", "./pond") if root is not None else "./pond"


def current_branch() -> str:
    """The branch given by the global --branch/-b (default: $TINYLOGSQL_BRANCH, then main)."""
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    return (root.obj or {}).get("branch", "main") if root is not None else "main"


def revision(text: str) -> Any:
    """A revision for ``pond.at``: a version number, an ISO time, else a branch, tag or ``name~N``."""
    try:
        return past.parse_version(text)
    except ValueError:
        return text


def open_pond(pond_path: str | None, at: str | None = None, author: str | None = None) -> Pond:
    """The pond on the current branch, live or read-only at revision ``at``."""
    pond = Pond.open(location(pond_path), branch=current_branch(), author=author)
    if at is None:
        return pond
    return pond.at(revision(at))


COMMITTED: list[int] = []
"""Versions this process committed: an error after a commit must say that the commit landed."""


@contextmanager
def one_commit(pond: Pond, message: str, author: str | None) -> Iterator[Any]:
    """All the command's ops in one commit; the version is noted for ``main`` when one was made."""
    with pond.transaction(message=message, author=author) as tx:
        yield tx
    if tx.ops and tx.committed_version is not None:
        COMMITTED.append(tx.committed_version)


GLOB_CHARS = frozenset("*?[")


def expand(pond: Pond, paths: tuple[str, ...] | list[str]) -> list[str]:
    """Pond paths with globs (``*``, ``?``, ``[..]``, ``**``) expanded inside the pond to full paths,
    sorted, as a shell would; a glob matching nothing is an error (bash's failglob)."""
    out: list[str] = []
    for path in paths:
        if GLOB_CHARS & set(path):
            found = pond.root.glob(path if path.startswith("/") else "/" + path)
            if not found:
                raise PathNotFoundError(path, "no match")
            out.extend(found)
        else:
            out.append(path)
    return out


def plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return when(value)
    return str(value)


def jsonable(value: Any) -> Any:
    if hasattr(value, "_asdict"):
        return {k: jsonable(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def emit_json(value: Any) -> None:
    """One JSON document on stdout."""
    click.echo(json.dumps(jsonable(value), indent=2, default=str))


def rich_table(columns: list[str], rows: list[list[Any]], title: str | None = None) -> Table:
    table = Table(title=title, show_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(escape(plain(value)) for value in row))
    return table


def relation_table(relation) -> Table:  # type: ignore[no-untyped-def]
    return rich_table(list(relation.columns), [list(r) for r in relation.fetchall()])


def tree_of(pond: Pond, top: str = "/") -> Tree:
    start = pond.root.open_dir_path(top)
    if start.path == "/":
        tree = Tree(f"[bold]{escape(pond.uri)}[/] (version {pond.version})")
    else:
        tree = Tree(f"[bold blue]{escape(start.path)}/[/]")

    def add(branch: Tree, directory: Any) -> None:
        for info in directory.listing():
            name = escape(info.name)
            if info.kind == "symlink":
                branch.add(f"[cyan]{name}[/] -> {escape(info.target or '')}")
            elif info.kind == "dir":
                add(branch.add(f"[bold blue]{name}/[/]"), pond.root.open_dir_path(info.path))
            else:
                branch.add(f"{name} ({human_size(info.size)})")

    add(tree, start)
    return tree


@contextmanager
def progress_bar(show: bool, verb: str, files: int, total: int) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr (when ``show``); yields ``advance(nbytes)``."""
    if not show:
        yield lambda size: None
        return
    columns = (TextColumn(f"[bold]{verb}[/] {{task.description}}"), BarColumn(), DownloadColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=False) as bar:
        task = bar.add_task(plural(files, "file"), total=total)
        yield lambda size: bar.advance(task, size)
        bar.update(task, completed=total, description=f"{plural(files, 'file')}, done")  # unchanged ones too


def show_progress(flag: bool | None, files: int, total: int) -> bool:
    if flag is not None:
        return flag
    return err_console.is_terminal and (files >= PROGRESS_FILES or total >= PROGRESS_BYTES)
