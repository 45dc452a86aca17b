//! Recall benchmark (issue 6), on SQLite and PostgreSQL:
//! 1. A database filled by `synth_to_store` (the code `tessera synth` runs; default 1,040,000
//!    patients, about as many as the generator's test NHS numbers allow, 3.8 million implants),
//!    topped up to `--implants` rows (default 10,000,000) by copies of the synthesised units
//!    (same record, patient and GTIN; lot and serial suffixed `-k`, so the synthesised lots keep
//!    their sizes), then `ANALYZE` (SQLite) / `VACUUM ANALYZE` (PostgreSQL).
//! 2. From the data: the GTIN with the fewest implants among those with at least 100,000 (the
//!    largest if none has; a whole-GTIN recall), and its largest synthesised lots, taken until
//!    their implants total about 1,000 (a lot recall).
//! 3. Both recalls created over HTTP by a safety officer (invited, password and TOTP through the
//!    pages, a `safety_officer` grant in both registries), on the real server
//!    (`tessera_web::serve`) on a random port.
//! 4. Interleaved, after a warm-up, `--runs` times each (sequential, one client):
//!    - the **floor**: the SQL that `Store::recall_counts` runs, executed directly on the pool;
//!    - `Store::recall_counts` itself;
//!    - `GET /api/v1/recalls/{id}` over HTTP (session cookie, second factor passed, each request
//!      audited);
//!
//!    and the same three for the per-organisation counts of the whole-GTIN recall
//!    (`recall_org_counts`' SQL, `Store::recall_org_counts`, `GET /api/v1/recalls/{id}/org-counts`).
//!    p50 and p99 of each, against the targets: API p50 ≤ 2× floor p50, API p99 ≤ 25 ms;
//!    per-organisation counts ≤ 100 ms.
//!
//! `cargo bench -p tessera --bench recall` (or `scripts/bench.sh recall`). Options after `--`:
//! `--patients N` (default 1,040,000), `--implants N` (default 10,000,000), `--runs N` (default
//! 300), `--warmup N` (default 30),
//! `--whole-runs N` (default 10; the whole GTIN's full counts, for reference; 0 skips), `--seed N`
//! (default 6), `--skip-sqlite`, `--skip-postgres`, `--skip-api` (recalls created and counted
//! through the store only, no HTTP).
//! PostgreSQL: `TESSERA_TEST_POSTGRES_URL` (default postgres://postgres@127.0.0.1:5432/postgres).
//! To measure again without filling again, name a database to keep in
//! `TESSERA_RECALL_BENCH_SQLITE_URL` or `TESSERA_RECALL_BENCH_POSTGRES_URL` and a directory in
//! `TESSERA_RECALL_BENCH_DIR` (its master key and the safety officer's TOTP seed are kept there).
//! The first run fills the database (it must exist on PostgreSQL and hold only this bench's
//! data); later runs find its implants, sign the officer in again and start new recalls; it is
//! never dropped.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::Row as _;
use tessera::config::{Settings, WebSettings, write_new_master_key};
use tessera::synth_run::synth_to_store;
use tessera_auth::Clock;
use tessera_domain::RegistryId;
use tessera_domain::access::{Grant, Grants, Principal, Role, RunRecalls, Scope};
use tessera_domain::recall::RecallInput;
use tessera_store::{AuditActor, AuditNote, AuditOutcome, NewRecall, Store};
use tessera_synth::{SynthConfig, World};
use tessera_testkit::TestDb;
use tessera_testkit::http::{Browser, between};
use uuid::Uuid;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PASSWORD: &str = "granite kettle orchestra 61";
const OFFICER: &str = "safety@registry.example";

fn arg(name: &str) -> Option<u64> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.replace('_', "").parse().ok())
}

fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The load average, printed beside each figure (other builds share the cores).
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Runs one statement (set-up and statistics only; never a value from outside).
async fn exec(store: &Store, sql: &str) {
    match store {
        Store::Sqlite(p) => drop(sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(p).await.unwrap()),
        Store::Postgres(p) => drop(sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(p).await.unwrap()),
    }
}

