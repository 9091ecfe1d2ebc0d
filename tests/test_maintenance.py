"""Maintenance that never hurts (issues 13, 17): compaction, vacuum, content GC and snapshots under
concurrency and crashes. Real processes, real Delta tables; sizes grow with TINYLOGSQL_NIGHTLY=1.

In every test: nothing acknowledged is lost, no (version, seq) row is duplicated, check() is clean.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import maint_helpers
import pytest
from reliability_helpers import read_log, read_records, scale, seed_tree, start_worker, verify, worker_env
from test_torture import record_figures

from tinylogsql import Pond
from tinylogsql.errors import ConflictError, InvalidArgumentError, PondError, UnsafeRetentionError
from tinylogsql.location import locate
from tinylogsql.maintenance import MIN_SAFE_RETENTION_HOURS, collect, put_if_absent

SPAWN = multiprocessing.get_context("spawn")
HOUR = 3600.0


def duplicated(pond_path: Path | str) -> int:
    """Rows of the table's current files that repeat a (version, seq): read without tinylogsql."""
    keys = [(row["version"], row["seq"]) for row in read_log(Path(pond_path))]
    return len(keys) - len(set(keys))


def assert_sound(pond_path: Path | str, names: list[str]) -> None:
    """Every acknowledged file is there once, with its content; no duplicated row; check() clean."""
    assert duplicated(pond_path) == 0
    with Pond.open(pond_path) as pond:
        listed = list(pond.root)
        assert len(listed) == len(set(listed))
        assert set(names) <= set(listed), sorted(set(names) - set(listed))[:5]
        for name in names:
            assert pond.root.read_file_path(name) == maint_helpers.content_of(name)
        count = pond.sql("select count(*) from files where path like '/%'").fetchall()[0][0]
        assert count == len(listed)
        report = pond.check()
        assert report.ok, report.problems


def _newest_version(pond_path: Path) -> int:
    return max(int(p.name[:20]) for p in (pond_path / "log" / "_delta_log").glob("*.json"))


def add_files(pond_path: Path | str, prefix: str, count: int) -> list[str]:
    names = [f"{prefix}{i}" for i in range(count)]
    with Pond.open(pond_path) as pond:
        for name in names:
            pond.root.create_file_path(name, name.encode())  # one commit (one data file) each
    return names


# -- 1. two compactions at once ------------------------------------------------------------------
def test_two_maintainers_in_processes_never_duplicate_rows(tmp_path: Path) -> None:
    rounds = scale(3, 20)
    pond_path = tmp_path / "pond"
    Pond.create(pond_path).close()
    names: list[str] = []
    with SPAWN.Manager() as manager, SPAWN.Pool(2) as pool:
        for round_ in range(rounds):
            names += add_files(pond_path, f"r{round_}-", 12)
            barrier = manager.Barrier(2)
            reports = pool.starmap(maintain_at_barrier_args(), [(str(pond_path), barrier, 1.0, False)] * 2)
            assert any(report["removed"] > 0 for report in reports)
            assert_sound(pond_path, names)
    with Pond.open(pond_path) as pond:  # history and commits do not double either
        commits = pond.sql("select count(*) from commits").fetchall()[0][0]
        assert commits == len(names) + 1  # the files and the root: compactions add no op rows
    record_figures("two-maintainers", rounds=rounds, files=len(names), duplicated=0)


def maintain_at_barrier_args() -> Any:
    return maint_helpers.maintain_at_barrier


def test_compaction_lands_only_on_the_version_it_read(tmp_path: Path) -> None:
    """A log entry for version V+1 is created once: a second create of it is refused, locally and
    on the store's own rule (the compaction then redoes its work on the newer version)."""
    location = locate(tmp_path / "x")
    os.makedirs(tmp_path / "x")
    target = str(tmp_path / "x" / "00000000000000000001.json")
    assert put_if_absent(location, target, b"first\n")
    assert not put_if_absent(location, target, b"second\n")
    assert Path(target).read_bytes() == b"first\n"
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["00000000000000000001.json"]  # no temp left


