//! Patients and their direct identifiers.
//!
//! A patient belongs to exactly one registry: each registry is its own data controller, so the
//! same person in two registries is two patients, never silently linked. Direct identifiers (NHS
//! number, names, date of birth, postcode) live in [`Identifiers`], which prints nothing in
//! `Debug` and which storage encrypts before it touches disk.

use std::fmt;

use time::Date;

use crate::nhs::NhsNumber;
use crate::problem::Problems;
use crate::record::{parse_bool, parse_date};

/// A UK postcode, normalised to upper case with one space before the inward code (`LS1 4AP`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Postcode(String);

impl Postcode {
    /// Parses a postcode in any case and spacing; refuses anything not shaped like a UK postcode.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
        if !(5..=7).contains(&compact.len()) || !compact.is_ascii() {
            return Err("is not a UK postcode (expected e.g. LS1 4AP)");
        }
        let (outward, inward) = compact.split_at(compact.len() - 3);
        let inward_ok = {
            let b = inward.as_bytes();
            b[0].is_ascii_digit() && b[1].is_ascii_alphabetic() && b[2].is_ascii_alphabetic()
        };
        let o = outward.as_bytes();
        let outward_ok = o[0].is_ascii_alphabetic()
            && o.iter().all(|c| c.is_ascii_alphanumeric())
            && o.iter().any(|c| c.is_ascii_digit())
            && (o.len() < 2 || o[1].is_ascii_alphanumeric());
        if !inward_ok || !outward_ok {
            return Err("is not a UK postcode (expected e.g. LS1 4AP)");
        }
        Ok(Self(format!("{outward} {inward}")))
    }

    /// The normalised postcode.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Postcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Postcode(<redacted>)")
    }
}

/// Stated sex, as the NHS data dictionary codes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sex {
    /// Male (NHS code 1).
    Male,
    /// Female (NHS code 2).
    Female,
    /// Indeterminate (NHS code 9).
    Indeterminate,
    /// Not known or not recorded (NHS code 0).
    NotKnown,
}

impl Sex {
    /// Parses `M`/`F`/`I`/`U`, the NHS numeric codes 1/2/9/0, or the words.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        match s.trim().to_ascii_lowercase().as_str() {
            "m" | "1" | "male" => Ok(Self::Male),
            "f" | "2" | "female" => Ok(Self::Female),
            "i" | "9" | "indeterminate" => Ok(Self::Indeterminate),
            "u" | "0" | "unknown" | "not known" => Ok(Self::NotKnown),
            _ => Err("must be M, F, I (indeterminate) or U (not known)"),
        }
    }

    /// The one-letter code used in storage and files.
    pub fn code(self) -> &'static str {
        match self {
            Self::Male => "M",
            Self::Female => "F",
            Self::Indeterminate => "I",
            Self::NotKnown => "U",
        }
    }
}

/// Whether the patient consented to the registry holding identifiable data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Consent {
    /// The patient gave consent.
    Given,
    /// The patient refused.
    Refused,
    /// Consent was not recorded.
    NotRecorded,
}

impl Consent {
    /// Parses `given`/`yes`, `refused`/`no`, or `not_recorded` (also an empty value).
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        match s.trim().to_ascii_lowercase().as_str() {
            "given" | "yes" | "y" | "true" => Ok(Self::Given),
            "refused" | "no" | "n" | "false" => Ok(Self::Refused),
            "" | "not_recorded" | "not recorded" | "unknown" => Ok(Self::NotRecorded),
            _ => Err("must be given, refused or not_recorded"),
        }
    }

    /// The code used in storage and files.
    pub fn code(self) -> &'static str {
        match self {
            Self::Given => "given",
            Self::Refused => "refused",
            Self::NotRecorded => "not_recorded",
        }
    }
}

/// A patient's direct identifiers. Only ever stored encrypted.
#[derive(Clone, PartialEq, Eq)]
pub struct Identifiers {
    nhs_number: NhsNumber,
    family_name: String,
    given_name: String,
    date_of_birth: Date,
    postcode: Postcode,
}

impl Identifiers {
    /// The NHS number.
    pub fn nhs_number(&self) -> &NhsNumber {
        &self.nhs_number
    }
    /// The family name (surname).
    pub fn family_name(&self) -> &str {
        &self.family_name
    }
    /// The given name.
    pub fn given_name(&self) -> &str {
        &self.given_name
    }
    /// The date of birth.
    pub fn date_of_birth(&self) -> Date {
        self.date_of_birth
    }
    /// The home postcode.
    pub fn postcode(&self) -> &Postcode {
        &self.postcode
    }
}

