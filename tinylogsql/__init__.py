"""tinylogsql: a versioned, SQL-queryable filesystem whose whole state is a Delta Lake op log."""

from .changes import Change, ChangeBatch
from .check import CheckReport
from .errors import *  # noqa: F403
from .errors import __all__ as _errors
from .merge import MergeChange, MergeConflict, MergePreview, MergeResult
from .nodes import Directory, File, Node, Symlink
from .pond import MaintenanceReport, Pond
from .refs import Branch, Tag
from .retention import Policy
from .subscriptions import Subscription
from .txn import Transaction

__version__ = "0.1.0"
__all__ = [
    "Pond", "Directory", "File", "Symlink", "Node", "Transaction", "MaintenanceReport", "CheckReport",
    "Branch", "Tag", "Policy", "MergeResult", "MergePreview", "MergeConflict", "MergeChange",
    "Change", "ChangeBatch", "Subscription",
    "__version__", *_errors,
]
