-- retention policies (issue 17). Policies are rows of the op log (op 'retention' / 'clear-retention',
-- pond-wide, see retention.py); tinylogsql reads them in Python and hands DuckDB every set and clear:
--   retention_rows(op, pattern, keep_versions, keep_days, version, created)

-- retention_at(v): the policies in force at version (or time, or revision) v: per glob, its last
-- set or clear up to then, if that was a set.
CREATE OR REPLACE MACRO retention_at(v) AS TABLE
SELECT pattern, keep_versions, keep_days, version, created
FROM (
    SELECT *, row_number() OVER (PARTITION BY pattern ORDER BY version DESC) AS newest
    FROM retention_rows
    WHERE version <= as_version(v)
)
WHERE newest = 1 AND op = 'retention'
ORDER BY pattern;

-- retention: the policies in force now; `maintain` applies them.
CREATE OR REPLACE VIEW retention AS
SELECT pattern, keep_versions, keep_days, version, created
FROM (
    SELECT *, row_number() OVER (PARTITION BY pattern ORDER BY version DESC) AS newest
    FROM retention_rows
)
WHERE newest = 1 AND op = 'retention'
ORDER BY pattern;
