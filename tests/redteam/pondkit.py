"""The prepared pond the attacks run against, the host-side bait, digests and canonical answers.

Versions of the template pond (time-travel attacks run at ``AT``, i.e. v2):

- v1: /data/west/x.csv, /data/east/y.csv, /docs/readme.txt, /big.bin (a blob, > 64 KiB),
  /links/host -> the host file's absolute path, /links/up -> ``../`` x 12 + that path
- v2: /data/west/z.csv
- v3: /data/west/<REMOVED name>.csv and /removed-big.bin (a blob), both holding the removed marker
- v4: both removed again
- v5: /data/west/<LATER name>.csv, /data/later-big.bin (a blob) and a new content of /data/west/x.csv,
  all holding the later marker
- v6: /docs/readme.txt moved to /docs/readme2.txt

Markers are random per session, so no answer can contain one by chance.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AT = 2
"""The version time-travel attacks query: before the removed and the later files existed."""

BIG = bytes(range(256)) * 300  # 76,800 bytes: stored as a blob
ENV_VAR = "TINYLOGSQL_REDTEAM_SECRET"
MEMORY_LIMIT = "256MB"
"""DuckDB memory limit configured for every attack process (``TINYLOGSQL_MEMORY_LIMIT``)."""


@dataclass(frozen=True)
class Markers:
    """Random strings that must never appear where they do not belong."""

    host: str
    env: str
    later: str
    removed: str
    later_name: str
    removed_name: str

    @classmethod
    def new(cls) -> Markers:
        tok = secrets.token_hex(6)
        return cls(host=f"hostbait{tok}", env=f"envbait{tok}", later=f"laterbait{tok}",
                   removed=f"removedbait{tok}", later_name=f"zlater{tok}", removed_name=f"zremoved{tok}")

    def forbidden(self, at: int | None) -> dict[str, str]:
        """Markers a query at version ``at`` (None: the newest) must not show: label -> marker."""
        out = {"host file": self.host, "environment": self.env}
        if at is not None and at < 5:
            out.update({"later content": self.later, "later file name": self.later_name})
        if at is not None and at < 3:
            out.update({"removed content": self.removed, "removed file name": self.removed_name})
        return out


@dataclass(frozen=True)
class Bait:
    """Where the host-side bait lives (all under one folder beside the pond copies)."""

    root: Path
    markers: Markers

    @property
    def host_dir(self) -> Path:
        return self.root / "host"

    def placeholders(self, pond: Path, port: int) -> dict[str, str]:
        h = self.host_dir
        return {
            "{{HOST_DIR}}": str(h), "{{HOST_CSV}}": str(h / "secret.csv"), "{{HOST_TXT}}": str(h / "secret.txt"),
            "{{HOST_JSON}}": str(h / "secret.json"), "{{HOST_PARQUET}}": str(h / "secret.parquet"),
            "{{HOST_DB}}": str(h / "secret.duckdb"), "{{POND}}": str(pond), "{{PORT}}": str(port),
            "{{BLOB}}": str(pond / "blobs" / hashlib.sha256(BIG).hexdigest()),
            "{{BIG_SHA}}": hashlib.sha256(BIG).hexdigest(),
            "{{BIG_SHA_UPPER}}": hashlib.sha256(BIG).hexdigest().upper(),
            "{{LATER_NAME}}": self.markers.later_name, "{{REMOVED_NAME}}": self.markers.removed_name,
        }


def make_host_bait(root: Path, markers: Markers) -> Bait:
    """Host files holding the host marker: csv, txt, json, parquet and a DuckDB database."""
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    bait = Bait(root, markers)
    h = bait.host_dir
    h.mkdir(parents=True)
    (h / "secret.csv").write_text(f"a,b\n{markers.host},1\n")
    (h / "secret.txt").write_text(f"{markers.host}\n")
    (h / "secret.json").write_text(json.dumps([{"a": markers.host}]))
    pq.write_table(pa.table({"a": [markers.host]}), h / "secret.parquet")
    con = duckdb.connect(str(h / "secret.duckdb"))
    con.execute("CREATE TABLE t AS SELECT ? AS a", [markers.host])
    con.close()
    return bait


def build_template(pond_dir: Path, bait: Bait) -> None:
    """Write the template pond's versions (run in a child process: it uses deltalake)."""
    from tinylogsql import Pond

    m = bait.markers
    host_csv = str(bait.host_dir / "secret.csv")
    with Pond.create(pond_dir, author="redteam") as pond:
        root = pond.root
        with pond.transaction(message="v1: data"):
            for d in ("data/west", "data/east", "docs", "links"):
                root.create_dir_path(d, parents=True)
            root.create_file_path("data/west/x.csv", b"a,b\n1,2\n3,4\n")
            root.create_file_path("data/east/y.csv", b"a,b\n5,6\n")
            root.create_file_path("docs/readme.txt", b"hello\n")
            root.create_file_path("big.bin", BIG)
            root.create_symlink_path("links/host", host_csv)
            root.create_symlink_path("links/up", "../" * 12 + host_csv.lstrip("/"))
        root.create_file_path("data/west/z.csv", b"a,b\n7,8\n")
        with pond.transaction(message="v3: removed later"):
            root.create_file_path(f"data/west/{m.removed_name}.csv", f"a,b\n{m.removed},1\n".encode())
            root.create_file_path("removed-big.bin", (m.removed + "\n").encode() * 5000)
        with pond.transaction(message="v4: remove"):
            root.remove(f"data/west/{m.removed_name}.csv")
            root.remove("removed-big.bin")
        with pond.transaction(message="v5: later"):
            root.create_file_path(f"data/west/{m.later_name}.csv", f"a,b\n{m.later},2\n".encode())
            root.create_file_path("data/later-big.bin", (m.later + "\n").encode() * 5000)
            root.write_file_path("data/west/x.csv", f"a,b\n{m.later},9\n".encode())
        root.rename("docs/readme.txt", "docs/readme2.txt")
        assert pond.version == 6, pond.version


