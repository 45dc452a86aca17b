//! Reading the audit trail for people: a registry's log for its controllers and auditors
//! (filtered, newest first, paged by sequence number), "who accessed this patient" (every event
//! about one patient or their records), and a person's own sign-in activity.
//!
//! The registry queries take the [`ReadAudit`] capability, so only a caller whose grants gave one
//! can run them, and they answer only within its registry. Every filter is a bound parameter.
//! Pages are keyset pages on `seq` (never OFFSET), so a page costs the same deep in a long log;
//! migration 0006 has the indexes: (registry, seq), (target, seq) and (actor, seq).
//!
//! Targets are returned as stored (`patient:<uuid>`, `record:<uuid>`, `user:<id>`): pseudonymous,
//! never an NHS number or a name.

use std::collections::HashMap;

use tessera_domain::access::ReadAudit;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Result, Store, StoreError, on_db};

/// The most events one page of a registry's log may ask for.
pub const MAX_AUDIT_PAGE: u32 = 500;

/// One event as people read it (without its hashes, which only verification needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// The sequence number.
    pub seq: u64,
    /// When it was appended (UTC).
    pub time: OffsetDateTime,
    /// Who: `user:<id>`, `token:<id>` or `system`.
    pub actor: String,
    /// What, e.g. `record.view`.
    pub action: String,
    /// The registry, if any.
    pub registry: Option<String>,
    /// The organisation (ODS code), if any.
    pub organisation: Option<String>,
    /// The pseudonymous target, as stored.
    pub target: Option<String>,
    /// The stated purpose, if any.
    pub purpose: Option<String>,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    /// The client (`web`, `api`, `cli` or an address), if any.
    pub client: Option<String>,
}

/// Which actions to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionFilter {
    /// Exactly this action (`record.view`).
    Exact(String),
    /// This action or any below it: `sign_in` keeps `sign_in` and `sign_in.failure`, not
    /// `sign_in_x`.
    Family(String),
}

/// What to keep of a registry's log. Empty fields keep everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only events by one of these actors (as stored: `user:<id>`, `token:<id>`); `Some` of an
    /// empty list keeps nothing (an unknown person did nothing).
    pub actors: Option<Vec<String>>,
    /// Only these actions.
    pub action: Option<ActionFilter>,
    /// Only events at or after this time (microseconds since 1970 UTC).
    pub from_us: Option<i64>,
    /// Only events before this time (microseconds since 1970 UTC).
    pub until_us: Option<i64>,
}

/// Which page of a log, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditPage {
    /// The newest events.
    Newest,
    /// The events just older than this sequence number.
    Before(u64),
    /// The events just newer than this sequence number.
    After(u64),
}

/// One page of a registry's log, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditListing {
    /// The events, newest first.
    pub events: Vec<AuditEntry>,
    /// Whether newer events match the filter.
    pub newer: bool,
    /// Whether older events match the filter.
    pub older: bool,
}

/// Who an actor is, for people to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActorName {
    /// An account.
    User {
        /// Its display name.
        name: String,
        /// Its email address.
        email: String,
    },
    /// An API token.
    Token {
        /// The label its owner gave it.
        label: String,
        /// Its owner's display name.
        owner: String,
    },
}

/// (seq, time_us, actor, action, registry, organisation, target, purpose, outcome, client).
type EntryRow =
    (i64, i64, String, String, Option<String>, Option<String>, Option<String>, Option<String>, String, Option<String>);

const ENTRY_COLUMNS: &str =
    "SELECT seq, time_us, actor, action, registry, organisation, target, purpose, outcome, client FROM audit_events";

fn entry(row: EntryRow) -> Result<AuditEntry> {
    let (seq, time_us, actor, action, registry, organisation, target, purpose, outcome, client) = row;
    let time = OffsetDateTime::from_unix_timestamp_nanos(i128::from(time_us) * 1_000)
        .map_err(|_| StoreError::Corrupt(format!("audit event {seq} has an impossible time")))?;
    Ok(AuditEntry {
        seq: u64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("audit sequence number {seq}")))?,
        time,
        actor,
        action,
        registry,
        organisation,
        target,
        purpose,
        outcome,
        client,
    })
}

fn entries(rows: Vec<EntryRow>) -> Result<Vec<AuditEntry>> {
    rows.into_iter().map(entry).collect()
}

