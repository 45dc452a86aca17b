//! Device recalls (issue 6): a safety officer or controller starts a recall by GTIN and
//! optional lots, serials, date ranges and organisations; sees how many patients it reaches,
//! nationally and per organisation; and each hospital works through its own patients.
//!
//! - `/recalls` lists recalls (anyone holding a grant: they are safety notices, no patient data);
//!   `/recalls/new` starts one ([`RunRecalls`]; every problem in the error summary, per field);
//!   `/recalls/{id}` shows the counts. Counts are not identifiable, but they only ever cover
//!   the registries where the caller runs recalls (each registry keeps control of its data), and
//!   looking at them is audited (`recall.counts`). A person who reads records at some
//!   organisations sees those organisations' rows with a link to the worklist and how many
//!   implants were recorded since the organisation last opened it.
//! - `/recalls/{id}/registries/{registry}/organisations/{org}` is the worklist: the patients of
//!   one organisation with a matching implant, by name and NHS number. It needs step-up, a
//!   [`RecordsRead`] covering that organisation in that registry (else 404, as for records:
//!   a safety officer sees counts everywhere but no patient of an organisation where they read no
//!   records) and the stated purpose `recall_safety`; the read is appended to the audit log
//!   (`recall.worklist`, target `recall:<id>`, purpose `recall_safety`) by the store before the
//!   rows are returned, and fails if it cannot be. Without a purpose the page asks for one and
//!   shows and writes nothing. The CSV (`…/worklist.csv`, `recall.worklist_download`) has the
//!   same guards, its cells neutralised against formula injection.
//! - `POST …/implants/{implant}/follow-up` records the next follow-up step (append-only: the
//!   history is kept and shown).
//!
//! The same under `/api/v1/recalls`. NHS numbers and names are only ever in response bodies,
//! never in a URL, a log line or an audit event.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use tessera_domain::access::{Grants, OrgSet, Principal, RecordsRead, RunRecalls};
use tessera_domain::recall::{FollowUp, RecallCriteria, RecallInput};
use tessera_domain::{OdsCode, RegistryId};
use tessera_store::{
    AuditActor, AuditNote, AuditOutcome, NewRecall, RecallRow, RegistryCipher, StoreError, WorklistRow,
};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::caller::{ApiCaller, Caller};
use crate::error::WebError;
use crate::recall_views::*;
use crate::record_views::{Choice, Problem, PurposePage};
use crate::records::{ApiError, json_body, store_error};
use crate::routes::Routes;
use crate::session::{CsrfForm, StepUp};
use crate::views::{Layout, MessagePage, render};

/// The one purpose a worklist is read for.
const RECALL_PURPOSE: &str = "recall_safety";
/// Its label, as the records pages show it.
const RECALL_PURPOSE_LABEL: &str = "Device recall or patient safety";
/// The longest follow-up note.
const MAX_NOTE: usize = 500;

/// The recall pages.
pub fn routes() -> Routes {
    Routes::new()
        .get("/recalls", list_page)
        .get("/recalls/new", new_page)
        .post("/recalls/new", create)
        .get("/recalls/{id}", dashboard_page)
        .post("/recalls/{id}/close", close)
        .get("/recalls/{id}/registries/{registry}/organisations/{org}", worklist_page)
        .get("/recalls/{id}/registries/{registry}/organisations/{org}/worklist.csv", worklist_csv)
        .post("/recalls/{id}/registries/{registry}/organisations/{org}/implants/{implant}/follow-up", follow_up)
}

/// The recall API (under `/api/v1`).
pub fn api_routes() -> Routes {
    Routes::new()
        .get("/recalls", api_list)
        .post("/recalls", api_create)
        .get("/recalls/{id}", api_counts)
        .get("/recalls/{id}/org-counts", api_org_counts)
        .get("/recalls/{id}/worklist", api_worklist)
        .post("/recalls/{id}/implants/{implant}/follow-up", api_follow_up)
}

// ----- shared steps -----

fn uuid(text: &str) -> Result<Uuid, WebError> {
    Uuid::parse_str(text).map_err(|_| WebError::NotFound)
}

fn internal(e: StoreError) -> WebError {
    WebError::Internal(e.into())
}

