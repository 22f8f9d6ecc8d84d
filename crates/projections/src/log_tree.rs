//! The Merkle tree over the whole log (`projections.log_tree_leaves`, `projections.log_tree`,
//! migrations/V17): every event a leaf, in the gap-free global order, and every complete aligned
//! subtree stored once as a node (`domain::merkle::frontier`). Proofs and the head at any size are
//! read from a few nodes.
//!
//! The tree is fed from the log only, never from the Kafka topic: a leaf's index is its place in
//! the global order, which the topic's partitions do not keep.

use std::collections::HashMap;

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
const LEAVES: &str = "projections.log_tree_leaves";

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
        let leaves = format!("{table}_leaves");
        // A live batch (with `finish`) starts at the checkpoint, which moves with the leaves, so
        // none of it is in the tree: only a rebuild's or replay's batches are looked up.
        let ids: Vec<Uuid> = match finish {
            Some(_) => Vec::new(),
            None => events.iter().map(|e| e.event_id).collect(),
        };
        let live = finish.is_some();
        let ((size, present), stored) = futures_util::try_join!(
            size_and_present(tx, &leaves, &ids),
            live_leaves(tx, events, live)
        )?;
        let fresh = events.iter().skip_while(|e| present.contains(&e.event_id));
        if let Some(event) = fresh.clone().find(|e| present.contains(&e.event_id)) {
            return Err(ProjectionError::Tree(format!(
                "event {} is in the tree already, after events that are not",
                event.event_id
            )));
        }
        let edge = covering(0..size);
        let heads = read_nodes(tx, table, &edge).await?;
        let heads = edge.iter().map(|n| heads[n]).collect();
        let mut frontier =
            Frontier::new(size, heads).map_err(|e| ProjectionError::Tree(e.to_string()))?;
        let mut rows = Rows::default();
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
            for (node, hash) in frontier.push(leaf) {
                rows.push(node, hash, event.event_id);
            }
        }
        let written = u64::try_from(rows.leaf_idx.len()).unwrap_or(u64::MAX);
        if written == 0 {
            return Ok(0);
        }
        let writes = [
            Write {
                sql: format!(
                    "INSERT INTO {leaves} (idx, event_id, hash)
                     SELECT * FROM unnest($1::int8[], $2::uuid[], $3::bytea[])"
                ),
                params: vec![&rows.leaf_idx, &rows.leaf_event, &rows.leaf_hash],
                doing: "adding leaves to the log's tree",
            },
            Write {
                sql: format!(
                    "INSERT INTO {table} (level, idx, hash)
                     SELECT * FROM unnest($1::int2[], $2::int8[], $3::bytea[])"
                ),
                params: vec![&rows.level, &rows.idx, &rows.hash],
                doing: "adding nodes to the log's tree",
            },
        ];
        crate::writes::pipelined(tx, &writes, finish).await?;
        Ok(written)
    }
}

/// A batch's rows: the leaves apart (with their events), the nodes above them together.
#[derive(Default)]
struct Rows {
    leaf_idx: Vec<i64>,
    leaf_event: Vec<Uuid>,
    leaf_hash: Vec<Vec<u8>>,
    level: Vec<i16>,
    idx: Vec<i64>,
    hash: Vec<Vec<u8>>,
}

