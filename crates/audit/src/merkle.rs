//! The RFC 6962 / RFC 9162 Merkle tree: leaf and node hashing, the Merkle Tree Hash of any size,
//! an incremental builder with O(log n) memory, and inclusion and consistency proofs with their
//! verification.
//!
//! Proof *generation* here works from a slice of leaf hashes and follows RFC 6962 §2.1.1 (PATH)
//! and §2.1.2 (SUBPROOF) literally; it is O(n) per proof, which is what a verifier or a test
//! needs. *Verification* follows RFC 9162 §2.1.3.2 and §2.1.4.2, which need only the proof.

use sha2::{Digest, Sha256};
use thiserror::Error;

/// A SHA-256 digest: a leaf hash, a node hash, a root or a chain head.
pub type Hash = [u8; 32];

/// Why a proof could not be made or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProofError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange {
        /// The index asked for.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A consistency proof needs 0 < first ≤ second.
    #[error("no consistency proof between sizes {first} and {second} (need 0 < first <= second)")]
    BadSizes {
        /// The older tree size.
        first: u64,
        /// The newer tree size.
        second: u64,
    },
    /// The proof has the wrong number of hashes for the sizes it claims.
    #[error("the proof has the wrong length for the sizes it claims")]
    WrongLength,
    /// The recomputed root is not the root given.
    #[error("the proof does not lead to the expected root")]
    RootMismatch,
}

/// The hash of an empty tree: SHA-256 of the empty string (RFC 6962 §2.1).
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The leaf hash: SHA-256(0x00 ‖ data). The 0x00 prefix keeps a leaf from ever being read as a
/// node (second-preimage protection, RFC 6962 §2.1).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// The interior node hash: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two strictly less than `n` (for n ≥ 2): where RFC 6962 splits a tree.
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The Merkle Tree Hash of a list of leaf hashes (MTH, RFC 6962 §2.1).
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        // Folding through the builder gives the same tree as the recursive definition without
        // recursion; the tests check both against the independent vectors.
        _ => {
            let mut b = TreeBuilder::new();
            for l in leaves {
                b.push(*l);
            }
            b.root()
        }
    }
}

/// MTH by the recursive definition; used for the subtrees inside proofs.
fn subtree_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&subtree_root(&leaves[..k]), &subtree_root(&leaves[k..]))
        }
    }
}

/// Builds a tree one leaf at a time, keeping only the roots of its perfect subtrees (one per set
/// bit of the size, largest first), so memory is O(log n) and each append costs amortised one
/// node hash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeBuilder {
    size: u64,
    /// Roots of the perfect subtrees that make up the tree, largest (leftmost) first.
    stack: Vec<Hash>,
}

impl TreeBuilder {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of leaves appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        // Each trailing one bit of the old size is a perfect subtree of the same height as the
        // new one: merge them, exactly as a binary counter carries.
        let mut s = self.size;
        while s & 1 == 1 {
            let left = self.stack.pop().expect("one stacked subtree per set bit of the size");
            h = node_hash(&left, &h);
            s >>= 1;
        }
        self.stack.push(h);
        self.size += 1;
    }

    /// Appends a perfect subtree of 2^`height` leaves by its root, as if its leaves were pushed
    /// one by one. The size must be a multiple of 2^`height` (panics otherwise).
    pub fn push_subtree(&mut self, height: u32, root: Hash) {
        assert!(self.size.trailing_zeros() >= height, "a subtree of height {height} after {} leaves", self.size);
        let mut h = root;
        let mut s = self.size >> height;
        while s & 1 == 1 {
            let left = self.stack.pop().expect("one stacked subtree per set bit of the size");
            h = node_hash(&left, &h);
            s >>= 1;
        }
        self.stack.push(h);
        self.size += 1 << height;
    }

    /// The tree of these leaves followed by `tail`'s, when this size is a multiple of the
    /// largest power of two in `tail`'s size (so `tail`'s subtrees are subtrees of the whole);
    /// `None` otherwise.
    pub fn followed_by(&self, tail: &TreeBuilder) -> Option<TreeBuilder> {
        if tail.size == 0 {
            return Some(self.clone());
        }
        let top = u64::BITS - 1 - tail.size.leading_zeros();
        if self.size.trailing_zeros() < top {
            return None;
        }
        let mut out = self.clone();
        let heights = (0..=top).rev().filter(|h| tail.size >> h & 1 == 1);
        for (h, r) in heights.zip(&tail.stack) {
            out.push_subtree(h, *r);
        }
        Some(out)
    }

    /// Appends many leaves, hashing whole subtrees of them on several threads; the same tree as
    /// pushing each.
    pub fn extend_parallel(&mut self, leaves: &[Hash]) {
        let chunk = 1usize << PARALLEL_HEIGHT;
        // Up to a multiple of the chunk, one by one.
        let lead = ((chunk as u64 - self.size % chunk as u64) % chunk as u64).min(leaves.len() as u64) as usize;
        for l in &leaves[..lead] {
            self.push(*l);
        }
        let rest = &leaves[lead..];
        let whole = rest.len() / chunk * chunk;
        for r in perfect_roots(&rest[..whole]) {
            self.push_subtree(PARALLEL_HEIGHT, r);
        }
        for l in &rest[whole..] {
            self.push(*l);
        }
    }

    /// The Merkle Tree Hash of the leaves appended so far.
    pub fn root(&self) -> Hash {
        // RFC 6962 splits at the largest power of two, so the tree is the perfect subtrees
        // joined from the right: MTH = node(s0, node(s1, … node(s_{k-1}, s_k))).
        let mut it = self.stack.iter().rev();
        match it.next() {
            None => empty_root(),
            Some(last) => it.fold(*last, |acc, left| node_hash(left, &acc)),
        }
    }
}

