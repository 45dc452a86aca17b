//! Tessera's tamper-evident audit trail, the pure core: no database, no HTTP, no files. The
//! store appends events and checkpoints; the web and the command line serve proofs and run
//! [`verify_log`]; everything they compute comes from here.
//!
//! # What is hashed
//! Each [`AuditEvent`] has one **canonical encoding** ([`event`]): a line of JSON with a fixed
//! key order, no whitespace, every key present, UTC time with six fractional digits, and no
//! control characters anywhere. Its leaf hash is SHA-256(0x00 ‖ canonical bytes) and interior
//! nodes are SHA-256(0x01 ‖ left ‖ right), as RFC 6962 / RFC 9162 define them ([`merkle`]).
//!
//! # Why a chain and a tree
//! The **Merkle tree** gives short proofs: that an event is in the log (inclusion, O(log n)
//! hashes) and that a later log extends an earlier one without rewriting it (consistency), with
//! the standard algorithms anyone can check. The **hash chain** ([`chain`]),
//! chainᵢ = SHA-256(chainᵢ₋₁ ‖ leafᵢ) from 32 zero bytes, is a running value over the whole
//! history in order that can be stored beside each row, so an edit is found at its own row and
//! appending needs only the previous head. Both are recomputed in the same single pass.
//!
//! # Checkpoints
//! Every so often the server signs a [`Checkpoint`] — tree size, root, chain head, time — with
//! Ed25519 ([`checkpoint`]) and writes its one-line text form both to the database and to a
//! file outside it. Truncating or rewriting the table then fails against the outside copy:
//! [`verify_log`] recomputes everything and names the first position that fails
//! ([`VerifyError::position`]).
//!
//! # Export
//! [`export()`] writes NDJSON (a header with the public key, the signed checkpoints, then the
//! events in canonical form); [`verify_export`] checks it with only the file and the public
//! key, and fails on any changed byte ([`mod@export`]).

#![forbid(unsafe_code)]

pub mod chain;
pub mod checkpoint;
pub mod event;
pub mod export;
pub mod merkle;
pub mod verify;

pub use chain::{CHAIN_START, Chain, SeqError, chain_next};
pub use checkpoint::{CHECKPOINT_LABEL, Checkpoint, CheckpointError, SignedCheckpoint};
pub use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
pub use event::{Actor, ActorRef, AuditEvent, EventError, EventRef, Outcome};
pub use export::{EXPORT_FORMAT, EXPORT_VERSION, ExportError, export, verify_export};
pub use merkle::{
    Hash, ProofError, TreeBuilder, consistency_proof, empty_root, inclusion_proof, leaf_hash, node_hash, root,
    verify_consistency, verify_inclusion,
};
pub use verify::{Position, Verifier, VerifyError, VerifySummary, classify_gap, verify_leaves, verify_log};
