-- oplog: every op ever committed, one row per change to one node.
-- `log` is the DuckDB-resident copy of the Delta table's rows (read from the table's own
-- file list, never a glob). `version` is the Delta version whose commit added the row,
-- stamped by the commit protocol; `seq` orders ops inside one commit.

-- as_version(v): a version number as is, or a timestamp (UTC) turned into the last version
-- committed at or before it (-1 if none), so every *_at macro takes either.
CREATE OR REPLACE MACRO as_version(v) AS (
    CASE
        WHEN regexp_full_match(CAST(v AS VARCHAR), '-?[0-9]+') THEN TRY_CAST(CAST(v AS VARCHAR) AS BIGINT)
        ELSE (
            SELECT coalesce(max(version), -1)
            FROM log
            WHERE ts <= TRY_CAST(CAST(v AS VARCHAR) AS TIMESTAMP)
        )
    END
);

-- oplog_at(v): the log as it was at version (or time) v.
CREATE OR REPLACE MACRO oplog_at(v) AS TABLE
SELECT *
FROM log
WHERE version <= as_version(v);

CREATE OR REPLACE VIEW oplog AS
SELECT *
FROM log;
