//! The audit trail end to end, on both databases: events appended through the store, signed
//! checkpoints made by `tessera audit checkpoint` (to the database and the file outside it),
//! and the real `tessera audit verify` binary finding each kind of tampering — an edited field,
//! a deleted, swapped or inserted event, a truncated tail — and naming where. Tampering needs
//! the immutability triggers dropped first, as an attacker with database access would.

mod common;

use std::path::PathBuf;

use common::{ok, tessera};
use tessera_store::{AuditActor, AuditNote, AuditOutcome, Store};
use tessera_testkit::{TestDb, on_both_databases};

on_both_databases!(
    an_untouched_log_verifies_with_its_checkpoints_in_the_database_and_the_file,
    editing_any_field_of_an_event_is_found_at_its_sequence_number,
    an_edit_with_every_stored_hash_recomputed_is_found_by_the_signed_checkpoint,
    deleting_an_event_is_found_at_its_sequence_number,
    swapping_two_events_is_found_at_the_first_of_them,
    inserting_an_event_is_found_where_it_was_inserted,
    truncating_the_tail_is_found_against_the_checkpoint_file_outside_the_database,
    an_export_verifies_with_only_the_public_key_and_fails_after_one_changed_byte,
    two_writers_on_one_database_append_one_gap_free_sequence,
    an_event_that_cannot_be_encoded_is_refused_and_leaves_no_gap,
    tampering_deep_in_a_long_log_is_found_at_the_first_changed_event,
);

fn note(i: u64) -> AuditNote {
    let actor = match i % 3 {
        0 => AuditActor::System,
        1 => AuditActor::User(format!("u-{}", i % 7)),
        _ => AuditActor::ApiToken(format!("t-{}", i % 5)),
    };
    let outcome = [AuditOutcome::Success, AuditOutcome::Failure, AuditOutcome::Denied][(i % 3) as usize];
    let mut n = AuditNote::new(actor, ["record.view", "record.correct", "sign_in"][(i % 3) as usize], outcome)
        .registry("njr")
        .organisation(format!("R{:02}", i % 40))
        .target(format!("patient:{i:08x}"))
        .client("web")
        .request_id(format!("req-{i}"));
    if i.is_multiple_of(2) {
        n = n.purpose("direct care");
    }
    n
}

/// A Tessera directory on `db` with 320 events: checkpoints after 100, 200 and 300 (in the
/// database and the checkpoint file), 20 events after the last.
struct Log {
    dir: tempfile::TempDir,
    config: PathBuf,
    store: Store,
}

impl Log {
    /// A Tessera directory on `db` with no events yet.
    async fn empty(db: &TestDb) -> Log {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("t/tessera.toml");
        ok(&tessera(&config, &["init", "--dir", dir.path().join("t").to_str().unwrap(), "--database-url", db.url()]));
        let store = Store::connect(db.url()).await.unwrap();
        Log { dir, config, store }
    }

    async fn new(db: &TestDb) -> Log {
        let log = Log::empty(db).await;
        for round in 0..4u64 {
            let count = if round == 3 { 20 } else { 100 };
            let notes: Vec<AuditNote> = (0..count).map(|i| note(round * 100 + i + 1)).collect();
            // Appended in a few transactions of different sizes.
            let (a, b) = notes.split_at(count as usize / 3);
            log.store.audit_append(a).await.unwrap();
            log.store.audit_append(b).await.unwrap();
            if round < 3 {
                assert!(ok(&log.run(&["audit", "checkpoint"])).contains("signed a checkpoint"));
            }
        }
        log
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        tessera(&self.config, args)
    }

