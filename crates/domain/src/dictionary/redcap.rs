//! The REDCap-style CSV data dictionary, which registry staff often already know how to edit.
//!
//! Mapping: `text` (by its validation: none → text, `integer` → integer, `number*` → decimal,
//! `date_ymd` → date), `notes` → text, `dropdown`/`radio` → code (choices `CODE, Label | …`),
//! `yesno`/`truefalse` → boolean. `Field Note` is the help text; `Text Validation Min/Max` the
//! range; `@MAXLENGTH=n` in the annotation a text limit. `Required Field? = y` with branching logic
//! `[other] = 'A' or [other] = 'B'` or `[other] <> ''` becomes required-if. `descriptive` rows carry
//! no data and are skipped. Fields flagged `Identifier? = y` are refused: direct identifiers belong
//! to the patient, which Tessera encrypts, never to a form.

use std::collections::BTreeMap;

use super::toml_format::{RawField, RawRequiredIf, convert_field};
use super::{CodeList, Dictionary, DictionaryError, Form};
use crate::ids::{FormName, RegistryId};
use crate::problem::Problems;

/// What a REDCap CSV cannot say about its registry, supplied alongside it.
#[derive(Debug, Clone)]
pub struct RegistryMeta {
    /// The registry's id.
    pub id: RegistryId,
    /// The registry's name.
    pub name: String,
    /// What the registry is for.
    pub description: String,
    /// True when identifiers may be stored only with consent.
    pub consent_required: bool,
    /// Forms that record implanted components.
    pub implant_forms: Vec<String>,
}

const COLUMNS: [&str; 12] = [
    "Variable / Field Name",
    "Form Name",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
];
const ANNOTATION: &str = "Field Annotation";

fn title_from_name(name: &str) -> String {
    let mut s = name.replace('_', " ");
    if let Some(first) = s.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    s
}

