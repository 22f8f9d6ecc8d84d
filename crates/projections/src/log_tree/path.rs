//! An event's leaf read together with the nodes its inclusion proof will most likely name, in one
//! round trip: the API's proofs by event and receipts (docs/adr/0011).
//!
//! Found first and proven after, an event costs two round trips and two statements, the second
//! of which descends again into the tile the first one found. Yet away from the tree's right
//! edge the nodes of a leaf's proof are its siblings: at each level the complete subtree beside
//! the one holding the leaf, whatever the tree's size. So one statement finds the leaf and reads
//! with it its block of 16 leaves and its stored siblings of the levels the cache of upper nodes
//! ([`UpperNodes`]) does not keep. With the size known (the API reads the latest head beside it),
//! [`Path::inclusion`] takes the proof's nodes from those and the cache, and reads only what is
//! still missing: a cache not yet warm, another table in place, or the tree's right edge at that
//! size, whose head most proofs against the size name; the cache keeps the edge's nodes after
//! the first proof reads them ([`UpperNodes::keep_edge`]).

use std::collections::HashMap;

use deadpool_postgres::GenericClient;
use domain::merkle::frontier::{covering, Node};
use domain::merkle::{self, Hash};
use tokio_postgres::Row;
use uuid::Uuid;

use super::tiles::{self, Place, TILE};
use super::{complete, read, Inclusion, TableId, UpperNodes, BLOCK, NODES};
use crate::ProjectionError;

/// An event's leaf and the nodes read with it.
#[derive(Debug)]
pub struct Path {
    /// The leaf's index.
    pub index: u64,
    nodes: HashMap<Node, Hash>,
    table: Option<TableId>,
}

impl Path {
    /// The leaf of event `id` with its block of leaves and its stored siblings below the levels
    /// `upper` keeps, if the tree has the event.
    ///
    /// # Errors
    /// The database failing.
    pub async fn read(
        client: &impl GenericClient,
        upper: &UpperNodes,
        id: Uuid,
    ) -> Result<Option<Path>, ProjectionError> {
        let database = ProjectionError::database("reading a leaf of the log's tree");
        let below = upper.lowest().saturating_sub(1);
        let statement = client
            .prepare_cached(&statement(below))
            .await
            .map_err(database)?;
        let rows = client.query(&statement, &[&id]).await.map_err(database)?;
        let (place, mut path) = Path::from_rows(&rows);
        path.index = match place {
            None | Some(Place::Absent) => return Ok(None),
            Some(Place::Leaf(index)) => index,
            Some(Place::Unaligned(_)) => match read::leaf_index(client, id).await? {
                Some(index) => index,
                None => return Ok(None),
            },
        };
        Ok(Some(path))
    }

    /// The nodes in the rows of [`statement`], and where the leaf was found.
    fn from_rows(rows: &[Row]) -> (Option<Place>, Path) {
        let mut place = None;
        let mut path = Path {
            index: 0,
            nodes: HashMap::with_capacity(rows.len() + BLOCK as usize),
            table: None,
        };
        for row in rows {
            let (level, number): (i16, i64) = (row.get(0), row.get(1));
            let bytes: &[u8] = row.get(2);
            let index = u64::try_from(number).unwrap_or(u64::MAX);
            match level {
                -3 => {
                    let at = bytes.try_into().map_or(-1, i32::from_be_bytes);
                    place = Some(Place::of(number, at));
                }
                -2 => path.table = Some(TableId(number)),
                -1 => {
                    let first = index.saturating_mul(BLOCK);
                    let leaves = (first..).map(|index| Node { level: 0, index });
                    path.nodes.extend(leaves.zip(tiles::hashes_of(bytes)));
                }
                level => {
                    let node = Node {
                        level: u8::try_from(level).unwrap_or(u8::MAX),
                        index,
                    };
                    if let Ok(hash) = Hash::try_from(bytes) {
                        path.nodes.insert(node, hash);
                    }
                }
            }
        }
        (place, path)
    }

