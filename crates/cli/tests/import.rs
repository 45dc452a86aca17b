//! `tessera import` end to end, through the real binary, on both databases.

mod common;

use common::{Env, count, ok};
use tessera_testkit::{TestDb, on_both_databases};

on_both_databases!(
    a_file_with_three_bad_rows_is_rejected_whole_and_partial_import_keeps_the_rest,
    a_file_with_a_bad_header_is_refused_before_any_row_is_read,
);

/// Rewrites data rows `rows` (1-based data row numbers) of the CSV at `path` with `edit`.
fn edit_rows(path: &std::path::Path, edits: &[(usize, &str, &str)]) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header = r.headers().unwrap().clone();
    let mut rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    for (row, column, value) in edits {
        let col = header.iter().position(|h| h == *column).unwrap();
        let mut fields: Vec<String> = rows[row - 1].iter().map(str::to_owned).collect();
        fields[col] = (*value).to_owned();
        rows[row - 1] = csv::StringRecord::from(fields);
    }
    let mut w = csv::Writer::from_path(path).unwrap();
    w.write_record(&header).unwrap();
    for r in rows {
        w.write_record(&r).unwrap();
    }
    w.flush().unwrap();
}

async fn a_file_with_three_bad_rows_is_rejected_whole_and_partial_import_keeps_the_rest(db: &TestDb) {
    let env = Env::new(db);
    let csv = env.hip_csv(100_000, 11);
    // Data row 1000 is line 1001 (the header is line 1).
    edit_rows(
        &csv,
        &[
            (1000, "nhs_number", "9990000019"),
            (1000, "consent", "given"),
            (50_001, "hp_operation_date", "2024-02-30"),
            (99_998, "hp_asa_grade", "7"),
        ],
    );
    let file = csv.to_str().unwrap();
    let report = env.path("report.csv");
    let out = env.run(&["import", "njr", "hip_primary", file, "--report", report.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stdout.contains("rejected: 3 of 100000 rows have problems; nothing was stored"), "{stdout}");
    assert!(
        stderr.contains("line 1001: nhs_number: not a valid NHS number: the check digit does not match"),
        "{stderr}"
    );
    assert!(stderr.contains("line 50002: hp_operation_date: must be a real date"), "{stderr}");
    assert!(stderr.contains("line 99999: hp_asa_grade: must be one of: 1 ("), "{stderr}");
    assert!(!stderr.contains("9990000019"), "an identifier leaked into the report");
    let lines = std::fs::read_to_string(&report).unwrap();
    assert_eq!(lines.lines().count(), 4, "header and three problems:\n{lines}");
    for table in ["records", "patients", "submissions"] {
        assert_eq!(count(db, table).await, 0, "{table} must be empty after a rejected import");
    }

    let out = ok(&env.run(&["import", "njr", "hip_primary", file, "--allow-partial"]));
    assert!(out.contains("stored 99997 of 100000 rows"), "{out}");
    assert!(out.contains("3 rows rejected"), "{out}");
    assert_eq!(count(db, "records").await, 99_997);

    // The same file again is recognised by its submission id and changes nothing.
    let out = ok(&env.run(&["import", "njr", "hip_primary", file, "--allow-partial"]));
    assert!(out.contains("was already imported"), "{out}");
    assert_eq!(count(db, "records").await, 99_997);
}

async fn a_file_with_a_bad_header_is_refused_before_any_row_is_read(db: &TestDb) {
    let env = Env::new(db);
    let path = env.path("bad.csv");
    std::fs::write(&path, "organisation,nhs_number,colour\nRRK,9434765919,blue\n").unwrap();
    let out = env.run(&["import", "njr", "hip_primary", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in
        ["\"family_name\" is missing", "\"colour\" is not a field of the form", "\"hp_side\" is required by the form"]
    {
        assert!(stderr.contains(expected), "{expected} not in {stderr}");
    }
    let out = env.run(&["import", "njr", "no_such_form", path.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no form \"no_such_form\""));
    assert_eq!(count(db, "records").await, 0);
}
