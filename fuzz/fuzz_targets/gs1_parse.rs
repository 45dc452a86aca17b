//! Fuzzes `tessera_domain::gs1::parse` with arbitrary bytes and a varying "today".
//!
//! Besides not panicking, whatever parses must parse again, to the same elements, from the
//! element string it prints: the accepted language is closed under the canonical form.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_domain::gs1;

fuzz_target!(|data: &[u8]| {
    // The first two bytes choose the year (1900-2155), so the century rule is exercised too.
    let (year, rest) = match data {
        [a, b, rest @ ..] => (1900 + i32::from(u16::from_le_bytes([*a, *b]) % 256), rest),
        _ => (2026, data),
    };
    let today = time::Date::from_calendar_date(year, time::Month::June, 15).expect("a valid date");
    let text = String::from_utf8_lossy(rest);
    if let Ok(message) = gs1::parse(&text, today) {
        assert!(!message.elements().is_empty());
        let again = gs1::parse(&message.to_element_string(), today).expect("the canonical form parses");
        assert_eq!(again.elements(), message.elements());
    }
});
