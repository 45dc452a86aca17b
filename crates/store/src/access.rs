//! What the access check reads on every request: a person's live grants, an API token by the
//! hash of its secret, and a registry's network allowlist; and the writes of tokens and
//! allowlists. Requests, approvals, recertification and revocation live in `requests.rs`.
//!
//! Times are unix seconds passed in by the caller (the settable clock). A grant is live when it is
//! neither revoked nor past `expires_at`, and its holder's account is active: the check is in the
//! one query, so a revocation or suspension takes effect on the very next request.

use crate::audit::append_in_tx;
use crate::requests::aimed;
use crate::{AuditNote, BeginWrite as _, Result, Store, StoreError, on_db};

/// A stored grant, as the access check needs it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GrantRow {
    /// The grant's id.
    pub id: String,
    /// The holder.
    pub user_id: String,
    /// The registry.
    pub registry_id: String,
    /// The role's stored name (`submitter`, …).
    pub role: String,
    /// The organisation, or `None` for all.
    pub organisation: Option<String>,
    /// When it was granted.
    pub granted_at: i64,
    /// When it lapses.
    pub expires_at: i64,
}

/// A new API token: only the SHA-256 of its secret is stored.
#[derive(Debug, Clone)]
pub struct NewApiToken<'a> {
    /// The token's id (public; shown in lists).
    pub id: &'a str,
    /// SHA-256 (hex) of the secret.
    pub token_hash: &'a str,
    /// The person it acts for.
    pub user_id: &'a str,
    /// The registry it is scoped to.
    pub registry_id: &'a str,
    /// The organisation it is scoped to.
    pub organisation: &'a str,
    /// Comma-separated subset of `read,write`.
    pub permissions: &'a str,
    /// What the token is for, in the owner's words.
    pub label: &'a str,
    /// Now.
    pub now: i64,
    /// When it stops working.
    pub expires_at: i64,
}

/// A stored API token (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ApiTokenRow {
    /// The token's id.
    pub id: String,
    /// The person it acts for.
    pub user_id: String,
    /// The registry.
    pub registry_id: String,
    /// The organisation.
    pub organisation: String,
    /// Comma-separated subset of `read,write`.
    pub permissions: String,
    /// Its label.
    pub label: String,
    /// When it was made.
    pub created_at: i64,
    /// When it stops working.
    pub expires_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
    /// When it was last used.
    pub last_used_at: Option<i64>,
}

/// One range of a registry's network allowlist.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NetworkRow {
    /// The registry.
    pub registry_id: String,
    /// The range, in CIDR notation.
    pub cidr: String,
    /// What the range is.
    pub label: String,
}

const GRANT_COLUMNS: &str = "g.id, g.user_id, g.registry_id, g.role, g.organisation, g.granted_at, g.expires_at";
const TOKEN_COLUMNS: &str =
    "id, user_id, registry_id, organisation, permissions, label, created_at, expires_at, revoked_at, last_used_at";