fn time_text(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{} {:02}:{:02}", t.date(), t.hour(), t.minute())
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

async fn cipher(state: &AppState, registry: &RegistryId) -> Result<RegistryCipher, WebError> {
    let master = state.vault().ok_or(WebError::NotFound)?;
    Ok(state.accounts().store().registry_cipher(registry, master).await.map_err(store_error)?.1)
}

/// The audit event of `principal` doing `action` (registry, target and purpose to add).
fn note(principal: &Principal, action: &str) -> AuditNote {
    let (actor, client) = match principal {
        Principal::User(u) => (AuditActor::User(u.clone()), "web"),
        Principal::Token { id, .. } => (AuditActor::ApiToken(id.clone()), "api"),
    };
    AuditNote::new(actor, action, AuditOutcome::Success).client(client)
}

/// The power to read the records of `org` in `registry`, or 404 (bad id, no grant there, or a
/// grant at other organisations only: nobody learns whether the organisation has patients).
fn worklist_reach(grants: &Grants, registry: &str, org: &str) -> Result<(RecordsRead, OdsCode), WebError> {
    let registry = RegistryId::parse(registry).map_err(|_| WebError::NotFound)?;
    let org = OdsCode::parse(org).map_err(|_| WebError::NotFound)?;
    let read = grants.records_read(&registry)?;
    if !read.covers(&org) {
        return Err(WebError::NotFound);
    }
    Ok((read, org))
}

/// Whether the caller may see recalls at all: runs recalls, or reads records somewhere.
fn sees_recalls(grants: &Grants) -> bool {
    grants.recalls().is_ok() || grants.registries().iter().any(|r| grants.records_read(r).is_ok())
}

async fn recall_row(state: &AppState, id: Uuid) -> Result<RecallRow, WebError> {
    state.accounts().store().recall(id).await.map_err(internal)?.ok_or(WebError::NotFound)
}

/// Records that `run`'s holder looked at a recall's counts: one event per registry counted, so
/// each registry's log shows it.
async fn audit_counts(state: &AppState, run: &RunRecalls, id: Uuid) -> Result<(), WebError> {
    let notes: Vec<AuditNote> = run
        .registries()
        .iter()
        .map(|r| note(run.principal(), "recall.counts").registry(r.as_str()).target(format!("recall:{id}")))
        .collect();
    state.accounts().store().audit_append(&notes).await.map_err(|e| WebError::Internal(e.into()))?;
    Ok(())
}

/// Runs `count` (a read of recall `id`'s counts) and appends its `recall.counts` event at the
/// same time, on two connections, so the answer waits for the slower of the two rather than
/// for both in turn (the event's commit waits for the disk). Both run to completion, and the
/// counts are answered only if the event was stored: if it cannot be, no count leaves.
async fn audited<T>(
    state: &AppState,
    run: &RunRecalls,
    id: Uuid,
    count: impl Future<Output = tessera_store::Result<T>>,
) -> Result<T, WebError> {
    let (counted, audited) = tokio::join!(count, audit_counts(state, run, id));
    audited?;
    counted.map_err(store_error)
}

/// Reads an organisation's worklist with the stated purpose; the store appends the audit event
/// before it answers.
async fn read_worklist(
    state: &AppState,
    read: &RecordsRead,
    org: &OdsCode,
    id: Uuid,
    action: &str,
) -> Result<Vec<WorklistRow>, WebError> {
    let cipher = cipher(state, read.registry()).await?;
    let audit = note(read.principal(), action)
        .registry(read.registry().as_str())
        .organisation(org.as_str())
        .target(format!("recall:{id}"))
        .purpose(RECALL_PURPOSE);
    let rows = state.accounts().store().recall_worklist(read, &cipher, id, org, &audit).await.map_err(store_error)?;
    tracing::info!(
        user = %read.principal().user_id(), registry = %read.registry(), organisation = %org, recall = %id,
        rows = rows.len(), "recall worklist read"
    );
    Ok(rows)
}

fn date_text(d: Option<time::Date>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

fn patient_ref(id: Uuid) -> String {
    let s = id.simple().to_string();
    s[s.len() - 10..].to_owned()
}

/// The criteria as (label, value) lines.
fn criteria_lines(c: &RecallCriteria) -> Vec<(String, String)> {
    let join = |s: &std::collections::BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(", ");
    let range = |r: &tessera_domain::recall::DateRange| match (r.from, r.to) {
        (Some(f), Some(t)) => format!("{f} to {t}"),
        (Some(f), None) => format!("from {f}"),
        (None, Some(t)) => format!("up to {t}"),
        (None, None) => "any".into(),
    };
    let mut lines = vec![("GTINs".to_owned(), join(&c.gtins))];
    if !c.lots.is_empty() {
        lines.push(("Lots".into(), join(&c.lots)));
    }
    if !c.serials.is_empty() {
        lines.push(("Serial numbers".into(), join(&c.serials)));
    }
    if let Some(r) = &c.expiry {
        lines.push(("Expiry dates".into(), range(r)));
    }
    if let Some(r) = &c.manufactured {
        lines.push(("Production dates".into(), range(r)));
    }
    if let Some(r) = &c.implanted {
        lines.push(("Implanted".into(), range(r)));
    }
    lines
        .push(("Organisations".into(), if c.organisations.is_empty() { "All".into() } else { join(&c.organisations) }));
    lines
}

// ----- the form -----

/// The new recall form's text inputs, by name.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RecallForm {
    /// The regulator's or manufacturer's reference (unique).
    #[serde(default)]
    reference: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    manufacturer: String,
    /// GTINs, one per line or comma-separated.
    #[serde(default)]
    gtins: String,
    /// Lots, one per line or comma-separated; empty for every lot.
    #[serde(default)]
    lots: String,
    /// Serial numbers; empty for every serial.
    #[serde(default)]
    serials: String,
    /// `YYYY-MM-DD` or empty, for each bound of each range.
    #[serde(default)]
    expiry_from: String,
    #[serde(default)]
    expiry_to: String,
    #[serde(default)]
    manufactured_from: String,
    #[serde(default)]
    manufactured_to: String,
    #[serde(default)]
    implanted_from: String,
    #[serde(default)]
    implanted_to: String,
    /// ODS codes; empty for every organisation.
    #[serde(default)]
    organisations: String,
}

impl RecallForm {
    fn input(&self) -> RecallInput<'_> {
        RecallInput {
            reference: &self.reference,
            title: &self.title,
            manufacturer: &self.manufacturer,
            gtins: &self.gtins,
            lots: &self.lots,
            serials: &self.serials,
            expiry_from: &self.expiry_from,
            expiry_to: &self.expiry_to,
            manufactured_from: &self.manufactured_from,
            manufactured_to: &self.manufactured_to,
            implanted_from: &self.implanted_from,
            implanted_to: &self.implanted_to,
            organisations: &self.organisations,
        }
    }
}

