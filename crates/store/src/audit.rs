//! The audit trail's storage: appending events to one gap-free sequence, the signed checkpoints,
//! and reading the log back for verification, export and proofs. The hashing, encoding and
//! verification rules are tessera-audit's; this module only stores and reads.
//!
//! # Appending
//! Every append runs inside a write transaction and starts by advancing the one row of
//! `audit_head` (`UPDATE … RETURNING`), which locks it until the transaction ends: on
//! PostgreSQL a second appender — in this process or another server — waits for the row; on
//! SQLite the write transaction (`BEGIN IMMEDIATE`) already excludes other writers. The events
//! take the next sequence numbers, their leaf and chain hashes are computed from the previous
//! head, the rows are inserted (multi-row INSERTs), and the head's chain hash is set. A
//! rolled-back transaction rolls back its head update too, so the sequence has no gaps, and a
//! write and its audit events commit or vanish together.
//!
//! Two ways in:
//! - [`Store::audit_append`]: the events in a transaction of their own, committed before it
//!   returns. For reads of identifiable data, the handler awaits it *before* returning the data
//!   and fails the request if it fails.
//! - [`AppendAudit::append_audit`] (via `append_in_tx`): inside another store method's
//!   write transaction, so the write and its event are atomic. Call it last, just before
//!   `commit`, to hold the head lock as briefly as possible.
//!
//! Many events in one call share one transaction and one head update, which is how the log
//! reaches tens of thousands of events per second (BENCHMARKS.md).
//!
//! # Reading the whole log
//! Verification and the checkpointer read the log in one snapshot as two ranges of sequence
//! numbers at once and check its rows on every core ([`parallel`]): on PostgreSQL two
//! connections in one exported snapshot, each a binary `COPY (SELECT … ORDER BY seq) TO STDOUT`
//! split into pages of tuples without decoding (`pgcopy_read`); on SQLite two read-only rusqlite
//! connections whose transactions saw the same head. Every row's leaf is recomputed from all its
//! stored fields and its chain link from the row before, then the tree is hashed against every
//! signed checkpoint (tessera-audit's `verify_leaves`), so nothing stored is trusted and the
//! first failing position is named as a one-pass verifier names it. Export reads one stream in
//! order (`scan_tuples`): binary COPY, or one streamed SELECT on a connection of its own.

mod parallel;

use std::ops::Range;

use sqlx::{PgConnection, Postgres, QueryBuilder, Sqlite, SqliteConnection};
use tessera_audit::{
    Actor, ActorRef, AuditEvent, CHAIN_START, Chain, CheckpointError, EventError, EventRef, Hash, Outcome, Position,
    SignedCheckpoint, TreeBuilder, VerifyError, VerifySummary, VerifyingKey,
};
use time::OffsetDateTime;

use crate::pgcopy_read::{Splitter, Tuples};
use crate::{BeginWrite as _, Result, Store, StoreError, now, on_db};

/// Rows per multi-row INSERT: 13 columns stay under SQLite's 32,766 bound parameters.
const INSERT_CHUNK: usize = 2000;

/// An event to append: everything but its sequence number and time, which the log assigns
/// when it appends. Build it with [`AuditNote::new`] and the setters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditNote {
    /// Who did it.
    pub actor: Actor,
    /// What was done, e.g. `record.view`, `sign_in`, `grant.approve`.
    pub action: String,
    /// The registry concerned.
    pub registry: Option<String>,
    /// The organisation (ODS code) concerned.
    pub organisation: Option<String>,
    /// A pseudonymous reference to what was acted on (e.g. `patient:<uuid>`,
    /// `record:<uuid>`, `user:<id>`), never an NHS number or a name.
    pub target: Option<String>,
    /// The stated purpose of access.
    pub purpose: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// The client: `web`, `api` or `cli`, or the client's address.
    pub client: Option<String>,
    /// The request id.
    pub request_id: Option<String>,
}

impl AuditNote {
    /// A note of `action` by `actor` that ended with `outcome`; every other field empty.
    pub fn new(actor: Actor, action: impl Into<String>, outcome: Outcome) -> Self {
        AuditNote {
            actor,
            action: action.into(),
            registry: None,
            organisation: None,
            target: None,
            purpose: None,
            outcome,
            client: None,
            request_id: None,
        }
    }

    /// With the registry.
    pub fn registry(mut self, v: impl Into<String>) -> Self {
        self.registry = Some(v.into());
        self
    }

    /// With the organisation.
    pub fn organisation(mut self, v: impl Into<String>) -> Self {
        self.organisation = Some(v.into());
        self
    }