/// The height of the subtrees hashed on separate threads (2^16 leaves each).
pub(crate) const PARALLEL_HEIGHT: u32 = 16;

/// The threads to hash on.
pub(crate) fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(16)
}

/// Runs `f` on each of `items` on several threads (contiguous shares), results in order.
pub(crate) fn map_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads().min(items.len()).max(1);
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let share = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let mut parts = items.chunks(share);
        let first = parts.next().expect("at least one part");
        let handles: Vec<_> = parts.map(|p| s.spawn(move || p.iter().map(f).collect::<Vec<R>>())).collect();
        let mut out: Vec<R> = first.iter().map(f).collect();
        for h in handles {
            out.extend(h.join().expect("hashing does not panic"));
        }
        out
    })
}

/// The roots of consecutive perfect subtrees of 2^[`PARALLEL_HEIGHT`] leaves each (`leaves`
/// holds a whole number of them), on several threads.
fn perfect_roots(leaves: &[Hash]) -> Vec<Hash> {
    let chunks: Vec<&[Hash]> = leaves.chunks(1 << PARALLEL_HEIGHT).collect();
    map_parallel(&chunks, |c| {
        let mut b = TreeBuilder::new();
        for l in *c {
            b.push(*l);
        }
        b.root()
    })
}

/// The audit path for leaf `index` in the tree of all `leaves` (PATH, RFC 6962 §2.1.1), from the
/// leaf upwards.
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Result<Vec<Hash>, ProofError> {
    let size = leaves.len() as u64;
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut proof = Vec::new();
    path(index as usize, leaves, &mut proof);
    Ok(proof)
}

fn path(m: usize, d: &[Hash], out: &mut Vec<Hash>) {
    let n = d.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path(m, &d[..k], out);
        out.push(subtree_root(&d[k..]));
    } else {
        path(m - k, &d[k..], out);
        out.push(subtree_root(&d[..k]));
    }
}

