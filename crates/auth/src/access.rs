//! The access check: turns a session or an API token, at this moment and from this address, into
//! the caller's [`Grants`], from which handlers ask for capabilities. Also API tokens, network
//! allowlists and dormancy.
//!
//! Grants are read afresh on every request (one indexed query), so a revocation, an expiry or a
//! suspension takes effect on the very next request, on every server.

use std::net::IpAddr;
use std::str::FromStr as _;

use ipnet::IpNet;
use tessera_domain::access::{Grant, Grants, MAX_GRANT_SECONDS, ManageRegistry, Permission, Principal, Role, Scope};
use tessera_domain::{OdsCode, RegistryId};
use tessera_store::{ApiTokenRow, AuditActor, AuditNote, AuditOutcome, GrantRow, NewApiToken};
use zeroize::Zeroizing;

use crate::accounts::{ActiveSession, Client};
use crate::events::{by_session, by_system};
use crate::requests::by_controller;
use crate::{Accounts, AuthError, random_token, token_hash};

/// The prefix of every API token, so that secret scanners and people recognise one.
pub const TOKEN_PREFIX: &str = "tsr_";

/// What an API token may do, besides its registry and organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPermission {
    /// Read and search records.
    Read,
    /// Enter and correct records.
    Write,
}

impl TokenPermission {
    fn as_str(self) -> &'static str {
        match self {
            TokenPermission::Read => "read",
            TokenPermission::Write => "write",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(TokenPermission::Read),
            "write" => Some(TokenPermission::Write),
            _ => None,
        }
    }

    fn permissions(self) -> &'static [Permission] {
        match self {
            TokenPermission::Read => &[Permission::ReadRecords, Permission::SearchPatients],
            TokenPermission::Write => &[Permission::WriteRecords],
        }
    }
}

/// What a new API token may reach and for how long.
#[derive(Debug, Clone, Copy)]
pub struct TokenSpec<'a> {
    /// The registry.
    pub registry: &'a RegistryId,
    /// The organisation.
    pub organisation: &'a OdsCode,
    /// Read, write or both.
    pub permissions: &'a [TokenPermission],
    /// What the token is for, in its owner's words.
    pub label: &'a str,
    /// Days until it stops working (1 to 365).
    pub days: i64,
}

/// A token just made: its secret is shown once and never again.
pub struct NewToken {
    /// The token's id.
    pub id: String,
    /// The whole bearer value (`tsr_…`), to show once.
    pub secret: Zeroizing<String>,
    /// When it stops working.
    pub expires_at: i64,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken").field("id", &self.id).field("expires_at", &self.expires_at).finish_non_exhaustive()
    }
}

/// Parses stored grant rows; a row that does not parse is corruption, not "no grant".
fn grants_from_rows(rows: Vec<GrantRow>) -> Result<Vec<Grant>, AuthError> {
    rows.into_iter()
        .map(|r| {
            let corrupt = |what: &str| AuthError::Store(tessera_store::StoreError::Corrupt(format!("grant {what}")));
            let registry = RegistryId::parse(&r.registry_id).map_err(|_| corrupt("registry"))?;
            let role = Role::parse(&r.role).ok_or_else(|| corrupt("role"))?;
            let scope = match r.organisation {
                None => Scope::All,
                Some(o) => Scope::Organisation(OdsCode::parse(&o).map_err(|_| corrupt("organisation"))?),
            };
            Ok(Grant { id: r.id, registry, role, scope, expires_at: r.expires_at })
        })
        .collect()
}

/// Whether `ip` is inside any of `ranges`.
pub fn address_in(ip: &str, ranges: &[IpNet]) -> bool {
    IpAddr::from_str(ip).is_ok_and(|ip| ranges.iter().any(|r| r.contains(&ip)))
}

impl Accounts {
    /// The grants of a fully signed-in person, live now and usable from the client's address.
    /// A platform operator holds none: operators read no patient data.
    pub async fn grants_of(&self, session: &ActiveSession, client: &Client) -> Result<Grants, AuthError> {
        let principal = Principal::User(session.user_id().to_owned());
        if session.is_operator() {
            return Ok(Grants::new(principal, Vec::new()));
        }
        let rows = self.store().live_grants(session.user_id(), self.now()).await?;
        let grants = self.admitted(grants_from_rows(rows)?, client).await?;
        Ok(Grants::new(principal, grants))
    }

