//! One audit event and its canonical encoding: the exact bytes that are hashed into the leaf.
//!
//! The canonical form is one line of JSON with a fixed key order, no whitespace and every key
//! present (`null` when absent):
//!
//! ```text
//! {"seq":7,"time":"2026-05-01T09:30:00.250000Z","actor":"user:u-1","action":"record.view",
//!  "registry":"njr","organisation":"RRK","target":"p:3f2a…","purpose":"care","outcome":"success",
//!  "client":"web","request_id":"r-9"}
//! ```
//! (shown wrapped; the real line has no newline or spaces). Rules:
//! - `seq` is a decimal integer ≥ 1 without leading zeros.
//! - `time` is RFC 3339 in UTC with exactly six fractional digits and a `Z`, years 0000–9999.
//! - `actor` is `"system"`, `"user:<id>"` or `"token:<id>"` with a non-empty id.
//! - `outcome` is `"success"`, `"failure"` or `"denied"`.
//! - Strings are UTF-8; `"` and `\` are escaped as `\"` and `\\` and nothing else is escaped.
//!   Control characters (Unicode category Cc: U+0000–U+001F, U+007F–U+009F) are rejected in
//!   every field, so no other escape is ever needed and a line can never be split.
//!
//! [`AuditEvent::parse`] accepts exactly these bytes: it parses, re-encodes and insists the
//! result is byte-identical, so every event has one encoding and every accepted line one event.

use serde::Deserialize;
use thiserror::Error;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset, format_description::FormatItem};

use crate::merkle::{Hash, leaf_hash};

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    /// A signed-in person, by user id.
    User(String),
    /// An API token, by token id.
    ApiToken(String),
    /// Tessera itself (start-up, scheduled work, the command line).
    System,
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The action was done.
    Success,
    /// The action was allowed but failed.
    Failure,
    /// The action was refused by an access check.
    Denied,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Position in the log: 1, 2, 3, … without gaps.
    pub seq: u64,
    /// When it happened, UTC, whole microseconds (see [`AuditEvent::new`]).
    pub time: OffsetDateTime,
    /// Who did it.
    pub actor: Actor,
    /// What was done, e.g. `record.view` (non-empty).
    pub action: String,
    /// The registry concerned, if any.
    pub registry: Option<String>,
    /// The organisation (ODS code) concerned, if any.
    pub organisation: Option<String>,
    /// A pseudonymous reference to the thing acted on; never a direct identifier such as an NHS
    /// number, because the log is exported and kept for years.
    pub target: Option<String>,
    /// The stated purpose of access, if any.
    pub purpose: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// The client (e.g. `web`, `api`, `cli`), if known.
    pub client: Option<String>,
    /// The request id, to join the event to the request log.
    pub request_id: Option<String>,
}

/// Why an event cannot be encoded or a line is not a canonical event.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EventError {
    /// A field contains a control character.
    #[error("the {field} field contains a control character")]
    ControlCharacter {
        /// The field's canonical key.
        field: &'static str,
    },
    /// A field that must not be empty is empty.
    #[error("the {field} field is empty")]
    Empty {
        /// The field's canonical key.
        field: &'static str,
    },
    /// Sequence numbers start at 1.
    #[error("the sequence number is 0 (they start at 1)")]
    SeqZero,
    /// The time is not in UTC.
    #[error("the time is not in UTC")]
    TimeNotUtc,
    /// The time has digits below the microsecond.
    #[error("the time has nanoseconds below whole microseconds")]
    TimeNotMicroseconds,
    /// The year is outside 0000–9999.
    #[error("the year {0} is outside 0000-9999")]
    YearOutOfRange(i32),
    /// The time text is not RFC 3339 UTC with six fractional digits.
    #[error("the time {0:?} is not RFC 3339 UTC with six fractional digits")]
    BadTime(String),
    /// The actor text is not `system`, `user:<id>` or `token:<id>`.
    #[error("the actor {0:?} is not system, user:<id> or token:<id>")]
    BadActor(String),
    /// The outcome text is not `success`, `failure` or `denied`.
    #[error("the outcome {0:?} is not success, failure or denied")]
    BadOutcome(String),
    /// The line is not JSON of the event's shape.
    #[error("not an audit event: {0}")]
    Malformed(String),
    /// The line is an event but not in its canonical bytes.
    #[error("the event is not in canonical form")]
    NotCanonical,
}

