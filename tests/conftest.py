"""Shared fixtures: every test gets real Delta tables (on disk or on an S3 emulator) and a real DuckDB.

``pond_path`` / ``pond`` give a local folder by default. A module that sets
``pytestmark = pytest.mark.backends("local", "s3")`` runs each of its tests that use them once
per backend: "s3" is a pond in moto's S3 server, started once per session on 127.0.0.1 (see
s3_helpers.py), with credentials and endpoint in the ``AWS_*`` environment variables so that
``Pond.open(pond_path)`` works unchanged, in this process and in the ones it spawns.
Set ``TINYLOGSQL_BACKENDS=local`` to skip the S3 runs while iterating.
"""

from __future__ import annotations

import os

import pytest

from tinylogsql import Pond

os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")  # no SDK may look for a cloud metadata service
os.environ.setdefault("DAFT_ANALYTICS_ENABLED", "0")  # Daft and Ray send no usage reports from tests
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "backends(*names): run the module's pond tests on each backend (local, s3)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("backends")
    if marker is None or "backend" not in metafunc.fixturenames:
        return
    wanted = os.environ.get("TINYLOGSQL_BACKENDS")
    names = [b for b in marker.args if not wanted or b in wanted.split(",")]
    metafunc.parametrize("backend", names, indirect=True)


@pytest.fixture(scope="session")
def s3_emulator():
    """moto's S3 server on a free port of 127.0.0.1, for the whole session; stopped at the end."""
    from s3_helpers import S3Emulator

    emulator = S3Emulator()
    yield emulator
    emulator.stop()


@pytest.fixture
def s3_env(s3_emulator, monkeypatch):
    """The emulator's endpoint and credentials in the ``AWS_*`` environment variables (this test only)."""
    for key, value in s3_emulator.options.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return s3_emulator


@pytest.fixture
def backend(request) -> str:
    return getattr(request, "param", "local")


@pytest.fixture
def pond_path(backend, tmp_path, request) -> str:
    if backend == "s3":
        return request.getfixturevalue("s3_env").new_uri()
    return str(tmp_path / "pond")


@pytest.fixture
def pond(pond_path):
    with Pond.create(pond_path, author="tester") as p:
        yield p
