//! Records behind grants: find a patient by NHS number with a stated purpose, view a record,
//! enter one through a form generated from the registry's dictionary, correct it, and list the
//! records of one's own organisations — as pages and as the JSON API under `/api/v1`.
//!
//! Every handler asks the caller's grants for a capability first ([`RecordsRead`] for reads,
//! `RecordsWrite` for the organisation written to) and the store answers only within it:
//! - a record outside the caller's registry or organisations is **404**, like one that does not
//!   exist; a patient with no records at the caller's organisations is "no match", like an
//!   unknown NHS number;
//! - writing where the caller may read but not write (a viewer, a read-only token, another
//!   organisation) is **403**, saying nothing about the object;
//! - bulk views (the list and its CSV) need **step-up** (a second factor within 5 minutes) for
//!   people; an API token, a machine credential scoped to one organisation, expiring within 12
//!   months and revocable, lists without it.
//!
//! Every read of identifiable data (view, the correction page, search, list, download, and the
//! API's reads) needs a stated purpose, one of [`PURPOSES`], and is written to the audit log with
//! it before the data is returned; if the log cannot be written, the read fails. Pages take the
//! code as `?purpose=<code>` (a code is not an identifier) and, without a valid one, answer a
//! "Why are you opening this?" question that shows no data and writes nothing; their links carry
//! the code on, so ordinary navigation asks once. The API answers 422 naming `purpose`. The
//! caller's reach is checked first, so out of reach stays 404 with or without a purpose.
//!
//! An entry's or a correction's audit event is appended in the same transaction as the record
//! (`Store::enter_record`, `Store::correct_record_at`): both are stored or neither.
//!
//! NHS numbers and names only travel in request and response bodies (search is a POST), never in
//! a URL, a log line or an error message; problems name the field and the rule, never the value.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tessera_domain::access::{Grants, OrgSet, Principal, RecordsRead};
use tessera_domain::{Dictionary, FieldProblem, NhsNumber, OdsCode, Patient, PatientInput, RegistryId};
use tessera_store::{
    AuditActor, AuditNote, AuditOutcome, NewImplant, RecordSummary, RegistryCipher, Revision, StoreError, StoredRecord,
    validate_entry,
};
use time::{Date, OffsetDateTime};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::caller::{ApiCaller, Caller};
use crate::error::WebError;
use crate::record_views::*;
use crate::routes::Routes;
use crate::session::{CsrfForm, StepUp};
use crate::views::{Layout, render};

/// Records on one page of the list.
const PAGE_SIZE: u32 = 50;
/// The most records one CSV download or API page carries.
const MAX_ROWS: u32 = 100_000;
/// Why identifiable data is read: (code, label). The code is recorded with every read.
const PURPOSES: [(&str, &str); 5] = [
    ("direct_care", "Direct care of the patient"),
    ("clinical_audit", "Clinical audit"),
    ("data_quality", "Data quality check"),
    ("recall_safety", "Device recall or patient safety"),
    ("subject_access", "Subject access request"),
];

/// A stated purpose of reading identifiable data: one of [`PURPOSES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Purpose(&'static str);

impl Purpose {
    /// The purpose with this code, if it is one.
    fn parse(code: &str) -> Option<Purpose> {
        PURPOSES.iter().find(|(c, _)| *c == code.trim()).map(|(c, _)| Purpose(c))
    }

    /// Its code (`direct_care`, …), as recorded and as carried in links.
    fn code(self) -> &'static str {
        self.0
    }
}

/// The stated purpose of a page or API read, from `?purpose=<code>`, plus the parameters the
/// pages keep while asking for it.
#[derive(Deserialize, Default)]
struct ReadQuery {
    #[serde(default)]
    purpose: Option<String>,
    #[serde(default)]
    page: Option<u64>,
    #[serde(default)]
    done: Option<String>,
}

impl ReadQuery {
    fn purpose(&self) -> Option<Purpose> {
        self.purpose.as_deref().and_then(Purpose::parse)
    }
}

/// The code a page's links carry on, or nothing.
fn carried(purpose: Option<Purpose>) -> String {
    purpose.map(|p| p.code().to_owned()).unwrap_or_default()
}

