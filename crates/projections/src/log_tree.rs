//! The Merkle tree over the whole log (`projections.log_tree_tiles`, `projections.log_tree`,
//! migrations/V17 and V20): every event a leaf, in the gap-free global order, the leaves kept in
//! tiles of 256 ([`tiles`]), and every complete aligned subtree from level 4 up stored once as a
//! node (`domain::merkle::frontier`). Proofs and the head at any size are read from a few nodes
//! and tiles.
//!
//! The tree is fed from the log only, never from the Kafka topic: a leaf's index is its place in
//! the global order, which the topic's partitions do not keep.

use std::collections::{HashMap, HashSet};

use deadpool_postgres::{GenericClient, Transaction};
use domain::merkle::frontier::{covering, fold, Frontier, Node};
use domain::merkle::{self, Hash};
use domain::RecordedEvent;
use event_store::SubscriptionOptions;
use uuid::Uuid;

use crate::checkpoint::Finish;
use crate::writes::Write;
use crate::{ProjectionError, Projector};

pub mod heads;
mod path;
pub mod read;
mod tiles;
mod upper;

pub use path::Path;
pub use tiles::TILE;
use tiles::{Tile, Tiles};
pub use upper::UpperNodes;

/// The projector of the log's tree.
#[derive(Debug, Default)]
pub struct LogTreeProjector;

impl LogTreeProjector {
    pub const NAME: &'static str = "log_tree";
}

/// The shortest time between two live batches of the tree: a head lags the log by this more, and
/// the projector's fixed cost per batch is paid a few times a second, not per append.
pub const PACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Nodes of levels 1 to `LOWEST_STORED - 1` (each over at most 8 leaves) are not stored: seven of
/// every eight nodes are of those levels, and each is computed, when a proof or the right edge
/// names it, from the leaves below it, which the same query reads (migrations/V19).
pub const LOWEST_STORED: u8 = 4;

/// The live tables.
const NODES: &str = "projections.log_tree";

impl Projector for LogTreeProjector {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    /// Live, the leaves the appends stored are read, not the payloads (migrations/V19);
    /// rebuilds and replay checks recompute every leaf from the event, which is what catches a
    /// rewritten event. Nobody waits on the tree event by event - a head is signed from it every
    /// few seconds - so it reads the log in large batches, at most one every [`PACE`].
    fn reading(&self) -> SubscriptionOptions {
        SubscriptionOptions {
            no_payloads: true,
            batch_size: crate::projector::MAX_BATCH,
            pace: PACE,
            ..SubscriptionOptions::default()
        }
    }

