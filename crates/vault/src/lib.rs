//! Encryption of patient identifiers at rest.
//!
//! Key hierarchy:
//! - one **master key** per deployment (32 random bytes in a file readable only by its owner);
//! - one **data key** per registry, random, stored only *wrapped* (encrypted) under the master key
//!   with the registry id as associated data, so a wrapped key copied to another registry fails;
//! - from each data key, HKDF-SHA-256 derives a field-encryption key and a blind-index key.
//!
//! Identifier fields are sealed with XChaCha20-Poly1305 (192-bit random nonces, so random nonces
//! are safe at any volume we will see). The associated data binds each ciphertext to its registry,
//! patient and field: moved to another row or column, it fails to open. NHS-number lookups use a
//! keyed blind index, HMAC-SHA-256 under the registry's blind-index key, so equal numbers match
//! within a registry but cannot be linked across registries or guessed without the key.
//!
//! Nothing here does I/O. Keys are `secrecy` boxes, zeroised on drop, and print nothing in `Debug`.

#![forbid(unsafe_code)]

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::Aead;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;
use tessera_domain::{NhsNumber, RegistryId};
use zeroize::Zeroizing;

/// The format byte at the start of every sealed value; a future format gets a new byte.
const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const MASTER_KEY_PREFIX: &str = "tessera-master-key-v1:";

/// Why a key or ciphertext could not be used. Deliberately says nothing about contents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// The master key file is not in the expected format.
    #[error("the master key is not in the expected format ({MASTER_KEY_PREFIX}<base64 of 32 bytes>)")]
    BadMasterKey,
    /// A wrapped data key did not open: wrong master key, wrong registry, or tampering.
    #[error("the data key of registry {0} does not open with this master key")]
    UnwrapFailed(String),
    /// A sealed field did not open: wrong key, moved ciphertext, or tampering.
    #[error("an encrypted field failed authentication (wrong key, moved or altered ciphertext)")]
    OpenFailed,
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed")]
    Random,
}

fn random_32() -> Result<[u8; 32], VaultError> {
    let mut k = [0u8; 32];
    getrandom::fill(&mut k).map_err(|_| VaultError::Random)?;
    Ok(k)
}

/// The deployment's master key. It only wraps and unwraps registry data keys.
pub struct MasterKey(SecretBox<[u8; 32]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<secret>)")
    }
}

impl MasterKey {
    /// A fresh random master key.
    pub fn generate() -> Result<Self, VaultError> {
        Ok(Self(SecretBox::new(Box::new(random_32()?))))
    }

    /// Reads the text form written by [`MasterKey::encode`] (surrounding whitespace ignored).
    pub fn decode(text: &str) -> Result<Self, VaultError> {
        let b64 = text.trim().strip_prefix(MASTER_KEY_PREFIX).ok_or(VaultError::BadMasterKey)?;
        let bytes = Zeroizing::new(B64.decode(b64).map_err(|_| VaultError::BadMasterKey)?);
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| VaultError::BadMasterKey)?;
        Ok(Self(SecretBox::new(Box::new(key))))
    }

    /// The text form for the key file. The caller must write it with owner-only permissions.
    pub fn encode(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(String::with_capacity(MASTER_KEY_PREFIX.len() + 46));
        text.push_str(MASTER_KEY_PREFIX);
        B64.encode_string(self.0.expose_secret(), &mut text);
        text.push('\n');
        text
    }

    fn aead(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&(*self.0.expose_secret()).into())
    }

    fn wrap_aad(registry: &RegistryId) -> Vec<u8> {
        let mut aad = b"tessera/v1/data-key/".to_vec();
        aad.extend_from_slice(registry.as_str().as_bytes());
        aad
    }

    /// Encrypts a registry's data key for storage, bound to that registry.
    pub fn wrap(&self, registry: &RegistryId, key: &DataKey) -> Result<Vec<u8>, VaultError> {
        seal(&self.aead(), &Self::wrap_aad(registry), key.0.expose_secret())
    }

    /// Opens a wrapped data key; fails if it was wrapped for another registry or another master key.
    pub fn unwrap(&self, registry: &RegistryId, wrapped: &[u8]) -> Result<DataKey, VaultError> {
        let plain = open(&self.aead(), &Self::wrap_aad(registry), wrapped)
            .map_err(|_| VaultError::UnwrapFailed(registry.to_string()))?;
        let key: [u8; 32] = plain.as_slice().try_into().map_err(|_| VaultError::UnwrapFailed(registry.to_string()))?;
        Ok(DataKey(SecretBox::new(Box::new(key))))
    }

    /// The 32-byte seed of the audit trail's Ed25519 checkpoint-signing key (HKDF-SHA-256 with
    /// its own salt and `info`): every process with this master key signs with the same key,
    /// and no other key derived here can be mistaken for it.
    pub fn audit_signing_seed(&self) -> Zeroizing<[u8; 32]> {
        let hk = Hkdf::<Sha256>::new(Some(b"tessera/v1/audit"), self.0.expose_secret());
        let mut seed = Zeroizing::new([0u8; 32]);
        hk.expand(b"tessera/v1/audit/checkpoint-signing-ed25519", seed.as_mut())
            .expect("32 bytes is a valid HKDF length");
        seed
    }
}

