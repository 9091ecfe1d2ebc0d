"""What runs inside one attack's process: forge (if asked), attack, then look at the pond again.

The process is forked from a forkserver that preloaded tinylogsql and its dependencies (nothing
used deltalake before the fork), so an attack costs a fork, not an interpreter start. It sends one
dict back through the pipe: the outcome, the error or a preview of the result, where a marker was
seen, the attack's own wall time, and the canonical answers before and after (same pond object,
then a fresh ``Pond.open``).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

import tinylogsql  # noqa: F401 - preloaded by the forkserver
from redteam.pondkit import BIG, answer_diff, canonical_answers, table_rows, tree_digest
from tinylogsql import Pond
from tinylogsql.errors import CorruptPondError, PondError, QueryRejectedError, QueryTimeoutError

PREVIEW = 300


def scan(value: Any, markers: dict[str, str], found: set[str], depth: int = 0) -> None:
    """Add the label of every marker that occurs anywhere inside ``value`` (rows, dicts, bytes, text)."""
    if depth > 50:
        value = repr(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode("latin-1")
    if isinstance(value, str):
        lowered = value.lower()
        for label, marker in markers.items():
            if marker.lower() in lowered:
                found.add(label)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            scan(k, markers, found, depth + 1)
            scan(v, markers, found, depth + 1)
        return
    if isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            scan(item, markers, found, depth + 1)
        return
    if value is not None:
        scan(str(value), markers, found, depth + 1)


def error_text(exc: BaseException) -> str:
    """Everything a user could read of an error: its message and the chain behind it."""
    parts = []
    seen = 0
    while exc is not None and seen < 10:
        parts.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
        seen += 1
    return "\n".join(parts)


def classify(exc: BaseException) -> str:
    if isinstance(exc, QueryRejectedError):
        return "rejected"
    if isinstance(exc, QueryTimeoutError):
        return "timeout"
    if isinstance(exc, PondError):
        return "error"
    return "raw"


class Attempt:
    """One call an attack makes, recorded the way the user would see it."""

    def __init__(self, label: str, markers: dict[str, str]) -> None:
        self.label = label
        self.markers = markers
        self.outcome = "ran"
        self.kind = ""
        self.text = ""
        self.found: set[str] = set()
        self.seconds = 0.0

    def run(self, fn: Any) -> Attempt:
        start = time.monotonic()
        try:
            value = fn()
            self.seconds = time.monotonic() - start
            scan(value, self.markers, self.found)
            self.text = repr(value)[:PREVIEW]
        except BaseException as exc:  # noqa: BLE001 - every way out is recorded
            self.seconds = time.monotonic() - start
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            self.outcome = classify(exc)
            self.kind = type(exc).__name__
            full = error_text(exc)
            scan(full, self.markers, self.found)
            self.text = full[:PREVIEW]
            if self.outcome == "raw":
                self.text = "".join(traceback.format_exception(exc))[-1500:]
        return self

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "outcome": self.outcome, "kind": self.kind, "text": self.text,
                "found": sorted(self.found), "seconds": round(self.seconds, 3)}


def forge_row(pond_dir: Path, spec: dict[str, Any], subst: dict[str, str]) -> None:
    """Append one op row straight to the Delta table, as a malicious or damaged writer would."""
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            for key, repl in subst.items():
                value = value.replace(key, repl)
        return value

    version, rows = table_rows(pond_dir)
    dt = DeltaTable(str(pond_dir / "log"))
    schema = dt.schema().to_arrow()
    schema = pa.schema(schema) if not isinstance(schema, pa.Schema) else schema
    big_sha = hashlib.sha256(BIG).hexdigest()
    template = next(r for r in rows if r[schema.names.index("sha256")] == big_sha)
    row = dict(zip(schema.names, template, strict=True))
    host = Path(subst["{{HOST_TXT}}"]).read_bytes()
    row.update(version=version + 1, seq=0, txn_id=uuid.uuid4().hex, op="create", node_id=uuid.uuid4().hex,
               parent_id="0" * 32, name="forged.csv", content=None, sha256=hashlib.sha256(host).hexdigest(),
               size=len(host), message="forged", author="attacker", from_parent_id=None, from_name=None)
    if spec.get("existing"):  # a forged new content of an existing file instead of a new file
        readme = next(r for r in rows if r[schema.names.index("name")] == "readme2.txt")
        existing = dict(zip(schema.names, readme, strict=True))
        row.update(op="write", node_id=existing["node_id"], parent_id=existing["parent_id"], name="readme2.txt")
    for key, value in spec.get("set", {}).items():
        row[key] = fill(value)
    write_deltalake(dt, pa.Table.from_pylist([row], schema=schema), mode="append")


def damage_blob(pond_dir: Path, spec: dict[str, Any], subst: dict[str, str]) -> None:
    """Replace /big.bin's stored bytes on disk (its first chunk: content over 64 KiB is chunked, see
    chunks.py): by the host file's bytes, or by a symlink to the host file."""
    listing = json.loads((pond_dir / "manifests" / hashlib.sha256(BIG).hexdigest()).read_text())
    blob = pond_dir / "chunks" / listing["chunks"][0][0]
    host = Path(subst["{{HOST_TXT}}"])
    blob.unlink()
    if spec.get("symlink"):
        blob.symlink_to(host)
    else:
        blob.write_bytes(host.read_bytes() + BIG[len(host.read_bytes()):])