    /// Leaves are appended after the tree's last one. Events already in the tree (a batch offered
    /// again) are skipped; they can only be the batch's first ones, and anything else means the
    /// tree and the log disagree, which stops the projector.
    async fn apply<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        table: &'a str,
        events: &'a [RecordedEvent],
        finish: Option<&'a Finish<'a>>,
    ) -> Result<u64, ProjectionError> {
        let tiles = format!("{table}_tiles");
        // A live batch (with `finish`) starts at the checkpoint, which moves with the leaves, so
        // none of it is in the tree: only a rebuild's or replay's batches are looked for in the
        // tiles a batch as long could have filled.
        let live = finish.is_some();
        let back = if live {
            0
        } else {
            (events.len() as u64).div_ceil(TILE)
        };
        let (tail, stored) =
            futures_util::try_join!(tiles::tail(tx, &tiles, back), live_leaves(tx, events, live))?;
        let size = tail.last().map_or(0, Tile::end);
        let fresh = fresh(events, &tail)?;
        let edge = covering(0..size);
        let (heads, _) = read_nodes(tx, table, &edge).await?;
        let heads = edge.iter().map(|n| heads[n]).collect();
        let mut frontier =
            Frontier::new(size, heads).map_err(|e| ProjectionError::Tree(e.to_string()))?;
        let mut written = Tiles::after(size, tail.into_iter().last());
        let mut nodes = Nodes::default();
        for event in fresh {
            let leaf = match stored.get(&event.event_id) {
                Some(leaf) => *leaf,
                None if live => {
                    return Err(ProjectionError::Tree(format!(
                        "event {} is not in the log any more",
                        event.event_id
                    )))
                }
                None => merkle::event_leaf(event),
            };
            written.push(event.event_id, event.cursor, &leaf);
            for (node, hash) in frontier.push(leaf) {
                nodes.push(node, hash);
            }
        }
        let count = frontier.size() - size;
        if count == 0 {
            return Ok(0);
        }
        let rows = written.rows();
        let writes = [
            Write {
                sql: tiles::upsert(&tiles),
                params: vec![
                    &rows.tile,
                    &rows.first_tx,
                    &rows.first_position,
                    &rows.event_ids,
                    &rows.hashes,
                ],
                doing: "adding leaves to the log's tree",
            },
            Write {
                sql: format!(
                    "INSERT INTO {table} (level, idx, hash)
                     SELECT * FROM unnest($1::int2[], $2::int8[], $3::bytea[])"
                ),
                params: vec![&nodes.level, &nodes.idx, &nodes.hash],
                doing: "adding nodes to the log's tree",
            },
        ];
        crate::writes::pipelined(tx, &writes, finish).await?;
        Ok(count)
    }
}

/// The events of a batch that are not in the tree yet (whose last tiles are `tail`): those after
/// the ones it has, which can only be the batch's first.
///
/// # Errors
/// An event in the tree after one that is not: the tree and the log disagree.
fn fresh<'e>(
    events: &'e [RecordedEvent],
    tail: &[Tile],
) -> Result<&'e [RecordedEvent], ProjectionError> {
    let present: HashSet<Uuid> = tail
        .iter()
        .flat_map(Tile::leaves)
        .map(|(_, id, _)| id)
        .collect();
    let known = events
        .iter()
        .take_while(|e| present.contains(&e.event_id))
        .count();
    let fresh = &events[known..];
    match fresh.iter().find(|e| present.contains(&e.event_id)) {
        Some(event) => Err(ProjectionError::Tree(format!(
            "event {} is in the tree already, after events that are not",
            event.event_id
        ))),
        None => Ok(fresh),
    }
}

/// A batch's nodes above the leaves, those of the levels that are stored.
#[derive(Default)]
struct Nodes {
    level: Vec<i16>,
    idx: Vec<i64>,
    hash: Vec<Vec<u8>>,
}

impl Nodes {
    fn push(&mut self, node: Node, hash: Hash) {
        if node.level == 0 || computed(node) {
            return;
        }
        self.level.push(i16::from(node.level));
        self.idx.push(i64::try_from(node.index).unwrap_or(i64::MAX));
        self.hash.push(hash.to_vec());
    }
}

/// How many events without a stored leaf are read whole at a time (payloads can be large).
const WHOLE_EVENTS: usize = 500;

/// The leaf of each of `events` (a contiguous part of the global order, read without payloads)
/// by event id, when `live`: the one its append stored, or for an event appended before the
/// appends stored leaves (migrations/V19) the one computed from the event read whole. Nothing
/// when not live: a rebuild or replay computes every leaf from its event.
async fn live_leaves(
    tx: &Transaction<'_>,
    events: &[RecordedEvent],
    live: bool,
) -> Result<HashMap<Uuid, Hash>, ProjectionError> {
    let (Some(first), Some(last), true) = (events.first(), events.last(), live) else {
        return Ok(HashMap::new());
    };
    let stored = event_store::stored_leaves(tx, first.cursor, last.cursor).await?;
    let mut leaves = HashMap::with_capacity(stored.len());
    let mut older = Vec::new();
    for (id, leaf) in stored {
        match leaf {
            Some(leaf) => {
                leaves.insert(id, leaf);
            }
            None => older.push(id),
        }
    }
    for ids in older.chunks(WHOLE_EVENTS) {
        for event in event_store::events_by_id(tx, ids).await? {
            leaves.insert(event.event_id, merkle::event_leaf(&event));
        }
    }
    Ok(leaves)
}