    /// With the (pseudonymous) target.
    pub fn target(mut self, v: impl Into<String>) -> Self {
        self.target = Some(v.into());
        self
    }

    /// With the purpose.
    pub fn purpose(mut self, v: impl Into<String>) -> Self {
        self.purpose = Some(v.into());
        self
    }

    /// With the client.
    pub fn client(mut self, v: impl Into<String>) -> Self {
        self.client = Some(v.into());
        self
    }

    /// With the request id.
    pub fn request_id(mut self, v: impl Into<String>) -> Self {
        self.request_id = Some(v.into());
        self
    }

    /// The event this note becomes at `seq` and `time`, borrowing its fields.
    fn view(&self, seq: u64, time: OffsetDateTime) -> EventRef<'_> {
        EventRef {
            seq,
            time,
            actor: match &self.actor {
                Actor::System => ActorRef::System,
                Actor::User(id) => ActorRef::User(id),
                Actor::ApiToken(id) => ActorRef::ApiToken(id),
            },
            action: &self.action,
            registry: self.registry.as_deref(),
            organisation: self.organisation.as_deref(),
            target: self.target.as_deref(),
            purpose: self.purpose.as_deref(),
            outcome: self.outcome,
            client: self.client.as_deref(),
            request_id: self.request_id.as_deref(),
        }
    }
}

/// The sequence numbers an append was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// First to last, inclusive start, exclusive end (empty when nothing was appended).
    pub seqs: Range<u64>,
    /// The time every event of the append carries.
    pub time: OffsetDateTime,
}

/// The head of the log: how many events, and the chain hash after the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditHead {
    /// The last sequence number (0 for an empty log).
    pub last_seq: u64,
    /// The chain hash after it (32 zero bytes for an empty log).
    pub chain_head: Hash,
}

/// One stored event as read back, with its stored hashes (which verification recomputes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// The stored sequence number.
    pub seq: u64,
    /// The event, or why the stored fields are not one (e.g. an unknown actor form).
    pub event: std::result::Result<AuditEvent, EventError>,
    /// The stored leaf hash.
    pub leaf: Hash,
    /// The stored chain hash.
    pub chain: Hash,
}

/// A stored checkpoint: its line as in the checkpoint file, and the key that signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// The tree size it covers.
    pub tree_size: u64,
    /// The signed checkpoint's line.
    pub line: String,
    /// The Ed25519 public key it was made with.
    pub public_key: [u8; 32],
}

impl StoredCheckpoint {
    /// Parses the line (the signature is checked by the verifier, not here).
    pub fn parse(&self) -> std::result::Result<SignedCheckpoint, CheckpointError> {
        SignedCheckpoint::parse(&self.line)
    }
}

/// The first thing wrong with the stored log, beyond what tessera-audit's verifier reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditFault {
    /// The chain, tree or checkpoints do not verify.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// A row's fields do not hash to its stored leaf or chain hash: it was changed after it was
    /// written.
    #[error("event seq {seq} was changed after it was written: {what}")]
    EditedRow {
        /// The row's sequence number.
        seq: u64,
        /// Which stored hash disagrees.
        what: &'static str,
    },
    /// A row's fields are not an event at all.
    #[error("event seq {seq} is not a valid event: {source}")]
    BadRow {
        /// The row's sequence number.
        seq: u64,
        /// Why.
        source: EventError,
    },
    /// The head row disagrees with the events: rows were added or removed past it, or the
    /// head was rewritten.
    #[error("the log's head says {head_seq} events but the table ends at seq {events}: events after seq {} were {}", head_seq.min(events), if head_seq > events { "removed" } else { "added outside the append path" })]
    Head {
        /// The head's last sequence number.
        head_seq: u64,
        /// The last sequence number in the table.
        events: u64,
    },
    /// The head's chain hash is not the chain hash of the last event.
    #[error("the log's head chain hash is not that of event seq {seq}")]
    HeadChain {
        /// The last event.
        seq: u64,
    },
}

impl AuditFault {
    /// Where it failed.
    pub fn position(&self) -> Position {
        match self {
            AuditFault::Verify(e) => e.position(),
            AuditFault::EditedRow { seq, .. } | AuditFault::BadRow { seq, .. } | AuditFault::HeadChain { seq } => {
                Position::Event { seq: *seq }
            }
            AuditFault::Head { head_seq, events } => Position::Event { seq: head_seq.min(events) + 1 },
        }
    }
}

