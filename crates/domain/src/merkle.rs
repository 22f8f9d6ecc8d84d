//! The Merkle tree of RFC 9162 (Certificate Transparency 2.0), section 2.1, over leaf hashes: the
//! tree head, the inclusion proof of a leaf, the consistency proof between two sizes, and the
//! checks of both. It is the base of the verifiable log (docs/architecture.md): every event a leaf,
//! in the gap-free global order; a signed tree head commits to all of them; a proof lets anyone
//! check one event, or that a newer head extends an older one, without trusting the log.
//!
//! Written here rather than taken from a crate: the algorithms are the RFC's few lines, while the
//! Merkle crates on crates.io either build another tree shape or hash without the RFC's 0x00/0x01
//! prefixes, or come with a transparency-log client this project does not want. The tests check
//! this code against the reference tree heads and proofs published with Certificate Transparency
//! (the same vectors its Go, C++ and Python implementations test against), and the verifiers
//! against the generators for every leaf and size pair of many trees.

use std::ops::Range;

use sha2::{Digest, Sha256};

pub mod frontier;

/// A SHA-256 hash: of a leaf, a node, or a tree.
pub type Hash = [u8; 32];

/// The hash of a leaf: SHA-256(0x00 || bytes).
pub fn leaf_hash(bytes: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(bytes);
    hasher.finalize().into()
}

/// The leaf of an event in the log's tree: SHA-256(0x00 || its canonical bytes || its chain
/// hash). Anyone holding the event (from the database, the API or the Kafka topic) computes it.
pub fn event_leaf(event: &crate::RecordedEvent) -> Hash {
    let mut bytes = crate::hash_chain::canonical_bytes(event.into());
    bytes.extend_from_slice(event.hash.as_bytes());
    leaf_hash(&bytes)
}

/// The hash of an interior node: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The largest power of two smaller than `n` (`n` > 1): where the RFC splits a tree.
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// The tree head MTH of the leaves: SHA-256 of nothing for an empty tree, the leaf itself for one,
/// else the node over the split's two subtrees.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => Sha256::digest([]).into(),
        [leaf] => *leaf,
        _ => {
            let (left, right) = leaves.split_at(span(0..split(leaves.len() as u64)).end);
            node_hash(&root(left), &root(right))
        }
    }
}

/// The inclusion proof PATH of leaf `index` in the tree of `leaves`, from the leaf's sibling up;
/// `None` for an index outside the tree.
pub fn inclusion_proof(index: usize, leaves: &[Hash]) -> Option<Vec<Hash>> {
    let ranges = inclusion_ranges(index as u64, leaves.len() as u64)?;
    Some(ranges.into_iter().map(|r| root(&leaves[span(r)])).collect())
}

/// The consistency proof PROOF between the tree of the first `first` leaves and the tree of all
/// `leaves`; `None` unless 0 < `first` <= the number of leaves.
pub fn consistency_proof(first: usize, leaves: &[Hash]) -> Option<Vec<Hash>> {
    let ranges = consistency_ranges(first as u64, leaves.len() as u64)?;
    Some(ranges.into_iter().map(|r| root(&leaves[span(r)])).collect())
}

fn span(range: Range<u64>) -> Range<usize> {
    // The ranges lie inside a slice's length, which fits in usize.
    usize::try_from(range.start).unwrap_or(usize::MAX)
        ..usize::try_from(range.end).unwrap_or(usize::MAX)
}

/// The leaf ranges whose subtree heads make up the inclusion proof of leaf `index` in the tree of
/// `size` leaves, in the proof's order (from the leaf's sibling up); `None` for an index outside
/// the tree. A log that stores its subtrees ([`frontier`]) answers a proof from these.
pub fn inclusion_ranges(index: u64, size: u64) -> Option<Vec<Range<u64>>> {
    if index >= size {
        return None;
    }
    let mut ranges = Vec::new();
    path(index, 0..size, &mut ranges);
    Some(ranges)
}

fn path(index: u64, leaves: Range<u64>, proof: &mut Vec<Range<u64>>) {
    let n = leaves.end - leaves.start;
    if n <= 1 {
        return;
    }
    let middle = leaves.start + split(n);
    if index < middle {
        path(index, leaves.start..middle, proof);
        proof.push(middle..leaves.end);
    } else {
        path(index, middle..leaves.end, proof);
        proof.push(leaves.start..middle);
    }
}

/// The leaf ranges whose subtree heads make up the consistency proof between the trees of `first`
/// and `second` leaves, in the proof's order; `None` unless 0 < `first` <= `second`.
pub fn consistency_ranges(first: u64, second: u64) -> Option<Vec<Range<u64>>> {
    if first == 0 || first > second {
        return None;
    }
    let mut ranges = Vec::new();
    subproof(first, 0..second, true, &mut ranges);
    Some(ranges)
}

