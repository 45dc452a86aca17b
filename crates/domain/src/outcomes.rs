//! Registry outcomes: from a registry's procedures to the facts its statistics need.
//!
//! The unit of analysis is one **primary** operation on one site and side (a hip, a knee, a
//! breast). Its outcome is the time to its first **revision** — a later operation on the same
//! patient, site and side — or, without one, the time to death or the data cut-off, whichever
//! comes first (DOMAIN.md §5). An [`OutcomeSpec`] says which of a registry's forms record
//! primaries and revisions and in which fields the side and date are; [`link`] turns procedures
//! into [`Primary`] outcomes. The analyses themselves are in [`crate::analysis`].

use time::Date;

use crate::Sex;

/// Whether an operation puts a device in for the first time or revises an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcedureKind {
    /// A primary operation.
    Primary,
    /// A revision (any component added, removed or exchanged), including explantation.
    Revision,
}

/// How a form tells primaries from revisions.
#[derive(Debug, Clone, PartialEq)]
pub enum KindRule {
    /// Every record of the form is of this kind.
    Always(ProcedureKind),
    /// The code in `field` decides: one of `primary` is a primary, any other value a revision.
    ByField {
        /// The field holding the operation type.
        field: String,
        /// Codes that mean a primary.
        primary: Vec<String>,
    },
}

/// One form of a registry that records operations.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcedureForm {
    /// The form's name in the dictionary.
    pub form: String,
    /// The site operated on (`hip`, `knee`, `breast`): revisions link to primaries of the same site.
    pub site: String,
    /// The field holding the side (`L`/`R`).
    pub side_field: String,
    /// The field holding the operation date.
    pub date_field: String,
    /// Primary or revision.
    pub kind: KindRule,
    /// For each of [`OutcomeSpec::attributes`], the field holding it in this form, if any.
    pub attribute_fields: Vec<Option<String>>,
}

/// Which forms of a registry record operations, and where their facts are.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeSpec {
    /// The operation forms.
    pub forms: Vec<ProcedureForm>,
    /// Names of the attributes analyses may group by (e.g. `fixation`, `bearing`).
    pub attributes: Vec<String>,
}

fn form(form: &str, site: &str, prefix: &str, kind: KindRule, attributes: &[Option<&str>]) -> ProcedureForm {
    ProcedureForm {
        form: form.into(),
        site: site.into(),
        side_field: format!("{prefix}_side"),
        date_field: format!("{prefix}_operation_date"),
        kind,
        attribute_fields: attributes.iter().map(|a| a.map(|f| format!("{prefix}_{f}"))).collect(),
    }
}

impl OutcomeSpec {
    /// The specification of a registry shipped with Tessera (`njr`, `bcir`), if it is one.
    pub fn shipped(registry: &str) -> Option<Self> {
        use ProcedureKind::*;
        match registry {
            "njr" => Some(Self {
                attributes: vec!["fixation".into(), "bearing".into()],
                forms: vec![
                    form("hip_primary", "hip", "hp", KindRule::Always(Primary), &[Some("fixation"), Some("bearing")]),
                    form("hip_revision", "hip", "hr", KindRule::Always(Revision), &[None, None]),
                    form("knee_primary", "knee", "kp", KindRule::Always(Primary), &[Some("fixation"), None]),
                    form("knee_revision", "knee", "kr", KindRule::Always(Revision), &[None, None]),
                ],
            }),
            "bcir" => Some(Self {
                attributes: vec!["plane".into()],
                forms: vec![form(
                    "implant_operation",
                    "breast",
                    "op",
                    KindRule::ByField { field: "op_operation_type".into(), primary: vec!["PRIMARY".into()] },
                    &[Some("plane")],
                )],
            }),
            _ => None,
        }
    }

    /// The spec of one form, if it records operations.
    pub fn form(&self, name: &str) -> Option<&ProcedureForm> {
        self.forms.iter().find(|f| f.form == name)
    }

    /// The sites, in the order their forms are listed.
    pub fn sites(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for f in &self.forms {
            if !out.contains(&f.site.as_str()) {
                out.push(&f.site);
            }
        }
        out
    }
}

