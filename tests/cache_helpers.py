"""Shared check for the state cache: it must equal what the views compute from the log."""

from __future__ import annotations

from tinylogsql import Pond
from tinylogsql.state import NodeRow


def state_matches_views(pond: Pond) -> None:
    """The cache (the state, its content, and the directory cache) equals what the views
    compute from the log, row for row and through every read path the directory API uses."""
    nodes = pond.sql("select * from nodes order by node_id").fetchall()
    contents = dict(pond.sql(
        "select n.node_id, l.content from nodes n join log l on l.node_id = n.node_id"
        " and l.version = n.content_version and l.seq = n.content_seq").fetchall())
    state = pond._engine.state
    assert sorted(state.rows()) == [NodeRow(*row) for row in nodes]
    by_parent: dict[str, list[str]] = {}
    for row in nodes:
        row = NodeRow(*row)
        assert state.node(row.node_id) == row
        if row.parent_id:
            assert state.lookup(row.parent_id, row.name) == row
            by_parent.setdefault(row.parent_id, []).append(row.name)
        if row.kind == "file":
            assert state.content(row.node_id, row.content_version, row.content_seq)[0] == contents[row.node_id]
    for parent, names in by_parent.items():
        assert [row.name for row in state.children(parent)] == sorted(names)
        assert state.child_names(parent) == sorted(names)
        assert list(state.child_kinds(parent)) == [(row.name, row.kind, row.node_id) for row in state.children(parent)]
    engine = pond._engine
    dirs = {row[0] for row in nodes if row[1] == "dir"}
    assert set(engine._dir_ids) == dirs
    assert {row.node_id for row in engine._dir_keys.values()} == dirs
