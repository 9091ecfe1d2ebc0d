"""A real S3 emulator for the tests (moto's server, in-process, on 127.0.0.1) and backend helpers.

Tests that build paths by hand (the blob folder, the Delta table, a missing pond) use the
helpers here, so the same test runs against a local folder and an ``s3://`` pond alike.
Nothing here talks to anything but the loopback address: every client gets explicit
credentials, and ``AWS_EC2_METADATA_DISABLED=true`` keeps SDKs away from metadata services.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import uuid
from collections import Counter

import pyarrow.fs as pafs

os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

BUCKET = "tinylogsql-test"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_ALLOW_HTTP": "true",
}


class _RequestLog(logging.Handler):
    """Counts the requests the emulator serves (werkzeug logs one line per request)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self._lock_lines = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        message = _ANSI.sub("", record.getMessage())  # werkzeug colours status codes
        if '"' in message:
            with self._lock_lines:
                self.lines.append(message.split('"')[1])  # e.g. HEAD /bucket/key HTTP/1.1


class S3Emulator:
    """moto's S3 server on a free port of 127.0.0.1, with one bucket and a request counter."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.options = {**CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint}
        self.requests = _RequestLog()
        logger = logging.getLogger("werkzeug")
        logger.setLevel(logging.INFO)
        logger.propagate = False  # keep request lines out of the test output
        logger.addHandler(self.requests)
        self.filesystem().create_dir(BUCKET)

    def filesystem(self) -> pafs.S3FileSystem:
        return pafs.S3FileSystem(
            access_key="testing", secret_key="testing", region="us-east-1", scheme="http",
            endpoint_override=self.endpoint.removeprefix("http://"), allow_bucket_creation=True,
        )

    def new_uri(self, name: str = "pond") -> str:
        """A fresh pond location in the test bucket."""
        return f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}/{name}"

    def record(self, action) -> list[str]:  # type: ignore[no-untyped-def]
        """The request lines ("HEAD /bucket/key HTTP/1.1") the emulator served while ``action()`` ran."""
        start = len(self.requests.lines)
        action()
        return self.requests.lines[start:]

    def count(self, action) -> Counter[str]:  # type: ignore[no-untyped-def]
        """Requests by method (HEAD, GET, PUT, ...) the emulator served while ``action()`` ran."""
        return Counter(line.split()[0] for line in self.record(action))

    def stop(self) -> None:
        logging.getLogger("werkzeug").removeHandler(self.requests)
        self._server.stop()


# -- helpers that work for both backends --------------------------------------------------------
def is_remote(pond_path: str) -> bool:
    return str(pond_path).startswith("s3://")


def sibling(pond_path: str, name: str) -> str:
    """Another (unused) pond location next to ``pond_path``, on the same backend."""
    return f"{str(pond_path).rstrip('/')}-{name}"


def storage_options(pond_path: str) -> dict[str, str] | None:
    """What deltalake needs to open the pond's table (from the environment, as Pond does)."""
    from tinylogsql.location import locate

    return locate(pond_path).storage_options


def delta_table(pond_path: str):  # type: ignore[no-untyped-def]
    """The pond's op log as a deltalake DeltaTable (opened directly, not through tinylogsql)."""
    from deltalake import DeltaTable

    return DeltaTable(f"{str(pond_path).rstrip('/')}/log", storage_options=storage_options(pond_path))


def list_dir(pond_path: str, folder: str) -> list[str]:
    """Names of the files directly in ``folder`` of the pond (e.g. "blobs"), sorted."""
    from tinylogsql.location import locate

    location = locate(pond_path)
    selector = pafs.FileSelector(location.path(folder), allow_not_found=True)
    infos = location.fs.get_file_info(selector)
    return sorted(info.base_name for info in infos if info.type == pafs.FileType.File)


# -- for independent checkers: straight from the AWS_* environment, without tinylogsql -------------
_ENV_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_ALLOW_HTTP")


def env_storage_options() -> dict[str, str]:
    return {key: os.environ[key] for key in _ENV_KEYS if key in os.environ}


def env_filesystem() -> pafs.S3FileSystem:
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    scheme, _, host = endpoint.partition("://")
    return pafs.S3FileSystem(
        access_key=os.environ["AWS_ACCESS_KEY_ID"], secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region=os.environ.get("AWS_REGION", "us-east-1"), scheme=scheme, endpoint_override=host,
    )


# -- run in spawned child processes ------------------------------------------------------------
def child_sees_and_writes(uri: str, options: dict[str, str], name: str) -> tuple[list[str], list[str]]:
    """Open the pond with explicit options only; return (names at the root, AWS_* variables seen)."""
    from tinylogsql import Pond

    leaked = sorted(k for k in os.environ if k.startswith("AWS_") and k != "AWS_EC2_METADATA_DISABLED")
    with Pond.open(uri, storage_options=options) as pond:
        seen = sorted(pond.root)
        pond.root.create_file_path(name, b"made by a child")
    return seen, leaked


def reliability_worker(uri: str, options: dict[str, str], worker: int, n_ops: int, seed: int,
                       barrier) -> list[dict]:  # type: ignore[no-untyped-def]
    """Random colliding ops (the reliability workload) on an S3 pond; returns what the writer was told."""
    from reliability_helpers import run_worker

    from tinylogsql import Pond

    records: list[dict] = []
    with Pond.open(uri, storage_options=options, author=f"w{worker}") as pond:
        pond.root.exists("/")  # load before the barrier so the race is on the commits
        barrier.wait()
        run_worker(pond, worker, n_ops, seed, records.append, big_share=0.05)
    return records