/// `[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z`.
const TIME_FORMAT: &[FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

impl AuditEvent {
    /// An event with the required fields and every optional one absent. The time is converted to
    /// UTC and truncated to whole microseconds, the precision of the canonical form.
    pub fn new(seq: u64, time: OffsetDateTime, actor: Actor, action: impl Into<String>, outcome: Outcome) -> Self {
        AuditEvent {
            seq,
            time: normalise_time(time),
            actor,
            action: action.into(),
            registry: None,
            organisation: None,
            target: None,
            purpose: None,
            outcome,
            client: None,
            request_id: None,
        }
    }

    /// Checks every rule of the canonical form without encoding.
    pub fn validate(&self) -> Result<(), EventError> {
        self.view().validate()
    }

    /// The event's fields borrowed, to encode without copying (see [`EventRef`]).
    pub fn view(&self) -> EventRef<'_> {
        EventRef {
            seq: self.seq,
            time: self.time,
            actor: match &self.actor {
                Actor::System => ActorRef::System,
                Actor::User(id) => ActorRef::User(id),
                Actor::ApiToken(id) => ActorRef::ApiToken(id),
            },
            action: &self.action,
            registry: self.registry.as_deref(),
            organisation: self.organisation.as_deref(),
            target: self.target.as_deref(),
            purpose: self.purpose.as_deref(),
            outcome: self.outcome,
            client: self.client.as_deref(),
            request_id: self.request_id.as_deref(),
        }
    }

    /// The canonical encoding (see the module documentation).
    pub fn canonical(&self) -> Result<String, EventError> {
        let mut out = String::with_capacity(256);
        self.write_canonical(&mut out)?;
        Ok(out)
    }

    /// Appends the canonical encoding to `out` (which is left unchanged on error), so a verifier
    /// can reuse one buffer for millions of events.
    pub fn write_canonical(&self, out: &mut String) -> Result<(), EventError> {
        self.view().write_canonical(out)
    }

    /// The Merkle leaf hash of this event: SHA-256(0x00 ‖ canonical bytes).
    pub fn leaf_hash(&self) -> Result<Hash, EventError> {
        Ok(leaf_hash(self.canonical()?.as_bytes()))
    }

    /// Parses a canonical line (without its newline). Anything but the exact canonical bytes of
    /// some event is refused.
    pub fn parse(line: &str) -> Result<Self, EventError> {
        let raw: Raw = serde_json::from_str(line).map_err(|e| EventError::Malformed(e.to_string()))?;
        let event = AuditEvent {
            seq: raw.seq,
            time: parse_time(&raw.time)?,
            actor: parse_actor(raw.actor)?,
            action: raw.action,
            registry: raw.registry,
            organisation: raw.organisation,
            target: raw.target,
            purpose: raw.purpose,
            outcome: match raw.outcome.as_str() {
                "success" => Outcome::Success,
                "failure" => Outcome::Failure,
                "denied" => Outcome::Denied,
                _ => return Err(EventError::BadOutcome(raw.outcome)),
            },
            client: raw.client,
            request_id: raw.request_id,
        };
        if event.canonical()? != line {
            return Err(EventError::NotCanonical);
        }
        Ok(event)
    }
}

/// Who did it, borrowed (see [`EventRef`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActorRef<'a> {
    /// A signed-in person, by user id.
    User(&'a str),
    /// An API token, by token id.
    ApiToken(&'a str),
    /// Tessera itself.
    System,
}

impl<'a> ActorRef<'a> {
    /// Reads the actor's text as the canonical form writes it: `system`, `user:<id>` or
    /// `token:<id>` with a non-empty id.
    pub fn parse(s: &'a str) -> Result<Self, EventError> {
        match s {
            "system" => Ok(ActorRef::System),
            _ => match (s.strip_prefix("user:"), s.strip_prefix("token:")) {
                (Some(id), _) if !id.is_empty() => Ok(ActorRef::User(id)),
                (_, Some(id)) if !id.is_empty() => Ok(ActorRef::ApiToken(id)),
                _ => Err(EventError::BadActor(s.into())),
            },
        }
    }

    /// The owned actor.
    pub fn to_actor(self) -> Actor {
        match self {
            ActorRef::User(id) => Actor::User(id.into()),
            ActorRef::ApiToken(id) => Actor::ApiToken(id.into()),
            ActorRef::System => Actor::System,
        }
    }
}

/// An event whose text fields are borrowed from elsewhere (e.g. a database row being verified),
/// so millions can be checked and encoded without copying each field into a `String`. The rules
/// and the canonical encoding are the same as [`AuditEvent`]'s, which encodes through this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRef<'a> {
    /// Position in the log.
    pub seq: u64,
    /// When it happened (UTC, whole microseconds).
    pub time: OffsetDateTime,
    /// Who did it.
    pub actor: ActorRef<'a>,
    /// What was done.
    pub action: &'a str,
    /// The registry concerned, if any.
    pub registry: Option<&'a str>,
    /// The organisation concerned, if any.
    pub organisation: Option<&'a str>,
    /// The pseudonymous target, if any.
    pub target: Option<&'a str>,
    /// The stated purpose, if any.
    pub purpose: Option<&'a str>,
    /// How it ended.
    pub outcome: Outcome,
    /// The client, if known.
    pub client: Option<&'a str>,
    /// The request id, if any.
    pub request_id: Option<&'a str>,
}

