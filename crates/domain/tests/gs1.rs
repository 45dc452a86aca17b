//! The GS1 parser checked against biip, an independent implementation, on a corpus of GS1's
//! published examples and tricky cases (`gs1_corpus/`, see its README), and by property tests.

use std::collections::HashMap;

use proptest::prelude::*;
use serde::Deserialize;
use tessera_domain::gs1::{self, GS, Gs1Message, Reason, Syntax};
use time::Date;
use time::macros::date;

/// The corpus's "now": make_expected.py fixes biip's clock at the same day.
const NOW: Date = date!(2026 - 12 - 02);

#[derive(Deserialize)]
struct Cases {
    case: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    input: String,
    source: String,
    note: String,
    reject_ai: Option<String>,
    differs: Option<String>,
}

#[derive(Deserialize)]
struct Expected {
    biip_version: String,
    now: String,
    case: Vec<BiipVerdict>,
}

#[derive(Deserialize)]
struct BiipVerdict {
    name: String,
    verdict: String,
    elements: Option<Vec<ExpectedElement>>,
}

#[derive(Deserialize, Debug, PartialEq, Eq)]
struct ExpectedElement {
    ai: String,
    value: String,
    date: Option<String>,
}

fn as_expected(message: &Gs1Message) -> Vec<ExpectedElement> {
    message
        .elements()
        .iter()
        .map(|e| ExpectedElement { ai: e.ai().into(), value: e.value().into(), date: e.date().map(|d| d.to_string()) })
        .collect()
}

/// What one parser made of one case: accepted with these elements, or refused.
fn verdict(result: &Result<Gs1Message, gs1::Gs1Error>) -> Option<Vec<ExpectedElement>> {
    result.as_ref().ok().map(as_expected)
}

