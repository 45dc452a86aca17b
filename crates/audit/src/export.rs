//! The export format: an NDJSON file that a verifier checks with nothing but the file and the
//! public key.
//!
//! Every line ends with a newline and is in a canonical form, in this order:
//! 1. a header: `{"format":"tessera-audit-export","version":1,"public_key":"<64 hex>"}`;
//! 2. the signed checkpoints, in order of size, one per line:
//!    `{"checkpoint":"<checkpoint file line>"}` (the line needs no escaping: it is hex, digits,
//!    letters, `=`, `:`, `.`, `-` and spaces);
//! 3. the events, in order of sequence number, one canonical event per line.
//!
//! The last checkpoint must cover every event, so every event line is under a signature. Each
//! line is parsed strictly (re-encoded and compared byte for byte), so any changed byte either
//! makes a line unreadable, or makes a different event (a different leaf and root), a
//! different checkpoint (a bad signature) or a different key (refused).

use std::io::{BufRead, Write};

use ed25519_dalek::VerifyingKey;
use thiserror::Error;

use crate::checkpoint::SignedCheckpoint;
use crate::event::AuditEvent;
use crate::verify::{Position, Verifier, VerifyError, VerifySummary, classify_gap};

/// The export format's name in its header.
pub const EXPORT_FORMAT: &str = "tessera-audit-export";
/// The export format's version.
pub const EXPORT_VERSION: u32 = 1;

const CHECKPOINT_PREFIX: &str = "{\"checkpoint\":\"";
const CHECKPOINT_SUFFIX: &str = "\"}";