impl fmt::Debug for Identifiers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Identifiers(<redacted>)")
    }
}

/// A registry's patient: identifiers when the registry may hold them, and the facts that
/// statistics need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patient {
    identifiers: Option<Identifiers>,
    sex: Sex,
    date_of_death: Option<Date>,
    opted_out: bool,
    consent: Consent,
}

impl Patient {
    /// The direct identifiers, or `None` for a patient recorded anonymously (no consent where the
    /// registry needs it).
    pub fn identifiers(&self) -> Option<&Identifiers> {
        self.identifiers.as_ref()
    }
    /// Stated sex.
    pub fn sex(&self) -> Sex {
        self.sex
    }
    /// Date of death, if the patient has died.
    pub fn date_of_death(&self) -> Option<Date> {
        self.date_of_death
    }
    /// True if the patient registered a national data opt-out. It never removes them from direct
    /// care or safety uses such as a recall.
    pub fn opted_out(&self) -> bool {
        self.opted_out
    }
    /// Consent state.
    pub fn consent(&self) -> Consent {
        self.consent
    }
}

/// The text of a patient as it arrives from a form or a CSV row, before parsing. Its `Debug`
/// shows only the non-identifying fields.
#[derive(Clone, Copy, Default)]
pub struct PatientInput<'a> {
    /// NHS number, spaces allowed.
    pub nhs_number: &'a str,
    /// Family name.
    pub family_name: &'a str,
    /// Given name.
    pub given_name: &'a str,
    /// Date of birth, `YYYY-MM-DD`.
    pub date_of_birth: &'a str,
    /// Sex code.
    pub sex: &'a str,
    /// Postcode.
    pub postcode: &'a str,
    /// Date of death, `YYYY-MM-DD`, or empty.
    pub date_of_death: &'a str,
    /// National data opt-out: yes/no, or empty for no.
    pub opted_out: &'a str,
    /// Consent state.
    pub consent: &'a str,
}

impl fmt::Debug for PatientInput<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PatientInput")
            .field("identifiers", &"<redacted>")
            .field("sex", &self.sex)
            .field("date_of_death", &self.date_of_death)
            .field("opted_out", &self.opted_out)
            .field("consent", &self.consent)
            .finish()
    }
}

const MAX_NAME: usize = 100;

fn parse_name(value: &str, field: &str, problems: &mut Problems) -> Option<String> {
    let v = value.trim();
    if v.is_empty() {
        problems.push(field, "is required");
        None
    } else if v.chars().count() > MAX_NAME {
        problems.push(field, format!("must be at most {MAX_NAME} characters"));
        None
    } else if v.chars().any(char::is_control) {
        problems.push(field, "must not contain control characters");
        None
    } else {
        Some(v.to_owned())
    }
}