/// The bounds of the actions below `family`: `[family + ".", family + "/")`, since `/` follows
/// `.` in byte order (both databases compare these columns bytewise).
fn family_bounds(family: &str) -> (String, String) {
    (format!("{family}."), format!("{family}/"))
}

fn seq_param(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

impl Store {
    /// One page of the capability's registry's log, newest first, keeping what `filter` keeps.
    /// `limit` is capped at [`MAX_AUDIT_PAGE`].
    pub async fn registry_audit(
        &self,
        read: &ReadAudit,
        filter: &AuditFilter,
        page: AuditPage,
        limit: u32,
    ) -> Result<AuditListing> {
        let limit = limit.clamp(1, MAX_AUDIT_PAGE);
        if filter.actors.as_ref().is_some_and(Vec::is_empty) {
            return Ok(AuditListing { events: vec![], newer: false, older: false });
        }
        let registry = read.registry().as_str();
        let rows: Vec<EntryRow> = on_db!(self, pool => {
            let mut qb = sqlx::QueryBuilder::new(ENTRY_COLUMNS);
            qb.push(" WHERE registry = ").push_bind(registry);
            if let Some(actors) = &filter.actors {
                qb.push(" AND actor IN (");
                let mut sep = qb.separated(", ");
                for a in actors {
                    sep.push_bind(a.as_str());
                }
                qb.push(")");
            }
            match &filter.action {
                Some(ActionFilter::Exact(a)) => {
                    qb.push(" AND action = ").push_bind(a.as_str());
                }
                Some(ActionFilter::Family(f)) => {
                    let (low, high) = family_bounds(f);
                    qb.push(" AND (action = ").push_bind(f.as_str());
                    qb.push(" OR (action >= ").push_bind(low).push(" AND action < ").push_bind(high).push("))");
                }
                None => {}
            }
            if let Some(from) = filter.from_us {
                qb.push(" AND time_us >= ").push_bind(from);
            }
            if let Some(until) = filter.until_us {
                qb.push(" AND time_us < ").push_bind(until);
            }
            match page {
                AuditPage::Newest => {
                    qb.push(" ORDER BY seq DESC");
                }
                AuditPage::Before(seq) => {
                    qb.push(" AND seq < ").push_bind(seq_param(seq)).push(" ORDER BY seq DESC");
                }
                AuditPage::After(seq) => {
                    qb.push(" AND seq > ").push_bind(seq_param(seq)).push(" ORDER BY seq ASC");
                }
            }
            qb.push(" LIMIT ").push_bind(i64::from(limit) + 1);
            qb.build_query_as().fetch_all(pool).await?
        });
        let mut events = entries(rows)?;
        let more = events.len() > limit as usize;
        events.truncate(limit as usize);
        let (newer, older) = match page {
            AuditPage::Newest => (false, more),
            AuditPage::Before(_) => (true, more),
            AuditPage::After(_) => {
                events.reverse();
                (more, true)
            }
        };
        Ok(AuditListing { events, newer, older })
    }

    /// Every event of the capability's registry about one of its patients — the patient
    /// (`patient:<uuid>`) or any of their records there (`record:<uuid>`) — oldest first, at most
    /// `limit`, and whether more were left out. "Not found" when the registry has no such patient.
    pub async fn patient_audit(&self, read: &ReadAudit, patient: Uuid, limit: u32) -> Result<(Vec<AuditEntry>, bool)> {
        let registry = read.registry().as_str();
        let held: Option<(Uuid,)> = on_db!(self, pool => {
            sqlx::query_as("SELECT id FROM patients WHERE id = $1 AND registry_id = $2")
                .bind(patient)
                .bind(registry)
                .fetch_optional(pool)
                .await?
        });
        if held.is_none() {
            return Err(StoreError::NotFound("patient".into()));
        }
        let records: Vec<(Uuid,)> = on_db!(self, pool => {
            sqlx::query_as("SELECT id FROM records WHERE registry_id = $1 AND patient_id = $2 AND revision = 1")
                .bind(registry)
                .bind(patient)
                .fetch_all(pool)
                .await?
        });
        let mut targets = vec![format!("patient:{patient}")];
        targets.extend(records.into_iter().map(|(id,)| format!("record:{id}")));
        let rows: Vec<EntryRow> = on_db!(self, pool => {
            let mut qb = sqlx::QueryBuilder::new(ENTRY_COLUMNS);
            // The registry too: an event of another registry is never shown, whatever its target.
            qb.push(" WHERE registry = ").push_bind(registry).push(" AND target IN (");
            let mut sep = qb.separated(", ");
            for t in &targets {
                sep.push_bind(t.as_str());
            }
            qb.push(") ORDER BY seq ASC LIMIT ").push_bind(i64::from(limit) + 1);
            qb.build_query_as().fetch_all(pool).await?
        });
        let mut events = entries(rows)?;
        let more = events.len() > limit as usize;
        events.truncate(limit as usize);
        Ok((events, more))
    }

    /// A person's own recent sign-in activity: events about their account (`user:<id>`) whose
    /// action is below `sign_in` or `mfa`, at or after `since_us`, newest first, at most `limit`.
    pub async fn sign_in_activity(&self, user_id: &str, since_us: i64, limit: u32) -> Result<Vec<AuditEntry>> {
        let target = format!("user:{user_id}");
        let (sign_in_low, sign_in_high) = family_bounds("sign_in");
        let (mfa_low, mfa_high) = family_bounds("mfa");
        let rows: Vec<EntryRow> = on_db!(self, pool => {
            let mut qb = sqlx::QueryBuilder::new(ENTRY_COLUMNS);
            qb.push(" WHERE target = ").push_bind(target.as_str());
            qb.push(" AND ((action >= ").push_bind(sign_in_low.as_str());
            qb.push(" AND action < ").push_bind(sign_in_high.as_str());
            qb.push(") OR (action >= ").push_bind(mfa_low.as_str());
            qb.push(" AND action < ").push_bind(mfa_high.as_str()).push("))");
            qb.push(" AND time_us >= ").push_bind(since_us);
            qb.push(" ORDER BY seq DESC LIMIT ").push_bind(i64::from(limit));
            qb.build_query_as().fetch_all(pool).await?
        });
        entries(rows)
    }

    /// The actors (as stored) that stand for the account `user_id` in the log: the account and
    /// every API token it has made. Empty when there is no such account.
    pub async fn actors_of_user(&self, user_id: &str) -> Result<Vec<String>> {
        let Some(user) = self.user(user_id).await? else { return Ok(vec![]) };
        let tokens: Vec<(String,)> = on_db!(self, pool => {
            sqlx::query_as("SELECT id FROM api_tokens WHERE user_id = $1 ORDER BY id")
                .bind(&user.id)
                .fetch_all(pool)
                .await?
        });
        let mut actors = vec![format!("user:{}", user.id)];
        actors.extend(tokens.into_iter().map(|(id,)| format!("token:{id}")));
        Ok(actors)
    }

    /// Names for the actors of a page of events (as stored: `user:<id>`, `token:<id>`). Actors
    /// with no account or token (and `system`) are left out.
    pub async fn actor_names(&self, actors: &[&str]) -> Result<HashMap<String, ActorName>> {
        let mut users: Vec<&str> = actors.iter().filter_map(|a| a.strip_prefix("user:")).collect();
        let mut tokens: Vec<&str> = actors.iter().filter_map(|a| a.strip_prefix("token:")).collect();
        users.sort_unstable();
        users.dedup();
        tokens.sort_unstable();
        tokens.dedup();
        let mut names = HashMap::new();
        if !users.is_empty() {
            let rows: Vec<(String, String, String)> = on_db!(self, pool => {
                let mut qb = sqlx::QueryBuilder::new("SELECT id, display_name, email FROM users WHERE id IN (");
                let mut sep = qb.separated(", ");
                for u in &users {
                    sep.push_bind(*u);
                }
                qb.push(")");
                qb.build_query_as().fetch_all(pool).await?
            });
            for (id, name, email) in rows {
                names.insert(format!("user:{id}"), ActorName::User { name, email });
            }
        }
        if !tokens.is_empty() {
            let rows: Vec<(String, String, String)> = on_db!(self, pool => {
                let mut qb = sqlx::QueryBuilder::new(
                    "SELECT t.id, t.label, u.display_name FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id IN (",
                );
                let mut sep = qb.separated(", ");
                for t in &tokens {
                    sep.push_bind(*t);
                }
                qb.push(")");
                qb.build_query_as().fetch_all(pool).await?
            });
            for (id, label, owner) in rows {
                names.insert(format!("token:{id}"), ActorName::Token { label, owner });
            }
        }
        Ok(names)
    }
}
