//! The audit pages' templates (`audit_*.html`, `account_sign_ins.html`) and the rows that fill
//! them. Handlers in `audit_pages.rs` fill these with text already formatted.

use askama::Template;

use crate::views::{FieldError, Layout};

/// One event of a registry's log as shown.
pub struct EventRow {
    /// Sequence number.
    pub seq: u64,
    /// When (UTC).
    pub time: String,
    /// Who: a name and address, a token, or "System".
    pub who: String,
    /// The actor as stored (`user:<id>`), shown under the name.
    pub actor: String,
    /// The action.
    pub action: String,
    /// The organisation, or empty.
    pub organisation: String,
    /// The pseudonymous target as stored, or empty.
    pub target: String,
    /// The purpose, or empty.
    pub purpose: String,
    /// Success, Failure or Denied.
    pub outcome: String,
    /// The client, or empty.
    pub client: String,
}

#[derive(Template)]
#[template(path = "audit_log.html")]
/// `/registries/{registry}/audit`: the registry's log with its filters.
pub struct AuditLogPage {
    /// Layout.
    pub l: Layout,
    /// Problems with the filters.
    pub errors: Vec<FieldError>,
    /// Registry id.
    pub registry: String,
    /// Registry name.
    pub registry_name: String,
    /// The user filter as typed.
    pub user: String,
    /// The action filter as typed.
    pub action: String,
    /// The first day as typed.
    pub from: String,
    /// The last day as typed.
    pub to: String,
    /// Whether any filter is set.
    pub filtered: bool,
    /// The events, newest first.
    pub events: Vec<EventRow>,
    /// The query string of the newer page, if any.
    pub newer: Option<String>,
    /// The query string of the older page, if any.
    pub older: Option<String>,
}

impl AuditLogPage {
    /// The error for `field`, if any.
    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|e| e.field == field).map(|e| e.message.as_str())
    }
}

/// One event about a patient as shown.
pub struct SubjectRow {
    /// When (UTC).
    pub time: String,
    /// Who.
    pub who: String,
    /// The actor as stored.
    pub actor: String,
    /// The action.
    pub action: String,
    /// The organisation, or empty.
    pub organisation: String,
    /// The purpose, or empty.
    pub purpose: String,
    /// Success, Failure or Denied.
    pub outcome: String,
}

#[derive(Template)]
#[template(path = "audit_patient.html")]
/// `/registries/{registry}/audit/patient`: who accessed this patient.
pub struct AuditPatientPage {
    /// Layout.
    pub l: Layout,
    /// Problems with the NHS number.
    pub errors: Vec<FieldError>,
    /// Registry id.
    pub registry: String,
    /// Registry name.
    pub registry_name: String,
    /// The NHS number typed (only ever in this POST's answer, never a URL).
    pub nhs_number: String,
    /// Whether a lookup was made.
    pub looked_up: bool,
    /// The patient's pseudonymous reference, when found.
    pub patient: Option<String>,
    /// The events, oldest first.
    pub events: Vec<SubjectRow>,
    /// Whether more events exist than are shown.
    pub truncated: bool,
}

impl AuditPatientPage {
    /// The error for `field`, if any.
    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|e| e.field == field).map(|e| e.message.as_str())
    }
}

/// One of a person's own sign-in events as shown.
pub struct SignInRow {
    /// When (UTC).
    pub time: String,
    /// What happened, in words.
    pub what: String,
    /// Whether it was a failure or refusal (shown as a tag).
    pub failed: bool,
    /// The address it came from, or empty.
    pub address: String,
}

#[derive(Template)]
#[template(path = "account_sign_ins.html")]
/// `/account/sign-ins`: your recent sign-in activity.
pub struct SignInsPage {
    /// Layout.
    pub l: Layout,
    /// The events, newest first.
    pub events: Vec<SignInRow>,
    /// How many days back the list goes.
    pub days: i64,
    /// The most events shown.
    pub limit: u32,
}
