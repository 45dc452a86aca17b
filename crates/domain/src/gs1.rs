//! GS1 barcodes on implant packaging: what a scanner sends, parsed into typed elements.
//!
//! One entry point, [`parse`], takes whatever a scanner (or a person) hands over and recognises
//! four forms: a raw element string (`0105012345678900` `17271231` `10AB12`, with FNC1 sent as the
//! group separator, ASCII 29), optionally behind a symbology identifier (`]d2` GS1 DataMatrix,
//! `]C1` GS1-128, `]Q3` GS1 QR, `]e0` DataBar, `]J1` DotCode); the bracketed human-readable form
//! printed under a barcode (`(01)05012345678900(17)271231(10)AB12`); and a GS1 Digital Link URI
//! (`https://id.gs1.org/01/05012345678900/10/AB12?17=271231`, also behind `]d1`/`]Q1`). HIBCC
//! codes (`+…`) are recognised and refused with a clear error, because they are not yet parsed.
//!
//! The rules are GS1's (General Specifications §3 for the AIs, §7.8 for separators, §7.12 for the
//! two-digit year; GS1 Digital Link URI Syntax for the URI form): the GTIN and SSCC check digit,
//! dates as YYMMDD where day `00` means the last day of the month, values from the 82-character
//! set, the separator rule (only the AIs whose length GS1 predefines may run on without one), and
//! the AIs a lot, serial or date needs beside it (a lot means nothing without its GTIN). The AIs
//! known here are one table, [`AI_TABLE`], so adding another is one line. Every rejection is a
//! [`Gs1Error`] naming the AI (where there is one), the byte position and the reason.
//!
//! "Now" is an argument: the century of a two-digit year depends on the current year.

use std::fmt;

use time::{Date, Month};

/// The group separator (ASCII 29) that scanners send for FNC1 between elements.
pub const GS: char = '\u{1d}';

/// How long an AI's value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// Exactly this many characters.
    Fixed(usize),
    /// One to this many characters, ended by a separator or the end of the data.
    Variable(usize),
}

/// Which characters an AI's value may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// Digits only.
    Numeric,
    /// GS1 AI encodable character set 82 (General Specifications Figure 7.11-1).
    Cset82,
}

/// What the value means beyond its characters, and so what else is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    /// Nothing more.
    Plain,
    /// The last digit is a GS1 mod-10 check digit (GTIN, SSCC).
    CheckDigit,
    /// A date `YYMMDD`; day `00` stands for the last day of the month.
    Date,
}

/// One application identifier's rules: a row of [`AI_TABLE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AiSpec {
    /// The AI's digits, e.g. `"17"`.
    pub code: &'static str,
    /// GS1's data title, e.g. `"USE BY OR EXPIRY"`.
    pub title: &'static str,
    /// Fixed or variable length.
    pub length: Length,
    /// Allowed characters.
    pub charset: Charset,
    /// Extra meaning (check digit, date).
    pub meaning: Meaning,
    /// The message must also hold one of these AIs (empty: no requirement).
    pub requires: &'static [&'static str],
}

const NEEDS_GTIN: &[&str] = &["01"];
const NEEDS_GTIN_OR_CONTENT: &[&str] = &["01", "02"];

const fn ai(
    code: &'static str,
    title: &'static str,
    length: Length,
    charset: Charset,
    meaning: Meaning,
    requires: &'static [&'static str],
) -> AiSpec {
    AiSpec { code, title, length, charset, meaning, requires }
}

use Charset::{Cset82, Numeric};
use Length::{Fixed, Variable};
use Meaning::{CheckDigit, Date as IsDate, Plain};

