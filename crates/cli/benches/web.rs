//! Web benchmark: an authenticated JSON request (`GET /api/v1/me`: cookie → session lookup in
//! the database → JSON) in requests/s, measured with `wrk` against the same server's `/health`
//! in the same run as the floor; and password sign-in (`POST /api/v1/session`), which Argon2id
//! (19 MiB, 2 passes) bounds by design. On SQLite and on PostgreSQL.
//!
//! `cargo bench -p tessera --bench web` (or `scripts/bench.sh web`). Options after `--`:
//! `--seconds N` (default 10), `--rounds N` (default 3), `--connections N` (default 32), `--skip-postgres`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use tessera::config::{Settings, WebSettings, write_new_master_key};
use tessera_auth::Clock;
use tessera_store::Store;
use tessera_testkit::TestDb;
use tessera_testkit::http::Browser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PASSWORD: &str = "granite kettle orchestra 61";

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

/// Runs wrk and returns (requests/s, non-2xx count, p50 latency text).
fn wrk(url: &str, cookie: Option<&str>, seconds: u64, connections: u64) -> (f64, u64, String) {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t", "1", "-c", &connections.to_string(), "-d", &format!("{seconds}s"), "--latency"]);
    if let Some(c) = cookie {
        cmd.args(["-H", &format!("Cookie: __Host-tessera-session={c}")]);
    }
    let out = cmd.arg(url).output().expect("wrk is needed (apt-get install wrk; scripts/bench.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("wrk output without Requests/sec: {text}"));
    let non2xx = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let p50 = text.lines().find(|l| l.trim().starts_with("50%")).map(|l| l.trim().to_owned()).unwrap_or_default();
    (rps, non2xx, p50)
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

async fn run(kind: &str, dir: &Path, seconds: u64, connections: u64) {
    let db = TestDb::of(kind).await;
    let store = Store::connect(db.url()).await.unwrap();
    let key = dir.join(format!("{kind}.key"));
    write_new_master_key(&key).unwrap();
    let settings = Settings {
        database_url: db.url().to_owned(),
        master_key_file: key,
        web: WebSettings::default(),
        audit: Default::default(),
        base_dir: dir.to_path_buf(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let state =
        tessera::server::build_state(&settings, store.clone(), &format!("http://localhost:{port}"), Clock::system())
            .unwrap();
    let link = state.accounts().bootstrap_link().await.unwrap().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let served = state.clone();
    let server = tokio::spawn(async move {
        tessera_web::serve(listener, served, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    let base = format!("http://127.0.0.1:{port}");

    // A fully signed-in operator (password + TOTP), through the pages.
    let mut b = Browser::new(&base);
    let (secret, factor) = b.bootstrap_operator(&link, "Bench Operator", "bench@ops.example", PASSWORD).await;
    let seed = tessera_auth::totp::seed_from_base32(&secret).unwrap();
    let code = tessera_auth::totp::code_at(&seed, now());
    let r = b.post("/account/security/totp", &[("factor", &factor), ("code", &code)]).await;
    assert_eq!(r.location(), Some("/account/security/recovery-codes"));
    let cookie = b.session_cookie().unwrap();
    assert_eq!(b.get("/api/v1/me").await.status, 200);

    let url = base.clone();
    let kind_name = kind.to_owned();
    let rounds = arg("--rounds", 3);
    let (health, me) = tokio::task::spawn_blocking(move || {
        // Warm-up, then rounds alternating the floor and the authenticated request; the median
        // round of each is reported (2 cores shared by wrk, the server and the database make
        // single runs noisy).
        wrk(&format!("{url}/health"), None, 2, connections);
        let mut health = Vec::new();
        let mut me = Vec::new();
        for _ in 0..rounds {
            health.push(wrk(&format!("{url}/health"), None, seconds, connections));
            me.push(wrk(&format!("{url}/api/v1/me"), Some(&cookie), seconds, connections));
        }
        for runs in [&mut health, &mut me] {
            assert!(runs.iter().all(|r| r.1 == 0), "every request succeeded");
            runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        let all = |v: &[(f64, u64, String)]| v.iter().map(|r| format!("{:.0}", r.0)).collect::<Vec<_>>().join(", ");
        println!("|   ({kind_name} rounds: /health {}; /api/v1/me {}) |", all(&health), all(&me));
        (health[health.len() / 2].clone(), me[me.len() / 2].clone())
    })
    .await
    .unwrap();

    // Password sign-in: 4 clients in parallel (2 cores, Argon2 on blocking threads).
    let started = Instant::now();
    let mut handles = Vec::new();
    let signins_per_client = 20;
    for _ in 0..4 {
        let base = base.clone();
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for _ in 0..signins_per_client {
                let mut c = Browser::new(&base);
                let t = Instant::now();
                let r =
                    c.post_json("/api/v1/session", json!({ "email": "bench@ops.example", "password": PASSWORD })).await;
                assert_eq!(r.status, 200, "{}", r.body);
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies: Vec<Duration> = Vec::new();
    for h in handles {
        latencies.extend(h.await.unwrap());
    }
    let signin_rps = latencies.len() as f64 / started.elapsed().as_secs_f64();
    latencies.sort();
    let p50 = latencies[latencies.len() / 2];

    println!(
        "| {kind} | {:.0} | {:.0} | {:.2} | {} |",
        health.0,
        me.0,
        me.0 / health.0,
        me.2.split_whitespace().nth(1).unwrap_or("")
    );
    println!(
        "|   sign-in ({kind}) | password + Argon2id: {signin_rps:.1} /s, median {:.0} ms (4 clients) |",
        p50.as_secs_f64() * 1e3
    );
    let _ = tx.send(());
    server.await.unwrap();
    store.close().await;
}

fn main() {
    let seconds = arg("--seconds", 10);
    let connections = arg("--connections", 32);
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    println!("wrk: 1 thread, {connections} connections, {seconds} s per measurement; server: 2 worker threads");
    println!("| database | /health req/s (floor) | /api/v1/me req/s | ratio | me p50 latency |");
    println!("|---|---:|---:|---:|---:|");
    rt.block_on(run("sqlite", dir.path(), seconds, connections));
    if !flag("--skip-postgres") {
        rt.block_on(run("postgres", dir.path(), seconds, connections));
    }
}
