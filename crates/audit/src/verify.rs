//! One-pass verification of a log against its signed checkpoints: recomputes every leaf, the
//! chain and the tree, checks each checkpoint at its size, and names the first position that
//! fails and why.
//!
//! What each kind of tampering looks like:
//! - an **edited field** changes a leaf, so the first checkpoint whose size covers the event has
//!   a different root ([`VerifyError::RootMismatch`]);
//! - a **deleted event** leaves a gap in the sequence numbers ([`VerifyError::Missing`]);
//! - **swapped events** put a later sequence number where an earlier one belongs
//!   ([`VerifyError::Reordered`]);
//! - an **inserted event** either repeats a sequence number ([`VerifyError::Repeated`]) or, if
//!   the later events were renumbered, changes the root at the next checkpoint;
//! - a **truncated tail** leaves a checkpoint (kept outside the database) larger than the log
//!   ([`VerifyError::CheckpointBeyondLog`]).
//!
//! Events after the last checkpoint are chained and hashed but no signature covers them yet;
//! [`VerifySummary::uncovered`] says how many.

use ed25519_dalek::VerifyingKey;
use thiserror::Error;

use crate::chain::{Chain, SeqError};
use crate::checkpoint::SignedCheckpoint;
use crate::event::{AuditEvent, EventError};
use crate::merkle::{Hash, PARALLEL_HEIGHT, TreeBuilder, empty_root, leaf_hash, map_parallel};

/// What a successful verification saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifySummary {
    /// Events read.
    pub events: u64,
    /// The Merkle root over all of them.
    pub root: Hash,
    /// The chain head after the last.
    pub chain_head: Hash,
    /// Checkpoints checked (all of them).
    pub checkpoints: usize,
    /// Events covered by a signed checkpoint (the largest checkpoint size).
    pub covered: u64,
    /// Events after the last checkpoint, which no signature covers yet.
    pub uncovered: u64,
}

/// Where verification failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// At the event that belongs at this sequence number (its place in the log).
    Event {
        /// The sequence number of the place.
        seq: u64,
    },
    /// At a checkpoint.
    Checkpoint {
        /// The checkpoint's number in the list given, from 1 (its line in the checkpoint file).
        number: usize,
        /// The tree size it claims.
        tree_size: u64,
    },
}

/// The first thing that failed, with its position.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerifyError {
    /// An event breaks the rules of the canonical form.
    #[error("event at seq {seq} is invalid: {source}")]
    Event {
        /// The place in the log.
        seq: u64,
        /// What is wrong with it.
        source: EventError,
    },
    /// Sequence numbers jump and the missing ones never come: events were deleted.
    #[error("events seq {expected} to {} are missing (deleted): seq {found} stands where seq {expected} belongs", found - 1)]
    Missing {
        /// The first missing sequence number.
        expected: u64,
        /// The sequence number found in its place.
        found: u64,
    },
    /// A later event stands where an earlier one belongs, which comes afterwards: events were
    /// swapped or moved.
    #[error("event seq {found} stands where seq {expected} belongs (events swapped or moved)")]
    Reordered {
        /// The sequence number that belongs here.
        expected: u64,
        /// The sequence number found here.
        found: u64,
    },
    /// A sequence number repeats or goes back: an event was inserted or duplicated.
    #[error("event seq {found} stands where seq {expected} belongs: an inserted or repeated event")]
    Repeated {
        /// The sequence number that belongs here.
        expected: u64,
        /// The (already used) sequence number found here.
        found: u64,
    },
    /// The checkpoints are not in order of tree size.
    #[error("checkpoint {number} (size {tree_size}) is smaller than the one before it")]
    CheckpointsOutOfOrder {
        /// The checkpoint's number, from 1.
        number: usize,
        /// Its tree size.
        tree_size: u64,
    },
    /// A checkpoint's signature does not verify.
    #[error("checkpoint {number} (size {tree_size}) has a bad signature or is malformed")]
    BadSignature {
        /// The checkpoint's number, from 1.
        number: usize,
        /// Its tree size.
        tree_size: u64,
    },
    /// The recomputed root differs from a checkpoint's: an event up to its size was edited,
    /// inserted, removed or moved.
    #[error(
        "checkpoint {number}: the root over events 1..={tree_size} differs from the signed root; \
         an event after seq {previous_size} and up to seq {tree_size} was edited, inserted or removed"
    )]
    RootMismatch {
        /// The checkpoint's number, from 1.
        number: usize,
        /// Its tree size.
        tree_size: u64,
        /// The size of the last checkpoint that matched (0 if none): the change is after it.
        previous_size: u64,
    },
    /// The root matches but the chain head does not: the checkpoint was made wrongly.
    #[error("checkpoint {number} (size {tree_size}): the chain head differs from the signed head")]
    ChainMismatch {
        /// The checkpoint's number, from 1.
        number: usize,
        /// Its tree size.
        tree_size: u64,
    },
    /// A signed checkpoint covers more events than the log holds: the tail was cut off.
    #[error("checkpoint {number} covers {tree_size} events but the log ends after {events}: the tail was truncated")]
    CheckpointBeyondLog {
        /// The checkpoint's number, from 1.
        number: usize,
        /// Its tree size.
        tree_size: u64,
        /// Events in the log.
        events: u64,
    },
}

