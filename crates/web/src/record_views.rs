//! The record pages' templates and the view models that fill them: forms generated from a
//! registry's dictionary (one input per field, by type), the NHS.UK error summary linked to each
//! field, a record with its revisions, patient and implants, search results and lists.

use askama::Template;
use tessera_domain::{Dictionary, FieldKind, Form};

use crate::views::Layout;

/// One problem in the error summary, linked to its input by id.
#[derive(Debug, Clone)]
pub struct Problem {
    /// The input's id (`f_hp_side`, `p_nhs_number`, `organisation`, …).
    pub field: String,
    /// The whole sentence shown ("Side is required").
    pub message: String,
}

/// One choice of a select or radio group.
#[derive(Debug, Clone)]
pub struct Choice {
    /// The value posted.
    pub value: String,
    /// What people read.
    pub label: String,
    /// Whether it is the current value.
    pub selected: bool,
}

/// One input of a generated form.
#[derive(Debug, Clone)]
pub struct Input {
    /// The input's id and name.
    pub id: String,
    /// Its label.
    pub label: String,
    /// Help text, if any.
    pub hint: Option<String>,
    /// Whether a value is required.
    pub required: bool,
    /// `text`, `integer`, `decimal`, `date`, `radios` or `select`.
    pub widget: &'static str,
    /// The value typed (kept when the form comes back with errors).
    pub value: String,
    /// The problem with it, if any.
    pub error: Option<String>,
    /// Choices, for radios and selects.
    pub choices: Vec<Choice>,
}

impl Input {
    fn new(id: String, label: &str, widget: &'static str, required: bool) -> Self {
        Input {
            id,
            label: label.to_owned(),
            hint: None,
            required,
            widget,
            value: String::new(),
            error: None,
            choices: vec![],
        }
    }

    fn with_choices(mut self, choices: &[(&str, &str)]) -> Self {
        self.choices = choices
            .iter()
            .map(|(v, l)| Choice { value: (*v).to_owned(), label: (*l).to_owned(), selected: false })
            .collect();
        self
    }

    fn hint(mut self, hint: &str) -> Self {
        self.hint = Some(hint.to_owned());
        self
    }

    /// Sets the value (and the matching choice), and the problem from `problems` if any.
    fn fill(mut self, value: Option<&str>, problems: &[Problem]) -> Self {
        let value = value.unwrap_or_default().to_owned();
        for c in &mut self.choices {
            c.selected = c.value == value;
        }
        self.value = value;
        self.error = problems.iter().find(|p| p.field == self.id).map(|p| p.message.clone());
        self
    }
}

/// The patient inputs, named as the import file's columns with a `p_` prefix.
pub const PATIENT_FIELDS: [(&str, &str); 9] = [
    ("nhs_number", "NHS number"),
    ("family_name", "Family name"),
    ("given_name", "Given name"),
    ("date_of_birth", "Date of birth"),
    ("sex", "Sex"),
    ("postcode", "Postcode"),
    ("date_of_death", "Date of death"),
    ("opted_out", "National data opt-out"),
    ("consent", "Consent to identifiable data"),
];

/// The label of a patient field.
pub fn patient_label(name: &str) -> &str {
    PATIENT_FIELDS.iter().find(|(n, _)| *n == name).map_or(name, |(_, l)| *l)
}

/// The patient inputs, filled from `value(name)`.
pub fn patient_inputs<'a>(
    consent_required: bool,
    value: impl Fn(&str) -> Option<&'a str>,
    problems: &[Problem],
) -> Vec<Input> {
    let consent_hint = if consent_required {
        "This registry keeps identifiable details only with the patient's consent. Without it, the record is kept \
         without the patient's identifiers."
    } else {
        "Whether the patient agreed to the registry holding their details."
    };
    let inputs = [
        Input::new("p_nhs_number".into(), "NHS number", "text", true).hint("10 digits, for example 943 476 5919"),
        Input::new("p_family_name".into(), "Family name", "text", true),
        Input::new("p_given_name".into(), "Given name", "text", true),
        Input::new("p_date_of_birth".into(), "Date of birth", "date", true).hint("For example, 1950-03-27"),
        Input::new("p_sex".into(), "Sex", "radios", true).with_choices(&[
            ("M", "Male"),
            ("F", "Female"),
            ("I", "Indeterminate"),
            ("U", "Not known"),
        ]),
        Input::new("p_postcode".into(), "Postcode", "text", true),
        Input::new("p_date_of_death".into(), "Date of death", "date", false)
            .hint("Leave blank if the patient is alive."),
        Input::new("p_opted_out".into(), "National data opt-out", "radios", false)
            .with_choices(&[("no", "No"), ("yes", "Yes")])
            .hint("Whether the patient has registered a national data opt-out. Leave unanswered if not known."),
        Input::new("p_consent".into(), "Consent to identifiable data", "radios", true)
            .with_choices(&[("given", "Given"), ("refused", "Refused"), ("not_recorded", "Not recorded")])
            .hint(consent_hint),
    ];
    inputs
        .into_iter()
        .map(|i| {
            let name = i.id.trim_start_matches("p_").to_owned();
            i.fill(value(&name), problems)
        })
        .collect()
}

