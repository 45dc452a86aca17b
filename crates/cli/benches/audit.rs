//! Audit-trail benchmark, on SQLite and PostgreSQL:
//! 1. **Sustained batched append rate with two writer processes** (this bench binary started
//!    twice more with `--writer 0|1`, as two `tessera serve` processes on one database), each
//!    appending batches through `Store::audit_append` (hashing, chaining, the head-row lock,
//!    triggers), against a floor measured in the same run: the same rows by plain multi-row
//!    INSERT into a table of the same shape and indexes, with no hashing, no head row and no
//!    triggers, by two writer processes the same way (`--floor`). Both connect first and start
//!    together; the time runs from the start until both have exited.
//! 2. **`audit verify` of a large log** (default 10 million events): the same code as
//!    `tessera audit verify`, run twice, against a floor of reading the same rows the same way
//!    (`Store::audit_read_floor`: binary COPY on PostgreSQL, a streamed SELECT on SQLite, no
//!    decoding or hashing), also run twice; and, for reference, the previous read path's floor
//!    (pages of SELECT through the pool).
//!
//! `cargo bench -p tessera --bench audit` (or `scripts/bench.sh audit`). Options after `--`:
//! `--events N` per writer (default 250,000), `--batch N` (default 1,000), `--verify-events N`
//! (default 10,000,000; 0 skips), `--skip-postgres`, `--skip-sqlite`, `--skip-select-floor` (the
//! old path's floor, 2.5 minutes for 10M on SQLite), `--fill-only` (fill and checkpoint the log
//! to verify, then stop).
//! PostgreSQL: `TESSERA_TEST_POSTGRES_URL` (default postgres://postgres@127.0.0.1:5432/postgres).
//! To verify a large log again without filling it again, name a database to keep in
//! `TESSERA_AUDIT_BENCH_SQLITE_URL` or `TESSERA_AUDIT_BENCH_POSTGRES_URL` (it must exist and
//! hold only this bench's events; it is filled up to `--verify-events` and checkpointed with the
//! bench's key, and never dropped).

use std::time::Instant;

use tessera::audit_cli::Checkpointer;
use tessera_audit::SigningKey;
use tessera_store::{AuditActor, AuditNote, AuditOutcome, Store};
use tessera_testkit::TestDb;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn arg(name: &str) -> Option<u64> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.replace('_', "").parse().ok())
}

fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

/// A realistic read event: every field present, about 300 bytes canonical.
fn note(writer: u64, i: u64) -> AuditNote {
    AuditNote::new(
        AuditActor::User(format!("0196a1b2-7c3d-7e4f-8a9b-{:012x}", (writer * 7919 + i) % 5000)),
        "record.view",
        AuditOutcome::Success,
    )
    .registry("njr")
    .organisation(format!("R{:02}", i % 90))
    .target(format!("patient:{:032x}", u128::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)))
    .purpose("direct care")
    .client("web")
    .request_id(format!("0196a1b2-7c3d-7e4f-{writer:04x}-{i:012x}"))
}

/// Two writers appending `events` each in batches of `batch`; returns seconds.
async fn ours(url: &str, events: u64, batch: u64) -> f64 {
    // Connected (and so migrated) before the writers start, so they do not race to migrate.
    let store = Store::connect(url).await.unwrap();
    let secs = two_processes(false, url, events, batch);
    let head = store.audit_head().await.unwrap();
    assert_eq!(head.last_seq, 2 * events, "one gap-free sequence");
    store.close().await;
    secs
}

/// One writer process (this bench run again with `--writer W`): connects, says "ready", waits
/// for a line on standard input, then appends `events` events in batches through the store (or,
/// with `--floor`, inserts the same rows plainly into the floor's table) and exits.
async fn writer(w: u64, floor: bool, url: &str, events: u64, batch: u64) {
    use std::io::Write as _;
    let store = Store::connect(url).await.unwrap();
    println!("ready");
    std::io::stdout().flush().unwrap();
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap();
    let mut i = 0;
    while i < events {
        let n = batch.min(events - i);
        let notes: Vec<AuditNote> = (i..i + n).map(|j| note(w, j)).collect();
        if floor {
            insert_plain(&store, w * events + i, &notes).await;
        } else {
            store.audit_append(&notes).await.unwrap();
        }
        i += n;
    }
    store.close().await;
}

