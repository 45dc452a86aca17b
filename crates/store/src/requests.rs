//! The access workflow's storage: requests for access and each approver's decision, the grant an
//! approved request creates, recertification and revocation, reactivation of dormant accounts,
//! invitations that propose a grant, and the platform's registered/active/suspended counts.
//!
//! Deciding a request is one transaction that first takes the request's row (a no-op `UPDATE` on
//! a pending row, so PostgreSQL locks it and SQLite's `IMMEDIATE` transaction serialises it):
//! two approvers racing are decided one after the other, so one approval completes the request
//! and creates the grant, and the other finds it decided. Times are unix seconds from the caller.

use tessera_domain::access::Role;
use uuid::Uuid;

use crate::audit::append_in_tx;
use crate::{AuditNote, BeginWrite as _, NewLink, Result, Store, StoreError, on_db};

/// Turns the grant an invitation proposed into a pending request for the account just made from
/// it. Used inside `accept_link`'s transaction; inserts nothing when the link proposes nothing.
macro_rules! request_from_link {
    ($exec:expr, $link_id:expr, $user_id:expr, $now:expr) => {
        sqlx::query(
            "INSERT INTO access_requests (id, user_id, registry_id, role, organisation, justification, origin, \
             proposed_by, status, created_at) \
             SELECT $1, $2, registry_id, role, organisation, 'Proposed in the invitation', 'invitation', created_by, \
             'pending', $3 FROM links WHERE id = $4 AND registry_id IS NOT NULL AND role IS NOT NULL",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind($user_id)
        .bind($now)
        .bind($link_id)
        .execute($exec)
        .await?
    };
}
pub(crate) use request_from_link;

/// A new request for access.
#[derive(Debug, Clone)]
pub struct NewRequest<'a> {
    /// Who asks.
    pub user_id: &'a str,
    /// The registry.
    pub registry_id: &'a str,
    /// The role's stored name.
    pub role: Role,
    /// The organisation, or `None` for all.
    pub organisation: Option<&'a str>,
    /// Why, in the requester's words.
    pub justification: &'a str,
    /// Now.
    pub now: i64,
}

/// A request, with its requester and how many approvals it has.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RequestRow {
    /// Its id.
    pub id: String,
    /// The requester.
    pub user_id: String,
    /// The requester's name.
    pub user_name: String,
    /// The requester's address.
    pub user_email: String,
    /// The registry.
    pub registry_id: String,
    /// The role's stored name.
    pub role: String,
    /// The organisation, or `None` for all.
    pub organisation: Option<String>,
    /// Why.
    pub justification: String,
    /// `request` or `invitation`.
    pub origin: String,
    /// `pending`, `approved`, `refused` or `withdrawn`.
    pub status: String,
    /// When it was made.
    pub created_at: i64,
    /// When it was decided.
    pub decided_at: Option<i64>,
    /// The deciding approver's reason.
    pub decision_reason: Option<String>,
    /// Approvals so far.
    pub approvals: i64,
}

/// A grant as a registry's controller sees it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RegistryGrantRow {
    /// The grant's id.
    pub id: String,
    /// The holder.
    pub user_id: String,
    /// The holder's name.
    pub user_name: String,
    /// The holder's address.
    pub user_email: String,
    /// The holder's account status.
    pub user_status: String,
    /// The role's stored name.
    pub role: String,
    /// The organisation, or `None` for all.
    pub organisation: Option<String>,
    /// When it was granted.
    pub granted_at: i64,
    /// When it lapses.
    pub expires_at: i64,
    /// When it was last recertified.
    pub recertified_at: Option<i64>,
}

/// An account suspended for dormancy that held a grant in a registry.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DormantUserRow {
    /// The account.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its address.
    pub email: String,
    /// When it was suspended.
    pub suspended_at: Option<i64>,
}

/// One approver's decision on a request.
#[derive(Debug, Clone)]
pub struct Decision<'a> {
    /// The request.
    pub request_id: &'a str,
    /// The registry the approver manages; `None` on the operators' path (a controller request
    /// of a registry with fewer than two controllers).
    pub registry_id: Option<&'a str>,
    /// Who decides.
    pub approver_id: &'a str,
    /// Approve (true) or refuse.
    pub approve: bool,
    /// Why.
    pub reason: &'a str,
    /// Now.
    pub now: i64,
    /// When the grant lapses, if this approval completes the request.
    pub grant_expires_at: i64,
}

