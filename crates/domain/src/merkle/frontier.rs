//! The tree as a log stores it: every complete, aligned subtree is a node `(level, index)` holding
//! the head of leaves `index * 2^level .. (index + 1) * 2^level`, written once and never changed
//! (level 0 is the leaves). Any range a proof names is a few of these nodes, so a proof is
//! O(log n) reads; and the tree grows from its [`Frontier`], the nodes along its right edge.

use std::ops::Range;

use super::{node_hash, Hash};

/// A complete, aligned subtree: `2^level` leaves from `index * 2^level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Node {
    pub level: u8,
    pub index: u64,
}

impl Node {
    /// The leaves under it.
    pub fn leaves(self) -> Range<u64> {
        let start = self.index << self.level;
        start..start + (1 << self.level)
    }
}

/// The nodes that together hold `range`, left to right: each the largest aligned subtree that
/// starts where the previous ended and fits in the range. For the ranges of the RFC's proofs and
/// for a tree's first leaves these are few (one per bit of the range's length).
pub fn covering(range: Range<u64>) -> Vec<Node> {
    let mut nodes = Vec::new();
    let mut start = range.start;
    while start < range.end {
        let aligned = if start == 0 {
            63
        } else {
            start.trailing_zeros()
        };
        let fits = 63 - (range.end - start).leading_zeros();
        let level = aligned.min(fits);
        nodes.push(Node {
            level: level as u8,
            index: start >> level,
        });
        start += 1 << level;
    }
    nodes
}

/// The RFC's head of a range from the heads of its [`covering`] nodes (in their order): the RFC
/// splits off the largest power of two on the left, which is the first node, so the head folds
/// from the right. SHA-256 of nothing for no nodes (the empty tree).
pub fn fold(heads: &[Hash]) -> Hash {
    match heads.split_last() {
        None => super::root(&[]),
        Some((last, rest)) => rest
            .iter()
            .rev()
            .fold(*last, |right, left| node_hash(left, &right)),
    }
}

/// The right edge of a tree of `size` leaves: the heads of `covering(0..size)`. Enough to append
/// leaves and to give the tree's head.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frontier {
    size: u64,
    heads: Vec<Hash>,
}

/// Heads that do not match the size they are given for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a tree of {size} leaves has {expected} nodes on its right edge, not {given}")]
pub struct FrontierMismatch {
    pub size: u64,
    pub expected: usize,
    pub given: usize,
}

impl Frontier {
    /// The frontier of a tree of `size` leaves from the heads of `covering(0..size)`, in order.
    ///
    /// # Errors
    /// When there are not as many heads as the size has nodes on its edge.
    pub fn new(size: u64, heads: Vec<Hash>) -> Result<Self, FrontierMismatch> {
        let expected = size.count_ones() as usize;
        if heads.len() != expected {
            return Err(FrontierMismatch {
                size,
                expected,
                given: heads.len(),
            });
        }
        Ok(Self { size, heads })
    }

    /// How many leaves the tree has.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The tree's head.
    pub fn root(&self) -> Hash {
        fold(&self.heads)
    }

    /// Appends `leaf` and tells the nodes this completes (the leaf first, then each subtree it
    /// closes, upwards), to be stored.
    pub fn push(&mut self, leaf: Hash) -> Vec<(Node, Hash)> {
        let position = self.size;
        let mut written = vec![(
            Node {
                level: 0,
                index: position,
            },
            leaf,
        )];
        let mut head = leaf;
        let mut level = 0u8;
        while (position >> level) & 1 == 1 {
            let Some(left) = self.heads.pop() else { break };
            head = node_hash(&left, &head);
            level += 1;
            written.push((
                Node {
                    level,
                    index: position >> level,
                },
                head,
            ));
        }
        self.heads.push(head);
        self.size += 1;
        written
    }
}

#[cfg(test)]
mod tests {
    use super::super::{consistency_proof, consistency_ranges, inclusion_proof, inclusion_ranges};
    use super::super::{leaf_hash, root};
    use super::*;
    use std::collections::HashMap;

    fn leaves(count: u64) -> Vec<Hash> {
        (0..count).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    /// Every node the frontier wrote, for a tree of `count` leaves.
    fn grown(count: u64) -> (Frontier, HashMap<Node, Hash>) {
        let mut frontier = Frontier::default();
        let mut stored = HashMap::new();
        for leaf in leaves(count) {
            for (node, head) in frontier.push(leaf) {
                assert!(
                    stored.insert(node, head).is_none(),
                    "{node:?} written twice"
                );
            }
        }
        (frontier, stored)
    }

    fn head_of(range: Range<u64>, stored: &HashMap<Node, Hash>) -> Hash {
        let heads: Vec<Hash> = covering(range).iter().map(|n| stored[n]).collect();
        fold(&heads)
    }

    #[test]
    fn every_node_written_is_the_head_of_its_leaves_and_the_edge_gives_the_trees_head() {
        for count in 0..70 {
            let all = leaves(count);
            let (frontier, stored) = grown(count);
            assert_eq!(frontier.size(), count);
            assert_eq!(frontier.root(), root(&all), "size {count}");
            for (node, head) in &stored {
                let r = node.leaves();
                assert_eq!(*head, root(&all[r.start as usize..r.end as usize]));
            }
            // About one node per leaf above the leaves: 2n - popcount(n) in all.
            assert_eq!(
                stored.len() as u64,
                2 * count - u64::from(count.count_ones())
            );
            // The edge read back from the stored nodes resumes the same tree.
            let edge: Vec<Hash> = covering(0..count).iter().map(|n| stored[n]).collect();
            let mut resumed = Frontier::new(count, edge).expect("edge");
            let mut again = frontier.clone();
            let next = leaf_hash(b"next");
            assert_eq!(resumed.push(next), again.push(next));
            assert_eq!(resumed.root(), again.root());
        }
    }

    #[test]
    fn proofs_from_stored_nodes_are_the_rfcs_proofs() {
        for size in 1..40u64 {
            let all = leaves(size);
            let (_, stored) = grown(size);
            for index in 0..size {
                let from_nodes: Vec<Hash> = inclusion_ranges(index, size)
                    .expect("inside")
                    .into_iter()
                    .map(|r| head_of(r, &stored))
                    .collect();
                assert_eq!(Some(from_nodes), inclusion_proof(index as usize, &all));
                let first = index + 1;
                let from_nodes: Vec<Hash> = consistency_ranges(first, size)
                    .expect("inside")
                    .into_iter()
                    .map(|r| head_of(r, &stored))
                    .collect();
                assert_eq!(Some(from_nodes), consistency_proof(first as usize, &all));
            }
        }
    }

    #[test]
    fn a_range_is_covered_by_aligned_nodes_one_per_bit_of_its_length() {
        assert_eq!(covering(0..0), vec![]);
        assert_eq!(
            covering(0..6),
            vec![Node { level: 2, index: 0 }, Node { level: 1, index: 2 }]
        );
        assert_eq!(
            covering(4..7),
            vec![Node { level: 1, index: 2 }, Node { level: 0, index: 6 }]
        );
        // Not aligned at its start: smaller nodes first.
        assert_eq!(
            covering(3..8),
            vec![Node { level: 0, index: 3 }, Node { level: 2, index: 1 }]
        );
        let big = 10_000_000u64;
        assert_eq!(covering(0..big).len(), big.count_ones() as usize);
    }

    #[test]
    fn an_edge_of_the_wrong_length_is_refused() {
        assert_eq!(
            Frontier::new(6, vec![[0; 32]]),
            Err(FrontierMismatch {
                size: 6,
                expected: 2,
                given: 1
            })
        );
    }
}
