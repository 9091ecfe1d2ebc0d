-- sha256: the hex sha256 of each small content of a bulk import (tinylogsql/hashing.py), in
-- one vectorised pass over the registered Arrow column `contents.content`. Larger contents
-- (octet_length >= $small) come out NULL: hashlib hashes those faster per byte.
SELECT CASE WHEN octet_length(content) < $small THEN sha256(content) END AS sha256
FROM contents