/// Two writer processes appending at once, as two `tessera serve` processes do: both connect
/// first, then start together; the seconds from the start until both have exited.
fn two_processes(floor: bool, url: &str, events: u64, batch: u64) -> f64 {
    use std::io::{BufRead as _, Write as _};
    use std::process::{Command, Stdio};
    let exe = std::env::current_exe().unwrap();
    let mut children: Vec<_> = (0..2u64)
        .map(|w| {
            let mut c = Command::new(&exe);
            c.args(["--writer", &w.to_string(), "--events", &events.to_string(), "--batch", &batch.to_string()]);
            if floor {
                c.arg("--floor");
            }
            c.env("TESSERA_AUDIT_BENCH_WRITER_URL", url).stdin(Stdio::piped()).stdout(Stdio::piped());
            c.spawn().unwrap()
        })
        .collect();
    for c in &mut children {
        let mut line = String::new();
        std::io::BufReader::new(c.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "a writer process did not start");
    }
    let started = Instant::now();
    for c in &mut children {
        writeln!(c.stdin.as_mut().unwrap(), "go").unwrap();
    }
    for mut c in children {
        assert!(c.wait().unwrap().success(), "a writer process failed");
    }
    started.elapsed().as_secs_f64()
}

/// The floor: the same rows by plain INSERT into a table of the same shape, no hashing, no
/// head row, no triggers; two writers with disjoint sequence numbers.
async fn floor(url: &str, events: u64, batch: u64) -> f64 {
    let (blob, text) = if url.starts_with("sqlite:") { ("BLOB", "TEXT") } else { ("BYTEA", "TEXT") };
    let ddl = [
        format!(
            "CREATE TABLE audit_floor (seq BIGINT PRIMARY KEY, time_us BIGINT NOT NULL, actor {text} NOT NULL, \
             action {text} NOT NULL, registry {text}, organisation {text}, target {text}, purpose {text}, \
             outcome {text} NOT NULL, client {text}, request_id {text}, leaf_hash {blob} NOT NULL, chain_hash {blob} NOT NULL)"
        ),
        "CREATE INDEX audit_floor_by_target ON audit_floor (target) WHERE target IS NOT NULL".into(),
        "CREATE INDEX audit_floor_by_actor ON audit_floor (actor)".into(),
    ];
    let store = Store::connect(url).await.unwrap();
    for sql in ddl {
        match &store {
            Store::Sqlite(p) => sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(p).await.map(|_| ()),
            Store::Postgres(p) => sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(p).await.map(|_| ()),
        }
        .unwrap();
    }
    store.close().await;
    two_processes(true, url, events, batch)
}

macro_rules! plain_insert {
    ($pool:expr, $db:ty, $first:expr, $notes:expr) => {{
        let mut tx = $pool.begin().await.unwrap();
        for (c, chunk) in $notes.chunks(2000).enumerate() {
            let mut q = sqlx::QueryBuilder::<$db>::new(
                "INSERT INTO audit_floor (seq, time_us, actor, action, registry, organisation, target, purpose, \
                 outcome, client, request_id, leaf_hash, chain_hash) ",
            );
            let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1_000_000;
            q.push_values(chunk.iter().enumerate(), |mut b, (k, n)| {
                let actor = match &n.actor {
                    AuditActor::User(id) => format!("user:{id}"),
                    AuditActor::ApiToken(id) => format!("token:{id}"),
                    AuditActor::System => "system".into(),
                };
                b.push_bind(($first + (c * 2000 + k) as u64 + 1) as i64)
                    .push_bind(now)
                    .push_bind(actor)
                    .push_bind(n.action.clone())
                    .push_bind(n.registry.clone())
                    .push_bind(n.organisation.clone())
                    .push_bind(n.target.clone())
                    .push_bind(n.purpose.clone())
                    .push_bind("success")
                    .push_bind(n.client.clone())
                    .push_bind(n.request_id.clone())
                    .push_bind(vec![0u8; 32])
                    .push_bind(vec![0u8; 32]);
            });
            q.build().execute(&mut *tx).await.unwrap();
        }
        tx.commit().await.unwrap();
    }};
}

async fn insert_plain(store: &Store, first: u64, notes: &[AuditNote]) {
    match store {
        Store::Sqlite(p) => plain_insert!(p, sqlx::Sqlite, first, notes),
        Store::Postgres(p) => plain_insert!(p, sqlx::Postgres, first, notes),
    }
}

/// The verify floor: every row read the way `audit verify` reads it (PostgreSQL: binary `COPY …
/// TO STDOUT`; SQLite: one streamed SELECT on a connection of its own), in one snapshot, split
/// into tuples but not decoded or hashed.
async fn read_floor(store: &Store, n: u64) -> f64 {
    let started = Instant::now();
    let read = store.audit_read_floor().await.unwrap();
    assert_eq!(read, n);
    started.elapsed().as_secs_f64()
}

