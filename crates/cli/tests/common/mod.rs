//! Shared helpers for the end-to-end tests: a Tessera directory on a test database, and running
//! the real `tessera` binary in it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tessera_testkit::TestDb;

/// A Tessera set up by `tessera init` on a test database, with the joint registry loaded.
pub struct Env {
    /// The temporary directory holding config, key and CSV files.
    pub dir: tempfile::TempDir,
    /// The config file `tessera init` wrote.
    pub config: PathBuf,
}

/// Runs the real `tessera` binary with `--config config` and `args`.
pub fn tessera(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("TESSERA_LOG", "info,sqlx=warn")
        .output()
        .expect("run tessera")
}

/// Asserts the command succeeded and returns its standard output.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "tessera failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The shipped dictionaries.
pub fn registries_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../registries")
}

impl Env {
    /// `tessera init` on `db` and the joint registry loaded.
    pub fn new(db: &TestDb) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("t/tessera.toml");
        let t = dir.path().join("t");
        ok(&tessera(&config, &["init", "--dir", t.to_str().unwrap(), "--database-url", db.url()]));
        ok(&tessera(&config, &["registry", "load", registries_dir().join("joints.toml").to_str().unwrap()]));
        Env { dir, config }
    }

    /// A path inside the temporary directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `tessera` with this environment's config.
    pub fn run(&self, args: &[&str]) -> Output {
        tessera(&self.config, args)
    }

    /// Writes `rows` hip primary rows (give each test its own seed) and loads their organisations.
    pub fn hip_csv(&self, rows: u64, seed: u64) -> PathBuf {
        let out = self.path("hips.csv");
        let patients = rows.min(900_000).to_string();
        ok(&self.run(&[
            "synth",
            "--patients",
            &patients,
            "--seed",
            &seed.to_string(),
            "--hip-share",
            "1",
            "--breast-share",
            "0",
            "--second-joint-share",
            "0.6",
            "--form",
            "hip_primary",
            "--rows",
            &rows.to_string(),
            "--out",
            out.to_str().unwrap(),
        ]));
        ok(&self.run(&["organisations", "load", self.path("organisations.csv").to_str().unwrap()]));
        out
    }
}

/// Counts rows of a table through a fresh connection.
pub async fn count(db: &TestDb, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    match tessera_store::Store::connect(db.url()).await.unwrap() {
        tessera_store::Store::Sqlite(p) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&p).await.unwrap(),
        tessera_store::Store::Postgres(p) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&p).await.unwrap(),
    }
}
