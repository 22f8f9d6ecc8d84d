//! The tree's leaves in tiles of [`TILE`] (migrations/V20): one row per tile, its events' ids and
//! leaf hashes side by side, and the place in the log's global order of its first event (its
//! anchor), by which an event's tile is found.
//!
//! One row per leaf cost every append three index entries and a heap row in the projector's
//! transaction; a tile costs that once per 256 leaves (docs/adr/0011).

use deadpool_postgres::GenericClient;
use domain::merkle::Hash;
use domain::Cursor;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::ProjectionError;

/// Leaves per tile: tile `t` holds leaves `t * TILE` to `t * TILE + TILE - 1`.
pub const TILE: u64 = 256;
const ID: usize = 16;
const HASH: usize = 32;

/// The columns a tile is read with, in [`Tile::from_row`]'s order.
pub(super) const COLUMNS: &str = "tile, first_tx, first_position, event_ids, hashes";

/// A tile as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Tile {
    pub index: u64,
    pub anchor: Cursor,
    event_ids: Vec<u8>,
    hashes: Vec<u8>,
}

impl Tile {
    fn new(index: u64, anchor: Cursor) -> Tile {
        Tile {
            index,
            anchor,
            event_ids: Vec::with_capacity(ID * 8),
            hashes: Vec::with_capacity(HASH * 8),
        }
    }

    /// How many leaves it holds.
    pub fn len(&self) -> u64 {
        (self.event_ids.len() / ID) as u64
    }

    /// The index of its first leaf.
    pub fn first(&self) -> u64 {
        self.index.saturating_mul(TILE)
    }

    /// The index of the leaf after its last.
    pub fn end(&self) -> u64 {
        self.first().saturating_add(self.len())
    }

    fn is_full(&self) -> bool {
        self.len() == TILE
    }

    fn push(&mut self, event: Uuid, hash: &Hash) {
        self.event_ids.extend_from_slice(event.as_bytes());
        self.hashes.extend_from_slice(hash);
    }

    /// The place in the tile of `event`'s leaf.
    pub fn find(&self, event: Uuid) -> Option<usize> {
        self.event_ids
            .chunks_exact(ID)
            .position(|id| id == event.as_bytes())
    }

    /// Its leaves in order: (index, event id, leaf hash).
    pub fn leaves(&self) -> impl Iterator<Item = (u64, Uuid, Hash)> + '_ {
        self.event_ids
            .chunks_exact(ID)
            .zip(self.hashes.chunks_exact(HASH))
            .zip(self.first()..)
            .filter_map(|((id, hash), index)| {
                Some((
                    index,
                    Uuid::from_slice(id).ok()?,
                    Hash::try_from(hash).ok()?,
                ))
            })
    }

    /// The hash of its `k`-th leaf.
    pub fn hash(&self, k: usize) -> Option<Hash> {
        hashes_of(&self.hashes).nth(k)
    }

    /// A tile read with [`COLUMNS`].
    ///
    /// # Errors
    /// A row whose leaves are not whole ids and hashes, one to one.
    pub fn from_row(row: &Row) -> Result<Tile, ProjectionError> {
        let index: i64 = row.get(0);
        let tile = Tile {
            index: u64::try_from(index).unwrap_or(u64::MAX),
            anchor: Cursor::new(row.get(1), row.get(2)),
            event_ids: row.get(3),
            hashes: row.get(4),
        };
        let whole = tile.event_ids.len() % ID == 0
            && tile.hashes.len() == tile.event_ids.len() / ID * HASH
            && tile.len() <= TILE;
        if whole {
            Ok(tile)
        } else {
            Err(ProjectionError::Tree(format!(
                "tile {} does not hold whole leaves",
                tile.index
            )))
        }
    }
}

/// Where an event's id was found in its tile.
pub(super) enum Place {
    /// At this leaf.
    Leaf(u64),
    /// Not in the tile: the tree has not reached the event.
    Absent,
    /// Across two ids (2^-128 odds): the tile is to be searched id by id.
    Unaligned(u64),
}

impl Place {
    /// The place of an id found at byte `at` (from 0, -1 for nowhere) of tile `tile`'s ids.
    pub(super) fn of(tile: i64, at: i32) -> Place {
        let tile = u64::try_from(tile).unwrap_or(u64::MAX);
        match usize::try_from(at) {
            Err(_) => Place::Absent,
            Ok(at) if at % 16 == 0 => {
                Place::Leaf(tile.saturating_mul(TILE).saturating_add((at / 16) as u64))
            }
            Ok(_) => Place::Unaligned(tile),
        }
    }
}

/// The leaf hashes packed in `hashes`, in order.
pub(super) fn hashes_of(hashes: &[u8]) -> impl Iterator<Item = Hash> + '_ {
    hashes
        .chunks_exact(HASH)
        .filter_map(|hash| Hash::try_from(hash).ok())
}

