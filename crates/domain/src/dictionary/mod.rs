//! Registry data dictionaries: the fields a registry collects, grouped into forms.
//!
//! Dictionaries are data, written by registry staff in TOML ([`Dictionary::from_toml`]) or as a
//! REDCap-style CSV data dictionary ([`Dictionary::from_redcap_csv`]). Both are parsed into the
//! same checked [`Dictionary`]; [`Dictionary::to_toml`] gives the canonical text that storage
//! versions. Version numbers are assigned by storage, never by the file, so a registry cannot
//! overwrite an old version by accident.

mod redcap;
mod toml_format;

use std::collections::BTreeMap;

use time::Date;

use crate::ids::{FieldName, FormName, RegistryId};
use crate::problem::Problems;

pub use redcap::RegistryMeta;

/// A registry's whole data dictionary, checked for internal consistency.
#[derive(Debug, Clone, PartialEq)]
pub struct Dictionary {
    registry: RegistryId,
    name: String,
    description: String,
    consent_required: bool,
    code_lists: BTreeMap<String, CodeList>,
    forms: Vec<Form>,
}

/// A named list of codes, each with a label people read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeList {
    name: String,
    codes: Vec<(String, String)>,
}

impl CodeList {
    /// The list's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The (code, label) pairs in display order.
    pub fn codes(&self) -> &[(String, String)] {
        &self.codes
    }
    /// The label of `code`, if the list has it.
    pub fn label(&self, code: &str) -> Option<&str> {
        self.codes.iter().find(|(c, _)| c == code).map(|(_, l)| l.as_str())
    }
}

/// A form: one kind of record, such as a hip primary operation or a follow-up.
#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    name: FormName,
    title: String,
    description: String,
    implants: bool,
    fields: Vec<Field>,
}

impl Form {
    /// The form's name.
    pub fn name(&self) -> &FormName {
        &self.name
    }
    /// Its title for people.
    pub fn title(&self) -> &str {
        &self.title
    }
    /// What it is for.
    pub fn description(&self) -> &str {
        &self.description
    }
    /// True when the form records implanted components (kept as rows of their own).
    pub fn records_implants(&self) -> bool {
        self.implants
    }
    /// Its fields in display order.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }
    /// The field called `name`.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name.as_str() == name)
    }
}

/// One field of a form.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    name: FieldName,
    label: String,
    kind: FieldKind,
    required: bool,
    required_if: Option<RequiredIf>,
    help: Option<String>,
    allow_future: bool,
}

impl Field {
    /// The field's name (unique within its dictionary).
    pub fn name(&self) -> &FieldName {
        &self.name
    }
    /// Its label for people.
    pub fn label(&self) -> &str {
        &self.label
    }
    /// Its type and the limits that go with it.
    pub fn kind(&self) -> &FieldKind {
        &self.kind
    }
    /// Always required.
    pub fn required(&self) -> bool {
        self.required
    }
    /// Required only when another field has a value.
    pub fn required_if(&self) -> Option<&RequiredIf> {
        self.required_if.as_ref()
    }
    /// Help text for the person entering data.
    pub fn help(&self) -> Option<&str> {
        self.help.as_deref()
    }
    /// For dates: whether a date after today is acceptable (default: no).
    pub fn allow_future(&self) -> bool {
        self.allow_future
    }
}

/// A field's type, with the limits that apply to it.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldKind {
    /// Free text, optionally limited in length (characters).
    Text {
        /// Longest allowed value, in characters.
        max_length: Option<usize>,
    },
    /// A whole number.
    Integer {
        /// Smallest allowed value.
        min: Option<i64>,
        /// Largest allowed value.
        max: Option<i64>,
    },
    /// A decimal number.
    Decimal {
        /// Smallest allowed value.
        min: Option<f64>,
        /// Largest allowed value.
        max: Option<f64>,
    },
    /// A calendar date.
    Date {
        /// Earliest allowed date.
        min: Option<Date>,
        /// Latest allowed date.
        max: Option<Date>,
    },
    /// Yes or no.
    Boolean,
    /// One code from a code list.
    Code {
        /// The code list's name.
        list: String,
    },
}

impl FieldKind {
    /// The type's name as dictionaries spell it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Text { .. } => "text",
            Self::Integer { .. } => "integer",
            Self::Decimal { .. } => "decimal",
            Self::Date { .. } => "date",
            Self::Boolean => "boolean",
            Self::Code { .. } => "code",
        }
    }
}

/// "Required when `field` has a value" (any value, or one of `equals`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredIf {
    field: FieldName,
    equals: Vec<String>,
}

impl RequiredIf {
    /// The field whose value decides.
    pub fn field(&self) -> &FieldName {
        &self.field
    }
    /// The values that make this field required; empty means any value.
    pub fn equals(&self) -> &[String] {
        &self.equals
    }
}

/// Why a dictionary file could not be loaded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DictionaryError {
    /// The file is not well-formed TOML or CSV.
    #[error("the dictionary file cannot be read: {0}")]
    Syntax(String),
    /// The file is well-formed but its content breaks the rules; every problem is listed.
    #[error("the dictionary has {n} problem(s): {0}", n = .0.len())]
    Invalid(Problems),
}