def blobs_intact(pond_dir: Path) -> list[str]:
    """Every blob the Delta table references exists and hashes to its row's sha256."""
    _, rows = table_rows(pond_dir)
    problems = []
    for row in rows:
        ref, sha = row[14], row[12]
        if row[17] == "attacker" and ref == f"blobs/{hashlib.sha256(BIG).hexdigest()}":
            continue  # the forged ref to /big.bin's content: chunked (see chunks.py), so no such blob ever existed
        if not ref or not isinstance(ref, str) or not ref.startswith("blobs/") or len(ref) != 70:
            continue
        path = pond_dir / ref
        if not path.is_file():
            problems.append(f"blob {ref} of a row at v{row[0]} is gone from disk")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != sha and ref[6:] == sha:
            problems.append(f"blob {ref} no longer matches its sha256")
    return problems


def child_main(job: dict[str, Any], conn: Any) -> None:
    """Entry point in the attack process."""
    os.environ.update(job["env"])
    try:
        result = run_job(job)
    except BaseException as exc:  # noqa: BLE001 - a harness error is reported, not swallowed
        result = {"harness_error": "".join(traceback.format_exception(exc))[-3000:]}
    conn.send(result)
    conn.close()


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    pond_dir = Path(job["pond"])
    if job.get("baseline"):
        with Pond.open(pond_dir) as pond:
            return {"answers": canonical_answers(pond)}
    attack = job["attack"]
    subst = job["subst"]
    markers = job["forbidden"]
    kind = attack["kind"]
    result: dict[str, Any] = {"attempts": [], "notes": []}

    if kind == "forged":
        forge_row(pond_dir, attack["forge"], subst)
    elif kind == "blob-damage":
        damage_blob(pond_dir, attack["forge"], subst)
    expected = job["expected"]
    if kind in ("forged", "blob-damage"):
        result["digest_before"] = tree_digest(pond_dir)
        with Pond.open(pond_dir) as fresh:
            expected = canonical_answers(fresh)
    rows_before = table_rows(pond_dir) if kind in ("maintain", "forged") else None

    pond = Pond.open(pond_dir)
    for at, query in attack["prelude"]:
        target = pond if at is None else pond.at(at)
        result["attempts"].append(Attempt(f"prelude at {at}: {query[:60]}", job["forbidden_at"][str(at)]).run(
            lambda t=target, q=query: t.sql(q).fetchall()).as_dict())

    main: Attempt | None = None
    if kind in ("sql", "maintain"):
        # The time bound is the attack query's own: a plain query first starts whatever the library keeps
        # warm (a worker process); that cold start is recorded, not bounded.
        warm = Attempt("warm-up SELECT 1", markers).run(lambda: pond.sql("SELECT 1").fetchall())
        result["cold_start_s"] = warm.seconds
        if warm.outcome != "ran":
            result["notes"].append(f"a plain SELECT 1 failed: {warm.text[:300]}")
        target = pond if attack["at"] is None else pond.at(attack["at"])
        main = Attempt("pond.sql", markers).run(lambda: target.sql(
            attack["query"], params=attack["params"], dialect=attack["dialect"], timeout=attack["timeout"]
        ).fetchall())
    elif kind in ("forged", "blob-damage"):
        main = run_reads(pond, pond_dir, attack, markers, result)
    assert main is not None
    result["main"] = main.as_dict()

    if kind == "maintain" or attack["forge"].get("maintain"):
        maint = Attempt("maintain(retention_hours=0)", markers).run(lambda: pond.maintain(retention_hours=0))
        result["attempts"].append(maint.as_dict())
        result["notes"] += blobs_intact(pond_dir)
        _, rows_after = table_rows(pond_dir)
        if rows_before is not None and sorted(map(repr, rows_before[1])) != sorted(map(repr, rows_after)):
            result["notes"].append("maintain changed the op rows of the Delta table")
    maintained = kind == "maintain" or attack["forge"].get("maintain")
    ignore = ("version",) if maintained else ()  # maintain's own commits (compaction) move the Delta version
    result["answers_diff"] = answer_diff(expected, canonical_answers(pond), ignore)
    pond.close()
    with Pond.open(pond_dir) as fresh:
        result["fresh_diff"] = answer_diff(expected, canonical_answers(fresh), ignore)
    if kind in ("forged", "blob-damage"):
        for key in ("read x", "read later big", "csv"):
            if isinstance(expected.get(key), str) and "Error" in expected[key]:
                result["notes"].append(f"after the forgery a legitimate read fails: {key}: {expected[key]}")
    return result


