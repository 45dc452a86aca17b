//! Tessera's persistence, written once for SQLite (the embedded default) and PostgreSQL.
//!
//! [`Store`] is a handle on either database. Every method is written once: the `on_db!` macro
//! expands the same body for both sqlx drivers, and the SQL text is shared (`$1` placeholders and
//! `ON CONFLICT` work on both). Only the migrations differ, in type names.
//!
//! Invariants kept here:
//! - **Every multi-row write is one transaction**: bulk writes go through a [`Writer`], which holds
//!   one transaction from its first statement to [`Writer::commit`]; dropping it rolls back.
//! - **Identifiers are never stored in clear**: the only way to write a patient is a
//!   [`NewPatient`], whose identifier fields are sealed by the registry's [`RegistryCipher`].
//! - **Nothing invalid is stored**: a [`NewRecord`] can only be made from a domain
//!   [`ValidRecord`], and revisions are append-only (database triggers refuse UPDATE and DELETE).

#![forbid(unsafe_code)]

mod access;
mod audit;
mod audit_query;
mod devices;
mod identity;
mod outcomes;
mod patients;
mod pgcopy;
mod pgcopy_read;
mod recalls;
mod record_access;
mod records;
mod registries;
mod requests;
mod revised;
mod writer;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub use access::{ApiTokenRow, GrantRow, NetworkRow, NewApiToken};
pub use audit::{Appended, AuditFault, AuditHead, AuditNote, AuditRow, AuditTree, StoredCheckpoint};
pub use audit_query::{ActionFilter, ActorName, AuditEntry, AuditFilter, AuditListing, AuditPage, MAX_AUDIT_PAGE};
pub use devices::{CatalogueEntry, CatalogueLoad, CatalogueVersion, MAX_CATALOGUE_SEARCH, UnknownGtin, UnknownStatus};
pub use identity::{
    AccountCounts, FactorKind, FailureState, LinkPurpose, LiveLink, NewLink, NewSession, PasskeyRow, SessionRow,
    SessionStage, TotpRow, UserRow,
};
pub use outcomes::{OutcomeData, Product, UNCATALOGUED};
pub use patients::{NewPatient, PatientView};
pub use recalls::{FollowUpRow, NewRecall, OrgCounts, RecallCounts, RecallRow, WorklistRow};
pub use record_access::{EnteredRecord, IDENTITY_MISMATCH, RecordSummary, validate_entry};
pub use records::{NewImplant, NewRecord, Revision, StoredRecord};
pub use registries::{DictionaryLoad, LoadOutcome, RegistryInfo, StatsRow};
pub use requests::{
    AccessCounts, AccessDashboard, Decision, DecisionOutcome, DormantUserRow, NewRequest, ProposedGrant,
    RegistryGrantRow, RequestRow,
};
pub use tessera_audit::{Actor as AuditActor, Outcome as AuditOutcome};
pub use tessera_vault::RegistryCipher;
pub use writer::{PatientStatus, SubmissionInfo, Writer};

/// Everything that can go wrong in storage.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing asked for does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The write conflicts with what is stored.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database URL is neither `sqlite:` nor `postgres:`.
    #[error("unsupported database URL (expected sqlite:PATH or postgres://…)")]
    UnsupportedUrl,
    /// Stored data no longer parses; a bug or tampering.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Keys did not open.
    #[error(transparent)]
    Vault(#[from] tessera_vault::VaultError),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Result type of this crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, one file, WAL journal.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A handle on Tessera's database. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Store {
    /// SQLite.
    Sqlite(SqlitePool),
    /// PostgreSQL.
    Postgres(PgPool),
}

/// Runs the same body against whichever pool the store holds. The body is compiled once per
/// driver, so it may use driver-specific types implicitly while its text stays shared.
macro_rules! on_db {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::Store::Sqlite($pool) => $body,
            $crate::Store::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_db;

impl Store {
    /// Connects to `url` and applies any pending migrations.
    ///
    /// `sqlite:PATH` (created if missing; WAL, `synchronous=NORMAL`, foreign keys on) or
    /// `postgres://…`.
    pub async fn connect(url: &str) -> Result<Self> {
        let store = if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(30))
                .pragma("cache_size", "-262144")
                // Statement journals (needed by multi-row INSERTs inside a transaction) in memory,
                // not temporary files: bulk imports spent a tenth of their time writing them.
                .pragma("temp_store", "memory");
            let pool =
                SqlitePoolOptions::new().max_connections(4).test_before_acquire(false).connect_with(opts).await?;
            sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
            Store::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let opts = PgConnectOptions::from_str(url)?;
            // No ping before each acquire: it doubled the round trips of a one-query request (sessions).
            let pool = PgPoolOptions::new().max_connections(8).test_before_acquire(false).connect_with(opts).await?;
            sqlx::migrate!("./migrations/postgres").run(&pool).await?;
            Store::Postgres(pool)
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        store.fill_revised().await?;
        Ok(store)
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        match self {
            Store::Sqlite(_) => Backend::Sqlite,
            Store::Postgres(_) => Backend::Postgres,
        }
    }

    /// Closes every connection, waiting for them to finish.
    pub async fn close(&self) {
        on_db!(self, pool => pool.close().await)
    }
}

/// Opens a transaction that is going to write.
///
/// On SQLite it starts `IMMEDIATE`, taking the write lock at once: a deferred transaction that
/// reads first and then writes fails with "database is locked" when another writer got in between,
/// because the busy timeout does not apply to that upgrade. PostgreSQL's row locks need nothing.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, Self::Db>>;
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;
    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;
    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        self.begin().await
    }
}

/// The current time, truncated to microseconds so both databases store it identically.
pub(crate) fn now() -> time::OffsetDateTime {
    let t = time::OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1000 * 1000).expect("valid nanosecond")
}
