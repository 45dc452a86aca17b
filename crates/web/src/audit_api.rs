//! Proofs of the audit trail, under `/api/v1/audit`: the latest signed checkpoint, an RFC 6962
//! inclusion proof for one event, and a consistency proof between two tree sizes. They reveal
//! hashes only, never an event's content, but still need a fully signed-in session.
//!
//! A client checks them with the public key from `tessera audit public-key` (obtained out of
//! band, not from this server): the checkpoint's signature, then the proof against the root of
//! a checkpoint of the size asked for (RFC 9162 §2.1.3.2 and §2.1.4.2).
//!
//! Proofs are computed from the stored leaf hashes of the first `size` events, read in one
//! query: linear in the tree size (about 32 MB read for a million events).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tessera_audit::{Hash, SignedCheckpoint};
use tessera_store::StoreError;
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::api::ApiSession;
use crate::error::WebError;
use crate::routes::Routes;

/// The audit proof routes (nested under `/api/v1`).
pub fn routes() -> Routes {
    Routes::new()
        .get("/audit/checkpoint", checkpoint)
        .get("/audit/inclusion", inclusion)
        .get("/audit/consistency", consistency)
}

#[derive(Serialize, ToSchema)]
struct ProblemBody {
    /// What is wrong with the request.
    error: String,
}

fn problem(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(ProblemBody { error: message.into() })).into_response()
}

fn hexes(proof: &[Hash]) -> Vec<String> {
    proof.iter().map(hex::encode).collect()
}

/// The latest signed checkpoint.
#[derive(Serialize, ToSchema)]
struct CheckpointBody {
    /// Events covered (1..=tree_size).
    tree_size: u64,
    /// Merkle root, 64 hex digits.
    root: String,
    /// Hash-chain head after event `tree_size`, 64 hex digits.
    chain_head: String,
    /// When it was signed, RFC 3339 UTC with microseconds.
    time: String,
    /// Ed25519 signature over `signed_text`, 128 hex digits.
    signature: String,
    /// Exactly the text that was signed.
    signed_text: String,
    /// The line as in the checkpoint file (`signed_text` + ` sig=` + `signature`).
    line: String,
    /// The key the server says signed it (check it against the one you were given).
    public_key: String,
}

/// The latest signed checkpoint of the audit log.
#[utoipa::path(get, path = "/api/v1/audit/checkpoint",
    responses((status = 200, body = CheckpointBody), (status = 401, description = "not signed in"),
        (status = 404, body = ProblemBody, description = "no checkpoint yet")))]
pub async fn checkpoint(State(state): State<AppState>, _session: ApiSession) -> Result<Response, WebError> {
    let store = state.accounts().store();
    let Some(stored) = store.audit_latest_checkpoint().await.map_err(anyhow::Error::from)? else {
        return Ok(problem(StatusCode::NOT_FOUND, "no checkpoint has been signed yet"));
    };
    let cp: SignedCheckpoint = stored.parse().map_err(|e| anyhow::anyhow!("stored checkpoint: {e}"))?;
    let signed_text = cp.checkpoint.text().map_err(|e| anyhow::anyhow!("stored checkpoint: {e}"))?;
    let time = signed_text.rsplit_once(" time=").map(|(_, t)| t.to_owned()).unwrap_or_default();
    Ok(Json(CheckpointBody {
        tree_size: cp.checkpoint.tree_size,
        root: hex::encode(cp.checkpoint.root),
        chain_head: hex::encode(cp.checkpoint.chain_head),
        time,
        signature: hex::encode(cp.signature.to_bytes()),
        signed_text,
        line: stored.line,
        public_key: hex::encode(stored.public_key),
    })
    .into_response())
}

/// `?seq=N&size=M`.
#[derive(Deserialize, IntoParams)]
pub(crate) struct InclusionQuery {
    /// The event's sequence number (its leaf index is seq − 1).
    seq: u64,
    /// The tree size to prove against (that of a checkpoint); at least `seq`.
    size: u64,
}

