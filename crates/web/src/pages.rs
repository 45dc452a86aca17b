//! The HTML pages: sign-in and second factor, single-use links, enrolment, the account page,
//! step-up, and the operators' invitation and account pages.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tessera_auth::time_text;
use tessera_auth::{ActiveSession, AuthError, SessionToken, SignIn};
use tessera_store::{FactorKind, LinkPurpose, SessionStage};

use crate::AppState;
use crate::error::WebError;
use crate::routes::Routes;
use crate::session::{
    CsrfForm, CsrfJson, Ctx, Enrolling, Operator, OperatorStepUp, SESSION_COOKIE, SignedIn, StepUp, Verifying,
    safe_next, set_cookie,
};
use crate::views::*;

/// The page routes.
pub fn routes() -> Routes {
    Routes::new()
        .get("/", home)
        .get("/sign-in", sign_in_page)
        .post("/sign-in", sign_in)
        .get("/sign-in/verify", verify_page)
        .post("/sign-in/verify", verify)
        .post("/sign-in/verify/passkey/start", verify_passkey_start)
        .post("/sign-in/verify/passkey/finish", verify_passkey_finish)
        .post("/sign-in/passkey/start", passkey_sign_in_start)
        .post("/sign-in/passkey/finish", passkey_sign_in_finish)
        .post("/sign-out", sign_out)
        .get("/welcome/{token}", welcome_page)
        .post("/welcome", welcome)
        .get("/reset/{token}", reset_page)
        .post("/reset", reset)
        .get("/account", account_page)
        .get("/account/security/setup", security_setup)
        .get("/account/security/totp", totp_page)
        .post("/account/security/totp", totp_confirm)
        .post("/account/security/passkey/start", passkey_register_start)
        .post("/account/security/passkey/finish", passkey_register_finish)
        .get("/account/security/recovery-codes", recovery_codes_page)
        .post("/account/security/recovery-codes", recovery_codes_make)
        .post("/account/security/revoke", revoke_factor)
        .post("/account/sessions/end", end_session)
        .post("/account/password", change_password)
        .get("/step-up", step_up_page)
        .post("/step-up", step_up)
        .post("/step-up/passkey/start", verify_passkey_start)
        .post("/step-up/passkey/finish", verify_passkey_finish)
        .get("/admin/invitations", invitations_page)
        .post("/admin/invitations", invite)
        .post("/admin/invitations/bulk", invite_bulk)
        .get("/admin/users", users_page)
        .post("/admin/users/reset", start_reset)
}

/// 404 for anything else.
pub async fn not_found() -> Response {
    WebError::NotFound.into_response()
}

fn with_session_cookie(token: &SessionToken, to: &str) -> Response {
    let mut r = Redirect::to(to).into_response();
    r.headers_mut().append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, Some(token.expose())));
    r
}

/// Ends the session the browser had before a sign-in (a new id at every sign-in).
async fn end_previous(state: &AppState, ctx: &Ctx) -> Result<(), WebError> {
    if let Some(s) = &ctx.session {
        state.accounts().end_session(s).await?;
    }
    Ok(())
}

fn link_gone(ctx: &Ctx) -> Response {
    let page = MessagePage {
        l: Layout::new("This link has expired or has already been used", ctx),
        text: "Links in Tessera emails work once and expire. Ask the person who invited you, or your registry's \
               controller, to send a new one."
            .into(),
        link: Some(("/sign-in".into(), "Go to sign in".into())),
    };
    (StatusCode::GONE, render(&page)).into_response()
}

fn form_error(e: &AuthError) -> Option<FieldError> {
    match e {
        AuthError::Password(p) => Some(FieldError::new("password", p.to_string())),
        AuthError::Field { field, message } => Some(FieldError::new(field, message.clone())),
        AuthError::Invalid(m) => Some(FieldError::new("password", m.clone())),
        _ => None,
    }
}

// ----- start and sign-in -----

/// The home page links only to what the person's grants open.
async fn home(caller: crate::caller::Caller, State(state): State<AppState>) -> Result<Response, WebError> {
    let crate::caller::Caller { session: s, ctx, grants } = caller;
    let names = state.accounts().store().registries().await.map_err(|e| WebError::Internal(e.into()))?;
    let registries = grants
        .registries()
        .into_iter()
        .map(|id| HomeRegistry {
            name: names.iter().find(|r| r.id == id).map_or_else(|| id.to_string(), |r| r.name.clone()),
            outcomes: grants.aggregates(&id).is_ok(),
            records: grants.records_read(&id).is_ok(),
            enter: grants.write_orgs(&id).is_ok(),
            manage: grants.manage(&id).is_ok(),
            audit: grants.audit(&id).is_ok(),
            id: id.to_string(),
        })
        .collect();
    Ok(render(&HomePage {
        l: Layout::new("Home", &ctx),
        name: s.row.display_name.clone(),
        operator: s.is_operator(),
        registries,
    }))
}

#[derive(Deserialize)]
struct Notice {
    #[serde(default)]
    done: Option<String>,
}

async fn sign_in_page(ctx: Ctx, Query(q): Query<Notice>) -> Response {
    if ctx.signed_in() {
        return Redirect::to("/").into_response();
    }
    let notice = match q.done.as_deref() {
        Some("reset") => Some("Your password has been changed. Sign in with your new password.".to_owned()),
        Some("signed-out") => Some("You have signed out.".to_owned()),
        _ => None,
    };
    render(&SignInPage { l: Layout::new("Sign in", &ctx), errors: vec![], notice, email: String::new() })
}

#[derive(Deserialize)]
struct SignInForm {
    email: String,
    password: String,
}

/// The refusal page: the same bytes whatever the reason (the address typed is not echoed).
fn refused(ctx: &Ctx) -> Response {
    let page = SignInPage {
        l: Layout::new("Sign in", ctx),
        errors: vec![FieldError::new(
            "email",
            "The email address or password is not right, or this account cannot sign in now. Check them and try \
             again; after several failed attempts you will have to wait a little before trying again.",
        )],
        notice: None,
        email: String::new(),
    };
    (StatusCode::UNAUTHORIZED, render(&page)).into_response()
}

async fn sign_in(
    State(state): State<AppState>,
    CsrfForm(form, ctx): CsrfForm<SignInForm>,
) -> Result<Response, WebError> {
    match state.accounts().sign_in(&form.email, &form.password, &ctx.client).await? {
        SignIn::Refused => Ok(refused(&ctx)),
        SignIn::Session(token, stage) => {
            end_previous(&state, &ctx).await?;
            let next = if stage == SessionStage::Enrol { "/account/security/setup" } else { "/sign-in/verify" };
            Ok(with_session_cookie(&token, next))
        }
    }
}

async fn verify_view(
    state: &AppState,
    s: &ActiveSession,
    ctx: &Ctx,
    step_up: bool,
    next: &str,
    errors: Vec<FieldError>,
) -> Result<Response, WebError> {
    let has_passkeys = !state.accounts().store().passkeys(s.user_id()).await.map_err(AuthError::from)?.is_empty();
    let (heading, action, base) = if step_up {
        ("Confirm it is you", "/step-up", "/step-up/passkey")
    } else {
        ("Check it is you", "/sign-in/verify", "/sign-in/verify/passkey")
    };
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNAUTHORIZED };
    let page = VerifyPage {
        l: Layout::new(heading, ctx),
        errors,
        heading: heading.into(),
        action: action.into(),
        next: next.into(),
        totp_allowed: !state.accounts().must_use_passkey(s),
        has_passkeys,
        passkey_base: base.into(),
    };
    Ok((status, render(&page)).into_response())
}

async fn verify_page(State(state): State<AppState>, Verifying(s, ctx): Verifying) -> Result<Response, WebError> {
    verify_view(&state, &s, &ctx, false, "/", vec![]).await
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    recovery: String,
    #[serde(default)]
    next: String,
}

async fn check_code(state: &AppState, s: &ActiveSession, form: &CodeForm) -> Result<bool, WebError> {
    Ok(if !form.recovery.trim().is_empty() {
        state.accounts().use_recovery_code(s, &form.recovery).await?
    } else {
        state.accounts().verify_totp(s, &form.code).await?
    })
}

const CODE_REFUSED: &str = "That code is not right or has already been used. Enter the current code from your app.";

async fn verify(
    State(state): State<AppState>,
    Verifying(s, _): Verifying,
    CsrfForm(form, ctx): CsrfForm<CodeForm>,
) -> Result<Response, WebError> {
    if check_code(&state, &s, &form).await? {
        return Ok(Redirect::to("/").into_response());
    }
    verify_view(&state, &s, &ctx, false, "/", vec![FieldError::new("code", CODE_REFUSED)]).await
}

#[derive(Deserialize)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

async fn step_up_page(
    State(state): State<AppState>,
    SignedIn(s, ctx): SignedIn,
    Query(q): Query<NextQuery>,
) -> Result<Response, WebError> {
    let next = safe_next(&q.next).unwrap_or("/");
    verify_view(&state, &s, &ctx, true, next, vec![]).await
}

async fn step_up(
    State(state): State<AppState>,
    SignedIn(s, _): SignedIn,
    CsrfForm(form, ctx): CsrfForm<CodeForm>,
) -> Result<Response, WebError> {
    let next = safe_next(&form.next).unwrap_or("/").to_owned();
    if check_code(&state, &s, &form).await? {
        return Ok(Redirect::to(&next).into_response());
    }
    verify_view(&state, &s, &ctx, true, &next, vec![FieldError::new("code", CODE_REFUSED)]).await
}

fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// The second-factor session for a passkey check: one awaiting its second factor, or a full
/// one stepping up.
fn checking_session(ctx: &Ctx) -> Option<ActiveSession> {
    ctx.session.clone().filter(|s| matches!(s.row.stage, SessionStage::Mfa | SessionStage::Full))
}

async fn verify_passkey_start(State(state): State<AppState>, CsrfJson(_, ctx): CsrfJson) -> Result<Response, WebError> {
    let Some(s) = checking_session(&ctx) else { return Ok(json_error(StatusCode::UNAUTHORIZED, "sign in first")) };
    match state.accounts().begin_passkey_check(&s).await {
        Ok(options) => Ok(Json(options).into_response()),
        Err(AuthError::Passkey) => Ok(json_error(StatusCode::BAD_REQUEST, "This account has no passkey.")),
        Err(e) => Err(e.into()),
    }
}

async fn verify_passkey_finish(
    State(state): State<AppState>,
    CsrfJson(body, ctx): CsrfJson,
) -> Result<Response, WebError> {
    let Some(s) = checking_session(&ctx) else { return Ok(json_error(StatusCode::UNAUTHORIZED, "sign in first")) };
    let next = body.get("next").and_then(|v| v.as_str()).and_then(safe_next).unwrap_or("/").to_owned();
    let credential = body.get("credential").map(ToString::to_string).unwrap_or_default();
    match state.accounts().finish_passkey_check(&s, &credential).await {
        Ok(()) => Ok(Json(serde_json::json!({ "redirect": next })).into_response()),
        Err(AuthError::Passkey) => {
            Ok(json_error(StatusCode::UNAUTHORIZED, "The passkey could not be verified. Try again."))
        }
        Err(e) => Err(e.into()),
    }
}

async fn passkey_sign_in_start(
    State(state): State<AppState>,
    CsrfJson(_, _ctx): CsrfJson,
) -> Result<Response, WebError> {
    let (options, handle) = state.accounts().begin_passkey_sign_in().await?;
    Ok(Json(serde_json::json!({ "options": options, "ceremony": handle })).into_response())
}

