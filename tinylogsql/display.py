"""Rich display in Jupyter: HTML for a Pond (path, version, last commits), a Directory (a compact
listing with sizes and modification times) and a File (its facts and a short text preview).

Everything shown is read from the pond when the object is displayed; every name, message and
content snippet is HTML-escaped.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import TYPE_CHECKING

from .history import commits

if TYPE_CHECKING:
    from .nodes import Directory, File, Node, NodeStat, Symlink
    from .pond import Pond

MAX_ROWS = 200
"""A directory listing shows at most this many entries, then says how many it left out."""
COMMITS_SHOWN = 10
PREVIEW_BYTES = 2048

_STYLE = "font-family: var(--jp-code-font-family, monospace); font-size: 12px"
_CELL = "text-align: left; padding: 1px 8px"


def human_size(size: int | None) -> str:
    """1536 -> '1.5 KiB'; None -> ''."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 entry``, ``2 entries``, ``0 files``: a count with its noun in the right number."""
    if count == 1:
        return f"{count} {word}"
    return f"{count} {many or (word[:-1] + 'ies' if word.endswith('y') else word + 's')}"


def when(value: datetime | None) -> str:
    """A UTC time to the second, or '' (pending)."""
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f'<th style="{_CELL}">{escape(h)}</th>' for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td style="{_CELL}">{cell}</td>' for cell in row) + "</tr>" for row in rows
    )
    return f'<table style="{_STYLE}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _title(kind: str, text: str, extra: str = "") -> str:
    return f'<div style="{_STYLE}"><b>{escape(kind)}</b> <code>{escape(text)}</code>{extra}</div>'


def pond_html(pond: Pond) -> str:
    """The pond's location, version and its last commits."""
    at = " (read-only snapshot)" if pond.read_only else ""
    latest = commits(pond, COMMITS_SHOWN)
    rows = [
        [str(c.version), escape(when(c.time)), escape(c.author), escape(c.message),
         f"{c.ops} ({c.creates}c {c.writes}w {c.moves}m {c.removes}r)", escape(human_size(c.bytes_written))]
        for c in latest
    ]
    header = _title("Pond", pond.uri, f" &middot; version {pond.version}{at}")
    return header + _table(["version", "time (UTC)", "author", "message", "ops", "bytes written"], rows)


def _entry_row(info: NodeStat) -> list[str]:
    name = escape(info.name)
    if info.kind == "dir":
        name = f"<b>{name}/</b>"
    elif info.kind == "symlink":
        name = f"{name} &rarr; {escape(info.target or '')}"
    return [name, info.kind, escape(human_size(info.size)), escape(when(info.modified)),
            "" if info.version is None else str(info.version)]


def directory_html(directory: Directory) -> str:
    """A compact listing: name, kind, size, modification time and version of each entry."""
    entries = directory.listing()
    shown = [_entry_row(info) for info in entries[:MAX_ROWS]]
    more = len(entries) - len(shown)
    if more > 0:
        shown.append([f"&hellip; and {more} more", "", "", "", ""])
    at = f" &middot; pond version {directory.pond.version}"
    header = _title("Directory", directory.path, f" &middot; {plural(len(entries), 'entry')}{at}")
    return header + _table(["name", "kind", "size", "modified (UTC)", "version"], shown)


def file_html(file: File) -> str:
    """The file's facts and, for text content, the first few lines."""
    info = file.stat()
    facts = _table(
        ["size", "modified (UTC)", "version", "sha256"],
        [[escape(human_size(info.size)), escape(when(info.modified)),
          "" if info.version is None else str(info.version), f"<code>{escape(info.sha256 or '')}</code>"]],
    )
    preview = ""
    data = file.read()
    try:
        text = data[:PREVIEW_BYTES].decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and text:
        cut = "\n&hellip;" if len(data) > PREVIEW_BYTES else ""
        preview = f'<pre style="{_STYLE}; max-height: 20em; overflow: auto">{escape(text)}{cut}</pre>'
    return _title("File", info.path) + facts + preview


def symlink_html(link: Symlink) -> str:
    info = link.stat()
    return _title("Symlink", info.path, f" &rarr; <code>{escape(info.target or '')}</code>")


def node_html(node: Node) -> str:
    """HTML for any node handle, by kind."""
    from .nodes import Directory, File, Symlink

    if isinstance(node, Directory):
        return directory_html(node)
    if isinstance(node, File):
        return file_html(node)
    if isinstance(node, Symlink):
        return symlink_html(node)
    return escape(repr(node))


__all__ = ["pond_html", "directory_html", "file_html", "symlink_html", "node_html", "human_size", "plural"]


def node_repr(node: Node) -> str:
    """One line: ``File('/a/x.csv', size=120, version=4)``, ``Directory('/a', entries=3)``."""
    kind = type(node).__name__
    try:
        info = node.stat()
        if info.kind == "dir":
            detail = f", entries={len(node)}"  # type: ignore[arg-type]
        elif info.kind == "symlink":
            detail = f", target={info.target!r}"
        else:
            detail = f", size={info.size}"
        if info.version is not None:
            detail += f", version={info.version}"
        return f"{kind}({info.path!r}{detail})"
    except Exception:  # a repr never raises: the node was removed, or the pond closed
        return f"{kind}(<node {node.node_id}>)"


def pond_repr(pond: Pond) -> str:
    """One line: ``Pond('/data/pond', version=12)`` (``at=`` for a snapshot)."""
    branch = "" if pond.branch == "main" else f", branch={pond.branch!r}"
    if pond.read_only:
        return f"Pond({pond.uri!r}{branch}, at={pond.version})"
    try:
        return f"Pond({pond.uri!r}{branch}, version={pond.version})"
    except Exception:  # closed
        return f"Pond({pond.uri!r}, closed)"
