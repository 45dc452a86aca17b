//! Device recalls: which implanted units a recall reaches, and how each one is followed up.
//!
//! A recall names one or more GTINs (UDI-DIs) and may narrow them by lot, serial, expiry date,
//! production date, implant date and organisation. [`RecallInput`] is the form as typed (free
//! text, lists one per line or comma-separated); [`RecallInput::parse`] turns it into a
//! [`RecallHeader`] and [`RecallCriteria`], naming every problem by field and never echoing a
//! value (someone may paste an NHS number into the wrong box).
//!
//! A unit matches ([`RecallCriteria::matches`]) when its GTIN is one of the recall's AND, for
//! every list that is not empty and every date range that is given, the unit has that attribute
//! and it lies in the list or range (ranges are inclusive at both ends). So a unit recorded
//! without a lot does **not** match a lot-restricted recall: it is not known to be affected. A
//! worklist of "possibly affected, lot unknown" units is on the roadmap, not here.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::Date;

use crate::gs1::{Gtin, is_cset82};
use crate::{OdsCode, Problems};

/// The longest lot or serial number GS1 allows (AIs 10 and 21).
pub const MAX_LOT_LEN: usize = 20;

/// The recall form as typed: every field is text, lists are one entry per line or
/// comma-separated, dates are ISO (`YYYY-MM-DD`) or empty.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecallInput<'a> {
    /// The regulator's or manufacturer's reference (e.g. a field safety notice number).
    pub reference: &'a str,
    /// A short title.
    pub title: &'a str,
    /// The manufacturer.
    pub manufacturer: &'a str,
    /// GTINs (GTIN-8, -12, -13 or -14; stored as 14 digits).
    pub gtins: &'a str,
    /// Lots; empty for every lot.
    pub lots: &'a str,
    /// Serial numbers; empty for every serial.
    pub serials: &'a str,
    /// Earliest expiry date affected.
    pub expiry_from: &'a str,
    /// Latest expiry date affected.
    pub expiry_to: &'a str,
    /// Earliest production date affected.
    pub manufactured_from: &'a str,
    /// Latest production date affected.
    pub manufactured_to: &'a str,
    /// Earliest implant date affected.
    pub implanted_from: &'a str,
    /// Latest implant date affected.
    pub implanted_to: &'a str,
    /// ODS codes of the organisations affected; empty for all.
    pub organisations: &'a str,
}

/// What a recall is called: its reference, title and manufacturer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecallHeader {
    /// The reference, unique among recalls.
    pub reference: String,
    /// The title.
    pub title: String,
    /// The manufacturer.
    pub manufacturer: String,
}

/// An inclusive range of dates; either end may be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateRange {
    /// The first date in the range, or `None` for no lower bound.
    #[serde(with = "iso_date")]
    pub from: Option<Date>,
    /// The last date in the range, or `None` for no upper bound.
    #[serde(with = "iso_date")]
    pub to: Option<Date>,
}

impl DateRange {
    /// Whether `date` lies in the range (both ends included).
    pub fn contains(&self, date: Date) -> bool {
        self.from.is_none_or(|f| f <= date) && self.to.is_none_or(|t| date <= t)
    }
}

/// Which units a recall reaches. Stored as canonical JSON (sets are sorted, dates ISO).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecallCriteria {
    /// The GTINs, each 14 digits with a valid check digit; never empty.
    pub gtins: BTreeSet<String>,
    /// The lots; empty for every lot.
    pub lots: BTreeSet<String>,
    /// The serial numbers; empty for every serial.
    pub serials: BTreeSet<String>,
    /// The expiry dates affected, if restricted.
    pub expiry: Option<DateRange>,
    /// The production dates affected, if restricted.
    pub manufactured: Option<DateRange>,
    /// The implant dates affected, if restricted.
    pub implanted: Option<DateRange>,
    /// The organisations (ODS codes) affected; empty for all.
    pub organisations: BTreeSet<String>,
}

