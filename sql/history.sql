-- history: every op ever, with the path it applied to at that time.
-- A directory's location is known between its consecutive ops (`dir_spans`); the path of
-- a directory at version v climbs those spans from the directory to the root. Climbing
-- once per distinct (version, directory) keeps this cheap even over millions of ops.
CREATE OR REPLACE VIEW dir_spans AS
SELECT
    node_id, parent_id, name,
    version AS from_version,
    lead(version, 1, 9223372036854775807) OVER (PARTITION BY node_id ORDER BY version, seq) AS to_version
FROM log
WHERE kind = 'dir';

CREATE OR REPLACE VIEW history AS
WITH RECURSIVE
starts AS (
    SELECT DISTINCT version, parent_id AS dir FROM log WHERE parent_id <> ''
    UNION
    SELECT DISTINCT version, from_parent_id FROM log WHERE from_parent_id IS NOT NULL
),
climb(version, dir, cur, suffix) AS (
    SELECT version, dir, dir, '' FROM starts
    UNION ALL
    SELECT c.version, c.dir, s.parent_id, '/' || s.name || c.suffix
    FROM climb AS c
    JOIN dir_spans AS s
        ON s.node_id = c.cur AND s.from_version <= c.version AND c.version < s.to_version
    WHERE c.cur <> '00000000000000000000000000000000'
),
dir_paths AS (
    SELECT version, dir, CASE WHEN suffix = '' THEN '/' ELSE suffix END AS path
    FROM climb
    WHERE cur = '00000000000000000000000000000000'
)
SELECT
    l.version, l.seq, l.ts, l.op, l.kind,
    CASE
        WHEN l.parent_id = '' THEN '/'
        WHEN d.path = '/' THEN '/' || l.name
        ELSE d.path || '/' || l.name
    END AS path,
    CASE
        WHEN l.op <> 'move' THEN NULL
        WHEN f.path = '/' THEN '/' || l.from_name
        ELSE f.path || '/' || l.from_name
    END AS from_path,
    l.size, l.sha256, l.target, l.message, l.author, l.node_id, l.txn_id,
    coalesce(l.branch, 'main') AS branch  -- the branch the commit landed on (a merge: its target)
FROM log AS l
LEFT JOIN dir_paths AS d ON d.version = l.version AND d.dir = l.parent_id
LEFT JOIN dir_paths AS f ON f.version = l.version AND f.dir = l.from_parent_id;
