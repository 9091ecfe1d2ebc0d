"""Direct requests to an S3 pond's objects, fewer than pyarrow's filesystem makes.

pyarrow's ``S3FileSystem`` sends a HEAD before every GET (to learn the size), and has no
listing that starts after a key. Here, with boto3 (already a dependency, see maintenance.py):

- ``newer_entries``: one ``ListObjectsV2`` with ``StartAfter`` the log entry of the version a
  reader has answers "did the table move?" in one request. Every name in ``_delta_log`` that
  sorts after ``<v:020d>.json`` and starts with a digit belongs to a newer version (a commit
  entry, a checkpoint); ``_last_checkpoint`` sorts after all of them. Log cleanup never deletes
  the newest checkpoint nor the entries after it, so a newer version always leaves a name here.
- ``get``: one GET for a whole (small) object: a log entry, a commit's data file.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from .location import LOG_DIR, Location

_ENTRY = re.compile(r"(\d{20})\.json")
_NUMBERED = re.compile(r"\d{20}\.")
LIST_MAX = 1000
"""Keys per listing (S3's maximum): a reader further behind lists again."""
PARALLEL_GETS = 16
"""GETs in flight when many objects are read at once (a cold open's data files)."""

_clients: dict[tuple[tuple[str, str], ...], Any] = {}
_clients_lock = threading.Lock()


class Newer(NamedTuple):
    """What a listing after version v found: the log entries (version -> size in bytes), and the
    newest version any name belongs to (a checkpoint whose entries were cleaned up counts; v if none)."""

    entries: dict[int, int]
    newest: int
    truncated: bool


def client(location: Location) -> Any:
    """A boto3 S3 client for the location's storage options (made once per option set; thread-safe)."""
    options = location.storage_options or {}
    key = tuple(sorted(options.items()))
    with _clients_lock:
        found = _clients.get(key)
        if found is None:
            import boto3
            from botocore.config import Config

            endpoint = options.get("AWS_ENDPOINT_URL")
            if endpoint and "://" not in endpoint:
                allow_http = options.get("AWS_ALLOW_HTTP", "").lower() in ("1", "true", "yes", "on")
                endpoint = ("http://" if allow_http else "https://") + endpoint
            found = _clients[key] = boto3.client(
                "s3", endpoint_url=endpoint or None, region_name=options.get("AWS_REGION"),
                aws_access_key_id=options.get("AWS_ACCESS_KEY_ID"),
                aws_secret_access_key=options.get("AWS_SECRET_ACCESS_KEY"),
                aws_session_token=options.get("AWS_SESSION_TOKEN"),
                config=Config(max_pool_connections=PARALLEL_GETS, retries={"mode": "standard"}))
        return found


def _split(path: str) -> tuple[str, str]:
    bucket, _, key = path.partition("/")
    return bucket, key


def newer_entries(location: Location, version: int) -> Newer:
    """Names in the log newer than ``version``: one LIST request."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = _split(location.path(LOG_DIR, "_delta_log/"))
    try:
        answer = client(location).list_objects_v2(
            Bucket=bucket, Prefix=prefix, StartAfter=f"{prefix}{version:020d}.json", MaxKeys=LIST_MAX)
    except (BotoCoreError, ClientError) as exc:  # as pyarrow's filesystem would report it
        raise OSError(f"cannot list {bucket}/{prefix}: {exc}") from exc
    entries: dict[int, int] = {}
    newest = version
    for item in answer.get("Contents", []):
        name = item["Key"][len(prefix):]
        if not _NUMBERED.match(name):
            continue  # _last_checkpoint and other housekeeping: not a version
        newest = max(newest, int(name[:20]))
        match = _ENTRY.fullmatch(name)
        if match:
            entries[int(match.group(1))] = int(item["Size"])
    return Newer(entries, newest, bool(answer.get("IsTruncated")))


def get(location: Location, path: str) -> bytes:
    """A whole object in one GET (FileNotFoundError if there is none)."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = _split(path)
    try:
        return client(location).get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            raise FileNotFoundError(path) from exc
        raise OSError(f"cannot read {path}: {exc}") from exc
    except BotoCoreError as exc:  # no connection, timeouts: as pyarrow's filesystem would report it
        raise OSError(f"cannot read {path}: {exc}") from exc


def get_many(location: Location, paths: list[str]) -> list[bytes]:
    """Whole objects, PARALLEL_GETS at a time, in the order given."""
    if len(paths) <= 1:
        return [get(location, path) for path in paths]
    with ThreadPoolExecutor(min(PARALLEL_GETS, len(paths))) as pool:
        return list(pool.map(lambda path: get(location, path), paths))