/// One input per field of `form`, by the field's type, filled from `value(field)`.
pub fn form_inputs<'a>(
    dict: &Dictionary,
    form: &Form,
    value: impl Fn(&str) -> Option<&'a str>,
    problems: &[Problem],
) -> Vec<Input> {
    form.fields()
        .iter()
        .map(|f| {
            let id = format!("f_{}", f.name().as_str());
            let mut input = match f.kind() {
                FieldKind::Text { .. } => Input::new(id, f.label(), "text", f.required()),
                FieldKind::Integer { .. } => Input::new(id, f.label(), "integer", f.required()),
                FieldKind::Decimal { .. } => Input::new(id, f.label(), "decimal", f.required()),
                FieldKind::Date { .. } => Input::new(id, f.label(), "date", f.required()),
                FieldKind::Boolean => {
                    Input::new(id, f.label(), "radios", f.required()).with_choices(&[("true", "Yes"), ("false", "No")])
                }
                FieldKind::Code { list } => {
                    let codes: Vec<(&str, &str)> = dict
                        .code_list(list)
                        .map(|l| l.codes().iter().map(|(c, l)| (c.as_str(), l.as_str())).collect())
                        .unwrap_or_default();
                    let widget = if codes.len() <= 5 { "radios" } else { "select" };
                    Input::new(id, f.label(), widget, f.required()).with_choices(&codes)
                }
            };
            input.hint = f.help().map(str::to_owned);
            // A stored boolean reads back as `true`/`false`, which is what the radios post.
            input.fill(value(f.name().as_str()), problems)
        })
        .collect()
}

/// The label of a record field in `form`, or its name.
pub fn field_label<'a>(form: Option<&'a Form>, name: &'a str) -> &'a str {
    form.and_then(|f| f.field(name)).map_or(name, |f| f.label())
}

/// How a stored value reads: a code's label beside the code, yes/no for booleans.
pub fn display_value(dict: &Dictionary, form: Option<&Form>, name: &str, value: &str) -> String {
    match form.and_then(|f| f.field(name)).map(|f| f.kind()) {
        Some(FieldKind::Code { list }) => match dict.code_list(list).and_then(|l| l.label(value)) {
            Some(label) => format!("{label} ({value})"),
            None => value.to_owned(),
        },
        Some(FieldKind::Boolean) => if value == "true" { "Yes" } else { "No" }.to_owned(),
        _ => value.to_owned(),
    }
}

#[derive(Template)]
#[template(path = "records_form.html")]
/// Enter a new record, or correct one.
pub struct RecordFormPage {
    /// Layout.
    pub l: Layout,
    /// Every problem, for the summary.
    pub errors: Vec<Problem>,
    /// Heading.
    pub heading: String,
    /// Form action.
    pub action: String,
    /// The registry.
    pub registry: String,
    /// The form's name (posted back).
    pub form: String,
    /// The form's description.
    pub description: String,
    /// Organisation choices (new records only).
    pub organisation: Option<Input>,
    /// Patient inputs (new records only).
    pub patient: Vec<Input>,
    /// The form's fields.
    pub fields: Vec<Input>,
    /// The reason input (corrections only).
    pub reason: Option<Input>,
    /// Where "cancel" goes.
    pub back: String,
    /// The purpose code to carry to the record page after saving (empty: none stated yet).
    pub purpose: String,
}

#[derive(Template)]
#[template(path = "records_forms.html")]
/// Choose which form to enter.
pub struct ChooseFormPage {
    /// Layout.
    pub l: Layout,
    /// The registry.
    pub registry: String,
    /// (name, title, description).
    pub forms: Vec<(String, String, String)>,
    /// The purpose code the links carry on (empty: none stated yet).
    pub purpose: String,
}

