//! Who is calling and what their grants allow, as extractors.
//!
//! - [`Caller`]: a fully signed-in person on a page, with their live grants.
//! - [`ApiCaller`]: the JSON API's caller, either a signed-in session (cookie) or an API token
//!   (`Authorization: Bearer tsr_…`), with the grants it carries; 401 otherwise.
//!
//! Handlers never look at roles: they ask the [`Grants`] for a capability
//! (`caller.grants.records_read(&registry)?`) and pass it on to the function that needs it. A
//! refused capability becomes [`WebError::NotFound`] for objects (so nobody learns that an object of
//! another organisation or registry exists) and [`WebError::Forbidden`] for whole features.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tessera_auth::ActiveSession;
use tessera_domain::access::{Denied, Grants};

use crate::AppState;
use crate::error::WebError;
use crate::session::{Ctx, SignedIn};

impl From<Denied> for WebError {
    fn from(_: Denied) -> Self {
        WebError::NotFound
    }
}

/// A fully signed-in person and their live grants (read afresh for this request).
#[derive(Debug, Clone)]
pub struct Caller {
    /// The session.
    pub session: ActiveSession,
    /// The page context (CSRF token, client).
    pub ctx: Ctx,
    /// What they may do now, from this address.
    pub grants: Grants,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let SignedIn(session, ctx) = SignedIn::from_request_parts(parts, state).await?;
        let grants =
            state.accounts().grants_of(&session, &ctx.client).await.map_err(|e| WebError::from(e).into_response())?;
        Ok(Caller { session, ctx, grants })
    }
}

/// The JSON API's caller: a signed-in session or an API token, with its grants.
#[derive(Debug, Clone)]
pub struct ApiCaller {
    /// The session, when the caller is a person in a browser (`None` for a token).
    pub session: Option<ActiveSession>,
    /// What the caller may do now.
    pub grants: Grants,
    /// Where the request comes from.
    pub client: tessera_auth::Client,
}

/// The JSON body of a 401, the same for every reason (no token, unknown, revoked, expired,
/// wrong address): an attacker learns nothing about which.
pub fn unauthorised() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        axum::Json(serde_json::json!({ "error": "sign in, or send a valid API token" })),
    )
        .into_response()
}

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let internal = |e: tessera_auth::AuthError| WebError::from(e).into_response();
        if let Some(bearer) = bearer {
            return match state.accounts().token_grants(bearer, &ctx.client).await.map_err(internal)? {
                Some(grants) => Ok(ApiCaller { session: None, grants, client: ctx.client }),
                None => Err(unauthorised()),
            };
        }
        match ctx.session {
            Some(s) if s.row.stage == tessera_store::SessionStage::Full => {
                let grants = state.accounts().grants_of(&s, &ctx.client).await.map_err(internal)?;
                Ok(ApiCaller { session: Some(s), grants, client: ctx.client })
            }
            _ => Err(unauthorised()),
        }
    }
}