    /// The grants an API token carries, if `bearer` is a live token (not revoked, not expired,
    /// owner active) used from an admitted address. `None` for anything else, all alike.
    ///
    /// Every use is audited before the request goes on, and if the event cannot be stored the
    /// request fails: a live token appends `token.use` by the token (aimed at `token:<id>`, with
    /// its registry and organisation); a refused one appends `token.use` by the system with
    /// outcome failure and nothing that identifies the token or its owner.
    pub async fn token_grants(&self, bearer: &str, client: &Client) -> Result<Option<Grants>, AuthError> {
        let found = self.live_token(bearer, client).await?;
        let note = match &found {
            Some((row, _)) => AuditNote::new(AuditActor::ApiToken(row.id.clone()), "token.use", AuditOutcome::Success)
                .target(format!("token:{}", row.id))
                .registry(row.registry_id.as_str())
                .organisation(row.organisation.as_str())
                .client(client.ip.clone()),
            None => by_system("token.use", AuditOutcome::Failure).client(client.ip.clone()),
        };
        self.store().audit_append(&[note]).await?;
        Ok(found.map(|(_, grants)| grants))
    }

    /// The token `bearer` names and the grants it carries, if it is live and its owner may use it.
    async fn live_token(&self, bearer: &str, client: &Client) -> Result<Option<(ApiTokenRow, Grants)>, AuthError> {
        if !bearer.starts_with(TOKEN_PREFIX) || bearer.len() > 100 {
            return Ok(None);
        }
        let Some(row) = self.store().live_api_token(&token_hash(bearer), self.now()).await? else {
            return Ok(None);
        };
        let owner = self.store().user(&row.user_id).await?;
        let dormant_since = self.now() - self.settings().dormant_after;
        // A dormant owner's tokens stop at once, not at the next hourly sweep.
        if owner
            .as_ref()
            .is_none_or(|u| u.platform_role.is_some() || u.last_sign_in_at.unwrap_or(u.created_at) <= dormant_since)
        {
            return Ok(None);
        }
        let corrupt = |what: &str| AuthError::Store(tessera_store::StoreError::Corrupt(format!("token {what}")));
        let registry = RegistryId::parse(&row.registry_id).map_err(|_| corrupt("registry"))?;
        let org = OdsCode::parse(&row.organisation).map_err(|_| corrupt("organisation"))?;
        let mut permissions = Vec::new();
        for p in row.permissions.split(',') {
            permissions
                .extend_from_slice(TokenPermission::parse(p).ok_or_else(|| corrupt("permission"))?.permissions());
        }
        let owner_grants = grants_from_rows(self.store().live_grants(&row.user_id, self.now()).await?)?;
        let owner_grants = self.admitted(owner_grants, client).await?;
        let grants = Grants::for_token(row.id.clone(), row.user_id.clone(), owner_grants, &registry, &org, permissions);
        Ok(Some((row, grants)))
    }

    /// Drops the grants of registries whose network allowlist does not admit the client.
    async fn admitted(&self, grants: Vec<Grant>, client: &Client) -> Result<Vec<Grant>, AuthError> {
        if grants.is_empty() {
            return Ok(grants);
        }
        let networks = self.store().networks().await?;
        if networks.is_empty() {
            return Ok(grants);
        }
        Ok(grants
            .into_iter()
            .filter(|g| {
                let rows: Vec<_> = networks.iter().filter(|n| n.registry_id == g.registry.as_str()).collect();
                // A range that no longer parses admits nobody; it never lifts the restriction.
                let ranges: Vec<IpNet> = rows.iter().filter_map(|n| IpNet::from_str(&n.cidr).ok()).collect();
                rows.is_empty() || address_in(&client.ip, &ranges)
            })
            .collect())
    }

