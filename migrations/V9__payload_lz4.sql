-- Large payloads (the read-auditing's DataAccessed events carry up to 250 reads, ~50 KB) are
-- compressed when stored out of line; lz4 costs a fraction of pglz's CPU on the write path. Rows
-- already stored keep their compression; the log itself is untouched (this is storage only).
ALTER TABLE events ALTER COLUMN payload SET COMPRESSION lz4;
