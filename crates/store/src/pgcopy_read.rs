//! Reading PostgreSQL's binary `COPY … TO STDOUT` format, for reading a whole table fast.
//!
//! Rows fetched through a query cost the driver a message, a row object and a decoded value per
//! column; `COPY (SELECT …) TO STDOUT (FORMAT binary)` streams the same rows as bytes in the
//! server's own representation, which this module splits into pages of whole tuples without
//! decoding them. The format (PostgreSQL manual, "COPY", binary format): an 11-byte signature,
//! a 32-bit flags word and a 32-bit header-extension length (then that many bytes); each tuple
//! is a 16-bit field count followed by each field as a 32-bit length (−1 for NULL) and that many
//! bytes; the trailer is a field count of −1. All integers are big-endian, and the stream
//! arrives in chunks that need not align with tuples.
//!
//! [`Tuples`] is also written directly (by the SQLite reader), so both databases hand the
//! verifier the same pages.

use crate::{Result, StoreError};

/// The binary COPY signature.
const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// Whole tuples in binary COPY layout (no header, no trailer).
#[derive(Debug, Default)]
pub(crate) struct Tuples {
    data: Vec<u8>,
    rows: usize,
}

impl Tuples {
    /// Empty, with room for `bytes`.
    pub fn with_capacity(bytes: usize) -> Self {
        Tuples { data: Vec::with_capacity(bytes), rows: 0 }
    }

    /// Tuples held.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    /// Starts a tuple of `fields` fields (then call [`Tuples::field`] that many times).
    pub fn start(&mut self, fields: i16) {
        self.data.extend_from_slice(&fields.to_be_bytes());
        self.rows += 1;
    }