/// The page asking why the caller is opening `action`; it shows no data and writes nothing.
/// It keeps the page's other parameters (a list's page, a saved notice); an unknown code is a
/// problem (422).
fn purpose_page(
    caller: &Caller,
    registry: &RegistryId,
    action: String,
    q: &ReadQuery,
    notice: Option<String>,
) -> Response {
    let mut hidden = Vec::new();
    if let Some(p) = q.page {
        hidden.push(("page".to_owned(), p.to_string()));
    }
    if let Some(d) = q.done.as_deref().filter(|d| ["entered", "corrected"].contains(d)) {
        hidden.push(("done".to_owned(), d.to_owned()));
    }
    let given = q.purpose.as_deref().is_some_and(|p| !p.trim().is_empty());
    let message = "Choose why you are opening this".to_owned();
    let errors = if given { vec![Problem { field: "purpose".into(), message: message.clone() }] } else { vec![] };
    let page = PurposePage {
        l: Layout::new("Why are you opening this?", &caller.ctx),
        errors,
        error: given.then_some(message),
        notice,
        registry: registry.to_string(),
        action,
        hidden,
        choices: PURPOSES.iter().map(|(c, l)| ((*c).to_owned(), (*l).to_owned())).collect(),
    };
    let status = if given { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    (status, render(&page)).into_response()
}

/// The API's stated purpose: required, else 422 naming `purpose`.
fn api_purpose(code: Option<&str>) -> Result<Purpose, ApiError> {
    code.and_then(Purpose::parse).ok_or_else(|| {
        ApiError::Invalid(vec![Problem {
            field: "purpose".into(),
            message: "State the purpose of this read: direct_care, clinical_audit, data_quality, recall_safety or \
                      subject_access"
                .into(),
        }])
    })
}

/// The record pages.
pub fn routes() -> Routes {
    Routes::new()
        .get("/registries/{registry}/records", list_page)
        .get("/registries/{registry}/records.csv", list_csv)
        .get("/registries/{registry}/records/search", search_page)
        .post("/registries/{registry}/records/search", search)
        .get("/registries/{registry}/records/new", new_page)
        .post("/registries/{registry}/records/new", create)
        .get("/registries/{registry}/records/{id}", view_page)
        .get("/registries/{registry}/records/{id}/correct", correct_page)
        .post("/registries/{registry}/records/{id}/correct", correct)
}

/// The record API (under `/api/v1`).
pub fn api_routes() -> Routes {
    Routes::new()
        .post("/registries/{registry}/records", api_create)
        .get("/registries/{registry}/records", api_list)
        .get("/registries/{registry}/records/{id}", api_get)
        .post("/registries/{registry}/records/{id}/revisions", api_correct)
        .post("/registries/{registry}/patients/search", api_search)
}

// ----- shared steps -----

fn registry_id(text: &str) -> Result<RegistryId, WebError> {
    RegistryId::parse(text).map_err(|_| WebError::NotFound)
}

fn record_id(text: &str) -> Result<Uuid, WebError> {
    Uuid::parse_str(text).map_err(|_| WebError::NotFound)
}

/// A storage error for a web answer: "not found" stays not found, anything else is a fault.
pub(crate) fn store_error(e: StoreError) -> WebError {
    match e {
        StoreError::NotFound(_) => WebError::NotFound,
        e => WebError::Internal(e.into()),
    }
}

/// Today, by the application's clock.
pub(crate) fn today(state: &AppState) -> Date {
    OffsetDateTime::from_unix_timestamp(state.accounts().clock().now()).map_or(Date::MIN, |t| t.date())
}

fn time_text(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{} {:02}:{:02}", t.date(), t.hour(), t.minute())
}

async fn cipher(state: &AppState, registry: &RegistryId) -> Result<(i32, RegistryCipher), WebError> {
    let master = state.vault().ok_or(WebError::NotFound)?;
    state.accounts().store().registry_cipher(registry, master).await.map_err(store_error)
}

async fn dictionary(state: &AppState, registry: &RegistryId) -> Result<(u32, Dictionary), WebError> {
    state.accounts().store().latest_dictionary(registry).await.map_err(store_error)
}

/// The audit event of `principal` doing `action` in `registry` (target and purpose to add).
fn note(principal: &Principal, action: &str, registry: &RegistryId) -> AuditNote {
    let (actor, client) = match principal {
        Principal::User(u) => (AuditActor::User(u.clone()), "web"),
        Principal::Token { id, .. } => (AuditActor::ApiToken(id.clone()), "api"),
    };
    AuditNote::new(actor, action, AuditOutcome::Success).registry(registry.as_str()).client(client)
}

/// Records a read of identifiable data, with its stated purpose, in the audit log before the
/// data is returned; the request fails if the log cannot be written. Targets are pseudonymous
/// (`record:<id>`, `patient:<id>`), never an NHS number or a name.
async fn audit(
    state: &AppState,
    principal: &Principal,
    action: &str,
    registry: &RegistryId,
    target: Option<String>,
    purpose: String,
) -> Result<(), WebError> {
    let mut note = note(principal, action, registry).purpose(purpose);
    if let Some(t) = target {
        note = note.target(t);
    }
    state.accounts().store().audit_append(&[note]).await.map_err(|e| WebError::Internal(e.into()))?;
    Ok(())
}

/// Whether `text` holds seven or more digits in a row (spaces ignored): something like an NHS
/// number, which must not go into the purpose recorded in the audit log.
fn holds_a_number(text: &str) -> bool {
    let mut run = 0;
    for c in text.chars().filter(|c| !c.is_whitespace()) {
        run = if c.is_ascii_digit() { run + 1 } else { 0 };
        if run >= 7 {
            return true;
        }
    }
    false
}

/// A domain problem as a sentence, with the input it belongs to.
fn problem(form: Option<&tessera_domain::Form>, p: &FieldProblem) -> Problem {
    let (field, label) = if form.and_then(|f| f.field(&p.field)).is_some() {
        (format!("f_{}", p.field), field_label(form, &p.field).to_owned())
    } else if PATIENT_FIELDS.iter().any(|(n, _)| *n == p.field) {
        (format!("p_{}", p.field), patient_label(&p.field).to_owned())
    } else {
        (format!("f_{}", p.field), p.field.clone())
    };
    Problem { field, message: sentence(&label, &p.reason) }
}

fn sentence(label: &str, reason: &str) -> String {
    if ["is ", "must ", "has ", "was "].iter().any(|s| reason.starts_with(s)) {
        format!("{label} {reason}")
    } else {
        format!("{label}: {reason}")
    }
}

/// The patient's details as (label, value) lines.
fn patient_lines(p: &Patient) -> Vec<(String, String)> {
    let mut lines = Vec::new();
    match p.identifiers() {
        Some(ids) => {
            lines.push(("NHS number".into(), ids.nhs_number().formatted()));
            lines.push(("Family name".into(), ids.family_name().to_owned()));
            lines.push(("Given name".into(), ids.given_name().to_owned()));
            lines.push(("Date of birth".into(), ids.date_of_birth().to_string()));
            lines.push(("Postcode".into(), ids.postcode().as_str().to_owned()));
        }
        None => lines.push(("Identifiers".into(), "Not held: the record was made without consent".into())),
    }
    lines.push(("Sex".into(), p.sex().code().to_owned()));
    if let Some(d) = p.date_of_death() {
        lines.push(("Date of death".into(), d.to_string()));
    }
    lines.push(("National data opt-out".into(), if p.opted_out() { "Yes" } else { "No" }.into()));
    lines.push(("Consent".into(), p.consent().code().replace('_', " ")));
    lines
}

fn patient_ref(id: Uuid) -> String {
    let s = id.simple().to_string();
    s[s.len() - 10..].to_owned()
}

fn rows(dict: &Dictionary, list: &[RecordSummary]) -> Vec<RecordRow> {
    list.iter()
        .map(|r| RecordRow {
            id: r.id.to_string(),
            patient: patient_ref(r.patient_id),
            organisation: r.organisation.clone(),
            form: dict.form(&r.form).map_or(r.form.clone(), |f| f.title().to_owned()),
            entered: time_text(r.created_at),
            revision: r.revision,
        })
        .collect()
}

/// Text of an entry, from a page's inputs or an API body.
struct EntryText {
    organisation: String,
    form: String,
    patient: HashMap<String, String>,
    values: Vec<(String, String)>,
}

enum Saved<T> {
    Done(T),
    Invalid(Vec<Problem>),
}

/// Enters a record: the organisation must be one the caller writes for (403 otherwise), then
/// the patient and the record are validated together and written in one transaction.
async fn enter(
    state: &AppState,
    grants: &Grants,
    registry: &RegistryId,
    e: &EntryText,
) -> Result<Saved<Uuid>, WebError> {
    grants.write_orgs(registry)?;
    let mut problems = Vec::new();
    let org = match OdsCode::parse(e.organisation.trim()) {
        Ok(org) => Some(org),
        Err(_) => {
            problems.push(Problem {
                field: "organisation".into(),
                message: "Choose the organisation the record is entered for".into(),
            });
            None
        }
    };
    let write = match &org {
        Some(org) => Some(grants.records_write(registry, org).map_err(|_| WebError::Forbidden)?),
        None => None,
    };
    let (version, dict) = dictionary(state, registry).await?;
    let Some(form) = dict.form(e.form.trim()) else {
        problems.push(Problem { field: "form".into(), message: "Choose a form of this registry".into() });
        return Ok(Saved::Invalid(problems));
    };
    let p = |name: &str| e.patient.get(name).map_or("", String::as_str);
    let input = PatientInput {
        nhs_number: p("nhs_number"),
        family_name: p("family_name"),
        given_name: p("given_name"),
        date_of_birth: p("date_of_birth"),
        sex: p("sex"),
        postcode: p("postcode"),
        date_of_death: p("date_of_death"),
        opted_out: p("opted_out"),
        consent: p("consent"),
    };
    let pairs: Vec<(&str, &str)> = e.values.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let checked = validate_entry(&dict, form, &input, &pairs, today(state));
    let (patient, record) = match checked {
        Ok(ok) if problems.is_empty() => ok,
        Ok(_) => return Ok(Saved::Invalid(problems)),
        Err(found) => {
            problems.extend(found.iter().map(|p| problem(Some(form), p)));
            return Ok(Saved::Invalid(problems));
        }
    };
    let write = write.expect("an organisation parsed when there are no problems");
    let (key_version, cipher) = cipher(state, registry).await?;
    let stated = !input.opted_out.trim().is_empty();
    let entered = state
        .accounts()
        .store()
        .enter_record(
            &write,
            &cipher,
            key_version,
            &patient,
            stated,
            form,
            &record,
            version,
            note(grants.principal(), "record.enter", registry).organisation(write.org().as_str()),
        )
        .await;
    let entered = match entered {
        Err(tessera_store::StoreError::Conflict(m)) if m == tessera_store::IDENTITY_MISMATCH => {
            let mut message = m;
            message[..1].make_ascii_uppercase();
            return Ok(Saved::Invalid(vec![Problem { field: "p_nhs_number".into(), message }]));
        }
        other => other.map_err(|e| WebError::Internal(e.into()))?,
    };
    tracing::info!(
        user = %grants.principal().user_id(), registry = %registry, organisation = %write.org(),
        record = %entered.record_id, new_patient = entered.new_patient, "record entered"
    );
    Ok(Saved::Done(entered.record_id))
}

/// What a caller may read of one record, loaded.
struct Loaded {
    record: StoredRecord,
    history: Vec<Revision>,
    patient: Patient,
    implants: Vec<NewImplant>,
    dict: Dictionary,
}

/// Loads a record the caller can read (404 outside their reach, with or without a purpose).
/// Without a stated purpose nothing more is read and nothing is returned (`None`); with one the
/// read is audited first.
async fn load(
    state: &AppState,
    read: &RecordsRead,
    id: Uuid,
    purpose: Option<Purpose>,
) -> Result<Option<Loaded>, WebError> {
    let store = state.accounts().store();
    let record = store.readable_record(read, id).await.map_err(store_error)?.ok_or(WebError::NotFound)?;
    let Some(purpose) = purpose else { return Ok(None) };
    let history = store.record_history(id).await.map_err(store_error)?;
    let (_, cipher) = cipher(state, read.registry()).await?;
    let patient = store.patient(&cipher, record.patient_id).await.map_err(|e| WebError::Internal(e.into()))?.patient;
    let implants = store.implants_of(id).await.map_err(|e| WebError::Internal(e.into()))?;
    let (_, dict) = dictionary(state, read.registry()).await?;
    let target = Some(format!("record:{id}"));
    audit(state, read.principal(), "record.view", read.registry(), target, purpose.code().to_owned()).await?;
    Ok(Some(Loaded { record, history, patient, implants, dict }))
}

/// Corrects a record the caller can read, with a reason: 404 outside the caller's reach, 403
/// where they may read but not write.
async fn amend(
    state: &AppState,
    grants: &Grants,
    registry: &RegistryId,
    id: Uuid,
    values: &[(String, String)],
    reason: &str,
) -> Result<Saved<u32>, WebError> {
    let read = grants.records_read(registry)?;
    let store = state.accounts().store();
    let record = store.readable_record(&read, id).await.map_err(store_error)?.ok_or(WebError::NotFound)?;
    let org = OdsCode::parse(&record.organisation)
        .map_err(|e| WebError::Internal(anyhow::anyhow!("stored organisation: {e}")))?;
    let write = grants.records_write(registry, &org).map_err(|_| WebError::Forbidden)?;
    let (version, dict) = dictionary(state, registry).await?;
    let mut problems = Vec::new();
    let reason = reason.trim();
    if reason.is_empty() {
        problems.push(Problem { field: "reason".into(), message: "Enter the reason for the correction".into() });
    } else if reason.chars().count() > 500 || reason.chars().any(|c| c.is_control() && c != '\n') {
        problems.push(Problem {
            field: "reason".into(),
            message: "The reason must be at most 500 characters of text".into(),
        });
    }
    let Some(form) = dict.form(&record.form) else {
        problems.push(Problem {
            field: "form".into(),
            message: "This record's form is no longer in the registry's dictionary".into(),
        });
        return Ok(Saved::Invalid(problems));
    };
    let pairs: Vec<(&str, &str)> = values.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (_, cipher) = cipher(state, registry).await?;
    let patient = store.patient(&cipher, record.patient_id).await.map_err(|e| WebError::Internal(e.into()))?.patient;
    let valid = match dict.validate(form, &pairs, today(state)) {
        Ok(v) => {
            problems.extend(v.check_against(&patient).iter().map(|p| problem(Some(form), p)));
            Some(v)
        }
        Err(found) => {
            problems.extend(found.iter().map(|p| problem(Some(form), p)));
            None
        }
    };
    let Some(valid) = valid.filter(|_| problems.is_empty()) else { return Ok(Saved::Invalid(problems)) };
    let revision = store
        .correct_record_at(
            &write,
            id,
            form,
            &valid,
            version,
            reason,
            note(grants.principal(), "record.correct", registry).organisation(write.org().as_str()),
        )
        .await
        .map_err(|e| WebError::Internal(e.into()))?;
    tracing::info!(
        user = %grants.principal().user_id(), registry = %registry, record = %id, revision, "record corrected"
    );
    Ok(Saved::Done(revision))
}

enum Found {
    Invalid(Vec<Problem>),
    NoMatch,
    Patient(Patient, Vec<RecordSummary>),
}

/// Finds a patient's records at the caller's organisations. Unknown and out of reach read alike.
async fn find(
    state: &AppState,
    grants: &Grants,
    registry: &RegistryId,
    nhs: &str,
    purpose: &str,
    detail: &str,
) -> Result<Found, WebError> {
    let read = grants.records_read(registry)?;
    let mut problems = Vec::new();
    let nhs = match NhsNumber::parse(nhs) {
        Ok(n) => Some(n),
        Err(e) => {
            let message = if nhs.trim().is_empty() {
                "Enter the patient's NHS number".to_owned()
            } else {
                sentence("NHS number", &e.to_string())
            };
            problems.push(Problem { field: "p_nhs_number".into(), message });
            None
        }
    };
    let code = Purpose::parse(purpose);
    if code.is_none() {
        problems.push(Problem { field: "purpose".into(), message: "Choose the purpose of this search".into() });
    }
    if holds_a_number(detail) {
        problems.push(Problem {
            field: "purpose_detail".into(),
            message: "The details of the purpose must not contain an NHS number or other long number".into(),
        });
    } else if detail.chars().count() > 200 || detail.chars().any(char::is_control) {
        problems.push(Problem {
            field: "purpose_detail".into(),
            message: "The details of the purpose must be at most 200 characters of text".into(),
        });
    }
    let (Some(nhs), Some(code)) = (nhs, code) else { return Ok(Found::Invalid(problems)) };
    if !problems.is_empty() {
        return Ok(Found::Invalid(problems));
    }
    let purpose = code.code();
    let (_, cipher) = cipher(state, registry).await?;
    let store = state.accounts().store();
    let found = store.search_patient_records(&read, &cipher, &nhs).await.map_err(|e| WebError::Internal(e.into()))?;
    // The purpose's free text is not logged: people may type identifiers into it.
    tracing::info!(
        user = %grants.principal().user_id(), registry = %registry, purpose, matched = found.is_some(),
        "patient search"
    );
    let purpose_text =
        if detail.trim().is_empty() { purpose.to_owned() } else { format!("{purpose}: {}", detail.trim()) };
    let target = found.as_ref().map(|(id, _)| format!("patient:{id}"));
    audit(state, grants.principal(), "patient.search", registry, target, purpose_text).await?;
    match found {
        None => Ok(Found::NoMatch),
        Some((patient_id, records)) => {
            let patient = store.patient(&cipher, patient_id).await.map_err(|e| WebError::Internal(e.into()))?.patient;
            Ok(Found::Patient(patient, records))
        }
    }
}

// ----- pages -----

/// Page inputs of an entry: `p_…` patient fields, `f_…` record fields.
fn split_inputs(form: &HashMap<String, String>) -> (HashMap<String, String>, Vec<(String, String)>) {
    let patient = form.iter().filter_map(|(k, v)| Some((k.strip_prefix("p_")?.to_owned(), v.clone()))).collect();
    let mut values: Vec<(String, String)> =
        form.iter().filter_map(|(k, v)| Some((k.strip_prefix("f_")?.to_owned(), v.clone()))).collect();
    values.sort();
    (patient, values)
}

async fn org_input(state: &AppState, orgs: &OrgSet, value: &str, problems: &[Problem]) -> Result<Input, WebError> {
    let all = state.accounts().store().organisations().await.map_err(|e| WebError::Internal(e.into()))?;
    let choices: Vec<Choice> = all
        .iter()
        .filter(|o| orgs.contains(&o.ods))
        .map(|o| Choice {
            value: o.ods.as_str().to_owned(),
            label: format!("{} ({})", o.name, o.ods),
            selected: o.ods.as_str() == value,
        })
        .collect();
    let only = choices.len() == 1;
    let mut choices = choices;
    if only {
        choices[0].selected = true;
    }
    Ok(Input {
        id: "organisation".into(),
        label: "Organisation".into(),
        hint: Some("The hospital the record is entered for.".into()),
        required: true,
        widget: "select",
        value: if only { choices[0].value.clone() } else { value.to_owned() },
        error: problems.iter().find(|p| p.field == "organisation").map(|p| p.message.clone()),
        choices,
    })
}

#[derive(Deserialize)]
struct FormQuery {
    #[serde(default)]
    form: Option<String>,
    #[serde(default)]
    purpose: Option<String>,
}

#[allow(clippy::too_many_arguments)]
async fn entry_form(
    state: &AppState,
    caller: &Caller,
    registry: &RegistryId,
    orgs: &OrgSet,
    dict: &Dictionary,
    form: &tessera_domain::Form,
    inputs: &HashMap<String, String>,
    errors: Vec<Problem>,
) -> Result<Response, WebError> {
    let purpose = carried(inputs.get("purpose").and_then(|p| Purpose::parse(p)));
    let org = org_input(state, orgs, inputs.get("organisation").map_or("", String::as_str), &errors).await?;
    let patient =
        patient_inputs(dict.consent_required(), |n| inputs.get(&format!("p_{n}")).map(String::as_str), &errors);
    let fields = form_inputs(dict, form, |n| inputs.get(&format!("f_{n}")).map(String::as_str), &errors);
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = RecordFormPage {
        l: Layout::new(&format!("New record: {}", form.title()), &caller.ctx),
        errors,
        heading: format!("New record: {}", form.title()),
        action: format!("/registries/{registry}/records/new"),
        registry: registry.to_string(),
        form: form.name().to_string(),
        description: form.description().to_owned(),
        organisation: Some(org),
        patient,
        fields,
        reason: None,
        back: format!("/registries/{registry}/records/search"),
        purpose,
    };
    Ok((status, render(&page)).into_response())
}

async fn new_page(
    caller: Caller,
    State(state): State<AppState>,
    Path(registry): Path<String>,
    Query(q): Query<FormQuery>,
) -> Result<Response, WebError> {
    let registry = registry_id(&registry)?;
    let orgs = caller.grants.write_orgs(&registry)?;
    let (_, dict) = dictionary(&state, &registry).await?;
    let purpose = carried(q.purpose.as_deref().and_then(Purpose::parse));
    match q.form.as_deref().and_then(|f| dict.form(f)) {
        Some(form) => {
            let inputs = HashMap::from([("purpose".to_owned(), purpose)]);
            entry_form(&state, &caller, &registry, &orgs, &dict, form, &inputs, vec![]).await
        }
        None => {
            let forms = dict
                .forms()
                .iter()
                .map(|f| (f.name().to_string(), f.title().to_owned(), f.description().to_owned()))
                .collect();
            Ok(render(&ChooseFormPage {
                l: Layout::new("Enter a record", &caller.ctx),
                registry: registry.to_string(),
                forms,
                purpose,
            }))
        }
    }
}

async fn create(
    caller: Caller,
    State(state): State<AppState>,
    Path(registry): Path<String>,
    CsrfForm(inputs, _): CsrfForm<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let registry = registry_id(&registry)?;
    let orgs = caller.grants.write_orgs(&registry)?;
    let (patient, values) = split_inputs(&inputs);
    let entry = EntryText {
        organisation: inputs.get("organisation").cloned().unwrap_or_default(),
        form: inputs.get("form").cloned().unwrap_or_default(),
        patient,
        values,
    };
    match enter(&state, &caller.grants, &registry, &entry).await? {
        Saved::Done(id) => {
            // The record page after saving shows the patient as stored, so it needs a purpose
            // too: the one stated before the entry if there was one, else it asks.
            let purpose = inputs.get("purpose").and_then(|p| Purpose::parse(p));
            let with = purpose.map(|p| format!("&purpose={}", p.code())).unwrap_or_default();
            Ok(Redirect::to(&format!("/registries/{registry}/records/{id}?done=entered{with}")).into_response())
        }
        Saved::Invalid(errors) => {
            let (_, dict) = dictionary(&state, &registry).await?;
            let Some(form) = dict.form(&entry.form) else { return Err(WebError::NotFound) };
            entry_form(&state, &caller, &registry, &orgs, &dict, form, &inputs, errors).await
        }
    }
}

fn revision_view(dict: &Dictionary, form_name: &str, r: &Revision) -> RevisionView {
    let form = dict.form(form_name);
    RevisionView {
        revision: r.revision,
        at: time_text(r.created_at),
        dictionary_version: r.dictionary_version,
        reason: r.reason.clone().unwrap_or_default(),
        values: r
            .values
            .iter()
            .map(|(k, v)| (field_label(form, k).to_owned(), display_value(dict, form, k, v)))
            .collect(),
    }
}

async fn view_page(
    caller: Caller,
    State(state): State<AppState>,
    Path((registry, id)): Path<(String, String)>,
    Query(q): Query<ReadQuery>,
) -> Result<Response, WebError> {
    let registry = registry_id(&registry)?;
    let id = record_id(&id)?;
    let read = caller.grants.records_read(&registry)?;
    let purpose = q.purpose();
    let notice = match q.done.as_deref() {
        Some("entered") => Some("The record has been saved.".to_owned()),
        Some("corrected") => Some("The correction has been saved as a new revision.".to_owned()),
        _ => None,
    };
    let Some(Loaded { record, history, patient, implants, dict }) = load(&state, &read, id, purpose).await? else {
        return Ok(purpose_page(&caller, &registry, format!("/registries/{registry}/records/{id}"), &q, notice));
    };
    let org = OdsCode::parse(&record.organisation).ok();
    let can_correct = org.is_some_and(|o| caller.grants.records_write(&registry, &o).is_ok());
    let title = dict.form(&record.form).map_or(record.form.clone(), |f| f.title().to_owned());
    let page = RecordPage {
        l: Layout::new(&title, &caller.ctx),
        notice,
        registry: registry.to_string(),
        id: id.to_string(),
        form: title.clone(),
        organisation: record.organisation.clone(),
        patient: patient_lines(&patient),
        current: revision_view(&dict, &record.form, &record.current),
        history: history.iter().rev().map(|r| revision_view(&dict, &record.form, r)).collect(),
        implants: implants
            .iter()
            .map(|i| ImplantView {
                gtin: i.gtin.clone(),
                lot: i.lot.clone().unwrap_or_default(),
                serial: i.serial.clone().unwrap_or_default(),
                expiry: i.expiry.map(|d| d.to_string()).unwrap_or_default(),
                entry: i.entry.to_owned(),
            })
            .collect(),
        can_correct,
        purpose: carried(purpose),
    };
    Ok(render(&page))
}

#[allow(clippy::too_many_arguments)]
fn correction_form(
    caller: &Caller,
    registry: &RegistryId,
    id: Uuid,
    dict: &Dictionary,
    form: &tessera_domain::Form,
    values: &HashMap<String, String>,
    reason: &str,
    purpose: Option<Purpose>,
    errors: Vec<Problem>,
) -> Response {
    let fields = form_inputs(dict, form, |n| values.get(n).map(String::as_str), &errors);
    let reason = Input {
        id: "reason".into(),
        label: "Reason for the correction".into(),
        hint: Some("Kept with the new revision, for everyone who reads the record's history.".into()),
        required: true,
        widget: "text",
        value: reason.to_owned(),
        error: errors.iter().find(|p| p.field == "reason").map(|p| p.message.clone()),
        choices: vec![],
    };
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = RecordFormPage {
        l: Layout::new(&format!("Correct: {}", form.title()), &caller.ctx),
        errors,
        heading: format!("Correct: {}", form.title()),
        action: format!("/registries/{registry}/records/{id}/correct"),
        registry: registry.to_string(),
        form: form.name().to_string(),
        description: "The correction is saved as a new revision; earlier revisions are kept as they were.".into(),
        organisation: None,
        patient: vec![],
        fields,
        reason: Some(reason),
        back: format!("/registries/{registry}/records/{id}?purpose={}", carried(purpose)),
        purpose: carried(purpose),
    };
    (status, render(&page)).into_response()
}

/// The correction form, filled with the record's current values: a read of the record, so it
/// needs a stated purpose and is audited as a view.
async fn correct_page(
    caller: Caller,
    State(state): State<AppState>,
    Path((registry, id)): Path<(String, String)>,
    Query(q): Query<ReadQuery>,
) -> Result<Response, WebError> {
    let registry = registry_id(&registry)?;
    let id = record_id(&id)?;
    let read = caller.grants.records_read(&registry)?;
    let record =
        state.accounts().store().readable_record(&read, id).await.map_err(store_error)?.ok_or(WebError::NotFound)?;
    let org = OdsCode::parse(&record.organisation).map_err(|_| WebError::NotFound)?;
    caller.grants.records_write(&registry, &org).map_err(|_| WebError::Forbidden)?;
    let (_, dict) = dictionary(&state, &registry).await?;
    let form = dict.form(&record.form).ok_or(WebError::NotFound)?;
    let Some(purpose) = q.purpose() else {
        return Ok(purpose_page(&caller, &registry, format!("/registries/{registry}/records/{id}/correct"), &q, None));
    };
    let target = Some(format!("record:{id}"));
    audit(&state, read.principal(), "record.view", &registry, target, purpose.code().to_owned()).await?;
    let values: HashMap<String, String> = record.current.values.iter().cloned().collect();
    Ok(correction_form(&caller, &registry, id, &dict, form, &values, "", Some(purpose), vec![]))
}

async fn correct(
    caller: Caller,
    State(state): State<AppState>,
    Path((registry, id)): Path<(String, String)>,
    CsrfForm(inputs, _): CsrfForm<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let registry = registry_id(&registry)?;
    let id = record_id(&id)?;
    let (_, values) = split_inputs(&inputs);
    let reason = inputs.get("reason").map_or("", String::as_str);
    let purpose = inputs.get("purpose").and_then(|p| Purpose::parse(p));
    match amend(&state, &caller.grants, &registry, id, &values, reason).await? {
        Saved::Done(_) => {
            let with = purpose.map(|p| format!("&purpose={}", p.code())).unwrap_or_default();
            Ok(Redirect::to(&format!("/registries/{registry}/records/{id}?done=corrected{with}")).into_response())
        }
        Saved::Invalid(errors) => {
            let (_, dict) = dictionary(&state, &registry).await?;
            let read = caller.grants.records_read(&registry)?;
            let record = state
                .accounts()
                .store()
                .readable_record(&read, id)
                .await
                .map_err(store_error)?
                .ok_or(WebError::NotFound)?;
            let form = dict.form(&record.form).ok_or(WebError::NotFound)?;
            let values: HashMap<String, String> = values.into_iter().collect();
            Ok(correction_form(&caller, &registry, id, &dict, form, &values, reason, purpose, errors))
        }
    }
}

fn search_view(
    caller: &Caller,
    registry: &RegistryId,
    inputs: (&str, &str, &str),
    errors: Vec<Problem>,
    searched: bool,
    patient: Vec<(String, String)>,
    results: Vec<RecordRow>,
) -> Response {
    let (nhs, purpose, detail) = inputs;
    let link_purpose = carried(Purpose::parse(purpose));
    let err = |id: &str| errors.iter().find(|p| p.field == id).map(|p| p.message.clone());
    let nhs_number = Input {
        id: "p_nhs_number".into(),
        label: "NHS number".into(),
        hint: Some("10 digits, for example 943 476 5919".into()),
        required: true,
        widget: "text",
        value: nhs.to_owned(),
        error: err("p_nhs_number"),
        choices: vec![],
    };
    let purpose = Input {
        id: "purpose".into(),
        label: "Why are you looking for this patient?".into(),
        hint: None,
        required: true,
        widget: "radios",
        value: purpose.to_owned(),
        error: err("purpose"),
        choices: PURPOSES
            .iter()
            .map(|(v, l)| Choice { value: (*v).to_owned(), label: (*l).to_owned(), selected: *v == purpose })
            .collect(),
    };
    let purpose_detail = Input {
        id: "purpose_detail".into(),
        label: "Details of the purpose".into(),
        hint: Some(
            "Optional. For example, the clinic, audit or request this search is for. It is kept with the \
                 search in the audit log, so do not include the patient's NHS number or name."
                .into(),
        ),
        required: false,
        widget: "text",
        value: detail.to_owned(),
        error: err("purpose_detail"),
        choices: vec![],
    };
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = SearchPage {
        l: Layout::new("Find a patient", &caller.ctx),
        errors,
        registry: registry.to_string(),
        nhs_number,
        purpose,
        purpose_detail,
        searched,
        patient,
        results,
        link_purpose,
    };
    (status, render(&page)).into_response()
}

async fn search_page(
    caller: Caller,
    Path(registry): Path<String>,
    Query(q): Query<ReadQuery>,
) -> Result<Response, WebError> {
    let registry = registry_id(&registry)?;
    caller.grants.records_read(&registry)?;
    // A purpose stated on the way here is chosen already; the search still records its own.
    let purpose = carried(q.purpose());
    Ok(search_view(&caller, &registry, ("", &purpose, ""), vec![], false, vec![], vec![]))
}

#[derive(Deserialize)]
struct SearchForm {
    #[serde(default)]
    p_nhs_number: String,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    purpose_detail: String,
}

async fn search(
    caller: Caller,
    State(state): State<AppState>,
    Path(registry): Path<String>,
    CsrfForm(form, _): CsrfForm<SearchForm>,
) -> Result<Response, WebError> {
    let registry = registry_id(&registry)?;
    let inputs = (form.p_nhs_number.as_str(), form.purpose.as_str(), form.purpose_detail.as_str());
    match find(&state, &caller.grants, &registry, &form.p_nhs_number, &form.purpose, &form.purpose_detail).await? {
        Found::Invalid(errors) => Ok(search_view(&caller, &registry, inputs, errors, false, vec![], vec![])),
        Found::NoMatch => Ok(search_view(&caller, &registry, inputs, vec![], true, vec![], vec![])),
        Found::Patient(patient, records) => {
            let (_, dict) = dictionary(&state, &registry).await?;
            Ok(search_view(&caller, &registry, inputs, vec![], true, patient_lines(&patient), rows(&dict, &records)))
        }
    }
}

fn scope_text(orgs: &OrgSet) -> String {
    match orgs {
        OrgSet::All => "all organisations".into(),
        OrgSet::Only(set) => set.iter().map(|o| o.as_str()).collect::<Vec<_>>().join(", "),
    }
}

async fn list_page(
    caller: Caller,
    _fresh: StepUp,
    State(state): State<AppState>,
    Path(registry): Path<String>,
    Query(q): Query<ReadQuery>,
) -> Result<Response, WebError> {
    let registry = registry_id(&registry)?;
    let read = caller.grants.records_read(&registry)?;
    let Some(purpose) = q.purpose() else {
        return Ok(purpose_page(&caller, &registry, format!("/registries/{registry}/records"), &q, None));
    };
    let page = q.page.unwrap_or(1).clamp(1, 1_000_000);
    let (list, more) = state
        .accounts()
        .store()
        .list_records(&read, (page - 1) * u64::from(PAGE_SIZE), PAGE_SIZE)
        .await
        .map_err(|e| WebError::Internal(e.into()))?;
    let (_, dict) = dictionary(&state, &registry).await?;
    tracing::info!(user = %caller.grants.principal().user_id(), registry = %registry, page, "records listed");
    audit(&state, caller.grants.principal(), "records.list", &registry, None, purpose.code().to_owned()).await?;
    let view = ListPage {
        l: Layout::new("Records", &caller.ctx),
        registry: registry.to_string(),
        scope: scope_text(read.orgs()),
        rows: rows(&dict, &list),
        page,
        previous: (page > 1).then(|| page - 1),
        next: more.then(|| page + 1),
        can_enter: caller.grants.write_orgs(&registry).is_ok(),
        link_purpose: purpose.code().to_owned(),
    };
    Ok(render(&view))
}

async fn list_csv(
    caller: Caller,
    _fresh: StepUp,
    State(state): State<AppState>,
    Path(registry): Path<String>,
    Query(q): Query<ReadQuery>,
) -> Result<Response, WebError> {
    let registry = registry_id(&registry)?;
    let read = caller.grants.records_read(&registry)?;
    let Some(purpose) = q.purpose() else {
        return Ok(purpose_page(&caller, &registry, format!("/registries/{registry}/records.csv"), &q, None));
    };
    let (list, _) =
        state.accounts().store().list_records(&read, 0, MAX_ROWS).await.map_err(|e| WebError::Internal(e.into()))?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let write = |out: &mut csv::Writer<Vec<u8>>, row: [&str; 6]| {
        out.write_record(row).map_err(|e| WebError::Internal(e.into()))
    };
    write(&mut out, ["record_id", "patient_ref", "organisation", "form", "entered_at", "revision"])?;
    for r in &list {
        let (id, patient, entered, revision) =
            (r.id.to_string(), patient_ref(r.patient_id), time_text(r.created_at), r.revision.to_string());
        write(&mut out, [&id, &patient, &r.organisation, &r.form, &entered, &revision])?;
    }
    let body = out.into_inner().map_err(|e| WebError::Internal(anyhow::anyhow!("csv: {e}")))?;
    tracing::info!(user = %caller.grants.principal().user_id(), registry = %registry, rows = list.len(), "records downloaded");
    audit(&state, caller.grants.principal(), "records.download", &registry, None, purpose.code().to_owned()).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"records-{registry}.csv\"")),
        ],
        body,
    )
        .into_response())
}