impl Dictionary {
    /// The registry this dictionary defines.
    pub fn registry(&self) -> &RegistryId {
        &self.registry
    }
    /// The registry's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// What the registry is for.
    pub fn description(&self) -> &str {
        &self.description
    }
    /// True when identifiers may be stored only with the patient's consent.
    pub fn consent_required(&self) -> bool {
        self.consent_required
    }
    /// The forms, in order.
    pub fn forms(&self) -> &[Form] {
        &self.forms
    }
    /// The form called `name`.
    pub fn form(&self, name: &str) -> Option<&Form> {
        self.forms.iter().find(|f| f.name.as_str() == name)
    }
    /// The code list called `name`.
    pub fn code_list(&self, name: &str) -> Option<&CodeList> {
        self.code_lists.get(name)
    }
    /// All code lists by name.
    pub fn code_lists(&self) -> impl Iterator<Item = &CodeList> {
        self.code_lists.values()
    }

    /// Checks cross-references and builds the dictionary. Every problem is reported.
    ///
    /// `problems` holds what the caller already found while reading the file, so that one load
    /// reports everything at once; `registry` is `None` when the id itself was bad.
    fn build(
        mut problems: Problems,
        registry: Option<RegistryId>,
        name: String,
        description: String,
        consent_required: bool,
        code_lists: Vec<CodeList>,
        forms: Vec<Form>,
    ) -> Result<Self, DictionaryError> {
        if name.trim().is_empty() {
            problems.push("name", "the registry needs a name");
        }
        let mut lists = BTreeMap::new();
        for list in code_lists {
            let at = format!("code_lists.{}", list.name);
            if list.codes.is_empty() {
                problems.push(&at, "a code list needs at least one code");
            }
            let mut seen = std::collections::HashSet::new();
            for (code, label) in &list.codes {
                if code.trim().is_empty() || code.trim() != code {
                    problems.push(&at, format!("code {code:?} must be non-empty with no surrounding spaces"));
                }
                if label.trim().is_empty() {
                    problems.push(&at, format!("code {code:?} needs a label"));
                }
                if !seen.insert(code.clone()) {
                    problems.push(&at, format!("code {code:?} appears twice"));
                }
            }
            if lists.insert(list.name.clone(), list).is_some() {
                problems.push(at, "this code list is defined twice");
            }
        }
        if forms.is_empty() {
            problems.push("forms", "a dictionary needs at least one form");
        }
        // Condition values are compared with parsed values, so they are stored canonically
        // ("yes" → "true" for a yes/no field, "07" → "7" for a whole number).
        let mut forms = forms;
        for form in &mut forms {
            let kinds: BTreeMap<String, FieldKind> =
                form.fields.iter().map(|f| (f.name.to_string(), f.kind.clone())).collect();
            for field in &mut form.fields {
                let at = format!("forms.{}.{}", form.name, field.name);
                if let Some(cond) = &mut field.required_if
                    && let Some(kind) = kinds.get(cond.field.as_str())
                {
                    for v in &mut cond.equals {
                        match crate::record::canonical_for_condition(kind, v) {
                            Some(c) => *v = c,
                            None => problems
                                .push(&at, format!("required_if value {v:?} is not a {} value", kind.type_name())),
                        }
                    }
                }
            }
        }
        let mut form_names = std::collections::HashSet::new();
        let mut field_names = std::collections::HashSet::new();
        for form in &forms {
            let at = format!("forms.{}", form.name);
            if !form_names.insert(form.name.clone()) {
                problems.push(&at, "this form is defined twice");
            }
            if form.fields.is_empty() {
                problems.push(&at, "a form needs at least one field");
            }
            for field in &form.fields {
                let at = format!("{at}.{}", field.name);
                if !field_names.insert(field.name.clone()) {
                    problems.push(&at, "field names must be unique across the whole dictionary");
                }
                if field.label.trim().is_empty() {
                    problems.push(&at, "a field needs a label");
                }
                match &field.kind {
                    FieldKind::Code { list } if !lists.contains_key(list) => {
                        problems.push(&at, format!("code list {list:?} is not defined"));
                    }
                    FieldKind::Integer { min: Some(a), max: Some(b) } if a > b => {
                        problems.push(&at, "min is greater than max");
                    }
                    FieldKind::Decimal { min: Some(a), max: Some(b) } if a > b => {
                        problems.push(&at, "min is greater than max");
                    }
                    FieldKind::Date { min: Some(a), max: Some(b) } if a > b => {
                        problems.push(&at, "min is after max");
                    }
                    FieldKind::Text { max_length: Some(0) } => problems.push(&at, "max_length must be at least 1"),
                    _ => {}
                }
                if let Some(cond) = &field.required_if {
                    if field.required {
                        problems.push(&at, "a field cannot be both required and required_if");
                    }
                    match form.field(cond.field.as_str()) {
                        None => problems.push(
                            &at,
                            format!("required_if names {:?}, which is not a field of this form", cond.field.as_str()),
                        ),
                        Some(other) if other.name == field.name => {
                            problems.push(&at, "required_if cannot name the field itself")
                        }
                        Some(other) => {
                            if let FieldKind::Code { list } = &other.kind
                                && let Some(l) = lists.get(list)
                            {
                                for v in &cond.equals {
                                    if l.label(v).is_none() {
                                        problems.push(
                                            &at,
                                            format!("required_if value {v:?} is not a code of list {list:?}"),
                                        );
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        match registry {
            Some(registry) if problems.is_empty() => {
                Ok(Self { registry, name, description, consent_required, code_lists: lists, forms })
            }
            _ => Err(DictionaryError::Invalid(problems)),
        }
    }
}