/// A revision operation as recalls need it: the site and side revised, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revised {
    /// The site (`hip`, `knee`, `breast`).
    pub site: String,
    /// The side, as coded.
    pub side: String,
    /// The operation date.
    pub date: Date,
}

impl OutcomeSpec {
    /// [`OutcomeSpec::shipped`], built once per process: for code that asks per record.
    pub fn shipped_ref(registry: &str) -> Option<&'static Self> {
        static NJR: std::sync::LazyLock<Option<OutcomeSpec>> = std::sync::LazyLock::new(|| OutcomeSpec::shipped("njr"));
        static BCIR: std::sync::LazyLock<Option<OutcomeSpec>> =
            std::sync::LazyLock::new(|| OutcomeSpec::shipped("bcir"));
        match registry {
            "njr" => NJR.as_ref(),
            "bcir" => BCIR.as_ref(),
            _ => None,
        }
    }

    /// The revision operation `record` states, if its form records operations, it is a
    /// revision, and its side and date can be read (a record that cannot be read tells nothing
    /// about revision, as for the outcome statistics). Reads only the fields it needs.
    pub fn revision_in(&self, record: &crate::ValidRecord) -> Option<Revised> {
        let form = self.form(record.form().as_str())?;
        let kind_field = match &form.kind {
            KindRule::Always(ProcedureKind::Primary) => return None,
            KindRule::Always(ProcedureKind::Revision) => None,
            KindRule::ByField { field, .. } => Some(field.as_str()),
        };
        let values: Vec<(String, String)> = kind_field
            .into_iter()
            .chain([form.side_field.as_str(), form.date_field.as_str()])
            .filter_map(|f| record.get(f).map(|v| (f.to_owned(), v.canonical())))
            .collect();
        Self::revised(form, &values)
    }

    /// The revision operation a stored record states, from its `(field, canonical text)`
    /// values: as [`OutcomeSpec::revision_in`].
    pub fn revision_in_values(&self, form: &str, values: &[(String, String)]) -> Option<Revised> {
        Self::revised(self.form(form)?, values)
    }

    fn revised(form: &ProcedureForm, values: &[(String, String)]) -> Option<Revised> {
        let facts = form.read(values).ok()?;
        (facts.kind == ProcedureKind::Revision).then(|| Revised {
            site: form.site.clone(),
            side: facts.side,
            date: facts.date,
        })
    }
}

/// Why a procedure could not be read as an operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcedureError {
    /// A field the spec needs has no value.
    #[error("form {form}: field {field} has no value")]
    Missing {
        /// The form.
        form: String,
        /// The field.
        field: String,
    },
    /// The date does not parse.
    #[error("form {form}: field {field} is not a date")]
    BadDate {
        /// The form.
        form: String,
        /// The field.
        field: String,
    },
}

/// One operation of one patient, as read from a record.
#[derive(Debug, Clone, PartialEq)]
pub struct Procedure {
    /// Index of the patient (into the caller's patient list).
    pub patient: usize,
    /// Index of the organisation (into the caller's organisation list).
    pub organisation: usize,
    /// Index of the site (into [`OutcomeSpec::sites`]).
    pub site: usize,
    /// The side, as coded.
    pub side: String,
    /// The operation date.
    pub date: Date,
    /// Primary or revision.
    pub kind: ProcedureKind,
    /// Values of [`OutcomeSpec::attributes`].
    pub attributes: Vec<Option<String>>,
    /// Indices of the products implanted (into the caller's product list).
    pub products: Vec<usize>,
}

/// What a record says about an operation.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationFacts {
    /// Primary or revision.
    pub kind: ProcedureKind,
    /// The side, as coded.
    pub side: String,
    /// The operation date.
    pub date: Date,
    /// Values of [`OutcomeSpec::attributes`].
    pub attributes: Vec<Option<String>>,
}