/// The canonical text of an actor, as stored.
fn actor_text(actor: &Actor) -> String {
    match actor {
        Actor::System => "system".into(),
        Actor::User(id) => format!("user:{id}"),
        Actor::ApiToken(id) => format!("token:{id}"),
    }
}

fn parse_actor(s: &str) -> std::result::Result<Actor, EventError> {
    match s {
        "system" => Ok(Actor::System),
        _ => match (s.strip_prefix("user:"), s.strip_prefix("token:")) {
            (Some(id), _) if !id.is_empty() => Ok(Actor::User(id.into())),
            (_, Some(id)) if !id.is_empty() => Ok(Actor::ApiToken(id.into())),
            _ => Err(EventError::BadActor(s.into())),
        },
    }
}

fn outcome_text(o: Outcome) -> &'static str {
    match o {
        Outcome::Success => "success",
        Outcome::Failure => "failure",
        Outcome::Denied => "denied",
    }
}

fn parse_outcome(s: &str) -> std::result::Result<Outcome, EventError> {
    match s {
        "success" => Ok(Outcome::Success),
        "failure" => Ok(Outcome::Failure),
        "denied" => Ok(Outcome::Denied),
        _ => Err(EventError::BadOutcome(s.into())),
    }
}

fn micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

fn from_micros(us: i64) -> std::result::Result<OffsetDateTime, EventError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000)
        .map_err(|_| EventError::BadTime(format!("{us} microseconds")))
}

fn hash32(bytes: &[u8], what: &str) -> Result<Hash> {
    bytes.try_into().map_err(|_| StoreError::Corrupt(format!("{what} is not 32 bytes")))
}

/// A row ready to insert: its note and what the log gave it.
struct NewRow<'a> {
    seq: i64,
    note: &'a AuditNote,
    leaf: Hash,
    chain: Hash,
}

/// Numbers, hashes and chains `notes` after `head`.
fn build_rows(notes: &[AuditNote], last_seq: u64, head: Hash, time: OffsetDateTime) -> Result<(Vec<NewRow<'_>>, Hash)> {
    let mut chain = Chain::resume(last_seq, head);
    let mut rows = Vec::with_capacity(notes.len());
    let mut buf = String::with_capacity(512);
    for (i, note) in notes.iter().enumerate() {
        let seq = last_seq + 1 + i as u64;
        buf.clear();
        note.view(seq, time)
            .write_canonical(&mut buf)
            .map_err(|e| StoreError::Conflict(format!("audit event: {e}")))?;
        let leaf = tessera_audit::leaf_hash(buf.as_bytes());
        let c = chain.append(seq, &leaf).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        rows.push(NewRow { seq: seq as i64, note, leaf, chain: c });
    }
    Ok((rows, chain.head()))
}

/// Appending audit events inside an open write transaction (see the module notes). Implemented
/// for both drivers' connections; a `Transaction` derefs to one.
pub(crate) trait AppendAudit {
    /// Appends `notes` in order (nothing for none) and returns their sequence numbers. On SQLite
    /// the transaction must have been opened with `begin_write` (`BEGIN IMMEDIATE`).
    async fn append_audit(&mut self, notes: &[AuditNote]) -> Result<Appended>;
}

macro_rules! append_audit_for {
    ($conn:ty, $db:ty) => {
        impl AppendAudit for $conn {
            async fn append_audit(&mut self, notes: &[AuditNote]) -> Result<Appended> {
                let time = now();
                if notes.is_empty() {
                    return Ok(Appended { seqs: 0..0, time });
                }
                // Refuse an event that cannot be encoded before taking the lock.
                for n in notes {
                    n.view(1, time).validate().map_err(|e| StoreError::Conflict(format!("audit event: {e}")))?;
                }
                let n = notes.len() as i64;
                // The lock: from here to commit no other transaction can append.
                let (before, head): (i64, Vec<u8>) = sqlx::query_as(
                    "UPDATE audit_head SET last_seq = last_seq + $1 WHERE id = 1 RETURNING last_seq - $1, chain_head",
                )
                .bind(n)
                .fetch_one(&mut *self)
                .await?;
                let time = now();
                let (rows, head) = build_rows(notes, before as u64, hash32(&head, "the audit head")?, time)?;
                for chunk in rows.chunks(INSERT_CHUNK) {
                    let mut q = QueryBuilder::<$db>::new(
                        "INSERT INTO audit_events (seq, time_us, actor, action, registry, organisation, target, \
                         purpose, outcome, client, request_id, leaf_hash, chain_hash) ",
                    );
                    let time_us = micros(time);
                    q.push_values(chunk, |mut b, r| {
                        let n = r.note;
                        b.push_bind(r.seq)
                            .push_bind(time_us)
                            .push_bind(actor_text(&n.actor))
                            .push_bind(n.action.clone())
                            .push_bind(n.registry.clone())
                            .push_bind(n.organisation.clone())
                            .push_bind(n.target.clone())
                            .push_bind(n.purpose.clone())
                            .push_bind(outcome_text(n.outcome))
                            .push_bind(n.client.clone())
                            .push_bind(n.request_id.clone())
                            .push_bind(r.leaf.to_vec())
                            .push_bind(r.chain.to_vec());
                    });
                    q.build().execute(&mut *self).await?;
                }
                sqlx::query("UPDATE audit_head SET chain_head = $1 WHERE id = 1")
                    .bind(head.to_vec())
                    .execute(&mut *self)
                    .await?;
                let first = before as u64 + 1;
                Ok(Appended { seqs: first..first + notes.len() as u64, time })
            }
        }
    };
}
append_audit_for!(SqliteConnection, Sqlite);
append_audit_for!(PgConnection, Postgres);