/// The AIs Tessera reads (GS1 General Specifications §3.2), with their rules. GS1 AIs are
/// prefix-free, so a message is split by looking each one up here. To read another AI, add a row.
pub const AI_TABLE: &[AiSpec] = &[
    ai("00", "SSCC", Fixed(18), Numeric, CheckDigit, &[]),
    ai("01", "GTIN", Fixed(14), Numeric, CheckDigit, &[]),
    ai("02", "CONTENT", Fixed(14), Numeric, CheckDigit, &[]),
    ai("10", "BATCH/LOT", Variable(20), Cset82, Plain, NEEDS_GTIN_OR_CONTENT),
    ai("11", "PROD DATE", Fixed(6), Numeric, IsDate, NEEDS_GTIN_OR_CONTENT),
    ai("12", "DUE DATE", Fixed(6), Numeric, IsDate, &[]),
    ai("13", "PACK DATE", Fixed(6), Numeric, IsDate, NEEDS_GTIN_OR_CONTENT),
    ai("15", "BEST BEFORE", Fixed(6), Numeric, IsDate, NEEDS_GTIN_OR_CONTENT),
    ai("16", "SELL BY", Fixed(6), Numeric, IsDate, NEEDS_GTIN_OR_CONTENT),
    ai("17", "USE BY OR EXPIRY", Fixed(6), Numeric, IsDate, NEEDS_GTIN_OR_CONTENT),
    ai("20", "VARIANT", Fixed(2), Numeric, Plain, NEEDS_GTIN_OR_CONTENT),
    ai("21", "SERIAL", Variable(20), Cset82, Plain, NEEDS_GTIN),
    ai("22", "CPV", Variable(20), Cset82, Plain, NEEDS_GTIN),
    ai("240", "ADDITIONAL ID", Variable(30), Cset82, Plain, NEEDS_GTIN),
    ai("241", "CUST. PART No.", Variable(30), Cset82, Plain, NEEDS_GTIN),
    ai("250", "SECONDARY SERIAL", Variable(30), Cset82, Plain, NEEDS_GTIN),
    ai("30", "VAR. COUNT", Variable(8), Numeric, Plain, NEEDS_GTIN_OR_CONTENT),
    ai("37", "COUNT", Variable(8), Numeric, Plain, &["02"]),
    ai("90", "INTERNAL", Variable(30), Cset82, Plain, &[]),
    ai("91", "INTERNAL", Variable(90), Cset82, Plain, &[]),
    ai("92", "INTERNAL", Variable(90), Cset82, Plain, &[]),
    ai("93", "INTERNAL", Variable(90), Cset82, Plain, &[]),
    ai("94", "INTERNAL", Variable(90), Cset82, Plain, &[]),
    ai("95", "INTERNAL", Variable(90), Cset82, Plain, &[]),
    ai("96", "INTERNAL", Variable(90), Cset82, Plain, &[]),
    ai("97", "INTERNAL", Variable(90), Cset82, Plain, &[]),
    ai("98", "INTERNAL", Variable(90), Cset82, Plain, &[]),
    ai("99", "INTERNAL", Variable(90), Cset82, Plain, &[]),
];

/// The AI whose digits start `data`, if it is in [`AI_TABLE`].
pub fn lookup(data: &[u8]) -> Option<&'static AiSpec> {
    (2..=4).filter_map(|n| data.get(..n)).find_map(|prefix| AI_TABLE.iter().find(|a| a.code.as_bytes() == prefix))
}

/// Whether GS1 predefines the length of AIs starting with these two digits (General
/// Specifications Figure 7.8.5-2): only these may be followed by another AI without a separator.
fn predefined_length(code: &str) -> bool {
    matches!(
        code.get(..2),
        Some("00" | "01" | "02" | "03" | "04" | "11" | "12" | "13" | "14" | "15" | "16" | "17" | "18" | "19" | "20")
            | Some("31" | "32" | "33" | "34" | "35" | "36" | "41")
    )
}

/// Whether `b` is in GS1's 82-character set: `!"%&'()*+,-./0-9:;<=>?A-Z_a-z`.
pub fn is_cset82(b: u8) -> bool {
    matches!(b, b'!' | b'"' | b'%'..=b'?' | b'A'..=b'Z' | b'_' | b'a'..=b'z')
}

/// The GS1 mod-10 check digit for `data` digits (ASCII): weights 3,1,3,… from the rightmost.
pub fn check_digit(data: &[u8]) -> u8 {
    let sum: u32 =
        data.iter().rev().enumerate().map(|(i, d)| u32::from(d - b'0') * if i % 2 == 0 { 3 } else { 1 }).sum();
    ((10 - sum % 10) % 10) as u8
}