def run_reads(pond: Pond, pond_dir: Path, attack: dict[str, Any], markers: dict[str, str],
              result: dict[str, Any]) -> Attempt:
    """Every surface a forged row or damaged blob could leak through; the first is the main attempt."""
    import fsspec
    from click.testing import CliRunner

    from tinylogsql.cli import cli
    from tinylogsql.export import export

    path = attack["forge"].get("path", "/forged.csv")
    attempts = [
        Attempt(f"read_file_path({path})", markers).run(lambda: pond.root.read_file_path(path)),
        Attempt("sql read_csv", markers).run(
            lambda: pond.sql(f"SELECT * FROM read_csv('tinylogsql://{path}', header=false)").fetchall()),
        Attempt("sql read_text-like (read_json_objects)", markers).run(
            lambda: pond.sql(f"SELECT * FROM read_json_objects('tinylogsql://{path}')").fetchall()),
        Attempt("fsspec cat_file", markers).run(
            lambda: fsspec.filesystem("tinylogsql", pond=str(pond_dir), skip_instance_cache=True).cat_file(path)),
    ]

    def cli_cat() -> str:
        res = CliRunner().invoke(cli, ["cat", "--pond", str(pond_dir), path])
        if res.exit_code == 0:
            return res.output
        raise CorruptPondError(f"cli exit {res.exit_code}: {res.output}")  # what the user saw, scanned

    attempts.append(Attempt("cli cat", markers).run(cli_cat))
    out_dir = pond_dir.parent / "export-out"
    attempts.append(Attempt("export", markers).run(lambda: export(pond, out_dir)))
    if out_dir.exists():
        exported = {str(p): p.read_bytes() for p in out_dir.rglob("*") if p.is_file()}
        found: set[str] = set()
        scan(exported, markers, found)
        if found:
            result["notes"].append(f"export wrote a marker to disk: {sorted(found)}")
    report = Attempt("check()", markers).run(pond.check)
    attempts.append(report)
    try:
        checked = pond.check()
        result["check_ok"] = checked.ok
        result["check_problems"] = [p.message[:200] for p in checked.problems][:5]
    except Exception as exc:  # noqa: BLE001
        result["check_ok"] = None
        result["check_problems"] = [f"{type(exc).__name__}: {exc}"[:300]]
    for attempt in attempts[1:]:
        result["attempts"].append(attempt.as_dict())
    return attempts[0]