impl VerifyError {
    /// Where it failed.
    pub fn position(&self) -> Position {
        match *self {
            VerifyError::Event { seq, .. } => Position::Event { seq },
            VerifyError::Missing { expected, .. }
            | VerifyError::Reordered { expected, .. }
            | VerifyError::Repeated { expected, .. } => Position::Event { seq: expected },
            VerifyError::CheckpointsOutOfOrder { number, tree_size }
            | VerifyError::BadSignature { number, tree_size }
            | VerifyError::RootMismatch { number, tree_size, .. }
            | VerifyError::ChainMismatch { number, tree_size }
            | VerifyError::CheckpointBeyondLog { number, tree_size, .. } => Position::Checkpoint { number, tree_size },
        }
    }
}

/// Verifies a log one event at a time, for callers that stream events (from a database
/// cursor or an export) and want to handle their own read errors. [`verify_log`] wraps it.
#[derive(Debug)]
pub struct Verifier<'a> {
    key: &'a VerifyingKey,
    checkpoints: &'a [SignedCheckpoint],
    next: usize,
    tree: TreeBuilder,
    chain: Chain,
    covered: u64,
    buf: String,
}

impl<'a> Verifier<'a> {
    /// Starts a verification; checks that the checkpoints are in order of size and any
    /// checkpoint of the empty log.
    pub fn new(checkpoints: &'a [SignedCheckpoint], key: &'a VerifyingKey) -> Result<Self, VerifyError> {
        for (i, pair) in checkpoints.windows(2).enumerate() {
            if pair[1].checkpoint.tree_size < pair[0].checkpoint.tree_size {
                return Err(VerifyError::CheckpointsOutOfOrder {
                    number: i + 2,
                    tree_size: pair[1].checkpoint.tree_size,
                });
            }
        }
        let mut v = Verifier {
            key,
            checkpoints,
            next: 0,
            tree: TreeBuilder::new(),
            chain: Chain::new(),
            covered: 0,
            buf: String::with_capacity(512),
        };
        v.check_checkpoints()?;
        Ok(v)
    }

    /// Adds the next event and checks any checkpoint at the new size; returns the chain head
    /// after it (so a caller that stores per-event heads can compare them).
    ///
    /// A jump in sequence numbers is reported as [`VerifyError::Missing`]; only a caller that
    /// can look at the rest of the log can tell a swap from a deletion (see [`classify_gap`]).
    pub fn push(&mut self, event: &AuditEvent) -> Result<Hash, VerifyError> {
        self.buf.clear();
        let leaf = event.write_canonical(&mut self.buf).map(|()| leaf_hash(self.buf.as_bytes()));
        self.push_leaf(event.seq, leaf)
    }

