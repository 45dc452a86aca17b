//! The account service: everything that happens between "who are you?" and a session, and the
//! account's own management of its factors and sessions.

use std::fmt;
use std::sync::Arc;

use tessera_store::{
    AuditNote, AuditOutcome, FactorKind, LinkPurpose, NewLink, NewSession, SessionRow, SessionStage, Store, StoreError,
    UserRow,
};
use tessera_vault::PlatformKeys;
use url::Url;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::events::{by_session, by_system, by_user, user_target};
use crate::passkeys::{Passkeys, credential_id_text, parse_passkey, store_passkey};
use crate::passwords::{PasswordHasher, PasswordPolicy};
use crate::{AuthError, Clock, Mailer, normalise_email, random_token, token_hash, totp};

/// Timeouts, limits and policy. [`AccountSettings::new`] gives the documented defaults.
#[derive(Debug, Clone)]
pub struct AccountSettings {
    /// Tessera's address as people reach it; links in email start with it.
    pub public_url: Url,
    /// Bootstrap link lifetime (1 hour).
    pub bootstrap_ttl: i64,
    /// Invitation lifetime (72 hours).
    pub invitation_ttl: i64,
    /// Password-reset link lifetime (24 hours).
    pub reset_ttl: i64,
    /// A session unused this long ends (30 minutes).
    pub idle_timeout: i64,
    /// A session ends this long after sign-in whatever happens (12 hours).
    pub absolute_timeout: i64,
    /// Step-up: a second factor within this long counts as recent (5 minutes).
    pub step_up_window: i64,
    /// Consecutive failures that lock an account (100, NIST SP 800-63B's ceiling).
    pub lock_after: i64,
    /// The per-address window (1 hour).
    pub address_window: i64,
    /// Failed sign-ins from one address within a window before it is refused (1,000: hospital
    /// networks put thousands of staff behind one address).
    pub address_limit: i64,
    /// Platform roles that must use passkeys, not TOTP (e.g. `operator`).
    pub passkey_required_roles: Vec<String>,
    /// No sign-in for this long suspends an account and ends its sessions (90 days).
    pub dormant_after: i64,
    /// A grant lasts this long unless the approver says otherwise (12 months, the most allowed).
    pub grant_ttl: i64,
    /// Proxies whose `X-Forwarded-For` is believed; empty (the default) believes no header and
    /// takes the connection's address.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl AccountSettings {
    /// The defaults, for Tessera at `public_url`.
    pub fn new(public_url: Url) -> Self {
        Self {
            public_url,
            bootstrap_ttl: 3600,
            invitation_ttl: 72 * 3600,
            reset_ttl: 24 * 3600,
            idle_timeout: 30 * 60,
            absolute_timeout: 12 * 3600,
            step_up_window: 5 * 60,
            lock_after: 100,
            address_window: 3600,
            address_limit: 1000,
            passkey_required_roles: Vec::new(),
            dormant_after: 90 * 86_400,
            grant_ttl: tessera_domain::access::MAX_GRANT_SECONDS,
            trusted_proxies: Vec::new(),
        }
    }

    /// Seconds before the next password check after `failures` consecutive failures: none for
    /// the first four, then doubling from 1 s to a ceiling of 15 minutes.
    pub fn delay_after(failures: i64) -> i64 {
        if failures < 5 { 0 } else { 1i64 << (failures - 5).min(10) }.min(900)
    }
}

/// Where a request comes from (for throttling and the session list).
#[derive(Debug, Clone)]
pub struct Client {
    /// Client address.
    pub ip: String,
    /// User-Agent, truncated to 200 characters.
    pub user_agent: String,
}

/// A session's secret id, as the cookie carries it. Debug prints nothing.
#[derive(Clone)]
pub struct SessionToken(Zeroizing<String>);

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(<secret>)")
    }
}

impl SessionToken {
    /// Wraps a cookie value.
    pub fn from_cookie(value: &str) -> Self {
        SessionToken(Zeroizing::new(value.to_owned()))
    }

    /// The cookie value.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Its stored hash.
    pub fn hash(&self) -> String {
        token_hash(&self.0)
    }
}

/// A live session: its row (with the account) and its token.
#[derive(Debug, Clone)]
pub struct ActiveSession {
    /// The stored session and account.
    pub row: SessionRow,
    /// The cookie's token.
    pub token: SessionToken,
}

impl ActiveSession {
    /// The account's id.
    pub fn user_id(&self) -> &str {
        &self.row.user_id
    }

    /// Whether the account is a platform operator.
    pub fn is_operator(&self) -> bool {
        self.row.platform_role.as_deref() == Some("operator")
    }
}

/// The outcome of a sign-in attempt. A refusal says nothing about why.
#[derive(Debug)]
pub enum SignIn {
    /// Refused: unknown address, wrong password, locked, suspended, throttled — all alike.
    Refused,
    /// A session began at this stage.
    Session(SessionToken, SessionStage),
}

/// What a person needs to add an authenticator app.
pub struct TotpEnrolment {
    /// The unconfirmed factor's id.
    pub factor_id: String,
    /// Provisioning details.
    pub provisioning: totp::Provisioning,
}

/// What is wrong with one row of an invitation list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteProblem {
    /// The row, from 1.
    pub row: usize,
    /// The field (`email`, `name`).
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

impl InviteProblem {
    fn new(row: usize, field: &'static str, message: impl Into<String>) -> Self {
        InviteProblem { row, field, message: message.into() }
    }
}