/// `(text, count)` rows of a query with text parameters.
async fn text_counts(store: &Store, sql: &str, binds: &[&str]) -> Vec<(String, i64)> {
    macro_rules! run {
        ($pool:expr) => {{
            let mut q = sqlx::query_as::<_, (String, i64)>(sqlx::AssertSqlSafe(sql.to_owned()));
            for b in binds {
                q = q.bind(*b);
            }
            q.fetch_all($pool).await.unwrap()
        }};
    }
    match store {
        Store::Sqlite(p) => run!(p),
        Store::Postgres(p) => run!(p),
    }
}

/// The query plan, one line per step, for the report.
async fn plan(store: &Store, sql: &str, binds: &[&str]) -> String {
    let explain = match store {
        Store::Sqlite(_) => format!("EXPLAIN QUERY PLAN {sql}"),
        Store::Postgres(_) => format!("EXPLAIN {sql}"),
    };
    macro_rules! run {
        ($pool:expr, $row:ty, $pick:expr) => {{
            let mut q = sqlx::query_as::<_, $row>(sqlx::AssertSqlSafe(explain));
            for b in binds {
                q = q.bind(*b);
            }
            q.fetch_all($pool).await.map(|rows| rows.into_iter().map($pick).collect::<Vec<String>>().join("\n"))
        }};
    }
    match store {
        Store::Sqlite(p) => run!(p, (i64, i64, i64, String), |r: (i64, i64, i64, String)| r.3),
        Store::Postgres(p) => run!(p, (String,), |r: (String,)| r.0),
    }
    .unwrap_or_else(|e| format!("(no plan: {e})"))
}

