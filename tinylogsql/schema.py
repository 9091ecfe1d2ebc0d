"""The op-log schema: one row per change to one node. README documents every column."""

from __future__ import annotations

import pyarrow as pa

ROOT_ID = "0" * 32
"""Node id of the root directory; created by ``Pond.create`` in Delta version 0."""

OPS = ("create", "write", "remove", "move")
REF_OPS = ("branch", "delete-branch", "tag", "merge")
"""Ref rows (see refs.py): they name versions and change no node, so the state never folds them."""
SUBSCRIPTION_OPS = ("subscription",)
"""Subscription cursor rows (see subscriptions.py): like ref rows, no node changes; never a change."""
POLICY_OPS = ("retention", "clear-retention", "expire")
"""Retention rows (see retention.py): pond-wide policies and the expiries maintain commits; they change no node."""
KINDS = ("dir", "file", "symlink")

OPLOG_SCHEMA = pa.schema(
    [
        pa.field("version", pa.int64(), nullable=False),  # Delta version of the commit
        pa.field("seq", pa.int32(), nullable=False),  # order of the op inside its commit
        pa.field("txn_id", pa.string(), nullable=False),  # one id per transaction, kept across retries
        pa.field("ts", pa.timestamp("us"), nullable=False),  # commit time, UTC
        pa.field("op", pa.string(), nullable=False),  # create | write | remove | move
        pa.field("node_id", pa.string(), nullable=False),  # identity, independent of names
        pa.field("kind", pa.string(), nullable=False),  # dir | file | symlink
        pa.field("parent_id", pa.string(), nullable=False),  # directory holding the node after the op
        pa.field("name", pa.string(), nullable=False),  # name in that directory after the op
        pa.field("from_parent_id", pa.string()),  # move only: where it was
        pa.field("from_name", pa.string()),  # move only: its previous name
        pa.field("size", pa.int64()),  # file content length in bytes
        pa.field("sha256", pa.string()),  # hex digest of the file content
        pa.field("content", pa.binary()),  # inline content (create/write of small files)
        pa.field("content_ref", pa.string()),  # blob path for content stored beside the table
        pa.field("target", pa.string()),  # symlink target, as given
        pa.field("message", pa.string()),  # the commit's message
        pa.field("author", pa.string()),  # the commit's author
        pa.field("branch", pa.string()),  # the branch the row belongs to; NULL (older ponds) is "main"
        pa.field("ref_version", pa.int64()),  # ref rows only: fork / tagged / merged-up-to version
    ]
)

COLUMNS = tuple(OPLOG_SCHEMA.names)
LEGACY_COLUMNS = COLUMNS[:-2]
"""Ponds made before branches lack the last two columns; they are added on the first commit."""
