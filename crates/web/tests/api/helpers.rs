//! `spawn_app`: a real Tessera server on port 0 over a fresh database, with a settable clock and
//! a file outbox; and `Browser`, an HTTP client with its own cookie jar.

use std::path::PathBuf;

use base64::Engine as _;
use reqwest::StatusCode;
use tessera_audit::AuditEvent;
use tessera_auth::{AccountSettings, Accounts, Clock, MailConfig, Mailer, PasswordPolicy};
use tessera_store::Store;
use tessera_testkit::TestDb;
pub use tessera_testkit::http::{Browser, Page, between};
use tessera_vault::{MasterKey, PlatformKeys};
use tessera_web::{AppState, Assets};

/// A password that passes the policy.
pub const GOOD_PASSWORD: &str = "tangerine otter lighthouse 42";

pub struct TestApp {
    pub base: String,
    pub clock: Clock,
    pub state: AppState,
    pub outbox: tempfile::TempDir,
    pub store: Store,
    /// The master key the server's vault holds (to load registries in tests).
    pub master: std::sync::Arc<MasterKey>,
    /// The bootstrapped operator's TOTP seed.
    pub operator_seed: std::sync::Mutex<Vec<u8>>,
    _db: TestDb,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub fn web_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web"))
}

pub async fn spawn_app(kind: &str) -> TestApp {
    spawn_app_with(kind, |_| {}).await
}

