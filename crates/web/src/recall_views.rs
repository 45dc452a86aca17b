//! The recall pages' and the implant capture page's templates (`recall_*.html`,
//! `components_*.html`) and the rows that fill them. Handlers in `recalls.rs` and
//! `components.rs` fill these with text already formatted.

use askama::Template;

use crate::record_views::{Choice, Problem};
use crate::views::Layout;

/// One recall in the list.
pub struct RecallItem {
    /// Id.
    pub id: String,
    /// The regulator's reference.
    pub reference: String,
    /// Title.
    pub title: String,
    /// Manufacturer.
    pub manufacturer: String,
    /// `Open` or `Closed`.
    pub status: String,
    /// When it was created (UTC).
    pub created: String,
}

#[derive(Template)]
#[template(path = "recall_list.html")]
/// `/recalls`: every recall, open first.
pub struct RecallListPage {
    /// Layout.
    pub l: Layout,
    /// A notice (after closing one).
    pub notice: Option<String>,
    /// Whether the caller may create recalls.
    pub can_create: bool,
    /// The recalls.
    pub recalls: Vec<RecallItem>,
}

/// One input of the new recall form.
pub struct RecallInputView {
    /// Id and name.
    pub id: &'static str,
    /// Label.
    pub label: &'static str,
    /// Hint.
    pub hint: &'static str,
    /// `text`, `textarea` or `date`.
    pub widget: &'static str,
    /// Whether required.
    pub required: bool,
    /// The value typed.
    pub value: String,
    /// The problem with it.
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "recall_new.html")]
/// `/recalls/new`: the new recall form, with every problem in the error summary.
pub struct RecallNewPage {
    /// Layout.
    pub l: Layout,
    /// Every problem.
    pub errors: Vec<Problem>,
    /// Reference, title, manufacturer.
    pub header: Vec<RecallInputView>,
    /// GTINs, lots, serials, organisations.
    pub sets: Vec<RecallInputView>,
    /// The date ranges' inputs, in pairs: (legend, from, to).
    pub ranges: Vec<(&'static str, RecallInputView, RecallInputView)>,
}

/// One organisation's row on the dashboard.
pub struct OrgRow {
    /// Registry id.
    pub registry: String,
    /// ODS code.
    pub organisation: String,
    /// Whether the counts below are known (a person who only reads records sees links only).
    pub counted: bool,
    /// Matching implants.
    pub total: u64,
    /// Still implanted (not revised).
    pub implanted: u64,
    /// Revised since.
    pub revised: u64,
    /// Patients who have died.
    pub deceased: u64,
    /// Patients with a national data opt-out (never removed from a recall).
    pub opted_out: u64,
    /// Follow-up so far: (label, count), the statuses with any.
    pub by_status: Vec<(String, u64)>,
    /// Implants recorded since the organisation last opened its worklist.
    pub new_since_seen: u64,
    /// Whether the caller may open this organisation's worklist.
    pub worklist: bool,
}

#[derive(Template)]
#[template(path = "recall_dashboard.html")]
/// `/recalls/{id}`: the recall, national and per-organisation counts, and links to the
/// caller's own organisations' worklists.
pub struct RecallDashboardPage {
    /// Layout.
    pub l: Layout,
    /// Recall id.
    pub id: String,
    /// Reference.
    pub reference: String,
    /// Title.
    pub title: String,
    /// Manufacturer.
    pub manufacturer: String,
    /// `Open` or `Closed`.
    pub status: String,
    /// Whether it is open.
    pub open: bool,
    /// The criteria as (label, value) lines.
    pub criteria: Vec<(String, String)>,
    /// National counts as (label, value) lines (RunRecalls holders only).
    pub national: Vec<(String, String)>,
    /// Whether national counts are shown.
    pub shows_national: bool,
    /// Per-organisation rows over the caller's reach.
    pub orgs: Vec<OrgRow>,
    /// Whether the caller may close the recall.
    pub can_close: bool,
}

/// One follow-up event in a row's history.
pub struct HistoryLine {
    /// Status label.
    pub status: String,
    /// Note, or empty.
    pub note: String,
    /// Who (account id).
    pub by: String,
    /// When (UTC).
    pub at: String,
}

/// One patient's implant on the worklist.
pub struct WorklistItem {
    /// Implant id.
    pub implant: String,
    /// Pseudonymous patient reference.
    pub patient: String,
    /// NHS number, or empty (recorded without identifiers).
    pub nhs_number: String,
    /// Family and given names, or "Not held".
    pub name: String,
    /// Date of birth, or empty.
    pub date_of_birth: String,
    /// GTIN.
    pub gtin: String,
    /// Lot, or empty.
    pub lot: String,
    /// Serial, or empty.
    pub serial: String,
    /// Date implanted, or empty.
    pub implanted_on: String,
    /// Date revised, or empty.
    pub revised_on: String,
    /// Date of death, or empty.
    pub deceased_on: String,
    /// Whether the patient has a national data opt-out.
    pub opted_out: bool,
    /// Current follow-up status label.
    pub status: String,
    /// When the status was set, or empty.
    pub status_at: String,
    /// Whether the implant was recorded after the recall was opened.
    pub joined_after_opening: bool,
    /// Status choices for the form.
    pub choices: Vec<Choice>,
    /// Earlier statuses, oldest first.
    pub history: Vec<HistoryLine>,
}

#[derive(Template)]
#[template(path = "recall_worklist.html")]
/// `/recalls/{id}/registries/{registry}/organisations/{org}`: the organisation's patients with
/// a matching implant, their follow-up status and a form to record the next step.
pub struct WorklistPage {
    /// Layout.
    pub l: Layout,
    /// A notice (after recording a status).
    pub notice: Option<String>,
    /// Problems with a follow-up just posted.
    pub errors: Vec<Problem>,
    /// Recall id.
    pub id: String,
    /// Reference.
    pub reference: String,
    /// Title.
    pub title: String,
    /// Registry id.
    pub registry: String,
    /// ODS code.
    pub organisation: String,
    /// The rows.
    pub rows: Vec<WorklistItem>,
    /// The purpose code the page's links and forms carry on.
    pub purpose: String,
}

/// One open recall a scanned unit matches.
pub struct MatchedRecall {
    /// Recall id.
    pub id: String,
    /// Reference.
    pub reference: String,
    /// Title.
    pub title: String,
}

/// One implant already on the record.
pub struct ComponentRow {
    /// GTIN.
    pub gtin: String,
    /// Product (brand and model) if the catalogue knows it.
    pub product: String,
    /// Lot.
    pub lot: String,
    /// Serial.
    pub serial: String,
    /// Expiry.
    pub expiry: String,
    /// `scanned`, `manual` or `synthetic`.
    pub entry: String,
}

#[derive(Template)]
#[template(path = "components_capture.html")]
/// `/registries/{registry}/records/{id}/components`: scan or type an implanted component.
pub struct CapturePage {
    /// Layout.
    pub l: Layout,
    /// Every problem.
    pub errors: Vec<Problem>,
    /// A notice after saving.
    pub notice: Option<String>,
    /// Open recalls the unit just saved matches (the warning callout).
    pub recalls: Vec<MatchedRecall>,
    /// Whether the unit's GTIN was unknown and queued for review.
    pub unknown_gtin: bool,
    /// Registry id.
    pub registry: String,
    /// Record id.
    pub record: String,
    /// Organisation of the record.
    pub organisation: String,
    /// The scan as typed (kept when it could not be read).
    pub scan: String,
    /// Manual fields as typed: gtin, lot, serial, expiry, manufactured.
    pub gtin: String,
    /// Lot.
    pub lot: String,
    /// Serial.
    pub serial: String,
    /// Expiry (YYYY-MM-DD).
    pub expiry: String,
    /// Production date (YYYY-MM-DD).
    pub manufactured: String,
    /// The record's implants so far.
    pub components: Vec<ComponentRow>,
}

impl CapturePage {
    /// The problem with input `id`, if any.
    pub fn error(&self, id: &str) -> Option<&str> {
        self.errors.iter().find(|p| p.field == id).map(|p| p.message.as_str())
    }
}
