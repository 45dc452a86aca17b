//! Implant capture on a procedure record (issue 6): scan the GS1 barcode on the packaging, or
//! type the unit's details, and the unit is stored against the record.
//!
//! - The scan field takes what a keyboard-wedge scanner types, the group separator included
//!   (ASCII 29), or the same typed by hand as `<GS>` or `\x1d`; the bracketed form printed under
//!   a barcode and GS1 Digital Link URIs work too. It is parsed by `domain::gs1::parse`, and a
//!   barcode it refuses is shown with the parser's reason, naming the AI.
//! - The unit is stored (`entry` `scanned` or `manual`) in one transaction with its audit event
//!   (`implant.add`) by `Store::add_implant`, which needs [`RecordsWrite`] at the record's
//!   organisation (403 where the caller may read but not write, 404 out of reach).
//! - A GTIN the catalogue does not know is stored all the same and queued for the catalogue's
//!   review (`Store::note_unknown_gtin`): a theatre cannot wait for the catalogue.
//! - A unit matching an open recall is answered with an NHS.UK warning callout naming each
//!   recall (reference and title), to the person entering it; the API answers the recalls in
//!   JSON.
//!
//! The page shows the record's units, never the patient: it is not an identifiable read.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tessera_domain::access::{Grants, Principal, RecordsWrite};
use tessera_domain::gs1::{self, GS, Gtin};
use tessera_domain::recall::{MAX_LOT_LEN, UnitFacts};
use tessera_domain::{OdsCode, RegistryId};
use tessera_store::{AuditActor, AuditNote, AuditOutcome, NewImplant, StoreError, StoredRecord};
use time::Date;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::caller::{ApiCaller, Caller};
use crate::error::WebError;
use crate::recall_views::*;
use crate::record_views::Problem;
use crate::records::{ApiError, store_error, today};
use crate::routes::Routes;
use crate::session::CsrfForm;
use crate::views::{Layout, render};

/// The longest scan accepted (a Digital Link URI with every AI fits easily).
const MAX_SCAN: usize = 512;

/// The capture page.
pub fn routes() -> Routes {
    Routes::new()
        .get("/registries/{registry}/records/{id}/components", capture_page)
        .post("/registries/{registry}/records/{id}/components", capture)
}

/// The capture API (under `/api/v1`).
pub fn api_routes() -> Routes {
    Routes::new().post("/registries/{registry}/records/{id}/components", api_capture)
}

fn internal(e: StoreError) -> WebError {
    WebError::Internal(e.into())
}

/// The record and the power to add units to it: 404 out of the caller's reach, 403 where they
/// may read the record but not write at its organisation.
async fn writable(
    state: &AppState,
    grants: &Grants,
    registry: &str,
    id: &str,
) -> Result<(StoredRecord, RecordsWrite), WebError> {
    let registry = RegistryId::parse(registry).map_err(|_| WebError::NotFound)?;
    let id = Uuid::parse_str(id).map_err(|_| WebError::NotFound)?;
    let read = grants.records_read(&registry)?;
    let record =
        state.accounts().store().readable_record(&read, id).await.map_err(store_error)?.ok_or(WebError::NotFound)?;
    let org = OdsCode::parse(&record.organisation)
        .map_err(|e| WebError::Internal(anyhow::anyhow!("stored organisation: {e}")))?;
    let write = grants.records_write(&registry, &org).map_err(|_| WebError::Forbidden)?;
    Ok((record, write))
}

/// What was sent for one unit: a scan, or typed fields.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ComponentIn {
    /// What the scanner sent (GS as ASCII 29, `<GS>` or `\x1d`), the bracketed form or a GS1
    /// Digital Link URI. When present, the other fields are ignored.
    #[serde(default)]
    scan: Option<String>,
    /// GTIN-8, -12, -13 or -14 (typed entry).
    #[serde(default)]
    gtin: String,
    #[serde(default)]
    lot: String,
    #[serde(default)]
    serial: String,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    expiry: String,
    /// Production date, `YYYY-MM-DD`.
    #[serde(default)]
    manufactured: String,
    /// `scan` or `manual` (pages only: which form was posted).
    #[serde(default)]
    #[schema(ignore)]
    mode: String,
}

/// One unit as read from a scan or typed fields.
struct Unit {
    gtin: String,
    lot: Option<String>,
    serial: Option<String>,
    expiry: Option<Date>,
    manufactured: Option<Date>,
    entry: &'static str,
}