/// Each line indented, and cut at 160 characters (PostgreSQL spells out every lot).
fn indent(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.chars().count() > 160 {
                format!("    {}…", l.chars().take(160).collect::<String>())
            } else {
                format!("    {l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Latencies, sorted.
struct Sample(Vec<Duration>);

impl Sample {
    fn new(mut v: Vec<Duration>) -> Self {
        v.sort();
        Sample(v)
    }

    /// The `q` quantile (nearest rank), in milliseconds.
    fn ms(&self, q: f64) -> f64 {
        let n = self.0.len();
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        self.0[rank - 1].as_secs_f64() * 1e3
    }
}

/// Brings the implants table to `target` rows when synth made fewer (the generator has test NHS
/// numbers for about 900,000 patients per registry, about 3.8 million implants in all): further
/// units of the same GTIN in the same records, each copy's lot and serial suffixed `-k` so the
/// synthesised lots keep their sizes (a lot recall still reaches one unit per patient) while
/// every GTIN's count grows. Answers a note for the report.
async fn top_up(store: &Store, synthesised: u64, target: u64) -> String {
    if synthesised == 0 || synthesised >= target {
        return String::new();
    }
    let t = Instant::now();
    let id = if matches!(store, Store::Sqlite(_)) { "randomblob(16)" } else { "gen_random_uuid()" };
    let mut k = 1;
    let mut have = synthesised;
    while have < target {
        let n = (target - have).min(synthesised);
        let limit = if n < synthesised { format!(" LIMIT {n}") } else { String::new() };
        exec(
            store,
            &format!(
                "INSERT INTO implants (id, record_id, record_revision, registry_id, organisation, gtin, lot, serial, expiry, \
                 entry, created_at, patient_id, implanted_on, manufactured, site, side) \
                 SELECT {id}, record_id, record_revision, registry_id, organisation, gtin, lot || '-{k}', serial || '-{k}', \
                 expiry, entry, created_at, patient_id, implanted_on, manufactured, site, side \
                 FROM implants WHERE lot NOT LIKE '%-%'{limit}"
            ),
        )
        .await;
        have += n;
        k += 1;
    }
    let note = format!(
        "; {synthesised} implants synthesised, topped up to {have} by {} copies in {:.0} s",
        have - synthesised,
        t.elapsed().as_secs_f64()
    );
    note
}

/// The kept safety officer signed in again (password, then the TOTP code for now).
async fn sign_in(base: &str, secret: &str) -> Browser {
    let mut b = Browser::new(base);
    b.get("/sign-in").await;
    let r = b.post("/sign-in", &[("email", OFFICER), ("password", PASSWORD)]).await;
    assert_eq!(r.location(), Some("/sign-in/verify"), "{}", r.body);
    b.get("/sign-in/verify").await;
    let seed = tessera_auth::totp::seed_from_base32(secret).unwrap();
    let r = b.post("/sign-in/verify", &[("code", &tessera_auth::totp::code_at(&seed, now()))]).await;
    assert_eq!(r.location(), Some("/"), "{}", r.body);
    b
}

/// A fully signed-in safety officer: invited by the operator, password set, TOTP enrolled
/// (which passes the second factor for this session), then granted `safety_officer` in both
/// registries (for a year, so a kept database can be measured again). Answers the officer and
/// the TOTP secret.
async fn safety_officer(base: &str, outbox: &Path, link: &str, store: &Store) -> (Browser, String) {
    let mut operator = Browser::new(base);
    let (secret, factor) = operator.bootstrap_operator(link, "Bench Operator", "operator@ops.example", PASSWORD).await;
    let seed = tessera_auth::totp::seed_from_base32(&secret).unwrap();
    let r = operator
        .post("/account/security/totp", &[("factor", &factor), ("code", &tessera_auth::totp::code_at(&seed, now()))])
        .await;
    assert_eq!(r.location(), Some("/account/security/recovery-codes"), "{}", r.body);

    operator.get("/admin/invitations").await;
    let r = operator.post("/admin/invitations", &[("email", OFFICER), ("name", "Sadie Safety")]).await;
    assert!(r.body.contains("The invitation has been sent"), "{}", r.body);
    let mail = std::fs::read_dir(outbox)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .find(|m| m.contains(OFFICER))
        .expect("the invitation in the outbox");
    let text = mail.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=");
    let link = text[text.find("http").expect("a link")..].split_whitespace().next().unwrap().to_owned();
    let path = link[link.find("/welcome/").expect("an invitation link")..].to_owned();
    let token = path.rsplit('/').next().unwrap().to_owned();
    let mut b = Browser::new(base);
    assert_eq!(b.get(&path).await.status, 200);
    let r = b.post("/welcome", &[("token", &token), ("password", PASSWORD), ("confirmation", PASSWORD)]).await;
    assert_eq!(r.location(), Some("/account/security/setup"), "{}", r.body);
    let page = b.get("/account/security/totp").await;
    let secret = between(&page.body, "id=\"totp-secret\">", "<").expect("setup key");
    let factor = between(&page.body, "name=\"factor\" value=\"", "\"").unwrap();
    let seed = tessera_auth::totp::seed_from_base32(&secret).unwrap();
    let r = b
        .post("/account/security/totp", &[("factor", &factor), ("code", &tessera_auth::totp::code_at(&seed, now()))])
        .await;
    assert_eq!(r.location(), Some("/account/security/recovery-codes"), "{}", r.body);

    let user = store.user_by_email(OFFICER).await.unwrap().expect("the officer's account").id;
    for registry in ["njr", "bcir"] {
        let sql = "INSERT INTO grants (id, user_id, registry_id, role, organisation, granted_at, expires_at) \
                   VALUES ($1, $2, $3, 'safety_officer', NULL, $4, $5)";
        let id = format!("bench-{registry}-safety");
        macro_rules! insert {
            ($pool:expr) => {
                drop(
                    sqlx::query(sql)
                        .bind(&id)
                        .bind(&user)
                        .bind(registry)
                        .bind(now())
                        .bind(now() + 365 * 86_400)
                        .execute($pool)
                        .await
                        .unwrap(),
                )
            };
        }
        match store {
            Store::Sqlite(p) => insert!(p),
            Store::Postgres(p) => insert!(p),
        }
    }
    (b, secret)
}

/// Starts a recall of `gtin` (and only `lots`, if any) through `POST /api/v1/recalls`; answers its id.
async fn create_recall(b: &mut Browser, reference: &str, manufacturer: &str, gtin: &str, lots: &[String]) -> Uuid {
    let body = json!({
        "reference": reference,
        "title": "Benchmark recall",
        "manufacturer": manufacturer,
        "gtins": gtin,
        "lots": lots.join("\n"),
    });
    let r = b.post_json("/api/v1/recalls", body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let created: Value = serde_json::from_str(&r.body).unwrap();
    created["id"].as_str().and_then(|id| id.parse().ok()).expect("the new recall's id")
}

/// Starts a recall through the store (with `--skip-api`); answers its id.
async fn create_recall_in_store(
    store: &Store,
    run: &RunRecalls,
    reference: &str,
    manufacturer: &str,
    gtin: &str,
    lots: &[String],
) -> Uuid {
    let lots = lots.join("\n");
    let input = RecallInput {
        reference,
        title: "Benchmark recall",
        manufacturer,
        gtins: gtin,
        lots: &lots,
        ..Default::default()
    };
    let (header, criteria) = input.parse().expect("valid criteria");
    let audit =
        AuditNote::new(AuditActor::User(run.principal().user_id().to_owned()), "recall.create", AuditOutcome::Success);
    store.create_recall(run, &NewRecall { header, criteria }, &audit).await.unwrap()
}

/// One timed GET with the session cookie; answers the body as JSON.
async fn get_json(client: &reqwest::Client, url: &str, cookie: &str) -> (Duration, Value) {
    let t = Instant::now();
    let r = client.get(url).header("cookie", cookie).send().await.unwrap();
    let status = r.status();
    let body = r.bytes().await.unwrap();
    let took = t.elapsed();
    assert_eq!(status, 200, "{url}: {}", String::from_utf8_lossy(&body));
    (took, serde_json::from_slice(&body).unwrap())
}

/// One line of the result table.
struct Line {
    kind: &'static str,
    what: String,
    floor: Sample,
    store: Sample,
    api: Option<Sample>,
    target: String,
    load: String,
}

/// How many measurements: `runs` after `warmup` for the targets, `whole_runs` for the whole GTIN's
/// full counts.
#[derive(Clone, Copy)]
struct Runs {
    runs: usize,
    warmup: usize,
    whole_runs: usize,
    target_implants: u64,
    /// Measure the store against its floor only (for when the API is not there).
    skip_api: bool,
}

async fn run(kind: &'static str, dir: &Path, patients: u64, seed: u64, n: Runs) -> Vec<Line> {
    let Runs { runs, warmup, whole_runs, target_implants, skip_api } = n;
    let kept = std::env::var(format!("TESSERA_RECALL_BENCH_{}_URL", kind.to_uppercase())).ok();
    let (_db, url) = match kept {
        Some(url) => (None, url),
        None => {
            let db = TestDb::of(kind).await;
            let url = db.url().to_owned();
            (Some(db), url)
        }
    };
    let store = Store::connect(&url).await.unwrap();
    let base_dir = match std::env::var("TESSERA_RECALL_BENCH_DIR") {
        Ok(kept_dir) => Path::new(&kept_dir).join(kind),
        Err(_) => dir.join(kind),
    };
    std::fs::create_dir_all(&base_dir).unwrap();
    let key = base_dir.join("master.key");
    let implants = text_counts(&store, "SELECT 'implants', COUNT(*) FROM implants", &[]).await[0].1;
    let reused = implants > 0 && key.exists();
    if !reused {
        write_new_master_key(&key).unwrap();
    }
    let settings = Settings {
        database_url: url.clone(),
        master_key_file: key,
        web: WebSettings::default(),
        audit: Default::default(),
        base_dir: base_dir.clone(),
    };
    // 1. Fill (unless a kept database is already filled).
    let copies = if reused {
        println!("{kind:<10} reusing the kept database: {implants} implants");
        String::new()
    } else {
        let master = settings.master_key().unwrap();
        for dict in tessera::shipped::dictionaries() {
            store.load_dictionary(&dict, "toml", &master, &[]).await.unwrap();
        }
        let world = World::new(SynthConfig::new(patients, seed));
        let t = Instant::now();
        let s = synth_to_store(&store, &master, &world, tessera::today(), false).await.unwrap();
        let fill = t.elapsed().as_secs_f64();
        println!(
            "{kind:<10} synth_to_store: {} patients, {} records, {} implants in {fill:.0} s ({:.0} implants/s); load {}",
            s.patients,
            s.records,
            s.implants,
            s.implants as f64 / fill,
            load()
        );
        let copies = top_up(&store, s.implants, target_implants).await;
        let t = Instant::now();
        exec(&store, if kind == "sqlite" { "ANALYZE" } else { "VACUUM ANALYZE" }).await;
        println!(
            "{kind:<10} {} in {:.0} s",
            if kind == "sqlite" { "ANALYZE" } else { "VACUUM ANALYZE" },
            t.elapsed().as_secs_f64()
        );
        copies
    };

    // 2. The recalls' criteria, from the data.
    let per_gtin = text_counts(&store, "SELECT gtin, COUNT(*) FROM implants GROUP BY gtin ORDER BY gtin", &[]).await;
    let (whole_gtin, whole_n) = per_gtin
        .iter()
        .filter(|(_, n)| *n >= 100_000)
        .min_by_key(|(_, n)| *n)
        .or_else(|| per_gtin.iter().max_by_key(|(_, n)| *n))
        .cloned()
        .expect("implants in the database");
    let lot_gtin = whole_gtin.clone();
    let per_lot = text_counts(
        &store,
        "SELECT lot, COUNT(*) FROM implants WHERE gtin = $1 AND lot IS NOT NULL AND lot NOT LIKE '%-%' \
         GROUP BY lot ORDER BY COUNT(*) DESC, lot",
        &[&lot_gtin],
    )
    .await;
    let mut lots = Vec::new();
    let mut lot_n = 0;
    for (lot, n) in &per_lot {
        if lot_n >= 1000 {
            break;
        }
        lots.push(lot.clone());
        lot_n += n;
    }
    println!(
        "{kind:<10} lot recall: GTIN {lot_gtin}, {} of its {} synthesised lots, {lot_n} implants; whole-GTIN recall: GTIN \
         {whole_gtin}, {whole_n} implants ({} GTINs in all, the largest {}){copies}",
        lots.len(),
        per_lot.len(),
        per_gtin.len(),
        per_gtin.iter().map(|g| g.1).max().unwrap_or(0)
    );

    // The plans of the grouped count, as the database chooses them for these criteria.
    for (name, gtin, lots) in [("lot recall", &lot_gtin, &lots), ("whole GTIN", &whole_gtin, &vec![])] {
        let r = Recall { id: Uuid::nil(), gtin: gtin.clone(), lots: lots.clone() };
        let text = plan(&store, &org_counts_sql(&r), &org_counts_binds(&r)).await;
        println!("{kind:<10} plan of the grouped count, {name}:\n{}", indent(&text));
    }

    // 3. The server and a signed-in safety officer.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let state =
        tessera::server::build_state(&settings, store.clone(), &format!("http://localhost:{port}"), Clock::system())
            .unwrap();
    let link = state.accounts().bootstrap_link().await.unwrap();
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
    let seed_file = base_dir.join("officer.totp");
    let mut officer = match link {
        Some(link) => {
            let (officer, secret) = safety_officer(&base, &base_dir.join("outbox"), &link, &store).await;
            std::fs::write(&seed_file, secret).unwrap();
            officer
        }
        None => sign_in(&base, &std::fs::read_to_string(&seed_file).expect("the kept officer's TOTP seed")).await,
    };
    let cookie = format!("__Host-tessera-session={}", officer.session_cookie().unwrap());

    let manufacturer =
        text_counts(&store, "SELECT manufacturer, CAST(0 AS BIGINT) FROM products WHERE gtin = $1", &[&whole_gtin])
            .await[0]
            .0
            .clone();
    // The store calls hold the same capability the officer's requests get.
    let user = store.user_by_email(OFFICER).await.unwrap().expect("the officer's account").id;
    let grants = REGISTRIES
        .iter()
        .map(|r| Grant {
            id: format!("bench-{r}-safety"),
            registry: RegistryId::parse(r).unwrap(),
            role: Role::SafetyOfficer,
            scope: Scope::All,
            expires_at: now() + 86_400,
        })
        .collect();
    let run_recalls = Grants::new(Principal::User(user), grants).recalls().expect("a safety officer runs recalls");
    let mut create = async |reference: &str, gtin: &str, lots: &[String]| {
        let id = if skip_api {
            create_recall_in_store(&store, &run_recalls, reference, &manufacturer, gtin, lots).await
        } else {
            create_recall(&mut officer, reference, &manufacturer, gtin, lots).await
        };
        Recall { id, gtin: gtin.to_owned(), lots: lots.to_vec() }
    };
    let lot_recall = create(&format!("BENCH-LOTS-{}", now()), &lot_gtin, &lots).await;
    let whole_recall = create(&format!("BENCH-GTIN-{}", now()), &whole_gtin, &[]).await;

    // 4. Measure.
    let client = reqwest::Client::new();
    let mut lines = Vec::new();
    // The recall of ~1,000 implants and the whole GTIN's per-organisation counts carry the
    // targets; the whole GTIN's full counts (every matched patient's revisions, deaths and
    // opt-outs) are for reference, with fewer runs.
    for (what, r, expected, org_counts, runs, warmup) in [
        (format!("recall counts, {lot_n} implants ({} lots)", lots.len()), &lot_recall, lot_n, false, runs, warmup),
        (
            format!("per-organisation counts, whole GTIN, {whole_n} implants"),
            &whole_recall,
            whole_n,
            true,
            runs,
            warmup,
        ),
        (format!("recall counts, whole GTIN, {whole_n} implants"), &whole_recall, whole_n, false, whole_runs, 2),
    ] {
        if runs == 0 {
            continue;
        }
        let id = r.id;
        let url = if org_counts {
            format!("{base}/api/v1/recalls/{id}/org-counts")
        } else {
            format!("{base}/api/v1/recalls/{id}")
        };
        if !skip_api {
            let (_, body) = get_json(&client, &url, &cookie).await;
            let total = if org_counts { org_total(&body) } else { body["total"].as_i64().unwrap_or(-1) };
            assert_eq!(total, expected, "{what}: the API's total: {body}");
        }
        assert_eq!(
            store_call(&store, &run_recalls, id, org_counts).await.1 as i64,
            expected,
            "{what}: the store's total"
        );
        let load_before = load();
        let (mut floor, mut ours, mut api, mut steps) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut read = [0; 2];
        for i in 0..warmup + runs {
            let f = if org_counts {
                floor_org_counts(&store, r).await
            } else {
                let (total, parts, n) = floor_counts(&store, r).await;
                if i >= warmup {
                    steps.push(parts);
                }
                read = n;
                total
            };
            let (s, _) = store_call(&store, &run_recalls, id, org_counts).await;
            let a = if skip_api { Duration::ZERO } else { get_json(&client, &url, &cookie).await.0 };
            if i >= warmup {
                floor.push(f);
                ours.push(s);
                api.push(a);
            }
        }
        let (floor, ours) = (Sample::new(floor), Sample::new(ours));
        let api = (!skip_api).then(|| Sample::new(api));
        // Without the API the targets are judged on the store call.
        let outer = api.as_ref().unwrap_or(&ours);
        let judged = if skip_api { " (store; API not measured)" } else { "" };
        let target = if org_counts {
            let met = outer.ms(0.99) <= 100.0 && ours.ms(0.99) <= 100.0;
            format!("≤ 100 ms: {}{judged}", if met { "met" } else { "**not met**" })
        } else if r.lots.is_empty() {
            "(reference)".to_owned()
        } else {
            let ratio = outer.ms(0.5) / floor.ms(0.5);
            let met = ratio <= 2.0 && outer.ms(0.99) <= 25.0;
            format!("p50 ≤ 2× floor ({ratio:.2}×), p99 ≤ 25 ms: {}{judged}", if met { "met" } else { "**not met**" })
        };
        if !steps.is_empty() {
            let step = |k: usize| Sample::new(steps.iter().map(|s: &[Duration; 2]| s[k]).collect()).ms(0.5);
            println!(
                "{kind:<10} {what}: floor steps, p50: recall row {:.2} ms, matched units with their revision, death, \
                 opt-out and follow-up {:.2} ms ({} units of {} patients)",
                step(0),
                step(1),
                read[0],
                read[1]
            );
        }
        let line = Line { kind, what, floor, store: ours, api, target, load: format!("{load_before} -> {}", load()) };
        print_line(&line);
        lines.push(line);
    }
    let _ = tx.send(());
    server.await.unwrap();
    store.close().await;
    lines
}

/// The sum of the per-organisation counts in an `org-counts` answer.
fn org_total(body: &Value) -> i64 {
    body.as_array().expect("a list of organisations").iter().map(|r| r["implants"].as_i64().unwrap_or(0)).sum()
}

fn print_line(l: &Line) {
    let api = l.api.as_ref().map_or_else(|| "—".to_owned(), |a| format!("{:.2} / {:.2}", a.ms(0.5), a.ms(0.99)));
    println!(
        "| {} | {} | {:.2} / {:.2} | {:.2} / {:.2} | {api} | {} | {} |",
        l.kind,
        l.what,
        l.floor.ms(0.5),
        l.floor.ms(0.99),
        l.store.ms(0.5),
        l.store.ms(0.99),
        l.target,
        l.load
    );
}

fn main() {
    let patients = arg("--patients").unwrap_or(1_040_000);
    let target_implants = arg("--implants").unwrap_or(10_000_000);
    let seed = arg("--seed").unwrap_or(6);
    let runs = arg("--runs").unwrap_or(300) as usize;
    let warmup = arg("--warmup").unwrap_or(30) as usize;
    let whole_runs = arg("--whole-runs").unwrap_or(10) as usize;
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut lines = Vec::new();
    for kind in ["sqlite", "postgres"] {
        if flag(&format!("--skip-{kind}")) {
            continue;
        }
        lines.extend(rt.block_on(run(
            kind,
            dir.path(),
            patients,
            seed,
            Runs { runs, warmup, whole_runs, target_implants, skip_api: flag("--skip-api") },
        )));
    }
    println!(
        "\n{patients} patients, seed {seed}; {runs} runs of each after {warmup} warm-up runs ({whole_runs} after 2 for the \
         whole GTIN's full counts), floor, store and API interleaved; milliseconds"
    );
    println!("| database | measure | floor SQL p50 / p99 | store p50 / p99 | API p50 / p99 | target | load |");
    println!("|---|---|---:|---:|---:|---|---|");
    for l in &lines {
        print_line(l);
    }
}

/// What the floor binds: the recall and its criteria (one GTIN, its lots if any) over both
/// registries, as a safety officer of both sees it.
struct Recall {
    id: Uuid,
    gtin: String,
    lots: Vec<String>,
}

/// The registries a safety officer of both counts over, in `RunRecalls::registries` order.
const REGISTRIES: [&str; 2] = ["bcir", "njr"];

/// The matching conditions `Query::matching` in crates/store/src/recalls.rs writes for a GTIN
/// and lots over both registries, placeholders numbered from `first`.
fn matching(r: &Recall, first: usize) -> String {
    let mut n = first;
    let mut next = || {
        n += 1;
        format!("${}", n - 1)
    };
    let mut sql = format!("i.gtin IN ({})", next());
    if !r.lots.is_empty() {
        let lots: Vec<String> = r.lots.iter().map(|_| next()).collect();
        sql.push_str(&format!(" AND i.lot IN ({})", lots.join(", ")));
    }
    let regs: Vec<String> = REGISTRIES.iter().map(|_| next()).collect();
    sql.push_str(&format!(" AND i.registry_id IN ({})", regs.join(", ")));
    sql
}

/// The statements `Store::recall_counts` runs (copied from crates/store/src/recalls.rs: `recall`
/// and `matched_units`, whose per-unit revision is one look-up in the `revised` index), run
/// directly on the pool, rows fetched but not decoded; its time. Also answers the time of each
/// step (the recall row, the matched units) and how many units and patients it read.
async fn floor_counts(store: &Store, r: &Recall) -> (Duration, [Duration; 2], [usize; 2]) {
    let recall = "SELECT id, reference, title, manufacturer, criteria, created_by, created_at, status, closed_at \
                  FROM recalls WHERE id = $1";
    let units = format!(
        "SELECT i.id, i.registry_id, i.organisation, i.patient_id, i.gtin, i.lot, i.serial, i.implanted_on, \
         i.created_at, p.date_of_death, p.opted_out, \
         (SELECT MIN(v.operated_on) FROM revised v WHERE v.patient_id = i.patient_id \
          AND v.registry_id = i.registry_id AND v.site = i.site AND v.side = i.side \
          AND v.operated_on > i.implanted_on), \
         f.status, f.at, s.seen_at FROM implants i \
         LEFT JOIN patients p ON p.id = i.patient_id AND p.registry_id = i.registry_id \
         LEFT JOIN recall_followup_current f ON f.recall_id = $1 AND f.implant_id = i.id \
         LEFT JOIN recall_seen s ON s.recall_id = $2 AND s.registry_id = i.registry_id AND s.organisation = i.organisation \
         WHERE {} ORDER BY i.registry_id, i.organisation, i.id",
        matching(r, 3)
    );
    macro_rules! run {
        ($pool:expr) => {{
            let t = Instant::now();
            sqlx::query(recall).bind(r.id).fetch_optional($pool).await.unwrap().expect("the recall");
            let t1 = t.elapsed();
            let mut q = sqlx::query(sqlx::AssertSqlSafe(units)).bind(r.id).bind(r.id).bind(&r.gtin);
            for lot in &r.lots {
                q = q.bind(lot);
            }
            for reg in REGISTRIES {
                q = q.bind(reg);
            }
            let rows = std::hint::black_box(q.fetch_all($pool).await.unwrap());
            let total = t.elapsed();
            let mut patients: Vec<Uuid> =
                rows.iter().filter_map(|row| row.try_get::<Option<Uuid>, _>(3).unwrap()).collect();
            patients.sort_unstable();
            patients.dedup();
            (total, [t1, total - t1], [rows.len(), patients.len()])
        }};
    }
    match store {
        Store::Sqlite(p) => run!(p),
        Store::Postgres(p) => run!(p),
    }
}

/// The SQL of `Store::recall_org_counts` (the recall, then one grouped count), run directly on
/// the pool; its time.
async fn floor_org_counts(store: &Store, r: &Recall) -> Duration {
    let recall = "SELECT id, reference, title, manufacturer, criteria, created_by, created_at, status, closed_at \
                  FROM recalls WHERE id = $1";
    let counts = org_counts_sql(r);
    macro_rules! run {
        ($pool:expr) => {{
            let t = Instant::now();
            sqlx::query(recall).bind(r.id).fetch_optional($pool).await.unwrap().expect("the recall");
            let mut q = sqlx::query_as::<_, (String, i64)>(sqlx::AssertSqlSafe(counts)).bind(&r.gtin);
            for lot in &r.lots {
                q = q.bind(lot);
            }
            for reg in REGISTRIES {
                q = q.bind(reg);
            }
            std::hint::black_box(q.fetch_all($pool).await.unwrap());
            t.elapsed()
        }};
    }
    match store {
        Store::Sqlite(p) => run!(p),
        Store::Postgres(p) => run!(p),
    }
}

/// `recall_org_counts`' grouped count.
fn org_counts_sql(r: &Recall) -> String {
    format!(
        "SELECT i.organisation, COUNT(*) FROM implants i WHERE {} GROUP BY i.organisation ORDER BY i.organisation",
        matching(r, 1)
    )
}

/// The binds of [`org_counts_sql`], for EXPLAIN.
fn org_counts_binds(r: &Recall) -> Vec<&str> {
    let mut b = vec![r.gtin.as_str()];
    b.extend(r.lots.iter().map(String::as_str));
    b.extend(REGISTRIES);
    b
}

/// One timed store call.
async fn store_call(store: &Store, run: &RunRecalls, id: Uuid, org_counts: bool) -> (Duration, u64) {
    let t = Instant::now();
    let total = if org_counts {
        store.recall_org_counts(run, id).await.unwrap().iter().map(|(_, n)| n).sum()
    } else {
        store.recall_counts(run, id).await.unwrap().total
    };
    (t.elapsed(), total)
}