/// Checks an inclusion proof (RFC 9162 §2.1.3.2): that `leaf` is leaf number `index` of the
/// tree of `size` leaves whose root is `root`.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut f_n = index;
    let mut s_n = size - 1;
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return Err(ProofError::WrongLength);
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            // A right child (or the last node of a level that has no sibling) climbs until it
            // is a right child again.
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::WrongLength);
    }
    if &r != root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The consistency proof between the first `first` leaves and all `leaves` (PROOF, RFC 6962
/// §2.1.2). Empty when the sizes are equal.
pub fn consistency_proof(leaves: &[Hash], first: u64) -> Result<Vec<Hash>, ProofError> {
    let second = leaves.len() as u64;
    if first == 0 || first > second {
        return Err(ProofError::BadSizes { first, second });
    }
    let mut proof = Vec::new();
    subproof(first as usize, leaves, true, &mut proof);
    Ok(proof)
}

fn subproof(m: usize, d: &[Hash], b: bool, out: &mut Vec<Hash>) {
    let n = d.len();
    if m == n {
        if !b {
            out.push(subtree_root(d));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, &d[..k], b, out);
        out.push(subtree_root(&d[k..]));
    } else {
        subproof(m - k, &d[k..], false, out);
        out.push(subtree_root(&d[..k]));
    }
}

/// Checks a consistency proof (RFC 9162 §2.1.4.2): that the tree of `first` leaves with root
/// `first_root` is a prefix of the tree of `second` leaves with root `second_root`.
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if first == 0 || first > second {
        return Err(ProofError::BadSizes { first, second });
    }
    if first == second {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        return if first_root == second_root { Ok(()) } else { Err(ProofError::RootMismatch) };
    }
    if proof.is_empty() {
        return Err(ProofError::WrongLength);
    }
    // When the first tree is a perfect left subtree its root is not sent; start from it.
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let Some((head, rest)) = path.split_first() else {
        return Err(ProofError::WrongLength);
    };
    let mut f_n = first - 1;
    let mut s_n = second - 1;
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let mut fr = *head;
    let mut sr = *head;
    for c in rest {
        if s_n == 0 {
            return Err(ProofError::WrongLength);
        }
        if f_n & 1 == 1 || f_n == s_n {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::WrongLength);
    }
    if &fr != first_root || &sr != second_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(format!("leaf-{i}").as_bytes())).collect()
    }

    #[test]
    fn the_builder_agrees_with_the_recursive_definition_for_every_size_up_to_130() {
        let all = leaves(130);
        let mut b = TreeBuilder::new();
        assert_eq!(b.root(), empty_root());
        for n in 1..=130 {
            b.push(all[n - 1]);
            assert_eq!(b.root(), subtree_root(&all[..n]), "size {n}");
            assert_eq!(b.size(), n as u64);
            assert!(b.stack.len() <= 8);
        }
    }

    #[test]
    fn subtrees_pushed_whole_or_in_parallel_give_the_same_tree() {
        let all = leaves(3 * (1 << PARALLEL_HEIGHT) + 77);
        let mut one = TreeBuilder::new();
        for l in &all {
            one.push(*l);
        }
        for lead in [0, 1, 5, (1 << PARALLEL_HEIGHT) + 3] {
            let mut par = TreeBuilder::new();
            for l in &all[..lead] {
                par.push(*l);
            }
            par.extend_parallel(&all[lead..]);
            assert_eq!(par, one, "after {lead} pushed one by one");
        }
        let mut b = TreeBuilder::new();
        b.push_subtree(2, subtree_root(&all[..4]));
        b.push_subtree(0, all[4]);
        b.push(all[5]);
        b.push_subtree(1, subtree_root(&all[6..8]));
        assert_eq!(b.root(), subtree_root(&all[..8]));
        let mut head = TreeBuilder::new();
        head.push_subtree(3, subtree_root(&all[..8]));
        let mut tail = TreeBuilder::new();
        for l in &all[8..15] {
            tail.push(*l);
        }
        assert_eq!(head.followed_by(&tail).unwrap().root(), subtree_root(&all[..15]));
        tail.push(all[15]);
        assert_eq!(head.followed_by(&tail).unwrap().root(), subtree_root(&all[..16]));
        tail.push(all[16]);
        assert_eq!(head.followed_by(&tail).unwrap().root(), subtree_root(&all[..17]));
        for l in &all[17..24] {
            tail.push(*l);
        }
        assert!(head.followed_by(&tail).is_none(), "a tail with a subtree larger than the head's last");
        assert_eq!(TreeBuilder::new().followed_by(&tail).unwrap(), tail);
    }

    #[test]
    fn the_empty_root_is_the_hash_of_nothing() {
        assert_eq!(hex::encode(empty_root()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(root(&[]), empty_root());
    }

    #[test]
    fn the_split_is_the_largest_power_of_two_below_n() {
        for (n, k) in [(2, 1), (3, 2), (4, 2), (5, 4), (8, 4), (9, 8), (1025, 1024)] {
            assert_eq!(split(n), k, "n = {n}");
        }
    }

    #[test]
    fn a_proof_with_an_extra_or_missing_hash_is_rejected() {
        let l = leaves(11);
        let r = root(&l);
        let mut p = inclusion_proof(&l, 3).unwrap();
        p.push(r);
        assert_eq!(verify_inclusion(&l[3], 3, 11, &p, &r), Err(ProofError::WrongLength));
        p.truncate(p.len() - 2);
        assert_eq!(verify_inclusion(&l[3], 3, 11, &p, &r), Err(ProofError::WrongLength));
        let c = consistency_proof(&l, 5).unwrap();
        let r5 = root(&l[..5]);
        assert!(verify_consistency(5, 11, &r5, &r, &c).is_ok());
        assert!(verify_consistency(5, 11, &r5, &r, &c[..c.len() - 1]).is_err());
        assert_eq!(verify_consistency(0, 11, &r5, &r, &c), Err(ProofError::BadSizes { first: 0, second: 11 }));
    }
}
