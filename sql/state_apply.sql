-- state_apply: fold newly committed op rows (registered as `batch`) into `state`,
-- so that `state` equals `nodes` at the new version without rebuilding it.
CREATE OR REPLACE TEMP TABLE state_update AS
WITH ranked AS (
    SELECT
        *,
        row_number() OVER (PARTITION BY node_id ORDER BY version DESC, seq DESC) AS recency,
        min(version) OVER (PARTITION BY node_id) AS first_version,
        first_value(ts) OVER (PARTITION BY node_id ORDER BY version, seq) AS first_ts,
        last_value(CASE WHEN op IN ('create', 'write') THEN version END IGNORE NULLS) OVER whole AS cv,
        last_value(CASE WHEN op IN ('create', 'write') THEN seq END IGNORE NULLS) OVER whole AS cs
    FROM batch
    WINDOW whole AS (
        PARTITION BY node_id ORDER BY version, seq
        ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
    )
)
SELECT
    r.parent_id || '/' || r.name AS key,
    r.node_id, r.kind, r.parent_id, r.name, r.size, r.sha256, r.target,
    coalesce(s.created, r.first_ts) AS created,
    coalesce(s.created_version, r.first_version) AS created_version,
    r.ts AS modified, r.version,
    CASE WHEN r.cv IS NULL THEN s.content_version ELSE r.cv END AS content_version,
    CASE WHEN r.cv IS NULL THEN s.content_seq ELSE r.cs END AS content_seq,
    r.op
FROM ranked AS r
LEFT JOIN state AS s USING (node_id)
WHERE r.recency = 1;

DELETE FROM state WHERE node_id IN (SELECT node_id FROM state_update);

INSERT INTO state
SELECT * EXCLUDE (op) FROM state_update WHERE op <> 'remove';

DROP TABLE state_update;
