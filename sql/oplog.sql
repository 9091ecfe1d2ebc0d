-- oplog: every op ever committed, one row per change to one node.
-- `log` is the DuckDB-resident copy of the Delta table's rows (read from the table's own
-- file list, never a glob). `version` is the Delta version whose commit added the row,
-- stamped by the commit protocol; `seq` orders ops inside one commit.

-- is_revision(v): a branch or tag name (or NAME~N) the query mentions; tinylogsql resolves
-- those in Python and hands over `rev_chains` (see branches.sql) and `rev_log`, the rows of
-- other lines of history they need.
CREATE OR REPLACE MACRO is_revision(v) AS (
    CAST(v AS VARCHAR) IN (SELECT rev FROM rev_chains)
);

-- as_version(v): a version number as is, a revision's version, or a timestamp (UTC) turned
-- into the last version committed at or before it (-1 if none), so every *_at macro takes any.
CREATE OR REPLACE MACRO as_version(v) AS (
    CASE
        WHEN regexp_full_match(CAST(v AS VARCHAR), '-?[0-9]+') THEN TRY_CAST(CAST(v AS VARCHAR) AS BIGINT)
        WHEN is_revision(v) THEN (SELECT max(version) FROM rev_chains WHERE rev = CAST(v AS VARCHAR))
        ELSE (
            SELECT coalesce(max(version), -1)
            FROM log
            WHERE ts <= TRY_CAST(CAST(v AS VARCHAR) AS TIMESTAMP)
        )
    END
);

-- oplog_at(v): the log as it was at version (or time) v of this branch, or as revision v sees it
-- (its own branch's rows and its ancestors' up to each fork).
CREATE OR REPLACE MACRO oplog_at(v) AS TABLE
SELECT *
FROM log
WHERE NOT is_revision(v) AND version <= as_version(v)
UNION ALL
SELECT l.*
FROM rev_log AS l
JOIN rev_chains AS c
    ON c.rev = CAST(v AS VARCHAR)
    AND coalesce(l.branch, 'main') = c.branch
    AND l.version > c.after
    AND l.version <= c.upto
WHERE is_revision(v);

CREATE OR REPLACE VIEW oplog AS
SELECT *
FROM log;