/// A scan with typed group separators (`<GS>`, `\x1d`, `\u001d`) turned into ASCII 29.
fn with_separators(scan: &str) -> String {
    let mut out = scan.to_owned();
    for typed in ["<GS>", "<gs>", "\\x1d", "\\x1D", "\\u001d", "\\u001D"] {
        out = out.replace(typed, &GS.to_string());
    }
    out
}

fn read_scan(scan: &str, today: Date) -> Result<Unit, Vec<Problem>> {
    let problem = |message: String| vec![Problem { field: "scan".into(), message }];
    if scan.trim().is_empty() {
        return Err(problem("Scan the barcode, or type its details below".into()));
    }
    if scan.len() > MAX_SCAN {
        return Err(problem(format!("The scan must be at most {MAX_SCAN} characters")));
    }
    let message = gs1::parse(&with_separators(scan), today)
        .map_err(|e| problem(format!("The barcode could not be read: {e}")))?;
    let Some(gtin) = message.gtin() else {
        return Err(problem("The barcode has no GTIN (01): scan the barcode that carries the product's GTIN".into()));
    };
    Ok(Unit {
        gtin: gtin.as_str().to_owned(),
        lot: message.lot().map(str::to_owned),
        serial: message.serial().map(str::to_owned),
        expiry: message.expiry(),
        manufactured: message.production_date(),
        entry: "scanned",
    })
}

fn code(field: &str, label: &str, text: &str, problems: &mut Vec<Problem>) -> Option<String> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if t.len() > MAX_LOT_LEN || !t.bytes().all(gs1::is_cset82) {
        problems.push(Problem {
            field: field.into(),
            message: format!("{label} must be at most {MAX_LOT_LEN} letters, digits or GS1 punctuation characters"),
        });
        return None;
    }
    Some(t.to_owned())
}

fn date(field: &str, label: &str, text: &str, problems: &mut Vec<Problem>) -> Option<Date> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    match Date::parse(t, &format) {
        Ok(d) => Some(d),
        Err(_) => {
            problems.push(Problem {
                field: field.into(),
                message: format!("{label} must be a real date, like 2027-12-31"),
            });
            None
        }
    }
}

fn read_fields(c: &ComponentIn) -> Result<Unit, Vec<Problem>> {
    let mut problems = Vec::new();
    let typed = c.gtin.trim();
    let gtin = if typed.is_empty() {
        problems.push(Problem { field: "gtin".into(), message: "Enter the GTIN".into() });
        None
    } else {
        match Gtin::parse(typed) {
            Ok(g) => Some(g.as_str().to_owned()),
            Err(e) => {
                problems.push(Problem { field: "gtin".into(), message: format!("GTIN: {}", e.reason()) });
                None
            }
        }
    };
    let lot = code("lot", "The lot", &c.lot, &mut problems);
    let serial = code("serial", "The serial number", &c.serial, &mut problems);
    let expiry = date("expiry", "The expiry date", &c.expiry, &mut problems);
    let manufactured = date("manufactured", "The production date", &c.manufactured, &mut problems);
    match gtin {
        Some(gtin) if problems.is_empty() => Ok(Unit { gtin, lot, serial, expiry, manufactured, entry: "manual" }),
        _ => Err(problems),
    }
}

/// What saving a unit found.
struct Saved {
    id: Uuid,
    unit: Unit,
    catalogued: bool,
    recalls: Vec<tessera_store::RecallRow>,
}