/// (id, label, hint, widget, required) of each input, in the form's order.
const FIELDS: [(&str, &str, &str, &str, bool); 13] = [
    ("reference", "Reference", "The regulator's or manufacturer's reference, for example MDA/2026/014.", "text", true),
    ("title", "Title", "What is wrong, in a few words.", "text", true),
    ("manufacturer", "Manufacturer", "", "text", true),
    ("gtins", "GTINs", "The 14-digit GTINs affected, one per line or separated by commas.", "textarea", true),
    ("lots", "Lots", "Only these lots or batches. Leave empty for every lot.", "textarea", false),
    ("serials", "Serial numbers", "Only these serial numbers. Leave empty for every serial number.", "textarea", false),
    ("organisations", "Organisations", "ODS codes of the hospitals affected. Leave empty for all.", "textarea", false),
    ("expiry_from", "From", "For example, 2026-03-27.", "date", false),
    ("expiry_to", "To", "", "date", false),
    ("manufactured_from", "From", "", "date", false),
    ("manufactured_to", "To", "", "date", false),
    ("implanted_from", "From", "", "date", false),
    ("implanted_to", "To", "", "date", false),
];

fn label_of(field: &str) -> &'static str {
    match field {
        "expiry_from" => "Start of the expiry dates",
        "expiry_to" => "End of the expiry dates",
        "manufactured_from" => "Start of the production dates",
        "manufactured_to" => "End of the production dates",
        "implanted_from" => "Start of the implant dates",
        "implanted_to" => "End of the implant dates",
        other => FIELDS.iter().find(|f| f.0 == other).map_or("Recall", |f| f.1),
    }
}

fn sentence(label: &str, reason: &str) -> String {
    if ["is ", "must ", "has ", "was ", "at least "].iter().any(|s| reason.starts_with(s)) {
        format!("{label} {reason}")
    } else {
        format!("{label}: {reason}")
    }
}

/// The domain's problems as sentences linked to their inputs.
fn recall_problems(problems: &tessera_domain::Problems) -> Vec<Problem> {
    problems
        .iter()
        .map(|p| {
            let field = if FIELDS.iter().any(|f| f.0 == p.field) { p.field.clone() } else { "reference".into() };
            Problem { field, message: sentence(label_of(&p.field), &p.reason) }
        })
        .collect()
}

fn recall_form_page(caller: &Caller, form: &RecallForm, errors: Vec<Problem>) -> Response {
    let value = |id: &str| -> String {
        match id {
            "reference" => &form.reference,
            "title" => &form.title,
            "manufacturer" => &form.manufacturer,
            "gtins" => &form.gtins,
            "lots" => &form.lots,
            "serials" => &form.serials,
            "organisations" => &form.organisations,
            "expiry_from" => &form.expiry_from,
            "expiry_to" => &form.expiry_to,
            "manufactured_from" => &form.manufactured_from,
            "manufactured_to" => &form.manufactured_to,
            "implanted_from" => &form.implanted_from,
            "implanted_to" => &form.implanted_to,
            _ => "",
        }
        .to_owned()
    };
    let input = |i: usize| {
        let (id, label, hint, widget, required) = FIELDS[i];
        RecallInputView {
            id,
            label,
            hint,
            widget,
            required,
            value: value(id),
            error: errors.iter().find(|p| p.field == id).map(|p| p.message.clone()),
        }
    };
    let page = RecallNewPage {
        l: Layout::new("Start a recall", &caller.ctx),
        header: (0..3).map(input).collect(),
        sets: (3..7).map(input).collect(),
        ranges: vec![
            ("Expiry dates (optional)", input(7), input(8)),
            ("Production dates (optional)", input(9), input(10)),
            ("Implant dates (optional)", input(11), input(12)),
        ],
        errors,
    };
    let status = if page.errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    (status, render(&page)).into_response()
}

enum Created {
    Done(Uuid),
    Invalid(Vec<Problem>),
}

/// Starts a recall: every problem at once, a duplicate reference as a problem of its own.
async fn start(state: &AppState, run: &RunRecalls, form: &RecallForm) -> Result<Created, WebError> {
    let (header, criteria) = match form.input().parse() {
        Ok(parsed) => parsed,
        Err(problems) => return Ok(Created::Invalid(recall_problems(&problems))),
    };
    let recall = NewRecall { header, criteria };
    match state.accounts().store().create_recall(run, &recall, &note(run.principal(), "recall.create")).await {
        Ok(id) => {
            tracing::info!(user = %run.principal().user_id(), recall = %id, "recall created");
            Ok(Created::Done(id))
        }
        Err(StoreError::Conflict(_)) => Ok(Created::Invalid(vec![Problem {
            field: "reference".into(),
            message: "A recall with this reference already exists".into(),
        }])),
        Err(e) => Err(internal(e)),
    }
}

// ----- pages -----

#[derive(Deserialize, Default)]
struct NoticeQuery {
    #[serde(default)]
    done: Option<String>,
}

async fn list_page(
    caller: Caller,
    State(state): State<AppState>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    // The list holds no patient data (recalls are public safety notices): anyone with a grant.
    if caller.grants.is_empty() {
        return Err(WebError::Forbidden);
    }
    let recalls = state.accounts().store().recalls().await.map_err(internal)?;
    let page = RecallListPage {
        l: Layout::new("Device recalls", &caller.ctx),
        notice: (q.done.as_deref() == Some("closed")).then(|| "The recall has been closed.".to_owned()),
        can_create: caller.grants.recalls().is_ok(),
        recalls: recalls.iter().map(item).collect(),
    };
    Ok(render(&page))
}

fn item(r: &RecallRow) -> RecallItem {
    RecallItem {
        id: r.id.to_string(),
        reference: r.header.reference.clone(),
        title: r.header.title.clone(),
        manufacturer: r.header.manufacturer.clone(),
        status: r.status.label().to_owned(),
        created: time_text(r.created_at),
    }
}

