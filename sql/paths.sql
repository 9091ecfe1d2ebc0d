-- paths: the current absolute path of every live node, walking entries down from the root.
-- Because entries are keyed by node id, a moved directory's descendants get their new
-- paths here without any op of their own.
CREATE OR REPLACE MACRO paths_at(v) AS TABLE
WITH RECURSIVE
live AS (SELECT * FROM entries_at(v)),
walk(node_id, kind, path, depth) AS (
    SELECT node_id, kind, '/', 0
    FROM nodes_at(v)
    WHERE parent_id = ''
    UNION ALL
    SELECT e.node_id, e.kind,
           CASE WHEN w.path = '/' THEN '/' || e.name ELSE w.path || '/' || e.name END,
           w.depth + 1
    FROM live AS e
    JOIN walk AS w ON e.parent_id = w.node_id
)
SELECT node_id, kind, path, depth
FROM walk;

CREATE OR REPLACE VIEW paths AS
SELECT *
FROM paths_at(9223372036854775807);
