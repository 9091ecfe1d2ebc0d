"""The ``tinylogsql`` command line: a mirror of the Python API for shells and scripts.

Global options go before or after the command: ``--pond PATH`` (default: ``$TINYLOGSQL_POND``,
then ``./pond``) and ``--debug``; read commands take ``--at VERSION`` (a version number or an ISO
time). Every writing command makes one commit and takes ``-m/--message`` and ``--author``. Pond
paths in ls/cat/rm/get/stat accept globs, matched inside the pond. The work is done by the
library (``Pond``/``Directory``, ``tinylogsql.export``, ``tinylogsql.sync``, ``tinylogsql.history``,
``tinylogsql.patch``); this module parses arguments and prints. It holds the group, the commands
that browse and change files, ``check`` and ``maintain``; the other commands live in one module per
concern (``cli_history``, ``cli_branches``, ``cli_retention``, ``cli_watch``, ``cli_git``), and
what they all share in ``cli_common``. Errors are one line on stderr
and exit 1 (``--debug`` shows the traceback); an error after the command's commit landed is a
warning naming the version, and exit 0.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click
import duckdb

from . import __version__, cli_branches, cli_git, cli_history, cli_retention, cli_watch, sqlworker
from . import export as transfer
from .cli_common import (
    COMMITTED,
    GLOB_CHARS,
    at_option,
    console,
    emit_json,
    err_console,
    expand,
    json_option,
    location,
    one_commit,
    open_pond,
    plain,
    pond_option,
    progress_bar,
    relation_table,
    show_progress,
    tree_of,
    write_options,
)
from .display import human_size, plural, when
from .errors import NotADirError, PathNotFoundError, PondError, PondExistsError
from .pond import Pond


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
        console.print(tree_of(pond))
        history = pond.sql(
            "SELECT o.version, o.ts, o.op, p.path, o.author, o.message "
            "FROM oplog o LEFT JOIN paths p USING (node_id) "
            "WHERE o.version > 0 ORDER BY o.version DESC, o.seq DESC LIMIT 12"
        )
        console.print(relation_table(history))


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
        console.print(tree_of(pond, path))


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
                    click.echo(f"{key + ':':<10} {plain(value)}")


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
        with progress_bar(show_progress(progress, len(files), total), "put", len(files), total) as advance:
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
        show = wanted and show_progress(progress, files, total)
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


for module in (cli_branches, cli_history, cli_retention, cli_watch, cli_git):
    module.register(cli)  # branch, tag, merge, revert, restore; log, history, diff, sql; retention; watch; import-git

if __name__ == "__main__":
    main()