/// What is known of one implanted unit, as a recall sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnitFacts<'a> {
    /// The GTIN, 14 digits.
    pub gtin: &'a str,
    /// The lot, if recorded.
    pub lot: Option<&'a str>,
    /// The serial number, if recorded.
    pub serial: Option<&'a str>,
    /// The expiry date, if recorded.
    pub expiry: Option<Date>,
    /// The production date, if recorded.
    pub manufactured: Option<Date>,
    /// The implant date, if recorded.
    pub implanted: Option<Date>,
    /// The organisation (ODS code) where it was implanted.
    pub organisation: &'a str,
}

fn in_set(set: &BTreeSet<String>, value: Option<&str>) -> bool {
    set.is_empty() || value.is_some_and(|v| set.contains(v))
}

fn in_range(range: &Option<DateRange>, value: Option<Date>) -> bool {
    match range {
        None => true,
        Some(r) => value.is_some_and(|d| r.contains(d)),
    }
}

impl RecallCriteria {
    /// Whether the recall reaches `unit`: its GTIN is listed, and every restriction given (lots,
    /// serials, date ranges, organisations) is met by an attribute the unit has. A unit lacking
    /// an attribute that the recall restricts does not match.
    pub fn matches(&self, unit: &UnitFacts<'_>) -> bool {
        self.gtins.contains(unit.gtin)
            && in_set(&self.lots, unit.lot)
            && in_set(&self.serials, unit.serial)
            && in_range(&self.expiry, unit.expiry)
            && in_range(&self.manufactured, unit.manufactured)
            && in_range(&self.implanted, unit.implanted)
            && in_set(&self.organisations, Some(unit.organisation))
    }
}

/// Splits a list field into its entries: one per line or comma-separated, trimmed, blanks skipped.
fn entries(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split(['\n', '\r', ',']).map(str::trim).filter(|s| !s.is_empty()).enumerate().map(|(i, s)| (i + 1, s))
}

fn parse_date(field: &str, text: &str, problems: &mut Problems) -> Option<Date> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    match Date::parse(text, &time::format_description::well_known::Iso8601::DATE) {
        Ok(d) if text.len() == 10 => Some(d),
        _ => {
            problems.push(field, "must be a date written YYYY-MM-DD");
            None
        }
    }
}

fn parse_range(from_field: &str, from: &str, to_field: &str, to: &str, problems: &mut Problems) -> Option<DateRange> {
    let f = parse_date(from_field, from, problems);
    let t = parse_date(to_field, to, problems);
    if let (Some(f), Some(t)) = (f, t)
        && f > t
    {
        problems.push(to_field, "must not be before the start of the range");
        return None;
    }
    (f.is_some() || t.is_some()).then_some(DateRange { from: f, to: t })
}

fn parse_codes(field: &str, what: &str, text: &str, problems: &mut Problems) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (n, s) in entries(text) {
        if s.len() > MAX_LOT_LEN {
            problems
                .push(field, format!("entry {n} is longer than {MAX_LOT_LEN} characters, the most a {what} may have"));
        } else if !s.bytes().all(is_cset82) {
            problems.push(
                field,
                format!(
                    "entry {n} has a character a {what} cannot contain (letters, digits and GS1's punctuation only)"
                ),
            );
        } else {
            out.insert(s.to_owned());
        }
    }
    out
}

fn parse_text(field: &str, text: &str, max: usize, problems: &mut Problems) -> String {
    let t = text.trim();
    if t.is_empty() {
        problems.push(field, "is required");
    } else if t.chars().count() > max {
        problems.push(field, format!("must be at most {max} characters"));
    } else if t.chars().any(char::is_control) {
        problems.push(field, "must be one line of text");
    }
    t.to_owned()
}