/// Appends `notes` inside the caller's write transaction (`&mut *tx` in an `on_db!` body);
/// see [`AppendAudit`].
#[allow(dead_code)] // The entry point for store write methods that audit their writes.
pub(crate) async fn append_in_tx<C: AppendAudit + ?Sized>(conn: &mut C, notes: &[AuditNote]) -> Result<Appended> {
    conn.append_audit(notes).await
}

/// (seq, time_us, actor, action, registry, organisation, target, purpose, outcome, client,
/// request_id, leaf_hash, chain_hash) as selected.
type EventTuple = (
    i64,
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Vec<u8>,
    Vec<u8>,
);

const SELECT_EVENTS: &str = "SELECT seq, time_us, actor, action, registry, organisation, target, purpose, outcome, \
                             client, request_id, leaf_hash, chain_hash FROM audit_events \
                             WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3";

fn row_of(t: EventTuple) -> Result<AuditRow> {
    let (
        seq,
        time_us,
        actor,
        action,
        registry,
        organisation,
        target,
        purpose,
        outcome,
        client,
        request_id,
        leaf,
        chain,
    ) = t;
    let event = (|| {
        Ok(AuditEvent {
            seq: seq as u64,
            time: from_micros(time_us)?,
            actor: parse_actor(&actor)?,
            action,
            registry,
            organisation,
            target,
            purpose,
            outcome: parse_outcome(&outcome)?,
            client,
            request_id,
        })
    })();
    Ok(AuditRow {
        seq: seq as u64,
        event,
        leaf: hash32(&leaf, "a stored leaf hash")?,
        chain: hash32(&chain, "a stored chain hash")?,
    })
}

