//! TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps, ±1 step of drift) via totp-rs, with a
//! QR code for authenticator apps. A code's time step is returned on success so the caller can
//! refuse that step (and earlier ones) from then on: a code works once.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use totp_rs::{Algorithm, Builder, Secret, Totp};
use zeroize::Zeroizing;

use crate::AuthError;

/// Seconds per step.
pub const STEP: u64 = 30;

/// A new random 160-bit seed (RFC 4226's recommended length).
pub fn new_seed() -> Zeroizing<Vec<u8>> {
    let mut seed = Zeroizing::new(vec![0u8; 20]);
    rand::fill(seed.as_mut_slice());
    seed
}

fn totp(seed: &[u8], account: &str) -> Result<Totp, AuthError> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(STEP)
        .with_secret(Secret::from(seed.to_vec()))
        .with_issuer(Some("Tessera"))
        .with_account_name(account.to_owned())
        .build()
        .map_err(|e| AuthError::Setup(format!("TOTP parameters: {e}")))
}

/// The step whose code `code` is, within one step either side of `now`; `None` if it matches none.
pub fn matching_step(seed: &[u8], code: &str, now: i64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = totp(seed, "check").ok()?;
    let now = u64::try_from(now).ok()?;
    t.check(&code, now).and_then(|step| i64::try_from(step).ok())
}

/// The code for `seed` at `time` (for tests and the browser tests' helper).
pub fn code_at(seed: &[u8], time: i64) -> String {
    totp(seed, "code").map(|t| t.generate(u64::try_from(time).unwrap_or(0)).to_string()).unwrap_or_default()
}

/// The seed of a base32 setup key (as an authenticator app reads it), for tests and tools.
pub fn seed_from_base32(key: &str) -> Option<Vec<u8>> {
    Secret::try_from_base32(key.trim()).ok().map(|s| s.to_vec())
}

/// What an authenticator app needs: the seed in base32, the `otpauth://` URI and that URI as a
/// QR code (an SVG data URI for an `<img>`).
pub struct Provisioning {
    /// Base32 seed, for typing in by hand.
    pub secret_base32: Zeroizing<String>,
    /// `otpauth://totp/…` URI.
    pub uri: Zeroizing<String>,
    /// `data:image/svg+xml;base64,…` of the QR code.
    pub qr_data_uri: Zeroizing<String>,
}

/// Provisioning details of `seed` for the account named `account`.
pub fn provisioning(seed: &[u8], account: &str) -> Result<Provisioning, AuthError> {
    let t = totp(seed, account)?;
    let uri = Zeroizing::new(t.to_url().map_err(|e| AuthError::Setup(format!("TOTP URI: {e}")))?);
    let svg = qrcode::QrCode::new(uri.as_bytes())
        .map_err(|e| AuthError::Setup(format!("QR code: {e}")))?
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build();
    let qr = Zeroizing::new(format!("data:image/svg+xml;base64,{}", B64.encode(svg.as_bytes())));
    let secret = Zeroizing::new(Secret::from(seed.to_vec()).to_base32());
    Ok(Provisioning { secret_base32: secret, uri, qr_data_uri: qr })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B's SHA-1 seed ("12345678901234567890") and its published 8-digit
    /// codes; the 6-digit code is the last six digits.
    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        let seed = b"12345678901234567890";
        for (time, eight) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            assert_eq!(code_at(seed, time), eight[2..], "t = {time}");
            let step = matching_step(seed, &eight[2..], time).expect("its own step matches");
            assert_eq!(step, time / 30);
        }
    }

    #[test]
    fn one_step_of_drift_is_allowed_either_way_and_no_more() {
        let seed = new_seed();
        let now = 1_800_000_000;
        let code = code_at(&seed, now);
        assert_eq!(matching_step(&seed, &code, now + 30), Some(now / 30));
        assert_eq!(matching_step(&seed, &code, now - 30), Some(now / 30));
        assert_eq!(matching_step(&seed, &code, now + 61), None);
        assert_eq!(matching_step(&seed, "12345", now), None);
        assert_eq!(matching_step(&seed, "abcdef", now), None);
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert_eq!(matching_step(&seed, &spaced, now), Some(now / 30));
    }

    #[test]
    fn provisioning_gives_a_uri_and_a_qr_code() {
        let p = provisioning(&new_seed(), "jo@nhs.example").unwrap();
        assert!(p.uri.starts_with("otpauth://totp/Tessera:jo%40nhs.example?"), "{}", p.uri.as_str());
        assert!(p.qr_data_uri.starts_with("data:image/svg+xml;base64,"));
        assert_eq!(p.secret_base32.len(), 32);
        assert_eq!(seed_from_base32(&p.secret_base32).map(|s| s.len()), Some(20));
    }
}