// ----- API -----

/// One problem with one field of an API body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiProblem {
    /// `patient.nhs_number`, `values.hp_side`, `organisation`, `form`, `reason`, `purpose`, …
    field: String,
    /// What is wrong, in plain English (never the value).
    message: String,
}

/// Every problem with a body (422).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiProblems {
    /// The problems, in the order found.
    errors: Vec<ApiProblem>,
}

fn api_field(id: &str) -> String {
    if let Some(n) = id.strip_prefix("p_") {
        format!("patient.{n}")
    } else if let Some(n) = id.strip_prefix("f_") {
        format!("values.{n}")
    } else {
        id.to_owned()
    }
}

/// What an API call answers when it fails: JSON, and nothing about what exists.
pub enum ApiError {
    /// A page error, as JSON (404, 403, 500).
    Web(WebError),
    /// Every problem with the body (422).
    Invalid(Vec<Problem>),
    /// Any other refusal, with its sentence.
    Status(StatusCode, &'static str),
}

impl From<WebError> for ApiError {
    fn from(e: WebError) -> Self {
        ApiError::Web(e)
    }
}

impl From<tessera_domain::access::Denied> for ApiError {
    fn from(_: tessera_domain::access::Denied) -> Self {
        ApiError::Web(WebError::NotFound)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::Invalid(problems) => {
                let errors = problems
                    .into_iter()
                    .map(|p| ApiProblem { field: api_field(&p.field), message: p.message })
                    .collect();
                return (StatusCode::UNPROCESSABLE_ENTITY, Json(ApiProblems { errors })).into_response();
            }
            ApiError::Status(status, message) => (status, message),
            ApiError::Web(WebError::NotFound) => (StatusCode::NOT_FOUND, "not found"),
            ApiError::Web(WebError::Forbidden) => (StatusCode::FORBIDDEN, "your access does not allow this"),
            ApiError::Web(WebError::Csrf | WebError::BadForm) => {
                (StatusCode::BAD_REQUEST, "the request could not be read")
            }
            ApiError::Web(WebError::Internal(e)) => {
                tracing::error!(error = %e, "request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "there is a problem with the service; try again later")
            }
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

/// Reads a JSON body. Requires `Content-Type: application/json` (which no cross-site form can
/// send), and answers a body that does not fit with one sentence that repeats none of it.
pub(crate) fn json_body<T: DeserializeOwned>(headers: &HeaderMap, body: &Bytes) -> Result<T, ApiError> {
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
    serde_json::from_slice(body)
        .map_err(|_| ApiError::Status(StatusCode::BAD_REQUEST, "the body is not JSON of the documented shape"))
}

/// JSON values as the text the dictionary parses: strings as they are, numbers as written,
/// booleans as true/false; null means no value.
fn value_texts(values: &serde_json::Map<String, serde_json::Value>) -> (Vec<(String, String)>, Vec<Problem>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (k, v) in values {
        match v {
            serde_json::Value::Null => {}
            serde_json::Value::String(s) => out.push((k.clone(), s.clone())),
            serde_json::Value::Number(n) => out.push((k.clone(), n.to_string())),
            serde_json::Value::Bool(b) => out.push((k.clone(), b.to_string())),
            _ => problems.push(Problem {
                field: format!("f_{k}"),
                message: format!("{k} must be text, a number, true or false"),
            }),
        }
    }
    (out, problems)
}

/// The patient of a new record. Dates are `YYYY-MM-DD`; sex `M`, `F`, `I` or `U`; consent
/// `given`, `refused` or `not_recorded`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ApiPatientIn {
    #[serde(default)]
    nhs_number: String,
    #[serde(default)]
    family_name: String,
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    date_of_birth: String,
    #[serde(default)]
    sex: String,
    #[serde(default)]
    postcode: String,
    #[serde(default)]
    date_of_death: String,
    /// `yes` or `no`; leave out if not known.
    #[serde(default)]
    opted_out: String,
    #[serde(default)]
    consent: String,
}

/// A new record: its organisation (ODS code), form, patient and values by field name.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ApiNewRecord {
    organisation: String,
    form: String,
    patient: ApiPatientIn,
    /// Field name → value (text, number or boolean) of the registry's current dictionary.
    #[schema(value_type = Object)]
    #[serde(default)]
    values: serde_json::Map<String, serde_json::Value>,
}

/// A record just written.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiSaved {
    /// The record's id.
    id: String,
    /// The revision written (1 for a new record).
    revision: u32,
}

/// Enters a record for one of the caller's organisations: the patient is found by NHS number or
/// created, in the same transaction. 422 lists every problem.
#[utoipa::path(post, path = "/api/v1/registries/{registry}/records", request_body = ApiNewRecord,
    params(("registry" = String, Path, description = "Registry id, e.g. njr")),
    responses((status = 201, body = ApiSaved), (status = 401, description = "no session or token"),
        (status = 403, description = "not allowed to write for that organisation"), (status = 404, description = "no access to the registry"),
        (status = 422, body = ApiProblems)))]
