-- entries: the current entry for each (parent_id, name), i.e. the directory listings.
-- The latest op on that name wins (window over (parent_id, name)); removed nodes have
-- already dropped out of `nodes`. The root has no parent and is not an entry.
CREATE OR REPLACE VIEW entries AS
SELECT * EXCLUDE (recency)
FROM (
    SELECT
        *,
        row_number() OVER (PARTITION BY parent_id, name ORDER BY version DESC, node_id) AS recency
    FROM nodes
    WHERE parent_id <> ''
)
WHERE recency = 1;
