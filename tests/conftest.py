"""Shared fixtures: every test gets real Delta tables on disk and a real DuckDB."""

from __future__ import annotations

import os

import pytest

from tinylogsql import Pond

os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def pond_path(tmp_path):
    return str(tmp_path / "pond")


@pytest.fixture
def pond(pond_path):
    with Pond.create(pond_path, author="tester") as p:
        yield p