def test_put_if_absent_on_s3(s3_env: Any) -> None:
    uri = s3_env.new_uri()
    location = locate(uri)
    path = location.path("log", "_delta_log", "00000000000000000007.json")
    assert put_if_absent(location, path, b"one\n")
    assert not put_if_absent(location, path, b"two\n")
    with location.fs.open_input_stream(path) as stream:
        assert stream.read() == b"one\n"


# -- the guard -----------------------------------------------------------------------------------
def _duplicate_a_data_file(pond_path: Path) -> None:
    """Damage as two concurrent OPTIMIZEs left it (delta-rs 1.6): the same rows in two active files."""
    log = pond_path / "log"
    from deltalake import DeltaTable

    dt = DeltaTable(str(log))
    source = dt.file_uris()[0].split("://", 1)[-1]
    copy = f"part-00000-{uuid.uuid4()}-c000.zstd.parquet"
    shutil.copy(source, log / copy)
    entry = {"add": {"path": copy, "partitionValues": {}, "size": os.path.getsize(log / copy),
                     "modificationTime": int(time.time() * 1000), "dataChange": False}}
    info = {"commitInfo": {"timestamp": int(time.time() * 1000), "operation": "OPTIMIZE",
                           "readVersion": dt.version() - 1}}
    assert put_if_absent(locate(pond_path), str(log / "_delta_log" / f"{dt.version() + 1:020d}.json"),
                         (json.dumps(info) + "\n" + json.dumps(entry) + "\n").encode())


def test_duplicated_rows_are_reported_shown_once_and_repaired(tmp_path: Path) -> None:
    pond_path = tmp_path / "pond"
    Pond.create(pond_path).close()
    names = add_files(pond_path, "f", 10)
    with Pond.open(pond_path) as pond:
        pond.maintain(retention_hours=1)
    _duplicate_a_data_file(pond_path)
    assert duplicated(pond_path) == 11  # the root and the ten files, twice
    with Pond.open(pond_path) as pond:  # opens from the snapshot: the tail adds no op rows
        assert pond.sql("select count(*) from history").fetchall()[0][0] == 11  # the SQL worker shows each once
        with pytest.warns(RuntimeWarning, match="11 duplicated op rows"):  # noticed when the engine reads the log
            assert pond.at(pond.version).root.get(names[0]) is not None
        assert sorted(pond.root) == sorted(names)
        assert pond.sql("select count(*) from commits").fetchall()[0][0] == 11
        report = pond.check()
        assert [p.code for p in report.problems] == ["duplicate-row"]
    shutil.rmtree(pond_path / "state")  # an open that rebuilds from the log sees them too
    with pytest.warns(RuntimeWarning, match="duplicated op rows"), Pond.open(pond_path) as pond:
        assert len(pond.root) == 10
        with pytest.warns(RuntimeWarning):
            pond.maintain(retention_hours=1)  # rewrites every row once
    assert_sound(pond_path, names)


# -- 2. crash-safety of maintain, opens beside it ------------------------------------------------
def test_open_falls_back_when_the_snapshot_tail_was_vacuumed(tmp_path: Path) -> None:
    """maintain killed after vacuum, before it persisted: the old snapshot's tail files are gone."""
    pond_path = tmp_path / "pond"
    Pond.create(pond_path).close()
    names = add_files(pond_path, "a", 5)
    with Pond.open(pond_path) as pond:
        pond.maintain(retention_hours=0, unsafe=True)  # persists the snapshot the next open starts from
        for name in ["b0", "b1", "b2"]:
            pond.root.create_file_path(name, name.encode())
        pond._store.compact(zorder=True)  # what maintain does before it dies
        assert pond._store.vacuum(0.0)
    assert_sound(pond_path, [*names, "b0", "b1", "b2"])
    from tinylogsql.check import check_path

    assert check_path(pond_path).ok