/// Why an export could not be written or does not verify.
#[derive(Debug, Error)]
pub enum ExportError {
    /// Reading or writing failed.
    #[error("export i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The first line is not a version 1 export header.
    #[error("line 1 is not a {EXPORT_FORMAT} version {EXPORT_VERSION} header")]
    Header,
    /// The export was made for another key than the one given.
    #[error("the export names a different public key than the one given")]
    WrongKey,
    /// A line is not a canonical checkpoint or event line, or is out of place.
    #[error("line {line}: {reason}")]
    Line {
        /// The line number, from 1.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The events or checkpoints do not verify.
    #[error("line {line}: {source}")]
    Verify {
        /// The line of the failing event or checkpoint (the checkpoint's line for a
        /// truncated log).
        line: u64,
        /// What failed and where in the log.
        source: VerifyError,
    },
    /// The last checkpoint does not cover every event (or there is none).
    #[error("events after seq {covered} (of {events}) are not covered by a signed checkpoint")]
    Uncovered {
        /// Events covered by the last checkpoint.
        covered: u64,
        /// Events in the export.
        events: u64,
    },
}

/// The line of the event or checkpoint at a failing position.
fn line_of(error: &VerifyError, first_event_line: u64) -> u64 {
    match error.position() {
        Position::Event { seq } => first_event_line + seq - 1,
        Position::Checkpoint { number, .. } => number as u64 + 1,
    }
}

fn header(key: &VerifyingKey) -> String {
    format!(
        "{{\"format\":\"{EXPORT_FORMAT}\",\"version\":{EXPORT_VERSION},\"public_key\":\"{}\"}}",
        hex::encode(key.to_bytes())
    )
}

/// Writes an export of `events` (in order) and `checkpoints` (in order of size) for `key`,
/// verifying as it goes so it never writes an export that would not verify. The last
/// checkpoint must cover every event: make a fresh one before exporting. On error the output
/// is incomplete; write to a temporary file and rename.
pub fn export(
    mut out: impl Write,
    events: impl IntoIterator<Item = AuditEvent>,
    checkpoints: &[SignedCheckpoint],
    key: &VerifyingKey,
) -> Result<VerifySummary, ExportError> {
    let first_event_line = checkpoints.len() as u64 + 2;
    let fail = |source: VerifyError| ExportError::Verify { line: line_of(&source, first_event_line), source };
    let mut v = Verifier::new(checkpoints, key).map_err(fail)?;
    writeln!(out, "{}", header(key))?;
    for (i, c) in checkpoints.iter().enumerate() {
        let line = c.line().map_err(|e| ExportError::Line { line: i as u64 + 2, reason: e.to_string() })?;
        writeln!(out, "{CHECKPOINT_PREFIX}{line}{CHECKPOINT_SUFFIX}")?;
    }
    let mut buf = String::with_capacity(512);
    for e in events {
        v.push(&e).map_err(fail)?;
        buf.clear();
        e.write_canonical(&mut buf).expect("the verifier has encoded this event");
        buf.push('\n');
        out.write_all(buf.as_bytes())?;
    }
    let summary = v.finish().map_err(fail)?;
    if summary.uncovered > 0 || checkpoints.is_empty() {
        return Err(ExportError::Uncovered { covered: summary.covered, events: summary.events });
    }
    out.flush()?;
    Ok(summary)
}

/// Reads one line including its newline; `None` at the end. A last line without a newline,
/// or one that is not UTF-8, is an error.
fn next_line(input: &mut impl BufRead, buf: &mut Vec<u8>, number: u64) -> Result<Option<String>, ExportError> {
    buf.clear();
    if input.read_until(b'\n', buf)? == 0 {
        return Ok(None);
    }
    if buf.pop() != Some(b'\n') {
        return Err(ExportError::Line { line: number, reason: "the last line has no newline".into() });
    }
    String::from_utf8(std::mem::take(buf))
        .map(Some)
        .map_err(|_| ExportError::Line { line: number, reason: "not UTF-8".into() })
}

/// Verifies an export with nothing but the export and the public key: the header, every
/// checkpoint signature, the chain and tree of every event, and that the last checkpoint
/// covers them all. Returns the first failure with its line.
pub fn verify_export(mut input: impl BufRead, key: &VerifyingKey) -> Result<VerifySummary, ExportError> {
    let mut buf = Vec::new();
    match next_line(&mut input, &mut buf, 1)? {
        Some(h) if h == header(key) => {}
        Some(h)
            if h.starts_with(&format!(
                "{{\"format\":\"{EXPORT_FORMAT}\",\"version\":{EXPORT_VERSION},\"public_key\":\""
            )) =>
        {
            return Err(ExportError::WrongKey);
        }
        _ => return Err(ExportError::Header),
    }
    let mut checkpoints = Vec::new();
    let mut number = 1;
    // Checkpoints first, then the first event line (if any).
    let first_event = loop {
        number += 1;
        let Some(line) = next_line(&mut input, &mut buf, number)? else { break None };
        match line.strip_prefix(CHECKPOINT_PREFIX).and_then(|l| l.strip_suffix(CHECKPOINT_SUFFIX)) {
            Some(c) => checkpoints.push(
                SignedCheckpoint::parse(c).map_err(|e| ExportError::Line { line: number, reason: e.to_string() })?,
            ),
            None => break Some(line),
        }
    };
    let first_event_line = number;
    let fail = |source: VerifyError| ExportError::Verify { line: line_of(&source, first_event_line), source };
    let mut v = Verifier::new(&checkpoints, key).map_err(fail)?;
    let mut pending = first_event;
    while let Some(line) = pending.take() {
        let event = AuditEvent::parse(&line).map_err(|e| ExportError::Line { line: number, reason: e.to_string() })?;
        if let Err(source) = v.push(&event) {
            // Read on only to tell a swap from a deletion.
            let mut rest = Vec::new();
            while let Ok(Some(l)) = next_line(&mut input, &mut buf, 0) {
                if let Ok(e) = AuditEvent::parse(&l) {
                    rest.push(e.seq);
                }
            }
            return Err(fail(classify_gap(source, rest)));
        }
        number += 1;
        pending = next_line(&mut input, &mut buf, number)?;
    }
    let summary = v.finish().map_err(fail)?;
    if summary.uncovered > 0 || checkpoints.is_empty() {
        return Err(ExportError::Uncovered { covered: summary.covered, events: summary.events });
    }
    Ok(summary)
}
