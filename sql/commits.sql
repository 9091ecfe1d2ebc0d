-- commits: one row per Delta version that carries ops: when, by whom, why, what it did.
CREATE OR REPLACE VIEW commits AS
SELECT
    version,
    min(ts) AS ts,
    any_value(message) AS message,
    any_value(author) AS author,
    any_value(txn_id) AS txn_id,
    count(*) AS ops,
    count(*) FILTER (WHERE op = 'create') AS creates,
    count(*) FILTER (WHERE op = 'write') AS writes,
    count(*) FILTER (WHERE op = 'remove') AS removes,
    count(*) FILTER (WHERE op = 'move') AS moves,
    CAST(coalesce(sum(size) FILTER (WHERE op IN ('create', 'write')), 0) AS BIGINT) AS bytes_added,
    coalesce(any_value(branch), 'main') AS branch  -- the branch it landed on (a merge: its target)
FROM log
GROUP BY version;
