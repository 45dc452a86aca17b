//! The hash chain over events: chain₀ = 32 zero bytes, chainᵢ = SHA-256(chainᵢ₋₁ ‖ leafᵢ), where
//! leafᵢ is the Merkle leaf hash of event i. Sequence numbers must run 1, 2, 3, … without gaps.
//!
//! The tree already commits to every event; the chain adds a value that depends on the whole
//! history in order and can be stored next to each row, so a single edited row is found at its
//! own position when the stored heads are kept (the tree alone can only say which checkpoint
//! interval changed).

use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::merkle::Hash;

/// The head before any event: 32 zero bytes.
pub const CHAIN_START: Hash = [0u8; 32];

/// One link: SHA-256(previous head ‖ leaf hash).
pub fn chain_next(previous: &Hash, leaf: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update(previous);
    h.update(leaf);
    h.finalize().into()
}

/// An event arrived out of sequence.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("event seq {found} where seq {expected} was expected")]
pub struct SeqError {
    /// The next sequence number the chain needs.
    pub expected: u64,
    /// The sequence number that came.
    pub found: u64,
}

/// The running head of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    head: Hash,
    last_seq: u64,
}

impl Default for Chain {
    fn default() -> Self {
        Chain { head: CHAIN_START, last_seq: 0 }
    }
}

impl Chain {
    /// The chain before the first event.
    pub fn new() -> Self {
        Self::default()
    }

    /// Continues a chain whose head after event `last_seq` is `head` (e.g. when appending to
    /// a stored log).
    pub fn resume(last_seq: u64, head: Hash) -> Self {
        Chain { head, last_seq }
    }

    /// The current head.
    pub fn head(&self) -> Hash {
        self.head
    }

    /// The sequence number of the last event linked (0 before any).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Links event `seq` with leaf hash `leaf`, which must be the next sequence number, and
    /// returns the new head.
    pub fn append(&mut self, seq: u64, leaf: &Hash) -> Result<Hash, SeqError> {
        let expected = self.last_seq + 1;
        if seq != expected {
            return Err(SeqError { expected, found: seq });
        }
        self.head = chain_next(&self.head, leaf);
        self.last_seq = seq;
        Ok(self.head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::leaf_hash;

    #[test]
    fn the_chain_links_each_leaf_to_the_previous_head() {
        let mut c = Chain::new();
        assert_eq!(c.head(), CHAIN_START);
        let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
        let h1 = c.append(1, &a).unwrap();
        assert_eq!(h1, Sha256::digest([CHAIN_START, a].concat()).as_slice());
        let h2 = c.append(2, &b).unwrap();
        assert_eq!(h2, chain_next(&h1, &b));
        assert_eq!(c.last_seq(), 2);
    }

    #[test]
    fn a_gap_or_a_repeat_is_refused_and_leaves_the_head_alone() {
        let mut c = Chain::new();
        c.append(1, &leaf_hash(b"a")).unwrap();
        let head = c.head();
        assert_eq!(c.append(3, &leaf_hash(b"c")), Err(SeqError { expected: 2, found: 3 }));
        assert_eq!(c.append(1, &leaf_hash(b"c")), Err(SeqError { expected: 2, found: 1 }));
        assert_eq!(c.head(), head);
        let mut r = Chain::resume(1, head);
        assert!(r.append(2, &leaf_hash(b"b")).is_ok());
    }
}
