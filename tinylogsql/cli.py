"""The ``tinylogsql`` command line: a mirror of the Python API for shells and scripts."""

from __future__ import annotations

import sys
from datetime import datetime, timezone

import click
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from . import __version__
from .errors import PondError, PondExistsError
from .pond import Pond

console = Console()


def _tree(pond: Pond) -> Tree:
    tree = Tree(f"[bold]{pond.uri}[/] (version {pond.version})")
    branches = {"/": tree}
    for path, dirs, files in pond.root.walk():
        branch = branches[path]
        for name in dirs + files:
            child = f"{path.rstrip('/')}/{name}"
            node = pond.root.get(child)
            if node.kind == "symlink":
                branch.add(f"[cyan]{name}[/] -> {node.target}")
            elif node.kind == "dir":
                branches[child] = branch.add(f"[bold blue]{name}/[/]")
            else:
                branch.add(f"{name} ({node.size} B)")
    return tree


def _table(relation) -> Table:  # type: ignore[no-untyped-def]
    table = Table()
    for column in relation.columns:
        table.add_column(column)
    for row in relation.fetchall():
        table.add_row(*("" if value is None else str(value) for value in row))
    return table


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """tinylogsql: a versioned, SQL-queryable filesystem in a Delta Lake op log."""
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


def main() -> None:
    """Console-script entry point: PondErrors become one line on stderr and a non-zero exit."""
    debug = "--debug" in sys.argv
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (PondError, OSError, ValueError) as exc:
        if debug:
            raise
        click.echo(f"tinylogsql: error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