    /// Makes an API token for `session`'s person, scoped as `spec` says (registry,
    /// organisation, permissions), lasting `spec.days` (at most 365). The person must hold, now,
    /// grants that allow every permission asked for at that organisation: nobody hands a system
    /// more than they have. The secret is returned once; only its hash is kept.
    pub async fn create_token(
        &self,
        session: &ActiveSession,
        client: &Client,
        spec: &TokenSpec<'_>,
    ) -> Result<NewToken, AuthError> {
        let TokenSpec { registry, organisation: org, permissions, label, days } = *spec;
        let label = label.trim();
        if label.is_empty() || label.chars().count() > 100 || label.chars().any(char::is_control) {
            return Err(AuthError::Field {
                field: "label",
                message: "Enter what the token is for, up to 100 characters".into(),
            });
        }
        if permissions.is_empty() {
            return Err(AuthError::Field { field: "permissions", message: "Choose read, write or both".into() });
        }
        if !(1..=MAX_GRANT_SECONDS / 86_400).contains(&days) {
            return Err(AuthError::Field { field: "days", message: "A token lasts from 1 to 365 days".into() });
        }
        let grants = self.grants_of(session, client).await?;
        let allowed = permissions.iter().flat_map(|p| p.permissions()).all(|p| grants.allows(registry, org, *p));
        if !allowed {
            return Err(AuthError::Field {
                field: "organisation",
                message: "You can only make a token for what your own access allows at that organisation".into(),
            });
        }
        let now = self.now();
        let id = uuid::Uuid::new_v4().simple().to_string()[..16].to_owned();
        let secret = Zeroizing::new(format!("{TOKEN_PREFIX}{}", random_token()));
        let mut names: Vec<&str> = permissions.iter().map(|p| p.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let expires_at = now + days * 86_400;
        let note = by_session(session, "token.create")
            .target(format!("token:{id}"))
            .registry(registry.as_str())
            .organisation(org.as_str());
        self.store()
            .insert_api_token(
                &NewApiToken {
                    id: &id,
                    token_hash: &token_hash(&secret),
                    user_id: session.user_id(),
                    registry_id: registry.as_str(),
                    organisation: org.as_str(),
                    permissions: &names.join(","),
                    label,
                    now,
                    expires_at,
                },
                &[note],
            )
            .await?;
        tracing::info!(user = %session.user_id(), token = %id, "API token created");
        Ok(NewToken { id, secret, expires_at })
    }

    /// The tokens `session`'s person made.
    pub async fn tokens_of(&self, session: &ActiveSession) -> Result<Vec<ApiTokenRow>, AuthError> {
        Ok(self.store().api_tokens_of(session.user_id()).await?)
    }

    /// Revokes one of `session`'s person's tokens; it stops working at once.
    pub async fn revoke_token(&self, session: &ActiveSession, id: &str) -> Result<bool, AuthError> {
        let note = by_session(session, "token.revoke").target(format!("token:{id}"));
        let done = self.store().revoke_api_token(session.user_id(), id, self.now(), &[note]).await?;
        if done {
            tracing::info!(user = %session.user_id(), token = %id, "API token revoked");
        }
        Ok(done)
    }

    /// Invites a platform operator (from the server's command line, which only those who run
    /// the service can use): the person is emailed a single-use link, sets their own password
    /// and enrols a second factor. A second operator is what lets a registry get its first
    /// controller, which needs two operators' approval.
    pub async fn invite_operator(&self, email: &str, name: &str) -> Result<(), AuthError> {
        let email = crate::accounts::valid_email(email)?;
        let name = crate::accounts::valid_name(name)?;
        let token = random_token();
        let now = self.now();
        let expires_at = now + self.settings().invitation_ttl;
        self.store()
            .create_operator_invitation(
                &tessera_store::NewLink {
                    token_hash: &token_hash(&token),
                    purpose: tessera_store::LinkPurpose::Invitation,
                    email: Some(&email),
                    display_name: Some(&name),
                    user_id: None,
                    created_by: None,
                    now,
                    expires_at,
                },
                &crate::events::by_system("operator.invite", tessera_store::AuditOutcome::Success).client("cli"),
            )
            .await
            .map_err(|e| match e {
                tessera_store::StoreError::Conflict(m) => AuthError::Field { field: "email", message: m },
                other => other.into(),
            })?;
        let link = self.link("welcome", &token);
        self.notify(&email, "You are invited to operate Tessera", &self.invitation_body(&name, &link, expires_at))
            .await;
        tracing::info!("operator invitation sent");
        Ok(())
    }

    /// Suspends every account with no sign-in for the dormancy period (never signed in: since
    /// it was made) and ends its sessions. The server runs this periodically; sign-in runs it
    /// too. Each suspension is audited (`account.suspend` by the system, aimed at the account)
    /// in the same transaction. Returns how many were suspended.
    pub async fn suspend_dormant(&self) -> Result<usize, AuthError> {
        let now = self.now();
        let note = by_system("account.suspend", AuditOutcome::Success);
        let ids = self.store().suspend_dormant(now - self.settings().dormant_after, now, &[note]).await?;
        for id in &ids {
            tracing::info!(user = %id, "account suspended: dormant");
        }
        Ok(ids.len())
    }

    /// Parses and checks a network allowlist (one `CIDR label…` per line) and stores it for a
    /// registry. Refuses ranges wider than /8 (IPv4) or /16 (IPv6): an allowlist that admits
    /// most of the internet protects nothing. `session` is the controller's own (its address goes
    /// into the `networks.set` event).
    pub async fn set_networks(
        &self,
        session: &ActiveSession,
        manage: &ManageRegistry,
        text: &str,
    ) -> Result<usize, AuthError> {
        let mut ranges = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (cidr, label) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let net = IpNet::from_str(cidr).map_err(|_| AuthError::Field {
                field: "networks",
                message: format!("Line {}: enter a range like 10.0.0.0/8 or 2001:db8::/32", i + 1),
            })?;
            let too_wide = match net {
                IpNet::V4(n) => n.prefix_len() < 8,
                IpNet::V6(n) => n.prefix_len() < 16,
            };
            if too_wide {
                return Err(AuthError::Field {
                    field: "networks",
                    message: format!("Line {}: the range is too wide (at most /8 for IPv4, /16 for IPv6)", i + 1),
                });
            }
            ranges
                .push((net.trunc().to_string(), label.trim().chars().filter(|c| !c.is_control()).take(100).collect()));
        }
        let note = by_controller(session, manage, "networks.set");
        self.store()
            .set_networks(manage.registry().as_str(), &ranges, manage.controller(), self.now(), &[note])
            .await?;
        Ok(ranges.len())
    }
}
