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

/// The live tables.
const NODES: &str = "projections.log_tree";
const LEAVES: &str = "projections.log_tree_leaves";

impl Projector for LogTreeProjector {
    fn name(&self) -> &'static str {
        Self::NAME
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
        let (size, present) = size_and_present(tx, &leaves, &ids).await?;
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
            for (node, hash) in frontier.push(merkle::event_leaf(event)) {
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

/// The heads of `nodes` in the tree whose nodes table is `table` (leaves in `{table}_leaves`).
///
/// # Errors
/// A node that is not stored (the tree is smaller than asked), or the database failing.
async fn read_nodes(
    client: &impl GenericClient,
    table: &str,
    nodes: &[Node],
) -> Result<HashMap<Node, Hash>, ProjectionError> {
    if nodes.is_empty() {
        return Ok(HashMap::new());
    }
    let database = ProjectionError::database("reading the log's tree");
    let levels: Vec<i16> = nodes.iter().map(|n| i16::from(n.level)).collect();
    let indexes: Vec<i64> = nodes
        .iter()
        .map(|n| i64::try_from(n.index).unwrap_or(i64::MAX))
        .collect();
    let sql = format!(
        "SELECT 0::int2, l.idx, l.hash FROM {table}_leaves l
          WHERE l.idx = ANY(ARRAY(SELECT i FROM unnest($1::int2[], $2::int8[]) AS a(v, i) WHERE v = 0))
         UNION ALL
         SELECT n.level, n.idx, n.hash FROM {table} n
           JOIN unnest($1::int2[], $2::int8[]) AS a(v, i) ON n.level = a.v AND n.idx = a.i"
    );
    let statement = client.prepare_cached(&sql).await.map_err(database)?;
    let rows = client
        .query(&statement, &[&levels, &indexes])
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
    if let Some(missing) = nodes.iter().find(|n| !found.contains_key(n)) {
        return Err(ProjectionError::Tree(format!(
            "node {missing:?} is not in the tree"
        )));
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