impl Store {
    /// Appends `notes` in one transaction of their own and commits before returning. For a read
    /// of identifiable data: await this before returning the data, and fail the request if it
    /// fails.
    pub async fn audit_append(&self, notes: &[AuditNote]) -> Result<Appended> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let appended = tx.append_audit(notes).await?;
            tx.commit().await?;
            Ok(appended)
        })
    }

    /// The head of the log.
    pub async fn audit_head(&self) -> Result<AuditHead> {
        let (last_seq, head): (i64, Vec<u8>) = on_db!(self, pool => {
            sqlx::query_as("SELECT last_seq, chain_head FROM audit_head WHERE id = 1").fetch_one(pool).await?
        });
        Ok(AuditHead { last_seq: last_seq as u64, chain_head: hash32(&head, "the audit head")? })
    }

    /// Up to `limit` events with `after < seq <= upto`, in order of sequence number.
    pub async fn audit_events(&self, after: u64, upto: u64, limit: u64) -> Result<Vec<AuditRow>> {
        let rows: Vec<EventTuple> = on_db!(self, pool => {
            sqlx::query_as(SELECT_EVENTS)
                .bind(after as i64)
                .bind(upto.min(i64::MAX as u64) as i64)
                .bind(limit.min(i64::MAX as u64) as i64)
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(row_of).collect()
    }

    /// Reads the whole log in one snapshot (a read transaction; repeatable read on
    /// PostgreSQL), sending it in pages of rows to `pages`, and returns the head as of the same
    /// snapshot. Stops early, without error, if the receiver is dropped.
    pub async fn audit_scan(&self, pages: tokio::sync::mpsc::Sender<Vec<AuditRow>>) -> Result<AuditHead> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Tuples>(2);
        let convert = async move {
            while let Some(t) = rx.recv().await {
                let page = t.iter::<FIELDS>().map(|f| raw_row(f?).map(|r| r.to_row())).collect::<Result<Vec<_>>>()?;
                if pages.send(page).await.is_err() {
                    break;
                }
            }
            Ok::<_, StoreError>(())
        };
        let (head, converted) = tokio::join!(self.scan_tuples(0, tx), convert);
        converted?;
        head
    }

    /// Reads the events after `after` in one snapshot the fast way (see the module notes),
    /// sending them in pages of tuples to `pages`, and returns the head as of the same snapshot.
    /// If the receiver is dropped, the rest is not sent (PostgreSQL's COPY is read to its end,
    /// which leaves the connection usable).
    async fn scan_tuples(&self, after: u64, pages: tokio::sync::mpsc::Sender<Tuples>) -> Result<AuditHead> {
        use futures_util::TryStreamExt as _;
        let after = after.min(i64::MAX as u64) as i64;
        let mut open = true;
        let head = match self {
            Store::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY").execute(&mut *tx).await?;
                let head: (i64, Vec<u8>) = sqlx::query_as("SELECT last_seq, chain_head FROM audit_head WHERE id = 1")
                    .fetch_one(&mut *tx)
                    .await?;
                // COPY takes no bind parameters: the bound goes in through a setting local to the
                // transaction.
                sqlx::query("SELECT set_config('tessera.audit_after', $1, true)")
                    .bind(after.to_string())
                    .execute(&mut *tx)
                    .await?;
                let mut split = Splitter::new(PAGE_BYTES + (64 << 10));
                {
                    let mut stream = tx.copy_out_raw(COPY_EVENTS).await?;
                    while let Some(chunk) = stream.try_next().await? {
                        if !open {
                            // Read to the end, so the connection is left ready for its next use.
                            continue;
                        }
                        split.push(&chunk)?;
                        if split.waiting() >= PAGE_BYTES {
                            open = pages.send(split.take()).await.is_ok();
                        }
                    }
                }
                let last = split.finish()?;
                if open && last.rows() > 0 {
                    let _ = pages.send(last).await;
                }
                tx.commit().await?;
                head
            }
            Store::Sqlite(pool) => {
                use sqlx::{ConnectOptions as _, Connection as _, Row as _};
                // A connection of its own whose worker may run ahead of us by thousands of rows
                // (the pool's hand over 50 at a time, and waking the reader for every few rows
                // was most of the cost).
                let options = (*pool.connect_options()).clone().row_buffer_size(SQLITE_ROW_CHANNEL);
                let mut conn = options.connect().await?;
                let mut tx = conn.begin().await?;
                let head: (i64, Vec<u8>) = sqlx::query_as("SELECT last_seq, chain_head FROM audit_head WHERE id = 1")
                    .fetch_one(&mut *tx)
                    .await?;
                let mut page = Tuples::with_capacity(PAGE_BYTES + (64 << 10));
                {
                    let mut rows = sqlx::query(SELECT_AFTER).bind(after).fetch(&mut *tx);
                    while let Some(row) = rows.try_next().await? {
                        if !open {
                            break;
                        }
                        page.start(FIELDS as i16);
                        page.int8(row.try_get::<i64, _>(0)?);
                        page.int8(row.try_get::<i64, _>(1)?);
                        for i in 2..FIELDS {
                            page.field(row.try_get::<Option<&[u8]>, _>(i)?);
                        }
                        if page.bytes() >= PAGE_BYTES {
                            let full = std::mem::replace(&mut page, Tuples::with_capacity(PAGE_BYTES + (64 << 10)));
                            open = pages.send(full).await.is_ok();
                        }
                    }
                }
                if open && page.rows() > 0 {
                    let _ = pages.send(page).await;
                }
                tx.commit().await?;
                conn.close().await?;
                head
            }
        };
        Ok(AuditHead { last_seq: head.0 as u64, chain_head: hash32(&head.1, "the audit head")? })
    }

    /// Reads every event as [`Store::audit_verify`] does, in one snapshot, without decoding or
    /// hashing: the floor that verification is measured against (BENCHMARKS.md). Returns the
    /// number of events read.
    #[doc(hidden)]
    pub async fn audit_read_floor(&self) -> Result<u64> {
        let (read, _) = self.read_log(0, parallel::Work::Count).await?;
        Ok(read.rows)
    }

    /// The leaf hashes of events 1..=`size`, for proofs. [`StoreError::NotFound`] if the log is
    /// shorter; [`StoreError::Corrupt`] if sequence numbers are missing.
    pub async fn audit_leaves(&self, size: u64) -> Result<Vec<Hash>> {
        let rows: Vec<(i64, Vec<u8>)> = on_db!(self, pool => {
            sqlx::query_as("SELECT seq, leaf_hash FROM audit_events WHERE seq <= $1 ORDER BY seq")
                .bind(size.min(i64::MAX as u64) as i64)
                .fetch_all(pool)
                .await?
        });
        if (rows.len() as u64) < size && rows.last().is_none_or(|r| (r.0 as u64) < size) {
            return Err(StoreError::NotFound(format!("audit tree of size {size}")));
        }
        rows.iter()
            .enumerate()
            .map(|(i, (seq, leaf))| {
                if *seq as u64 != i as u64 + 1 {
                    return Err(StoreError::Corrupt(format!("audit event seq {} is missing", i + 1)));
                }
                hash32(leaf, "a stored leaf hash")
            })
            .collect()
    }

    /// Every stored checkpoint, in order of tree size.
    pub async fn audit_checkpoints(&self) -> Result<Vec<StoredCheckpoint>> {
        let rows: Vec<(i64, String, Vec<u8>)> = on_db!(self, pool => {
            sqlx::query_as("SELECT tree_size, line, public_key FROM audit_checkpoints ORDER BY tree_size")
                .fetch_all(pool)
                .await?
        });
        rows.into_iter()
            .map(|(size, line, key)| {
                Ok(StoredCheckpoint { tree_size: size as u64, line, public_key: hash32(&key, "a checkpoint's key")? })
            })
            .collect()
    }

    /// The checkpoint with the largest tree size, if any.
    pub async fn audit_latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>> {
        let row: Option<(i64, String, Vec<u8>)> = on_db!(self, pool => {
            sqlx::query_as("SELECT tree_size, line, public_key FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1")
                .fetch_optional(pool)
                .await?
        });
        row.map(|(size, line, key)| {
            Ok(StoredCheckpoint { tree_size: size as u64, line, public_key: hash32(&key, "a checkpoint's key")? })
        })
        .transpose()
    }

    /// Stores a signed checkpoint made with `key`. Returns false if one of that tree size is
    /// already stored (another server made it first).
    pub async fn audit_add_checkpoint(&self, checkpoint: &SignedCheckpoint, key: &VerifyingKey) -> Result<bool> {
        let line = checkpoint.line().map_err(|e| StoreError::Conflict(e.to_string()))?;
        let size = checkpoint.checkpoint.tree_size as i64;
        let done = on_db!(self, pool => {
            sqlx::query(
                "INSERT INTO audit_checkpoints (tree_size, line, public_key, created_us) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tree_size) DO NOTHING",
            )
            .bind(size)
            .bind(&line)
            .bind(key.to_bytes().to_vec())
            .bind(micros(now()))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// Reads events after `tree`'s size into it, recomputing each leaf and chain hash and
    /// checking them against the stored ones, so a checkpoint is never signed over an edited
    /// row ([`StoreError::Corrupt`] names it).
    pub async fn audit_catch_up(&self, tree: &mut AuditTree) -> Result<()> {
        let (joined, _) = self.check_log(tree.size(), tree.chain_head(), Vec::new()).await?;
        match joined.stop {
            Some(parallel::Stop::Fault(f)) => return Err(StoreError::Corrupt(f.to_string())),
            Some(parallel::Stop::Error(e)) => return Err(e),
            None => {}
        }
        let mut grown = tree.clone();
        *tree = tokio::task::spawn_blocking(move || {
            grown.tree.extend_parallel(&joined.leaves.concat());
            grown.chain = Chain::resume(joined.last_seq, joined.head);
            grown
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("the checkpointer failed: {e}")))?;
        Ok(())
    }

    /// Reads the events after `after` in one snapshot on several connections and checks every
    /// row on several threads ([`parallel`]), joined in order up to the first failure, with the
    /// head as of the same snapshot. `sizes`: the checkpoint sizes whose chain heads to keep.
    async fn check_log(&self, after: u64, start: Hash, sizes: Vec<u64>) -> Result<(parallel::Joined, AuditHead)> {
        let work = parallel::Work::Check(std::sync::Arc::new(sizes));
        let (read, head) = self.read_log(after, work).await?;
        let joined = tokio::task::spawn_blocking(move || parallel::join(read.runs, after, start))
            .await
            .map_err(|e| StoreError::Corrupt(format!("the verifier failed: {e}")))?;
        Ok((joined, head))
    }

    /// Reads the events after `after` for `work` ([`parallel`]).
    async fn read_log(&self, after: u64, work: parallel::Work) -> Result<(parallel::Read, AuditHead)> {
        match self {
            Store::Postgres(pool) => parallel::read_postgres(pool, after, work).await,
            Store::Sqlite(pool) => {
                let path = pool.connect_options().get_filename().to_owned();
                tokio::task::spawn_blocking(move || parallel::read_sqlite(&path, after, work))
                    .await
                    .map_err(|e| StoreError::Corrupt(format!("the audit reader failed: {e}")))?
            }
        }
    }

    /// Verifies the stored log against `checkpoints` (in order of size) under `key`, reading it
    /// in one snapshot: every event's leaf and chain recomputed and compared with the stored
    /// hashes (naming the first changed row), the tree and chain against every checkpoint, and
    /// the head row against the table. `Ok(Err(fault))` names the first failing position.
    pub async fn audit_verify(
        &self,
        checkpoints: Vec<SignedCheckpoint>,
        key: VerifyingKey,
    ) -> Result<std::result::Result<VerifySummary, AuditFault>> {
        let mut sizes: Vec<u64> = checkpoints.iter().map(|c| c.checkpoint.tree_size).collect();
        sizes.sort_unstable();
        sizes.dedup();
        let (joined, head) = self.check_log(0, CHAIN_START, sizes).await?;
        tokio::task::spawn_blocking(move || {
            let ended = joined.stop.is_none();
            let pieces: Vec<&[Hash]> = joined.leaves.iter().map(Vec::as_slice).collect();
            let checked =
                tessera_audit::verify_leaves(&pieces, &|size| joined.chain_head_at(size), &checkpoints, &key, ended);
            match (checked, joined.stop) {
                (Err(e), _) => Ok(Err(AuditFault::Verify(e))),
                (Ok(_), Some(parallel::Stop::Fault(f))) => Ok(Err(f)),
                (Ok(_), Some(parallel::Stop::Error(e))) => Err(e),
                (Ok(summary), None) => Ok(if head.last_seq != joined.last_seq {
                    Err(AuditFault::Head { head_seq: head.last_seq, events: joined.last_seq })
                } else if head.chain_head != joined.head {
                    Err(AuditFault::HeadChain { seq: joined.last_seq })
                } else {
                    Ok(summary)
                }),
            }
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("the verifier failed: {e}")))?
    }

    /// Writes an export of events 1..=`upto` (tessera-audit's NDJSON format) to `out`, with
    /// `checkpoints` (in order of size; the last must be of size `upto`), verifying as it
    /// writes. Events appended meanwhile are left for the next export.
    pub async fn audit_export<W: std::io::Write + Send + 'static>(
        &self,
        out: W,
        checkpoints: Vec<SignedCheckpoint>,
        key: VerifyingKey,
        upto: u64,
    ) -> Result<std::result::Result<VerifySummary, tessera_audit::ExportError>> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<AuditRow>>(4);
        let write = tokio::task::spawn_blocking(move || {
            let mut bad = None;
            let rows = std::iter::from_fn(|| rx.blocking_recv()).flatten().take_while(|r| r.seq <= upto);
            let events = rows.map_while(|r| match r.event {
                Ok(e) => Some(e),
                Err(e) => {
                    bad = Some((r.seq, e));
                    None
                }
            });
            let result = tessera_audit::export(std::io::BufWriter::new(out), events, &checkpoints, &key);
            (result, bad)
        });
        let head = self.audit_scan(tx).await;
        let (result, bad) = write.await.map_err(|e| StoreError::Corrupt(format!("the export failed: {e}")))?;
        head?;
        if let Some((seq, e)) = bad {
            return Err(StoreError::Corrupt(format!("audit event seq {seq} is not a valid event: {e}")));
        }
        Ok(result)
    }
}

