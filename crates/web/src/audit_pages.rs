//! The audit trail for people (issue 5): a registry's audit log for its controllers and auditors,
//! "who accessed this patient" for subject access requests, and everyone's own recent sign-ins.
//!
//! - `/registries/{registry}/audit`: the registry's events, newest first, keyset-paged on the
//!   sequence number, filtered by person (email address or account id, which also takes in their
//!   API tokens), action (an action or the family below it: `sign_in` keeps `sign_in.failure`)
//!   and UTC dates. Filters are GET parameters: none can hold a patient identifier.
//! - `/registries/{registry}/audit/patient`: a POST form with the NHS number (never in a URL),
//!   behind step-up. It lists every event about that patient of the registry or any of their
//!   records there, oldest first. The lookup opens identifiable data, so its own event
//!   (`audit.subject_access`, purpose `subject_access`) is appended before the answer is
//!   rendered, and the request fails if it cannot be.
//! - `/account/sign-ins`: the signed-in person's own `sign_in.*` and `mfa.*` events of the last
//!   90 days (at most 100), targeted at their account.
//!
//! The registry pages need the [`ReadAudit`] capability (registry-wide controllers and
//! auditors); anyone else gets 404, as for every registry page they cannot open.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tessera_domain::access::ReadAudit;
use tessera_domain::{NhsNumber, RegistryId};
use tessera_store::{
    ActionFilter, ActorName, AuditActor, AuditEntry, AuditFilter, AuditNote, AuditOutcome, AuditPage, StoreError,
};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::AppState;
use crate::audit_views::*;
use crate::caller::Caller;
use crate::error::WebError;
use crate::routes::Routes;
use crate::session::{CsrfForm, SignedIn, StepUp};
use crate::views::{FieldError, Layout, render};

/// Events on one page of a registry's log.
const PAGE_SIZE: u32 = 50;
/// The most events a subject access report shows.
const SUBJECT_LIMIT: u32 = 5_000;
/// How far back one's own sign-ins go, and how many are shown.
const SIGN_IN_DAYS: i64 = 90;
const SIGN_IN_LIMIT: u32 = 100;

/// The audit pages.
pub fn routes() -> Routes {
    Routes::new()
        .get("/registries/{registry}/audit", log_page)
        .get("/registries/{registry}/audit/patient", patient_page)
        .post("/registries/{registry}/audit/patient", patient_report)
        .get("/account/sign-ins", sign_ins_page)
}

fn internal(e: StoreError) -> WebError {
    WebError::Internal(e.into())
}

/// The registry and the capability to read its log: 404 for a registry the caller cannot audit.
fn audit_of(caller: &Caller, raw: &str) -> Result<(RegistryId, ReadAudit), WebError> {
    let registry = RegistryId::parse(raw).map_err(|_| WebError::NotFound)?;
    let read = caller.grants.audit(&registry)?;
    Ok((registry, read))
}

async fn registry_name(state: &AppState, registry: &RegistryId) -> Result<String, WebError> {
    let all = state.accounts().store().registries().await.map_err(internal)?;
    Ok(all.into_iter().find(|r| &r.id == registry).map_or_else(|| registry.to_string(), |r| r.name))
}

fn time_text(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{} {:02}:{:02}:{:02}", t.date(), t.hour(), t.minute(), t.second())
}

fn outcome_text(stored: &str) -> String {
    match stored {
        "success" => "Success".into(),
        "failure" => "Failure".into(),
        "denied" => "Denied".into(),
        other => other.to_owned(),
    }
}

/// Names for the actors of `events`: a person's name and address, a token's label and owner.
async fn who(state: &AppState, events: &[AuditEntry]) -> Result<HashMap<String, String>, WebError> {
    let actors: Vec<&str> = events.iter().map(|e| e.actor.as_str()).collect();
    let names = state.accounts().store().actor_names(&actors).await.map_err(internal)?;
    Ok(names
        .into_iter()
        .map(|(actor, name)| {
            let text = match name {
                ActorName::User { name, email } => format!("{name} ({email})"),
                ActorName::Token { label, owner } => format!("API token \u{201c}{label}\u{201d} of {owner}"),
            };
            (actor, text)
        })
        .collect())
}

