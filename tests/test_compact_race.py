"""A compaction beside busy writers (issue 18: a big pond's auto-compaction runs in the background).

Its log entry lands after the appends other writers committed meanwhile, and never after another
compaction that removed the same files (that would double rows). The interleaving is made real:
just before the compaction puts its entry, another Pond commits (or another compaction lands).
"""

from __future__ import annotations

from cache_helpers import state_matches_views
from deltalake import DeltaTable

import tinylogsql.maintenance as maintenance
from tinylogsql import Pond


def _pond_with_small_files(path: str, commits: int = 8) -> Pond:
    pond = Pond.create(path)
    for i in range(commits):
        pond.root.create_file_path(f"f{i}", str(i))
    return pond


def test_a_compaction_lands_after_a_foreign_append(tmp_path, monkeypatch):
    path = str(tmp_path / "pond")
    pond = _pond_with_small_files(path)
    other = Pond.open(path)
    real, calls = maintenance.put_if_absent, []

    def foreign_commit_first(location, entry_path, data):
        if not calls:
            other.root.create_file_path("late", b"committed while the compaction ran")
        calls.append(entry_path)
        return real(location, entry_path, data)

    monkeypatch.setattr(maintenance, "put_if_absent", foreign_commit_first)
    read_version = pond.version
    result = maintenance.compact(pond._store, zorder=False, attempts=1)
    assert result["version"] == read_version + 2 and len(calls) == 2  # passed over the append
    assert sorted(pond.root) == sorted([f"f{i}" for i in range(8)] + ["late"])
    assert pond.sql("select count(*) from oplog").fetchall() == [(10,)]  # every op once (root + 9)
    assert len(DeltaTable(f"{path}/log").file_uris()) == 2  # the compacted file and the late one
    state_matches_views(pond)
    with Pond.open(path) as fresh:
        assert fresh.check().ok
    other.close()
    pond.close()


def test_a_compaction_gives_up_after_another_removed_its_files(tmp_path, monkeypatch):
    path = str(tmp_path / "pond")
    pond = _pond_with_small_files(path)
    real, calls = maintenance.put_if_absent, []

    def rival_compaction_first(location, entry_path, data):
        calls.append(entry_path)
        if len(calls) == 1:
            assert maintenance.compact(pond._store, zorder=False, attempts=1)["numFilesRemoved"] == 9
        return real(location, entry_path, data)

    monkeypatch.setattr(maintenance, "put_if_absent", rival_compaction_first)
    result = maintenance.compact(pond._store, zorder=False, attempts=1)
    assert result.get("gaveUp") and len(calls) == 2  # the rival's landed first; ours saw its removes: refused
    assert pond.sql("select count(*) from oplog").fetchall() == [(9,)]  # no row doubled
    assert len(DeltaTable(f"{path}/log").file_uris()) == 1
    assert len(list((tmp_path / "pond" / "log").glob("*.parquet"))) == 10  # the 9 small, the rival's; ours dropped
    state_matches_views(pond)
    pond.close()