#[test]
fn the_parser_agrees_with_biip_on_every_corpus_case_except_the_documented_differences() {
    let cases: Cases = toml::from_str(include_str!("gs1_corpus/cases.toml")).unwrap();
    let expected: Expected = toml::from_str(include_str!("gs1_corpus/expected.toml")).unwrap();
    assert_eq!(expected.now, NOW.to_string(), "expected.toml was made with another 'now'");
    assert!(expected.biip_version.starts_with('5'), "expected.toml comes from biip {}", expected.biip_version);
    let biip: HashMap<&str, &BiipVerdict> = expected.case.iter().map(|c| (c.name.as_str(), c)).collect();
    assert_eq!(biip.len(), cases.case.len(), "run make_expected.py after editing cases.toml");
    let tricky = cases.case.iter().filter(|c| c.source == "tricky").count();
    assert!(tricky >= 50, "only {tricky} tricky cases");
    assert!(cases.case.iter().any(|c| c.source.starts_with("GS1 ")), "no GS1 published example");

    let mut failures = Vec::new();
    let mut differences = 0;
    for case in &cases.case {
        assert!(!case.note.is_empty(), "{}: every case says what it tests", case.name);
        let theirs = biip.get(case.name.as_str()).unwrap_or_else(|| panic!("{} missing from expected.toml", case.name));
        let theirs = match theirs.verdict.as_str() {
            "accept" => Some(theirs.elements.as_ref().map(|e| e.iter().collect::<Vec<_>>()).unwrap_or_default()),
            "reject" => None,
            other => panic!("{}: verdict {other:?}", case.name),
        };
        let result = gs1::parse(&case.input, NOW);
        let ours = verdict(&result);
        let agree = ours.as_ref().map(|e| e.iter().collect::<Vec<_>>()) == theirs;
        match (&case.differs, agree) {
            (None, false) => failures.push(format!(
                "{}: {:?}\n  ours: {}\n  biip: {:?}",
                case.name,
                case.input,
                match &result {
                    Ok(m) => format!("{:?}", as_expected(m)),
                    Err(e) => format!("refused: {e}"),
                },
                theirs
            )),
            (Some(why), true) => failures.push(format!(
                "{}: documented as differing ({why}) but both parsers now agree; remove `differs`",
                case.name
            )),
            (Some(_), false) => differences += 1,
            (None, true) => {}
        }
        if let Some(ai) = &case.reject_ai {
            match &result {
                Err(e) if e.ai() == Some(ai.as_str()) => {
                    assert!(e.to_string().starts_with(&format!("AI ({ai}) at position ")), "{}: {e}", case.name)
                }
                other => failures.push(format!("{}: should be refused naming AI ({ai}), got {other:?}", case.name)),
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} cases fail:\n{}", failures.len(), cases.case.len(), failures.join("\n"));
    assert!(differences > 0);
}

#[test]
fn a_hibcc_code_is_recognised_and_said_to_be_not_yet_parsed() {
    for input in ["+A99912345/$$52001510X3", "]C0+A123BJC5D6E71", " +H123"] {
        let e = gs1::parse(input, NOW).unwrap_err();
        assert_eq!(e.reason(), &Reason::Hibcc, "{input}");
        assert!(e.to_string().contains("HIBCC") && e.to_string().contains("not parse it yet"), "{e}");
    }
}

#[test]
fn every_rejection_names_the_ai_and_the_reason() {
    let cases = [
        ("0105012345678901", "AI (01) at position 0: check digit is 1, the digits before it require 0"),
        ("(01)05012345678900(17)271301", "AI (17) at position 18: month 13 is not 01-12 (dates are YYMMDD)"),
        (
            "]d20105012345678900\u{1d}10AB CD",
            "AI (10) at position 20: ' ' at offset 2 of the value is not in GS1's 82-character set",
        ),
        ("10LOT", "AI (10) at position 0: needs (01) or (02) in the same message"),
        ("21SN", "AI (21) at position 0: needs (01) in the same message"),
        (
            "010501234567890010ABCDEFGHIJKLMNOPQRST17271231",
            "AI (10) at position 16: value has 28 characters, at most 20 allowed (is a group separator missing after it?)",
        ),
        (
            "(01)05012345678900(17)270229",
            "AI (17) at position 18: day 29 does not exist in 2027-02 (dates are YYMMDD; day 00 means the month's last day)",
        ),
        ("0105012345678900(3103)", "at position 16: \"(310\" does not start a known application identifier"),
    ];
    for (input, message) in cases {
        assert_eq!(gs1::parse(input, NOW).unwrap_err().to_string(), message, "{input:?}");
    }
}

#[test]
fn the_typed_accessors_read_an_implant_label() {
    let m = gs1::parse("]d2010501234567890017280200\u{1d}10LOT-7\u{1d}11250100\u{1d}21SN1\r\n", NOW).unwrap();
    assert_eq!(m.symbology(), Some(gs1::Symbology::Gs1DataMatrix));
    assert_eq!(m.syntax(), Syntax::ElementString);
    assert_eq!(m.gtin().unwrap().as_str(), "05012345678900");
    assert_eq!(m.lot(), Some("LOT-7"));
    assert_eq!(m.serial(), Some("SN1"));
    assert_eq!(m.expiry(), Some(date!(2028 - 02 - 29)));
    assert_eq!(m.production_date(), Some(date!(2025 - 01 - 31)));
    assert_eq!(m.to_bracketed(), "(01)05012345678900(17)280200(10)LOT-7(11)250100(21)SN1");
    assert_eq!(m.to_element_string(), "01050123456789001728020010LOT-7\u{1d}1125010021SN1");
}

#[test]
fn the_century_follows_the_current_year() {
    let in_2049 = gs1::parse("(01)05012345678900(17)990100", date!(2049 - 06 - 01)).unwrap();
    assert_eq!(in_2049.expiry(), Some(date!(2099 - 01 - 31)));
    let in_2026 = gs1::parse("(01)05012345678900(17)990100", NOW).unwrap();
    assert_eq!(in_2026.expiry(), Some(date!(1999 - 01 - 31)));
}

// ---------------------------------------------------------------------------------------------
// Property tests.

fn gtin() -> impl Strategy<Value = String> {
    "[0-9]{13}".prop_map(|d| format!("{d}{}", gs1::check_digit(d.as_bytes())))
}

fn cset82(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        proptest::sample::select(
            b"!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz".to_vec(),
        ),
        1..=max,
    )
    .prop_map(|b| String::from_utf8(b).unwrap())
}

fn yymmdd() -> impl Strategy<Value = String> {
    (0u32..100, 1u32..=12, 0u32..=28).prop_map(|(y, m, d)| format!("{y:02}{m:02}{d:02}"))
}

/// A valid message: a GTIN and a random selection of other AIs, in random order.
fn message() -> impl Strategy<Value = Vec<(&'static str, String)>> {
    (
        gtin(),
        proptest::option::of(cset82(20)),
        proptest::option::of(cset82(20)),
        proptest::option::of(yymmdd()),
        proptest::option::of(yymmdd()),
        proptest::option::of(cset82(30)),
        proptest::option::of("[0-9]{1,8}"),
    )
        .prop_map(|(gtin, lot, serial, expiry, made, extra, count)| {
            let mut v = vec![("01", gtin)];
            v.extend(lot.map(|x| ("10", x)));
            v.extend(serial.map(|x| ("21", x)));
            v.extend(expiry.map(|x| ("17", x)));
            v.extend(made.map(|x| ("11", x)));
            v.extend(extra.map(|x| ("240", x)));
            v.extend(count.map(|x| ("30", x)));
            v
        })
        .prop_shuffle()
}

fn raw(elements: &[(&str, String)]) -> String {
    let mut s = String::new();
    for (ai, value) in elements {
        s.push_str(ai);
        s.push_str(value);
        if !matches!(*ai, "01" | "11" | "17") {
            s.push(GS);
        }
    }
    s
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn pairs(m: &Gs1Message) -> Vec<(String, String)> {
    m.elements().iter().map(|e| (e.ai().to_string(), e.value().to_string())).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn an_element_string_built_from_valid_elements_parses_back_to_them(elements in message(), symbology in proptest::sample::select(vec!["", "]d2", "]C1", "]Q3"])) {
        let m = gs1::parse(&format!("{symbology}{}", raw(&elements)), NOW).unwrap();
        let want: Vec<(String, String)> = elements.iter().map(|(a, v)| (a.to_string(), v.clone())).collect();
        prop_assert_eq!(pairs(&m), want);
        for e in m.elements().iter().filter(|e| matches!(e.ai(), "11" | "17")) {
            let d = e.date().unwrap();
            prop_assert_eq!(d.year() % 100, e.value()[..2].parse::<i32>().unwrap());
            prop_assert!((2026 - 49..=2026 + 50).contains(&d.year()));
        }
    }

    #[test]
    fn the_bracketed_raw_and_digital_link_forms_agree(elements in message()) {
        let from_raw = gs1::parse(&raw(&elements), NOW).unwrap();
        let bracketed: String = elements.iter().map(|(ai, v)| format!("({ai}){v}")).collect();
        // A value holding "(" + digits + ")" cannot be written in the bracketed form unambiguously.
        if !elements.iter().any(|(_, v)| v.contains('(')) {
            let from_brackets = gs1::parse(&bracketed, NOW).unwrap();
            prop_assert_eq!(from_brackets.elements(), from_raw.elements());
            prop_assert_eq!(from_brackets.syntax(), Syntax::Bracketed);
        }
        let mut path = String::new();
        let mut query = Vec::new();
        for ai in ["01", "10", "21"] {
            if let Some((_, v)) = elements.iter().find(|(a, _)| *a == ai) {
                path.push_str(&format!("/{ai}/{}", percent_encode(v)));
            }
        }
        for (ai, v) in elements.iter().filter(|(a, _)| !matches!(*a, "01" | "10" | "21")) {
            query.push(format!("{ai}={}", percent_encode(v)));
        }
        let uri = format!("https://id.example.org/prefix{path}?{}", query.join("&"));
        let mut from_link = pairs(&gs1::parse(&uri, NOW).unwrap());
        let mut want = pairs(&from_raw);
        from_link.sort();
        want.sort();
        prop_assert_eq!(from_link, want);
    }

    #[test]
    fn the_canonical_forms_parse_back_to_the_same_message(elements in message()) {
        let m = gs1::parse(&raw(&elements), NOW).unwrap();
        prop_assert_eq!(pairs(&gs1::parse(&m.to_element_string(), NOW).unwrap()), pairs(&m));
        if !elements.iter().any(|(_, v)| v.contains('(')) {
            prop_assert_eq!(pairs(&gs1::parse(&m.to_bracketed(), NOW).unwrap()), pairs(&m));
        }
    }

    #[test]
    fn a_changed_gtin_digit_is_caught(g in gtin(), i in 0usize..14, d in 1u8..10) {
        let mut b = g.into_bytes();
        b[i] = b'0' + (b[i] - b'0' + d) % 10;
        let e = gs1::parse(&format!("01{}", String::from_utf8(b).unwrap()), NOW).unwrap_err();
        prop_assert_eq!(e.ai(), Some("01"));
        prop_assert!(matches!(e.reason(), Reason::CheckDigit { .. }), "{}", e);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = gs1::parse(&String::from_utf8_lossy(&bytes), NOW);
    }

    #[test]
    fn gs1_looking_noise_never_panics_and_what_parses_is_stable(
        s in "(\\]d2|\\]C1|\\]Q3|\\]d1|https://x/|\\+)?([0-9]{1,6}|\\(|\\)|\u{1d}|/|%[0-9A-Fa-g]{0,2}|\\?|&|=|01/|10/|[A-Za-z ]|é){0,40}",
        year in 1900i32..2200,
    ) {
        let today = Date::from_calendar_date(year, time::Month::June, 1).unwrap();
        if let Ok(m) = gs1::parse(&s, today) {
            prop_assert!(!m.elements().is_empty());
            // Whatever is accepted, in whichever form, is a valid element string too.
            prop_assert_eq!(pairs(&gs1::parse(&m.to_element_string(), today).unwrap()), pairs(&m));
        }
    }
}
