-- state: the current tree as the directory API reads it: the `nodes` view plus each file's
-- current content (inline bytes, or the blob it lives in) from the op row that holds it.
-- The query module runs this when no persisted snapshot is usable, keeps the result as an
-- Arrow table sorted by (parent_id, name) and moves it forward commit by commit
-- (tinylogsql/state.py); `maintain` persists it. Tests and pond.check() compare it with `nodes`.
SELECT
    n.*,
    l.content,
    l.content_ref
FROM nodes AS n
LEFT JOIN log AS l
    ON l.node_id = n.node_id
    AND l.version = n.content_version
    AND l.seq = n.content_seq
ORDER BY n.parent_id, n.name, n.version DESC, n.node_id;