impl RecallInput<'_> {
    /// Parses the form. Every problem is reported, each naming its field (and, in a list, the
    /// entry's position), none repeating the value typed.
    pub fn parse(&self) -> Result<(RecallHeader, RecallCriteria), Problems> {
        let mut problems = Problems::new();
        let reference = parse_text("reference", self.reference, 64, &mut problems);
        let title = parse_text("title", self.title, 200, &mut problems);
        let manufacturer = parse_text("manufacturer", self.manufacturer, 200, &mut problems);

        let mut gtins = BTreeSet::new();
        for (n, s) in entries(self.gtins) {
            match Gtin::parse(s) {
                Ok(g) => {
                    gtins.insert(g.as_str().to_owned());
                }
                Err(e) => problems.push("gtins", format!("entry {n} is not a GTIN: {}", e.reason())),
            }
        }
        if gtins.is_empty() && !problems.iter().any(|p| p.field == "gtins") {
            problems.push("gtins", "at least one GTIN is required");
        }
        let lots = parse_codes("lots", "lot", self.lots, &mut problems);
        let serials = parse_codes("serials", "serial number", self.serials, &mut problems);
        let expiry = parse_range("expiry_from", self.expiry_from, "expiry_to", self.expiry_to, &mut problems);
        let manufactured = parse_range(
            "manufactured_from",
            self.manufactured_from,
            "manufactured_to",
            self.manufactured_to,
            &mut problems,
        );
        let implanted =
            parse_range("implanted_from", self.implanted_from, "implanted_to", self.implanted_to, &mut problems);
        let mut organisations = BTreeSet::new();
        for (n, s) in entries(self.organisations) {
            match OdsCode::parse(s) {
                Ok(o) => {
                    organisations.insert(o.as_str().to_owned());
                }
                Err(_) => problems.push("organisations", format!("entry {n} is not an ODS code")),
            }
        }
        problems.into_result(|| {
            (
                RecallHeader { reference, title, manufacturer },
                RecallCriteria { gtins, lots, serials, expiry, manufactured, implanted, organisations },
            )
        })
    }
}

/// Whether a recall is still being worked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecallStatus {
    /// Being worked: units are flagged at scan time and follow-ups recorded.
    Open,
    /// Closed: kept for the record.
    Closed,
}

impl RecallStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RecallStatus::Open => "open",
            RecallStatus::Closed => "closed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [RecallStatus::Open, RecallStatus::Closed].into_iter().find(|r| r.as_str() == s)
    }

    /// The name people read.
    pub fn label(self) -> &'static str {
        match self {
            RecallStatus::Open => "Open",
            RecallStatus::Closed => "Closed",
        }
    }
}

/// How far the follow-up of one affected unit has got. A unit with nothing recorded is
/// [`FollowUp::ToContact`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FollowUp {
    /// Nobody has contacted the patient yet.
    ToContact,
    /// The patient has been contacted.
    Contacted,
    /// The patient has been reviewed in clinic.
    Reviewed,
    /// The device has been taken out.
    Explanted,
    /// The patient cannot be traced.
    NotTraceable,
}

impl FollowUp {
    /// Every status, in the order pages list them.
    pub const ALL: [FollowUp; 5] =
        [FollowUp::ToContact, FollowUp::Contacted, FollowUp::Reviewed, FollowUp::Explanted, FollowUp::NotTraceable];

    /// The stored name (`to_contact`, `contacted`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            FollowUp::ToContact => "to_contact",
            FollowUp::Contacted => "contacted",
            FollowUp::Reviewed => "reviewed",
            FollowUp::Explanted => "explanted",
            FollowUp::NotTraceable => "not_traceable",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        FollowUp::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// The name people read.
    pub fn label(self) -> &'static str {
        match self {
            FollowUp::ToContact => "To contact",
            FollowUp::Contacted => "Patient contacted",
            FollowUp::Reviewed => "Reviewed in clinic",
            FollowUp::Explanted => "Device explanted",
            FollowUp::NotTraceable => "Not traceable",
        }
    }
}

impl fmt::Display for FollowUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Dates in recall criteria are stored as ISO `YYYY-MM-DD` text, so the stored JSON reads plainly
/// and stays canonical.
mod iso_date {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;

