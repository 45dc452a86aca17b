//! Import benchmark: 1M hip primary records, validated and with identifiers encrypted, into
//! SQLite and PostgreSQL, against the raw floor on the same database in the same run (SQLite's
//! `.import` and PostgreSQL's `COPY` of the same CSV into an unindexed table). Also times
//! `synth --patients N` straight into SQLite.
//!
//! A third time, the **schema floor**, bounds what any import into Tessera's tables can reach:
//! the rows our import wrote (already validated and sealed) written again into a fresh
//! database's `patients` and `records` tables, with every index, foreign key and trigger the
//! migrations create, by the database's own bulk path in one transaction (SQLite `INSERT …
//! SELECT` from the imported file, attached; PostgreSQL binary `COPY` of the imported rows, read
//! out beforehand). No validation, encryption or matching is in it: raw floor / schema floor is
//! the best ratio an import into this schema could show.
//!
//! `cargo bench -p tessera --bench import` (or `scripts/bench.sh`). Options after `--`:
//! `--rows N` (default 1,000,000), `--synth-patients N` (default 1,000,000), `--skip-postgres`.
//! PostgreSQL: `TESSERA_TEST_POSTGRES_URL` (default postgres://postgres@127.0.0.1:5432/postgres).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use tessera::import::{ImportOptions, ImportOutcome, import_csv};
use tessera::synth_run::{synth_form_csv, synth_to_store};
use tessera_domain::RegistryId;
use tessera_store::Store;
use tessera_synth::{SynthConfig, World};
use tessera_testkit::TestDb;
use tessera_vault::MasterKey;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn arg(name: &str) -> Option<u64> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.replace('_', "").parse().ok())
}

async fn prepared_store(url: &str, world: &World) -> (Store, MasterKey) {
    let store = Store::connect(url).await.unwrap();
    let master = MasterKey::generate().unwrap();
    for dict in tessera::shipped::dictionaries() {
        store.load_dictionary(&dict, "toml", &master, &[]).await.unwrap();
    }
    store.upsert_organisations(&world.organisations).await.unwrap();
    (store, master)
}

async fn ours(url: &str, world: &World, csv: &Path, rows: u64) -> f64 {
    let (store, master) = prepared_store(url, world).await;
    let opts = ImportOptions { allow_partial: false, submission_id: None, today: tessera::today(), progress: false };
    let started = Instant::now();
    let r = import_csv(&store, &master, &RegistryId::parse("njr").unwrap(), "hip_primary", csv, &opts).await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert_eq!((r.outcome, r.rows_stored), (ImportOutcome::Stored, rows));
    store.close().await;
    secs
}

