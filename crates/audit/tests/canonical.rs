//! Property tests of the canonical event encoding: every valid event round-trips, and the
//! encoding is injective (different events, different bytes).

use proptest::prelude::*;
use tessera_audit::{Actor, AuditEvent, Outcome};
use time::OffsetDateTime;

/// Text without control characters, including quotes, backslashes and non-ASCII.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 \"\\\\:{},._é→€😀-]{0,12}"
}

fn event() -> impl Strategy<Value = AuditEvent> {
    (
        1u64..u64::MAX,
        // 0000-01-01 to 9999-12-31, in microseconds.
        -62_167_219_200_000_000i64..253_402_300_799_999_999i64,
        prop_oneof![
            Just(Actor::System),
            "[a-z0-9:-]{1,8}".prop_map(Actor::User),
            "[a-z0-9:-]{1,8}".prop_map(Actor::ApiToken)
        ],
        "[a-z.]{1,12}",
        prop::array::uniform6(prop::option::of(text())),
        prop_oneof![Just(Outcome::Success), Just(Outcome::Failure), Just(Outcome::Denied)],
    )
        .prop_map(|(seq, micros, actor, action, opts, outcome)| {
            let time = OffsetDateTime::from_unix_timestamp_nanos(micros as i128 * 1000).unwrap();
            let [registry, organisation, target, purpose, client, request_id] = opts;
            AuditEvent {
                seq,
                time,
                actor,
                action,
                registry,
                organisation,
                target,
                purpose,
                outcome,
                client,
                request_id,
            }
        })
}

proptest! {
    #[test]
    fn every_valid_event_round_trips_through_its_canonical_line(e in event()) {
        let line = e.canonical().unwrap();
        prop_assert!(!line.contains('\n'));
        prop_assert_eq!(AuditEvent::parse(&line).unwrap(), e);
    }

    #[test]
    fn different_events_have_different_canonical_lines(a in event(), b in event()) {
        prop_assert_eq!(a == b, a.canonical().unwrap() == b.canonical().unwrap());
    }

    #[test]
    fn a_control_character_in_any_text_field_is_refused(e in event(), c in prop::sample::select(vec!['\0', '\n', '\r', '\t', '\u{1b}', '\u{7f}', '\u{9f}']), field in 0usize..5) {
        let mut e = e;
        let bad = format!("a{c}b");
        match field {
            0 => e.action = bad,
            1 => e.registry = Some(bad),
            2 => e.target = Some(bad),
            3 => e.actor = Actor::User(bad),
            _ => e.request_id = Some(bad),
        }
        prop_assert!(e.canonical().is_err());
    }
}