    pub fn serialize<S: Serializer>(d: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&d.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| {
            Date::parse(&t, &time::format_description::well_known::Iso8601::DATE).map_err(serde::de::Error::custom)
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use time::macros::date;

    use super::*;

    const GTIN: &str = "05012345678900";
    const OTHER_GTIN: &str = "05012345678917";

    fn input() -> RecallInput<'static> {
        RecallInput {
            reference: "MHRA/2026/001",
            title: "Femoral stem fracture",
            manufacturer: "Acme Orthopaedics",
            gtins: GTIN,
            ..RecallInput::default()
        }
    }

    fn unit(lot: Option<&'static str>) -> UnitFacts<'static> {
        UnitFacts {
            gtin: GTIN,
            lot,
            serial: None,
            expiry: Some(date!(2028 - 01 - 31)),
            manufactured: Some(date!(2025 - 03 - 01)),
            implanted: Some(date!(2025 - 06 - 15)),
            organisation: "RRK",
        }
    }

    #[test]
    fn a_lot_restricted_recall_reaches_only_its_lots_and_not_units_without_a_lot() {
        let (_, c) = RecallInput { lots: "A1, B2\nC3", ..input() }.parse().unwrap();
        assert_eq!(c.lots.len(), 3);
        assert!(c.matches(&unit(Some("A1"))));
        assert!(c.matches(&unit(Some("C3"))));
        assert!(!c.matches(&unit(Some("a1"))), "lots are case-sensitive, as GS1's are");
        assert!(!c.matches(&unit(Some("D4"))));
        assert!(!c.matches(&unit(None)), "a unit of unknown lot is not known to be affected");
        let whole = input().parse().unwrap().1;
        assert!(whole.matches(&unit(None)), "a whole-GTIN recall reaches a unit without a lot");
        assert!(!whole.matches(&UnitFacts { gtin: OTHER_GTIN, ..unit(None) }));
    }

    #[test]
    fn date_ranges_include_both_ends_and_a_unit_without_the_date_is_outside() {
        let (_, c) =
            RecallInput { implanted_from: "2025-06-15", implanted_to: "2025-06-30", ..input() }.parse().unwrap();
        let on = |d: Date| UnitFacts { implanted: Some(d), ..unit(None) };
        assert!(c.matches(&on(date!(2025 - 06 - 15))));
        assert!(c.matches(&on(date!(2025 - 06 - 30))));
        assert!(!c.matches(&on(date!(2025 - 06 - 14))));
        assert!(!c.matches(&on(date!(2025 - 07 - 01))));
        assert!(!c.matches(&UnitFacts { implanted: None, ..unit(None) }));

        let (_, c) = RecallInput { expiry_to: "2028-01-31", ..input() }.parse().unwrap();
        assert_eq!(c.expiry, Some(DateRange { from: None, to: Some(date!(2028 - 01 - 31)) }));
        assert!(c.matches(&unit(None)));
        assert!(!c.matches(&UnitFacts { expiry: Some(date!(2028 - 02 - 01)), ..unit(None) }));

        let (_, c) = RecallInput { manufactured_from: "2025-03-02", ..input() }.parse().unwrap();
        assert!(!c.matches(&unit(None)));
        assert!(c.matches(&UnitFacts { manufactured: Some(date!(2025 - 03 - 02)), ..unit(None) }));
    }

    #[test]
    fn an_organisation_filter_leaves_out_other_organisations() {
        let (_, c) = RecallInput { organisations: "rrk\nRTH", ..input() }.parse().unwrap();
        assert!(c.organisations.contains("RRK"), "ODS codes are upper-cased: {:?}", c.organisations);
        assert!(c.matches(&unit(None)));
        assert!(c.matches(&UnitFacts { organisation: "RTH", ..unit(None) }));
        assert!(!c.matches(&UnitFacts { organisation: "RQY", ..unit(None) }));
    }

    #[test]
    fn serials_restrict_like_lots() {
        let (_, c) = RecallInput { serials: "SN1", ..input() }.parse().unwrap();
        assert!(c.matches(&UnitFacts { serial: Some("SN1"), ..unit(None) }));
        assert!(!c.matches(&UnitFacts { serial: Some("SN2"), ..unit(None) }));
        assert!(!c.matches(&unit(None)));
    }

    #[test]
    fn a_gtin_with_a_wrong_check_digit_is_refused_by_position_without_repeating_it() {
        let err = RecallInput { gtins: "05012345678900\n05012345678901", ..input() }.parse().unwrap_err();
        assert_eq!(err.len(), 1, "{err}");
        let p = err.iter().next().unwrap();
        assert_eq!(p.field, "gtins");
        assert!(p.reason.starts_with("entry 2 "), "{}", p.reason);
        assert!(!p.reason.contains("05012345678901"), "{}", p.reason);
    }

    #[test]
    fn short_gtins_are_padded_to_fourteen_digits() {
        let (_, c) = RecallInput { gtins: "5012345678900", ..input() }.parse().unwrap();
        assert_eq!(c.gtins.iter().next().unwrap(), GTIN);
    }

    #[test]
    fn every_problem_is_named_by_field_and_none_echoes_the_value() {
        let nhs = "9990000018";
        let err = RecallInput {
            reference: "",
            title: " ",
            manufacturer: "",
            gtins: nhs,
            lots: &"L".repeat(21),
            serials: "bad serial",
            expiry_from: "2027-01-01",
            expiry_to: "2026-01-01",
            manufactured_from: "01/02/2025",
            manufactured_to: "",
            implanted_from: "",
            implanted_to: nhs,
            organisations: "not an ods code!",
        }
        .parse()
        .unwrap_err();
        let fields: Vec<&str> = err.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "reference",
                "title",
                "manufacturer",
                "gtins",
                "lots",
                "serials",
                "expiry_to",
                "manufactured_from",
                "implanted_to",
                "organisations"
            ]
        );
        assert!(!err.to_string().contains(nhs), "{err}");
        assert!(!err.to_string().contains("LLLL"), "{err}");
    }

