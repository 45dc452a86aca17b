//! People who sign in: accounts, single-use links (bootstrap, invitation, reset), second factors,
//! sessions and sign-in throttling.
//!
//! Times are unix seconds passed in by the caller, so that the web layer's clock (which tests can
//! set) is the only clock. Secrets never reach this module in clear: links and sessions are looked
//! up by the SHA-256 of their token, recovery codes by a keyed hash, TOTP secrets arrive sealed.
//! Every check-and-change (a link used once, a TOTP step used once, a recovery code used once) is
//! a single conditional `UPDATE` or one transaction, so two servers racing cannot both succeed.

use uuid::Uuid;

use crate::audit::append_in_tx;
use crate::{AuditNote, BeginWrite as _, Result, Store, StoreError, on_db};

/// `template` once per new object id, with the target `<kind>:<id>`.
fn per_id(template: &AuditNote, kind: &str, ids: &[String]) -> Vec<AuditNote> {
    ids.iter().map(|id| template.clone().target(format!("{kind}:{id}"))).collect()
}

/// Inserts a link on the given executor (a transaction); evaluates to its new id.
macro_rules! insert_link {
    ($exec:expr, $link:expr) => {{
        let link: &NewLink<'_> = $link;
        let id = new_id();
        sqlx::query(
            "INSERT INTO links (id, token_hash, purpose, email, display_name, user_id, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(link.token_hash)
        .bind(link.purpose.code())
        .bind(link.email)
        .bind(link.display_name)
        .bind(link.user_id)
        .bind(link.created_by)
        .bind(link.now)
        .bind(link.expires_at)
        .execute($exec)
        .await?;
        id
    }};
}

/// Inserts a session on the given executor.
macro_rules! insert_session {
    ($exec:expr, $s:expr) => {{
        let s: &NewSession<'_> = $s;
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, stage, created_at, last_seen_at, mfa_at, client_ip, user_agent) \
             VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
        )
        .bind(s.id_hash)
        .bind(s.user_id)
        .bind(s.stage.code())
        .bind(s.now)
        .bind(s.mfa_at)
        .bind(s.client_ip)
        .bind(s.user_agent)
        .execute($exec)
        .await?;
    }};
}

/// What a single-use link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// Creates the first platform operator; only while no account exists.
    Bootstrap,
    /// Lets an invited person create their account.
    Invitation,
    /// Lets a person set a new password after an administrator started a reset.
    Reset,
}

impl LinkPurpose {
    fn code(self) -> &'static str {
        match self {
            LinkPurpose::Bootstrap => "bootstrap",
            LinkPurpose::Invitation => "invitation",
            LinkPurpose::Reset => "reset",
        }
    }

    fn from_code(code: &str) -> Result<Self> {
        match code {
            "bootstrap" => Ok(LinkPurpose::Bootstrap),
            "invitation" => Ok(LinkPurpose::Invitation),
            "reset" => Ok(LinkPurpose::Reset),
            other => Err(StoreError::Corrupt(format!("link purpose {other:?}"))),
        }
    }
}

/// A link that can still be used (not used, withdrawn or expired).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveLink {
    /// Its id.
    pub id: String,
    /// What it is for.
    pub purpose: LinkPurpose,
    /// The invited address (invitations) or the account's address (resets).
    pub email: Option<String>,
    /// The invited person's name (invitations) or the account's name (resets).
    pub display_name: Option<String>,
    /// The account (resets).
    pub user_id: Option<String>,
    /// When it stops working.
    pub expires_at: i64,
}

/// A new single-use link.
#[derive(Debug, Clone)]
pub struct NewLink<'a> {
    /// SHA-256 (hex) of the token; the token itself is never stored.
    pub token_hash: &'a str,
    /// What it is for.
    pub purpose: LinkPurpose,
    /// Address (invitations).
    pub email: Option<&'a str>,
    /// Name (invitations).
    pub display_name: Option<&'a str>,
    /// Account (resets).
    pub user_id: Option<&'a str>,
    /// Who made it (none for bootstrap).
    pub created_by: Option<&'a str>,
    /// Now.
    pub now: i64,
    /// When it stops working.
    pub expires_at: i64,
}

/// An account as the sign-in code needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    /// Its id.
    pub id: String,
    /// Normalised email address.
    pub email: String,
    /// Name shown on pages.
    pub display_name: String,
    /// Argon2id PHC string.
    pub password_hash: Option<String>,
    /// `Some("operator")` for platform operators.
    pub platform_role: Option<String>,
    /// `active` or `suspended`.
    pub status: String,
    /// Consecutive failed sign-ins.
    pub failed_attempts: i64,
    /// No password is checked before this time.
    pub next_attempt_at: i64,
    /// Locked after too many failures.
    pub locked: bool,
    /// Last successful sign-in.
    pub last_sign_in_at: Option<i64>,
    /// When the account was made.
    pub created_at: i64,
    /// Why it is suspended (`dormant` or `manual`), while it is.
    pub suspended_reason: Option<String>,
}

