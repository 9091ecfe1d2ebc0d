"""The ``watch`` command of the ``tinylogsql`` CLI: print (or hand to a command) what lands.

It parses and prints; the work is Pond's (changes.py, watch.py, subscriptions.py). With
``--name`` it resumes from a durable subscription and acknowledges each batch once it is
printed, or once ``--exec`` exits 0 (a failing command stops the watch; nothing is acknowledged).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import click

from . import cli_common as base
from .changes import ChangeBatch, as_dict


def batch_json(batch: ChangeBatch) -> str:
    """A batch as one JSON document: what ``--exec`` reads on stdin."""
    return json.dumps({"version": batch.version, "ts": batch.ts.isoformat(), "author": batch.author,
                       "message": batch.message, "changes": [as_dict(change) for change in batch.changes]}) + "\n"


def show(batch: ChangeBatch, as_json: bool) -> None:
    """Print a batch: one JSON object per change, or one line per change."""
    for change in batch.changes:
        if as_json:
            click.echo(json.dumps(as_dict(change)))
        else:
            moved = f" (from {change.from_path})" if change.from_path else ""
            click.echo(f"{change.version}\t{change.op}\t{change.kind}\t{change.path}{moved}")
    sys.stdout.flush()


def run(command: str, batch: ChangeBatch) -> int:
    """Run ``command`` in a shell with the batch as JSON on stdin and TINYLOGSQL_VERSION set."""
    env = {**os.environ, "TINYLOGSQL_VERSION": str(batch.version)}
    return subprocess.run(command, shell=True, input=batch_json(batch).encode(), env=env, check=False).returncode


def register(cli: click.Group) -> None:
    """Add ``watch`` to the command group."""

    @cli.command()
    @click.argument("globs", nargs=-1, metavar="[GLOB]...")
    @click.option("--since", type=int, default=None, metavar="V",
                  help="Start after version V (default: from now). Not with --name.")
    @click.option("--count", type=click.IntRange(min=1), default=None, metavar="N", help="Stop after N batches.")
    @click.option("--name", default=None, metavar="SUB",
                  help="Resume from the durable subscription SUB (made on first use) and ack each batch.")
    @click.option("--exec", "command", default=None, metavar="CMD",
                  help="Run CMD per batch (JSON on stdin, TINYLOGSQL_VERSION set); with --name, ack once it exits 0.")
    @click.option("--timeout", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
                  help="Stop after this many seconds without a matching commit (default: never).")
    @click.option("--poll-interval", type=click.FloatRange(min=0.001), default=None, metavar="SECONDS",
                  help="Poll this often instead of waiting on file notifications (object storage: 1 s).")
    @base.json_option
    @base.pond_option
    def watch(globs: tuple[str, ...], since: int | None, count: int | None, name: str | None, command: str | None,
              timeout: float | None, poll_interval: float | None, as_json: bool, pond_path: str | None,
              debug: bool) -> None:
        """Print changes as they land (globs over absolute pond paths; a move matches by either path).

        Ctrl-C stops it. Example: tinylogsql watch '/raw/**' --name etl --exec 'python load.py'
        """
        from .watch import watch as follow

        if name is not None and since is not None:
            raise click.UsageError("--since and --name exclude each other: a subscription resumes from its position")
        with base.open_pond(pond_path) as pond:
            sub = None
            skip = None
            if name is not None:
                sub = pond.subscription(name, list(globs) or None)
                since = sub.position
                skip = lambda: pond._refs().acked.get(name, set())  # noqa: E731 (its own commits)
            paths = sub.paths if sub is not None else (list(globs) or None)
            done = 0
            for batch in follow(pond, paths, since, timeout, poll_interval, skip=skip):
                if command is not None:
                    code = run(command, batch)
                    if code != 0:
                        raise click.ClickException(f"--exec command exited with {code} on version {batch.version}"
                                                   + ("; not acknowledged" if sub is not None else ""))
                else:
                    show(batch, as_json)
                if sub is not None:
                    sub.ack(batch.version)
                done += 1
                if count is not None and done >= count:
                    return
