"""The ``tinylogsql`` command line: a mirror of the Python API for shells and scripts.

Every command takes ``--pond PATH`` (default: ``$TINYLOGSQL_POND``, then ``./pond``); read
commands take ``--at VERSION`` (a version number or an ISO time). The work is done by the
library (``Pond``/``Directory``, ``tinylogsql.export``, ``tinylogsql.history``); this module
parses arguments and prints. Errors are one line on stderr and a non-zero exit; ``--debug``
shows the traceback.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable
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

from . import __version__
from . import export as transfer
from . import history as past
from .display import human_size, when
from .errors import PathNotFoundError, PondError, PondExistsError
from .pond import Pond

console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
"""Tables keep one line per row when piped (rich would wrap them at 80 columns)."""
err_console = Console(stderr=True, highlight=False)
F = TypeVar("F", bound=Callable[..., Any])

PROGRESS_FILES = 20
PROGRESS_BYTES = 16 << 20
"""``put`` shows a progress bar from this many files or bytes on (or with ``--progress``)."""


# -- shared options ---------------------------------------------------------------------
def pond_option(fn: F) -> F:
    fn = click.option("--debug", is_flag=True, hidden=True, help="Show full tracebacks on errors.")(fn)
    return click.option(
        "--pond", "pond_path", envvar="TINYLOGSQL_POND", default="./pond", show_default=True,
        metavar="PATH", help="The pond to use (env TINYLOGSQL_POND).",
    )(fn)


def at_option(fn: F) -> F:
    return click.option("--at", "at", default=None, metavar="VERSION",
                        help="Read the pond as of a version number or ISO time (UTC).")(fn)


def open_pond(pond_path: str, at: str | None = None) -> Pond:
    """The pond, live or read-only at ``at``."""
    pond = Pond.open(pond_path)
    if at is None:
        return pond
    return pond.at(past.parse_version(at))


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return when(value)
    return str(value)


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


# -- the group ------------------------------------------------------------------------
@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """tinylogsql: a versioned, SQL-queryable filesystem in a Delta Lake op log.

    Every command takes --pond PATH (default: $TINYLOGSQL_POND, then ./pond).

    Example: tinylogsql --help
    """
    ctx.obj = {"debug": debug}


@cli.command()
def version() -> None:
    """Print the tinylogsql version.

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
@pond_option
def init(pond_path: str, debug: bool) -> None:
    """Create a new, empty pond (fails if one is already there).

    Example: tinylogsql init --pond ./pond
    """
    with Pond.create(pond_path) as pond:
        click.echo(f"created pond at {pond.uri} (version {pond.version})")


@cli.command()
@click.argument("paths", nargs=-1)
@click.option("-l", "long", is_flag=True, help="Long listing: kind, size, modified time, version.")
@pond_option
@at_option
def ls(paths: tuple[str, ...], long: bool, pond_path: str, at: str | None, debug: bool) -> None:
    """List directories (default "/"); a file lists itself.

    Example: tinylogsql ls -l /data --at 3
    """
    with open_pond(pond_path, at) as pond:
        for index, path in enumerate(paths or ("/",)):
            node = pond.root.get(path)
            if node is None:
                raise PathNotFoundError(path)
            listing = transfer.is_dir(pond, path)
            entries = pond.root.open_dir_path(path).listing() if listing else [node.stat()]
            if len(paths) > 1:
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


@cli.command()
@click.argument("path", default="/")
@pond_option
@at_option
def tree(path: str, pond_path: str, at: str | None, debug: bool) -> None:
    """Show the tree below PATH (default "/"), with file sizes and symlink targets.

    Example: tinylogsql tree /data
    """
    with open_pond(pond_path, at) as pond:
        console.print(_tree(pond, path))


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@pond_option
@at_option
def cat(paths: tuple[str, ...], pond_path: str, at: str | None, debug: bool) -> None:
    """Write the content of files to stdout (following symlinks).

    Example: tinylogsql cat /data/readings.csv --at 2
    """
    with open_pond(pond_path, at) as pond:
        out = click.get_binary_stream("stdout")
        for path in paths:
            out.write(pond.root.read_file_path(path))
        out.flush()


@cli.command()
@click.argument("path")
@pond_option
@at_option
def stat(path: str, pond_path: str, at: str | None, debug: bool) -> None:
    """Show a node's facts: kind, size, sha256, target, node id, times, version.

    Example: tinylogsql stat /data/readings.csv
    """
    with open_pond(pond_path, at) as pond:
        node = pond.root.get(path)
        if node is None:
            pond.root.read_file_path(path)  # raises the precise not-found / not-a-directory error
            return
        info = node.stat()
        for key, value in info._asdict().items():
            if value is not None:
                click.echo(f"{key + ':':<10} {_plain(value)}")


