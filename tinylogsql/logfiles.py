"""Reading the op log's own files: a Delta log entry (which data files a commit added, which
branch it names) and data files into op rows.

Store (store.py) decides which versions and files to read; this module only reads and checks
them, so a damaged entry or data file is reported the same way wherever it is met.
"""

from __future__ import annotations

import json
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import commitbranch, objects
from .errors import CorruptPondError
from .location import LOG_DIR, Location
from .schema import LEGACY_COLUMNS, OPLOG_SCHEMA

FEW_FILES = 4
"""Up to this many data files are read one by one (a new commit's), more as one dataset."""
DELTA_ACTIONS = {"add", "remove", "commitInfo", "metaData", "protocol", "txn", "cdc", "domainMetadata",
                 "checkpointMetadata", "sidecar"}
"""Top-level keys of the actions a Delta log entry may hold (anything else means damage)."""


class MissingDataFile(CorruptPondError):
    """A data file the log lists is gone: damage, or vacuumed after a concurrent compaction
    (then a fresh load of the table no longer lists it: callers reload a few times)."""


def entry_path(location: Location, version: int) -> str:
    """The log entry of ``version`` (``_delta_log/<20 digits>.json``)."""
    return location.path(LOG_DIR, "_delta_log", f"{version:020d}.json")


def read_whole(location: Location, path: str) -> bytes:
    """A whole small file: on object storage one GET (pyarrow would HEAD first)."""
    if location.remote:
        return objects.get(location, path)
    with location.fs.open_input_stream(path) as stream:
        return stream.read()


def entry(location: Location, version: int, data: bytes | None = None) -> tuple[list[str], str | None] | None:
    """The data files commit ``version`` added with new ops and the branch its commitInfo names
    (commitbranch.py), or None if its log entry is gone; ``data``: the entry, if already read."""
    path = entry_path(location, version)
    try:
        text = (read_whole(location, path) if data is None else data).decode("utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        raise CorruptPondError(f"damaged log entry {path}: {exc}") from exc
    files = []
    known = False
    branch = None
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            action = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorruptPondError(f"damaged log entry {path}: {exc}") from exc
        if not isinstance(action, dict) or not set(action) & DELTA_ACTIONS:
            raise CorruptPondError(f"damaged log entry {path}: {line[:80]!r} is not a Delta action")
        known = True
        if "commitInfo" in action:
            branch = commitbranch.branch_of(action["commitInfo"])
        if "add" in action and action["add"].get("dataChange", True):
            files.append(location.path(LOG_DIR, unquote(action["add"]["path"])))
        elif "remove" in action and action["remove"].get("dataChange", True):
            raise CorruptPondError(f"{path} removes op rows; a pond's log is append-only")
    if not known:
        raise CorruptPondError(f"damaged log entry {path}: it holds no Delta actions")
    return files, branch


def with_branch_columns(table: pa.Table) -> pa.Table:
    """Rows of a data file written before branches, with the branch columns as nulls (= main)."""
    for name in OPLOG_SCHEMA.names[len(LEGACY_COLUMNS):]:
        table = table.append_column(OPLOG_SCHEMA.field(name), pa.nulls(table.num_rows, OPLOG_SCHEMA.field(name).type))
    return table


def read_file(location: Location, path: str, data: bytes | None = None) -> pa.Table:
    """The op rows of one data file (``data``: its bytes, if already fetched)."""
    try:
        if data is None and location.remote:
            data = objects.get(location, path)
        with (pa.BufferReader(data) if data is not None else location.fs.open_input_file(path)) as source:
            parquet = pq.ParquetFile(source)
            if parquet.schema_arrow.names == list(LEGACY_COLUMNS):  # written before branches
                return with_branch_columns(parquet.read(columns=list(LEGACY_COLUMNS)))
            return parquet.read(columns=OPLOG_SCHEMA.names)
    except FileNotFoundError as exc:
        raise MissingDataFile(f"a data file of the op log is missing: {path}") from exc
    except (OSError, pa.ArrowInvalid) as exc:
        raise CorruptPondError(f"a data file of the op log is damaged: {path}: {exc}") from exc


def read_files(location: Location, files: list[str], upto: int, only_version: int | None = None) -> pa.Table:
    """The op rows of ``files`` up to version ``upto`` (or of ``only_version`` alone): a few files
    one by one, more as one dataset (locally) or fetched together (object storage)."""
    if not files:
        return OPLOG_SCHEMA.empty_table()
    try:
        if len(files) <= FEW_FILES:  # a commit or two: skip the dataset machinery (0.4 vs 1.2 ms a file)
            table = pa.concat_tables([read_file(location, path) for path in files]).cast(OPLOG_SCHEMA)
        elif location.remote:  # one GET per file, many in flight (the dataset would HEAD each first)
            try:
                whole = objects.get_many(location, files)
            except FileNotFoundError as exc:
                raise MissingDataFile(f"a data file of the op log is missing: {exc}") from exc
            table = pa.concat_tables([read_file(location, path, data).cast(OPLOG_SCHEMA)
                                      for path, data in zip(files, whole, strict=True)])
        else:
            table = pq.read_table(files, schema=OPLOG_SCHEMA, filesystem=location.fs)
    except MissingDataFile:
        raise
    except FileNotFoundError as exc:
        raise MissingDataFile(f"a data file of the op log is missing: {exc}") from exc
    except CorruptPondError:
        raise
    except (OSError, pa.ArrowInvalid) as exc:
        raise CorruptPondError(f"a data file of the op log is damaged: {exc}") from exc
    bounds = pc.min_max(table["version"])
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    if only_version is not None:
        if low == high == only_version:
            return table  # the usual case: nothing to filter, no copy
        return table.filter(pc.equal(table["version"], only_version))
    if high is None or high <= upto:
        return table
    return table.filter(pc.less_equal(table["version"], upto))