pub async fn api_create(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(registry): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let registry = registry_id(&registry)?;
    caller.grants.write_orgs(&registry)?;
    let b: ApiNewRecord = json_body(&headers, &body)?;
    let (values, bad) = value_texts(&b.values);
    if !bad.is_empty() {
        return Err(ApiError::Invalid(bad));
    }
    let p = b.patient;
    let patient = HashMap::from([
        ("nhs_number".to_owned(), p.nhs_number),
        ("family_name".to_owned(), p.family_name),
        ("given_name".to_owned(), p.given_name),
        ("date_of_birth".to_owned(), p.date_of_birth),
        ("sex".to_owned(), p.sex),
        ("postcode".to_owned(), p.postcode),
        ("date_of_death".to_owned(), p.date_of_death),
        ("opted_out".to_owned(), p.opted_out),
        ("consent".to_owned(), p.consent),
    ]);
    let entry = EntryText { organisation: b.organisation, form: b.form, patient, values };
    match enter(&state, &caller.grants, &registry, &entry).await? {
        Saved::Done(id) => Ok((
            StatusCode::CREATED,
            [(header::LOCATION, format!("/api/v1/registries/{registry}/records/{id}"))],
            Json(ApiSaved { id: id.to_string(), revision: 1 }),
        )
            .into_response()),
        Saved::Invalid(problems) => Err(ApiError::Invalid(problems)),
    }
}