# -- changing -------------------------------------------------------------------------
@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("-p", "--parents", is_flag=True, help="Create missing parents; no error if it exists.")
@pond_option
def mkdir(paths: tuple[str, ...], parents: bool, pond_path: str, debug: bool) -> None:
    """Create directories (all in one commit).

    Example: tinylogsql mkdir -p /data/2024/raw
    """
    with Pond.open(pond_path) as pond, pond.transaction(message=f"mkdir {' '.join(paths)}"):
        for path in paths:
            pond.root.create_dir_path(path, parents=parents, exist_ok=parents)


@cli.command()
@click.option("-s", "--symbolic", is_flag=True, help="Make a symbolic link (the only kind a pond has).")
@click.argument("target")
@click.argument("link")
@pond_option
def ln(symbolic: bool, target: str, link: str, pond_path: str, debug: bool) -> None:
    """Create a symbolic link LINK pointing to TARGET (stored as given, resolved when followed).

    Example: tinylogsql ln -s /data/2024 /latest
    """
    if not symbolic:
        raise click.UsageError("a pond has only symbolic links: use ln -s TARGET LINK")
    with Pond.open(pond_path) as pond:
        pond.root.create_symlink_path(link, target)


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("-r", "-R", "--recursive", is_flag=True, help="Remove directories and their contents.")
@pond_option
def rm(paths: tuple[str, ...], recursive: bool, pond_path: str, debug: bool) -> None:
    """Remove files, symlinks and (with -r) directories, all in one commit.

    Example: tinylogsql rm -r /tmp-data
    """
    with Pond.open(pond_path) as pond, pond.transaction(message=f"rm {' '.join(paths)}"):
        for path in paths:
            pond.root.remove(path, recursive=recursive)


@cli.command()
@click.argument("src")
@click.argument("dst")
@pond_option
def mv(src: str, dst: str, pond_path: str, debug: bool) -> None:
    """Move or rename SRC to DST (into DST if it is a directory); one op, the node keeps its history.

    Example: tinylogsql mv /data/raw.csv /archive/
    """
    with Pond.open(pond_path) as pond:
        transfer.move(pond, src, dst)


@cli.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.argument("dest")
@click.option("-m", "--message", default=None, help="Commit message.")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar (default: for many or large files, on a terminal).")
@pond_option
def put(sources: tuple[Path, ...], dest: str, message: str | None, progress: bool | None,
        pond_path: str, debug: bool) -> None:
    """Copy local files and folders into the pond, all in one commit (like cp -r).

    DEST is a directory to copy into if it is one, ends in "/", or several sources are given.

    Example: tinylogsql put ./exports/*.csv ./docs /data/ -m "nightly import"
    """
    with Pond.open(pond_path) as pond:
        items = transfer.plan_put(pond, sources, dest)
        files = [item for item in items if item.kind == "file"]
        total = sum(item.size for item in files)
        message = message or f"put {', '.join(s.name for s in sources)} -> {dest}"
        show = progress if progress is not None else (
            err_console.is_terminal and (len(files) >= PROGRESS_FILES or total >= PROGRESS_BYTES))
        if not show:
            version = transfer.put(pond, items, message)
        else:
            columns = (TextColumn("[bold]put[/] {task.description}"), BarColumn(), DownloadColumn(),
                       TimeRemainingColumn())
            with Progress(*columns, console=err_console, transient=False) as bar:
                task = bar.add_task(f"{len(files)} files", total=total)
                version = transfer.put(pond, items, message,
                                       on_file=lambda item: bar.advance(task, item.size))
                bar.update(task, description=f"{len(files)} files, committing")
        click.echo(f"put {len(files)} files ({human_size(total)}) as version {version}")


@cli.command()
@click.argument("src")
@click.argument("local", type=click.Path(path_type=Path))
@pond_option
@at_option
def get(src: str, local: Path, pond_path: str, at: str | None, debug: bool) -> None:
    """Copy a pond file or folder to the local filesystem (into LOCAL if it is a folder).

    Example: tinylogsql get /data/readings.csv ./readings.csv --at 4
    """
    with open_pond(pond_path, at) as pond:
        written = transfer.get(pond, src, local)
        click.echo(f"wrote {len(written)} paths under {local}" if len(written) > 1 else f"wrote {written[0]}")


@cli.command(name="export")
@click.argument("local_dir", type=click.Path(path_type=Path))
@pond_option
@at_option
def export_cmd(local_dir: Path, pond_path: str, at: str | None, debug: bool) -> None:
    """Write the whole tree (at --at VERSION) into an empty or new local folder.

    Example: tinylogsql export --at 12 ./snapshot-12
    """
    with open_pond(pond_path, at) as pond:
        written = transfer.export(pond, local_dir)
        click.echo(f"exported version {pond.version}: {len(written)} paths into {local_dir}")