def tree_digest(folder: Path, skip: tuple[str, ...] = ("state",)) -> dict[str, str]:
    """relative path -> sha256 of every file under ``folder`` (top-level names in ``skip`` left out).

    ``state/`` holds snapshots of the derived state cache, which a reader may legitimately write.
    """
    out: dict[str, str] = {}
    if not folder.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(folder):
        rel_dir = Path(dirpath).relative_to(folder)
        if rel_dir == Path("."):
            dirnames[:] = [d for d in dirnames if d not in skip]
        for name in filenames:
            path = Path(dirpath) / name
            rel = str(rel_dir / name)
            try:
                out[rel] = "link:" + os.readlink(path) if path.is_symlink() else hashlib.sha256(
                    path.read_bytes()).hexdigest()
            except OSError as exc:
                out[rel] = f"unreadable: {exc}"
    return out


def digest_diff(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """What changed between two tree digests, as short lines (empty: identical)."""
    lines = [f"new file {k}" for k in sorted(after.keys() - before.keys())]
    lines += [f"missing file {k}" for k in sorted(before.keys() - after.keys())]
    lines += [f"changed file {k}" for k in sorted(before.keys() & after.keys()) if before[k] != after[k]]
    return lines


def table_rows(pond_dir: Path) -> tuple[int, list[tuple[Any, ...]]]:
    """(Delta version, the op rows sorted by version and seq) read straight from the Delta table."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from deltalake import DeltaTable

    dt = DeltaTable(str(pond_dir / "log"))
    parts = [pq.read_table(uri.removeprefix("file://")) for uri in dt.file_uris()]
    table = pa.concat_tables(parts, promote_options="default") if parts else None
    rows = [] if table is None else [tuple(r.values()) for r in table.to_pylist()]
    rows.sort(key=lambda r: (r[0], r[1]))
    return dt.version(), rows


CANONICAL_SQL = """
SELECT (SELECT list((path, size, sha256) ORDER BY path) FROM files) AS files,
       (SELECT (count(*), max(version), sum(size)) FROM oplog) AS oplog,
       (SELECT list((version, seq, op, path) ORDER BY version, seq) FROM history) AS history,
       (SELECT list((version, ops) ORDER BY version) FROM commits) AS commits,
       (SELECT list(path ORDER BY path) FROM paths) AS paths,
       (SELECT count(*) FROM entries) AS entries
"""
"""The views a user queries, in one statement (each ``pond.sql`` call has a fixed cost)."""


def canonical_answers(pond: Any) -> dict[str, Any]:
    """What a user sees of the pond through every surface; compared before and after each attack."""
    out: dict[str, Any] = {}

    def ask(key: str, fn: Any) -> None:
        try:
            out[key] = fn()
        except Exception as exc:  # noqa: BLE001 - an answer that fails is itself the finding
            out[key] = f"{type(exc).__name__}: {exc}"[:500]

    def sha(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    old = pond.at(AT)
    csv = "SELECT a, b FROM read_csv('tinylogsql:///data/west/x.csv') ORDER BY a"
    ask("version", lambda: pond.version)
    # One query per version (each pond.sql call has a fixed cost): lists of everything a user sees.
    ask("sql at head", lambda: pond.sql(CANONICAL_SQL).fetchall())
    ask("sql at v2", lambda: old.sql(CANONICAL_SQL).fetchall())
    ask("csv", lambda: pond.sql(csv).fetchall())
    ask("csv at v2", lambda: old.sql(csv).fetchall())
    ask("read x", lambda: sha(pond.root.read_file_path("/data/west/x.csv")))
    ask("read big", lambda: sha(pond.root.read_file_path("/big.bin")))
    ask("read later big", lambda: sha(pond.root.read_file_path("/data/later-big.bin")))
    ask("read x at v2", lambda: sha(old.root.read_file_path("/data/west/x.csv")))
    ask("walk", lambda: sorted((d, sorted(ds), sorted(fs)) for d, ds, fs in pond.root.walk()))
    return out


def answer_diff(before: dict[str, Any], after: dict[str, Any], ignore: tuple[str, ...] = ()) -> list[str]:
    return [f"{key}: {before.get(key)!r:.200} -> {after.get(key)!r:.200}"
            for key in sorted(before.keys() | after.keys()) if key not in ignore and before.get(key) != after.get(key)]