/// A patient's details.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiPatientOut {
    /// Pseudonymous reference (the same as in lists).
    reference: String,
    /// Whether the registry holds the patient's identifiers (no: recorded without consent).
    identified: bool,
    nhs_number: Option<String>,
    family_name: Option<String>,
    given_name: Option<String>,
    date_of_birth: Option<String>,
    postcode: Option<String>,
    sex: String,
    date_of_death: Option<String>,
    opted_out: bool,
    consent: String,
}

fn patient_out(id: Uuid, p: &Patient) -> ApiPatientOut {
    let ids = p.identifiers();
    ApiPatientOut {
        reference: patient_ref(id),
        identified: ids.is_some(),
        nhs_number: ids.map(|i| i.nhs_number().digits()),
        family_name: ids.map(|i| i.family_name().to_owned()),
        given_name: ids.map(|i| i.given_name().to_owned()),
        date_of_birth: ids.map(|i| i.date_of_birth().to_string()),
        postcode: ids.map(|i| i.postcode().as_str().to_owned()),
        sex: p.sex().code().to_owned(),
        date_of_death: p.date_of_death().map(|d| d.to_string()),
        opted_out: p.opted_out(),
        consent: p.consent().code().to_owned(),
    }
}

/// One revision.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiRevision {
    revision: u32,
    dictionary_version: u32,
    /// Why it was corrected (none for the original).
    reason: Option<String>,
    /// RFC 3339.
    created_at: String,
    /// Field name → canonical text.
    values: BTreeMap<String, String>,
}

