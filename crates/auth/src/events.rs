//! What authentication and administration write to the audit log.
//!
//! Every act appends its event **in the same transaction as its write**: the store method that
//! makes the change takes the notes as its last argument (`audit: &[AuditNote]`) and appends them
//! just before it commits, so the act and its event are stored together or not at all. Acts
//! that write nothing else (a refused sign-in from an unknown address, an API token's use) append
//! the event on its own, before anything is returned.
//!
//! Targets are pseudonymous (`user:<id>`, `token:<id>`, `grant:<id>`, `request:<id>`); an email
//! address, a name or a secret never goes into an event. The client is the address the request
//! came from (as the session recorded it).
//!
//! Action names (the audit pages filter on their prefixes):
//! - `sign_in.success`, `sign_in.failure`, `sign_in.lockout` — the first factor (or a
//!   passwordless passkey); `mfa.success`, `mfa.failure` — the second factor or step-up;
//!   `mfa.enrol`, `mfa.revoke`, `mfa.recovery_codes`; `password.change`, `password.reset_start`,
//!   `password.reset`; `sign_out`; `token.use`.
//! - `invite`, `invitation.accept`, `operator.invite`, `access.request`, `access.approve`,
//!   `access.decline`, `grant.create`, `grant.recertify`, `grant.revoke`, `account.suspend`,
//!   `account.reactivate`, `operator.appoint`, `token.create`, `token.revoke`, `networks.set`,
//!   `dictionary.load`, `catalogue.load`, `catalogue.dismiss`.
//! - Devices and recalls (written by the web crate's handlers through the store):
//!   `implant.add`, `recall.create`, `recall.close`, `recall.counts`, `recall.worklist`,
//!   `recall.worklist_download`, `recall.followup`.

use tessera_store::{AuditActor, AuditNote, AuditOutcome};

use crate::ActiveSession;

/// `action` by the signed-in person, from the session's address; succeeded.
pub(crate) fn by_session(session: &ActiveSession, action: &str) -> AuditNote {
    AuditNote::new(AuditActor::User(session.user_id().to_owned()), action, AuditOutcome::Success)
        .client(session.row.client_ip.clone())
}

/// `action` by the account `user_id` (known, not necessarily signed in), from `ip`.
pub(crate) fn by_user(user_id: &str, action: &str, outcome: AuditOutcome, ip: &str) -> AuditNote {
    AuditNote::new(AuditActor::User(user_id.to_owned()), action, outcome)
        .client(ip.to_owned())
        .target(user_target(user_id))
}

/// `action` by Tessera itself (a sweep, a sign-in attempt by nobody known).
pub(crate) fn by_system(action: &str, outcome: AuditOutcome) -> AuditNote {
    AuditNote::new(AuditActor::System, action, outcome)
}

/// The pseudonymous reference to an account.
pub(crate) fn user_target(user_id: &str) -> String {
    format!("user:{user_id}")
}
