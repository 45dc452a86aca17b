//! The access workflow's pages: a person's access and requests (`/access`), a controller's
//! registry access page (decisions, grants, revocation, dormant accounts, network allowlist) and
//! recertification, the operators' first-controller approvals and dashboard (`/platform/…`), and
//! API tokens (`/account/tokens`).
//!
//! Every handler gets its power from a capability: `caller.grants.manage(&registry)?` for a
//! registry's controller (refused as 404, so nobody learns what they cannot manage),
//! `accounts.operator(&session)?` behind the [`Operator`] extractor, and [`StepUp`] to make a
//! token. No handler looks at roles itself.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tessera_auth::{AuthError, Decided, TokenPermission, TokenSpec, time_text};
use tessera_domain::access::{ManageRegistry, Role};
use tessera_domain::{OdsCode, RegistryId};
use tessera_store::{RegistryGrantRow, RequestRow};

use crate::AppState;
use crate::access_views::*;
use crate::caller::Caller;
use crate::error::WebError;
use crate::routes::Routes;
use crate::session::{CsrfForm, Ctx, Operator, StepUp};
use crate::views::{FieldError, Layout, render};

/// The access workflow's routes.
pub fn routes() -> Routes {
    Routes::new()
        .get("/access", my_access_page)
        .post("/access", request_access)
        .get("/registries/{registry}/access", registry_page)
        .post("/registries/{registry}/access/decide", decide)
        .post("/registries/{registry}/access/revoke", revoke)
        .post("/registries/{registry}/access/reactivate", reactivate)
        .post("/registries/{registry}/access/networks", networks)
        .get("/registries/{registry}/access/recertify", recertify_page)
        .post("/registries/{registry}/access/recertify", recertify)
        .get("/platform/access", platform_page)
        .post("/platform/access/decide", platform_decide)
        .get("/platform/dashboard", dashboard)
        .get("/account/tokens", tokens_page)
        .post("/account/tokens", create_token)
        .post("/account/tokens/revoke", revoke_token)
}

fn role_label(stored: &str) -> String {
    Role::parse(stored).map_or_else(|| stored.to_owned(), |r| r.label().to_owned())
}

fn scope_label(org: Option<&str>) -> String {
    org.map_or_else(|| "All organisations".to_owned(), str::to_owned)
}

fn request_view(r: RequestRow) -> RequestView {
    let needed = Role::parse(&r.role).map_or(1, Role::approvals_needed);
    RequestView {
        approvals: format!("{} of {needed}", r.approvals),
        role: role_label(&r.role),
        scope: scope_label(r.organisation.as_deref()),
        origin: if r.origin == "invitation" { "an invitation".into() } else { "a request".into() },
        status: match r.status.as_str() {
            "pending" => "Waiting for a decision".into(),
            "approved" => "Approved".into(),
            "refused" => "Refused".into(),
            other => other.to_owned(),
        },
        created: time_text(r.created_at),
        reason: r.decision_reason.unwrap_or_default(),
        id: r.id,
        user_name: r.user_name,
        user_email: r.user_email,
        registry: r.registry_id,
        justification: r.justification,
    }
}

fn grant_view(g: RegistryGrantRow, registry: &str) -> GrantView {
    GrantView {
        role: role_label(&g.role),
        scope: scope_label(g.organisation.as_deref()),
        expires: time_text(g.expires_at),
        recertified: g.recertified_at.map_or_else(|| "never".into(), time_text),
        id: g.id,
        user_name: g.user_name,
        user_email: g.user_email,
        registry: registry.to_owned(),
    }
}

fn status_for(errors: &[FieldError]) -> StatusCode {
    if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY }
}

/// A form problem from the account service, or the error itself.
fn field_error(e: AuthError) -> Result<FieldError, WebError> {
    match e {
        AuthError::Field { field, message } => Ok(FieldError::new(field, message)),
        AuthError::Invalid(_) => Err(WebError::NotFound),
        e => Err(e.into()),
    }
}

fn parse_registry(raw: &str) -> Result<RegistryId, WebError> {
    RegistryId::parse(raw).map_err(|_| WebError::NotFound)
}

// ----- a person's own access -----

async fn my_access_view(
    state: &AppState,
    caller: &Caller,
    ctx: &Ctx,
    errors: Vec<FieldError>,
    notice: Option<String>,
) -> Result<Response, WebError> {
    let accounts = state.accounts();
    let grants = caller
        .grants
        .grants()
        .iter()
        .map(|g| GrantView {
            id: g.id.clone(),
            user_name: String::new(),
            user_email: String::new(),
            registry: g.registry.as_str().to_owned(),
            role: g.role.label().to_owned(),
            scope: scope_label(g.scope.organisation().map(OdsCode::as_str)),
            expires: time_text(g.expires_at),
            recertified: String::new(),
        })
        .collect();
    let manages = caller
        .grants
        .registries()
        .into_iter()
        .filter_map(|r| caller.grants.manage(&r).ok())
        .map(|m| m.registry().as_str().to_owned())
        .collect();
    let requests = accounts.my_requests(&caller.session).await?.into_iter().map(request_view).collect();
    let registries = accounts
        .store()
        .registries()
        .await
        .map_err(AuthError::from)?
        .into_iter()
        .map(|r| (r.id.as_str().to_owned(), format!("{} ({})", r.name, r.id)))
        .collect();
    let roles = Role::ALL.iter().map(|r| (r.as_str().to_owned(), r.label().to_owned())).collect();
    let status = status_for(&errors);
    let page = MyAccessPage {
        l: Layout::new("Your access", ctx),
        errors,
        notice,
        grants,
        manages,
        requests,
        registries,
        roles,
    };
    Ok((status, render(&page)).into_response())
}

async fn my_access_page(State(state): State<AppState>, caller: Caller) -> Result<Response, WebError> {
    let ctx = caller.ctx.clone();
    my_access_view(&state, &caller, &ctx, vec![], None).await
}

#[derive(Deserialize)]
struct RequestForm {
    #[serde(default)]
    registry: String,
    #[serde(default)]
    organisation: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    justification: String,
}

async fn request_access(
    State(state): State<AppState>,
    caller: Caller,
    CsrfForm(form, ctx): CsrfForm<RequestForm>,
) -> Result<Response, WebError> {
    match state
        .accounts()
        .request_access(&caller.session, &form.registry, &form.organisation, &form.role, &form.justification)
        .await
    {
        Ok(_) => {
            let notice =
                "Your request has been sent to the registry's controllers. You will get an email when it is decided.";
            my_access_view(&state, &caller, &ctx, vec![], Some(notice.into())).await
        }
        Err(e) => my_access_view(&state, &caller, &ctx, vec![field_error(e)?], None).await,
    }
}

// ----- a registry's controller -----

