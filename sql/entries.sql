-- entries: the current entry for each (parent_id, name), i.e. the directory listings.
-- The latest op on that name wins (window over (parent_id, name)); removed nodes have
-- already dropped out of `nodes`. The root has no parent and is not an entry.
CREATE OR REPLACE MACRO entries_at(v) AS TABLE
SELECT * EXCLUDE (recency)
FROM (
    SELECT
        *,
        row_number() OVER (PARTITION BY parent_id, name ORDER BY version DESC, node_id) AS recency
    FROM nodes_at(v)
    WHERE parent_id <> ''
)
WHERE recency = 1;

CREATE OR REPLACE VIEW entries AS
SELECT *
FROM entries_at(9223372036854775807);
