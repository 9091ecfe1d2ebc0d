"""The parent side of the red-team suite: prepare once, run each attack in its own process, judge it.

Per attack: a fresh copy of the template pond; the attack process is forked from a forkserver with
tinylogsql preloaded (a fork costs ~20 ms, an interpreter start with these imports ~1 s); its RSS and
its descendants' (a query worker, if the library starts one) is sampled every 20 ms; a TCP listener on
127.0.0.1 records any connection. The verdict lists every broken promise (empty: the attack failed to
do harm).
"""

from __future__ import annotations

import multiprocessing as mp
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from redteam.attacks import Attack
from redteam.pondkit import (
    ENV_VAR,
    MEMORY_LIMIT,
    Bait,
    Markers,
    build_template,
    digest_diff,
    make_host_bait,
    tree_digest,
)

RSS_CAP_MB = 1536
"""Peak RSS of an attack process and all its descendants, in MB.

DuckDB's memory_limit is MEMORY_LIMIT (256 MB) in every attack process; an idle attack process with
tinylogsql imported and the pond open holds about 250 MB (more if a warm query worker runs beside it),
so this is the limit plus room for two interpreters; the lpad attack of the issue reached 4 GB."""

HARNESS_SLACK_S = 60.0
"""Time for forging, the canonical answers before/after and a fresh open, on top of the attack itself."""


