-- nodes: one row per live node (the root included) with its current state.
-- A node's latest op (by version, then seq) says where it is and whether it lives:
-- a node whose latest op is 'remove' is gone. Moves and removes copy kind/size/sha256/target
-- forward, so the latest op carries them; content_version/content_seq point at the op row
-- holding the current content (the latest create or write).
CREATE OR REPLACE MACRO nodes_at(v) AS TABLE
WITH ranked AS (
    SELECT
        *,
        row_number() OVER (PARTITION BY node_id ORDER BY version DESC, seq DESC) AS recency,
        min(version) OVER (PARTITION BY node_id) AS created_version,
        first_value(ts) OVER (PARTITION BY node_id ORDER BY version, seq) AS created,
        last_value(CASE WHEN op IN ('create', 'write') THEN version END IGNORE NULLS) OVER whole AS content_version,
        last_value(CASE WHEN op IN ('create', 'write') THEN seq END IGNORE NULLS) OVER whole AS content_seq
    FROM oplog_at(v)
    WINDOW whole AS (
        PARTITION BY node_id ORDER BY version, seq
        ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
    )
)
SELECT
    node_id, kind, parent_id, name, size, sha256, target,
    created, created_version,
    ts AS modified, version,
    content_version, content_seq
FROM ranked
WHERE recency = 1 AND op <> 'remove';

-- The live view: every version in `log`.
CREATE OR REPLACE VIEW nodes AS
SELECT *
FROM nodes_at(9223372036854775807);