const USER_COLUMNS: &str = "id, email, display_name, password_hash, platform_role, status, failed_attempts, \
                            next_attempt_at, locked, last_sign_in_at, created_at, suspended_reason";

type UserTuple =
    (String, String, String, Option<String>, Option<String>, String, i64, i64, bool, Option<i64>, i64, Option<String>);

fn user_from_tuple(t: UserTuple) -> UserRow {
    UserRow {
        id: t.0,
        email: t.1,
        display_name: t.2,
        password_hash: t.3,
        platform_role: t.4,
        status: t.5,
        failed_attempts: t.6,
        next_attempt_at: t.7,
        locked: t.8,
        last_sign_in_at: t.9,
        created_at: t.10,
        suspended_reason: t.11,
    }
}

/// How far a session has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStage {
    /// Password accepted but no second factor enrolled: only enrolment is reachable.
    Enrol,
    /// Password accepted, second factor due.
    Mfa,
    /// Fully signed in.
    Full,
}

impl SessionStage {
    fn code(self) -> &'static str {
        match self {
            SessionStage::Enrol => "enrol",
            SessionStage::Mfa => "mfa",
            SessionStage::Full => "full",
        }
    }

    fn from_code(code: &str) -> Result<Self> {
        match code {
            "enrol" => Ok(SessionStage::Enrol),
            "mfa" => Ok(SessionStage::Mfa),
            "full" => Ok(SessionStage::Full),
            other => Err(StoreError::Corrupt(format!("session stage {other:?}"))),
        }
    }
}

/// A session joined with its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// SHA-256 (hex) of the cookie's id.
    pub id_hash: String,
    /// The account.
    pub user_id: String,
    /// How far it has got.
    pub stage: SessionStage,
    /// Created (sign-in time).
    pub created_at: i64,
    /// Last request (to within a minute).
    pub last_seen_at: i64,
    /// Last second-factor check.
    pub mfa_at: Option<i64>,
    /// Address it was created from.
    pub client_ip: String,
    /// Browser it was created from.
    pub user_agent: String,
    /// Pending WebAuthn ceremony state.
    pub ceremony: Option<String>,
    /// The account's name.
    pub display_name: String,
    /// The account's address.
    pub email: String,
    /// The account's platform role.
    pub platform_role: Option<String>,
    /// The account's status.
    pub status: String,
}

/// A new session.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    /// SHA-256 (hex) of the cookie's id.
    pub id_hash: &'a str,
    /// The account.
    pub user_id: &'a str,
    /// Where it starts.
    pub stage: SessionStage,
    /// Now.
    pub now: i64,
    /// Set when the session starts fully signed in (a passkey sign-in).
    pub mfa_at: Option<i64>,
    /// Client address.
    pub client_ip: &'a str,
    /// Client's User-Agent, truncated.
    pub user_agent: &'a str,
}

/// A TOTP factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpRow {
    /// Its id.
    pub id: String,
    /// The person's name for it.
    pub label: String,
    /// The secret, sealed.
    pub sealed_secret: Vec<u8>,
    /// Whether a code has confirmed it.
    pub confirmed: bool,
    /// The last time step whose code was accepted.
    pub last_step: i64,
    /// Added.
    pub created_at: i64,
    /// Last used.
    pub last_used_at: Option<i64>,
}

/// A passkey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyRow {
    /// Its id.
    pub id: String,
    /// The account.
    pub user_id: String,
    /// Base64url credential id.
    pub credential_id: String,
    /// The person's name for it.
    pub label: String,
    /// webauthn-rs's serialised passkey (public key, counter).
    pub passkey: String,
    /// Added.
    pub created_at: i64,
    /// Last used.
    pub last_used_at: Option<i64>,
}

/// Which factor to revoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorKind {
    /// A TOTP authenticator.
    Totp,
    /// A passkey.
    Passkey,
}

/// How the account's failure counters stand after a failed sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureState {
    /// Consecutive failures.
    pub failed_attempts: i64,
    /// Whether the account is now locked.
    pub locked: bool,
}

/// Counts of accounts, for the operator's overview.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccountCounts {
    /// Accounts.
    pub registered: i64,
    /// Suspended accounts.
    pub suspended: i64,
    /// Locked accounts.
    pub locked: i64,
    /// Invitations still open.
    pub invited: i64,
}

fn new_id() -> String {
    Uuid::now_v7().to_string()
}

impl Store {
    /// Number of accounts.
    pub async fn user_count(&self) -> Result<i64> {
        Ok(on_db!(self, pool => sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(pool).await?))
    }

