-- The leaves of the log's tree (V17) are kept in tiles of 256, one row per tile, instead of one row
-- per leaf (docs/adr/0011, "Leaves in tiles").
--
-- Why: with one row per leaf and two indexes (its place, its event), the tree's projector wrote
-- three index entries and a heap row for every event appended, and on a busy log that work took a
-- share of the cores the appends themselves need. A tile is one row per 256 events, with one index
-- entry on its number and one on its anchor.
--
-- Tile t holds leaves t * 256 to t * 256 + 255, in order: `event_ids` their events' ids (16 bytes
-- each, as `uuid_send` writes them) and `hashes` their leaf hashes (32 bytes each), so the k-th leaf
-- of the tile is at byte k * 16 of the one and k * 32 of the other. Only the last tile is short,
-- and it grows as leaves arrive. `first_tx, first_position` is the place in the log's global order
-- (V1) of the tile's first event: an event's tile is the one with the greatest anchor at or before
-- the event's own place, and its leaf is found there by its id. The columns are stored out of
-- line without compression (hashes and random ids do not compress).
CREATE TABLE projections.log_tree_tiles (
    tile            bigint PRIMARY KEY CHECK (tile >= 0),
    first_tx        bigint NOT NULL,
    first_position  bigint NOT NULL,
    event_ids       bytea  NOT NULL CHECK (length(event_ids) BETWEEN 16 AND 256 * 16
                                           AND length(event_ids) % 16 = 0),
    hashes          bytea  NOT NULL,
    CHECK (length(hashes) = 2 * length(event_ids))
);
CREATE INDEX log_tree_tiles_anchor ON projections.log_tree_tiles (first_tx, first_position);
ALTER TABLE projections.log_tree_tiles ALTER COLUMN event_ids SET STORAGE EXTERNAL;
ALTER TABLE projections.log_tree_tiles ALTER COLUMN hashes SET STORAGE EXTERNAL;
ALTER TABLE projections.log_tree_tiles OWNER TO egov_app;

-- The leaves the tree has now, in their tiles; the checkpoint stays where it is.
INSERT INTO projections.log_tree_tiles (tile, first_tx, first_position, event_ids, hashes)
SELECT l.idx / 256,
       (pg_catalog.array_agg(e.tx_id ORDER BY l.idx))[1],
       (pg_catalog.array_agg(e.position ORDER BY l.idx))[1],
       pg_catalog.string_agg(pg_catalog.uuid_send(l.event_id), ''::bytea ORDER BY l.idx),
       pg_catalog.string_agg(l.hash, ''::bytea ORDER BY l.idx)
  FROM projections.log_tree_leaves l
  JOIN public.events e ON e.event_id = l.event_id
 GROUP BY l.idx / 256;

DROP TABLE projections.log_tree_leaves;

-- The leaves one per row, as the tiles of `tiles` hold them (the live tree's by default): for
-- auditors reading the tree with SQL, and for the replay check, which compares a replayed tree with
-- the stored one leaf by leaf. A function, not a view: a rebuild renames the tiles' table into
-- place, and a view (or a default of type regclass) would stay with the old one.
CREATE FUNCTION projections.log_tree_leaves(tiles text DEFAULT 'projections.log_tree_tiles')
RETURNS TABLE (idx bigint, event_id uuid, hash bytea, tile_tx bigint, tile_position bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY EXECUTE pg_catalog.format(
        'SELECT t.tile * 256 + k::bigint, '
        '       pg_catalog.encode(pg_catalog.substr(t.event_ids, k * 16 + 1, 16), ''hex'')::uuid, '
        '       pg_catalog.substr(t.hashes, k * 32 + 1, 32), '
        '       t.first_tx, t.first_position '
        '  FROM %s t, pg_catalog.generate_series(0, pg_catalog.length(t.event_ids) / 16 - 1) AS k',
        tiles::pg_catalog.regclass);
END
$$;
ALTER FUNCTION projections.log_tree_leaves(text) OWNER TO egov_app;