/// The year a two-digit `YY` stands for when the current year is `current_year` (GS1 General
/// Specifications §7.12): the year in the window from 49 years before to 50 years after now.
pub fn resolve_year(yy: u8, current_year: i32) -> i32 {
    let century = current_year - current_year.rem_euclid(100);
    let diff = i32::from(yy) - current_year.rem_euclid(100);
    if (51..=99).contains(&diff) {
        century - 100 + i32::from(yy)
    } else if (-99..=-50).contains(&diff) {
        century + 100 + i32::from(yy)
    } else {
        century + i32::from(yy)
    }
}

/// A GTIN in its 14-digit form (GTIN-8, -12 and -13 are padded with leading zeros), check digit
/// verified.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gtin(String);

impl Gtin {
    /// Parses a GTIN-8, -12, -13 or -14 (digits only) and checks its check digit.
    pub fn parse(digits: &str) -> Result<Gtin, Gs1Error> {
        let err = |reason| Gs1Error { ai: Some("01".into()), position: 0, reason };
        if !matches!(digits.len(), 8 | 12 | 13 | 14) {
            return Err(err(Reason::GtinLength(digits.chars().count())));
        }
        if let Some((offset, found)) = digits.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
            return Err(err(Reason::NotNumeric { offset, found }));
        }
        let padded = format!("{digits:0>14}");
        check(padded.as_bytes()).map_err(err)?;
        Ok(Gtin(padded))
    }

    /// The 14 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Gtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The symbology identifier a scanner put in front of the data (ISO/IEC 15424).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Symbology {
    /// `]C1` GS1-128.
    Gs1_128,
    /// `]e0` GS1 DataBar.
    DataBar,
    /// `]d2` GS1 DataMatrix (FNC1 first).
    Gs1DataMatrix,
    /// `]Q3` GS1 QR Code (FNC1 first).
    Gs1Qr,
    /// `]J1` GS1 DotCode.
    Gs1DotCode,
    /// `]d1` plain Data Matrix: carries a GS1 Digital Link URI, not an element string.
    DataMatrix,
    /// `]Q1` plain QR Code: carries a GS1 Digital Link URI, not an element string.
    Qr,
}

impl Symbology {
    /// The identifier as sent, e.g. `"]d2"`.
    pub fn identifier(self) -> &'static str {
        match self {
            Symbology::Gs1_128 => "]C1",
            Symbology::DataBar => "]e0",
            Symbology::Gs1DataMatrix => "]d2",
            Symbology::Gs1Qr => "]Q3",
            Symbology::Gs1DotCode => "]J1",
            Symbology::DataMatrix => "]d1",
            Symbology::Qr => "]Q1",
        }
    }

    fn from_identifier(id: &[u8]) -> Option<Symbology> {
        [
            Symbology::Gs1_128,
            Symbology::DataBar,
            Symbology::Gs1DataMatrix,
            Symbology::Gs1Qr,
            Symbology::Gs1DotCode,
            Symbology::DataMatrix,
            Symbology::Qr,
        ]
        .into_iter()
        .find(|s| s.identifier().as_bytes() == id)
    }

    /// Whether the symbology carries GS1 element strings (FNC1 in first position).
    fn carries_element_strings(self) -> bool {
        !matches!(self, Symbology::DataMatrix | Symbology::Qr)
    }

    /// Whether a GS1 Digital Link URI may come in this symbology.
    fn carries_digital_link(self) -> bool {
        matches!(self, Symbology::DataMatrix | Symbology::Qr | Symbology::Gs1DataMatrix | Symbology::Gs1Qr)
    }
}

/// Which of the written forms the data came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Syntax {
    /// AIs and values run together, separated by ASCII 29 where needed.
    ElementString,
    /// `(01)…(17)…`, as printed under a barcode.
    Bracketed,
    /// A GS1 Digital Link URI.
    DigitalLink,
}

/// One AI and its value, checked against the AI's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    spec: &'static AiSpec,
    value: String,
    date: Option<Date>,
}

impl Element {
    /// The AI's digits, e.g. `"10"`.
    pub fn ai(&self) -> &'static str {
        self.spec.code
    }

    /// GS1's data title for the AI.
    pub fn title(&self) -> &'static str {
        self.spec.title
    }

    /// The value as encoded (for AI 01, the 14-digit GTIN).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// For a date AI, the date it stands for (day `00` resolved to the month's last day).
    pub fn date(&self) -> Option<Date> {
        self.date
    }
}

/// A parsed GS1 barcode: its symbology identifier, if the scanner sent one, and its elements in
/// the order they came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gs1Message {
    symbology: Option<Symbology>,
    syntax: Syntax,
    elements: Vec<Element>,
}

impl Gs1Message {
    /// The symbology identifier sent in front of the data, if any.
    pub fn symbology(&self) -> Option<Symbology> {
        self.symbology
    }

    /// The form the data came in.
    pub fn syntax(&self) -> Syntax {
        self.syntax
    }

    /// Every element, in order.
    pub fn elements(&self) -> &[Element] {
        &self.elements
    }

    /// The first element with this AI.
    pub fn get(&self, ai: &str) -> Option<&Element> {
        self.elements.iter().find(|e| e.ai() == ai)
    }

    /// AI (01): the product (UDI-DI).
    pub fn gtin(&self) -> Option<Gtin> {
        self.get("01").map(|e| Gtin(e.value.clone()))
    }

    /// AI (10): the batch or lot.
    pub fn lot(&self) -> Option<&str> {
        self.get("10").map(Element::value)
    }

    /// AI (21): the serial number.
    pub fn serial(&self) -> Option<&str> {
        self.get("21").map(Element::value)
    }

    /// AI (17): the expiry date.
    pub fn expiry(&self) -> Option<Date> {
        self.get("17").and_then(Element::date)
    }

    /// AI (11): the production date.
    pub fn production_date(&self) -> Option<Date> {
        self.get("11").and_then(Element::date)
    }

    /// The bracketed human-readable form, e.g. `(01)05012345678900(10)AB12`.
    pub fn to_bracketed(&self) -> String {
        self.elements.iter().map(|e| format!("({}){}", e.ai(), e.value)).collect()
    }

    /// The element string a scanner would send (without symbology identifier): a separator
    /// after each value whose length GS1 does not predefine, except the last.
    pub fn to_element_string(&self) -> String {
        let mut out = String::new();
        for (i, e) in self.elements.iter().enumerate() {
            out.push_str(e.ai());
            out.push_str(&e.value);
            if i + 1 < self.elements.len() && !predefined_length(e.ai()) {
                out.push(GS);
            }
        }
        out
    }
}

/// Why a barcode was refused: the AI concerned (when there is one), the byte position in the
/// input where the problem lies (the start of the element, for a bad value), and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gs1Error {
    ai: Option<String>,
    position: usize,
    reason: Reason,
}

impl Gs1Error {
    /// The AI concerned, if the problem belongs to one.
    pub fn ai(&self) -> Option<&str> {
        self.ai.as_deref()
    }

    /// Byte offset (from 0) in the input.
    pub fn position(&self) -> usize {
        self.position
    }

    /// What is wrong.
    pub fn reason(&self) -> &Reason {
        &self.reason
    }
}

impl fmt::Display for Gs1Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.ai {
            Some(ai) => write!(f, "AI ({ai}) at position {}: {}", self.position, self.reason),
            None => write!(f, "at position {}: {}", self.position, self.reason),
        }
    }
}

impl std::error::Error for Gs1Error {}

/// The reasons a barcode is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    /// Nothing (or only whitespace and separators) was sent.
    #[error("no data")]
    Empty,
    /// A HIBCC code: recognised, not yet parsed.
    #[error(
        "this is a HIBCC barcode (it starts with '+'); Tessera recognises HIBCC but does not parse it yet: enter it manually"
    )]
    Hibcc,
    /// A symbology identifier that carries no GS1 data Tessera reads.
    #[error(
        "symbology identifier {0:?} is not one that carries GS1 data (]C1, ]d2, ]Q3, ]e0, ]J1; ]d1 or ]Q1 for a Digital Link)"
    )]
    UnsupportedSymbology(String),
    /// A plain Data Matrix or QR code whose content is not a Digital Link URI.
    #[error("symbology {0} carries no GS1 element string (no FNC1 first) and this is not a GS1 Digital Link URI")]
    NotGs1Data(&'static str),
    /// Digits that are not an AI Tessera knows, or not digits at all where an AI should start.
    #[error("{0:?} does not start a known application identifier")]
    UnknownAi(String),
    /// A fixed-length value cut short.
    #[error("value must be exactly {expected} characters, found {found}")]
    WrongLength {
        /// Required length.
        expected: usize,
        /// Length found.
        found: usize,
    },
    /// A variable-length value too long: often a missing separator after it.
    #[error("value has {found} characters, at most {max} allowed (is a group separator missing after it?)")]
    TooLong {
        /// Maximum length.
        max: usize,
        /// Length found.
        found: usize,
    },
    /// A variable-length value with nothing in it.
    #[error("value is empty")]
    EmptyValue,
    /// A non-digit in a numeric value.
    #[error("value must be digits only, found {found:?} at offset {offset} of the value")]
    NotNumeric {
        /// Offset within the value.
        offset: usize,
        /// The character.
        found: char,
    },
    /// A character outside GS1's 82-character set.
    #[error("{found:?} at offset {offset} of the value is not in GS1's 82-character set")]
    NotCset82 {
        /// Offset within the value.
        offset: usize,
        /// The character.
        found: char,
    },
    /// The check digit does not match the data digits.
    #[error("check digit is {found}, the digits before it require {expected}")]
    CheckDigit {
        /// What the data digits give.
        expected: u8,
        /// What was there.
        found: u8,
    },
    /// A GTIN given on its own (Digital Link path) is not 8, 12, 13 or 14 digits.
    #[error("a GTIN has 8, 12, 13 or 14 digits, found {0}")]
    GtinLength(usize),
    /// Month outside 01–12.
    #[error("month {0:02} is not 01-12 (dates are YYMMDD)")]
    Month(u8),
    /// Day past the end of its month.
    #[error("day {day:02} does not exist in {year}-{month:02} (dates are YYMMDD; day 00 means the month's last day)")]
    Day {
        /// Resolved year.
        year: i32,
        /// Month.
        month: u8,
        /// Day.
        day: u8,
    },
    /// An AI that needs another AI in the same message (a lot needs its GTIN).
    #[error("needs {} in the same message", needed.iter().map(|a| format!("({a})")).collect::<Vec<_>>().join(" or "))]
    Requires {
        /// Any one of these would do.
        needed: &'static [&'static str],
    },
    /// The same AI twice with different values.
    #[error("appears twice with different values")]
    Conflict,
    /// The bracketed form is malformed.
    #[error("bracketed form: {0}")]
    Bracketed(&'static str),
    /// The Digital Link URI is malformed.
    #[error("GS1 Digital Link: {0}")]
    DigitalLink(String),
}

/// Parses what a scanner (or a person) sent; `today` fixes the century of two-digit years.
pub fn parse(input: &str, today: Date) -> Result<Gs1Message, Gs1Error> {
    let bytes = input.as_bytes();
    // Scanners often add a carriage return or line feed; surrounding whitespace is never data.
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |e| e + 1);
    let mut pos = start;
    let mut symbology = None;
    if bytes.get(pos) == Some(&b']') {
        let id = bytes.get(pos..pos + 3).unwrap_or(&bytes[pos..end]);
        let after = pos + id.len();
        if bytes.get(after) == Some(&b'+') {
            return Err(Gs1Error { ai: None, position: after, reason: Reason::Hibcc });
        }
        match Symbology::from_identifier(id) {
            Some(s) => symbology = Some(s),
            None => {
                return Err(Gs1Error {
                    ai: None,
                    position: pos,
                    reason: Reason::UnsupportedSymbology(String::from_utf8_lossy(id).into_owned()),
                });
            }
        }
        pos = after;
    }
    let data = &bytes[pos..end.max(pos)];
    let err = |position, reason| Err(Gs1Error { ai: None, position, reason });
    if data.first() == Some(&b'+') {
        return err(pos, Reason::Hibcc);
    }
    let is_uri = data.len() >= 7
        && (data[..7].eq_ignore_ascii_case(b"http://")
            || data.get(..8).is_some_and(|p| p.eq_ignore_ascii_case(b"https://")));
    let (syntax, elements) = if is_uri {
        if let Some(s) = symbology.filter(|s| !s.carries_digital_link()) {
            return err(
                pos,
                Reason::DigitalLink(format!("a Digital Link URI does not come in symbology {}", s.identifier())),
            );
        }
        (Syntax::DigitalLink, digital_link(input, pos, end, today)?)
    } else if let Some(s) = symbology.filter(|s| !s.carries_element_strings()) {
        return err(pos, Reason::NotGs1Data(s.identifier()));
    } else if symbology.is_none() && data.first() == Some(&b'(') {
        (Syntax::Bracketed, bracketed(bytes, pos, end, today)?)
    } else {
        (Syntax::ElementString, element_string(bytes, pos, end, today)?)
    };
    if elements.is_empty() {
        return err(pos, Reason::Empty);
    }
    check_message(&elements)?;
    Ok(Gs1Message { symbology, syntax, elements: elements.into_iter().map(|(e, _)| e).collect() })
}

/// An element and the byte position its AI starts at.
type Placed = (Element, usize);

fn element_string(bytes: &[u8], mut pos: usize, end: usize, today: Date) -> Result<Vec<Placed>, Gs1Error> {
    let mut out = Vec::new();
    loop {
        // Separators are allowed before the first element (FNC1 in first position, as some
        // scanners send it), between any two (§7.8.6) and, forgivingly, at the end.
        while pos < end && bytes[pos] == GS as u8 {
            pos += 1;
        }
        if pos >= end {
            return Ok(out);
        }
        let at = pos;
        let Some(spec) = lookup(&bytes[pos..end]) else {
            let shown: String = bytes[pos..end].iter().take(4).map(|&b| char::from(b)).collect();
            let shown = if bytes[pos..end].iter().take(4).all(u8::is_ascii) {
                shown
            } else {
                String::from_utf8_lossy(&bytes[pos..end.min(pos + 4)]).into_owned()
            };
            return Err(Gs1Error { ai: None, position: at, reason: Reason::UnknownAi(shown) });
        };
        pos += spec.code.len();
        let value_end = match spec.length {
            Fixed(n) if predefined_length(spec.code) => (pos + n).min(end),
            _ => bytes[pos..end].iter().position(|&b| b == GS as u8).map_or(end, |i| pos + i),
        };
        let element = element(spec, &bytes[pos..value_end], at, today)?;
        out.push((element, at));
        pos = value_end;
    }
}

fn bracketed(bytes: &[u8], mut pos: usize, end: usize, today: Date) -> Result<Vec<Placed>, Gs1Error> {
    let mut out = Vec::new();
    let err = |position, reason| Err(Gs1Error { ai: None, position, reason });
    loop {
        while pos < end && bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if pos >= end {
            return Ok(out);
        }
        let at = pos;
        if bytes[pos] != b'(' {
            return err(pos, Reason::Bracketed("expected '(' to open an AI"));
        }
        let Some(close) = ai_in_brackets(&bytes[pos..end]) else {
            return err(pos, Reason::Bracketed("'(' must be followed by the AI's 2 to 4 digits and ')'"));
        };
        let digits = &bytes[pos + 1..pos + close];
        let Some(spec) = AI_TABLE.iter().find(|a| a.code.as_bytes() == digits) else {
            let shown = String::from_utf8_lossy(digits).into_owned();
            return err(at, Reason::UnknownAi(shown));
        };
        pos += close + 1;
        while pos < end && bytes[pos] == b' ' {
            pos += 1;
        }
        // The value runs to the next "(digits)" or the end; a lone '(' is data (it is in
        // character set 82). Whitespace before the next AI is layout, not data.
        let mut value_end =
            (pos..end).find(|&i| bytes[i] == b'(' && ai_in_brackets(&bytes[i..end]).is_some()).unwrap_or(end);
        while value_end > pos && bytes[value_end - 1].is_ascii_whitespace() {
            value_end -= 1;
        }
        out.push((element(spec, &bytes[pos..value_end], at, today)?, at));
        pos = value_end;
    }
}

/// If `data` starts with `(`, 2-4 digits and `)`, the index of the `)`.
fn ai_in_brackets(data: &[u8]) -> Option<usize> {
    let close = data.iter().take(6).position(|&b| b == b')')?;
    (data.first() == Some(&b'(') && (3..=5).contains(&close) && data[1..close].iter().all(u8::is_ascii_digit))
        .then_some(close)
}

/// The path qualifiers allowed after a GTIN, in the order the Digital Link standard requires.
const GTIN_QUALIFIERS: &[&str] = &["22", "10", "21"];

