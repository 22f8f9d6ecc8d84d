//! The nodes of the tree's upper levels, kept in the process that serves proofs.
//!
//! A proof names one node per level, and reading each stored node is an index descent in the
//! server: in a tree of 3 million leaves about 18 of them per proof, which is most of what a
//! proof costs there (docs/adr/0011). A node of the tree is a complete subtree, written once and
//! never changed, so the few thousand of the upper levels are kept here after their first read.
//!
//! They are kept only while the tree's table is the one they were read from. Every read names
//! that table's file node (which a rebuild, renaming a new table into place, or any rewrite of the
//! table changes), and a read that finds another one drops what was kept and reads everything
//! again. The signer of tree heads does not read through this cache: its check that the tree
//! still has the last signed head must see the table itself. A node changed in place (an UPDATE
//! by a superuser: the file node stays) is not seen here until the process restarts; the signer
//! sees it and signs nothing, witnesses refuse what follows, and a proof served meanwhile may
//! take its upper nodes from before the change.
//!
//! Beside them it keeps the lower nodes of the tree's right edge that proofs by event have read
//! ([`UpperNodes::keep_edge`]). Every proof against a signed size whose leaf is left of the
//! size's last power of two names the head of the rest of the tree, and that head's nodes are
//! the edge's down to single leaves: the same for every proof against the size, and unlike a
//! leaf's siblings not read with the leaf ([`super::path`]). Kept, a proof against the latest
//! head reads no more than its leaf's path. New heads bring new edges; what is kept of them is
//! dropped whole when it reaches [`EDGE`] nodes.
//!
//! Maps behind a mutex, not a caching crate: nothing is evicted one by one (the upper nodes are
//! few and bounded by [`UpperNodes::new`]'s capacity, the edge's are dropped whole at their
//! bound) and both maps are dropped at once when the table changes.

use std::collections::HashMap;
use std::sync::Mutex;

use deadpool_postgres::GenericClient;
use domain::merkle::frontier::Node;
use domain::merkle::Hash;

use super::{read_nodes, TableId, NODES};
use crate::ProjectionError;

/// The upper nodes of the live tree read so far.
#[derive(Debug)]
pub struct UpperNodes {
    lowest: u8,
    capacity: usize,
    kept: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    table: Option<TableId>,
    nodes: HashMap<Node, Hash>,
    edge: HashMap<Node, Hash>,
}

/// How many nodes of right edges are kept at most: those of a hundred sizes or so (a size's edge
/// below level 10 is at most 15 leaves and 9 nodes, and what its proofs compute from them).
pub const EDGE: usize = 4_096;

impl UpperNodes {
    /// Keeps the nodes of level `lowest` and up, at most `capacity` of them. At level 10 a tree of
    /// a billion leaves has about a million such nodes; a proof names at most one per level.
    pub fn new(lowest: u8, capacity: usize) -> UpperNodes {
        UpperNodes {
            lowest,
            capacity,
            kept: Mutex::new(Kept::default()),
        }
    }

    /// The nodes of levels 10 and up, at most 65,536 (a few megabytes).
    pub fn for_serving() -> UpperNodes {
        UpperNodes::new(10, 1 << 16)
    }

    /// How many nodes are kept.
    pub fn len(&self) -> usize {
        self.lock().nodes.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The lowest level kept.
    pub fn lowest(&self) -> u8 {
        self.lowest
    }

    /// Those of `nodes` kept from `table`: none when what is kept is of another table.
    pub(super) fn kept(&self, table: TableId, nodes: &[Node]) -> HashMap<Node, Hash> {
        let kept = self.lock();
        if kept.table != Some(table) {
            return HashMap::new();
        }
        nodes
            .iter()
            .filter_map(|n| Some((*n, *kept.nodes.get(n).or_else(|| kept.edge.get(n))?)))
            .collect()
    }

    /// Keeps `nodes`, read from `table`, as nodes of a right edge (see the module's docs).
    pub(super) fn keep_edge(&self, table: TableId, nodes: &HashMap<Node, Hash>) {
        let mut kept = self.lock();
        if kept.table != Some(table) {
            return;
        }
        if kept.edge.len() + nodes.len() > EDGE {
            kept.edge.clear();
        }
        kept.edge.extend(nodes.iter().take(EDGE));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        // A panic while holding the lock leaves a map of valid nodes: go on with it.
        self.kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The heads of `nodes` in the live tree: the upper ones kept, the others read (and the upper
    /// ones among them kept), and the table they are of.
    ///
    /// # Errors
    /// A node not in the tree, or the database failing.
    pub(super) async fn read(
        &self,
        client: &impl GenericClient,
        nodes: &[Node],
    ) -> Result<(HashMap<Node, Hash>, TableId), ProjectionError> {
        let (table, known) = {
            let kept = self.lock();
            let known: HashMap<Node, Hash> = nodes
                .iter()
                .filter_map(|n| Some((*n, *kept.nodes.get(n)?)))
                .collect();
            (kept.table, known)
        };
        let wanted: Vec<Node> = nodes
            .iter()
            .filter(|n| !known.contains_key(n))
            .copied()
            .collect();
        let (mut found, read_from) = read_nodes(client, NODES, &wanted).await?;
        if Some(read_from) != table && !known.is_empty() {
            // The kept nodes are of a table that is not the tree's any more: read them all.
            let (all, read_from) = read_nodes(client, NODES, nodes).await?;
            self.keep(read_from, &all);
            return Ok((all, read_from));
        }
        self.keep(read_from, &found);
        found.extend(known);
        Ok((found, read_from))
    }

    /// Keeps the upper ones of `nodes`, read from `table`; drops what was kept from another.
    fn keep(&self, table: TableId, nodes: &HashMap<Node, Hash>) {
        let mut kept = self.lock();
        if kept.table != Some(table) {
            kept.nodes.clear();
            kept.edge.clear();
            kept.table = Some(table);
        }
        for (node, hash) in nodes {
            if node.level >= self.lowest && kept.nodes.len() < self.capacity {
                kept.nodes.insert(*node, *hash);
            }
        }
    }
}
