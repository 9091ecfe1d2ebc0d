"""The ``retention`` command of the ``tinylogsql`` CLI: list, set and clear retention policies.

It parses and prints; the work is Pond's (``retention.py``). ``maintain`` applies the policies.
"""

from __future__ import annotations

import dataclasses

import click

from . import cli_common as base


def register(cli: click.Group) -> None:
    """Add ``retention`` (with ``set`` and ``clear``) to the command group."""

    @cli.group(invoke_without_command=True)
    @base.json_option
    @base.pond_option
    @click.pass_context
    def retention(ctx: click.Context, as_json: bool, pond_path: str | None, debug: bool) -> None:
        """List the retention policies in force; `retention set` and `retention clear` change them.

        Example: tinylogsql retention set '/scratch/**' --keep-versions 3 --keep-days 7
        """
        if ctx.invoked_subcommand is not None:
            return
        with base.open_pond(pond_path) as pond:
            found = pond.retention()
        if as_json:
            base.emit_json([dataclasses.asdict(policy) for policy in found])
            return
        if not found:
            click.echo("no retention policies: every version is kept")
            return
        base.console.print(base.rich_table(
            ["glob", "keep versions", "keep days", "set at version", "set (UTC)"],
            [[p.glob, p.keep_versions, p.keep_days, p.version, p.created] for p in found]))

    @retention.command("set")
    @click.argument("glob")
    @click.option("--keep-versions", type=int, default=None, metavar="N",
                  help="Keep the newest N versions of each file.")
    @click.option("--keep-days", type=float, default=None, metavar="D",
                  help="Keep every version that was current in the last D days.")
    @base.write_options
    @base.pond_option
    def set_(glob: str, keep_versions: int | None, keep_days: float | None, message: str | None, author: str | None,
             pond_path: str | None, debug: bool) -> None:
        """Set (or replace) the policy for files matching GLOB; `maintain` expires older content.

        Example: tinylogsql retention set '/logs/*.csv' --keep-versions 10
        """
        with base.open_pond(pond_path, author=author) as pond:
            policy = pond.set_retention(glob, keep_versions=keep_versions, keep_days=keep_days, message=message)
            base.COMMITTED.append(policy.version)
            click.echo(f"retention for {policy.glob}: keep versions {policy.keep_versions}, keep days "
                       f"{policy.keep_days} (version {policy.version})")

    @retention.command("clear")
    @click.argument("glob")
    @base.write_options
    @base.pond_option
    def clear(glob: str, message: str | None, author: str | None, pond_path: str | None, debug: bool) -> None:
        """End the policy for GLOB (content already expired stays expired).

        Example: tinylogsql retention clear '/scratch/**'
        """
        with base.open_pond(pond_path, author=author) as pond:
            pond.clear_retention(glob, message=message)
            base.COMMITTED.append(pond.version)
            click.echo(f"cleared the retention policy for {glob}")