impl Rows {
    fn push(&mut self, node: Node, hash: Hash, event: Uuid) {
        let idx = i64::try_from(node.index).unwrap_or(i64::MAX);
        if computed(node) {
            return;
        }
        if node.level == 0 {
            self.leaf_idx.push(idx);
            self.leaf_event.push(event);
            self.leaf_hash.push(hash.to_vec());
        } else {
            self.level.push(i16::from(node.level));
            self.idx.push(idx);
            self.hash.push(hash.to_vec());
        }
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

/// How many leaves `leaves` holds, and which of `ids` are among them (one round trip).
async fn size_and_present(
    client: &impl GenericClient,
    leaves: &str,
    ids: &[Uuid],
) -> Result<(u64, Vec<Uuid>), ProjectionError> {
    let database = ProjectionError::database("reading the log's tree");
    let sql = format!(
        "SELECT (SELECT coalesce(max(idx) + 1, 0) FROM {leaves}),
                ARRAY(SELECT event_id FROM {leaves} WHERE event_id = ANY($1))"
    );
    let statement = client.prepare_cached(&sql).await.map_err(database)?;
    let row = client
        .query_one(&statement, &[&ids])
        .await
        .map_err(database)?;
    let size: i64 = row.get(0);
    Ok((u64::try_from(size).unwrap_or(0), row.get(1)))
}

/// Whether `node` is one of the levels computed from its leaves, not stored.
fn computed(node: Node) -> bool {
    (1..LOWEST_STORED).contains(&node.level)
}

/// The leaves under `node`.
fn leaves_under(node: Node) -> std::ops::Range<u64> {
    let first = node.index << node.level;
    first..first + (1 << node.level)
}

/// The heads of `nodes` in the tree whose nodes table is `table` (leaves in `{table}_leaves`):
/// the stored ones read, the others computed from the leaves under them, all in one query.
///
/// # Errors
/// A node that is not in the tree (the tree is smaller than asked), or the database failing.
async fn read_nodes(
    client: &impl GenericClient,
    table: &str,
    nodes: &[Node],
) -> Result<HashMap<Node, Hash>, ProjectionError> {
    let (below, stored): (Vec<Node>, Vec<Node>) =
        nodes.iter().partition(|n| n.level < LOWEST_STORED);
    let mut found = read_stored(client, table, &leaves_of(&below), &stored).await?;
    let missing = |node: &Node| ProjectionError::Tree(format!("node {node:?} is not in the tree"));
    for node in below {
        let leaves = leaves_under(node)
            .map(|index| found.get(&Node { level: 0, index }).copied())
            .collect::<Option<Vec<Hash>>>()
            .ok_or_else(|| missing(&node))?;
        found.insert(node, merkle::root(&leaves));
    }
    match nodes.iter().find(|n| !found.contains_key(n)) {
        Some(node) => Err(missing(node)),
        None => Ok(found),
    }
}

/// The indexes of the leaves under `nodes`, each once, in order.
fn leaves_of(nodes: &[Node]) -> Vec<u64> {
    let leaves: std::collections::BTreeSet<u64> =
        nodes.iter().flat_map(|&n| leaves_under(n)).collect();
    leaves.into_iter().collect()
}

/// The leaves `leaves` and the stored nodes among `nodes` that are in the tree, in one query.
async fn read_stored(
    client: &impl GenericClient,
    table: &str,
    leaves: &[u64],
    nodes: &[Node],
) -> Result<HashMap<Node, Hash>, ProjectionError> {
    if nodes.is_empty() && leaves.is_empty() {
        return Ok(HashMap::new());
    }
    let database = ProjectionError::database("reading the log's tree");
    let int8 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let levels: Vec<i16> = nodes.iter().map(|n| i16::from(n.level)).collect();
    let indexes: Vec<i64> = nodes.iter().map(|n| int8(n.index)).collect();
    // A plain array of leaves, not ranges joined to arrays: the server then plans the statement
    // once (with ranges it estimates a large share of the table per range and plans every call).
    let leaves: Vec<i64> = leaves.iter().copied().map(int8).collect();
    let sql = format!(
        "SELECT 0::int2, l.idx, l.hash FROM {table}_leaves l WHERE l.idx = ANY($3::int8[])
         UNION ALL
         SELECT n.level, n.idx, n.hash FROM {table} n
           JOIN unnest($1::int2[], $2::int8[]) AS a(v, i) ON n.level = a.v AND n.idx = a.i"
    );
    let statement = client.prepare_cached(&sql).await.map_err(database)?;
    let rows = client
        .query(&statement, &[&levels, &indexes, &leaves])
        .await
        .map_err(database)?;
    let mut found = HashMap::with_capacity(rows.len());
    for row in rows {
        let level: i16 = row.get(0);
        let index: i64 = row.get(1);
        let hash: &[u8] = row.get(2);
        let node = Node {
            level: u8::try_from(level).unwrap_or(u8::MAX),
            index: u64::try_from(index).unwrap_or(u64::MAX),
        };
        let hash = Hash::try_from(hash)
            .map_err(|_| ProjectionError::Tree(format!("node {node:?} is not 32 bytes")))?;
        found.insert(node, hash);
    }
    Ok(found)
}

/// A leaf of the live tree: the event's place and leaf hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leaf {
    pub index: u64,
    pub hash: Hash,
}

/// Reads of the live tree, for tree heads and proofs.
pub mod read {
    use super::*;