fn who_of(names: &HashMap<String, String>, actor: &str) -> String {
    match names.get(actor) {
        Some(n) => n.clone(),
        None if actor == "system" => "System".into(),
        None => actor.to_owned(),
    }
}

// ----- the registry's log -----

/// The log's filters and page, as GET parameters.
#[derive(Debug, Default, Deserialize, Serialize)]
struct LogQuery {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    user: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    action: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    from: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    before: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after: Option<u64>,
}

impl LogQuery {
    /// The query string of the same filters at another page.
    fn at(&self, before: Option<u64>, after: Option<u64>) -> String {
        let q = LogQuery {
            user: self.user.trim().to_owned(),
            action: self.action.trim().to_owned(),
            from: self.from.trim().to_owned(),
            to: self.to.trim().to_owned(),
            before,
            after,
        };
        serde_urlencoded::to_string(&q).unwrap_or_default()
    }

    fn filtered(&self) -> bool {
        [&self.user, &self.action, &self.from, &self.to].iter().any(|s| !s.trim().is_empty())
    }
}

fn parse_day(text: &str) -> Option<Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text.trim(), &format).ok()
}

fn day_start_us(d: Date) -> i64 {
    (d.midnight().assume_utc().unix_timestamp_nanos() / 1_000) as i64
}

/// Turns the typed filters into a store filter, or every problem with them.
async fn filter_of(state: &AppState, q: &LogQuery) -> Result<Result<AuditFilter, Vec<FieldError>>, WebError> {
    let mut errors = Vec::new();
    let mut filter = AuditFilter::default();
    let user = q.user.trim();
    if user.chars().count() > 320 || user.chars().any(char::is_control) {
        errors.push(FieldError::new("user", "Enter an email address or an account id of at most 320 characters"));
    } else if !user.is_empty() {
        let store = state.accounts().store();
        let id = if user.contains('@') {
            store.user_by_email(&user.to_lowercase()).await.map_err(internal)?.map(|u| u.id)
        } else {
            Some(user.strip_prefix("user:").unwrap_or(user).to_owned())
        };
        // An unknown person did nothing: the filter keeps no events (and says no more).
        filter.actors = Some(match id {
            Some(id) => store.actors_of_user(&id).await.map_err(internal)?,
            None => vec![],
        });
    }
    let action = q.action.trim().trim_end_matches('.');
    if action.len() > 64
        || !action.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
    {
        errors.push(FieldError::new(
            "action",
            "Enter an action of lower-case letters, digits, underscores and full stops, such as record.view",
        ));
    } else if !action.is_empty() {
        filter.action = Some(ActionFilter::Family(action.to_owned()));
    }
    let mut day = |field: &'static str, label: &str, text: &str| -> Option<Date> {
        if text.trim().is_empty() {
            return None;
        }
        let d = parse_day(text);
        if d.is_none() {
            errors.push(FieldError::new(field, format!("{label} must be a real date, like 2026-03-27")));
        }
        d
    };
    let from = day("from", "From", &q.from);
    let to = day("to", "To", &q.to);
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        errors.push(FieldError::new("to", "To must be the same as or after From"));
    }
    filter.from_us = from.map(day_start_us);
    filter.until_us = to.and_then(Date::next_day).map(day_start_us);
    Ok(if errors.is_empty() { Ok(filter) } else { Err(errors) })
}

