//! Records: one form filled in for one patient, validated against its dictionary version.

use time::{Date, Month};

use crate::dictionary::{Dictionary, FieldKind, Form};
use crate::ids::{FieldName, FormName};
use crate::problem::Problems;

/// Parses an ISO calendar date, `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Result<Date, &'static str> {
    const MSG: &str = "must be a date written YYYY-MM-DD";
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(MSG);
    }
    let num = |r: std::ops::Range<usize>| {
        s.get(r).filter(|p| p.bytes().all(|c| c.is_ascii_digit())).and_then(|p| p.parse::<u32>().ok())
    };
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return Err(MSG);
    };
    let month = Month::try_from(m as u8).map_err(|_| "must be a real date (the month is not 01 to 12)")?;
    Date::from_calendar_date(y as i32, month, d as u8)
        .map_err(|_| "must be a real date (that day does not exist in that month)")
}

/// Parses yes/no in the spellings people and systems use: yes/no, y/n, true/false, 1/0.
pub fn parse_bool(s: &str) -> Result<bool, &'static str> {
    match s.trim().to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "1" => Ok(true),
        "no" | "n" | "false" | "0" => Ok(false),
        _ => Err("must be yes or no"),
    }
}

/// A checked field value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Free text, trimmed.
    Text(String),
    /// A whole number.
    Integer(i64),
    /// A decimal number, kept as its normalised text so nothing is lost to binary floating point.
    Decimal(String),
    /// A date.
    Date(Date),
    /// Yes or no.
    Boolean(bool),
    /// A code from the field's code list.
    Code(String),
}

impl Value {
    /// The canonical text of the value; parsing it again gives the same value.
    pub fn canonical(&self) -> String {
        match self {
            Value::Text(s) | Value::Decimal(s) | Value::Code(s) => s.clone(),
            Value::Integer(i) => i.to_string(),
            Value::Date(d) => d.to_string(),
            Value::Boolean(b) => if *b { "true" } else { "false" }.to_owned(),
        }
    }
}

/// Raw `(field, text)` pairs for one record, as they come from a CSV row or a web form.
pub type RecordInput<'a> = &'a [(&'a str, &'a str)];

/// A record that passed validation against one dictionary version. Only present values are kept.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidRecord {
    form: FormName,
    values: Vec<(FieldName, Value)>,
}

impl ValidRecord {
    /// The form this record is an instance of.
    pub fn form(&self) -> &FormName {
        &self.form
    }
    /// The values present, in the form's field order.
    pub fn values(&self) -> &[(FieldName, Value)] {
        &self.values
    }
    /// Checks the record's dates against its patient's life: none before the date of birth (when
    /// the registry holds it) and none after the date of death. Every problem is reported, by
    /// field, without the dates themselves.
    pub fn check_against(&self, patient: &crate::Patient) -> Problems {
        let mut problems = Problems::new();
        let born = patient.identifiers().map(|i| i.date_of_birth());
        for (field, value) in &self.values {
            if let Value::Date(d) = value {
                if born.is_some_and(|b| *d < b) {
                    problems.push(field.as_str(), "is before the patient's date of birth");
                }
                if patient.date_of_death().is_some_and(|death| *d > death) {
                    problems.push(field.as_str(), "is after the patient's date of death");
                }
            }
        }
        problems
    }

    /// The value of `field`, if present.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.values.iter().find(|(f, _)| f.as_str() == field).map(|(_, v)| v)
    }
}

fn normalise_decimal(s: &str) -> Option<(String, f64)> {
    let t = s.strip_prefix('+').unwrap_or(s);
    let body = t.strip_prefix('-').unwrap_or(t);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits_ok = |p: &str| p.bytes().all(|c| c.is_ascii_digit());
    if int.is_empty() && frac.is_empty()
        || !digits_ok(int)
        || !digits_ok(frac)
        || body.ends_with('.') && frac.is_empty() && int.is_empty()
    {
        return None;
    }
    if body.len() > 40 {
        return None;
    }
    let v: f64 = t.parse().ok()?;
    let mut canon = String::with_capacity(t.len() + 1);
    if t.starts_with('-') {
        canon.push('-');
    }
    canon.push_str(if int.is_empty() { "0" } else { int });
    if !frac.is_empty() {
        canon.push('.');
        canon.push_str(frac);
    }
    Some((canon, v))
}

/// The canonical text of `text` read as a value of `kind`, for comparing conditions; `None` if
/// it is not such a value. Range rules do not apply here.
pub(crate) fn canonical_for_condition(kind: &FieldKind, text: &str) -> Option<String> {
    let text = text.trim();
    match kind {
        FieldKind::Text { .. } | FieldKind::Code { .. } => Some(text.to_owned()),
        FieldKind::Integer { .. } => text.parse::<i64>().ok().map(|i| i.to_string()),
        FieldKind::Decimal { .. } => normalise_decimal(text).map(|(c, _)| c),
        FieldKind::Date { .. } => parse_date(text).ok().map(|d| d.to_string()),
        FieldKind::Boolean => parse_bool(text).ok().map(|b| b.to_string()),
    }
}