impl ProcedureForm {
    /// Reads an operation from a record's values (`(field, canonical text)` pairs).
    pub fn read(&self, values: &[(String, String)]) -> Result<OperationFacts, ProcedureError> {
        let get = |field: &str| values.iter().find(|(k, _)| k == field).map(|(_, v)| v.as_str());
        let need = |field: &str| {
            get(field).ok_or_else(|| ProcedureError::Missing { form: self.form.clone(), field: field.into() })
        };
        let kind = match &self.kind {
            KindRule::Always(k) => *k,
            KindRule::ByField { field, primary } => {
                let value = need(field)?;
                if primary.iter().any(|p| p == value) { ProcedureKind::Primary } else { ProcedureKind::Revision }
            }
        };
        let side = need(&self.side_field)?.to_owned();
        let date = Date::parse(need(&self.date_field)?, &time::format_description::well_known::Iso8601::DATE)
            .map_err(|_| ProcedureError::BadDate { form: self.form.clone(), field: self.date_field.clone() })?;
        let attributes = self.attribute_fields.iter().map(|f| f.as_deref().and_then(get).map(str::to_owned)).collect();
        Ok(OperationFacts { kind, side, date, attributes })
    }
}

/// What the analyses need of a patient. The date of birth is only used for the age at operation.
#[derive(Debug, Clone, PartialEq)]
pub struct PatientFacts {
    /// Sex.
    pub sex: Sex,
    /// Date of birth, if the patient is identified.
    pub date_of_birth: Option<Date>,
    /// Date of death, if known.
    pub date_of_death: Option<Date>,
}

/// A primary operation with its outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Primary {
    /// Index of the patient.
    pub patient: usize,
    /// Index of the organisation that did the primary (a revision elsewhere still counts here).
    pub organisation: usize,
    /// Index of the site.
    pub site: usize,
    /// The operation date.
    pub date: Date,
    /// Age in years at the operation, if the date of birth is known.
    pub age: Option<f64>,
    /// Sex.
    pub sex: Sex,
    /// Years from the primary to the first revision, or to death or the cut-off.
    pub years: f64,
    /// Whether the time ends in a revision.
    pub revised: bool,
    /// Whether the time ends in death (unrevised).
    pub died: bool,
    /// Attribute values (fixation, bearing…).
    pub attributes: Vec<Option<String>>,
    /// Products implanted at the primary.
    pub products: Vec<usize>,
}

/// Days per year in the time scale: years are days ÷ 365.25.
pub const DAYS_PER_YEAR: f64 = 365.25;

fn years_between(from: Date, to: Date) -> f64 {
    (to - from).whole_days() as f64 / DAYS_PER_YEAR
}

/// Age in years on `on` for someone born on `born`: completed years by the calendar (so a
/// birthday moves a person into the next year of age on the day), plus the fraction of the
/// current year of age gone by.
pub fn age_on(born: Date, on: Date) -> f64 {
    let birthday_in = |year: i32| {
        // Someone born on 29 February has their birthday on 28 February in other years.
        Date::from_calendar_date(year, born.month(), born.day())
            .or_else(|_| Date::from_calendar_date(year, born.month(), born.day() - 1))
            .expect("a valid date")
    };
    let mut completed = on.year() - born.year();
    if birthday_in(on.year()) > on {
        completed -= 1;
    }
    let last = birthday_in(born.year() + completed);
    let next = birthday_in(born.year() + completed + 1);
    f64::from(completed) + (on - last).whole_days() as f64 / (next - last).whole_days() as f64
}