    /// Adds a run of events, encoding and hashing them on several threads and then linking them
    /// in order; the same checks and result as calling [`Verifier::push`] on each. On failure,
    /// also returns the index in `events` of the event (or the event after which the
    /// checkpoint) that failed.
    pub fn push_batch(&mut self, events: &[AuditEvent]) -> Result<(), (usize, VerifyError)> {
        let leaves = leaves_in_parallel(events);
        for (i, (event, leaf)) in events.iter().zip(leaves).enumerate() {
            self.push_leaf(event.seq, leaf).map_err(|e| (i, e))?;
        }
        Ok(())
    }

    /// Adds the next event by its leaf hash, computed by the caller (on other threads, or to
    /// compare it with a stored copy); otherwise the same as [`Verifier::push`].
    pub fn push_leaf_hash(&mut self, seq: u64, leaf: Hash) -> Result<Hash, VerifyError> {
        self.push_leaf(seq, Ok(leaf))
    }

    /// Adds the next event by its leaf hash, like [`Verifier::push_leaf_hash`], and hands the
    /// new chain head to `check` before any checkpoint at the new size is checked, so a caller
    /// holding a stored copy of each head can compare it without hashing the chain twice. An
    /// error from `check` stops there.
    pub fn push_leaf_hash_checked<E: From<VerifyError>>(
        &mut self,
        seq: u64,
        leaf: Hash,
        check: impl FnOnce(&Hash) -> Result<(), E>,
    ) -> Result<Hash, E> {
        let head = self.link(seq, Ok(leaf))?;
        check(&head)?;
        self.check_checkpoints()?;
        Ok(head)
    }

    fn push_leaf(&mut self, seq: u64, leaf: Result<Hash, EventError>) -> Result<Hash, VerifyError> {
        let head = self.link(seq, leaf)?;
        self.check_checkpoints()?;
        Ok(head)
    }

    /// Links the leaf into the chain and the tree.
    fn link(&mut self, seq: u64, leaf: Result<Hash, EventError>) -> Result<Hash, VerifyError> {
        let expected = self.chain.last_seq() + 1;
        let leaf = leaf.map_err(|source| VerifyError::Event { seq: expected, source })?;
        let head = self.chain.append(seq, &leaf).map_err(|SeqError { expected, found }| {
            if found > expected {
                VerifyError::Missing { expected, found }
            } else {
                VerifyError::Repeated { expected, found }
            }
        })?;
        self.tree.push(leaf);
        Ok(head)
    }

    /// The number of events added.
    pub fn events(&self) -> u64 {
        self.tree.size()
    }

    /// Checks every checkpoint whose size is the current size.
    fn check_checkpoints(&mut self) -> Result<(), VerifyError> {
        let size = self.tree.size();
        while let Some(sc) = self.checkpoints.get(self.next) {
            let cp = &sc.checkpoint;
            if cp.tree_size != size {
                break;
            }
            let number = self.next + 1;
            let tree_size = cp.tree_size;
            sc.verify(self.key).map_err(|_| VerifyError::BadSignature { number, tree_size })?;
            if cp.root != self.tree.root() {
                return Err(VerifyError::RootMismatch { number, tree_size, previous_size: self.covered });
            }
            if cp.chain_head != self.chain.head() {
                return Err(VerifyError::ChainMismatch { number, tree_size });
            }
            self.covered = tree_size;
            self.next += 1;
        }
        Ok(())
    }

    /// Ends the log: any checkpoint not yet reached claims more events than there are.
    pub fn finish(self) -> Result<VerifySummary, VerifyError> {
        let events = self.tree.size();
        if let Some(sc) = self.checkpoints.get(self.next) {
            let number = self.next + 1;
            let tree_size = sc.checkpoint.tree_size;
            // A checkpoint nobody signed proves nothing about the tail.
            sc.verify(self.key).map_err(|_| VerifyError::BadSignature { number, tree_size })?;
            return Err(VerifyError::CheckpointBeyondLog { number, tree_size, events });
        }
        Ok(VerifySummary {
            events,
            root: self.tree.root(),
            chain_head: self.chain.head(),
            checkpoints: self.next,
            covered: self.covered,
            uncovered: events - self.covered,
        })
    }
}

