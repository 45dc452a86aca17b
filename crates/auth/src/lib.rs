//! Tessera's accounts: who may sign in, and how.
//!
//! - [`passwords`]: NIST SP 800-63B rules and Argon2id hashing.
//! - [`totp`]: RFC 6238 codes, each usable once.
//! - [`passkeys`]: WebAuthn (webauthn-rs), as second factor and for passwordless sign-in.
//! - [`mail`]: notification email (SMTP, or a file outbox for development and tests). No email
//!   ever carries a secret other than a single-use link.
//! - [`Accounts`]: the service the web layer calls — bootstrap, invitations, sign-in with
//!   throttling and lockout, second factors, sessions, resets.
//!
//! Nothing here knows HTTP. Time comes from a [`Clock`] that tests can set.

#![forbid(unsafe_code)]

mod access;
mod accounts;
mod events;
pub mod mail;
pub mod passkeys;
pub mod passwords;
mod requests;
pub mod totp;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use sha2::{Digest as _, Sha256};

pub use access::{NewToken, TOKEN_PREFIX, TokenPermission, TokenSpec, address_in};
pub use accounts::{
    AccountSettings, Accounts, ActiveSession, Client, InvitationRow, InviteProblem, SessionToken, SignIn,
    TotpEnrolment, time_text,
};
pub use mail::{MailConfig, Mailer};
pub use passwords::{NewPassword, PasswordHasher, PasswordPolicy, PasswordProblem};
pub use requests::{Decided, PlatformOperator, RECERTIFY_WINDOW};

/// What can go wrong in account handling. Messages never contain secrets or addresses.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Set-up is wrong (missing list file, bad URL); a deployment problem.
    #[error("{0}")]
    Setup(String),
    /// Input that a person can correct; the message says how.
    #[error("{0}")]
    Invalid(String),
    /// One field of a form is wrong; the message says how to put it right.
    #[error("{field}: {message}")]
    Field {
        /// The field (`email`, `name`).
        field: &'static str,
        /// What is wrong, in plain English.
        message: String,
    },
    /// A new password broke the rules.
    #[error("{0}")]
    Password(PasswordProblem),
    /// The single-use link is unknown, used, withdrawn or expired.
    #[error("this link has expired or has already been used")]
    LinkNotLive,
    /// A second-factor ceremony failed.
    #[error("the security key or passkey could not be verified")]
    Passkey,
    /// Sending email failed.
    #[error("email could not be sent: {0}")]
    Mail(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] tessera_store::StoreError),
    /// Keys failed.
    #[error(transparent)]
    Vault(#[from] tessera_vault::VaultError),
}

/// The time, in unix seconds. The system clock in service; a settable one in tests, so that
/// timeouts are tested without sleeping.
#[derive(Debug, Clone, Default)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock(None)
    }

    /// A clock that stands still at `start` until moved with [`Clock::advance`].
    pub fn manual(start: i64) -> Self {
        Clock(Some(Arc::new(AtomicI64::new(start))))
    }

    /// Now, in unix seconds.
    pub fn now(&self) -> i64 {
        match &self.0 {
            Some(t) => t.load(Ordering::SeqCst),
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        }
    }

    /// Moves a manual clock on by `seconds` (no effect on the system clock).
    pub fn advance(&self, seconds: i64) {
        if let Some(t) = &self.0 {
            t.fetch_add(seconds, Ordering::SeqCst);
        }
    }
}

/// A fresh 256-bit random token, base64url without padding.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    B64URL.encode(bytes)
}

/// The SHA-256 (hex) under which a token is stored and looked up.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Normalises an email address for storage and comparison: trimmed and lower-cased. Returns
/// `None` unless it looks like `local@domain.tld` (one `@`, no spaces or controls, ≤ 254 chars).
pub fn normalise_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let ok = !local.is_empty()
        && local.len() <= 64
        && email.len() <= 254
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.contains("..")
        && !domain.contains('@')
        && email.chars().all(|c| !c.is_whitespace() && !c.is_control() && c != '<' && c != '>' && c != '"');
    ok.then_some(email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_stored_only_as_hashes() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
    }

    #[test]
    fn email_addresses_are_normalised_and_checked() {
        assert_eq!(normalise_email("  Jo.Smith@NHS.example "), Some("jo.smith@nhs.example".into()));
        for bad in ["", "jo", "jo@", "@nhs.example", "jo@nhs", "jo smith@nhs.example", "jo@@nhs.example", "a@b..c"] {
            assert_eq!(normalise_email(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let c = Clock::manual(1_000);
        assert_eq!(c.now(), 1_000);
        c.advance(1_801);
        assert_eq!(c.now(), 2_801);
        assert!(Clock::system().now() > 1_700_000_000);
    }
}
