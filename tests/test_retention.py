"""Retention policies (issue 17): pond-wide policies stored as log rows, applied by maintain, which
commits expire rows before it deletes anything; reads of expired content raise ContentExpiredError.
Real ponds on disk (and in moto's S3 for the main path); what is stored is listed from storage."""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys

import pytest
from s3_helpers import list_dir

from tinylogsql import ContentExpiredError, Pond
from tinylogsql.errors import InvalidArgumentError, InvalidRetentionError, PondError, RetentionNotFoundError

FAST = {"retention_hours": 0, "unsafe": True}
"""maintain with no grace period: these tests are the only writers of their ponds."""


def blob(seed: int, size: int = 200_000) -> bytes:
    """Content over the inline limit (stored as chunks), different for every seed."""
    return random.Random(seed).randbytes(size)


def versions_of(pond: Pond, path: str) -> list[int]:
    return [row[0] for row in pond.sql("SELECT version FROM file_versions WHERE path = ? ORDER BY version",
                                       [path]).fetchall()]


def stored(pond_path: str) -> set[str]:
    return {f"{folder}/{name}" for folder in ("chunks", "manifests") for name in list_dir(pond_path, folder)}


@pytest.mark.backends("local", "s3")
def test_keep_versions_expires_old_content_and_keeps_every_op(pond, pond_path):
    pond.root.create_dir_path("/scratch")
    pond.root.create_dir_path("/data")
    scratch = [blob(k) for k in range(5)]
    for data in scratch:
        pond.root.write_file_path("/scratch/run.bin", data)
    for k in range(3):
        pond.root.write_file_path("/data/keep.bin", blob(100 + k))
    before = stored(pond_path)
    policy = pond.set_retention("/scratch/**", keep_versions=2)
    assert (policy.glob, policy.keep_versions, policy.keep_days) == ("/scratch/**", 2, None)

    report = pond.maintain(**FAST)

    versions = versions_of(pond, "/scratch/run.bin")
    assert report.versions_expired == 3
    assert [(a.glob, a.versions_expired, a.bytes_expired) for a in report.policies_applied] == [
        ("/scratch/**", 3, 3 * 200_000)]
    assert report.bytes_freed >= 3 * 190_000 and len(report.chunks_dropped) >= 3 and len(report.manifests_dropped) == 3
    assert stored(pond_path) == before - set(report.chunks_dropped) - set(report.manifests_dropped)
    for version, data in zip(versions, scratch, strict=True):
        old = pond.at(version)
        if version in versions[:3]:
            with pytest.raises(ContentExpiredError) as caught:
                old.root.read_file_path("/scratch/run.bin")
            assert isinstance(caught.value, PondError) and isinstance(caught.value, LookupError)
            assert (caught.value.version, caught.value.policy) == (version, "/scratch/**")
            assert "/scratch/**" in str(caught.value) and str(version) in str(caught.value)
            with pytest.raises(ContentExpiredError):
                old.root.get("/scratch/run.bin").open()
        else:
            assert old.root.read_file_path("/scratch/run.bin") == data
    for k, version in enumerate(versions_of(pond, "/data/keep.bin")):  # no policy: every version stays
        assert pond.at(version).root.read_file_path("/data/keep.bin") == blob(100 + k)
    # the ops stay: history, diff and file_versions show every version with its size and hash
    rows = pond.sql("SELECT version, size, sha256 FROM file_versions WHERE path = '/scratch/run.bin' "
                    "ORDER BY version").fetchall()
    assert rows == [(v, 200_000, hashlib.sha256(d).hexdigest()) for v, d in zip(versions, scratch, strict=True)]
    assert len(pond.sql("SELECT * FROM history WHERE path = '/scratch/run.bin'").fetchall()) == 5
    changed = pond.sql("SELECT path, change FROM diff(?, ?)", [versions[0], versions[1]]).fetchall()
    assert ("/scratch/run.bin", "modified") in changed
    report = pond.check()
    assert report.ok, report.problems  # expired content is not reported missing
    again = pond.maintain(**FAST)
    assert again.versions_expired == 0 and again.chunks_dropped == []


