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

/// A running `tessera serve` process: its address, its bootstrap link (if it printed one), and
/// its log (standard error) in a file. Killed when dropped.
pub struct Server {
    child: std::process::Child,
    /// `http://localhost:PORT`.
    pub url: String,
    /// The bootstrap link, if no account existed.
    pub bootstrap: Option<String>,
    /// The file receiving the server's log.
    pub log: PathBuf,
    /// Everything printed on standard output up to the link.
    pub stdout: String,
}

impl Server {
    /// Starts `tessera serve` on a free port with `config`, logging at `log_filter` to `log`.
    pub fn start(config: &Path, log: &Path, log_filter: &str) -> Server {
        use std::io::BufRead as _;
        let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .arg("--config")
            .arg(config)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("TESSERA_LOG", log_filter)
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("start tessera serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut printed = String::new();
        let mut url = None;
        let mut bootstrap = None;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            let Ok(line) = rx.recv_timeout(std::time::Duration::from_millis(200)) else {
                if url.is_some() && printed.contains("No account exists") == bootstrap.is_some() {
                    break;
                }
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("tessera serve exited ({status}): {}", std::fs::read_to_string(log).unwrap_or_default());
                }
                continue;
            };
            printed.push_str(&line);
            printed.push('\n');
            if let Some(rest) = line.strip_prefix("Tessera is listening on ") {
                url = Some(rest.split_whitespace().next().unwrap().to_owned());
            }
            if let Some(link) = line.trim().strip_prefix("http").filter(|l| l.contains("/welcome/")) {
                bootstrap = Some(format!("http{link}"));
                break;
            }
        }
        let url = url.unwrap_or_else(|| panic!("tessera serve did not start: {printed}"));
        Server { child, url, bootstrap, log: log.to_path_buf(), stdout: printed }
    }

    /// The same URL on 127.0.0.1 (for HTTP clients that do not resolve `localhost`).
    pub fn ip_url(&self) -> String {
        self.url.replace("localhost", "127.0.0.1")
    }

    /// Stops the server (SIGTERM, then waits).
    pub fn stop(&mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
