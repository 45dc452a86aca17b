//! Measures one-pass verification speed: `cargo run --release -p tessera-audit --example
//! verify_speed -- [events]` (default 1,000,000). Events are generated on the fly, so the time
//! of generating them alone is measured too and subtracted.

use std::time::Instant;

use tessera_audit::{Actor, AuditEvent, Chain, Checkpoint, Outcome, SigningKey, TreeBuilder, verify_log};
use time::{Duration, macros::datetime};

/// A realistic event: every field present, about 300 bytes canonical.
fn event(seq: u64) -> AuditEvent {
    let mut e = AuditEvent::new(
        seq,
        datetime!(2026-05-01 08:00 UTC) + Duration::microseconds(seq as i64 * 31_415),
        Actor::User(format!("0196a1b2-7c3d-7e4f-8a9b-{:012x}", seq % 5000)),
        "record.view",
        Outcome::Success,
    );
    e.registry = Some("njr".into());
    e.organisation = Some(format!("R{:02}", seq % 90));
    e.target = Some(format!("p:{:032x}", u128::from(seq).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)));
    e.purpose = Some("direct care".into());
    e.client = Some("web".into());
    e.request_id = Some(format!("0196a1b2-7c3d-7e4f-8a9b-{seq:012x}"));
    e
}

fn main() {
    let n: u64 = std::env::args().nth(1).map_or(1_000_000, |a| a.parse().expect("a number of events"));
    if std::env::var_os("PROBE").is_some() {
        probe(n);
        return;
    }
    let every = 10_000;
    let key = SigningKey::from_bytes(&[9u8; 32]);
    println!("canonical event: {} bytes", event(1).canonical().expect("valid").len());

    let t = Instant::now();
    let mut tree = TreeBuilder::new();
    let mut chain = Chain::new();
    let mut checkpoints = Vec::new();
    for e in (1..=n).map(event) {
        let leaf = e.leaf_hash().expect("valid");
        tree.push(leaf);
        chain.append(e.seq, &leaf).expect("in sequence");
        if e.seq % every == 0 || e.seq == n {
            let cp = Checkpoint::new(tree.size(), tree.root(), chain.head(), e.time);
            checkpoints.push(cp.sign(&key).expect("valid"));
        }
    }
    println!("append + sign {} checkpoints: {:.3} s", checkpoints.len(), t.elapsed().as_secs_f64());

    let t = Instant::now();
    let mut bytes = 0usize;
    for e in (1..=n).map(event) {
        bytes += e.action.len();
    }
    let generate = t.elapsed().as_secs_f64();
    println!("generate only: {generate:.3} s ({bytes})");

    let t = Instant::now();
    let summary = verify_log((1..=n).map(event), &checkpoints, &key.verifying_key()).expect("verifies");
    let total = t.elapsed().as_secs_f64();
    let verify = total - generate;
    println!(
        "verify {} events, {} checkpoints: {total:.3} s with generation, {verify:.3} s verification alone \
         = {:.0} ns/event; 10M events ≈ {:.1} s",
        summary.events,
        summary.checkpoints,
        verify * 1e9 / n as f64,
        verify * 10.0 * 1e6 / n as f64
    );
}

/// Where the time goes, for the record in the report.
#[allow(dead_code)]
fn probe(n: u64) {
    let events: Vec<AuditEvent> = (1..=n).map(event).collect();
    let t = Instant::now();
    let mut buf = String::new();
    let mut total = 0;
    for e in &events {
        buf.clear();
        e.write_canonical(&mut buf).expect("valid");
        total += buf.len();
    }
    println!("encode: {:.0} ns/event ({total})", t.elapsed().as_secs_f64() * 1e9 / n as f64);
    let line = events[0].canonical().expect("valid");
    let t = Instant::now();
    let mut h = [0u8; 32];
    for _ in 0..n {
        h = tessera_audit::leaf_hash(line.as_bytes());
    }
    println!("leaf hash of {} bytes: {:.0} ns ({})", line.len(), t.elapsed().as_secs_f64() * 1e9 / n as f64, h[0]);
    let t = Instant::now();
    for _ in 0..n {
        h = tessera_audit::node_hash(&h, &h);
    }
    println!("node hash: {:.0} ns ({})", t.elapsed().as_secs_f64() * 1e9 / n as f64, h[0]);
}
