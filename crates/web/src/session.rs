//! Cookies, sessions and CSRF, as extractors: a handler states what it needs in its signature
//! (`SignedIn`, `Operator`, `StepUp`, …) and never runs without it.
//!
//! Two cookies, both `__Host-`, `Secure`, `HttpOnly`, `SameSite=Strict`, `Path=/`:
//! - `__Host-tessera-visitor`: a random per-browser value, set on the first response;
//! - `__Host-tessera-session`: the session's 256-bit random id (only its hash is stored),
//!   replaced at every sign-in.
//!
//! The CSRF token of a page is an HMAC (under a key derived from the master key) of the visitor
//! value and, when signed in, the session id: an attacker's page can neither read nor forge it,
//! and it changes at every sign-in.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq as _;
use tessera_auth::{ActiveSession, SessionToken};
use tessera_store::SessionStage;

use crate::error::WebError;
use crate::{AppState, http};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "__Host-tessera-session";
/// The visitor cookie's name.
pub const VISITOR_COOKIE: &str = "__Host-tessera-visitor";

/// A `Set-Cookie` value for one of our cookies (`None` clears it).
pub fn set_cookie(name: &str, value: Option<&str>) -> HeaderValue {
    let text = match value {
        Some(v) => format!("{name}={v}; Path=/; Secure; HttpOnly; SameSite=Strict"),
        None => format!("{name}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"),
    };
    HeaderValue::from_str(&text).expect("cookie values are base64url")
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts.headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|line| {
        line.split(';').find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name
                && !v.is_empty()
                && v.len() <= 64
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
            .then(|| v.to_owned())
        })
    })
}

/// The browser's visitor value (from its cookie, or fresh on its first request).
#[derive(Debug, Clone)]
pub struct Visitor(pub String);

/// Gives every browser a visitor value, setting the cookie on the first response.
pub async fn visitor_cookie(
    axum::extract::State(_state): axum::extract::State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let existing = cookie(&parts, VISITOR_COOKIE);
    let visitor = existing.clone().unwrap_or_else(tessera_auth::random_token);
    parts.extensions.insert(Visitor(visitor.clone()));
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if existing.is_none() {
        response.headers_mut().append(header::SET_COOKIE, set_cookie(VISITOR_COOKIE, Some(&visitor)));
    }
    response
}

/// What every page needs to know about the request: the visitor, the session if any, and the
/// CSRF token that binds them.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The session, if the cookie names a live one.
    pub session: Option<ActiveSession>,
    /// The CSRF token for forms on this page.
    pub csrf: String,
    /// The client.
    pub client: tessera_auth::Client,
}

impl Ctx {
    /// Whether the account is fully signed in.
    pub fn signed_in(&self) -> bool {
        self.session.as_ref().is_some_and(|s| s.row.stage == SessionStage::Full)
    }
}

fn csrf_for(state: &AppState, visitor: &str, session: Option<&SessionToken>) -> String {
    let mut binding = Vec::with_capacity(100);
    binding.extend_from_slice(b"visitor:");
    binding.extend_from_slice(visitor.as_bytes());
    if let Some(s) = session {
        binding.extend_from_slice(b"|session:");
        binding.extend_from_slice(s.expose().as_bytes());
    }
    state.accounts().keys().csrf_token(&binding)
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(ctx) = parts.extensions.get::<Ctx>() {
            return Ok(ctx.clone());
        }
        let visitor = parts.extensions.get::<Visitor>().map(|v| v.0.clone()).unwrap_or_default();
        let session = match cookie(parts, SESSION_COOKIE) {
            Some(v) => state.accounts().session(&SessionToken::from_cookie(&v)).await?,
            None => None,
        };
        let csrf = csrf_for(state, &visitor, session.as_ref().map(|s| &s.token));
        let ctx = Ctx { session, csrf, client: http::client(parts, &state.accounts().settings().trusted_proxies) };
        parts.extensions.insert(ctx.clone());
        Ok(ctx)
    }
}

/// A fully signed-in session (password and second factor). Without one, pages redirect to
/// sign-in (or to the step that is due).
#[derive(Debug, Clone)]
pub struct SignedIn(pub ActiveSession, pub Ctx);

/// Where a session that is not fully signed in must go next.
fn pending_step(ctx: &Ctx) -> Response {
    match ctx.session.as_ref().map(|s| s.row.stage) {
        Some(SessionStage::Enrol) => Redirect::to("/account/security/setup").into_response(),
        Some(SessionStage::Mfa) => Redirect::to("/sign-in/verify").into_response(),
        _ => Redirect::to("/sign-in").into_response(),
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        match &ctx.session {
            Some(s) if s.row.stage == SessionStage::Full => Ok(SignedIn(s.clone(), ctx)),
            _ => Err(pending_step(&ctx)),
        }
    }
}

