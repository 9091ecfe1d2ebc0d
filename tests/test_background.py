"""Background work runs at a lower OS priority than the threads that commit (background.py): a
merge, a compaction or a checkpoint beside a commit takes the CPU only when the committer does
not want it. Linux only (nice is per thread there; elsewhere nothing is changed)."""

from __future__ import annotations

import os
import sys
import threading

import pytest

import tinylogsql.maintenance as maintenance
import tinylogsql.segments as segments
from tinylogsql import Pond

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")


def nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_merges_and_compactions_run_nicer_than_the_committer():
    assert segments.in_background(nice).result() > nice()
    assert maintenance._compactor.submit(nice).result() > nice()


def test_the_checkpoint_thread_runs_nicer_and_the_committer_keeps_its_priority(pond_path):
    before = nice()
    with Pond.create(pond_path) as pond:
        for i in range(12):  # past a checkpoint interval: the checkpoint thread has run
            pond.root.create_file_path(f"f{i}", b"x")
        threads = [thread for thread in threading.enumerate() if thread.name == "tinylogsql-checkpoint"]
        assert threads and all(os.getpriority(os.PRIO_PROCESS, thread.native_id) > before for thread in threads)
        assert nice() == before
