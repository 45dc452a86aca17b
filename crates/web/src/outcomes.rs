//! Outcome statistics pages and API: a registry's cumulative percent revision by brand,
//! combination and attribute, implant outliers, the hospital funnel plot and CUSUMs, with each
//! chart as SVG and CSV.
//!
//! They are open to callers whose grants include the registry's aggregate reports (controller,
//! analyst, safety officer: [`Grants::aggregates`]); for anyone else the registry has no report
//! (404). They show only **published** output: counts under 5 suppressed, with secondary
//! suppression (`tessera_report`'s disclosure control). CUSUM paths (one step per patient) are
//! analyst-only, so the pages list which organisations signalled but draw no CUSUM. The
//! analyst's view is only available to whoever runs `tessera report --audience analyst` on the
//! server.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use tessera_domain::RegistryId;
use tessera_report::{Audience, RegistryReport, ReportError};

use crate::AppState;
use crate::caller::{ApiCaller, Caller};
use crate::error::WebError;
use crate::routes::Routes;
use crate::views::{FunnelPage, Layout, OutcomesPage, SectionPage, render};
use tessera_domain::access::Grants;

/// What signed-in people other than analysts see.
const AUDIENCE: Audience = Audience::Published;

/// The pages.
pub fn routes() -> Routes {
    Routes::new()
        .get("/registries/{registry}/outcomes", index)
        .get("/registries/{registry}/outcomes/survival/{section}", section_page)
        .get("/registries/{registry}/outcomes/survival/{section}/{file}", section_file)
        .get("/registries/{registry}/outcomes/outliers.csv", outliers_csv)
        .get("/registries/{registry}/outcomes/funnel", funnel_page)
        .get("/registries/{registry}/outcomes/funnel/{file}", funnel_file)
}

/// The API routes (under `/api/v1`).
pub fn api_routes() -> Routes {
    Routes::new().get("/registries/{registry}/outcomes", api_outcomes)
}

/// The report of a registry; an unknown registry, or one without outcome forms, is "not found".
/// Only callers whose grants include aggregate reports of the registry (controller, analyst,
/// safety officer) get it; for anyone else the registry's report does not exist.
async fn report(state: &AppState, grants: &Grants, registry: &str) -> Result<Arc<RegistryReport>, WebError> {
    let Some(reports) = state.reports() else { return Err(WebError::NotFound) };
    let id = RegistryId::parse(registry).map_err(|_| WebError::NotFound)?;
    grants.aggregates(&id)?;
    match reports.registry(&id).await {
        Ok(r) => Ok(r),
        Err(ReportError::NoSpec(_)) | Err(ReportError::Store(tessera_store::StoreError::NotFound(_))) => {
            Err(WebError::NotFound)
        }
        Err(e) => Err(WebError::Internal(e.into())),
    }
}

fn svg(body: String) -> Response {
    ([(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")], body).into_response()
}

fn csv(name: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        body,
    )
        .into_response()
}

async fn index(
    Caller { ctx, grants, .. }: Caller,
    State(state): State<AppState>,
    Path(registry): Path<String>,
) -> Result<Response, WebError> {
    let r = report(&state, &grants, &registry).await?;
    let v = r.view(AUDIENCE);
    Ok(render(&OutcomesPage { l: Layout::new(&format!("Outcomes: {}", r.registry), &ctx), v }))
}

async fn section_page(
    Caller { ctx, grants, .. }: Caller,
    State(state): State<AppState>,
    Path((registry, section)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let r = report(&state, &grants, &registry).await?;
    let (_, s) = r.section(&section).ok_or(WebError::NotFound)?;
    let view = r.section_view(s, AUDIENCE);
    let years = r.view(AUDIENCE).years;
    Ok(render(&SectionPage { l: Layout::new(&view.title, &ctx), registry: r.registry.clone(), s: view, years }))
}

/// A section's chart (`chart.svg`), its curves (`curves.csv`) or numbers at risk (`at-risk.csv`).
async fn section_file(
    Caller { grants, .. }: Caller,
    State(state): State<AppState>,
    Path((registry, section, file)): Path<(String, String, String)>,
) -> Result<Response, WebError> {
    let r = report(&state, &grants, &registry).await?;
    let (_, s) = r.section(&section).ok_or(WebError::NotFound)?;
    let chart = r.km_chart(s, AUDIENCE);
    match file.as_str() {
        "chart.svg" => Ok(svg(tessera_charts::km_chart(&chart))),
        "curves.csv" => Ok(csv(&format!("{}.csv", s.id), tessera_charts::km_csv(&chart))),
        "at-risk.csv" => Ok(csv(&format!("{}-at-risk.csv", s.id), tessera_charts::km_at_risk_csv(&chart))),
        _ => Err(WebError::NotFound),
    }
}

async fn outliers_csv(
    Caller { grants, .. }: Caller,
    State(state): State<AppState>,
    Path(registry): Path<String>,
) -> Result<Response, WebError> {
    let r = report(&state, &grants, &registry).await?;
    let body = tessera_report::outliers_csv(&r.view(AUDIENCE)).map_err(|e| WebError::Internal(e.into()))?;
    Ok(csv("implant-outliers.csv", body))
}

async fn funnel_page(
    Caller { ctx, grants, .. }: Caller,
    State(state): State<AppState>,
    Path(registry): Path<String>,
) -> Result<Response, WebError> {
    let r = report(&state, &grants, &registry).await?;
    let v = r.view(AUDIENCE);
    Ok(render(&FunnelPage { l: Layout::new("Organisations: observed ÷ expected revisions", &ctx), v }))
}

/// The funnel plot (`chart.svg`) or its data (`data.csv`).
async fn funnel_file(
    Caller { grants, .. }: Caller,
    State(state): State<AppState>,
    Path((registry, file)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let chart = report(&state, &grants, &registry).await?.funnel_chart(AUDIENCE);
    match file.as_str() {
        "chart.svg" => Ok(svg(tessera_charts::funnel_chart(&chart))),
        "data.csv" => Ok(csv("funnel.csv", tessera_charts::funnel_csv(&chart))),
        _ => Err(WebError::NotFound),
    }
}

/// `GET /api/v1/registries/{registry}/outcomes`: the registry's outcome report as JSON
/// (published: counts under 5 suppressed).
#[utoipa::path(
    get,
    path = "/api/v1/registries/{registry}/outcomes",
    params(("registry" = String, Path, description = "Registry id, e.g. njr")),
    responses(
        (status = 200, description = "the outcome report: cumulative percent revision, implant outliers, funnel, CUSUM"),
        (status = 401, description = "not signed in"),
        (status = 404, description = "no such registry, or it records no operations")
    )
)]
pub async fn api_outcomes(
    ApiCaller { grants, .. }: ApiCaller,
    State(state): State<AppState>,
    Path(registry): Path<String>,
) -> Result<Json<serde_json::Value>, WebError> {
    let r = report(&state, &grants, &registry).await?;
    Ok(Json(r.to_json(AUDIENCE)))
}
