-- log, when the sandbox's rows live in two DuckDB database files attached READ_ONLY
-- (sqlbase.py): `base` (rebuilt rarely) and `recent` (the rows after base's, rewritten after
-- commits). DuckDB scans native storage, with its statistics, instead of converting Arrow on
-- every scan, and no statement can change either file. `log_upto` is the query's version (set by
-- tinylogsql before each query).
CREATE OR REPLACE VIEW log AS
SELECT *
FROM base.log
WHERE version <= getvariable('log_upto')
UNION ALL
SELECT *
FROM recent.log
WHERE version <= getvariable('log_upto');