/// A registry's data key, from which its field and blind-index keys are derived.
pub struct DataKey(SecretBox<[u8; 32]>);

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<secret>)")
    }
}

impl DataKey {
    /// A fresh random data key for a new registry.
    pub fn generate() -> Result<Self, VaultError> {
        Ok(Self(SecretBox::new(Box::new(random_32()?))))
    }
}

fn seal(aead: &XChaCha20Poly1305, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
    // Nonces come from the thread-local CSPRNG (ChaCha12, seeded and periodically reseeded from
    // the operating system): as unpredictable as getrandom, without a system call per field.
    let mut nonce = [0u8; NONCE_LEN];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut nonce);
    let nonce = XNonce::from(nonce);
    let ct = aead
        .encrypt(&nonce, chacha20poly1305::aead::Payload { msg: plaintext, aad })
        .map_err(|_| VaultError::OpenFailed)?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

fn open(aead: &XChaCha20Poly1305, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    if sealed.len() < 1 + NONCE_LEN + TAG_LEN || sealed[0] != FORMAT_V1 {
        return Err(VaultError::OpenFailed);
    }
    let nonce = XNonce::try_from(&sealed[1..1 + NONCE_LEN]).map_err(|_| VaultError::OpenFailed)?;
    aead.decrypt(&nonce, chacha20poly1305::aead::Payload { msg: &sealed[1 + NONCE_LEN..], aad })
        .map(Zeroizing::new)
        .map_err(|_| VaultError::OpenFailed)
}

/// Which identifier a sealed value holds; part of the associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentifierField {
    /// The NHS number's ten digits.
    NhsNumber,
    /// Family name.
    FamilyName,
    /// Given name.
    GivenName,
    /// Date of birth, `YYYY-MM-DD`.
    DateOfBirth,
    /// Postcode.
    Postcode,
}

impl IdentifierField {
    /// Every identifier field.
    pub const ALL: [IdentifierField; 5] =
        [Self::NhsNumber, Self::FamilyName, Self::GivenName, Self::DateOfBirth, Self::Postcode];

    /// The field's stable name, as bound into the associated data.
    pub fn name(self) -> &'static str {
        match self {
            Self::NhsNumber => "nhs_number",
            Self::FamilyName => "family_name",
            Self::GivenName => "given_name",
            Self::DateOfBirth => "date_of_birth",
            Self::Postcode => "postcode",
        }
    }
}

/// The keys of one registry, ready to seal and open its patients' identifiers.
#[derive(Clone)]
pub struct RegistryCipher {
    registry: RegistryId,
    aead: XChaCha20Poly1305,
    blind: Hmac<Sha256>,
}

impl fmt::Debug for RegistryCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RegistryCipher({}, <keys>)", self.registry)
    }
}