def test_policies_are_versioned_rows_queryable_and_bad_input_changes_nothing(pond):
    first = pond.set_retention("logs/*.csv", keep_days=7)  # a relative glob is rooted
    second = pond.set_retention("/scratch/**", keep_versions=3, keep_days=1.5)
    assert [p.glob for p in pond.retention()] == ["/logs/*.csv", "/scratch/**"]
    replaced = pond.set_retention("/logs/*.csv", keep_versions=10)
    assert pond.sql("SELECT pattern, keep_versions, keep_days, version FROM retention").fetchall() == [
        ("/logs/*.csv", 10, None, replaced.version), ("/scratch/**", 3, 1.5, second.version)]
    pond.clear_retention("/scratch/**")
    assert pond.sql("SELECT pattern, keep_versions, keep_days FROM retention").fetchall() == [("/logs/*.csv", 10, None)]
    at_second = pond.sql("SELECT pattern, keep_versions, keep_days FROM retention_at(?)", [second.version]).fetchall()
    assert at_second == [("/logs/*.csv", None, 7.0), ("/scratch/**", 3, 1.5)]
    assert pond.sql("SELECT count(*) FROM retention_at(?)", [first.version - 1]).fetchall() == [(0,)]
    with Pond.open(pond.uri) as fresh:  # read back from the log by a new process' view
        assert [(p.glob, p.keep_versions) for p in fresh.retention()] == [("/logs/*.csv", 10)]
    version = pond.version
    bad = [(lambda: pond.set_retention("", keep_versions=1), InvalidRetentionError),
           (lambda: pond.set_retention("/a/../b", keep_versions=1), InvalidRetentionError),
           (lambda: pond.set_retention("/a", keep_versions=None, keep_days=None), InvalidRetentionError),
           (lambda: pond.set_retention("/a", keep_versions=0), InvalidRetentionError),
           (lambda: pond.set_retention("/a", keep_days=-1), InvalidRetentionError),
           (lambda: pond.set_retention("/a", keep_days=float("nan")), InvalidRetentionError),
           (lambda: pond.set_retention("/a", keep_versions=True), InvalidArgumentError),
           (lambda: pond.set_retention(3, keep_versions=1), InvalidArgumentError),
           (lambda: pond.clear_retention("/never/set"), RetentionNotFoundError)]
    for call, error in bad:
        with pytest.raises(error):
            call()
    assert isinstance(InvalidRetentionError("x"), ValueError) and isinstance(RetentionNotFoundError("x"), LookupError)
    assert pond.version == version


def test_keep_days_and_the_grace_period(pond):
    for k in range(3):
        pond.root.write_file_path("/t.bin", blob(k))
    versions = versions_of(pond, "/t.bin")
    pond.set_retention("/*.bin", keep_days=1)  # every version was current within the last day
    assert pond.maintain(**FAST).versions_expired == 0
    pond.set_retention("/*.bin", keep_days=0)  # only the current version is kept...
    safe = pond.maintain(retention_hours=1)  # ...but nothing younger than the grace period expires
    assert safe.versions_expired == 0 and [a.versions_expired for a in safe.policies_applied] == [0]
    assert pond.maintain(**FAST).versions_expired == 2
    with pytest.raises(ContentExpiredError):
        pond.at(versions[1]).root.read_file_path("/t.bin")
    assert pond.root.read_file_path("/t.bin") == blob(2)
    pond.set_retention("/*.bin", keep_versions=5, keep_days=0)  # kept if either limit keeps it
    pond.root.write_file_path("/t.bin", blob(3))
    assert pond.maintain(**FAST).versions_expired == 0


def test_tags_and_branch_heads_protect_their_content(pond):
    for k in range(5):
        pond.root.write_file_path("/f.bin", blob(k))
    versions = versions_of(pond, "/f.bin")
    pond.tag("v1", at=versions[1])
    feature = pond.create_branch("feature", at=versions[2])
    with feature:
        feature.root.write_file_path("/g.bin", blob(50))  # its own commit; /f.bin there is still version 2's
        pond.set_retention("/**", keep_versions=1)
        report = pond.maintain(**FAST)
        assert report.versions_expired == 2  # versions 0 and 3: 1 is tagged, 2 is feature's head, 4 main's
        assert feature.root.read_file_path("/f.bin") == blob(2)
        assert feature.root.read_file_path("/g.bin") == blob(50)
    assert pond.at("v1").root.read_file_path("/f.bin") == blob(1)
    assert pond.root.read_file_path("/f.bin") == blob(4)
    for expired in (versions[0], versions[3]):
        with pytest.raises(ContentExpiredError):
            pond.at(expired).root.read_file_path("/f.bin")
    assert pond.check().ok


