-- branches, tags and merge conflicts (issue 15). The refs are rows of the op log; tinylogsql
-- resolves them in Python (refs.py: heads, forks, tags, each revision's ancestry) and hands
-- DuckDB the answers as small tables, so a branch's head here is exactly `Branch.head`:
--   branch_rows(name, head, base, created)      one row per live branch
--   tag_rows(name, branch, version, created)    one row per tag
--   rev_chains(rev, branch, after, upto, version)
--       for every branch and tag name: the rows it sees (branch, after < version <= upto)
--       and the version it names (see oplog_at in oplog.sql)
--   merge_conflict_rows(source, path, reason, ours, theirs)
--       what merging each other branch into this one would conflict on (filled only for
--       queries that call merge_conflicts)

CREATE OR REPLACE VIEW branches AS
SELECT name, head, base, created
FROM branch_rows;

CREATE OR REPLACE VIEW tags AS
SELECT name, branch, version, created
FROM tag_rows;

-- merge_conflicts('feature'): pond.merge_preview('feature').conflicts as rows.
CREATE OR REPLACE MACRO merge_conflicts(src) AS TABLE
SELECT path, reason, ours, theirs
FROM merge_conflict_rows
WHERE source = src
ORDER BY path;