class Listener:
    """A TCP server on 127.0.0.1 that counts connections (none may ever arrive)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.seen: list[bytes] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            conn.settimeout(0.5)
            try:
                self.seen.append(conn.recv(200))
            except OSError:
                pass
            conn.close()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(2)
        self.sock.close()


@dataclass
class Verdict:
    attack: Attack
    outcome: str = "n/a"
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    detail: str = ""


class Harness:
    """Prepared once per session: bait, template pond, canonical answers, forkserver, listener."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.markers = Markers.new()
        self.bait: Bait = make_host_bait(root, self.markers)
        self.listener = Listener()
        self.env = {ENV_VAR: self.markers.env, "TINYLOGSQL_MEMORY_LIMIT": MEMORY_LIMIT}
        self.ctx = mp.get_context("forkserver")
        self.ctx.set_forkserver_preload(["redteam.runner"])
        self.template = root / "template" / "pond"
        proc = mp.get_context("spawn").Process(target=build_template, args=(self.template, self.bait))
        proc.start()
        proc.join(300)
        if proc.exitcode != 0:
            raise RuntimeError(f"building the template pond failed (exit {proc.exitcode})")
        self.template_digest = tree_digest(self.template)
        self.host_digest = tree_digest(self.bait.host_dir)
        self.count = 0
        self.last_split = (0.0, 0.0)
        baseline = self._run_process({"baseline": True, "pond": str(self.template), "env": self.env,
                                      "attack": {}, "subst": {}, "forbidden": {}}, deadline=120)[0]
        if baseline is None or "answers" not in baseline:
            raise RuntimeError(f"canonical answers failed: {baseline}")
        self.expected = baseline["answers"]
        broken = {k: v for k, v in self.expected.items() if isinstance(v, str) and "Error" in v}
        if broken:
            raise RuntimeError(f"the template pond does not answer its canonical questions: {broken}")

    def close(self) -> None:
        self.listener.stop()

    def _run_process(self, job: dict[str, Any], deadline: float) -> tuple[dict[str, Any] | None, float, str]:
        """Run one job in a forked process; (result or None, peak RSS in MB of it and its descendants, note)."""
        recv, send = self.ctx.Pipe(duplex=False)
        proc = self.ctx.Process(target=_entry, args=(job, send), daemon=True)
        proc.start()
        send.close()
        peak = 0.0
        result = None
        note = ""
        start = time.monotonic()
        try:
            ps = psutil.Process(proc.pid)
        except psutil.Error:
            ps = None
        while True:
            if recv.poll(0.02):
                try:
                    result = recv.recv()
                except EOFError:
                    note = f"the attack process died (exit code {proc.exitcode})"
                break
            rss, own = _tree_rss_mb(ps)
            if rss > peak:
                peak, self.last_split = rss, (own, rss - own)
            if rss > RSS_CAP_MB * 1.5:
                note = f"killed at {rss:.0f} MB RSS (cap {RSS_CAP_MB} MB)"
                break
            if time.monotonic() - start > deadline:
                note = f"killed after {deadline:.0f} s without an answer"
                break
            if not proc.is_alive() and not recv.poll(0.2):
                note = f"the attack process died (exit code {proc.exitcode})"
                break
        _kill_tree(ps)
        proc.join(5)
        return result, peak, note

    def run(self, attack: Attack) -> Verdict:
        self.count += 1
        work = self.root / f"a{self.count:04d}"
        pond = work / "pond"
        shutil.copytree(self.template, pond, symlinks=True)
        subst = self.bait.placeholders(pond, self.listener.port)
        forbidden = {k: v for k, v in self.markers.forbidden(attack.at).items()
                     if v.lower() not in attack.filled(subst).lower()}
        forbidden_at = {str(at): {k: v for k, v in self.markers.forbidden(at).items()
                                  if v.lower() not in attack.filled(subst).lower()} for at, _ in attack.prelude}
        job = {"attack": attack.job(subst), "pond": str(pond), "env": self.env, "subst": subst,
               "forbidden": forbidden, "forbidden_at": forbidden_at, "expected": self.expected}
        connections = self.listener.connections
        started = time.monotonic()
        bound = 2 * attack.timeout + 1
        result, peak, note = self._run_process(job, deadline=bound + HARNESS_SLACK_S)
        verdict = Verdict(attack, seconds=time.monotonic() - started, peak_rss_mb=peak)
        fail = verdict.failures.append
        if note:
            fail(note)
        if peak > RSS_CAP_MB:
            own, children = self.last_split
            fail(f"memory bound: peak RSS {peak:.0f} MB of the attack process and its children > {RSS_CAP_MB} MB"
                 f" (at the peak: the attack process {own:.0f} MB, its children {children:.0f} MB)")
        if self.listener.connections != connections:
            fail(f"network: {self.listener.connections - connections} connection(s) to 127.0.0.1:"
                 f"{self.listener.port} ({self.listener.seen[-1][:80]!r})")
        host_changes = digest_diff(self.host_digest, tree_digest(self.bait.host_dir))
        if host_changes:
            fail(f"host folder changed: {host_changes[:5]}")
            shutil.rmtree(self.bait.host_dir)
            make_host_bait(self.root, self.markers)  # restore the bait for the next attack
        outside = sorted(p.name for p in work.iterdir() if p.name not in ("pond", "export-out"))
        if outside:
            fail(f"files written beside the pond: {outside}")
        if result is None:
            shutil.rmtree(work, ignore_errors=True)
            return verdict
        if "harness_error" in result:
            fail("harness error:\n" + result["harness_error"])
            return verdict
        main = result["main"]
        verdict.outcome = main["outcome"]
        verdict.detail = f"{main['kind']}: {main['text']}" if main["kind"] else main["text"]
        for attempt in [main, *result["attempts"]]:
            label = attempt["label"]
            if attempt["outcome"] == "raw":
                fail(f"{label}: raw exception, not a tinylogsql error:\n{attempt['text']}")
            if attempt["found"]:
                fail(f"{label}: leaked {', '.join(attempt['found'])}: {attempt['text'][:200]!r}")
        if attack.kind in ("sql", "maintain") and main["seconds"] > bound:
            fail(f"time bound: the query took {main['seconds']:.1f} s > 2 x {attack.timeout} + 1 s"
                 f" (outcome {main['outcome']})")
        self._judge_expectation(attack, main, fail)
        if attack.kind in ("forged", "blob-damage"):
            if main["kind"] != "CorruptPondError":
                fail(f"forged content was not refused with CorruptPondError: {main['outcome']} {main['text'][:200]!r}")
            if result.get("check_ok") is not False:
                fail(f"check() did not report the forgery: ok={result.get('check_ok')}"
                     f" {result.get('check_problems')}")
            after = tree_digest(pond)
            if not attack.forge.get("maintain"):
                changes = digest_diff(result["digest_before"], after)
                if changes:
                    fail(f"pond on disk changed: {changes[:5]}")
        elif attack.kind == "sql":
            changes = digest_diff(self.template_digest, tree_digest(pond))
            if changes:
                fail(f"pond on disk changed: {changes[:5]}")
        for line in result["notes"]:
            fail(line)
        if result["answers_diff"]:
            fail(f"the same Pond object answers differently afterwards: {result['answers_diff'][:4]}")
        if result["fresh_diff"]:
            fail(f"a fresh Pond.open answers differently: {result['fresh_diff'][:4]}")
        shutil.rmtree(work, ignore_errors=True)
        return verdict

    @staticmethod
    def _judge_expectation(attack: Attack, main: dict[str, Any], fail: Any) -> None:
        outcome = main["outcome"]
        if attack.expect == "reject" and outcome != "rejected":
            fail(f"expected QueryRejectedError, got {outcome}: {main['text'][:200]!r}")
        elif attack.expect == "refuse" and outcome not in ("rejected", "error"):
            fail(f"expected a tinylogsql error, got {outcome}: {main['text'][:200]!r}")
        elif attack.expect == "ran" and outcome != "ran":
            fail(f"a legitimate query failed: {outcome}: {main['text'][:300]!r}")
        elif attack.expect == "timeout" and outcome not in ("timeout", "rejected", "error"):
            fail(f"an unbounded query returned a result: {main['text'][:200]!r}")
        if attack.rows is not None and outcome == "ran" and main["text"] != repr(attack.rows)[:300]:
            fail(f"wrong answer: expected {attack.rows!r:.200}, got {main['text'][:200]}")


def _entry(job: dict[str, Any], conn: Any) -> None:
    from redteam.runner import child_main

    child_main(job, conn)


def _tree_rss_mb(ps: psutil.Process | None) -> tuple[float, float]:
    """(RSS of the process and all its descendants, RSS of the process alone), in MB."""
    if ps is None:
        return 0.0, 0.0
    total = own = 0
    try:
        procs = [ps, *ps.children(recursive=True)]
    except psutil.Error:
        return 0.0, 0.0
    for p in procs:
        try:
            rss = p.memory_info().rss
        except psutil.Error:
            continue
        total += rss
        own = rss if p is ps else own
    return total / 2**20, own / 2**20


def _kill_tree(ps: psutil.Process | None) -> None:
    if ps is None:
        return
    try:
        procs = [*ps.children(recursive=True), ps]
    except psutil.Error:
        procs = [ps]
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass
