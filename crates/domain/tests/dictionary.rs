//! The shipped dictionaries load, both file formats agree, and record validation reports every
//! problem with its field.

use proptest::prelude::*;
use tessera_domain::dictionary::RegistryMeta;
use tessera_domain::{Dictionary, DictionaryError, FieldKind, RegistryId, Value};
use time::macros::date;

const JOINTS: &str = include_str!("../../../registries/joints.toml");
const BREAST: &str = include_str!("../../../registries/breast.toml");
const BREAST_CSV: &str = include_str!("../../../registries/breast.redcap.csv");
const TODAY: time::Date = date!(2026 - 11 - 24);

fn joints() -> Dictionary {
    Dictionary::from_toml(JOINTS).expect("joints.toml loads")
}

fn breast_meta() -> RegistryMeta {
    let toml = Dictionary::from_toml(BREAST).unwrap();
    RegistryMeta {
        id: RegistryId::parse("bcir").unwrap(),
        name: toml.name().to_owned(),
        description: toml.description().to_owned(),
        consent_required: true,
        implant_forms: vec!["implant_operation".into()],
    }
}

#[test]
fn the_shipped_registries_load() {
    let j = joints();
    assert_eq!(j.registry().as_str(), "njr");
    for form in ["hip_primary", "hip_revision", "knee_primary", "knee_revision", "follow_up"] {
        assert!(j.form(form).is_some(), "{form}");
    }
    assert!(j.form("hip_primary").unwrap().records_implants());
    let b = Dictionary::from_toml(BREAST).unwrap();
    assert!(b.form("implant_operation").unwrap().records_implants());
}

#[test]
fn the_redcap_csv_and_the_toml_of_the_breast_registry_are_the_same_dictionary() {
    let from_csv = Dictionary::from_redcap_csv(BREAST_CSV, breast_meta()).expect("CSV loads");
    let from_toml = Dictionary::from_toml(BREAST).unwrap();
    for (a, b) in from_csv.forms().iter().zip(from_toml.forms()) {
        assert_eq!(a.name(), b.name());
        for (fa, fb) in a.fields().iter().zip(b.fields()) {
            assert_eq!(fa.name(), fb.name());
            assert_eq!(fa.kind().type_name(), fb.kind().type_name(), "{}", fa.name());
            assert_eq!(fa.required(), fb.required(), "{}", fa.name());
            assert_eq!(fa.required_if(), fb.required_if(), "{}", fa.name());
            assert_eq!(fa.label(), fb.label(), "{}", fa.name());
            assert_eq!(fa.help(), fb.help(), "{}", fa.name());
            // Same limits; for code fields the same codes and labels (REDCap names each list
            // after its field, so only the list names differ).
            match (fa.kind(), fb.kind()) {
                (FieldKind::Code { list: la }, FieldKind::Code { list: lb }) => assert_eq!(
                    from_csv.code_list(la).unwrap().codes(),
                    from_toml.code_list(lb).unwrap().codes(),
                    "{}",
                    fa.name()
                ),
                (ka, kb) => assert_eq!(ka, kb, "{}", fa.name()),
            }
        }
        assert_eq!(a.fields().len(), b.fields().len());
    }
    assert_eq!(from_csv.forms().len(), from_toml.forms().len());
}

#[test]
fn the_canonical_toml_round_trips() {
    for d in [joints(), Dictionary::from_toml(BREAST).unwrap()] {
        let again = Dictionary::from_toml(&d.to_toml()).unwrap();
        assert_eq!(again, d);
        assert_eq!(again.to_toml(), d.to_toml());
    }
}

#[test]
fn a_dictionary_with_many_mistakes_reports_them_all() {
    let bad = r#"
id = "x"
name = "Broken"
[[code_lists]]
name = "side"
codes = [{ code = "L", label = "Left" }, { code = "L", label = "Again" }]
[[forms]]
name = "op"
title = "Operation"
[[forms.fields]]
name = "a_side"
label = "Side"
type = "code"
code_list = "sides"
[[forms.fields]]
name = "a_bmi"
label = "BMI"
type = "decimal"
min = 50
max = 10
[[forms.fields]]
name = "a_side"
label = "Duplicate"
type = "colour"
[[forms.fields]]
name = "a_detail"
label = "Detail"
type = "text"
required_if = { field = "nowhere" }
"#;
    let Err(DictionaryError::Invalid(problems)) = Dictionary::from_toml(bad) else { panic!("should fail") };
    let text = problems.to_string();
    for expected in [
        "2 to 32",
        "appears twice",
        "\"sides\" is not defined",
        "min is greater than max",
        "\"colour\"",
        "not a field of this form",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in {text}");
    }
    assert!(matches!(Dictionary::from_toml("id = 3"), Err(DictionaryError::Syntax(_))));
    assert!(matches!(Dictionary::from_toml("id = \"ab\"\nname=\"n\"\nsurprise = 1"), Err(DictionaryError::Syntax(_))));
}

