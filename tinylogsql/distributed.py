"""History at cluster scale: the op log as a Daft DataFrame, and history questions written in Daft.

The op log is a plain Delta table, so any Delta engine reads it without tinylogsql. This
module wires up Daft (``pip install 'tinylogsql[daft]'``): ``to_daft(pond)`` (also
``pond.to_daft()``) returns a lazy DataFrame of every op row at the pond's version, read
straight from the table's files (local, or on S3 with the pond's own storage options).
Run it on Daft's local runner, or on a Ray cluster after ``daft.set_runner_ray()``.

The helpers take and return Daft DataFrames, so they compose and stay lazy until you
``collect()``/``show()``:

- ``commits(log)``: one row per Delta version: time, message, author, op counts, bytes added
  (the ``commits`` SQL view);
- ``authors(log)``: per author: commits, ops, bytes added, first and last commit time;
- ``current_nodes(log)``: the latest op of each live node (the ``nodes`` view, without
  the cache columns);
- ``paths(log)``: the current absolute path of every node (the ``paths`` view), resolved by
  one join per directory level;
- ``file_versions(log, path)``: every content version of the file now at ``path``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .location import Location
from .schema import ROOT_ID

if TYPE_CHECKING:
    from .pond import Pond

MAX_DEPTH = 4096
"""Directory levels ``paths`` resolves before giving up (protects against a damaged, cyclic log)."""

_INSTALL_HINT = (
    "pond.to_daft() needs Daft, an optional extra: pip install 'tinylogsql[daft]' "
    "(add ray for a cluster: pip install 'daft[ray]')"
)


def _daft() -> Any:
    try:
        import daft
    except ImportError as exc:  # the optional extra is missing
        raise ImportError(_INSTALL_HINT) from exc
    return daft


def io_config(location: Location) -> Any:
    """A ``daft.io.IOConfig`` that reaches the pond's store with the pond's own storage options."""
    daft = _daft()
    from daft.io import IOConfig, S3Config

    if not location.remote:
        return IOConfig()
    options = location.storage_options or {}
    endpoint = options.get("AWS_ENDPOINT_URL")
    allow_http = options.get("AWS_ALLOW_HTTP", "").lower() in ("1", "true", "yes", "on")
    kwargs: dict[str, Any] = {}
    if endpoint:
        if "://" not in endpoint:
            endpoint = ("http://" if allow_http else "https://") + endpoint
        kwargs["endpoint_url"] = endpoint
        kwargs["use_ssl"] = endpoint.startswith("https://")
        kwargs["force_virtual_addressing"] = False
    for option, name in (("AWS_ACCESS_KEY_ID", "key_id"), ("AWS_SECRET_ACCESS_KEY", "access_key"),
                         ("AWS_SESSION_TOKEN", "session_token"), ("AWS_REGION", "region_name")):
        if option in options:
            kwargs[name] = options[option]
    del daft
    return IOConfig(s3=S3Config(**kwargs))


def to_daft(pond: Pond) -> Any:
    """A lazy Daft DataFrame of the op log (one row per op, the oplog schema) at ``pond.version``.

    The version is pinned: commits made after this call do not show up in the DataFrame.
    Compaction does not change the answer (it re-adds the same rows, each keeping its version).
    """
    daft = _daft()
    from daft import col, lit

    from .schema import OPS

    location = pond._store.location
    uri = location.table_uri
    engine = pond._engine
    version = engine.sync() if pond._at is None else pond._at
    log = daft.read_deltalake(uri, io_config=io_config(location), version=version)
    if "branch" not in log.column_names:  # a pond made before branches: every row is main's
        return log
    visible = None  # the rows of this pond's branch (see refs.visible), and no ref rows
    for name, after, upto in engine.chain:
        mine = col("branch").fill_null(lit("main")) == lit(name)
        part = mine & (col("version") > lit(after)) & (col("version") <= lit(min(upto, version)))
        visible = part if visible is None else visible | part
    return log.where(col("op").is_in(list(OPS)) & visible)


def _count_if(condition: Any, name: str) -> Any:
    daft = _daft()
    return condition.cast(daft.DataType.int64()).sum().alias(name)


def commits(log: Any) -> Any:
    """One row per Delta version: version, ts, message, author, ops, creates, writes, removes, moves, bytes_added."""
    from daft import col

    content = col("op").is_in(["create", "write"])
    return (
        log.with_column("added", _when(content, col("size")))
        .groupby("version")
        .agg(
            col("ts").min().alias("ts"),
            col("message").any_value().alias("message"),
            col("author").any_value().alias("author"),
            col("node_id").count().alias("ops"),
            _count_if(col("op") == "create", "creates"),
            _count_if(col("op") == "write", "writes"),
            _count_if(col("op") == "remove", "removes"),
            _count_if(col("op") == "move", "moves"),
            col("added").sum().alias("bytes_added"),
        )
        .with_column("bytes_added", col("bytes_added").fill_null(0))
        .sort("version")
    )


def _when(condition: Any, value: Any) -> Any:
    from daft.functions import when

    return when(condition, value).otherwise(0)


def authors(log: Any) -> Any:
    """Per author: commits, ops, bytes added, first and last commit time (most ops first)."""
    from daft import col

    per_commit = commits(log)
    return (
        per_commit.groupby("author")
        .agg(
            col("version").count().alias("commits"),
            col("ops").sum().alias("ops"),
            col("bytes_added").sum().alias("bytes_added"),
            col("ts").min().alias("first"),
            col("ts").max().alias("last"),
        )
        .sort(["ops", "author"], desc=[True, False])
    )


def current_nodes(log: Any) -> Any:
    """The latest op of every node still in the pond: node_id, kind, parent_id, name, size, sha256, target, version."""
    from daft import col

    keyed = log.with_column("order_key", col("version") * (1 << 31) + col("seq").cast(_daft().DataType.int64()))
    last = keyed.groupby("node_id").agg(col("order_key").max().alias("order_key"))
    latest = keyed.join(last, on=["node_id", "order_key"], how="inner")
    return latest.where(col("op") != "remove").select(
        "node_id", "kind", "parent_id", "name", "size", "sha256", "target", "version"
    )


def paths(log: Any) -> Any:
    """The current absolute path of every node: node_id, kind, path (the ``paths`` view), collected.

    Resolved level by level: each round joins the unresolved nodes with their parents, so a
    tree of depth d costs d distributed joins, each over the nodes still unresolved.
    """
    daft = _daft()
    from daft import col, lit

    nodes = current_nodes(log).select("node_id", "kind", "parent_id", "name").collect()
    parents = nodes.select(
        col("node_id").alias("up_id"), col("parent_id").alias("up_parent"), col("name").alias("up_name")
    )
    done = [daft.from_pydict({"node_id": [ROOT_ID], "kind": ["dir"], "path": ["/"]})]
    todo = nodes.where(col("node_id") != ROOT_ID).select(
        "node_id", "kind", col("parent_id").alias("cursor"), col("name").alias("path")
    )
    for _ in range(MAX_DEPTH):
        todo = todo.collect()
        finished = todo.where(col("cursor") == ROOT_ID)
        done.append(finished.select("node_id", "kind", (lit("/") + col("path")).alias("path")))
        todo = (
            todo.where(col("cursor") != ROOT_ID)
            .join(parents, left_on="cursor", right_on="up_id", how="inner")
            .select("node_id", "kind", col("up_parent").alias("cursor"),
                    (col("up_name") + lit("/") + col("path")).alias("path"))
        )
        if todo.count_rows() == 0:
            break
    result = done[0]
    for part in done[1:]:
        result = result.concat(part)
    return result.sort("path").collect()


def file_versions(log: Any, path: str) -> Any:
    """Every content version (create/write) of the file now at ``path``: version, ts, size, sha256, author, message."""
    from daft import col

    found = paths(log).where((col("path") == path) & (col("kind") == "file")).select("node_id").to_pydict()["node_id"]
    return (
        log.where(col("node_id").is_in(found) & col("op").is_in(["create", "write"]))
        .select("version", "ts", "size", "sha256", "author", "message")
        .sort("version")
    )
