-- diff(v1, v2): what changed between two versions (or times), one row per path:
-- added, removed, modified (new content, target or a different node of the same kind),
-- type-changed (a different kind at the same path) or moved (same node, new path;
-- old_path says where it was). Old and new sizes are given where they exist.
CREATE OR REPLACE MACRO diff(v1, v2) AS TABLE
WITH
a AS (SELECT p.path, n.* FROM paths_at(v1) AS p JOIN nodes_at(v1) AS n USING (node_id) WHERE n.parent_id <> ''),
b AS (SELECT p.path, n.* FROM paths_at(v2) AS p JOIN nodes_at(v2) AS n USING (node_id) WHERE n.parent_id <> ''),
moved AS (
    SELECT b.path, a.path AS old_path, 'moved' AS change, b.kind, a.size AS old_size, b.size AS new_size
    FROM a JOIN b ON a.node_id = b.node_id
    WHERE a.path <> b.path
),
by_path AS (
    SELECT
        coalesce(b.path, a.path) AS path,
        a.path AS old_path,
        CASE
            WHEN a.path IS NULL THEN 'added'
            WHEN b.path IS NULL THEN 'removed'
            WHEN a.kind <> b.kind THEN 'type-changed'
            WHEN a.node_id <> b.node_id
              OR a.sha256 IS DISTINCT FROM b.sha256
              OR a.target IS DISTINCT FROM b.target THEN 'modified'
        END AS change,
        coalesce(b.kind, a.kind) AS kind,
        a.size AS old_size,
        b.size AS new_size
    FROM a FULL JOIN b ON a.path = b.path
    WHERE NOT (a.path IS NULL AND b.node_id IN (SELECT node_id FROM a))
      AND NOT (b.path IS NULL AND a.node_id IN (SELECT node_id FROM b))
)
SELECT * FROM by_path WHERE change IS NOT NULL
UNION ALL
SELECT * FROM moved;
