//! Tamper tests over an in-memory log of 1,000 events with a signed checkpoint every 100: each
//! kind of tampering is detected and the first failing position named; and an export fails
//! verification after any single changed byte.

use tessera_audit::{
    Actor, AuditEvent, Chain, Checkpoint, ExportError, Outcome, Position, SignedCheckpoint, SigningKey, TreeBuilder,
    VerifyError, export, verify_export, verify_log,
};
use time::{Duration, macros::datetime};

fn key() -> SigningKey {
    SigningKey::from_bytes(&[42u8; 32])
}

fn event(seq: u64) -> AuditEvent {
    let actor = match seq % 3 {
        0 => Actor::System,
        1 => Actor::User(format!("user-{}", seq % 17)),
        _ => Actor::ApiToken(format!("tok-{}", seq % 5)),
    };
    let outcome = [Outcome::Success, Outcome::Failure, Outcome::Denied][(seq % 7 % 3) as usize];
    let mut e = AuditEvent::new(
        seq,
        datetime!(2026-05-01 08:00 UTC) + Duration::microseconds(seq as i64 * 1_234_567),
        actor,
        ["record.view", "record.edit", "import.run", "sign_in"][(seq % 4) as usize],
        outcome,
    );
    e.registry = Some(["njr", "bir"][(seq % 2) as usize].into());
    e.organisation = (!seq.is_multiple_of(5)).then(|| format!("R{:02}", seq % 40));
    e.target = Some(format!("p:{:016x}", seq.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
    e.purpose = seq.is_multiple_of(2).then(|| "direct care".into());
    e.client = Some("web".into());
    e.request_id = Some(format!("req-{seq}"));
    e
}

/// A log of `n` events with a checkpoint every `every` events, signed as the server would.
fn log(n: u64, every: u64) -> (Vec<AuditEvent>, Vec<SignedCheckpoint>) {
    let events: Vec<AuditEvent> = (1..=n).map(event).collect();
    let mut tree = TreeBuilder::new();
    let mut chain = Chain::new();
    let mut checkpoints = Vec::new();
    for e in &events {
        let leaf = e.leaf_hash().unwrap();
        tree.push(leaf);
        chain.append(e.seq, &leaf).unwrap();
        if e.seq % every == 0 {
            let cp = Checkpoint::new(tree.size(), tree.root(), chain.head(), e.time + Duration::seconds(1));
            checkpoints.push(cp.sign(&key()).unwrap());
        }
    }
    (events, checkpoints)
}

fn verify(
    events: Vec<AuditEvent>,
    checkpoints: &[SignedCheckpoint],
) -> Result<tessera_audit::VerifySummary, VerifyError> {
    verify_log(events, checkpoints, &key().verifying_key())
}

#[test]
fn an_untouched_log_verifies() {
    let (events, cps) = log(1000, 100);
    let s = verify(events, &cps).unwrap();
    assert_eq!((s.events, s.checkpoints, s.covered, s.uncovered), (1000, 10, 1000, 0));
    assert_eq!(s.root, cps[9].checkpoint.root);
    assert_eq!(s.chain_head, cps[9].checkpoint.chain_head);
}

#[test]
fn events_after_the_last_checkpoint_verify_but_are_counted_as_uncovered() {
    let (events, cps) = log(1050, 100);
    let s = verify(events, &cps).unwrap();
    assert_eq!((s.covered, s.uncovered), (1000, 50));
}

#[test]
fn editing_any_field_of_an_event_is_found_at_the_first_checkpoint_covering_it() {
    type Edit = (&'static str, fn(&mut AuditEvent));
    let edits: Vec<Edit> = vec![
        ("time", |e| e.time += Duration::microseconds(1)),
        ("actor", |e| e.actor = Actor::User("someone-else".into())),
        ("action", |e| e.action.push('x')),
        ("registry", |e| e.registry = None),
        ("organisation", |e| e.organisation = Some("RXX".into())),
        ("target", |e| e.target = Some("p:0000000000000000".into())),
        ("purpose", |e| e.purpose = Some("research".into())),
        ("outcome", |e| e.outcome = if e.outcome == Outcome::Denied { Outcome::Success } else { Outcome::Denied }),
        ("client", |e| e.client = Some("api".into())),
        ("request_id", |e| e.request_id = None),
    ];
    for (seq, (field, edit)) in [437u64, 1, 100, 101, 999, 1000, 250, 650, 873, 12].into_iter().zip(edits) {
        let (mut events, cps) = log(1000, 100);
        edit(&mut events[seq as usize - 1]);
        let err = verify(events, &cps).unwrap_err();
        let checkpoint = seq.div_ceil(100);
        assert_eq!(
            err,
            VerifyError::RootMismatch {
                number: checkpoint as usize,
                tree_size: checkpoint * 100,
                previous_size: (checkpoint - 1) * 100
            },
            "edited {field} of event {seq}"
        );
        assert_eq!(err.position(), Position::Checkpoint { number: checkpoint as usize, tree_size: checkpoint * 100 });
    }
}

#[test]
fn deleting_an_event_is_found_at_its_sequence_number() {
    for seq in [1u64, 437, 500, 999] {
        let (mut events, cps) = log(1000, 100);
        events.remove(seq as usize - 1);
        let err = verify(events, &cps).unwrap_err();
        assert_eq!(err, VerifyError::Missing { expected: seq, found: seq + 1 });
        assert_eq!(err.position(), Position::Event { seq });
    }
}

#[test]
fn deleting_the_last_event_is_found_as_a_truncated_tail() {
    let (mut events, cps) = log(1000, 100);
    events.pop();
    assert_eq!(
        verify(events, &cps).unwrap_err(),
        VerifyError::CheckpointBeyondLog { number: 10, tree_size: 1000, events: 999 }
    );
}

#[test]
fn swapping_two_events_is_found_where_the_first_belongs() {
    for (a, b) in [(437u64, 438u64), (300, 700), (1, 1000)] {
        let (mut events, cps) = log(1000, 100);
        events.swap(a as usize - 1, b as usize - 1);
        let err = verify(events, &cps).unwrap_err();
        assert_eq!(err, VerifyError::Reordered { expected: a, found: b }, "swap {a} and {b}");
        assert_eq!(err.position(), Position::Event { seq: a });
    }
}

#[test]
fn swapping_two_events_and_their_numbers_is_found_at_the_checkpoint() {
    let (mut events, cps) = log(1000, 100);
    events.swap(436, 437);
    events[436].seq = 437;
    events[437].seq = 438;
    assert_eq!(
        verify(events, &cps).unwrap_err(),
        VerifyError::RootMismatch { number: 5, tree_size: 500, previous_size: 400 }
    );
}

#[test]
fn inserting_an_event_is_found_where_it_breaks_the_sequence_or_the_next_checkpoint() {
    // A forged event reusing a sequence number.
    let (mut events, cps) = log(1000, 100);
    let mut forged = event(437);
    forged.target = Some("p:forged".into());
    events.insert(437, forged.clone());
    let err = verify(events, &cps).unwrap_err();
    assert_eq!(err, VerifyError::Repeated { expected: 438, found: 437 });
    assert_eq!(err.position(), Position::Event { seq: 438 });

    // A forged event with the later events renumbered to hide it.
    let (mut events, cps) = log(1000, 100);
    events.insert(437, forged);
    for (i, e) in events.iter_mut().enumerate() {
        e.seq = i as u64 + 1;
    }
    assert_eq!(
        verify(events, &cps).unwrap_err(),
        VerifyError::RootMismatch { number: 5, tree_size: 500, previous_size: 400 }
    );
}

#[test]
fn truncating_the_tail_is_found_against_the_kept_checkpoints() {
    for keep in [950usize, 900, 0] {
        let (mut events, cps) = log(1000, 100);
        events.truncate(keep);
        let first_beyond = keep / 100 + 1;
        assert_eq!(
            verify(events, &cps).unwrap_err(),
            VerifyError::CheckpointBeyondLog {
                number: first_beyond,
                tree_size: first_beyond as u64 * 100,
                events: keep as u64
            },
            "kept {keep}"
        );
    }
}

#[test]
fn a_checkpoint_signed_by_another_key_or_made_wrongly_or_out_of_order_fails() {
    let (events, mut cps) = log(1000, 100);
    let other = SigningKey::from_bytes(&[1u8; 32]);
    cps[3] = cps[3].checkpoint.clone().sign(&other).unwrap();
    assert_eq!(verify(events.clone(), &cps).unwrap_err(), VerifyError::BadSignature { number: 4, tree_size: 400 });

    let (_, mut cps) = log(1000, 100);
    let mut c = cps[6].checkpoint.clone();
    c.chain_head[0] ^= 1;
    cps[6] = c.sign(&key()).unwrap();
    assert_eq!(verify(events.clone(), &cps).unwrap_err(), VerifyError::ChainMismatch { number: 7, tree_size: 700 });

    let (_, mut cps) = log(1000, 100);
    cps.swap(2, 3);
    assert_eq!(
        verify(events.clone(), &cps).unwrap_err(),
        VerifyError::CheckpointsOutOfOrder { number: 4, tree_size: 300 }
    );

    // A checkpoint claiming a longer log than exists, but not signed, proves nothing.
    let (_, mut cps) = log(1000, 100);
    let mut c = cps[9].checkpoint.clone();
    c.tree_size = 2000;
    cps.push(SignedCheckpoint { checkpoint: c, signature: cps[9].signature });
    assert_eq!(verify(events, &cps).unwrap_err(), VerifyError::BadSignature { number: 11, tree_size: 2000 });
}

fn export_bytes(n: u64, every: u64) -> Vec<u8> {
    let (events, cps) = log(n, every);
    let mut out = Vec::new();
    export(&mut out, events, &cps, &key().verifying_key()).unwrap();
    out
}

#[test]
fn an_export_verifies_with_only_the_public_key() {
    let bytes = export_bytes(1000, 100);
    let text = std::str::from_utf8(&bytes).unwrap();
    let first = text.lines().next().unwrap();
    assert_eq!(
        first,
        format!(
            "{{\"format\":\"tessera-audit-export\",\"version\":1,\"public_key\":\"{}\"}}",
            hex::encode(key().verifying_key().to_bytes())
        )
    );
    assert_eq!(text.lines().count(), 1 + 10 + 1000);
    let s = verify_export(&bytes[..], &key().verifying_key()).unwrap();
    assert_eq!((s.events, s.checkpoints, s.uncovered), (1000, 10, 0));
    let other = SigningKey::from_bytes(&[1u8; 32]).verifying_key();
    assert!(matches!(verify_export(&bytes[..], &other), Err(ExportError::WrongKey)));
}

#[test]
fn an_export_is_refused_when_the_last_checkpoint_does_not_cover_every_event() {
    let (events, cps) = log(1050, 100);
    let err = export(Vec::new(), events, &cps, &key().verifying_key()).unwrap_err();
    assert!(matches!(err, ExportError::Uncovered { covered: 1000, events: 1050 }), "{err}");
}

#[test]
fn every_single_byte_change_in_a_small_export_fails_verification() {
    let bytes = export_bytes(30, 10);
    let key = key().verifying_key();
    verify_export(&bytes[..], &key).unwrap();
    for i in 0..bytes.len() {
        for change in [0x01u8, 0x20, 0x80] {
            let mut b = bytes.clone();
            b[i] ^= change;
            assert!(verify_export(&b[..], &key).is_err(), "byte {i} ^ {change:#x} went unnoticed");
        }
        // Replacing by a digit exercises hex and number fields with well-formed values.
        let mut b = bytes.clone();
        b[i] = if b[i] == b'7' { b'3' } else { b'7' };
        assert!(verify_export(&b[..], &key).is_err(), "byte {i} set to a digit went unnoticed");
    }
}

#[test]
fn a_changed_byte_anywhere_in_a_large_export_fails_and_names_a_line() {
    let bytes = export_bytes(1000, 100);
    let key = key().verifying_key();
    // Positions spread over the whole file, by a fixed stride so the test is reproducible.
    for i in (0..bytes.len()).step_by(bytes.len() / 300) {
        let mut b = bytes.clone();
        b[i] ^= 0x04;
        let err = verify_export(&b[..], &key).unwrap_err();
        let line = bytes[..i].iter().filter(|&&c| c == b'\n').count() as u64 + 1;
        match err {
            ExportError::Line { line: l, .. } => assert_eq!(l, line, "byte {i}"),
            // An edited event is found at the checkpoint covering it; a changed newline joins
            // two lines, so only its neighbourhood can be named.
            ExportError::Verify { .. } | ExportError::Header | ExportError::WrongKey => {}
            e => panic!("byte {i}: unexpected {e}"),
        }
    }
    // Dropping the last event line leaves the last checkpoint beyond the export.
    let cut = bytes[..bytes.len() - 1].iter().rposition(|&c| c == b'\n').unwrap() + 1;
    let err = verify_export(&bytes[..cut], &key).unwrap_err();
    assert!(
        matches!(err, ExportError::Verify { line: 11, source: VerifyError::CheckpointBeyondLog { number: 10, .. } }),
        "{err}"
    );
    // Dropping the last newline alone.
    assert!(verify_export(&bytes[..bytes.len() - 1], &key).is_err());
}

#[test]
fn a_log_longer_than_one_batch_is_checked_across_batch_boundaries() {
    let (events, cps) = log(20_000, 1000);
    let s = verify(events.clone(), &cps).unwrap();
    assert_eq!((s.events, s.checkpoints), (20_000, 20));

    let mut swapped = events.clone();
    swapped.swap(8100 - 1, 9000 - 1);
    assert_eq!(verify(swapped, &cps).unwrap_err(), VerifyError::Reordered { expected: 8100, found: 9000 });

    let mut deleted = events.clone();
    deleted.remove(8192);
    assert_eq!(verify(deleted, &cps).unwrap_err(), VerifyError::Missing { expected: 8193, found: 8194 });

    let mut edited = events.clone();
    edited[14_999].purpose = Some("audit".into());
    assert_eq!(
        verify(edited, &cps).unwrap_err(),
        VerifyError::RootMismatch { number: 15, tree_size: 15_000, previous_size: 14_000 }
    );

    let mut invalid = events;
    invalid[12_345].client = Some("a\tb".into());
    let err = verify(invalid, &cps).unwrap_err();
    assert_eq!(err.position(), Position::Event { seq: 12_346 });
    assert!(matches!(err, VerifyError::Event { .. }));
}
