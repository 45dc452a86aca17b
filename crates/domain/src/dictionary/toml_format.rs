//! The TOML dictionary format (see `registries/*.toml` for complete examples).

use serde::{Deserialize, Serialize};
use time::Date;

use super::{CodeList, Dictionary, DictionaryError, Field, FieldKind, Form, RequiredIf};
use crate::ids::{FieldName, FormName, RegistryId};
use crate::problem::Problems;
use crate::record::parse_date;

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawDictionary {
    id: String,
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    consent_required: bool,
    #[serde(default)]
    code_lists: Vec<RawCodeList>,
    #[serde(default)]
    forms: Vec<RawForm>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawCodeList {
    name: String,
    codes: Vec<RawCode>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawCode {
    code: String,
    label: String,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawForm {
    name: String,
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    implants: bool,
    #[serde(default)]
    fields: Vec<RawField>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawField {
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_if: Option<RawRequiredIf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<toml::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<toml::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_list: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_future: bool,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRequiredIf {
    pub field: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub equals: Vec<String>,
}

fn limit_as_i64(v: &toml::Value) -> Option<i64> {
    v.as_integer()
}

fn limit_as_f64(v: &toml::Value) -> Option<f64> {
    v.as_float().or_else(|| v.as_integer().map(|i| i as f64))
}

fn limit_as_date(v: &toml::Value) -> Option<Date> {
    match v {
        toml::Value::String(s) => parse_date(s).ok(),
        toml::Value::Datetime(d) => parse_date(&d.to_string()).ok(),
        _ => None,
    }
}

/// Turns one raw field into a [`Field`], recording each problem under `at`.
pub(super) fn convert_field(raw: RawField, at: &str, problems: &mut Problems) -> Option<Field> {
    // A bad name is reported, and the field still checked, so one load shows every mistake.
    let name = Some(FieldName::parse(&raw.name).unwrap_or_else(|e| {
        problems.push(at, e.to_string());
        FieldName::unchecked(&raw.name)
    }));
    let limit_problem = |problems: &mut Problems, which: &str, what: &str| {
        problems.push(at, format!("{which} must be {what} for a {} field", raw.kind));
    };
    if raw.max_length.is_some() && raw.kind != "text" {
        problems.push(at, "max_length applies only to text fields");
    }
    if raw.code_list.is_some() && raw.kind != "code" {
        problems.push(at, "code_list applies only to code fields");
    }
    if (raw.min.is_some() || raw.max.is_some()) && !matches!(raw.kind.as_str(), "integer" | "decimal" | "date") {
        problems.push(at, "min and max apply only to integer, decimal and date fields");
    }
    let kind = match raw.kind.as_str() {
        "text" => Some(FieldKind::Text { max_length: raw.max_length }),
        "integer" => {
            let min = raw.min.as_ref().map(|v| limit_as_i64(v).ok_or(()));
            let max = raw.max.as_ref().map(|v| limit_as_i64(v).ok_or(()));
            if matches!(min, Some(Err(()))) {
                limit_problem(problems, "min", "a whole number");
            }
            if matches!(max, Some(Err(()))) {
                limit_problem(problems, "max", "a whole number");
            }
            Some(FieldKind::Integer { min: min.and_then(Result::ok), max: max.and_then(Result::ok) })
        }
        "decimal" => {
            let min = raw.min.as_ref().map(|v| limit_as_f64(v).ok_or(()));
            let max = raw.max.as_ref().map(|v| limit_as_f64(v).ok_or(()));
            if matches!(min, Some(Err(()))) {
                limit_problem(problems, "min", "a number");
            }
            if matches!(max, Some(Err(()))) {
                limit_problem(problems, "max", "a number");
            }
            Some(FieldKind::Decimal { min: min.and_then(Result::ok), max: max.and_then(Result::ok) })
        }
        "date" => {
            let min = raw.min.as_ref().map(|v| limit_as_date(v).ok_or(()));
            let max = raw.max.as_ref().map(|v| limit_as_date(v).ok_or(()));
            if matches!(min, Some(Err(()))) {
                limit_problem(problems, "min", "a date (YYYY-MM-DD)");
            }
            if matches!(max, Some(Err(()))) {
                limit_problem(problems, "max", "a date (YYYY-MM-DD)");
            }
            Some(FieldKind::Date { min: min.and_then(Result::ok), max: max.and_then(Result::ok) })
        }
        "boolean" => Some(FieldKind::Boolean),
        "code" => match raw.code_list {
            Some(list) => Some(FieldKind::Code { list }),
            None => {
                problems.push(at, "a code field needs code_list");
                None
            }
        },
        other => {
            problems.push(at, format!("type {other:?} is not one of text, integer, decimal, date, boolean, code"));
            None
        }
    };
    if raw.allow_future && raw.kind != "date" {
        problems.push(at, "allow_future applies only to date fields");
    }
    let required_if = match raw.required_if {
        None => Some(None),
        Some(r) => FieldName::parse(&r.field)
            .map(|field| Some(RequiredIf { field, equals: r.equals }))
            .map_err(|e| problems.push(at, format!("required_if: {e}")))
            .ok(),
    };
    Some(Field {
        name: name?,
        label: raw.label,
        kind: kind?,
        required: raw.required,
        required_if: required_if?,
        help: raw.help.filter(|h| !h.trim().is_empty()),
        allow_future: raw.allow_future,
    })
}

fn field_to_raw(f: &Field) -> RawField {
    let (min, max, max_length, code_list) = match &f.kind {
        FieldKind::Text { max_length } => (None, None, *max_length, None),
        FieldKind::Integer { min, max } => (min.map(toml::Value::Integer), max.map(toml::Value::Integer), None, None),
        FieldKind::Decimal { min, max } => (min.map(toml::Value::Float), max.map(toml::Value::Float), None, None),
        FieldKind::Date { min, max } => (
            min.map(|d| toml::Value::String(d.to_string())),
            max.map(|d| toml::Value::String(d.to_string())),
            None,
            None,
        ),
        FieldKind::Boolean => (None, None, None, None),
        FieldKind::Code { list } => (None, None, None, Some(list.clone())),
    };
    RawField {
        name: f.name.to_string(),
        label: f.label.clone(),
        kind: f.kind.type_name().to_owned(),
        required: f.required,
        required_if: f
            .required_if
            .as_ref()
            .map(|r| RawRequiredIf { field: r.field.to_string(), equals: r.equals.clone() }),
        help: f.help.clone(),
        min,
        max,
        max_length,
        code_list,
        allow_future: f.allow_future,
    }
}

impl Dictionary {
    /// Parses a TOML dictionary, reporting every problem in it at once.
    pub fn from_toml(text: &str) -> Result<Self, DictionaryError> {
        let raw: RawDictionary = toml::from_str(text).map_err(|e| DictionaryError::Syntax(e.to_string()))?;
        let mut problems = Problems::new();
        let registry = RegistryId::parse(&raw.id).map_err(|e| problems.push("id", e.to_string())).ok();
        let code_lists = raw
            .code_lists
            .into_iter()
            .map(|l| CodeList { name: l.name, codes: l.codes.into_iter().map(|c| (c.code, c.label)).collect() })
            .collect();
        let mut forms = Vec::new();
        for form in raw.forms {
            let at = format!("forms.{}", form.name);
            let name = Some(FormName::parse(&form.name).unwrap_or_else(|e| {
                problems.push(&at, e.to_string());
                FormName::unchecked(&form.name)
            }));
            let fields: Vec<Field> = form
                .fields
                .into_iter()
                .filter_map(|f| {
                    let at = format!("{at}.{}", f.name);
                    convert_field(f, &at, &mut problems)
                })
                .collect();
            if let Some(name) = name {
                forms.push(Form {
                    name,
                    title: form.title,
                    description: form.description,
                    implants: form.implants,
                    fields,
                });
            }
        }
        Dictionary::build(problems, registry, raw.name, raw.description, raw.consent_required, code_lists, forms)
    }

    /// The canonical TOML text of this dictionary. Parsing it gives back an equal dictionary, and
    /// two dictionaries are the same version exactly when their canonical texts are equal.
    pub fn to_toml(&self) -> String {
        let raw = RawDictionary {
            id: self.registry.to_string(),
            name: self.name.clone(),
            description: self.description.clone(),
            consent_required: self.consent_required,
            code_lists: self
                .code_lists
                .values()
                .map(|l| RawCodeList {
                    name: l.name.clone(),
                    codes: l.codes.iter().map(|(c, lab)| RawCode { code: c.clone(), label: lab.clone() }).collect(),
                })
                .collect(),
            forms: self
                .forms
                .iter()
                .map(|f| RawForm {
                    name: f.name.to_string(),
                    title: f.title.clone(),
                    description: f.description.clone(),
                    implants: f.implants,
                    fields: f.fields.iter().map(field_to_raw).collect(),
                })
                .collect(),
        };
        toml::to_string(&raw).expect("a dictionary always serialises")
    }
}
