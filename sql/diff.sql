-- diff(v1, v2): what changed between two versions (or times), matching nodes by identity.
--   moved        same node, new parent or name (its descendants move with it and are not
--                listed again); old_path says where it was
--   modified     same node, new content or symlink target (a move with new content is
--                listed as both); or a path whose node was replaced by one of the same kind
--                with different content
--   type-changed a path whose node was replaced by one of another kind (old_kind says which)
--   added / removed
-- Old and new sizes are given where they exist.
CREATE OR REPLACE MACRO diff(v1, v2) AS TABLE
WITH
a AS (SELECT p.path, n.* FROM paths_at(v1) AS p JOIN nodes_at(v1) AS n USING (node_id) WHERE n.parent_id <> ''),
b AS (SELECT p.path, n.* FROM paths_at(v2) AS p JOIN nodes_at(v2) AS n USING (node_id) WHERE n.parent_id <> ''),
kept AS (
    SELECT
        b.path, a.path AS old_path, b.kind, a.size AS old_size, b.size AS new_size,
        a.parent_id <> b.parent_id OR a.name <> b.name AS moved,
        a.sha256 IS DISTINCT FROM b.sha256 OR a.target IS DISTINCT FROM b.target AS changed
    FROM a JOIN b USING (node_id)
),
gone AS (SELECT * FROM a WHERE node_id NOT IN (SELECT node_id FROM b)),
came AS (SELECT * FROM b WHERE node_id NOT IN (SELECT node_id FROM a)),
replaced AS (
    SELECT
        came.path, came.kind, gone.kind AS old_kind, gone.size AS old_size, came.size AS new_size,
        CASE
            WHEN gone.kind <> came.kind THEN 'type-changed'
            WHEN gone.sha256 IS DISTINCT FROM came.sha256 OR gone.target IS DISTINCT FROM came.target THEN 'modified'
        END AS change
    FROM gone JOIN came USING (path)
)
SELECT path, old_path, 'moved' AS change, kind, NULL AS old_kind, old_size, new_size FROM kept WHERE moved
UNION ALL
SELECT path, old_path, 'modified', kind, NULL, old_size, new_size FROM kept WHERE changed
UNION ALL
SELECT path, NULL, change, kind, CASE WHEN change = 'type-changed' THEN old_kind END, old_size, new_size
FROM replaced WHERE change IS NOT NULL
UNION ALL
SELECT path, NULL, 'removed', kind, NULL, size, NULL FROM gone WHERE path NOT IN (SELECT path FROM came)
UNION ALL
SELECT path, NULL, 'added', kind, NULL, NULL, size FROM came WHERE path NOT IN (SELECT path FROM gone);