fn good_hip() -> Vec<(&'static str, &'static str)> {
    vec![
        ("hp_side", "L"),
        ("hp_operation_date", "2024-05-01"),
        ("hp_procedure_type", "THR"),
        ("hp_indication", "OA"),
        ("hp_asa_grade", "2"),
        ("hp_bmi", "27.4"),
        ("hp_surgeon_grade", "CONS"),
        ("hp_surgeon_gmc", "1234567"),
        ("hp_anaesthetic", "SPINAL"),
        ("hp_chemical_prophylaxis", "LMWH"),
        ("hp_mechanical_prophylaxis", "STOCK"),
        ("hp_approach", "POST"),
        ("hp_fixation", "CEM"),
        ("hp_bearing", "MOP"),
        ("hp_bone_graft", "no"),
        ("hp_intraop_event", "NONE"),
        ("hp_funding", "NHS"),
    ]
}

#[test]
fn a_good_record_validates_to_typed_values() {
    let d = joints();
    let form = d.form("hip_primary").unwrap();
    let r = d.validate(form, &good_hip(), TODAY).unwrap();
    assert_eq!(r.get("hp_bmi"), Some(&Value::Decimal("27.4".into())));
    assert_eq!(r.get("hp_bone_graft"), Some(&Value::Boolean(false)));
    assert_eq!(r.get("hp_operation_date"), Some(&Value::Date(date!(2024 - 05 - 01))));
}

#[test]
fn every_problem_in_a_record_is_reported_with_its_field() {
    let d = joints();
    let form = d.form("hip_primary").unwrap();
    let mut input = good_hip();
    input.retain(|(f, _)| *f != "hp_side");
    for (f, v) in input.iter_mut() {
        match *f {
            "hp_operation_date" => *v = "2031-01-01",
            "hp_bmi" => *v = "95",
            "hp_asa_grade" => *v = "7",
            "hp_indication" => *v = "OTH",
            "hp_surgeon_gmc" => *v = "12345678",
            "hp_bone_graft" => *v = "perhaps",
            _ => {}
        }
    }
    input.push(("hp_colour", "blue"));
    let problems = d.validate(form, &input, TODAY).unwrap_err();
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    for f in [
        "hp_colour",
        "hp_side",
        "hp_operation_date",
        "hp_indication_other_detail",
        "hp_asa_grade",
        "hp_bmi",
        "hp_surgeon_gmc",
        "hp_bone_graft",
    ] {
        assert!(fields.contains(&f), "{f} not reported: {problems}");
    }
    assert_eq!(problems.len(), 8, "{problems}");
    let reason = |f: &str| problems.iter().find(|p| p.field == f).unwrap().reason.clone();
    assert_eq!(reason("hp_side"), "is required");
    assert_eq!(reason("hp_operation_date"), "must not be in the future");
    assert_eq!(reason("hp_bmi"), "must be at most 90");
    assert!(reason("hp_indication_other_detail").contains("required when"));
}

#[test]
fn a_condition_on_a_yes_no_field_fires_however_yes_is_written() {
    let d = Dictionary::from_toml(
        r#"
id = "tst"
name = "Test"
[[forms]]
name = "op"
title = "Operation"
[[forms.fields]]
name = "op_graft"
label = "Bone graft used"
type = "boolean"
[[forms.fields]]
name = "op_graft_site"
label = "Graft site"
type = "text"
required_if = { field = "op_graft", equals = ["1"] }
"#,
    )
    .unwrap();
    let form = d.form("op").unwrap();
    for yes in ["yes", "Y", "true", "1"] {
        let problems = d.validate(form, &[("op_graft", yes)], TODAY).unwrap_err();
        assert_eq!(problems.iter().next().unwrap().field, "op_graft_site", "{yes}");
    }
    assert!(d.validate(form, &[("op_graft", "no")], TODAY).is_ok());
    let bad = Dictionary::from_toml(&d.to_toml().replace("equals = [\"true\"]", "equals = [\"perhaps\"]"));
    assert!(matches!(bad, Err(DictionaryError::Invalid(_))), "a condition value must be a value of that field");
}

