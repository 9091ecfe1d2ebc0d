"""Load the view definitions in ``sql/`` (package data) by name."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

VIEW_FILES = ("oplog", "nodes", "entries", "paths", "files", "history", "commits", "file_versions", "diff",
              "branches", "subscriptions", "retention", "git_commits")
"""The truth: views over the resident log, created in this order."""


@cache
def sql_text(name: str) -> str:
    """The text of ``sql/<name>.sql``: from the installed package, else from a source checkout."""
    packaged = resources.files("tinylogsql").joinpath("sql", f"{name}.sql")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    source = Path(__file__).resolve().parent.parent / "sql" / f"{name}.sql"
    return source.read_text(encoding="utf-8")