/// The tiles a batch writes: the tree's last one if it had room, then new ones.
#[derive(Debug, Default)]
pub(super) struct Tiles {
    tiles: Vec<Tile>,
    next: u64,
}

impl Tiles {
    /// Tiles continuing a tree of `size` leaves whose last tile is `last`.
    pub fn after(size: u64, last: Option<Tile>) -> Tiles {
        Tiles {
            tiles: last.filter(|tile| !tile.is_full()).into_iter().collect(),
            next: size,
        }
    }

    /// Adds the next leaf: `event`'s, at `place` in the log.
    pub fn push(&mut self, event: Uuid, place: Cursor, hash: &Hash) {
        match self.tiles.last_mut() {
            Some(tile) if !tile.is_full() => tile.push(event, hash),
            _ => {
                let mut tile = Tile::new(self.next / TILE, place);
                tile.push(event, hash);
                self.tiles.push(tile);
            }
        }
        self.next += 1;
    }

    /// The rows to write (columns as in [`COLUMNS`]), one array per column.
    pub fn rows(&self) -> TileRows<'_> {
        let int8 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        TileRows {
            tile: self.tiles.iter().map(|t| int8(t.index)).collect(),
            first_tx: self.tiles.iter().map(|t| t.anchor.transaction()).collect(),
            first_position: self.tiles.iter().map(|t| t.anchor.position()).collect(),
            event_ids: self.tiles.iter().map(|t| t.event_ids.as_slice()).collect(),
            hashes: self.tiles.iter().map(|t| t.hashes.as_slice()).collect(),
        }
    }
}

/// A batch's tiles as the columns of their rows.
pub(super) struct TileRows<'a> {
    pub tile: Vec<i64>,
    pub first_tx: Vec<i64>,
    pub first_position: Vec<i64>,
    pub event_ids: Vec<&'a [u8]>,
    pub hashes: Vec<&'a [u8]>,
}

/// The statement writing [`TileRows`] to `tiles`: new tiles inserted, the last one (grown) replaced.
pub(super) fn upsert(tiles: &str) -> String {
    format!(
        "INSERT INTO {tiles} ({COLUMNS})
         SELECT * FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::bytea[], $5::bytea[])
         ON CONFLICT (tile) DO UPDATE SET event_ids = EXCLUDED.event_ids, hashes = EXCLUDED.hashes"
    )
}

/// The tree's last tiles in `tiles`: the last one and the `back` before it, in order.
///
/// # Errors
/// The database failing, or a tile not whole.
pub(super) async fn tail(
    client: &impl GenericClient,
    tiles: &str,
    back: u64,
) -> Result<Vec<Tile>, ProjectionError> {
    let database = ProjectionError::database("reading the log's tree");
    let sql = format!(
        "SELECT {COLUMNS} FROM {tiles}
          WHERE tile >= (SELECT coalesce(max(tile), 0) FROM {tiles}) - $1
          ORDER BY tile"
    );
    let statement = client.prepare_cached(&sql).await.map_err(database)?;
    let back = i64::try_from(back).unwrap_or(i64::MAX);
    let rows = client.query(&statement, &[&back]).await.map_err(database)?;
    rows.iter().map(Tile::from_row).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(n: u8) -> Hash {
        [n; 32]
    }

    #[test]
    fn leaves_fill_the_short_last_tile_first_then_start_new_tiles_at_their_own_place() {
        let mut short = Tile::new(1, Cursor::new(7, 300));
        for n in 0..250u8 {
            short.push(Uuid::from_u128(u128::from(n)), &hash(n));
        }
        let mut tiles = Tiles::after(TILE + 250, Some(short));
        for n in 0..10u8 {
            tiles.push(
                Uuid::from_u128(1000 + u128::from(n)),
                Cursor::new(9, i64::from(n)),
                &hash(n),
            );
        }
        let rows = tiles.rows();
        assert_eq!(rows.tile, vec![1, 2]);
        assert_eq!(
            (rows.first_tx, rows.first_position),
            (vec![7, 9], vec![300, 6])
        );
        assert_eq!(
            (rows.event_ids[0].len(), rows.event_ids[1].len()),
            (256 * 16, 4 * 16)
        );
        assert_eq!(tiles.tiles[1].find(Uuid::from_u128(1009)), Some(3));
        assert_eq!(tiles.tiles[1].hash(3), Some(hash(9)));
        let leaves: Vec<u64> = tiles.tiles[1].leaves().map(|(index, ..)| index).collect();
        assert_eq!(leaves, vec![512, 513, 514, 515]);
    }

    #[test]
    fn a_full_last_tile_is_left_as_it_is() {
        let mut full = Tile::new(0, Cursor::new(1, 1));
        for n in 0..=255u8 {
            full.push(Uuid::from_u128(u128::from(n)), &hash(n));
        }
        let mut tiles = Tiles::after(TILE, Some(full));
        tiles.push(Uuid::nil(), Cursor::new(2, 2), &hash(0));
        assert_eq!(tiles.rows().tile, vec![1]);
    }
}