pub async fn spawn_app_with(kind: &str, tune: impl FnOnce(&mut AccountSettings)) -> TestApp {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(std::env::var("TESSERA_LOG").unwrap_or_else(|_| "warn".into()))
        .try_init();
    let db = TestDb::of(kind).await;
    let store = Store::connect(db.url()).await.expect("connect");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let public_url = format!("http://localhost:{port}");
    let clock = Clock::manual(Clock::system().now());
    let outbox = tempfile::tempdir().unwrap();
    let assets = Assets { web_dir: web_dir() };
    assets.check().expect("web assets installed (npm ci in web/)");
    let policy = PasswordPolicy::load(&assets.password_list()).expect("password list");
    let mailer = Mailer::new(&MailConfig::Outbox {
        dir: outbox.path().to_path_buf(),
        from: "Tessera <no-reply@tessera.invalid>".into(),
    })
    .unwrap();
    let mut settings = AccountSettings::new(url::Url::parse(&public_url).unwrap());
    tune(&mut settings);
    let master = std::sync::Arc::new(MasterKey::generate().unwrap());
    let keys = PlatformKeys::derive(&master);
    let accounts = Accounts::new(store.clone(), clock.clone(), keys, policy, mailer, settings).unwrap();
    let state = AppState::new(accounts, assets).with_vault(master.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let served = state.clone();
    tokio::spawn(async move {
        tessera_web::serve(listener, served, async {
            let _ = rx.await;
        })
        .await
        .expect("serve");
    });
    TestApp {
        base,
        clock,
        state,
        outbox,
        store,
        master,
        operator_seed: Default::default(),
        _db: db,
        shutdown: Some(tx),
    }
}

impl TestApp {
    pub fn browser(&self) -> Browser {
        Browser::new(&self.base)
    }

    /// Emails in the outbox: (recipient, subject, decoded body), oldest first.
    pub fn emails(&self) -> Vec<(String, String, String)> {
        let mut files: Vec<_> = std::fs::read_dir(self.outbox.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| (e.metadata().unwrap().modified().unwrap(), e.path()))
            .collect();
        files.sort();
        files.into_iter().map(|(_, p)| parse_email(&std::fs::read_to_string(p).unwrap())).collect()
    }

    /// The last link in the newest email to `to`.
    pub fn link_for(&self, to: &str) -> String {
        let to = to.to_lowercase();
        let to = to.as_str();
        let (_, _, body) = self
            .emails()
            .into_iter()
            .rev()
            .find(|(t, _, b)| t.contains(to) && b.contains("http"))
            .unwrap_or_else(|| panic!("no email to {to}"));
        body.split_whitespace().rfind(|w| w.starts_with("http")).expect("a link").to_owned()
    }

    /// A fresh TOTP code for `seed`: moves the clock on one step first, so codes never repeat.
    pub fn next_code(&self, seed: &[u8]) -> String {
        self.clock.advance(30);
        tessera_auth::totp::code_at(seed, self.clock.now())
    }

    /// Bootstraps the first operator through the pages and enrols TOTP. Returns the signed-in
    /// browser and the TOTP seed.
    pub async fn operator(&self) -> (Browser, Vec<u8>) {
        let link = self.state.accounts().bootstrap_link().await.unwrap().expect("no accounts yet");
        let mut b = self.browser();
        let (secret, factor) =
            b.bootstrap_operator(&link, "Olivia Operator", "olivia@ops.example", GOOD_PASSWORD).await;
        let seed = self.confirm_totp(&mut b, &secret, &factor).await;
        *self.operator_seed.lock().unwrap() = seed.clone();
        (b, seed)
    }

    /// Enrols TOTP for the browser's session (at the enrolment stage) and makes recovery codes.
    pub async fn enrol_totp(&self, b: &mut Browser) -> Vec<u8> {
        let page = b.get("/account/security/totp").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let secret = between(&page.body, "id=\"totp-secret\">", "<").expect("setup key on the page");
        let factor = between(&page.body, "name=\"factor\" value=\"", "\"").unwrap();
        self.confirm_totp(b, &secret, &factor).await
    }

    /// Confirms an authenticator app from its setup key and makes recovery codes.
    pub async fn confirm_totp(&self, b: &mut Browser, secret: &str, factor: &str) -> Vec<u8> {
        let seed = tessera_auth::totp::seed_from_base32(secret).unwrap();
        let code = self.next_code(&seed);
        let r = b.post("/account/security/totp", &[("factor", factor), ("code", &code)]).await;
        assert_eq!(r.location(), Some("/account/security/recovery-codes"), "{}", r.body);
        b.get("/account/security/recovery-codes").await;
        let codes = b.post("/account/security/recovery-codes", &[]).await;
        assert_eq!(codes.status, StatusCode::OK);
        b.recovery_codes =
            codes.body.split("<li><code>").skip(1).filter_map(|s| s.split('<').next()).map(str::to_owned).collect();
        assert_eq!(b.recovery_codes.len(), 10);
        seed
    }

    /// The operator invites a person; the person accepts, sets a password and enrols TOTP.
    pub async fn member(&self, operator: &mut Browser, email: &str, name: &str) -> (Browser, Vec<u8>) {
        operator.get("/admin/invitations").await;
        let r = operator.post("/admin/invitations", &[("email", email), ("name", name)]).await;
        assert!(r.body.contains("The invitation has been sent"), "{}", r.body);
        let link = self.link_for(email);
        let mut b = self.browser();
        let path = &link[link.find("/welcome/").unwrap()..];
        let token = path.rsplit('/').next().unwrap().to_owned();
        assert_eq!(b.get(path).await.status, StatusCode::OK);
        let r = b
            .post("/welcome", &[("token", &token), ("password", GOOD_PASSWORD), ("confirmation", GOOD_PASSWORD)])
            .await;
        assert_eq!(r.location(), Some("/account/security/setup"), "{}", r.body);
        let seed = self.enrol_totp(&mut b).await;
        (b, seed)
    }
}

fn parse_email(raw: &str) -> (String, String, String) {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or_else(|| raw.split_once("\n\n").unwrap());
    let header =
        |name: &str| head.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned())).unwrap_or_default();
    let encoding = header("Content-Transfer-Encoding:").to_ascii_lowercase();
    let body = if encoding == "base64" {
        let joined: String = body.split_whitespace().collect();
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(joined).unwrap()).unwrap()
    } else if encoding == "quoted-printable" {
        let soft = body.replace("=\r\n", "").replace("=\n", "");
        let mut out = Vec::new();
        let bytes = soft.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'=' && i + 2 < bytes.len() && u8::from_str_radix(&soft[i + 1..i + 3], 16).is_ok() {
                out.push(u8::from_str_radix(&soft[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    } else {
        body.to_owned()
    };
    (header("To:"), header("Subject:"), body.replace("\r\n", "\n"))
}

/// The TestApp-specific journeys of a browser.
pub trait BrowserExt {
    /// Signs in with password and TOTP through the pages; returns the final page.
    async fn sign_in(&mut self, app: &TestApp, email: &str, seed: &[u8]) -> Page;
}

impl BrowserExt for Browser {
    async fn sign_in(&mut self, app: &TestApp, email: &str, seed: &[u8]) -> Page {
        self.get("/sign-in").await;
        let r = self.post("/sign-in", &[("email", email), ("password", GOOD_PASSWORD)]).await;
        assert_eq!(r.location(), Some("/sign-in/verify"), "{}", r.body);
        self.get("/sign-in/verify").await;
        let code = app.next_code(seed);
        let r = self.post("/sign-in/verify", &[("code", &code)]).await;
        assert_eq!(r.location(), Some("/"), "{}", r.body);
        self.get("/").await
    }
}

/// Every event in the audit log, oldest first.
pub async fn audit_events(app: &TestApp) -> Vec<AuditEvent> {
    let head = app.store.audit_head().await.unwrap();
    app.store.audit_events(0, head.last_seq, 100_000).await.unwrap().into_iter().map(|r| r.event.unwrap()).collect()
}

/// Fails if any field of any audit event holds an email address or one of `words` (names,
/// secrets), compared case-insensitively.
pub async fn assert_audit_names_nobody(app: &TestApp, words: &[&str]) {
    for e in audit_events(app).await {
        let fields = [
            Some(e.action.clone()),
            e.registry.clone(),
            e.organisation.clone(),
            e.target.clone(),
            e.purpose.clone(),
            e.client.clone(),
            e.request_id.clone(),
            Some(format!("{:?}", e.actor)),
        ];
        for f in fields.into_iter().flatten() {
            assert!(!f.contains('@'), "an address in {e:?}");
            for w in words {
                assert!(!f.to_lowercase().contains(&w.to_lowercase()), "{w:?} in {e:?}");
            }
        }
    }
}

/// Runs set-up statements on the test database directly (never a value from a request).
pub async fn sql(store: &Store, statements: &[&str]) {
    for s in statements {
        match store {
            Store::Sqlite(pool) => drop(sqlx::query(sqlx::AssertSqlSafe(*s)).execute(pool).await.unwrap()),
            Store::Postgres(pool) => drop(sqlx::query(sqlx::AssertSqlSafe(*s)).execute(pool).await.unwrap()),
        }
    }
}

/// Makes every insert into the audit log fail, as a full disk or a broken log would.
pub async fn refuse_audit(store: &Store) {
    match store {
        Store::Sqlite(_) => {
            sql(
                store,
                &["CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events \
                   BEGIN SELECT RAISE(ABORT, 'the audit log refuses'); END"],
            )
            .await
        }
        Store::Postgres(_) => {
            sql(
                store,
                &[
                    "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS \
                     $$ BEGIN RAISE EXCEPTION 'the audit log refuses'; END $$",
                    "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events \
                     FOR EACH ROW EXECUTE FUNCTION refuse_audit()",
                ],
            )
            .await
        }
    }
}

/// Undoes [`refuse_audit`].
pub async fn accept_audit(store: &Store) {
    match store {
        Store::Sqlite(_) => sql(store, &["DROP TRIGGER refuse_audit"]).await,
        Store::Postgres(_) => sql(store, &["DROP TRIGGER refuse_audit ON audit_events"]).await,
    }
}

/// Test-only: gives `email`'s account `role` in `registry` at `organisation` (`None`: every
/// organisation) for a year, as an approved request would.
pub async fn grant(app: &TestApp, email: &str, registry: &str, role: &str, organisation: Option<&str>) {
    let user = app.store.user_by_email(email).await.unwrap().expect("account").id;
    let (id, now, expires) = (format!("g-{email}-{registry}-{role}"), app.clock.now(), app.clock.now() + 365 * 86_400);
    let sql = "INSERT INTO grants (id, user_id, registry_id, role, organisation, granted_at, expires_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7)";
    macro_rules! insert {
        ($pool:expr) => {
            sqlx::query(sql)
                .bind(&id)
                .bind(&user)
                .bind(registry)
                .bind(role)
                .bind(organisation)
                .bind(now)
                .bind(expires)
                .execute($pool)
                .await
                .unwrap()
        };
    }
    match &app.store {
        Store::Sqlite(pool) => drop(insert!(pool)),
        Store::Postgres(pool) => drop(insert!(pool)),
    }
}

/// Runs each test body on SQLite and on PostgreSQL, as `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! on_both {
    ($(async fn $name:ident($kind:ident: &str) $body:block)*) => {
        $(async fn $name($kind: &str) $body)*
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name("sqlite").await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name("postgres").await })*
        }
    };
}
