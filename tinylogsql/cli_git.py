"""The ``import-git`` command of the ``tinylogsql`` CLI (the work is ``gitimport.py``'s)."""

from __future__ import annotations

import click

from . import cli_common as base


def register(cli: click.Group) -> None:
    """Add ``import-git`` to the command group."""

    @cli.command(name="import-git")
    @click.argument("repo", type=click.Path(exists=True, file_okay=False))
    @click.argument("pond_dir", required=False)
    @click.option("--rev", default="HEAD", show_default=True, metavar="REV", help="The git revision to import up to.")
    @click.option("--all", "all_branches", is_flag=True,
                  help="Every local branch: HEAD's into the current pond branch, each other into its namesake.")
    @base.json_option
    @base.pond_option
    def import_git(repo: str, pond_dir: str | None, rev: str, all_branches: bool, as_json: bool,
                   pond_path: str | None, debug: bool) -> None:
        """Import a git repository's first-parent history: one pond commit per git commit (message, author,
        author time kept), renames as moves; run again to import only new commits. POND_DIR defaults
        to --pond and is created if missing; -b/--branch NAME imports into branch NAME, forked where
        its history meets what is already imported.

        Example: tinylogsql import-git ~/src/project ./pond --rev feature -b feature
        """
        from .location import locate
        from .pond import Pond
        from .store import Store

        where = pond_dir or base.location(pond_path)
        pond = Pond.open(where) if Store.exists(locate(where)) else Pond.create(where)
        with pond:
            branch = base.current_branch()
            if all_branches:
                if branch != pond.branch:
                    raise click.UsageError("--all imports HEAD's branch into main and every other into its "
                                           "namesake: leave -b/--branch out")
                reports = pond.import_git(repo, all_branches=True)
            else:
                reports = [pond.import_git(repo, rev, branch=None if branch == pond.branch else branch)]
            base.COMMITTED.extend(r.versions[-1] for r in reports if r.versions)
            if as_json:
                from .gitimport import describe

                found = [describe(r) for r in reports]
                base.emit_json(found if all_branches else found[0])
                return
            for report in reports:
                for note in report.notes:
                    click.echo(f"note: {note}", err=True)
                click.echo(report.summary())
