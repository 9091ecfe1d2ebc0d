"""The ``tinylogsql`` command line: a mirror of the Python API for shells and scripts.

Global options go before or after the command: ``--pond PATH`` (default: ``$TINYLOGSQL_POND``,
then ``./pond``) and ``--debug``; read commands take ``--at VERSION`` (a version number or an ISO
time). Every writing command makes one commit and takes ``-m/--message`` and ``--author``. Pond
paths in ls/cat/rm/get/stat accept globs, matched inside the pond. The work is done by the
library (``Pond``/``Directory``, ``tinylogsql.export``, ``tinylogsql.sync``, ``tinylogsql.history``,
``tinylogsql.patch``); this module parses arguments and prints. Errors are one line on stderr
and exit 1 (``--debug`` shows the traceback); an error after the command's commit landed is a
warning naming the version, and exit 0.
"""

from __future__ import annotations

import csv
import io
import json
import os
import posixpath
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import click
import duckdb
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.tree import Tree

from . import __version__, sqlworker
from . import export as transfer
from . import history as past
from .display import human_size, plural, when
from .errors import NotADirError, PathNotFoundError, PondError, PondExistsError
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


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return when(value)
    return str(value)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "_asdict"):
        return {k: _jsonable(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def emit_json(value: Any) -> None:
    """One JSON document on stdout."""
    click.echo(json.dumps(_jsonable(value), indent=2, default=str))


def _rich_table(columns: list[str], rows: list[list[Any]], title: str | None = None) -> Table:
    table = Table(title=title, show_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(escape(_plain(value)) for value in row))
    return table


def _table(relation) -> Table:  # type: ignore[no-untyped-def]
    return _rich_table(list(relation.columns), [list(r) for r in relation.fetchall()])


def _tree(pond: Pond, top: str = "/") -> Tree:
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


def _show_progress(flag: bool | None, files: int, total: int) -> bool:
    if flag is not None:
        return flag
    return err_console.is_terminal and (files >= PROGRESS_FILES or total >= PROGRESS_BYTES)


# -- the group ------------------------------------------------------------------------
class AfterCommitError(Exception):
    """Internal: an error raised once the command's commit had landed (see ``main``)."""


class Commands(click.Group):
    """click turns a broken stdout pipe into a bare exit 1; after a commit that would report a
    failure for a change that landed, so such an error is handed to ``main`` instead."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:
            if COMMITTED:
                raise AfterCommitError(str(exc) or "broken pipe") from exc
            raise


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="tinylogsql", message="%(version)s")
@click.option("--pond", "pond_path", envvar="TINYLOGSQL_POND", default="./pond", show_default=True,
              metavar="PATH", help="The pond to use (env TINYLOGSQL_POND); also accepted after the command.")
@click.option("-b", "--branch", "branch", envvar="TINYLOGSQL_BRANCH", default="main", show_default=True,
              metavar="NAME", help="The branch to read and write (env TINYLOGSQL_BRANCH).")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors (before or after the command).")
@click.pass_context
def cli(ctx: click.Context, pond_path: str, branch: str, debug: bool) -> None:
    """tinylogsql: a versioned, SQL-queryable filesystem in a Delta Lake op log.

    Global options go before or after the command: --pond PATH (default: $TINYLOGSQL_POND,
    then ./pond) and --debug. Commands that write take -m/--message and --author
    (default: $TINYLOGSQL_AUTHOR, then the OS user) and make exactly one commit.

    Example: tinylogsql --pond ./pond ls -l /data
    """
    ctx.obj = {"debug": debug, "pond": pond_path, "branch": branch}


@cli.command()
def version() -> None:
    """Print the tinylogsql version (also: tinylogsql --version).

    Example: tinylogsql version
    """
    click.echo(__version__)


@cli.command()
@click.argument("path", default="./demo-pond")
def demo(path: str) -> None:
    """Create a pond at PATH (or reuse it), write files over several commits, show the tree and history.

    Example: tinylogsql demo ./demo-pond
    """
    try:
        pond = Pond.create(path, author="demo")
        console.print(f"created pond at [bold]{pond.uri}[/]")
    except PondExistsError:
        pond = Pond.open(path, author="demo")
        console.print(f"reusing pond at [bold]{pond.uri}[/] (version {pond.version})")
    with pond:
        run = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        root = pond.root
        data = root.create_dir_path("/data", exist_ok=True)
        with pond.transaction(message=f"import run {run}", author="etl"):
            runs = data.create_dir_path(f"run-{run}")
            runs.create_file_path("readings.csv", "sensor,value\na,1.5\nb,2.25\n")
            runs.create_file_path("notes.txt", "first import\n")
        root.write_file_path(f"/data/run-{run}/notes.txt", "first import, checked\n")
        root.create_dir_path("/config", exist_ok=True)
        root.write_file_path("/config/settings.toml", f'last_run = "{run}"\n')
        if root.get("/latest") is not None:
            root.remove("/latest")
        root.create_symlink_path("/latest", f"/data/run-{run}")
        console.print(_tree(pond))
        history = pond.sql(
            "SELECT o.version, o.ts, o.op, p.path, o.author, o.message "
            "FROM oplog o LEFT JOIN paths p USING (node_id) "
            "WHERE o.version > 0 ORDER BY o.version DESC, o.seq DESC LIMIT 12"
        )
        console.print(_table(history))


# -- creating and browsing -----------------------------------------------------------------
@cli.command()
@click.option("--author", default=None, metavar="NAME", help="Author of the first commit (version 0).")
@pond_option
def init(author: str | None, pond_path: str | None, debug: bool) -> None:
    """Create a new, empty pond (fails if one is already there).

    Example: tinylogsql init --pond ./pond
    """
    with Pond.create(location(pond_path), author=author) as pond:
        COMMITTED.append(pond.version)
        click.echo(f"created pond at {pond.uri} (version {pond.version})")


@cli.command()
@click.argument("paths", nargs=-1)
@click.option("-l", "long", is_flag=True, help="Long listing: kind, size, modified time, version.")
@json_option
@pond_option
@at_option
def ls(paths: tuple[str, ...], long: bool, as_json: bool, pond_path: str | None, at: str | None,
       debug: bool) -> None:
    """List directories (default "/"); a file lists itself. Globs are matched inside the pond.

    --json prints one array of entries (the fields of Directory.listing()).

    Example: tinylogsql ls -l /data --at 3
    """
    with open_pond(pond_path, at) as pond:
        targets = expand(pond, paths or ("/",))
        listed: list[Any] = []
        for index, path in enumerate(targets):
            node = pond.root.get(path)
            if node is None:
                raise PathNotFoundError(path)
            listing = transfer.is_dir(pond, path)
            entries = pond.root.open_dir_path(path).listing() if listing else [node.stat()]
            if as_json:
                listed.extend(entries)
                continue
            if len(targets) > 1 and listing:
                click.echo(("\n" if index else "") + f"{path}:")
            for info in entries:
                shown = (info.name if listing else path) + ("/" if info.kind == "dir" else "")
                if info.kind == "symlink":
                    shown += f" -> {info.target}"
                if long:
                    size = "" if info.size is None else str(info.size)
                    version = "" if info.version is None else str(info.version)
                    click.echo(f"{info.kind:<7} {size:>10}  {when(info.modified):<19}  v{version:<5} {shown}")
                else:
                    click.echo(shown)
        if as_json:
            emit_json(listed)


@cli.command()
@click.argument("path", default="/")
@pond_option
@at_option
def tree(path: str, pond_path: str | None, at: str | None, debug: bool) -> None:
    """Show the tree below PATH (default "/"), with file sizes and symlink targets.

    Example: tinylogsql tree /data
    """
    with open_pond(pond_path, at) as pond:
        console.print(_tree(pond, path))


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@pond_option
@at_option
def cat(paths: tuple[str, ...], pond_path: str | None, at: str | None, debug: bool) -> None:
    """Write the content of files to stdout (following symlinks). Globs are matched inside the pond.

    Example: tinylogsql cat '/data/*.csv' --at 2
    """
    with open_pond(pond_path, at) as pond:
        out = sys.stdout.buffer
        for path in expand(pond, paths):
            out.write(pond.root.read_file_path(path))
        out.flush()


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@json_option
@pond_option
@at_option
def stat(paths: tuple[str, ...], as_json: bool, pond_path: str | None, at: str | None, debug: bool) -> None:
    """Show a node's facts: kind, size, sha256, target, node id, times, version. Globs are matched in the pond.

    --json prints one object (the fields of Node.stat()), or an array of them for several paths or a glob.

    Example: tinylogsql stat /data/readings.csv --json
    """
    with open_pond(pond_path, at) as pond:
        infos = []
        for path in expand(pond, paths):
            node = pond.root.get(path)
            if node is None:
                pond.root.read_file_path(path)  # raises the precise not-found / not-a-directory error
                raise PathNotFoundError(path)
            infos.append(node.stat())
        if as_json:
            single = len(paths) == 1 and not GLOB_CHARS & set(paths[0])
            emit_json(infos[0] if single else infos)
            return
        for index, info in enumerate(infos):
            if index:
                click.echo()
            for key, value in info._asdict().items():
                if value is not None:
                    click.echo(f"{key + ':':<10} {_plain(value)}")


# -- changing -------------------------------------------------------------------------
@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("-p", "--parents", is_flag=True, help="Create missing parents; no error if it exists.")
@write_options
@pond_option
def mkdir(paths: tuple[str, ...], parents: bool, message: str | None, author: str | None, pond_path: str | None,
          debug: bool) -> None:
    """Create directories (all in one commit).

    Example: tinylogsql mkdir -p /data/2024/raw /archive -m "layout"
    """
    with open_pond(pond_path) as pond, one_commit(pond, message or f"mkdir {' '.join(paths)}", author):
        for path in paths:
            pond.root.create_dir_path(path, parents=parents, exist_ok=parents)


@cli.command()
@click.option("-s", "--symbolic", is_flag=True, help="Make a symbolic link (the only kind a pond has).")
@click.argument("target")
@click.argument("link")
@write_options
@pond_option
def ln(symbolic: bool, target: str, link: str, message: str | None, author: str | None, pond_path: str | None,
       debug: bool) -> None:
    """Create a symbolic link LINK pointing to TARGET (stored as given, resolved when followed).

    Example: tinylogsql ln -s /data/2024 /latest -m "point latest at 2024"
    """
    if not symbolic:
        raise click.UsageError("a pond has only symbolic links: use ln -s TARGET LINK")
    with open_pond(pond_path) as pond, one_commit(pond, message or f"ln -s {target} {link}", author):
        pond.root.create_symlink_path(link, target)


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("-r", "-R", "--recursive", is_flag=True, help="Remove directories and their contents.")
@write_options
@pond_option
def rm(paths: tuple[str, ...], recursive: bool, message: str | None, author: str | None, pond_path: str | None,
       debug: bool) -> None:
    """Remove files, symlinks and (with -r) directories, all in one commit. Globs are matched in the pond.

    Example: tinylogsql rm -r /tmp-data '/logs/*.tmp' -m "clean up"
    """
    with open_pond(pond_path) as pond:
        targets = expand(pond, paths)
        with one_commit(pond, message or f"rm {' '.join(paths)}", author):
            for path in targets:
                pond.root.remove(path, recursive=recursive)


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@write_options
@pond_option
def mv(paths: tuple[str, ...], message: str | None, author: str | None, pond_path: str | None, debug: bool) -> None:
    """Move or rename SRC to DEST, or SRC... into the directory DEST; one commit, nodes keep their history.

    DEST is a directory to move into when it is one; several sources need an existing directory,
    and a DEST ending in "/" must be an existing directory (never a rename).

    Example: tinylogsql mv /data/a.csv /data/b.csv /archive/ -m "archive"
    """
    if len(paths) < 2:
        raise click.UsageError("mv needs SRC... DEST")
    *sources, dest = paths
    with open_pond(pond_path) as pond:
        if (len(sources) > 1 or dest.endswith("/")) and not transfer.is_dir(pond, dest):
            raise NotADirError(dest, "mv into a directory that does not exist")
        with one_commit(pond, message or f"mv {' '.join(paths)}", author):
            for source in sources:
                transfer.move(pond, source, dest)


@cli.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True))
@click.argument("dest")
@write_options
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar (default: for many or large files, on a terminal).")
@pond_option
def put(sources: tuple[str, ...], dest: str, message: str | None, author: str | None, progress: bool | None,
        pond_path: str | None, debug: bool) -> None:
    """Copy local files and folders into the pond, all in one commit (like cp -r).

    DEST is a directory to copy into if it is one, ends in "/", or several sources are given.
    A folder given with a trailing slash ("dir/") has its contents copied into DEST (as rsync).
    Files whose content is already there (same sha256) are left alone; nothing new, no commit.

    Example: tinylogsql put ./exports/*.csv ./docs /data/ -m "nightly import"
    """
    with open_pond(pond_path) as pond:
        items = transfer.plan_put(pond, sources, dest)
        files = [item for item in items if item.kind == "file"]
        total = sum(item.size for item in files)
        names = ", ".join(Path(s).name for s in sources)
        message = message or f"put {names} -> {dest}"
        before = pond.version
        unchanged: list[str] = []
        with progress_bar(_show_progress(progress, len(files), total), "put", len(files), total) as advance:
            version = transfer.put(pond, items, message, on_file=lambda item: advance(item.size), author=author,
                                   unchanged=unchanged)
        if version != before:
            COMMITTED.append(version)
        left = set(unchanged)
        copied = [item for item in files if item.dest not in left]
        same = f", {len(left)} unchanged" if left else ""
        if version == before:
            click.echo(f"nothing to change: {plural(len(files), 'file')} already there (still version {version})")
        else:
            size = human_size(sum(item.size for item in copied))
            click.echo(f"put {plural(len(copied), 'file')} ({size}){same} as version {version}")


@cli.command()
@click.argument("local_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("pond_dir")
@write_options
@click.option("--delete", is_flag=True, help="Remove pond entries that are missing locally.")
@click.option("--dry-run", is_flag=True, help="Show what would change; commit nothing.")
@json_option
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar (default: for many or large files, on a terminal).")
@pond_option
def sync(local_dir: Path, pond_dir: str, message: str | None, author: str | None, delete: bool, dry_run: bool,
         as_json: bool, progress: bool | None, pond_path: str | None, debug: bool) -> None:
    """Mirror LOCAL_DIR into POND_DIR in one commit: new files created, changed ones (sha256) written,
    unchanged ones left alone; with --delete, pond entries missing locally removed. No change, no commit.

    Example: tinylogsql sync ./exports /data/exports --delete -m "nightly"
    """
    from .sync import plan_size

    with open_pond(pond_path) as pond:
        wanted = not dry_run and progress is not False and (progress or err_console.is_terminal)
        files, total = plan_size(local_dir) if wanted else (0, 0)  # one extra walk, only for a bar
        show = wanted and _show_progress(progress, files, total)
        with progress_bar(show, "sync", files, total) as advance:
            report = pond.sync(local_dir, pond_dir, delete=delete, dry_run=dry_run, message=message, author=author,
                               on_file=lambda path, size: advance(size))
        if report.committed:
            COMMITTED.append(report.version)
        if as_json:
            emit_json(report.to_dict())
            return
        if dry_run:
            for mark, paths in (("+", report.created), ("M", report.written), ("-", report.removed)):
                for path in paths:
                    click.echo(f"{mark} {path}")
        click.echo(report.summary())


@cli.command()
@click.argument("sources", nargs=-1, required=True)
@click.argument("local", type=click.Path(path_type=Path))
@pond_option
@at_option
def get(sources: tuple[str, ...], local: Path, pond_path: str | None, at: str | None, debug: bool) -> None:
    """Copy pond files or folders to the local filesystem (into LOCAL if it is a folder). Globs are matched
    in the pond; several sources need LOCAL to be an existing folder.

    Example: tinylogsql get /data/readings.csv ./readings.csv --at 4
    """
    with open_pond(pond_path, at) as pond:
        targets = expand(pond, sources)
        if len(targets) > 1 and not local.is_dir():
            raise NotADirError(str(local), "several sources need an existing local folder")
        written: list[Path] = []
        for src in targets:
            written.extend(transfer.get(pond, src, local))
        click.echo(f"wrote {plural(len(written), 'path')} under {local}" if len(written) > 1 else f"wrote {written[0]}")


@cli.command(name="export")
@click.argument("local_dir", type=click.Path(path_type=Path))
@pond_option
@at_option
def export_cmd(local_dir: Path, pond_path: str | None, at: str | None, debug: bool) -> None:
    """Write the whole tree (at --at VERSION) into an empty or new local folder.

    Example: tinylogsql export --at 12 ./snapshot-12
    """
    with open_pond(pond_path, at) as pond:
        written = transfer.export(pond, local_dir)
        click.echo(f"exported version {pond.version}: {plural(len(written), 'path')} into {local_dir}")


# -- history ----------------------------------------------------------------------------
def reverse_option(fn: F) -> F:
    return click.option("--reverse", is_flag=True, help="Oldest first (the default is newest first).")(fn)


@cli.command()
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
        console.print(_rich_table(["version", "branch", "time (UTC)", "author", "message", "create", "write",
                                   "move", "remove", "bytes"], rows))


@cli.command()
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
        console.print(_rich_table(["version", "time (UTC)", "op", "kind", "path", "size", "author", "message"], rows))


def _under(path: str | None, top: str) -> bool:
    return path is not None and (top == "/" or path == top or path.startswith(top + "/"))


@cli.command()
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


@cli.command()
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
                    Console(file=handle, width=200).print(_table(relation))
            else:
                console.print(_table(relation))
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


# -- checking ----------------------------------------------------------------------------
@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pond_option
def check(as_json: bool, pond_path: str | None, debug: bool) -> None:
    """Verify the pond: log invariants, views against a replay of the log, every blob's sha256;
    list files a crash left behind (remove them with `maintain`). Exits 1 if anything is broken.

    Example: tinylogsql check --pond ./pond
    """
    from .check import check_path

    report = check_path(location(pond_path))
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        click.echo(report.summary())
        for problem in report.problems:
            click.echo(f"problem: [{problem.code}] {problem.message}")
        for orphan in report.orphans:
            click.echo(f"orphan: {orphan.kind} {orphan.path} ({orphan.size} B)")
    if not report.ok:
        sys.exit(1)


@cli.command()
@click.option("--retention-hours", type=float, default=None, metavar="HOURS",
              help="Keep old data files, stray chunks and blobs younger than this (default: 168, a week).")
@click.option("--no-zorder", is_flag=True, help="Compact without z-ordering by parent directory.")
@click.option("--unsafe", is_flag=True,
              help="Allow a retention below 1 hour: only for a pond with no other writers or maintainers.")
@click.option("--dry-run", is_flag=True, help="Compact and delete nothing; report what would be dropped.")
@pond_option
def maintain(retention_hours: float | None, no_zorder: bool, unsafe: bool, dry_run: bool, pond_path: str | None,
             debug: bool) -> None:
    """Compact the log (z-ordered by directory), checkpoint, vacuum, and drop crash leftovers.

    Every op survives with its version, so time travel keeps working for every version.

    Example: tinylogsql maintain --pond ./pond --retention-hours 24
    """
    from .pond import DEFAULT_RETENTION_HOURS

    hours = DEFAULT_RETENTION_HOURS if retention_hours is None else retention_hours
    with open_pond(pond_path) as pond:
        report = pond.maintain(retention_hours=hours, zorder=not no_zorder, unsafe=unsafe, dry_run=dry_run)
    click.echo(
        ("dry run, nothing changed: " if report.dry_run else "")
        + f"version {report.version}: {report.files_removed} files compacted into {report.files_added}, "
        f"{report.files_vacuumed} old files vacuumed, {len(report.blobs_dropped)} stray blobs, "
        f"{len(report.chunks_dropped)} chunks and {len(report.manifests_dropped)} chunk lists dropped, "
        f"{report.bytes_freed} bytes freed"
        + (" (compaction given up: other commits kept winning; run it again)" if report.compaction_gave_up else "")
    )
    for applied in report.policies_applied:
        click.echo(f"retention {applied.glob} (keep versions {applied.keep_versions}, keep days {applied.keep_days}):"
                   f" {applied.versions_expired} versions expired ({applied.bytes_expired} bytes)")


# -- entry point ----------------------------------------------------------------------
def _error_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _after_commit(exc: BaseException) -> None:
    """An error once the command's commit landed: the change is in the pond, so say so and exit 0
    (the command did what it was asked; only its report failed)."""
    version = COMMITTED[-1]
    try:
        sys.stdout.flush()
    except (BrokenPipeError, OSError):
        pass
    try:  # a closed stdout (`... | head -0`) must not fail the interpreter's own flush at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    click.echo(f"tinylogsql: warning: the commit landed as version {version}; after it: {_error_line(exc)}",
               err=True)
    sys.exit(0)


def main() -> None:
    """Console-script entry point: errors become one line on stderr and a non-zero exit, except after a
    commit landed (then a warning naming the version, and exit 0)."""
    debug = "--debug" in sys.argv
    sqlworker.PRESTART = False  # one command per process: only `sql` needs the SQL worker, and starts it itself
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except AfterCommitError as exc:  # e.g. `tinylogsql put ... | head -0`: the commit is in, only stdout broke
        _after_commit(exc)
    except BrokenPipeError:  # e.g. `tinylogsql cat big.csv | head`
        sys.stderr.close()
        sys.exit(1)
    except Exception as exc:
        if debug:
            raise
        if COMMITTED:
            _after_commit(exc)
        known = isinstance(exc, (PondError, OSError, ValueError, LookupError, duckdb.Error))
        prefix = "error" if known else f"internal error ({type(exc).__name__}; --debug shows the traceback)"
        click.echo(f"tinylogsql: {prefix}: {_error_line(exc)}", err=True)
        sys.exit(1)


from . import cli_branches, cli_retention  # noqa: E402  (register branch, tag, merge, revert, restore, retention)

cli_branches.register(cli, sys.modules[__name__])
cli_retention.register(cli, sys.modules[__name__])

from . import cli_watch  # noqa: E402  (registers watch on `cli`)

cli_watch.register(cli, sys.modules[__name__])
from . import cli_git  # noqa: E402  (registers import-git on `cli`)

cli_git.register(cli, sys.modules[__name__])

if __name__ == "__main__":
    main()