/// Checks the signed checkpoints against the leaf hashes of a log's first events, for a caller
/// that has already recomputed every leaf from its event and linked every chain link (e.g. on
/// several threads, against stored copies): the same checks, in the same order and with the
/// same errors, as [`Verifier`] makes at each checkpoint's size, with the Merkle tree hashed on
/// several threads. `chain_head_at(size)` is the chain head after the first `size` events (for
/// 0, the head before the first). If `ended`, `leaves` is the whole log and a checkpoint beyond
/// it fails as in [`Verifier::finish`]; otherwise the caller found a fault in the event after
/// them, which comes after any checkpoint failure found here.
pub fn verify_leaves(
    leaves: &[&[Hash]],
    chain_head_at: &(dyn Fn(u64) -> Hash + Sync),
    checkpoints: &[SignedCheckpoint],
    key: &VerifyingKey,
    ended: bool,
) -> Result<VerifySummary, VerifyError> {
    for (i, pair) in checkpoints.windows(2).enumerate() {
        if pair[1].checkpoint.tree_size < pair[0].checkpoint.tree_size {
            return Err(VerifyError::CheckpointsOutOfOrder { number: i + 2, tree_size: pair[1].checkpoint.tree_size });
        }
    }
    let events = leaves.iter().map(|p| p.len() as u64).sum();
    let reached = checkpoints.partition_point(|c| c.checkpoint.tree_size <= events);
    let signed = if ended { (reached + 1).min(checkpoints.len()) } else { reached };
    let signatures = map_parallel(&checkpoints[..signed], |c| c.verify(key).is_ok());
    let sizes: Vec<u64> = checkpoints[..reached].iter().map(|c| c.checkpoint.tree_size).collect();
    let (roots, root) = roots_at(leaves, &sizes);
    let mut covered = 0;
    for (i, (sc, got)) in checkpoints[..reached].iter().zip(&roots).enumerate() {
        let (number, tree_size) = (i + 1, sc.checkpoint.tree_size);
        if !signatures[i] {
            return Err(VerifyError::BadSignature { number, tree_size });
        }
        if sc.checkpoint.root != *got {
            return Err(VerifyError::RootMismatch { number, tree_size, previous_size: covered });
        }
        if sc.checkpoint.chain_head != chain_head_at(tree_size) {
            return Err(VerifyError::ChainMismatch { number, tree_size });
        }
        covered = tree_size;
    }
    if signed > reached {
        let (number, tree_size) = (reached + 1, checkpoints[reached].checkpoint.tree_size);
        if !signatures[reached] {
            return Err(VerifyError::BadSignature { number, tree_size });
        }
        return Err(VerifyError::CheckpointBeyondLog { number, tree_size, events });
    }
    Ok(VerifySummary {
        events,
        root,
        chain_head: chain_head_at(events),
        checkpoints: reached,
        covered,
        uncovered: events - covered,
    })
}

/// The Merkle roots over the first `size` leaves for each of `sizes` (ascending, none beyond
/// `leaves`), and the root over all of them: subtrees of 2^[`PARALLEL_HEIGHT`] leaves on
/// several threads, each keeping its partial tree at any size inside it, then joined in order.
fn roots_at(leaves: &[&[Hash]], sizes: &[u64]) -> (Vec<Hash>, Hash) {
    let chunk = 1u64 << PARALLEL_HEIGHT;
    // Where each piece starts in the whole sequence.
    let starts: Vec<u64> = leaves
        .iter()
        .scan(0u64, |at, p| {
            let start = *at;
            *at += p.len() as u64;
            Some(start)
        })
        .collect();
    let total: u64 = leaves.iter().map(|p| p.len() as u64).sum();
    let parts: Vec<(u64, u64)> =
        (0..total.div_ceil(chunk)).map(|j| (j * chunk, ((j + 1) * chunk).min(total))).collect();
    let built = map_parallel(&parts, |&(start, end)| {
        let (lo, hi) = (sizes.partition_point(|&s| s <= start), sizes.partition_point(|&s| s <= end));
        let mut b = TreeBuilder::new();
        let mut partial = Vec::with_capacity(hi - lo);
        let mut k = lo;
        for (i, leaf) in in_range(leaves, &starts, start, end).enumerate() {
            b.push(*leaf);
            while k < hi && sizes[k] == start + i as u64 + 1 {
                partial.push(b.clone());
                k += 1;
            }
        }
        (b, partial)
    });
    let mut roots: Vec<Hash> = sizes.iter().take_while(|&&s| s == 0).map(|_| empty_root()).collect();
    let mut whole = TreeBuilder::new();
    for (b, partial) in built {
        for p in partial {
            roots.push(whole.followed_by(&p).expect("parts start at multiples of their size").root());
        }
        whole = whole.followed_by(&b).expect("parts start at multiples of their size");
    }
    (roots, whole.root())
}

