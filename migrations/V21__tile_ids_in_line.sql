-- A tile's event ids (V20) are kept in its row, not out of line; its leaf hashes stay out of line.
--
-- Why: finding an event's leaf (receipts, `?event=` proofs) searches the ids of the event's tile.
-- Stored out of line, the tile's 4 KB of ids were three chunks of the tile table's TOAST table,
-- each found through the TOAST table's index: three index descents and three more pages for every
-- lookup, on top of the event's and the tile's own. In the row they are on the tile's one page.
-- The hashes stay out of line: a proof reads 512-byte slices of them, and the server fetches only
-- the chunks a slice covers.
--
-- With storage MAIN the server keeps a value in the row unless the row would not fit a page: a full
-- tile's row (4 KB of ids and a pointer to its hashes) does, and the server's attempt to compress
-- the ids (random, so it fails) stops after its first kilobyte.
ALTER TABLE projections.log_tree_tiles ALTER COLUMN event_ids SET STORAGE MAIN;

-- The tiles written so far move into their rows. (An update that keeps a column's value keeps it
-- where it is stored; appending nothing makes the value a new one, stored by the new rule.)
UPDATE projections.log_tree_tiles SET event_ids = event_ids || ''::bytea;
