//! Signed checkpoints: the tree size, Merkle root and chain head at a moment, signed with
//! Ed25519, in a one-line text form for the file kept outside the database.
//!
//! The signed message is the checkpoint's canonical text, exactly:
//!
//! ```text
//! tessera-audit-checkpoint v1 size=<n> root=<64 hex> chain=<64 hex> time=<YYYY-MM-DDThh:mm:ss.ffffffZ>
//! ```
//!
//! (lower-case hex, `n` in decimal without leading zeros, the time in UTC with six fractional
//! digits). The leading label is the domain separator: a signature over it cannot be mistaken
//! for a signature over anything else made with the same key. A signed checkpoint's line is the
//! text followed by ` sig=<128 hex>`; the checkpoint file holds one such line per checkpoint,
//! each ended by a newline.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use thiserror::Error;
use time::OffsetDateTime;

use crate::event::{EventError, check_time, normalise_time, parse_time, write_time};
use crate::merkle::Hash;

/// The label every checkpoint text starts with.
pub const CHECKPOINT_LABEL: &str = "tessera-audit-checkpoint v1";

/// The state of the log after its first `tree_size` events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// How many events the checkpoint covers (events 1..=tree_size).
    pub tree_size: u64,
    /// The Merkle Tree Hash of their leaves.
    pub root: Hash,
    /// The chain head after event `tree_size`.
    pub chain_head: Hash,
    /// When the checkpoint was made, UTC, whole microseconds.
    pub time: OffsetDateTime,
}

/// A checkpoint with its Ed25519 signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// What was signed.
    pub checkpoint: Checkpoint,
    /// The signature over [`Checkpoint::text`].
    pub signature: Signature,
}

/// Why a checkpoint line was refused or a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CheckpointError {
    /// The line is not a checkpoint in its canonical form.
    #[error("not a checkpoint line: {0}")]
    Malformed(&'static str),
    /// The checkpoint's time is not canonical.
    #[error("bad checkpoint time: {0}")]
    Time(#[from] EventError),
    /// The signature does not verify under the key.
    #[error("the checkpoint signature does not verify")]
    BadSignature,
}

impl Checkpoint {
    /// A checkpoint; the time is converted to UTC and truncated to whole microseconds.
    pub fn new(tree_size: u64, root: Hash, chain_head: Hash, time: OffsetDateTime) -> Self {
        Checkpoint { tree_size, root, chain_head, time: normalise_time(time) }
    }

    /// The canonical text, which is what is signed.
    pub fn text(&self) -> Result<String, CheckpointError> {
        check_time(self.time)?;
        let mut s = format!(
            "{CHECKPOINT_LABEL} size={} root={} chain={} time=",
            self.tree_size,
            hex::encode(self.root),
            hex::encode(self.chain_head)
        );
        write_time(&mut s, self.time);
        Ok(s)
    }

    /// Signs the canonical text.
    pub fn sign(self, key: &SigningKey) -> Result<SignedCheckpoint, CheckpointError> {
        let signature = key.sign(self.text()?.as_bytes());
        Ok(SignedCheckpoint { checkpoint: self, signature })
    }

    /// Parses the canonical text, refusing anything else.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let rest = text
            .strip_prefix(CHECKPOINT_LABEL)
            .and_then(|r| r.strip_prefix(" size="))
            .ok_or(CheckpointError::Malformed("no checkpoint label"))?;
        let (size, rest) = rest.split_once(" root=").ok_or(CheckpointError::Malformed("no root"))?;
        let (root, rest) = rest.split_once(" chain=").ok_or(CheckpointError::Malformed("no chain"))?;
        let (chain, time) = rest.split_once(" time=").ok_or(CheckpointError::Malformed("no time"))?;
        let checkpoint = Checkpoint {
            tree_size: size.parse().map_err(|_| CheckpointError::Malformed("bad size"))?,
            root: parse_hash(root)?,
            chain_head: parse_hash(chain)?,
            time: parse_time(time)?,
        };
        if checkpoint.text()? != text {
            return Err(CheckpointError::Malformed("not in canonical form"));
        }
        Ok(checkpoint)
    }
}