async fn log_page(
    caller: Caller,
    State(state): State<AppState>,
    Path(registry): Path<String>,
    Query(q): Query<LogQuery>,
) -> Result<Response, WebError> {
    let (registry, read) = audit_of(&caller, &registry)?;
    let name = registry_name(&state, &registry).await?;
    let mut page = AuditLogPage {
        l: Layout::new(&format!("Audit log: {name}"), &caller.ctx),
        errors: vec![],
        registry: registry.to_string(),
        registry_name: name,
        user: q.user.clone(),
        action: q.action.clone(),
        from: q.from.clone(),
        to: q.to.clone(),
        filtered: q.filtered(),
        events: vec![],
        newer: None,
        older: None,
    };
    let filter = match filter_of(&state, &q).await? {
        Ok(f) => f,
        Err(errors) => {
            page.errors = errors;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response());
        }
    };
    let at = match (q.before, q.after) {
        (Some(b), _) => AuditPage::Before(b),
        (None, Some(a)) => AuditPage::After(a),
        (None, None) => AuditPage::Newest,
    };
    let listing = state.accounts().store().registry_audit(&read, &filter, at, PAGE_SIZE).await.map_err(internal)?;
    let names = who(&state, &listing.events).await?;
    if let (true, Some(first)) = (listing.newer, listing.events.first()) {
        page.newer = Some(q.at(None, Some(first.seq)));
    }
    if let (true, Some(last)) = (listing.older, listing.events.last()) {
        page.older = Some(q.at(Some(last.seq), None));
    }
    page.events = listing
        .events
        .into_iter()
        .map(|e| EventRow {
            seq: e.seq,
            time: time_text(e.time),
            who: who_of(&names, &e.actor),
            organisation: e.organisation.unwrap_or_default(),
            target: e.target.unwrap_or_default(),
            purpose: e.purpose.unwrap_or_default(),
            outcome: outcome_text(&e.outcome),
            client: e.client.unwrap_or_default(),
            actor: e.actor,
            action: e.action,
        })
        .collect();
    Ok(render(&page))
}

// ----- who accessed this patient -----

fn patient_ref(id: Uuid) -> String {
    let s = id.simple().to_string();
    s[s.len() - 10..].to_owned()
}

fn patient_view(caller: &Caller, registry: &RegistryId, name: String) -> AuditPatientPage {
    AuditPatientPage {
        l: Layout::new("Who accessed a patient's data", &caller.ctx),
        errors: vec![],
        registry: registry.to_string(),
        registry_name: name,
        nhs_number: String::new(),
        looked_up: false,
        patient: None,
        events: vec![],
        truncated: false,
    }
}

/// The form. Step-up is asked for only once the caller is known to audit the registry, so
/// anyone else gets the same 404 as for any page they cannot open.
async fn patient_page(
    caller: Caller,
    fresh: Result<StepUp, Response>,
    State(state): State<AppState>,
    Path(registry): Path<String>,
) -> Result<Response, WebError> {
    let (registry, _) = audit_of(&caller, &registry)?;
    if let Err(step_up) = fresh {
        return Ok(step_up);
    }
    let name = registry_name(&state, &registry).await?;
    Ok(render(&patient_view(&caller, &registry, name)))
}

#[derive(Deserialize)]
struct PatientForm {
    #[serde(default)]
    nhs_number: String,
}

