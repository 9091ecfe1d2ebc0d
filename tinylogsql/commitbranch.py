"""The branch of a commit, recorded in its Delta ``commitInfo``, so a reader can skip its data file.

A commit whose rows are all node ops (create/write/remove/move) of one branch carries
``"tinylogsql.branch": <branch>`` in its commitInfo (a ``custom_metadata`` key, beside message
and author). A process following another branch reads only that log entry, not the data file:
those rows are invisible to it (``refs.visible``), and it learns all it needs (the branch has a
commit at that version) from the entry. Commits holding any other row (ref, merge, subscription,
retention rows), commits made before this key existed and maintenance commits carry no key and
are read whole, as before. Why: two writers on two branches each read the other's every commit
(and again after each lost race); the data file was most of the cost of that read.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .refs import Chain
from .schema import OPS

KEY = "tinylogsql.branch"
"""The commitInfo key (custom_metadata puts it at the top level of commitInfo)."""


def marker(rows: pa.Table) -> dict[str, str]:
    """``{KEY: branch}`` if every row is a node op of one branch (stamped rows), else ``{}``."""
    if not rows.num_rows or rows.column("branch").null_count:
        return {}
    if not pc.all(pc.is_in(rows.column("op"), pa.array(OPS))).as_py():
        return {}
    bounds = pc.min_max(rows.column("branch"))
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    return {KEY: low} if low == high and isinstance(low, str) else {}


def branch_of(commit_info: Any) -> str | None:
    """The branch a commitInfo action names (None: not marked, read the commit whole)."""
    if not isinstance(commit_info, dict):
        return None
    branch = commit_info.get(KEY)
    return branch if isinstance(branch, str) and branch else None


def sees(chain: Chain, branch: str, version: int) -> bool:
    """Does a branch with this ancestry see rows of ``branch`` at ``version``? (refs.visible's rule)"""
    return any(name == branch and after < version <= upto for name, after, upto in chain)
