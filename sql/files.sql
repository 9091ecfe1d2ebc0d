-- files: every current file with its path, size, sha256, when it was created and last
-- modified (time and Delta version), and its content when stored inline (up to 64 KiB;
-- NULL for content kept as a blob), so text can be searched with SQL.
CREATE OR REPLACE MACRO files_at(v) AS TABLE
SELECT
    p.path, n.name, n.size, n.sha256,
    n.created, n.created_version,
    n.modified, n.version AS modified_version,
    l.content,
    n.node_id
FROM nodes_at(v) AS n
JOIN paths_at(v) AS p USING (node_id)
LEFT JOIN oplog_at(v) AS l
    ON l.node_id = n.node_id AND l.version = n.content_version AND l.seq = n.content_seq
WHERE n.kind = 'file';

CREATE OR REPLACE VIEW files AS
SELECT *
FROM files_at(9223372036854775807);