    #[test]
    fn a_recall_without_gtins_is_refused() {
        let err = RecallInput { gtins: " , \n", ..input() }.parse().unwrap_err();
        assert_eq!(err.to_string(), "gtins: at least one GTIN is required");
    }

    #[test]
    fn criteria_round_trip_through_canonical_json_with_iso_dates() {
        let (_, c) = RecallInput { lots: "B, A", implanted_from: "2024-01-01", ..input() }.parse().unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"lots\":[\"A\",\"B\"]"), "{json}");
        assert!(json.contains("\"implanted\":{\"from\":\"2024-01-01\",\"to\":null}"), "{json}");
        let back: RecallCriteria = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        assert_eq!(serde_json::to_string(&back).unwrap(), json, "the encoding is canonical");
    }

    #[test]
    fn follow_up_statuses_round_trip_through_their_stored_names() {
        for f in FollowUp::ALL {
            assert_eq!(FollowUp::parse(f.as_str()), Some(f));
        }
        assert_eq!(FollowUp::parse("lost"), None);
        assert_eq!(RecallStatus::parse("open"), Some(RecallStatus::Open));
        assert_eq!(RecallStatus::parse("closed"), Some(RecallStatus::Closed));
    }

    fn arb_date() -> impl Strategy<Value = Date> {
        (0i32..2000).prop_map(|d| date!(2020 - 01 - 01) + time::Duration::days(d.into()))
    }

    proptest! {
        /// Narrowing a recall (adding a lot list or a date range) never reaches a unit the wider
        /// recall did not.
        #[test]
        fn restricting_a_recall_never_adds_units(
            lot in proptest::option::of("[A-C][0-2]"),
            implanted in proptest::option::of(arb_date()),
            from in arb_date(),
            span in 0i64..400,
            lots in proptest::collection::btree_set("[A-C][0-2]", 0..4),
        ) {
            let wide = input().parse().unwrap().1;
            let mut narrow = wide.clone();
            narrow.lots = lots.clone();
            narrow.implanted = Some(DateRange { from: Some(from), to: Some(from + time::Duration::days(span)) });
            let u = UnitFacts { lot: lot.as_deref(), implanted, ..unit(None) };
            if narrow.matches(&u) {
                prop_assert!(wide.matches(&u));
                prop_assert!(lots.is_empty() || lot.as_ref().is_some_and(|l| lots.contains(l)));
                let d = implanted.unwrap();
                prop_assert!(from <= d && d <= from + time::Duration::days(span));
            }
        }

        /// Any list typed with commas, newlines and stray spaces parses to the same set.
        #[test]
        fn list_separators_do_not_matter(lots in proptest::collection::vec("[A-Z0-9]{1,20}", 1..6)) {
            let commas = lots.join(", ");
            let lines = lots.join("\r\n  ");
            let a = RecallInput { lots: &commas, ..input() }.parse().unwrap().1;
            let b = RecallInput { lots: &lines, ..input() }.parse().unwrap().1;
            prop_assert_eq!(&a.lots, &b.lots);
            prop_assert_eq!(a.lots, lots.into_iter().collect::<BTreeSet<_>>());
        }
    }
}