/// Parses `[field] = 'A' or [field] = 'B'` or `[field] <> ''`.
fn parse_branching(logic: &str) -> Result<RawRequiredIf, String> {
    let unsupported = || {
        format!(
            "branching logic {logic:?} is not supported: use [field] = 'value' (joined by 'or' for several values) or [field] <> ''"
        )
    };
    let mut field: Option<String> = None;
    let mut equals = Vec::new();
    let mut any_value = false;
    let lowered = logic.replace(" OR ", " or ");
    for part in lowered.split(" or ") {
        let part = part.trim();
        let rest = part.strip_prefix('[').ok_or_else(unsupported)?;
        let (name, rest) = rest.split_once(']').ok_or_else(unsupported)?;
        let rest = rest.trim();
        let (op, value) = if let Some(v) = rest.strip_prefix("<>") {
            ("ne", v)
        } else if let Some(v) = rest.strip_prefix("!=") {
            ("ne", v)
        } else if let Some(v) = rest.strip_prefix('=') {
            ("eq", v)
        } else {
            return Err(unsupported());
        };
        let value = value.trim();
        let unquoted = value
            .strip_prefix('\'')
            .and_then(|v| v.strip_suffix('\''))
            .or_else(|| value.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
            .filter(|v| !v.contains(['\'', '"', '[', ']']))
            .ok_or_else(unsupported)?;
        match (op, unquoted.is_empty()) {
            ("ne", true) => any_value = true,
            ("eq", false) => equals.push(unquoted.to_owned()),
            _ => return Err(unsupported()),
        }
        if field.as_deref().is_some_and(|f| f != name) {
            return Err(format!("branching logic {logic:?} names more than one field, which is not supported"));
        }
        field = Some(name.to_owned());
    }
    if any_value && !equals.is_empty() {
        return Err(unsupported());
    }
    Ok(RawRequiredIf { field: field.ok_or_else(unsupported)?, equals })
}

fn parse_choices(choices: &str) -> Result<Vec<(String, String)>, String> {
    choices
        .split('|')
        .map(|c| {
            let (code, label) =
                c.split_once(',').ok_or_else(|| format!("choice {:?} must be written 'CODE, Label'", c.trim()))?;
            Ok((code.trim().to_owned(), label.trim().to_owned()))
        })
        .collect()
}

impl Dictionary {
    /// Parses a REDCap-style CSV data dictionary, reporting every problem with its row number
    /// (the header is row 1).
    pub fn from_redcap_csv(text: &str, meta: RegistryMeta) -> Result<Self, DictionaryError> {
        let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(text.as_bytes());
        let headers = reader.headers().map_err(|e| DictionaryError::Syntax(e.to_string()))?.clone();
        let find = |name: &str| headers.iter().position(|h| h.trim().eq_ignore_ascii_case(name));
        let mut idx = [0usize; 12];
        let mut missing = Vec::new();
        for (i, name) in COLUMNS.iter().enumerate() {
            match find(name) {
                Some(p) => idx[i] = p,
                None => missing.push(*name),
            }
        }
        if !missing.is_empty() {
            return Err(DictionaryError::Syntax(format!("the header lacks the column(s) {missing:?}")));
        }
        let annotation = find(ANNOTATION);

        let mut problems = Problems::new();
        let mut form_order: Vec<String> = Vec::new();
        let mut form_fields: BTreeMap<String, Vec<super::Field>> = BTreeMap::new();
        let mut code_lists = Vec::new();
        for (i, row) in reader.records().enumerate() {
            let line = i + 2;
            let row = row.map_err(|e| DictionaryError::Syntax(format!("row {line}: {e}")))?;
            let col = |c: usize| row.get(idx[c]).unwrap_or("").trim();
            let name = col(0).to_owned();
            let at = format!("row {line} ({name})");
            let form = col(1).to_owned();
            let field_type = col(2);
            if field_type == "descriptive" {
                continue;
            }
            if col(9).eq_ignore_ascii_case("y") {
                problems.push(&at, "fields marked as identifiers are not allowed: identifiers belong to the patient record, which Tessera encrypts");
                continue;
            }
            let validation = col(6);
            let kind = match (field_type, validation) {
                ("text", "") | ("notes", _) => "text",
                ("text", "integer") => "integer",
                ("text", v) if v.starts_with("number") => "decimal",
                ("text", "date_ymd") => "date",
                ("text", v) => {
                    problems
                        .push(&at, format!("text validation {v:?} is not supported (use integer, number or date_ymd)"));
                    continue;
                }
                ("dropdown" | "radio", _) => "code",
                ("yesno" | "truefalse", _) => "boolean",
                (other, _) => {
                    problems.push(&at, format!("field type {other:?} is not supported"));
                    continue;
                }
            };
            let limit = |s: &str| -> Option<toml::Value> {
                if s.is_empty() {
                    None
                } else if kind == "date" {
                    Some(toml::Value::String(s.to_owned()))
                } else if let Ok(i) = s.parse::<i64>() {
                    Some(toml::Value::Integer(i))
                } else {
                    s.parse::<f64>().ok().map(toml::Value::Float).or(Some(toml::Value::String(s.to_owned())))
                }
            };
            let mut code_list = None;
            if kind == "code" {
                match parse_choices(col(4)) {
                    Ok(codes) => {
                        code_lists.push(CodeList { name: name.clone(), codes });
                        code_list = Some(name.clone());
                    }
                    Err(e) => problems.push(&at, e),
                }
            }
            let max_length = annotation
                .and_then(|a| row.get(a))
                .and_then(|a| a.split_whitespace().find_map(|t| t.strip_prefix("@MAXLENGTH=")))
                .map(|n| n.parse::<usize>());
            let max_length = match max_length {
                Some(Ok(n)) => Some(n),
                Some(Err(_)) => {
                    problems.push(&at, "@MAXLENGTH must be a whole number");
                    None
                }
                None => None,
            };
            let required = col(11).eq_ignore_ascii_case("y");
            let required_if = if col(10).is_empty() {
                None
            } else {
                match parse_branching(col(10)) {
                    // Branching logic without "required" only hides the field; nothing to enforce.
                    Ok(cond) if required => Some(cond),
                    Ok(_) => None,
                    Err(e) => {
                        problems.push(&at, e);
                        None
                    }
                }
            };
            let raw = RawField {
                required: required && required_if.is_none(),
                name: name.clone(),
                label: col(3).to_owned(),
                kind: kind.to_owned(),
                required_if,
                help: Some(col(5).to_owned()),
                min: limit(col(7)),
                max: limit(col(8)),
                max_length,
                code_list,
                allow_future: false,
            };
            if let Some(field) = convert_field(raw, &at, &mut problems) {
                if !form_fields.contains_key(&form) {
                    form_order.push(form.clone());
                }
                form_fields.entry(form).or_default().push(field);
            }
        }
        let mut forms = Vec::new();
        for name in form_order {
            match FormName::parse(&name) {
                Ok(form_name) => forms.push(Form {
                    title: title_from_name(&name),
                    description: String::new(),
                    implants: meta.implant_forms.iter().any(|f| f == &name),
                    fields: form_fields.remove(&name).unwrap_or_default(),
                    name: form_name,
                }),
                Err(e) => problems.push(format!("form {name:?}"), e.to_string()),
            }
        }
        for f in &meta.implant_forms {
            if !forms.iter().any(|form| form.name.as_str() == f) {
                problems.push("implant forms", format!("{f:?} is not a form of this dictionary"));
            }
        }
        Dictionary::build(
            problems,
            Some(meta.id),
            meta.name,
            meta.description,
            meta.consent_required,
            code_lists,
            forms,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branching_logic_forms_are_understood() {
        let r = parse_branching("[op_reason] = 'OTHER'").unwrap();
        assert_eq!((r.field.as_str(), r.equals.as_slice()), ("op_reason", ["OTHER".to_owned()].as_slice()));
        let r = parse_branching("[a]='X' or [a] = \"Y\"").unwrap();
        assert_eq!(r.equals, ["X", "Y"]);
        let r = parse_branching("[a] <> ''").unwrap();
        assert!(r.equals.is_empty());
        assert!(parse_branching("[a] = 'X' and [b] = 'Y'").is_err());
        assert!(parse_branching("[a] = 'X' or [b] = 'Y'").is_err());
        assert!(parse_branching("[a] > 3").is_err());
    }
}
