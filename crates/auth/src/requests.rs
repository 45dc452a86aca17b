//! The access workflow: a person requests access, a registry's controller approves or refuses
//! with a reason (a controller grant needs two distinct approvers: two controllers; two platform
//! operators for a registry's first controller; the first controller and an operator for its
//! second), and the approved
//! request becomes a grant that expires; controllers recertify or revoke grants and reactivate
//! dormant accounts; invitations may propose a grant, which becomes a pending request; operators
//! see the registered/active/suspended/invited dashboard.
//!
//! Every act takes a capability: [`ManageRegistry`] (only a registry-wide controller's grants
//! hand one out) or [`PlatformOperator`] (only [`Accounts::operator`] hands one out). Platform
//! operators never hold grants and cannot request any; nobody decides their own request; a
//! controller grant needs two distinct approvers (`Role::approvals_needed`), checked inside the
//! one transaction that records the decision and makes the grant.

use tessera_domain::access::{Denied, MAX_GRANT_SECONDS, ManageRegistry, Role};
use tessera_domain::{OdsCode, RegistryId};
use tessera_store::{
    AccessDashboard, AuditActor, AuditNote, AuditOutcome, Decision, DecisionOutcome, DormantUserRow, LinkPurpose,
    NewLink, NewRequest, ProposedGrant, RegistryGrantRow, RequestRow, StoreError,
};

use crate::accounts::{ActiveSession, time_text, valid_email, valid_name};
use crate::events::{by_session, user_target};
use crate::{Accounts, AuthError, random_token, token_hash};

/// Grants lapsing within this long are due for recertification (30 days).
pub const RECERTIFY_WINDOW: i64 = 30 * 86_400;

/// The power to act as a platform operator: decide a registry's first controller, see the
/// platform dashboard. Only [`Accounts::operator`] makes one.
#[derive(Debug, Clone)]
pub struct PlatformOperator {
    user_id: String,
    /// The address of the session it came from, for the audit events of its acts.
    client_ip: String,
}

impl PlatformOperator {
    /// The operator's user id.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }
}

/// What a decision did, as the deciding person is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decided {
    /// The request is refused; the requester has been told.
    Refused,
    /// Approved by you; another approver must approve too.
    Awaiting {
        /// Approvals so far.
        approvals: i64,
        /// Approvals needed.
        needed: i64,
    },
    /// The grant is made; the requester has been told.
    Granted,
}

/// Parses what a form names: registry, organisation (empty or `all` for every one) and role. A
/// controller's grant always covers every organisation (managing access is registry-wide).
fn parse_grant(
    registry: &str,
    organisation: &str,
    role: &str,
) -> Result<(RegistryId, Option<OdsCode>, Role), AuthError> {
    let registry = RegistryId::parse(registry.trim())
        .map_err(|_| AuthError::Field { field: "registry", message: "Choose a registry".into() })?;
    let role =
        Role::parse(role.trim()).ok_or_else(|| AuthError::Field { field: "role", message: "Choose a role".into() })?;
    let org = match organisation.trim() {
        "" | "all" => None,
        o => Some(OdsCode::parse(&o.to_ascii_uppercase()).map_err(|_| AuthError::Field {
            field: "organisation",
            message: "Enter the organisation's ODS code, like RRK, or leave it empty for all organisations".into(),
        })?),
    };
    if role == Role::Controller && org.is_some() {
        return Err(AuthError::Field {
            field: "organisation",
            message: "A registry controller's access covers every organisation: leave the organisation empty".into(),
        });
    }
    Ok((registry, org, role))
}

/// A free-text reason or justification: trimmed, `min..=max` characters, no control characters
/// other than line breaks.
fn text_field(raw: &str, field: &'static str, min: usize, max: usize, message: &str) -> Result<String, AuthError> {
    let text = raw.trim();
    let n = text.chars().count();
    if n < min || n > max || text.chars().any(|c| c.is_control() && c != '\n' && c != '\r') {
        return Err(AuthError::Field { field, message: message.into() });
    }
    Ok(text.to_owned())
}

/// The audit action of a decision.
fn decision_action(approve: bool) -> &'static str {
    if approve { "access.approve" } else { "access.decline" }
}

fn scope_text(org: Option<&str>) -> String {
    org.map_or_else(|| "all organisations".into(), |o| format!("organisation {o}"))
}