async fn new_page(caller: Caller) -> Result<Response, WebError> {
    caller.grants.recalls().map_err(|_| WebError::Forbidden)?;
    Ok(recall_form_page(&caller, &RecallForm::default(), vec![]))
}

async fn create(
    caller: Caller,
    State(state): State<AppState>,
    CsrfForm(form, _): CsrfForm<RecallForm>,
) -> Result<Response, WebError> {
    let run = caller.grants.recalls().map_err(|_| WebError::Forbidden)?;
    match start(&state, &run, &form).await? {
        Created::Done(id) => Ok(Redirect::to(&format!("/recalls/{id}")).into_response()),
        Created::Invalid(errors) => Ok(recall_form_page(&caller, &form, errors)),
    }
}

async fn close(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(_, _): CsrfForm<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let id = uuid(&id)?;
    let run = caller.grants.recalls().map_err(|_| WebError::Forbidden)?;
    let audit = note(run.principal(), "recall.close").target(format!("recall:{id}"));
    state.accounts().store().close_recall(&run, id, &audit).await.map_err(store_error)?;
    Ok(Redirect::to("/recalls?done=closed").into_response())
}

/// The labels and counts of the statuses that have any.
fn status_counts(by_status: &[(FollowUp, u64)]) -> Vec<(String, u64)> {
    by_status.iter().filter(|(_, n)| *n > 0).map(|(s, n)| (s.label().to_owned(), *n)).collect()
}

async fn dashboard_page(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let id = uuid(&id)?;
    if !sees_recalls(&caller.grants) {
        return Err(WebError::NotFound);
    }
    let recall = recall_row(&state, id).await?;
    let store = state.accounts().store();
    let run = caller.grants.recalls().ok();
    let covers = |registry: &str, org: &str| {
        RegistryId::parse(registry)
            .ok()
            .zip(OdsCode::parse(org).ok())
            .is_some_and(|(r, o)| caller.grants.records_read(&r).is_ok_and(|read| read.covers(&o)))
    };
    let (national, orgs) = match &run {
        Some(run) => {
            let counts = audited(&state, run, id, store.recall_counts(run, id)).await?;
            let national = vec![
                ("Matching implants".to_owned(), counts.total.to_string()),
                ("Still implanted".to_owned(), counts.implanted.to_string()),
                ("Revised since".to_owned(), counts.revised.to_string()),
                ("Patients alive".to_owned(), counts.alive.to_string()),
                ("Patients who have died".to_owned(), counts.deceased.to_string()),
                ("Patients with a national data opt-out".to_owned(), counts.opted_out.to_string()),
            ];
            let orgs = counts.per_org.iter().map(|o| counted_row(o, covers(&o.registry, &o.organisation))).collect();
            (national, orgs)
        }
        None => (vec![], own_rows(&state, &caller.grants, id).await?),
    };
    let page = RecallDashboardPage {
        l: Layout::new(&format!("Recall {}", recall.header.reference), &caller.ctx),
        id: id.to_string(),
        reference: recall.header.reference.clone(),
        title: recall.header.title.clone(),
        manufacturer: recall.header.manufacturer.clone(),
        status: recall.status.label().to_owned(),
        open: recall.status == tessera_domain::recall::RecallStatus::Open,
        criteria: criteria_lines(&recall.criteria),
        shows_national: run.is_some(),
        national,
        orgs,
        can_close: run.is_some(),
    };
    Ok(render(&page))
}

/// One organisation's counts as a dashboard row.
fn counted_row(o: &tessera_store::OrgCounts, worklist: bool) -> OrgRow {
    OrgRow {
        registry: o.registry.clone(),
        organisation: o.organisation.clone(),
        counted: true,
        total: o.total,
        implanted: o.implanted,
        revised: o.revised,
        deceased: o.deceased,
        opted_out: o.opted_out,
        by_status: status_counts(&o.by_status),
        new_since_seen: o.new_since_seen,
        worklist,
    }
}

/// The rows of the caller's own organisations, for a person who reads records but runs no
/// recalls: each organisation's counts within the caller's `RecordsRead` (`recall_counts_at`)
/// and a link to its worklist. An organisation the caller reads without a matching unit shows
/// as zero, so "nothing here" is an answer rather than a missing row.
async fn own_rows(state: &AppState, grants: &Grants, id: uuid::Uuid) -> Result<Vec<OrgRow>, WebError> {
    let store = state.accounts().store();
    let mut rows = Vec::new();
    for registry in grants.registries() {
        let Ok(read) = grants.records_read(&registry) else { continue };
        let counts = store.recall_counts_at(&read, id).await.map_err(store_error)?;
        rows.extend(counts.iter().map(|o| counted_row(o, true)));
        if let OrgSet::Only(orgs) = read.orgs() {
            for org in orgs {
                if !counts.iter().any(|c| c.organisation == org.as_str()) {
                    let zero = tessera_store::OrgCounts {
                        registry: registry.to_string(),
                        organisation: org.to_string(),
                        total: 0,
                        implanted: 0,
                        revised: 0,
                        deceased: 0,
                        opted_out: 0,
                        new_since_seen: 0,
                        by_status: vec![],
                    };
                    rows.push(counted_row(&zero, true));
                }
            }
        }
    }
    Ok(rows)
}

