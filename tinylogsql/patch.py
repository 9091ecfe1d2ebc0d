"""Content differences between two versions of a pond: unified diffs and line counts per file.

Backs ``tinylogsql diff -p/--stat``. ``history.diff`` says *which* nodes changed (matched by
identity, so a moved file is one change); this module reads the old and new bytes of each file
change and compares them with ``difflib``, as ``git diff`` shows them: text files get a unified
diff, binary files (a NUL byte, or not UTF-8) are only named.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from .history import Change
    from .pond import Pond


class FilePatch(NamedTuple):
    """The content change of one file between two versions."""

    path: str  # in the newer version (for a removed file: in the older one)
    old_path: str | None  # where it was in the older version (None: added)
    new_path: str | None  # None: removed
    binary: bool
    added: int  # lines added (0 for binary)
    removed: int  # lines removed (0 for binary)
    old_size: int
    new_size: int
    text: str  # the unified diff (git style), or the "Binary files ... differ" line


def _text(data: bytes) -> str | None:
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _read(pond: Pond, path: str | None) -> bytes:
    return pond.root.read_file_path(path) if path is not None else b""


def file_patch(old: Pond, new: Pond, old_path: str | None, new_path: str | None) -> FilePatch:
    """Compare the file at ``old_path`` in ``old`` with the one at ``new_path`` in ``new`` (None: absent)."""
    before, after = _read(old, old_path), _read(new, new_path)
    shown = new_path or old_path or ""
    a = f"a{old_path}" if old_path else "/dev/null"
    b = f"b{new_path}" if new_path else "/dev/null"
    header = f"diff --git a{old_path or new_path} b{new_path or old_path}\n"
    old_text, new_text = _text(before), _text(after)
    if old_text is None or new_text is None:
        return FilePatch(shown, old_path, new_path, True, 0, 0, len(before), len(after),
                         f"{header}Binary files {a} and {b} differ\n")
    lines = list(difflib.unified_diff(old_text.splitlines(keepends=True), new_text.splitlines(keepends=True),
                                      fromfile=a, tofile=b))
    added = sum(1 for line in lines[2:] if line.startswith("+"))
    removed = sum(1 for line in lines[2:] if line.startswith("-"))
    body = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
    return FilePatch(shown, old_path, new_path, False, added, removed, len(before), len(after), header + body)


def patches(old: Pond, new: Pond, changes: list[Change]) -> list[FilePatch]:
    """A FilePatch for every change that touches a file's content, in the order of ``changes``.

    A moved file whose content also changed appears as a "moved" and a "modified" change (whose
    old_path is where it was); its patch compares the old path's content with the new path's.
    A pure move has no patch.
    """
    out: list[FilePatch] = []
    for change in changes:
        if change.change == "modified" and change.kind == "file":  # old_path: where it was (moved or not)
            out.append(file_patch(old, new, change.old_path or change.path, change.path))
        elif change.change == "added" and change.kind == "file":
            out.append(file_patch(old, new, None, change.path))
        elif change.change == "removed" and change.kind == "file":
            out.append(file_patch(old, new, change.path, None))
        elif change.change == "type-changed":
            if change.old_kind == "file":
                out.append(file_patch(old, new, change.path, None))
            if change.kind == "file":
                out.append(file_patch(old, new, None, change.path))
    return out


__all__ = ["FilePatch", "file_patch", "patches"]