fn revision_out(r: &Revision) -> ApiRevision {
    ApiRevision {
        revision: r.revision,
        dictionary_version: r.dictionary_version,
        reason: r.reason.clone(),
        created_at: r.created_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        values: r.values.iter().cloned().collect(),
    }
}

/// An implanted component.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiImplant {
    gtin: String,
    lot: Option<String>,
    serial: Option<String>,
    expiry: Option<String>,
    entry: String,
}

/// A record: its current revision, every revision, its patient and implants.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiRecord {
    id: String,
    registry: String,
    organisation: String,
    form: String,
    current: ApiRevision,
    /// Oldest first.
    history: Vec<ApiRevision>,
    patient: ApiPatientOut,
    implants: Vec<ApiImplant>,
}

/// Why identifiable data is read (API): the purpose code, required.
#[derive(Deserialize)]
pub struct ApiPurposeQuery {
    #[serde(default)]
    purpose: Option<String>,
}

/// One record, if the caller may read it (404 alike for absent and out of reach), with the
/// stated purpose, which goes to the audit log with the read (422 naming `purpose` without one).
#[utoipa::path(get, path = "/api/v1/registries/{registry}/records/{id}",
    params(("registry" = String, Path, description = "Registry id"), ("id" = String, Path, description = "Record id"),
        ("purpose" = String, Query, description = "Why the record is read: direct_care, clinical_audit, data_quality, recall_safety or subject_access")),
    responses((status = 200, body = ApiRecord), (status = 401, description = "no session or token"), (status = 404, description = "not found"),
        (status = 422, body = ApiProblems, description = "no purpose, or not one of the codes")))]