proptest! {
    /// Starting from a valid record and changing one field: the record is accepted exactly when
    /// that one value is acceptable on its own (then stored canonically), and otherwise every
    /// problem reported concerns that field or a field whose condition it now triggers.
    #[test]
    fn changing_one_field_of_a_valid_record_is_judged_on_that_field_alone(which in 0usize..17, text in "[ -~]{0,10}") {
        let d = joints();
        let form = d.form("hip_primary").unwrap();
        let mut input = good_hip();
        let name = input[which].0;
        input[which].1 = &text;
        let field = form.field(name).unwrap();
        match d.validate(form, &input, TODAY) {
            Ok(r) => {
                prop_assert!(!text.trim().is_empty() || !field.required());
                if !text.trim().is_empty() {
                    prop_assert!(r.get(name).is_some());
                }
            }
            Err(problems) => {
                for p in problems.iter() {
                    let dependent = form.field(&p.field).and_then(|f| f.required_if()).is_some_and(|c| c.field().as_str() == name);
                    prop_assert!(p.field == name || dependent, "{} reported for a change of {}", p.field, name);
                }
            }
        }
    }

    /// Whatever the text in each field, validation never panics, and accepts exactly when every
    /// value is acceptable on its own terms (checked field by field against the rules).
    #[test]
    fn validation_is_total_and_reports_each_bad_field(values in proptest::collection::vec("[ -~]{0,12}", 17)) {
        let d = joints();
        let form = d.form("hip_primary").unwrap();
        let names: Vec<&str> = good_hip().iter().map(|(f, _)| *f).collect();
        let input: Vec<(&str, &str)> = names.iter().copied().zip(values.iter().map(String::as_str)).collect();
        match d.validate(form, &input, TODAY) {
            Ok(r) => {
                for (name, value) in &input {
                    if !value.trim().is_empty() {
                        prop_assert!(r.get(name).is_some(), "{} lost", name);
                    }
                }
            }
            Err(problems) => {
                prop_assert!(!problems.is_empty());
                for p in problems.iter() {
                    prop_assert!(form.field(&p.field).is_some(), "unknown field {}", p.field);
                    // Each reported field, validated alone with a good record around it, still fails.
                    let mut alone = good_hip();
                    if let Some(v) = input.iter().find(|(f, _)| *f == p.field).map(|(_, v)| *v) {
                        for (f, val) in alone.iter_mut() {
                            if *f == p.field { *val = v; }
                        }
                    }
                    let single = d.validate(form, &alone, TODAY);
                    let conditional = form.field(&p.field).unwrap().required_if().is_some();
                    prop_assert!(single.is_err() || conditional, "{} failed only in company: {}", p.field, p.reason);
                }
            }
        }
    }

    /// Valid integers inside the range always pass; outside always fail.
    #[test]
    fn integer_ranges_are_enforced_exactly(v in -1000i64..1000) {
        let d = joints();
        let form = d.form("hip_primary").unwrap();
        let text = v.to_string();
        let mut input = good_hip();
        input.push(("hp_height_cm", text.as_str()));
        let ok = d.validate(form, &input, TODAY).is_ok();
        prop_assert_eq!(ok, (100..=250).contains(&v));
    }

    /// A canonical value re-validates to the same value.
    #[test]
    fn canonical_values_round_trip(bmi in 10.0f64..90.0, days in 0i64..10000) {
        let d = joints();
        let form = d.form("hip_primary").unwrap();
        let bmi = format!("{bmi:.1}");
        let date = (date!(1995 - 01 - 01) + time::Duration::days(days)).to_string();
        let mut input = good_hip();
        for (f, v) in input.iter_mut() {
            if *f == "hp_bmi" { *v = &bmi; }
            if *f == "hp_operation_date" { *v = &date; }
        }
        let r = d.validate(form, &input, TODAY).unwrap();
        let canon: Vec<(String, String)> = r.values().iter().map(|(f, v)| (f.to_string(), v.canonical())).collect();
        let canon_ref: Vec<(&str, &str)> = canon.iter().map(|(f, v)| (f.as_str(), v.as_str())).collect();
        prop_assert_eq!(d.validate(form, &canon_ref, TODAY).unwrap(), r);
    }
}

#[test]
fn record_dates_must_fall_within_the_patients_life() {
    let d = joints();
    let form = d.form("hip_primary").unwrap();
    let record = d.validate(form, &good_hip(), TODAY).unwrap(); // operated 2024-05-01
    let patient = |dob: &'static str, dod: &'static str| {
        tessera_domain::PatientInput {
            nhs_number: "9434765919",
            family_name: "Example",
            given_name: "Pat",
            date_of_birth: dob,
            sex: "F",
            postcode: "LS1 4AP",
            date_of_death: dod,
            opted_out: "",
            consent: "given",
        }
        .parse(true, TODAY)
        .unwrap()
    };
    assert!(record.check_against(&patient("1950-01-01", "")).is_empty());
    assert!(record.check_against(&patient("1950-01-01", "2024-05-01")).is_empty(), "died the day of the operation");
    let born_after = record.check_against(&patient("2024-06-01", ""));
    assert_eq!(born_after.to_string(), "hp_operation_date: is before the patient's date of birth");
    let died_before = record.check_against(&patient("1950-01-01", "2023-01-01"));
    assert_eq!(died_before.to_string(), "hp_operation_date: is after the patient's date of death");
}
