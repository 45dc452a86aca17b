//! `kill -9` of `tessera import` half-way through a million-row file leaves none of that
//! submission, on both databases; importing the file again then stores all of it.

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use common::{Env, count, ok};
use tessera_testkit::{TestDb, on_both_databases};

on_both_databases!(kill_9_half_way_through_a_million_row_import_leaves_none_of_it);

const ROWS: u64 = 1_000_000;

async fn kill_9_half_way_through_a_million_row_import_leaves_none_of_it(db: &TestDb) {
    let env = Env::new(db);
    let csv = env.hip_csv(ROWS, 31);
    let file = csv.to_str().unwrap().to_owned();

    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("--config")
        .arg(&env.config)
        .args(["import", "njr", "hip_primary", &file])
        .env("TESSERA_LOG", "info,sqlx=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The import logs its (uncommitted) progress every 100,000 rows; wait until half is written.
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut reached = 0u64;
    for line in stderr.lines() {
        let line = line.unwrap();
        if let Some(n) = line.split("rows_written=").nth(1) {
            reached = n.trim().parse().unwrap();
            if reached >= ROWS / 2 {
                break;
            }
        }
    }
    assert!(reached >= ROWS / 2, "the import ended before reaching half-way");
    child.kill().unwrap(); // SIGKILL: no destructor, no rollback code runs
    let status = child.wait().unwrap();
    assert!(!status.success());

    for table in ["records", "patients", "submissions"] {
        assert_eq!(count(db, table).await, 0, "{table}: a killed import must leave nothing");
    }

    let out = ok(&env.run(&["import", "njr", "hip_primary", &file]));
    assert!(out.contains(&format!("stored {ROWS} of {ROWS} rows")), "{out}");
    assert_eq!(count(db, "records").await, ROWS as i64);
}
