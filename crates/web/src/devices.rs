//! The device catalogue for people (issue 6): search it, and review the GTINs scanned at capture
//! that it did not know.
//!
//! - `/catalogue?q=`: any signed-in person searches the catalogue by GTIN prefix or by words of
//!   the manufacturer, brand, model, catalogue number or category. The catalogue describes
//!   products, never patients, so the search is not an identifiable read and writes no event.
//! - `/api/v1/catalogue?q=`: the same search as JSON, for a session or an API token.
//! - `/catalogue/review`: platform operators see the unknown GTINs waiting for review and may
//!   dismiss one (a mis-scan, not an implant; POST, CSRF-checked, audited as
//!   `catalogue.dismiss`). A later catalogue load that includes a GTIN marks it added.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use tessera_store::{AuditActor, AuditNote, AuditOutcome, CatalogueEntry, StoreError, UnknownStatus};

use crate::AppState;
use crate::caller::ApiCaller;
use crate::error::WebError;
use crate::routes::Routes;
use crate::session::{CsrfForm, Operator, SignedIn};
use crate::views::{Layout, render};

/// Rows a search shows.
const SEARCH_LIMIT: u32 = 100;
/// The longest search text taken.
const MAX_QUERY: usize = 100;

/// The catalogue's pages and API.
pub fn routes() -> Routes {
    Routes::new()
        .get("/catalogue", search_page)
        .get("/catalogue/review", review_page)
        .post("/catalogue/review", dismiss)
        .get("/api/v1/catalogue", search_api)
}

fn internal(e: StoreError) -> WebError {
    WebError::Internal(e.into())
}

/// One product as shown and as the API answers it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProductRow {
    /// GTIN, 14 digits.
    pub gtin: String,
    /// Manufacturer.
    pub manufacturer: String,
    /// Brand.
    pub brand: String,
    /// Model, or empty.
    pub model: String,
    /// Catalogue number, or empty.
    pub catalogue_ref: String,
    /// Category.
    pub category: String,
    /// Attributes as `name: value` pairs, by name.
    pub attributes: Vec<(String, String)>,
    /// The catalogue version that last changed it (`None`: before any load).
    pub version: Option<u32>,
}

impl From<CatalogueEntry> for ProductRow {
    fn from(e: CatalogueEntry) -> Self {
        ProductRow {
            gtin: e.gtin,
            manufacturer: e.manufacturer,
            brand: e.brand,
            model: e.model.unwrap_or_default(),
            catalogue_ref: e.catalogue_ref.unwrap_or_default(),
            category: e.category,
            attributes: e.attributes.into_iter().collect(),
            version: e.version,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct SearchQuery {
    #[serde(default)]
    q: String,
}

impl SearchQuery {
    /// The search text, trimmed and cut to [`MAX_QUERY`] characters, control characters dropped.
    fn text(&self) -> String {
        self.q.trim().chars().filter(|c| !c.is_control()).take(MAX_QUERY).collect()
    }
}

#[derive(askama::Template)]
#[template(path = "catalogue_search.html")]
struct SearchPage {
    l: Layout,
    q: String,
    searched: bool,
    products: Vec<ProductRow>,
    limit: u32,
}

async fn search_page(
    SignedIn(_, ctx): SignedIn,
    State(state): State<AppState>,
    Query(query): Query<SearchQuery>,
) -> Result<Response, WebError> {
    let q = query.text();
    let products = state.accounts().store().catalogue_search(&q, SEARCH_LIMIT).await.map_err(internal)?;
    Ok(render(&SearchPage {
        l: Layout::new("Device catalogue", &ctx),
        searched: !q.is_empty(),
        q,
        products: products.into_iter().map(ProductRow::from).collect(),
        limit: SEARCH_LIMIT,
    }))
}

/// The API's answer to a catalogue search.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchBody {
    /// The search text as used.
    q: String,
    /// Matching products, at most 100.
    products: Vec<ProductRow>,
}

/// `GET /api/v1/catalogue?q=`: products whose GTIN starts with `q` or whose manufacturer, brand,
/// model, catalogue number or category contains its words.
#[utoipa::path(get, path = "/api/v1/catalogue", params(("q" = Option<String>, Query, description = "search text")),
    responses((status = 200, body = SearchBody), (status = 401, description = "no session or token")))]
pub(crate) async fn search_api(
    _: ApiCaller,
    State(state): State<AppState>,
    Query(query): Query<SearchQuery>,
) -> Response {
    let q = query.text();
    match state.accounts().store().catalogue_search(&q, SEARCH_LIMIT).await {
        Ok(products) => {
            Json(SearchBody { q, products: products.into_iter().map(ProductRow::from).collect() }).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "catalogue search failed");
            (StatusCode::INTERNAL_SERVER_ERROR, Json(serde_json::json!({ "error": "internal error" }))).into_response()
        }
    }
}

/// One unknown GTIN as shown.
struct UnknownRow {
    gtin: String,
    first_seen: String,
    last_seen: String,
    times_seen: u64,
    registry: String,
    organisation: String,
}

#[derive(askama::Template)]
#[template(path = "catalogue_review.html")]
struct ReviewPage {
    l: Layout,
    pending: Vec<UnknownRow>,
    dismissed: Option<String>,
}

fn time_text(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{} {:02}:{:02}", t.date(), t.hour(), t.minute())
}

#[derive(Debug, Default, Deserialize)]
struct ReviewQuery {
    #[serde(default)]
    dismissed: String,
}

async fn review_page(
    Operator(_, ctx): Operator,
    State(state): State<AppState>,
    Query(query): Query<ReviewQuery>,
) -> Result<Response, WebError> {
    let pending = state.accounts().store().unknown_gtins(UnknownStatus::Pending).await.map_err(internal)?;
    let dismissed = query.dismissed.trim();
    Ok(render(&ReviewPage {
        l: Layout::new("Unknown devices to review", &ctx),
        pending: pending
            .into_iter()
            .map(|u| UnknownRow {
                gtin: u.gtin,
                first_seen: time_text(u.first_seen),
                last_seen: time_text(u.last_seen),
                times_seen: u.times_seen,
                registry: u.registry.unwrap_or_default(),
                organisation: u.organisation.unwrap_or_default(),
            })
            .collect(),
        // Only a GTIN's digits are shown back.
        dismissed: (dismissed.len() == 14 && dismissed.bytes().all(|b| b.is_ascii_digit()))
            .then(|| dismissed.to_owned()),
    }))
}

#[derive(Deserialize)]
struct DismissForm {
    #[serde(default)]
    gtin: String,
}

async fn dismiss(
    Operator(session, _): Operator,
    State(state): State<AppState>,
    CsrfForm(form, _): CsrfForm<DismissForm>,
) -> Result<Response, WebError> {
    let gtin = form.gtin.trim();
    if gtin.len() != 14 || !gtin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WebError::NotFound);
    }
    let note =
        AuditNote::new(AuditActor::User(session.user_id().to_owned()), "catalogue.dismiss", AuditOutcome::Success)
            .client(session.row.client_ip.clone());
    let by = format!("user:{}", session.user_id());
    match state.accounts().store().dismiss_unknown_gtin(gtin, Some(&by), &note).await {
        Ok(()) => Ok(Redirect::to(&format!("/catalogue/review?dismissed={gtin}")).into_response()),
        Err(StoreError::NotFound(_)) => Err(WebError::NotFound),
        Err(e) => Err(internal(e)),
    }
}
