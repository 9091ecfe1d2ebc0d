"""Checkpoints and log trims racing writers and fresh opens, across processes (spawn), on each backend.

A process whose checkpoint lags can write ``_last_checkpoint`` after others have moved on and trimmed
the log: the hint then names an older checkpoint than the newest one present (delta-rs overwrites it
unconditionally). deltalake's open lists from the hint and takes the newest checkpoint it finds
(delta-kernel-rs ``LogSegmentFiles::list_with_checkpoint_hint``); tinylogsql's own readers and writers
must not trust the hint either: a writer asleep while its next log entry was trimmed must still see
the newer versions, or its next commit would recreate a trimmed entry behind the newest checkpoint,
where no reader ever looks (acknowledged, then lost).
"""

from __future__ import annotations

import multiprocessing

import checkpoint_helpers as helpers
import pytest
from deltalake import DeltaTable
from pyarrow.fs import FileSelector

from tinylogsql import Pond
from tinylogsql.location import LOG_DIR, locate

pytestmark = pytest.mark.backends("local", "s3")

WRITERS, COMMITS = 2, 110
"""Two writers of 110 commits each take the table past version 199, whose commit trims the log below 99."""


def _results(out, expected: int) -> dict:  # type: ignore[no-untyped-def]
    found = {}
    while len(found) < expected:
        name, value = out.get(timeout=240)
        assert not name.startswith("error"), (name, value)
        found[name] = value
    return found


def test_a_late_stale_checkpoint_hint_loses_no_commit_and_every_open_succeeds(pond_path):
    with Pond.create(pond_path) as pond:
        for index in range(12):  # a checkpoint at 9: the hint the lagging process will write late
            pond.root.create_file_path(f"early-{index}", b"e")
    spawn = multiprocessing.get_context("spawn")
    out, ready, wake, stop = spawn.Queue(), spawn.Event(), spawn.Event(), spawn.Event()
    sleeper = spawn.Process(target=helpers.sleeper, args=(pond_path, ready, wake, out))
    sleeper.start()
    assert ready.wait(120)
    location = locate(pond_path)
    hint_path = location.path(LOG_DIR, "_delta_log", "_last_checkpoint")
    with location.fs.open_input_stream(hint_path) as stream:
        late_hint = stream.read()  # what a checkpointer of version 9 wrote (delta-rs's own bytes)
    opener = spawn.Process(target=helpers.opener, args=(pond_path, stop, out))
    opener.start()
    writers = [spawn.Process(target=helpers.writer, args=(pond_path, f"w{n}", COMMITS, out)) for n in range(WRITERS)]
    for process in writers:
        process.start()
    acknowledged = _results(out, 1 + WRITERS * COMMITS)
    for process in writers:
        process.join(60)
    # the writers trimmed the log below a checkpoint >= 99: the sleeper's next entry is gone
    names = [info.base_name for info in location.fs.get_file_info(FileSelector(location.path(LOG_DIR, "_delta_log")))]
    sleeper_version = acknowledged["sleeper-1"]
    assert f"{sleeper_version + 1:020d}.json" not in names
    # the lagging checkpointer's _last_checkpoint lands now, naming version 9
    with location.fs.open_output_stream(hint_path) as sink:
        sink.write(late_hint)
    wake.set()
    acknowledged.update(_results(out, 1))
    stop.set()
    opens, failures = _results(out, 1)["opener"]
    sleeper.join(60)
    opener.join(60)
    assert failures == [] and opens >= 1
    newest = max(acknowledged.values())
    assert acknowledged["sleeper-2"] == newest > max(v for k, v in acknowledged.items() if k != "sleeper-2")
    table = DeltaTable(location.table_uri, storage_options=location.storage_options)
    assert table.version() == newest  # deltalake opens past the stale hint (lists from it, takes the newest)
    with Pond.open(pond_path) as fresh:  # every acknowledged commit is there, each once
        assert fresh.version == newest
        for name in acknowledged:
            assert fresh.root.read_file_path(name) == name.encode()
        assert len(list(fresh.root)) == 12 + len(acknowledged)
