//! `tessera import` end to end, through the real binary, on both databases.

mod common;

use common::{Env, count, ok};
use tessera_testkit::{TestDb, on_both_databases};

on_both_databases!(
    a_file_with_three_bad_rows_is_rejected_whole_and_partial_import_keeps_the_rest,
    a_file_with_a_bad_header_is_refused_before_any_row_is_read,
    a_file_without_its_header_row_never_echoes_identifiers,
    misshapen_rows_are_reported_by_their_line_even_after_multi_line_cells,
    a_later_row_for_a_known_patient_records_their_death_and_opt_out,
    within_one_file_the_latest_row_decides_a_patients_opt_out,
);

/// The header and the first row of a consenting, living patient in `text`.
fn living_identified_row(text: &str) -> (csv::StringRecord, csv::StringRecord) {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header = r.headers().unwrap().clone();
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let row = r
        .records()
        .map(Result::unwrap)
        .find(|row| &row[col("consent")] == "given" && row[col("date_of_death")].is_empty())
        .unwrap();
    (header, row)
}

/// Writes a CSV file of `header` and `rows`.
fn write_csv(path: &std::path::Path, header: &csv::StringRecord, rows: &[Vec<String>]) {
    let mut w = csv::Writer::from_path(path).unwrap();
    w.write_record(header).unwrap();
    for r in rows {
        w.write_record(r).unwrap();
    }
    w.flush().unwrap();
}

/// A small valid hip primary file, as CSV text with a header, for hand-made cases.
fn small_file(env: &Env, rows: u64, seed: u64) -> String {
    let path = env.hip_csv(rows, seed);
    std::fs::read_to_string(path).unwrap()
}

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

    let partial_report = env.path("partial.csv");
    let out = ok(&env.run(&[
        "import",
        "njr",
        "hip_primary",
        file,
        "--allow-partial",
        "--report",
        partial_report.to_str().unwrap(),
    ]));
    assert!(out.contains("stored 99997 of 100000 rows"), "{out}");
    let reported: Vec<(String, String)> = csv::Reader::from_path(&partial_report)
        .unwrap()
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_owned(), r[1].to_owned())
        })
        .collect();
    let expected: Vec<(String, String)> =
        [("1001", "nhs_number"), ("50002", "hp_operation_date"), ("99999", "hp_asa_grade")]
            .iter()
            .map(|(l, f)| ((*l).to_owned(), (*f).to_owned()))
            .collect();
    assert_eq!(reported, expected);
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

async fn a_file_without_its_header_row_never_echoes_identifiers(db: &TestDb) {
    let env = Env::new(db);
    let text = small_file(&env, 20, 41);
    let without_header: String = text.lines().skip(1).map(|l| format!("{l}\n")).collect();
    let first = without_header.lines().next().unwrap().to_owned();
    let path = env.path("no-header.csv");
    std::fs::write(&path, &without_header).unwrap();
    let out = env.run(&["import", "njr", "hip_primary", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(all.contains("(not a column name)"), "{all}");
    // No cell of the first row (NHS number, names, date of birth, postcode) appears.
    for cell in first.split(',').skip(1).take(6).filter(|c| c.len() > 2) {
        assert!(!all.contains(cell), "{cell} leaked into: {all}");
    }
    assert_eq!(count(db, "records").await, 0);
}

async fn misshapen_rows_are_reported_by_their_line_even_after_multi_line_cells(db: &TestDb) {
    let env = Env::new(db);
    let text = small_file(&env, 6, 43);
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    // Data row 2 (line 3) gains a free-text cell spanning three lines; row 4 loses a column.
    let header: Vec<&str> = lines[0].split(',').collect();
    let detail = header.iter().position(|h| *h == "hp_intraop_event_detail").unwrap();
    let mut cells: Vec<String> = lines[2].split(',').map(str::to_owned).collect();
    cells[detail] = "\"first line\nsecond line\nthird line\"".into();
    lines[2] = cells.join(",");
    let short: Vec<&str> = lines[4].split(',').collect();
    lines[4] = short[..short.len() - 1].join(",");
    let path = env.path("misshapen.csv");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let out = env.run(&["import", "njr", "hip_primary", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    // Row 4 starts on line 7: the header, two rows, and the multi-line row's three lines.
    assert!(stderr.contains("line 7: (row): has 33 columns but the header has 34"), "{stderr}");
    assert_eq!(stderr.matches("line ").count(), 1, "only the short row is wrong: {stderr}");
}

async fn a_later_row_for_a_known_patient_records_their_death_and_opt_out(db: &TestDb) {
    let env = Env::new(db);
    let text = small_file(&env, 30, 47);
    let (header, row) = living_identified_row(&text);
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let first = env.path("first.csv");
    write_csv(&first, &header, &[row.iter().map(str::to_owned).collect()]);
    ok(&env.run(&["import", "njr", "hip_primary", first.to_str().unwrap()]));
    // A revision of the other hip, reported later, with the death and an opt-out.
    let mut later: Vec<String> = row.iter().map(str::to_owned).collect();
    later[col("hp_side")] = if later[col("hp_side")] == "L" { "R".into() } else { "L".into() };
    later[col("date_of_death")] = "2026-01-15".into();
    later[col("opted_out")] = "yes".into();
    let second = env.path("second.csv");
    write_csv(&second, &header, &[later]);
    let out = ok(&env.run(&["import", "njr", "hip_primary", second.to_str().unwrap()]));
    assert!(out.contains("(0 new patients)"), "{out}");
    assert_eq!(count(db, "patients").await, 1);
    assert_eq!(count(db, "patients WHERE opted_out AND date_of_death IS NOT NULL").await, 1);
}

async fn within_one_file_the_latest_row_decides_a_patients_opt_out(db: &TestDb) {
    let env = Env::new(db);
    let text = small_file(&env, 30, 53);
    let (header, row) = living_identified_row(&text);
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    // Three records of one patient: opted out in the second, back in by the third; the death
    // date is given only in the second and must survive the third.
    let rows: Vec<Vec<String>> = [("L", "no", ""), ("R", "yes", "2026-02-01"), ("L", "no", "")]
        .into_iter()
        .map(|(side, opt, death)| {
            let mut cells: Vec<String> = row.iter().map(str::to_owned).collect();
            cells[col("hp_side")] = side.into();
            cells[col("opted_out")] = opt.into();
            cells[col("date_of_death")] = death.into();
            cells
        })
        .collect();
    let path = env.path("three.csv");
    write_csv(&path, &header, &rows);
    let out = ok(&env.run(&["import", "njr", "hip_primary", path.to_str().unwrap()]));
    assert!(out.contains("stored 3 of 3 rows (1 new patients)"), "{out}");
    assert_eq!(count(db, "patients WHERE NOT opted_out AND date_of_death IS NOT NULL").await, 1);
}
