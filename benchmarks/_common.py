"""Shared helpers for the benchmark scripts: timing, tables, baselines and clean temp dirs.

Not a benchmark itself (the file name does not start with ``bench_``). Every script puts
this folder on ``sys.path`` (Python does that for the script's own folder) and imports it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")


# -- timing -------------------------------------------------------------------------------
def now() -> float:
    return time.perf_counter()


def per_second(fn: Callable[[int], Any], count: int) -> float:
    """How many calls of ``fn(i)`` for i in range(count) ran per second."""
    start = now()
    for i in range(count):
        fn(i)
    return count / (now() - start)


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank on sorted samples."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    rank = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[rank]


def latencies_ms(fn: Callable[[Any], Any], args: Iterable[Any], warmup: int = 5) -> list[float]:
    """Call ``fn(arg)`` for each arg and return the latencies in milliseconds."""
    args = list(args)
    for arg in args[:warmup]:
        fn(arg)
    out = []
    for arg in args:
        start = time.perf_counter()
        fn(arg)
        out.append((time.perf_counter() - start) * 1000)
    return out


def median_ms(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, float]:
    """(first, median) wall time of ``fn()`` in milliseconds over ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times[0], statistics.median(times)


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "n/a"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min, {os.cpu_count()} cores)"


def rss_mb() -> float:
    """This process's resident set size now, in MB."""
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:  # pragma: no cover - psutil is in the dev venv
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def header(title: str) -> dict[str, Any]:
    """Print and return the run's context: date, machine, load, versions."""
    import deltalake
    import duckdb

    info = {
        "benchmark": title,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "duckdb": duckdb.__version__,
        "deltalake": deltalake.__version__,
        "sqlite": sqlite3.sqlite_version,
        "git": git_version() or "not installed",
        "load_start": load_average(),
    }
    print(f"== {title} ==")
    for key, value in info.items():
        if key != "benchmark":
            print(f"{key:>10}: {value}")
    print()
    return info


# -- figures and tables -----------------------------------------------------------------
@dataclass
class Figure:
    """One measured figure, its baselines in the same run, and the target if there is one.

    Ratios are tinylogsql / baseline: for times (``higher_is_better=False``) above 1 means
    tinylogsql is slower; for rates above 1 means tinylogsql is faster.
    """

    name: str
    value: float | None
    unit: str
    size: str = ""
    baselines: dict[str, float | None] = field(default_factory=dict)
    target: float | None = None
    higher_is_better: bool = False
    note: str = ""

    def ratio(self, baseline: str) -> float | None:
        base = self.baselines.get(baseline)
        if self.value is None or base is None or base == 0:
            return None
        return self.value / base

    def status(self) -> str:
        if self.target is None:
            return ""
        if self.value is None:
            return "n/a"
        if self.higher_is_better:
            ok = self.value >= self.target
            factor = self.target / self.value if self.value else float("inf")
        else:
            ok = self.value <= self.target
            factor = self.value / self.target
        return "met" if ok else f"MISSED x{factor:.1f}"

    def target_text(self) -> str:
        if self.target is None:
            return ""
        return f"{'>=' if self.higher_is_better else '<='} {fmt(self.target)} {self.unit}"


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value != value:  # nan
        return "nan"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    if magnitude >= 0.01:
        return f"{value:.3f}"
    return f"{value:.4f}"


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{fmt(value)}x"