/// What a decision did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecisionOutcome {
    /// The request is refused.
    Refused {
        /// The requester.
        user_id: String,
    },
    /// Approved by this approver; more approvals are needed.
    Awaiting {
        /// Approvals so far.
        approvals: i64,
        /// Approvals needed.
        needed: i64,
    },
    /// The last approval: the grant is made.
    Granted {
        /// The requester.
        user_id: String,
        /// The new grant.
        grant_id: String,
    },
}

/// Registered, active, suspended and invited-not-accepted, overall or for one registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccessCounts {
    /// Accounts (for a registry: with any grant or a pending request there).
    pub registered: i64,
    /// Of those, active and signed in since the cut-off.
    pub active: i64,
    /// Of those, suspended.
    pub suspended: i64,
    /// Open, unexpired invitations (for a registry: proposing a grant there).
    pub invited: i64,
}

/// The platform's dashboard: overall and per registry (id, name, counts).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccessDashboard {
    /// Every account.
    pub overall: AccessCounts,
    /// Each registry, by id.
    pub registries: Vec<(String, String, AccessCounts)>,
}

/// The grant an invitation proposes.
#[derive(Debug, Clone)]
pub struct ProposedGrant<'a> {
    /// The registry.
    pub registry_id: &'a str,
    /// The role.
    pub role: Role,
    /// The organisation, or `None` for all.
    pub organisation: Option<&'a str>,
}

const REQUEST_SELECT: &str = "SELECT r.id, r.user_id, u.display_name AS user_name, u.email AS user_email, \
     r.registry_id, r.role, r.organisation, r.justification, r.origin, r.status, r.created_at, r.decided_at, \
     r.decision_reason, (SELECT COUNT(*) FROM request_approvals a WHERE a.request_id = r.id AND a.decision = 'approve') \
     AS approvals FROM access_requests r JOIN users u ON u.id = r.user_id";

const GRANT_SELECT: &str = "SELECT g.id, g.user_id, u.display_name AS user_name, u.email AS user_email, \
     u.status AS user_status, g.role, g.organisation, g.granted_at, g.expires_at, g.recertified_at \
     FROM grants g JOIN users u ON u.id = g.user_id";

/// Live registry-wide controllers of a registry ($1) at $2; used inside transactions too.
const LIVE_CONTROLLERS: &str = "SELECT COUNT(*) FROM grants g JOIN users u ON u.id = g.user_id \
     WHERE g.registry_id = $1 AND g.role = 'controller' AND g.organisation IS NULL AND g.revoked_at IS NULL \
     AND g.expires_at > $2 AND u.status = 'active'";

/// What the dashboard reads: accounts (status, last sign-in); registry members (registry,
/// status, last sign-in); registries (id, name); open invitations; and those per registry.
type DashboardRows =
    (Vec<(String, Option<i64>)>, Vec<(String, String, Option<i64>)>, Vec<(String, String)>, i64, Vec<(String, i64)>);

fn new_id() -> String {
    Uuid::now_v7().to_string()
}

/// `notes`, each aimed at `target` (a pseudonymous reference the store just learned, such as a
/// new row's id).
pub(crate) fn aimed(notes: &[AuditNote], target: &str) -> Vec<AuditNote> {
    notes.iter().map(|n| n.clone().target(target)).collect()
}