impl EventRef<'_> {
    /// Checks every rule of the canonical form without encoding.
    pub fn validate(&self) -> Result<(), EventError> {
        if self.seq == 0 {
            return Err(EventError::SeqZero);
        }
        check_time(self.time)?;
        match self.actor {
            ActorRef::System => {}
            ActorRef::User(id) | ActorRef::ApiToken(id) => check_text("actor", id, true)?,
        }
        check_text("action", self.action, true)?;
        let trailing = [("client", self.client), ("request_id", self.request_id)];
        for (field, value) in self.optional_fields().into_iter().chain(trailing) {
            if let Some(v) = value {
                check_text(field, v, false)?;
            }
        }
        Ok(())
    }

    fn optional_fields(&self) -> [(&'static str, Option<&str>); 4] {
        [
            ("registry", self.registry),
            ("organisation", self.organisation),
            ("target", self.target),
            ("purpose", self.purpose),
        ]
    }

    /// Appends the canonical encoding to `out` (which is left unchanged on error).
    pub fn write_canonical(&self, out: &mut String) -> Result<(), EventError> {
        self.validate()?;
        out.push_str("{\"seq\":");
        write_u64(out, self.seq);
        out.push_str(",\"time\":\"");
        write_time(out, self.time);
        out.push_str("\",\"actor\":\"");
        match self.actor {
            ActorRef::System => out.push_str("system"),
            ActorRef::User(id) => {
                out.push_str("user:");
                escape_into(out, id);
            }
            ActorRef::ApiToken(id) => {
                out.push_str("token:");
                escape_into(out, id);
            }
        }
        out.push_str("\",\"action\":");
        push_string(out, Some(self.action));
        for (field, value) in self.optional_fields() {
            out.push_str(",\"");
            out.push_str(field);
            out.push_str("\":");
            push_string(out, value);
        }
        out.push_str(",\"outcome\":\"");
        out.push_str(self.outcome.as_str());
        out.push_str("\",\"client\":");
        push_string(out, self.client);
        out.push_str(",\"request_id\":");
        push_string(out, self.request_id);
        out.push('}');
        Ok(())
    }

    /// The owned event.
    pub fn to_event(&self) -> AuditEvent {
        AuditEvent {
            seq: self.seq,
            time: self.time,
            actor: self.actor.to_actor(),
            action: self.action.into(),
            registry: self.registry.map(Into::into),
            organisation: self.organisation.map(Into::into),
            target: self.target.map(Into::into),
            purpose: self.purpose.map(Into::into),
            outcome: self.outcome,
            client: self.client.map(Into::into),
            request_id: self.request_id.map(Into::into),
        }
    }
}

/// The JSON shape, read only to be re-encoded and compared.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    seq: u64,
    time: String,
    actor: String,
    action: String,
    registry: Option<String>,
    organisation: Option<String>,
    target: Option<String>,
    purpose: Option<String>,
    outcome: String,
    client: Option<String>,
    request_id: Option<String>,
}

/// Converts to UTC and drops digits below the microsecond.
pub(crate) fn normalise_time(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(UtcOffset::UTC);
    let micros = t.nanosecond() / 1_000 * 1_000;
    t.replace_nanosecond(micros).expect("a truncated nanosecond is in range")
}

pub(crate) fn check_time(t: OffsetDateTime) -> Result<(), EventError> {
    if t.offset() != UtcOffset::UTC {
        return Err(EventError::TimeNotUtc);
    }
    if !t.nanosecond().is_multiple_of(1_000) {
        return Err(EventError::TimeNotMicroseconds);
    }
    if !(0..=9999).contains(&t.year()) {
        return Err(EventError::YearOutOfRange(t.year()));
    }
    Ok(())
}