async fn passkey_sign_in_finish(
    State(state): State<AppState>,
    CsrfJson(body, ctx): CsrfJson,
) -> Result<Response, WebError> {
    let handle = body.get("ceremony").and_then(|v| v.as_str()).unwrap_or("").to_owned();
    let credential = body.get("credential").map(ToString::to_string).unwrap_or_default();
    match state.accounts().finish_passkey_sign_in(&handle, &credential, &ctx.client).await? {
        SignIn::Session(token, _) => {
            end_previous(&state, &ctx).await?;
            let mut r = Json(serde_json::json!({ "redirect": "/" })).into_response();
            r.headers_mut().append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, Some(token.expose())));
            Ok(r)
        }
        SignIn::Refused => Ok(json_error(StatusCode::UNAUTHORIZED, "That passkey could not sign you in.")),
    }
}

#[derive(Deserialize)]
struct Empty {}

async fn sign_out(State(state): State<AppState>, CsrfForm(_, ctx): CsrfForm<Empty>) -> Result<Response, WebError> {
    end_previous(&state, &ctx).await?;
    let mut r = Redirect::to("/sign-in?done=signed-out").into_response();
    r.headers_mut().append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, None));
    Ok(r)
}

// ----- single-use links -----

async fn welcome_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let link = match state.accounts().live_link(&token).await {
        Ok(l) if l.purpose != LinkPurpose::Reset => l,
        Ok(_) | Err(AuthError::LinkNotLive) => return Ok(link_gone(&ctx)),
        Err(e) => return Err(e.into()),
    };
    let bootstrap = link.purpose == LinkPurpose::Bootstrap;
    let heading = if bootstrap { "Set up the first operator account" } else { "Create your Tessera account" };
    Ok(render(&WelcomePage {
        l: Layout::new(heading, &ctx),
        errors: vec![],
        heading: heading.into(),
        action: "/welcome".into(),
        bootstrap,
        token,
        name: link.display_name.unwrap_or_default(),
        email: link.email.unwrap_or_default(),
    }))
}

#[derive(Deserialize)]
struct WelcomeForm {
    token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    password: String,
    confirmation: String,
}