    /// One field: its bytes, or NULL.
    pub fn field(&mut self, v: Option<&[u8]>) {
        match v {
            Some(v) => {
                let len = i32::try_from(v.len()).expect("a field under 2 GiB");
                self.data.extend_from_slice(&len.to_be_bytes());
                self.data.extend_from_slice(v);
            }
            None => self.data.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }

    /// An `int8` field.
    pub fn int8(&mut self, v: i64) {
        self.field(Some(&v.to_be_bytes()));
    }

    /// The tuples in order, each as its `N` fields; an error if a tuple has another number of
    /// fields.
    pub fn iter<const N: usize>(&self) -> impl Iterator<Item = Result<[Option<&[u8]>; N]>> {
        let mut at = 0;
        std::iter::from_fn(move || {
            if at >= self.data.len() {
                return None;
            }
            Some(read_tuple::<N>(&self.data, &mut at))
        })
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("binary COPY stream: {what}"))
}

fn be_i16(b: &[u8], at: usize) -> Option<i16> {
    Some(i16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be_i32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Reads one whole tuple of exactly `N` fields at `*at` (which must be complete) and moves past it.
fn read_tuple<'a, const N: usize>(b: &'a [u8], at: &mut usize) -> Result<[Option<&'a [u8]>; N]> {
    let count = be_i16(b, *at).ok_or_else(|| corrupt("a cut tuple"))?;
    if usize::try_from(count).ok() != Some(N) {
        return Err(corrupt(&format!("a tuple of {count} fields where {N} were expected")));
    }
    let mut p = *at + 2;
    let mut out = [None; N];
    for slot in &mut out {
        let len = be_i32(b, p).ok_or_else(|| corrupt("a cut tuple"))?;
        p += 4;
        if len >= 0 {
            let end = p + len as usize;
            *slot = Some(b.get(p..end).ok_or_else(|| corrupt("a cut field"))?);
            p = end;
        } else if len != -1 {
            return Err(corrupt("a negative field length"));
        }
    }
    *at = p;
    Ok(out)
}

/// The length of the whole tuple at the start of `b` and whether it is the trailer (a field
/// count of −1), or `Ok(None)` if `b` holds only part of it.
fn tuple_len(b: &[u8]) -> Result<Option<(usize, bool)>> {
    let Some(count) = be_i16(b, 0) else { return Ok(None) };
    if count == -1 {
        return Ok(Some((2, true)));
    }
    if count < 0 {
        return Err(corrupt("a negative field count"));
    }
    let mut p = 2;
    for _ in 0..count {
        let Some(len) = be_i32(b, p) else { return Ok(None) };
        p += 4;
        match len {
            -1 => {}
            n if n >= 0 => p += n as usize,
            _ => return Err(corrupt("a negative field length")),
        }
    }
    Ok(if p <= b.len() { Some((p, false)) } else { None })
}

/// Splits a binary COPY stream, fed in chunks as they arrive, into pages of whole tuples.
#[derive(Debug)]
pub(crate) struct Splitter {
    /// Whole tuples not yet taken.
    page: Tuples,
    /// Bytes received after the last whole tuple (the header, or part of a tuple).
    pending: Vec<u8>,
    header_done: bool,
    ended: bool,
}

impl Splitter {
    /// Before the stream's first byte; pages are started with room for `page_bytes`.
    pub fn new(page_bytes: usize) -> Self {
        Splitter { page: Tuples::with_capacity(page_bytes), pending: Vec::new(), header_done: false, ended: false }
    }

    /// Takes in the next chunk of the stream.
    pub fn push(&mut self, chunk: &[u8]) -> Result<()> {
        if self.ended {
            return Err(corrupt("bytes after the trailer"));
        }
        if self.header_done && self.pending.is_empty() {
            // The usual case: PostgreSQL sends one whole tuple per message.
            return self.scan(chunk);
        }
        let mut pending = std::mem::take(&mut self.pending);
        pending.extend_from_slice(chunk);
        let mut at = 0;
        if !self.header_done {
            if pending.len() >= SIGNATURE.len() && pending[..SIGNATURE.len()] != SIGNATURE[..] {
                return Err(corrupt("no PGCOPY signature"));
            }
            let (Some(flags), Some(ext)) = (be_i32(&pending, 11), be_i32(&pending, 15)) else {
                self.pending = pending;
                return Ok(());
            };
            // Bits 16-31 are critical: a reader that does not know them must stop (e.g. OIDs).
            if flags as u32 & 0xffff_0000 != 0 {
                return Err(corrupt("unknown critical flags in the header"));
            }
            let Ok(ext) = usize::try_from(ext) else { return Err(corrupt("a negative header extension")) };
            let end = 19 + ext;
            if pending.len() < end {
                self.pending = pending;
                return Ok(());
            }
            self.header_done = true;
            at = end;
        }
        self.scan(&pending[at..])
    }

    /// Moves the whole tuples at the start of `b` to the page, keeping any partial one.
    fn scan(&mut self, b: &[u8]) -> Result<()> {
        let mut at = 0;
        while at < b.len() {
            match tuple_len(&b[at..])? {
                None => break,
                Some((_, true)) => {
                    self.ended = true;
                    if at + 2 != b.len() {
                        return Err(corrupt("bytes after the trailer"));
                    }
                    at += 2;
                    break;
                }
                Some((len, false)) => {
                    self.page.data.extend_from_slice(&b[at..at + len]);
                    self.page.rows += 1;
                    at += len;
                }
            }
        }
        self.pending.extend_from_slice(&b[at..]);
        Ok(())
    }

    /// The whole tuples received so far, leaving an empty page of the same capacity.
    pub fn take(&mut self) -> Tuples {
        let capacity = self.page.data.capacity();
        std::mem::replace(&mut self.page, Tuples::with_capacity(capacity))
    }

    /// The bytes of whole tuples waiting to be taken.
    pub fn waiting(&self) -> usize {
        self.page.bytes()
    }

    /// Ends the stream: the last whole tuples; an error unless the trailer came last.
    pub fn finish(mut self) -> Result<Tuples> {
        if !self.ended || !self.pending.is_empty() {
            return Err(corrupt("the stream ended without its trailer"));
        }
        Ok(self.take())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream as PostgreSQL writes it: header, two tuples of three fields, trailer.
    fn stream() -> Vec<u8> {
        let mut b = SIGNATURE.to_vec();
        b.extend_from_slice(&0i32.to_be_bytes());
        b.extend_from_slice(&4i32.to_be_bytes());
        b.extend_from_slice(b"ext!");
        let mut t = Tuples::default();
        t.start(3);
        t.int8(7);
        t.field(None);
        t.field(Some(b"seven"));
        t.start(3);
        t.int8(8);
        t.field(Some(b""));
        t.field(Some(b"eight"));
        b.extend_from_slice(&t.data);
        b.extend_from_slice(&(-1i16).to_be_bytes());
        b
    }

    fn fields(t: &Tuples) -> Vec<[Option<Vec<u8>>; 3]> {
        t.iter::<3>().map(|r| r.unwrap().map(|f| f.map(<[u8]>::to_vec))).collect()
    }

    #[test]
    fn a_stream_split_anywhere_gives_the_same_tuples() {
        let s = stream();
        let whole = {
            let mut sp = Splitter::new(64);
            sp.push(&s).unwrap();
            sp.finish().unwrap()
        };
        assert_eq!(whole.rows(), 2);
        let rows = fields(&whole);
        assert_eq!(rows[0], [Some(7i64.to_be_bytes().to_vec()), None, Some(b"seven".to_vec())]);
        assert_eq!(rows[1][1], Some(Vec::new()), "an empty field is not NULL");
        for cut in 0..s.len() {
            for cut2 in cut..s.len() {
                let mut sp = Splitter::new(64);
                let mut got = Vec::new();
                for part in [&s[..cut], &s[cut..cut2], &s[cut2..]] {
                    sp.push(part).unwrap();
                    got.extend(fields(&sp.take()));
                }
                got.extend(fields(&sp.finish().unwrap()));
                assert_eq!(got, rows, "cut at {cut} and {cut2}");
            }
        }
    }

    #[test]
    fn a_cut_or_malformed_stream_is_refused() {
        let s = stream();
        let mut sp = Splitter::new(64);
        sp.push(&s[..s.len() - 1]).unwrap();
        assert!(sp.finish().is_err(), "no trailer");
        let mut sp = Splitter::new(64);
        assert!(sp.push(&[s.clone(), vec![0]].concat()).is_err(), "bytes after the trailer");
        let mut bad = s.clone();
        bad[0] = b'X';
        assert!(Splitter::new(64).push(&bad).is_err(), "no signature");
        let mut t = Tuples::default();
        t.start(2);
        t.int8(1);
        t.field(None);
        assert!(t.iter::<3>().next().unwrap().is_err(), "wrong field count");
    }
}