/// One record in a list or in search results.
#[derive(Debug, Clone)]
pub struct RecordRow {
    /// Record id.
    pub id: String,
    /// A short pseudonymous patient reference.
    pub patient: String,
    /// Organisation.
    pub organisation: String,
    /// Form title.
    pub form: String,
    /// When entered (UTC).
    pub entered: String,
    /// Newest revision.
    pub revision: u32,
}

#[derive(Template)]
#[template(path = "records_search.html")]
/// Find a patient by NHS number, with a purpose.
pub struct SearchPage {
    /// Layout.
    pub l: Layout,
    /// Problems.
    pub errors: Vec<Problem>,
    /// The registry.
    pub registry: String,
    /// NHS number input.
    pub nhs_number: Input,
    /// Purpose radios.
    pub purpose: Input,
    /// Purpose details.
    pub purpose_detail: Input,
    /// Whether a search ran.
    pub searched: bool,
    /// The patient found: (label, value) lines.
    pub patient: Vec<(String, String)>,
    /// Their records at the caller's organisations.
    pub results: Vec<RecordRow>,
    /// The purpose code the record links carry on (empty: none stated yet).
    pub link_purpose: String,
}

/// One revision on the record page.
#[derive(Debug, Clone)]
pub struct RevisionView {
    /// Number.
    pub revision: u32,
    /// When (UTC).
    pub at: String,
    /// Dictionary version.
    pub dictionary_version: u32,
    /// Why it was corrected.
    pub reason: String,
    /// (label, value) of every value.
    pub values: Vec<(String, String)>,
}

/// One implant on the record page.
#[derive(Debug, Clone)]
pub struct ImplantView {
    /// GTIN.
    pub gtin: String,
    /// Lot.
    pub lot: String,
    /// Serial.
    pub serial: String,
    /// Expiry.
    pub expiry: String,
    /// How it was entered.
    pub entry: String,
}

#[derive(Template)]
#[template(path = "records_view.html")]
/// One record.
pub struct RecordPage {
    /// Layout.
    pub l: Layout,
    /// A notice (after saving).
    pub notice: Option<String>,
    /// The registry.
    pub registry: String,
    /// Record id.
    pub id: String,
    /// Form title.
    pub form: String,
    /// Organisation.
    pub organisation: String,
    /// The patient: (label, value) lines.
    pub patient: Vec<(String, String)>,
    /// The current revision.
    pub current: RevisionView,
    /// Every revision, newest first.
    pub history: Vec<RevisionView>,
    /// Implants.
    pub implants: Vec<ImplantView>,
    /// Whether the caller may correct it.
    pub can_correct: bool,
    /// The purpose code stated for this view, which the correction link carries on.
    pub purpose: String,
}

#[derive(Template)]
#[template(path = "records_list.html")]
/// The records of the caller's organisations.
pub struct ListPage {
    /// Layout.
    pub l: Layout,
    /// The registry.
    pub registry: String,
    /// The organisations listed.
    pub scope: String,
    /// This page's rows.
    pub rows: Vec<RecordRow>,
    /// Page number (from 1).
    pub page: u64,
    /// Previous page, if any.
    pub previous: Option<u64>,
    /// Next page, if any.
    pub next: Option<u64>,
    /// Whether the caller may enter records.
    pub can_enter: bool,
    /// The purpose code stated for this list, which its links carry on.
    pub link_purpose: String,
}

#[derive(Template)]
#[template(path = "records_purpose.html")]
/// "Why are you opening this?": asked before a page shows identifiable data, and showing none.
/// A GET form to the same address, so the answer becomes `?purpose=<code>`.
pub struct PurposePage {
    /// Layout.
    pub l: Layout,
    /// The problem, for the summary (an unknown purpose code).
    pub errors: Vec<Problem>,
    /// The same problem, beside the radios.
    pub error: Option<String>,
    /// A notice carried from the page before (after saving a record).
    pub notice: Option<String>,
    /// The registry.
    pub registry: String,
    /// The page's own path (the form's action).
    pub action: String,
    /// Other query parameters to keep (name, value): a list's page, a saved notice.
    pub hidden: Vec<(String, String)>,
    /// The purposes: (code, label).
    pub choices: Vec<(String, String)>,
}