/// For reference, the floor of the previous read path: pages of 8,192 rows by SELECT through
/// the pool, decoded into rows.
async fn select_floor(store: &Store, n: u64) -> f64 {
    let started = Instant::now();
    let mut after = 0;
    let mut read = 0;
    loop {
        let rows = store.audit_events(after, u64::MAX >> 1, 8192).await.unwrap();
        let Some(last) = rows.last() else { break };
        after = last.seq;
        read += rows.len() as u64;
    }
    assert_eq!(read, n);
    started.elapsed().as_secs_f64()
}

/// The load average, to print beside each figure (other builds share the cores).
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

async fn verify_large(kind: &str, url: &str, n: u64) {
    let store = Store::connect(url).await.unwrap();
    let started = Instant::now();
    let batch = 10_000;
    // A kept database may hold the events already (or some of them).
    let mut i = store.audit_head().await.unwrap().last_seq;
    assert!(i <= n, "the kept database holds more than {n} events");
    let filled = n - i;
    while i < n {
        let k = batch.min(n - i);
        let notes: Vec<AuditNote> = (i..i + k).map(|j| note(0, j)).collect();
        store.audit_append(&notes).await.unwrap();
        i += k;
    }
    let fill = started.elapsed().as_secs_f64();
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let t = Instant::now();
    Checkpointer::new(store.clone(), key.clone(), dir.path().join("cp.txt")).checkpoint().await.unwrap();
    let checkpoint = t.elapsed().as_secs_f64();
    let cps: Vec<_> = store.audit_checkpoints().await.unwrap().iter().map(|c| c.parse().unwrap()).collect();
    assert_eq!(cps.last().map(|c| c.checkpoint.tree_size), Some(n), "a checkpoint of the whole log");
    if flag("--fill-only") {
        println!("{kind:<10} {filled} events filled in {fill:.0} s; checkpointed in {checkpoint:.1} s");
        return;
    }
    let load_before = load();
    let t = Instant::now();
    let summary = store.audit_verify(cps.clone(), key.verifying_key()).await.unwrap().expect("the log verifies");
    let verify = t.elapsed().as_secs_f64();
    assert_eq!(summary.events, n);
    let floor = read_floor(&store, n).await;
    // Again, in the other order, so a change of load during the run shows.
    let floor2 = read_floor(&store, n).await;
    let t = Instant::now();
    store.audit_verify(cps.clone(), key.verifying_key()).await.unwrap().expect("the log verifies");
    let verify2 = t.elapsed().as_secs_f64();
    let select = if flag("--skip-select-floor") {
        "not run".to_owned()
    } else {
        format!("{:.1} s", select_floor(&store, n).await)
    };
    println!(
        "{kind:<10} verify {n} events ({} checkpoints): {verify:>6.1} s, {verify2:.1} s (read floor {floor:.1} s, \
         {floor2:.1} s; {:.2}x); old SELECT read floor {select}; load {load_before} -> {}",
        cps.len(),
        (verify + verify2) / (floor + floor2),
        load()
    );
    println!(
        "{kind:<10} checkpoint (reads the whole log) {checkpoint:.1} s; {filled} events filled by one writer in \
         {fill:.0} s ({:.0} events/s)",
        filled as f64 / fill
    );
    store.close().await;
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let events = arg("--events").unwrap_or(250_000);
    let batch = arg("--batch").unwrap_or(1000);
    if let Some(w) = arg("--writer") {
        let url = std::env::var("TESSERA_AUDIT_BENCH_WRITER_URL").expect("the database of a writer process");
        writer(w, flag("--floor"), &url, events, batch).await;
        return;
    }
    let verify_events = arg("--verify-events").unwrap_or(10_000_000);
    let mut kinds = Vec::new();
    if !flag("--skip-sqlite") {
        kinds.push("sqlite");
    }
    if !flag("--skip-postgres") {
        kinds.push("postgres");
    }
    println!("audit append: 2 writers x {events} events in batches of {batch}");
    for kind in &kinds {
        let db = TestDb::of(kind).await;
        let secs = ours(db.url(), events, batch).await;
        let floor_secs = floor(db.url(), events, batch).await;
        let total = 2.0 * events as f64;
        println!(
            "{kind:<10} audit_append {:>9.0} events/s ({secs:.2} s); plain INSERT floor {:>9.0} rows/s ({floor_secs:.2} s); \
             {:.2}x the floor's time; load {}",
            total / secs,
            total / floor_secs,
            secs / floor_secs,
            load()
        );
    }
    if verify_events > 0 {
        for kind in &kinds {
            let kept = std::env::var(format!("TESSERA_AUDIT_BENCH_{}_URL", kind.to_uppercase())).ok();
            match kept {
                Some(url) => verify_large(kind, &url, verify_events).await,
                None => {
                    let db = TestDb::of(kind).await;
                    verify_large(kind, db.url(), verify_events).await;
                }
            }
        }
    }
}