pub async fn api_get(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path((registry, id)): Path<(String, String)>,
    Query(q): Query<ApiPurposeQuery>,
) -> Result<Json<ApiRecord>, ApiError> {
    let registry = registry_id(&registry)?;
    let id = record_id(&id)?;
    let read = caller.grants.records_read(&registry)?;
    // Out of reach is 404 whether or not a purpose is given; within reach, no purpose, no data.
    let purpose = match api_purpose(q.purpose.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            load(&state, &read, id, None).await?;
            return Err(e);
        }
    };
    let Loaded { record, history, patient, implants, .. } =
        load(&state, &read, id, Some(purpose)).await?.ok_or(WebError::NotFound)?;
    Ok(Json(ApiRecord {
        id: id.to_string(),
        registry: record.registry.clone(),
        organisation: record.organisation.clone(),
        form: record.form.clone(),
        current: revision_out(&record.current),
        history: history.iter().map(revision_out).collect(),
        patient: patient_out(record.patient_id, &patient),
        implants: implants
            .into_iter()
            .map(|i| ApiImplant {
                gtin: i.gtin,
                lot: i.lot,
                serial: i.serial,
                expiry: i.expiry.map(|d| d.to_string()),
                entry: i.entry.to_owned(),
            })
            .collect(),
    }))
}