    /// Runs `tessera audit verify`: (succeeded, standard output).
    fn verify(&self) -> (bool, String) {
        let out = self.run(&["audit", "verify"]);
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn assert_fails_at(&self, place: &str) -> String {
        let (passed, out) = self.verify();
        assert!(!passed, "tampering went unnoticed: {out}");
        assert!(out.contains(&format!("FAILED at {place}")), "expected a failure at {place}: {out}");
        out
    }

    fn checkpoint_file(&self) -> PathBuf {
        self.dir.path().join("t/audit-checkpoints.txt")
    }

    async fn sql(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match &self.store {
            Store::Sqlite(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
            Store::Postgres(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
        }
        .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Drops the triggers that refuse UPDATE and DELETE, as an attacker with database access
    /// would.
    async fn drop_triggers(&self) {
        match self.store {
            Store::Sqlite(_) => {
                for t in [
                    "audit_events_are_immutable_update",
                    "audit_events_are_immutable_delete",
                    "audit_checkpoints_are_immutable_update",
                    "audit_checkpoints_are_immutable_delete",
                    "audit_head_only_advances",
                ] {
                    self.sql(&format!("DROP TRIGGER {t}")).await;
                }
            }
            Store::Postgres(_) => {
                self.sql(
                    "DROP TRIGGER audit_events_are_immutable ON audit_events; \
                     DROP TRIGGER audit_checkpoints_are_immutable ON audit_checkpoints; \
                     DROP TRIGGER audit_head_only_advances ON audit_head",
                )
                .await;
            }
        }
    }
}

async fn an_untouched_log_verifies_with_its_checkpoints_in_the_database_and_the_file(db: &TestDb) {
    let log = Log::new(db).await;
    let (passed, out) = log.verify();
    assert!(passed, "{out}");
    assert!(out.contains("320 events, 3 checkpoints, 300 events covered by a signature, 20 after"), "{out}");
    let file = std::fs::read_to_string(log.checkpoint_file()).unwrap();
    assert_eq!(file.lines().count(), 3);
    assert!(file.lines().all(|l| l.starts_with("tessera-audit-checkpoint v1 size=")));
    // A checkpoint of the uncovered 20, then nothing new to sign.
    assert!(ok(&log.run(&["audit", "checkpoint"])).contains("signed a checkpoint of 320 events"));
    assert!(ok(&log.run(&["audit", "checkpoint"])).contains("already covered"));
    assert_eq!(std::fs::read_to_string(log.checkpoint_file()).unwrap().lines().count(), 4);
    assert!(log.verify().1.contains("320 events, 4 checkpoints, 320 events covered by a signature, 0 after"));
    // The triggers refuse changes.
    for sql in ["UPDATE audit_events SET action = 'x' WHERE seq = 5", "DELETE FROM audit_events WHERE seq = 5"] {
        let r = match &log.store {
            Store::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
            Store::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        };
        assert!(r.unwrap_err().to_string().contains("immutable"));
    }
}

async fn editing_any_field_of_an_event_is_found_at_its_sequence_number(db: &TestDb) {
    let log = Log::new(db).await;
    log.drop_triggers().await;
    log.sql("CREATE TABLE original AS SELECT * FROM audit_events WHERE seq IN (150, 310)").await;
    let edits = [
        ("time_us", "time_us + 1"),
        ("actor", "'user:mallory'"),
        ("action", "'record.export'"),
        ("registry", "'bir'"),
        ("organisation", "NULL"),
        ("target", "'patient:00000000'"),
        ("purpose", "'research'"),
        ("outcome", "'denied'"),
        ("client", "'api'"),
        ("request_id", "'req-0'"),
        ("leaf_hash", "chain_hash"),
        ("chain_hash", "leaf_hash"),
    ];
    // 150 is under a checkpoint; 310 is after the last one, where only the stored hashes hold.
    for seq in [150, 310] {
        for (column, value) in edits {
            log.sql(&format!("UPDATE audit_events SET {column} = {value} WHERE seq = {seq}")).await;
            log.assert_fails_at(&format!("event seq {seq}"));
            log.sql(&format!(
                "UPDATE audit_events SET {column} = (SELECT {column} FROM original WHERE seq = {seq}) WHERE seq = {seq}"
            ))
            .await;
        }
    }
    // An event that is not an event at all.
    log.sql("UPDATE audit_events SET actor = 'nobody' WHERE seq = 42").await;
    let out = log.assert_fails_at("event seq 42");
    assert!(out.contains("not a valid event"), "{out}");
    log.sql("UPDATE audit_events SET actor = (SELECT actor FROM audit_events WHERE seq = 45) WHERE seq = 42").await;
    // Every field restored: the log verifies again.
    assert!(log.verify().0);
}

async fn an_edit_with_every_stored_hash_recomputed_is_found_by_the_signed_checkpoint(db: &TestDb) {
    let log = Log::new(db).await;
    log.drop_triggers().await;
    log.sql("UPDATE audit_events SET action = 'nothing.to.see' WHERE seq = 150").await;
    // The careful attacker recomputes every leaf and chain hash from the edit on, and the head.
    let rows = log.store.audit_events(0, 1000, 1000).await.unwrap();
    let mut chain = tessera_audit::Chain::new();
    for r in rows {
        let leaf = r.event.unwrap().leaf_hash().unwrap();
        let head = chain.append(r.seq, &leaf).unwrap();
        if r.seq >= 150 {
            log.sql(&format!(
                "UPDATE audit_events SET leaf_hash = {}, chain_hash = {} WHERE seq = {}",
                blob(db, &leaf),
                blob(db, &head),
                r.seq
            ))
            .await;
        }
    }
    log.sql(&format!("UPDATE audit_head SET chain_head = {}", blob(db, &chain.head()))).await;
    let out = log.assert_fails_at("the checkpoint of tree size 200");
    assert!(out.contains("after seq 100 and up to seq 200"), "{out}");
}

fn blob(db: &TestDb, bytes: &[u8]) -> String {
    match db {
        TestDb::Sqlite { .. } => format!("X'{}'", hex::encode(bytes)),
        TestDb::Postgres { .. } => format!("'\\x{}'::bytea", hex::encode(bytes)),
    }
}

async fn tampering_deep_in_a_long_log_is_found_at_the_first_changed_event(db: &TestDb) {
    // 20,000 events: `audit verify` reads them as two streams (seq 1–10,000 and 10,001 on), each
    // checked in several runs (4,096 rows on SQLite, about 3,000 on PostgreSQL), so the checks
    // where runs and streams meet are the ones that find these.
    let log = Log::empty(db).await;
    for k in 0..20u64 {
        let notes: Vec<AuditNote> = (1..=1000).map(|i| note(k * 1000 + i)).collect();
        log.store.audit_append(&notes).await.unwrap();
    }
    assert!(ok(&log.run(&["audit", "checkpoint"])).contains("signed a checkpoint of 20000 events"));
    let (passed, out) = log.verify();
    assert!(
        passed && out.contains("20000 events, 1 checkpoints, 20000 events covered by a signature, 0 after"),
        "{out}"
    );

    log.drop_triggers().await;
    log.sql("CREATE TABLE original AS SELECT * FROM audit_events WHERE seq IN (10001, 14097, 18000)").await;
    log.sql("UPDATE audit_events SET action = 'record.export' WHERE seq = 18000").await;
    log.assert_fails_at("event seq 18000");
    // A second edit earlier in the same stream, at the first row of SQLite's second run of it:
    // the first in the log is named, whichever run was checked first.
    log.sql("UPDATE audit_events SET target = 'patient:00000000' WHERE seq = 14097").await;
    log.assert_fails_at("event seq 14097");
    for (seq, column) in [(18000, "action"), (14097, "target")] {
        log.sql(&format!(
            "UPDATE audit_events SET {column} = (SELECT {column} FROM original WHERE seq = {seq}) WHERE seq = {seq}"
        ))
        .await;
    }
    assert!(log.verify().0, "every field restored");
    // The first event of the second stream deleted.
    log.sql("DELETE FROM audit_events WHERE seq = 10001").await;
    let out = log.assert_fails_at("event seq 10001");
    assert!(out.contains("missing"), "{out}");
}

async fn deleting_an_event_is_found_at_its_sequence_number(db: &TestDb) {
    let log = Log::new(db).await;
    log.drop_triggers().await;
    log.sql("DELETE FROM audit_events WHERE seq = 77").await;
    let out = log.assert_fails_at("event seq 77");
    assert!(out.contains("missing"), "{out}");
}

async fn swapping_two_events_is_found_at_the_first_of_them(db: &TestDb) {
    let log = Log::new(db).await;
    log.drop_triggers().await;
    log.sql("UPDATE audit_events SET seq = 1000000 WHERE seq = 40").await;
    log.sql("UPDATE audit_events SET seq = 40 WHERE seq = 60").await;
    log.sql("UPDATE audit_events SET seq = 60 WHERE seq = 1000000").await;
    log.assert_fails_at("event seq 40");
}

async fn inserting_an_event_is_found_where_it_was_inserted(db: &TestDb) {
    let log = Log::new(db).await;
    log.drop_triggers().await;
    // Make room at 120 and copy event 119 (with its hashes) into it.
    log.sql("UPDATE audit_events SET seq = seq + 1000000 WHERE seq >= 120").await;
    log.sql("UPDATE audit_events SET seq = seq - 999999 WHERE seq >= 1000000").await;
    log.sql(
        "INSERT INTO audit_events SELECT 120, time_us, actor, action, registry, organisation, target, purpose, \
         outcome, client, request_id, leaf_hash, chain_hash FROM audit_events WHERE seq = 119",
    )
    .await;
    log.assert_fails_at("event seq 120");
}

async fn truncating_the_tail_is_found_against_the_checkpoint_file_outside_the_database(db: &TestDb) {
    let log = Log::new(db).await;
    log.drop_triggers().await;
    // Cut everything after 150 and cover the tracks in the database: its checkpoints and head.
    log.sql("DELETE FROM audit_events WHERE seq > 150").await;
    log.sql("DELETE FROM audit_checkpoints WHERE tree_size > 150").await;
    log.sql("UPDATE audit_head SET last_seq = 150, chain_head = (SELECT chain_hash FROM audit_events WHERE seq = 150)")
        .await;
    let out = log.assert_fails_at("the checkpoint of tree size 200");
    assert!(out.contains("audit-checkpoints.txt line 2") && out.contains("truncated"), "{out}");
    // Without the file nothing can tell (which is why it is kept elsewhere); with the file gone
    // while the database still holds checkpoints, verification refuses too.
    std::fs::remove_file(log.checkpoint_file()).unwrap();
    let (passed, out) = log.verify();
    assert!(!passed && out.contains("is missing"), "{out}");
}

async fn an_export_verifies_with_only_the_public_key_and_fails_after_one_changed_byte(db: &TestDb) {
    let log = Log::new(db).await;
    let export = log.dir.path().join("audit.ndjson");
    let out = ok(&log.run(&["audit", "export", "--out", export.to_str().unwrap()]));
    assert!(out.contains("wrote 320 events and 4 checkpoints"), "{out}");
    let key = ok(&log.run(&["audit", "public-key"])).trim().to_owned();
    assert_eq!(key.len(), 64);
    // No configuration, no database: only the file and the key.
    let nowhere = log.dir.path().join("nowhere/tessera.toml");
    let offline = |file: &std::path::Path| {
        tessera(&nowhere, &["audit", "verify-export", file.to_str().unwrap(), "--public-key", &key])
    };
    let verified = ok(&offline(&export));
    assert!(verified.contains("the export verifies: 320 events under 4 signed checkpoints"), "{verified}");
    let bytes = std::fs::read(&export).unwrap();
    let changed = log.dir.path().join("changed.ndjson");
    // Bytes in the header, a checkpoint, an event's seq, time, text and the very end.
    let positions = [10, 80, bytes.len() / 10, bytes.len() / 3, bytes.len() / 2, bytes.len() * 9 / 10, bytes.len() - 3];
    for at in positions {
        let mut b = bytes.clone();
        b[at] = if b[at].is_ascii_digit() { b'0' + (b[at] - b'0' + 1) % 10 } else { b[at] ^ 0x01 };
        std::fs::write(&changed, &b).unwrap();
        let out = offline(&changed);
        assert!(!out.status.success(), "a change at byte {at} went unnoticed");
    }
    // A wrong key is refused too.
    let other = "11".repeat(32);
    let out = tessera(&nowhere, &["audit", "verify-export", export.to_str().unwrap(), "--public-key", &other]);
    assert!(!out.status.success());
}

async fn two_writers_on_one_database_append_one_gap_free_sequence(db: &TestDb) {
    let log = Log::new(db).await;
    // Two independent pools, as two servers have, appending at once.
    let writers: Vec<_> = (0..2u64)
        .map(|w| {
            let url = db.url().to_owned();
            tokio::spawn(async move {
                let store = Store::connect(&url).await.unwrap();
                let mut seqs = Vec::new();
                for i in 0..60u64 {
                    let notes: Vec<AuditNote> = (0..1 + i % 5).map(|k| note(10_000 * (w + 1) + i * 10 + k)).collect();
                    let a = store.audit_append(&notes).await.unwrap();
                    assert_eq!(a.seqs.end - a.seqs.start, notes.len() as u64);
                    seqs.extend(a.seqs);
                }
                store.close().await;
                seqs
            })
        })
        .collect();
    let mut all: Vec<u64> = Vec::new();
    for w in writers {
        all.extend(w.await.unwrap());
    }
    all.sort_unstable();
    let n = all.len() as u64;
    assert_eq!(all, (321..=320 + n).collect::<Vec<_>>(), "each writer's events took distinct, gap-free numbers");
    let rows = log.store.audit_events(0, u64::MAX >> 1, 100_000).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), (1..=320 + n).collect::<Vec<_>>());
    assert_eq!(log.store.audit_head().await.unwrap().last_seq, 320 + n);
    ok(&log.run(&["audit", "checkpoint"]));
    let (passed, out) = log.verify();
    assert!(passed, "{out}");
}

async fn an_event_that_cannot_be_encoded_is_refused_and_leaves_no_gap(db: &TestDb) {
    let log = Log::new(db).await;
    let bad = [note(1), note(2).purpose("care\nand more")];
    assert!(log.store.audit_append(&bad).await.is_err());
    let a = log.store.audit_append(&[note(3)]).await.unwrap();
    assert_eq!(a.seqs, 321..322);
    assert!(log.verify().0);
}

/// The proof endpoints, served by a real `tessera serve` whose own checkpointer signs the events
/// no checkpoint covers yet: refused without a session; with one, the checkpoint verifies under
/// the public key and every proof against it.
#[tokio::test]
async fn proofs_are_served_to_signed_in_people_and_verify_against_the_servers_checkpoint() {
    use tessera_audit::{Hash, SignedCheckpoint, VerifyingKey, verify_consistency, verify_inclusion};
    use tessera_testkit::http::Browser;

    let db = TestDb::sqlite();
    let log = Log::new(&db).await;
    let mut config = std::fs::read_to_string(&log.config).unwrap();
    config.push_str("\n[audit]\ncheckpoint_every = 1\n");
    std::fs::write(&log.config, config).unwrap();
    let key = ok(&log.run(&["audit", "public-key"]));
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(key.trim(), &mut bytes).unwrap();
    let key = VerifyingKey::from_bytes(&bytes).unwrap();

    let mut server = common::Server::start(&log.config, &log.dir.path().join("serve.log"), "info");
    let mut b = Browser::new(&server.ip_url());
    assert_eq!(b.get("/api/v1/audit/checkpoint").await.status, 401);
    assert_eq!(b.get("/api/v1/audit/inclusion?seq=1&size=1").await.status, 401);
    assert_eq!(b.get("/api/v1/audit/consistency?from=1&to=2").await.status, 401);
    let link = server.bootstrap.clone().expect("bootstrap link");
    let (secret, factor) =
        b.bootstrap_operator(&link, "Olivia Operator", "olivia@ops.example", "granite kettle orchestra 61").await;
    let seed = tessera_auth::totp::seed_from_base32(&secret).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let code = tessera_auth::totp::code_at(&seed, now);
    b.post("/account/security/totp", &[("factor", &factor), ("code", &code)]).await;

    // The server signs a checkpoint of all 320 events at its first tick; wait for it to show.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let latest = loop {
        let r = b.get("/api/v1/audit/checkpoint").await;
        assert_eq!(r.status, 200, "{}", r.body);
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        if v["tree_size"] == 320 {
            break v;
        }
        assert!(std::time::Instant::now() < deadline, "the server signed no checkpoint: {v}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let cp = SignedCheckpoint::parse(latest["line"].as_str().unwrap()).unwrap();
    cp.verify(&key).unwrap();
    assert!(std::fs::read_to_string(log.checkpoint_file()).unwrap().contains(latest["line"].as_str().unwrap()));
    let hash = |v: &serde_json::Value| -> Hash {
        let mut h = [0u8; 32];
        hex::decode_to_slice(v.as_str().unwrap(), &mut h).unwrap();
        h
    };
    let hashes = |v: &serde_json::Value| v.as_array().unwrap().iter().map(hash).collect::<Vec<_>>();

    for seq in [1u64, 2, 150, 256, 319, 320] {
        let r = b.get(&format!("/api/v1/audit/inclusion?seq={seq}&size=320")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        let stored = log.store.audit_events(seq - 1, seq, 1).await.unwrap().remove(0);
        let leaf = stored.event.unwrap().leaf_hash().unwrap();
        assert_eq!(hash(&v["leaf_hash"]), leaf);
        verify_inclusion(&leaf, seq - 1, 320, &hashes(&v["proof"]), &cp.checkpoint.root).unwrap();
    }
    let first = log.store.audit_checkpoints().await.unwrap().remove(0).parse().unwrap();
    assert_eq!(first.checkpoint.tree_size, 100);
    let r = b.get("/api/v1/audit/consistency?from=100&to=320").await;
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    verify_consistency(100, 320, &first.checkpoint.root, &cp.checkpoint.root, &hashes(&v["proof"])).unwrap();

    assert_eq!(b.get("/api/v1/audit/inclusion?seq=0&size=5").await.status, 400);
    assert_eq!(b.get("/api/v1/audit/consistency?from=9&to=5").await.status, 400);
    assert_eq!(b.get("/api/v1/audit/inclusion?seq=5&size=100000").await.status, 404);
    server.stop();
}