/// The worklist's purpose, from `?purpose=`, and a notice carried after a follow-up.
#[derive(Deserialize, Default)]
struct WorklistQuery {
    #[serde(default)]
    purpose: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

impl WorklistQuery {
    fn stated(&self) -> bool {
        self.purpose.as_deref().is_some_and(|p| p.trim() == RECALL_PURPOSE)
    }
}

/// "Why are you opening this?" for a worklist: its one purpose, device recall or patient
/// safety. Shows no data and writes nothing; a wrong code is a problem (422).
fn purpose_page(caller: &Caller, registry: &RegistryId, action: String, q: &WorklistQuery) -> Response {
    let given = q.purpose.as_deref().is_some_and(|p| !p.trim().is_empty());
    let message = "Choose why you are opening this".to_owned();
    let mut hidden = Vec::new();
    if let Some(d) = q.done.as_deref().filter(|d| *d == "followup") {
        hidden.push(("done".to_owned(), d.to_owned()));
    }
    let page = PurposePage {
        l: Layout::new("Why are you opening this?", &caller.ctx),
        errors: if given { vec![Problem { field: "purpose".into(), message: message.clone() }] } else { vec![] },
        error: given.then_some(message),
        notice: None,
        registry: registry.to_string(),
        action,
        hidden,
        choices: vec![(RECALL_PURPOSE.to_owned(), RECALL_PURPOSE_LABEL.to_owned())],
    };
    let status = if given { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    (status, render(&page)).into_response()
}

fn status_choices(current: FollowUp) -> Vec<Choice> {
    FollowUp::ALL
        .iter()
        .map(|s| Choice { value: s.as_str().to_owned(), label: s.label().to_owned(), selected: *s == current })
        .collect()
}

async fn worklist_page(
    caller: Caller,
    _fresh: StepUp,
    State(state): State<AppState>,
    Path((id, registry, org)): Path<(String, String, String)>,
    Query(q): Query<WorklistQuery>,
) -> Result<Response, WebError> {
    let id = uuid(&id)?;
    let (read, org) = worklist_reach(&caller.grants, &registry, &org)?;
    let recall = recall_row(&state, id).await?;
    let registry = read.registry().clone();
    if !q.stated() {
        let action = format!("/recalls/{id}/registries/{registry}/organisations/{org}");
        return Ok(purpose_page(&caller, &registry, action, &q));
    }
    let rows = read_worklist(&state, &read, &org, id, "recall.worklist").await?;
    let store = state.accounts().store();
    let mut items = Vec::with_capacity(rows.len());
    for r in &rows {
        // The history is only read for units with any step recorded.
        let history = if r.status_at.is_some() {
            store.followup_history(&read, id, r.implant_id).await.map_err(store_error)?
        } else {
            vec![]
        };
        items.push(WorklistItem {
            implant: r.implant_id.to_string(),
            patient: r.patient_id.map(patient_ref).unwrap_or_default(),
            nhs_number: r.nhs_number.as_ref().map(|n| n.formatted()).unwrap_or_default(),
            name: match (&r.family_name, &r.given_name) {
                (Some(f), Some(g)) => format!("{f}, {g}"),
                (Some(f), None) => f.clone(),
                _ => "Identifiers not held".into(),
            },
            date_of_birth: date_text(r.date_of_birth),
            gtin: r.gtin.clone(),
            lot: r.lot.clone().unwrap_or_default(),
            serial: r.serial.clone().unwrap_or_default(),
            implanted_on: date_text(r.implanted_on),
            revised_on: date_text(r.revised_on),
            deceased_on: date_text(r.deceased_on),
            opted_out: r.opted_out,
            status: r.status.label().to_owned(),
            status_at: r.status_at.map(time_text).unwrap_or_default(),
            joined_after_opening: r.joined_after_opening,
            choices: status_choices(r.status),
            history: history
                .iter()
                .map(|h| HistoryLine {
                    status: h.status.label().to_owned(),
                    note: h.note.clone().unwrap_or_default(),
                    by: h.by_user.clone(),
                    at: time_text(h.at),
                })
                .collect(),
        });
    }
    let page = WorklistPage {
        l: Layout::new(&format!("Recall {}: {}", recall.header.reference, org), &caller.ctx),
        notice: (q.done.as_deref() == Some("followup")).then(|| "The follow-up step has been recorded.".to_owned()),
        errors: vec![],
        id: id.to_string(),
        reference: recall.header.reference.clone(),
        title: recall.header.title.clone(),
        registry: registry.to_string(),
        organisation: org.to_string(),
        rows: items,
        purpose: RECALL_PURPOSE.to_owned(),
    };
    Ok(render(&page))
}

async fn worklist_csv(
    caller: Caller,
    _fresh: StepUp,
    State(state): State<AppState>,
    Path((id, registry, org)): Path<(String, String, String)>,
    Query(q): Query<WorklistQuery>,
) -> Result<Response, WebError> {
    let id = uuid(&id)?;
    let (read, org) = worklist_reach(&caller.grants, &registry, &org)?;
    recall_row(&state, id).await?;
    let registry = read.registry().clone();
    if !q.stated() {
        let action = format!("/recalls/{id}/registries/{registry}/organisations/{org}/worklist.csv");
        return Ok(purpose_page(&caller, &registry, action, &q));
    }
    let rows = read_worklist(&state, &read, &org, id, "recall.worklist_download").await?;
    let body = worklist_csv_body(&rows)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"recall-worklist-{org}.csv\"")),
        ],
        body,
    )
        .into_response())
}