/// A correction: the whole set of values of the new revision, and why.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ApiCorrection {
    /// Field name → value, as for a new record.
    #[schema(value_type = Object)]
    #[serde(default)]
    values: serde_json::Map<String, serde_json::Value>,
    /// Why the record is corrected.
    #[serde(default)]
    reason: String,
}

/// Corrects a record: a new revision under the registry's current dictionary, with a reason.
#[utoipa::path(post, path = "/api/v1/registries/{registry}/records/{id}/revisions", request_body = ApiCorrection,
    params(("registry" = String, Path, description = "Registry id"), ("id" = String, Path, description = "Record id")),
    responses((status = 201, body = ApiSaved), (status = 401, description = "no session or token"),
        (status = 403, description = "may read but not correct it"), (status = 404, description = "not found"),
        (status = 422, body = ApiProblems)))]
pub async fn api_correct(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path((registry, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let registry = registry_id(&registry)?;
    let id = record_id(&id)?;
    caller.grants.records_read(&registry)?;
    let b: ApiCorrection = json_body(&headers, &body)?;
    let (values, bad) = value_texts(&b.values);
    if !bad.is_empty() {
        return Err(ApiError::Invalid(bad));
    }
    match amend(&state, &caller.grants, &registry, id, &values, &b.reason).await? {
        Saved::Done(revision) => {
            Ok((StatusCode::CREATED, Json(ApiSaved { id: id.to_string(), revision })).into_response())
        }
        Saved::Invalid(problems) => Err(ApiError::Invalid(problems)),
    }
}

/// One record in a list: no identifiers.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiSummary {
    id: String,
    /// Pseudonymous patient reference.
    patient: String,
    organisation: String,
    form: String,
    /// RFC 3339.
    created_at: String,
    revision: u32,
}

fn summary_out(r: &RecordSummary) -> ApiSummary {
    ApiSummary {
        id: r.id.to_string(),
        patient: patient_ref(r.patient_id),
        organisation: r.organisation.clone(),
        form: r.form.clone(),
        created_at: r.created_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        revision: r.revision,
    }
}

/// One page of records.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiList {
    records: Vec<ApiSummary>,
    /// The next page's number, if there is one.
    next_page: Option<u64>,
}

/// Which page of a list, how long, and why it is read.
#[derive(Deserialize)]
pub struct ApiPageQuery {
    #[serde(default)]
    page: Option<u64>,
    #[serde(default)]
    per_page: Option<u32>,
    #[serde(default)]
    purpose: Option<String>,
}

/// The records of the caller's organisations, newest first, with pseudonymous patient
/// references, and the stated purpose, which goes to the audit log with the read (422 naming
/// `purpose` without one). A person (session) needs step-up within the last 5 minutes, as for
/// the page; an API token does not.
#[utoipa::path(get, path = "/api/v1/registries/{registry}/records",
    params(("registry" = String, Path, description = "Registry id"), ("page" = Option<u64>, Query, description = "from 1"),
        ("per_page" = Option<u32>, Query, description = "1 to 1000, default 100"),
        ("purpose" = String, Query, description = "Why the records are read: direct_care, clinical_audit, data_quality, recall_safety or subject_access")),
    responses((status = 200, body = ApiList), (status = 401, description = "no session or token"),
        (status = 403, description = "a session must step up first"), (status = 404, description = "no access to the registry"),
        (status = 422, body = ApiProblems, description = "no purpose, or not one of the codes")))]
pub async fn api_list(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(registry): Path<String>,
    Query(q): Query<ApiPageQuery>,
) -> Result<Json<ApiList>, ApiError> {
    let registry = registry_id(&registry)?;
    let read = caller.grants.records_read(&registry)?;
    if let Some(session) = &caller.session
        && !state.accounts().has_recent_mfa(session)
    {
        return Err(ApiError::Status(
            StatusCode::FORBIDDEN,
            "lists need a second factor within the last 5 minutes: step up in the browser first",
        ));
    }
    let purpose = api_purpose(q.purpose.as_deref())?;
    let per_page = q.per_page.unwrap_or(100).clamp(1, 1000);
    let page = q.page.unwrap_or(1).clamp(1, 10_000_000);
    let (list, more) = state
        .accounts()
        .store()
        .list_records(&read, (page - 1) * u64::from(per_page), per_page)
        .await
        .map_err(|e| WebError::Internal(e.into()))?;
    tracing::info!(user = %caller.grants.principal().user_id(), registry = %registry, page, "records listed");
    audit(&state, caller.grants.principal(), "records.list", &registry, None, purpose.code().to_owned()).await?;
    Ok(Json(ApiList { records: list.iter().map(summary_out).collect(), next_page: more.then(|| page + 1) }))
}

/// A search for a patient: the NHS number, and why.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ApiSearch {
    #[serde(default)]
    nhs_number: String,
    /// `direct_care`, `clinical_audit`, `data_quality`, `recall_safety` or `subject_access`.
    #[serde(default)]
    purpose: String,
    /// Optional details of the purpose.
    #[serde(default)]
    purpose_detail: String,
}

/// What a search found: the same "no match" whether the patient is unknown or has no records
/// at the caller's organisations.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiSearchResult {
    /// Whether the patient has records the caller can read.
    matched: bool,
    patient: Option<ApiPatientOut>,
    records: Vec<ApiSummary>,
}

/// Finds a patient by NHS number (in the body, never the URL) with a stated purpose.
#[utoipa::path(post, path = "/api/v1/registries/{registry}/patients/search", request_body = ApiSearch,
    params(("registry" = String, Path, description = "Registry id")),
    responses((status = 200, body = ApiSearchResult), (status = 401, description = "no session or token"),
        (status = 404, description = "no access to the registry"), (status = 422, body = ApiProblems)))]
pub async fn api_search(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(registry): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ApiSearchResult>, ApiError> {
    let registry = registry_id(&registry)?;
    caller.grants.records_read(&registry)?;
    let b: ApiSearch = json_body(&headers, &body)?;
    match find(&state, &caller.grants, &registry, &b.nhs_number, &b.purpose, &b.purpose_detail).await? {
        Found::Invalid(problems) => Err(ApiError::Invalid(problems)),
        Found::NoMatch => Ok(Json(ApiSearchResult { matched: false, patient: None, records: vec![] })),
        Found::Patient(patient, records) => {
            let id = records.first().map(|r| r.patient_id).unwrap_or_default();
            Ok(Json(ApiSearchResult {
                matched: true,
                patient: Some(patient_out(id, &patient)),
                records: records.iter().map(summary_out).collect(),
            }))
        }
    }
}