impl fmt::Display for InviteProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "row {}: {}: {}", self.row, self.field, self.message)
    }
}

/// An open invitation, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationRow {
    /// Invited address.
    pub email: String,
    /// Invited name.
    pub name: String,
    /// Expiry (unix seconds).
    pub expires_at: i64,
}

struct Inner {
    store: Store,
    clock: Clock,
    keys: PlatformKeys,
    policy: PasswordPolicy,
    hasher: PasswordHasher,
    passkeys: Passkeys,
    mailer: Mailer,
    settings: AccountSettings,
}

/// The account service. Cheap to clone.
#[derive(Clone)]
pub struct Accounts(Arc<Inner>);

impl fmt::Debug for Accounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Accounts")
    }
}

const RECOVERY_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

pub(crate) fn valid_name(raw: &str) -> Result<String, AuthError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AuthError::Field {
            field: "name",
            message: "Enter the person's full name (up to 100 characters).".into(),
        });
    }
    Ok(name.to_owned())
}

pub(crate) fn valid_email(raw: &str) -> Result<String, AuthError> {
    normalise_email(raw).ok_or_else(|| AuthError::Field {
        field: "email",
        message: "Enter an email address in the correct format, like name@example.nhs.uk".into(),
    })
}

fn normalise_recovery_code(code: &str) -> String {
    code.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_uppercase()).collect()
}

impl Accounts {
    /// The service over `store`, with platform keys derived from the master key.
    pub fn new(
        store: Store,
        clock: Clock,
        keys: PlatformKeys,
        policy: PasswordPolicy,
        mailer: Mailer,
        settings: AccountSettings,
    ) -> Result<Self, AuthError> {
        let passkeys = Passkeys::new(&settings.public_url)?;
        Ok(Accounts(Arc::new(Inner {
            store,
            clock,
            keys,
            policy,
            hasher: PasswordHasher::owasp(),
            passkeys,
            mailer,
            settings,
        })))
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.0.clock
    }

    /// The settings.
    pub fn settings(&self) -> &AccountSettings {
        &self.0.settings
    }

    /// The platform keys (for CSRF tokens).
    pub fn keys(&self) -> &PlatformKeys {
        &self.0.keys
    }

    /// The password policy.
    pub fn policy(&self) -> &PasswordPolicy {
        &self.0.policy
    }

    pub(crate) fn now(&self) -> i64 {
        self.0.clock.now()
    }

    pub(crate) fn mailer(&self) -> &Mailer {
        &self.0.mailer
    }

    pub(crate) fn link(&self, path: &str, token: &str) -> String {
        let base = self.0.settings.public_url.as_str().trim_end_matches('/');
        format!("{base}/{path}/{token}")
    }

    fn passkey_required(&self, role: Option<&str>) -> bool {
        role.is_some_and(|r| self.0.settings.passkey_required_roles.iter().any(|x| x == r))
    }

    /// Whether this account must use a passkey rather than TOTP.
    pub fn must_use_passkey(&self, session: &ActiveSession) -> bool {
        self.passkey_required(session.row.platform_role.as_deref())
    }

    pub(crate) async fn notify(&self, email: &str, subject: &str, body: &str) {
        if let Err(e) = self.0.mailer.send(email, subject, body).await {
            // The act stands; the failure to tell is logged without the address.
            tracing::warn!(error = %e, "a notification email could not be sent");
        }
    }

    // ----- bootstrap, invitations, resets -----

