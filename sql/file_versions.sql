-- file_versions: every content version of every file (each create or write), with the
-- path it had then.
CREATE OR REPLACE VIEW file_versions AS
SELECT path, version, ts, size, sha256, op, author, message, node_id
FROM history
WHERE kind = 'file' AND op IN ('create', 'write');