/// Storage refusals a person can act on become a message on the form; "not found" stays
/// [`AuthError::Invalid`] so the page answers 404 without saying what exists.
fn decision_error(e: StoreError) -> AuthError {
    match e {
        StoreError::Conflict(m) => AuthError::Field { field: "decision", message: capitalise(&m) },
        StoreError::NotFound(_) => AuthError::Invalid("no such request".into()),
        e => e.into(),
    }
}

/// `action` by the controller `manage` names, from `session`'s address (the controller's own
/// session), in the controller's registry; succeeded.
pub(crate) fn by_controller(session: &ActiveSession, manage: &ManageRegistry, action: &str) -> AuditNote {
    AuditNote::new(AuditActor::User(manage.controller().to_owned()), action, AuditOutcome::Success)
        .client(session.row.client_ip.clone())
        .registry(manage.registry().as_str())
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

impl Accounts {
    /// The operator capability, for a platform operator's session only.
    pub fn operator(&self, session: &ActiveSession) -> Result<PlatformOperator, Denied> {
        if session.is_operator() {
            Ok(PlatformOperator { user_id: session.user_id().to_owned(), client_ip: session.row.client_ip.clone() })
        } else {
            Err(Denied)
        }
    }

    /// How long a new or recertified grant lasts from now: the configured time, at most 12 months.
    fn grant_expiry(&self) -> i64 {
        self.now() + self.settings().grant_ttl.clamp(86_400, MAX_GRANT_SECONDS)
    }

    /// A fully signed-in person asks for access. Platform operators are refused: they hold no
    /// registry role. Returns the request's id.
    pub async fn request_access(
        &self,
        session: &ActiveSession,
        registry: &str,
        organisation: &str,
        role: &str,
        justification: &str,
    ) -> Result<String, AuthError> {
        if session.is_operator() {
            return Err(AuthError::Field {
                field: "role",
                message: "Platform operators cannot hold a registry role. Use a separate account for registry work"
                    .into(),
            });
        }
        let (registry, org, role) = parse_grant(registry, organisation, role)?;
        let justification = text_field(
            justification,
            "justification",
            10,
            1000,
            "Say why you need this access, in 10 to 1,000 characters",
        )?;
        let mut note = by_session(session, "access.request").registry(registry.as_str());
        if let Some(o) = &org {
            note = note.organisation(o.as_str());
        }
        let id = self
            .store()
            .insert_access_request(
                &NewRequest {
                    user_id: session.user_id(),
                    registry_id: registry.as_str(),
                    role,
                    organisation: org.as_ref().map(OdsCode::as_str),
                    justification: &justification,
                    now: self.now(),
                },
                &[note],
            )
            .await
            .map_err(|e| match e {
                StoreError::NotFound(what) if what == "registry" => {
                    AuthError::Field { field: "registry", message: "Choose a registry".into() }
                }
                StoreError::NotFound(_) => AuthError::Field {
                    field: "organisation",
                    message: "There is no organisation with that ODS code".into(),
                },
                StoreError::Conflict(m) => AuthError::Field { field: "registry", message: capitalise(&m) },
                e => e.into(),
            })?;
        tracing::info!(user = %session.user_id(), request = %id, registry = %registry, role = role.as_str(), "access requested");
        Ok(id)
    }

    /// The requests of `session`'s person, newest first.
    pub async fn my_requests(&self, session: &ActiveSession) -> Result<Vec<RequestRow>, AuthError> {
        Ok(self.store().requests_of_user(session.user_id()).await?)
    }

    /// The requests waiting for a decision in the controller's registry.
    pub async fn pending_requests(&self, manage: &ManageRegistry) -> Result<Vec<RequestRow>, AuthError> {
        Ok(self.store().pending_requests(manage.registry().as_str()).await?)
    }

    /// The grants live now in the controller's registry.
    pub async fn registry_grants(&self, manage: &ManageRegistry) -> Result<Vec<RegistryGrantRow>, AuthError> {
        Ok(self.store().registry_grants(manage.registry().as_str(), self.now()).await?)
    }

    /// A controller (signed in as `session`) approves or refuses a request of their registry,
    /// with a reason.
    pub async fn decide(
        &self,
        session: &ActiveSession,
        manage: &ManageRegistry,
        request_id: &str,
        approve: bool,
        reason: &str,
    ) -> Result<Decided, AuthError> {
        let note = by_controller(session, manage, decision_action(approve));
        self.decide_as(manage.controller(), Some(manage.registry().as_str()), request_id, approve, reason, note).await
    }

    /// Pending controller requests of registries with fewer than two controllers: the only
    /// requests operators decide.
    pub async fn first_controller_requests(&self, _op: &PlatformOperator) -> Result<Vec<RequestRow>, AuthError> {
        Ok(self.store().first_controller_requests(self.now()).await?)
    }

    /// A platform operator approves or refuses a controller request of a registry with fewer
    /// than two controllers (the approvals must come from two distinct people).
    pub async fn decide_first_controller(
        &self,
        op: &PlatformOperator,
        request_id: &str,
        approve: bool,
        reason: &str,
    ) -> Result<Decided, AuthError> {
        let note =
            AuditNote::new(AuditActor::User(op.user_id.clone()), decision_action(approve), AuditOutcome::Success)
                .client(op.client_ip.clone());
        self.decide_as(&op.user_id, None, request_id, approve, reason, note).await
    }

    /// Records the decision with its audit event `note` (the store aims it at the request and,
    /// when the grant is made, adds `grant.create`).
    async fn decide_as(
        &self,
        approver: &str,
        registry: Option<&str>,
        request_id: &str,
        approve: bool,
        reason: &str,
        note: AuditNote,
    ) -> Result<Decided, AuthError> {
        let reason = text_field(reason, "reason", 1, 500, "Give a reason for your decision, up to 500 characters")?;
        let outcome = self
            .store()
            .decide_request(
                &Decision {
                    request_id,
                    registry_id: registry,
                    approver_id: approver,
                    approve,
                    reason: &reason,
                    now: self.now(),
                    grant_expires_at: self.grant_expiry(),
                },
                &[note],
            )
            .await
            .map_err(decision_error)?;
        tracing::info!(request = %request_id, approver = %approver, approve, "access request decided");
        match outcome {
            DecisionOutcome::Awaiting { approvals, needed } => Ok(Decided::Awaiting { approvals, needed }),
            DecisionOutcome::Refused { user_id } => {
                self.tell_requester(&user_id, request_id, false).await?;
                Ok(Decided::Refused)
            }
            DecisionOutcome::Granted { user_id, grant_id } => {
                tracing::info!(user = %user_id, grant = %grant_id, "grant made");
                self.tell_requester(&user_id, request_id, true).await?;
                Ok(Decided::Granted)
            }
        }
    }

    /// Emails the requester that their request was decided. The email names the registry, role
    /// and scope, and points to the access page; it carries no reason (free text a person typed
    /// could hold anything) and no secret.
    async fn tell_requester(&self, user_id: &str, request_id: &str, approved: bool) -> Result<(), AuthError> {
        let Some(user) = self.store().user(user_id).await? else { return Ok(()) };
        let Some(request) = self.store().requests_of_user(user_id).await?.into_iter().find(|r| r.id == request_id)
        else {
            return Ok(());
        };
        let role = Role::parse(&request.role).map_or("a", Role::label);
        let what = format!(
            "{role} access to the {} registry ({})",
            request.registry_id,
            scope_text(request.organisation.as_deref())
        );
        let page = format!("{}/access", self.settings().public_url.as_str().trim_end_matches('/'));
        let (subject, body) = if approved {
            (
                "Your Tessera access request was approved",
                format!(
                    "Dear {},\n\nYour request for {what} has been approved. It lasts until {} (UTC) unless your \
                     registry's controller renews it.\n\nSign in to see your access: {page}\n",
                    user.display_name,
                    time_text(self.grant_expiry())
                ),
            )
        } else {
            (
                "Your Tessera access request was refused",
                format!(
                    "Dear {},\n\nYour request for {what} has been refused.\n\nSign in to see the reason: {page}\n",
                    user.display_name
                ),
            )
        };
        self.notify(&user.email, subject, &body).await;
        Ok(())
    }

    /// Live grants of the controller's registry lapsing in the next 30 days, soonest first.
    pub async fn expiring_grants(&self, manage: &ManageRegistry) -> Result<Vec<RegistryGrantRow>, AuthError> {
        let now = self.now();
        Ok(self.store().expiring_grants(manage.registry().as_str(), now, now + RECERTIFY_WINDOW).await?)
    }

    /// Extends the chosen live grants of the controller's registry by the grant lifetime from
    /// now. The controller's own grants are left alone. One `grant.recertify` event per grant
    /// extended. Returns how many were extended.
    pub async fn recertify(
        &self,
        session: &ActiveSession,
        manage: &ManageRegistry,
        grant_ids: &[String],
    ) -> Result<u64, AuthError> {
        let n = self
            .store()
            .recertify_grants(
                manage.registry().as_str(),
                grant_ids,
                manage.controller(),
                self.now(),
                self.grant_expiry(),
                &[by_controller(session, manage, "grant.recertify")],
            )
            .await?;
        tracing::info!(registry = %manage.registry(), by = %manage.controller(), recertified = n, "grants recertified");
        Ok(n)
    }

    /// Revokes a live grant of the controller's registry, with a reason; the holder loses the
    /// access on their next request. False if there is no such live grant.
    pub async fn revoke_grant(
        &self,
        session: &ActiveSession,
        manage: &ManageRegistry,
        grant_id: &str,
        reason: &str,
    ) -> Result<bool, AuthError> {
        let reason = text_field(reason, "reason", 1, 500, "Give a reason for revoking, up to 500 characters")?;
        let note = by_controller(session, manage, "grant.revoke").target(format!("grant:{grant_id}"));
        let done = self
            .store()
            .revoke_grant(manage.registry().as_str(), grant_id, manage.controller(), &reason, self.now(), &[note])
            .await?;
        if done {
            tracing::info!(grant = %grant_id, by = %manage.controller(), "grant revoked");
        }
        Ok(done)
    }

    /// Accounts suspended for dormancy that hold or held a grant in the controller's registry.
    pub async fn dormant_users(&self, manage: &ManageRegistry) -> Result<Vec<DormantUserRow>, AuthError> {
        Ok(self.store().dormant_users_of(manage.registry().as_str()).await?)
    }

    /// Reactivates an account suspended for dormancy that holds or held a grant in the
    /// controller's registry. The dormancy clock restarts at reactivation (the store counts it
    /// as the last sign-in), so the person is not suspended again before they can sign in.
    pub async fn reactivate(
        &self,
        session: &ActiveSession,
        manage: &ManageRegistry,
        user_id: &str,
    ) -> Result<bool, AuthError> {
        let note = by_controller(session, manage, "account.reactivate").target(user_target(user_id));
        let done = self.store().reactivate_dormant(manage.registry().as_str(), user_id, self.now(), &[note]).await?;
        if done {
            tracing::info!(user = %user_id, by = %manage.controller(), "dormant account reactivated");
        }
        Ok(done)
    }

    /// Registered, active (signed in within the dormancy period), suspended and
    /// invited-not-accepted accounts, overall and per registry.
    pub async fn access_dashboard(&self, _op: &PlatformOperator) -> Result<AccessDashboard, AuthError> {
        let now = self.now();
        Ok(self.store().access_dashboard(now, now - self.settings().dormant_after).await?)
    }

    /// An operator invites one person with a proposed grant (registry, organisation or all,
    /// role). Accepting the invitation makes the account and a pending request, which becomes a
    /// grant only once approved like any other. The email carries only the single-use link.
    pub async fn invite_proposing(
        &self,
        by: &ActiveSession,
        email: &str,
        name: &str,
        registry: &str,
        organisation: &str,
        role: &str,
    ) -> Result<(), AuthError> {
        let email = valid_email(email)?;
        let name = valid_name(name)?;
        let (registry, org, role) = parse_grant(registry, organisation, role)?;
        let token = random_token();
        let now = self.now();
        let expires_at = now + self.settings().invitation_ttl;
        let link = NewLink {
            token_hash: &token_hash(&token),
            purpose: LinkPurpose::Invitation,
            email: Some(&email),
            display_name: Some(&name),
            user_id: None,
            created_by: Some(by.user_id()),
            now,
            expires_at,
        };
        let grant =
            ProposedGrant { registry_id: registry.as_str(), role, organisation: org.as_ref().map(OdsCode::as_str) };
        let mut note = by_session(by, "invite").registry(registry.as_str());
        if let Some(o) = &org {
            note = note.organisation(o.as_str());
        }
        self.store().create_invitation_proposing(&link, &grant, &[note]).await.map_err(|e| match e {
            StoreError::Conflict(m) => AuthError::Field { field: "email", message: capitalise(&m) },
            StoreError::NotFound(what) if what == "registry" => {
                AuthError::Field { field: "registry", message: "There is no registry with that id".into() }
            }
            StoreError::NotFound(_) => AuthError::Field {
                field: "organisation",
                message: "There is no organisation with that ODS code".into(),
            },
            e => e.into(),
        })?;
        let body = self.invitation_body(&name, &self.link("welcome", &token), expires_at);
        self.mailer().send(&email, "Your invitation to Tessera", &body).await?;
        tracing::info!(by = %by.user_id(), registry = %registry, role = role.as_str(), "invitation with a proposed grant created");
        Ok(())
    }
}
