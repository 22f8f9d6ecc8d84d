//! Reads of the live tree, for tree heads, proofs and receipts.

use deadpool_postgres::GenericClient;
use domain::merkle::frontier::{covering, Node};
use domain::merkle::{self, Hash};
use uuid::Uuid;

use super::tiles::{self, Place, Tile, TILE};
use super::{read_nodes, Inclusion, Leaf, UpperNodes, NODES};
use crate::ProjectionError;

/// How many leaves the live tree has.
///
/// # Errors
/// The database failing.
pub async fn size(client: &impl GenericClient) -> Result<u64, ProjectionError> {
    let row = client
        .query_opt(
            "SELECT tile, length(event_ids) / 16 FROM projections.log_tree_tiles
              ORDER BY tile DESC LIMIT 1",
            &[],
        )
        .await
        .map_err(ProjectionError::database("reading the log's tree"))?;
    Ok(row.map_or(0, |row| {
        let tile = u64::try_from(row.get::<_, i64>(0)).unwrap_or(0);
        let leaves = u64::try_from(row.get::<_, i32>(1)).unwrap_or(0);
        tile.saturating_mul(TILE).saturating_add(leaves)
    }))
}

/// The place in the tree of event `id`'s leaf, if the tree has it: found in the tile whose
/// anchor is the last at or before the event's place in the log. The server finds the id in
/// the tile and sends its place alone; the leaf's hash comes with its proof ([`inclusion`]),
/// which reads the leaf's block of the tile anyway.
///
/// # Errors
/// The database failing.
pub async fn leaf_index(
    client: &impl GenericClient,
    id: Uuid,
) -> Result<Option<u64>, ProjectionError> {
    let database = ProjectionError::database("reading a leaf of the log's tree");
    // Prepared once per connection: planning the lateral joins costs more than running them.
    let statement = client
        .prepare_cached(
            "SELECT t.tile, position(uuid_send(e.event_id) IN t.event_ids) - 1
               FROM events e,
                    LATERAL (SELECT t.tile, t.event_ids
                               FROM projections.log_tree_tiles t
                              WHERE (t.first_tx, t.first_position) <= (e.tx_id, e.position)
                              ORDER BY t.first_tx DESC, t.first_position DESC LIMIT 1) t
              WHERE e.event_id = $1",
        )
        .await
        .map_err(database)?;
    let row = client
        .query_opt(&statement, &[&id])
        .await
        .map_err(database)?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(match Place::of(row.get(0), row.get(1)) {
        Place::Leaf(index) => Some(index),
        Place::Absent => None,
        Place::Unaligned(tile) => leaf_in(client, tile, id).await?.map(|leaf| leaf.index),
    })
}

/// The leaf of event `id`: its place and hash, if the tree has it.
///
/// # Errors
/// The database failing.
pub async fn leaf(client: &impl GenericClient, id: Uuid) -> Result<Option<Leaf>, ProjectionError> {
    let Some(index) = leaf_index(client, id).await? else {
        return Ok(None);
    };
    let whole = std::iter::once(index..index + 1).collect::<Vec<_>>();
    let hash = heads_of(client, None, &whole).await?.remove(0);
    Ok(Some(Leaf { index, hash }))
}

/// The leaf of event `id` in tile `tile`, searched id by id.
async fn leaf_in(
    client: &impl GenericClient,
    tile: u64,
    id: Uuid,
) -> Result<Option<Leaf>, ProjectionError> {
    let sql = format!(
        "SELECT {} FROM projections.log_tree_tiles WHERE tile = $1",
        tiles::COLUMNS
    );
    let tile = i64::try_from(tile).unwrap_or(i64::MAX);
    let row = client
        .query_opt(&sql, &[&tile])
        .await
        .map_err(ProjectionError::database(
            "reading a leaf of the log's tree",
        ))?;
    let Some(tile) = row.as_ref().map(Tile::from_row).transpose()? else {
        return Ok(None);
    };
    Ok(tile.find(id).and_then(|k| {
        Some(Leaf {
            index: tile.first().saturating_add(k as u64),
            hash: tile.hash(k)?,
        })
    }))
}