/// A session that may enrol a second factor: one that has none yet, or a full one.
#[derive(Debug, Clone)]
pub struct Enrolling(pub ActiveSession, pub Ctx);

impl FromRequestParts<AppState> for Enrolling {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        match &ctx.session {
            Some(s) if matches!(s.row.stage, SessionStage::Enrol | SessionStage::Full) => Ok(Enrolling(s.clone(), ctx)),
            _ => Err(pending_step(&ctx)),
        }
    }
}

/// A session whose password was accepted and whose second factor is due.
#[derive(Debug, Clone)]
pub struct Verifying(pub ActiveSession, pub Ctx);

impl FromRequestParts<AppState> for Verifying {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        match &ctx.session {
            Some(s) if s.row.stage == SessionStage::Mfa => Ok(Verifying(s.clone(), ctx)),
            _ => Err(pending_step(&ctx)),
        }
    }
}

/// A fully signed-in session whose second factor was checked within the last 5 minutes: the
/// guard for sensitive acts. Without it, the person is sent to re-check a factor and back.
#[derive(Debug, Clone)]
pub struct StepUp(pub ActiveSession, pub Ctx);

impl FromRequestParts<AppState> for StepUp {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let SignedIn(session, ctx) = SignedIn::from_request_parts(parts, state).await?;
        if state.accounts().has_recent_mfa(&session) {
            Ok(StepUp(session, ctx))
        } else {
            let next = safe_next(parts.uri.path()).unwrap_or("/");
            Err(Redirect::to(&format!("/step-up?next={}", url_encode(next))).into_response())
        }
    }
}

/// A fully signed-in platform operator.
#[derive(Debug, Clone)]
pub struct Operator(pub ActiveSession, pub Ctx);

impl FromRequestParts<AppState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let SignedIn(session, ctx) = SignedIn::from_request_parts(parts, state).await?;
        if session.is_operator() { Ok(Operator(session, ctx)) } else { Err(WebError::Forbidden.into_response()) }
    }
}

/// A platform operator who passed step-up within the last 5 minutes.
#[derive(Debug, Clone)]
pub struct OperatorStepUp(pub ActiveSession, pub Ctx);

impl FromRequestParts<AppState> for OperatorStepUp {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Operator(session, _) = Operator::from_request_parts(parts, state).await?;
        let StepUp(_, ctx) = StepUp::from_request_parts(parts, state).await?;
        Ok(OperatorStepUp(session, ctx))
    }
}

/// Only local absolute paths are followed after step-up (no open redirect).
pub fn safe_next(next: &str) -> Option<&str> {
    (next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') && next.len() < 200).then_some(next)
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(serde::Deserialize)]
struct WithCsrf<T> {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    inner: T,
}

/// A form body whose `csrf` field matched the page's token. The only way handlers read forms.
#[derive(Debug)]
pub struct CsrfForm<T>(pub T, pub Ctx);

impl<T: DeserializeOwned + Send> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = WebError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let ctx = Ctx::from_request_parts(&mut parts, state).await?;
        let request = Request::from_parts(parts, body);
        let bytes = axum::body::to_bytes(request.into_body(), 1024 * 1024).await.map_err(|_| WebError::BadForm)?;
        let form: WithCsrf<T> = serde_urlencoded::from_bytes(&bytes).map_err(|_| WebError::BadForm)?;
        if !bool::from(form.csrf.as_bytes().ct_eq(ctx.csrf.as_bytes())) {
            return Err(WebError::Csrf);
        }
        Ok(CsrfForm(form.inner, ctx))
    }
}

/// A JSON body from our own page's script, which sends the page's CSRF token in `X-CSRF-Token`.
#[derive(Debug)]
pub struct CsrfJson(pub serde_json::Value, pub Ctx);

impl FromRequest<AppState> for CsrfJson {
    type Rejection = WebError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let ctx = Ctx::from_request_parts(&mut parts, state).await?;
        let sent = parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or("");
        if !bool::from(sent.as_bytes().ct_eq(ctx.csrf.as_bytes())) {
            return Err(WebError::Csrf);
        }
        let request = Request::from_parts(parts, body);
        let bytes = axum::body::to_bytes(request.into_body(), 256 * 1024).await.map_err(|_| WebError::BadForm)?;
        let value = if bytes.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|_| WebError::BadForm)?
        };
        Ok(CsrfJson(value, ctx))
    }
}
