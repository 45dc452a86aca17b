//! WebAuthn passkeys via webauthn-rs: registration for a signed-in account, use as the second
//! factor after a password, and passwordless sign-in with a discoverable credential. Ceremony
//! state is serialised and kept server-side (in the session row, or a pre-sign-in ceremony row),
//! never in the browser.

use url::Url;
use uuid::Uuid;
use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

use crate::AuthError;

/// The relying party: Tessera at its public address.
#[derive(Clone)]
pub struct Passkeys {
    webauthn: std::sync::Arc<Webauthn>,
}

impl std::fmt::Debug for Passkeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passkeys")
    }
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, AuthError> {
    serde_json::to_string(v).map_err(|e| AuthError::Setup(format!("passkey state: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, AuthError> {
    serde_json::from_str(s).map_err(|_| AuthError::Passkey)
}

/// A credential id as stored: base64url without padding.
pub fn credential_id_text(id: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id)
}

impl Passkeys {
    /// The relying party for `public_url` (its host is the RP id; any port is accepted so that
    /// tests on port 0 and deployments behind a proxy both work).
    pub fn new(public_url: &Url) -> Result<Self, AuthError> {
        let host = public_url.host_str().ok_or_else(|| AuthError::Setup("public URL has no host".into()))?;
        let webauthn = WebauthnBuilder::new(host, public_url)
            .and_then(|b| b.allow_any_port(true).rp_name("Tessera").build())
            .map_err(|e| AuthError::Setup(format!("WebAuthn relying party for {host}: {e}")))?;
        Ok(Self { webauthn: std::sync::Arc::new(webauthn) })
    }

    /// Starts registering a passkey for an account. Returns the browser's options (asking for a
    /// discoverable credential, so the passkey can also sign in without a password) and the
    /// state to keep.
    pub fn start_registration(
        &self,
        user: Uuid,
        email: &str,
        name: &str,
        existing: &[Passkey],
    ) -> Result<(serde_json::Value, String), AuthError> {
        let exclude = existing.iter().map(|p| p.cred_id().clone()).collect::<Vec<_>>();
        let (options, state): (CreationChallengeResponse, PasskeyRegistration) = self
            .webauthn
            .start_passkey_registration(user, email, name, Some(exclude))
            .map_err(|e| AuthError::Setup(format!("passkey registration: {e}")))?;
        let mut options = serde_json::to_value(&options).map_err(|e| AuthError::Setup(e.to_string()))?;
        if let Some(sel) = options.pointer_mut("/publicKey/authenticatorSelection").and_then(|v| v.as_object_mut()) {
            sel.insert("residentKey".into(), "required".into());
            sel.insert("requireResidentKey".into(), true.into());
        }
        Ok((options, json(&state)?))
    }

    /// Finishes a registration against the kept state. Returns the passkey.
    pub fn finish_registration(&self, response: &str, state: &str) -> Result<Passkey, AuthError> {
        let reg: RegisterPublicKeyCredential = from_json(response)?;
        let state: PasskeyRegistration = from_json(state)?;
        self.webauthn.finish_passkey_registration(&reg, &state).map_err(|_| AuthError::Passkey)
    }

    /// Starts using one of an account's passkeys as the second factor.
    pub fn start_authentication(&self, passkeys: &[Passkey]) -> Result<(serde_json::Value, String), AuthError> {
        let (options, state): (RequestChallengeResponse, PasskeyAuthentication) =
            self.webauthn.start_passkey_authentication(passkeys).map_err(|_| AuthError::Passkey)?;
        Ok((serde_json::to_value(&options).map_err(|e| AuthError::Setup(e.to_string()))?, json(&state)?))
    }

    /// Finishes a second-factor use. Returns the credential id used and the passkey with its
    /// updated counter, to store.
    pub fn finish_authentication(
        &self,
        response: &str,
        state: &str,
        passkeys: &[Passkey],
    ) -> Result<(String, Passkey), AuthError> {
        let cred: PublicKeyCredential = from_json(response)?;
        let state: PasskeyAuthentication = from_json(state)?;
        let result = self.webauthn.finish_passkey_authentication(&cred, &state).map_err(|_| AuthError::Passkey)?;
        let mut used = passkeys.iter().find(|p| p.cred_id() == result.cred_id()).cloned().ok_or(AuthError::Passkey)?;
        used.update_credential(&result);
        Ok((credential_id_text(result.cred_id()), used))
    }

    /// Starts a passwordless sign-in: any discoverable passkey of this relying party will do.
    pub fn start_discoverable(&self) -> Result<(serde_json::Value, String), AuthError> {
        let (options, state): (RequestChallengeResponse, DiscoverableAuthentication) =
            self.webauthn.start_discoverable_authentication().map_err(|_| AuthError::Passkey)?;
        let mut options = serde_json::to_value(&options).map_err(|e| AuthError::Setup(e.to_string()))?;
        // A button starts this ceremony; "conditional" mediation would wait for autofill instead.
        if let Some(o) = options.as_object_mut() {
            o.remove("mediation");
        }
        Ok((options, json(&state)?))
    }

    /// Which account and credential a passwordless response claims (not yet verified).
    pub fn identify(&self, response: &str) -> Result<(Uuid, String), AuthError> {
        let cred: PublicKeyCredential = from_json(response)?;
        let (user, cred_id) =
            self.webauthn.identify_discoverable_authentication(&cred).map_err(|_| AuthError::Passkey)?;
        Ok((user, credential_id_text(cred_id)))
    }

    /// Verifies a passwordless response against the kept state and the claimed passkey.
    /// Returns the passkey with its updated counter.
    pub fn finish_discoverable(&self, response: &str, state: &str, passkey: &Passkey) -> Result<Passkey, AuthError> {
        let cred: PublicKeyCredential = from_json(response)?;
        let state: DiscoverableAuthentication = from_json(state)?;
        let result = self
            .webauthn
            .finish_discoverable_authentication_v2(&cred, state, passkey)
            .map_err(|_| AuthError::Passkey)?;
        let mut used = passkey.clone();
        used.update_credential(&result);
        Ok(used)
    }
}

/// Parses a stored passkey.
pub fn parse_passkey(stored: &str) -> Result<Passkey, AuthError> {
    serde_json::from_str(stored).map_err(|e| AuthError::Setup(format!("stored passkey does not parse: {e}")))
}

/// Serialises a passkey for storage.
pub fn store_passkey(passkey: &Passkey) -> Result<String, AuthError> {
    json(passkey)
}