async fn registry_view(
    state: &AppState,
    manage: &ManageRegistry,
    ctx: &Ctx,
    errors: Vec<FieldError>,
    notice: Option<String>,
) -> Result<Response, WebError> {
    let accounts = state.accounts();
    let registry = manage.registry().as_str();
    let pending = accounts.pending_requests(manage).await?.into_iter().map(request_view).collect();
    let grants = accounts.registry_grants(manage).await?.into_iter().map(|g| grant_view(g, registry)).collect();
    let dormant = accounts
        .dormant_users(manage)
        .await?
        .into_iter()
        .map(|u| DormantView {
            suspended: u.suspended_at.map_or_else(String::new, time_text),
            id: u.id,
            name: u.name,
            email: u.email,
        })
        .collect();
    let networks = accounts
        .store()
        .networks()
        .await
        .map_err(AuthError::from)?
        .into_iter()
        .filter(|n| n.registry_id == registry)
        .map(|n| format!("{} {}", n.cidr, n.label).trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n");
    let status = status_for(&errors);
    let page = RegistryAccessPage {
        l: Layout::new(&format!("Access to {registry}"), ctx),
        errors,
        notice,
        registry: registry.to_owned(),
        pending,
        grants,
        dormant,
        networks,
    };
    Ok((status, render(&page)).into_response())
}

async fn registry_page(
    State(state): State<AppState>,
    Path(registry): Path<String>,
    caller: Caller,
) -> Result<Response, WebError> {
    let manage = caller.grants.manage(&parse_registry(&registry)?)?;
    registry_view(&state, &manage, &caller.ctx, vec![], None).await
}

#[derive(Deserialize)]
struct DecideForm {
    #[serde(default)]
    request: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    reason: String,
}

fn decided_notice(d: Decided) -> String {
    match d {
        Decided::Granted => "The request is approved and the access granted. The person has been told.".into(),
        Decided::Refused => "The request is refused. The person has been told.".into(),
        Decided::Awaiting { approvals, needed } => {
            format!("Your approval is recorded ({approvals} of {needed}). Another approver must approve too.")
        }
    }
}

fn approve_choice(decision: &str) -> Result<bool, FieldError> {
    match decision {
        "approve" => Ok(true),
        "refuse" => Ok(false),
        _ => Err(FieldError::new("decision", "Choose approve or refuse")),
    }
}

async fn decide(
    State(state): State<AppState>,
    Path(registry): Path<String>,
    caller: Caller,
    CsrfForm(form, ctx): CsrfForm<DecideForm>,
) -> Result<Response, WebError> {
    let manage = caller.grants.manage(&parse_registry(&registry)?)?;
    let approve = match approve_choice(&form.decision) {
        Ok(a) => a,
        Err(e) => return registry_view(&state, &manage, &ctx, vec![e], None).await,
    };
    match state.accounts().decide(&caller.session, &manage, &form.request, approve, &form.reason).await {
        Ok(d) => registry_view(&state, &manage, &ctx, vec![], Some(decided_notice(d))).await,
        Err(e) => registry_view(&state, &manage, &ctx, vec![field_error(e)?], None).await,
    }
}

#[derive(Deserialize)]
struct RevokeForm {
    #[serde(default)]
    grant: String,
    #[serde(default)]
    reason: String,
}

async fn revoke(
    State(state): State<AppState>,
    Path(registry): Path<String>,
    caller: Caller,
    CsrfForm(form, ctx): CsrfForm<RevokeForm>,
) -> Result<Response, WebError> {
    let manage = caller.grants.manage(&parse_registry(&registry)?)?;
    match state.accounts().revoke_grant(&caller.session, &manage, &form.grant, &form.reason).await {
        Ok(true) => registry_view(&state, &manage, &ctx, vec![], Some("The access is revoked.".into())).await,
        Ok(false) => Err(WebError::NotFound),
        Err(e) => registry_view(&state, &manage, &ctx, vec![field_error(e)?], None).await,
    }
}

#[derive(Deserialize)]
struct ReactivateForm {
    #[serde(default)]
    user: String,
}

async fn reactivate(
    State(state): State<AppState>,
    Path(registry): Path<String>,
    caller: Caller,
    CsrfForm(form, ctx): CsrfForm<ReactivateForm>,
) -> Result<Response, WebError> {
    let manage = caller.grants.manage(&parse_registry(&registry)?)?;
    if !state.accounts().reactivate(&caller.session, &manage, &form.user).await? {
        return Err(WebError::NotFound);
    }
    let notice = "The account is active again. The person must sign in within the dormancy period.";
    registry_view(&state, &manage, &ctx, vec![], Some(notice.into())).await
}

#[derive(Deserialize)]
struct NetworksForm {
    #[serde(default)]
    networks: String,
}

async fn networks(
    State(state): State<AppState>,
    Path(registry): Path<String>,
    caller: Caller,
    CsrfForm(form, ctx): CsrfForm<NetworksForm>,
) -> Result<Response, WebError> {
    let manage = caller.grants.manage(&parse_registry(&registry)?)?;
    match state.accounts().set_networks(&caller.session, &manage, &form.networks).await {
        Ok(0) => registry_view(&state, &manage, &ctx, vec![], Some("Any address may now be used.".into())).await,
        Ok(n) => registry_view(&state, &manage, &ctx, vec![], Some(format!("The allowlist has {n} ranges."))).await,
        Err(e) => registry_view(&state, &manage, &ctx, vec![field_error(e)?], None).await,
    }
}

async fn recertify_view(
    state: &AppState,
    manage: &ManageRegistry,
    ctx: &Ctx,
    notice: Option<String>,
) -> Result<Response, WebError> {
    let registry = manage.registry().as_str();
    let grants = state.accounts().expiring_grants(manage).await?.into_iter().map(|g| grant_view(g, registry)).collect();
    let page = RecertifyPage {
        l: Layout::new(&format!("Recertify access to {registry}"), ctx),
        notice,
        registry: registry.to_owned(),
        grants,
    };
    Ok(render(&page))
}

async fn recertify_page(
    State(state): State<AppState>,
    Path(registry): Path<String>,
    caller: Caller,
) -> Result<Response, WebError> {
    let manage = caller.grants.manage(&parse_registry(&registry)?)?;
    recertify_view(&state, &manage, &caller.ctx, None).await
}

async fn recertify(
    State(state): State<AppState>,
    Path(registry): Path<String>,
    caller: Caller,
    CsrfForm(form, ctx): CsrfForm<BTreeMap<String, String>>,
) -> Result<Response, WebError> {
    let manage = caller.grants.manage(&parse_registry(&registry)?)?;
    let ids: Vec<String> = form.keys().filter_map(|k| k.strip_prefix("grant-")).map(str::to_owned).collect();
    let n = state.accounts().recertify(&caller.session, &manage, &ids).await?;
    recertify_view(&state, &manage, &ctx, Some(format!("{n} grants recertified for 12 months."))).await
}

// ----- platform operators -----

async fn platform_view(
    state: &AppState,
    ctx: &Ctx,
    op: &tessera_auth::PlatformOperator,
    errors: Vec<FieldError>,
    notice: Option<String>,
) -> Result<Response, WebError> {
    let pending = state.accounts().first_controller_requests(op).await?.into_iter().map(request_view).collect();
    let status = status_for(&errors);
    let page = PlatformAccessPage { l: Layout::new("First controllers", ctx), errors, notice, pending };
    Ok((status, render(&page)).into_response())
}

async fn platform_page(State(state): State<AppState>, Operator(s, ctx): Operator) -> Result<Response, WebError> {
    let op = state.accounts().operator(&s)?;
    platform_view(&state, &ctx, &op, vec![], None).await
}

async fn platform_decide(
    State(state): State<AppState>,
    Operator(s, _): Operator,
    CsrfForm(form, ctx): CsrfForm<DecideForm>,
) -> Result<Response, WebError> {
    let op = state.accounts().operator(&s)?;
    let approve = match approve_choice(&form.decision) {
        Ok(a) => a,
        Err(e) => return platform_view(&state, &ctx, &op, vec![e], None).await,
    };
    match state.accounts().decide_first_controller(&op, &form.request, approve, &form.reason).await {
        Ok(d) => platform_view(&state, &ctx, &op, vec![], Some(decided_notice(d))).await,
        Err(e) => platform_view(&state, &ctx, &op, vec![field_error(e)?], None).await,
    }
}

async fn dashboard(State(state): State<AppState>, Operator(s, ctx): Operator) -> Result<Response, WebError> {
    let accounts = state.accounts();
    let d = accounts.access_dashboard(&accounts.operator(&s)?).await?;
    let view = |label: String, c: tessera_store::AccessCounts| CountsView {
        label,
        registered: c.registered,
        active: c.active,
        suspended: c.suspended,
        invited: c.invited,
    };
    let page = DashboardPage {
        l: Layout::new("Accounts at a glance", &ctx),
        days: accounts.settings().dormant_after / 86_400,
        overall: view("All accounts".into(), d.overall),
        registries: d.registries.into_iter().map(|(id, _, c)| view(id, c)).collect(),
    };
    Ok(render(&page))
}

// ----- API tokens -----

async fn tokens_view(
    state: &AppState,
    caller: &Caller,
    ctx: &Ctx,
    errors: Vec<FieldError>,
    notice: Option<String>,
    secret: Option<String>,
) -> Result<Response, WebError> {
    let now = state.accounts().clock().now();
    let tokens = state
        .accounts()
        .tokens_of(&caller.session)
        .await?
        .into_iter()
        .map(|t| {
            let live = t.revoked_at.is_none() && t.expires_at > now;
            TokenView {
                status: if t.revoked_at.is_some() {
                    "Revoked".into()
                } else if live {
                    "Active".into()
                } else {
                    "Expired".into()
                },
                live,
                expires: time_text(t.expires_at),
                last_used: t.last_used_at.map_or_else(|| "never".into(), time_text),
                id: t.id,
                label: t.label,
                registry: t.registry_id,
                organisation: t.organisation,
                permissions: t.permissions.replace(',', ", "),
            }
        })
        .collect();
    let registries = caller.grants.registries().into_iter().map(|r| r.as_str().to_owned()).collect();
    let status = status_for(&errors);
    let page = TokensPage { l: Layout::new("API tokens", ctx), errors, notice, secret, tokens, registries };
    Ok((status, render(&page)).into_response())
}

async fn tokens_page(State(state): State<AppState>, caller: Caller) -> Result<Response, WebError> {
    let ctx = caller.ctx.clone();
    tokens_view(&state, &caller, &ctx, vec![], None, None).await
}

#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    label: String,
    #[serde(default)]
    registry: String,
    #[serde(default)]
    organisation: String,
    #[serde(default)]
    read: Option<String>,
    #[serde(default)]
    write: Option<String>,
    #[serde(default)]
    days: String,
}

