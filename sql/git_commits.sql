-- git_commits: the pond commits `import-git` made, one per git commit, with the git commit id
-- and its author time. The import stamps them in txn_id as 'git:<sha>:<author epoch>:<author tz>'
-- (see gitimport.py); message and author ("Name <email>") are the commit's own columns.
CREATE OR REPLACE VIEW git_commits AS
SELECT
    version,
    split_part(txn_id, ':', 2) AS git_sha,
    epoch_ms(CAST(split_part(txn_id, ':', 3) AS BIGINT) * 1000) AS author_time,  -- UTC
    split_part(txn_id, ':', 4) AS author_tz,  -- the author's offset, as git records it (+0100)
    author,
    message,
    ts AS imported,
    branch
FROM commits
WHERE starts_with(txn_id, 'git:');
