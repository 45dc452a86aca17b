//! The JSON API under `/api/v1`, described by the OpenAPI document at `/api/openapi.json`.
//!
//! It uses the same server-side sessions as the pages (the `__Host-tessera-session` cookie).
//! Cross-site request forgery cannot reach it: state-changing calls need a JSON body (a
//! `Content-Type` no cross-site form can send) or the `DELETE` method, both of which a browser
//! only sends cross-site after a CORS preflight that Tessera never grants; and the cookie is
//! `SameSite=Strict`.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tessera_auth::{ActiveSession, SignIn};
use tessera_store::SessionStage;
use utoipa::{OpenApi, ToSchema};

use crate::AppState;
use crate::error::WebError;
use crate::routes::Routes;
use crate::session::{Ctx, SESSION_COOKIE, set_cookie};

/// The API routes.
pub fn routes() -> Routes {
    Routes::new()
        .post("/session", create_session)
        .delete("/session", delete_session)
        .post("/session/totp", session_totp)
        .get("/me", me)
        .get("/sessions", sessions)
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tessera API",
        version = "1",
        description = "Clinical registries platform. Authenticate with POST /api/v1/session, then POST /api/v1/session/totp; the session cookie carries the rest."
    ),
    paths(
        create_session,
        session_totp,
        delete_session,
        me,
        sessions,
        ready,
        crate::outcomes::api_outcomes,
        crate::records::api_create,
        crate::records::api_get,
        crate::records::api_correct,
        crate::records::api_list,
        crate::records::api_search,
        crate::audit_api::checkpoint,
        crate::audit_api::inclusion,
        crate::audit_api::consistency,
        crate::recalls::api_list,
        crate::recalls::api_create,
        crate::recalls::api_counts,
        crate::recalls::api_org_counts,
        crate::recalls::api_worklist,
        crate::recalls::api_follow_up,
        crate::components::api_capture,
        crate::devices::search_api
    )
)]
struct ApiDoc;

/// The OpenAPI document, as JSON text.
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}

/// `GET /api/openapi.json`.
pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], openapi_json()).into_response()
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/ready", responses((status = 200, description = "ready"), (status = 503, description = "database unavailable")))]
pub async fn ready(State(state): State<AppState>) -> Response {
    match state.accounts().store().user_count().await {
        Ok(_) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

#[derive(Serialize, ToSchema)]
struct ErrorBody {
    /// What went wrong, in plain English.
    error: String,
}

fn api_error(status: StatusCode, message: &str) -> Response {
    (status, Json(ErrorBody { error: message.to_owned() })).into_response()
}

/// A fully signed-in session, for API calls; 401 otherwise.
pub struct ApiSession(pub ActiveSession);

impl FromRequestParts<AppState> for ApiSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        match ctx.session {
            Some(s) if s.row.stage == SessionStage::Full => Ok(ApiSession(s)),
            _ => Err(api_error(StatusCode::UNAUTHORIZED, "sign in with a password and a second factor first")),
        }
    }
}

#[derive(Deserialize, ToSchema)]
struct SignInRequest {
    email: String,
    password: String,
}

#[derive(Serialize, ToSchema)]
struct StageBody {
    /// `mfa` (send a code next), `enrol` (set up a second factor in the browser first) or `full`.
    stage: String,
}

fn stage_name(stage: SessionStage) -> &'static str {
    match stage {
        SessionStage::Enrol => "enrol",
        SessionStage::Mfa => "mfa",
        SessionStage::Full => "full",
    }
}

/// Signs in with a password. Every refusal is the same 401, whatever the reason.
#[utoipa::path(post, path = "/api/v1/session", request_body = SignInRequest,
    responses((status = 200, body = StageBody, description = "password accepted; the cookie is set"), (status = 401, body = ErrorBody)))]
async fn create_session(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<SignInRequest>,
) -> Result<Response, WebError> {
    match state.accounts().sign_in(&body.email, &body.password, &ctx.client).await? {
        SignIn::Refused => Ok(api_error(
            StatusCode::UNAUTHORIZED,
            "the email address or password is not right, or this account cannot sign in now",
        )),
        SignIn::Session(token, stage) => {
            if let Some(old) = &ctx.session {
                state.accounts().end_session(old).await?;
            }
            let mut r = Json(StageBody { stage: stage_name(stage).into() }).into_response();
            r.headers_mut().append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, Some(token.expose())));
            Ok(r)
        }
    }
}

#[derive(Deserialize, ToSchema)]
struct CodeRequest {
    code: String,
}

/// Completes sign-in with a TOTP code (each code works once).
#[utoipa::path(post, path = "/api/v1/session/totp", request_body = CodeRequest,
    responses((status = 200, body = StageBody), (status = 401, body = ErrorBody)))]
async fn session_totp(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<CodeRequest>,
) -> Result<Response, WebError> {
    let Some(s) = ctx.session.filter(|s| s.row.stage == SessionStage::Mfa) else {
        return Ok(api_error(StatusCode::UNAUTHORIZED, "sign in with a password first"));
    };
    if state.accounts().verify_totp(&s, &body.code).await? {
        Ok(Json(StageBody { stage: "full".into() }).into_response())
    } else {
        Ok(api_error(StatusCode::UNAUTHORIZED, "that code is not right or has already been used"))
    }
}

/// Signs out: the session ends on the server at once, for every Tessera process.
#[utoipa::path(delete, path = "/api/v1/session", responses((status = 204)))]
async fn delete_session(State(state): State<AppState>, ctx: Ctx) -> Result<Response, WebError> {
    if let Some(s) = &ctx.session {
        state.accounts().end_session(s).await?;
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, None));
    Ok(r)
}

#[derive(Serialize, ToSchema)]
struct Me {
    id: String,
    name: String,
    email: String,
    platform_role: Option<String>,
    session_started_at: i64,
    second_factor_at: Option<i64>,
}

/// The signed-in account.
#[utoipa::path(get, path = "/api/v1/me", responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
async fn me(ApiSession(s): ApiSession) -> Json<Me> {
    Json(Me {
        id: s.row.user_id.clone(),
        name: s.row.display_name.clone(),
        email: s.row.email.clone(),
        platform_role: s.row.platform_role.clone(),
        session_started_at: s.row.created_at,
        second_factor_at: s.row.mfa_at,
    })
}

#[derive(Serialize, ToSchema)]
struct SessionBody {
    /// Stored hash of the session (not its secret).
    id: String,
    current: bool,
    created_at: i64,
    last_seen_at: i64,
    client_ip: String,
    user_agent: String,
}

/// The account's sessions.
#[utoipa::path(get, path = "/api/v1/sessions", responses((status = 200, body = [SessionBody]), (status = 401, body = ErrorBody)))]
async fn sessions(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
) -> Result<Json<Vec<SessionBody>>, WebError> {
    let rows = state.accounts().sessions_of(&s).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| SessionBody {
                current: r.id_hash == s.row.id_hash,
                id: r.id_hash,
                created_at: r.created_at,
                last_seen_at: r.last_seen_at,
                client_ip: r.client_ip,
                user_agent: r.user_agent,
            })
            .collect(),
    ))
}