/// Links revisions to their primaries: same patient, site and side, a strictly later date, and
/// before any later primary of the same site and side. Operations after `cutoff` are ignored.
/// Returns the primaries in (patient, site, side, date) order.
pub fn link(patients: &[PatientFacts], procedures: &[Procedure], cutoff: Date) -> Vec<Primary> {
    let mut order: Vec<usize> = (0..procedures.len()).filter(|&i| procedures[i].date <= cutoff).collect();
    order.sort_by(|&a, &b| {
        let (p, q) = (&procedures[a], &procedures[b]);
        // On one day a revision comes before a primary: a revision on the day of a new primary
        // of the same joint belongs to the earlier primary.
        (p.patient, p.site, &p.side, p.date, p.kind == ProcedureKind::Primary).cmp(&(
            q.patient,
            q.site,
            &q.side,
            q.date,
            q.kind == ProcedureKind::Primary,
        ))
    });
    let mut out = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let p = &procedures[order[i]];
        let same_joint = |j: usize| {
            let q = &procedures[order[j]];
            q.patient == p.patient && q.site == p.site && q.side == p.side
        };
        let mut end = i;
        while end < order.len() && same_joint(end) {
            end += 1;
        }
        let facts = &patients[p.patient];
        for j in i..end {
            let primary = &procedures[order[j]];
            if primary.kind != ProcedureKind::Primary {
                continue;
            }
            // Two primary records of one joint on one day are one operation recorded twice:
            // count it once, or its revision would count twice.
            let previous = (j > i).then(|| &procedures[order[j - 1]]);
            if previous.is_some_and(|q| q.kind == ProcedureKind::Primary && q.date == primary.date) {
                continue;
            }
            // The first revision strictly after the primary, unless another primary of the same
            // joint comes first (then this one's follow-up ends there, censored).
            let mut revision = None;
            let mut next_primary = None;
            for q in &order[j + 1..end] {
                let q = &procedures[*q];
                if q.date <= primary.date {
                    continue;
                }
                match q.kind {
                    ProcedureKind::Revision => {
                        revision = Some(q.date);
                        break;
                    }
                    ProcedureKind::Primary => {
                        next_primary = Some(q.date);
                        break;
                    }
                }
            }
            let death = facts.date_of_death.filter(|d| *d <= cutoff);
            let (end_date, revised, died) = match (revision, death) {
                (Some(r), Some(d)) if d < r => (d, false, true),
                (Some(r), _) => (r, true, false),
                (None, Some(d)) => match next_primary {
                    Some(n) if n < d => (n, false, false),
                    _ => (d, false, true),
                },
                (None, None) => (next_primary.unwrap_or(cutoff), false, false),
            };
            out.push(Primary {
                patient: primary.patient,
                organisation: primary.organisation,
                site: primary.site,
                date: primary.date,
                age: facts.date_of_birth.map(|b| age_on(b, primary.date)),
                sex: facts.sex,
                years: years_between(primary.date, end_date).max(0.0),
                revised,
                died,
                attributes: primary.attributes.clone(),
                products: primary.products.clone(),
            });
        }
        i = end;
    }
    out
}

/// Age bands for case-mix adjustment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AgeBand {
    /// Under 55.
    Under55,
    /// 55 to 64.
    From55To64,
    /// 65 to 74.
    From65To74,
    /// 75 and over.
    From75,
    /// Not known (an anonymous patient: no date of birth).
    NotKnown,
}

impl AgeBand {
    /// Every band, in order.
    pub const ALL: [AgeBand; 5] =
        [AgeBand::Under55, AgeBand::From55To64, AgeBand::From65To74, AgeBand::From75, AgeBand::NotKnown];

    /// The band of an age in years.
    pub fn of(age: Option<f64>) -> Self {
        match age {
            None => Self::NotKnown,
            Some(a) if a < 55.0 => Self::Under55,
            Some(a) if a < 65.0 => Self::From55To64,
            Some(a) if a < 75.0 => Self::From65To74,
            Some(_) => Self::From75,
        }
    }

    /// A label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Self::Under55 => "under 55",
            Self::From55To64 => "55 to 64",
            Self::From65To74 => "65 to 74",
            Self::From75 => "75 and over",
            Self::NotKnown => "not known",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn op(patient: usize, side: &str, date: Date, kind: ProcedureKind) -> Procedure {
        Procedure {
            patient,
            organisation: 0,
            site: 0,
            side: side.into(),
            date,
            kind,
            attributes: vec![],
            products: vec![],
        }
    }

    fn facts(death: Option<Date>) -> PatientFacts {
        PatientFacts { sex: Sex::Female, date_of_birth: Some(date!(1950 - 01 - 01)), date_of_death: death }
    }

    #[test]
    fn a_revision_links_to_the_primary_of_the_same_side_only() {
        use ProcedureKind::*;
        let procs = vec![
            op(0, "L", date!(2010 - 01 - 01), Primary),
            op(0, "R", date!(2011 - 01 - 01), Primary),
            op(0, "R", date!(2013 - 01 - 01), Revision),
        ];
        let out = link(&[facts(None)], &procs, date!(2020 - 01 - 01));
        assert_eq!(out.len(), 2);
        assert!(!out[0].revised && !out[0].died);
        assert!((out[0].years - 3652.0 / 365.25).abs() < 1e-12);
        assert!(out[1].revised);
        assert!((out[1].years - 731.0 / 365.25).abs() < 1e-12);
        assert_eq!(out[0].age, Some(60.0));
    }