/// An RFC 6962 inclusion proof (audit path).
#[derive(Serialize, ToSchema)]
struct InclusionBody {
    /// The event's sequence number.
    seq: u64,
    /// Its leaf index (seq − 1).
    leaf_index: u64,
    /// The tree size.
    tree_size: u64,
    /// The event's leaf hash, 64 hex digits.
    leaf_hash: String,
    /// The audit path from the leaf upwards, each 64 hex digits.
    proof: Vec<String>,
    /// The root of the tree of `tree_size` events, for convenience: compare it with a signed
    /// checkpoint's, do not trust it.
    root: String,
}

/// Loads the leaf hashes of the first `size` events, or answers why not.
async fn leaves(state: &AppState, size: u64) -> Result<Result<Vec<Hash>, Response>, WebError> {
    match state.accounts().store().audit_leaves(size).await {
        Ok(l) => Ok(Ok(l)),
        Err(StoreError::NotFound(_)) => {
            Ok(Err(problem(StatusCode::NOT_FOUND, format!("the audit log has fewer than {size} events"))))
        }
        Err(e) => Err(anyhow::Error::from(e).into()),
    }
}

/// Proves that event `seq` is in the tree of the first `size` events.
#[utoipa::path(get, path = "/api/v1/audit/inclusion", params(InclusionQuery),
    responses((status = 200, body = InclusionBody), (status = 400, body = ProblemBody),
        (status = 401, description = "not signed in"), (status = 404, body = ProblemBody, description = "the log is shorter")))]
pub async fn inclusion(
    State(state): State<AppState>,
    _session: ApiSession,
    Query(q): Query<InclusionQuery>,
) -> Result<Response, WebError> {
    if q.seq == 0 || q.seq > q.size {
        return Ok(problem(StatusCode::BAD_REQUEST, "need 1 <= seq <= size"));
    }
    let leaves = match leaves(&state, q.size).await? {
        Ok(l) => l,
        Err(r) => return Ok(r),
    };
    let index = q.seq - 1;
    let (proof, root) = tokio::task::spawn_blocking(move || {
        let proof = tessera_audit::inclusion_proof(&leaves, index);
        (proof.map(|p| (p, leaves[index as usize])), tessera_audit::root(&leaves))
    })
    .await
    .map_err(|e| anyhow::anyhow!("proof task: {e}"))?;
    let (proof, leaf) = proof.map_err(|e| anyhow::anyhow!("inclusion proof: {e}"))?;
    Ok(Json(InclusionBody {
        seq: q.seq,
        leaf_index: index,
        tree_size: q.size,
        leaf_hash: hex::encode(leaf),
        proof: hexes(&proof),
        root: hex::encode(root),
    })
    .into_response())
}

/// `?from=A&to=B`.
#[derive(Deserialize, IntoParams)]
pub(crate) struct ConsistencyQuery {
    /// The older tree size (at least 1).
    from: u64,
    /// The newer tree size (at least `from`).
    to: u64,
}

/// An RFC 6962 consistency proof.
#[derive(Serialize, ToSchema)]
struct ConsistencyBody {
    /// The older tree size.
    from: u64,
    /// The newer tree size.
    to: u64,
    /// The proof, each 64 hex digits (empty when the sizes are equal).
    proof: Vec<String>,
}

/// Proves that the tree of the first `from` events is a prefix of the tree of the first `to`.
#[utoipa::path(get, path = "/api/v1/audit/consistency", params(ConsistencyQuery),
    responses((status = 200, body = ConsistencyBody), (status = 400, body = ProblemBody),
        (status = 401, description = "not signed in"), (status = 404, body = ProblemBody, description = "the log is shorter")))]
pub async fn consistency(
    State(state): State<AppState>,
    _session: ApiSession,
    Query(q): Query<ConsistencyQuery>,
) -> Result<Response, WebError> {
    if q.from == 0 || q.from > q.to {
        return Ok(problem(StatusCode::BAD_REQUEST, "need 1 <= from <= to"));
    }
    let leaves = match leaves(&state, q.to).await? {
        Ok(l) => l,
        Err(r) => return Ok(r),
    };
    let from = q.from;
    let proof = tokio::task::spawn_blocking(move || tessera_audit::consistency_proof(&leaves, from))
        .await
        .map_err(|e| anyhow::anyhow!("proof task: {e}"))?
        .map_err(|e| anyhow::anyhow!("consistency proof: {e}"))?;
    Ok(Json(ConsistencyBody { from: q.from, to: q.to, proof: hexes(&proof) }).into_response())
}