/// Stores the unit with its audit event, queues an unknown GTIN, and finds the open recalls it
/// matches.
async fn save(
    state: &AppState,
    principal: &Principal,
    record: &StoredRecord,
    write: &RecordsWrite,
    unit: Unit,
) -> Result<Saved, WebError> {
    let store = state.accounts().store();
    let implant = NewImplant {
        record_id: record.id,
        organisation: record.organisation.clone(),
        gtin: unit.gtin.clone(),
        lot: unit.lot.clone(),
        serial: unit.serial.clone(),
        expiry: unit.expiry,
        entry: unit.entry,
        patient_id: None,
        implanted_on: None,
        manufactured: unit.manufactured,
        site: None,
        side: None,
    };
    let (actor, client) = match principal {
        Principal::User(u) => (AuditActor::User(u.clone()), "web"),
        Principal::Token { id, .. } => (AuditActor::ApiToken(id.clone()), "api"),
    };
    let audit = AuditNote::new(actor, "implant.add", AuditOutcome::Success)
        .client(client)
        .registry(write.registry().as_str())
        .organisation(write.org().as_str());
    let id = store.add_implant(write, record.id, &implant, &audit).await.map_err(store_error)?;
    let catalogued = store.product(&unit.gtin).await.map_err(internal)?.is_some();
    if !catalogued {
        store.note_unknown_gtin(&unit.gtin, write.registry().as_str(), write.org().as_str()).await.map_err(internal)?;
    }
    // The store fills the implant date from the record; match on what was stored.
    let implanted = store
        .implants_of(record.id)
        .await
        .map_err(internal)?
        .into_iter()
        .find(|i| i.gtin == unit.gtin && i.lot == unit.lot && i.serial == unit.serial)
        .and_then(|i| i.implanted_on);
    let facts = UnitFacts {
        gtin: &unit.gtin,
        lot: unit.lot.as_deref(),
        serial: unit.serial.as_deref(),
        expiry: unit.expiry,
        manufactured: unit.manufactured,
        implanted,
        organisation: write.org().as_str(),
    };
    let recalls = store.open_recalls_matching(&facts).await.map_err(internal)?;
    tracing::info!(
        user = %principal.user_id(), registry = %write.registry(), organisation = %write.org(), implant = %id,
        entry = unit.entry, catalogued, recalls = recalls.len(), "implant recorded"
    );
    if !recalls.is_empty() {
        let ids: Vec<String> = recalls.iter().map(|r| r.id.to_string()).collect();
        tracing::warn!(implant = %id, recalls = ?ids, "a unit under an open recall was recorded");
    }
    Ok(Saved { id, unit, catalogued, recalls })
}

async fn component_rows(state: &AppState, record: Uuid) -> Result<Vec<ComponentRow>, WebError> {
    let store = state.accounts().store();
    let mut rows = Vec::new();
    for i in store.implants_of(record).await.map_err(internal)? {
        let product = store.product(&i.gtin).await.map_err(internal)?;
        rows.push(ComponentRow {
            product: product
                .map(|p| format!("{} {}", p.brand, p.model.unwrap_or_default()).trim().to_owned())
                .unwrap_or_else(|| "Not in the catalogue".into()),
            gtin: i.gtin,
            lot: i.lot.unwrap_or_default(),
            serial: i.serial.unwrap_or_default(),
            expiry: i.expiry.map(|d| d.to_string()).unwrap_or_default(),
            entry: i.entry.to_owned(),
        });
    }
    Ok(rows)
}

fn empty_page(caller: &Caller, record: &StoredRecord, components: Vec<ComponentRow>) -> CapturePage {
    CapturePage {
        l: Layout::new("Implanted components", &caller.ctx),
        errors: vec![],
        notice: None,
        recalls: vec![],
        unknown_gtin: false,
        registry: record.registry.clone(),
        record: record.id.to_string(),
        organisation: record.organisation.clone(),
        scan: String::new(),
        gtin: String::new(),
        lot: String::new(),
        serial: String::new(),
        expiry: String::new(),
        manufactured: String::new(),
        components,
    }
}

async fn capture_page(
    caller: Caller,
    State(state): State<AppState>,
    Path((registry, id)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let (record, _) = writable(&state, &caller.grants, &registry, &id).await?;
    let components = component_rows(&state, record.id).await?;
    Ok(render(&empty_page(&caller, &record, components)))
}

async fn capture(
    caller: Caller,
    State(state): State<AppState>,
    Path((registry, id)): Path<(String, String)>,
    CsrfForm(form, _): CsrfForm<ComponentIn>,
) -> Result<Response, WebError> {
    let (record, write) = writable(&state, &caller.grants, &registry, &id).await?;
    let read = if form.mode == "manual" {
        read_fields(&form)
    } else {
        read_scan(form.scan.as_deref().unwrap_or_default(), today(&state))
    };
    match read {
        Err(errors) => {
            let components = component_rows(&state, record.id).await?;
            let mut page = empty_page(&caller, &record, components);
            page.errors = errors;
            if form.mode == "manual" {
                page.gtin = form.gtin.clone();
                page.lot = form.lot.clone();
                page.serial = form.serial.clone();
                page.expiry = form.expiry.clone();
                page.manufactured = form.manufactured.clone();
            } else {
                // Shown back with separators visible, as the person could type them.
                page.scan = form.scan.as_deref().unwrap_or_default().replace(GS, "<GS>");
            }
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
        Ok(unit) => {
            let saved = save(&state, caller.grants.principal(), &record, &write, unit).await?;
            let components = component_rows(&state, record.id).await?;
            let mut page = empty_page(&caller, &record, components);
            page.notice = Some(format!(
                "The component has been saved: GTIN {}{}.",
                saved.unit.gtin,
                saved.unit.lot.as_deref().map(|l| format!(", lot {l}")).unwrap_or_default()
            ));
            page.unknown_gtin = !saved.catalogued;
            page.recalls = saved
                .recalls
                .iter()
                .map(|r| MatchedRecall {
                    id: r.id.to_string(),
                    reference: r.header.reference.clone(),
                    title: r.header.title.clone(),
                })
                .collect();
            Ok(render(&page))
        }
    }
}

// ----- API -----

/// An open recall the unit matches.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiMatchedRecall {
    id: String,
    reference: String,
    title: String,
}

/// The unit as stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiComponent {
    id: String,
    gtin: String,
    lot: Option<String>,
    serial: Option<String>,
    expiry: Option<String>,
    manufactured: Option<String>,
    /// `scanned` or `manual`.
    entry: String,
}