impl PatientInput<'_> {
    /// Parses the input, reporting every problem at once.
    ///
    /// When `consent_required` and consent is not given, the identifiers are neither checked nor
    /// kept: the registry records the patient anonymously. Problem reasons never repeat an
    /// identifier's value.
    pub fn parse(&self, consent_required: bool, today: Date) -> Result<Patient, Problems> {
        let consent = Consent::parse(self.consent).ok();
        self.parse_as(!consent_required || consent == Some(Consent::Given), today)
    }

    /// Parses the input, keeping identifiers exactly when `identifiable` (storage uses this to
    /// rebuild a patient whose identifiers it has, or deliberately does not have).
    pub fn parse_as(&self, identifiable: bool, today: Date) -> Result<Patient, Problems> {
        let mut problems = Problems::new();
        let consent = Consent::parse(self.consent).map_err(|e| problems.push("consent", e)).ok();
        let sex = Sex::parse(self.sex).map_err(|e| problems.push("sex", e)).ok();
        let opted_out = if self.opted_out.trim().is_empty() {
            Some(false)
        } else {
            parse_bool(self.opted_out).map_err(|e| problems.push("opted_out", e)).ok()
        };
        let date_of_death = if self.date_of_death.trim().is_empty() {
            Some(None)
        } else {
            match parse_date(self.date_of_death) {
                Ok(d) if d > today => {
                    problems.push("date_of_death", "must not be in the future");
                    None
                }
                Ok(d) => Some(Some(d)),
                Err(e) => {
                    problems.push("date_of_death", e);
                    None
                }
            }
        };

        let identifiers = if identifiable { self.parse_identifiers(today, &mut problems) } else { None };
        if let (Some(ids), Some(Some(death))) = (&identifiers, date_of_death)
            && death < ids.date_of_birth
        {
            problems.push("date_of_death", "must not be before the date of birth");
        }

        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Patient {
            identifiers,
            sex: sex.expect("checked"),
            date_of_death: date_of_death.expect("checked"),
            opted_out: opted_out.expect("checked"),
            consent: consent.expect("checked"),
        })
    }

    fn parse_identifiers(&self, today: Date, problems: &mut Problems) -> Option<Identifiers> {
        let nhs_number = if self.nhs_number.trim().is_empty() {
            problems.push("nhs_number", "is required");
            None
        } else {
            NhsNumber::parse(self.nhs_number).map_err(|e| problems.push("nhs_number", e.to_string())).ok()
        };
        let family_name = parse_name(self.family_name, "family_name", problems);
        let given_name = parse_name(self.given_name, "given_name", problems);
        let date_of_birth = if self.date_of_birth.trim().is_empty() {
            problems.push("date_of_birth", "is required");
            None
        } else {
            match parse_date(self.date_of_birth) {
                Ok(d) if d > today => {
                    problems.push("date_of_birth", "must not be in the future");
                    None
                }
                Ok(d) if d.year() < 1880 => {
                    problems.push("date_of_birth", "must not be before 1880");
                    None
                }
                Ok(d) => Some(d),
                Err(e) => {
                    problems.push("date_of_birth", e);
                    None
                }
            }
        };
        let postcode = if self.postcode.trim().is_empty() {
            problems.push("postcode", "is required");
            None
        } else {
            Postcode::parse(self.postcode).map_err(|e| problems.push("postcode", e)).ok()
        };
        Some(Identifiers {
            nhs_number: nhs_number?,
            family_name: family_name?,
            given_name: given_name?,
            date_of_birth: date_of_birth?,
            postcode: postcode?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 11 - 24);

    fn input() -> PatientInput<'static> {
        PatientInput {
            nhs_number: "999 000 0018",
            family_name: "Smith",
            given_name: "Ann",
            date_of_birth: "1950-03-02",
            sex: "F",
            postcode: "ls14ap",
            date_of_death: "",
            opted_out: "",
            consent: "given",
        }
    }

    #[test]
    fn a_complete_patient_parses_and_normalises() {
        let p = input().parse(true, TODAY).unwrap();
        let ids = p.identifiers().unwrap();
        assert_eq!(ids.nhs_number().digits(), "9990000018");
        assert_eq!(ids.postcode().as_str(), "LS1 4AP");
        assert_eq!(p.sex(), Sex::Female);
        assert!(!p.opted_out());
    }

    #[test]
    fn every_problem_is_reported_at_once_without_echoing_identifiers() {
        let bad = PatientInput {
            nhs_number: "9990000019",
            family_name: "",
            date_of_birth: "2030-01-01",
            sex: "X",
            postcode: "NOT A POSTCODE",
            ..input()
        };
        let problems = bad.parse(false, TODAY).unwrap_err();
        let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["sex", "nhs_number", "family_name", "date_of_birth", "postcode"]);
        assert!(!problems.to_string().contains("9990000019"));
    }

    #[test]
    fn without_consent_a_consent_registry_keeps_no_identifiers() {
        let p = PatientInput { consent: "refused", nhs_number: "", ..input() }.parse(true, TODAY).unwrap();
        assert!(p.identifiers().is_none());
        // A registry that does not rely on consent keeps them.
        let p = PatientInput { consent: "refused", ..input() }.parse(false, TODAY).unwrap();
        assert!(p.identifiers().is_some());
    }

    #[test]
    fn debug_output_of_input_and_patient_shows_no_identifier() {
        let shown = format!("{:?} {:?}", input(), input().parse(true, TODAY).unwrap());
        for secret in ["999", "Smith", "Ann", "1950", "LS1", "ls14ap"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }

    #[test]
    fn death_before_birth_is_refused() {
        let problems = PatientInput { date_of_death: "1940-01-01", ..input() }.parse(true, TODAY).unwrap_err();
        assert_eq!(problems.iter().next().unwrap().field, "date_of_death");
    }

    #[test]
    fn postcodes_of_every_uk_shape_parse() {
        for (raw, norm) in [
            ("M1 1AE", "M1 1AE"),
            ("m601nw", "M60 1NW"),
            ("CR2 6XH", "CR2 6XH"),
            ("DN55 1PT", "DN55 1PT"),
            ("W1A 1HQ", "W1A 1HQ"),
            ("EC1A 1BB", "EC1A 1BB"),
        ] {
            assert_eq!(Postcode::parse(raw).unwrap().as_str(), norm);
        }
        for bad in ["", "12345", "LS1", "LS1 4A1", "ÄS1 4AP"] {
            assert!(Postcode::parse(bad).is_err(), "{bad}");
        }
    }
}
