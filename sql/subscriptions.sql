-- subscriptions (issue 16): the durable cursors of change-feed consumers. A subscription is
-- rows of the op log (op = 'subscription': its creation, then one row per ack); tinylogsql
-- folds them in Python (refs.py: the newest row of each name) and hands DuckDB the answer:
--   subscription_rows(name, branch, position, paths, updated)
--     position: the last acknowledged version; paths: its globs (NULL: every path);
--     updated: when its newest row was committed.
CREATE OR REPLACE VIEW subscriptions AS
SELECT name, branch, position, paths, updated
FROM subscription_rows;