# -- history ----------------------------------------------------------------------------
@cli.command()
@click.option("-n", "--limit", type=int, default=None, help="Show only the last N commits.")
@pond_option
@at_option
def log(limit: int | None, pond_path: str, at: str | None, debug: bool) -> None:
    """List commits, newest first: version, time, author, message and op counts.

    Example: tinylogsql log -n 10
    """
    with open_pond(pond_path, at) as pond:
        rows = [[c.version, c.time, c.author, c.message, c.creates, c.writes, c.moves, c.removes,
                 human_size(c.bytes_written)] for c in past.commits(pond, limit)]
        console.print(_rich_table(["version", "time (UTC)", "author", "message", "create", "write", "move",
                                   "remove", "bytes"], rows))


@cli.command()
@click.argument("path")
@click.option("-r", "--recursive", is_flag=True, help="Also ops on everything below PATH.")
@pond_option
@at_option
def history(path: str, recursive: bool, pond_path: str, at: str | None, debug: bool) -> None:
    """Every op on PATH, oldest first, following the node through moves.

    Example: tinylogsql history /data/readings.csv
    """
    with open_pond(pond_path, at) as pond:
        ops = past.path_history(pond, path, recursive=recursive)
        if not ops:
            raise click.ClickException(f"no op in the history of {path}")
        rows = [[o.version, o.time, o.op, o.kind,
                 f"{o.from_path} -> {o.path}" if o.from_path else o.path,
                 o.size, o.author, o.message] for o in ops]
        console.print(_rich_table(["version", "time (UTC)", "op", "kind", "path", "size", "author", "message"], rows))


@cli.command()
@click.argument("v1")
@click.argument("v2", required=False)
@pond_option
def diff(v1: str, v2: str | None, pond_path: str, debug: bool) -> None:
    """What changed from version V1 to V2 (default: the newest): added, removed, modified, moved, type-changed.

    Example: tinylogsql diff 3 7
    """
    marks = {"added": "+", "removed": "-", "modified": "M", "moved": "R", "type-changed": "T"}
    with Pond.open(pond_path) as pond:
        old = pond.at(past.parse_version(v1))
        new = pond.at(past.parse_version(v2)) if v2 is not None else pond.at(pond.version)
        for change in past.diff(old, new):
            if change.change == "moved":
                line = f"{change.old_path} -> {change.path}"
            elif change.change == "type-changed":
                line = f"{change.path} ({change.old_kind} -> {change.kind})"
            else:
                line = change.path + ("/" if change.kind == "dir" else "")
            click.echo(f"{marks[change.change]} {change.change:<12} {line}")


@cli.command()
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "parquet"]), default="table",
              show_default=True, help="Output format (parquet needs --output).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to FILE instead of stdout.")
@pond_option
@at_option
def sql(query: str, fmt: str, output: Path | None, pond_path: str, at: str | None, debug: bool) -> None:
    """Run one read-only SQL query over the pond's views (oplog, nodes, entries, paths, ...).

    Example: tinylogsql sql "select path from paths order by path" --format csv
    """
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
def check(as_json: bool, pond_path: str, debug: bool) -> None:
    """Verify the pond: log invariants, views against a replay of the log, every blob's sha256;
    list files a crash left behind (remove them with `maintain`). Exits 1 if anything is broken.

    Example: tinylogsql check --pond ./pond
    """
    from .check import check_path

    report = check_path(pond_path)
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
              help="Keep old data files and stray blobs younger than this (default: 168, a week).")
@click.option("--no-zorder", is_flag=True, help="Compact without z-ordering by parent directory.")
@pond_option
def maintain(retention_hours: float | None, no_zorder: bool, pond_path: str, debug: bool) -> None:
    """Compact the log (z-ordered by directory), checkpoint, vacuum, and drop crash leftovers.

    Every op survives with its version, so time travel keeps working for every version.

    Example: tinylogsql maintain --pond ./pond --retention-hours 24
    """
    from .pond import DEFAULT_RETENTION_HOURS

    hours = DEFAULT_RETENTION_HOURS if retention_hours is None else retention_hours
    with Pond.open(pond_path) as pond:
        report = pond.maintain(retention_hours=hours, zorder=not no_zorder)
    click.echo(
        f"version {report.version}: {report.files_removed} files compacted into {report.files_added}, "
        f"{report.files_vacuumed} old files vacuumed, {len(report.blobs_dropped)} stray blobs dropped"
    )


# -- entry point ----------------------------------------------------------------------
def main() -> None:
    """Console-script entry point: errors become one line on stderr and a non-zero exit."""
    debug = "--debug" in sys.argv
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except BrokenPipeError:  # e.g. `tinylogsql cat big.csv | head`
        sys.stderr.close()
        sys.exit(1)
    except (PondError, OSError, ValueError, LookupError, duckdb.Error) as exc:
        if debug:
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        click.echo(f"tinylogsql: error: {message}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
