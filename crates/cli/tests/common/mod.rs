//! Shared helpers for the end-to-end tests: a Tessera directory on a test database, and running
//! the real `tessera` binary in it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tessera_testkit::TestDb;
use tessera_testkit::http::{Browser, between};

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

/// A password that passes the policy, for people the end-to-end tests create.
pub const PASSWORD: &str = "granite kettle orchestra 61";

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Runs one statement with text parameters through a fresh connection.
pub async fn sql_exec(db: &TestDb, sql: &str, binds: &[&str]) {
    match tessera_store::Store::connect(db.url()).await.unwrap() {
        tessera_store::Store::Sqlite(p) => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
            for b in binds {
                q = q.bind(*b);
            }
            q.execute(&p).await.unwrap();
        }
        tessera_store::Store::Postgres(p) => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
            for b in binds {
                q = q.bind(*b);
            }
            q.execute(&p).await.unwrap();
        }
    }
}

/// The single text value a query returns, through a fresh connection.
pub async fn sql_text(db: &TestDb, sql: &str, binds: &[&str]) -> String {
    match tessera_store::Store::connect(db.url()).await.unwrap() {
        tessera_store::Store::Sqlite(p) => {
            let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql.to_owned()));
            for b in binds {
                q = q.bind(*b);
            }
            q.fetch_one(&p).await.unwrap()
        }
        tessera_store::Store::Postgres(p) => {
            let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql.to_owned()));
            for b in binds {
                q = q.bind(*b);
            }
            q.fetch_one(&p).await.unwrap()
        }
    }
}

/// The single UUID a query returns, through a fresh connection.
pub async fn sql_uuid(db: &TestDb, sql: &str, binds: &[&str]) -> uuid::Uuid {
    match tessera_store::Store::connect(db.url()).await.unwrap() {
        tessera_store::Store::Sqlite(p) => {
            let mut q = sqlx::query_scalar::<_, uuid::Uuid>(sqlx::AssertSqlSafe(sql.to_owned()));
            for b in binds {
                q = q.bind(*b);
            }
            q.fetch_one(&p).await.unwrap()
        }
        tessera_store::Store::Postgres(p) => {
            let mut q = sqlx::query_scalar::<_, uuid::Uuid>(sqlx::AssertSqlSafe(sql.to_owned()));
            for b in binds {
                q = q.bind(*b);
            }
            q.fetch_one(&p).await.unwrap()
        }
    }
}

/// Invites, accepts and enrols a person (through the pages); returns their signed-in browser.
pub async fn member(
    server: &Server,
    outbox: &std::path::Path,
    operator: &mut Browser,
    email: &str,
    name: &str,
) -> Browser {
    operator.get("/admin/invitations").await;
    let r = operator.post("/admin/invitations", &[("email", email), ("name", name)]).await;
    assert!(r.body.contains("The invitation has been sent"), "{}", r.body);
    let link = newest_link(outbox, email);
    let path = &link[link.find("/welcome/").unwrap()..];
    let token = path.rsplit('/').next().unwrap().to_owned();
    let mut b = Browser::new(&server.ip_url());
    assert_eq!(b.get(path).await.status, 200);
    let r = b.post("/welcome", &[("token", &token), ("password", PASSWORD), ("confirmation", PASSWORD)]).await;
    assert_eq!(r.location(), Some("/account/security/setup"), "{}", r.body);
    let page = b.get("/account/security/totp").await;
    let secret = between(&page.body, "id=\"totp-secret\">", "<").expect("setup key");
    let factor = between(&page.body, "name=\"factor\" value=\"", "\"").unwrap();
    let seed = tessera_auth::totp::seed_from_base32(&secret).unwrap();
    let code = tessera_auth::totp::code_at(&seed, now());
    let r = b.post("/account/security/totp", &[("factor", &factor), ("code", &code)]).await;
    assert_eq!(r.location(), Some("/account/security/recovery-codes"), "{}", r.body);
    b
}

/// The single-use link in the newest email to `to` in the file outbox.
pub fn newest_link(outbox: &std::path::Path, to: &str) -> String {
    let mut files: Vec<_> = std::fs::read_dir(outbox)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| (e.metadata().unwrap().modified().unwrap(), e.path()))
        .collect();
    files.sort();
    for (_, p) in files.into_iter().rev() {
        let raw = std::fs::read_to_string(&p).unwrap();
        if raw.contains(to) {
            let text = raw.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=");
            let start = text.find("http").expect("a link");
            return text[start..].split_whitespace().next().unwrap().to_owned();
        }
    }
    panic!("no email to {to}")
}

/// Gives `email`'s account a grant straight in the table (how grants come to exist is tested with
/// the approval workflow; these tests are about what a grant lets through).
pub async fn grant(db: &TestDb, email: &str, registry: &str, role: &str, organisation: Option<&str>) {
    let user = sql_text(db, "SELECT id FROM users WHERE email = $1", &[email]).await;
    let id = format!("g-{user}-{registry}-{role}");
    sql_exec(
        db,
        "INSERT INTO grants (id, user_id, registry_id, role, organisation, granted_at, expires_at) \
         VALUES ($1, $2, $3, $4, NULLIF($5, ''), 0, 4102444800)",
        &[&id, &user, registry, role, organisation.unwrap_or("")],
    )
    .await;
}