    /// The inclusion proof of the leaf in the tree's first `size` leaves (which it must be in):
    /// from the nodes read with the leaf and those `upper` keeps of the same table, the rest read
    /// (and kept when they are of the tree's right edge at `size`).
    ///
    /// # Errors
    /// A size that does not hold the leaf, a size beyond the tree, or the database failing.
    pub async fn inclusion(
        &self,
        client: &impl GenericClient,
        upper: &UpperNodes,
        size: u64,
    ) -> Result<Inclusion, ProjectionError> {
        let index = self.index;
        let mut ranges = merkle::inclusion_ranges(index, size).ok_or_else(|| {
            ProjectionError::Tree(format!("leaf {index} is not in a tree of {size}"))
        })?;
        ranges.push(index..index + 1);
        let covers: Vec<Vec<Node>> = ranges.iter().cloned().map(covering).collect();
        let all: Vec<Node> = covers.iter().flatten().copied().collect();
        let Some(table) = self.table else {
            return read::inclusion(client, Some(upper), index, size).await;
        };
        let mut found = self.nodes.clone();
        found.extend(upper.kept(table, &all));
        if complete(&mut found, &all).is_some() {
            let missing: Vec<Node> = all
                .iter()
                .filter(|n| !found.contains_key(n))
                .copied()
                .collect();
            let (read, read_from) = upper.read(client, &missing).await?;
            if read_from != table {
                // Another table took the place of the one the leaf's path was read from.
                return read::inclusion(client, Some(upper), index, size).await;
            }
            let edge: HashMap<Node, Hash> = ranges
                .iter()
                .zip(&covers)
                .filter(|(range, _)| range.end == size)
                .flat_map(|(_, cover)| cover)
                .filter(|n| n.level < upper.lowest())
                .filter_map(|n| Some((*n, *read.get(n)?)))
                .collect();
            upper.keep_edge(table, &edge);
            found.extend(read);
        }
        let mut heads = super::fold_covers(&covers, &found).ok_or_else(|| {
            ProjectionError::Tree(format!("a node of leaf {index}'s proof is missing"))
        })?;
        let leaf = heads
            .pop()
            .ok_or_else(|| ProjectionError::Tree(format!("no leaf {index} in the proof")))?;
        Ok(Inclusion { leaf, proof: heads })
    }
}

/// The leaf of event `$1` found as in [`read::leaf_index`], its tile's row read once, and its
/// block a slice of the tile's hashes, which are stored out of line uncompressed; its siblings of
/// levels 4 to `below`, a constant, not a parameter: with the levels unknown the server would
/// estimate a thousand of them and plan every call anew. Rows: (-3, tile, where in the tile's
/// ids), (-1, block, its leaves' hashes), (level, index, hash) of each sibling found, (-2, the
/// nodes table's file node).
fn statement(below: u8) -> String {
    format!(
        "WITH leaf AS (
             SELECT t.tile, position(uuid_send(e.event_id) IN t.event_ids) - 1 AS at, t.hashes
               FROM events e,
                    LATERAL (SELECT t.tile, t.event_ids, t.hashes
                               FROM {NODES}_tiles t
                              WHERE (t.first_tx, t.first_position) <= (e.tx_id, e.position)
                              ORDER BY t.first_tx DESC, t.first_position DESC LIMIT 1) t
              WHERE e.event_id = $1
         ), place AS (
             SELECT tile * {TILE} + at / 16 AS leaf, hashes FROM leaf WHERE at >= 0 AND at % 16 = 0
         )
         SELECT -3::int2, tile, int4send(at) FROM leaf
         UNION ALL
         SELECT -1::int2, leaf / {BLOCK},
                substr(hashes, ((leaf / {BLOCK} % {per_tile}) * {bytes})::int4 + 1, {bytes})
           FROM place
         UNION ALL
         SELECT n.level, n.idx, n.hash
           FROM place p, generate_series({lowest}, {below}) AS l(v), {NODES} n
          WHERE n.level = l.v AND n.idx = (p.leaf >> l.v) # 1::int8
         UNION ALL
         SELECT -2::int2, coalesce(pg_relation_filenode(to_regclass('{NODES}'))::int8, -1),
                ''::bytea",
        per_tile = TILE / BLOCK,
        bytes = BLOCK * 32,
        lowest = super::LOWEST_STORED,
    )
}
