"""The branch commands of the ``tinylogsql`` CLI: branch, tag, merge, revert, restore.

They parse and print; the work is Pond's (``branching.py``, ``merge.py``). The global
``--branch/-b`` (or ``$TINYLOGSQL_BRANCH``) picks the branch they act on.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import click

from . import cli_common as base


def _rows(items: list[Any]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(item) for item in items]


def show_merge(changes: list[Any], conflicts: list[Any], as_json: bool, version: int | None = None) -> None:
    """Changes and conflicts as tables (or one JSON document)."""
    if as_json:
        base.emit_json({"version": version, "changes": _rows(changes), "conflicts": _rows(conflicts)})
        return
    if changes:
        base.console.print(base.rich_table(["change", "path", "kind", "from"],
                                            [[c.change, c.path, c.kind, c.old_path] for c in changes]))
    if conflicts:
        base.console.print(base.rich_table(["conflict", "path", "ours", "theirs"],
                                            [[c.reason, c.path, c.ours, c.theirs] for c in conflicts],
                                            title="conflicts"))


def register(cli: click.Group) -> None:
    """Add the branch commands to the command group."""

    @cli.command()
    @click.argument("name", required=False)
    @click.option("--from", "from_rev", default=None, metavar="REV", help="Start the branch at this revision.")
    @click.option("-d", "--delete", "delete", default=None, metavar="NAME", help="Delete branch NAME.")
    @base.json_option
    @base.pond_option
    def branch(name: str | None, from_rev: str | None, delete: str | None, as_json: bool, pond_path: str | None,
               debug: bool) -> None:
        """List branches; with NAME create one (from the current branch's head, or --from REV); -d NAME deletes.

        Example: tinylogsql branch feature --from release-1
        """
        with base.open_pond(pond_path) as pond:
            if delete is not None:
                pond.delete_branch(delete)
                click.echo(f"deleted branch {delete}")
                return
            if name is not None:
                made = pond.create_branch(name, at=None if from_rev is None else base.revision(from_rev))
                with made:
                    click.echo(f"created branch {name} at version {made.version}")
                return
            found = pond.branches()
            if as_json:
                base.emit_json(_rows(found))
                return
            rows = [["*" if b.name == pond.branch else "", b.name, b.head, b.base, b.created] for b in found]
            base.console.print(base.rich_table(["", "branch", "head", "base", "created (UTC)"], rows))

    @cli.command()
    @click.argument("name", required=False)
    @click.argument("rev", required=False)
    @base.json_option
    @base.pond_option
    def tag(name: str | None, rev: str | None, as_json: bool, pond_path: str | None, debug: bool) -> None:
        """List tags; with NAME tag the current branch's head (or REV) with an immutable name.

        Example: tinylogsql tag release-1 main~2
        """
        with base.open_pond(pond_path) as pond:
            if name is not None:
                made = pond.tag(name, at=None if rev is None else base.revision(rev))
                click.echo(f"tagged {made.branch} version {made.version} as {made.name}")
                return
            found = pond.tags()
            if as_json:
                base.emit_json(_rows(found))
                return
            base.console.print(base.rich_table(["tag", "branch", "version", "created (UTC)"],
                                                [[t.name, t.branch, t.version, t.created] for t in found]))

    @cli.command()
    @click.argument("source")
    @click.option("--strategy", type=click.Choice(["ours", "theirs"]), default=None,
                  help="Resolve each conflict for that side (default: fail on conflicts, commit nothing).")
    @click.option("--dry-run", is_flag=True, help="Show what the merge would change and where it conflicts.")
    @base.write_options
    @base.json_option
    @base.pond_option
    def merge(source: str, strategy: str | None, dry_run: bool, message: str | None, author: str | None,
              as_json: bool, pond_path: str | None, debug: bool) -> None:
        """Merge branch SOURCE into the current branch in one commit (three-way, by node identity).
        Conflicts print as a table (or --json) and exit 1, unless --strategy resolves them.

        Example: tinylogsql -b main merge feature --dry-run
        """
        from .errors import MergeConflictError

        with base.open_pond(pond_path, author=author) as pond:
            if dry_run:
                preview = pond.merge_preview(source)
                show_merge(preview.changes, preview.conflicts, as_json)
                if not as_json and not preview.changes and not preview.conflicts:
                    click.echo("nothing to merge")
                return
            try:
                result = pond.merge(source, message=message, author=author, strategy=strategy or "fail")
            except MergeConflictError as error:
                show_merge([], error.conflicts, as_json)
                click.echo(f"tinylogsql: error: {len(error.conflicts)} conflicts; nothing was committed "
                           "(--strategy ours|theirs resolves them)", err=True)
                sys.exit(1)
            if result.version is not None:
                base.COMMITTED.append(result.version)
            show_merge(result.changes, result.conflicts, as_json, result.version)
            if not as_json:
                click.echo("nothing new to merge" if result.version is None
                           else f"merged {source} into {pond.branch} as version {result.version}")

    @cli.command()
    @click.argument("version", type=int)
    @base.write_options
    @base.pond_option
    def revert(version: int, message: str | None, author: str | None, pond_path: str | None, debug: bool) -> None:
        """A new commit undoing commit VERSION of the current branch.

        Example: tinylogsql revert 12 -m "undo the import"
        """
        with base.open_pond(pond_path, author=author) as pond:
            made = pond.revert(version, message=message)
            base.COMMITTED.append(made)
            click.echo(f"reverted version {version} as version {made}")

    @cli.command()
    @click.argument("path")
    @click.option("--at", "at", required=True, metavar="REV", help="The revision to bring PATH back from.")
    @base.write_options
    @base.pond_option
    def restore(path: str, at: str, message: str | None, author: str | None, pond_path: str | None,
                debug: bool) -> None:
        """Bring a file or a whole directory back as it was at a revision, in one commit.

        Example: tinylogsql restore /data --at release-1
        """
        with base.open_pond(pond_path, author=author) as pond:
            made = pond.root.restore(path, base.revision(at), message=message)
            if made is not None:
                base.COMMITTED.append(made)
            click.echo(f"restored {path} from {at} as version {made}")