async fn welcome(
    State(state): State<AppState>,
    CsrfForm(form, ctx): CsrfForm<WelcomeForm>,
) -> Result<Response, WebError> {
    let link = match state.accounts().live_link(&form.token).await {
        Ok(l) if l.purpose != LinkPurpose::Reset => l,
        Ok(_) | Err(AuthError::LinkNotLive) => return Ok(link_gone(&ctx)),
        Err(e) => return Err(e.into()),
    };
    let bootstrap = link.purpose == LinkPurpose::Bootstrap;
    let identity = bootstrap.then_some((form.email.as_str(), form.name.as_str()));
    match state.accounts().accept(&form.token, identity, &form.password, &form.confirmation, &ctx.client).await {
        Ok(token) => {
            end_previous(&state, &ctx).await?;
            Ok(with_session_cookie(&token, "/account/security/setup"))
        }
        Err(AuthError::LinkNotLive) => Ok(link_gone(&ctx)),
        Err(e) => {
            let Some(err) = form_error(&e) else { return Err(e.into()) };
            let heading = if bootstrap { "Set up the first operator account" } else { "Create your Tessera account" };
            let page = WelcomePage {
                l: Layout::new(heading, &ctx),
                errors: vec![err],
                heading: heading.into(),
                action: "/welcome".into(),
                bootstrap,
                token: form.token,
                name: if bootstrap { form.name } else { link.display_name.unwrap_or_default() },
                email: if bootstrap { form.email } else { link.email.unwrap_or_default() },
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
    }
}

async fn reset_page(State(state): State<AppState>, ctx: Ctx, Path(token): Path<String>) -> Result<Response, WebError> {
    let link = match state.accounts().live_link(&token).await {
        Ok(l) if l.purpose == LinkPurpose::Reset => l,
        Ok(_) | Err(AuthError::LinkNotLive) => return Ok(link_gone(&ctx)),
        Err(e) => return Err(e.into()),
    };
    let _ = link;
    Ok(render(&WelcomePage {
        l: Layout::new("Choose a new password", &ctx),
        errors: vec![],
        heading: "Choose a new password".into(),
        action: "/reset".into(),
        bootstrap: false,
        token,
        name: String::new(),
        email: String::new(),
    }))
}

async fn reset(
    State(state): State<AppState>,
    CsrfForm(form, ctx): CsrfForm<WelcomeForm>,
) -> Result<Response, WebError> {
    match state.accounts().complete_reset(&form.token, &form.password, &form.confirmation).await {
        Ok(()) => Ok(Redirect::to("/sign-in?done=reset").into_response()),
        Err(AuthError::LinkNotLive) => Ok(link_gone(&ctx)),
        Err(e) => {
            let Some(err) = form_error(&e) else { return Err(e.into()) };
            let page = WelcomePage {
                l: Layout::new("Choose a new password", &ctx),
                errors: vec![err],
                heading: "Choose a new password".into(),
                action: "/reset".into(),
                bootstrap: false,
                token: form.token,
                name: String::new(),
                email: String::new(),
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
    }
}

// ----- enrolment -----

/// Adding a factor to a full session needs a recent second factor (step-up); a session with
/// no factor yet is exactly the one that must add one.
fn needs_step_up(state: &AppState, s: &ActiveSession, back: &str) -> Option<Response> {
    (s.row.stage == SessionStage::Full && !state.accounts().has_recent_mfa(s))
        .then(|| Redirect::to(&format!("/step-up?next={back}")).into_response())
}

async fn security_setup(State(state): State<AppState>, Enrolling(s, ctx): Enrolling) -> Response {
    render(&SecuritySetupPage {
        l: Layout::new("Set up a second way to sign in", &ctx),
        totp_allowed: !state.accounts().must_use_passkey(&s),
    })
}

async fn totp_view(
    state: &AppState,
    s: &ActiveSession,
    ctx: &Ctx,
    errors: Vec<FieldError>,
) -> Result<Response, WebError> {
    let e = state.accounts().begin_totp(s).await?;
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = TotpSetupPage {
        l: Layout::new("Set up your authenticator app", ctx),
        errors,
        qr: e.provisioning.qr_data_uri.to_string(),
        secret: e.provisioning.secret_base32.to_string(),
        factor: e.factor_id,
    };
    Ok((status, render(&page)).into_response())
}

async fn totp_page(State(state): State<AppState>, Enrolling(s, ctx): Enrolling) -> Result<Response, WebError> {
    if state.accounts().must_use_passkey(&s) {
        return Ok(Redirect::to("/account/security/setup").into_response());
    }
    if let Some(r) = needs_step_up(&state, &s, "/account/security/totp") {
        return Ok(r);
    }
    totp_view(&state, &s, &ctx, vec![]).await
}

#[derive(Deserialize)]
struct TotpConfirmForm {
    factor: String,
    code: String,
}

async fn totp_confirm(
    State(state): State<AppState>,
    Enrolling(s, _): Enrolling,
    CsrfForm(form, ctx): CsrfForm<TotpConfirmForm>,
) -> Result<Response, WebError> {
    if let Some(r) = needs_step_up(&state, &s, "/account/security/totp") {
        return Ok(r);
    }
    if state.accounts().confirm_totp(&s, &form.factor, &form.code).await? {
        let first = s.row.stage == SessionStage::Enrol;
        return Ok(Redirect::to(if first { "/account/security/recovery-codes" } else { "/account" }).into_response());
    }
    totp_view(
        &state,
        &s,
        &ctx,
        vec![FieldError::new("code", "That code is not right. Enter the 6-digit code the app shows now.")],
    )
    .await
}

async fn passkey_register_start(
    State(state): State<AppState>,
    CsrfJson(_, ctx): CsrfJson,
) -> Result<Response, WebError> {
    let Some(s) = ctx.session.clone().filter(|s| matches!(s.row.stage, SessionStage::Enrol | SessionStage::Full))
    else {
        return Ok(json_error(StatusCode::UNAUTHORIZED, "sign in first"));
    };
    if s.row.stage == SessionStage::Full && !state.accounts().has_recent_mfa(&s) {
        return Ok(json_error(StatusCode::FORBIDDEN, "Confirm it is you first: sign out and in again."));
    }
    Ok(Json(state.accounts().begin_passkey(&s).await?).into_response())
}

async fn passkey_register_finish(
    State(state): State<AppState>,
    CsrfJson(body, ctx): CsrfJson,
) -> Result<Response, WebError> {
    let Some(s) = ctx.session.clone().filter(|s| matches!(s.row.stage, SessionStage::Enrol | SessionStage::Full))
    else {
        return Ok(json_error(StatusCode::UNAUTHORIZED, "sign in first"));
    };
    let credential = body.get("credential").map(ToString::to_string).unwrap_or_default();
    let label = body.get("label").and_then(|v| v.as_str()).unwrap_or("");
    match state.accounts().finish_passkey(&s, &credential, label).await {
        Ok(()) => {
            let next = if s.row.stage == SessionStage::Enrol { "/account/security/recovery-codes" } else { "/account" };
            Ok(Json(serde_json::json!({ "redirect": next })).into_response())
        }
        Err(AuthError::Passkey) => {
            Ok(json_error(StatusCode::BAD_REQUEST, "The passkey could not be added. Try again."))
        }
        Err(e) => Err(e.into()),
    }
}

async fn recovery_codes_page(SignedIn(_, ctx): SignedIn) -> Response {
    render(&RecoveryCodesPage { l: Layout::new("Your recovery codes", &ctx), codes: vec![] })
}

async fn recovery_codes_make(
    State(state): State<AppState>,
    StepUp(s, _): StepUp,
    CsrfForm(_, ctx): CsrfForm<Empty>,
) -> Result<Response, WebError> {
    let codes = state.accounts().new_recovery_codes(&s).await?;
    Ok(render(&RecoveryCodesPage {
        l: Layout::new("Your recovery codes", &ctx),
        codes: codes.iter().map(|c| c.to_string()).collect(),
    }))
}

// ----- the account page -----

async fn account_view(
    state: &AppState,
    s: &ActiveSession,
    ctx: &Ctx,
    errors: Vec<FieldError>,
    notice: Option<String>,
) -> Result<Response, WebError> {
    let store = state.accounts().store();
    let uid = s.user_id();
    let never = |t: Option<i64>| t.map_or_else(|| "never".to_owned(), time_text);
    let mut factors: Vec<FactorView> = store
        .totp_factors(uid)
        .await
        .map_err(AuthError::from)?
        .into_iter()
        .filter(|f| f.confirmed)
        .map(|f| FactorView {
            kind: "totp",
            id: f.id,
            label: f.label,
            added: time_text(f.created_at),
            last_used: never(f.last_used_at),
        })
        .collect();
    factors.extend(store.passkeys(uid).await.map_err(AuthError::from)?.into_iter().map(|p| FactorView {
        kind: "passkey",
        id: p.id,
        label: format!("Passkey: {}", p.label),
        added: time_text(p.created_at),
        last_used: never(p.last_used_at),
    }));
    let sessions = state
        .accounts()
        .sessions_of(s)
        .await?
        .into_iter()
        .map(|r| SessionView {
            current: r.id_hash == s.row.id_hash,
            id: r.id_hash,
            browser: if r.user_agent.is_empty() { "Unknown browser".into() } else { r.user_agent },
            address: r.client_ip,
            started: time_text(r.created_at),
        })
        .collect();
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = AccountPage {
        l: Layout::new("Your account", ctx),
        errors,
        notice,
        name: s.row.display_name.clone(),
        email: s.row.email.clone(),
        recovery_left: store.recovery_codes_left(uid).await.map_err(AuthError::from)?,
        factors,
        sessions,
    };
    Ok((status, render(&page)).into_response())
}

async fn account_page(State(state): State<AppState>, SignedIn(s, ctx): SignedIn) -> Result<Response, WebError> {
    account_view(&state, &s, &ctx, vec![], None).await
}

#[derive(Deserialize)]
struct RevokeForm {
    kind: String,
    id: String,
}

async fn revoke_factor(
    State(state): State<AppState>,
    StepUp(s, _): StepUp,
    CsrfForm(form, ctx): CsrfForm<RevokeForm>,
) -> Result<Response, WebError> {
    let kind = match form.kind.as_str() {
        "totp" => FactorKind::Totp,
        "passkey" => FactorKind::Passkey,
        _ => return Err(WebError::BadForm),
    };
    match state.accounts().revoke_factor(&s, kind, &form.id).await {
        Ok(_) => account_view(&state, &s, &ctx, vec![], Some("The sign-in method has been removed.".into())).await,
        Err(AuthError::Invalid(_)) => {
            let e = FieldError::new("current", "You cannot remove your only sign-in method. Add another one first.");
            account_view(&state, &s, &ctx, vec![e], None).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct EndSessionForm {
    id: String,
}

async fn end_session(
    State(state): State<AppState>,
    SignedIn(s, _): SignedIn,
    CsrfForm(form, ctx): CsrfForm<EndSessionForm>,
) -> Result<Response, WebError> {
    state.accounts().end_own_session(&s, &form.id).await?;
    if form.id == s.row.id_hash {
        let mut r = Redirect::to("/sign-in?done=signed-out").into_response();
        r.headers_mut().append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, None));
        return Ok(r);
    }
    account_view(&state, &s, &ctx, vec![], Some("The session has been ended.".into())).await
}

#[derive(Deserialize)]
struct PasswordForm {
    current: String,
    password: String,
    confirmation: String,
}

async fn change_password(
    State(state): State<AppState>,
    SignedIn(s, _): SignedIn,
    CsrfForm(form, ctx): CsrfForm<PasswordForm>,
) -> Result<Response, WebError> {
    match state.accounts().change_password(&s, &form.current, &form.password, &form.confirmation).await {
        Ok(()) => account_view(&state, &s, &ctx, vec![], Some("Your password has been changed.".into())).await,
        Err(AuthError::Invalid(m)) => account_view(&state, &s, &ctx, vec![FieldError::new("current", m)], None).await,
        Err(AuthError::Password(p)) => {
            account_view(&state, &s, &ctx, vec![FieldError::new("password", p.to_string())], None).await
        }
        Err(e) => Err(e.into()),
    }
}

// ----- operators -----

async fn invitations_view(
    state: &AppState,
    ctx: &Ctx,
    errors: Vec<FieldError>,
    notice: Option<String>,
) -> Result<Response, WebError> {
    let invitations = state
        .accounts()
        .open_invitations()
        .await?
        .into_iter()
        .map(|i| InvitationView { name: i.name, email: i.email, expires: time_text(i.expires_at) })
        .collect();
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok((status, render(&InvitationsPage { l: Layout::new("Invite people", ctx), errors, notice, invitations }))
        .into_response())
}

async fn invitations_page(State(state): State<AppState>, Operator(_, ctx): Operator) -> Result<Response, WebError> {
    invitations_view(&state, &ctx, vec![], None).await
}

#[derive(Deserialize)]
struct InviteForm {
    email: String,
    name: String,
    /// A proposed grant (all three empty: none); see `Accounts::invite_proposing`.
    #[serde(default)]
    registry: String,
    #[serde(default)]
    organisation: String,
    #[serde(default)]
    role: String,
}

async fn invite(
    State(state): State<AppState>,
    OperatorStepUp(s, _): OperatorStepUp,
    CsrfForm(form, ctx): CsrfForm<InviteForm>,
) -> Result<Response, WebError> {
    let sent = if form.registry.trim().is_empty() && form.role.trim().is_empty() {
        state.accounts().invite(&s, &form.email, &form.name).await
    } else {
        let (r, o, role) = (&form.registry, &form.organisation, &form.role);
        state.accounts().invite_proposing(&s, &form.email, &form.name, r, o, role).await
    };
    match sent {
        Ok(()) => invitations_view(&state, &ctx, vec![], Some("The invitation has been sent.".into())).await,
        Err(AuthError::Field { field, message }) => {
            invitations_view(&state, &ctx, vec![FieldError::new(field, message)], None).await
        }
        Err(AuthError::Invalid(m)) => invitations_view(&state, &ctx, vec![FieldError::new("email", m)], None).await,
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct BulkForm {
    csv: String,
}

/// Parses the pasted CSV: a header with `email` and `name`, then one person per line.
fn parse_invitation_csv(text: &str) -> Result<Vec<(String, String)>, Vec<String>> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(false).from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| vec![format!("line 1: {e}")])?.clone();
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(e), Some(n)) = (col("email"), col("name")) else {
        return Err(vec!["line 1: the header must name the columns email and name".into()]);
    };
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for (i, record) in reader.records().enumerate() {
        match record {
            Ok(r) => rows.push((r.get(e).unwrap_or("").to_owned(), r.get(n).unwrap_or("").to_owned())),
            Err(err) => problems.push(format!("row {}: {err}", i + 1)),
        }
    }
    if rows.is_empty() && problems.is_empty() {
        problems.push("the list has no one in it".into());
    }
    if problems.is_empty() { Ok(rows) } else { Err(problems) }
}

async fn invite_bulk(
    State(state): State<AppState>,
    OperatorStepUp(s, _): OperatorStepUp,
    CsrfForm(form, ctx): CsrfForm<BulkForm>,
) -> Result<Response, WebError> {
    let rows = match parse_invitation_csv(&form.csv) {
        Ok(rows) => rows,
        Err(problems) => {
            let errors = problems.into_iter().map(|p| FieldError::new("csv", p)).collect();
            return invitations_view(&state, &ctx, errors, None).await;
        }
    };
    match state.accounts().invite_many(&s, &rows).await {
        Ok(Ok(n)) => invitations_view(&state, &ctx, vec![], Some(format!("{n} invitations have been sent."))).await,
        Ok(Err(AuthError::Invalid(m))) => invitations_view(&state, &ctx, vec![FieldError::new("csv", m)], None).await,
        Ok(Err(e)) => Err(e.into()),
        Err(problems) => {
            let errors = problems.into_iter().map(|p| FieldError::new("csv", p.to_string())).collect();
            invitations_view(&state, &ctx, errors, None).await
        }
    }
}

async fn users_view(state: &AppState, ctx: &Ctx, notice: Option<String>) -> Result<Response, WebError> {
    let now = state.accounts().clock().now();
    let counts = state.accounts().store().account_counts(now).await.map_err(AuthError::from)?;
    let users = state
        .accounts()
        .users()
        .await?
        .into_iter()
        .map(|u| UserView {
            status: if u.locked { "locked".into() } else { u.status.clone() },
            last_sign_in: u.last_sign_in_at.map_or_else(|| "never".into(), time_text),
            id: u.id,
            name: u.display_name,
            email: u.email,
        })
        .collect();
    Ok(render(&UsersPage { l: Layout::new("Accounts", ctx), notice, counts, users }))
}

async fn users_page(State(state): State<AppState>, Operator(_, ctx): Operator) -> Result<Response, WebError> {
    users_view(&state, &ctx, None).await
}

#[derive(Deserialize)]
struct ResetForm {
    user: String,
}

async fn start_reset(
    State(state): State<AppState>,
    OperatorStepUp(s, _): OperatorStepUp,
    CsrfForm(form, ctx): CsrfForm<ResetForm>,
) -> Result<Response, WebError> {
    state.accounts().start_reset(&s, &form.user).await?;
    users_view(&state, &ctx, Some("A password reset link has been emailed to the person. You will not see it.".into()))
        .await
}

#[cfg(test)]
mod tests {
    use super::parse_invitation_csv;

    #[test]
    fn a_pasted_csv_needs_its_header_and_names_bad_rows() {
        let rows = parse_invitation_csv("email,name\na@nhs.example,Ann A\nb@nhs.example, Bob B \n").unwrap();
        assert_eq!(rows, [("a@nhs.example".into(), "Ann A".into()), ("b@nhs.example".into(), "Bob B".into())]);
        assert!(parse_invitation_csv("mail,who\nx,y\n").unwrap_err()[0].contains("email and name"));
        assert!(parse_invitation_csv("email,name\n").is_err());
        assert!(parse_invitation_csv("email,name\na@b.example,A,extra\n").unwrap_err()[0].starts_with("row 1"));
    }
}
