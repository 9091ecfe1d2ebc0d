-- log as in log_base.sql, plus `log_tail`: rows newer than both files, up to the query's version,
-- as registered Arrow (used only until the worker has rewritten `recent`: Arrow has no column
-- statistics, and without them DuckDB plans the history view's joins 3-4x worse).
CREATE OR REPLACE VIEW log AS
SELECT *
FROM base.log
WHERE version <= getvariable('log_upto')
UNION ALL
SELECT *
FROM recent.log
WHERE version <= getvariable('log_upto')
UNION ALL
SELECT *
FROM log_tail;