    /// If no account exists, makes a fresh single-use bootstrap link (withdrawing earlier ones)
    /// and returns it; otherwise `None`. Only the link's hash is stored.
    pub async fn bootstrap_link(&self) -> Result<Option<Zeroizing<String>>, AuthError> {
        if self.0.store.user_count().await? > 0 {
            return Ok(None);
        }
        let token = random_token();
        let now = self.now();
        match self.0.store.create_bootstrap_link(&token_hash(&token), now, now + self.0.settings.bootstrap_ttl).await {
            Ok(()) => Ok(Some(Zeroizing::new(self.link("welcome", &token)))),
            Err(StoreError::Conflict(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn invitation_body(&self, name: &str, link: &str, expires_at: i64) -> String {
        let expires = time_text(expires_at);
        format!(
            "Dear {name},\n\nYou have been invited to use Tessera, the clinical registries platform.\n\n\
             To accept, open this link and choose your own password:\n\n{link}\n\n\
             The link works once and expires at {expires} (UTC). You will then set up a second way to \
             prove it is you (an authenticator app or a passkey).\n\n\
             Tessera will never email you a password or ask for yours. If you did not expect this \
             invitation, you can ignore it.\n"
        )
    }

    /// Invites one person by address. The email carries only a single-use link valid for 72
    /// hours; an earlier open invitation to the same address is withdrawn.
    /// A wrong field comes back as [`AuthError::Field`] (the first, if both are wrong).
    pub async fn invite(&self, by: &ActiveSession, email: &str, name: &str) -> Result<(), AuthError> {
        match self.invite_many(by, &[(email.to_owned(), name.to_owned())]).await {
            Ok(sent) => sent.map(drop),
            Err(mut problems) => {
                let p = problems.remove(0);
                Err(AuthError::Field { field: p.field, message: p.message })
            }
        }
    }

    /// Invites several people (rows of address and name) in one transaction: if any row is bad,
    /// nobody is invited and every problem is returned, by row. Each person gets their own link
    /// and must accept individually.
    pub async fn invite_many(
        &self,
        by: &ActiveSession,
        rows: &[(String, String)],
    ) -> Result<Result<usize, AuthError>, Vec<InviteProblem>> {
        let mut problems = Vec::new();
        let mut valid = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, (email, name)) in rows.iter().enumerate() {
            let row = i + 1;
            match (valid_email(email), valid_name(name)) {
                (Ok(e), Ok(n)) => {
                    if !seen.insert(e.clone()) {
                        problems.push(InviteProblem::new(row, "email", "the same address appears earlier in the list"));
                    } else {
                        valid.push((row, e, n));
                    }
                }
                (e, n) => {
                    for err in [e.err(), n.err()].into_iter().flatten() {
                        if let AuthError::Field { field, message } = err {
                            problems.push(InviteProblem::new(row, field, message));
                        }
                    }
                }
            }
        }
        for (row, email, _) in &valid {
            match self.0.store.user_by_email(email).await {
                Ok(Some(_)) => problems.push(InviteProblem::new(*row, "email", "this person already has an account")),
                Ok(None) => {}
                Err(e) => return Ok(Err(e.into())),
            }
        }
        if !problems.is_empty() {
            problems.sort_by_key(|p| p.row);
            return Err(problems);
        }
        let now = self.now();
        let expires_at = now + self.0.settings.invitation_ttl;
        let tokens: Vec<String> = valid.iter().map(|_| random_token()).collect();
        let hashes: Vec<String> = tokens.iter().map(|t| token_hash(t)).collect();
        let links: Vec<NewLink<'_>> = valid
            .iter()
            .zip(&hashes)
            .map(|((_, email, name), hash)| NewLink {
                token_hash: hash,
                purpose: LinkPurpose::Invitation,
                email: Some(email),
                display_name: Some(name),
                user_id: None,
                created_by: Some(by.user_id()),
                now,
                expires_at,
            })
            .collect();
        match self.0.store.create_invitations(&links, &by_session(by, "invite")).await {
            Ok(_) => {}
            Err(StoreError::Conflict(m)) => return Ok(Err(AuthError::Invalid(m))),
            Err(e) => return Ok(Err(e.into())),
        }
        let mut failed = 0usize;
        for ((_, email, name), token) in valid.iter().zip(&tokens) {
            let body = self.invitation_body(name, &self.link("welcome", token), expires_at);
            if let Err(e) = self.0.mailer.send(email, "Your invitation to Tessera", &body).await {
                tracing::warn!(error = %e, "an invitation email could not be sent");
                failed += 1;
            }
        }
        tracing::info!(invited = valid.len(), unsent = failed, "invitations created");
        if failed > 0 {
            return Ok(Err(AuthError::Mail(format!(
                "{failed} of {} invitation emails could not be sent; invite those people again",
                valid.len()
            ))));
        }
        Ok(Ok(valid.len()))
    }

    /// Open invitations.
    pub async fn open_invitations(&self) -> Result<Vec<InvitationRow>, AuthError> {
        Ok(self
            .0
            .store
            .open_invitations(self.now())
            .await?
            .into_iter()
            .map(|(_, email, name, expires_at)| InvitationRow { email, name, expires_at })
            .collect())
    }

    /// The purpose of a live link (for the page to show), or [`AuthError::LinkNotLive`].
    pub async fn live_link(&self, token: &str) -> Result<tessera_store::LiveLink, AuthError> {
        self.0.store.live_link(&token_hash(token), self.now()).await?.ok_or(AuthError::LinkNotLive)
    }

    /// Accepts a bootstrap link (with the operator's own address and name) or an invitation:
    /// checks the password against the policy, creates the account and starts a session at the
    /// enrolment stage — nothing else is reachable until a second factor is enrolled.
    pub async fn accept(
        &self,
        token: &str,
        bootstrap_identity: Option<(&str, &str)>,
        password: &str,
        confirmation: &str,
        client: &Client,
    ) -> Result<SessionToken, AuthError> {
        let link = self.live_link(token).await?;
        let (email, name) = match (link.purpose, bootstrap_identity) {
            (LinkPurpose::Bootstrap, Some((email, name))) => (valid_email(email)?, valid_name(name)?),
            (LinkPurpose::Invitation, _) => (
                link.email.clone().ok_or(AuthError::LinkNotLive)?,
                link.display_name.clone().ok_or(AuthError::LinkNotLive)?,
            ),
            _ => return Err(AuthError::LinkNotLive),
        };
        let password = self.0.policy.check(password, Some(confirmation), &name, &email).map_err(AuthError::Password)?;
        let hash = self.0.hasher.hash(&password).await?;
        let identity = (link.purpose == LinkPurpose::Bootstrap).then_some((email.as_str(), name.as_str()));
        let note = by_system("invitation.accept", AuditOutcome::Success).client(client.ip.clone());
        let user = match self.0.store.accept_link(&token_hash(token), identity, &hash, self.now(), &note).await {
            Ok(id) => id,
            Err(StoreError::NotFound(_)) => return Err(AuthError::LinkNotLive),
            Err(StoreError::Conflict(m)) => return Err(AuthError::Invalid(m)),
            Err(e) => return Err(e.into()),
        };
        tracing::info!(user = %user, purpose = ?link.purpose, "account created from a single-use link");
        self.start_session(&user, SessionStage::Enrol, client, None).await
    }

    /// An operator starts a password reset for an account: the person is emailed a single-use
    /// link and chooses the new password themselves; the operator never sees or sets it.
    pub async fn start_reset(&self, by: &ActiveSession, user_id: &str) -> Result<(), AuthError> {
        let user = self.0.store.user(user_id).await?.ok_or_else(|| AuthError::Invalid("no such account".into()))?;
        let token = random_token();
        let now = self.now();
        let expires_at = now + self.0.settings.reset_ttl;
        self.0
            .store
            .create_reset(
                &NewLink {
                    token_hash: &token_hash(&token),
                    purpose: LinkPurpose::Reset,
                    email: None,
                    display_name: None,
                    user_id: Some(&user.id),
                    created_by: Some(by.user_id()),
                    now,
                    expires_at,
                },
                &[by_session(by, "password.reset_start").target(user_target(&user.id))],
            )
            .await?;
        let body = format!(
            "Dear {},\n\nA Tessera administrator has started a password reset for your account.\n\n\
             To choose a new password, open this link:\n\n{}\n\nThe link works once and expires at {} (UTC). \
             Your authenticator app and passkeys stay as they are.\n\n\
             If you did not ask for this, tell your registry's controller.\n",
            user.display_name,
            self.link("reset", &token),
            time_text(expires_at)
        );
        self.0.mailer.send(&user.email, "Reset your Tessera password", &body).await?;
        tracing::info!(user = %user.id, by = %by.user_id(), "password reset started");
        Ok(())
    }

    /// Completes a reset: new password (checked against the policy), failures cleared, the lock
    /// lifted, every session of the account ended.
    pub async fn complete_reset(&self, token: &str, password: &str, confirmation: &str) -> Result<(), AuthError> {
        let link = self.live_link(token).await?;
        if link.purpose != LinkPurpose::Reset {
            return Err(AuthError::LinkNotLive);
        }
        let user_id = link.user_id.ok_or(AuthError::LinkNotLive)?;
        let user = self.0.store.user(&user_id).await?.ok_or(AuthError::LinkNotLive)?;
        let password = self
            .0
            .policy
            .check(password, Some(confirmation), &user.display_name, &user.email)
            .map_err(AuthError::Password)?;
        let hash = self.0.hasher.hash(&password).await?;
        let note = by_system("password.reset", AuditOutcome::Success);
        match self.0.store.complete_reset(&token_hash(token), &hash, self.now(), &note).await {
            Ok(_) => {}
            Err(StoreError::NotFound(_)) => return Err(AuthError::LinkNotLive),
            Err(e) => return Err(e.into()),
        }
        tracing::info!(user = %user.id, "password reset completed");
        self.notify_changed(&user, "Your Tessera password was changed", "your password was changed").await;
        Ok(())
    }

    // ----- sign-in -----

    /// A password sign-in. Every refusal — unknown address, wrong password, suspended, locked,
    /// delayed, or too many failures from this address — is the same [`SignIn::Refused`], after
    /// the same Argon2 work (a dummy hash for unknown addresses).
    pub async fn sign_in(&self, email: &str, password: &str, client: &Client) -> Result<SignIn, AuthError> {
        let s = &self.0.settings;
        let now = self.now();
        let window_start = now - now.rem_euclid(s.address_window);
        let address_blocked = self.0.store.address_failures(&client.ip, window_start).await? >= s.address_limit;
        let user = match normalise_email(email) {
            Some(e) => self.0.store.user_by_email(&e).await?,
            None => None,
        };
        let verified = self.0.hasher.verify(password, user.as_ref().and_then(|u| u.password_hash.as_deref())).await;
        // A dormant account is suspended here too, not only by the periodic sweep, so that a
        // sweep that has not run yet never lets one in; the refusal looks like any other.
        let dormant = |u: &UserRow| u.last_sign_in_at.unwrap_or(u.created_at) <= now - s.dormant_after;
        if let Some(u) = &user
            && u.status == "active"
            && dormant(u)
        {
            self.suspend_dormant().await?;
        }
        let permitted = |u: &UserRow| {
            u.status == "active" && !dormant(u) && !u.locked && now >= u.next_attempt_at && !address_blocked
        };
        match &user {
            Some(u) if verified && permitted(u) => {
                let stage =
                    if self.0.store.factor_count(&u.id).await? > 0 { SessionStage::Mfa } else { SessionStage::Enrol };
                let note = by_user(&u.id, "sign_in.success", AuditOutcome::Success, &client.ip);
                let token = self.start_signed_in_session(&u.id, stage, client, None, false, note).await?;
                tracing::info!(user = %u.id, stage = ?stage, "password accepted");
                Ok(SignIn::Session(token, stage))
            }
            _ => {
                // One `sign_in.failure` event per refusal, as done by the account when the address
                // names one (its own sign-in history shows it), else by nobody known.
                let mut failure = match &user {
                    Some(u) => vec![by_user(&u.id, "sign_in.failure", AuditOutcome::Failure, &client.ip)],
                    None => vec![by_system("sign_in.failure", AuditOutcome::Failure).client(client.ip.clone())],
                };
                if let Some(u) = &user
                    && !verified
                    && !u.locked
                    && now >= u.next_attempt_at
                    && !address_blocked
                {
                    let lockout = [by_user(&u.id, "sign_in.lockout", AuditOutcome::Failure, &client.ip)];
                    let state = self
                        .0
                        .store
                        .record_sign_in_failure(
                            &u.id,
                            now,
                            AccountSettings::delay_after,
                            s.lock_after,
                            &std::mem::take(&mut failure),
                            &lockout,
                        )
                        .await?;
                    if state.locked {
                        tracing::warn!(user = %u.id, failures = state.failed_attempts, "account locked");
                    }
                }
                self.0
                    .store
                    .add_address_failure(&client.ip, window_start, window_start - s.address_window, &failure)
                    .await?;
                tracing::info!("sign-in refused");
                Ok(SignIn::Refused)
            }
        }
    }

    /// Starts the session of a successful sign-in with its audit event (one transaction).
    async fn start_signed_in_session(
        &self,
        user_id: &str,
        stage: SessionStage,
        client: &Client,
        mfa_at: Option<i64>,
        unlock: bool,
        note: AuditNote,
    ) -> Result<SessionToken, AuthError> {
        let token = SessionToken(Zeroizing::new(random_token()));
        let session = NewSession {
            id_hash: &token.hash(),
            user_id,
            stage,
            now: self.now(),
            mfa_at,
            client_ip: &client.ip,
            user_agent: &client.user_agent,
        };
        self.0.store.start_signed_in_session(&session, unlock, &[note]).await?;
        Ok(token)
    }

    async fn start_session(
        &self,
        user_id: &str,
        stage: SessionStage,
        client: &Client,
        mfa_at: Option<i64>,
    ) -> Result<SessionToken, AuthError> {
        let token = SessionToken(Zeroizing::new(random_token()));
        self.0
            .store
            .create_session(&NewSession {
                id_hash: &token.hash(),
                user_id,
                stage,
                now: self.now(),
                mfa_at,
                client_ip: &client.ip,
                user_agent: &client.user_agent,
            })
            .await?;
        Ok(token)
    }

    /// The live session for a cookie value: `None` if unknown, idle too long, too old, or the
    /// account is no longer active (such sessions are deleted). Activity is recorded at most
    /// once a minute, so a busy session does not write on every request.
    pub async fn session(&self, token: &SessionToken) -> Result<Option<ActiveSession>, AuthError> {
        let hash = token.hash();
        let Some(row) = self.0.store.session(&hash).await? else { return Ok(None) };
        let now = self.now();
        let s = &self.0.settings;
        if now - row.last_seen_at > s.idle_timeout
            || now - row.created_at > s.absolute_timeout
            || row.status != "active"
        {
            self.0.store.end_session(&hash).await?;
            return Ok(None);
        }
        if now - row.last_seen_at >= 60 {
            self.0.store.touch_session(&hash, now).await?;
        }
        Ok(Some(ActiveSession { row, token: token.clone() }))
    }

    /// Whether the session passed a second-factor check within the step-up window.
    pub fn has_recent_mfa(&self, session: &ActiveSession) -> bool {
        session.row.stage == SessionStage::Full
            && session.row.mfa_at.is_some_and(|t| self.now() - t <= self.0.settings.step_up_window)
    }

    /// Ends a session (sign-out).
    pub async fn end_session(&self, session: &ActiveSession) -> Result<(), AuthError> {
        let note = by_session(session, "sign_out").target(user_target(session.user_id()));
        self.0.store.sign_out(&session.row.id_hash, &[note]).await?;
        tracing::info!(user = %session.user_id(), "signed out");
        Ok(())
    }

    /// The account's sessions.
    pub async fn sessions_of(&self, session: &ActiveSession) -> Result<Vec<SessionRow>, AuthError> {
        Ok(self.0.store.user_sessions(session.user_id()).await?)
    }

    /// Ends one of the account's own sessions, named by its stored hash.
    pub async fn end_own_session(&self, session: &ActiveSession, id_hash: &str) -> Result<bool, AuthError> {
        Ok(self.0.store.end_own_session(session.user_id(), id_hash).await?)
    }

    async fn notify_changed(&self, user: &UserRow, subject: &str, what: &str) {
        self.notify(&user.email, subject, &changed_body(user, what)).await;
    }

    /// Whether a second-factor code may be checked now: not while the account is locked or its
    /// progressive delay runs (such attempts are refused without being counted).
    async fn may_attempt(&self, session: &ActiveSession) -> Result<bool, AuthError> {
        let user = self.0.store.user(session.user_id()).await?;
        Ok(user.is_some_and(|u| !u.locked && self.now() >= u.next_attempt_at))
    }

    /// Counts a failed check of a signed-in person (a second factor, or the current password),
    /// recorded as `action` with outcome failure; locks the account at the limit.
    async fn count_factor_failure(&self, session: &ActiveSession, action: &str) -> Result<(), AuthError> {
        let ip = &session.row.client_ip;
        let state = self
            .0
            .store
            .record_sign_in_failure(
                session.user_id(),
                self.now(),
                AccountSettings::delay_after,
                self.0.settings.lock_after,
                &[by_user(session.user_id(), action, AuditOutcome::Failure, ip)],
                &[by_user(session.user_id(), "sign_in.lockout", AuditOutcome::Failure, ip)],
            )
            .await?;
        if state.locked {
            tracing::warn!(user = %session.user_id(), "account locked");
            self.0.store.end_user_sessions(session.user_id()).await?;
        }
        Ok(())
    }

    /// The session is fully signed in (or stepped up) by `how` (`totp`, `passkey`,
    /// `recovery_code`, `enrolment`), with its `mfa.success` event.
    async fn second_factor_passed(&self, session: &ActiveSession, how: &str) -> Result<(), AuthError> {
        let note = by_user(session.user_id(), "mfa.success", AuditOutcome::Success, &session.row.client_ip)
            .purpose(format!("second factor: {how}"));
        self.0.store.pass_second_factor(&session.row.id_hash, session.user_id(), self.now(), &[note]).await?;
        Ok(())
    }

    /// Checks a TOTP code as the second factor (or as step-up). A code is accepted once: its
    /// time step is spent atomically. Failures count towards the account's lock.
    pub async fn verify_totp(&self, session: &ActiveSession, code: &str) -> Result<bool, AuthError> {
        if self.must_use_passkey(session) || !self.may_attempt(session).await? {
            return Ok(false);
        }
        let now = self.now();
        for factor in self.0.store.totp_factors(session.user_id()).await? {
            if !factor.confirmed {
                continue;
            }
            let seed = self.0.keys.open_secret("totp", session.user_id(), &factor.sealed_secret)?;
            if let Some(step) = totp::matching_step(&seed, code, now)
                && self.0.store.spend_totp_step(session.user_id(), &factor.id, step, now, &[]).await?
            {
                self.second_factor_passed(session, "totp").await?;
                tracing::info!(user = %session.user_id(), "second factor accepted (TOTP)");
                return Ok(true);
            }
        }
        self.count_factor_failure(session, "mfa.failure").await?;
        tracing::info!(user = %session.user_id(), "second factor refused");
        Ok(false)
    }

    /// Uses a recovery code as the second factor; each works once.
    pub async fn use_recovery_code(&self, session: &ActiveSession, code: &str) -> Result<bool, AuthError> {
        if !self.may_attempt(session).await? {
            return Ok(false);
        }
        let hash = self.0.keys.recovery_code_hash(session.user_id(), &normalise_recovery_code(code));
        if self.0.store.spend_recovery_code(session.user_id(), &hash, self.now()).await? {
            self.second_factor_passed(session, "recovery_code").await?;
            let left = self.0.store.recovery_codes_left(session.user_id()).await?;
            tracing::info!(user = %session.user_id(), left, "recovery code used");
            let body = format!(
                "Dear {},\n\nA recovery code was used to sign in to your Tessera account. You have {left} left.\n\n\
                 If this was not you, tell your registry's controller at once.\n",
                session.row.display_name
            );
            self.notify(&session.row.email, "A recovery code was used on your Tessera account", &body).await;
            return Ok(true);
        }
        self.count_factor_failure(session, "mfa.failure").await?;
        Ok(false)
    }

    // ----- enrolment and management of factors -----

    /// Starts adding an authenticator app: reuses the account's unconfirmed one if any.
    pub async fn begin_totp(&self, session: &ActiveSession) -> Result<TotpEnrolment, AuthError> {
        let user = session.user_id();
        let pending = self.0.store.totp_factors(user).await?.into_iter().find(|f| !f.confirmed);
        let (factor_id, seed) = match pending {
            Some(f) => (f.id.clone(), self.0.keys.open_secret("totp", user, &f.sealed_secret)?),
            None => {
                let seed = totp::new_seed();
                let sealed = self.0.keys.seal_secret("totp", user, &seed)?;
                let id = self.0.store.add_totp(user, "Authenticator app", &sealed, self.now()).await?;
                (id, Zeroizing::new(seed.to_vec()))
            }
        };
        let provisioning = totp::provisioning(&seed, &session.row.email)?;
        Ok(TotpEnrolment { factor_id, provisioning })
    }

    /// Confirms an authenticator app with a code from it. The first factor of an account moves
    /// its session to fully signed in. Returns whether the code was right.
    pub async fn confirm_totp(&self, session: &ActiveSession, factor_id: &str, code: &str) -> Result<bool, AuthError> {
        let user = session.user_id();
        let Some(factor) =
            self.0.store.totp_factors(user).await?.into_iter().find(|f| f.id == factor_id && !f.confirmed)
        else {
            return Ok(false);
        };
        let seed = self.0.keys.open_secret("totp", user, &factor.sealed_secret)?;
        let now = self.now();
        let Some(step) = totp::matching_step(&seed, code, now) else { return Ok(false) };
        let enrol = by_session(session, "mfa.enrol").target(user_target(user)).purpose("authenticator app");
        if !self.0.store.spend_totp_step(user, &factor.id, step, now, &[enrol]).await? {
            return Ok(false);
        }
        self.factor_added(session, "an authenticator app was added").await?;
        Ok(true)
    }

    async fn factor_added(&self, session: &ActiveSession, what: &str) -> Result<(), AuthError> {
        if session.row.stage == SessionStage::Enrol {
            self.second_factor_passed(session, "enrolment").await?;
        }
        tracing::info!(user = %session.user_id(), "second factor enrolled");
        let user =
            self.0.store.user(session.user_id()).await?.ok_or_else(|| AuthError::Invalid("no account".into()))?;
        self.notify(&user.email, "A sign-in method was added to your Tessera account", &changed_body(&user, what))
            .await;
        Ok(())
    }

    /// Starts adding a passkey; the ceremony state is kept on the session.
    pub async fn begin_passkey(&self, session: &ActiveSession) -> Result<serde_json::Value, AuthError> {
        let uuid =
            Uuid::parse_str(session.user_id()).map_err(|_| AuthError::Setup("account id is not a UUID".into()))?;
        let existing = self.stored_passkeys(session.user_id()).await?;
        let existing: Vec<_> = existing.into_iter().map(|(_, p)| p).collect();
        let (options, state) =
            self.0.passkeys.start_registration(uuid, &session.row.email, &session.row.display_name, &existing)?;
        self.0.store.set_session_ceremony(&session.row.id_hash, Some(&format!("register:{state}"))).await?;
        Ok(options)
    }

    /// Finishes adding a passkey.
    pub async fn finish_passkey(&self, session: &ActiveSession, response: &str, label: &str) -> Result<(), AuthError> {
        let state = self.take_ceremony(session, "register:").await?;
        let passkey = self.0.passkeys.finish_registration(response, &state)?;
        let label = match label.trim() {
            "" => "Passkey",
            l => l,
        };
        let label: String = label.chars().filter(|c| !c.is_control()).take(60).collect();
        self.0
            .store
            .add_passkey(
                session.user_id(),
                &credential_id_text(passkey.cred_id()),
                &label,
                &store_passkey(&passkey)?,
                self.now(),
                &[by_session(session, "mfa.enrol").target(user_target(session.user_id())).purpose("passkey")],
            )
            .await?;
        self.factor_added(session, "a passkey was added").await
    }

    async fn take_ceremony(&self, session: &ActiveSession, kind: &str) -> Result<String, AuthError> {
        // Read fresh: the ceremony was stored by an earlier request.
        let row = self.0.store.session(&session.row.id_hash).await?.ok_or(AuthError::Passkey)?;
        self.0.store.set_session_ceremony(&session.row.id_hash, None).await?;
        row.ceremony.and_then(|c| c.strip_prefix(kind).map(str::to_owned)).ok_or(AuthError::Passkey)
    }

    async fn stored_passkeys(&self, user: &str) -> Result<Vec<(String, webauthn_rs::prelude::Passkey)>, AuthError> {
        self.0
            .store
            .passkeys(user)
            .await?
            .into_iter()
            .map(|row| Ok((row.id.clone(), parse_passkey(&row.passkey)?)))
            .collect()
    }

    /// Starts using a passkey as the second factor (or step-up).
    pub async fn begin_passkey_check(&self, session: &ActiveSession) -> Result<serde_json::Value, AuthError> {
        let keys: Vec<_> = self.stored_passkeys(session.user_id()).await?.into_iter().map(|(_, p)| p).collect();
        if keys.is_empty() {
            return Err(AuthError::Passkey);
        }
        let (options, state) = self.0.passkeys.start_authentication(&keys)?;
        self.0.store.set_session_ceremony(&session.row.id_hash, Some(&format!("check:{state}"))).await?;
        Ok(options)
    }

    /// Finishes a passkey second-factor check.
    pub async fn finish_passkey_check(&self, session: &ActiveSession, response: &str) -> Result<(), AuthError> {
        let state = self.take_ceremony(session, "check:").await?;
        let stored = self.stored_passkeys(session.user_id()).await?;
        let keys: Vec<_> = stored.iter().map(|(_, p)| p.clone()).collect();
        let result = self.0.passkeys.finish_authentication(response, &state, &keys);
        let (cred_id, updated) = match result {
            Ok(r) => r,
            Err(e) => {
                self.count_factor_failure(session, "mfa.failure").await?;
                return Err(e);
            }
        };
        let row = self.0.store.passkey_by_credential(&cred_id).await?.ok_or(AuthError::Passkey)?;
        self.0.store.passkey_used(&row.id, &store_passkey(&updated)?, self.now()).await?;
        self.second_factor_passed(session, "passkey").await?;
        tracing::info!(user = %session.user_id(), "second factor accepted (passkey)");
        Ok(())
    }

    /// Starts a passwordless passkey sign-in. Returns the browser's options and a ceremony
    /// handle (random, single use, valid for 5 minutes) to send back with the response.
    pub async fn begin_passkey_sign_in(&self) -> Result<(serde_json::Value, String), AuthError> {
        let (options, state) = self.0.passkeys.start_discoverable()?;
        let handle = random_token();
        self.0.store.put_ceremony(&token_hash(&handle), &state, self.now() + 300).await?;
        Ok((options, handle))
    }

    /// Finishes a passwordless sign-in. Success starts a fully signed-in session and lifts a
    /// lock (a passkey is phishing-resistant and needs the device); any failure is `Refused`.
    pub async fn finish_passkey_sign_in(
        &self,
        handle: &str,
        response: &str,
        client: &Client,
    ) -> Result<SignIn, AuthError> {
        let now = self.now();
        let outcome = async {
            let state = self.0.store.take_ceremony(&token_hash(handle), now).await?.ok_or(AuthError::Passkey)?;
            let (uuid, cred_id) = self.0.passkeys.identify(response)?;
            let row = self.0.store.passkey_by_credential(&cred_id).await?.ok_or(AuthError::Passkey)?;
            if Uuid::parse_str(&row.user_id).ok() != Some(uuid) {
                return Err(AuthError::Passkey);
            }
            let updated = self.0.passkeys.finish_discoverable(response, &state, &parse_passkey(&row.passkey)?)?;
            self.0.store.passkey_used(&row.id, &store_passkey(&updated)?, now).await?;
            let user = self.0.store.user(&row.user_id).await?.ok_or(AuthError::Passkey)?;
            if user.status != "active" {
                return Err(AuthError::Passkey);
            }
            Ok(user)
        }
        .await;
        match outcome {
            Ok(user) => {
                let note = by_user(&user.id, "sign_in.success", AuditOutcome::Success, &client.ip).purpose("passkey");
                let token =
                    self.start_signed_in_session(&user.id, SessionStage::Full, client, Some(now), true, note).await?;
                tracing::info!(user = %user.id, "signed in with a passkey");
                Ok(SignIn::Session(token, SessionStage::Full))
            }
            Err(AuthError::Passkey) => {
                let s = &self.0.settings;
                let window_start = now - now.rem_euclid(s.address_window);
                let failure = [by_system("sign_in.failure", AuditOutcome::Failure).client(client.ip.clone())];
                self.0
                    .store
                    .add_address_failure(&client.ip, window_start, window_start - s.address_window, &failure)
                    .await?;
                tracing::info!("passkey sign-in refused");
                Ok(SignIn::Refused)
            }
            Err(e) => Err(e),
        }
    }

    /// Makes 10 new recovery codes (replacing any earlier ones) and returns them, for showing
    /// once. Only their keyed hashes are stored.
    pub async fn new_recovery_codes(&self, session: &ActiveSession) -> Result<Vec<Zeroizing<String>>, AuthError> {
        let mut codes = Vec::with_capacity(10);
        let mut hashes = Vec::with_capacity(10);
        for _ in 0..10 {
            let mut raw = [0u8; 10];
            rand::fill(&mut raw);
            let chars: String = raw.iter().map(|b| RECOVERY_ALPHABET[usize::from(*b) % 32] as char).collect();
            hashes.push(self.0.keys.recovery_code_hash(session.user_id(), &chars));
            codes.push(Zeroizing::new(format!("{}-{}", &chars[..5], &chars[5..])));
        }
        let note = by_session(session, "mfa.recovery_codes").target(user_target(session.user_id()));
        self.0.store.replace_recovery_codes(session.user_id(), &hashes, self.now(), &[note]).await?;
        tracing::info!(user = %session.user_id(), "recovery codes replaced");
        Ok(codes)
    }

    /// Revokes a factor (not the last one). The person is told by email.
    pub async fn revoke_factor(&self, session: &ActiveSession, kind: FactorKind, id: &str) -> Result<bool, AuthError> {
        let what = match kind {
            FactorKind::Totp => "authenticator app",
            FactorKind::Passkey => "passkey",
        };
        let note = by_session(session, "mfa.revoke").target(user_target(session.user_id())).purpose(what);
        let removed = match self.0.store.revoke_factor(session.user_id(), kind, id, &[note]).await {
            Ok(r) => r,
            Err(StoreError::Conflict(m)) => return Err(AuthError::Invalid(m)),
            Err(e) => return Err(e.into()),
        };
        if removed {
            tracing::info!(user = %session.user_id(), kind = ?kind, "second factor revoked");
            let what = match kind {
                FactorKind::Totp => "an authenticator app was removed",
                FactorKind::Passkey => "a passkey was removed",
            };
            let user =
                self.0.store.user(session.user_id()).await?.ok_or_else(|| AuthError::Invalid("no account".into()))?;
            self.notify(
                &user.email,
                "A sign-in method was removed from your Tessera account",
                &changed_body(&user, what),
            )
            .await;
        }
        Ok(removed)
    }

    /// Changes the account's own password (the current one is checked), ending its other sessions.
    pub async fn change_password(
        &self,
        session: &ActiveSession,
        current: &str,
        new: &str,
        confirmation: &str,
    ) -> Result<(), AuthError> {
        let user =
            self.0.store.user(session.user_id()).await?.ok_or_else(|| AuthError::Invalid("no account".into()))?;
        if !self.0.hasher.verify(current, user.password_hash.as_deref()).await {
            self.count_factor_failure(session, "password.change").await?;
            return Err(AuthError::Invalid("Your current password is not right.".into()));
        }
        let password = self
            .0
            .policy
            .check(new, Some(confirmation), &user.display_name, &user.email)
            .map_err(AuthError::Password)?;
        let hash = self.0.hasher.hash(&password).await?;
        let note = by_session(session, "password.change").target(user_target(&user.id));
        self.0.store.change_password(&user.id, &hash, &session.row.id_hash, &[note]).await?;
        tracing::info!(user = %user.id, "password changed");
        self.notify_changed(&user, "Your Tessera password was changed", "your password was changed").await;
        Ok(())
    }

    /// Every account (for operators).
    pub async fn users(&self) -> Result<Vec<UserRow>, AuthError> {
        Ok(self.0.store.users().await?)
    }
}

fn changed_body(user: &UserRow, what: &str) -> String {
    format!(
        "Dear {},\n\nOn your Tessera account, {what}.\n\nIf this was you, there is nothing to do. If it was not, \
         tell your registry's controller at once so they can lock the account.\n",
        user.display_name
    )
}

/// `YYYY-MM-DD HH:MM` (UTC) of a unix time.
pub fn time_text(unix: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| unix.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_grows_after_four_failures_and_stops_at_fifteen_minutes() {
        let d: Vec<i64> = (1..=12).map(AccountSettings::delay_after).collect();
        assert_eq!(d, [0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128]);
        assert_eq!(AccountSettings::delay_after(99), 900);
    }

    #[test]
    fn times_are_written_in_utc() {
        assert_eq!(time_text(0), "1970-01-01 00:00");
        assert_eq!(time_text(1_795_000_000), "2026-11-18 11:06");
        assert_eq!(time_text(951_782_400), "2000-02-29 00:00");
    }
}