impl Dictionary {
    /// Parses one present, trimmed, non-empty value of `field`.
    fn parse_value(&self, field: &crate::dictionary::Field, text: &str, today: Date) -> Result<Value, String> {
        match field.kind() {
            FieldKind::Text { max_length } => match max_length {
                Some(max) if text.chars().count() > *max => Err(format!("must be at most {max} characters")),
                _ if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') => {
                    Err("must not contain control characters".to_owned())
                }
                _ => Ok(Value::Text(text.to_owned())),
            },
            FieldKind::Integer { min, max } => match text.parse::<i64>() {
                Err(_) => Err("must be a whole number".to_owned()),
                Ok(v) if min.is_some_and(|m| v < m) => Err(format!("must be at least {}", min.unwrap_or_default())),
                Ok(v) if max.is_some_and(|m| v > m) => Err(format!("must be at most {}", max.unwrap_or_default())),
                Ok(v) => Ok(Value::Integer(v)),
            },
            FieldKind::Decimal { min, max } => match normalise_decimal(text) {
                None => Err("must be a number such as 27.5".to_owned()),
                Some((_, v)) if min.is_some_and(|m| v < m) => {
                    Err(format!("must be at least {}", min.unwrap_or_default()))
                }
                Some((_, v)) if max.is_some_and(|m| v > m) => {
                    Err(format!("must be at most {}", max.unwrap_or_default()))
                }
                Some((canon, _)) => Ok(Value::Decimal(canon)),
            },
            FieldKind::Date { min, max } => match parse_date(text) {
                Err(e) => Err(e.to_owned()),
                Ok(d) if min.is_some_and(|m| d < m) => Err(format!("must not be before {}", min.expect("checked"))),
                Ok(d) if max.is_some_and(|m| d > m) => Err(format!("must not be after {}", max.expect("checked"))),
                Ok(d) if d > today && !field.allow_future() => Err("must not be in the future".to_owned()),
                Ok(d) => Ok(Value::Date(d)),
            },
            FieldKind::Boolean => parse_bool(text).map(Value::Boolean).map_err(str::to_owned),
            FieldKind::Code { list } => {
                let list = self.code_list(list).expect("dictionary checked that code lists exist");
                if list.label(text).is_some() {
                    Ok(Value::Code(text.to_owned()))
                } else {
                    let options: Vec<String> =
                        list.codes().iter().take(12).map(|(c, l)| format!("{c} ({l})")).collect();
                    let more = if list.codes().len() > 12 { ", …" } else { "" };
                    Err(format!("must be one of: {}{more}", options.join(", ")))
                }
            }
        }
    }

    /// Validates one record of `form` against this dictionary, returning **every** problem.
    ///
    /// Empty text means "no value". Fields not in the form are refused (a misspelt column must
    /// not silently lose data). Problem reasons never repeat the value, so a wrongly placed
    /// identifier cannot leak into an error report.
    pub fn validate(&self, form: &Form, input: RecordInput<'_>, today: Date) -> Result<ValidRecord, Problems> {
        let mut problems = Problems::new();
        // The raw text of each field, by the field's position in the form.
        let fields = form.fields();
        let mut raw: Vec<Option<&str>> = vec![None; fields.len()];
        for &(name, value) in input {
            match fields.iter().position(|f| f.name().as_str() == name) {
                None => problems.push(name, format!("is not a field of the form {:?}", form.name().as_str())),
                Some(i) if raw[i].is_some() => problems.push(name, "is given more than once"),
                Some(i) => raw[i] = Some(value.trim()),
            }
        }
        // First every present value is parsed, then the required rules are checked against the
        // parsed (canonical) values, so a condition on "yes" also fires for "1" or "true".
        let parsed: Vec<Option<Result<Value, String>>> = fields
            .iter()
            .zip(&raw)
            .map(|(field, text)| text.filter(|v| !v.is_empty()).map(|text| self.parse_value(field, text, today)))
            .collect();
        let canonical_of = |name: &str| -> Option<String> {
            let i = fields.iter().position(|f| f.name().as_str() == name)?;
            match &parsed[i] {
                Some(Ok(v)) => Some(v.canonical()),
                _ => None,
            }
        };

        let mut values = Vec::with_capacity(fields.len());
        for (field, value) in fields.iter().zip(parsed.iter()) {
            let name = field.name().as_str();
            match value {
                Some(Ok(v)) => values.push((field.name().clone(), v.clone())),
                Some(Err(reason)) => problems.push(name, reason.clone()),
                None if field.required() => problems.push(name, "is required"),
                None => {
                    if let Some(cond) = field.required_if()
                        && let Some(other) = canonical_of(cond.field().as_str())
                    {
                        if cond.equals().is_empty() {
                            problems.push(name, format!("is required when {:?} is filled in", cond.field().as_str()));
                        } else if cond.equals().contains(&other) {
                            problems.push(
                                name,
                                format!(
                                    "is required when {:?} is {}",
                                    cond.field().as_str(),
                                    cond.equals().join(" or ")
                                ),
                            );
                        }
                    }
                }
            }
        }
        problems.into_result(|| ValidRecord { form: form.name().clone(), values })
    }
}