fn digital_link(input: &str, pos: usize, end: usize, today: Date) -> Result<Vec<Placed>, Gs1Error> {
    let uri = &input[pos..end];
    let dl = |position: usize, msg: String| Gs1Error { ai: None, position, reason: Reason::DigitalLink(msg) };
    let after_scheme = uri.find("://").map_or(0, |i| i + 3);
    let rest = &uri[after_scheme..];
    let rest = rest.split('#').next().unwrap_or("");
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let path_start = before_query.find('/').ok_or_else(|| dl(pos, "no path after the host".into()))?;
    let path = &before_query[path_start + 1..];
    let base = pos + after_scheme + path_start + 1;
    // Segments with their byte offsets; a path prefix before the primary key is allowed.
    let mut segments = Vec::new();
    let mut offset = base;
    for s in path.split('/') {
        segments.push((s, offset));
        offset += s.len() + 1;
    }
    let Some(primary) = segments.iter().position(|(s, _)| *s == "01") else {
        return Err(dl(base, "no /01/{gtin} in the path (Tessera reads GTIN-based links)".into()));
    };
    let pairs = &segments[primary..];
    if pairs.len() % 2 != 0 {
        let (_, at) = pairs[pairs.len() - 1];
        return Err(dl(at, "the path after /01/ must be AI/value pairs".into()));
    }
    let mut out = Vec::new();
    let mut allowed = GTIN_QUALIFIERS;
    for (i, pair) in pairs.chunks(2).enumerate() {
        let ((key, at), (raw, _)) = (pair[0], pair[1]);
        let value = percent_decode(raw, false).map_err(|m| Gs1Error {
            ai: Some(key.into()),
            position: at,
            reason: Reason::DigitalLink(m),
        })?;
        if i == 0 {
            // The GTIN may be written as GTIN-8, -12 or -13; the element holds all 14 digits.
            let gtin = Gtin::parse(&value).map_err(|e| Gs1Error { position: at, ..e })?;
            let spec = lookup(b"01").expect("01 is in the table");
            out.push((Element { spec, value: gtin.0, date: None }, at));
            continue;
        }
        let Some(q) = allowed.iter().position(|q| *q == key) else {
            return Err(Gs1Error {
                ai: key.bytes().all(|b| b.is_ascii_digit()).then(|| key.to_string()),
                position: at,
                reason: Reason::DigitalLink(format!(
                    "path segment {key:?} is not a qualifier allowed here (after /01/: 22, 10, 21, each at most once, in that order)"
                )),
            });
        };
        allowed = &allowed[q + 1..];
        let spec = lookup(key.as_bytes()).expect("qualifiers are in the table");
        out.push((element(spec, value.as_bytes(), at, today)?, at));
    }
    let mut at = pos + uri.find('?').map_or(uri.len(), |q| q + 1);
    for part in query.split('&') {
        let here = at;
        at += part.len() + 1;
        if part.is_empty() {
            continue;
        }
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let key = percent_decode(k, true).map_err(|m| dl(here, m))?;
        if !(2..=4).contains(&key.len()) || !key.bytes().all(|b| b.is_ascii_digit()) {
            // Other query parameters are allowed and ignored (GS1 Digital Link URI syntax).
            continue;
        }
        let Some(spec) = AI_TABLE.iter().find(|a| a.code == key) else {
            return Err(Gs1Error { ai: None, position: here, reason: Reason::UnknownAi(key) });
        };
        let value = percent_decode(v, true).map_err(|m| Gs1Error {
            ai: Some(key.clone()),
            position: here,
            reason: Reason::DigitalLink(m),
        })?;
        out.push((element(spec, value.as_bytes(), here, today)?, here));
    }
    Ok(out)
}

/// Decodes `%XX` escapes (and, in a query, `+` as a space) into UTF-8 text.
fn percent_decode(s: &str, query: bool) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                let byte = hex
                    .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                let Some(byte) = byte else {
                    return Err(format!(
                        "bad percent-encoding at {:?}",
                        String::from_utf8_lossy(&b[i..b.len().min(i + 3)])
                    ));
                };
                out.push(byte);
                i += 3;
            }
            b'+' if query => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "percent-encoding decodes to bytes that are not UTF-8".to_string())
}