    #[test]
    fn death_censors_and_events_after_the_cutoff_are_ignored() {
        use ProcedureKind::*;
        let procs = vec![op(0, "L", date!(2010 - 01 - 01), Primary), op(0, "L", date!(2021 - 01 - 01), Revision)];
        let out = link(&[facts(Some(date!(2015 - 01 - 01)))], &procs, date!(2020 - 01 - 01));
        assert!(out[0].died && !out[0].revised);
        let out = link(&[facts(Some(date!(2025 - 01 - 01)))], &procs, date!(2020 - 01 - 01));
        assert!(!out[0].died && !out[0].revised);
        assert!((out[0].years - 3652.0 / 365.25).abs() < 1e-12);
    }

    #[test]
    fn a_same_day_revision_does_not_count_and_a_second_primary_ends_follow_up() {
        use ProcedureKind::*;
        let procs = vec![
            op(0, "L", date!(2010 - 01 - 01), Primary),
            op(0, "L", date!(2010 - 01 - 01), Revision),
            op(0, "L", date!(2012 - 01 - 01), Primary),
            op(0, "L", date!(2014 - 01 - 01), Revision),
        ];
        let out = link(&[facts(None)], &procs, date!(2020 - 01 - 01));
        assert_eq!(out.len(), 2);
        assert!(!out[0].revised);
        assert!((out[0].years - 730.0 / 365.25).abs() < 1e-12);
        assert!(out[1].revised);
    }

    #[test]
    fn a_revision_on_the_day_of_a_new_primary_belongs_to_the_earlier_one_and_duplicates_count_once() {
        use ProcedureKind::*;
        let procs = vec![
            op(0, "L", date!(2010 - 01 - 01), Primary),
            op(0, "L", date!(2010 - 01 - 01), Primary),
            op(0, "L", date!(2012 - 01 - 01), Primary),
            op(0, "L", date!(2012 - 01 - 01), Revision),
        ];
        let out = link(&[facts(None)], &procs, date!(2020 - 01 - 01));
        assert_eq!(out.len(), 2);
        assert!(out[0].revised && (out[0].years - 730.0 / 365.25).abs() < 1e-12);
        assert!(!out[1].revised);
    }

    #[test]
    fn age_counts_birthdays_by_the_calendar() {
        assert_eq!(age_on(date!(1960 - 03 - 15), date!(2015 - 03 - 15)), 55.0);
        assert!(age_on(date!(1960 - 03 - 15), date!(2015 - 03 - 14)) < 55.0);
        assert_eq!(AgeBand::of(Some(age_on(date!(1960 - 03 - 15), date!(2015 - 03 - 14)))), AgeBand::Under55);
        assert_eq!(AgeBand::of(Some(age_on(date!(1960 - 03 - 15), date!(2015 - 03 - 15)))), AgeBand::From55To64);
        assert_eq!(age_on(date!(1952 - 02 - 29), date!(2017 - 02 - 28)), 65.0);
        assert!((age_on(date!(1960 - 01 - 01), date!(2015 - 07 - 02)) - (55.0 + 182.0 / 365.0)).abs() < 1e-12);
    }

    #[test]
    fn the_shipped_specs_read_their_forms() {
        let spec = OutcomeSpec::shipped("bcir").unwrap();
        let f = spec.form("implant_operation").unwrap();
        let values = vec![
            ("op_side".to_string(), "L".to_string()),
            ("op_operation_date".to_string(), "2020-02-03".to_string()),
            ("op_operation_type".to_string(), "EXPLANT".to_string()),
        ];
        let facts = f.read(&values).unwrap();
        let expected = OperationFacts {
            kind: ProcedureKind::Revision,
            side: "L".into(),
            date: date!(2020 - 02 - 03),
            attributes: vec![None],
        };
        assert_eq!(facts, expected);
        assert_eq!(
            f.read(&values[..2]),
            Err(ProcedureError::Missing { form: "implant_operation".into(), field: "op_operation_type".into() })
        );
        assert_eq!(OutcomeSpec::shipped("njr").unwrap().sites(), ["hip", "knee"]);
    }
}
