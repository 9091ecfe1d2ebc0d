-- oplog: every op ever committed, one row per change to one node.
-- `log` is the DuckDB-resident copy of the Delta table's rows (read from the table's own
-- file list, never a glob). `version` is the Delta version whose commit added the row,
-- stamped by the commit protocol; `seq` orders ops inside one commit.
CREATE OR REPLACE VIEW oplog AS
SELECT *
FROM log;
