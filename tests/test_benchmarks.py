"""The benchmark scripts keep working: each runs in --quick mode and prints its figures.

No timing is asserted here (figures are read by people, from the scripts' output); only
that every script exits 0 and prints the labels of the figures it promises.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = sorted(BENCHMARKS.glob("bench_*.py"))

EXPECTED: dict[str, list[str]] = {
    "bench_core.py": [
        "single-op commits/s", "batched ops/s", "exists p50", "exists p99",
        "read_file_path p50", "read_file_path p99", "ratio/os", "load average",
    ],
    "bench_sync.py": ["sync into an empty directory", "sync, nothing changed (no commit)", "sync, 1% of files changed",
                      "ratio/put", "ratio/sha256 all", "load average"],
    "bench_chunks.py": ["stored bytes, 30 appends of 1 KB", "stored bytes, 30 mid-file edits", "10 identical copies",
                        "ingest", "streaming read via File.open()", "maintain dry run", "ratio/git loose", "ratio/cp",
                        "load average"],
    "bench_branches.py": ["create branch", "first read on a new branch", "lookup p50 on a branch", "changed nodes",
                          "merge preview", "two writers on two branches", "load average"],
    "bench_commit.py": ["Delta commits/s, 1 row(s) each", "Delta commits/s, 200 row(s) each",
                        "sustained single-op pond commits/s", "ratio/write_deltalake",
                        "ratio/create_write_transaction", "ratio/bare write_deltalake", "load average"],
    "bench_bulk.py": ["bulk creates/s (Pond.ingest, one commit)", "per-op API creates/s (one transaction)",
                      "sync of 1 KiB files into an empty pond", "import-git changes/s", "ratio/git add+commit",
                      "ratio/git log --name-status", "ratio/deltalake write", "load average"],
    "bench_watch.py": ["watch latency p50, local", "watch latency p99, S3", "changes() since 0",
                       "changes() of the last 10 commits", "writer commits/s beside a", "ratio/os.stat loop p50",
                       "load average"],
    "bench_state.py": ["single-op commit p99.9 during the build", "cold open + first lookup after the build",
                       "RSS after open", "list a 10k-entry directory as handles", "ratio/baseline", "load average"],
    "bench_listing.py": ["list a 10k-entry directory as handles", "ratio/per-entry", "ratio/os.scandir",
                         "load average"],
    "bench_sql.py": ["history by path prefix", "commits", "diff v", "files_at v", "load average"],
    "bench_scale.py": [
        "build: batched ops/s", "exists p50", "exists p99", "get p50", "get p99",
        "resolve 5-component path p50", "-entry dir p50", "history by path prefix",
        "foreign commit visible (catch-up) p50", "single-op commits/s", "batched ops/s (one transaction)",
        "cold Pond.open + first lookup", "resident memory (RSS) after open", "open old version (pond.at) p50",
        "open old version + first get p50", "sustained single-op commits/s (all)", "sustained: slowest window",
        "ratio/os", "ratio/sqlite", "load average",
    ],
}


def test_scripts_are_found() -> None:
    names = {script.name for script in SCRIPTS}
    assert {"bench_core.py", "bench_sql.py", "bench_scale.py"} <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_quick_run(script: Path, tmp_path: Path) -> None:
    env = {**os.environ, "AWS_EC2_METADATA_DISABLED": "true", "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [sys.executable, str(script), "--quick", "--out", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    for label in EXPECTED.get(script.name, ["load average"]):
        assert label in result.stdout, f"{script.name} did not print {label!r}:\n{result.stdout[-4000:]}"
    written = list(tmp_path.glob("*.json"))
    assert written, f"{script.name} --out wrote no JSON"
    for path in written:
        assert json.loads(path.read_text())["figures"]
    if script.name == "bench_scale.py":
        assert (tmp_path / "bench_scale.png").stat().st_size > 0