impl SignedCheckpoint {
    /// Checks the signature (strictly: no malleable or small-order forms).
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), CheckpointError> {
        key.verify_strict(self.checkpoint.text()?.as_bytes(), &self.signature)
            .map_err(|_| CheckpointError::BadSignature)
    }

    /// The line for the checkpoint file, without its newline.
    pub fn line(&self) -> Result<String, CheckpointError> {
        Ok(format!("{} sig={}", self.checkpoint.text()?, hex::encode(self.signature.to_bytes())))
    }

    /// Parses one line of the checkpoint file (without its newline). The signature is not
    /// checked here; call [`SignedCheckpoint::verify`].
    pub fn parse(line: &str) -> Result<Self, CheckpointError> {
        let (text, sig) = line.rsplit_once(" sig=").ok_or(CheckpointError::Malformed("no signature"))?;
        let mut bytes = [0u8; 64];
        if sig.len() != 128 || sig.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(CheckpointError::Malformed("the signature is not 128 lower-case hex digits"));
        }
        hex::decode_to_slice(sig, &mut bytes).map_err(|_| CheckpointError::Malformed("the signature is not hex"))?;
        Ok(SignedCheckpoint { checkpoint: Checkpoint::parse(text)?, signature: Signature::from_bytes(&bytes) })
    }

    /// Parses a whole checkpoint file: one line per checkpoint, each ended by a newline.
    pub fn parse_file(text: &str) -> Result<Vec<Self>, (usize, CheckpointError)> {
        if !text.is_empty() && !text.ends_with('\n') {
            return Err((text.lines().count(), CheckpointError::Malformed("the last line has no newline")));
        }
        text.split_terminator('\n').enumerate().map(|(i, l)| Self::parse(l).map_err(|e| (i + 1, e))).collect()
    }
}

fn parse_hash(s: &str) -> Result<Hash, CheckpointError> {
    let mut h = [0u8; 32];
    if s.len() != 64 || s.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(CheckpointError::Malformed("a hash is not 64 lower-case hex digits"));
    }
    hex::decode_to_slice(s, &mut h).map_err(|_| CheckpointError::Malformed("a hash is not hex"))?;
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn sample() -> Checkpoint {
        Checkpoint::new(1000, [0xab; 32], [0x01; 32], datetime!(2026-05-01 12:00:00.123_456_789 UTC))
    }

    #[test]
    fn the_text_form_is_one_canonical_line() {
        let t = sample().text().unwrap();
        assert_eq!(
            t,
            format!(
                "tessera-audit-checkpoint v1 size=1000 root={} chain={} time=2026-05-01T12:00:00.123456Z",
                "ab".repeat(32),
                "01".repeat(32)
            )
        );
        assert_eq!(Checkpoint::parse(&t).unwrap(), sample());
        for bad in [
            t.replace("size=1000", "size=01000"),
            t.replace(&"ab".repeat(32), &"AB".repeat(32)),
            t.replace(" time", "  time"),
            t.replace(".123456Z", ".123456+00:00"),
            format!("{t} "),
        ] {
            assert!(Checkpoint::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_signed_checkpoint_round_trips_and_verifies_only_under_its_key() {
        let s = sample().sign(&key()).unwrap();
        s.verify(&key().verifying_key()).unwrap();
        let other = SigningKey::from_bytes(&[8u8; 32]).verifying_key();
        assert_eq!(s.verify(&other), Err(CheckpointError::BadSignature));
        let line = s.line().unwrap();
        assert_eq!(SignedCheckpoint::parse(&line).unwrap(), s);
        let file = format!("{line}\n{line}\n");
        assert_eq!(SignedCheckpoint::parse_file(&file).unwrap().len(), 2);
        assert!(SignedCheckpoint::parse_file(line.as_str()).is_err());
        let mut forged = s.clone();
        forged.checkpoint.tree_size = 999;
        assert_eq!(forged.verify(&key().verifying_key()), Err(CheckpointError::BadSignature));
    }
}