/// What saving a unit found.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiCaptured {
    implant: ApiComponent,
    /// Whether the catalogue knows the GTIN (if not, it was queued for review).
    catalogued: bool,
    /// The open recalls the unit matches: check it before it is implanted.
    recalls: Vec<ApiMatchedRecall>,
}

/// Records an implanted unit on a procedure record: `{"scan": "..."}` with what the scanner
/// sent, or the typed fields. Answers the stored unit and the open recalls it matches; 422 names
/// the problem (for a scan, the AI and the reason).
#[utoipa::path(post, path = "/api/v1/registries/{registry}/records/{id}/components", request_body = ComponentIn,
    params(("registry" = String, Path, description = "Registry id"), ("id" = String, Path, description = "Record id")),
    responses((status = 201, body = ApiCaptured), (status = 401, description = "no session or token"),
        (status = 403, description = "may read the record but not write at its organisation"),
        (status = 404, description = "not found"), (status = 422, body = crate::records::ApiProblems)))]
pub async fn api_capture(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path((registry, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (record, write) = writable(&state, &caller.grants, &registry, &id).await?;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")));
    if !json {
        return Err(ApiError::Status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send a JSON body (Content-Type: application/json)",
        ));
    }
    let c: ComponentIn = serde_json::from_slice(&body)
        .map_err(|_| ApiError::Status(StatusCode::BAD_REQUEST, "the body is not JSON of the documented shape"))?;
    let unit = match &c.scan {
        Some(scan) => read_scan(scan, today(&state)),
        None => read_fields(&c),
    }
    .map_err(ApiError::Invalid)?;
    let saved = save(&state, caller.grants.principal(), &record, &write, unit).await?;
    let u = &saved.unit;
    Ok((
        StatusCode::CREATED,
        Json(ApiCaptured {
            implant: ApiComponent {
                id: saved.id.to_string(),
                gtin: u.gtin.clone(),
                lot: u.lot.clone(),
                serial: u.serial.clone(),
                expiry: u.expiry.map(|d| d.to_string()),
                manufactured: u.manufactured.map(|d| d.to_string()),
                entry: u.entry.to_owned(),
            },
            catalogued: saved.catalogued,
            recalls: saved
                .recalls
                .iter()
                .map(|r| ApiMatchedRecall {
                    id: r.id.to_string(),
                    reference: r.header.reference.clone(),
                    title: r.header.title.clone(),
                })
                .collect(),
        }),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_group_separators_become_ascii_29() {
        assert_eq!(with_separators("0105012345678900<GS>10AB"), "0105012345678900\u{1d}10AB");
        assert_eq!(with_separators("10AB\\x1d21X"), "10AB\u{1d}21X");
    }

    #[test]
    fn a_bad_scan_names_the_ai() {
        let today = time::macros::date!(2026 - 12 - 02);
        let Err(problems) = read_scan("(01)05012345678900(17)271331", today) else { panic!("read") };
        assert!(problems[0].message.contains("(17)"), "{}", problems[0].message);
        let Ok(unit) = read_scan("]d2010501234567890010LOT7<GS>21SER", today) else { panic!("a unit") };
        assert_eq!((unit.lot.as_deref(), unit.serial.as_deref(), unit.entry), (Some("LOT7"), Some("SER"), "scanned"));
    }
}