def print_table(figures: Sequence[Figure], baselines: Sequence[str], title: str = "") -> str:
    """Print the figures as an aligned table (also returned as text)."""
    head = ["figure", "size", "tinylogsql", "unit"]
    for base in baselines:
        head += [base, f"ratio/{base}"]
    head += ["target", "status"]
    rows = [head]
    for fig in figures:
        row = [fig.name, fig.size, fmt(fig.value), fig.unit + (" ^" if fig.higher_is_better else "")]
        for base in baselines:
            row += [fmt(fig.baselines.get(base)), fmt_ratio(fig.ratio(base))]
        row += [fig.target_text(), fig.status()]
        rows.append(row)
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(head))]
    lines = []
    if title:
        lines.append(title)
    for n, row in enumerate(rows):
        pairs = enumerate(zip(row, widths, strict=True))
        cells = [str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in pairs]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"  * {fig.name} [{fig.size}]: {fig.note}" for fig in figures if fig.note]
    lines += notes
    lines.append("(ratio = tinylogsql / baseline; units marked ^ are rates, higher is better; others lower is better)")
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def write_json(out: Path | None, name: str, info: dict[str, Any], figures: Sequence[Figure], **extra: Any) -> None:
    if out is None:
        return
    out.mkdir(parents=True, exist_ok=True)
    payload = {**info, "load_end": load_average(), "figures": [asdict(f) for f in figures], **extra}
    (out / name).write_text(json.dumps(payload, indent=2, default=str))
    print(f"wrote {out / name}")


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    """A temporary folder removed afterwards, even on errors."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def human_size(n: int) -> str:
    for limit, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= limit:
            value = n / limit
            return f"{value:.0f}{suffix}" if value == int(value) else f"{value:.1f}{suffix}"
    return str(n)


# -- git ----------------------------------------------------------------------------------
def git_version() -> str | None:
    if shutil.which("git") is None:
        return None
    try:
        return subprocess.run(["git", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str, stdin: bytes | None = None) -> bytes:
    env = {**os.environ, **GIT_ENV}
    result = subprocess.run(["git", "-C", str(repo), *args], input=stdin, capture_output=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr.decode(errors='replace')}")
    return result.stdout


def git_init(repo: Path) -> None:
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "gc.auto", "0")


class FastImport:
    """Builds a git history through ``git fast-import``: one commit per pond commit.

    Ops are given by path (``modify``, ``delete``, ``rename``); ``commit`` closes a commit.
    Much faster than a git process per commit, so equivalent repositories of 1k commits or
    1M files build in seconds; the questions are then asked with ordinary ``git log``/``diff``.
    """

    def __init__(self, repo: Path, parent: str | None = None) -> None:
        self.repo = repo
        self.parent = parent
        self.marks = repo / ".git" / "bench-marks"
        env = {**os.environ, **GIT_ENV}
        self.proc = subprocess.Popen(
            ["git", "-C", str(repo), "fast-import", "--quiet", f"--export-marks={self.marks}"],
            stdin=subprocess.PIPE, env=env,
        )
        assert self.proc.stdin is not None
        self.stdin = self.proc.stdin
        self.pending: list[bytes] = []
        self.count = 0
        self.ts = 1_700_000_000

    def modify(self, path: str, data: bytes) -> None:
        self.pending.append(b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(data), data))

    def delete(self, path: str) -> None:
        self.pending.append(b"D %s\n" % path.encode())

    def rename(self, src: str, dst: str) -> None:
        self.pending.append(b'R "%s" "%s"\n' % (src.encode(), dst.encode()))

    def commit(self, message: str) -> int:
        """Close a commit; returns its mark (1, 2, ...)."""
        self.count += 1
        self.ts += 1
        msg = message.encode()
        head = b"commit refs/heads/main\nmark :%d\ncommitter bench <bench@example.com> %d +0000\ndata %d\n%s\n" % (
            self.count, self.ts, len(msg), msg)
        if self.count > 1:
            head += b"from :%d\n" % (self.count - 1)
        elif self.parent is not None:
            head += b"from %s\n" % self.parent.encode()
        self.stdin.write(head)
        self.stdin.write(b"".join(self.pending))
        self.stdin.write(b"\n")
        self.pending = []
        return self.count

    def close(self) -> dict[int, str]:
        """Finish the import and return mark -> commit sha."""
        self.stdin.close()
        if self.proc.wait() != 0:
            raise RuntimeError("git fast-import failed")
        marks = {}
        for line in self.marks.read_text().splitlines():
            mark, sha = line.split()
            marks[int(mark[1:])] = sha
        return marks


# -- SQLite baseline: the same entries in an indexed table ---------------------------------------
class SqliteTree:
    """A directory tree in one SQLite table with a UNIQUE (parent, name) index.

    Paths resolve component by component, as the pond does; each single op is its own
    transaction (default journal and synchronous settings, so commits are durable).
    """

    def __init__(self, path: Path) -> None:
        self.con = sqlite3.connect(str(path), isolation_level=None)
        self.con.executescript(
            """
            CREATE TABLE IF NOT EXISTS nodes (
                id INTEGER PRIMARY KEY, parent INTEGER NOT NULL, name TEXT NOT NULL,
                kind TEXT NOT NULL, size INTEGER, content BLOB, UNIQUE (parent, name));
            INSERT OR IGNORE INTO nodes (id, parent, name, kind) VALUES (0, -1, '', 'dir');
            """
        )

    def resolve(self, path: str) -> tuple[int, str] | None:
        node: tuple[int, str] | None = (0, "dir")
        for part in path.strip("/").split("/"):
            if not part:
                continue
            assert node is not None
            node = self.con.execute("SELECT id, kind FROM nodes WHERE parent = ? AND name = ?",
                                    (node[0], part)).fetchone()
            if node is None:
                return None
        return node

    def exists(self, path: str) -> bool:
        return self.resolve(path) is not None

    def get(self, path: str) -> tuple[Any, ...] | None:
        found = self.resolve(path)
        if found is None:
            return None
        return self.con.execute("SELECT id, parent, name, kind, size FROM nodes WHERE id = ?", (found[0],)).fetchone()

    def read(self, path: str) -> bytes:
        found = self.resolve(path)
        if found is None:
            raise FileNotFoundError(path)
        return self.con.execute("SELECT content FROM nodes WHERE id = ?", (found[0],)).fetchone()[0]

    def listdir(self, path: str) -> list[tuple[Any, ...]]:
        found = self.resolve(path)
        assert found is not None
        return self.con.execute("SELECT name, kind, size FROM nodes WHERE parent = ? ORDER BY name",
                                (found[0],)).fetchall()

    def _insert(self, parent: int, name: str, kind: str, data: bytes | None) -> int:
        cur = self.con.execute("INSERT INTO nodes (parent, name, kind, size, content) VALUES (?, ?, ?, ?, ?)",
                               (parent, name, kind, None if data is None else len(data), data))
        assert cur.lastrowid is not None
        return cur.lastrowid

    def create(self, path: str, data: bytes | None, kind: str = "file") -> int:
        """Create one entry in its own transaction (a single-op commit)."""
        parent_path, _, name = path.strip("/").rpartition("/")
        parent = self.resolve(parent_path)
        assert parent is not None
        self.con.execute("BEGIN")
        node = self._insert(parent[0], name, kind, data)
        self.con.execute("COMMIT")
        return node

    def bulk(self, items: Iterable[tuple[str, str, bytes | None]]) -> None:
        """Create many entries (path, kind, data) in one transaction; parents first."""
        ids: dict[str, int] = {}
        self.con.execute("BEGIN")
        for path, kind, data in items:
            parent_path, _, name = path.strip("/").rpartition("/")
            if parent_path in ids:
                parent = ids[parent_path]
            else:
                found = self.resolve(parent_path)
                assert found is not None, parent_path
                parent = found[0]
            node = self._insert(parent, name, kind, data)
            if kind == "dir":
                ids[path.strip("/")] = node
        self.con.execute("COMMIT")

    def close(self) -> None:
        self.con.close()


# -- the reader/writer pair for cross-process visibility ------------------------------------
def foreign_writer(pond_path: str, names: list[str], go: Any, done: Any) -> None:
    """Runs in a spawned process: for each name, wait for "go", commit it, report the time.

    ``done`` receives (name, perf_counter after the commit returned). perf_counter is
    CLOCK_MONOTONIC on Linux, shared by all processes, so the reader can compare times.
    """
    from tinylogsql import Pond

    with Pond.open(pond_path, author="writer") as pond:
        pond.root.exists("warm-up")
        done.send(("ready", time.perf_counter()))
        for name in names:
            go.recv()
            pond.root.create_file_path(name, b"from another process")
            done.send((name, time.perf_counter()))


def sqlite_foreign_writer(db_path: str, names: list[str], go: Any, done: Any) -> None:
    """The SQLite counterpart of ``foreign_writer``."""
    tree = SqliteTree(Path(db_path))
    done.send(("ready", time.perf_counter()))
    for name in names:
        go.recv()
        tree.create(name, b"from another process")
        done.send((name, time.perf_counter()))
    tree.close()


def os_foreign_writer(folder: str, names: list[str], go: Any, done: Any) -> None:
    """The plain-directory counterpart of ``foreign_writer``: one file per round."""
    done.send(("ready", time.perf_counter()))
    for name in names:
        go.recv()
        Path(folder, name).write_bytes(b"from another process")
        done.send((name, time.perf_counter()))


def measure_visibility(writer: Callable[..., None], target: str, reader_exists: Callable[[str], bool],
                       rounds: int, prefix: str) -> tuple[list[float], list[float]]:
    """Spawn ``writer`` and measure how soon ``reader_exists`` sees each of its commits.

    Returns (catch_up_ms, poll_delay_ms): the reader's first call after the writer's commit
    returned (the cost of noticing and folding in a foreign commit), and, with a reader
    polling while the writer commits, the delay from the writer's return to the first True.
    Half the rounds measure each.
    """
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # never fork after deltalake was used
    go_recv, go_send = ctx.Pipe(duplex=False)
    done_recv, done_send = ctx.Pipe(duplex=False)
    names = [f"{prefix}-{i:04d}" for i in range(rounds)]
    proc = ctx.Process(target=writer, args=(target, names, go_recv, done_send), daemon=True)
    proc.start()
    catch_up: list[float] = []
    poll: list[float] = []
    try:
        if not done_recv.poll(120):
            raise RuntimeError("writer process did not start")
        done_recv.recv()
        for i, name in enumerate(names):
            go_send.send(True)
            if i % 2 == 0:  # catch-up: wait for the commit, then one read
                _, landed = done_recv.recv()
                start = time.perf_counter()
                seen = reader_exists(name)
                catch_up.append((time.perf_counter() - start) * 1000)
                assert seen, f"{name} not visible after the writer's commit returned"
            else:  # polling reader
                while not reader_exists(name):
                    pass
                seen_at = time.perf_counter()
                _, landed = done_recv.recv()
                poll.append(max(0.0, (seen_at - landed) * 1000))
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.kill()
    return catch_up, poll


def rng(seed: int = 42) -> random.Random:
    return random.Random(seed)


def run_python(code: str, *args: str) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; it prints one JSON object as its last line."""
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"subprocess failed ({result.returncode}): {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])
