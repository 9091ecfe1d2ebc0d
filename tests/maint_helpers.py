"""Functions run in spawned child processes by test_maintenance.py (never forked after deltalake)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

from tinylogsql import Pond, PondError


def maintain_at_barrier(path: str, barrier: Any, retention_hours: float, unsafe: bool) -> dict[str, int]:
    """Open, wait for the other maintainer, then maintain at the same moment."""
    with Pond.open(path) as pond:
        pond.version  # noqa: B018 - loaded before the barrier, so the race is on the compaction
        barrier.wait()
        report = pond.maintain(retention_hours=retention_hours, unsafe=unsafe)
        return {"added": report.files_added, "removed": report.files_removed}


def optimize_at_barrier(path: str, barrier: Any) -> int:
    """delta-rs' own OPTIMIZE (what tinylogsql used before): the way duplicated rows came about."""
    from deltalake import DeltaTable

    dt = DeltaTable(str(Path(path) / "log"))
    barrier.wait()
    return int(dt.optimize.compact()["numFilesRemoved"])


def maintain_loop(path: str, stop_file: str, retention_hours: float, unsafe: bool, at_least: int = 1) -> int:
    """maintain() over and over until ``stop_file`` exists (and ``at_least`` ran); returns how many ran."""
    done = 0
    with Pond.open(path) as pond:
        while done < at_least or not os.path.exists(stop_file):
            pond.maintain(retention_hours=retention_hours, unsafe=unsafe)
            done += 1
    return done


def open_and_read_loop(path: str, stop_file: str, names: list[str], at_least: int = 1) -> dict[str, Any]:
    """Open the pond and read it over and over until ``stop_file`` exists (and ``at_least`` opens
    ran); every failure is recorded."""
    opens, failures = 0, []
    while opens < at_least or not os.path.exists(stop_file):
        try:
            with Pond.open(path) as pond:
                listed = set(pond.root)
                missing = [name for name in names if name not in listed]
                if missing:
                    failures.append(f"missing {missing[:3]}")
                for name in names[:3]:
                    if pond.root.read_file_path(name) != content_of(name):
                        failures.append(f"content of {name}")
            opens += 1
        except Exception as exc:  # noqa: BLE001 - any failure of an open is the finding
            failures.append(f"{type(exc).__name__}: {exc}")
    return {"opens": opens, "failures": failures}


def content_of(name: str) -> bytes:
    """A file's content in these tests: its name, or for ``big-*`` names ~200 KB derived from it
    (chunked content: several chunks, shared by no other name)."""
    if not name.startswith("big-"):
        return name.encode()
    return random.Random(name).randbytes(200_000) + name.encode()


def chunk_writer(path: str, out: str, rounds: int, seed: int, pool_size: int = 6, rewrite: bool = False) -> None:
    """Write chunked content from a small pool over and over: each round first stores a content
    and rolls back (its chunks stay, unreferenced), ages those chunks past the GC's grace period,
    then writes the same content for real (a reuse, racing the GC) and records it as acknowledged.
    ``rewrite``: each round also writes the same content as a new version of ``r-<seed>`` (under a
    retention policy, its older versions expire while the same content is written again)."""
    rng = random.Random(seed)
    pool = [random.Random(seed * 1000 + k).randbytes(rng.randrange(70_000, 400_000)) for k in range(pool_size)]
    with Pond.open(path) as pond, open(out, "a", encoding="utf-8") as stream:
        for index in range(rounds):
            data = pool[rng.randrange(pool_size)]
            name = f"c-{seed}-{index}"
            try:
                with pond.transaction():
                    pond.root.create_file_path(name, data)
                    raise _Rollback
            except _Rollback:
                pass
            manifest = Path(path) / "manifests" / hashlib.sha256(data).hexdigest()
            try:
                old = time.time() - 3600
                for chunk_id, _ in json.loads(manifest.read_text())["chunks"]:
                    os.utime(Path(path) / "chunks" / chunk_id, (old, old))
                os.utime(manifest, (old, old))
            except FileNotFoundError:
                pass  # the GC took them already: the write below stores them anew
            time.sleep(rng.uniform(0, 0.02))
            pond.root.create_file_path(name, data)
            stream.write(json.dumps({"acked": name, "sha256": hashlib.sha256(data).hexdigest()}) + "\n")
            stream.flush()
            if rewrite:
                pond.root.write_file_path(f"r-{seed}", data)
                stream.write(json.dumps({"rewrote": f"r-{seed}", "sha256": hashlib.sha256(data).hexdigest()}) + "\n")
                stream.flush()


class _Rollback(Exception):
    """Raised inside a transaction on purpose."""


def _kill_target_main(path: str, out: str) -> None:
    """Write a file (every third one chunked), record it as acknowledged, maintain (retention 0,
    unsafe), forever: the parent SIGKILLs this process at random moments, mostly inside maintain."""
    with Pond.open(path) as pond, open(out, "a", encoding="utf-8") as stream:
        if not pond.retention():
            pond.set_retention("/r-*", keep_versions=1)  # old versions of r-<pid> expire in every maintain
        stream.write(json.dumps({"ready": True}) + "\n")
        stream.flush()
        index = 0
        while True:
            name = f"{'big-' if index % 3 == 1 else ''}k-{os.getpid()}-{index}"
            try:
                pond.root.create_file_path(name, content_of(name))
                if index % 3 == 1:  # the same content as a new version of r-<pid>: expired next round
                    pond.root.write_file_path(f"r-{os.getpid()}", content_of(name))
            except PondError as exc:
                stream.write(json.dumps({"error": str(exc)}) + "\n")
                stream.flush()
                continue
            stream.write(json.dumps({"acked": name, "version": pond.last_committed_version}) + "\n")
            stream.flush()
            index += 1
            pond.maintain(retention_hours=0, unsafe=True, zorder=index % 2 == 0)
            time.sleep(0.001)


if __name__ == "__main__":
    _kill_target_main(sys.argv[1], sys.argv[2])