/// The worklist as CSV; every text cell neutralised against formula injection.
fn worklist_csv_body(rows: &[WorklistRow]) -> Result<Vec<u8>, WebError> {
    let cell = tessera_charts::csv_text;
    let mut out = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| WebError::Internal(e.into());
    out.write_record([
        "implant_id",
        "patient_ref",
        "nhs_number",
        "family_name",
        "given_name",
        "date_of_birth",
        "gtin",
        "lot",
        "serial",
        "implanted_on",
        "revised_on",
        "date_of_death",
        "opted_out",
        "status",
        "status_at",
        "recorded_after_opening",
    ])
    .map_err(fail)?;
    for r in rows {
        out.write_record([
            r.implant_id.to_string(),
            r.patient_id.map(patient_ref).unwrap_or_default(),
            r.nhs_number.as_ref().map(|n| n.digits()).unwrap_or_default(),
            cell(r.family_name.as_deref().unwrap_or_default()),
            cell(r.given_name.as_deref().unwrap_or_default()),
            date_text(r.date_of_birth),
            cell(&r.gtin),
            cell(r.lot.as_deref().unwrap_or_default()),
            cell(r.serial.as_deref().unwrap_or_default()),
            date_text(r.implanted_on),
            date_text(r.revised_on),
            date_text(r.deceased_on),
            if r.opted_out { "yes" } else { "no" }.to_owned(),
            r.status.as_str().to_owned(),
            r.status_at.map(rfc3339).unwrap_or_default(),
            if r.joined_after_opening { "yes" } else { "no" }.to_owned(),
        ])
        .map_err(fail)?;
    }
    out.into_inner().map_err(|e| WebError::Internal(anyhow::anyhow!("csv: {e}")))
}

/// A follow-up step as posted: the status code and an optional note.
#[derive(Debug, Deserialize, ToSchema)]
pub struct FollowUpForm {
    /// `to_contact`, `contacted`, `reviewed`, `explanted` or `not_traceable`.
    #[serde(default)]
    status: String,
    /// Optional, at most 500 characters.
    #[serde(default)]
    note: String,
    /// The registry of the implant (API only; tried in every registry the caller reads if left
    /// out).
    #[serde(default)]
    registry: String,
}

/// The status and note of a follow-up, or every problem with them.
fn parse_follow_up(form: &FollowUpForm, field: &str) -> Result<(FollowUp, Option<String>), Vec<Problem>> {
    let mut problems = Vec::new();
    let status = FollowUp::parse(form.status.trim());
    if status.is_none() {
        problems.push(Problem { field: "status".into(), message: "Choose the follow-up step".into() });
    }
    let text = form.note.trim();
    if text.chars().count() > MAX_NOTE || text.chars().any(char::is_control) {
        problems.push(Problem {
            field: field.into(),
            message: format!("The note must be at most {MAX_NOTE} characters of text on one line"),
        });
    }
    match status {
        Some(s) if problems.is_empty() => Ok((s, (!text.is_empty()).then(|| text.to_owned()))),
        _ => Err(problems),
    }
}

async fn record_follow_up(
    state: &AppState,
    read: &RecordsRead,
    id: Uuid,
    implant: Uuid,
    status: FollowUp,
    text: Option<&str>,
) -> Result<Recorded, WebError> {
    let audit = note(read.principal(), "recall.followup")
        .registry(read.registry().as_str())
        .target(format!("implant:{implant}"));
    match state.accounts().store().set_followup(read, id, implant, status, text, &audit).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Ok(Recorded::Closed),
        Err(e) => return Err(store_error(e)),
    }
    tracing::info!(
        user = %read.principal().user_id(), registry = %read.registry(), recall = %id, implant = %implant,
        status = status.as_str(), "recall follow-up recorded"
    );
    Ok(Recorded::Done)
}

/// Whether a follow-up step was recorded, or refused because the recall is closed.
enum Recorded {
    Done,
    Closed,
}

/// What a follow-up on a closed recall answers.
const CLOSED: &str = "This recall is closed: its follow-up can no longer change";

async fn follow_up(
    caller: Caller,
    State(state): State<AppState>,
    Path((id, registry, org, implant)): Path<(String, String, String, String)>,
    CsrfForm(form, _): CsrfForm<FollowUpForm>,
) -> Result<Response, WebError> {
    let (id, implant) = (uuid(&id)?, uuid(&implant)?);
    let (read, org) = worklist_reach(&caller.grants, &registry, &org)?;
    recall_row(&state, id).await?;
    let registry = read.registry().clone();
    let back = format!("/recalls/{id}/registries/{registry}/organisations/{org}?purpose={RECALL_PURPOSE}");
    let (status, text) = match parse_follow_up(&form, &format!("note-{implant}")) {
        Ok(ok) => ok,
        Err(problems) => {
            let text = problems.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join(". ");
            let page = MessagePage {
                l: Layout::new("The follow-up step could not be recorded", &caller.ctx),
                text,
                link: Some((back, "Go back to the worklist".into())),
            };
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response());
        }
    };
    if let Recorded::Closed = record_follow_up(&state, &read, id, implant, status, text.as_deref()).await? {
        let page = MessagePage {
            l: Layout::new("The follow-up step could not be recorded", &caller.ctx),
            text: format!("{CLOSED}."),
            link: Some((back, "Go back to the worklist".into())),
        };
        return Ok((StatusCode::CONFLICT, render(&page)).into_response());
    }
    let to = format!(
        "/recalls/{id}/registries/{registry}/organisations/{org}?purpose={RECALL_PURPOSE}&done=followup#implant-{implant}"
    );
    Ok(Redirect::to(&to).into_response())
}

// ----- API -----

/// A recall.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiRecall {
    id: String,
    reference: String,
    title: String,
    manufacturer: String,
    /// `open` or `closed`.
    status: String,
    /// RFC 3339.
    created_at: String,
    /// GTINs, lots, serials, date ranges (`YYYY-MM-DD`) and organisations.
    #[schema(value_type = Object)]
    criteria: serde_json::Value,
}

fn recall_out(r: &RecallRow) -> ApiRecall {
    ApiRecall {
        id: r.id.to_string(),
        reference: r.header.reference.clone(),
        title: r.header.title.clone(),
        manufacturer: r.header.manufacturer.clone(),
        status: r.status.as_str().to_owned(),
        created_at: rfc3339(r.created_at),
        criteria: serde_json::to_value(&r.criteria).unwrap_or_default(),
    }
}