fn subproof(first: u64, leaves: Range<u64>, whole: bool, proof: &mut Vec<Range<u64>>) {
    let n = leaves.end - leaves.start;
    if first == n {
        if !whole {
            proof.push(leaves);
        }
        return;
    }
    let middle = leaves.start + split(n);
    if first <= middle - leaves.start {
        subproof(first, leaves.start..middle, whole, proof);
        proof.push(middle..leaves.end);
    } else {
        subproof(
            first - (middle - leaves.start),
            middle..leaves.end,
            false,
            proof,
        );
        proof.push(leaves.start..middle);
    }
}

/// Right-shifts both until `stop` holds for the first (RFC 9162's "shift equally until").
fn shift_until(first: &mut u64, second: &mut u64, stop: impl Fn(u64) -> bool) {
    while !stop(*first) && *first != 0 {
        *first >>= 1;
        *second >>= 1;
    }
}

/// Whether `proof` proves that `leaf` is leaf `index` of the tree of `size` leaves whose head is
/// `root` (RFC 9162, 2.1.3.2).
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            shift_until(&mut fn_, &mut sn, |f| f & 1 == 1);
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// Whether `proof` proves that the tree of `second` leaves with head `second_root` extends the
/// tree of its first `first` leaves with head `first_root` (RFC 9162, 2.1.4.2).
pub fn verify_consistency(
    first: u64,
    second: u64,
    proof: &[Hash],
    first_root: &Hash,
    second_root: &Hash,
) -> bool {
    if first == 0 || first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    let Some((head, rest)) = proof.split_first() else {
        return false;
    };
    // A first tree that is a whole subtree is not in the proof: it starts from its own head.
    let (start, rest) = if first.is_power_of_two() {
        (first_root, proof)
    } else {
        (head, rest)
    };
    let (mut fn_, mut sn) = (first - 1, second - 1);
    shift_until(&mut fn_, &mut sn, |f| f & 1 == 0);
    let (mut fr, mut sr) = (*start, *start);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            shift_until(&mut fn_, &mut sn, |f| f & 1 == 1);
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    fr == *first_root && sr == *second_root && sn == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(hash: &Hash) -> String {
        hash.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn unhex(text: &str) -> Hash {
        let mut hash = [0u8; 32];
        for (i, byte) in hash.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex");
        }
        hash
    }

    /// The leaves of Certificate Transparency's reference tree.
    fn reference_leaves() -> Vec<Hash> {
        let data: [&[u8]; 8] = [
            b"",
            &[0x00],
            &[0x10],
            &[0x20, 0x21],
            &[0x30, 0x31],
            &[0x40, 0x41, 0x42, 0x43],
            &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            &[
                0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
                0x6e, 0x6f,
            ],
        ];
        data.iter().map(|d| leaf_hash(d)).collect()
    }

    /// Its heads for sizes 0 to 8.
    const REFERENCE_ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    #[test]
    fn the_tree_heads_are_those_of_the_reference_tree() {
        let leaves = reference_leaves();
        for (size, expected) in REFERENCE_ROOTS.iter().enumerate() {
            assert_eq!(hex(&root(&leaves[..size])), *expected, "size {size}");
        }
    }

    #[test]
    fn the_inclusion_proofs_are_those_of_the_reference_tree() {
        let leaves = reference_leaves();
        // (leaf index, tree size, proof)
        let vectors: [(usize, usize, &[&str]); 4] = [
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                3,
                &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
            (
                1,
                5,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (index, size, expected) in vectors {
            let proof = inclusion_proof(index, &leaves[..size]).expect("in the tree");
            let hexes: Vec<String> = proof.iter().map(hex).collect();
            assert_eq!(hexes, expected, "leaf {index} of {size}");
            let head = unhex(REFERENCE_ROOTS[size]);
            let (i, n) = (index as u64, size as u64);
            assert!(verify_inclusion(i, n, &leaves[index], &proof, &head));
            assert!(!verify_inclusion(
                i,
                n,
                &leaves[index],
                &proof,
                &unhex(REFERENCE_ROOTS[0])
            ));
        }
        assert_eq!(inclusion_proof(8, &leaves), None);
    }

    #[test]
    fn the_consistency_proofs_are_those_of_the_reference_tree() {
        let leaves = reference_leaves();
        // (first size, second size, proof)
        let vectors: [(usize, usize, &[&str]); 4] = [
            (1, 1, &[]),
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (first, second, expected) in vectors {
            let proof = consistency_proof(first, &leaves[..second]).expect("sizes in order");
            let hexes: Vec<String> = proof.iter().map(hex).collect();
            assert_eq!(hexes, expected, "{first} -> {second}");
            let (m, n) = (first as u64, second as u64);
            let (old, new) = (
                unhex(REFERENCE_ROOTS[first]),
                unhex(REFERENCE_ROOTS[second]),
            );
            assert!(verify_consistency(m, n, &proof, &old, &new));
            if first != second {
                assert!(!verify_consistency(m, n, &proof, &new, &new));
            }
        }
    }

    fn leaves(count: usize, seed: u8) -> Vec<Hash> {
        (0..count)
            .map(|i| leaf_hash(&[seed, (i & 0xff) as u8, (i >> 8) as u8]))
            .collect()
    }

    /// Every leaf of every tree up to 40 leaves is proven, and another leaf, index or a padded
    /// proof is not.
    #[test]
    fn every_leaf_of_small_trees_is_proven_and_nothing_else_is() {
        for size in 1..=40usize {
            let tree = leaves(size, 1);
            let head = root(&tree);
            for index in 0..size {
                let proof = inclusion_proof(index, &tree).expect("in the tree");
                let (i, n) = (index as u64, size as u64);
                assert!(
                    verify_inclusion(i, n, &tree[index], &proof, &head),
                    "{index}/{size}"
                );
                let other = leaf_hash(b"not this leaf");
                assert!(!verify_inclusion(i, n, &other, &proof, &head));
                assert!(!verify_inclusion(i + 1, n, &tree[index], &proof, &head));
                // (The size itself is what the signed head vouches for: the same path may fit
                // another size, as leaf 0 of 3 and of 4 share theirs.) A padded proof fails.
                let mut padded = proof.clone();
                padded.push(head);
                assert!(!verify_inclusion(i, n, &tree[index], &padded, &head));
            }
        }
    }

    /// Every pair of sizes of trees up to 24 leaves is consistent, and a rewritten leaf breaks it.
    #[test]
    fn every_pair_of_sizes_is_consistent_and_a_rewritten_leaf_is_caught() {
        for size in 1..=24usize {
            let tree = leaves(size, 2);
            let heads: Vec<Hash> = (0..=size).map(|m| root(&tree[..m])).collect();
            for first in 1..=size {
                let proof = consistency_proof(first, &tree).expect("in order");
                let (m, n) = (first as u64, size as u64);
                assert!(
                    verify_consistency(m, n, &proof, &heads[first], &heads[size]),
                    "{first} -> {size}"
                );
                // The insider's rewrite: leaf 0 changed and every head recomputed.
                let mut rewritten = tree.clone();
                rewritten[0] = leaf_hash(b"rewritten");
                let forged = consistency_proof(first, &rewritten).expect("in order");
                assert!(!verify_consistency(
                    m,
                    n,
                    &forged,
                    &heads[first],
                    &root(&rewritten)
                ));
            }
        }
    }

    proptest! {
        /// Random trees up to 1,000 leaves: a random leaf's proof verifies; one flipped bit in it
        /// does not.
        #[test]
        fn random_inclusion_proofs_verify_and_a_flipped_bit_does_not(
            size in 1usize..1000,
            pick in any::<prop::sample::Index>(),
            bit in 0usize..256,
        ) {
            let tree = leaves(size, 3);
            let index = pick.index(size);
            let head = root(&tree);
            let mut proof = inclusion_proof(index, &tree).expect("in the tree");
            let (i, n) = (index as u64, size as u64);
            prop_assert!(verify_inclusion(i, n, &tree[index], &proof, &head));
            if !proof.is_empty() {
                let at = bit % (proof.len() * 256);
                proof[at / 256][(at % 256) / 8] ^= 1 << (at % 8);
                prop_assert!(!verify_inclusion(i, n, &tree[index], &proof, &head));
            }
        }

        /// Random size pairs up to 1,000 leaves are consistent; a dropped tail is not.
        #[test]
        fn random_consistency_proofs_verify_and_a_dropped_tail_does_not(
            second in 2usize..1000,
            pick in any::<prop::sample::Index>(),
        ) {
            let tree = leaves(second, 4);
            let first = 1 + pick.index(second - 1);
            let proof = consistency_proof(first, &tree).expect("in order");
            let (m, n) = (first as u64, second as u64);
            let (old, new) = (root(&tree[..first]), root(&tree));
            prop_assert!(verify_consistency(m, n, &proof, &old, &new));
            // A head that dropped the last leaf is not the tree the proof is for.
            let shorter = root(&tree[..second - 1]);
            prop_assert!(!verify_consistency(m, n, &proof, &old, &shorter));
        }
    }
}