/// The leaves at positions `start..end` of the sequence held in `pieces` (each starting at
/// the position in `starts`).
fn in_range<'a>(pieces: &[&'a [Hash]], starts: &[u64], start: u64, end: u64) -> impl Iterator<Item = &'a Hash> {
    let first = starts.partition_point(|&s| s <= start).saturating_sub(1);
    pieces[first..].iter().zip(&starts[first..]).take_while(move |(_, at)| **at < end).flat_map(move |(piece, &at)| {
        let lo = start.saturating_sub(at).min(piece.len() as u64) as usize;
        let hi = (end - at).min(piece.len() as u64) as usize;
        &piece[lo..hi]
    })
}

/// Tells a swap from a deletion once [`Verifier::push`] has reported
/// [`VerifyError::Missing`]: if the missing sequence number turns up in the rest of the log, the
/// events were reordered. Other errors pass through unchanged.
pub fn classify_gap(error: VerifyError, rest: impl IntoIterator<Item = u64>) -> VerifyError {
    match error {
        VerifyError::Missing { expected, found } if rest.into_iter().any(|s| s == expected) => {
            VerifyError::Reordered { expected, found }
        }
        e => e,
    }
}

/// Encodes and hashes events on all cores (the leaves are independent; only the chain and the
/// tree must go in order).
fn leaves_in_parallel(events: &[AuditEvent]) -> Vec<Result<Hash, EventError>> {
    fn hash_all(events: &[AuditEvent]) -> Vec<Result<Hash, EventError>> {
        let mut buf = String::with_capacity(512);
        events
            .iter()
            .map(|e| {
                buf.clear();
                e.write_canonical(&mut buf).map(|()| leaf_hash(buf.as_bytes()))
            })
            .collect()
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if threads == 1 || events.len() < 1024 {
        return hash_all(events);
    }
    let part = events.len().div_ceil(threads);
    std::thread::scope(|s| {
        let mut parts = events.chunks(part);
        let first = parts.next().expect("at least one part");
        let handles: Vec<_> = parts.map(|p| s.spawn(move || hash_all(p))).collect();
        let mut leaves = hash_all(first);
        for h in handles {
            leaves.extend(h.join().expect("hashing does not panic"));
        }
        leaves
    })
}

/// Events per batch in [`verify_log`]: large enough that starting threads costs nothing,
/// small enough to stay in cache.
const BATCH: usize = 8192;

/// Verifies a whole log in one pass: every event in order against every checkpoint (which must
/// be in order of size), under `key`. Returns the first failure with its position. Events are
/// hashed in batches on all cores.
pub fn verify_log(
    events: impl IntoIterator<Item = AuditEvent>,
    checkpoints: &[SignedCheckpoint],
    key: &VerifyingKey,
) -> Result<VerifySummary, VerifyError> {
    let mut v = Verifier::new(checkpoints, key)?;
    let mut events = events.into_iter();
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        batch.clear();
        batch.extend(events.by_ref().take(BATCH));
        if batch.is_empty() {
            break;
        }
        if let Err((i, err)) = v.push_batch(&batch) {
            let rest = batch[i + 1..].iter().map(|e| e.seq).chain(events.map(|e| e.seq));
            return Err(classify_gap(err, rest));
        }
    }
    v.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::merkle::PARALLEL_HEIGHT;
    use ed25519_dalek::SigningKey;
    use time::macros::datetime;

    /// Leaves, the chain head after each (index 0: before any) and checkpoints every `every`.
    fn log(n: usize, every: usize, key: &SigningKey) -> (Vec<Hash>, Vec<Hash>, Vec<SignedCheckpoint>) {
        let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(format!("event {i}").as_bytes())).collect();
        let (mut tree, mut chain) = (TreeBuilder::new(), Chain::new());
        let mut heads = vec![chain.head()];
        let mut cps = Vec::new();
        for (i, l) in leaves.iter().enumerate() {
            tree.push(*l);
            heads.push(chain.append(i as u64 + 1, l).unwrap());
            if (i + 1) % every == 0 {
                let cp = Checkpoint::new(tree.size(), tree.root(), chain.head(), datetime!(2026-12-01 0:00 UTC));
                cps.push(cp.sign(key).unwrap());
            }
        }
        (leaves, heads, cps)
    }

    /// The sequential verifier's answer over the same leaves, for the first `upto` of them.
    fn sequential(
        leaves: &[Hash],
        cps: &[SignedCheckpoint],
        key: &VerifyingKey,
        ended: bool,
    ) -> Result<Option<VerifySummary>, VerifyError> {
        let mut v = Verifier::new(cps, key)?;
        for (i, l) in leaves.iter().enumerate() {
            v.push_leaf_hash(i as u64 + 1, *l)?;
        }
        if ended { v.finish().map(Some) } else { Ok(None) }
    }

    fn parallel(
        leaves: &[Hash],
        heads: &[Hash],
        cps: &[SignedCheckpoint],
        key: &VerifyingKey,
        ended: bool,
    ) -> Result<Option<VerifySummary>, VerifyError> {
        // In uneven pieces, as a reader hands them over (a piece may be empty).
        let mut pieces: Vec<&[Hash]> = Vec::new();
        let mut rest = leaves;
        for n in [0, 1, 7, 1000].into_iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (piece, tail) = rest.split_at(n.min(rest.len()));
            pieces.push(piece);
            rest = tail;
        }
        verify_leaves(&pieces, &|s| heads[s as usize], cps, key, ended).map(|s| ended.then_some(s))
    }

    #[test]
    fn verifying_leaves_in_parallel_agrees_with_the_sequential_verifier() {
        let key = SigningKey::from_bytes(&[9u8; 32]);
        let other = SigningKey::from_bytes(&[8u8; 32]);
        let vk = key.verifying_key();
        let chunk = 1usize << PARALLEL_HEIGHT;
        for (n, every) in
            [(0, 1), (1, 1), (7, 1), (300, 7), (2 * chunk + 5, 1000), (3 * chunk, chunk), (chunk + 1, 4096)]
        {
            let (leaves, heads, cps) = log(n, every, &key);
            let mut cases: Vec<Vec<SignedCheckpoint>> = vec![cps.clone(), Vec::new()];
            for i in [0, cps.len() / 2, cps.len().saturating_sub(1)] {
                let Some(cp) = cps.get(i) else { continue };
                let mut bad_root = cp.checkpoint.clone();
                bad_root.root[3] ^= 1;
                let mut bad_head = cp.checkpoint.clone();
                bad_head.chain_head[0] ^= 1;
                let mut beyond = cp.checkpoint.clone();
                beyond.tree_size = n as u64 + 1;
                for changed in [
                    bad_root.sign(&key).unwrap(),
                    bad_head.sign(&key).unwrap(),
                    cp.checkpoint.clone().sign(&other).unwrap(),
                    beyond.clone().sign(&key).unwrap(),
                    SignedCheckpoint { checkpoint: beyond, signature: cp.signature },
                ] {
                    let mut c = cps.clone();
                    c[i] = changed.clone();
                    cases.push(c);
                    let mut c = cps.clone();
                    c.insert(i, changed);
                    cases.push(c);
                }
                let mut c = cps.clone();
                c.swap(0, i);
                cases.push(c);
            }
            for (k, c) in cases.iter().enumerate() {
                for m in [n, n / 2, n.saturating_sub(1)] {
                    let ended = m == n;
                    assert_eq!(
                        parallel(&leaves[..m], &heads, c, &vk, ended),
                        sequential(&leaves[..m], c, &vk, ended),
                        "{n} leaves, a checkpoint every {every}, case {k}, first {m} leaves"
                    );
                }
            }
        }
    }
}