def test_content_shared_with_a_kept_version_stays(pond, pond_path):
    a, b = blob(1), blob(2)
    for data in (a, b, a):  # the same content in an expired version (the first) and the kept one
        pond.root.write_file_path("/x.bin", data)
    first, second, third = versions_of(pond, "/x.bin")
    pond.set_retention("/x.bin", keep_versions=1)
    report = pond.maintain(**FAST)
    assert report.versions_expired == 2
    assert report.manifests_dropped == [f"manifests/{hashlib.sha256(b).hexdigest()}"]
    assert pond.root.read_file_path("/x.bin") == a
    assert pond.at(third).root.read_file_path("/x.bin") == a
    with pytest.raises(ContentExpiredError):  # expired although its bytes are still stored
        pond.at(first).root.read_file_path("/x.bin")
    with pytest.raises(ContentExpiredError):
        pond.at(second).root.read_file_path("/x.bin")
    with pytest.raises(ContentExpiredError):  # reverting the last write would point at b's dropped chunks
        pond.revert(third)
    assert pond.check().ok


def test_dry_run_reports_the_same_and_changes_nothing(pond, pond_path):
    pond.root.create_dir_path("/d")
    for k in range(4):
        pond.root.write_file_path("/d/x.bin", blob(k))
    pond.set_retention("/d/*", keep_versions=1)
    version, files = pond.version, stored(pond_path)
    dry = pond.maintain(dry_run=True, **FAST)
    assert dry.dry_run and dry.versions_expired == 3
    assert (pond.version, stored(pond_path)) == (version, files)
    for old in versions_of(pond, "/d/x.bin"):
        pond.at(old).root.read_file_path("/d/x.bin")  # nothing expired
    real = pond.maintain(**FAST)
    assert (real.versions_expired, real.policies_applied) == (dry.versions_expired, dry.policies_applied)
    assert (sorted(real.chunks_dropped), sorted(real.manifests_dropped), real.bytes_freed) == (
        sorted(dry.chunks_dropped), sorted(dry.manifests_dropped), dry.bytes_freed)


def test_expired_content_from_sql_file_reads_and_the_cli(tmp_path):
    path = tmp_path / "pond"
    rows = b"a,b\n" + b"".join(b"%d,%d\n" % (i, i * 7) for i in range(20_000))
    with Pond.create(path) as pond:
        pond.root.write_file_path("/t.csv", rows)
        pond.root.write_file_path("/t.csv", rows + b"1,1\n")
        old = versions_of(pond, "/t.csv")[0]
        pond.set_retention("/t.csv", keep_versions=1)
        assert pond.maintain(**FAST).versions_expired == 1
        with pytest.raises(ContentExpiredError, match="expired under the retention policy '/t.csv'"):
            pond.sql(f"SELECT count(*) FROM read_csv('tinylogsql:///@v{old}/t.csv')")
        assert pond.sql("SELECT count(*) FROM read_csv('tinylogsql:///t.csv')").fetchall() == [(20_001,)]
    cli = [sys.executable, "-m", "tinylogsql.cli", "--pond", str(path)]
    done = subprocess.run([*cli, "cat", "--at", str(old), "/t.csv"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "expired under the retention policy '/t.csv'" in done.stderr
    listed = subprocess.run([*cli, "retention", "--json"], capture_output=True, text=True, timeout=120)
    assert '"glob": "/t.csv"' in listed.stdout and '"keep_versions": 1' in listed.stdout
    made = subprocess.run([*cli, "retention", "set", "/x/**", "--keep-days", "2"], capture_output=True, text=True,
                          timeout=120)
    assert made.returncode == 0, made.stderr
    cleared = subprocess.run([*cli, "retention", "clear", "/x/**"], capture_output=True, text=True, timeout=120)
    assert cleared.returncode == 0, cleared.stderr
    missing = subprocess.run([*cli, "retention", "clear", "/x/**"], capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "no retention policy for '/x/**'" in missing.stderr
    with Pond.open(path) as pond:
        assert [p.glob for p in pond.retention()] == ["/t.csv"]