impl Store {
    /// Records a request for access, with `audit` (each note aimed at `request:<id>`) in the
    /// same transaction. Refused as a conflict if the same request is already pending; not found
    /// if the registry or organisation does not exist.
    pub async fn insert_access_request(&self, r: &NewRequest<'_>, audit: &[AuditNote]) -> Result<String> {
        let id = new_id();
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let known: Option<String> = sqlx::query_scalar("SELECT id FROM registries WHERE id = $1")
                .bind(r.registry_id)
                .fetch_optional(&mut *tx)
                .await?;
            if known.is_none() {
                return Err(StoreError::NotFound("registry".into()));
            }
            if let Some(org) = r.organisation {
                let known: Option<String> = sqlx::query_scalar("SELECT ods_code FROM organisations WHERE ods_code = $1")
                    .bind(org)
                    .fetch_optional(&mut *tx)
                    .await?;
                if known.is_none() {
                    return Err(StoreError::NotFound("organisation".into()));
                }
            }
            let pending: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM access_requests WHERE user_id = $1 AND registry_id = $2 AND role = $3 \
                 AND COALESCE(organisation, '') = COALESCE($4, '') AND status = 'pending'",
            )
            .bind(r.user_id)
            .bind(r.registry_id)
            .bind(r.role.as_str())
            .bind(r.organisation)
            .fetch_one(&mut *tx)
            .await?;
            if pending > 0 {
                return Err(StoreError::Conflict("the same request is already waiting for a decision".into()));
            }
            sqlx::query(
                "INSERT INTO access_requests (id, user_id, registry_id, role, organisation, justification, origin, \
                 status, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'request', 'pending', $7)",
            )
            .bind(&id)
            .bind(r.user_id)
            .bind(r.registry_id)
            .bind(r.role.as_str())
            .bind(r.organisation)
            .bind(r.justification)
            .bind(r.now)
            .execute(&mut *tx)
            .await?;
            append_in_tx(&mut *tx, &aimed(audit, &format!("request:{id}"))).await?;
            tx.commit().await?;
        });
        Ok(id)
    }

    /// The requests `user_id` made (or was invited into), newest first.
    pub async fn requests_of_user(&self, user_id: &str) -> Result<Vec<RequestRow>> {
        let sql = format!("{REQUEST_SELECT} WHERE r.user_id = $1 ORDER BY r.created_at DESC, r.id");
        Ok(on_db!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(user_id).fetch_all(pool).await?
        }))
    }

    /// The pending requests of a registry, oldest first.
    pub async fn pending_requests(&self, registry_id: &str) -> Result<Vec<RequestRow>> {
        let sql =
            format!("{REQUEST_SELECT} WHERE r.registry_id = $1 AND r.status = 'pending' ORDER BY r.created_at, r.id");
        Ok(on_db!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(registry_id).fetch_all(pool).await?
        }))
    }

    /// Pending controller requests of registries with fewer than two live registry-wide
    /// controllers at `now`: the only requests platform operators decide (a registry's first
    /// controller needs two operators; its second, the first controller and an operator, since
    /// one controller alone can never make up the two approvals a controller grant needs).
    pub async fn first_controller_requests(&self, now: i64) -> Result<Vec<RequestRow>> {
        let sql = format!(
            "{REQUEST_SELECT} WHERE r.status = 'pending' AND r.role = 'controller' AND 2 > (\
             SELECT COUNT(*) FROM grants g JOIN users gu ON gu.id = g.user_id WHERE g.registry_id = r.registry_id \
             AND g.role = 'controller' AND g.organisation IS NULL AND g.revoked_at IS NULL AND g.expires_at > $1 \
             AND gu.status = 'active') ORDER BY r.registry_id, r.created_at, r.id"
        );
        Ok(on_db!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(now).fetch_all(pool).await?
        }))
    }

    /// Whether `registry_id` has a live registry-wide controller at `now`.
    pub async fn has_live_controller(&self, registry_id: &str, now: i64) -> Result<bool> {
        let n: i64 = on_db!(self, pool => {
            sqlx::query_scalar(LIVE_CONTROLLERS).bind(registry_id).bind(now).fetch_one(pool).await?
        });
        Ok(n > 0)
    }

    /// Records one approver's decision, and when it completes the request, the request's status
    /// and its grant — all in one transaction. A refusal by any approver refuses. Refused with
    /// [`StoreError::Conflict`] when the approver is the requester, has already decided, or the
    /// request is no longer pending; [`StoreError::NotFound`] when the request is not of the
    /// approver's registry (or, on the operators' path, is not for a controller or its registry
    /// already has two controllers).
    ///
    /// `audit` (the decision: `access.approve` or `access.decline`) is appended in the same
    /// transaction, each note aimed at `request:<id>` and given the request's registry and
    /// organisation; a decision that makes the grant appends a copy of each as `grant.create`,
    /// aimed at `grant:<id>`. A refused decision writes nothing, events included.
    pub async fn decide_request(&self, d: &Decision<'_>, audit: &[AuditNote]) -> Result<DecisionOutcome> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            // Take the row first, so racing approvers are decided one after the other.
            let locked = sqlx::query("UPDATE access_requests SET status = status WHERE id = $1 AND status = 'pending'")
                .bind(d.request_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let row: Option<(String, String, String, Option<String>)> = sqlx::query_as(
                "SELECT user_id, registry_id, role, organisation FROM access_requests WHERE id = $1",
            )
            .bind(d.request_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((user_id, registry_id, role, organisation)) = row else {
                return Err(StoreError::NotFound("request".into()));
            };
            let role = Role::parse(&role).ok_or_else(|| StoreError::Corrupt("request role".into()))?;
            match d.registry_id {
                Some(r) if r != registry_id => return Err(StoreError::NotFound("request".into())),
                Some(_) => {}
                None => {
                    let controllers: i64 =
                        sqlx::query_scalar(LIVE_CONTROLLERS).bind(&registry_id).bind(d.now).fetch_one(&mut *tx).await?;
                    if role != Role::Controller || controllers >= 2 {
                        return Err(StoreError::NotFound("request".into()));
                    }
                    // A registry that has a controller keeps a say: its second controller needs
                    // that controller and one operator, never two operators alone.
                    if controllers == 1 {
                        let by_operators: i64 = sqlx::query_scalar(
                            "SELECT COUNT(*) FROM request_approvals a JOIN users u ON u.id = a.approver_id \
                             WHERE a.request_id = $1 AND u.platform_role = 'operator'",
                        )
                        .bind(d.request_id)
                        .fetch_one(&mut *tx)
                        .await?;
                        if by_operators >= 1 {
                            return Err(StoreError::Conflict(
                                "an operator has already approved; the registry's controller must approve too".into(),
                            ));
                        }
                    }
                }
            }
            if locked == 0 {
                return Err(StoreError::Conflict("this request has already been decided".into()));
            }
            if user_id == d.approver_id {
                return Err(StoreError::Conflict("nobody may decide their own request".into()));
            }
            let recorded = sqlx::query(
                "INSERT INTO request_approvals (request_id, approver_id, decision, reason, decided_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (request_id, approver_id) DO NOTHING",
            )
            .bind(d.request_id)
            .bind(d.approver_id)
            .bind(if d.approve { "approve" } else { "refuse" })
            .bind(d.reason)
            .bind(d.now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if recorded == 0 {
                return Err(StoreError::Conflict("you have already decided this request; another approver must".into()));
            }
            let finish = |status: &'static str| {
                sqlx::query("UPDATE access_requests SET status = $1, decided_at = $2, decision_reason = $3 WHERE id = $4")
                    .bind(status)
                    .bind(d.now)
                    .bind(d.reason)
                    .bind(d.request_id)
            };
            let outcome = if !d.approve {
                finish("refused").execute(&mut *tx).await?;
                DecisionOutcome::Refused { user_id }
            } else {
                // Only approvals that would still be allowed now count: from people who are
                // live controllers of the registry, or operators while it has fewer than two
                // controllers; never from whoever proposed the grant in an invitation.
                let controllers: i64 =
                    sqlx::query_scalar(LIVE_CONTROLLERS).bind(&registry_id).bind(d.now).fetch_one(&mut *tx).await?;
                let approvals: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM request_approvals a JOIN users u ON u.id = a.approver_id \
                     WHERE a.request_id = $1 AND a.decision = 'approve' \
                     AND a.approver_id <> COALESCE((SELECT r.proposed_by FROM access_requests r WHERE r.id = $1), '') \
                     AND (EXISTS (SELECT 1 FROM grants g WHERE g.user_id = a.approver_id AND g.registry_id = $2 \
                                  AND g.role = 'controller' AND g.organisation IS NULL AND g.revoked_at IS NULL \
                                  AND g.expires_at > $3) \
                          OR (u.platform_role = 'operator' AND $4))",
                )
                .bind(d.request_id)
                .bind(&registry_id)
                .bind(d.now)
                .bind(controllers < 2)
                .fetch_one(&mut *tx)
                .await?;
                let needed = role.approvals_needed() as i64;
                if approvals < needed {
                    DecisionOutcome::Awaiting { approvals, needed }
                } else {
                    finish("approved").execute(&mut *tx).await?;
                    let grant_id = new_id();
                    sqlx::query(
                        "INSERT INTO grants (id, user_id, registry_id, role, organisation, request_id, granted_at, expires_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(&grant_id)
                    .bind(&user_id)
                    .bind(&registry_id)
                    .bind(role.as_str())
                    .bind(&organisation)
                    .bind(d.request_id)
                    .bind(d.now)
                    .bind(d.grant_expires_at)
                    .execute(&mut *tx)
                    .await?;
                    DecisionOutcome::Granted { user_id, grant_id }
                }
            };
            let about = |n: AuditNote, target: String| {
                let n = n.registry(registry_id.as_str()).target(target);
                match &organisation {
                    Some(o) => n.organisation(o.as_str()),
                    None => n,
                }
            };
            let mut notes: Vec<AuditNote> =
                audit.iter().map(|n| about(n.clone(), format!("request:{}", d.request_id))).collect();
            if let DecisionOutcome::Granted { grant_id, .. } = &outcome {
                for n in audit {
                    let mut made = about(n.clone(), format!("grant:{grant_id}"));
                    made.action = "grant.create".into();
                    notes.push(made);
                }
            }
            append_in_tx(&mut *tx, &notes).await?;
            tx.commit().await?;
            Ok(outcome)
        })
    }

    /// The grants of a registry live at `now`, by role and holder.
    pub async fn registry_grants(&self, registry_id: &str, now: i64) -> Result<Vec<RegistryGrantRow>> {
        let sql = format!(
            "{GRANT_SELECT} WHERE g.registry_id = $1 AND g.revoked_at IS NULL AND g.expires_at > $2 \
             ORDER BY g.role, u.display_name, g.id"
        );
        Ok(on_db!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(registry_id).bind(now).fetch_all(pool).await?
        }))
    }

    /// The live grants of a registry that lapse between `now` and `until`, soonest first.
    pub async fn expiring_grants(&self, registry_id: &str, now: i64, until: i64) -> Result<Vec<RegistryGrantRow>> {
        let sql = format!(
            "{GRANT_SELECT} WHERE g.registry_id = $1 AND g.revoked_at IS NULL AND g.expires_at > $2 \
             AND g.expires_at <= $3 ORDER BY g.expires_at, g.id"
        );
        Ok(on_db!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(registry_id).bind(now).bind(until).fetch_all(pool).await?
        }))
    }

    /// Extends the live grants `ids` of a registry to `expires_at`, recording who recertified them
    /// and when, in one transaction. A controller's own grants are left alone (nobody recertifies
    /// themselves). For each grant extended, a copy of each `audit` note aimed at `grant:<id>`
    /// is appended in the same transaction. Returns how many were extended.
    pub async fn recertify_grants(
        &self,
        registry_id: &str,
        ids: &[String],
        by: &str,
        now: i64,
        expires_at: i64,
        audit: &[AuditNote],
    ) -> Result<u64> {
        Ok(on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let mut n = 0;
            let mut notes = Vec::new();
            for id in ids {
                let done = sqlx::query(
                    "UPDATE grants SET expires_at = $1, recertified_at = $2, recertified_by = $3 WHERE id = $4 \
                     AND registry_id = $5 AND revoked_at IS NULL AND expires_at > $2 AND user_id <> $3",
                )
                .bind(expires_at)
                .bind(now)
                .bind(by)
                .bind(id)
                .bind(registry_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if done == 1 {
                    notes.extend(aimed(audit, &format!("grant:{id}")));
                }
                n += done;
            }
            append_in_tx(&mut *tx, &notes).await?;
            tx.commit().await?;
            n
        }))
    }

    /// Revokes a live grant of a registry, with `audit` in the same transaction (each note given
    /// the grant's organisation, if it has one). False, and nothing written, if there is no such
    /// live grant.
    pub async fn revoke_grant(
        &self,
        registry_id: &str,
        id: &str,
        by: &str,
        reason: &str,
        now: i64,
        audit: &[AuditNote],
    ) -> Result<bool> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let revoked: Option<(Option<String>,)> = sqlx::query_as(
                "UPDATE grants SET revoked_at = $1, revoked_by = $2, revoke_reason = $3 WHERE id = $4 \
                 AND registry_id = $5 AND revoked_at IS NULL RETURNING organisation",
            )
            .bind(now)
            .bind(by)
            .bind(reason)
            .bind(id)
            .bind(registry_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((organisation,)) = revoked else { return Ok(false) };
            let notes: Vec<AuditNote> = audit
                .iter()
                .map(|n| match &organisation {
                    Some(o) => n.clone().organisation(o.as_str()),
                    None => n.clone(),
                })
                .collect();
            append_in_tx(&mut *tx, &notes).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Accounts suspended for dormancy that hold or held a grant in a registry.
    pub async fn dormant_users_of(&self, registry_id: &str) -> Result<Vec<DormantUserRow>> {
        Ok(on_db!(self, pool => {
            sqlx::query_as(
                "SELECT u.id, u.display_name AS name, u.email, u.suspended_at FROM users u \
                 WHERE u.status = 'suspended' AND u.suspended_reason = 'dormant' \
                 AND EXISTS (SELECT 1 FROM grants g WHERE g.user_id = u.id AND g.registry_id = $1) \
                 ORDER BY u.display_name, u.id",
            )
            .bind(registry_id)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Reactivates an account suspended for dormancy that holds a live grant in a registry (a
    /// revoked or lapsed grant gives that registry's controllers no say over the account), and
    /// never an operator's.
    /// Reactivation counts as activity: `last_sign_in_at` becomes `now`, so the dormancy clock
    /// restarts and the person has the full period to sign in. `audit` is appended in the same
    /// transaction. False, and nothing written, if no such account.
    pub async fn reactivate_dormant(
        &self,
        registry_id: &str,
        user_id: &str,
        now: i64,
        audit: &[AuditNote],
    ) -> Result<bool> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query(
                "UPDATE users SET status = 'active', suspended_at = NULL, suspended_reason = NULL, last_sign_in_at = $1 \
                 WHERE id = $2 AND status = 'suspended' AND suspended_reason = 'dormant' AND platform_role IS NULL \
                 AND EXISTS (SELECT 1 FROM grants g WHERE g.user_id = $2 AND g.registry_id = $3 \
                             AND g.revoked_at IS NULL AND g.expires_at > $1)",
            )
            .bind(now)
            .bind(user_id)
            .bind(registry_id)
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

    /// Makes an account a platform operator (e.g. the second operator, needed to approve a
    /// registry's first controller). Refused while it holds a live grant or a pending request:
    /// operators hold no registry role. `audit` is appended in the same transaction.
    pub async fn make_operator(&self, user_id: &str, now: i64, audit: &[AuditNote]) -> Result<()> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let held: i64 = sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM grants WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2) \
                 + (SELECT COUNT(*) FROM access_requests WHERE user_id = $1 AND status = 'pending')",
            )
            .bind(user_id)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            if held > 0 {
                return Err(StoreError::Conflict("the account holds or awaits registry access".into()));
            }
            let n = sqlx::query("UPDATE users SET platform_role = 'operator' WHERE id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound("account".into()));
            }
            append_in_tx(&mut *tx, audit).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Invites one person with a proposed grant, in one transaction: refused if the address has
    /// an account; withdraws any open invitation to it; stores the link with its proposal; appends
    /// `audit`, each note aimed at `invitation:<link id>` (never the address). Returns the link's id.
    pub async fn create_invitation_proposing(
        &self,
        link: &NewLink<'_>,
        grant: &ProposedGrant<'_>,
        audit: &[AuditNote],
    ) -> Result<String> {
        let email = link.email.ok_or_else(|| StoreError::Conflict("an invitation needs an address".into()))?;
        let id = new_id();
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let exists: Option<String> =
                sqlx::query_scalar("SELECT id FROM users WHERE email = $1").bind(email).fetch_optional(&mut *tx).await?;
            if exists.is_some() {
                return Err(StoreError::Conflict("that address already has an account".into()));
            }
            let registry: Option<String> = sqlx::query_scalar("SELECT id FROM registries WHERE id = $1")
                .bind(grant.registry_id)
                .fetch_optional(&mut *tx)
                .await?;
            if registry.is_none() {
                return Err(StoreError::NotFound("registry".into()));
            }
            if let Some(org) = grant.organisation {
                let known: Option<String> = sqlx::query_scalar("SELECT ods_code FROM organisations WHERE ods_code = $1")
                    .bind(org)
                    .fetch_optional(&mut *tx)
                    .await?;
                if known.is_none() {
                    return Err(StoreError::NotFound("organisation".into()));
                }
            }
            sqlx::query(
                "UPDATE links SET withdrawn_at = $1 WHERE purpose = 'invitation' AND email = $2 \
                 AND used_at IS NULL AND withdrawn_at IS NULL",
            )
            .bind(link.now)
            .bind(email)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO links (id, token_hash, purpose, email, display_name, user_id, created_by, created_at, \
                 expires_at, registry_id, role, organisation) VALUES ($1, $2, 'invitation', $3, $4, NULL, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&id)
            .bind(link.token_hash)
            .bind(email)
            .bind(link.display_name)
            .bind(link.created_by)
            .bind(link.now)
            .bind(link.expires_at)
            .bind(grant.registry_id)
            .bind(grant.role.as_str())
            .bind(grant.organisation)
            .execute(&mut *tx)
            .await?;
            append_in_tx(&mut *tx, &aimed(audit, &format!("invitation:{id}"))).await?;
            tx.commit().await?;
        });
        Ok(id)
    }

    /// Registered, active (status active and signed in at or after `active_since`), suspended and
    /// invited-not-accepted accounts, overall and per registry. A registry's accounts are those
    /// that hold or held a grant there or have a request pending there; its invitations are the
    /// open ones proposing a grant there.
    pub async fn access_dashboard(&self, now: i64, active_since: i64) -> Result<AccessDashboard> {
        let count = |status: &str, last: Option<i64>, c: &mut AccessCounts| {
            c.registered += 1;
            if status == "active" && last.is_some_and(|t| t >= active_since) {
                c.active += 1;
            }
            if status == "suspended" {
                c.suspended += 1;
            }
        };
        let (users, members, registries, invited, invited_by_registry): DashboardRows = on_db!(self, pool => {
            let users = sqlx::query_as("SELECT status, last_sign_in_at FROM users").fetch_all(pool).await?;
            let members = sqlx::query_as(
                "SELECT m.registry_id, u.status, u.last_sign_in_at FROM (SELECT registry_id, user_id FROM grants \
                 UNION SELECT registry_id, user_id FROM access_requests WHERE status = 'pending') m \
                 JOIN users u ON u.id = m.user_id",
            )
            .fetch_all(pool)
            .await?;
            let registries = sqlx::query_as("SELECT id, name FROM registries ORDER BY id").fetch_all(pool).await?;
            let open = "FROM links WHERE purpose = 'invitation' AND used_at IS NULL AND withdrawn_at IS NULL AND expires_at > $1";
            let invited = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) {open}")))
                .bind(now)
                .fetch_one(pool)
                .await?;
            let by_registry = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT registry_id, COUNT(*) {open} AND registry_id IS NOT NULL GROUP BY registry_id"
            )))
            .bind(now)
            .fetch_all(pool)
            .await?;
            (users, members, registries, invited, by_registry)
        });
        let mut overall = AccessCounts { invited, ..AccessCounts::default() };
        for (status, last) in &users {
            count(status, *last, &mut overall);
        }
        let registries = registries
            .into_iter()
            .map(|(id, name)| {
                let mut c = AccessCounts::default();
                for (_, status, last) in members.iter().filter(|m| m.0 == id) {
                    count(status, *last, &mut c);
                }
                c.invited = invited_by_registry.iter().find(|(r, _)| *r == id).map_or(0, |(_, n)| *n);
                (id, name, c)
            })
            .collect();
        Ok(AccessDashboard { overall, registries })
    }
}