/// Every recall, open first (for anyone holding a grant: no patient data).
#[utoipa::path(get, path = "/api/v1/recalls",
    responses((status = 200, body = [ApiRecall]), (status = 401, description = "no session or token"),
        (status = 404, description = "no access to recalls")))]
pub async fn api_list(State(state): State<AppState>, caller: ApiCaller) -> Result<Json<Vec<ApiRecall>>, ApiError> {
    if caller.grants.is_empty() {
        return Err(WebError::NotFound.into());
    }
    let recalls = state.accounts().store().recalls().await.map_err(internal)?;
    Ok(Json(recalls.iter().map(recall_out).collect()))
}

/// The recall just started.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiCreated {
    id: String,
}

/// Starts a recall (safety officers and controllers). 422 lists every problem; a reference
/// already used is a problem of `reference`.
#[utoipa::path(post, path = "/api/v1/recalls", request_body = RecallForm,
    responses((status = 201, body = ApiCreated), (status = 401, description = "no session or token"),
        (status = 403, description = "does not run recalls"), (status = 422, body = crate::records::ApiProblems)))]
pub async fn api_create(
    State(state): State<AppState>,
    caller: ApiCaller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let run = caller.grants.recalls().map_err(|_| WebError::Forbidden)?;
    let form: RecallForm = json_body(&headers, &body)?;
    match start(&state, &run, &form).await? {
        Created::Done(id) => Ok((
            StatusCode::CREATED,
            [(header::LOCATION, format!("/api/v1/recalls/{id}"))],
            Json(ApiCreated { id: id.to_string() }),
        )
            .into_response()),
        Created::Invalid(problems) => Err(ApiError::Invalid(problems)),
    }
}

/// Follow-up so far: statuses with their counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiStatusCount {
    status: String,
    count: u64,
}

/// One organisation's counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiOrgCounts {
    registry: String,
    organisation: String,
    total: u64,
    implanted: u64,
    revised: u64,
    deceased: u64,
    opted_out: u64,
    /// Implants recorded since the organisation last opened its worklist.
    new_since_seen: u64,
    by_status: Vec<ApiStatusCount>,
}

/// A recall and how many patients it reaches, over the registries where the caller runs recalls.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiCounts {
    recall: ApiRecall,
    total: u64,
    implanted: u64,
    revised: u64,
    alive: u64,
    deceased: u64,
    opted_out: u64,
    organisations: Vec<ApiOrgCounts>,
}

/// A recall's counts, national and per organisation (safety officers and controllers; audited
/// as `recall.counts`).
#[utoipa::path(get, path = "/api/v1/recalls/{id}",
    params(("id" = String, Path, description = "Recall id")),
    responses((status = 200, body = ApiCounts), (status = 401, description = "no session or token"),
        (status = 404, description = "no such recall, or does not run recalls")))]
pub async fn api_counts(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<ApiCounts>, ApiError> {
    let id = uuid(&id)?;
    let run = caller.grants.recalls()?;
    let recall = recall_row(&state, id).await?;
    let counts = audited(&state, &run, id, state.accounts().store().recall_counts(&run, id)).await?;
    Ok(Json(ApiCounts {
        recall: recall_out(&recall),
        total: counts.total,
        implanted: counts.implanted,
        revised: counts.revised,
        alive: counts.alive,
        deceased: counts.deceased,
        opted_out: counts.opted_out,
        organisations: counts
            .per_org
            .iter()
            .map(|o| ApiOrgCounts {
                registry: o.registry.clone(),
                organisation: o.organisation.clone(),
                total: o.total,
                implanted: o.implanted,
                revised: o.revised,
                deceased: o.deceased,
                opted_out: o.opted_out,
                new_since_seen: o.new_since_seen,
                by_status: o
                    .by_status
                    .iter()
                    .map(|(s, n)| ApiStatusCount { status: s.as_str().to_owned(), count: *n })
                    .collect(),
            })
            .collect(),
    }))
}

/// Matching implants at one organisation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiOrgCount {
    organisation: String,
    implants: u64,
}

/// The quick per-organisation count of matching implants (safety officers and controllers;
/// audited as `recall.counts`).
#[utoipa::path(get, path = "/api/v1/recalls/{id}/org-counts",
    params(("id" = String, Path, description = "Recall id")),
    responses((status = 200, body = [ApiOrgCount]), (status = 401, description = "no session or token"),
        (status = 404, description = "no such recall, or does not run recalls")))]
pub async fn api_org_counts(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<Vec<ApiOrgCount>>, ApiError> {
    let id = uuid(&id)?;
    let run = caller.grants.recalls()?;
    recall_row(&state, id).await?;
    let counts = audited(&state, &run, id, state.accounts().store().recall_org_counts(&run, id)).await?;
    Ok(Json(counts.into_iter().map(|(organisation, implants)| ApiOrgCount { organisation, implants }).collect()))
}

/// Which organisation's worklist, and why.
#[derive(Deserialize)]
pub struct ApiWorklistQuery {
    #[serde(default)]
    registry: String,
    #[serde(default)]
    organisation: String,
    #[serde(default)]
    purpose: Option<String>,
}

/// One earlier follow-up step.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiFollowUpStep {
    status: String,
    note: Option<String>,
    by: String,
    /// RFC 3339.
    at: String,
}