/// The log's Merkle tree and chain as far as read, for making checkpoints: reads only new
/// events each time ([`Store::audit_catch_up`]).
#[derive(Debug, Clone, Default)]
pub struct AuditTree {
    tree: TreeBuilder,
    chain: Chain,
}

impl AuditTree {
    /// Before any event.
    pub fn new() -> Self {
        Self::default()
    }

    /// Events read.
    pub fn size(&self) -> u64 {
        self.tree.size()
    }

    /// The Merkle root over them.
    pub fn root(&self) -> Hash {
        self.tree.root()
    }

    /// The chain hash after the last.
    pub fn chain_head(&self) -> Hash {
        self.chain.head()
    }
}

/// Fails unless `seq` follows `last`: a jump is a deletion, anything else a repeat.
fn check_seq(last: u64, seq: u64) -> std::result::Result<(), AuditFault> {
    let expected = last + 1;
    if seq == expected {
        return Ok(());
    }
    Err(if seq > expected {
        VerifyError::Missing { expected, found: seq }
    } else {
        VerifyError::Repeated { expected, found: seq }
    }
    .into())
}

/// The log after a sequence number, for the SQLite read path; the columns in the order every
/// read path reads them.
const SELECT_AFTER: &str = "SELECT seq, time_us, actor, action, registry, organisation, target, purpose, outcome, \
                            client, request_id, leaf_hash, chain_hash FROM audit_events WHERE seq > $1 ORDER BY seq";