    /// How many leaves the live tree has.
    ///
    /// # Errors
    /// The database failing.
    pub async fn size(client: &impl GenericClient) -> Result<u64, ProjectionError> {
        Ok(size_and_present(client, LEAVES, &[]).await?.0)
    }

    /// The leaf of event `id`, if the tree has it.
    ///
    /// # Errors
    /// The database failing.
    pub async fn leaf(
        client: &impl GenericClient,
        id: Uuid,
    ) -> Result<Option<Leaf>, ProjectionError> {
        let row = client
            .query_opt(
                "SELECT idx, hash FROM projections.log_tree_leaves WHERE event_id = $1",
                &[&id],
            )
            .await
            .map_err(ProjectionError::database(
                "reading a leaf of the log's tree",
            ))?;
        Ok(row.and_then(|row| {
            let hash: &[u8] = row.get(1);
            Some(Leaf {
                index: u64::try_from(row.get::<_, i64>(0)).ok()?,
                hash: Hash::try_from(hash).ok()?,
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
        let start = i64::try_from(start).unwrap_or(i64::MAX);
        let rows = client
            .query(
                "SELECT idx, event_id, hash FROM projections.log_tree_leaves
                  WHERE idx >= $1 ORDER BY idx LIMIT $2",
                &[&start, &limit],
            )
            .await
            .map_err(ProjectionError::database(
                "reading the leaves of the log's tree",
            ))?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                let hash: &[u8] = row.get(2);
                Some((
                    u64::try_from(row.get::<_, i64>(0)).ok()?,
                    row.get(1),
                    Hash::try_from(hash).ok()?,
                ))
            })
            .collect())
    }

    /// The head of the tree's first `size` leaves (which it must have).
    ///
    /// # Errors
    /// A size beyond the tree, or the database failing.
    pub async fn root(client: &impl GenericClient, size: u64) -> Result<Hash, ProjectionError> {
        let whole = std::iter::once(0..size).collect::<Vec<_>>();
        heads_of(client, &whole)
            .await
            .map(|mut heads| heads.remove(0))
    }

    /// The inclusion proof of leaf `index` in the tree's first `size` leaves.
    ///
    /// # Errors
    /// An index or size beyond the tree, or the database failing.
    pub async fn inclusion(
        client: &impl GenericClient,
        index: u64,
        size: u64,
    ) -> Result<Vec<Hash>, ProjectionError> {
        let ranges = merkle::inclusion_ranges(index, size).ok_or_else(|| {
            ProjectionError::Tree(format!("leaf {index} is not in a tree of {size}"))
        })?;
        heads_of(client, &ranges).await
    }

    /// The consistency proof between the tree's first `first` and first `second` leaves.
    ///
    /// # Errors
    /// Sizes not 0 < first <= second <= the tree's, or the database failing.
    pub async fn consistency(
        client: &impl GenericClient,
        first: u64,
        second: u64,
    ) -> Result<Vec<Hash>, ProjectionError> {
        let ranges = merkle::consistency_ranges(first, second).ok_or_else(|| {
            ProjectionError::Tree(format!("no consistency proof from {first} to {second}"))
        })?;
        heads_of(client, &ranges).await
    }

    /// The head of each range, reading every node they need in one query.
    async fn heads_of(
        client: &impl GenericClient,
        ranges: &[std::ops::Range<u64>],
    ) -> Result<Vec<Hash>, ProjectionError> {
        let covers: Vec<Vec<Node>> = ranges.iter().map(|r| covering(r.clone())).collect();
        let all: Vec<Node> = covers.iter().flatten().copied().collect();
        let nodes = read_nodes(client, NODES, &all).await?;
        Ok(covers
            .iter()
            .map(|cover| fold(&cover.iter().map(|n| nodes[n]).collect::<Vec<_>>()))
            .collect())
    }
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