def test_sigkill_during_maintain(tmp_path: Path) -> None:
    trials = scale(4, 100)
    rng = random.Random(int(os.environ.get("TINYLOGSQL_SEED", "13")))
    pond_path = tmp_path / "pond"
    Pond.create(pond_path).close()
    acked: list[str] = []
    for trial in range(trials):
        out = tmp_path / f"kill{trial}.jsonl"
        proc = subprocess.Popen([sys.executable, maint_helpers.__file__, str(pond_path), str(out)], env=worker_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while not any(r.get("ready") for r in read_records(out)):
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.005)
        time.sleep(rng.uniform(0.05, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode() if proc.stderr else ""
        records = read_records(out)
        assert not [r for r in records if "error" in r]
        acked += [r["acked"] for r in records if "acked" in r]
        assert_sound(pond_path, acked)
        with Pond.open(pond_path) as pond:  # the current version of every r-* (retention keeps 1) reads whole
            for name in [n for n in pond.root if n.startswith("r-")]:
                data = pond.root.read_file_path(name)
                assert data == maint_helpers.content_of(data[data.rindex(b"big-k-"):].decode())
            expired = len(pond._refs().expired)
    record_figures("sigkill-maintain", trials=trials, acknowledged=len(acked), expired=expired)
    assert len(acked) >= trials  # the victim really wrote and maintained between kills


def test_opens_beside_maintain_never_fail(tmp_path: Path) -> None:
    pond_path = tmp_path / "pond"
    Pond.create(pond_path).close()
    names = add_files(pond_path, "o", 20)
    stop = tmp_path / "stop"
    with SPAWN.Pool(3) as pool:
        maintainer = pool.apply_async(maint_helpers.maintain_loop, (str(pond_path), str(stop), 0, True, 5))
        readers = [pool.apply_async(maint_helpers.open_and_read_loop, (str(pond_path), str(stop), names, 20))
                   for _ in range(2)]
        started, deadline = time.monotonic(), time.monotonic() + 300
        while time.monotonic() - started < scale(6, 60) or _newest_version(pond_path) < len(names) + 5:
            assert time.monotonic() < deadline, "the maintainer did not get going"
            time.sleep(0.1)  # each maintain commits one compaction: wait for five beside the readers
        stop.touch()
        maintained = maintainer.get(timeout=300)
        outcomes = [reader.get(timeout=300) for reader in readers]
    opens = sum(outcome["opens"] for outcome in outcomes)
    failures = [failure for outcome in outcomes for failure in outcome["failures"]]
    record_figures("opens-beside-maintain", maintains=maintained, opens=opens, failures=len(failures))
    assert failures == []
    assert maintained >= 5 and opens >= 40
    assert_sound(pond_path, names)


# -- maintain beside writers with auto-compactions -----------------------------------------------
def test_maintain_beside_two_writers_with_auto_compactions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYLOGSQL_TEST_AUTO_COMPACT_EVERY", "5")  # the writers compact every 5 commits
    writers, ops = 2, scale(30, 300)
    pond_path = tmp_path / "pond"
    with Pond.create(pond_path) as pond:
        seed_tree(pond)
    outs = [tmp_path / f"w{k}.jsonl" for k in range(writers)]
    procs = [start_worker(pond_path, k, ops, 7000 + k, outs[k], "torture") for k in range(writers)]
    stop = tmp_path / "stop"
    with SPAWN.Pool(1) as pool:
        maintainer = pool.apply_async(maint_helpers.maintain_loop,
                                      (str(pond_path), str(stop), MIN_SAFE_RETENTION_HOURS, False))
        deadline = time.monotonic() + 60
        while not all(any(r.get("ready") for r in read_records(out)) for out in outs):
            assert time.monotonic() < deadline, "workers did not start"
            time.sleep(0.01)
        (tmp_path / "go").touch()
        for proc in procs:
            _, err = proc.communicate(timeout=scale(300, 3600))
            assert proc.returncode == 0, err.decode()
        stop.touch()
        maintained = maintainer.get(timeout=120)
    records = [r for out in outs for r in read_records(out)]
    verdict = verify(pond_path, records)
    verdict.assert_clean()
    assert duplicated(pond_path) == 0
    compactions = sum(1 for entry in (pond_path / "log" / "_delta_log").glob("*.json")
                      if '"OPTIMIZE"' in entry.read_text())
    record_figures("maintain-beside-writers", writers=writers, ops_each=ops, maintains=maintained,
                   acknowledged=verdict.acknowledged, compactions_in_kept_log=compactions)
    assert maintained >= 1 and verdict.acknowledged >= writers * ops // 5
    with Pond.open(pond_path) as pond:
        assert pond.check().ok


# -- 3. vacuum: safe by default, fractions honoured ---------------------------------------------
def _log_files(pond_path: Path) -> list[str]:
    return sorted(str(p.relative_to(pond_path)) for p in pond_path.rglob("*") if p.is_file())


def test_retention_below_the_safe_minimum_is_refused(tmp_path: Path) -> None:
    pond_path = tmp_path / "pond"
    Pond.create(pond_path).close()
    add_files(pond_path, "f", 3)
    before = _log_files(pond_path)
    with Pond.open(pond_path) as pond:
        for hours in (0, 0.9, -1.0, float("nan")):
            with pytest.raises(UnsafeRetentionError) as info:
                pond.maintain(retention_hours=hours)
            assert isinstance(info.value, ValueError) and isinstance(info.value, PondError)
        with pytest.raises(InvalidArgumentError):
            pond.maintain(retention_hours="24")  # type: ignore[arg-type]
        with pytest.raises(UnsafeRetentionError):
            pond.maintain(retention_hours=-1, unsafe=True)
    assert _log_files(pond_path) == before  # refused before anything happened


def _orphan(pond_path: Path, age_hours: float) -> Path:
    """A data file no commit references (a crashed writer's), written ``age_hours`` ago."""
    source = next((pond_path / "log").glob("part-*.parquet"))
    orphan = pond_path / "log" / f"part-00000-{uuid.uuid4()}-c000.zstd.parquet"
    shutil.copy(source, orphan)
    when = time.time() - age_hours * HOUR
    os.utime(orphan, (when, when))
    return orphan


def test_fractional_retention_is_honoured(tmp_path: Path) -> None:
    pond_path = tmp_path / "pond"
    Pond.create(pond_path).close()
    names = add_files(pond_path, "f", 6)
    older, younger = _orphan(pond_path, 0.95), _orphan(pond_path, 0.85)
    with Pond.open(pond_path) as pond:
        report = pond.maintain(retention_hours=0.9, unsafe=True)  # int(0.9) == 0 would take everything
        assert report.files_removed == 7 and report.files_vacuumed == 1  # files compacted seconds ago stay
        assert not older.exists() and younger.exists()
        report = pond.maintain(retention_hours=1.0)  # and 0.85 h is not rounded up to 1 h either
        assert younger.exists()
    assert_sound(pond_path, names)


# -- 4. content GC: reachability from the table, age of last write or reuse ---------------------
def _age(path: Path, hours: float) -> None:
    when = time.time() - hours * HOUR
    os.utime(path, (when, when))


def stored(pond_path: Path, data: bytes) -> tuple[Path, list[Path]]:
    """The chunk list of chunked content and its chunks' files, read from disk without tinylogsql."""
    manifest = pond_path / "manifests" / hashlib.sha256(data).hexdigest()
    listed = json.loads(manifest.read_text())["chunks"] if manifest.exists() else []
    return manifest, [pond_path / "chunks" / chunk_id for chunk_id, _ in listed]


def test_content_reused_during_gc_survives(tmp_path: Path) -> None:
    pond_path = tmp_path / "pond"
    Pond.create(pond_path).close()
    big, stray = os.urandom(300_000), os.urandom(300_000)
    with Pond.open(pond_path) as pond, Pond.open(pond_path) as maintainer:
        for data in (big, stray):
            with pytest.raises(ZeroDivisionError), pond.transaction():
                pond.root.create_file_path("rolled-back", data)
                raise ZeroDivisionError  # rolled back: the chunks stay, unreferenced
        manifest, chunks = stored(pond_path, big)
        stray_manifest, stray_chunks = stored(pond_path, stray)
        assert len(chunks) > 1 and len(stray_chunks) > 1
        for path in [manifest, *chunks, stray_manifest, *stray_chunks]:
            _age(path, 200)  # older than the default retention (a week)
        junk = pond_path / "chunks" / "not-a-chunk-name"
        junk.write_bytes(b"keep me")
        _age(junk, 200)
        with pond.transaction():
            pond.root.create_file_path("reuse", big)  # reuses the old chunks: their age is refreshed
            dry = maintainer.maintain(dry_run=True)
            report = maintainer.maintain()  # runs while the write is in flight
        expected = sorted(f"chunks/{path.name}" for path in stray_chunks)
        assert dry.dry_run and sorted(dry.chunks_dropped) == expected
        assert sorted(report.chunks_dropped) == expected and report.manifests_dropped == [
            f"manifests/{stray_manifest.name}"]
        assert report.bytes_freed == dry.bytes_freed > 300_000
        assert all(path.exists() for path in [manifest, *chunks, junk])
        assert not any(path.exists() for path in [stray_manifest, *stray_chunks])
        assert pond.root.read_file_path("reuse") == big
        again = maintainer.maintain()  # referenced now
        assert again.chunks_dropped == [] and again.manifests_dropped == [] and again.bytes_freed == 0
        assert pond.check().ok


def test_content_gc_racing_reuse_in_threads(tmp_path: Path) -> None:
    """GC with a 2 s grace period in a loop while a thread reuses old unreferenced chunks and commits."""
    pond_path = tmp_path / "pond"
    Pond.create(pond_path).close()
    rounds = scale(60, 600)
    stop = threading.Event()
    dropped: list[str] = []
    with Pond.open(pond_path) as pond, Pond.open(pond_path) as other:
        def gc() -> None:
            while not stop.is_set():
                dropped.extend(collect(other._store, 2 / HOUR).chunks)

        thread = threading.Thread(target=gc)
        thread.start()
        try:
            for index in range(rounds):
                data = os.urandom(100_000)
                with pytest.raises(ZeroDivisionError), pond.transaction():
                    pond.root.create_file_path("x", data)
                    raise ZeroDivisionError
                manifest, chunks = stored(pond_path, data)
                for path in [manifest, *chunks]:
                    if path.exists():
                        _age(path, 1)
                time.sleep(random.uniform(0, 0.03))  # let the GC find them old and unreferenced, or not
                pond.root.create_file_path(f"r{index}", data)  # reuse (or write anew if GC took them)
                assert pond.root.read_file_path(f"r{index}") == data
        finally:
            stop.set()
            thread.join()
        report = pond.check()
        assert report.ok, report.problems
        # The same GC, alone, does drop old unreferenced chunks (so the loop above could have).
        data = os.urandom(100_000)
        with pytest.raises(ZeroDivisionError), pond.transaction():
            pond.root.create_file_path("x", data)
            raise ZeroDivisionError
        manifest, chunks = stored(pond_path, data)
        for path in [manifest, *chunks]:
            _age(path, 1)
        assert sorted(collect(other._store, 2 / HOUR).chunks) == sorted(f"chunks/{path.name}" for path in chunks)
    record_figures("chunk-gc-race", rounds=rounds, dropped_during_race=len(dropped))


def test_chunk_writers_in_processes_during_maintain_lose_nothing(tmp_path: Path) -> None:
    """Two writer processes reuse chunks they aged past the grace period (as if a crashed write
    had left them) while a third process maintains with a 5 s grace period in a loop."""
    pond_path = tmp_path / "pond"
    with Pond.create(pond_path) as pond:  # r-<seed>: a new version each round, the older ones expire
        pond.set_retention("/r-*", keep_versions=1)
    rounds, stop = scale(25, 250), tmp_path / "stop"
    outs = [tmp_path / f"w{k}.jsonl" for k in range(2)]
    with SPAWN.Pool(3) as pool:
        maintainer = pool.apply_async(maint_helpers.maintain_loop, (str(pond_path), str(stop), 5 / HOUR, True, 3))
        writers = [pool.apply_async(maint_helpers.chunk_writer, (str(pond_path), str(out), rounds, 11 + k, 6, True))
                   for k, out in enumerate(outs)]
        for writer in writers:
            writer.get(timeout=scale(300, 3600))
        stop.touch()
        maintained = maintainer.get(timeout=300)
    records = [record for out in outs for record in read_records(out)]
    acked = [record for record in records if "acked" in record]
    last = {record["rewrote"]: record["sha256"] for record in records if "rewrote" in record}
    assert len(acked) == 2 * rounds and len(last) == 2
    with Pond.open(pond_path) as pond:
        for record in acked:
            assert hashlib.sha256(pond.root.read_file_path(record["acked"])).hexdigest() == record["sha256"]
        assert {name: hashlib.sha256(pond.root.read_file_path(name)).hexdigest() for name in last} == last
        report = pond.check()
        assert report.ok, report.problems
        final = pond.maintain(retention_hours=0, unsafe=True)  # alone now: only unreferenced content goes
        assert all(hashlib.sha256(pond.root.read_file_path(r["acked"])).hexdigest() == r["sha256"] for r in acked)
        assert {name: hashlib.sha256(pond.root.read_file_path(name)).hexdigest() for name in last} == last
        assert pond.check().ok and final.chunk_gc_skipped is None
        expired = len(pond._refs().expired)
    record_figures("chunk-writers-beside-maintain", rounds_each=rounds, maintains=maintained, expired=expired)
    assert expired >= rounds  # the policy really expired versions while the writers reused their content
    assert maintained >= 3


# -- 5. a read-only transaction sees one version ---------------------------------------------------
def test_read_only_transaction_conflicts_when_what_it_read_moved(tmp_path: Path) -> None:
    with Pond.create(tmp_path / "pond") as pond:
        pond.root.create_file_path("a", b"50")
        pond.root.create_file_path("b", b"50")

        def transfer() -> None:
            with pond.transaction():
                pond.root.write_file_path("a", b"49")
                pond.root.write_file_path("b", b"51")

        with pytest.raises(ConflictError), pond.transaction():
            assert pond.root.read_file_path("a") == b"50"
            worker = threading.Thread(target=transfer)  # another thread moves the shared engine
            worker.start()
            worker.join()
            pond.root.read_file_path("b")  # b at the new version would total 101: refused
        with pytest.raises(ConflictError), pond.transaction():  # read-only, checked at its end too
            pond.root.read_file_path("a")
            pond.root.read_file_path("b")
            worker = threading.Thread(target=transfer)
            worker.start()
            worker.join()


def test_read_only_transaction_under_a_syncing_thread(tmp_path: Path) -> None:
    audits = scale(300, 12_000)
    with Pond.create(tmp_path / "pond") as pond:
        for name in "abc":
            pond.root.create_file_path(name, b"100")
        stop = threading.Event()

        def mover() -> None:
            rng = random.Random(5)
            while not stop.is_set():
                src, dst = rng.sample("abc", 2)
                try:
                    with pond.transaction():
                        a, b = int(pond.root.read_file_path(src)), int(pond.root.read_file_path(dst))
                        pond.root.write_file_path(src, str(a - 1))
                        pond.root.write_file_path(dst, str(b + 1))
                except ConflictError:
                    pass

        def syncer() -> None:
            while not stop.is_set():
                pond.version  # noqa: B018 - moves the shared engine to the newest version

        threads = [threading.Thread(target=mover), threading.Thread(target=syncer)]
        for thread in threads:
            thread.start()
        wrong, conflicts, done = [], 0, 0
        deadline = time.monotonic() + scale(60, 600)
        try:
            while (done < audits or pond.version < scale(40, 2000)) and time.monotonic() < deadline:
                done += 1
                try:
                    with pond.transaction():
                        total = sum(int(pond.root.read_file_path(name)) for name in "abc")
                    if total != 300:
                        wrong.append(total)
                except ConflictError:
                    conflicts += 1
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        record_figures("read-only-audits", audits=done, conflicts=conflicts, wrong=len(wrong), commits=pond.version)
        assert wrong == []
        assert pond.version >= scale(40, 2000)  # the mover really moved things meanwhile
        assert pond.check().ok