/// Checks one value against its AI's rules and builds the element.
fn element(spec: &'static AiSpec, value: &[u8], at: usize, today: Date) -> Result<Element, Gs1Error> {
    let err = |reason| Gs1Error { ai: Some(spec.code.to_string()), position: at, reason };
    // Characters first, so that a stray character is named rather than counted.
    for (offset, &b) in value.iter().enumerate() {
        let ok = match spec.charset {
            Numeric => b.is_ascii_digit(),
            Cset82 => is_cset82(b),
        };
        if !ok {
            let found = String::from_utf8_lossy(&value[offset..]).chars().next().unwrap_or('\u{fffd}');
            return Err(err(match spec.charset {
                Numeric => Reason::NotNumeric { offset, found },
                Cset82 => Reason::NotCset82 { offset, found },
            }));
        }
    }
    match spec.length {
        Fixed(n) if value.len() != n => return Err(err(Reason::WrongLength { expected: n, found: value.len() })),
        Variable(_) if value.is_empty() => return Err(err(Reason::EmptyValue)),
        Variable(max) if value.len() > max => return Err(err(Reason::TooLong { max, found: value.len() })),
        _ => {}
    }
    let date = match spec.meaning {
        Plain => None,
        CheckDigit => {
            check(value).map_err(err)?;
            None
        }
        IsDate => Some(yymmdd(value, today).map_err(err)?),
    };
    // The value is ASCII: every byte passed a charset check above.
    let value = value.iter().map(|&b| char::from(b)).collect();
    Ok(Element { spec, value, date })
}

fn check(digits: &[u8]) -> Result<(), Reason> {
    let (data, last) = digits.split_at(digits.len() - 1);
    let expected = check_digit(data);
    let found = last[0] - b'0';
    if expected == found { Ok(()) } else { Err(Reason::CheckDigit { expected, found }) }
}

/// `YYMMDD` (six ASCII digits) to a date; day 00 is the month's last day.
fn yymmdd(v: &[u8], today: Date) -> Result<Date, Reason> {
    let two = |i: usize| (v[i] - b'0') * 10 + (v[i + 1] - b'0');
    let (yy, mm, dd) = (two(0), two(2), two(4));
    let year = resolve_year(yy, today.year());
    let month = Month::try_from(mm).map_err(|_| Reason::Month(mm))?;
    let day = if dd == 0 { month.length(year) } else { dd };
    Date::from_calendar_date(year, month, day).map_err(|_| Reason::Day { year, month: mm, day: dd })
}

/// Rules about the message as a whole: an AI's required companions, and no AI twice with
/// different values (General Specifications §4.14).
fn check_message(elements: &[Placed]) -> Result<(), Gs1Error> {
    for (i, (e, at)) in elements.iter().enumerate() {
        if elements[..i].iter().any(|(p, _)| p.ai() == e.ai() && p.value != e.value) {
            return Err(Gs1Error { ai: Some(e.ai().into()), position: *at, reason: Reason::Conflict });
        }
        let needed = e.spec.requires;
        if !needed.is_empty() && !elements.iter().any(|(o, _)| needed.contains(&o.ai())) {
            return Err(Gs1Error { ai: Some(e.ai().into()), position: *at, reason: Reason::Requires { needed } });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 12 - 02);

    #[test]
    fn a_two_digit_year_lies_between_49_years_ago_and_50_years_ahead() {
        assert_eq!(resolve_year(26, 2026), 2026);
        assert_eq!(resolve_year(76, 2026), 2076);
        assert_eq!(resolve_year(77, 2026), 1977);
        assert_eq!(resolve_year(99, 2026), 1999);
        assert_eq!(resolve_year(0, 2051), 2100);
        assert_eq!(resolve_year(1, 2051), 2101);
        assert_eq!(resolve_year(2, 2051), 2002);
        assert_eq!(resolve_year(99, 2000), 1999);
        assert_eq!(resolve_year(50, 2000), 2050);
    }

    #[test]
    fn day_00_is_the_last_day_of_the_month() {
        let m = parse("(01)05012345678900(17)280200(11)270200", TODAY).unwrap();
        assert_eq!(m.expiry(), Some(date!(2028 - 02 - 29)));
        assert_eq!(m.production_date(), Some(date!(2027 - 02 - 28)));
    }

    #[test]
    fn the_check_digit_is_gs1_mod_10() {
        assert_eq!(check_digit(b"0501234567890"), 0);
        assert_eq!(check_digit(b"0950110153000"), 3);
        assert!(Gtin::parse("5012345678900").is_ok());
        assert!(Gtin::parse("5012345678901").is_err());
    }
}
