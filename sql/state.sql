-- state: a DuckDB-resident copy of `nodes`, the cache that makes lookups fast.
-- It is derived from the log only, and the query module records the Delta version it
-- reflects; `key` (parent_id || '/' || name) is indexed because DuckDB uses an index on a
-- single text key for point lookups but not a composite one. Rows are stored in key
-- order, so a directory's entries sit together and DuckDB's zone maps let a listing
-- (WHERE parent_id = ?) read one row group instead of the whole table.
CREATE OR REPLACE TABLE state AS
SELECT parent_id || '/' || name AS key, *
FROM nodes
ORDER BY key;

CREATE INDEX state_key ON state (key);
CREATE INDEX state_node ON state (node_id);
