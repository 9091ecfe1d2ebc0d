"""Globs over absolute pond paths, one set of rules for the change feed and retention policies.

``*`` and ``?`` stay within one name, ``[...]`` is a character class (``[!...]`` negated), ``**``
crosses folders: ``/a/**/b`` matches ``/a/b`` too, and ``/a/**`` matches everything below ``/a``
but not ``/a`` itself (as in gitignore). The same pattern runs in Python's ``re`` and in Arrow's
RE2 (``mask``), so a filter over a whole column and a test of one path agree.
"""

from __future__ import annotations

import re
import string
from functools import cache

import pyarrow as pa
import pyarrow.compute as pc

from .errors import InvalidArgumentError


def _escape(char: str) -> str:
    """One literal character in a pattern both Python's re and Arrow's RE2 read the same way."""
    if char.isalnum() or not char.isascii():
        return char
    if char in string.punctuation:
        return "\\" + char
    return f"[{char}]"  # whitespace, control characters


@cache
def pattern(glob: str) -> str:
    """``glob`` as a regular expression without anchors."""
    out, i = [], 0
    while i < len(glob):
        if glob.startswith("/**/", i):
            out.append("(?:/.*)?/")
            i += 4
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[" and glob.find("]", i + 2) > 0:
            end = glob.find("]", i + 2)  # a "]" right after "[" (or "[!") belongs to the class
            body = glob[i + 1:end]
            negate = body.startswith("!")
            out.append("[" + ("^" if negate else "") + "".join(map(_escape, body[negate:])) + "]")
            i = end + 1
        else:
            out.append(_escape(glob[i]))
            i += 1
    return "".join(out)


@cache
def compile_glob(glob: str) -> re.Pattern[str]:
    """``glob`` compiled to match a whole path; InvalidArgumentError if it is not a valid glob."""
    try:
        return re.compile(pattern(glob) + r"\Z", re.DOTALL)
    except re.error as exc:
        raise InvalidArgumentError(f"invalid path glob {glob!r}: {exc}") from None


def match(glob: str, path: str) -> bool:
    """Does the absolute ``path`` match ``glob``?"""
    return compile_glob(glob).match(path) is not None


def mask(globs: tuple[str, ...], *columns: pa.ChunkedArray) -> pa.ChunkedArray:
    """Per row: does any of ``columns`` hold a path matching any of ``globs`` (null: no)?"""
    hits = None
    for glob in globs:
        regex = "(?s)^" + pattern(glob) + "$"
        for column in columns:
            hit = pc.fill_null(pc.match_substring_regex(column, regex), False)
            hits = hit if hits is None else pc.or_(hits, hit)
    if hits is None:
        raise InvalidArgumentError("mask needs at least one glob and one column")
    return hits
