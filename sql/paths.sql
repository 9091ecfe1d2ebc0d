-- paths: the current absolute path of every live node, walking entries down from the root.
-- Because entries are keyed by node id, a moved directory's descendants get their new
-- paths here without any op of their own.
CREATE OR REPLACE VIEW paths AS
WITH RECURSIVE walk(node_id, kind, path, depth) AS (
    SELECT node_id, kind, '/', 0
    FROM nodes
    WHERE parent_id = ''
    UNION ALL
    SELECT e.node_id, e.kind,
           CASE WHEN w.path = '/' THEN '/' || e.name ELSE w.path || '/' || e.name END,
           w.depth + 1
    FROM entries AS e
    JOIN walk AS w ON e.parent_id = w.node_id
)
SELECT node_id, kind, path, depth
FROM walk;
