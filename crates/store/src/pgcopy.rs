//! PostgreSQL's binary `COPY` format, for bulk writes inside a transaction.
//!
//! Multi-row INSERTs cost PostgreSQL a parse of thousands of parameters per statement; `COPY …
//! FROM STDIN (FORMAT binary)` streams rows in the server's own representation. Same rows, same
//! constraints and triggers, same transaction — only faster. SQLite keeps multi-row INSERTs.

use time::{Date, OffsetDateTime};
use uuid::Uuid;

/// A buffer of rows in binary COPY format.
pub(crate) struct CopyBuf(Vec<u8>);

const PG_EPOCH_JULIAN_DAY: i32 = 2_451_545; // 2000-01-01

impl CopyBuf {
    pub fn new(capacity: usize) -> Self {
        let mut b = Vec::with_capacity(capacity + 32);
        b.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        b.extend_from_slice(&0i32.to_be_bytes()); // flags
        b.extend_from_slice(&0i32.to_be_bytes()); // header extension length
        Self(b)
    }

    /// Starts a row of `fields` columns.
    pub fn row(&mut self, fields: i16) -> &mut Self {
        self.0.extend_from_slice(&fields.to_be_bytes());
        self
    }

    pub fn null(&mut self) -> &mut Self {
        self.0.extend_from_slice(&(-1i32).to_be_bytes());
        self
    }

    /// A `text` or `bytea` value.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.0.extend_from_slice(&(v.len() as i32).to_be_bytes());
        self.0.extend_from_slice(v);
        self
    }

    pub fn text(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }

    pub fn opt_bytes(&mut self, v: Option<&[u8]>) -> &mut Self {
        match v {
            Some(v) => self.bytes(v),
            None => self.null(),
        }
    }

    pub fn opt_text(&mut self, v: Option<&str>) -> &mut Self {
        self.opt_bytes(v.map(str::as_bytes))
    }

    pub fn uuid(&mut self, v: Uuid) -> &mut Self {
        self.bytes(v.as_bytes())
    }

    pub fn int4(&mut self, v: i32) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }

    pub fn boolean(&mut self, v: bool) -> &mut Self {
        self.bytes(&[u8::from(v)])
    }

    pub fn date(&mut self, v: Option<Date>) -> &mut Self {
        match v {
            Some(d) => self.bytes(&(d.to_julian_day() - PG_EPOCH_JULIAN_DAY).to_be_bytes()),
            None => self.null(),
        }
    }

    pub fn timestamptz(&mut self, v: OffsetDateTime) -> &mut Self {
        let epoch = time::macros::datetime!(2000-01-01 0:00 UTC);
        let micros = (v - epoch).whole_microseconds() as i64;
        self.bytes(&micros.to_be_bytes())
    }

    /// The finished buffer, with the trailer.
    pub fn finish(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&(-1i16).to_be_bytes());
        self.0
    }
}
