"""Merging segments and change layers into a new base (segmerge.py): the state after any mix of
bulk loads, edits, moves and removals, merged, persisted as segments and reopened, is what the
views compute from the log."""

from __future__ import annotations

import random

from cache_helpers import state_matches_views

import tinylogsql.segments as segments
from tinylogsql import Pond


def listing(pond: Pond) -> dict[str, list[tuple[str, str]]]:
    return {top: [(name, node.kind) for name, node in pond.root.open_dir_path(top).entries()]
            for top in pond.root if pond.root.get(top).kind == "dir"}


def test_merges_of_segments_and_layers_equal_the_views_and_reopen(pond_path, monkeypatch):
    monkeypatch.setattr(segments, "REBASE_AT", 40)  # bulk loads become segments; layers freeze often
    monkeypatch.setattr(segments, "MAX_SEGMENTS", 2)
    rng = random.Random(5)
    with Pond.create(pond_path) as pond:
        root = pond.root
        for load in range(4):  # each a segment of its own, the third merged with the others
            root.create_files({f"load{load}/f{i:03d}": f"{load}-{i}".encode() for i in range(60 + 20 * load)})
            with pond.transaction():
                for _ in range(25):
                    folder, index = rng.randrange(load + 1), rng.randrange(60)
                    path = f"load{folder}/f{index:03d}"
                    if not root.exists(path):
                        continue
                    choice = rng.random()
                    if choice < 0.3:
                        root.remove(path)
                    elif choice < 0.6:
                        root.write_file_path(path, b"edited")
                    else:
                        root.rename(path, f"load{rng.randrange(load + 1)}/moved-{load}-{index}")
            state_matches_views(pond)
        root.remove("load1", recursive=True)  # a folder gone: its id leaves the merged dictionary
        root.create_symlink_path("load0/link", "../load2")
        pond._engine.state.rebase()
        state_matches_views(pond)
        root.create_files({f"late/f{i:03d}": b"late" for i in range(100)})  # a segment beside the base
        pond.maintain(retention_hours=0, unsafe=True)
        root.create_files({f"later/f{i:03d}": b"later" for i in range(100)})
        pond._engine.persist_soon(keep=2)
        segments.in_background(lambda: None).result()
        expected = listing(pond)
    with Pond.open(pond_path) as fresh:
        assert listing(fresh) == expected and "load1" not in list(fresh.root)
        assert fresh.root.read_file_path("late/f007") == b"late" and fresh.root.get("load0/link").kind == "symlink"
        state_matches_views(fresh)