impl Store {
    /// The grants of `user_id` live at `now`: not revoked, not expired, and held by an active
    /// account. Ordered by registry, role, organisation.
    pub async fn live_grants(&self, user_id: &str, now: i64) -> Result<Vec<GrantRow>> {
        let sql = format!(
            "SELECT {GRANT_COLUMNS} FROM grants g JOIN users u ON u.id = g.user_id \
             WHERE g.user_id = $1 AND g.revoked_at IS NULL AND g.expires_at > $2 AND u.status = 'active' \
             ORDER BY g.registry_id, g.role, g.organisation"
        );
        Ok(on_db!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(user_id).bind(now).fetch_all(pool).await?
        }))
    }

    /// Stores a new API token, with `audit` in the same transaction.
    pub async fn insert_api_token(&self, token: &NewApiToken<'_>, audit: &[AuditNote]) -> Result<()> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO api_tokens (id, token_hash, user_id, registry_id, organisation, permissions, label, \
                 created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(token.id)
            .bind(token.token_hash)
            .bind(token.user_id)
            .bind(token.registry_id)
            .bind(token.organisation)
            .bind(token.permissions)
            .bind(token.label)
            .bind(token.now)
            .bind(token.expires_at)
            .execute(&mut *tx)
            .await?;
            append_in_tx(&mut *tx, audit).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The token whose secret hashes to `token_hash`, if it is neither revoked nor expired at
    /// `now` and its owner is active; marks it used (at most once a minute).
    pub async fn live_api_token(&self, token_hash: &str, now: i64) -> Result<Option<ApiTokenRow>> {
        let sql = format!(
            "SELECT {} FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 \
             AND t.revoked_at IS NULL AND t.expires_at > $2 AND u.status = 'active'",
            TOKEN_COLUMNS.split(", ").map(|c| format!("t.{c}")).collect::<Vec<_>>().join(", ")
        );
        let row: Option<ApiTokenRow> = on_db!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(token_hash).bind(now).fetch_optional(pool).await?
        });
        if let Some(t) = &row
            && t.last_used_at.is_none_or(|at| now - at >= 60)
        {
            on_db!(self, pool => {
                sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(&t.id)
                    .execute(pool)
                    .await?;
            });
        }
        Ok(row)
    }

    /// The tokens `user_id` made, newest first.
    pub async fn api_tokens_of(&self, user_id: &str) -> Result<Vec<ApiTokenRow>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC, id");
        Ok(on_db!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(user_id).fetch_all(pool).await?
        }))
    }

    /// Revokes token `id` of `user_id` at `now`, with `audit` in the same transaction (each note
    /// given the token's registry and organisation). False, and nothing written, if there is no
    /// such live token of theirs.
    pub async fn revoke_api_token(&self, user_id: &str, id: &str, now: i64, audit: &[AuditNote]) -> Result<bool> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let revoked: Option<(String, String)> = sqlx::query_as(
                "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL \
                 RETURNING registry_id, organisation",
            )
            .bind(now)
            .bind(id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((registry, organisation)) = revoked else { return Ok(false) };
            let notes: Vec<AuditNote> =
                audit.iter().map(|n| n.clone().registry(registry.as_str()).organisation(organisation.as_str())).collect();
            append_in_tx(&mut *tx, &notes).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Every registry's network allowlist.
    pub async fn networks(&self) -> Result<Vec<NetworkRow>> {
        Ok(on_db!(self, pool => {
            sqlx::query_as("SELECT registry_id, cidr, label FROM registry_networks ORDER BY registry_id, cidr")
                .fetch_all(pool)
                .await?
        }))
    }

    /// Replaces `registry_id`'s allowlist with `ranges` (CIDR, label), with `audit`, in one
    /// transaction. An empty list lifts the restriction.
    pub async fn set_networks(
        &self,
        registry_id: &str,
        ranges: &[(String, String)],
        by: &str,
        now: i64,
        audit: &[AuditNote],
    ) -> Result<()> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let known: Option<String> = sqlx::query_scalar("SELECT id FROM registries WHERE id = $1")
                .bind(registry_id)
                .fetch_optional(&mut *tx)
                .await?;
            if known.is_none() {
                return Err(StoreError::NotFound("registry".into()));
            }
            sqlx::query("DELETE FROM registry_networks WHERE registry_id = $1").bind(registry_id).execute(&mut *tx).await?;
            for (cidr, label) in ranges {
                sqlx::query(
                    "INSERT INTO registry_networks (registry_id, cidr, label, added_by, added_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(registry_id)
                .bind(cidr)
                .bind(label)
                .bind(by)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            append_in_tx(&mut *tx, audit).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Suspends every active account whose last sign-in (or, never signed in, creation) is at or
    /// before `cutoff`, and ends their sessions, in one transaction. Platform operators are
    /// included: a dormant operator account is as dangerous as any. For each account suspended,
    /// a copy of each `audit` note aimed at `user:<id>` is appended in the same transaction.
    /// Returns the suspended ids.
    pub async fn suspend_dormant(&self, cutoff: i64, now: i64, audit: &[AuditNote]) -> Result<Vec<String>> {
        Ok(on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let ids: Vec<String> = sqlx::query_scalar(
                "UPDATE users SET status = 'suspended', suspended_at = $2, suspended_reason = 'dormant' \
                 WHERE status = 'active' AND COALESCE(last_sign_in_at, created_at) <= $1 \
                 RETURNING id",
            )
            .bind(cutoff)
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
            let mut notes = Vec::with_capacity(ids.len() * audit.len());
            for id in &ids {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
                notes.extend(aimed(audit, &format!("user:{id}")));
            }
            append_in_tx(&mut *tx, &notes).await?;
            tx.commit().await?;
            ids
        }))
    }
}
