//! `tessera survival` on any CSV: the JSON it prints agrees with R (reference files in
//! crates/domain/tests/survival_reference/), and bad input is named by line and column.

use std::path::PathBuf;
use std::process::Command;

fn reference(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../domain/tests/survival_reference")).join(name)
}

fn survival(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tessera")).arg("survival").args(args).output().unwrap()
}

#[test]
fn survival_prints_kaplan_meier_and_the_log_rank_test_as_json() {
    let lung = reference("lung.csv");
    let out = survival(&[lung.to_str().unwrap(), "--time", "time", "--event", "event", "--group", "sex"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // R: survdiff(Surv(time, status == 2) ~ sex, lung)$chisq
    let chisq = doc["log_rank"]["chisq"].as_f64().unwrap();
    assert!((chisq - 10.326741954885632).abs() / 10.326741954885632 < 1e-9, "{chisq}");
    assert_eq!(doc["rows"], 228);
    let men = &doc["kaplan_meier"][0];
    assert_eq!(men["group"], "1");
    assert_eq!(men["median"], 270.0);
    assert_eq!(men["n.risk"][0], 138);
    let s0 = men["survival"][0].as_f64().unwrap();
    assert!((s0 - 135.0 / 138.0).abs() < 1e-15, "3 deaths of 138 at t = 11");
}

#[test]
fn bad_survival_input_is_named_by_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.csv");
    std::fs::write(&file, "t,e,g\n5,1,a\n7,maybe,b\n").unwrap();
    let out = survival(&[file.to_str().unwrap(), "--time", "t", "--event", "e", "--group", "g"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3: e:"), "{err}");
    std::fs::write(&file, "t,e\n-1,1\n").unwrap();
    let err = String::from_utf8_lossy(&survival(&[file.to_str().unwrap(), "--time", "t", "--event", "e"]).stderr)
        .into_owned();
    assert!(err.contains("line 2: t:"), "{err}");
    let err = String::from_utf8_lossy(&survival(&[file.to_str().unwrap(), "--time", "x", "--event", "e"]).stderr)
        .into_owned();
    assert!(err.contains("no column named \"x\""), "{err}");
    // Missing values are left out and counted, as R's na.omit does.
    std::fs::write(&file, "t,e\n5,1\nNA,1\n7,\n9,0\n").unwrap();
    let out = survival(&[file.to_str().unwrap(), "--time", "t", "--event", "e"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((doc["rows"].as_u64(), doc["rows_dropped_missing"].as_u64()), (Some(2), Some(2)));
}