/// Writes a checked time in the canonical form; by hand, because it runs once per event in a
/// verification of millions and `fmt` padding costs more than the hashing.
pub(crate) fn write_time(out: &mut String, t: OffsetDateTime) {
    let (year, month, day) = t.to_calendar_date();
    let (hour, minute, second, micro) = t.to_hms_micro();
    let mut b = *b"0000-00-00T00:00:00.000000Z";
    put_digits(&mut b[0..4], year as u32);
    put_digits(&mut b[5..7], u8::from(month) as u32);
    put_digits(&mut b[8..10], day as u32);
    put_digits(&mut b[11..13], hour as u32);
    put_digits(&mut b[14..16], minute as u32);
    put_digits(&mut b[17..19], second as u32);
    put_digits(&mut b[20..26], micro);
    out.push_str(std::str::from_utf8(&b).expect("ASCII digits"));
}

/// Fills `slot` with the low decimal digits of `v`, zero-padded.
fn put_digits(slot: &mut [u8], mut v: u32) {
    for d in slot.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Writes an unsigned integer in decimal without leading zeros.
fn write_u64(out: &mut String, mut v: u64) {
    let mut b = [0u8; 20];
    let mut i = b.len();
    loop {
        i -= 1;
        b[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&b[i..]).expect("ASCII digits"));
}

/// Parses the canonical time text.
pub(crate) fn parse_time(s: &str) -> Result<OffsetDateTime, EventError> {
    let t = PrimitiveDateTime::parse(s, TIME_FORMAT).map_err(|_| EventError::BadTime(s.to_owned()))?.assume_utc();
    check_time(t)?;
    Ok(t)
}

fn parse_actor(s: String) -> Result<Actor, EventError> {
    if s == "system" {
        return Ok(Actor::System);
    }
    let actor = if let Some(id) = s.strip_prefix("user:") {
        Actor::User(id.to_owned())
    } else if let Some(id) = s.strip_prefix("token:") {
        Actor::ApiToken(id.to_owned())
    } else {
        return Err(EventError::BadActor(s));
    };
    match &actor {
        Actor::User(id) | Actor::ApiToken(id) if id.is_empty() => Err(EventError::BadActor(s)),
        _ => Ok(actor),
    }
}

fn check_text(field: &'static str, v: &str, required: bool) -> Result<(), EventError> {
    if required && v.is_empty() {
        return Err(EventError::Empty { field });
    }
    if needs_care(v) && has_control(v) {
        return Err(EventError::ControlCharacter { field });
    }
    Ok(())
}

/// Whether `v` holds a byte that may be (part of) a control character or that JSON escapes: one
/// pass without branches, which the compiler vectorises. Almost no field has one, so the exact
/// checks below run only when it answers yes (a verification checks ten fields of millions of
/// events).
fn needs_care(v: &str) -> bool {
    v.bytes().fold(false, |acc, c| acc | (c < 0x20) | (c == 0x7f) | (c == 0xc2) | (c == b'"') | (c == b'\\'))
}

/// Whether `v` holds a Unicode Cc character: U+0000–U+001F and U+007F are single bytes, and
/// U+0080–U+009F are 0xC2 0x80–0x9F in UTF-8 (a byte scan, much faster than decoding chars).
fn has_control(v: &str) -> bool {
    let b = v.as_bytes();
    b.iter().enumerate().any(|(i, &c)| {
        c < 0x20 || c == 0x7f || (c == 0xc2 && b.get(i + 1).is_some_and(|&n| (0x80..=0x9f).contains(&n)))
    })
}

fn push_string(out: &mut String, v: Option<&str>) {
    match v {
        None => out.push_str("null"),
        Some(v) => {
            out.push('"');
            escape_into(out, v);
            out.push('"');
        }
    }
}

/// Escapes the two characters JSON requires once control characters are excluded.
fn escape_into(out: &mut String, v: &str) {
    if !needs_care(v) {
        out.push_str(v);
        return;
    }
    let mut rest = v;
    while let Some(i) = rest.find(['"', '\\']) {
        out.push_str(&rest[..i]);
        out.push('\\');
        out.push_str(&rest[i..i + 1]);
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn sample() -> AuditEvent {
        let mut e = AuditEvent::new(
            7,
            datetime!(2026-05-01 10:30:00.250_000_999 +01:00),
            Actor::User("u-1".into()),
            "record.view",
            Outcome::Success,
        );
        e.registry = Some("njr".into());
        e.organisation = Some("RRK".into());
        e.target = Some("p:3f2a\"\\é".into());
        e.client = Some("web".into());
        e
    }

    #[test]
    fn the_canonical_form_is_fixed_order_json_without_whitespace() {
        assert_eq!(
            sample().canonical().unwrap(),
            r#"{"seq":7,"time":"2026-05-01T09:30:00.250000Z","actor":"user:u-1","action":"record.view","registry":"njr","organisation":"RRK","target":"p:3f2a\"\\é","purpose":null,"outcome":"success","client":"web","request_id":null}"#
        );
    }

    #[test]
    fn a_canonical_line_parses_back_to_the_same_event() {
        let e = sample();
        assert_eq!(AuditEvent::parse(&e.canonical().unwrap()).unwrap(), e);
        let mut s = AuditEvent::new(1, datetime!(0000-01-01 0:00 UTC), Actor::System, "a", Outcome::Denied);
        s.request_id = Some(String::new());
        assert_eq!(AuditEvent::parse(&s.canonical().unwrap()).unwrap(), s);
    }

    #[test]
    fn equivalent_but_not_canonical_json_is_refused() {
        let line = sample().canonical().unwrap();
        for bad in [
            line.replacen("{\"seq\":7", "{ \"seq\":7", 1),
            line.replacen("\"seq\":7", "\"seq\":07", 1),
            line.replacen("record.view", "record\\u002eview", 1),
            line.replacen("\"purpose\":null,", "", 1),
            line.replacen(".250000Z", ".25Z", 1),
            line.replacen("T09:30:00.250000Z", "T10:30:00.250000+01:00", 1),
            format!("{line}\n"),
        ] {
            assert!(AuditEvent::parse(&bad).is_err(), "{bad}");
        }
        let reordered =
            line.replacen(r#""registry":"njr","organisation":"RRK""#, r#""organisation":"RRK","registry":"njr""#, 1);
        assert_eq!(AuditEvent::parse(&reordered), Err(EventError::NotCanonical));
    }

    #[test]
    fn control_characters_are_refused_in_every_field() {
        let mut e = sample();
        e.purpose = Some("care\nmore".into());
        assert_eq!(e.canonical(), Err(EventError::ControlCharacter { field: "purpose" }));
        let mut e = sample();
        e.actor = Actor::ApiToken("t\u{85}".into());
        assert_eq!(e.canonical(), Err(EventError::ControlCharacter { field: "actor" }));
        let mut e = sample();
        e.action = "a\u{7f}".into();
        assert!(e.validate().is_err());
        let mut e = sample();
        e.request_id = Some("r\r".into());
        assert_eq!(e.validate(), Err(EventError::ControlCharacter { field: "request_id" }));
        let mut e = sample();
        e.client = Some("\u{0}".into());
        assert_eq!(e.validate(), Err(EventError::ControlCharacter { field: "client" }));
        let line = sample().canonical().unwrap().replacen("njr", "n\\u0000r", 1);
        assert!(AuditEvent::parse(&line).is_err());
    }

    #[test]
    fn the_byte_scan_finds_exactly_the_control_characters() {
        for c in (0u32..0x3000).filter_map(char::from_u32) {
            let s = format!("a{c}b");
            assert_eq!(has_control(&s), c.is_control(), "U+{:04X}", c as u32);
            // The quick pass never misses what the exact checks look for.
            assert!(needs_care(&s) || !(c.is_control() || c == '"' || c == '\\'), "U+{:04X}", c as u32);
            if !c.is_control() {
                // (Control characters are refused before anything is escaped.)
                let mut escaped = String::new();
                escape_into(&mut escaped, &s);
                assert_eq!(escaped, serde_json::to_string(&s).unwrap().trim_matches('"'), "U+{:04X}", c as u32);
            }
        }
    }

    #[test]
    fn times_are_utc_microseconds() {
        let mut e = sample();
        e.time = datetime!(2026-05-01 10:30:00 +01:00);
        assert_eq!(e.validate(), Err(EventError::TimeNotUtc));
        e.time = datetime!(2026-05-01 10:30:00.000_000_5 UTC);
        assert_eq!(e.validate(), Err(EventError::TimeNotMicroseconds));
        e.seq = 0;
        assert_eq!(e.validate(), Err(EventError::SeqZero));
    }
}