    /// Makes a new bootstrap link, withdrawing earlier ones — only while no account exists.
    pub async fn create_bootstrap_link(&self, token_hash: &str, now: i64, expires_at: i64) -> Result<()> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&mut *tx).await?;
            if users > 0 {
                return Err(StoreError::Conflict("accounts exist: bootstrap is over".into()));
            }
            sqlx::query("UPDATE links SET withdrawn_at = $1 WHERE purpose = 'bootstrap' AND used_at IS NULL AND withdrawn_at IS NULL")
                .bind(now)
                .execute(&mut *tx)
                .await?;
            insert_link!(&mut *tx, &NewLink {
                token_hash,
                purpose: LinkPurpose::Bootstrap,
                email: None,
                display_name: None,
                user_id: None,
                created_by: None,
                now,
                expires_at,
            });
            tx.commit().await?;
        });
        Ok(())
    }

    /// Invites people, all in one transaction: for each, withdraws any open invitation to the
    /// same address and adds this one. Refused (nothing written) if an address already has an
    /// account. Returns the new links' ids. Appends `audit` once per invitation (target
    /// `invitation:<id>`) in the same transaction.
    pub async fn create_invitations(&self, links: &[NewLink<'_>], audit: &AuditNote) -> Result<Vec<String>> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let mut ids = Vec::with_capacity(links.len());
            for link in links {
                let email = link.email.ok_or_else(|| StoreError::Conflict("an invitation needs an address".into()))?;
                let exists: Option<String> =
                    sqlx::query_scalar("SELECT id FROM users WHERE email = $1").bind(email).fetch_optional(&mut *tx).await?;
                if exists.is_some() {
                    return Err(StoreError::Conflict("that address already has an account".into()));
                }
                sqlx::query(
                    "UPDATE links SET withdrawn_at = $1 WHERE purpose = 'invitation' AND email = $2 \
                     AND used_at IS NULL AND withdrawn_at IS NULL",
                )
                .bind(link.now)
                .bind(email)
                .execute(&mut *tx)
                .await?;
                ids.push(insert_link!(&mut *tx, link));
            }
            append_in_tx(&mut *tx, &per_id(audit, "invitation", &ids)).await?;
            tx.commit().await?;
            Ok(ids)
        })
    }

    /// Starts a password reset for an account: withdraws earlier open resets and adds this one,
    /// with its audit events.
    pub async fn create_reset(&self, link: &NewLink<'_>, audit: &[AuditNote]) -> Result<String> {
        let user = link.user_id.ok_or_else(|| StoreError::Conflict("a reset needs an account".into()))?;
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "UPDATE links SET withdrawn_at = $1 WHERE purpose = 'reset' AND user_id = $2 \
                 AND used_at IS NULL AND withdrawn_at IS NULL",
            )
            .bind(link.now)
            .bind(user)
            .execute(&mut *tx)
            .await?;
            let id = insert_link!(&mut *tx, link);
            append_in_tx(&mut *tx, audit).await?;
            tx.commit().await?;
            Ok(id)
        })
    }

    /// The link whose token hashes to `token_hash`, if it can still be used at `now`.
    pub async fn live_link(&self, token_hash: &str, now: i64) -> Result<Option<LiveLink>> {
        let row: Option<LinkTuple> = on_db!(self, pool => {
            sqlx::query_as(
                "SELECT id, purpose, email, display_name, user_id, expires_at FROM links \
                 WHERE token_hash = $1 AND used_at IS NULL AND withdrawn_at IS NULL AND expires_at > $2",
            )
            .bind(token_hash)
            .bind(now)
            .fetch_optional(pool)
            .await?
        });
        row.map(|(id, purpose, email, display_name, user_id, expires_at)| {
            Ok(LiveLink { id, purpose: LinkPurpose::from_code(&purpose)?, email, display_name, user_id, expires_at })
        })
        .transpose()
    }

    /// Stores an invitation to become a platform operator (`tessera operator invite`): refused if
    /// the address already has an account. Returns the link's id. Appends `audit` with the
    /// target `invitation:<id>` in the same transaction.
    pub async fn create_operator_invitation(&self, link: &NewLink<'_>, audit: &AuditNote) -> Result<String> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let taken: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
                .bind(link.email)
                .fetch_optional(&mut *tx)
                .await?;
            if taken.is_some() {
                return Err(StoreError::Conflict("that address already has an account".into()));
            }
            let id = insert_link!(&mut *tx, link);
            sqlx::query("UPDATE links SET role = 'operator' WHERE id = $1").bind(&id).execute(&mut *tx).await?;
            append_in_tx(&mut *tx, &per_id(audit, "invitation", std::slice::from_ref(&id))).await?;
            tx.commit().await?;
            Ok(id)
        })
    }

    /// Uses a bootstrap or invitation link: creates the account with its password, marks the
    /// link used — one transaction, and only if the link is still live (and, for bootstrap, no
    /// account exists yet). Bootstrap makes a platform operator with the given address and name;
    /// an invitation uses the invited address and name. Returns the new account's id. Appends
    /// `audit` in the same transaction, as done by the new account (actor and target
    /// `user:<id>`).
    pub async fn accept_link(
        &self,
        token_hash: &str,
        bootstrap_identity: Option<(&str, &str)>,
        password_hash: &str,
        now: i64,
        audit: &AuditNote,
    ) -> Result<String> {
        let id = new_id();
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            type LinkTuple = (String, String, Option<String>, Option<String>, Option<String>, Option<String>);
            let link: Option<LinkTuple> = sqlx::query_as(
                "SELECT id, purpose, email, display_name, role, registry_id FROM links \
                 WHERE token_hash = $1 AND used_at IS NULL AND withdrawn_at IS NULL AND expires_at > $2",
            )
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((link_id, purpose, email, name, link_role, link_registry)) = link else {
                return Err(StoreError::NotFound("link".into()));
            };
            let (email, name, role) = match (LinkPurpose::from_code(&purpose)?, bootstrap_identity) {
                (LinkPurpose::Bootstrap, Some((email, name))) => {
                    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&mut *tx).await?;
                    if users > 0 {
                        return Err(StoreError::NotFound("link".into()));
                    }
                    (email.to_owned(), name.to_owned(), Some("operator"))
                }
                (LinkPurpose::Invitation, None) => (
                    email.ok_or_else(|| StoreError::Corrupt("invitation without address".into()))?,
                    name.ok_or_else(|| StoreError::Corrupt("invitation without name".into()))?,
                    // An operator invitation (made on the server's command line) names no registry.
                    (link_role.as_deref() == Some("operator") && link_registry.is_none()).then_some("operator"),
                ),
                _ => return Err(StoreError::NotFound("link".into())),
            };
            let taken: Option<String> =
                sqlx::query_scalar("SELECT id FROM users WHERE email = $1").bind(&email).fetch_optional(&mut *tx).await?;
            if taken.is_some() {
                return Err(StoreError::Conflict("that address already has an account".into()));
            }
            sqlx::query(
                "INSERT INTO users (id, email, display_name, password_hash, platform_role, status, created_at) \
                 VALUES ($1, $2, $3, $4, $5, 'active', $6)",
            )
            .bind(&id)
            .bind(&email)
            .bind(&name)
            .bind(password_hash)
            .bind(role)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE links SET used_at = $1, user_id = $2 WHERE id = $3")
                .bind(now)
                .bind(&id)
                .bind(&link_id)
                .execute(&mut *tx)
                .await?;
            crate::requests::request_from_link!(&mut *tx, &link_id, &id, now);
            let mut note = audit.clone().target(format!("user:{id}"));
            note.actor = crate::AuditActor::User(id.clone());
            append_in_tx(&mut *tx, &[note]).await?;
            tx.commit().await?;
        });
        Ok(id)
    }

    /// Uses a reset link: sets the new password, clears failures and the lock, ends every
    /// session of the account, marks the link used — one transaction. Returns the account id.
    /// Appends `audit` (as done by the account, target `user:<id>`) in the same transaction.
    pub async fn complete_reset(
        &self,
        token_hash: &str,
        password_hash: &str,
        now: i64,
        audit: &AuditNote,
    ) -> Result<String> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let link: Option<(String, Option<String>)> = sqlx::query_as(
                "SELECT id, user_id FROM links WHERE token_hash = $1 AND purpose = 'reset' \
                 AND used_at IS NULL AND withdrawn_at IS NULL AND expires_at > $2",
            )
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((link_id, Some(user))) = link else {
                return Err(StoreError::NotFound("link".into()));
            };
            sqlx::query(
                "UPDATE users SET password_hash = $1, failed_attempts = 0, next_attempt_at = 0, locked = FALSE \
                 WHERE id = $2",
            )
            .bind(password_hash)
            .bind(&user)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(&user).execute(&mut *tx).await?;
            sqlx::query("UPDATE links SET used_at = $1 WHERE id = $2").bind(now).bind(&link_id).execute(&mut *tx).await?;
            let mut note = audit.clone().target(format!("user:{user}"));
            note.actor = crate::AuditActor::User(user.clone());
            append_in_tx(&mut *tx, &[note]).await?;
            tx.commit().await?;
            Ok(user)
        })
    }

    /// Open invitations (not used, withdrawn or expired), newest first: (id, email, name, expires).
    pub async fn open_invitations(&self, now: i64) -> Result<Vec<(String, String, String, i64)>> {
        Ok(on_db!(self, pool => {
            sqlx::query_as(
                "SELECT id, email, display_name, expires_at FROM links WHERE purpose = 'invitation' \
                 AND used_at IS NULL AND withdrawn_at IS NULL AND expires_at > $1 ORDER BY created_at DESC, id",
            )
            .bind(now)
            .fetch_all(pool)
            .await?
        }))
    }

    /// The account with this (normalised) address.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRow>> {
        let row: Option<UserTuple> = on_db!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1")))
                .bind(email)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(user_from_tuple))
    }

    /// The account with this id.
    pub async fn user(&self, id: &str) -> Result<Option<UserRow>> {
        let row: Option<UserTuple> = on_db!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1")))
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(user_from_tuple))
    }

    /// Every account, by name.
    pub async fn users(&self) -> Result<Vec<UserRow>> {
        let rows: Vec<UserTuple> = on_db!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users ORDER BY display_name, id")))
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(user_from_tuple).collect())
    }

    /// Counts a failed sign-in: one more consecutive failure, the next attempt not before
    /// `now + delay(failures)`, locked once failures reach `lock_after`. Atomic, with `audit`
    /// and, when this failure locks the account, `if_locked` appended in the same transaction.
    pub async fn record_sign_in_failure(
        &self,
        user_id: &str,
        now: i64,
        delay: impl Fn(i64) -> i64,
        lock_after: i64,
        audit: &[AuditNote],
        if_locked: &[AuditNote],
    ) -> Result<FailureState> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let failed: i64 = sqlx::query_scalar(
                "UPDATE users SET failed_attempts = failed_attempts + 1 WHERE id = $1 RETURNING failed_attempts",
            )
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
            let locked = failed >= lock_after;
            sqlx::query("UPDATE users SET next_attempt_at = $1, locked = (locked OR $2) WHERE id = $3")
                .bind(now + delay(failed))
                .bind(locked)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            append_in_tx(&mut *tx, audit).await?;
            if locked {
                append_in_tx(&mut *tx, if_locked).await?;
            }
            tx.commit().await?;
            Ok(FailureState { failed_attempts: failed, locked })
        })
    }

    /// A successful first sign-in step (a password, or a passwordless passkey): clears the
    /// failure counters (a passkey sign-in also unlocks), records the time, starts the session
    /// and appends `audit` — one transaction.
    pub async fn start_signed_in_session(&self, s: &NewSession<'_>, unlock: bool, audit: &[AuditNote]) -> Result<()> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "UPDATE users SET failed_attempts = 0, next_attempt_at = 0, last_sign_in_at = $1, \
                 locked = CASE WHEN $2 THEN FALSE ELSE locked END WHERE id = $3",
            )
            .bind(s.now)
            .bind(unlock)
            .bind(s.user_id)
            .execute(&mut *tx)
            .await?;
            insert_session!(&mut *tx, s);
            append_in_tx(&mut *tx, audit).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// A second factor passed (or the first one enrolled): the session becomes fully signed in
    /// with the check's time, the failure counters are cleared and `audit` appended — one
    /// transaction.
    pub async fn pass_second_factor(&self, id_hash: &str, user_id: &str, now: i64, audit: &[AuditNote]) -> Result<()> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("UPDATE sessions SET stage = $1, mfa_at = $2, ceremony = NULL WHERE id_hash = $3")
                .bind(SessionStage::Full.code())
                .bind(now)
                .bind(id_hash)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE users SET failed_attempts = 0, next_attempt_at = 0, last_sign_in_at = $1 WHERE id = $2",
            )
            .bind(now)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
            append_in_tx(&mut *tx, audit).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Failed sign-ins from `client_ip` in the window starting at `window_start`.
    pub async fn address_failures(&self, client_ip: &str, window_start: i64) -> Result<i64> {
        let n: Option<i64> = on_db!(self, pool => {
            sqlx::query_scalar("SELECT failures FROM address_failures WHERE client_ip = $1 AND window_start = $2")
                .bind(client_ip)
                .bind(window_start)
                .fetch_optional(pool)
                .await?
        });
        Ok(n.unwrap_or(0))
    }

    /// Counts a failed sign-in from `client_ip`, forgets windows older than `forget_before`, and
    /// appends `audit` — one transaction.
    pub async fn add_address_failure(
        &self,
        client_ip: &str,
        window_start: i64,
        forget_before: i64,
        audit: &[AuditNote],
    ) -> Result<()> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO address_failures (client_ip, window_start, failures) VALUES ($1, $2, 1) \
                 ON CONFLICT (client_ip, window_start) DO UPDATE SET failures = address_failures.failures + 1",
            )
            .bind(client_ip)
            .bind(window_start)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM address_failures WHERE window_start < $1").bind(forget_before).execute(&mut *tx).await?;
            append_in_tx(&mut *tx, audit).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The person's own password change (after checking the old one): sets the new hash, ends
    /// every other session of the account and appends `audit` — one transaction.
    pub async fn change_password(
        &self,
        user_id: &str,
        password_hash: &str,
        keep_session: &str,
        audit: &[AuditNote],
    ) -> Result<()> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(password_hash)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
                .bind(user_id)
                .bind(keep_session)
                .execute(&mut *tx)
                .await?;
            append_in_tx(&mut *tx, audit).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    // ----- second factors -----

    /// Adds an unconfirmed TOTP factor; returns its id.
    pub async fn add_totp(&self, user_id: &str, label: &str, sealed_secret: &[u8], now: i64) -> Result<String> {
        let id = new_id();
        on_db!(self, pool => {
            sqlx::query(
                "INSERT INTO totp_factors (id, user_id, label, sealed_secret, confirmed, created_at) \
                 VALUES ($1, $2, $3, $4, FALSE, $5)",
            )
            .bind(&id)
            .bind(user_id)
            .bind(label)
            .bind(sealed_secret)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(id)
    }

    /// The account's TOTP factors, oldest first.
    pub async fn totp_factors(&self, user_id: &str) -> Result<Vec<TotpRow>> {
        let rows: Vec<TotpTuple> = on_db!(self, pool => {
            sqlx::query_as(
                "SELECT id, label, sealed_secret, confirmed, last_step, created_at, last_used_at FROM totp_factors \
                 WHERE user_id = $1 ORDER BY created_at, id",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, label, sealed_secret, confirmed, last_step, created_at, last_used_at)| TotpRow {
                id,
                label,
                sealed_secret,
                confirmed,
                last_step,
                created_at,
                last_used_at,
            })
            .collect())
    }

    /// Spends the TOTP time step `step` of a factor: succeeds only if no code of this or a later
    /// step was accepted before (a code works once), and confirms the factor. Atomic; on success
    /// `audit` is appended in the same transaction (an enrolment's event).
    pub async fn spend_totp_step(
        &self,
        user_id: &str,
        factor_id: &str,
        step: i64,
        now: i64,
        audit: &[AuditNote],
    ) -> Result<bool> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query(
                "UPDATE totp_factors SET last_step = $1, last_used_at = $2, confirmed = TRUE \
                 WHERE id = $3 AND user_id = $4 AND last_step < $1",
            )
            .bind(step)
            .bind(now)
            .bind(factor_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n != 1 {
                return Ok(false);
            }
            append_in_tx(&mut *tx, audit).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Adds a passkey, with its enrolment's audit events.
    pub async fn add_passkey(
        &self,
        user_id: &str,
        credential_id: &str,
        label: &str,
        passkey: &str,
        now: i64,
        audit: &[AuditNote],
    ) -> Result<String> {
        let id = new_id();
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO passkeys (id, user_id, credential_id, label, passkey, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&id)
            .bind(user_id)
            .bind(credential_id)
            .bind(label)
            .bind(passkey)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            append_in_tx(&mut *tx, audit).await?;
            tx.commit().await?;
        });
        Ok(id)
    }

    /// The account's passkeys, oldest first.
    pub async fn passkeys(&self, user_id: &str) -> Result<Vec<PasskeyRow>> {
        let rows: Vec<PasskeyTuple> = on_db!(self, pool => {
            sqlx::query_as(
                "SELECT id, user_id, credential_id, label, passkey, created_at, last_used_at FROM passkeys \
                 WHERE user_id = $1 ORDER BY created_at, id",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(passkey_row).collect())
    }

    /// The passkey with this credential id.
    pub async fn passkey_by_credential(&self, credential_id: &str) -> Result<Option<PasskeyRow>> {
        let row: Option<PasskeyTuple> = on_db!(self, pool => {
            sqlx::query_as(
                "SELECT id, user_id, credential_id, label, passkey, created_at, last_used_at FROM passkeys \
                 WHERE credential_id = $1",
            )
            .bind(credential_id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(passkey_row))
    }

    /// Records a passkey's use, with its updated state (signature counter).
    pub async fn passkey_used(&self, id: &str, passkey: &str, now: i64) -> Result<()> {
        on_db!(self, pool => {
            sqlx::query("UPDATE passkeys SET passkey = $1, last_used_at = $2 WHERE id = $3")
                .bind(passkey)
                .bind(now)
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Number of confirmed factors (TOTP and passkeys) of an account.
    pub async fn factor_count(&self, user_id: &str) -> Result<i64> {
        Ok(on_db!(self, pool => {
            sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM totp_factors WHERE user_id = $1 AND confirmed) \
                      + (SELECT COUNT(*) FROM passkeys WHERE user_id = $1)",
            )
            .bind(user_id)
            .fetch_one(pool)
            .await?
        }))
    }

    /// Revokes a factor of an account, unless it is the last confirmed one (an account always
    /// keeps a second factor; without one, a stolen password could enrol the thief's). Unconfirmed
    /// TOTP factors can always go. Returns whether one was removed.
    /// `audit` is appended in the same transaction when a factor goes.
    pub async fn revoke_factor(&self, user_id: &str, kind: FactorKind, id: &str, audit: &[AuditNote]) -> Result<bool> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let count: i64 = sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM totp_factors WHERE user_id = $1 AND confirmed) \
                      + (SELECT COUNT(*) FROM passkeys WHERE user_id = $1)",
            )
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
            let (confirmed_sql, delete_sql) = match kind {
                FactorKind::Totp => (
                    "SELECT confirmed FROM totp_factors WHERE id = $1 AND user_id = $2",
                    "DELETE FROM totp_factors WHERE id = $1 AND user_id = $2",
                ),
                FactorKind::Passkey => (
                    "SELECT TRUE FROM passkeys WHERE id = $1 AND user_id = $2",
                    "DELETE FROM passkeys WHERE id = $1 AND user_id = $2",
                ),
            };
            let confirmed: Option<bool> =
                sqlx::query_scalar(confirmed_sql).bind(id).bind(user_id).fetch_optional(&mut *tx).await?;
            match confirmed {
                None => return Ok(false),
                Some(true) if count <= 1 => {
                    return Err(StoreError::Conflict("the last second factor cannot be removed".into()));
                }
                Some(_) => {}
            }
            sqlx::query(delete_sql).bind(id).bind(user_id).execute(&mut *tx).await?;
            append_in_tx(&mut *tx, audit).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Replaces the account's recovery codes with these keyed hashes, appending `audit` in the
    /// same transaction.
    pub async fn replace_recovery_codes(
        &self,
        user_id: &str,
        code_hashes: &[String],
        now: i64,
        audit: &[AuditNote],
    ) -> Result<()> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
            for hash in code_hashes {
                sqlx::query("INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)")
                    .bind(user_id)
                    .bind(hash)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            append_in_tx(&mut *tx, audit).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Spends a recovery code: succeeds once per code. Atomic.
    pub async fn spend_recovery_code(&self, user_id: &str, code_hash: &str, now: i64) -> Result<bool> {
        let n = on_db!(self, pool => {
            sqlx::query("UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL")
                .bind(now)
                .bind(user_id)
                .bind(code_hash)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n == 1)
    }

    /// Unused recovery codes of an account.
    pub async fn recovery_codes_left(&self, user_id: &str) -> Result<i64> {
        Ok(on_db!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL")
                .bind(user_id)
                .fetch_one(pool)
                .await?
        }))
    }

    // ----- sessions -----

    /// Starts a session.
    pub async fn create_session(&self, s: &NewSession<'_>) -> Result<()> {
        on_db!(self, pool => {
            insert_session!(pool, s);
        });
        Ok(())
    }

    /// The session with this id hash, with its account.
    pub async fn session(&self, id_hash: &str) -> Result<Option<SessionRow>> {
        let row: Option<SessionTuple> = on_db!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{SESSION_SELECT} WHERE s.id_hash = $1")))
                .bind(id_hash)
                .fetch_optional(pool)
                .await?
        });
        row.map(session_from_tuple).transpose()
    }

    /// Records activity on a session.
    pub async fn touch_session(&self, id_hash: &str, now: i64) -> Result<()> {
        on_db!(self, pool => {
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
                .bind(now)
                .bind(id_hash)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Moves a session on (or back), optionally recording a second-factor check at `mfa_at`.
    pub async fn set_session_stage(&self, id_hash: &str, stage: SessionStage, mfa_at: Option<i64>) -> Result<()> {
        on_db!(self, pool => {
            sqlx::query("UPDATE sessions SET stage = $1, mfa_at = COALESCE($2, mfa_at), ceremony = NULL WHERE id_hash = $3")
                .bind(stage.code())
                .bind(mfa_at)
                .bind(id_hash)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Keeps (or clears) a WebAuthn ceremony's state on a session.
    pub async fn set_session_ceremony(&self, id_hash: &str, ceremony: Option<&str>) -> Result<()> {
        on_db!(self, pool => {
            sqlx::query("UPDATE sessions SET ceremony = $1 WHERE id_hash = $2")
                .bind(ceremony)
                .bind(id_hash)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Signs a session out, appending `audit` in the same transaction. Returns whether it existed.
    pub async fn sign_out(&self, id_hash: &str, audit: &[AuditNote]) -> Result<bool> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash).execute(&mut *tx).await?.rows_affected();
            if n == 1 {
                append_in_tx(&mut *tx, audit).await?;
            }
            tx.commit().await?;
            Ok(n == 1)
        })
    }

    /// Ends one session (expired, or its account gone). Returns whether it existed.
    pub async fn end_session(&self, id_hash: &str) -> Result<bool> {
        let n = on_db!(self, pool => {
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash).execute(pool).await?.rows_affected()
        });
        Ok(n == 1)
    }

    /// Ends one of an account's own sessions. Returns whether it existed.
    pub async fn end_own_session(&self, user_id: &str, id_hash: &str) -> Result<bool> {
        let n = on_db!(self, pool => {
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1 AND user_id = $2")
                .bind(id_hash)
                .bind(user_id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n == 1)
    }

    /// Ends every session of an account.
    pub async fn end_user_sessions(&self, user_id: &str) -> Result<u64> {
        Ok(on_db!(self, pool => {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(pool).await?.rows_affected()
        }))
    }

    /// An account's sessions, newest first.
    pub async fn user_sessions(&self, user_id: &str) -> Result<Vec<SessionRow>> {
        let rows: Vec<SessionTuple> = on_db!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{SESSION_SELECT} WHERE s.user_id = $1 ORDER BY s.created_at DESC, s.id_hash"
            )))
            .bind(user_id)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(session_from_tuple).collect()
    }

    /// Deletes sessions idle since before `idle_before` or created before `created_before`, and
    /// expired ceremonies. Returns how many sessions went.
    pub async fn purge_sessions(&self, idle_before: i64, created_before: i64, now: i64) -> Result<u64> {
        on_db!(self, pool => {
            let n = sqlx::query("DELETE FROM sessions WHERE last_seen_at < $1 OR created_at < $2")
                .bind(idle_before)
                .bind(created_before)
                .execute(pool)
                .await?
                .rows_affected();
            sqlx::query("DELETE FROM ceremonies WHERE expires_at < $1").bind(now).execute(pool).await?;
            Ok(n)
        })
    }

    /// Keeps a ceremony that happens before sign-in (passkey sign-in).
    pub async fn put_ceremony(&self, id_hash: &str, state: &str, expires_at: i64) -> Result<()> {
        on_db!(self, pool => {
            sqlx::query("INSERT INTO ceremonies (id_hash, state, expires_at) VALUES ($1, $2, $3)")
                .bind(id_hash)
                .bind(state)
                .bind(expires_at)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Takes (and deletes) a pre-sign-in ceremony, if it has not expired. Each works once.
    pub async fn take_ceremony(&self, id_hash: &str, now: i64) -> Result<Option<String>> {
        Ok(on_db!(self, pool => {
            sqlx::query_scalar("DELETE FROM ceremonies WHERE id_hash = $1 AND expires_at > $2 RETURNING state")
                .bind(id_hash)
                .bind(now)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Accounts and open invitations, for the operator's overview.
    pub async fn account_counts(&self, now: i64) -> Result<AccountCounts> {
        let (registered, suspended, locked): (i64, i64, i64) = on_db!(self, pool => {
            sqlx::query_as(
                "SELECT COUNT(*), COALESCE(SUM(CASE WHEN status = 'suspended' THEN 1 ELSE 0 END), 0), \
                 COALESCE(SUM(CASE WHEN locked THEN 1 ELSE 0 END), 0) FROM users",
            )
            .fetch_one(pool)
            .await?
        });
        let invited = self.open_invitations(now).await?.len() as i64;
        Ok(AccountCounts { registered, suspended, locked, invited })
    }
}

const SESSION_SELECT: &str = "SELECT s.id_hash, s.user_id, s.stage, s.created_at, s.last_seen_at, s.mfa_at, \
     s.client_ip, s.user_agent, s.ceremony, u.display_name, u.email, u.platform_role, u.status \
     FROM sessions s JOIN users u ON u.id = s.user_id";

type SessionTuple = (
    String,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    String,
    String,
    Option<String>,
    String,
    String,
    Option<String>,
    String,
);

fn session_from_tuple(r: SessionTuple) -> Result<SessionRow> {
    Ok(SessionRow {
        id_hash: r.0,
        user_id: r.1,
        stage: SessionStage::from_code(&r.2)?,
        created_at: r.3,
        last_seen_at: r.4,
        mfa_at: r.5,
        client_ip: r.6,
        user_agent: r.7,
        ceremony: r.8,
        display_name: r.9,
        email: r.10,
        platform_role: r.11,
        status: r.12,
    })
}

type LinkTuple = (String, String, Option<String>, Option<String>, Option<String>, i64);
type TotpTuple = (String, String, Vec<u8>, bool, i64, i64, Option<i64>);
type PasskeyTuple = (String, String, String, String, String, i64, Option<i64>);

fn passkey_row((id, user_id, credential_id, label, passkey, created_at, last_used_at): PasskeyTuple) -> PasskeyRow {
    PasskeyRow { id, user_id, credential_id, label, passkey, created_at, last_used_at }
}