/// The leaves from index `start` on, at most `limit`, each with its event: (index, event
/// id, leaf hash).
///
/// # Errors
/// The database failing.
pub async fn leaves(
    client: &impl GenericClient,
    start: u64,
    limit: i64,
) -> Result<Vec<(u64, Uuid, Hash)>, ProjectionError> {
    let count = usize::try_from(limit).unwrap_or(0);
    let first = i64::try_from(start / TILE).unwrap_or(i64::MAX);
    let tiles = i64::try_from((count as u64).div_ceil(TILE) + 1).unwrap_or(i64::MAX);
    let rows = client
        .query(
            &format!(
                "SELECT {} FROM projections.log_tree_tiles
                  WHERE tile >= $1 ORDER BY tile LIMIT $2",
                tiles::COLUMNS
            ),
            &[&first, &tiles],
        )
        .await
        .map_err(ProjectionError::database(
            "reading the leaves of the log's tree",
        ))?;
    let tiles = rows
        .iter()
        .map(Tile::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(tiles
        .iter()
        .flat_map(Tile::leaves)
        .skip_while(|(index, ..)| *index < start)
        .take(count)
        .collect())
}

/// The head of the tree's first `size` leaves (which it must have), its upper nodes taken from
/// `upper` when given.
///
/// # Errors
/// A size beyond the tree, or the database failing.
pub async fn root(
    client: &impl GenericClient,
    upper: Option<&UpperNodes>,
    size: u64,
) -> Result<Hash, ProjectionError> {
    let whole = std::iter::once(0..size).collect::<Vec<_>>();
    heads_of(client, upper, &whole)
        .await
        .map(|mut heads| heads.remove(0))
}

/// The inclusion proof of leaf `index` in the tree's first `size` leaves, with the leaf's
/// hash (read in the same query: the proof reads the leaf's block of its tile); its upper nodes
/// taken from `upper` when given.
///
/// # Errors
/// An index or size beyond the tree, or the database failing.
pub async fn inclusion(
    client: &impl GenericClient,
    upper: Option<&UpperNodes>,
    index: u64,
    size: u64,
) -> Result<Inclusion, ProjectionError> {
    let mut ranges = merkle::inclusion_ranges(index, size)
        .ok_or_else(|| ProjectionError::Tree(format!("leaf {index} is not in a tree of {size}")))?;
    ranges.push(index..index + 1);
    let mut proof = heads_of(client, upper, &ranges).await?;
    let leaf = proof
        .pop()
        .ok_or_else(|| ProjectionError::Tree(format!("no leaf {index} in the proof")))?;
    Ok(Inclusion { leaf, proof })
}

/// The consistency proof between the tree's first `first` and first `second` leaves, its upper
/// nodes taken from `upper` when given.
///
/// # Errors
/// Sizes not 0 < first <= second <= the tree's, or the database failing.
pub async fn consistency(
    client: &impl GenericClient,
    upper: Option<&UpperNodes>,
    first: u64,
    second: u64,
) -> Result<Vec<Hash>, ProjectionError> {
    let ranges = merkle::consistency_ranges(first, second).ok_or_else(|| {
        ProjectionError::Tree(format!("no consistency proof from {first} to {second}"))
    })?;
    heads_of(client, upper, &ranges).await
}

/// The head of each range, reading every node they need (but those `upper` keeps) in one query.
async fn heads_of(
    client: &impl GenericClient,
    upper: Option<&UpperNodes>,
    ranges: &[std::ops::Range<u64>],
) -> Result<Vec<Hash>, ProjectionError> {
    let covers: Vec<Vec<Node>> = ranges.iter().map(|r| covering(r.clone())).collect();
    let all: Vec<Node> = covers.iter().flatten().copied().collect();
    let nodes = match upper {
        Some(upper) => upper.read(client, &all).await?.0,
        None => read_nodes(client, NODES, &all).await?.0,
    };
    // read_nodes answers every node asked for, or fails.
    super::fold_covers(&covers, &nodes)
        .ok_or_else(|| ProjectionError::Tree("a node of the tree is missing".into()))
}