/// The schema floor on SQLite: the imported file attached to a fresh database, its patients and
/// records copied in by one `INSERT … SELECT` each, in one transaction.
async fn sqlite_schema_floor(imported: &Path, world: &World) -> f64 {
    let db = TestDb::sqlite();
    let (store, _) = prepared_store(db.url(), world).await;
    let Store::Sqlite(pool) = &store else { unreachable!() };
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("ATTACH DATABASE ? AS imported")
        .bind(imported.to_str().expect("a UTF-8 temporary path"))
        .execute(&mut *conn)
        .await
        .unwrap();
    let started = Instant::now();
    sqlx::raw_sql(
        "BEGIN IMMEDIATE; \
         INSERT INTO main.patients SELECT * FROM imported.patients; \
         INSERT INTO main.records SELECT * FROM imported.records; \
         COMMIT;",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    let secs = started.elapsed().as_secs_f64();
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM main.records").fetch_one(&mut *conn).await.unwrap();
    assert!(n > 0);
    drop(conn);
    store.close().await;
    secs
}

/// The schema floor on PostgreSQL: the imported patients and records read out as binary `COPY`
/// into memory first (not timed), then `COPY`ed into a fresh database in one transaction.
async fn postgres_schema_floor(imported_url: &str, world: &World) -> f64 {
    use futures_util::TryStreamExt as _;
    let source = Store::connect(imported_url).await.unwrap();
    let Store::Postgres(src) = &source else { unreachable!() };
    let mut tables = Vec::new();
    for table in ["patients", "records"] {
        let mut conn = src.acquire().await.unwrap();
        let stream = conn.copy_out_raw(&format!("COPY {table} TO STDOUT (FORMAT binary)")).await.unwrap();
        let chunks: Vec<_> = stream.try_collect().await.unwrap();
        tables.push((table, chunks));
    }
    source.close().await;
    let db = TestDb::postgres().await;
    let (store, _) = prepared_store(db.url(), world).await;
    let Store::Postgres(pool) = &store else { unreachable!() };
    let started = Instant::now();
    let mut tx = pool.begin().await.unwrap();
    for (table, chunks) in &tables {
        let mut copy = tx.copy_in_raw(&format!("COPY {table} FROM STDIN (FORMAT binary)")).await.unwrap();
        for chunk in chunks {
            copy.send(chunk.as_ref()).await.unwrap();
        }
        assert!(copy.finish().await.unwrap() > 0);
    }
    tx.commit().await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    store.close().await;
    secs
}

fn sqlite_floor(dir: &Path, csv: &Path) -> f64 {
    let db = dir.join("floor.db");
    let started = Instant::now();
    let status = Command::new("sqlite3")
        .arg(&db)
        .arg(format!(".import --csv {} floor", csv.display()))
        .status()
        .expect("the sqlite3 command-line shell is needed for the floor (apt-get install sqlite3)");
    assert!(status.success());
    started.elapsed().as_secs_f64()
}

async fn postgres_floor(csv: &Path) -> f64 {
    let db = TestDb::postgres().await;
    let store = Store::connect(db.url()).await.unwrap();
    let Store::Postgres(pool) = &store else { unreachable!() };
    let header = std::fs::read_to_string(csv).unwrap().lines().next().unwrap().to_owned();
    let cols: Vec<String> = header.split(',').map(|c| format!("\"{c}\" text")).collect();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE TABLE floor ({})", cols.join(", "))))
        .execute(pool)
        .await
        .unwrap();
    let started = Instant::now();
    let mut conn = pool.acquire().await.unwrap();
    let mut copy = conn.copy_in_raw("COPY floor FROM STDIN (FORMAT csv, HEADER true)").await.unwrap();
    let file = tokio::fs::File::open(csv).await.unwrap();
    copy.read_from(file).await.unwrap();
    let n = copy.finish().await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert!(n > 0);
    drop(conn);
    store.close().await;
    secs
}

#[tokio::main]
async fn main() {
    let rows = arg("--rows").unwrap_or(1_000_000);
    let synth_patients = arg("--synth-patients").unwrap_or(1_000_000);
    let skip_pg = std::env::args().any(|a| a == "--skip-postgres");
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("hips.csv");
    let world = World::new(SynthConfig {
        hip_share: 1.0,
        breast_share: 0.0,
        second_joint_share: 0.6,
        ..SynthConfig::new(rows.min(900_000), 2026)
    });
    let t = Instant::now();
    synth_form_csv(&world, &tessera::shipped::dictionaries()[0], "hip_primary", rows, &csv).unwrap();
    let mb = std::fs::metadata(&csv).unwrap().len() as f64 / 1e6;
    eprintln!("generated {rows} rows ({mb:.0} MB) in {:.1} s", t.elapsed().as_secs_f64());

    let mut results = Vec::new();
    let floor = sqlite_floor(dir.path(), &csv);
    let sqlite = TestDb::sqlite();
    let ours_sqlite = ours(sqlite.url(), &world, &csv, rows).await;
    let schema = sqlite_schema_floor(&sqlite.sqlite_path().expect("a SQLite file"), &world).await;
    results.push(("SQLite", floor, schema, ours_sqlite));
    drop(sqlite);
    if !skip_pg {
        let floor = postgres_floor(&csv).await;
        let pg = TestDb::postgres().await;
        let ours_pg = ours(pg.url(), &world, &csv, rows).await;
        let schema = postgres_schema_floor(pg.url(), &world).await;
        results.push(("PostgreSQL", floor, schema, ours_pg));
    }

    println!("\n## Import of {rows} hip primary records ({mb:.0} MB CSV)\n");
    println!(
        "| database | raw floor (s) | floor rows/s | Tessera import (s) | Tessera rows/s | ratio to floor | target \
         | schema floor (s) | best possible ratio (raw / schema floor) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|---:|---:|");
    for (name, floor, schema, ours) in &results {
        let r = rows as f64;
        println!(
            "| {name} | {floor:.2} | {:.0} | {ours:.2} | {:.0} | {:.2} | ≥ 0.33 {} | {schema:.2} | {:.2} |",
            r / floor,
            r / ours,
            floor / ours,
            if floor / ours >= 1.0 / 3.0 { "✔" } else { "✘" },
            floor / schema,
        );
    }

    if synth_patients > 0 {
        let db = TestDb::sqlite();
        let world = World::new(SynthConfig::new(synth_patients, 1));
        let (store, master) = prepared_store(db.url(), &world).await;
        let t = Instant::now();
        let s = synth_to_store(&store, &master, &world, tessera::today(), false).await.unwrap();
        let secs = t.elapsed().as_secs_f64();
        println!("\n## synth --patients {synth_patients} into SQLite\n");
        println!("| patients | records | implants | seconds | patients/s |");
        println!("|---:|---:|---:|---:|---:|");
        println!("| {} | {} | {} | {secs:.1} | {:.0} |", s.patients, s.records, s.implants, s.patients as f64 / secs);
    }
}