/// The leaves under a node of the lowest stored level, read together.
const BLOCK: u64 = 1 << LOWEST_STORED;

/// Whether `node` is one of the levels computed from its leaves, not stored.
fn computed(node: Node) -> bool {
    (1..LOWEST_STORED).contains(&node.level)
}

/// The leaves under `node`.
fn leaves_under(node: Node) -> std::ops::Range<u64> {
    let first = node.index << node.level;
    first..first + (1 << node.level)
}

/// Which table a tree's nodes were read from: its file node (`pg_relation_filenode`), which a
/// rebuild (a new table renamed into place) and any rewrite of the table change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TableId(i64);

/// The heads of `nodes` in the tree whose nodes table is `table` (leaves in `{table}_tiles`):
/// the stored ones read, the others computed from the leaves under them, all in one query,
/// which also names the table they were read from.
///
/// # Errors
/// A node that is not in the tree (the tree is smaller than asked), or the database failing.
async fn read_nodes(
    client: &impl GenericClient,
    table: &str,
    nodes: &[Node],
) -> Result<(HashMap<Node, Hash>, TableId), ProjectionError> {
    let (below, stored): (Vec<Node>, Vec<Node>) =
        nodes.iter().partition(|n| n.level < LOWEST_STORED);
    let (mut found, id) = read_stored(client, table, &leaves_of(&below), &stored).await?;
    match complete(&mut found, nodes) {
        Some(node) => Err(ProjectionError::Tree(format!(
            "node {node:?} is not in the tree"
        ))),
        None => Ok((found, id)),
    }
}

/// Adds to `found` the nodes of `nodes` below the stored levels, each computed from its leaves
/// in `found`; the first of `nodes` it then still lacks, if any.
fn complete(found: &mut HashMap<Node, Hash>, nodes: &[Node]) -> Option<Node> {
    for &node in nodes.iter().filter(|n| computed(**n)) {
        let leaves = leaves_under(node)
            .map(|index| found.get(&Node { level: 0, index }).copied())
            .collect::<Option<Vec<Hash>>>();
        if let Some(leaves) = leaves {
            found.insert(node, merkle::root(&leaves));
        }
    }
    nodes.iter().find(|n| !found.contains_key(n)).copied()
}

/// The head of each cover (the nodes of one range, as [`covering`] gives them) from `nodes`;
/// nothing if a node of one is not there.
fn fold_covers(covers: &[Vec<Node>], nodes: &HashMap<Node, Hash>) -> Option<Vec<Hash>> {
    covers
        .iter()
        .map(|cover| {
            let heads = cover.iter().map(|n| nodes.get(n).copied());
            heads
                .collect::<Option<Vec<Hash>>>()
                .map(|heads| fold(&heads))
        })
        .collect()
}

/// The indexes of the leaves under `nodes`, each once, in order.
fn leaves_of(nodes: &[Node]) -> Vec<u64> {
    let leaves: std::collections::BTreeSet<u64> =
        nodes.iter().flat_map(|&n| leaves_under(n)).collect();
    leaves.into_iter().collect()
}

