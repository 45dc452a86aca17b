//! Real databases for tests: a SQLite file in a fresh temporary directory, or a fresh PostgreSQL
//! database on the server named by `TESSERA_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`), dropped when the [`TestDb`] is dropped — also
//! when the test panics. PostgreSQL tests never skip: if the server does not answer they fail,
//! saying so.

#![forbid(unsafe_code)]

pub mod http;

use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// The admin URL used to create and drop test databases.
pub fn postgres_admin_url() -> String {
    std::env::var("TESSERA_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database that exists for one test.
pub enum TestDb {
    /// A SQLite file in its own temporary directory.
    Sqlite {
        /// The directory, removed on drop.
        dir: tempfile::TempDir,
        /// `sqlite:` URL of the file.
        url: String,
    },
    /// A fresh PostgreSQL database.
    Postgres {
        /// Its name (`tessera_test_…`).
        name: String,
        /// Its URL.
        url: String,
    },
}

impl TestDb {
    /// A new, empty SQLite database file.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let url = format!("sqlite:{}", dir.path().join("tessera.db").display());
        TestDb::Sqlite { dir, url }
    }

    /// A new, empty PostgreSQL database.
    pub async fn postgres() -> Self {
        let admin = postgres_admin_url();
        let name = format!("tessera_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
            panic!("PostgreSQL must answer at {admin} for the storage tests (set TESSERA_TEST_POSTGRES_URL): {e}")
        });
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        conn.close().await.ok();
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b).to_owned();
        TestDb::Postgres { url: format!("{base}/{name}"), name }
    }

    /// A database of the kind named: `"sqlite"` or `"postgres"`.
    pub async fn of(kind: &str) -> Self {
        match kind {
            "sqlite" => Self::sqlite(),
            "postgres" => Self::postgres().await,
            other => panic!("unknown database kind {other}"),
        }
    }

    /// The URL to connect to.
    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::Postgres { url, .. } => url,
        }
    }

    /// The SQLite file's path, for tests that read its raw bytes.
    pub fn sqlite_path(&self) -> Option<std::path::PathBuf> {
        match self {
            TestDb::Sqlite { dir, .. } => Some(dir.path().join("tessera.db")),
            TestDb::Postgres { .. } => None,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { name, .. } = self {
            let name = name.clone();
            // A fresh thread with its own runtime works whether or not the caller is inside one.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                rt.block_on(async {
                    if let Ok(mut conn) = PgConnection::connect(&postgres_admin_url()).await {
                        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await;
                        let _ = conn.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// Declares each listed `async fn name(db: &TestDb)` as two tests, `sqlite::name` and
/// `postgres::name`, so one contract suite visibly runs on both databases.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::TestDb::of("sqlite").await;
                    super::$name(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::TestDb::of("postgres").await;
                    super::$name(&db).await;
                }
            )*
        }
    };
}

/// Asserts that a published outcome report (JSON) shows no count from 1 to 4: every value of a
/// count key is 0, at least 5, or a suppression mark ("<5" or "*"). Returns how many it checked.
pub fn no_small_count(report: &serde_json::Value) -> usize {
    fn walk(v: &serde_json::Value, path: &str, checked: &mut usize) {
        const COUNTS: [&str; 7] = ["primaries", "revisions", "at_risk", "deaths", "observed", "events", "n"];
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    let p = format!("{path}.{k}");
                    if COUNTS.contains(&k.as_str()) {
                        *checked += 1;
                        match x {
                            serde_json::Value::Number(n) => {
                                let n = n.as_u64().expect("a count");
                                assert!(n == 0 || n >= 5, "{p} = {n} is published");
                            }
                            serde_json::Value::String(s) => assert!(s == "<5" || s == "*", "{p} = {s}"),
                            other => panic!("{p} = {other}"),
                        }
                    } else {
                        walk(x, &p, checked);
                    }
                }
            }
            serde_json::Value::Array(a) => {
                a.iter().enumerate().for_each(|(i, x)| walk(x, &format!("{path}[{i}]"), checked))
            }
            _ => {}
        }
    }
    let mut checked = 0;
    walk(report, "report", &mut checked);
    checked
}