/// How many columns.
const FIELDS: usize = 13;
/// The log after a sequence number (a setting local to the transaction), as binary COPY.
const COPY_EVENTS: &str = "COPY (SELECT seq, time_us, actor, action, registry, organisation, target, purpose, outcome, \
                           client, request_id, leaf_hash, chain_hash FROM audit_events \
                           WHERE seq > current_setting('tessera.audit_after')::bigint ORDER BY seq) \
                           TO STDOUT (FORMAT binary)";
/// Bytes of rows per page handed to the verifier (about 3,000 events).
const PAGE_BYTES: usize = 1 << 20;
/// Rows the SQLite worker may read ahead of the verifier.
const SQLITE_ROW_CHANNEL: usize = 4096;

/// One stored row's fields, borrowed from a page of tuples.
struct RawRow<'a> {
    seq: u64,
    event: std::result::Result<EventRef<'a>, EventError>,
    leaf: Hash,
    chain: Hash,
}

impl RawRow<'_> {
    fn to_row(&self) -> AuditRow {
        AuditRow {
            seq: self.seq,
            event: self.event.as_ref().map(EventRef::to_event).map_err(Clone::clone),
            leaf: self.leaf,
            chain: self.chain,
        }
    }
}

fn required<'a>(f: Option<&'a [u8]>, what: &str) -> Result<&'a [u8]> {
    f.ok_or_else(|| StoreError::Corrupt(format!("an audit event's {what} is NULL")))
}