async fn create_token(
    State(state): State<AppState>,
    StepUp(_, _): StepUp,
    caller: Caller,
    CsrfForm(form, ctx): CsrfForm<TokenForm>,
) -> Result<Response, WebError> {
    let problem = |field: &'static str, message: &str| vec![FieldError::new(field, message)];
    let Ok(registry) = RegistryId::parse(form.registry.trim()) else {
        return tokens_view(&state, &caller, &ctx, problem("registry", "Choose a registry"), None, None).await;
    };
    let Ok(org) = OdsCode::parse(&form.organisation.trim().to_ascii_uppercase()) else {
        let message = "Enter the organisation's ODS code, like RRK";
        return tokens_view(&state, &caller, &ctx, problem("organisation", message), None, None).await;
    };
    let Ok(days) = form.days.trim().parse::<i64>() else {
        return tokens_view(&state, &caller, &ctx, problem("days", "Enter a number of days from 1 to 365"), None, None)
            .await;
    };
    let mut permissions = Vec::new();
    if form.read.is_some() {
        permissions.push(TokenPermission::Read);
    }
    if form.write.is_some() {
        permissions.push(TokenPermission::Write);
    }
    match state
        .accounts()
        .create_token(
            &caller.session,
            &ctx.client,
            &TokenSpec { registry: &registry, organisation: &org, permissions: &permissions, label: &form.label, days },
        )
        .await
    {
        Ok(token) => {
            let notice = format!("The token is made. It expires at {} (UTC).", time_text(token.expires_at));
            let secret = Some(token.secret.to_string());
            tokens_view(&state, &caller, &ctx, vec![], Some(notice), secret).await
        }
        Err(e) => tokens_view(&state, &caller, &ctx, vec![field_error(e)?], None, None).await,
    }
}

#[derive(Deserialize)]
struct RevokeTokenForm {
    #[serde(default)]
    token: String,
}

async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    CsrfForm(form, ctx): CsrfForm<RevokeTokenForm>,
) -> Result<Response, WebError> {
    if !state.accounts().revoke_token(&caller.session, &form.token).await? {
        return Err(WebError::NotFound);
    }
    tokens_view(&state, &caller, &ctx, vec![], Some("The token is revoked and no longer works.".into()), None).await
}
