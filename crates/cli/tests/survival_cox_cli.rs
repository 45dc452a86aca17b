//! `tessera survival --covariates`: the Cox model it prints agrees with R's `coxph` (reference
//! files in crates/domain/tests/survival_reference/, written by make_cox_reference.R), and a bad
//! covariate value is named by line and column.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn reference(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../domain/tests/survival_reference")).join(name)
}

fn survival(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tessera")).arg("survival").args(args).output().unwrap()
}

/// R's rows of `cox_fits.csv` for one fit and ties method, by covariate.
fn r_fit(fit: &str, ties: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(reference("cox_fits.csv")).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| -> BTreeMap<String, String> {
            headers.iter().zip(rec.unwrap().iter()).map(|(h, v)| (h.to_owned(), v.to_owned())).collect()
        })
        .filter(|row| row["fit"] == fit && row["ties"] == ties)
        .map(|row| (row["term"].clone(), row))
        .collect()
}

fn close(ours: &Value, theirs: &str, what: &str) {
    let (a, b) = (ours.as_f64().unwrap_or_else(|| panic!("{what}: {ours}")), theirs.parse::<f64>().unwrap());
    let rel = (a - b).abs() / b.abs().max(1e-300);
    assert!(rel < 1e-9, "{what}: ours {a:.17e}, R {b:.17e} (relative {rel:.2e})");
}

fn check(doc: &Value, fit: &str, ties: &str) {
    let reference = r_fit(fit, ties);
    let cox = &doc["cox"];
    assert_eq!(cox["ties"], ties);
    let coefficients = cox["coefficients"].as_array().unwrap();
    assert_eq!(coefficients.len(), reference.len());
    for c in coefficients {
        let name = c["covariate"].as_str().unwrap();
        let r = &reference[name];
        for field in ["coef", "se", "hazard_ratio", "lower", "upper", "z", "p"] {
            close(&c[field], &r[field], &format!("{fit} {ties} {name} {field}"));
        }
    }
    let r = reference.values().next().unwrap();
    close(&cox["loglik"]["null"], &r["loglik_null"], "loglik null");
    close(&cox["loglik"]["fitted"], &r["loglik"], "loglik");
    for test in ["lr", "wald", "score"] {
        close(&cox["tests"][test]["statistic"], &r[test], test);
        close(&cox["tests"][test]["p"], &r[&format!("{test}_p")], &format!("{test} p"));
        assert_eq!(cox["tests"][test]["df"].as_u64(), Some(reference.len() as u64));
    }
    assert_eq!(cox["n"].as_u64().unwrap().to_string(), r["n"]);
    assert_eq!(cox["events"].as_u64().unwrap().to_string(), r["events"]);
}

#[test]
fn cox_coefficients_equal_r_with_efron_and_breslow_ties() {
    let lung = reference("cox_lung.csv");
    let base = [lung.to_str().unwrap(), "--time", "time", "--event", "event", "--covariates", "age,sex,ph_ecog"];
    let out = survival(&base);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    check(&doc, "lung_age_sex_ecog", "efron");
    // The one row with ph.ecog missing is left out of everything and counted.
    assert_eq!((doc["rows"].as_u64(), doc["rows_dropped_missing"].as_u64()), (Some(227), Some(1)));

    let out = survival(&[&base[..], &["--ties", "breslow"]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    check(&serde_json::from_slice(&out.stdout).unwrap(), "lung_age_sex_ecog", "breslow");
}

#[test]
fn a_stratified_cox_model_equals_r() {
    let veteran = reference("cox_veteran.csv");
    let out = survival(&[
        veteran.to_str().unwrap(),
        "--time",
        "time",
        "--event",
        "event",
        "--covariates",
        "karno,trt",
        "--strata",
        "celltype",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    check(&doc, "veteran_karno_strata_celltype", "efron");
    assert_eq!(doc["cox"]["stratified_by"], "celltype");
}

#[test]
fn without_covariates_there_is_no_cox_model() {
    let lung = reference("cox_lung.csv");
    let out = survival(&[lung.to_str().unwrap(), "--time", "time", "--event", "event"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc.get("cox").is_none(), "{doc}");
}

#[test]
fn a_bad_covariate_value_is_named_by_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.csv");
    std::fs::write(&file, "t,e,age\n5,1,60\n7,0,sixty\n9,1,70\n").unwrap();
    let out = survival(&[file.to_str().unwrap(), "--time", "t", "--event", "e", "--covariates", "age"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3: age: \"sixty\" is not a number"), "{err}");
    let out = survival(&[file.to_str().unwrap(), "--time", "t", "--event", "e", "--covariates", "age,weight"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no column named \"weight\""), "{err}");
}