fn int8(f: Option<&[u8]>, what: &str) -> Result<i64> {
    let b = required(f, what)?;
    Ok(i64::from_be_bytes(
        b.try_into().map_err(|_| StoreError::Corrupt(format!("an audit event's {what} is not 8 bytes")))?,
    ))
}

fn text(f: &[u8]) -> std::result::Result<&str, EventError> {
    std::str::from_utf8(f).map_err(|_| EventError::Malformed("a field is not UTF-8".into()))
}

fn opt_text(f: Option<&[u8]>) -> std::result::Result<Option<&str>, EventError> {
    f.map(text).transpose()
}

/// A row's fields as read (in the order of [`SELECT_AFTER`]). Fields that are not an event make
/// `event` an error (the verifier names the row); a NULL where the schema forbids one or a
/// hash of the wrong length is [`StoreError::Corrupt`].
fn raw_row(f: [Option<&[u8]>; FIELDS]) -> Result<RawRow<'_>> {
    let [
        seq,
        time_us,
        actor,
        action,
        registry,
        organisation,
        target,
        purpose,
        outcome,
        client,
        request_id,
        leaf,
        chain,
    ] = f;
    let seq = int8(seq, "seq")? as u64;
    let time_us = int8(time_us, "time")?;
    let (actor, action, outcome) =
        (required(actor, "actor")?, required(action, "action")?, required(outcome, "outcome")?);
    let event = (|| {
        Ok(EventRef {
            seq,
            time: from_micros(time_us)?,
            actor: ActorRef::parse(text(actor)?)?,
            action: text(action)?,
            registry: opt_text(registry)?,
            organisation: opt_text(organisation)?,
            target: opt_text(target)?,
            purpose: opt_text(purpose)?,
            outcome: parse_outcome(text(outcome)?)?,
            client: opt_text(client)?,
            request_id: opt_text(request_id)?,
        })
    })();
    Ok(RawRow {
        seq,
        event,
        leaf: hash32(required(leaf, "leaf hash")?, "a stored leaf hash")?,
        chain: hash32(required(chain, "chain hash")?, "a stored chain hash")?,
    })
}