async fn patient_report(
    caller: Caller,
    fresh: Result<StepUp, Response>,
    State(state): State<AppState>,
    Path(registry): Path<String>,
    CsrfForm(form, _): CsrfForm<PatientForm>,
) -> Result<Response, WebError> {
    let (registry, read) = audit_of(&caller, &registry)?;
    if let Err(step_up) = fresh {
        return Ok(step_up);
    }
    let name = registry_name(&state, &registry).await?;
    let mut page = patient_view(&caller, &registry, name);
    page.nhs_number = form.nhs_number.clone();
    let nhs = match NhsNumber::parse(&form.nhs_number) {
        Ok(n) => n,
        Err(e) => {
            // The rule broken, never the value typed.
            let mut message = if form.nhs_number.trim().is_empty() {
                "Enter the patient's NHS number".to_owned()
            } else {
                e.to_string()
            };
            message[..1].make_ascii_uppercase();
            page.errors.push(FieldError::new("nhs_number", message));
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response());
        }
    };
    let master = state.vault().ok_or(WebError::NotFound)?;
    let store = state.accounts().store();
    let (_, cipher) = store.registry_cipher(&registry, master).await.map_err(|e| match e {
        StoreError::NotFound(_) => WebError::NotFound,
        e => internal(e),
    })?;
    let patient = store.find_patient(&cipher, &nhs).await.map_err(internal)?;
    let found = match patient {
        Some(id) => Some((id, store.patient_audit(&read, id, SUBJECT_LIMIT).await.map_err(internal)?)),
        None => None,
    };
    // The lookup itself goes to the log before anything is shown; if it cannot, nothing is.
    let mut note = AuditNote::new(
        AuditActor::User(caller.session.user_id().to_owned()),
        "audit.subject_access",
        AuditOutcome::Success,
    )
    .registry(registry.as_str())
    .purpose("subject_access")
    .client("web");
    if let Some((id, _)) = &found {
        note = note.target(format!("patient:{id}"));
    }
    store.audit_append(&[note]).await.map_err(internal)?;
    tracing::info!(
        user = %caller.session.user_id(), registry = %registry, matched = found.is_some(), "subject access lookup"
    );
    page.looked_up = true;
    if let Some((id, (events, truncated))) = found {
        let names = who(&state, &events).await?;
        page.patient = Some(patient_ref(id));
        page.truncated = truncated;
        page.events = events
            .into_iter()
            .map(|e| SubjectRow {
                time: time_text(e.time),
                who: who_of(&names, &e.actor),
                organisation: e.organisation.unwrap_or_default(),
                purpose: e.purpose.unwrap_or_default(),
                outcome: outcome_text(&e.outcome),
                actor: e.actor,
                action: e.action,
            })
            .collect();
    }
    Ok(render(&page))
}

// ----- one's own sign-ins -----

fn sign_in_text(action: &str) -> (String, bool) {
    let (text, failed) = match action {
        "sign_in.success" => ("Signed in with your password", false),
        "sign_in.failure" => ("Sign-in refused: wrong email address or password", true),
        "sign_in.lockout" => ("Account locked after too many failed sign-ins", true),
        "sign_in.refused" => ("Sign-in refused: the account was suspended or dormant", true),
        "mfa.success" => ("Second factor accepted", false),
        "mfa.failure" => ("Second factor refused", true),
        "mfa.enrol" => ("Sign-in method added", false),
        "mfa.revoke" => ("Sign-in method removed", false),
        "mfa.recovery_codes" => ("New recovery codes made", false),
        other => return (other.to_owned(), other.ends_with(".failure")),
    };
    (text.to_owned(), failed)
}

async fn sign_ins_page(SignedIn(session, ctx): SignedIn, State(state): State<AppState>) -> Result<Response, WebError> {
    let since_us = (state.accounts().clock().now() - SIGN_IN_DAYS * 86_400).saturating_mul(1_000_000);
    let events = state
        .accounts()
        .store()
        .sign_in_activity(session.user_id(), since_us, SIGN_IN_LIMIT)
        .await
        .map_err(internal)?;
    let events = events
        .into_iter()
        .map(|e| {
            let (mut what, failed) = sign_in_text(&e.action);
            // Which method was added or removed ("passkey", "authenticator app").
            if let Some(p) = e.purpose.as_deref().filter(|_| e.action == "mfa.enrol" || e.action == "mfa.revoke") {
                what = format!("{what} ({p})");
            }
            SignInRow {
                time: time_text(e.time),
                what,
                failed: failed || e.outcome != "success",
                address: e.client.unwrap_or_default(),
            }
        })
        .collect();
    Ok(render(&SignInsPage {
        l: Layout::new("Your recent sign-ins", &ctx),
        events,
        days: SIGN_IN_DAYS,
        limit: SIGN_IN_LIMIT,
    }))
}