impl RegistryCipher {
    /// Derives the registry's field and blind-index keys from its data key.
    pub fn new(registry: RegistryId, key: &DataKey) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(b"tessera/v1"), key.0.expose_secret());
        let mut enc = Zeroizing::new([0u8; 32]);
        let mut bi = Zeroizing::new([0u8; 32]);
        let info = |purpose: &str| format!("tessera/v1/{purpose}/{registry}");
        hk.expand(info("field-encryption").as_bytes(), enc.as_mut()).expect("32 bytes is a valid HKDF length");
        hk.expand(info("blind-index").as_bytes(), bi.as_mut()).expect("32 bytes is a valid HKDF length");
        Self {
            aead: XChaCha20Poly1305::new(&(*enc).into()),
            blind: <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(bi.as_ref()).expect("HMAC takes any key length"),
            registry,
        }
    }

    /// The registry these keys belong to.
    pub fn registry(&self) -> &RegistryId {
        &self.registry
    }

    fn aad(&self, patient: &[u8], field: IdentifierField) -> Vec<u8> {
        // Length-prefixed parts, so no two (registry, patient, field) triples share an encoding.
        let mut aad = Vec::with_capacity(64);
        aad.extend_from_slice(b"tessera/v1/identifier");
        for part in [self.registry.as_str().as_bytes(), patient, field.name().as_bytes()] {
            aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
            aad.extend_from_slice(part);
        }
        aad
    }

    /// Seals one identifier of one patient (`patient` is the patient row's id, as bytes).
    pub fn seal(&self, patient: &[u8], field: IdentifierField, plaintext: &str) -> Result<Vec<u8>, VaultError> {
        seal(&self.aead, &self.aad(patient, field), plaintext.as_bytes())
    }

    /// Opens one identifier; fails if the ciphertext belongs to another registry, patient or field.
    pub fn open(&self, patient: &[u8], field: IdentifierField, sealed: &[u8]) -> Result<Zeroizing<String>, VaultError> {
        let bytes = open(&self.aead, &self.aad(patient, field), sealed)?;
        String::from_utf8(bytes.to_vec()).map(Zeroizing::new).map_err(|_| VaultError::OpenFailed)
    }

    /// The blind index of an NHS number within this registry.
    pub fn blind_index(&self, nhs: &NhsNumber) -> [u8; 32] {
        let mut mac = self.blind.clone();
        mac.update(b"nhs_number:");
        mac.update(nhs.digits().as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// Keys of the platform itself (not of any registry), derived from the master key so that every
/// `tessera serve` process sharing a database and a master key derives the same ones.
pub struct PlatformKeys {
    secrets: XChaCha20Poly1305,
    recovery: Hmac<Sha256>,
    csrf: Hmac<Sha256>,
}

impl fmt::Debug for PlatformKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlatformKeys(<secret>)")
    }
}