/// One patient's matching implant.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiWorklistRow {
    implant_id: String,
    /// Pseudonymous patient reference.
    patient: String,
    nhs_number: Option<String>,
    family_name: Option<String>,
    given_name: Option<String>,
    date_of_birth: Option<String>,
    gtin: String,
    lot: Option<String>,
    serial: Option<String>,
    implanted_on: Option<String>,
    revised_on: Option<String>,
    date_of_death: Option<String>,
    opted_out: bool,
    /// The current follow-up status.
    status: String,
    status_at: Option<String>,
    /// Whether the implant was recorded after the recall was opened.
    recorded_after_opening: bool,
}

fn worklist_out(r: &WorklistRow) -> ApiWorklistRow {
    ApiWorklistRow {
        implant_id: r.implant_id.to_string(),
        patient: r.patient_id.map(patient_ref).unwrap_or_default(),
        nhs_number: r.nhs_number.as_ref().map(|n| n.digits()),
        family_name: r.family_name.clone(),
        given_name: r.given_name.clone(),
        date_of_birth: r.date_of_birth.map(|d| d.to_string()),
        gtin: r.gtin.clone(),
        lot: r.lot.clone(),
        serial: r.serial.clone(),
        implanted_on: r.implanted_on.map(|d| d.to_string()),
        revised_on: r.revised_on.map(|d| d.to_string()),
        date_of_death: r.deceased_on.map(|d| d.to_string()),
        opted_out: r.opted_out,
        status: r.status.as_str().to_owned(),
        status_at: r.status_at.map(rfc3339),
        recorded_after_opening: r.joined_after_opening,
    }
}

/// One organisation's worklist: its patients with a matching implant, identified. Needs read
/// access to that organisation's records in that registry (404 otherwise) and the purpose
/// `recall_safety` (422 naming `purpose` without it), audited as `recall.worklist` before the
/// answer. A person (session) needs step-up within the last 5 minutes; an API token does not.
#[utoipa::path(get, path = "/api/v1/recalls/{id}/worklist",
    params(("id" = String, Path, description = "Recall id"), ("registry" = String, Query, description = "Registry id"),
        ("organisation" = String, Query, description = "ODS code"),
        ("purpose" = String, Query, description = "Must be recall_safety")),
    responses((status = 200, body = [ApiWorklistRow]), (status = 401, description = "no session or token"),
        (status = 403, description = "a session must step up first"), (status = 404, description = "not found or out of reach"),
        (status = 422, body = crate::records::ApiProblems, description = "no purpose, or not recall_safety")))]
pub async fn api_worklist(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    Query(q): Query<ApiWorklistQuery>,
) -> Result<Json<Vec<ApiWorklistRow>>, ApiError> {
    let id = uuid(&id)?;
    let (read, org) = worklist_reach(&caller.grants, &q.registry, &q.organisation)?;
    recall_row(&state, id).await?;
    if let Some(session) = &caller.session
        && !state.accounts().has_recent_mfa(session)
    {
        return Err(ApiError::Status(
            StatusCode::FORBIDDEN,
            "worklists need a second factor within the last 5 minutes: step up in the browser first",
        ));
    }
    if q.purpose.as_deref().map(str::trim) != Some(RECALL_PURPOSE) {
        return Err(ApiError::Invalid(vec![Problem {
            field: "purpose".into(),
            message: "State the purpose of this read: recall_safety".into(),
        }]));
    }
    let rows = read_worklist(&state, &read, &org, id, "recall.worklist").await?;
    Ok(Json(rows.iter().map(worklist_out).collect()))
}

/// The unit's follow-up after the step: its current status and every step, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiFollowUp {
    status: String,
    history: Vec<ApiFollowUpStep>,
}

/// Records the next follow-up step of one matching implant (append-only). The implant must be
/// in the recall and at an organisation whose records the caller reads (404 otherwise).
#[utoipa::path(post, path = "/api/v1/recalls/{id}/implants/{implant}/follow-up", request_body = FollowUpForm,
    params(("id" = String, Path, description = "Recall id"), ("implant" = String, Path, description = "Implant id")),
    responses((status = 200, body = ApiFollowUp), (status = 401, description = "no session or token"),
        (status = 404, description = "not found or out of reach"), (status = 409, description = "the recall is closed"),
        (status = 422, body = crate::records::ApiProblems)))]
pub async fn api_follow_up(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path((id, implant)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ApiFollowUp>, ApiError> {
    let (id, implant) = (uuid(&id)?, uuid(&implant)?);
    recall_row(&state, id).await?;
    let form: FollowUpForm = json_body(&headers, &body)?;
    let registries: Vec<RegistryId> = if form.registry.trim().is_empty() {
        caller.grants.registries()
    } else {
        vec![RegistryId::parse(form.registry.trim()).map_err(|_| WebError::NotFound)?]
    };
    let reads: Vec<RecordsRead> = registries.iter().filter_map(|r| caller.grants.records_read(r).ok()).collect();
    if reads.is_empty() {
        return Err(WebError::NotFound.into());
    }
    let (status, text) = parse_follow_up(&form, "note").map_err(ApiError::Invalid)?;
    // The implant is in one registry: try each the caller reads until one holds it.
    for read in &reads {
        match record_follow_up(&state, read, id, implant, status, text.as_deref()).await {
            Ok(Recorded::Closed) => return Err(ApiError::Status(StatusCode::CONFLICT, CLOSED)),
            Ok(Recorded::Done) => {
                let history =
                    state.accounts().store().followup_history(read, id, implant).await.map_err(store_error)?;
                return Ok(Json(ApiFollowUp {
                    status: status.as_str().to_owned(),
                    history: history
                        .iter()
                        .map(|h| ApiFollowUpStep {
                            status: h.status.as_str().to_owned(),
                            note: h.note.clone(),
                            by: h.by_user.clone(),
                            at: rfc3339(h.at),
                        })
                        .collect(),
                }));
            }
            Err(WebError::NotFound) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(WebError::NotFound.into())
}