/// The leaves `leaves` and the stored nodes among `nodes` that are in the tree, and the nodes
/// table's identity, in one query.
async fn read_stored(
    client: &impl GenericClient,
    table: &str,
    leaves: &[u64],
    nodes: &[Node],
) -> Result<(HashMap<Node, Hash>, TableId), ProjectionError> {
    let database = ProjectionError::database("reading the log's tree");
    let int8 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let levels: Vec<i16> = nodes.iter().map(|n| i16::from(n.level)).collect();
    let indexes: Vec<i64> = nodes.iter().map(|n| int8(n.index)).collect();
    // A plain array of blocks, not ranges joined to arrays: the server then plans the statement
    // once (with ranges it estimates a large share of the table per range and plans every call).
    // The leaves are read in blocks of the 16 under a level-4 node, each a slice of its tile
    // (the server reads only the part of the tile's hashes it needs: they are stored out of line
    // uncompressed); a block's row has level -1 and the block's number. The last row (level -2)
    // names the nodes table read, for the cache of upper nodes ([`UpperNodes`]).
    let mut blocks: Vec<i64> = leaves.iter().map(|&leaf| int8(leaf / BLOCK)).collect();
    blocks.dedup();
    let sql = format!(
        "SELECT -1::int2, b.block,
                substr(t.hashes, ((b.block % {per_tile}) * {bytes})::int4 + 1, {bytes})
           FROM unnest($3::int8[]) AS b(block)
           JOIN {table}_tiles t ON t.tile = b.block / {per_tile}
         UNION ALL
         SELECT n.level, n.idx, n.hash FROM {table} n
           JOIN unnest($1::int2[], $2::int8[]) AS a(v, i) ON n.level = a.v AND n.idx = a.i
         UNION ALL
         SELECT -2::int2, coalesce(pg_relation_filenode(to_regclass($4))::int8, -1), ''::bytea",
        per_tile = TILE / BLOCK,
        bytes = BLOCK * 32,
    );
    let statement = client.prepare_cached(&sql).await.map_err(database)?;
    let rows = client
        .query(&statement, &[&levels, &indexes, &blocks, &table])
        .await
        .map_err(database)?;
    let mut found = HashMap::with_capacity(rows.len() + leaves.len());
    let mut id = TableId(-1);
    for row in rows {
        let level: i16 = row.get(0);
        if level == -2 {
            id = TableId(row.get(1));
            continue;
        }
        let index = u64::try_from(row.get::<_, i64>(1)).unwrap_or(u64::MAX);
        let hash: &[u8] = row.get(2);
        if level < 0 {
            let first = index.saturating_mul(BLOCK);
            for (leaf, hash) in (first..).zip(tiles::hashes_of(hash)) {
                if leaves.binary_search(&leaf).is_ok() {
                    found.insert(
                        Node {
                            level: 0,
                            index: leaf,
                        },
                        hash,
                    );
                }
            }
            continue;
        }
        let node = Node {
            level: u8::try_from(level).unwrap_or(u8::MAX),
            index,
        };
        let hash = Hash::try_from(hash)
            .map_err(|_| ProjectionError::Tree(format!("node {node:?} is not 32 bytes")))?;
        found.insert(node, hash);
    }
    Ok((found, id))
}

/// A leaf of the live tree: the event's place and leaf hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leaf {
    pub index: u64,
    pub hash: Hash,
}

/// An inclusion proof and the leaf it proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inclusion {
    pub leaf: Hash,
    /// The proof, leaf to root (RFC 9162, 2.1.3).
    pub proof: Vec<Hash>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(level: u8, index: u64) -> Node {
        Node { level, index }
    }

    #[test]
    fn the_siblings_of_a_leaf_below_the_stored_levels_are_its_block_but_itself() {
        // Leaf 21's siblings at levels 0 to 3: leaf 20, leaves 22-23, 16-19 and 24-31.
        let siblings = [node(0, 20), node(1, 11), node(2, 4), node(3, 3)];
        let expected: Vec<u64> = (16..21).chain(22..32).collect();
        assert_eq!(leaves_of(&siblings), expected);
    }

    #[test]
    fn leaves_apart_stay_apart_and_overlaps_join() {
        let nodes = [node(1, 0), node(0, 5), node(0, 1), node(2, 5)];
        assert_eq!(leaves_of(&nodes), vec![0, 1, 5, 20, 21, 22, 23]);
        assert!(computed(node(3, 0)) && !computed(node(0, 0)) && !computed(node(4, 0)));
    }
}