impl PlatformKeys {
    /// Derives the platform keys from the master key (HKDF-SHA-256, one `info` per purpose).
    pub fn derive(master: &MasterKey) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(b"tessera/v1/platform"), master.0.expose_secret());
        let key = |purpose: &str| {
            let mut k = Zeroizing::new([0u8; 32]);
            hk.expand(format!("tessera/v1/platform/{purpose}").as_bytes(), k.as_mut())
                .expect("32 bytes is a valid HKDF length");
            k
        };
        let mac = |k: Zeroizing<[u8; 32]>| {
            <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(k.as_ref()).expect("HMAC takes any key length")
        };
        Self {
            secrets: XChaCha20Poly1305::new(&(*key("account-secrets")).into()),
            recovery: mac(key("recovery-codes")),
            csrf: mac(key("csrf")),
        }
    }

    fn secret_aad(kind: &str, owner: &str) -> Vec<u8> {
        let mut aad = b"tessera/v1/account-secret".to_vec();
        for part in [kind.as_bytes(), owner.as_bytes()] {
            aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
            aad.extend_from_slice(part);
        }
        aad
    }

    /// Seals an account secret (e.g. a TOTP seed), bound to its kind and owner.
    pub fn seal_secret(&self, kind: &str, owner: &str, secret: &[u8]) -> Result<Vec<u8>, VaultError> {
        seal(&self.secrets, &Self::secret_aad(kind, owner), secret)
    }

    /// Opens an account secret sealed by [`PlatformKeys::seal_secret`] for the same kind and owner.
    pub fn open_secret(&self, kind: &str, owner: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        open(&self.secrets, &Self::secret_aad(kind, owner), sealed)
    }

    /// The keyed hash (hex) under which a recovery code of an account is stored.
    pub fn recovery_code_hash(&self, user: &str, code: &str) -> String {
        let mut mac = self.recovery.clone();
        mac.update(&(user.len() as u32).to_be_bytes());
        mac.update(user.as_bytes());
        mac.update(code.as_bytes());
        hex_lower(&mac.finalize().into_bytes())
    }

    /// A CSRF token bound to `binding` (a session's or a visitor's random id).
    pub fn csrf_token(&self, binding: &[u8]) -> String {
        let mut mac = self.csrf.clone();
        mac.update(binding);
        hex_lower(&mac.finalize().into_bytes())
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    use fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {

    #[test]
    fn platform_keys_are_stable_per_master_key_and_bind_secrets_to_their_owner() {
        let k = MasterKey::generate().unwrap();
        let a = PlatformKeys::derive(&k);
        let b = PlatformKeys::derive(&MasterKey::decode(&k.encode()).unwrap());
        assert_eq!(a.csrf_token(b"x"), b.csrf_token(b"x"));
        assert_ne!(a.csrf_token(b"x"), a.csrf_token(b"y"));
        assert_eq!(a.recovery_code_hash("u1", "abcd"), b.recovery_code_hash("u1", "abcd"));
        assert_ne!(a.recovery_code_hash("u1", "abcd"), a.recovery_code_hash("u2", "abcd"));
        let sealed = a.seal_secret("totp", "f1", b"seed").unwrap();
        assert_eq!(b.open_secret("totp", "f1", &sealed).unwrap().as_slice(), b"seed");
        assert!(b.open_secret("totp", "f2", &sealed).is_err());
        let other = PlatformKeys::derive(&MasterKey::generate().unwrap());
        assert!(other.open_secret("totp", "f1", &sealed).is_err());
        assert_ne!(other.csrf_token(b"x"), a.csrf_token(b"x"));
    }
    use super::*;

    fn reg(s: &str) -> RegistryId {
        RegistryId::parse(s).unwrap()
    }

    #[test]
    fn a_master_key_round_trips_through_its_text_form() {
        let k = MasterKey::generate().unwrap();
        let text = k.encode();
        let k2 = MasterKey::decode(&text).unwrap();
        let dk = DataKey::generate().unwrap();
        let wrapped = k.wrap(&reg("njr"), &dk).unwrap();
        assert!(k2.unwrap(&reg("njr"), &wrapped).is_ok());
        assert!(MasterKey::decode("nonsense").is_err());
        assert!(MasterKey::decode("tessera-master-key-v1:AAAA").is_err());
        assert_eq!(format!("{k:?}"), "MasterKey(<secret>)");
    }

    #[test]
    fn a_wrapped_key_opens_only_for_its_registry_and_master_key() {
        let k = MasterKey::generate().unwrap();
        let other = MasterKey::generate().unwrap();
        let wrapped = k.wrap(&reg("njr"), &DataKey::generate().unwrap()).unwrap();
        assert!(matches!(k.unwrap(&reg("bcir"), &wrapped), Err(VaultError::UnwrapFailed(_))));
        assert!(other.unwrap(&reg("njr"), &wrapped).is_err());
    }

    #[test]
    fn a_sealed_identifier_opens_only_in_its_own_registry_patient_and_field() {
        let dk = DataKey::generate().unwrap();
        let c = RegistryCipher::new(reg("njr"), &dk);
        let sealed = c.seal(b"patient-1", IdentifierField::FamilyName, "Smith").unwrap();
        assert_eq!(c.open(b"patient-1", IdentifierField::FamilyName, &sealed).unwrap().as_str(), "Smith");
        assert!(!sealed.windows(5).any(|w| w == b"Smith"));
        assert_eq!(c.open(b"patient-2", IdentifierField::FamilyName, &sealed), Err(VaultError::OpenFailed));
        assert_eq!(c.open(b"patient-1", IdentifierField::GivenName, &sealed), Err(VaultError::OpenFailed));
        let same_key_other_registry = RegistryCipher::new(reg("bcir"), &dk);
        assert!(same_key_other_registry.open(b"patient-1", IdentifierField::FamilyName, &sealed).is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(c.open(b"patient-1", IdentifierField::FamilyName, &tampered).is_err());
        // Two seals of the same value differ (random nonces), so ciphertexts reveal no equality.
        assert_ne!(sealed, c.seal(b"patient-1", IdentifierField::FamilyName, "Smith").unwrap());
    }

    #[test]
    fn blind_indexes_match_within_a_registry_and_differ_across_registries() {
        let n = NhsNumber::parse("9434765919").unwrap();
        let a = RegistryCipher::new(reg("njr"), &DataKey::generate().unwrap());
        let b = RegistryCipher::new(reg("bcir"), &DataKey::generate().unwrap());
        assert_eq!(a.blind_index(&n), a.blind_index(&NhsNumber::parse("943 476 5919").unwrap()));
        assert_ne!(a.blind_index(&n), b.blind_index(&n));
        assert_ne!(a.blind_index(&n), a.blind_index(&NhsNumber::parse("4010232137").unwrap()));
    }
}
